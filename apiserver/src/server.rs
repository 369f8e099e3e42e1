//! Running the API server: [`ServerConfig`] and [`ApiServer`] for the `capstan`
//! binary, and [`TestServer`] for tests (random loopback port, ready `kube::Client`,
//! kubeconfig file for kubectl, cleaned up on drop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admission::AdmissionConfig;
use crate::aggregator::registration::Pass;
use crate::bootstrap;
use crate::http::{self, AppState, tls};
use crate::kinds::Registry;
use crate::kubelet::{KubeletClient, KubeletClientConfig, KubeletClientError};
use crate::ops::Cluster;
use crate::rbac_policy;
use crate::serviceaccount::signing::SigningKey;
use crate::serviceaccount::{self, ServiceAccountSettings, TokenIssuer};
use crate::storage::Store;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listener failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS material could not be generated.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Bootstrap objects could not be created.
    #[error("bootstrapping: {0}")]
    Bootstrap(#[from] crate::status::ApiError),
    /// Writing the kubeconfig failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Building a client failed.
    #[error("building a client: {0}")]
    Client(String),
    /// The service-account signing key could not be generated or read.
    #[error(transparent)]
    ServiceAccountKey(#[from] crate::serviceaccount::signing::KeyError),
    /// The kubelet client configuration is not usable.
    #[error(transparent)]
    Kubelet(#[from] KubeletClientError),
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub bind: SocketAddr,
    /// Serve plain HTTP without authentication (debugging only).
    pub insecure_http: bool,
    /// Watch events kept per resource for resuming watches.
    pub watch_history: usize,
    /// Live events a watcher may fall behind before it is closed.
    pub watch_buffer: usize,
    /// The bearer token; random when `None`.
    pub token: Option<String>,
    /// Interval of progress bookmarks on watches that allow them.
    pub bookmark_interval: Duration,
    /// The issuer written into service-account tokens, which is also the audience the
    /// server accepts them for (kube-apiserver's `--service-account-issuer`).
    pub service_account_issuer: String,
    /// A PEM private key (P-256 ECDSA in PKCS#8, or RSA) to sign service-account tokens
    /// with (`--service-account-signing-key-file`); a fresh P-256 key per start when
    /// `None`, so tokens do not outlive the server.
    pub service_account_key_file: Option<PathBuf>,
    /// A controller keeps every namespace's `default` ServiceAccount, so the
    /// `ServiceAccount` admission step refuses pods whose account is missing, as
    /// upstream. Off by default: until then only a missing account a pod names
    /// explicitly (other than `default`) is refused.
    pub service_accounts_managed: bool,
    /// Which admission steps run (`--disable-admission-plugins`).
    pub admission: AdmissionConfig,
    /// How `pods/log` and `nodes/proxy` reach the nodes' kubelets (`--kubelet-*`).
    pub kubelet: KubeletClientConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 6443)),
            insecure_http: false,
            watch_history: 10_000,
            watch_buffer: 10_000,
            token: None,
            bookmark_interval: Duration::from_secs(60),
            service_account_issuer: serviceaccount::DEFAULT_ISSUER.to_string(),
            service_account_key_file: None,
            service_accounts_managed: false,
            admission: AdmissionConfig::all(),
            kubelet: KubeletClientConfig::default(),
        }
    }
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    insecure: bool,
    token: String,
    ca_pem: Option<String>,
    cluster: Arc<Cluster>,
    kubelet: Arc<parking_lot::RwLock<Arc<KubeletClient>>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// The bootstrap reconciler and the clusterrole-aggregation controller.
    background: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds, generates TLS material and a token, creates the bootstrap objects and
    /// starts serving in background tasks.
    pub async fn start(config: ServerConfig) -> Result<ApiServer, ServerError> {
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let registry = Arc::new(Registry::with_builtins());
        let store = Store::new(config.watch_history, config.watch_buffer);
        let key = match &config.service_account_key_file {
            Some(path) => SigningKey::from_pem_file(path)?,
            None => SigningKey::generate()?,
        };
        let service_accounts = ServiceAccountSettings {
            tokens: TokenIssuer::new(key, &config.service_account_issuer),
            managed: config.service_accounts_managed,
        };
        let mut cluster = Cluster::new(store, registry, service_accounts);
        cluster.admission = config.admission.clone();
        let cluster = Arc::new(cluster);
        bootstrap::ensure_all(&cluster, addr.port())?;
        cluster.sync_apiservices(Pass::Start)?;
        let token = config.token.clone().unwrap_or_else(random_token);
        let (tls, ca_pem) = if config.insecure_http {
            (None, None)
        } else {
            let mut extra = Vec::new();
            if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
                extra.push(addr.ip().to_string());
            }
            let m = tls::generate(&extra)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(m.server_config.clone())),
                Some(m.ca_pem),
            )
        };
        let kubelet = Arc::new(parking_lot::RwLock::new(Arc::new(KubeletClient::new(
            config.kubelet.clone(),
        )?)));
        let state = Arc::new(AppState {
            kubelet: kubelet.clone(),
            cluster: cluster.clone(),
            token: (!config.insecure_http).then(|| token.clone()),
            server_addr: addr.to_string(),
            bookmark_interval: config.bookmark_interval,
        });
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(http::serve(listener, tls, state, rx));
        let rc = cluster.clone();
        let port = addr.port();
        let reconciler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                if let Err(e) = bootstrap::ensure_all(&rc, port) {
                    tracing::warn!(error = %e, "re-creating bootstrap objects failed");
                }
                let apiservices = rc
                    .sync_apiservices(Pass::Running)
                    .and_then(|()| rc.refresh_apiservice_availability(None));
                if let Err(e) = apiservices {
                    tracing::warn!(error = %e, "keeping APIServices in line failed");
                }
            }
        });
        let aggregator = tokio::spawn(rbac_policy::controller::run(cluster.clone()));
        tracing::info!(%addr, tls = !config.insecure_http, "API server listening");
        Ok(ApiServer {
            addr,
            insecure: config.insecure_http,
            token,
            ca_pem,
            cluster,
            kubelet,
            shutdown,
            task: Some(task),
            background: vec![reconciler, aggregator],
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients use (`https://127.0.0.1:6443`).
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        let scheme = if self.insecure { "http" } else { "https" };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA certificate (PEM), when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Storage and semantics, for in-process inspection.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Replaces how the server reaches kubelets (for a node agent started after the
    /// server, whose CA and token are known only then); requests already proxied keep
    /// their connection.
    pub fn set_kubelet_client(&self, config: KubeletClientConfig) -> Result<(), ServerError> {
        *self.kubelet.write() = Arc::new(KubeletClient::new(config)?);
        Ok(())
    }

    /// A kubeconfig (YAML) for this server, context `capstan`, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        let cluster = match &self.ca_pem {
            Some(ca) => format!(
                "    server: {}\n    certificate-authority-data: {}\n",
                self.url(),
                base64::engine::general_purpose::STANDARD.encode(ca)
            ),
            None => format!("    server: {}\n", self.url()),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: capstan\n  cluster:\n{cluster}users:\n- name: capstan-admin\n  user:\n    token: {}\ncontexts:\n- name: capstan\n  context:\n    cluster: capstan\n    user: capstan-admin\n    namespace: default\ncurrent-context: capstan\npreferences: {{}}\n",
            self.token
        )
    }

    /// Writes the kubeconfig to `path` (creating parent directories, mode 0600).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ServerError> {
        let err = |source| ServerError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(path, self.kubeconfig_yaml()).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        Ok(())
    }

    /// A `kube::Config` for this server (to adjust before building a client, e.g.
    /// `default_retry = false` to see 429s instead of kube-rs retrying them).
    pub async fn config(&self) -> Result<kube::Config, ServerError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .map_err(|e| ServerError::Client(e.to_string()))?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| ServerError::Client(e.to_string()))
    }

    /// A `kube::Client` for this server.
    pub async fn client(&self) -> Result<kube::Client, ServerError> {
        let cfg = self.config().await?;
        kube::Client::try_from(cfg).map_err(|e| ServerError::Client(e.to_string()))
    }

    /// Ends every open watch (clients resume from their last resourceVersion).
    pub fn cut_watches(&self) {
        self.cluster.store.cut_watches();
    }

    /// Stops accepting and closes connections.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for job in self.background.drain(..) {
            job.abort();
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits until the server task ends (it runs until [`ApiServer::shutdown`]).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for job in self.background.drain(..) {
            job.abort();
        }
    }
}

/// An API server for tests: random loopback port, TLS, a ready client and a
/// kubeconfig file in a temporary directory removed on drop.
#[derive(Debug)]
pub struct TestServer {
    server: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl TestServer {
    /// Starts a server with default settings on `127.0.0.1:0`.
    pub async fn start() -> Result<TestServer, ServerError> {
        Self::start_with(ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        })
        .await
    }

    /// Starts a server on `127.0.0.1:0` whose admission chain is `admission` (tests of
    /// one component alone turn off the steps that wait for a controller, as upstream's
    /// integration test servers turn off `TaintNodesByCondition`).
    pub async fn start_with_admission(
        admission: AdmissionConfig,
    ) -> Result<TestServer, ServerError> {
        Self::start_with(ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admission,
            ..ServerConfig::default()
        })
        .await
    }

    /// Starts a server with `config` (its `bind` is used as given).
    pub async fn start_with(config: ServerConfig) -> Result<TestServer, ServerError> {
        let server = ApiServer::start(config).await?;
        let dir = tempfile::tempdir().map_err(|source| ServerError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig)?;
        Ok(TestServer {
            server,
            dir,
            kubeconfig,
        })
    }

    /// A ready `kube::Client` (each call builds a new one).
    pub async fn client(&self) -> kube::Client {
        match self.server.client().await {
            Ok(c) => c,
            Err(e) => panic!("TestServer client: {e}"),
        }
    }

    /// A `kube::Config` for this server, to adjust before building a client.
    pub async fn config(&self) -> kube::Config {
        match self.server.config().await {
            Ok(c) => c,
            Err(e) => panic!("TestServer config: {e}"),
        }
    }

    /// The kubeconfig file for `kubectl --kubeconfig`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The temporary directory (for per-test kubectl cache dirs and files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The running server.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// Ends every open watch (clients resume from their last resourceVersion).
    pub fn cut_watches(&self) {
        self.server.cut_watches();
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
