//! VolumeBinding: a pod's PersistentVolumeClaims must exist; immediate claims must
//! be bound first; bound volumes' node affinity must match the node.

use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::cache::{NodeInfo, PodInfo, Snapshot, pod_namespace};
use crate::framework::{
    ActionType, ClusterEvent, ClusterLister, Code, CycleState, EventResource, FilterPlugin, Plugin,
    PreFilterPlugin, PreFilterResult, Status,
};
use crate::labels::node_selector_matches;
use crate::resource::quantity_value;

/// Plugin name.
pub const NAME: &str = "VolumeBinding";
/// Rejection when an immediate-binding claim is not bound yet.
pub const ERR_REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Rejection when a bound volume's node affinity excludes the node.
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Rejection when a claim is bound to a volume that does not exist.
pub const ERR_REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// Rejection when a delayed-binding claim has no way to get a volume.
pub const ERR_REASON_BIND_CONFLICT: &str =
    "node(s) didn't find available persistent volumes to bind";
const PRE_FILTER_KEY: &str = "PreFilterVolumeBinding";

/// A claim bound when the pod is scheduled (WaitForFirstConsumer), with its class.
#[derive(Debug, Clone)]
struct DelayedClaim {
    claim: Arc<PersistentVolumeClaim>,
    class: Arc<StorageClass>,
}

#[derive(Debug, Clone, Default)]
struct PodVolumes {
    bound: Vec<Arc<PersistentVolume>>,
    missing_pv: bool,
    delayed: Vec<DelayedClaim>,
    /// Available volumes of the delayed claims' classes, smallest first.
    candidates: Vec<Arc<PersistentVolume>>,
}

fn storage_request(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(quantity_value)
        .unwrap_or(0)
}

fn pv_capacity(pv: &PersistentVolume) -> i64 {
    pv.spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .map(quantity_value)
        .unwrap_or(0)
}

fn pv_class(pv: &PersistentVolume) -> &str {
    pv.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

fn claim_key(c: &PersistentVolumeClaim) -> (String, String) {
    (
        c.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        c.metadata.name.clone().unwrap_or_default(),
    )
}

/// Whether a volume can bind the claim on `node`, as upstream's
/// `FindMatchingVolume` checks: class, not bound to another claim, not being
/// deleted, capacity, access modes, volume mode, claim selector, node affinity.
fn pv_matches(pv: &PersistentVolume, claim: &PersistentVolumeClaim, node: &Node) -> bool {
    let Some(spec) = pv.spec.as_ref() else {
        return false;
    };
    let cspec = claim.spec.as_ref();
    if pv.metadata.deletion_timestamp.is_some() {
        return false;
    }
    if pv_class(pv)
        != cspec
            .and_then(|s| s.storage_class_name.as_deref())
            .unwrap_or("")
    {
        return false;
    }
    if let Some(r) = &spec.claim_ref {
        let (ns, name) = claim_key(claim);
        if r.namespace.as_deref() != Some(ns.as_str()) || r.name.as_deref() != Some(name.as_str()) {
            return false;
        }
    }
    if pv_capacity(pv) < storage_request(claim) {
        return false;
    }
    let modes = spec.access_modes.as_deref().unwrap_or(&[]);
    if !cspec
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
        .iter()
        .all(|m| modes.contains(m))
    {
        return false;
    }
    let mode = |m: Option<&str>| m.unwrap_or("Filesystem").to_string();
    if mode(spec.volume_mode.as_deref()) != mode(cspec.and_then(|s| s.volume_mode.as_deref())) {
        return false;
    }
    if let Some(sel) = cspec.and_then(|s| s.selector.as_ref()) {
        match Selector::from_label_selector(Some(sel)) {
            Ok(sel) if sel.matches(&pv.metadata.labels) => {}
            _ => return false,
        }
    }
    spec.node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .is_none_or(|req| node_selector_matches(req, node))
}

/// Whether the class can provision a volume reachable from `node` (a real
/// provisioner and, if set, `allowedTopologies` matching the node's labels).
fn can_provision(class: &StorageClass, node: &Node) -> bool {
    if class.provisioner.is_empty() || class.provisioner == "kubernetes.io/no-provisioner" {
        return false;
    }
    let Some(terms) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) else {
        return true;
    };
    let labels = node.metadata.labels.as_ref();
    terms.iter().any(|t| {
        t.match_label_expressions.iter().flatten().all(|e| {
            labels
                .and_then(|l| l.get(&e.key))
                .is_some_and(|v| e.values.contains(v))
        })
    })
}

/// The VolumeBinding filter (checks only; binding volumes is the shell's job).
pub struct VolumeBinding {
    lister: Arc<dyn ClusterLister>,
}

impl std::fmt::Debug for VolumeBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VolumeBinding")
    }
}

impl VolumeBinding {
    /// Builds the plugin over the claim/volume/class listers.
    pub fn new(lister: Arc<dyn ClusterLister>) -> Self {
        VolumeBinding { lister }
    }

    /// The claim's class when it binds at first consumer.
    fn delayed_class(&self, claim: &PersistentVolumeClaim) -> Option<Arc<StorageClass>> {
        claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
            .and_then(|n| self.lister.storage_class(n))
            .filter(|sc| sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
    }
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    /// A pod without claims (persistent or ephemeral) is skipped; one with claims
    /// depends on volumes that bindings change.
    fn batchable(&self, pod: &PodInfo) -> bool {
        pod.pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .all(|v| v.persistent_volume_claim.is_none() && v.ephemeral.is_none())
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::PersistentVolumeClaim,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEvent::new(
                EventResource::PersistentVolume,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEvent::new(
                EventResource::StorageClass,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let ns = pod_namespace(&pod.pod);
        let claims: Vec<&str> = pod
            .pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.as_str())
            })
            .collect();
        if claims.is_empty() {
            return (None, Status::code_only(Code::Skip));
        }
        let mut vols = PodVolumes::default();
        let mut unbound_immediate = false;
        for name in claims {
            let Some(claim) = self.lister.pvc(ns, name) else {
                return (
                    None,
                    Status::new(
                        Code::UnschedulableAndUnresolvable,
                        format!("persistentvolumeclaim \"{name}\" not found"),
                    ),
                );
            };
            if claim.metadata.deletion_timestamp.is_some() {
                return (
                    None,
                    Status::new(
                        Code::UnschedulableAndUnresolvable,
                        format!("persistentvolumeclaim \"{name}\" is being deleted"),
                    ),
                );
            }
            match claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .filter(|v| !v.is_empty())
            {
                Some(pv_name) => match self.lister.pv(pv_name) {
                    Some(pv) => vols.bound.push(pv),
                    None => vols.missing_pv = true,
                },
                None => match self.delayed_class(&claim) {
                    Some(class) => vols.delayed.push(DelayedClaim {
                        claim: claim.clone(),
                        class,
                    }),
                    None => unbound_immediate = true,
                },
            }
        }
        if unbound_immediate {
            return (
                None,
                Status::new(
                    Code::UnschedulableAndUnresolvable,
                    ERR_REASON_UNBOUND_IMMEDIATE,
                ),
            );
        }
        if !vols.delayed.is_empty() {
            let classes: Vec<&str> = vols
                .delayed
                .iter()
                .map(|d| d.class.metadata.name.as_deref().unwrap_or(""))
                .collect();
            let mut candidates: Vec<Arc<PersistentVolume>> = self
                .lister
                .pvs()
                .into_iter()
                .filter(|pv| classes.contains(&pv_class(pv)))
                .filter(|pv| {
                    pv.status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_none_or(|p| p == "Available")
                })
                .collect();
            candidates.sort_by_key(|pv| pv_capacity(pv));
            vols.candidates = candidates;
        }
        state.write(PRE_FILTER_KEY, vols);
        (None, Status::success())
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(vols) = state.read::<PodVolumes>(PRE_FILTER_KEY) else {
            return Status::success();
        };
        let Some(n) = node.node() else {
            return Status::error("node not found");
        };
        let mut reasons = Vec::new();
        if vols.missing_pv {
            reasons.push(ERR_REASON_PV_NOT_EXIST.to_string());
        }
        let conflict = vols.bound.iter().any(|pv| {
            pv.spec
                .as_ref()
                .and_then(|s| s.node_affinity.as_ref())
                .and_then(|a| a.required.as_ref())
                .is_some_and(|sel| !node_selector_matches(sel, n))
        });
        if conflict {
            reasons.push(ERR_REASON_NODE_CONFLICT.to_string());
        }
        // Each delayed claim needs its own matching volume on this node, or a
        // class that can provision one here.
        let mut taken: Vec<&str> = Vec::new();
        let satisfied = vols.delayed.iter().all(|d| {
            let found = vols.candidates.iter().find(|pv| {
                let name = pv.metadata.name.as_deref().unwrap_or("");
                !taken.contains(&name) && pv_matches(pv, &d.claim, n)
            });
            match found {
                Some(pv) => {
                    taken.push(pv.metadata.name.as_deref().unwrap_or(""));
                    true
                }
                None => can_provision(&d.class, n),
            }
        });
        if !satisfied {
            reasons.push(ERR_REASON_BIND_CONFLICT.to_string());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(Code::UnschedulableAndUnresolvable, reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::StaticLister;
    use crate::testing::*;
    use k8s_openapi::api::core::v1::{
        NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimSpec,
        PersistentVolumeSpec, VolumeNodeAffinity,
    };

    fn claim(name: &str, volume: Option<&str>, class: Option<&str>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("default".into());
        c.spec = Some(PersistentVolumeClaimSpec {
            volume_name: volume.map(Into::into),
            storage_class_name: class.map(Into::into),
            ..Default::default()
        });
        c
    }

    fn run(lister: StaticLister, pod: &PodInfo, node: &NodeInfo) -> Status {
        let pl = VolumeBinding::new(Arc::new(lister));
        let mut st = CycleState::new();
        let (_, s) = pl.pre_filter(&mut st, pod, &Snapshot::default());
        if !s.is_success() {
            return s;
        }
        pl.filter(&st, pod, node)
    }

    #[test]
    fn claims_must_exist_and_be_bound() {
        let node = NodeInfo::new(NodeBuilder::new("n").build());
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        let s = run(StaticLister::default(), &pod, &node);
        assert_eq!(
            (s.code(), s.message().as_str()),
            (
                Code::UnschedulableAndUnresolvable,
                "persistentvolumeclaim \"data\" not found"
            )
        );
        let mut l = StaticLister::default();
        l.add_pvc(claim("data", None, None));
        let s = run(l, &pod, &node);
        assert_eq!(s.message(), ERR_REASON_UNBOUND_IMMEDIATE);
        let mut l = StaticLister::default();
        l.add_pvc(claim("data", Some("pv1"), None));
        let mut pv = PersistentVolume::default();
        pv.metadata.name = Some("pv1".into());
        l.add_pv(pv);
        assert!(run(l, &pod, &node).is_success());
        let nopvc = PodInfo::new(PodBuilder::new("q").build());
        assert!(
            VolumeBinding::new(Arc::new(StaticLister::default()))
                .pre_filter(&mut CycleState::new(), &nopvc, &Snapshot::default())
                .1
                .is_skip()
        );
    }

    #[test]
    fn bound_volume_node_affinity_must_match() {
        let mut l = StaticLister::default();
        l.add_pvc(claim("data", Some("pv1"), None));
        let mut pv = PersistentVolume::default();
        pv.metadata.name = Some("pv1".into());
        pv.spec = Some(PersistentVolumeSpec {
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "zone".into(),
                            operator: "In".into(),
                            values: Some(vec!["a".into()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            ..Default::default()
        });
        l.add_pv(pv);
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        let good = NodeInfo::new(NodeBuilder::new("a").label("zone", "a").build());
        let bad = NodeInfo::new(NodeBuilder::new("b").label("zone", "b").build());
        assert!(run(l.clone(), &pod, &good).is_success());
        assert_eq!(run(l, &pod, &bad).message(), ERR_REASON_NODE_CONFLICT);
    }

    #[test]
    fn wait_for_first_consumer_claims_pass_when_provisionable() {
        let mut l = StaticLister::default();
        l.add_pvc(claim("data", None, Some("local")));
        let mut sc = k8s_openapi::api::storage::v1::StorageClass::default();
        sc.metadata.name = Some("local".into());
        sc.provisioner = "rancher.io/local-path".into();
        sc.volume_binding_mode = Some("WaitForFirstConsumer".into());
        l.storage_classes.insert("local".into(), Arc::new(sc));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        let node = NodeInfo::new(NodeBuilder::new("n").build());
        assert!(run(l, &pod, &node).is_success());
    }

    fn local_class(
        provisioner: &str,
        zones: Option<Vec<&str>>,
    ) -> k8s_openapi::api::storage::v1::StorageClass {
        let mut sc = k8s_openapi::api::storage::v1::StorageClass::default();
        sc.metadata.name = Some("local".into());
        sc.provisioner = provisioner.into();
        sc.volume_binding_mode = Some("WaitForFirstConsumer".into());
        sc.allowed_topologies = zones.map(|z| {
            vec![k8s_openapi::api::core::v1::TopologySelectorTerm {
                match_label_expressions: Some(vec![
                    k8s_openapi::api::core::v1::TopologySelectorLabelRequirement {
                        key: "zone".into(),
                        values: z.into_iter().map(Into::into).collect(),
                    },
                ]),
            }]
        });
        sc
    }

    fn sized_claim(name: &str, size: &str) -> PersistentVolumeClaim {
        let mut c = claim(name, None, Some("local"));
        c.spec.as_mut().unwrap().resources =
            Some(k8s_openapi::api::core::v1::VolumeResourceRequirements {
                requests: Some(quantities(&[("storage", size)])),
                limits: None,
            });
        c
    }

    fn local_pv(name: &str, size: &str, host: &str) -> PersistentVolume {
        let mut pv = PersistentVolume::default();
        pv.metadata.name = Some(name.into());
        pv.spec = Some(PersistentVolumeSpec {
            storage_class_name: Some("local".into()),
            capacity: Some(quantities(&[("storage", size)])),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![host.into()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            ..Default::default()
        });
        pv
    }

    fn host(name: &str) -> NodeInfo {
        NodeInfo::new(
            NodeBuilder::new(name)
                .label("kubernetes.io/hostname", name)
                .label("zone", "a")
                .build(),
        )
    }

    #[test]
    fn static_local_volumes_pick_the_nodes_that_hold_them() {
        let mut l = StaticLister::default();
        l.storage_classes.insert(
            "local".into(),
            Arc::new(local_class("kubernetes.io/no-provisioner", None)),
        );
        l.add_pvc(sized_claim("data", "10Gi"));
        l.add_pv(local_pv("small-on-a", "5Gi", "a"));
        l.add_pv(local_pv("big-on-b", "20Gi", "b"));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        assert_eq!(
            run(l.clone(), &pod, &host("a")).message(),
            ERR_REASON_BIND_CONFLICT
        );
        assert!(run(l.clone(), &pod, &host("b")).is_success());
        assert_eq!(run(l, &pod, &host("c")).message(), ERR_REASON_BIND_CONFLICT);
    }

    #[test]
    fn two_claims_need_two_volumes() {
        let mut l = StaticLister::default();
        l.storage_classes.insert(
            "local".into(),
            Arc::new(local_class("kubernetes.io/no-provisioner", None)),
        );
        l.add_pvc(sized_claim("one", "1Gi"));
        l.add_pvc(sized_claim("two", "1Gi"));
        l.add_pv(local_pv("only", "5Gi", "a"));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("one").pvc("two").build());
        assert!(!run(l.clone(), &pod, &host("a")).is_success());
        l.add_pv(local_pv("second", "5Gi", "a"));
        assert!(run(l, &pod, &host("a")).is_success());
    }

    #[test]
    fn provisioning_honours_allowed_topologies() {
        let mut l = StaticLister::default();
        l.storage_classes.insert(
            "local".into(),
            Arc::new(local_class("csi.example.com", Some(vec!["b"]))),
        );
        l.add_pvc(sized_claim("data", "1Gi"));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        assert_eq!(
            run(l.clone(), &pod, &host("x")).message(),
            ERR_REASON_BIND_CONFLICT
        );
        let zone_b = NodeInfo::new(NodeBuilder::new("y").label("zone", "b").build());
        assert!(run(l, &pod, &zone_b).is_success());
    }
}
