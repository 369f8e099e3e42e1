//! Messages whose JSON form is not an object of their fields: each is converted as its
//! Go type's `MarshalJSON` writes it.
//!
//! | message | JSON |
//! |---|---|
//! | `meta/v1.Time` | RFC 3339 at seconds; Go's zero time (an empty message) is `null` |
//! | `meta/v1.MicroTime` | RFC 3339 with microseconds; zero is `null` |
//! | `meta/v1.Duration` | Go duration text (`1m30s`) |
//! | `meta/v1.FieldsV1` | the raw JSON it carries |
//! | `runtime.RawExtension` | the raw JSON it carries (or a nested protobuf object) |
//! | `util/intstr.IntOrString` | a number or a string, by `type` |
//! | `api/resource.Quantity` | its string (`"0"` when unset) |

use prost_reflect::{DynamicMessage, ReflectMessage};
use serde_json::Value;

use super::envelope::Envelope;
use super::json::Trail;
use super::{ProtobufError, gotime};

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";

/// Whether the message of this full name has its own JSON form (not an object of its
/// fields).
pub fn has_own_form(full_name: &str) -> bool {
    matches!(
        full_name,
        TIME | MICRO_TIME | DURATION | FIELDS_V1 | RAW_EXTENSION | INT_OR_STRING | QUANTITY
    )
}

/// The JSON of `msg` when its type has its own JSON form; `None` for ordinary
/// messages. `at` names the field in errors.
pub fn convert(msg: &DynamicMessage, at: &Trail<'_>) -> Option<Result<Value, ProtobufError>> {
    let desc = msg.descriptor();
    let out = match desc.full_name() {
        TIME => time(msg, false, at),
        MICRO_TIME => time(msg, true, at),
        DURATION => Ok(Value::String(gotime::duration(int(msg, "duration")))),
        FIELDS_V1 => raw_json(msg, "Raw", at),
        RAW_EXTENSION => raw_json(msg, "raw", at),
        INT_OR_STRING => int_or_string(msg, at),
        QUANTITY => Ok(Value::String(
            string(msg, "string").unwrap_or_else(|| "0".into()),
        )),
        _ => return None,
    };
    Some(out)
}

fn value_error(at: &Trail<'_>, message: impl Into<String>) -> ProtobufError {
    ProtobufError::Value {
        path: at.to_string(),
        message: message.into(),
    }
}

fn int(msg: &DynamicMessage, field: &str) -> i64 {
    msg.get_field_by_name(field)
        .and_then(|v| v.as_i64().or_else(|| v.as_i32().map(i64::from)))
        .unwrap_or(0)
}

fn string(msg: &DynamicMessage, field: &str) -> Option<String> {
    msg.has_field_by_name(field)
        .then(|| msg.get_field_by_name(field))
        .flatten()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// `Time` drops the nanoseconds (upstream's `Time.Unmarshal` does, so protobuf and
/// JSON clients store the same value); `MicroTime` keeps microseconds.
fn time(msg: &DynamicMessage, micro: bool, at: &Trail<'_>) -> Result<Value, ProtobufError> {
    let seconds = int(msg, "seconds");
    let nanos = int(msg, "nanos");
    let empty = !msg.has_field_by_name("seconds") && !msg.has_field_by_name("nanos");
    if empty || (seconds == gotime::GO_ZERO_UNIX && (!micro || nanos == 0)) {
        return Ok(Value::Null);
    }
    let text = if micro {
        gotime::rfc3339_micro(seconds, nanos)
    } else {
        gotime::rfc3339(seconds)
    };
    text.map(Value::String)
        .ok_or_else(|| value_error(at, format!("time out of range: {seconds}s")))
}

fn raw_json(msg: &DynamicMessage, field: &str, at: &Trail<'_>) -> Result<Value, ProtobufError> {
    if !msg.has_field_by_name(field) {
        return Ok(Value::Null);
    }
    let raw = msg
        .get_field_by_name(field)
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    if Envelope::has_magic(&raw) {
        return Envelope::parse(&raw)?.to_json();
    }
    serde_json::from_slice(&raw)
        .map_err(|e| value_error(at, format!("embedded object is not JSON: {e}")))
}

fn int_or_string(msg: &DynamicMessage, at: &Trail<'_>) -> Result<Value, ProtobufError> {
    match int(msg, "type") {
        0 => Ok(Value::from(int(msg, "intVal"))),
        1 => Ok(Value::String(string(msg, "strVal").unwrap_or_default())),
        t => Err(value_error(at, format!("impossible IntOrString.Type {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::Value as PValue;
    use serde_json::json;

    use super::super::descriptors;
    use super::*;

    fn msg(name: &str, fields: &[(&str, PValue)]) -> DynamicMessage {
        let mut m = DynamicMessage::new(descriptors::message(name).unwrap());
        for (f, v) in fields {
            m.set_field_by_name(f, v.clone());
        }
        m
    }

    fn conv(m: &DynamicMessage) -> Value {
        convert(m, &Trail::Root).unwrap().unwrap()
    }

    #[test]
    fn times() {
        let t = |s: i64, n: i32| {
            msg(
                TIME,
                &[("seconds", PValue::I64(s)), ("nanos", PValue::I32(n))],
            )
        };
        assert_eq!(conv(&t(1_714_557_600, 999)), json!("2024-05-01T10:00:00Z"));
        assert_eq!(conv(&t(0, 0)), json!("1970-01-01T00:00:00Z"));
        assert_eq!(conv(&msg(TIME, &[])), Value::Null);
        assert_eq!(conv(&t(gotime::GO_ZERO_UNIX, 0)), Value::Null);
        let m = msg(
            MICRO_TIME,
            &[
                ("seconds", PValue::I64(1_714_557_600)),
                ("nanos", PValue::I32(5_000)),
            ],
        );
        assert_eq!(conv(&m), json!("2024-05-01T10:00:00.000005Z"));
        assert_eq!(conv(&msg(MICRO_TIME, &[])), Value::Null);
    }

    #[test]
    fn int_or_string_quantity_duration() {
        let ios = |t: i64, i: i32, s: &str| {
            msg(
                INT_OR_STRING,
                &[
                    ("type", PValue::I64(t)),
                    ("intVal", PValue::I32(i)),
                    ("strVal", PValue::String(s.into())),
                ],
            )
        };
        assert_eq!(conv(&ios(0, 8080, "")), json!(8080));
        assert_eq!(conv(&ios(1, 0, "25%")), json!("25%"));
        assert_eq!(conv(&msg(INT_OR_STRING, &[])), json!(0));
        assert!(convert(&ios(7, 0, ""), &Trail::Root).unwrap().is_err());
        let q = msg(QUANTITY, &[("string", PValue::String("500m".into()))]);
        assert_eq!(conv(&q), json!("500m"));
        assert_eq!(conv(&msg(QUANTITY, &[])), json!("0"));
        let d = msg(DURATION, &[("duration", PValue::I64(90_000_000_000))]);
        assert_eq!(conv(&d), json!("1m30s"));
    }

    #[test]
    fn raw_json_fields() {
        let raw = |name: &str, field: &str, b: &[u8]| {
            msg(
                name,
                &[(field, PValue::Bytes(bytes::Bytes::copy_from_slice(b)))],
            )
        };
        assert_eq!(
            conv(&raw(RAW_EXTENSION, "raw", br#"{"kind":"Foo","a":[1]}"#)),
            json!({"kind": "Foo", "a": [1]})
        );
        assert_eq!(
            conv(&raw(FIELDS_V1, "Raw", br#"{"f:data":{".":{}}}"#)),
            json!({"f:data": {".": {}}})
        );
        assert_eq!(conv(&msg(RAW_EXTENSION, &[])), Value::Null);
        let at = Trail::Field(&Trail::Root, "spec");
        let err = convert(
            &raw(RAW_EXTENSION, "raw", b"\x01\x02"),
            &Trail::Field(&at, "data"),
        )
        .unwrap()
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.data: embedded object is not JSON"),
            "{err}"
        );
    }
}
