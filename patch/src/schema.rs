//! The schema lookup every patch algorithm here is driven by.
//!
//! A [`PatchMeta`] describes one object type (a struct, or a map with a uniform
//! element type): for each field name it returns a [`FieldMeta`] telling how the
//! field's value is patched (strategic merge patch: `patchStrategy`/`patchMergeKey`)
//! and how it is owned (server-side apply: `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`), plus the schema of the
//! value (or, for lists, of each element) to recurse with.
//!
//! Fields without metadata behave as upstream's untyped defaults: lists are replaced
//! (strategic) and atomic (apply), objects are merged and treated as structs.

use serde_json::Value;

/// How a strategic merge patch treats a field (`patchStrategy` struct tag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatchStrategy {
    /// `merge`: lists are merged (by `patchMergeKey` for lists of maps, by value for
    /// primitive lists) instead of replaced.
    pub merge: bool,
    /// `replace`: the value (map or list) is replaced wholesale.
    pub replace: bool,
    /// `retainKeys`: a three-way patch carries a `$retainKeys` directive listing the
    /// keys to keep (used for union types such as `volumes[]` and `strategy`).
    pub retain_keys: bool,
}

impl PatchStrategy {
    /// No strategy: maps merge, lists replace.
    pub const NONE: PatchStrategy = PatchStrategy {
        merge: false,
        replace: false,
        retain_keys: false,
    };
    /// `patchStrategy:"merge"`.
    pub const MERGE: PatchStrategy = PatchStrategy {
        merge: true,
        replace: false,
        retain_keys: false,
    };
    /// `patchStrategy:"retainKeys"`.
    pub const RETAIN_KEYS: PatchStrategy = PatchStrategy {
        merge: false,
        replace: false,
        retain_keys: true,
    };
    /// `patchStrategy:"merge,retainKeys"`.
    pub const MERGE_RETAIN_KEYS: PatchStrategy = PatchStrategy {
        merge: true,
        replace: false,
        retain_keys: true,
    };
    /// `patchStrategy:"replace"`.
    pub const REPLACE: PatchStrategy = PatchStrategy {
        merge: false,
        replace: true,
        retain_keys: false,
    };
}

/// `x-kubernetes-list-type` of a list field, as server-side apply reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListType {
    /// The whole list is one value owned by one manager (the default).
    #[default]
    Atomic,
    /// A set of scalars: each value is owned separately (`v:` path elements).
    Set,
    /// A list of maps keyed by `x-kubernetes-list-map-keys` (`k:` path elements).
    Map,
}

/// How server-side apply treats an object-valued field (`x-kubernetes-map-type`,
/// `+structType`, or whether the schema declares fixed properties).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MapKind {
    /// A struct: fixed, named fields; a field is owned through its leaves.
    #[default]
    Struct,
    /// A map with arbitrary keys (`additionalProperties`, e.g. `labels`): every key
    /// is itself owned (it appears as a member, `.` in `fieldsV1`).
    Granular,
    /// Owned as a whole by one manager (`x-kubernetes-map-type: atomic`,
    /// `+structType=atomic`, e.g. a `LabelSelector`).
    Atomic,
}

/// The list-map keys of a field, borrowed either from static tables or an owned schema.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    /// Keys from a compiled-in table.
    Static(&'static [&'static str]),
    /// Keys from a schema parsed at run time (a CRD's).
    Owned(&'a [String]),
}

impl<'a> Keys<'a> {
    /// No keys.
    pub const NONE: Keys<'static> = Keys::Static(&[]);

    /// Iterates the key names in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        let (s, o): (&'static [&'static str], &'a [String]) = match *self {
            Keys::Static(s) => (s, &[]),
            Keys::Owned(o) => (&[], o),
        };
        s.iter().copied().chain(o.iter().map(String::as_str))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        match self {
            Keys::Static(s) => s.len(),
            Keys::Owned(o) => o.len(),
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything the patch algorithms need to know about one field.
#[derive(Clone, Copy)]
pub struct FieldMeta<'a> {
    /// Strategic merge patch strategy.
    pub strategy: PatchStrategy,
    /// Strategic merge patch merge key for lists of maps with the `merge` strategy.
    pub merge_key: Option<&'a str>,
    /// Server-side apply list type (meaningful when the value is a list).
    pub list_type: ListType,
    /// Server-side apply list-map keys (for [`ListType::Map`]).
    pub list_map_keys: Keys<'a>,
    /// Server-side apply map kind (meaningful when the value, or each list element,
    /// is an object).
    pub map_kind: MapKind,
    /// Schema of the value when it is an object, or of each element when it is a list.
    pub schema: Option<&'a dyn PatchMeta>,
}

impl std::fmt::Debug for FieldMeta<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldMeta")
            .field("strategy", &self.strategy)
            .field("merge_key", &self.merge_key)
            .field("list_type", &self.list_type)
            .field("list_map_keys", &self.list_map_keys)
            .field("map_kind", &self.map_kind)
            .field("has_schema", &self.schema.is_some())
            .finish()
    }
}

impl FieldMeta<'_> {
    /// A field with no metadata: maps merge and are structs, lists replace and are atomic.
    pub const PLAIN: FieldMeta<'static> = FieldMeta {
        strategy: PatchStrategy::NONE,
        merge_key: None,
        list_type: ListType::Atomic,
        list_map_keys: Keys::NONE,
        map_kind: MapKind::Struct,
        schema: None,
    };
}

/// Schema of one object type, looked up by field name.
pub trait PatchMeta: Send + Sync {
    /// Metadata of field `name`; `None` when the schema says nothing about it (it is
    /// then patched with the defaults of [`FieldMeta::PLAIN`]).
    fn field(&self, name: &str) -> Option<FieldMeta<'_>>;

    /// The schema's default value of field `name`, if it declares one. Server-side
    /// apply uses it for associative-list key fields an element omits, as
    /// structured-merge-diff does.
    fn default_of(&self, _name: &str) -> Option<Value> {
        None
    }
}

/// Looks up `name` in an optional schema, falling back to [`FieldMeta::PLAIN`].
pub fn lookup<'a>(meta: Option<&'a dyn PatchMeta>, name: &str) -> FieldMeta<'a> {
    meta.and_then(|m| m.field(name)).unwrap_or(FieldMeta::PLAIN)
}

/// A schema that knows nothing: every field gets the defaults. Custom resources
/// without structural schema information, and tests, use it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMeta;

impl PatchMeta for NoMeta {
    fn field(&self, _name: &str) -> Option<FieldMeta<'_>> {
        None
    }
}

/// A schema built at run time from an OpenAPI v3 schema (a CRD's
/// `spec.versions[].schema.openAPIV3Schema`), reading `properties`,
/// `additionalProperties`, `items`, `x-kubernetes-list-type`,
/// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`,
/// `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`.
#[derive(Debug, Clone, Default)]
pub struct OpenApiMeta {
    properties: Vec<(String, OwnedField)>,
    additional: Option<Box<OwnedField>>,
    /// `x-kubernetes-preserve-unknown-fields` without properties: fields are map keys.
    preserve_unknown: bool,
}

#[derive(Debug, Clone, Default)]
struct OwnedField {
    strategy: PatchStrategy,
    merge_key: Option<String>,
    list_type: ListType,
    keys: Vec<String>,
    map_kind: MapKind,
    schema: Option<OpenApiMeta>,
    default: Option<Value>,
}

impl OpenApiMeta {
    /// Builds the lookup for an object schema. Non-object or malformed parts are
    /// treated as "no metadata" rather than rejected: validation is not this crate's job.
    pub fn from_schema(schema: &Value) -> OpenApiMeta {
        let mut meta = OpenApiMeta {
            preserve_unknown: schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ..OpenApiMeta::default()
        };
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                meta.properties
                    .push((name.clone(), OwnedField::from_schema(prop)));
            }
            meta.properties.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if let Some(add) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            meta.additional = Some(Box::new(OwnedField::from_schema(add)));
        }
        meta
    }
}

impl OwnedField {
    fn from_schema(schema: &Value) -> OwnedField {
        let str_of = |k: &str| schema.get(k).and_then(Value::as_str);
        let mut f = OwnedField::default();
        if let Some(s) = str_of("x-kubernetes-patch-strategy") {
            for part in s.split(',') {
                match part.trim() {
                    "merge" => f.strategy.merge = true,
                    "replace" => f.strategy.replace = true,
                    "retainKeys" => f.strategy.retain_keys = true,
                    _ => {}
                }
            }
        }
        f.merge_key = str_of("x-kubernetes-patch-merge-key").map(str::to_owned);
        f.default = schema.get("default").cloned();
        f.list_type = match str_of("x-kubernetes-list-type") {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map,
            _ => ListType::Atomic,
        };
        if let Some(keys) = schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
        {
            f.keys = keys
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        let body = if schema.get("type").and_then(Value::as_str) == Some("array") {
            schema.get("items").unwrap_or(&Value::Null)
        } else {
            schema
        };
        let is_atomic_map = str_of("x-kubernetes-map-type") == Some("atomic")
            || body.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        let has_props = body.get("properties").is_some();
        let has_additional = body
            .get("additionalProperties")
            .is_some_and(|v| !v.is_boolean());
        let preserve = body
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        f.map_kind = if is_atomic_map {
            MapKind::Atomic
        } else if !has_props && (has_additional || preserve) {
            MapKind::Granular
        } else {
            MapKind::Struct
        };
        if body.is_object() && (has_props || has_additional || preserve) {
            f.schema = Some(OpenApiMeta::from_schema(body));
        }
        f
    }

    fn as_meta(&self) -> FieldMeta<'_> {
        FieldMeta {
            strategy: self.strategy,
            merge_key: self.merge_key.as_deref(),
            list_type: self.list_type,
            list_map_keys: Keys::Owned(&self.keys),
            map_kind: self.map_kind,
            schema: self.schema.as_ref().map(|s| s as &dyn PatchMeta),
        }
    }
}

impl PatchMeta for OpenApiMeta {
    fn field(&self, name: &str) -> Option<FieldMeta<'_>> {
        if let Ok(i) = self.properties.binary_search_by(|p| p.0.as_str().cmp(name)) {
            return Some(self.properties[i].1.as_meta());
        }
        if let Some(add) = &self.additional {
            return Some(add.as_meta());
        }
        if self.preserve_unknown {
            return Some(FieldMeta {
                map_kind: MapKind::Granular,
                ..FieldMeta::PLAIN
            });
        }
        None
    }

    fn default_of(&self, name: &str) -> Option<Value> {
        let i = self
            .properties
            .binary_search_by(|p| p.0.as_str().cmp(name))
            .ok()?;
        self.properties[i].1.default.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_schema_reads_list_and_map_extensions() {
        let s = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                        "properties": {"a": {"type": "string"}}},
                    "finalizers": {"type": "array", "x-kubernetes-patch-strategy": "merge",
                        "items": {"type": "string"}}
                }}
            }
        });
        let m = OpenApiMeta::from_schema(&s);
        let spec = m.field("spec").unwrap();
        assert_eq!(spec.map_kind, MapKind::Struct);
        let spec = spec.schema.unwrap();
        let ports = spec.field("ports").unwrap();
        assert_eq!(ports.list_type, ListType::Map);
        assert_eq!(
            ports.list_map_keys.iter().collect::<Vec<_>>(),
            vec!["port", "protocol"]
        );
        assert!(ports.schema.unwrap().field("port").is_some());
        assert_eq!(spec.field("tags").unwrap().list_type, ListType::Set);
        assert_eq!(spec.field("args").unwrap().list_type, ListType::Atomic);
        assert_eq!(spec.field("labels").unwrap().map_kind, MapKind::Granular);
        assert_eq!(spec.field("selector").unwrap().map_kind, MapKind::Atomic);
        assert!(spec.field("finalizers").unwrap().strategy.merge);
        assert!(spec.field("unknown").is_none());
    }
}
