//! Who a request comes from (`user.Info`): the identity authentication gives a request,
//! recorded where upstream records it (a CertificateSigningRequest's requester).

use std::collections::BTreeMap;

/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group bound to `cluster-admin` by the bootstrap policy.
pub const MASTERS: &str = "system:masters";

/// An authenticated user, as `k8s.io/apiserver`'s `user.Info` describes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user's name (`capstan-admin`, `system:serviceaccount:ns:name`).
    pub username: String,
    /// A unique id of the user; empty for users without one (certificate and static
    /// token users).
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// Further attributes the authenticator recorded.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The holder of the server's bearer token (the generated kubeconfig's user,
    /// `capstan-admin`), a member of `system:masters` as kubeadm's admin is.
    pub fn admin() -> UserInfo {
        UserInfo {
            username: "capstan-admin".into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// Whoever talks to a server running without authentication (plain HTTP), named as
    /// kube-apiserver's insecure port named its requests.
    pub fn unsecured() -> UserInfo {
        UserInfo {
            username: "system:unsecured".into(),
            ..UserInfo::admin()
        }
    }
}
