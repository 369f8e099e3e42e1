//! The HTTPS client to kubelets: one connection per request (logs are long-lived
//! streams), the serving certificate verified against the configured CA (or not at all
//! without one), a client certificate and/or bearer token presented.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::KubeletClientConfig;
use crate::status::ApiError;

/// The body of a request sent to a kubelet.
pub type RequestBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Why the kubelet client configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum KubeletClientError {
    /// A PEM document could not be read.
    #[error("reading {what}: {message}")]
    Pem {
        /// Which document.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("configuring TLS to kubelets: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Accepts any serving certificate (no `--kubelet-certificate-authority`), still
/// checking the handshake's signatures.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn pem_certs(
    what: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, KubeletClientError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| KubeletClientError::Pem {
            what,
            message: e.to_string(),
        })
}

/// The API server's client of kubelets.
pub struct KubeletClient {
    config: KubeletClientConfig,
    tls: TlsConnector,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KubeletClient {
    /// A client per `config`.
    pub fn new(config: KubeletClientConfig) -> Result<Self, KubeletClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &config.ca_pem {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in pem_certs("the kubelet CA", pem)? {
                    roots.add(cert)?;
                }
                builder.with_root_certificates(roots)
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider))),
        };
        let mut tls = match (&config.client_cert_pem, &config.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain = pem_certs("the kubelet client certificate", cert)?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| {
                    KubeletClientError::Pem {
                        what: "the kubelet client key",
                        message: e.to_string(),
                    }
                })?;
                builder.with_client_auth_cert(chain, key)?
            }
            _ => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            config,
            tls: TlsConnector::from(Arc::new(tls)),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &KubeletClientConfig {
        &self.config
    }

    /// Sends `method path_and_query` to the kubelet at `host:port` with `body` and
    /// `content_type`; the response as the kubelet answers it. Connection failures are
    /// 500s naming the URL, as kube-apiserver reports them.
    pub async fn send(
        &self,
        host: &str,
        port: u16,
        method: hyper::Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: RequestBody,
    ) -> Result<Response<Incoming>, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(ct).ok()) {
            headers.insert(hyper::header::CONTENT_TYPE, ct);
        }
        self.request(host, port, method, path_and_query, headers, body)
            .await
    }

    /// Sends an upgrade request (`Connection: Upgrade`, and the `Upgrade`, WebSocket and
    /// `X-Stream-Protocol-Version` headers the client sent, in `headers`) to the kubelet
    /// at `host:port`; the kubelet's answer, whose connection can be taken over with
    /// `hyper::upgrade::on` when it is a `101 Switching Protocols`.
    pub async fn upgrade(
        &self,
        host: &str,
        port: u16,
        method: hyper::Method,
        path_and_query: &str,
        headers: HeaderMap,
    ) -> Result<Response<Incoming>, ApiError> {
        let empty = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        self.request(host, port, method, path_and_query, headers, empty)
            .await
    }

    async fn request(
        &self,
        host: &str,
        port: u16,
        method: hyper::Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: RequestBody,
    ) -> Result<Response<Incoming>, ApiError> {
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let url = format!("https://{authority}{path_and_query}");
        let fail = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!("{method} {url:?}: {e}", method = method.as_str()))
        };
        let connect = async {
            let tcp = TcpStream::connect(&authority).await.map_err(|e| fail(&e))?;
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(host.to_string()).map_err(|e| fail(&e))?;
            self.tls.connect(name, tcp).await.map_err(|e| fail(&e))
        };
        let stream = tokio::time::timeout(self.config.timeout, connect)
            .await
            .map_err(|_| fail(&"timed out connecting to the kubelet"))??;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail(&e))?;
        tokio::spawn(async move {
            if let Err(err) = conn.with_upgrades().await {
                tracing::debug!(%err, "kubelet connection ended with an error");
            }
        });
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .header(hyper::header::HOST, authority.as_str());
        if let Some(token) = &self.config.bearer_token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut req = req.body(body).map_err(|e| fail(&e))?;
        req.headers_mut().extend(headers);
        sender.send_request(req).await.map_err(|e| fail(&e))
    }
}
