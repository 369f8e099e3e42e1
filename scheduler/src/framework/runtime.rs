//! The framework runtime: a profile's plugins per extension point and the code
//! that runs them in order (upstream `framework/runtime/framework.go`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::plugins::{self, DEFAULT_PREEMPTION};
use super::{
    ClusterEvent, ClusterLister, Code, CycleState, MAX_NODE_SCORE, MIN_NODE_SCORE, NodeScore,
    Plugin, PreFilterResult, ScorePlugin, Status,
};
use crate::cache::{NodeInfo, PodInfo, Snapshot, pod_priority};
use crate::config::ResolvedProfile;

/// Errors building a framework from a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameworkError {
    /// No plugin with this name exists.
    #[error("plugin {0:?} does not exist")]
    UnknownPlugin(String),
    /// A plugin's `pluginConfig` arguments are invalid.
    #[error("invalid arguments for plugin {plugin:?}: {message}")]
    InvalidArgs {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// A plugin was enabled at an extension point it does not implement.
    #[error("plugin {plugin:?} does not extend {point} plugin")]
    NotAnExtension {
        /// The plugin.
        plugin: String,
        /// The extension point.
        point: &'static str,
    },
}

/// One plugin's weighted score for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginScore {
    /// Plugin name.
    pub name: &'static str,
    /// Normalised score times the plugin's weight.
    pub score: i64,
}

/// All plugins' scores for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePluginScores {
    /// Node name.
    pub name: String,
    /// Per-plugin scores.
    pub scores: Vec<PluginScore>,
    /// Sum of the weighted scores.
    pub total_score: i64,
}

/// A PreBind failure as upstream reports it: `running PreBind plugin "X": …`.
pub fn pre_bind_failure(plugin: &'static str, s: &Status) -> Status {
    Status::new(
        Code::Error,
        format!("running PreBind plugin {plugin:?}: {}", s.message()),
    )
    .with_plugin(plugin)
}

/// A profile's plugins, ready to run.
pub struct Framework {
    profile_name: String,
    pre_filter: Vec<Arc<dyn Plugin>>,
    filter: Vec<Arc<dyn Plugin>>,
    pre_score: Vec<Arc<dyn Plugin>>,
    score: Vec<(Arc<dyn Plugin>, i64)>,
    reserve: Vec<Arc<dyn Plugin>>,
    pre_bind: Vec<Arc<dyn Plugin>>,
    preemption: bool,
    percentage_of_nodes_to_score: Option<i32>,
    events: HashMap<&'static str, Vec<ClusterEvent>>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Arc<dyn Plugin>]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        f.debug_struct("Framework")
            .field("profile", &self.profile_name)
            .field("pre_filter", &names(&self.pre_filter))
            .field("filter", &names(&self.filter))
            .field("pre_score", &names(&self.pre_score))
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(p, w)| (p.name(), *w))
                    .collect::<Vec<_>>(),
            )
            .field("preemption", &self.preemption)
            .finish()
    }
}

impl Framework {
    /// Builds the framework of a resolved profile.
    pub fn new(
        profile: &ResolvedProfile,
        lister: Arc<dyn ClusterLister>,
    ) -> Result<Self, FrameworkError> {
        let mut instances: HashMap<String, Arc<dyn Plugin>> = HashMap::new();
        let mut get = |name: &str| -> Result<Arc<dyn Plugin>, FrameworkError> {
            if let Some(p) = instances.get(name) {
                return Ok(p.clone());
            }
            let p = plugins::new_plugin(name, profile.plugin_args.get(name), lister.clone())?;
            instances.insert(name.to_string(), p.clone());
            Ok(p)
        };
        let mut fw = Framework {
            profile_name: profile.scheduler_name.clone(),
            pre_filter: Vec::new(),
            filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            reserve: Vec::new(),
            pre_bind: Vec::new(),
            preemption: profile.post_filter.iter().any(|n| n == DEFAULT_PREEMPTION),
            percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
            events: HashMap::new(),
        };
        let check = |p: &Arc<dyn Plugin>, ok: bool, point: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(FrameworkError::NotAnExtension {
                    plugin: p.name().to_string(),
                    point,
                })
            }
        };
        for n in &profile.pre_filter {
            let p = get(n)?;
            check(&p, p.as_pre_filter().is_some(), "PreFilter")?;
            fw.pre_filter.push(p);
        }
        for n in &profile.filter {
            let p = get(n)?;
            check(&p, p.as_filter().is_some(), "Filter")?;
            fw.filter.push(p);
        }
        for n in &profile.pre_score {
            let p = get(n)?;
            check(&p, p.as_pre_score().is_some(), "PreScore")?;
            fw.pre_score.push(p);
        }
        for (n, w) in &profile.score {
            let p = get(n)?;
            check(&p, p.as_score().is_some(), "Score")?;
            fw.score.push((p, if *w == 0 { 1 } else { *w as i64 }));
        }
        for n in &profile.reserve {
            let p = get(n)?;
            check(&p, p.as_reserve().is_some(), "Reserve")?;
            fw.reserve.push(p);
        }
        for n in &profile.pre_bind {
            let p = get(n)?;
            check(&p, p.as_pre_bind().is_some(), "PreBind")?;
            fw.pre_bind.push(p);
        }
        for p in instances.values() {
            fw.events.insert(p.name(), p.events_to_register());
        }
        Ok(fw)
    }

    /// The profile's scheduler name.
    pub fn profile_name(&self) -> &str {
        &self.profile_name
    }

    /// Whether DefaultPreemption is enabled as PostFilter.
    pub fn preemption_enabled(&self) -> bool {
        self.preemption
    }

    /// The profile's `percentageOfNodesToScore`, if set.
    pub fn percentage_of_nodes_to_score(&self) -> Option<i32> {
        self.percentage_of_nodes_to_score
    }

    /// Cluster events each plugin registered.
    pub fn events_to_register(&self) -> &HashMap<&'static str, Vec<ClusterEvent>> {
        &self.events
    }

    /// Score plugins and their weights.
    pub fn score_plugins(&self) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        self.score.iter().map(|(p, w)| (p.name(), *w))
    }

    /// Runs the Reserve plugins in order for the pod on `node` (upstream's
    /// `RunReservePluginsReserve`); on a failure, the status names the plugin and the
    /// caller runs [`Framework::run_unreserve`].
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for p in &self.reserve {
            let Some(r) = p.as_reserve() else { continue };
            let s = r.reserve(state, pod, node);
            if !s.is_success() {
                let msg = format!("running Reserve plugin {:?}: {}", p.name(), s.message());
                return Status::new(s.code(), msg).with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs the Unreserve side of the Reserve plugins in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        for p in self.reserve.iter().rev() {
            if let Some(r) = p.as_reserve() {
                r.unreserve(state, pod, node);
            }
        }
    }

    /// Whether any PreBind plugin runs.
    pub fn has_pre_bind(&self) -> bool {
        !self.pre_bind.is_empty()
    }

    /// The PreBind plugins' writes, in plugin order; a failure names the plugin as
    /// upstream's `RunPreBindPlugins` does.
    pub fn run_pre_bind(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
    ) -> Result<Vec<(&'static str, super::PreBindWrite)>, Status> {
        let mut writes = Vec::new();
        for p in &self.pre_bind {
            let Some(b) = p.as_pre_bind() else { continue };
            let mine = b
                .pre_bind(state, pod, node)
                .map_err(|s| pre_bind_failure(p.name(), &s))?;
            writes.extend(mine.into_iter().map(|w| (p.name(), w)));
        }
        Ok(writes)
    }

    /// The first PreBind plugin that does not let the pod be bound yet (`None`:
    /// every one does).
    pub fn pre_bind_ready(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
        written: &super::WrittenVersions,
    ) -> Result<Option<&'static str>, Status> {
        for p in &self.pre_bind {
            let Some(b) = p.as_pre_bind() else { continue };
            if !b
                .ready_to_bind(state, pod, node, written)
                .map_err(|s| pre_bind_failure(p.name(), &s))?
            {
                return Ok(Some(p.name()));
            }
        }
        Ok(None)
    }

    /// The longest bind timeout of the PreBind plugins.
    pub fn pre_bind_timeout(&self) -> std::time::Duration {
        self.pre_bind
            .iter()
            .filter_map(|p| p.as_pre_bind())
            .map(|b| b.bind_timeout())
            .max()
            .unwrap_or_default()
    }

    /// Filter plugin names in order.
    pub fn filter_plugins(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.filter.iter().map(|p| p.name())
    }

    /// Runs PreFilter plugins. Returns the merged node restriction, the status
    /// (rejections carry the plugin), and the plugins that restricted nodes.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status, BTreeSet<&'static str>) {
        let mut result: Option<PreFilterResult> = None;
        let mut narrowing = BTreeSet::new();
        for p in &self.pre_filter {
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let (r, s) = pf.pre_filter(state, pod, snapshot);
            if s.is_skip() {
                state.skip_filter_plugins.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return (None, s.with_plugin(p.name()), narrowing);
            }
            if let Some(r) = r.filter(|r| !r.all_nodes()) {
                narrowing.insert(p.name());
                let merged = result.as_ref().map_or(r.clone(), |prev| prev.merge(&r));
                if merged.node_names.as_ref().is_some_and(|n| n.is_empty()) {
                    let names: Vec<&str> = narrowing.iter().copied().collect();
                    return (
                        None,
                        Status::new(
                            Code::UnschedulableAndUnresolvable,
                            format!(
                                "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                                names.join(" ")
                            ),
                        )
                        .with_plugin(p.name()),
                        narrowing,
                    );
                }
                result = Some(merged);
            }
        }
        state.active_filters = self.active_filter_mask(state);
        (result, Status::success(), narrowing)
    }

    /// The filter plugins not skipped by PreFilter, as a bit set over positions.
    fn active_filter_mask(&self, state: &CycleState) -> Option<u64> {
        if self.filter.len() > 64 {
            return None;
        }
        Some(
            self.filter
                .iter()
                .enumerate()
                .filter(|(_, p)| !state.skip_filter_plugins.contains(p.name()))
                .fold(0u64, |m, (i, _)| m | (1 << i)),
        )
    }

    /// Runs Filter plugins on one node, stopping at the first failure.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(mut mask) = state.active_filters else {
            for p in &self.filter {
                if state.skip_filter_plugins.contains(p.name()) {
                    continue;
                }
                let Some(f) = p.as_filter() else { continue };
                let s = f.filter(state, pod, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
            return Status::success();
        };
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let p = &self.filter[i];
            let Some(f) = p.as_filter() else { continue };
            let s = f.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Tells PreFilter extensions that `to_add` is on `node`.
    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_add: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter_plugins.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.add_pod(state, pod, to_add, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Tells PreFilter extensions that `to_remove` left `node`.
    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter_plugins.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.remove_pod(state, pod, to_remove, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Runs Filter plugins as if the pods nominated to this node with equal or
    /// higher priority were already there, then (if any were) without them: the pod
    /// must fit both ways (upstream `RunFilterPluginsWithNominatedPods`).
    pub fn run_filter_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        nominated: &[Arc<PodInfo>],
    ) -> Status {
        let prio = pod_priority(&pod.pod);
        let relevant: Vec<&Arc<PodInfo>> = nominated
            .iter()
            .filter(|n| pod_priority(&n.pod) >= prio && n.key != pod.key)
            .collect();
        if relevant.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut state_with = state.clone();
        let mut node_with = node.clone();
        for n in &relevant {
            node_with.add_pod((*n).clone());
            let s = self.run_pre_filter_add_pod(&mut state_with, pod, n, &node_with);
            if !s.is_success() {
                return s;
            }
        }
        let s = self.run_filter(&state_with, pod, &node_with);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    /// Runs PreScore plugins; `Skip` disables the plugin's Score for this pod.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_score {
            let Some(ps) = p.as_pre_score() else { continue };
            let s = ps.pre_score(state, pod, nodes, snapshot);
            if s.is_skip() {
                state.skip_score_plugins.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Score plugins (raw score, normalisation, weight) over the nodes, with
    /// each plugin's weighted score per node.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Result<Vec<NodePluginScores>, Status> {
        let n_plugins = self.score.len();
        let mut out: Vec<NodePluginScores> = nodes
            .iter()
            .map(|n| NodePluginScores {
                name: n.node_name().to_string(),
                scores: Vec::with_capacity(n_plugins),
                total_score: 0,
            })
            .collect();
        self.score_each(state, pod, nodes, snapshot, |name, i, weighted| {
            out[i].scores.push(PluginScore {
                name,
                score: weighted,
            });
            out[i].total_score += weighted;
        })?;
        Ok(out)
    }

    /// Runs Score plugins as [`Framework::run_score`] and returns only each node's
    /// total (same order as `nodes`): what selecting the host needs, without a
    /// per-node breakdown.
    pub fn run_score_totals(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Result<Vec<i64>, Status> {
        let mut totals = vec![0i64; nodes.len()];
        self.score_each(state, pod, nodes, snapshot, |_, i, weighted| {
            totals[i] += weighted;
        })?;
        Ok(totals)
    }

    /// Scores, normalises and checks every node with every score plugin not
    /// skipped, handing `(plugin, node position, weighted score)` to `sink`.
    fn score_each(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
        sink: impl FnMut(&'static str, usize, i64),
    ) -> Result<(), Status> {
        // One buffer of node names reused by every plugin (only scores change).
        let mut buf: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.node_name(),
                score: 0,
            })
            .collect();
        self.normalize_each(
            state,
            pod,
            &mut buf,
            |_, sp, buf| sp.score_nodes(state, pod, nodes, snapshot, buf),
            sink,
        )
    }

    /// The heart of scoring: for each score plugin not skipped, `raw` fills the
    /// raw scores of the nodes in `buf` (the plugin's position in the profile, the
    /// plugin, the buffer), then the scores are normalised, checked against
    /// `[MIN_NODE_SCORE, MAX_NODE_SCORE]` and weighted into `sink`.
    fn normalize_each<'n>(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        buf: &mut [NodeScore<'n>],
        mut raw: impl FnMut(usize, &dyn ScorePlugin, &mut [NodeScore<'n>]) -> Result<(), Status>,
        mut sink: impl FnMut(&'static str, usize, i64),
    ) -> Result<(), Status> {
        for (k, (p, weight)) in self.score.iter().enumerate() {
            if state.skip_score_plugins.contains(p.name()) {
                continue;
            }
            let Some(sp) = p.as_score() else { continue };
            for slot in buf.iter_mut() {
                slot.score = 0;
            }
            raw(k, sp, buf).map_err(|s| s.with_plugin(p.name()))?;
            let s = sp.normalize_score(state, pod, buf);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (i, ns) in buf.iter().enumerate() {
                if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(&ns.score) {
                    return Err(Status::error(format!(
                        "plugin {:?} returns an invalid score {}, it should in the range of [{}, {}] after normalizing",
                        p.name(),
                        ns.score,
                        MIN_NODE_SCORE,
                        MAX_NODE_SCORE
                    ))
                    .with_plugin(p.name()));
                }
                sink(p.name(), i, ns.score * weight);
            }
        }
        Ok(())
    }

    /// Totals as [`Framework::run_score_totals`] into `totals`, for the nodes
    /// named in `buf`, with raw scores supplied by `raw` instead of computed here
    /// (the batching memo hands back the raw scores of nodes that did not change).
    pub(crate) fn run_score_totals_with<'n>(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        buf: &mut [NodeScore<'n>],
        totals: &mut Vec<i64>,
        raw: impl FnMut(usize, &dyn ScorePlugin, &mut [NodeScore<'n>]) -> Result<(), Status>,
    ) -> Result<(), Status> {
        totals.clear();
        totals.resize(buf.len(), 0);
        self.normalize_each(state, pod, buf, raw, |_, i, weighted| {
            totals[i] += weighted;
        })
    }

    /// Number of score plugins in the profile (positions for
    /// [`Framework::run_score_totals_with`]).
    pub(crate) fn score_plugin_count(&self) -> usize {
        self.score.len()
    }

    /// The score plugins that run for this pod (bit i: the i-th score plugin
    /// was not skipped by its PreScore).
    pub(crate) fn active_score_mask(&self, state: &CycleState) -> u64 {
        self.score
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| !state.skip_score_plugins.contains(p.name()))
            .fold(0u64, |m, (i, _)| m | (1 << i))
    }

    /// Whether every plugin that filters or scores in this profile can batch
    /// `pod` ([`Plugin::batchable`]).
    pub fn batchable(&self, pod: &PodInfo) -> bool {
        self.score.len() <= 64
            && self.filter.len() <= 64
            && self
                .pre_filter
                .iter()
                .chain(&self.filter)
                .chain(&self.pre_score)
                .chain(self.score.iter().map(|(p, _)| p))
                .all(|p| p.batchable(pod))
    }
}
