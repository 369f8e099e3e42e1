//! `field.Error`: one validation failure of one field, with upstream's wording
//! (`spec.replicas: Invalid value: -1: must be greater than or equal to 0`), as every
//! validator (built-in kinds, CRDs, custom resources' schemas) reports it.

use std::collections::BTreeMap;
use std::fmt;

use capstan_labels::field::{BadValue, FieldErrorKind};
use serde_json::{Value, json};

pub use capstan_labels::field::go_quote;

/// `field.ErrorType`: what is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorType {
    /// A required field is missing (`Required value`).
    Required,
    /// The value is malformed or out of range (`Invalid value`).
    Invalid,
    /// The value is not one of the supported values (`Unsupported value`).
    NotSupported,
    /// The field may not be set or changed (`Forbidden`).
    Forbidden,
    /// The value duplicates another that must be unique (`Duplicate value`).
    Duplicate,
    /// The value is too long (`Too long`).
    TooLong,
    /// A referenced item does not exist (`Not found`).
    NotFound,
    /// There are too many items (`Too many`).
    TooMany,
    /// The value has the wrong JSON type (`Invalid value`, cause `FieldValueTypeInvalid`).
    TypeInvalid,
    /// The server failed to validate (`Internal error`).
    Internal,
}

impl FieldErrorType {
    /// The human text upstream prints (`Invalid value`).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorType::Required => "Required value",
            FieldErrorType::Invalid | FieldErrorType::TypeInvalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::NotFound => "Not found",
            FieldErrorType::TooMany => "Too many",
            FieldErrorType::Internal => "Internal error",
        }
    }

    /// The `StatusCause.reason` (`metav1.CauseType`) for this error type.
    pub fn cause(self) -> &'static str {
        match self {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::NotFound => "FieldValueNotFound",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorType::Internal => "InternalError",
        }
    }
}

/// One validation failure of one field (`field.Error`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of failure.
    pub kind: FieldErrorType,
    /// The field path (`spec.template.spec.containers[0].image`).
    pub field: String,
    /// The offending value; `None` when upstream omits it from the message.
    pub value: Option<Value>,
    /// Extra explanation (`must be greater than or equal to 0`).
    pub detail: String,
    /// `value` is a string already written as Go prints the value (a `[]byte` as
    /// `[]byte{0x2d, …}`), to be shown as it is.
    pub value_is_go: bool,
}

impl FieldError {
    fn new(kind: FieldErrorType, field: &str, value: Option<Value>, detail: &str) -> Self {
        FieldError {
            kind,
            field: field.to_string(),
            value,
            detail: detail.to_string(),
            value_is_go: false,
        }
    }

    /// `field.Required`.
    pub fn required(field: &str, detail: &str) -> Self {
        Self::new(FieldErrorType::Required, field, None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(field: &str, value: Value, detail: &str) -> Self {
        Self::new(FieldErrorType::Invalid, field, Some(value), detail)
    }

    /// `field.Invalid` of a value upstream prints with Go's `%#v` (a `[]byte`), given as
    /// that text.
    pub fn invalid_go(field: &str, go_value: String, detail: &str) -> Self {
        FieldError {
            value_is_go: true,
            ..Self::new(
                FieldErrorType::Invalid,
                field,
                Some(Value::String(go_value)),
                detail,
            )
        }
    }

    /// `field.NotSupported`: `detail` lists the supported values, quoted.
    pub fn not_supported(field: &str, value: Value, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorType::NotSupported, field, Some(value), &detail)
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(FieldErrorType::Forbidden, field, None, detail)
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: &str, value: Value) -> Self {
        Self::new(FieldErrorType::Duplicate, field, Some(value), "")
    }

    /// `field.TooLong` (value omitted, as upstream does for large values).
    pub fn too_long(field: &str, max: usize) -> Self {
        Self::new(
            FieldErrorType::TooLong,
            field,
            None,
            &format!("must have at most {max} bytes"),
        )
    }

    /// `field.TooLong` as kube-openapi words a schema's `maxLength` (`may not be more
    /// than N bytes`).
    pub fn too_long_chars(field: &str, max: u64) -> Self {
        Self::new(
            FieldErrorType::TooLong,
            field,
            None,
            &format!("may not be more than {max} bytes"),
        )
    }

    /// `field.NotFound`.
    pub fn not_found(field: &str, value: Value) -> Self {
        Self::new(FieldErrorType::NotFound, field, Some(value), "")
    }

    /// `field.TooMany`.
    pub fn too_many(field: &str, actual: usize, max: usize) -> Self {
        Self::new(
            FieldErrorType::TooMany,
            field,
            Some(json!(actual)),
            &format!("must have at most {max} items"),
        )
    }

    /// `field.TypeInvalid`.
    pub fn type_invalid(field: &str, value: Value, detail: &str) -> Self {
        Self::new(FieldErrorType::TypeInvalid, field, Some(value), detail)
    }

    /// The message without the field (`Invalid value: -1: must be …`), as a
    /// `StatusCause.message` carries it (`field.Error.ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = match (&self.kind, &self.value) {
            (
                FieldErrorType::Required
                | FieldErrorType::Forbidden
                | FieldErrorType::TooLong
                | FieldErrorType::Internal,
                _,
            )
            | (_, None) => self.kind.as_str().to_string(),
            (_, Some(Value::String(go))) if self.value_is_go => {
                format!("{}: {go}", self.kind.as_str())
            }
            (_, Some(v)) => format!("{}: {}", self.kind.as_str(), format_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl From<capstan_labels::field::FieldError> for FieldError {
    /// A label or selector validation error (capstan-labels), as this module reports it.
    fn from(e: capstan_labels::field::FieldError) -> Self {
        let value = match e.kind {
            FieldErrorKind::Required => return FieldError::required(&e.field, &e.detail),
            FieldErrorKind::Forbidden => return FieldError::forbidden(&e.field, &e.detail),
            FieldErrorKind::Invalid(BadValue::String(v)) => json!(v),
            FieldErrorKind::Invalid(BadValue::Strings(v)) => json!(v),
        };
        FieldError::invalid(&e.field, value, &e.detail)
    }
}

/// Formats a bad value as Go's `%v`/`%q` would: numbers and booleans bare, strings quoted,
/// string maps as `map[string]string{"k":"v"}`, other structures as JSON.
fn format_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Object(m) if m.values().all(|x| x.is_string()) => {
            let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
                .collect();
            format!("map[string]string{{{}}}", inner.join(", "))
        }
        Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_string()) => {
            let inner: Vec<String> = a
                .iter()
                .map(|x| go_quote(x.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// Groups field errors by path (useful for callers building warnings).
pub fn errors_by_field(errors: &[FieldError]) -> BTreeMap<String, Vec<&FieldError>> {
    let mut out: BTreeMap<String, Vec<&FieldError>> = BTreeMap::new();
    for e in errors {
        out.entry(e.field.clone()).or_default().push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_formatting_matches_upstream() {
        let e = FieldError::invalid(
            "spec.replicas",
            json!(-1),
            "must be greater than or equal to 0",
        );
        assert_eq!(
            e.to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            FieldError::required("spec.containers[0].image", "").to_string(),
            "spec.containers[0].image: Required value"
        );
        assert_eq!(
            FieldError::not_supported(
                "spec.restartPolicy",
                json!("Sometimes"),
                &["Always", "OnFailure", "Never"]
            )
            .to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        assert_eq!(
            FieldError::duplicate("spec.containers[1].name", json!("a")).to_string(),
            "spec.containers[1].name: Duplicate value: \"a\""
        );
        assert_eq!(
            FieldError::forbidden("spec", "nope").to_string(),
            "spec: Forbidden: nope"
        );
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).to_string(),
            "metadata.annotations: Too long: must have at most 262144 bytes"
        );
        assert_eq!(
            FieldError::not_found("x", json!("v")).to_string(),
            "x: Not found: \"v\""
        );
        assert_eq!(
            FieldError::invalid("l", json!({"b": "2", "a": "1"}), "d").to_string(),
            "l: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: d"
        );
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn errors_are_grouped_by_field() {
        assert_eq!(
            errors_by_field(&[
                FieldError::required("a", ""),
                FieldError::required("a", "x")
            ])["a"]
                .len(),
            2
        );
    }
}
