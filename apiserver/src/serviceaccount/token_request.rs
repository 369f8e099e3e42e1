//! `authentication.k8s.io/v1` TokenRequest bodies: reading what a client asks for
//! (`SetDefaults_TokenRequestSpec`, `ValidateTokenRequest`, the name and namespace the
//! body may repeat), which kind of object it binds the token to, and the answer with the
//! token, as upstream's `TokenREST.Create` writes it. Pure: lookups are the caller's.

use serde_json::{Map, Value, json};

use crate::field_error::FieldError;
use crate::status::ApiError;
use crate::validation::invalid_error;

/// The group of TokenRequests.
pub const GROUP: &str = "authentication.k8s.io";
/// Their kind.
pub const KIND: &str = "TokenRequest";
/// A token's lifetime when the request asks for none (an hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a request may ask for (ten minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest (2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The lifetime the projected volume of the `ServiceAccount` admission step asks for:
/// an hour and seven seconds, which marks its tokens for the extended expiry.
pub const PROJECTED_EXPIRATION_SECONDS: i64 = 3607;
/// How long those tokens really live: a year (`ExpirationExtensionSeconds`).
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;

/// The object a request binds its token to, as the request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundRef {
    /// Which kind of object.
    pub kind: BoundKind,
    /// Its name.
    pub name: String,
    /// The uid the client expects it to have (empty: any).
    pub uid: String,
}

/// The kinds a token can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// A pod in the account's namespace.
    Pod,
    /// A secret in the account's namespace.
    Secret,
    /// A node.
    Node,
}

impl BoundKind {
    /// The kind's name, as messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundKind::Pod => "Pod",
            BoundKind::Secret => "Secret",
            BoundKind::Node => "Node",
        }
    }

    /// Where its objects are stored.
    pub fn resource(self) -> &'static str {
        match self {
            BoundKind::Pod => "pods",
            BoundKind::Secret => "secrets",
            BoundKind::Node => "nodes",
        }
    }
}

/// What a TokenRequest asks for, defaulted and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// The audiences asked for (empty: the server's).
    pub audiences: Vec<String>,
    /// The lifetime asked for.
    pub expiration_seconds: i64,
    /// The object to bind the token to.
    pub bound: Option<BoundRef>,
}

fn invalid(name: &str, errs: &[FieldError]) -> ApiError {
    invalid_error(KIND, GROUP, name, errs)
}

/// A body's `metadata.name` and `metadata.namespace`, when given, must be the account's
/// (422 naming the field otherwise).
pub fn check_names(body: &Value, name: &str, namespace: &str) -> Result<(), ApiError> {
    let meta = |f: &str| {
        body.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
    };
    for (field, want) in [("name", name), ("namespace", namespace)] {
        if let Some(given) = meta(field).filter(|v| !v.is_empty() && *v != want) {
            return Err(invalid(
                name,
                &[FieldError::invalid(
                    &format!("metadata.{field}"),
                    json!(given),
                    &format!("must match the service account {field} if specified"),
                )],
            ));
        }
    }
    Ok(())
}

/// The request's spec with its defaults, checked as `ValidateTokenRequest` does: 422
/// for a lifetime under ten minutes or over 2^32 seconds; 400 for a bound object of a
/// kind tokens cannot be bound to.
pub fn spec_of(body: &Value) -> Result<TokenSpec, ApiError> {
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let audiences = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let expiration_seconds = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let mut errs = Vec::new();
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(expiration_seconds),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(expiration_seconds),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid("", &errs));
    }
    let bound = match spec.get("boundObjectRef").filter(|r| r.is_object()) {
        Some(r) => Some(bound_ref(r)?),
        None => None,
    };
    Ok(TokenSpec {
        audiences,
        expiration_seconds,
        bound,
    })
}

/// A `boundObjectRef`: a core `v1` Pod, Secret or Node (an empty `apiVersion` is the
/// core group too, as `schema.FromAPIVersionAndKind` reads it).
fn bound_ref(r: &Value) -> Result<BoundRef, ApiError> {
    let text = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let kind_of = match (group, kind) {
        ("", "Pod") => BoundKind::Pod,
        ("", "Secret") => BoundKind::Secret,
        ("", "Node") => BoundKind::Node,
        _ => {
            // `GroupVersionKind.String()`: `group/version, Kind=kind`, the core group
            // written as an empty group.
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )));
        }
    };
    Ok(BoundRef {
        kind: kind_of,
        name: text("name").to_string(),
        uid: text("uid").to_string(),
    })
}

/// Whether the token's lifetime is extended to a year, as upstream does for the
/// pod-bound tokens of projected volumes (they ask for exactly 3607 seconds, for the
/// server's own audiences) so clients that do not yet reload them keep working; the
/// requested lifetime then becomes `warnafter`.
pub fn extends_expiration(spec: &TokenSpec, server_audiences: &[String]) -> bool {
    spec.expiration_seconds == PROJECTED_EXPIRATION_SECONDS
        && spec
            .bound
            .as_ref()
            .is_some_and(|b| b.kind == BoundKind::Pod)
        && spec.audiences.iter().all(|a| server_audiences.contains(a))
}

/// The account a token is issued for, as the answer names it.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its uid.
    pub uid: &'a str,
}

/// The answer: the request with its metadata filled in from the account, its spec with
/// the audiences used, and the token with when it expires.
pub fn answer(
    body: &Value,
    account: Account<'_>,
    spec: &TokenSpec,
    created: &str,
    token: &str,
    expires: &str,
) -> Value {
    let mut meta: Map<String, Value> = body
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    meta.insert("name".into(), json!(account.name));
    meta.insert("namespace".into(), json!(account.namespace));
    if meta
        .get("uid")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        meta.insert("uid".into(), json!(account.uid));
    }
    meta.insert("creationTimestamp".into(), json!(created));
    let bound = body
        .pointer("/spec/boundObjectRef")
        .filter(|r| r.is_object())
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "kind": KIND,
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": meta,
        "spec": {
            "audiences": spec.audiences,
            "expirationSeconds": spec.expiration_seconds,
            "boundObjectRef": bound,
        },
        "status": {"token": token, "expirationTimestamp": expires},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(spec: Value) -> Value {
        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {}, "spec": spec})
    }

    #[test]
    fn requests_default_to_an_hour_and_no_binding() {
        let s = spec_of(&request(json!({"audiences": null}))).unwrap();
        assert_eq!(
            s,
            TokenSpec {
                audiences: vec![],
                expiration_seconds: 3600,
                bound: None
            }
        );
        let s = spec_of(&json!({})).unwrap();
        assert_eq!(s.expiration_seconds, 3600);
    }

    #[test]
    fn lifetimes_outside_ten_minutes_to_two_to_the_32_seconds_are_invalid() {
        assert_eq!(
            spec_of(&request(json!({"expirationSeconds": 600})))
                .unwrap()
                .expiration_seconds,
            600
        );
        let e = spec_of(&request(json!({"expirationSeconds": 599}))).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
        );
        let d = e.details.unwrap();
        assert_eq!(
            (&d["group"], &d["kind"], &d["causes"][0]["field"]),
            (
                &json!("authentication.k8s.io"),
                &json!("TokenRequest"),
                &json!("spec.expirationSeconds")
            )
        );
        let e = spec_of(&request(json!({"expirationSeconds": (1i64 << 32) + 1}))).unwrap_err();
        assert!(
            e.message
                .ends_with("may not specify a duration larger than 2^32 seconds")
        );
    }

    #[test]
    fn tokens_bind_to_core_pods_secrets_and_nodes_only() {
        for (api_version, kind, want) in [
            ("v1", "Pod", BoundKind::Pod),
            ("", "Pod", BoundKind::Pod),
            ("v1", "Secret", BoundKind::Secret),
            ("v1", "Node", BoundKind::Node),
        ] {
            let s = spec_of(&request(json!({"boundObjectRef": {
                "apiVersion": api_version, "kind": kind, "name": "x", "uid": "u"}})))
            .unwrap();
            assert_eq!(
                s.bound,
                Some(BoundRef {
                    kind: want,
                    name: "x".into(),
                    uid: "u".into()
                })
            );
        }
        let e = spec_of(&request(json!({"boundObjectRef": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}})))
        .unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "cannot bind token to object of type apps/v1, Kind=Deployment"
        );
        let e = spec_of(&request(json!({"boundObjectRef": {
            "apiVersion": "v1", "kind": "ConfigMap", "name": "x"}})))
        .unwrap_err();
        assert_eq!(
            e.message,
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        );
    }

    #[test]
    fn the_body_may_repeat_the_accounts_name_and_namespace_only() {
        assert!(
            check_names(
                &json!({"metadata": {"name": "sa", "namespace": "ns"}}),
                "sa",
                "ns"
            )
            .is_ok()
        );
        assert!(check_names(&json!({}), "sa", "ns").is_ok());
        let e = check_names(&json!({"metadata": {"name": "other"}}), "sa", "ns").unwrap_err();
        assert_eq!(
            e.message,
            "TokenRequest.authentication.k8s.io \"sa\" is invalid: metadata.name: Invalid value: \"other\": must match the service account name if specified"
        );
        let e = check_names(&json!({"metadata": {"namespace": "x"}}), "sa", "ns").unwrap_err();
        assert_eq!(e.code, 422);
    }

    #[test]
    fn only_projected_pod_tokens_for_the_server_live_a_year() {
        let server = vec!["https://kubernetes.default.svc.cluster.local".to_string()];
        let pod = Some(BoundRef {
            kind: BoundKind::Pod,
            name: "p".into(),
            uid: String::new(),
        });
        let mut spec = TokenSpec {
            audiences: server.clone(),
            expiration_seconds: 3607,
            bound: pod,
        };
        assert!(extends_expiration(&spec, &server));
        spec.audiences = vec!["vault".into()];
        assert!(!extends_expiration(&spec, &server));
        spec.audiences = server.clone();
        spec.expiration_seconds = 3600;
        assert!(!extends_expiration(&spec, &server));
        spec.expiration_seconds = 3607;
        spec.bound = None;
        assert!(!extends_expiration(&spec, &server));
    }

    #[test]
    fn the_answer_carries_the_token_and_the_accounts_names() {
        let body =
            request(json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}));
        let spec = spec_of(&body).unwrap();
        let spec = TokenSpec {
            audiences: vec!["aud".into()],
            ..spec
        };
        let a = answer(
            &body,
            Account {
                namespace: "ns",
                name: "sa",
                uid: "u1",
            },
            &spec,
            "2025-01-01T00:00:00Z",
            "tok",
            "2025-01-01T01:00:00Z",
        );
        assert_eq!(
            a,
            json!({
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": "sa", "namespace": "ns", "uid": "u1", "creationTimestamp": "2025-01-01T00:00:00Z"},
                "spec": {"audiences": ["aud"], "expirationSeconds": 3600,
                    "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}},
                "status": {"token": "tok", "expirationTimestamp": "2025-01-01T01:00:00Z"},
            })
        );
    }
}
