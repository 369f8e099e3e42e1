//! Service-account identities and their tokens, as upstream's `pkg/serviceaccount`:
//! the names an account authenticates as, the key that signs tokens ([`signing`]), the
//! claims a token carries ([`claims`]), the TokenRequest a client asks for one with
//! ([`token_request`]) and the check a presented token must pass ([`authenticator`]).

pub mod authenticator;
pub mod claims;
pub mod signing;
pub mod token_request;

use claims::Claims;
use signing::{JwsError, KeyError, SigningKey};

/// The issuer (and API audience) kube-apiserver is given in kind and kubeadm clusters.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The account a pod naming none runs as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The group every service account belongs to.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";

/// The user name of an account: `system:serviceaccount:<namespace>:<name>`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The groups of an account in `namespace`: `system:serviceaccounts` and
/// `system:serviceaccounts:<namespace>`.
pub fn groups(namespace: &str) -> Vec<String> {
    vec![
        ALL_SERVICE_ACCOUNTS_GROUP.to_string(),
        format!("{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}"),
    ]
}

/// Why a bearer token is not a valid service-account credential (each is answered
/// 401; the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWS this server signed.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// Signed here but naming another issuer.
    #[error("token issuer {0:?} is not this server's")]
    Issuer(String),
    /// `nbf` is more than a minute ahead.
    #[error("Token is not valid yet.")]
    NotYetValid,
    /// `exp` passed more than a minute ago.
    #[error("Token has expired.")]
    Expired,
    /// `iat` is more than a minute ahead.
    #[error("Token was issued in the future.")]
    IssuedInTheFuture,
    /// The token names none of the server's audiences.
    #[error("token audiences {token:?} is invalid for the target audiences {server:?}")]
    Audience {
        /// The token's audiences.
        token: Vec<String>,
        /// The server's.
        server: Vec<String>,
    },
    /// The account no longer exists.
    #[error("serviceaccounts {name:?} not found in {namespace}")]
    AccountMissing {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The account was deleted (more than a minute ago) and awaits removal.
    #[error("ServiceAccount {namespace}/{name} has been deleted")]
    AccountDeleted {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The object the token is bound to is gone or being deleted.
    #[error("Token has been invalidated")]
    Invalidated,
    /// An account or bound object of the same name exists with another uid (it was
    /// deleted and created again).
    #[error("{kind} UID ({current}) does not match claim ({claimed})")]
    Uid {
        /// `ServiceAccount`, `Pod`, `Secret` or `Node`.
        kind: &'static str,
        /// The uid the object has now.
        current: String,
        /// The uid in the token.
        claimed: String,
    },
}

/// What signs and reads service-account tokens: the key, the issuer written into them,
/// and the audiences the server accepts (and gives tokens that request none).
#[derive(Debug)]
pub struct TokenIssuer {
    key: SigningKey,
    issuer: String,
    audiences: Vec<String>,
}

impl TokenIssuer {
    /// An issuer signing with `key` as `issuer`, whose API audience is the issuer, as
    /// kube-apiserver's `--api-audiences` defaults.
    pub fn new(key: SigningKey, issuer: &str) -> TokenIssuer {
        TokenIssuer {
            key,
            issuer: issuer.to_string(),
            audiences: vec![issuer.to_string()],
        }
    }

    /// An issuer with a fresh key and the default issuer.
    pub fn generate() -> Result<TokenIssuer, KeyError> {
        Ok(Self::new(SigningKey::generate()?, DEFAULT_ISSUER))
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences the server accepts.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let payload = serde_json::to_value(claims).map_err(|_| KeyError::Sign)?;
        self.key.sign(&payload)
    }

    /// The claims of a token this server signed under its issuer; their time and
    /// audience are not yet checked.
    pub fn read(&self, token: &str) -> Result<Claims, TokenError> {
        let payload = self.key.verify(token)?;
        let claims: Claims =
            serde_json::from_value(payload).map_err(|_| TokenError::Jws(JwsError::Malformed))?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer(claims.iss));
        }
        Ok(claims)
    }
}

/// How the server treats service accounts.
#[derive(Debug)]
pub struct ServiceAccountSettings {
    /// Signs and reads tokens.
    pub tokens: TokenIssuer,
    /// A controller keeps every namespace's `default` account: the `ServiceAccount`
    /// admission step then refuses pods whose account is missing, as upstream. Off,
    /// only a missing account a pod names explicitly (other than `default`) is refused.
    pub managed: bool,
}

impl ServiceAccountSettings {
    /// Fresh key, default issuer, accounts not managed.
    pub fn generate() -> Result<ServiceAccountSettings, KeyError> {
        Ok(ServiceAccountSettings {
            tokens: TokenIssuer::generate()?,
            managed: false,
        })
    }
}
