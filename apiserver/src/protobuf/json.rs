//! A decoded message → the JSON the server stores, the way Go's `encoding/json` writes
//! the struct upstream decodes the same bytes into:
//!
//! - proto field names are the JSON names;
//! - a field absent on the wire is absent (proto2 presence);
//! - a scalar Go holds by value (`nullable = false`) is dropped when zero unless the
//!   schema requires it: Go cannot tell zero from unset there and `omitempty` drops it;
//!   a pointer field (`replicas`, `immutable`) keeps a zero, which is a value;
//! - messages are objects even when empty (Go writes `"status": {}`), except the types
//!   with their own JSON form ([`super::wellknown`]);
//! - a message field the JSON schema has no property for is inlined (Go's embedded
//!   `VolumeSource`, `ProbeHandler`, …);
//! - bytes are base64, maps objects, repeated fields arrays.

use base64::Engine as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value as PValue,
};
use serde_json::{Map, Value};

use super::{ProtobufError, descriptors, shape, wellknown};

/// Nesting deeper than this is refused (upstream's decoders bound recursion too).
const MAX_DEPTH: usize = 100;

/// Where a value sits in the object (`spec.containers[0].ports`), rendered only for
/// errors so that decoding allocates no paths.
#[derive(Debug, Clone, Copy)]
pub enum Trail<'a> {
    /// The object itself.
    Root,
    /// A field of the value at the first trail.
    Field(&'a Trail<'a>, &'a str),
    /// An element of the list at the first trail.
    Index(&'a Trail<'a>, usize),
    /// A value of the map at the first trail.
    Key(&'a Trail<'a>, &'a str),
}

impl std::fmt::Display for Trail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trail::Root => write!(f, "."),
            Trail::Field(Trail::Root, name) => write!(f, "{name}"),
            Trail::Field(parent, name) => write!(f, "{parent}.{name}"),
            Trail::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Trail::Key(parent, k) => write!(f, "{parent}[{k:?}]"),
        }
    }
}

/// The JSON of a message (an object, or a well-known type's own form).
pub fn message(msg: &DynamicMessage) -> Result<Value, ProtobufError> {
    message_at(msg, &Trail::Root, 0)
}

fn message_at(msg: &DynamicMessage, at: &Trail<'_>, depth: usize) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::Malformed(format!(
            "{at}: nesting exceeds {MAX_DEPTH} levels"
        )));
    }
    if let Some(v) = wellknown::convert(msg, at) {
        return v;
    }
    let desc = msg.descriptor();
    let shape = shape::of(desc.full_name());
    let mut out = Map::new();
    for field in desc.fields() {
        if !msg.has_field(&field) {
            continue;
        }
        let name = field.name();
        let value = msg.get_field(&field);
        let required = shape.is_some_and(|s| s.is_required(name));
        if is_scalar(&field)
            && descriptors::by_value(&field)
            && value.is_default_for_field(&field)
            && !required
        {
            continue;
        }
        let json = field_value(&value, &Trail::Field(at, name), depth)?;
        let inline = shape.is_some_and(|s| !s.has_property(name))
            && !field.is_list()
            && !field.is_map()
            && matches!(field.kind(), Kind::Message(_));
        match json {
            Value::Object(fields) if inline => out.extend(fields),
            json => {
                out.insert(name.to_string(), json);
            }
        }
    }
    Ok(Value::Object(out))
}

fn is_scalar(field: &FieldDescriptor) -> bool {
    !field.is_list() && !field.is_map() && !matches!(field.kind(), Kind::Message(_))
}

fn field_value(value: &PValue, at: &Trail<'_>, depth: usize) -> Result<Value, ProtobufError> {
    match value {
        PValue::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| single(v, &Trail::Index(at, i), depth))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        PValue::Map(entries) => {
            // Sorted keys, as Go writes maps.
            let mut entries: Vec<(String, &PValue)> =
                entries.iter().map(|(k, v)| (key_text(k), v)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (key, v) in entries {
                let json = single(v, &Trail::Key(at, &key), depth)?;
                out.insert(key, json);
            }
            Ok(Value::Object(out))
        }
        v => single(v, at, depth),
    }
}

fn key_text(k: &MapKey) -> String {
    match k {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

fn single(value: &PValue, at: &Trail<'_>, depth: usize) -> Result<Value, ProtobufError> {
    let float = |f: f64| {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ProtobufError::Value {
                path: at.to_string(),
                message: format!("unsupported value: {f}"),
            })
    };
    Ok(match value {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(f) => float(f64::from(*f))?,
        PValue::F64(f) => float(*f)?,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => message_at(m, at, depth + 1)?,
        PValue::List(_) | PValue::Map(_) => {
            return Err(ProtobufError::Malformed(format!(
                "{at}: nested repeated field"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost_reflect::MessageDescriptor;

    use super::*;

    /// JSON names of a message's fields as the mapping writes them: inlined fields
    /// contribute their own fields.
    fn json_names(desc: &MessageDescriptor, out: &mut BTreeSet<String>) {
        let shape = shape::of(desc.full_name());
        for field in desc.fields() {
            match field.kind() {
                Kind::Message(m)
                    if shape.is_some_and(|s| !s.has_property(field.name()))
                        && !field.is_list()
                        && !field.is_map() =>
                {
                    json_names(&m, out)
                }
                _ => {
                    out.insert(field.name().to_string());
                }
            }
        }
    }

    #[test]
    fn trails_render_json_paths() {
        let spec = Trail::Field(&Trail::Root, "spec");
        let containers = Trail::Field(&spec, "containers");
        let first = Trail::Index(&containers, 0);
        let limits = Trail::Field(&first, "limits");
        assert_eq!(
            Trail::Key(&limits, "cpu").to_string(),
            "spec.containers[0].limits[\"cpu\"]"
        );
        assert_eq!(Trail::Root.to_string(), ".");
    }

    /// Every field of every message reachable from the served kinds lands on a property
    /// the JSON schema of the same type declares: proto names are the JSON names, and
    /// the inlined fields are exactly Go's embedded ones.
    #[test]
    fn proto_fields_are_json_properties() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<MessageDescriptor> = crate::kinds::builtin_kinds()
            .iter()
            .filter_map(|k| descriptors::message_for(&k.api_version(), &k.kind))
            .collect();
        assert!(todo.len() > 25, "{} kinds have messages", todo.len());
        let mut problems = Vec::new();
        let mut checked = 0;
        while let Some(desc) = todo.pop() {
            if !seen.insert(desc.full_name().to_string()) {
                continue;
            }
            for field in desc.fields() {
                if let Kind::Message(m) = field.kind() {
                    todo.push(m);
                }
            }
            let Some(shape) = shape::of(desc.full_name()) else {
                continue;
            };
            checked += 1;
            let mut names = BTreeSet::new();
            json_names(&desc, &mut names);
            for n in names {
                if !shape.has_property(&n) {
                    problems.push(format!("{}.{n}", desc.full_name()));
                }
            }
        }
        assert!(checked > 200, "only {checked} messages checked");
        assert!(
            problems.is_empty(),
            "fields without a JSON property: {problems:#?}"
        );
        let mut inlined: Vec<String> = seen
            .iter()
            .filter_map(|n| descriptors::message(n))
            .flat_map(|d| {
                let shape = shape::of(d.full_name());
                d.fields()
                    .filter(|f| {
                        shape.is_some_and(|s| !s.has_property(f.name()))
                            && matches!(f.kind(), Kind::Message(_))
                    })
                    .map(|f| f.full_name().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        inlined.sort();
        // Go's embedded structs in the served kinds, and nothing else.
        assert_eq!(
            inlined,
            [
                "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
                "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
                "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
                "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
                "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
                "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
                "k8s.io.api.core.v1.Probe.handler",
                "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
                "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
                "k8s.io.api.core.v1.SecretProjection.localObjectReference",
                "k8s.io.api.core.v1.Volume.volumeSource",
            ]
        );
    }
}
