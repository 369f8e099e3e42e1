//! The Node objects a pool stands for, built as the kubelet registers itself: labels,
//! spec (pod CIDR, taints, provider ID), status (addresses, capacity, `nodeInfo`,
//! conditions with the kubelet's reasons and messages).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use crate::crd::{NodePool, NodeRuntime};
use crate::ipam::{CidrError, NodeSubnet, node_subnet};

/// The label naming the pool a node belongs to.
pub const POOL_LABEL: &str = "capstan.dev/nodepool";
/// The taint key marking virtual nodes in a real cluster (`--virtual-taint`).
pub const VIRTUAL_TAINT_KEY: &str = "capstan.dev/virtual";
/// The annotation listing the taints (`key:Effect`, comma-separated) the node agent put
/// on a node from its pool: it adds, changes and removes only those, and leaves every
/// other taint (`kubectl taint`, `kubectl cordon`, the node lifecycle controller's) alone.
pub const POOL_TAINTS_ANNOTATION: &str = "capstan.dev/pool-taints";
/// The annotation that stops a node's kubelet without removing it: with the value
/// [`HEARTBEAT_STOPPED`] the agent stops renewing the node's Lease and writing its
/// status, its taints and its pods' statuses (their records stay, as those of a
/// kubelet that lost its connection), until the annotation is removed or changed.
pub const HEARTBEAT_ANNOTATION: &str = "capstan.dev/heartbeat";
/// The [`HEARTBEAT_ANNOTATION`] value that stops the node's heartbeats.
pub const HEARTBEAT_STOPPED: &str = "stopped";
/// The kubelet version the nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0";

/// How nodes are built beyond what the pool says.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Add `capstan.dev/virtual=true:NoSchedule` to every node.
    pub virtual_taint: bool,
    /// Where the agent serves the kubelet API: every node publishes it as its
    /// `InternalIP` and `daemonEndpoints.kubeletEndpoint.port`. Without it, a node's
    /// `InternalIP` is the `.1` of its /24 and its port the kubelet's 10250 (nothing
    /// listens there).
    pub kubelet_endpoint: Option<crate::server::KubeletEndpoint>,
}

/// The name of node `index` of `pool`.
pub fn node_name(pool: &str, index: u32) -> String {
    format!("{pool}-{index}")
}

/// The index of `node` in `pool`, when the name has the pool's shape.
pub fn node_index(pool: &str, node: &str) -> Option<u32> {
    node.strip_prefix(pool)?.strip_prefix('-')?.parse().ok()
}

/// The kubelet's four node conditions for a healthy node, heartbeat at `now`.
/// `since` is when each condition last changed (the node's registration).
pub fn healthy_conditions(now: Timestamp, since: Timestamp) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    vec![
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

/// Whether the node's heartbeats are stopped ([`HEARTBEAT_ANNOTATION`]).
pub fn heartbeat_stopped(node: &Node) -> bool {
    node.annotations()
        .get(HEARTBEAT_ANNOTATION)
        .is_some_and(|v| v == HEARTBEAT_STOPPED)
}

/// The conditions the agent reports for `node` at `now` when they differ from what
/// it has (e.g. `Unknown`, set by the node lifecycle controller while the node was
/// silent), or `None` when they already say what the agent says. As the kubelet's
/// setters: a condition whose status changes gets transition time `now`, one that
/// keeps its status keeps its transition time.
pub fn conditions_to_report(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let current = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    let wanted = healthy_conditions(now, now);
    let same = wanted.iter().all(|w| {
        current
            .iter()
            .any(|c| c.type_ == w.type_ && c.status == w.status && c.reason == w.reason)
    });
    if same {
        return None;
    }
    Some(
        wanted
            .into_iter()
            .map(|mut w| {
                if let Some(c) = current
                    .iter()
                    .find(|c| c.type_ == w.type_ && c.status == w.status)
                {
                    w.last_transition_time = c.last_transition_time.clone();
                }
                w
            })
            .collect(),
    )
}

/// Whether a node's `Ready` condition is `True`.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Node `index` of `pool` as the agent registers it, status included.
pub fn desired_node(
    pool: &NodePool,
    index: u32,
    options: &NodeOptions,
    now: Timestamp,
) -> Result<(Node, NodeSubnet), CidrError> {
    let pool_name = pool.name_any();
    let name = node_name(&pool_name, index);
    let subnet = node_subnet(&pool.spec.pod_cidr, index)?;
    let mut labels: BTreeMap<String, String> = pool.spec.labels.clone();
    let (os, arch) = ("linux", "amd64");
    for (k, v) in [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", os),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", os),
        ("beta.kubernetes.io/arch", arch),
        (
            "node.kubernetes.io/instance-type",
            pool.spec.instance_type.as_deref().unwrap_or("capstan-sim"),
        ),
        (POOL_LABEL, pool_name.as_str()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    let mut taints = pool.spec.taints.clone();
    if options.virtual_taint && !taints.iter().any(|t| t.key == VIRTUAL_TAINT_KEY) {
        taints.push(Taint {
            key: VIRTUAL_TAINT_KEY.to_string(),
            value: Some("true".to_string()),
            effect: "NoSchedule".to_string(),
            time_added: None,
        });
    }
    let owner = pool.uid().map(|uid| OwnerReference {
        api_version: NodePool::api_version(&()).to_string(),
        kind: NodePool::kind(&()).to_string(),
        name: pool_name.clone(),
        uid,
        controller: Some(true),
        block_owner_deletion: None,
    });
    let capacity = pool.spec.capacity.clone();
    let allocatable = pool
        .spec
        .allocatable
        .clone()
        .unwrap_or_else(|| capacity.clone());
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([
                ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
                (
                    POOL_TAINTS_ANNOTATION.to_string(),
                    pool_taints_value(&taints),
                ),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(subnet.cidr()),
            pod_cidrs: Some(vec![subnet.cidr()]),
            provider_id: Some(format!("capstan://{pool_name}/{name}")),
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_string(),
                    address: options
                        .kubelet_endpoint
                        .as_ref()
                        .map_or_else(|| subnet.host_ip().to_string(), |e| e.address.to_string()),
                },
                NodeAddress {
                    type_: "Hostname".to_string(),
                    address: name.clone(),
                },
            ]),
            capacity: Some(capacity),
            allocatable: Some(allocatable),
            conditions: Some(healthy_conditions(now, now)),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: options
                        .kubelet_endpoint
                        .as_ref()
                        .map_or(crate::server::DEFAULT_PORT, |e| e.port)
                        .into(),
                }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: arch.to_string(),
                operating_system: os.to_string(),
                kubelet_version: KUBELET_VERSION.to_string(),
                kube_proxy_version: String::new(),
                container_runtime_version: match pool.spec.runtime {
                    NodeRuntime::Sim => "sim://1.0.0",
                    NodeRuntime::Process => "process://1.0.0",
                }
                .to_string(),
                kernel_version: "6.1.0-capstan".to_string(),
                os_image: "capstan virtual node".to_string(),
                machine_id: name.clone(),
                system_uuid: name.clone(),
                boot_id: name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    Ok((node, subnet))
}

/// A taint's identity on a node: its key and effect (no two taints share both).
pub type TaintId = (String, String);

fn taint_id(t: &Taint) -> TaintId {
    (t.key.clone(), t.effect.clone())
}

/// The [`POOL_TAINTS_ANNOTATION`] value for the pool's `taints`.
pub fn pool_taints_value(taints: &[Taint]) -> String {
    let ids: BTreeSet<TaintId> = taints.iter().map(taint_id).collect();
    ids.iter()
        .map(|(k, e)| format!("{k}:{e}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The taints a node's [`POOL_TAINTS_ANNOTATION`] says the agent set, if it has one.
pub fn pool_taints_of(node: &Node) -> Option<BTreeSet<TaintId>> {
    let value = node.annotations().get(POOL_TAINTS_ANNOTATION)?;
    Some(
        value
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.rsplit_once(':'))
            .map(|(k, e)| (k.to_string(), e.to_string()))
            .collect(),
    )
}

/// A node's taints brought in line with its pool's `wanted` ones, touching only what
/// the agent owns: taints it set before (`owned`) that the pool no longer declares go,
/// the pool's taints are added or get the pool's value, and every other taint stays
/// where it is.
pub fn reconcile_taints(
    current: &[Taint],
    owned: &BTreeSet<TaintId>,
    wanted: &[Taint],
) -> Vec<Taint> {
    let wanted_by_id: BTreeMap<TaintId, &Taint> = wanted.iter().map(|t| (taint_id(t), t)).collect();
    let mut out: Vec<Taint> = Vec::with_capacity(current.len() + wanted.len());
    for t in current {
        let id = taint_id(t);
        match wanted_by_id.get(&id) {
            Some(w) if w.value == t.value => out.push(t.clone()),
            Some(w) => out.push((*w).clone()),
            None if owned.contains(&id) => {}
            None => out.push(t.clone()),
        }
    }
    for t in wanted {
        if !out.iter().any(|have| taint_id(have) == taint_id(t)) {
            out.push(t.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::NodePoolSpec;

    fn t(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn only_the_pools_taints_are_added_changed_and_removed() {
        let cordon = t("node.kubernetes.io/unschedulable", None, "NoSchedule");
        let user = t("dedicated", Some("gpu"), "NoExecute");
        let old_pool = t("capstan.dev/old", Some("x"), "NoSchedule");
        let pool_a = t("capstan.dev/a", Some("1"), "NoSchedule");
        let current = vec![
            user.clone(),
            old_pool.clone(),
            pool_a.clone(),
            cordon.clone(),
        ];
        let owned = pool_taints_of(&Node {
            metadata: ObjectMeta {
                annotations: Some(BTreeMap::from([(
                    POOL_TAINTS_ANNOTATION.to_string(),
                    pool_taints_value(&[old_pool.clone(), pool_a.clone()]),
                )])),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        // The pool now declares `a` with another value and a new `b`, and no `old`.
        let pool_a2 = t("capstan.dev/a", Some("2"), "NoSchedule");
        let pool_b = t("capstan.dev/b", None, "NoExecute");
        let merged = reconcile_taints(&current, &owned, &[pool_a2.clone(), pool_b.clone()]);
        assert_eq!(
            merged,
            vec![
                user.clone(),
                pool_a2.clone(),
                cordon.clone(),
                pool_b.clone()
            ]
        );
        // Reconciling again changes nothing (no patch loop).
        let owned = BTreeSet::from([taint_id(&pool_a2), taint_id(&pool_b)]);
        assert_eq!(
            reconcile_taints(&merged, &owned, &[pool_a2, pool_b]),
            merged
        );
        // A node registered before the annotation: only the pool's taints are managed.
        assert_eq!(
            reconcile_taints(&[user.clone(), cordon.clone()], &BTreeSet::new(), &[]),
            vec![user, cordon]
        );
    }

    fn pool() -> NodePool {
        let mut p = NodePool::new("pool", NodePoolSpec::sim(3));
        p.metadata.uid = Some("uid-1".into());
        p
    }

    #[test]
    fn node_has_kubelet_labels_addresses_and_conditions() {
        let now = Timestamp::now();
        let (node, subnet) = desired_node(&pool(), 2, &NodeOptions::default(), now).unwrap();
        assert_eq!(node.name_any(), "pool-2");
        let labels = node.labels();
        assert_eq!(labels["kubernetes.io/hostname"], "pool-2");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["node.kubernetes.io/instance-type"], "capstan-sim");
        assert_eq!(labels[POOL_LABEL], "pool");
        assert_eq!(subnet.cidr(), "10.244.2.0/24");
        let status = node.status.as_ref().unwrap();
        assert_eq!(status.addresses.as_ref().unwrap()[0].address, "10.244.2.1");
        assert_eq!(
            status.node_info.as_ref().unwrap().kubelet_version,
            "v1.33.0"
        );
        assert_eq!(status.capacity.as_ref().unwrap()["pods"].0, "110");
        assert!(is_ready(&node));
        let reasons: Vec<_> = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.type_.as_str(), c.reason.clone().unwrap()))
            .collect();
        assert!(reasons.contains(&("Ready", "KubeletReady".to_string())));
        assert!(reasons.contains(&("PIDPressure", "KubeletHasSufficientPID".to_string())));
        assert!(node.spec.as_ref().unwrap().taints.is_none());
        assert_eq!(node.owner_references()[0].uid, "uid-1");
    }

    #[test]
    fn nodes_publish_the_kubelet_endpoint() {
        let options = NodeOptions {
            kubelet_endpoint: Some(crate::server::KubeletEndpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: 40123,
            }),
            ..NodeOptions::default()
        };
        let (node, _) = desired_node(&pool(), 1, &options, Timestamp::now()).unwrap();
        let status = node.status.unwrap();
        let addresses: Vec<(String, String)> = status
            .addresses
            .unwrap()
            .into_iter()
            .map(|a| (a.type_, a.address))
            .collect();
        assert_eq!(
            addresses,
            [
                ("InternalIP".to_string(), "127.0.0.1".to_string()),
                ("Hostname".to_string(), node.metadata.name.clone().unwrap()),
            ]
        );
        let port = status
            .daemon_endpoints
            .unwrap()
            .kubelet_endpoint
            .unwrap()
            .port;
        assert_eq!(port, 40123);
    }

    #[test]
    fn virtual_taint_is_added_on_request() {
        let options = NodeOptions {
            virtual_taint: true,
            ..NodeOptions::default()
        };
        let (node, _) = desired_node(&pool(), 0, &options, Timestamp::now()).unwrap();
        let taints = node.spec.unwrap().taints.unwrap();
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].key, "capstan.dev/virtual");
        assert_eq!(taints[0].value.as_deref(), Some("true"));
        assert_eq!(taints[0].effect, "NoSchedule");
    }

    #[test]
    fn heartbeats_stop_only_on_the_stopped_annotation() {
        let (mut node, _) =
            desired_node(&pool(), 0, &NodeOptions::default(), Timestamp::now()).unwrap();
        assert!(!heartbeat_stopped(&node));
        let annotations = node
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert(HEARTBEAT_ANNOTATION.into(), "running".into());
        assert!(!heartbeat_stopped(&node));
        let annotations = node
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert(HEARTBEAT_ANNOTATION.into(), HEARTBEAT_STOPPED.into());
        assert!(heartbeat_stopped(&node));
    }

    #[test]
    fn conditions_marked_unknown_are_reported_again_with_new_transition_times() {
        let registered = Timestamp::from_second(1_700_000_000).unwrap();
        let now = Timestamp::from_second(1_700_000_100).unwrap();
        let (mut node, _) = desired_node(&pool(), 0, &NodeOptions::default(), registered).unwrap();
        assert_eq!(conditions_to_report(&node, now), None, "healthy already");
        // The lifecycle controller marked everything Unknown but MemoryPressure.
        for c in node.status.as_mut().unwrap().conditions.as_mut().unwrap() {
            if c.type_ != "MemoryPressure" {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
            }
        }
        let report = conditions_to_report(&node, now).expect("differs");
        for c in &report {
            let (status, since) = match c.type_.as_str() {
                "Ready" => ("True", now),
                "MemoryPressure" => ("False", registered),
                _ => ("False", now),
            };
            assert_eq!(c.status, status, "{}", c.type_);
            assert_eq!(c.last_transition_time, Some(Time(since)), "{}", c.type_);
            assert_eq!(c.last_heartbeat_time, Some(Time(now)));
        }
    }

    #[test]
    fn node_index_parses_only_the_pools_names() {
        assert_eq!(node_index("pool", "pool-12"), Some(12));
        assert_eq!(node_index("pool", "pool-a-1"), None);
        assert_eq!(node_index("pool", "other-1"), None);
    }
}
