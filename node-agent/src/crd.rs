//! The `NodePool` custom resource (`capstan.dev/v1alpha1`, cluster-scoped): a set of
//! identical virtual nodes the agent keeps as Node objects. `spec.nodes` is exposed
//! through the `scale` subresource, so `kubectl scale nodepool/x --replicas=500` works.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The desired shape of a pool of virtual nodes.
// Each `printcolumn(...)` repeats `type_ = "integer"`: not a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[kube(
    group = "capstan.dev",
    version = "v1alpha1",
    kind = "NodePool",
    plural = "nodepools",
    shortname = "np",
    status = "NodePoolStatus",
    scale(
        spec_replicas_path = ".spec.nodes",
        status_replicas_path = ".status.nodes"
    ),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".spec.nodes"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyNodes"),
    printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime")
)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSpec {
    /// How many nodes the pool has; nodes are named `<pool>-<index>`, index from 0.
    #[schemars(range(min = 0))]
    pub nodes: i32,
    /// Each node's `status.capacity` (cpu, memory, pods, ephemeral-storage, extended
    /// resources). Defaults to 4 cpu, 16Gi memory, 110 pods, 100Gi ephemeral-storage.
    #[serde(default = "default_capacity")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Each node's `status.allocatable`; defaults to the capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<BTreeMap<String, Quantity>>,
    /// Extra labels on every node of the pool.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Taints on every node of the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// How the pool's pods run: simulated (`sim`), or as local processes of the agent's
    /// host (`process`: each container's `command` + `args` with its `env` and
    /// `workingDir`, real exit codes and probes; images are ignored).
    #[serde(default)]
    pub runtime: NodeRuntime,
    /// The pool's pod address range (IPv4, prefix at most /24): node `i` gets the `i`-th
    /// /24 in it as its `spec.podCIDR`, the `.1` address of that /24 as its InternalIP,
    /// and its pods get the addresses from `.2` on. Defaults to `10.244.0.0/16`.
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    pub pod_cidr: String,
    /// The `node.kubernetes.io/instance-type` label; defaults to `capstan-sim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

/// How the containers of a pool's pods are run.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeRuntime {
    /// Containers "run" instantly; their behaviour is set through pod annotations.
    #[default]
    Sim,
    /// Containers run as local processes of the agent's host: `command` + `args` with
    /// their `env` and `workingDir`, real exit codes, `exec`/`httpGet`/`tcpSocket`
    /// probes, logs per container. Images are ignored.
    Process,
}

/// What the agent observed of a pool.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// How many of the pool's Node objects exist (the scale subresource's `replicas`).
    pub nodes: i32,
    /// How many of them the agent reports Ready.
    pub ready_nodes: i32,
    /// The pool generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Why the pool is not served, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The capacity a pool's nodes get when the spec names none.
pub fn default_capacity() -> BTreeMap<String, Quantity> {
    [
        ("cpu", "4"),
        ("memory", "16Gi"),
        ("pods", "110"),
        ("ephemeral-storage", "100Gi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect()
}

fn default_pod_cidr() -> String {
    "10.244.0.0/16".to_string()
}

/// The pod CIDR a pool of `nodes` nodes gets by default: kind's `10.244.0.0/16` (a /24
/// for each of up to 256 nodes), or for a larger pool `10.128.0.0/9` (up to 32,768
/// nodes), which stays clear of the default Service range `10.96.0.0/12`.
fn pod_cidr_for(nodes: i32) -> String {
    if nodes <= 256 {
        default_pod_cidr()
    } else {
        "10.128.0.0/9".to_string()
    }
}

impl NodePoolSpec {
    /// A process pool of `nodes` nodes with the default capacity and pod CIDR (as
    /// [`NodePoolSpec::sim`]).
    pub fn process(nodes: i32) -> Self {
        NodePoolSpec {
            runtime: NodeRuntime::Process,
            ..NodePoolSpec::sim(nodes)
        }
    }

    /// A sim pool of `nodes` nodes with the default capacity and a pod CIDR with a /24
    /// for each node (`10.244.0.0/16` up to 256 nodes, `10.128.0.0/9` beyond).
    pub fn sim(nodes: i32) -> Self {
        NodePoolSpec {
            nodes,
            capacity: default_capacity(),
            allocatable: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            runtime: NodeRuntime::Sim,
            pod_cidr: pod_cidr_for(nodes),
            instance_type: None,
        }
    }
}

/// The NodePool CustomResourceDefinition as YAML, as committed in `crds/nodepool.yaml`.
pub fn nodepool_crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&NodePool::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_pools_get_a_pod_subnet_for_every_node() {
        assert_eq!(NodePoolSpec::sim(3).pod_cidr, "10.244.0.0/16");
        assert_eq!(NodePoolSpec::sim(256).pod_cidr, "10.244.0.0/16");
        // 5,000 /24s do not fit in a /16; they do in a /9.
        assert_eq!(NodePoolSpec::sim(5_000).pod_cidr, "10.128.0.0/9");
        assert_eq!(NodePoolSpec::process(5_000).pod_cidr, "10.128.0.0/9");
    }
}
