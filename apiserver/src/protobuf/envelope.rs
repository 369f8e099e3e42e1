//! The Kubernetes protobuf envelope: the magic `k8s\0`, then a `runtime.Unknown`
//! `{typeMeta {apiVersion, kind}, raw, contentEncoding, contentType}` whose `raw` is the
//! message of the kind `typeMeta` names.

use prost_reflect::DynamicMessage;
use serde_json::Value;

use super::{ProtobufError, descriptors, json};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8] = b"k8s\0";

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `typeMeta.apiVersion` (`apps/v1`).
    pub api_version: String,
    /// `typeMeta.kind` (`Deployment`).
    pub kind: String,
    /// The kind's encoded message.
    pub raw: Vec<u8>,
    /// `contentEncoding` (upstream writes none).
    pub content_encoding: String,
    /// `contentType` (upstream leaves it empty; the message is protobuf).
    pub content_type: String,
}

impl Envelope {
    /// Whether `bytes` start with the magic number.
    pub fn has_magic(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Parses the magic number and the `runtime.Unknown` after it.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtobufError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
        let desc = descriptors::message(&format!("{}.Unknown", descriptors::RUNTIME))
            .ok_or_else(|| ProtobufError::Malformed("runtime.Unknown is not compiled in".into()))?;
        let unknown = DynamicMessage::decode(desc, rest)
            .map_err(|e| ProtobufError::Malformed(e.to_string()))?;
        let string = |msg: &DynamicMessage, name: &str| {
            msg.get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let type_meta = unknown
            .get_field_by_name("typeMeta")
            .and_then(|v| v.as_message().cloned());
        let (api_version, kind) = type_meta
            .map(|t| (string(&t, "apiVersion"), string(&t, "kind")))
            .unwrap_or_default();
        let raw = unknown
            .get_field_by_name("raw")
            .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
            .unwrap_or_default();
        Ok(Envelope {
            api_version,
            kind,
            raw,
            content_encoding: string(&unknown, "contentEncoding"),
            content_type: string(&unknown, "contentType"),
        })
    }

    /// Decodes `raw` as the message of the envelope's kind and maps it to JSON with
    /// `apiVersion` and `kind` first.
    pub fn to_json(&self) -> Result<Value, ProtobufError> {
        if !self.content_encoding.is_empty() {
            return Err(ProtobufError::ContentEncoding(
                self.content_encoding.clone(),
            ));
        }
        let unsupported = || ProtobufError::UnsupportedKind {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
        };
        let desc =
            descriptors::message_for(&self.api_version, &self.kind).ok_or_else(unsupported)?;
        let msg = DynamicMessage::decode(desc, self.raw.as_slice())
            .map_err(|e| ProtobufError::Malformed(e.to_string()))?;
        let body = json::message(&msg)?;
        let mut out = serde_json::Map::new();
        out.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        out.insert("kind".into(), Value::String(self.kind.clone()));
        if let Value::Object(fields) = body {
            out.extend(fields);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf field's key and length-delimited payload.
    fn ld(field: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    /// The body kubectl 1.33 sent for `kubectl create configmap x --from-literal=a=b`.
    const KUBECTL_CONFIGMAP: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x1b\x0a\x11\x0a\x01x\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x06\x0a\x01a\x12\x01b\x1a\x00\x22\x00";

    #[test]
    fn kubectl_configmap_body() {
        let env = Envelope::parse(KUBECTL_CONFIGMAP).unwrap();
        assert_eq!(env.api_version, "v1");
        assert_eq!(env.kind, "ConfigMap");
        assert_eq!(env.content_type, "");
        let v = env.to_json().unwrap();
        // The zero-valued by-value ObjectMeta fields kubectl put on the wire are dropped,
        // as Go's omitempty drops them; the zero creationTimestamp is Go's `null`.
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "creationTimestamp": null},
                "data": {"a": "b"},
            })
        );
    }

    #[test]
    fn bad_envelopes() {
        assert_eq!(
            Envelope::parse(b"{\"kind\":\"Pod\"}").unwrap_err(),
            ProtobufError::NoMagic
        );
        assert!(matches!(
            Envelope::parse(b"k8s\x00\x0a\x7f").unwrap_err(),
            ProtobufError::Malformed(_)
        ));
        let mut tm = ld(1, b"apiextensions.k8s.io/v1");
        tm.extend(ld(2, b"CustomResourceDefinition"));
        let mut body = MAGIC.to_vec();
        body.extend(ld(1, &tm));
        let err = Envelope::parse(&body).unwrap().to_json().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the protobuf body's kind apiextensions.k8s.io/v1, Kind=CustomResourceDefinition is not one this server decodes from protobuf - send it as application/json or application/yaml"
        );
        let mut tm = ld(1, b"v1");
        tm.extend(ld(2, b"ConfigMap"));
        let mut body = MAGIC.to_vec();
        body.extend(ld(1, &tm));
        body.extend(ld(3, b"gzip"));
        assert_eq!(
            Envelope::parse(&body).unwrap().to_json().unwrap_err(),
            ProtobufError::ContentEncoding("gzip".into())
        );
    }
}
