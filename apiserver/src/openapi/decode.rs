//! The JSON types Go's decoder refuses for a built-in kind's fields, found by walking the
//! kind's schema, with the decoder's own error message.

use serde_json::Value;

use crate::kinds::{KindInfo, Registry};

use super::openapi_v3;
use super::schemas::{REF_PREFIX, resolve};

/// A value Go's JSON decoder refuses for the built-in type it is decoded into.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeMismatch {
    /// `json: cannot unmarshal {value} into Go struct field {field} of type {go_type}`.
    Type {
        /// The JSON value's kind as Go names it (`string`, `number`, `number 2.5`, …).
        value: String,
        /// `DeploymentSpec.spec.replicas`: the enclosing struct and the field's path.
        field: String,
        /// The Go type (`int32`, `string`, `[]v1.Container`, `map[string]string`).
        go_type: String,
    },
    /// A `format: byte` string that is not base64.
    Base64 {
        /// The offending byte's offset.
        offset: usize,
    },
}

impl TypeMismatch {
    /// The message upstream's decoder gives.
    pub fn message(&self) -> String {
        match self {
            TypeMismatch::Type {
                value,
                field,
                go_type,
            } => format!(
                "json: cannot unmarshal {value} into Go struct field {field} of type {go_type}"
            ),
            TypeMismatch::Base64 { offset } => {
                format!("illegal base64 data at input byte {offset}")
            }
        }
    }
}

/// The first field of `obj` whose JSON type the schema of built-in `kind` (and so Go's
/// decoder) refuses: a string for an integer, a number for a string, an object for a
/// list, bad base64. `null` decodes as the zero value anywhere; quantities and
/// int-or-strings take numbers and strings; free-form fields take anything.
pub fn type_mismatch(registry: &Registry, kind: &KindInfo, obj: &Value) -> Option<TypeMismatch> {
    let doc = openapi_v3(registry, &kind.group, &kind.version)?;
    let schemas = doc.document.pointer("/components/schemas")?;
    let name = doc.schema_name(schemas, kind)?;
    let root = schemas.get(&name)?;
    let mut walk = TypeWalk {
        schemas,
        path: Vec::new(),
    };
    walk.check(root, obj, short_type_name(&name), 0)
}

pub(super) fn short_type_name(component: &str) -> &str {
    component.rsplit('.').next().unwrap_or(component)
}

pub(super) struct TypeWalk<'a> {
    schemas: &'a Value,
    /// Property names from the root (Go's error path leaves out indices and map keys).
    path: Vec<&'a str>,
}

impl<'a> TypeWalk<'a> {
    /// The Go type a schema decodes into, as Go's error names it.
    fn go_type(&self, schema: &'a Value, depth: usize) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(REF_PREFIX).unwrap_or(r);
            let target = self.schemas.get(name).unwrap_or(&Value::Null);
            if target.get("properties").is_some() {
                let package = name.rsplit('.').nth(1).unwrap_or("v1");
                return format!("{package}.{}", short_type_name(name));
            }
        }
        let schema = resolve(self.schemas, schema);
        if depth > 8 {
            return "interface {}".into();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => match schema.get("format").and_then(Value::as_str) {
                Some("int32") => "int32".into(),
                Some("int64") => "int64".into(),
                _ => "int".into(),
            },
            Some("number") => "float64".into(),
            Some("boolean") => "bool".into(),
            Some("string") if schema.get("format").and_then(Value::as_str) == Some("byte") => {
                "[]uint8".into()
            }
            Some("string") => "string".into(),
            Some("array") => match schema.get("items") {
                Some(items) => format!("[]{}", self.go_type(items, depth + 1)),
                None => "[]interface {}".into(),
            },
            Some("object") => match schema.get("additionalProperties").filter(|a| a.is_object()) {
                Some(ap) => format!("map[string]{}", self.go_type(ap, depth + 1)),
                None => "map[string]interface {}".into(),
            },
            _ => "interface {}".into(),
        }
    }

    fn mismatch(&self, value: String, strukt: &str, schema: &'a Value) -> Option<TypeMismatch> {
        Some(TypeMismatch::Type {
            value,
            field: format!("{strukt}.{}", self.path.join(".")),
            go_type: self.go_type(schema, 0),
        })
    }

    fn check(
        &mut self,
        schema_in: &'a Value,
        v: &'a Value,
        strukt: &str,
        depth: usize,
    ) -> Option<TypeMismatch> {
        if depth > 64 || v.is_null() {
            return None;
        }
        let own_ref = schema_in
            .get("$ref")
            .or_else(|| {
                schema_in
                    .get("allOf")
                    .and_then(|a| a.get(0))
                    .and_then(|a| a.get("$ref"))
            })
            .and_then(Value::as_str);
        if own_ref.is_some_and(|r| r.ends_with(".api.resource.Quantity")) {
            // Quantity.UnmarshalJSON takes a string or any number (`cpu: 0.5`).
            return match v {
                Value::String(_) | Value::Number(_) => None,
                other => self.mismatch(json_kind(other).into(), strukt, schema_in),
            };
        }
        let schema = resolve(self.schemas, schema_in);
        let flag = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
        if flag("x-kubernetes-int-or-string") {
            return match v {
                Value::String(_) => None,
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::Number(n) => self.mismatch(format!("number {n}"), strukt, schema_in),
                other => self.mismatch(json_kind(other).into(), strukt, schema_in),
            };
        }
        let kind_name = |v: &Value| json_kind(v).to_string();
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::Number(n) => self.mismatch(format!("number {n}"), strukt, schema_in),
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("number") => match v {
                Value::Number(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("boolean") => match v {
                Value::Bool(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("string") => match v {
                Value::String(s)
                    if schema.get("format").and_then(Value::as_str) == Some("byte") =>
                {
                    base64_error(s).map(|offset| TypeMismatch::Base64 { offset })
                }
                Value::String(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("array") => match v {
                Value::Array(items) => {
                    let item_schema = schema.get("items")?;
                    items
                        .iter()
                        .find_map(|item| self.check(item_schema, item, strukt, depth + 1))
                }
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("object") | None => {
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                let Value::Object(map) = v else {
                    if props.is_some() || additional.is_some() {
                        return self.mismatch(kind_name(v), strukt, schema_in);
                    }
                    // Free-form (RawExtension, apiextensions JSON): Go keeps any JSON.
                    return None;
                };
                // The struct a property error names is this schema's Go type.
                let own = own_ref.map(short_type_name).unwrap_or(strukt).to_string();
                for (key, child) in map {
                    if let Some(cs) = props.and_then(|p| p.get(key)) {
                        self.path.push(key.as_str());
                        let found = self.check(cs, child, &own, depth + 1);
                        self.path.pop();
                        if found.is_some() {
                            return found;
                        }
                    } else if let Some(ap) = additional
                        && let Some(m) = self.check(ap, child, strukt, depth + 1)
                    {
                        return Some(m);
                    }
                }
                None
            }
            _ => None,
        }
    }
}

/// Go's JSON names for a value's kind.
pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where Go's `base64.StdEncoding` (which skips `\r` and `\n`) fails on `s`, if it does.
pub(super) fn base64_error(s: &str) -> Option<usize> {
    use base64::Engine;
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    match base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()) {
        Ok(_) => None,
        Err(base64::DecodeError::InvalidByte(offset, _))
        | Err(base64::DecodeError::InvalidLastSymbol(offset, _)) => Some(offset),
        Err(_) => Some(clean.len()),
    }
}
