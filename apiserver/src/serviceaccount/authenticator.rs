//! Whether a presented bearer token is a valid service-account credential (upstream's
//! JWT token authenticator with its service-account validator): signed by this server's
//! key under its issuer, within its lifetime, for one of the server's audiences, and its
//! account (and the object it is bound to, if any) still there with the same uid and
//! not deleted more than a minute ago.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::claims::{Claims, LEEWAY_SECONDS, ObjectRef};
use super::token_request::BoundKind;
use super::{TokenError, TokenIssuer};
use crate::storage::{ResourceKey, Store};

/// Who a valid token authenticates, as upstream's `ServiceAccountInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountInfo {
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub name: String,
    /// The account's uid.
    pub uid: String,
    /// The pod the token is bound to.
    pub pod: Option<ObjectRef>,
    /// The node the token names (its pod's, or the node it is bound to).
    pub node: Option<ObjectRef>,
    /// The token's `jti`.
    pub token_id: String,
}

/// What the store holds of an object a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its uid.
    pub uid: String,
    /// When its deletion was requested (Unix seconds), if it was.
    pub deleted_at: Option<i64>,
}

/// The kinds of object a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The account.
    ServiceAccount,
    /// A bound object.
    Bound(BoundKind),
}

impl Named {
    fn kind(self) -> &'static str {
        match self {
            Named::ServiceAccount => "ServiceAccount",
            Named::Bound(k) => k.as_str(),
        }
    }
}

/// Checks `claims` at `now` (Unix seconds) against the server's `audiences` and what
/// `find` (kind, namespace, name) says exists.
pub fn verify(
    claims: &Claims,
    now: i64,
    audiences: &[String],
    find: impl Fn(Named, &str, &str) -> Option<Found>,
) -> Result<ServiceAccountInfo, TokenError> {
    claims.check_time(now)?;
    claims.check_audience(audiences)?;
    let k = &claims.kubernetes;
    let ns = k.namespace.as_str();
    let sa = &k.serviceaccount;
    // Things deleted before now minus the leeway no longer authenticate.
    let deleted = |f: &Found| f.deleted_at.is_some_and(|t| t < now - LEEWAY_SECONDS);
    let account =
        find(Named::ServiceAccount, ns, &sa.name).ok_or_else(|| TokenError::AccountMissing {
            namespace: ns.to_string(),
            name: sa.name.clone(),
        })?;
    if deleted(&account) {
        return Err(TokenError::AccountDeleted {
            namespace: ns.to_string(),
            name: sa.name.clone(),
        });
    }
    let same_uid = |named: Named, found: &Found, claimed: &ObjectRef| {
        if found.uid == claimed.uid {
            Ok(())
        } else {
            Err(TokenError::Uid {
                kind: named.kind(),
                current: found.uid.clone(),
                claimed: claimed.uid.clone(),
            })
        }
    };
    same_uid(Named::ServiceAccount, &account, sa)?;
    let bound = |kind: BoundKind, ns: &str, r: &ObjectRef| {
        let named = Named::Bound(kind);
        let found = find(named, ns, &r.name).ok_or(TokenError::Invalidated)?;
        if deleted(&found) {
            return Err(TokenError::Invalidated);
        }
        same_uid(named, &found, r)
    };
    if let Some(secret) = &k.secret {
        bound(BoundKind::Secret, ns, secret)?;
    }
    if let Some(pod) = &k.pod {
        bound(BoundKind::Pod, ns, pod)?;
    } else if let Some(node) = &k.node {
        // Node-bound: the node must still be there. A pod-bound token's node is
        // informational only.
        bound(BoundKind::Node, "", node)?;
    }
    Ok(ServiceAccountInfo {
        namespace: ns.to_string(),
        name: sa.name.clone(),
        uid: sa.uid.clone(),
        pod: k.pod.clone(),
        node: k.node.clone(),
        token_id: claims.jti.clone(),
    })
}

/// What the store holds of an object (its uid and deletion time).
fn found(store: &Store, resource: &str, ns: &str, name: &str) -> Option<Found> {
    let obj = store.get(&ResourceKey::new("", resource), ns, name)?;
    let deleted_at = obj.value().ok().and_then(|v| {
        v.pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    });
    Some(Found {
        uid: obj.uid.clone(),
        deleted_at,
    })
}

/// Authenticates `token` at `now` against the store: see the module docs.
pub fn authenticate(
    store: &Store,
    issuer: &TokenIssuer,
    token: &str,
    now: DateTime<Utc>,
) -> Result<ServiceAccountInfo, TokenError> {
    let claims = issuer.read(token)?;
    verify(
        &claims,
        now.timestamp(),
        issuer.audiences(),
        |named, ns, name| {
            let resource = match named {
                Named::ServiceAccount => "serviceaccounts",
                Named::Bound(kind) => kind.resource(),
            };
            found(store, resource, ns, name)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serviceaccount::claims::{BoundObject, Grant};

    const AUD: &str = "https://kubernetes.default.svc.cluster.local";

    fn claims(bound: Option<BoundObject>) -> Claims {
        Grant {
            issuer: AUD.into(),
            namespace: "ns".into(),
            account: ObjectRef::new("sa", "sa-uid"),
            bound,
            audiences: vec![AUD.into()],
            expiration_seconds: 3600,
            warn_after_seconds: None,
            jti: "jti-1".into(),
        }
        .claims(1_000)
    }

    fn live(uid: &str) -> Option<Found> {
        Some(Found {
            uid: uid.into(),
            deleted_at: None,
        })
    }

    #[test]
    fn a_token_authenticates_while_its_account_and_pod_live_on() {
        let pod = BoundObject::Pod {
            pod: ObjectRef::new("p", "pod-uid"),
            node: Some(ObjectRef::new("n1", "node-uid")),
        };
        let c = claims(Some(pod));
        let auds = vec![AUD.to_string()];
        let world = |pod: Option<Found>| {
            move |named: Named, ns: &str, name: &str| match (named, ns, name) {
                (Named::ServiceAccount, "ns", "sa") => live("sa-uid"),
                (Named::Bound(BoundKind::Pod), "ns", "p") => pod.clone(),
                _ => None,
            }
        };
        let info = verify(&c, 1_100, &auds, world(live("pod-uid"))).unwrap();
        assert_eq!(
            info,
            ServiceAccountInfo {
                namespace: "ns".into(),
                name: "sa".into(),
                uid: "sa-uid".into(),
                pod: Some(ObjectRef::new("p", "pod-uid")),
                node: Some(ObjectRef::new("n1", "node-uid")),
                token_id: "jti-1".into(),
            }
        );
        // Pod gone, re-created, or deleted more than a minute ago.
        assert_eq!(
            verify(&c, 1_100, &auds, world(None)),
            Err(TokenError::Invalidated)
        );
        assert_eq!(
            verify(&c, 1_100, &auds, world(live("other"))),
            Err(TokenError::Uid {
                kind: "Pod",
                current: "other".into(),
                claimed: "pod-uid".into()
            })
        );
        let deleting = |at| {
            Some(Found {
                uid: "pod-uid".into(),
                deleted_at: Some(at),
            })
        };
        assert!(verify(&c, 1_100, &auds, world(deleting(1_050))).is_ok());
        assert_eq!(
            verify(&c, 1_100, &auds, world(deleting(1_030))),
            Err(TokenError::Invalidated)
        );
        // Past its lifetime, for another audience.
        assert_eq!(
            verify(&c, 1_000 + 3600 + 61, &auds, world(live("pod-uid"))),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            verify(&c, 1_100, &["other".to_string()], world(live("pod-uid"))),
            Err(TokenError::Audience { .. })
        ));
    }

    #[test]
    fn the_account_must_be_the_one_the_token_was_issued_for() {
        let c = claims(None);
        let auds = vec![AUD.to_string()];
        assert!(matches!(
            verify(&c, 1_000, &auds, |_, _, _| None),
            Err(TokenError::AccountMissing { .. })
        ));
        assert_eq!(
            verify(&c, 1_000, &auds, |_, _, _| live("new-uid")),
            Err(TokenError::Uid {
                kind: "ServiceAccount",
                current: "new-uid".into(),
                claimed: "sa-uid".into()
            })
        );
        let gone = |_: Named, _: &str, _: &str| {
            Some(Found {
                uid: "sa-uid".into(),
                deleted_at: Some(0),
            })
        };
        assert!(matches!(
            verify(&c, 1_000, &auds, gone),
            Err(TokenError::AccountDeleted { .. })
        ));
    }

    #[test]
    fn secret_and_node_bound_tokens_need_their_object() {
        let auds = vec![AUD.to_string()];
        let c = claims(Some(BoundObject::Secret(ObjectRef::new("s", "s-uid"))));
        let with = |secret: bool, node: bool| {
            move |named: Named, ns: &str, name: &str| match (named, ns, name) {
                (Named::ServiceAccount, "ns", "sa") => live("sa-uid"),
                (Named::Bound(BoundKind::Secret), "ns", "s") if secret => live("s-uid"),
                (Named::Bound(BoundKind::Node), "", "n") if node => live("n-uid"),
                _ => None,
            }
        };
        assert!(verify(&c, 1_000, &auds, with(true, false)).is_ok());
        assert_eq!(
            verify(&c, 1_000, &auds, with(false, false)),
            Err(TokenError::Invalidated)
        );
        let c = claims(Some(BoundObject::Node(ObjectRef::new("n", "n-uid"))));
        let info = verify(&c, 1_000, &auds, with(false, true)).unwrap();
        assert_eq!(info.node, Some(ObjectRef::new("n", "n-uid")));
        assert_eq!(
            verify(&c, 1_000, &auds, with(false, false)),
            Err(TokenError::Invalidated)
        );
    }
}
