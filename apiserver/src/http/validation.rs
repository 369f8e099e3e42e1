//! `fieldValidation=Strict|Warn|Ignore`: unknown fields in a request body are a 400 in
//! Strict mode and a `Warning` header in Warn mode (the default when the parameter is
//! absent, as upstream).

use serde_json::Value;

use super::AppState;
use super::request::Query;
use crate::kinds::KindInfo;
use crate::status::ApiError;

/// A request body after field validation.
#[derive(Debug)]
pub struct Checked {
    /// The body.
    pub value: Value,
    /// Warnings to send back.
    pub warnings: Vec<String>,
}

/// The `fieldValidation` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Reject unknown fields (400).
    Strict,
    /// Warn about them.
    Warn,
    /// Drop them silently.
    Ignore,
}

/// Parses `fieldValidation`.
pub fn directive(q: &Query) -> Result<Directive, ApiError> {
    match q.get("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(Directive::Warn),
        Some("Strict") => Ok(Directive::Strict),
        Some("Ignore") => Ok(Directive::Ignore),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

/// Checks `body` (parsed from `raw` JSON; empty for YAML) for duplicate and unknown
/// fields of `kind` per the request's directive.
pub fn check_fields(
    state: &AppState,
    kind: &KindInfo,
    q: &Query,
    raw: &[u8],
    body: Value,
) -> Result<Checked, ApiError> {
    let d = directive(q)?;
    if d == Directive::Ignore {
        return Ok(Checked {
            value: body,
            warnings: Vec::new(),
        });
    }
    let mut msgs: Vec<String> = duplicate_fields(raw)
        .iter()
        .map(|f| format!("json: duplicate field \"{f}\""))
        .collect();
    msgs.extend(
        super::openapi::unknown_fields(state, kind, &body)
            .iter()
            .map(|f| format!("unknown field \"{f}\"")),
    );
    if msgs.is_empty() {
        return Ok(Checked {
            value: body,
            warnings: Vec::new(),
        });
    }
    match d {
        Directive::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            msgs.join(", ")
        ))),
        _ => Ok(Checked {
            value: body,
            warnings: msgs,
        }),
    }
}

/// Paths of keys that occur twice in the same JSON object of `bytes` (`spec.replicas`),
/// which `encoding/json` and `serde_json` silently resolve to the last value and
/// upstream's strict decoding reports.
pub fn duplicate_fields(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = serde::de::DeserializeSeed::deserialize(
        DupSeed {
            path: String::new(),
            found: &mut found,
        },
        &mut de,
    );
    found
}

struct DupSeed<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DupSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let path = format!("{}[{i}]", self.path);
            if seq
                .next_element_seed(DupSeed {
                    path,
                    found: &mut *self.found,
                })?
                .is_none()
            {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(DupSeed {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicate_keys_with_paths() {
        let d = duplicate_fields(br#"{"a":1,"spec":{"r":1,"r":2,"l":[{"x":1,"x":2}]},"a":3}"#);
        assert_eq!(d, ["spec.r", "spec.l[0].x", "a"]);
        assert!(duplicate_fields(br#"{"a":{"a":1}}"#).is_empty());
    }

    #[test]
    fn duplicate_fields_are_found_with_paths() {
        let raw = br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [{"name": "a", "name": "b"}]}}}, "kind": "x", "kind": "y"}"#;
        assert_eq!(
            duplicate_fields(raw),
            [
                "spec.replicas",
                "spec.template.spec.containers[0].name",
                "kind"
            ]
        );
        assert!(duplicate_fields(br#"{"a": 1, "b": {"a": 2}}"#).is_empty());
        assert!(duplicate_fields(b"{not json").is_empty());
    }
}
