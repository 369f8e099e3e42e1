//! The scheduling framework: statuses, cycle state, plugin traits, cluster events
//! and the [`Framework`] that runs a profile's plugins (upstream
//! `pkg/scheduler/framework`).

pub mod events;
pub mod lister;
pub mod plugins;
mod runtime;

pub use events::{ActionType, ClusterEvent, EventResource};
pub use lister::{ClusterLister, StaticLister};
pub use runtime::{Framework, FrameworkError, NodePluginScores, PluginScore, pre_bind_failure};

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::cache::{NodeInfo, PodInfo, Snapshot};

/// Highest score a score plugin may give after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;
/// Lowest score a score plugin may give after normalisation.
pub const MIN_NODE_SCORE: i64 = 0;

/// Outcome class of a plugin call (upstream `framework.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The plugin ran and the pod may go on.
    Success,
    /// An internal error.
    Error,
    /// The pod does not fit, but preemption might help.
    Unschedulable,
    /// The pod does not fit and preemption would not help.
    UnschedulableAndUnresolvable,
    /// A permit plugin asks to wait.
    Wait,
    /// The plugin has nothing to do for this pod (PreFilter/PreScore).
    Skip,
    /// The pod waits for something outside the scheduler.
    Pending,
}

/// A status's reasons. Filters reject many nodes per cycle, mostly with one fixed
/// reason: that case needs no allocation.
#[derive(Debug, Clone)]
enum Reasons {
    One([Cow<'static, str>; 1]),
    Many(Vec<Cow<'static, str>>),
}

impl PartialEq for Reasons {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Reasons {}

impl Reasons {
    fn as_slice(&self) -> &[Cow<'static, str>] {
        match self {
            Reasons::One(one) => one,
            Reasons::Many(many) => many,
        }
    }
}

/// A plugin call's result: code, reasons and the plugin that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Reasons,
    plugin: Option<&'static str>,
}

impl Default for Status {
    fn default() -> Self {
        Status::success()
    }
}

impl Status {
    /// A success.
    pub const fn success() -> Self {
        Status::code_only(Code::Success)
    }

    /// A status with one reason (a `&'static str` reason is not copied).
    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Self {
        Status {
            code,
            reasons: Reasons::One([reason.into()]),
            plugin: None,
        }
    }

    /// A status with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<String>) -> Self {
        Status {
            code,
            reasons: Reasons::Many(reasons.into_iter().map(Cow::Owned).collect()),
            plugin: None,
        }
    }

    /// A status with a code and no reason.
    pub const fn code_only(code: Code) -> Self {
        Status {
            code,
            reasons: Reasons::Many(Vec::new()),
            plugin: None,
        }
    }

    /// An internal error.
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Self {
        Status::new(Code::Error, msg)
    }

    /// Sets the plugin that produced the status.
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = Some(plugin);
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Cow<'static, str>] {
        self.reasons.as_slice()
    }

    /// The plugin that produced it.
    pub fn plugin(&self) -> Option<&'static str> {
        self.plugin
    }

    /// The reasons joined with ", " (upstream `Status.Message`).
    pub fn message(&self) -> String {
        self.reasons.as_slice().join(", ")
    }

    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the code is Skip.
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod was rejected (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message())
    }
}

/// Data a plugin stores in the cycle state; cloned for preemption's what-if runs.
pub trait StateData: Any + Send + Sync {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn StateData>;
    /// As `Any`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// As mutable `Any`, to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A small set of plugin names (a handful at most), checked per node, so a
/// linear scan with a pointer-equality fast path beats hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet(Vec<&'static str>);

fn same_name(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

impl NameSet {
    /// Adds a name.
    pub fn insert(&mut self, name: &'static str) {
        if !self.contains(name) {
            self.0.push(name);
        }
    }

    /// Whether the name is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| same_name(n, name))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Per-pod, per-cycle scratch space shared by the plugins (upstream `CycleState`).
/// Keys are the plugins' static key strings, a handful per cycle.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Filter plugins whose PreFilter returned Skip.
    pub skip_filter_plugins: NameSet,
    /// Score plugins whose PreScore returned Skip.
    pub skip_score_plugins: NameSet,
    /// The framework's filter plugins that run for this pod, by position (bit i:
    /// the i-th filter plugin), computed once after PreFilter so the per-node
    /// filter loop does not look names up. `None`: not computed, names decide.
    pub(crate) active_filters: Option<u64>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, (**v).clone_box()))
                .collect(),
            skip_filter_plugins: self.skip_filter_plugins.clone(),
            skip_score_plugins: self.skip_score_plugins.clone(),
            active_filters: self.active_filters,
        }
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a value under a key.
    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| same_name(k, key)) {
            Some(slot) => slot.1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// Reads a value.
    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| same_name(k, key))
            .and_then(|(_, v)| (**v).as_any().downcast_ref())
    }

    /// Reads a value mutably.
    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data
            .iter_mut()
            .find(|(k, _)| same_name(k, key))
            .and_then(|(_, v)| (**v).as_any_mut().downcast_mut())
    }
}

/// Nodes a PreFilter plugin restricts the pod to (`None`: all nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// The allowed node names.
    pub node_names: Option<BTreeSet<String>>,
}

impl PreFilterResult {
    /// Whether every node is allowed.
    pub fn all_nodes(&self) -> bool {
        self.node_names.is_none()
    }

    /// Intersection of two results.
    pub fn merge(&self, other: &PreFilterResult) -> PreFilterResult {
        match (&self.node_names, &other.node_names) {
            (None, None) => PreFilterResult::default(),
            (Some(a), None) | (None, Some(a)) => PreFilterResult {
                node_names: Some(a.clone()),
            },
            (Some(a), Some(b)) => PreFilterResult {
                node_names: Some(a.intersection(b).cloned().collect()),
            },
        }
    }
}

/// One node's score from one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore<'a> {
    /// Node name (borrowed from the node's [`NodeInfo`]).
    pub name: &'a str,
    /// Score.
    pub score: i64,
}

/// A scheduling plugin. It takes part in the extension points whose `as_*`
/// accessor returns `Some`.
pub trait Plugin: Send + Sync {
    /// The plugin's name (as in the scheduler configuration).
    fn name(&self) -> &'static str;
    /// Cluster events that may make a pod this plugin rejected schedulable.
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
    /// Whether this plugin's PreFilter, Filter, PreScore and raw Score results for
    /// `pod` on a node depend only on the pod's scheduling content, on that node's
    /// info and on cluster-wide state the cache versions by its epoch — so that a
    /// later pod with the same content may reuse them on every node that did not
    /// change (upstream's opportunistic batching, KEP-5598: a plugin that cannot
    /// sign a pod makes it unsignable). The default, false, turns batching off for
    /// the pod: a plugin that does not answer is never assumed safe.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        false
    }
    /// The PreFilter side.
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    /// The Filter side.
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    /// The PreScore side.
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    /// The Score side.
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    /// The Reserve side.
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    /// The PreBind side.
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
}

/// Holds what the pod will use on its node until it is bound (upstream's
/// `ReservePlugin`): Reserve runs once a node is chosen, Unreserve when the pod's
/// scheduling or binding fails afterwards.
pub trait ReservePlugin: Plugin {
    /// Reserves for the pod on `node`; a failure sends the pod back to the queue.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
    /// Releases what [`ReservePlugin::reserve`] held (must not fail).
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// An API write a PreBind plugin asks for before the pod is bound.
#[derive(Debug, Clone, PartialEq)]
pub enum PreBindWrite {
    /// Set an annotation on a PersistentVolumeClaim.
    AnnotateClaim {
        /// The claim's namespace.
        namespace: String,
        /// The claim's name.
        name: String,
        /// The annotation's key.
        key: String,
        /// Its value.
        value: String,
    },
    /// Update a PersistentVolume to this object (its resourceVersion guards the
    /// write).
    UpdateVolume(Box<k8s_openapi::api::core::v1::PersistentVolume>),
}

impl PreBindWrite {
    /// The written object, as [`WrittenVersions`] files it: `pvc/<ns>/<name>` or
    /// `pv/<name>`.
    pub fn object(&self) -> String {
        match self {
            PreBindWrite::AnnotateClaim {
                namespace, name, ..
            } => format!("pvc/{namespace}/{name}"),
            PreBindWrite::UpdateVolume(pv) => {
                format!("pv/{}", pv.metadata.name.as_deref().unwrap_or(""))
            }
        }
    }
}

/// The resourceVersions the shell's PreBind writes returned, by
/// [`PreBindWrite::object`]: a cached object older than its write is not looked at
/// yet (upstream compares them the same way).
pub type WrittenVersions = std::collections::HashMap<String, String>;

/// Whether `cached` (a resourceVersion from the informer's cache) is older than
/// `written`; versions that are not numbers compare as not older.
pub fn older_than_written(cached: Option<&str>, written: Option<&String>) -> bool {
    match (
        cached.and_then(|c| c.parse::<u64>().ok()),
        written.and_then(|w| w.parse::<u64>().ok()),
    ) {
        (Some(c), Some(w)) => c < w,
        _ => false,
    }
}

/// Prepares the cluster for the pod's binding (upstream's `PreBindPlugin`), split
/// into what to write ([`PreBindPlugin::pre_bind`], performed by the shell) and
/// whether the pod may be bound yet ([`PreBindPlugin::ready_to_bind`], polled by the
/// shell until [`PreBindPlugin::bind_timeout`]).
pub trait PreBindPlugin: Plugin {
    /// The writes to make before the pod is bound to `node`.
    fn pre_bind(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
    ) -> Result<Vec<PreBindWrite>, Status>;
    /// Whether the pod may be bound now (`Ok(false)`: not yet); an error fails the
    /// binding.
    fn ready_to_bind(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
        written: &WrittenVersions,
    ) -> Result<bool, Status>;
    /// How long the shell waits for [`PreBindPlugin::ready_to_bind`].
    fn bind_timeout(&self) -> std::time::Duration;
}

/// Computes per-pod state before filtering; may restrict nodes or reject the pod.
pub trait PreFilterPlugin: Plugin {
    /// Runs once per cycle. `Skip` disables the plugin's Filter for the pod.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status);

    /// Updates the state as if `to_add` were added to `node` (preemption, nominated pods).
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _to_add: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

    /// Updates the state as if `to_remove` were removed from `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _to_remove: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

/// Decides whether a pod fits one node.
pub trait FilterPlugin: Plugin {
    /// Success when the pod may run on `node`.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// Computes per-pod state before scoring.
pub trait PreScorePlugin: Plugin {
    /// Runs once per cycle over the feasible nodes. `Skip` disables the plugin's Score.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Ranks feasible nodes.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status>;

    /// Raw scores of all `nodes` into `out` (same order, same length). The default
    /// calls [`ScorePlugin::score`] per node; plugins override it to read their
    /// cycle state once per cycle instead of once per node.
    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
        out: &mut [NodeScore],
    ) -> Result<(), Status> {
        for (slot, node) in out.iter_mut().zip(nodes) {
            slot.score = self.score(state, pod, node, snapshot)?;
        }
        Ok(())
    }

    /// Maps raw scores to `[0, 100]`; plugins whose raw score is already in range
    /// keep the default (no change).
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _scores: &mut [NodeScore],
    ) -> Status {
        Status::success()
    }
}

/// Scales scores to `[0, max]` relative to the highest (optionally reversed), as
/// upstream's `helper.DefaultNormalizeScore`.
pub fn default_normalize_score(max: i64, reverse: bool, scores: &mut [NodeScore]) {
    let max_count = scores.iter().map(|s| s.score).max().unwrap_or(0).max(0);
    if max_count == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max * s.score / max_count;
        if reverse {
            v = max - v;
        }
        s.score = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: &[i64]) -> Vec<NodeScore<'static>> {
        const NAMES: [&str; 3] = ["n0", "n1", "n2"];
        v.iter()
            .enumerate()
            .map(|(i, s)| NodeScore {
                name: NAMES[i],
                score: *s,
            })
            .collect()
    }

    #[test]
    fn default_normalize_scales_and_reverses() {
        let mut s = scores(&[0, 5, 10]);
        default_normalize_score(100, false, &mut s);
        assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), [0, 50, 100]);
        let mut s = scores(&[0, 5, 10]);
        default_normalize_score(100, true, &mut s);
        assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 50, 0]);
        let mut s = scores(&[0, 0]);
        default_normalize_score(100, true, &mut s);
        assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 100]);
    }

    #[test]
    fn cycle_state_clones_deeply() {
        let mut a = CycleState::new();
        a.write("k", vec![1, 2]);
        let mut b = a.clone();
        b.read_mut::<Vec<i32>>("k").unwrap().push(3);
        assert_eq!(a.read::<Vec<i32>>("k").unwrap().len(), 2);
        assert_eq!(b.read::<Vec<i32>>("k").unwrap().len(), 3);
    }

    #[test]
    fn pre_filter_results_intersect() {
        let a = PreFilterResult {
            node_names: Some(["a", "b"].iter().map(|s| s.to_string()).collect()),
        };
        let b = PreFilterResult {
            node_names: Some(["b", "c"].iter().map(|s| s.to_string()).collect()),
        };
        assert_eq!(
            a.merge(&b)
                .node_names
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert!(
            PreFilterResult::default()
                .merge(&PreFilterResult::default())
                .all_nodes()
        );
    }
}
