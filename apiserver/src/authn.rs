//! Authentication: who a request is, from its bearer token. Two authenticators, as a
//! kube-apiserver with a static token and service-account tokens has: the server's
//! admin token (user `capstan-admin` in `system:masters`) and the service-account
//! tokens the server issued ([`crate::serviceaccount::authenticator`]). Whoever is
//! authenticated is also in `system:authenticated`. The identity is recorded on the
//! request for authorization; until RBAC is enforced every authenticated user has full
//! access.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ops::Cluster;
use crate::serviceaccount::authenticator::{ServiceAccountInfo, authenticate};
use crate::serviceaccount::{self, TokenError};
use crate::status::ApiError;

/// The user the admin token authenticates as (the kubeconfig's user).
pub const ADMIN_USER: &str = "capstan-admin";
/// The group RBAC's `cluster-admin` binding grants everything to.
pub const MASTERS_GROUP: &str = "system:masters";
/// The group of every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The user of requests to a server that authenticates no one (plain HTTP).
pub const UNSECURED_USER: &str = "system:unsecured";

/// `user.extra` keys a service-account token fills.
pub mod extra {
    /// The bound pod's name.
    pub const POD_NAME: &str = "authentication.kubernetes.io/pod-name";
    /// The bound pod's uid.
    pub const POD_UID: &str = "authentication.kubernetes.io/pod-uid";
    /// The node's name.
    pub const NODE_NAME: &str = "authentication.kubernetes.io/node-name";
    /// The node's uid.
    pub const NODE_UID: &str = "authentication.kubernetes.io/node-uid";
    /// `JTI=<the token's jti>`.
    pub const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";
}

/// An authenticated identity, as upstream's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The user's uid (a service account's uid).
    pub uid: String,
    /// The groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The admin token's user.
    pub fn admin() -> UserInfo {
        UserInfo {
            name: ADMIN_USER.into(),
            groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()],
            ..UserInfo::default()
        }
    }

    /// Everyone, on a server that authenticates no one.
    pub fn unsecured() -> UserInfo {
        UserInfo {
            name: UNSECURED_USER.into(),
            groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()],
            ..UserInfo::default()
        }
    }

    /// A service account's user (upstream's `ServiceAccountInfo.UserInfo` plus
    /// `system:authenticated`).
    pub fn service_account(sa: &ServiceAccountInfo) -> UserInfo {
        let mut groups = serviceaccount::groups(&sa.namespace);
        groups.push(AUTHENTICATED_GROUP.into());
        let mut extra = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                extra.insert(k.to_string(), vec![v.to_string()]);
            }
        };
        if let Some(pod) = sa.pod.as_ref().filter(|p| !p.uid.is_empty()) {
            put(extra::POD_NAME, &pod.name);
            put(extra::POD_UID, &pod.uid);
        }
        if let Some(node) = &sa.node {
            put(extra::NODE_NAME, &node.name);
            put(extra::NODE_UID, &node.uid);
        }
        if !sa.token_id.is_empty() {
            put(extra::CREDENTIAL_ID, &format!("JTI={}", sa.token_id));
        }
        UserInfo {
            name: serviceaccount::username(&sa.namespace, &sa.name),
            uid: sa.uid.clone(),
            groups,
            extra,
        }
    }
}

/// Who the request with this `Authorization` header is, at `now`: the admin for
/// `admin_token`, a service account for a token the server issued that is still
/// valid; 401 (upstream's `Unauthorized` Status) for anything else. With no admin token
/// configured (plain HTTP), everyone is [`UserInfo::unsecured`].
pub fn authenticate_request(
    cluster: &Cluster,
    admin_token: Option<&str>,
    authorization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<UserInfo, ApiError> {
    let Some(admin_token) = admin_token else {
        return Ok(UserInfo::unsecured());
    };
    let token = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    if token == admin_token {
        return Ok(UserInfo::admin());
    }
    let tokens = &cluster.service_accounts.tokens;
    match authenticate(&cluster.store, tokens, token, now) {
        Ok(sa) => Ok(UserInfo::service_account(&sa)),
        Err(e) => {
            log_rejection(&e);
            Err(ApiError::unauthorized())
        }
    }
}

fn log_rejection(e: &TokenError) {
    tracing::debug!(error = %e, "bearer token rejected");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serviceaccount::claims::ObjectRef;

    #[test]
    fn service_accounts_are_users_in_their_groups() {
        let sa = ServiceAccountInfo {
            namespace: "ns".into(),
            name: "builder".into(),
            uid: "sa-uid".into(),
            pod: Some(ObjectRef::new("p", "pod-uid")),
            node: Some(ObjectRef::new("n1", "")),
            token_id: "j1".into(),
        };
        let u = UserInfo::service_account(&sa);
        assert_eq!(u.name, "system:serviceaccount:ns:builder");
        assert_eq!(u.uid, "sa-uid");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        let extra: Vec<(&str, &str)> = u
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v[0].as_str()))
            .collect();
        assert_eq!(
            extra,
            [
                ("authentication.kubernetes.io/credential-id", "JTI=j1"),
                ("authentication.kubernetes.io/node-name", "n1"),
                ("authentication.kubernetes.io/pod-name", "p"),
                ("authentication.kubernetes.io/pod-uid", "pod-uid"),
            ]
        );
        assert_eq!(
            UserInfo::admin().groups,
            [MASTERS_GROUP, AUTHENTICATED_GROUP]
        );
    }
}
