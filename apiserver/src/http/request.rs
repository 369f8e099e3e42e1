//! Reading requests: query parameters, bodies (JSON, YAML or protobuf, at most 3 MiB), and the
//! `Accept` header's choice between plain JSON, Tables, partial metadata and aggregated
//! discovery.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::protobuf::{self, ProtobufError};
use crate::status::ApiError;

/// The request body size limit (upstream's 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Parsed query parameters (last value wins, as Go's `url.Values.Get` reads the first;
/// clients never repeat these).
#[derive(Debug, Default, Clone)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(q: Option<&str>) -> Self {
        let mut params = HashMap::new();
        if let Some(q) = q {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                params
                    .entry(k.into_owned())
                    .or_insert_with(|| v.into_owned());
            }
        }
        Query { params }
    }

    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    /// A boolean parameter (`true`/`1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }

    /// An integer parameter; 400 when malformed.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }

    /// `dryRun=All` (any other value is rejected as upstream does).
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }
}

/// Body formats the server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (or none given).
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/merge-patch+json`.
    MergePatch,
    /// `application/json-patch+json`.
    JsonPatch,
    /// `application/strategic-merge-patch+json`.
    StrategicMergePatch,
    /// `application/apply-patch+yaml`.
    ApplyPatch,
    /// `application/vnd.kubernetes.protobuf` (built-in kinds; see [`crate::protobuf`]).
    Protobuf,
}

/// Classifies a Content-Type.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    let ct = content_type.unwrap_or("");
    let base = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match base.as_str() {
        "" | "application/json" | "*/*" => BodyFormat::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyFormat::Yaml,
        "application/merge-patch+json" => BodyFormat::MergePatch,
        "application/json-patch+json" => BodyFormat::JsonPatch,
        "application/strategic-merge-patch+json" => BodyFormat::StrategicMergePatch,
        "application/apply-patch+yaml" => BodyFormat::ApplyPatch,
        protobuf::MEDIA_TYPE => BodyFormat::Protobuf,
        _ => return Err(ApiError::unsupported_media(ct)),
    })
}

/// Reads the whole body, answering 413 beyond [`MAX_BODY`].
pub async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large(MAX_BODY))
            } else {
                Err(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                )))
            }
        }
    }
}

/// Parses a JSON, YAML or protobuf body into a value (400 when malformed, 415 for a
/// protobuf body of a kind the server has no protobuf schema for).
pub fn parse_body(bytes: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match format {
        BodyFormat::Protobuf => protobuf::decode(bytes).map_err(protobuf_error),
        BodyFormat::Yaml | BodyFormat::ApplyPatch => {
            let v: Value = serde_yaml::from_slice(bytes).map_err(|e| {
                ApiError::bad_request(format!("error converting YAML to JSON: {e}"))
            })?;
            Ok(v)
        }
        _ => serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
    }
}

/// The Status for a protobuf body that cannot be read.
pub fn protobuf_error(e: ProtobufError) -> ApiError {
    match e {
        ProtobufError::UnsupportedKind { .. } => {
            ApiError::new(415, "UnsupportedMediaType", e.to_string())
        }
        e => ApiError::bad_request(e.to_string()),
    }
}

/// A DELETE body (`DeleteOptions`), in JSON or, from typed clients, protobuf; `None`
/// when empty.
pub fn delete_body(bytes: &[u8], content_type: Option<&str>) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let protobuf = content_type.is_some_and(protobuf::is_protobuf)
        || crate::protobuf::envelope::Envelope::has_magic(bytes);
    if protobuf {
        return protobuf::decode(bytes).map(Some).map_err(protobuf_error);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))
}

/// The kinds of output a client may ask for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Plain JSON objects.
    Json,
    /// `meta.k8s.io` `Table` (v1 or v1beta1).
    Table {
        /// Whether the client asked for `v1beta1`.
        v1beta1: bool,
    },
    /// `PartialObjectMetadata[List]`.
    PartialMetadata,
    /// `apidiscovery.k8s.io` aggregated discovery (`v2` when true, else `v2beta1`).
    AggregatedDiscovery {
        /// `v2` rather than `v2beta1`.
        v2: bool,
    },
}

/// Chooses the output from an `Accept` header: the first media range the server can
/// produce; plain JSON when none is given. 406 when nothing listed is producible.
pub fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut params = HashMap::new();
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                params.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        let as_ = params.get("as").map(String::as_str);
        let g = params.get("g").map(String::as_str);
        let v = params.get("v").map(String::as_str);
        match (as_, g) {
            (None, _) => return Ok(Output::Json),
            (Some("Table"), Some("meta.k8s.io")) => {
                return Ok(Output::Table {
                    v1beta1: v == Some("v1beta1"),
                });
            }
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Output::PartialMetadata);
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"))
                if v == Some("v2") || v == Some("v2beta1") =>
            {
                return Ok(Output::AggregatedDiscovery {
                    v2: v == Some("v2"),
                });
            }
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(accept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(negotiate(None).unwrap(), Output::Json);
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap(),
            Output::Table { v1beta1: false }
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            Output::PartialMetadata
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*")).unwrap(),
            Output::Json
        );
        assert_eq!(
            negotiate(Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")).unwrap(),
            Output::AggregatedDiscovery { v2: true }
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_body(b"{", BodyFormat::Json).unwrap_err().code, 400);
        assert_eq!(
            parse_body(b"kind: Pod\nmetadata:\n  name: x\n", BodyFormat::Yaml).unwrap()["metadata"]
                ["name"],
            "x"
        );
        assert_eq!(
            body_format(Some("application/vnd.kubernetes.protobuf")).unwrap(),
            BodyFormat::Protobuf
        );
        assert_eq!(body_format(Some("application/cbor")).unwrap_err().code, 415);
        assert_eq!(
            body_format(Some("application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
        // JSON sent as protobuf: 400 naming the missing magic number.
        let e = parse_body(b"{}", BodyFormat::Protobuf).unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert!(e.message.contains("magic"), "{}", e.message);
    }

    #[test]
    fn delete_bodies() {
        assert_eq!(delete_body(b" ", None).unwrap(), None);
        assert_eq!(
            delete_body(br#"{"gracePeriodSeconds":0}"#, Some("application/json")).unwrap(),
            Some(serde_json::json!({"gracePeriodSeconds": 0}))
        );
        // client-go's typed Delete: DeleteOptions{PropagationPolicy: Background} as protobuf.
        let mut tm = vec![0x0a, 2];
        tm.extend_from_slice(b"v1");
        tm.extend_from_slice(&[0x12, 13]);
        tm.extend_from_slice(b"DeleteOptions");
        let mut raw = vec![0x22, 10];
        raw.extend_from_slice(b"Background");
        let mut body = b"k8s\0".to_vec();
        body.extend_from_slice(&[0x0a, tm.len() as u8]);
        body.extend_from_slice(&tm);
        body.extend_from_slice(&[0x12, raw.len() as u8]);
        body.extend_from_slice(&raw);
        let v = delete_body(&body, Some(protobuf::MEDIA_TYPE))
            .unwrap()
            .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})
        );
        assert_eq!(delete_body(b"{", None).unwrap_err().code, 400);
    }
}
