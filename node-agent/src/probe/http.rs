//! `httpGet` probes as the kubelet sends them: `GET` with `User-Agent: kube-probe/1.33`,
//! `Accept: */*` and the probe's `httpHeaders` (a `Host` header sets the request's
//! host), no keep-alive; redirects followed up to 10 times while they stay on the same
//! host name, a redirect elsewhere ends the probe as a passing warning; 200–399 passes.
//! HTTPS does not verify the server's certificate, as the kubelet's probes do not.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use tokio::net::TcpStream;

use super::{DEFAULT_PROBE_HOST, MAX_OUTPUT, Outcome, dial_error, join_host_port, resolve_port};

/// The kubelet's probe user agent (`kube-probe/<major>.<minor>`).
pub const USER_AGENT: &str = "kube-probe/1.33";
/// Redirects followed before the probe fails (Go's default client limit).
pub const MAX_REDIRECTS: usize = 10;

/// A resolved `httpGet` action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGet {
    /// `http` or `https`.
    pub scheme: String,
    /// Host to connect to ([`DEFAULT_PROBE_HOST`] unless the probe names one).
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Path and query.
    pub path: String,
    /// The probe's headers, in order.
    pub headers: Vec<(String, String)>,
}

impl HttpGet {
    /// Resolves `get` against its container (named ports).
    pub fn resolve(get: &HTTPGetAction, container: &Container) -> Result<Self, String> {
        let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("unsupported scheme {scheme:?}"));
        }
        let path = get.path.clone().unwrap_or_default();
        Ok(HttpGet {
            scheme,
            host: get
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_PROBE_HOST.to_string()),
            port: resolve_port(&get.port, container)?,
            path: if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            },
            headers: get
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        })
    }

    /// The URL probed, as the kubelet prints it in its messages.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            join_host_port(&self.host, self.port),
            self.path
        )
    }

    /// One probe attempt within `timeout` (redirects included).
    pub async fn probe(&self, timeout: Duration) -> Outcome {
        match tokio::time::timeout(timeout, self.follow()).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failure(format!(
                "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                self.url()
            )),
        }
    }

    async fn follow(&self) -> Outcome {
        let mut target = self.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = match target.get().await {
                Ok(r) => r,
                Err(err) => return Outcome::Failure(format!("Get {:?}: {err}", target.url())),
            };
            let body = String::from_utf8_lossy(&response.body).into_owned();
            match response.status {
                200..=299 => return Outcome::Success,
                300..=399 => {
                    let next = response
                        .location
                        .as_deref()
                        .and_then(|l| target.redirect(l));
                    match next {
                        Some(next) if next.host == self.host => target = next,
                        _ => {
                            return Outcome::Warning(format!(
                                "Probe terminated redirects, Response body: {body}"
                            ));
                        }
                    }
                }
                code => {
                    return Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"));
                }
            }
        }
        Outcome::Failure(format!(
            "Get {:?}: stopped after {MAX_REDIRECTS} redirects",
            target.url()
        ))
    }

    /// Where a `Location` header leads from this request.
    fn redirect(&self, location: &str) -> Option<HttpGet> {
        let uri: http::Uri = location.parse().ok()?;
        let mut next = self.clone();
        if let Some(host) = uri.host() {
            next.scheme = uri
                .scheme_str()
                .unwrap_or(&self.scheme)
                .to_ascii_lowercase();
            next.host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            next.port = uri
                .port_u16()
                .unwrap_or(if next.scheme == "https" { 443 } else { 80 });
        }
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        next.path = if path.starts_with('/') {
            path.to_string()
        } else {
            let base = self.path.rsplit_once('/').map(|(b, _)| b).unwrap_or("");
            format!("{base}/{path}")
        };
        Some(next)
    }

    async fn get(&self) -> Result<Response, String> {
        let addr = join_host_port(&self.host, self.port);
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|err| dial_error(&addr, &err))?;
        if self.scheme == "https" {
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                .map_err(|err| err.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(insecure_tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(|err| err.to_string())?;
            self.exchange(tls).await
        } else {
            self.exchange(tcp).await
        }
    }

    async fn exchange<S>(&self, stream: S) -> Result<Response, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| err.to_string())?;
        let request = self.request()?;
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|err| err.to_string())?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = Vec::new();
            let mut incoming = response.into_body();
            while body.len() < MAX_OUTPUT {
                match incoming.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            let room = MAX_OUTPUT - body.len();
                            body.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            Ok::<_, String>(Response {
                status,
                location,
                body,
            })
        };
        // The connection is driven alongside the exchange; it ends once the exchange
        // drops its sender (or the server closes, as `Connection: close` asks).
        let (response, _) = tokio::join!(exchange, conn);
        response
    }

    fn request(&self) -> Result<http::Request<Empty<Bytes>>, String> {
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let mut builder = http::Request::get(self.path.as_str());
        if !has("host") {
            builder = builder.header(http::header::HOST, join_host_port(&self.host, self.port));
        }
        if !has("user-agent") {
            builder = builder.header(http::header::USER_AGENT, USER_AGENT);
        }
        if !has("accept") {
            builder = builder.header(http::header::ACCEPT, "*/*");
        }
        for (k, v) in &self.headers {
            // An explicitly empty Accept removes the header, as the kubelet does.
            if k.eq_ignore_ascii_case("accept") && v.is_empty() {
                continue;
            }
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder
            .header(http::header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|err| err.to_string())
    }
}

struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// A TLS client that accepts any server certificate (the kubelet's probes set
/// `InsecureSkipVerify`), still checking the handshake signatures.
fn insecure_tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering each connection with the next canned response, recording
    /// the requests it saw.
    async fn serve(responses: Vec<String>) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for response in responses {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                seen.push(String::from_utf8_lossy(&req).into_owned());
                s.write_all(response.as_bytes()).await.unwrap();
                s.shutdown().await.unwrap();
            }
            seen
        });
        (port, task)
    }

    fn get(port: u16, path: &str) -> HttpGet {
        HttpGet {
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            headers: vec![("X-Probe".into(), "yes".into())],
        }
    }

    fn reply(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn status_codes_decide_and_headers_are_sent() {
        let (port, server) = serve(vec![
            reply("200 OK", "", "fine"),
            reply("503 Service Unavailable", "", "down"),
        ])
        .await;
        let t = Duration::from_secs(10);
        assert_eq!(get(port, "/healthz").probe(t).await, Outcome::Success);
        assert_eq!(
            get(port, "/healthz").probe(t).await,
            Outcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
        let seen = server.await.unwrap();
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("get /healthz http/1.1\r\n"), "{first}");
        for header in [
            "user-agent: kube-probe/1.33",
            "accept: */*",
            "x-probe: yes",
            &format!("host: 127.0.0.1:{port}"),
        ] {
            assert!(first.contains(header), "missing {header:?} in {first}");
        }
    }

    #[tokio::test]
    async fn local_redirects_are_followed_and_others_warn() {
        let (port, server) = serve(vec![
            reply("302 Found", "Location: /ready\r\n", ""),
            reply("404 Not Found", "", ""),
            reply(
                "301 Moved",
                "Location: http://example.invalid/x\r\n",
                "moved",
            ),
        ])
        .await;
        let t = Duration::from_secs(10);
        assert_eq!(
            get(port, "/").probe(t).await,
            Outcome::Failure("HTTP probe failed with statuscode: 404".into())
        );
        assert_eq!(
            get(port, "/").probe(t).await,
            Outcome::Warning("Probe terminated redirects, Response body: moved".into())
        );
        let seen = server.await.unwrap();
        assert!(seen[1].starts_with("GET /ready "), "{}", seen[1]);
    }

    #[tokio::test]
    async fn refused_and_silent_servers_fail() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts (in the backlog) but never answers: the timeout applies.
        let silent = get(port, "/").probe(Duration::from_millis(300)).await;
        assert!(
            matches!(&silent, Outcome::Failure(m) if m.contains("Client.Timeout exceeded")),
            "{silent:?}"
        );
        drop(listener);
        assert_eq!(
            get(port, "/").probe(Duration::from_secs(10)).await,
            Outcome::Failure(format!(
                "Get \"http://127.0.0.1:{port}/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }
}
