//! The API server's client of the kubelets (kube-apiserver's `--kubelet-*` flags): how
//! it finds a node's kubelet (the Node's preferred address and
//! `status.daemonEndpoints.kubeletEndpoint.port`), trusts its serving certificate
//! and authenticates to it. `pods/log` and `nodes/proxy` go through it.
//!
//! - [`KubeletClientConfig::ca_pem`] (`--kubelet-certificate-authority`): the CA the
//!   kubelet's serving certificate must chain to; without it the certificate is not
//!   verified, as kube-apiserver does without the flag.
//! - [`KubeletClientConfig::client_cert_pem`]/[`KubeletClientConfig::client_key_pem`]
//!   (`--kubelet-client-certificate`/`--kubelet-client-key`): presented to the kubelet.
//! - [`KubeletClientConfig::bearer_token`]: sent as `Authorization: Bearer` (capstan's
//!   node agent accepts a token in place of a client certificate).

pub mod client;
pub mod location;
pub mod log_options;

use std::time::Duration;

pub use client::{KubeletClient, KubeletClientError};

/// kube-apiserver's `--kubelet-port` default, used when a Node publishes no port.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// How the API server reaches kubelets.
#[derive(Clone)]
pub struct KubeletClientConfig {
    /// The CA (PEM) kubelet serving certificates must chain to; `None`: not verified.
    pub ca_pem: Option<String>,
    /// The client certificate chain (PEM) presented to kubelets.
    pub client_cert_pem: Option<String>,
    /// The client certificate's key (PEM).
    pub client_key_pem: Option<String>,
    /// A bearer token sent to kubelets.
    pub bearer_token: Option<String>,
    /// Which Node address to use, first match wins (`--kubelet-preferred-address-types`;
    /// default kubeadm's `InternalIP,ExternalIP,Hostname`).
    pub preferred_address_types: Vec<String>,
    /// How long connecting (TCP and TLS) may take (`--kubelet-timeout`, 5 s).
    pub timeout: Duration,
}

impl Default for KubeletClientConfig {
    fn default() -> Self {
        KubeletClientConfig {
            ca_pem: None,
            client_cert_pem: None,
            client_key_pem: None,
            bearer_token: None,
            preferred_address_types: ["InternalIP", "ExternalIP", "Hostname"]
                .map(String::from)
                .to_vec(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for KubeletClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClientConfig")
            .field("ca", &self.ca_pem.is_some())
            .field("client_cert", &self.client_cert_pem.is_some())
            .field("bearer_token", &self.bearer_token.is_some())
            .field("preferred_address_types", &self.preferred_address_types)
            .field("timeout", &self.timeout)
            .finish()
    }
}
