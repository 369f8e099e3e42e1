//! Reading Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`).
//!
//! client-go's typed clients write built-in kinds as protobuf (kubectl 1.32+'s
//! `create configmap|secret|deployment|namespace|service`, `expose`, Helm's release
//! Secrets, `DeleteOptions` of typed deletes). A body is the magic `k8s\0` followed by a
//! `runtime.Unknown` envelope ([`envelope`]) whose `typeMeta` names the kind and whose
//! `raw` is that kind's message. The message is decoded dynamically with the descriptors
//! of upstream's `generated.proto` files ([`descriptors`], compiled at build time from
//! `proto/`) and mapped to the JSON the server stores ([`json`]): proto field names are
//! the JSON names, fields absent on the wire stay absent, zero values of fields Go holds
//! by value are dropped as Go's `omitempty` would (kept where the schema requires the
//! field), and the types with their own JSON form ([`wellknown`]: `Time`, `MicroTime`,
//! `Duration`, `IntOrString`, `Quantity`, `RawExtension`, `FieldsV1`, bytes) are
//! converted as their Go `MarshalJSON` does. Fields Go embeds inline (`Volume`'s
//! `VolumeSource`, `Probe`'s `ProbeHandler`) are found from the JSON schema ([`shape`]).

pub mod descriptors;
pub mod envelope;
pub mod gotime;
pub mod json;
pub mod shape;
pub mod wellknown;

use serde_json::Value;

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the protobuf body does not start with the Kubernetes magic number (k8s\\x00)")]
    NoMagic,
    /// The envelope or the message is not valid protobuf.
    #[error("malformed protobuf body: {0}")]
    Malformed(String),
    /// The envelope names a kind this server has no protobuf schema for.
    #[error(
        "the protobuf body's kind {api_version}, Kind={kind} is not one this server decodes from protobuf - send it as application/json or application/yaml"
    )]
    UnsupportedKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// The envelope's `contentEncoding` is set (upstream writes none).
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
    /// A field holds a value that has no JSON form (a `RawExtension` that is not JSON,
    /// an `IntOrString` of an unknown type, a non-finite number).
    #[error("{path}: {message}")]
    Value {
        /// The JSON path of the field.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Whether a Content-Type is Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Decodes a protobuf request body (magic, envelope, message) into the JSON object the
/// server works with, `apiVersion` and `kind` set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let env = envelope::Envelope::parse(body)?;
    env.to_json()
}
