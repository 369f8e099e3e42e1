//! The claims of a service-account token (upstream's `pkg/serviceaccount/claims.go`):
//! what a TokenRequest puts in a token, and the checks on time and audience a presented
//! token must pass. Pure: time is given as a value.

use serde::{Deserialize, Serialize};

use super::{TokenError, username};

/// How far token times may be off the server's clock (go-jose's `DefaultLeeway`).
pub const LEEWAY_SECONDS: i64 = 60;

/// An object a token names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its uid (empty for a node the server does not know).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl ObjectRef {
    /// A reference by name and uid.
    pub fn new(name: &str, uid: &str) -> ObjectRef {
        ObjectRef {
            name: name.to_string(),
            uid: uid.to_string(),
        }
    }
}

/// The private `kubernetes.io` claim: the account and the object the token is bound to.
/// Fields in the order Go's JSON encoder writes the merged claim map (alphabetical).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    /// The account's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The node a bound pod runs on, or the node the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    /// The account.
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    /// For the pod-bound tokens of projected volumes whose lifetime was extended: when
    /// the requested lifetime ends (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// A token's claims, in the order Go writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences the token is meant for.
    #[serde(default)]
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Unique id of this token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// The account and the bound object.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
}

/// The object a token is bound to, as the TokenRequest's `boundObjectRef` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundObject {
    /// A pod, and the node it is assigned to (uid empty when the node is unknown).
    Pod {
        /// The pod.
        pod: ObjectRef,
        /// Its node, when it has one.
        node: Option<ObjectRef>,
    },
    /// A secret.
    Secret(ObjectRef),
    /// A node.
    Node(ObjectRef),
}

/// What a token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The issuer (`https://kubernetes.default.svc.cluster.local`).
    pub issuer: String,
    /// The account's namespace.
    pub namespace: String,
    /// The account.
    pub account: ObjectRef,
    /// The bound object, if any.
    pub bound: Option<BoundObject>,
    /// The audiences.
    pub audiences: Vec<String>,
    /// Seconds until the token expires.
    pub expiration_seconds: i64,
    /// Seconds until clients are warned, when the expiry was extended.
    pub warn_after_seconds: Option<i64>,
    /// The token's unique id.
    pub jti: String,
}

impl Grant {
    /// The claims of the token, issued at `now` (Unix seconds).
    pub fn claims(&self, now: i64) -> Claims {
        let (mut pod, mut secret, mut node) = (None, None, None);
        match &self.bound {
            Some(BoundObject::Pod { pod: p, node: n }) => {
                pod = Some(p.clone());
                node = n.clone();
            }
            Some(BoundObject::Secret(s)) => secret = Some(s.clone()),
            Some(BoundObject::Node(n)) => node = Some(n.clone()),
            None => {}
        }
        Claims {
            aud: self.audiences.clone(),
            exp: now + self.expiration_seconds,
            iat: now,
            iss: self.issuer.clone(),
            jti: self.jti.clone(),
            kubernetes: KubernetesClaims {
                namespace: self.namespace.clone(),
                node,
                pod,
                secret,
                serviceaccount: self.account.clone(),
                warnafter: self.warn_after_seconds.map(|w| now + w),
            },
            nbf: now,
            sub: username(&self.namespace, &self.account.name),
        }
    }
}

impl Claims {
    /// go-jose's time checks with a minute of leeway: not before `nbf`, not issued in
    /// the future, not past `exp`.
    pub fn check_time(&self, now: i64) -> Result<(), TokenError> {
        if now + LEEWAY_SECONDS < self.nbf {
            return Err(TokenError::NotYetValid);
        }
        if now - LEEWAY_SECONDS > self.exp {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECONDS < self.iat {
            return Err(TokenError::IssuedInTheFuture);
        }
        Ok(())
    }

    /// The token must name one of the server's audiences (a token naming none counts as
    /// naming them all, as upstream treats legacy tokens).
    pub fn check_audience(&self, server_audiences: &[String]) -> Result<(), TokenError> {
        if self.aud.is_empty() || self.aud.iter().any(|a| server_audiences.contains(a)) {
            Ok(())
        } else {
            Err(TokenError::Audience {
                token: self.aud.clone(),
                server: server_audiences.to_vec(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(bound: Option<BoundObject>) -> Grant {
        Grant {
            issuer: "https://kubernetes.default.svc.cluster.local".into(),
            namespace: "team".into(),
            account: ObjectRef::new("builder", "sa-uid"),
            bound,
            audiences: vec!["https://kubernetes.default.svc.cluster.local".into()],
            expiration_seconds: 600,
            warn_after_seconds: None,
            jti: "j-1".into(),
        }
    }

    #[test]
    fn claims_are_written_as_upstream_writes_them() {
        let pod = BoundObject::Pod {
            pod: ObjectRef::new("p", "pod-uid"),
            node: Some(ObjectRef::new("n1", "")),
        };
        let c = grant(Some(pod)).claims(1_000);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({
                "aud": ["https://kubernetes.default.svc.cluster.local"],
                "exp": 1_600,
                "iat": 1_000,
                "iss": "https://kubernetes.default.svc.cluster.local",
                "jti": "j-1",
                "kubernetes.io": {
                    "namespace": "team",
                    "node": {"name": "n1"},
                    "pod": {"name": "p", "uid": "pod-uid"},
                    "serviceaccount": {"name": "builder", "uid": "sa-uid"},
                },
                "nbf": 1_000,
                "sub": "system:serviceaccount:team:builder",
            })
        );
        // The same keys in the same order as Go's encoder writes the claim map.
        let text = serde_json::to_string(&c).unwrap();
        let order: Vec<usize> = [
            "\"aud\"",
            "\"exp\"",
            "\"iat\"",
            "\"iss\"",
            "\"jti\"",
            "\"kubernetes.io\"",
            "\"nbf\"",
            "\"sub\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

        let secret = grant(Some(BoundObject::Secret(ObjectRef::new("s", "s-uid")))).claims(0);
        assert_eq!(secret.kubernetes.secret, Some(ObjectRef::new("s", "s-uid")));
        assert_eq!(
            (secret.kubernetes.pod, secret.kubernetes.node),
            (None, None)
        );
        let mut extended = grant(None);
        extended.warn_after_seconds = Some(3607);
        assert_eq!(extended.claims(10).kubernetes.warnafter, Some(3617));
    }

    #[test]
    fn time_checks_allow_a_minute_of_skew() {
        let c = grant(None).claims(1_000);
        assert_eq!(c.check_time(1_000), Ok(()));
        assert_eq!(c.check_time(1_600 + 60), Ok(()));
        assert_eq!(c.check_time(1_600 + 61), Err(TokenError::Expired));
        assert_eq!(c.check_time(1_000 - 60), Ok(()));
        assert_eq!(c.check_time(1_000 - 61), Err(TokenError::NotYetValid));
        let mut future = c.clone();
        future.nbf = 0;
        assert_eq!(
            future.check_time(1_000 - 61),
            Err(TokenError::IssuedInTheFuture)
        );
    }

    #[test]
    fn audiences_must_meet() {
        let c = grant(None).claims(0);
        let ours = vec!["https://kubernetes.default.svc.cluster.local".to_string()];
        assert_eq!(c.check_audience(&ours), Ok(()));
        assert!(matches!(
            c.check_audience(&["vault".to_string()]),
            Err(TokenError::Audience { .. })
        ));
        let mut legacy = c;
        legacy.aud.clear();
        assert_eq!(legacy.check_audience(&ours), Ok(()));
    }
}
