//! Server-side apply and `managedFields` bookkeeping, after
//! `sigs.k8s.io/structured-merge-diff/merge/update.go` (`Updater.Apply`/`Update`) and
//! the API server's field manager.
//!
//! * [`apply`] merges an applied configuration into the live object, removes fields the
//!   manager applied before and no longer applies (unless another manager owns them),
//!   detects conflicts with other managers (or takes their fields with `force`), and
//!   records the manager's `Apply` entry.
//! * [`update`] records the `Update` entry of a non-apply write: the writer owns what it
//!   changed and takes it away from the other managers.
//!
//! List and map semantics come from the [`PatchMeta`] schema (`x-kubernetes-list-type`
//! atomic/set/map, `x-kubernetes-map-type`); lists without metadata are atomic.

use serde_json::{Map, Value};

use crate::fieldpath::{FieldSet, PathElement};
use crate::schema::{FieldMeta, ListType, MapKind, PatchMeta, lookup};

/// One conflict: a field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager as upstream prints it: `"mgr"`, `"mgr" using apps/v1`
    /// (an `Update` manager) or `"mgr" with subresource "status"`.
    pub manager: String,
    /// The field, in upstream's text form (`.spec.replicas`).
    pub field: String,
}

impl Conflict {
    /// The `message` of the `FieldManagerConflict` status cause.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager)
    }
}

/// Why an apply or update could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Conflicts with other managers (HTTP 409, causes of type `FieldManagerConflict`).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is unusable (HTTP 400/422).
    #[error("{0}")]
    Invalid(String),
}

/// Upstream's conflict message (`Apply failed with 1 conflict: conflict with "mgr"
/// using apps/v1: .spec.replicas`).
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(
            conflicts
                .iter()
                .filter(|c| c.manager == m)
                .map(|c| format!("- {}", c.field)),
        );
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Who is applying or writing, and how.
#[derive(Debug, Clone, Copy)]
pub struct Manager<'a> {
    /// The `fieldManager` name.
    pub name: &'a str,
    /// The subresource written (`status`, `scale`), if any.
    pub subresource: Option<&'a str>,
    /// Timestamp recorded in the entry (RFC 3339, e.g. `2024-01-01T00:00:00Z`).
    pub now: &'a str,
    /// Fields this endpoint resets and does not track, as dot-separated field paths
    /// (upstream's reset fields: `status` for the main resource of most kinds; `spec`
    /// and `metadata.labels`-like paths for `/status`). Applied values at these paths
    /// are neither merged nor owned.
    pub ignored: &'a [&'a str],
}

/// Result of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOutcome {
    /// The new object, with `metadata.managedFields` set.
    pub object: Value,
    /// `false` when neither the object nor its managed fields changed: the server
    /// must not write (and `resourceVersion` stays the same).
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn same_identity(
        &self,
        name: &str,
        operation: &str,
        api_version: &str,
        sub: Option<&str>,
    ) -> bool {
        self.manager == name
            && self.operation == operation
            && self.subresource.as_deref() == sub
            && (operation == "Apply" || self.api_version == api_version)
    }

    fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {sub:?}");
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }
}

fn decode_entries(obj: &Value) -> Result<Vec<Entry>, ApplyError> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in list {
        let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
        let set = match e.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v).map_err(ApplyError::Invalid)?,
            None => FieldSet::new(),
        };
        out.push(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_else(|| "Update".into()),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|s| !s.is_empty()),
            set,
        });
    }
    Ok(out)
}

fn encode_entries(entries: &mut [Entry]) -> Value {
    // Upstream `sortEncodedManagedFields`: operation, time, manager, apiVersion, subresource.
    entries.sort_by(|a, b| {
        let key = |e: &'_ Entry| {
            (
                e.operation.clone(),
                e.time.clone(),
                e.manager.clone(),
                e.api_version.clone(),
                e.subresource.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    Value::Array(
        entries
            .iter()
            .filter(|e| !e.set.is_empty())
            .map(Entry::encode)
            .collect(),
    )
}

/// The object without `metadata.managedFields`.
fn body(obj: &Value) -> Value {
    let mut b = if obj.is_object() {
        obj.clone()
    } else {
        Value::Object(Map::new())
    };
    if let Some(meta) = b.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    b
}

fn f(name: &str) -> PathElement {
    PathElement::Field(name.to_owned())
}

/// Upstream's `stripMeta` plus the endpoint's reset fields.
fn strip(set: &FieldSet, ignored: &[&str]) -> FieldSet {
    let mut s = set.clone();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        let path: Vec<PathElement> = p.iter().map(|n| f(n)).collect();
        s.remove_member(&path);
    }
    for i in ignored {
        s.remove_prefix(&dotted(i));
    }
    s
}

fn dotted(path: &str) -> Vec<PathElement> {
    path.split('.').map(f).collect()
}

/// Puts the value at `path` back to what it is in `live` (or removes it).
fn restore_path(merged: &mut Value, live: &Value, path: &[&str]) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut src = Some(live);
    let mut dst = merged;
    for seg in init {
        src = src.and_then(|v| v.get(*seg));
        match dst.get_mut(*seg) {
            Some(d) if d.is_object() => dst = d,
            _ => return,
        }
    }
    let Some(obj) = dst.as_object_mut() else {
        return;
    };
    match src.and_then(|v| v.get(*last)) {
        Some(v) => {
            obj.insert((*last).to_owned(), v.clone());
        }
        None => {
            obj.remove(*last);
        }
    }
}

const ROOT: FieldMeta<'static> = FieldMeta::PLAIN;

fn root_meta(schema: &dyn PatchMeta) -> FieldMeta<'_> {
    FieldMeta {
        schema: Some(schema),
        ..ROOT
    }
}

fn item_meta<'a>(fm: &FieldMeta<'a>) -> FieldMeta<'a> {
    FieldMeta {
        list_type: ListType::Atomic,
        strategy: Default::default(),
        merge_key: None,
        ..*fm
    }
}

/// The path element of a list item under the list's type (`None` for atomic lists).
fn item_pe(item: &Value, fm: &FieldMeta<'_>) -> Result<Option<PathElement>, ApplyError> {
    match fm.list_type {
        ListType::Atomic => Ok(None),
        ListType::Set => Ok(Some(PathElement::Value(item.to_string()))),
        ListType::Map => {
            // As structured-merge-diff, a key field the element omits takes the
            // schema's default (a container port's `protocol` is `TCP`).
            let mut defaults: Vec<(&str, Value)> = Vec::new();
            for k in fm.list_map_keys.iter() {
                if item.get(k).is_none() {
                    match fm.schema.and_then(|s| s.default_of(k)) {
                        Some(d) => defaults.push((k, d)),
                        None => {
                            return Err(ApplyError::Invalid(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            )));
                        }
                    }
                }
            }
            let mut fields = Vec::new();
            for k in fm.list_map_keys.iter() {
                match item.get(k) {
                    Some(v) => fields.push((k, v)),
                    None => {
                        if let Some((_, d)) = defaults.iter().find(|(n, _)| *n == k) {
                            fields.push((k, d));
                        }
                    }
                }
            }
            Ok(Some(PathElement::key(&fields)))
        }
    }
}

/// The set of fields a value sets (upstream `ToFieldSet`); returns the subtree and
/// whether the node itself is a leaf.
fn to_set(v: &Value, fm: &FieldMeta<'_>) -> Result<(FieldSet, bool), ApplyError> {
    let mut out = FieldSet::new();
    match v {
        Value::Array(items) => {
            if fm.list_type == ListType::Atomic {
                return Ok((out, true));
            }
            let im = item_meta(fm);
            for item in items {
                let Some(pe) = item_pe(item, fm)? else {
                    continue;
                };
                let (child, _) = to_set(item, &im)?;
                out.insert_child(pe.clone(), child);
                out.insert_member(pe);
            }
            Ok((out, false))
        }
        Value::Object(m) => {
            if fm.map_kind == MapKind::Atomic {
                return Ok((out, true));
            }
            for (k, val) in m {
                let cfm = lookup(fm.schema, k);
                let (child, leaf) = to_set(val, &cfm)?;
                let empty_map = val.as_object().is_some_and(Map::is_empty);
                if leaf || val.is_null() || empty_map || fm.map_kind == MapKind::Granular {
                    out.insert_member(f(k));
                }
                out.insert_child(f(k), child);
            }
            Ok((out, false))
        }
        _ => Ok((out, true)),
    }
}

/// Fields set by `v` under the schema of the top-level kind.
pub fn field_set(v: &Value, schema: &dyn PatchMeta) -> Result<FieldSet, ApplyError> {
    Ok(to_set(v, &root_meta(schema))?.0)
}

/// Structural merge of `rhs` into `lhs` in place (upstream `TypedValue.Merge`): maps
/// merge, atomic values and atomic lists are replaced, set/map lists merge by item
/// identity (live order kept, new items appended in the applied order).
fn merge_into(lhs: &mut Value, rhs: &Value, fm: &FieldMeta<'_>) -> Result<(), ApplyError> {
    match (lhs, rhs) {
        (Value::Object(l), Value::Object(r)) if fm.map_kind != MapKind::Atomic => {
            for (k, rv) in r {
                let cfm = lookup(fm.schema, k);
                match l.get_mut(k) {
                    Some(slot) => merge_into(slot, rv, &cfm)?,
                    None => {
                        l.insert(k.clone(), rv.clone());
                    }
                }
            }
            Ok(())
        }
        (Value::Array(l), Value::Array(r)) if fm.list_type != ListType::Atomic => {
            *l = merge_list(std::mem::take(l), r, fm)?;
            Ok(())
        }
        (slot, _) => {
            if slot != rhs {
                *slot = rhs.clone();
            }
            Ok(())
        }
    }
}

/// Merges an associative list (upstream `mergingWalker.visitListItems`): items only
/// in the live list keep their place, items in both are merged and follow the applied
/// order, items only in the applied list are inserted where they appear in it.
fn merge_list(
    lhs: Vec<Value>,
    rhs: &[Value],
    fm: &FieldMeta<'_>,
) -> Result<Vec<Value>, ApplyError> {
    let im = item_meta(fm);
    let lpes = lhs
        .iter()
        .map(|i| item_pe(i, fm))
        .collect::<Result<Vec<_>, _>>()?;
    let rpes = rhs
        .iter()
        .map(|i| item_pe(i, fm))
        .collect::<Result<Vec<_>, _>>()?;
    let first_index =
        |pes: &[Option<PathElement>], pe: &Option<PathElement>| pes.iter().position(|p| p == pe);
    let shared: Vec<&Option<PathElement>> = rpes.iter().filter(|p| lpes.contains(p)).collect();
    let mut next_shared = 0;
    let mut lslots: Vec<Option<Value>> = lhs.into_iter().map(Some).collect();
    let mut merged_rhs: Vec<&Option<PathElement>> = Vec::new();
    let mut out = Vec::with_capacity(lslots.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    let take_left =
        |slots: &mut Vec<Option<Value>>, i: usize| slots[i].take().unwrap_or(Value::Null);
    while li < lpes.len() || ri < rpes.len() {
        if li < lpes.len() && ri < rpes.len() {
            let pe = &lpes[li];
            if *pe == rpes[ri] {
                merged_rhs.push(pe);
                let mut item = take_left(&mut lslots, li);
                merge_into(&mut item, &rhs[ri], &im)?;
                out.push(item);
                if shared.get(next_shared).is_some_and(|s| *s == pe) {
                    next_shared += 1;
                }
                li += 1;
                ri += 1;
                continue;
            }
            if rpes.contains(pe) && shared.get(next_shared).is_some_and(|s| *s != pe) {
                li += 1;
                continue;
            }
        }
        if li < lpes.len() {
            let pe = &lpes[li];
            if !rpes.contains(pe) {
                out.push(take_left(&mut lslots, li));
                li += 1;
                continue;
            } else if merged_rhs.contains(&pe) {
                li += 1;
                continue;
            }
        }
        if ri < rpes.len() {
            let pe = &rpes[ri];
            if !merged_rhs.contains(&pe) {
                merged_rhs.push(pe);
                let item = match first_index(&lpes, pe) {
                    Some(i) => {
                        let mut item = lslots[i].take().unwrap_or(Value::Null);
                        merge_into(&mut item, &rhs[ri], &im)?;
                        item
                    }
                    None => rhs[ri].clone(),
                };
                out.push(item);
            }
            if shared.get(next_shared).is_some_and(|s| *s == pe) {
                next_shared += 1;
            }
            ri += 1;
        }
    }
    Ok(out)
}

/// Removes the paths of `set` from `v` (upstream `RemoveItems`).
fn remove_items(v: &mut Value, set: &FieldSet, fm: &FieldMeta<'_>) -> Result<(), ApplyError> {
    let (members, children) = set.parts();
    match v {
        Value::Object(m) => {
            for pe in members {
                if let PathElement::Field(k) = pe {
                    m.remove(k);
                }
            }
            for (pe, child) in children {
                if let PathElement::Field(k) = pe
                    && let Some(cv) = m.get_mut(k)
                {
                    let cfm = lookup(fm.schema, k);
                    remove_items(cv, child, &cfm)?;
                }
            }
        }
        Value::Array(items) if fm.list_type != ListType::Atomic => {
            let im = item_meta(fm);
            let mut kept = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                let pe = item_pe(&item, fm)?;
                if let Some(pe) = pe {
                    if members.contains(&pe) {
                        continue;
                    }
                    if let Some(child) = children.get(&pe) {
                        remove_items(&mut item, child, &im)?;
                    }
                }
                kept.push(item);
            }
            *items = kept;
        }
        _ => {}
    }
    Ok(())
}

/// Added, modified and removed fields between two versions of an object.
#[derive(Debug, Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

fn compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    fm: &FieldMeta<'_>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) -> Result<(), ApplyError> {
    let is_struct =
        |v: Option<&Value>| v.is_some_and(Value::is_object) && fm.map_kind == MapKind::Struct;
    match (lhs, rhs) {
        (Some(Value::Object(l)), Some(Value::Object(r))) if fm.map_kind != MapKind::Atomic => {
            let at_metadata = path.len() == 1 && path[0] == f("metadata");
            for (k, lv) in l {
                if at_metadata && k == "managedFields" {
                    continue;
                }
                let cfm = lookup(fm.schema, k);
                path.push(f(k));
                compare(Some(lv), r.get(k), &cfm, path, c)?;
                path.pop();
            }
            for (k, rv) in r {
                if !l.contains_key(k) {
                    let cfm = lookup(fm.schema, k);
                    path.push(f(k));
                    compare(None, Some(rv), &cfm, path, c)?;
                    path.pop();
                }
            }
        }
        (Some(Value::Array(l)), Some(Value::Array(r))) if fm.list_type != ListType::Atomic => {
            let im = item_meta(fm);
            let mut rk = Vec::with_capacity(r.len());
            for item in r {
                rk.push(item_pe(item, fm)?);
            }
            let mut lk = Vec::with_capacity(l.len());
            for (item, key) in l.iter().zip(l.iter().map(|i| item_pe(i, fm))) {
                let key = key?;
                let ri = rk.iter().position(|k| *k == key);
                if let Some(pe) = &key {
                    path.push(pe.clone());
                    compare(Some(item), ri.map(|i| &r[i]), &im, path, c)?;
                    path.pop();
                }
                lk.push(key);
            }
            for (item, key) in r.iter().zip(rk.iter()) {
                if let Some(pe) = key
                    && !lk.contains(key)
                {
                    path.push(pe.clone());
                    compare(None, Some(item), &im, path, c)?;
                    path.pop();
                }
            }
        }
        (Some(l), Some(r)) => {
            if l != r {
                c.modified.insert(path);
            }
        }
        (None, Some(r)) => {
            if r.is_object() || r.is_array() {
                compare(Some(&empty_like(r)), Some(r), fm, path, c)?;
            }
            if !is_struct(rhs) {
                c.added.insert(path);
            }
        }
        (Some(l), None) => {
            if l.is_object() || l.is_array() {
                compare(Some(l), Some(&empty_like(l)), fm, path, c)?;
            }
            if !is_struct(lhs) {
                c.removed.insert(path);
            }
        }
        (None, None) => {}
    }
    Ok(())
}

static EMPTY: Value = Value::Null;

/// Equality of two objects, ignoring `metadata.managedFields`.
fn eq_ignoring_managed_fields(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b || (a.is_null() && b.as_object().is_some_and(Map::is_empty));
    };
    let without =
        |m: &Map<String, Value>, k: &str| m.iter().filter(|(key, _)| key.as_str() != k).count();
    if without(a, "metadata") != without(b, "metadata") {
        return false;
    }
    for (k, v) in a {
        if k == "metadata" {
            continue;
        }
        if b.get(k) != Some(v) {
            return false;
        }
    }
    let empty = Map::new();
    let ma = a
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mb = b
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    without(ma, "managedFields") == without(mb, "managedFields")
        && ma
            .iter()
            .all(|(k, v)| k == "managedFields" || mb.get(k) == Some(v))
}

fn empty_like(v: &Value) -> Value {
    if v.is_array() {
        Value::Array(Vec::new())
    } else {
        Value::Object(Map::new())
    }
}

fn compare_objects(
    old: &Value,
    new: &Value,
    schema: &dyn PatchMeta,
) -> Result<Comparison, ApplyError> {
    let mut c = Comparison::default();
    compare(
        Some(old),
        Some(new),
        &root_meta(schema),
        &mut Vec::new(),
        &mut c,
    )?;
    Ok(c)
}

fn api_version_of(v: &Value) -> String {
    v.get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Existing entries, with upstream's "before-first-apply" entry for objects that were
/// created before fields were tracked.
fn entries_of(live: &Value, schema: &dyn PatchMeta) -> Result<Vec<Entry>, ApplyError> {
    let entries = decode_entries(live)?;
    if entries.is_empty() && live.is_object() {
        let set = strip(&field_set(&body(live), schema)?, &[]);
        return Ok(vec![Entry {
            manager: "before-first-apply".into(),
            operation: "Update".into(),
            api_version: api_version_of(live),
            time: None,
            subresource: None,
            set,
        }]);
    }
    Ok(entries)
}

/// Server-side apply of configuration `applied` onto `live` (`Value::Null` when the
/// object does not exist yet) by `manager`, with `force` taking fields from other
/// managers instead of failing with [`ApplyError::Conflicts`].
pub fn apply(
    live: &Value,
    applied: &Value,
    schema: &dyn PatchMeta,
    manager: &Manager<'_>,
    force: bool,
) -> Result<ApplyOutcome, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration is not an object".into(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    for k in ["apiVersion", "kind"] {
        if applied
            .get(k)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApplyError::Invalid(format!(
                "{k} must be set in the applied configuration"
            )));
        }
    }
    let api_version = api_version_of(applied);
    if let (Some(lk), Some(ak)) = (
        live.get("kind").and_then(Value::as_str),
        applied.get("kind").and_then(Value::as_str),
    ) && lk != ak
    {
        return Err(ApplyError::Invalid(format!(
            "the applied kind {ak:?} does not match the object's kind {lk:?}"
        )));
    }
    let mut entries = entries_of(live, schema)?;
    let mut managed_changed = live.pointer("/metadata/managedFields").is_none();
    let sub = manager.subresource;
    let mine = entries
        .iter()
        .position(|e| e.same_identity(manager.name, "Apply", &api_version, sub));
    let mut new_set = field_set(applied, schema)?;
    for i in manager.ignored {
        new_set.remove_prefix(&dotted(i));
    }

    let root = root_meta(schema);
    // One copy of the live object becomes the result; its managedFields are set aside
    // (and put back untouched on a no-op).
    let mut merged = if live.is_object() {
        live.clone()
    } else {
        Value::Object(Map::new())
    };
    let old_managed = merged
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"));
    if let (Some(m), Some(cfg)) = (merged.as_object_mut(), applied.as_object()) {
        for (k, v) in cfg {
            if manager.ignored.contains(&k.as_str()) {
                continue;
            }
            let cfm = lookup(Some(schema), k);
            match m.get_mut(k) {
                Some(slot) => merge_into(slot, v, &cfm)?,
                None => {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for i in manager.ignored.iter().filter(|i| i.contains('.')) {
        let path: Vec<&str> = i.split('.').collect();
        restore_path(&mut merged, live, &path);
    }
    if let Some(i) = mine {
        let last = &entries[i].set;
        let others: Vec<&FieldSet> = entries
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, e)| &e.set)
            .chain(std::iter::once(&new_set))
            .collect();
        // When every previously applied leaf is still managed, the named-field closure
        // of `last` is inside that of the managed union too: nothing to prune.
        if !last.is_covered_by(&others) {
            let mut managed = new_set.clone();
            for o in &others {
                managed = managed.union(o);
            }
            let remove = last
                .ensure_named_fields_are_members()
                .difference(&managed.ensure_named_fields_are_members());
            remove_items(&mut merged, &remove, &root)?;
        }
    }

    let live_ref = if live.is_object() { live } else { &EMPTY };
    let cmp = compare_objects(live_ref, &merged, schema)?;
    let changed_fields = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        for p in e.set.intersection(&changed_fields).paths() {
            conflicts.push(Conflict {
                manager: e.display(),
                field: p.to_string(),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager));
        return Err(ApplyError::Conflicts(conflicts));
    }
    if !changed_fields.is_empty() || !cmp.removed.is_empty() {
        for (i, e) in entries.iter_mut().enumerate() {
            if Some(i) != mine {
                let kept = e.set.difference(&changed_fields).difference(&cmp.removed);
                if kept != e.set {
                    managed_changed = true;
                    e.set = kept;
                }
            }
        }
    }
    let my_set = strip(&new_set, manager.ignored);
    match mine {
        Some(i) => {
            if entries[i].set != my_set || entries[i].api_version != api_version {
                managed_changed = true;
                entries[i].set = my_set;
                entries[i].api_version = api_version.clone();
                entries[i].time = Some(manager.now.to_owned());
            }
        }
        None => {
            managed_changed = true;
            entries.push(Entry {
                manager: manager.name.to_owned(),
                operation: "Apply".into(),
                api_version: api_version.clone(),
                time: Some(manager.now.to_owned()),
                subresource: sub.map(str::to_owned),
                set: my_set,
            })
        }
    }
    entries.retain(|e| !e.set.is_empty());
    let object_changed = !eq_ignoring_managed_fields(live_ref, &merged);
    if !object_changed && !managed_changed {
        if let Some(mf) = old_managed {
            set_managed_fields(&mut merged, mf);
        }
        return Ok(ApplyOutcome {
            object: merged,
            changed: false,
        });
    }
    set_managed_fields(&mut merged, encode_entries(&mut entries));
    Ok(ApplyOutcome {
        object: merged,
        changed: object_changed || managed_changed,
    })
}

fn set_managed_fields(obj: &mut Value, fields: Value) {
    if let Some(m) = obj.as_object_mut() {
        let meta = m
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("managedFields".into(), fields);
        }
    }
}

/// Records a non-apply write (create, update, any patch type) of `new` over `old`
/// (`Value::Null` for a create) by `manager`: it owns every field it added or changed,
/// those fields leave the other managers' sets, and removed fields leave every set.
/// Returns `new` with `metadata.managedFields` set.
///
/// As upstream, managed fields written by the client are honoured: when `new` carries
/// a decodable, non-empty `metadata.managedFields` it is the starting point (this is
/// how kubectl migrates client-side-apply ownership to server-side apply), otherwise
/// the old object's are; `managedFields: [{}]` resets tracking (the result has none).
pub fn update(
    old: &Value,
    new: &Value,
    schema: &dyn PatchMeta,
    manager: &Manager<'_>,
) -> Result<Value, ApplyError> {
    let api_version = api_version_of(new);
    let old_body = body(old);
    let new_body = body(new);
    if new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
    {
        return Ok(new_body);
    }
    let mut entries = match decode_entries(new) {
        Ok(given) if !given.is_empty() => given,
        _ if old.is_object() => entries_of(old, schema)?,
        _ => Vec::new(),
    };
    let cmp = compare_objects(&old_body, &new_body, schema)?;
    let changed = cmp.modified.union(&cmp.added);
    let sub = manager.subresource;
    let mine = entries
        .iter()
        .position(|e| e.same_identity(manager.name, "Update", &api_version, sub));
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            e.set = e.set.difference(&changed).difference(&cmp.removed);
        }
    }
    let prev = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
    let set = strip(
        &prev.difference(&cmp.removed).union(&changed),
        manager.ignored,
    );
    match mine {
        Some(i) => {
            if entries[i].set != set {
                entries[i].set = set;
                entries[i].time = Some(manager.now.to_owned());
            }
        }
        None => entries.push(Entry {
            manager: manager.name.to_owned(),
            operation: "Update".into(),
            api_version,
            time: Some(manager.now.to_owned()),
            subresource: sub.map(str::to_owned),
            set,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    let mut out = new_body;
    set_managed_fields(&mut out, encode_entries(&mut entries));
    Ok(out)
}

#[cfg(test)]
mod tests;
