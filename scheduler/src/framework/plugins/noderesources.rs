//! NodeResourcesFit (filter on requests vs allocatable, score by a strategy) and
//! NodeResourcesBalancedAllocation (score by balance of cpu and memory use).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};
use crate::resource::{CPU, EPHEMERAL_STORAGE, MEMORY, Resource, is_extended_resource_name};

/// NodeResourcesFit plugin name.
pub const FIT_NAME: &str = "NodeResourcesFit";
/// NodeResourcesBalancedAllocation plugin name.
pub const BALANCED_NAME: &str = "NodeResourcesBalancedAllocation";
const FIT_PRE_FILTER_KEY: &str = "PreFilterNodeResourcesFit";
const FIT_PRE_SCORE_KEY: &str = "PreScoreNodeResourcesFit";
const BALANCED_PRE_SCORE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";
/// Maximum score of a RequestedToCapacityRatio shape point.
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
const MAX_UTILIZATION: i64 = 100;

/// A resource and its weight in scoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Resource name.
    pub name: String,
    /// Weight (defaults to 1).
    #[serde(default)]
    pub weight: i64,
}

/// How NodeResourcesFit scores nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ScoringStrategyType {
    /// Prefer nodes with the most free resources (the default).
    #[default]
    LeastAllocated,
    /// Prefer nodes with the least free resources (bin packing).
    MostAllocated,
    /// A custom utilisation → score shape.
    RequestedToCapacityRatio,
}

/// One point of a RequestedToCapacityRatio shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UtilizationShapePoint {
    /// Utilisation in percent (0–100).
    pub utilization: i32,
    /// Score (0–10).
    pub score: i32,
}

/// Arguments of the RequestedToCapacityRatio strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestedToCapacityRatioParam {
    /// The shape, by increasing utilisation.
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

/// NodeResourcesFit's scoring strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    /// The strategy.
    #[serde(rename = "type", default)]
    pub type_: ScoringStrategyType,
    /// Resources and weights (default cpu 1, memory 1).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// Shape for RequestedToCapacityRatio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

/// The default resources and weights (`cpu: 1`, `memory: 1`).
pub fn default_resource_specs() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: CPU.into(),
            weight: 1,
        },
        ResourceSpec {
            name: MEMORY.into(),
            weight: 1,
        },
    ]
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            type_: ScoringStrategyType::LeastAllocated,
            resources: default_resource_specs(),
            requested_to_capacity_ratio: None,
        }
    }
}

/// `NodeResourcesFitArgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeResourcesFitArgs {
    /// Extended resources the filter ignores.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (prefix before `/`) the filter ignores.
    #[serde(default)]
    pub ignored_resource_groups: Vec<String>,
    /// The scoring strategy.
    #[serde(default)]
    pub scoring_strategy: Option<ScoringStrategy>,
}

/// `NodeResourcesBalancedAllocationArgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResourcesBalancedAllocationArgs {
    /// Resources considered (default cpu and memory).
    #[serde(default = "default_resource_specs")]
    pub resources: Vec<ResourceSpec>,
}

impl Default for NodeResourcesBalancedAllocationArgs {
    fn default() -> Self {
        NodeResourcesBalancedAllocationArgs {
            resources: default_resource_specs(),
        }
    }
}

/// A scored resource, resolved once from its name so scoring a node does no
/// string matching.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ResourceKind {
    Cpu,
    Memory,
    EphemeralStorage,
    Scalar(String),
}

impl ResourceKind {
    fn of(name: &str) -> Self {
        match name {
            CPU => ResourceKind::Cpu,
            MEMORY => ResourceKind::Memory,
            EPHEMERAL_STORAGE => ResourceKind::EphemeralStorage,
            other => ResourceKind::Scalar(other.to_string()),
        }
    }
}

/// Scored resources: kinds and weights, in configuration order.
fn resource_kinds(specs: &[ResourceSpec]) -> Vec<(ResourceKind, i64)> {
    specs
        .iter()
        .map(|s| (ResourceKind::of(&s.name), s.weight))
        .collect()
}

/// Most profiles score two resources (cpu, memory): per-node scratch arrays of
/// this size live on the stack.
const INLINE_RESOURCES: usize = 8;

fn normalize_specs(mut specs: Vec<ResourceSpec>) -> Vec<ResourceSpec> {
    if specs.is_empty() {
        specs = default_resource_specs();
    }
    for s in &mut specs {
        if s.weight == 0 {
            s.weight = 1;
        }
    }
    specs
}

/// A pod's request of each scored resource (non-zero defaults unless `use_requested`).
fn pod_request_list(pod: &PodInfo, specs: &[ResourceSpec], use_requested: bool) -> Vec<i64> {
    specs
        .iter()
        .map(|s| match s.name.as_str() {
            CPU if !use_requested => pod.non_zero_requests.milli_cpu,
            MEMORY if !use_requested => pod.non_zero_requests.memory,
            other => pod.requests.get(other),
        })
        .collect()
}

/// (allocatable, requested-with-pod) for a resource on a node, as upstream's
/// `calculateResourceAllocatableRequest`.
fn allocatable_and_requested(
    node: &NodeInfo,
    kind: &ResourceKind,
    pod_request: i64,
    use_requested: bool,
) -> (i64, i64) {
    let requested = if use_requested {
        node.requested()
    } else {
        node.non_zero_requested()
    };
    match kind {
        ResourceKind::Cpu => (
            node.allocatable().milli_cpu,
            requested.milli_cpu + pod_request,
        ),
        ResourceKind::Memory => (node.allocatable().memory, requested.memory + pod_request),
        ResourceKind::EphemeralStorage => (
            node.allocatable().ephemeral_storage,
            node.requested().ephemeral_storage + pod_request,
        ),
        ResourceKind::Scalar(name) => {
            if pod_request == 0 {
                return (0, 0);
            }
            (
                node.allocatable().scalar(name),
                node.requested().scalar(name) + pod_request,
            )
        }
    }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, (u, s)) in shape.iter().enumerate() {
        if p <= *u {
            if i == 0 {
                return *s;
            }
            let (pu, ps) = shape[i - 1];
            return ps + (s - ps) * (p - pu) / (u - pu);
        }
    }
    shape.last().map(|(_, s)| *s).unwrap_or(0)
}

/// Insufficient resource found by the fit check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// Resource name.
    pub resource: String,
    /// Reason, e.g. `Insufficient cpu`.
    pub reason: String,
    /// Whether even an empty node could not hold the pod (preemption won't help).
    pub unresolvable: bool,
}

/// The NodeResourcesFit filter and scorer.
#[derive(Debug, Clone)]
pub struct NodeResourcesFit {
    ignored_resources: BTreeSet<String>,
    ignored_groups: BTreeSet<String>,
    strategy: ScoringStrategyType,
    resources: Vec<ResourceSpec>,
    kinds: Vec<(ResourceKind, i64)>,
    shape: Vec<(i64, i64)>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        Self::new(NodeResourcesFitArgs::default())
    }
}

impl NodeResourcesFit {
    /// Builds the plugin from its arguments.
    pub fn new(args: NodeResourcesFitArgs) -> Self {
        let strategy = args.scoring_strategy.unwrap_or_default();
        let shape = strategy
            .requested_to_capacity_ratio
            .as_ref()
            .map(|r| {
                r.shape
                    .iter()
                    .map(|p| {
                        (
                            p.utilization as i64,
                            p.score as i64 * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let resources = normalize_specs(strategy.resources);
        NodeResourcesFit {
            ignored_resources: args.ignored_resources.into_iter().collect(),
            ignored_groups: args.ignored_resource_groups.into_iter().collect(),
            strategy: strategy.type_,
            kinds: resource_kinds(&resources),
            resources,
            shape,
        }
    }

    /// Whether `request` fits on `node` with nothing to report: the pod count and
    /// cpu, memory and ephemeral storage have room and no extended resource is
    /// requested. `false` means [`NodeResourcesFit::fits_request`] decides.
    fn fits_without_scalars(request: &Resource, node: &NodeInfo) -> bool {
        let alloc = node.allocatable();
        let used = node.requested();
        let room = |want: i64, cap: i64, in_use: i64| want <= 0 || want <= cap - in_use;
        (node.pods().len() as i64) < alloc.allowed_pod_number
            && request.scalar.is_empty()
            && room(request.milli_cpu, alloc.milli_cpu, used.milli_cpu)
            && room(request.memory, alloc.memory, used.memory)
            && room(
                request.ephemeral_storage,
                alloc.ephemeral_storage,
                used.ephemeral_storage,
            )
    }

    /// Which resources of `request` do not fit on `node` (upstream `fitsRequest`).
    pub fn fits_request(&self, request: &Resource, node: &NodeInfo) -> Vec<InsufficientResource> {
        let mut out = Vec::new();
        let alloc = node.allocatable();
        let used = node.requested();
        if node.pods().len() as i64 + 1 > alloc.allowed_pod_number {
            out.push(InsufficientResource {
                resource: "pods".into(),
                reason: "Too many pods".into(),
                unresolvable: false,
            });
        }
        if request.milli_cpu == 0
            && request.memory == 0
            && request.ephemeral_storage == 0
            && request.scalar.values().all(|v| *v == 0)
        {
            return out;
        }
        let mut check = |name: &str, want: i64, cap: i64, in_use: i64| {
            if want > 0 && want > cap - in_use {
                out.push(InsufficientResource {
                    resource: name.into(),
                    reason: format!("Insufficient {name}"),
                    unresolvable: want > cap,
                });
            }
        };
        check(CPU, request.milli_cpu, alloc.milli_cpu, used.milli_cpu);
        check(MEMORY, request.memory, alloc.memory, used.memory);
        check(
            EPHEMERAL_STORAGE,
            request.ephemeral_storage,
            alloc.ephemeral_storage,
            used.ephemeral_storage,
        );
        for (name, want) in &request.scalar {
            if *want == 0 {
                continue;
            }
            if is_extended_resource_name(name) {
                let group = name.split('/').next().unwrap_or("");
                if self.ignored_resources.contains(name) || self.ignored_groups.contains(group) {
                    continue;
                }
            }
            check(name, *want, alloc.scalar(name), used.scalar(name));
        }
        out
    }

    /// The node's score from the pod's requests of the scored resources (upstream
    /// `resourceAllocationScorer.score` with the strategy's scorer); resources the
    /// node has none of are left out.
    fn score_node(&self, reqs: &[i64], node: &NodeInfo) -> i64 {
        let mut node_score = 0i64;
        let mut weight_sum = 0i64;
        for ((kind, weight), req) in self.kinds.iter().zip(reqs) {
            let (allocatable, requested) = allocatable_and_requested(node, kind, *req, false);
            if allocatable == 0 {
                continue;
            }
            let s = match self.strategy {
                ScoringStrategyType::LeastAllocated => {
                    least_requested_score(requested, allocatable)
                }
                ScoringStrategyType::MostAllocated => most_requested_score(requested, allocatable),
                ScoringStrategyType::RequestedToCapacityRatio => {
                    let util = if requested > allocatable {
                        MAX_UTILIZATION
                    } else {
                        requested * MAX_UTILIZATION / allocatable
                    };
                    let s = broken_linear(&self.shape, util);
                    if s <= 0 {
                        continue;
                    }
                    s
                }
            };
            node_score += s * weight;
            weight_sum += weight;
        }
        if weight_sum == 0 {
            return 0;
        }
        if self.strategy == ScoringStrategyType::RequestedToCapacityRatio {
            ((node_score as f64) / (weight_sum as f64)).round() as i64
        } else {
            node_score / weight_sum
        }
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        FIT_NAME
    }
    /// Reads the pod's requests and the node's allocatable and requested resources.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::DELETE | ActionType::UPDATE_POD_SCALE_DOWN,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
            ),
            ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_SCALE_DOWN,
            ),
        ]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodeResourcesFit {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        state.write(FIT_PRE_FILTER_KEY, pod.requests.clone());
        (None, Status::success())
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let request = state
            .read::<Resource>(FIT_PRE_FILTER_KEY)
            .unwrap_or(&pod.requests);
        if Self::fits_without_scalars(request, node) {
            return Status::success();
        }
        let insufficient = self.fits_request(request, node);
        if insufficient.is_empty() {
            return Status::success();
        }
        let code = if insufficient.iter().any(|i| i.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::with_reasons(code, insufficient.into_iter().map(|i| i.reason).collect())
    }
}

impl PreScorePlugin for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
    ) -> Status {
        state.write(
            FIT_PRE_SCORE_KEY,
            pod_request_list(pod, &self.resources, false),
        );
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let owned;
        let reqs = match state.read::<Vec<i64>>(FIT_PRE_SCORE_KEY) {
            Some(r) => r,
            None => {
                owned = pod_request_list(pod, &self.resources, false);
                &owned
            }
        };
        Ok(self.score_node(reqs, node))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
        out: &mut [NodeScore],
    ) -> Result<(), Status> {
        let owned;
        let reqs = match state.read::<Vec<i64>>(FIT_PRE_SCORE_KEY) {
            Some(r) => r,
            None => {
                owned = pod_request_list(pod, &self.resources, false);
                &owned
            }
        };
        for (slot, node) in out.iter_mut().zip(nodes) {
            slot.score = self.score_node(reqs, node);
        }
        Ok(())
    }
}

/// The NodeResourcesBalancedAllocation scorer.
#[derive(Debug, Clone)]
pub struct BalancedAllocation {
    resources: Vec<ResourceSpec>,
    kinds: Vec<(ResourceKind, i64)>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        Self::new(NodeResourcesBalancedAllocationArgs::default())
    }
}

impl BalancedAllocation {
    /// Builds the plugin from its arguments.
    pub fn new(args: NodeResourcesBalancedAllocationArgs) -> Self {
        let resources = normalize_specs(args.resources);
        BalancedAllocation {
            kinds: resource_kinds(&resources),
            resources,
        }
    }
}

/// `1 - std(fractions)` scaled to 100, as upstream's `balancedResourceScorer`,
/// over the used fractions of the resources the node has.
fn balanced_score(fractions: &[f64]) -> i64 {
    let std = match fractions.len() {
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n if n > 2 => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64)
                .sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl BalancedAllocation {
    /// The node's balance score with the pod's requests of the scored resources.
    fn score_node(&self, reqs: &[i64], node: &NodeInfo) -> i64 {
        let fraction = |(kind, req): (&(ResourceKind, i64), &i64)| {
            let (a, r) = allocatable_and_requested(node, &kind.0, *req, true);
            (a != 0).then(|| (r as f64 / a as f64).min(1.0))
        };
        if self.kinds.len() <= INLINE_RESOURCES {
            let mut buf = [0f64; INLINE_RESOURCES];
            let mut n = 0;
            for f in self.kinds.iter().zip(reqs).filter_map(fraction) {
                buf[n] = f;
                n += 1;
            }
            balanced_score(&buf[..n])
        } else {
            let fractions: Vec<f64> = self.kinds.iter().zip(reqs).filter_map(fraction).collect();
            balanced_score(&fractions)
        }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        BALANCED_NAME
    }
    /// Reads the pod's requests and the node's allocatable and requested resources.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::DELETE | ActionType::UPDATE_POD_SCALE_DOWN,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
            ),
        ]
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
    ) -> Status {
        let reqs = pod_request_list(pod, &self.resources, true);
        // Best-effort pods are not scored, so they do not pile onto one node
        // (kubernetes#129138).
        if reqs.iter().all(|r| *r == 0) {
            return Status::code_only(Code::Skip);
        }
        state.write(BALANCED_PRE_SCORE_KEY, reqs);
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let owned;
        let reqs = match state.read::<Vec<i64>>(BALANCED_PRE_SCORE_KEY) {
            Some(r) => r,
            None => {
                owned = pod_request_list(pod, &self.resources, true);
                &owned
            }
        };
        Ok(self.score_node(reqs, node))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
        out: &mut [NodeScore],
    ) -> Result<(), Status> {
        let owned;
        let reqs = match state.read::<Vec<i64>>(BALANCED_PRE_SCORE_KEY) {
            Some(r) => r,
            None => {
                owned = pod_request_list(pod, &self.resources, true);
                &owned
            }
        };
        for (slot, node) in out.iter_mut().zip(nodes) {
            slot.score = self.score_node(reqs, node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn node(cpu: &str, mem: &str, pods: i64, existing: &[(&str, &str)]) -> NodeInfo {
        let mut ni = NodeInfo::new(
            NodeBuilder::new("n")
                .capacity(cpu, mem, pods)
                .scalar("example.com/gpu", "2")
                .build(),
        );
        for (i, (c, m)) in existing.iter().enumerate() {
            ni.add_pod(Arc::new(PodInfo::new(
                PodBuilder::new(&format!("e{i}"))
                    .container(&[("cpu", c), ("memory", m)])
                    .build(),
            )));
        }
        ni
    }

    fn filter(pod: &PodInfo, node: &NodeInfo) -> Status {
        let fit = NodeResourcesFit::default();
        let mut st = CycleState::new();
        fit.pre_filter(&mut st, pod, &Snapshot::default());
        fit.filter(&st, pod, node)
    }

    #[test]
    fn fit_reports_every_insufficient_resource() {
        let n = node("2", "4Gi", 110, &[("1500m", "3Gi")]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "1"), ("memory", "2Gi")])
                .build(),
        );
        let st = filter(&pod, &n);
        assert_eq!(st.code(), Code::Unschedulable);
        assert_eq!(st.reasons(), ["Insufficient cpu", "Insufficient memory"]);
        let small = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "500m"), ("memory", "1Gi")])
                .build(),
        );
        assert!(filter(&small, &n).is_success());
    }

    #[test]
    fn requests_larger_than_the_node_are_unresolvable() {
        let n = node("2", "4Gi", 110, &[]);
        let pod = PodInfo::new(PodBuilder::new("p").container(&[("cpu", "3")]).build());
        let st = filter(&pod, &n);
        assert_eq!(
            (st.code(), st.message().as_str()),
            (Code::UnschedulableAndUnresolvable, "Insufficient cpu")
        );
    }

    #[test]
    fn pod_count_and_extended_resources() {
        let n = node("2", "4Gi", 1, &[("100m", "1Mi")]);
        let pod = PodInfo::new(PodBuilder::new("p").container(&[]).build());
        assert_eq!(filter(&pod, &n).reasons(), ["Too many pods"]);
        let n = node("2", "4Gi", 10, &[]);
        let gpu = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("example.com/gpu", "3")])
                .build(),
        );
        assert_eq!(filter(&gpu, &n).reasons(), ["Insufficient example.com/gpu"]);
        let other = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("example.com/fpga", "1")])
                .build(),
        );
        assert_eq!(
            filter(&other, &n).reasons(),
            ["Insufficient example.com/fpga"]
        );
        let fit = NodeResourcesFit::new(NodeResourcesFitArgs {
            ignored_resource_groups: vec!["example.com".into()],
            ..Default::default()
        });
        assert!(fit.fits_request(&other.requests, &n).is_empty());
    }

    #[test]
    fn init_containers_count_at_their_max() {
        let n = node("2", "4Gi", 10, &[]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .init_container(&[("cpu", "3")])
                .container(&[("cpu", "1")])
                .build(),
        );
        assert!(!filter(&pod, &n).is_success());
    }

    fn score(fit: &NodeResourcesFit, pod: &PodInfo, n: &NodeInfo) -> i64 {
        let mut st = CycleState::new();
        fit.pre_score(&mut st, pod, &[], &Snapshot::default());
        fit.score(&st, pod, n, &Snapshot::default()).unwrap()
    }

    #[test]
    fn least_and_most_allocated_scores_match_upstream_examples() {
        // Upstream least_allocated_test: node 4000m/10000, pod 3000m/5000 on an
        // empty node: cpu (4000-3000)*100/4000=25, memory (10000-5000)*100/10000=50 → 37.
        let mut n = NodeInfo::new(NodeBuilder::new("n").capacity("4", "10000", 110).build());
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "3"), ("memory", "5000")])
                .build(),
        );
        assert_eq!(score(&NodeResourcesFit::default(), &pod, &n), 37);
        let most = NodeResourcesFit::new(NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                type_: ScoringStrategyType::MostAllocated,
                ..Default::default()
            }),
            ..Default::default()
        });
        // cpu 75, memory 50 → 62.
        assert_eq!(score(&most, &pod, &n), 62);
        // Pods without requests count the non-zero defaults (100m, 200Mi).
        n.add_pod(Arc::new(PodInfo::new(
            PodBuilder::new("e").container(&[]).build(),
        )));
        let besteffort = PodInfo::new(PodBuilder::new("q").container(&[]).build());
        let mem = 10000i64;
        let expected_cpu = (4000 - 200) * 100 / 4000;
        let expected_mem = least_requested_score(2 * crate::resource::DEFAULT_MEMORY_REQUEST, mem);
        assert_eq!(
            score(&NodeResourcesFit::default(), &besteffort, &n),
            (expected_cpu + expected_mem) / 2
        );
    }

    #[test]
    fn weights_change_the_mix() {
        let n = NodeInfo::new(NodeBuilder::new("n").capacity("4", "10000", 110).build());
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "3"), ("memory", "5000")])
                .build(),
        );
        let fit = NodeResourcesFit::new(NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                type_: ScoringStrategyType::LeastAllocated,
                resources: vec![
                    ResourceSpec {
                        name: "cpu".into(),
                        weight: 3,
                    },
                    ResourceSpec {
                        name: "memory".into(),
                        weight: 1,
                    },
                ],
                requested_to_capacity_ratio: None,
            }),
            ..Default::default()
        });
        assert_eq!(score(&fit, &pod, &n), (25 * 3 + 50) / 4);
    }

    #[test]
    fn requested_to_capacity_ratio_follows_the_shape() {
        let n = NodeInfo::new(NodeBuilder::new("n").capacity("4", "10000", 110).build());
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "2"), ("memory", "5000")])
                .build(),
        );
        let fit = NodeResourcesFit::new(NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                type_: ScoringStrategyType::RequestedToCapacityRatio,
                resources: default_resource_specs(),
                requested_to_capacity_ratio: Some(RequestedToCapacityRatioParam {
                    shape: vec![
                        UtilizationShapePoint {
                            utilization: 0,
                            score: 0,
                        },
                        UtilizationShapePoint {
                            utilization: 100,
                            score: 10,
                        },
                    ],
                }),
            }),
            ..Default::default()
        });
        assert_eq!(score(&fit, &pod, &n), 50);
    }

    #[test]
    fn balanced_allocation_prefers_even_use() {
        let ba = BalancedAllocation::default();
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("cpu", "1"), ("memory", "1Gi")])
                .build(),
        );
        let even = NodeInfo::new(NodeBuilder::new("even").capacity("4", "4Gi", 110).build());
        let skewed = NodeInfo::new(NodeBuilder::new("skewed").capacity("2", "8Gi", 110).build());
        let mut st = CycleState::new();
        assert!(
            ba.pre_score(&mut st, &pod, &[], &Snapshot::default())
                .is_success()
        );
        assert_eq!(
            ba.score(&st, &pod, &even, &Snapshot::default()).unwrap(),
            100
        );
        // fractions 0.5 and 0.125: std 0.1875 → 81.
        assert_eq!(
            ba.score(&st, &pod, &skewed, &Snapshot::default()).unwrap(),
            81
        );
        let besteffort = PodInfo::new(PodBuilder::new("q").container(&[]).build());
        assert!(
            ba.pre_score(
                &mut CycleState::new(),
                &besteffort,
                &[],
                &Snapshot::default()
            )
            .is_skip()
        );
    }

    #[test]
    fn ephemeral_storage_and_sidecars_count_in_the_fit() {
        let n = NodeInfo::new(NodeBuilder::new("n").build()); // 100Gi ephemeral-storage
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .container(&[("ephemeral-storage", "101Gi")])
                .build(),
        );
        assert_eq!(
            filter(&pod, &n).reasons(),
            ["Insufficient ephemeral-storage"]
        );
        let n = node("2", "4Gi", 10, &[]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .sidecar(&[("cpu", "1")])
                .container(&[("cpu", "1500m")])
                .build(),
        );
        assert_eq!(filter(&pod, &n).reasons(), ["Insufficient cpu"]);
    }
}
