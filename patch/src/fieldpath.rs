//! Field sets of structured-merge-diff (`sigs.k8s.io/structured-merge-diff/fieldpath`):
//! which fields of an object a manager owns, their `FieldsV1` encoding
//! (`{"f:spec":{"f:replicas":{}},"k:{\"name\":\"nginx\"}":{".":{}}}`) and the text form
//! of a path used in conflict messages (`.spec.template.spec.containers[name="nginx"].image`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path. The derived order (field < key < value < index) is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a struct or a key of a map (`f:name`).
    Field(String),
    /// An item of an associative list, by its key fields, as canonical JSON with
    /// sorted keys (`k:{"name":"nginx"}`).
    Key(String),
    /// An item of a set, as its JSON (`v:"a"`).
    Value(String),
    /// An item of a list by position (`i:0`), only found in decoded input.
    Index(usize),
}

impl PathElement {
    /// The key of an associative-list item built from its key fields.
    pub fn key(fields: &[(&str, &Value)]) -> PathElement {
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by(|a, b| fields[*a].0.cmp(fields[*b].0));
        let mut buf: Vec<u8> = Vec::with_capacity(32);
        buf.push(b'{');
        for (n, i) in order.into_iter().enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            let (k, v) = fields[i];
            // Writing a str or a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut buf, k);
            buf.push(b':');
            let _ = serde_json::to_writer(&mut buf, v);
        }
        buf.push(b'}');
        PathElement::Key(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The `fieldsV1` key of this element.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key.
    pub fn decode(s: &str) -> Option<PathElement> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_owned())),
            // Our own encoding is canonical already (sorted keys, no spaces).
            "k:" if rest.starts_with("{\"") && !rest.contains([' ', '\n']) => {
                Some(PathElement::Key(rest.to_owned()))
            }
            "k:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                let m = v.as_object()?;
                let fields: Vec<(&str, &Value)> = m.iter().map(|(k, v)| (k.as_str(), v)).collect();
                Some(PathElement::key(&fields))
            }
            "v:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(PathElement::Value(v.to_string()))
            }
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    /// Upstream's `PathElement.String()`: `.name`, `[k1="v",k2=80]`, `[=value]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let v: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let parts: Vec<String> = v
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Path(pub Vec<PathElement>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

impl Path {
    /// A path of field names (`["spec", "replicas"]` → `.spec.replicas`).
    pub fn fields(names: &[&str]) -> Path {
        Path(
            names
                .iter()
                .map(|n| PathElement::Field((*n).to_owned()))
                .collect(),
        )
    }
}

/// A set of paths as a tree: `members` are the elements owned at this level (leaves,
/// or nodes owned as a whole), `children` the subtrees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds one path.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Adds `pe` as a member at this level.
    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    /// Adds a subtree under `pe` (merging with an existing one).
    pub(crate) fn insert_child(&mut self, pe: PathElement, child: FieldSet) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(&pe) {
            Some(existing) => *existing = existing.union(&child),
            None => {
                self.children.insert(pe, child);
            }
        }
    }

    /// The member and child sets at this level (read-only).
    pub(crate) fn parts(&self) -> (&BTreeSet<PathElement>, &BTreeMap<PathElement, FieldSet>) {
        (&self.members, &self.children)
    }

    /// Whether `path` is in the set.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Set union.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            out.insert_child(pe.clone(), c.clone());
        }
        out
    }

    /// Set difference: paths of `self` not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            out.insert_child(pe.clone(), d);
        }
        out
    }

    /// Set intersection.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                out.insert_child(pe.clone(), c.intersection(o));
            }
        }
        out
    }

    /// Removes `path` itself (not its descendants) if it is a member.
    pub fn remove_member(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_member(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Removes every path that starts with `prefix` (upstream `RecursiveDifference`
    /// with a one-path set).
    pub fn remove_prefix(&mut self, prefix: &[PathElement]) {
        match prefix {
            [] => *self = FieldSet::new(),
            [last] => {
                self.members.remove(last);
                self.children.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_prefix(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Whether every path of `self` is in at least one of `sets` (without building
    /// their union).
    pub fn is_covered_by(&self, sets: &[&FieldSet]) -> bool {
        for m in &self.members {
            if !sets.iter().any(|s| s.members.contains(m)) {
                return false;
            }
        }
        for (pe, c) in &self.children {
            let subs: Vec<&FieldSet> = sets.iter().filter_map(|s| s.children.get(pe)).collect();
            if !c.is_covered_by(&subs) {
                return false;
            }
        }
        true
    }

    /// Upstream `EnsureNamedFieldsAreMembers`: every field node with children is also
    /// a member, so removing it removes its whole subtree.
    pub fn ensure_named_fields_are_members(&self) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.clone(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if matches!(pe, PathElement::Field(_)) && !c.is_empty() {
                out.members.insert(pe.clone());
            }
            out.insert_child(pe.clone(), c.ensure_named_fields_are_members());
        }
        out
    }

    /// Every path of the set, in upstream's order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        let mut pes: BTreeSet<&PathElement> = self.members.iter().collect();
        pes.extend(self.children.keys());
        for pe in pes {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(Path(prefix.clone()));
            }
            if let Some(c) = self.children.get(pe) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON encoding.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for pe in &self.members {
            if self.children.get(pe).is_none_or(FieldSet::is_empty) {
                m.insert(pe.encode(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            let mut inner = match c.to_fields_v1() {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            if self.members.contains(pe) {
                inner.insert(".".to_owned(), Value::Object(Map::new()));
            }
            m.insert(pe.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    /// Decodes `fieldsV1`; unknown keys are an error naming them.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let m = v
            .as_object()
            .ok_or_else(|| "fieldsV1 is not an object".to_owned())?;
        let mut out = FieldSet::new();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::decode(k).ok_or_else(|| format!("invalid fieldsV1 key {k:?}"))?;
            let cm = child
                .as_object()
                .ok_or_else(|| format!("fieldsV1 value of {k:?} is not an object"))?;
            if cm.is_empty() || cm.contains_key(".") {
                out.members.insert(pe.clone());
            }
            let sub = FieldSet::from_fields_v1(child)?;
            out.insert_child(pe, sub);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &[PathElement]) -> Vec<PathElement> {
        s.to_vec()
    }
    fn f(n: &str) -> PathElement {
        PathElement::Field(n.to_owned())
    }

    #[test]
    fn encoding_round_trips_upstream_shape() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}},
            "f:finalizers": {"v:\"a\"": {}}
        });
        let set = FieldSet::from_fields_v1(&encoded).unwrap();
        assert_eq!(set.to_fields_v1(), encoded);
        let strings: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
        assert!(strings.contains(&".spec.replicas".to_owned()));
        assert!(
            strings.contains(&".spec.template.spec.containers[name=\"nginx\"].image".to_owned())
        );
        assert!(strings.contains(&".spec.template.spec.containers[name=\"nginx\"]".to_owned()));
        assert!(strings.contains(&".spec.ports[containerPort=80,protocol=\"TCP\"]".to_owned()));
        assert!(strings.contains(&".finalizers[=\"a\"]".to_owned()));
        assert!(strings.contains(&".metadata.labels".to_owned()));
        assert!(!strings.contains(&".spec".to_owned()));
        assert!(FieldSet::from_fields_v1(&json!({"x:1": {}})).is_err());
    }

    #[test]
    fn set_arithmetic() {
        let mut a = FieldSet::new();
        a.insert(&p(&[f("spec"), f("replicas")]));
        a.insert(&p(&[f("spec"), f("paused")]));
        let mut b = FieldSet::new();
        b.insert(&p(&[f("spec"), f("replicas")]));
        b.insert(&p(&[f("metadata"), f("name")]));
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![Path::fields(&["spec", "replicas"])]);
        let d = a.difference(&b);
        assert_eq!(d.paths(), vec![Path::fields(&["spec", "paused"])]);
        assert!(a.difference(&a).is_empty());
        let u = a.union(&b);
        assert_eq!(u.paths().len(), 3);
        assert!(u.has(&p(&[f("metadata"), f("name")])));
        let mut r = u.clone();
        r.remove_prefix(&p(&[f("spec")]));
        assert_eq!(r.paths(), vec![Path::fields(&["metadata", "name"])]);
        let e = a.ensure_named_fields_are_members();
        assert!(e.has(&p(&[f("spec")])));
        assert!(!a.has(&p(&[f("spec")])));
        let k = PathElement::key(&[("protocol", &json!("TCP")), ("containerPort", &json!(80))]);
        assert_eq!(k.encode(), "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
    }
}
