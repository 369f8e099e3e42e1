//! The key that signs service-account tokens, and JWS compact serialisation over it:
//! `ES256` with a P-256 key (generated per server start unless a key file is given) or
//! `RS256` with an RSA key file, as kube-apiserver's `--service-account-signing-key-file`
//! accepts. Each token's header names the key by `kid`: the unpadded base64url SHA-256
//! of the public key's DER `SubjectPublicKeyInfo`, as upstream's `keyIDFromPublicKey`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a signing key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Generating a fresh key failed (the system's random source failed).
    #[error("generating a service-account signing key failed")]
    Generate,
    /// Signing failed (the system's random source failed).
    #[error("signing a service-account token failed")]
    Sign,
    /// The key file could not be read or holds no PEM private key.
    #[error("reading the service-account signing key {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The PEM key is neither a P-256 ECDSA key (PKCS#8) nor an RSA key (PKCS#1 or
    /// PKCS#8) of 2048 bits or more.
    #[error("the service-account signing key is not a P-256 ECDSA or RSA private key: {0}")]
    Unsupported(String),
}

/// Why a compact JWS was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts with a JSON header naming an algorithm.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm or key than this server signs with.
    #[error("token signed with another algorithm or key")]
    OtherKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private key tokens are signed with, and verified against.
pub struct SigningKey {
    pair: Pair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} kid={})", self.algorithm(), self.kid)
    }
}

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` up to its 65-byte point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The DER `AlgorithmIdentifier` of `rsaEncryption` with its NULL parameters.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// A DER element: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// An RSA public key (PKCS#1 `RSAPublicKey`) wrapped as a `SubjectPublicKeyInfo`.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut body = RSA_ALGORITHM.to_vec();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

impl SigningKey {
    /// A fresh P-256 key (what the server signs with unless a key file is configured).
    pub fn generate() -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generate)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| KeyError::Generate)?;
        Ok(Self::from_pair(Pair::Ec(pair), rng))
    }

    /// The key in a PEM file: `PRIVATE KEY` (PKCS#8, P-256 or RSA) or `RSA PRIVATE KEY`
    /// (PKCS#1).
    pub fn from_pem_file(path: &Path) -> Result<SigningKey, KeyError> {
        let pem = std::fs::read(path).map_err(|e| KeyError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_pem(&pem).map_err(|e| match e {
            KeyError::Read { message, .. } => KeyError::Read {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// The key in PEM text; see [`SigningKey::from_pem_file`].
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| KeyError::Read {
            path: String::new(),
            message: e.to_string(),
        })?;
        let rng = SystemRandom::new();
        let pair = match &key {
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
                    Ok(ec) => Pair::Ec(ec),
                    Err(ec_err) => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|rsa_err| {
                        KeyError::Unsupported(format!("as ECDSA: {ec_err}; as RSA: {rsa_err}"))
                    })?),
                }
            }
            PrivateKeyDer::Pkcs1(der) => Pair::Rsa(
                RsaKeyPair::from_der(der.secret_pkcs1_der())
                    .map_err(|e| KeyError::Unsupported(e.to_string()))?,
            ),
            _ => {
                return Err(KeyError::Unsupported(
                    "SEC1 `EC PRIVATE KEY` files are not read; convert with `openssl pkcs8 -topk8 -nocrypt`".into(),
                ));
            }
        };
        Ok(Self::from_pair(pair, rng))
    }

    fn from_pair(pair: Pair, rng: SystemRandom) -> SigningKey {
        let spki = match &pair {
            Pair::Ec(ec) => [P256_SPKI_PREFIX, ec.public_key().as_ref()].concat(),
            Pair::Rsa(rsa) => rsa_spki(rsa.public().as_ref()),
        };
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(&spki));
        SigningKey { pair, kid, rng }
    }

    /// The JWS algorithm (`ES256`, `RS256`).
    pub fn algorithm(&self) -> &'static str {
        match self.pair {
            Pair::Ec(_) => "ES256",
            Pair::Rsa(_) => "RS256",
        }
    }

    /// The key's id, as tokens' headers carry it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `payload` signed: `header.payload.signature`, each part unpadded base64url.
    pub fn sign(&self, payload: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": self.algorithm(), "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let sig = match &self.pair {
            Pair::Ec(ec) => ec
                .sign(&self.rng, input.as_bytes())
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec(),
            Pair::Rsa(rsa) => {
                let mut sig = vec![0; rsa.public().modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                sig
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The payload of a token this key signed; an error for anything else.
    pub fn verify(&self, token: &str) -> Result<Value, JwsError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwsError::Malformed)
        };
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| JwsError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some(self.algorithm()) {
            return Err(JwsError::OtherKey);
        }
        if let Some(kid) = header.get("kid").and_then(Value::as_str)
            && kid != self.kid
        {
            return Err(JwsError::OtherKey);
        }
        let signed = &token[..h.len() + 1 + p.len()];
        let sig = decode(s)?;
        let ok = match &self.pair {
            Pair::Ec(ec) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ec.public_key())
                .verify(signed.as_bytes(), &sig),
            Pair::Rsa(rsa) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.public())
                .verify(signed.as_bytes(), &sig),
        };
        ok.map_err(|_| JwsError::BadSignature)?;
        serde_json::from_slice(&decode(p)?).map_err(|_| JwsError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys made for these tests with OpenSSL 3: `openssl genrsa -traditional 2048`
    /// (PKCS#1) and `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`
    /// (PKCS#8).
    const RSA_PEM: &str = include_str!("testdata/rsa.pem");
    const EC_PEM: &str = include_str!("testdata/ec.pem");

    #[test]
    fn a_generated_key_signs_what_it_verifies_and_nothing_else() {
        let key = SigningKey::generate().unwrap();
        assert_eq!(key.algorithm(), "ES256");
        let token = key.sign(&json!({"sub": "me"})).unwrap();
        assert_eq!(key.verify(&token).unwrap(), json!({"sub": "me"}));

        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": key.kid()}));

        // Another payload under the same signature, another key, garbage.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#),
            parts[2]
        );
        assert_eq!(key.verify(&forged), Err(JwsError::BadSignature));
        let other = SigningKey::generate().unwrap();
        assert_eq!(other.verify(&token), Err(JwsError::OtherKey));
        assert_eq!(key.verify("not-a-token"), Err(JwsError::Malformed));
        assert_eq!(key.verify("a.b.c.d"), Err(JwsError::Malformed));
    }

    #[test]
    fn key_files_sign_with_their_algorithm_under_openssls_key_id() {
        // The kids are what `openssl pkey -pubout -outform DER | sha256 | base64url`
        // gives for these keys, as upstream computes them.
        for (pem, alg, kid) in [
            (
                RSA_PEM,
                "RS256",
                "3sGglOgbu9m-iNrBPArZj-72Avj_pus3mgTEqN5gm2E",
            ),
            (
                EC_PEM,
                "ES256",
                "3xhjQY6MKJjMi1QnzrMSgLmuJgs8S6TX6WYFK9vO40U",
            ),
        ] {
            let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!((key.algorithm(), key.kid()), (alg, kid));
            let token = key.sign(&json!({"n": 1})).unwrap();
            assert_eq!(key.verify(&token).unwrap(), json!({"n": 1}));
        }
        assert!(matches!(
            SigningKey::from_pem(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
            Err(KeyError::Read { .. })
        ));
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
    }
}
