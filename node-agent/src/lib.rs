//! capstan-node-agent: the kubelet's role for virtual nodes.
//!
//! [`NodePool`] custom resources are reconciled into Node objects (`<pool>-<i>`) with
//! addresses, `nodeInfo`, the kubelet's conditions and a Lease each in
//! `kube-node-lease`; one ticker renews every node's Lease and re-posts node status, so
//! thousands of nodes cost a few tasks. Pods bound to those nodes are driven through
//! the kubelet's lifecycle ([`pods`], rules shared in [`lifecycle`]) by their pool's
//! runtime: simulated ([`sim`]) or local processes ([`process`], probes in [`probe`]).
//! The kubelet's HTTPS API ([`server`]) serves their logs to the API server.

pub mod agent;
pub mod crd;
pub mod heartbeat;
pub mod ipam;
pub mod lifecycle;
pub mod node;
pub mod nodes;
pub mod pods;
pub mod probe;
pub mod process;
pub mod server;
pub mod sim;

pub use agent::{DEFAULT_POD_WORKERS, NodeAgentConfig, NodeAgentError, run_node_agent};
pub use crd::{NodePool, NodePoolSpec, NodePoolStatus, NodeRuntime, nodepool_crd_yaml};
pub use process::ProcessConfig;
pub use server::{KubeletEndpoint, KubeletServerConfig, ServingTls};
