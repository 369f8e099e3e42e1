//! The kubelet API's TLS: the serving certificate (generated and signed by a fresh CA,
//! or read from PEM, as the kubelet's `--tls-cert-file`/`--tls-private-key-file`), and
//! the optional client-certificate check against a CA (the kubelet's `--client-ca-file`):
//! a presented certificate must chain to it; a connection without one may still
//! authenticate with a bearer token (see [`super::auth`]).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating the serving certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM document could not be read.
    #[error("reading {what}: {message}")]
    Pem {
        /// Which document.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("configuring TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA could not be used to verify clients.
    #[error("the client CA: {0}")]
    ClientCa(String),
}

/// The agent's serving certificate and key (PEM), and the CA clients should trust to
/// verify it.
#[derive(Clone)]
pub struct ServingTls {
    /// The certificate chain, PEM (leaf first).
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// The CA that signed it, PEM: what the API server's `--kubelet-certificate-authority`
    /// must hold. For certificates read from files, whatever the operator says.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for ServingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .finish_non_exhaustive()
    }
}

impl ServingTls {
    /// A fresh CA `capstan-node-agent-ca` and a serving certificate it signs for
    /// `sans` (IP addresses or DNS names; `127.0.0.1` and `localhost` always).
    pub fn self_signed(sans: &[String]) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "capstan-node-agent-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        for san in sans {
            if !names.contains(san) {
                names.push(san.clone());
            }
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "capstan-node-agent");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer)?;
        Ok(ServingTls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: Some(ca_cert.pem()),
        })
    }

    /// A certificate and key read from PEM files.
    pub fn from_files(
        cert: &std::path::Path,
        key: &std::path::Path,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, TlsError> {
        let read = |what: &'static str, p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| TlsError::Pem {
                what,
                message: format!("{}: {e}", p.display()),
            })
        };
        Ok(ServingTls {
            cert_pem: read("the certificate", cert)?,
            key_pem: read("the private key", key)?,
            ca_pem: ca.map(|p| read("the CA", p)).transpose()?,
        })
    }
}

/// Parses the certificates of a PEM bundle.
pub fn certificates(
    what: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            message: "no certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The rustls configuration: HTTP/1.1, the serving certificate, and client
/// certificates verified against `client_ca_pem` when one is given (optional: a client
/// without one authenticates by token).
pub fn server_config(
    tls: &ServingTls,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates("the serving certificate", &tls.cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "the private key",
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match client_ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("the client CA", pem)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_material_builds_a_server_config() {
        let tls = ServingTls::self_signed(&["10.0.0.7".into()]).unwrap();
        assert!(tls.ca_pem.as_deref().unwrap().contains("BEGIN CERTIFICATE"));
        server_config(&tls, None).unwrap();
        let ca = tls.ca_pem.clone().unwrap();
        server_config(&tls, Some(&ca)).unwrap();
        assert!(matches!(
            server_config(&tls, Some("not pem")),
            Err(TlsError::Pem { .. })
        ));
    }
}
