//! Who may call the kubelet API: a client whose certificate chains to the configured
//! client CA (the kubelet's `--client-ca-file`; the TLS handshake verified it), or one
//! sending `Authorization: Bearer <token>` with a configured token. Everyone else gets
//! 401. Authenticated callers may do everything (no `SubjectAccessReview`): the API
//! server is the only intended caller.

use sha2::{Digest, Sha256};

/// The credentials the agent accepts.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    /// SHA-256 of each accepted bearer token.
    tokens: Vec<[u8; 32]>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    /// Accepting `tokens` (and any verified client certificate).
    pub fn new(tokens: &[String]) -> Self {
        Authenticator {
            tokens: tokens.iter().map(|t| digest(t)).collect(),
        }
    }

    /// Whether a request is authenticated: a verified client certificate on its
    /// connection, or an accepted bearer token in `authorization`.
    pub fn allows(&self, verified_client_cert: bool, authorization: Option<&str>) -> bool {
        if verified_client_cert {
            return true;
        }
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            return false;
        };
        // Compared as digests: the time taken says nothing about the token.
        let d = digest(token.trim());
        self.tokens.contains(&d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_or_token() {
        let a = Authenticator::new(&["s3cret".into()]);
        assert!(a.allows(true, None));
        assert!(a.allows(false, Some("Bearer s3cret")));
        assert!(!a.allows(false, Some("Bearer other")));
        assert!(!a.allows(false, Some("Basic s3cret")));
        assert!(!a.allows(false, None));
        assert!(!Authenticator::new(&[]).allows(false, Some("Bearer ")));
    }
}
