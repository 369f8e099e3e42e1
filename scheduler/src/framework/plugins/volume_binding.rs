//! VolumeBinding: a pod's PersistentVolumeClaims must exist; immediate claims must
//! be bound first; bound volumes' node affinity must match the node. Once a node is
//! chosen, Reserve picks for each unbound `WaitForFirstConsumer` claim a matching
//! volume (assumed so no other pod takes it) or provisioning on that node; PreBind
//! writes the choice (the volume's `claimRef`, or the claim's
//! `volume.kubernetes.io/selected-node`) and the shell binds the pod only once the
//! persistent volume controller has bound every claim (upstream's
//! `BindPodVolumes` and `checkBindings`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::{Node, ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use parking_lot::Mutex;

use crate::cache::{NodeInfo, PodInfo, Snapshot, pod_namespace};
use crate::framework::{
    ActionType, ClusterEvent, ClusterLister, Code, CycleState, EventResource, FilterPlugin, Plugin,
    PreBindPlugin, PreBindWrite, PreFilterPlugin, PreFilterResult, ReservePlugin, Status,
    WrittenVersions, older_than_written,
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
const RESERVE_KEY: &str = "ReserveVolumeBinding";
/// On a claim: the node its first consumer was scheduled to (`AnnSelectedNode`).
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: the persistent volume controller completed its binding.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a volume: the binding was made by a controller (here, the scheduler).
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// Upstream's default `bindTimeoutSeconds`.
pub const DEFAULT_BIND_TIMEOUT_SECONDS: u64 = 600;

/// The plugin's `pluginConfig` arguments (upstream's `VolumeBindingArgs`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeBindingArgs {
    /// How long PreBind waits for the claims to be bound.
    #[serde(default = "default_bind_timeout")]
    pub bind_timeout_seconds: u64,
}

fn default_bind_timeout() -> u64 {
    DEFAULT_BIND_TIMEOUT_SECONDS
}

impl Default for VolumeBindingArgs {
    fn default() -> Self {
        Self {
            bind_timeout_seconds: DEFAULT_BIND_TIMEOUT_SECONDS,
        }
    }
}

/// What Reserve decided for the pod's unbound delayed claims on its node (upstream's
/// `PodVolumes`).
#[derive(Debug, Clone, Default)]
struct Decisions {
    /// The chosen node.
    node: Option<Arc<Node>>,
    /// Existing volumes to bind, with their claims.
    bindings: Vec<(Arc<PersistentVolume>, Arc<PersistentVolumeClaim>)>,
    /// Claims to provision on the node.
    provision: Vec<Arc<PersistentVolumeClaim>>,
}

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

/// For each delayed claim, a matching volume not taken by an earlier claim of the
/// pod, or provisioning on `node`; `None` when some claim has neither (upstream's
/// `FindPodVolumes` on one node).
fn choose_volumes(vols: &PodVolumes, node: &Node) -> Option<Decisions> {
    let mut decisions = Decisions::default();
    for d in &vols.delayed {
        let found = vols.candidates.iter().find(|pv| {
            !decisions
                .bindings
                .iter()
                .any(|(taken, _)| taken.metadata.name == pv.metadata.name)
                && pv_matches(pv, &d.claim, node)
        });
        match found {
            Some(pv) => decisions.bindings.push((pv.clone(), d.claim.clone())),
            None if can_provision(&d.class, node) => decisions.provision.push(d.claim.clone()),
            None => return None,
        }
    }
    Some(decisions)
}

/// The VolumeBinding plugin: PreFilter and Filter check, Reserve assumes volumes,
/// PreBind writes the bindings and says when the pod may be bound.
pub struct VolumeBinding {
    lister: Arc<dyn ClusterLister>,
    /// Volumes Reserve chose for pods still binding, by volume name: the pod's key
    /// (upstream's assume cache). Other pods do not see them as candidates.
    assumed: Mutex<HashMap<String, String>>,
    bind_timeout: Duration,
}

impl std::fmt::Debug for VolumeBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VolumeBinding")
    }
}

impl VolumeBinding {
    /// Builds the plugin over the claim/volume/class listers, with upstream's
    /// default arguments.
    pub fn new(lister: Arc<dyn ClusterLister>) -> Self {
        Self::with_args(lister, VolumeBindingArgs::default())
    }

    /// Builds the plugin with its `pluginConfig` arguments.
    pub fn with_args(lister: Arc<dyn ClusterLister>, args: VolumeBindingArgs) -> Self {
        VolumeBinding {
            lister,
            assumed: Mutex::new(HashMap::new()),
            bind_timeout: Duration::from_secs(args.bind_timeout_seconds),
        }
    }

    /// Whether another pod's Reserve holds the volume (assumptions on volumes the
    /// cache now shows claimed are dropped: the informer caught up).
    fn assumed_by_other(&self, pv: &PersistentVolume, pod_key: &str) -> bool {
        let name = pv.metadata.name.as_deref().unwrap_or("");
        let mut assumed = self.assumed.lock();
        if pv.spec.as_ref().is_some_and(|s| s.claim_ref.is_some()) {
            assumed.remove(name);
            return false;
        }
        assumed.get(name).is_some_and(|k| k != pod_key)
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
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        Some(self)
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
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
                .filter(|pv| !self.assumed_by_other(pv, &pod.key))
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
        if choose_volumes(vols, n).is_none() {
            reasons.push(ERR_REASON_BIND_CONFLICT.to_string());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(Code::UnschedulableAndUnresolvable, reasons)
        }
    }
}

impl ReservePlugin for VolumeBinding {
    /// Upstream's `AssumePodVolumes`: the volumes chosen for the pod's delayed
    /// claims on `node` are held for it; the claims to provision are noted.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(vols) = state.read::<PodVolumes>(PRE_FILTER_KEY) else {
            return Status::success();
        };
        let Some(n) = node.node() else {
            return Status::error("node not found");
        };
        let Some(mut decisions) = choose_volumes(vols, n) else {
            return Status::new(Code::Unschedulable, ERR_REASON_BIND_CONFLICT);
        };
        {
            let mut assumed = self.assumed.lock();
            let held = decisions.bindings.iter().find(|(pv, _)| {
                let name = pv.metadata.name.as_deref().unwrap_or("");
                assumed.get(name).is_some_and(|k| *k != pod.key)
            });
            if held.is_some() {
                return Status::new(Code::Unschedulable, ERR_REASON_BIND_CONFLICT);
            }
            for (pv, _) in &decisions.bindings {
                assumed.insert(
                    pv.metadata.name.clone().unwrap_or_default(),
                    pod.key.clone(),
                );
            }
        }
        decisions.node = Some(Arc::new(n.clone()));
        state.write(RESERVE_KEY, decisions);
        Status::success()
    }

    /// Upstream's `RevertAssumedPodVolumes`: the pod's volumes are free again.
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, _node: &str) {
        self.assumed.lock().retain(|_, k| *k != pod.key);
        if let Some(d) = state.read_mut::<Decisions>(RESERVE_KEY) {
            *d = Decisions::default();
        }
    }
}

/// The claim as a volume's `claimRef` names it.
fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn has_annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

/// Upstream's `isPVCFullyBound`: it names its volume and the controller completed
/// the binding.
fn fully_bound(claim: &PersistentVolumeClaim) -> bool {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty())
        && has_annotation(&claim.metadata, ANN_BIND_COMPLETED)
}

fn affinity_conflict(pv: &PersistentVolume, node: &Node) -> Option<Status> {
    let required = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())?;
    (!node_selector_matches(required, node)).then(|| {
        Status::error(format!(
            "pv {:?} node affinity doesn't match node {:?}: no matching NodeSelectorTerms",
            pv.metadata.name.as_deref().unwrap_or(""),
            node.metadata.name.as_deref().unwrap_or("")
        ))
    })
}

impl PreBindPlugin for VolumeBinding {
    /// Upstream's `bindAPIUpdate`: each chosen volume gets the claim in its
    /// `claimRef` (marked bound by a controller), each claim to provision gets
    /// the node.
    fn pre_bind(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &str,
    ) -> Result<Vec<PreBindWrite>, Status> {
        let Some(d) = state.read::<Decisions>(RESERVE_KEY) else {
            return Ok(Vec::new());
        };
        let mut writes = Vec::new();
        for (pv, claim) in &d.bindings {
            let mut bound = (**pv).clone();
            bound.spec.get_or_insert_with(Default::default).claim_ref =
                Some(claim_reference(claim));
            bound
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
            writes.push(PreBindWrite::UpdateVolume(Box::new(bound)));
        }
        for claim in &d.provision {
            writes.push(PreBindWrite::AnnotateClaim {
                namespace: claim.metadata.namespace.clone().unwrap_or_default(),
                name: claim.metadata.name.clone().unwrap_or_default(),
                key: ANN_SELECTED_NODE.into(),
                value: node.into(),
            });
        }
        Ok(writes)
    }

    /// Upstream's `checkBindings`: every chosen volume still names its claim and
    /// every claim is fully bound (a provisioned one on a volume reachable from the
    /// node); a claim whose selected node was reset or changed fails the binding.
    fn ready_to_bind(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &str,
        written: &WrittenVersions,
    ) -> Result<bool, Status> {
        let Some(d) = state.read::<Decisions>(RESERVE_KEY) else {
            return Ok(true);
        };
        let Some(n) = d.node.as_deref() else {
            return Ok(true);
        };
        let claim_now = |c: &PersistentVolumeClaim| {
            let (ns, name) = claim_key(c);
            self.lister.pvc(&ns, &name).ok_or_else(|| {
                Status::error(format!("failed to get pvc \"{ns}/{name}\" from cache"))
            })
        };
        for (pv, claim) in &d.bindings {
            let name = pv.metadata.name.as_deref().unwrap_or("");
            let Some(now) = self.lister.pv(name) else {
                return Err(Status::error(format!(
                    "failed to check binding: pv {name:?} not found"
                )));
            };
            if older_than_written(
                now.metadata.resource_version.as_deref(),
                written.get(&format!("pv/{name}")),
            ) {
                return Ok(false);
            }
            if let Some(conflict) = affinity_conflict(&now, n) {
                return Err(conflict);
            }
            let claim_ref = now.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
            if claim_ref.is_none_or(|r| r.uid.as_deref().unwrap_or("").is_empty()) {
                return Err(Status::error(format!("ClaimRef got reset for pv {name:?}")));
            }
            if !fully_bound(&*claim_now(claim)?) {
                return Ok(false);
            }
        }
        for claim in &d.provision {
            let now = claim_now(claim)?;
            let (ns, name) = claim_key(claim);
            if older_than_written(
                now.metadata.resource_version.as_deref(),
                written.get(&format!("pvc/{ns}/{name}")),
            ) {
                return Ok(false);
            }
            let selected = now
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANN_SELECTED_NODE));
            match selected {
                None => {
                    return Err(Status::error(format!(
                        "selectedNode annotation reset for PVC {name:?}"
                    )));
                }
                Some(s) if s != node => {
                    return Err(Status::error(format!(
                        "selectedNode annotation value {s:?} not set to scheduled node {node:?}"
                    )));
                }
                Some(_) => {}
            }
            let volume = now
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .filter(|v| !v.is_empty());
            if let Some(volume) = volume {
                // A volume not in the cache yet is looked at next time.
                let Some(pv) = self.lister.pv(volume) else {
                    return Ok(false);
                };
                if let Some(conflict) = affinity_conflict(&pv, n) {
                    return Err(conflict);
                }
            }
            if !fully_bound(&now) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn bind_timeout(&self) -> Duration {
        self.bind_timeout
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
        let mut l = static_lister();
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

    /// A plugin over `l` with the pod's PreFilter run, and Reserve on `node`.
    fn reserved(pl: &VolumeBinding, pod: &PodInfo, node: &NodeInfo) -> (CycleState, Status) {
        let mut st = CycleState::new();
        let (_, s) = pl.pre_filter(&mut st, pod, &Snapshot::default());
        assert!(s.is_success(), "{s}");
        let r = pl.reserve(&mut st, pod, node);
        (st, r)
    }

    /// Claims `one` and `two` of a class without a provisioner, one volume on `a`.
    fn static_lister() -> StaticLister {
        let mut l = StaticLister::default();
        l.storage_classes.insert(
            "local".into(),
            Arc::new(local_class("kubernetes.io/no-provisioner", None)),
        );
        l.add_pvc(sized_claim("one", "1Gi"));
        l.add_pvc(sized_claim("two", "1Gi"));
        l.add_pv(local_pv("only", "5Gi", "a"));
        l
    }

    #[test]
    fn a_reserved_volume_is_not_offered_to_another_pod_until_unreserved() {
        let pl = VolumeBinding::new(Arc::new(static_lister()));
        let first = PodInfo::new(PodBuilder::new("p1").pvc("one").build());
        let second = PodInfo::new(PodBuilder::new("p2").pvc("two").build());
        let (mut st, r) = reserved(&pl, &first, &host("a"));
        assert!(r.is_success(), "{r}");
        let mut other = CycleState::new();
        pl.pre_filter(&mut other, &second, &Snapshot::default());
        assert_eq!(
            pl.filter(&other, &second, &host("a")).message(),
            ERR_REASON_BIND_CONFLICT,
            "the only volume is held for p1"
        );
        pl.unreserve(&mut st, &first, "a");
        let mut again = CycleState::new();
        pl.pre_filter(&mut again, &second, &Snapshot::default());
        assert!(pl.filter(&again, &second, &host("a")).is_success());
    }

    #[test]
    fn pre_bind_writes_the_volume_choice_and_the_selected_node() {
        let mut l = static_lister();
        l.storage_classes.insert(
            "wffc".into(),
            Arc::new({
                let mut c = local_class("rancher.io/local-path", None);
                c.metadata.name = Some("wffc".into());
                c
            }),
        );
        let mut dynamic = sized_claim("scratch", "1Gi");
        dynamic.spec.as_mut().unwrap().storage_class_name = Some("wffc".into());
        l.add_pvc(dynamic);
        let pl = VolumeBinding::new(Arc::new(l));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("one").pvc("scratch").build());
        let (st, r) = reserved(&pl, &pod, &host("a"));
        assert!(r.is_success(), "{r}");
        let writes = pl.pre_bind(&st, &pod, "a").unwrap();
        assert_eq!(writes.len(), 2);
        let PreBindWrite::UpdateVolume(pv) = &writes[0] else {
            panic!("{:?}", writes[0]);
        };
        let r = pv.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref()),
            (Some("default"), Some("one"))
        );
        assert_eq!(
            pv.metadata.annotations.as_ref().unwrap()[ANN_BOUND_BY_CONTROLLER],
            "yes"
        );
        assert_eq!(
            writes[1],
            PreBindWrite::AnnotateClaim {
                namespace: "default".into(),
                name: "scratch".into(),
                key: ANN_SELECTED_NODE.into(),
                value: "a".into(),
            }
        );
        assert_eq!(writes[1].object(), "pvc/default/scratch");
        let none = PodInfo::new(PodBuilder::new("q").build());
        assert!(
            pl.pre_bind(&CycleState::new(), &none, "a")
                .unwrap()
                .is_empty()
        );
    }

    /// A WaitForFirstConsumer claim of a provisioner, reserved on node `a`.
    fn provisioning() -> (StaticLister, CycleState, PodInfo) {
        let mut l = StaticLister::default();
        l.storage_classes.insert(
            "local".into(),
            Arc::new(local_class("rancher.io/local-path", None)),
        );
        l.add_pvc(sized_claim("data", "1Gi"));
        let pl = VolumeBinding::new(Arc::new(l.clone()));
        let pod = PodInfo::new(PodBuilder::new("p").pvc("data").build());
        let (st, r) = reserved(&pl, &pod, &host("a"));
        assert!(r.is_success(), "{r}");
        (l, st, pod)
    }

    fn check(
        l: StaticLister,
        st: &CycleState,
        pod: &PodInfo,
        written: &str,
    ) -> Result<bool, Status> {
        let pl = VolumeBinding::new(Arc::new(l));
        let written: WrittenVersions =
            [("pvc/default/data".to_string(), written.to_string())].into();
        pl.ready_to_bind(st, pod, "a", &written)
    }

    fn claim_as(
        l: &mut StaticLister,
        rv: &str,
        node: Option<&str>,
        volume: Option<&str>,
        completed: bool,
    ) {
        let mut c = sized_claim("data", "1Gi");
        c.metadata.resource_version = Some(rv.into());
        let mut ann = std::collections::BTreeMap::new();
        if let Some(n) = node {
            ann.insert(ANN_SELECTED_NODE.to_string(), n.to_string());
        }
        if completed {
            ann.insert(ANN_BIND_COMPLETED.to_string(), "yes".to_string());
        }
        c.metadata.annotations = Some(ann);
        c.spec.as_mut().unwrap().volume_name = volume.map(Into::into);
        l.add_pvc(c);
    }

    #[test]
    fn the_pod_waits_until_its_provisioned_claim_is_bound_on_its_node() {
        let (mut l, st, pod) = provisioning();
        claim_as(&mut l, "4", None, None, false);
        assert_eq!(
            check(l.clone(), &st, &pod, "5"),
            Ok(false),
            "the cache has not seen the annotation yet"
        );
        let err = check(l.clone(), &st, &pod, "4").unwrap_err();
        assert_eq!(
            err.message(),
            "selectedNode annotation reset for PVC \"data\""
        );
        claim_as(&mut l, "6", Some("b"), None, false);
        let err = check(l.clone(), &st, &pod, "5").unwrap_err();
        assert_eq!(
            err.message(),
            "selectedNode annotation value \"b\" not set to scheduled node \"a\""
        );
        claim_as(&mut l, "6", Some("a"), None, false);
        assert_eq!(
            check(l.clone(), &st, &pod, "5"),
            Ok(false),
            "not provisioned yet"
        );
        claim_as(&mut l, "7", Some("a"), Some("pv-a"), true);
        assert_eq!(
            check(l.clone(), &st, &pod, "5"),
            Ok(false),
            "its volume is not in the cache yet"
        );
        l.add_pv(local_pv("pv-a", "1Gi", "a"));
        assert_eq!(check(l.clone(), &st, &pod, "5"), Ok(true));
        l.add_pv(local_pv("pv-a", "1Gi", "b"));
        assert!(
            check(l, &st, &pod, "5").is_err(),
            "a volume on another node"
        );
    }

    #[test]
    fn the_arguments_set_the_bind_timeout() {
        let pl = crate::framework::plugins::new_plugin(
            NAME,
            Some(&serde_json::json!({"bindTimeoutSeconds": 30})),
            Arc::new(StaticLister::default()),
        )
        .unwrap();
        assert_eq!(
            pl.as_pre_bind().unwrap().bind_timeout(),
            Duration::from_secs(30)
        );
        assert_eq!(
            VolumeBinding::new(Arc::new(StaticLister::default())).bind_timeout(),
            Duration::from_secs(600)
        );
    }
}
