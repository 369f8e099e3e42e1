//! One scheduling attempt for one pod: PreFilter → Filter (a sample of nodes) →
//! PreScore/Score → select host, and the diagnosis when nothing fits (upstream
//! `schedule_one.go` and `FitError`).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use rand::Rng;

use crate::batch::{BatchMemos, Fit};
use crate::cache::{NodeInfo, PodInfo, Snapshot, namespaced_name, prefetch_node_info};
use crate::framework::{
    Code, CycleState, Framework, NodePluginScores, NodeScore, PluginScore, Status,
};

/// At least this many nodes are examined when there are more (upstream `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Floor of the adaptive percentage (upstream `minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i32 = 5;
/// Error when the cluster has no nodes.
pub const ERR_NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Pods nominated to nodes by earlier preemptions (the queue's nominator).
pub trait PodNominator {
    /// Pods nominated to run on `node`.
    fn nominated_pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>>;

    /// Whether any pod is nominated anywhere (lets a cycle skip per-node lookups).
    fn has_nominations(&self) -> bool {
        true
    }
}

/// No nominated pods.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNominations;

impl PodNominator for NoNominations {
    fn nominated_pods_for_node(&self, _node: &str) -> Vec<Arc<PodInfo>> {
        Vec::new()
    }

    fn has_nominations(&self) -> bool {
        false
    }
}

/// Per-node statuses of a failed attempt, with the status of nodes not listed.
#[derive(Debug, Clone, Default)]
pub struct NodeToStatus {
    statuses: hashbrown::HashMap<Arc<str>, Status>,
    absent: Option<Status>,
}

impl NodeToStatus {
    /// Records a node's status.
    pub fn set(&mut self, node: &str, status: Status) {
        self.statuses.insert(Arc::from(node), status);
    }

    /// Records a node's status under the node info's shared name (no copy).
    pub fn set_shared(&mut self, node: &Arc<str>, status: Status) {
        self.statuses.insert(node.clone(), status);
    }

    /// Sets the status of nodes without an entry.
    pub fn set_absent_nodes_status(&mut self, status: Status) {
        self.absent = Some(status);
    }

    /// The status of a node (the absent status, by default UnschedulableAndUnresolvable).
    pub fn get(&self, node: &str) -> Status {
        self.statuses
            .get(node)
            .cloned()
            .or_else(|| self.absent.clone())
            .unwrap_or_else(|| Status::code_only(Code::UnschedulableAndUnresolvable))
    }

    /// Number of nodes with an entry.
    pub fn len(&self) -> usize {
        self.statuses.len()
    }

    /// Whether no node has an entry.
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
    }

    /// Entries.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Status)> {
        self.statuses.iter().map(|(n, s)| (&**n, s))
    }

    /// The absent nodes' status.
    pub fn absent_nodes_status(&self) -> Status {
        self.absent
            .clone()
            .unwrap_or_else(|| Status::code_only(Code::UnschedulableAndUnresolvable))
    }
}

/// Why a pod did not fit (upstream `framework.Diagnosis`).
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Per-node statuses.
    pub node_to_status: NodeToStatus,
    /// Plugins that rejected the pod (drives requeueing on cluster events).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// The PreFilter rejection message, when PreFilter rejected the pod.
    pub pre_filter_msg: String,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: String,
}

/// A pod fits no node (upstream `framework.FitError`).
#[derive(Debug, Clone)]
pub struct FitError {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// Number of nodes in the snapshot.
    pub num_all_nodes: usize,
    /// The diagnosis.
    pub diagnosis: Diagnosis,
}

impl fmt::Display for FitError {
    /// `0/5 nodes are available: 2 node(s) had untolerated taint {…}, 3 Insufficient cpu. preemption: …`
    /// — reasons counted per node and sorted as strings, as upstream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        let d = &self.diagnosis;
        if !d.pre_filter_msg.is_empty() {
            write!(f, " {}.", d.pre_filter_msg)?;
        } else {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (_, st) in d.node_to_status.iter() {
                for r in st.reasons() {
                    *counts.entry(r.as_ref()).or_default() += 1;
                }
            }
            let absent_status = d.node_to_status.absent_nodes_status();
            if d.node_to_status.len() < self.num_all_nodes {
                let missing = self.num_all_nodes - d.node_to_status.len();
                for r in absent_status.reasons() {
                    *counts.entry(r.as_ref()).or_default() += missing;
                }
            }
            let mut parts: Vec<String> = counts
                .into_iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            parts.sort();
            if !parts.is_empty() {
                write!(f, " {}.", parts.join(", "))?;
            }
        }
        if !d.post_filter_msg.is_empty() {
            write!(f, " {}.", d.post_filter_msg)?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

/// Why a scheduling attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    /// The snapshot has no nodes.
    #[error("no nodes available to schedule pods")]
    NoNodesAvailable,
    /// No node fits.
    #[error("{0}")]
    Fit(Box<FitError>),
    /// A plugin failed.
    #[error("running plugin: {0}")]
    Internal(Status),
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub suggested_host: String,
    /// Nodes filtered (feasible + rejected).
    pub evaluated_nodes: usize,
    /// Nodes that passed the filters.
    pub feasible_nodes: usize,
}

/// How many feasible nodes to look for before scoring, as upstream's
/// `numFeasibleNodesToFind`: all below 100 nodes; otherwise `percentage` of them
/// (adaptive `50 - nodes/125`, at least 5%, when 0) and never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = percentage;
    if pct == 0 {
        pct = 50 - (num_all_nodes / 125) as i32;
        if pct < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND {
            pct = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
        }
    }
    let n = num_all_nodes * pct.clamp(0, 100) as usize / 100;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Picks the node with the highest total score; ties are broken uniformly at
/// random (reservoir sampling, as upstream's `selectHost`).
pub fn select_host<R: Rng + ?Sized>(scores: &[NodePluginScores], rng: &mut R) -> Option<String> {
    pick_highest(scores.iter().map(|s| s.total_score), rng).map(|i| scores[i].name.clone())
}

/// [`select_host`] over totals alone: the position of the chosen node.
pub fn select_host_index<R: Rng + ?Sized>(totals: &[i64], rng: &mut R) -> Option<usize> {
    pick_highest(totals.iter().copied(), rng)
}

fn pick_highest<R: Rng + ?Sized>(totals: impl Iterator<Item = i64>, rng: &mut R) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut ties = 0u32;
    for (i, total) in totals.enumerate() {
        match best {
            None => {
                best = Some((i, total));
                ties = 1;
            }
            Some((_, b)) if total > b => {
                best = Some((i, total));
                ties = 1;
            }
            Some((_, b)) if total == b => {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = Some((i, total));
                }
            }
            _ => {}
        }
    }
    best.map(|(i, _)| i)
}

/// The state kept across attempts: the percentage, the round-robin start index
/// and the batching memos.
#[derive(Debug, Clone)]
pub struct GenericScheduler {
    /// Global `percentageOfNodesToScore` (0: adaptive).
    pub percentage_of_nodes_to_score: i32,
    next_start_node_index: usize,
    batching: bool,
    memos: BatchMemos,
    scratch: BatchScratch,
}

/// Buffers of the batched cycle, kept between cycles so that a cycle allocates
/// nothing in proportion to the nodes it examines.
#[derive(Debug, Clone, Default)]
struct BatchScratch {
    feasible: Vec<usize>,
    totals: Vec<i64>,
    scores: Vec<NodeScore<'static>>,
}

/// An emptied vector's allocation, for scores borrowing names for another lifetime.
fn recycle<'b>(mut v: Vec<NodeScore<'_>>) -> Vec<NodeScore<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> NodeScore<'b> { unreachable!("the vector was cleared") })
        .collect()
}

impl Default for GenericScheduler {
    fn default() -> Self {
        GenericScheduler::new(0)
    }
}

impl GenericScheduler {
    /// A scheduler with a global percentage, batching on (as upstream's
    /// `OpportunisticBatching` feature, on by default since 1.35).
    pub fn new(percentage_of_nodes_to_score: i32) -> Self {
        GenericScheduler {
            percentage_of_nodes_to_score,
            next_start_node_index: 0,
            batching: true,
            memos: BatchMemos::default(),
            scratch: BatchScratch::default(),
        }
    }

    /// Turns batching ([`crate::batch`]) on or off; decisions are the same
    /// either way, only their cost differs.
    pub fn set_batching(&mut self, on: bool) {
        self.batching = on;
    }

    /// The batching memos (their hit and miss counts).
    pub fn batch_memos(&self) -> &BatchMemos {
        &self.memos
    }

    /// Where the next search starts.
    pub fn next_start_node_index(&self) -> usize {
        self.next_start_node_index
    }

    /// One attempt to place `pod` (upstream `schedulePod`).
    pub fn schedule_pod<R: Rng + ?Sized>(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nominator: &dyn PodNominator,
        rng: &mut R,
    ) -> Result<ScheduleResult, ScheduleError> {
        if snapshot.is_empty() {
            return Err(ScheduleError::NoNodesAvailable);
        }
        if self.batching
            && !nominator.has_nominations()
            && pod
                .pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.as_deref())
                .is_none_or(str::is_empty)
            && fwk.batchable(pod)
        {
            if let Some(r) = self.schedule_pod_batched(fwk, state, pod, snapshot, rng)? {
                return Ok(r);
            }
            // Nothing fits, or PreFilter narrowed the nodes: the full cycle below
            // works it out (and builds the diagnosis) from a fresh state.
            *state = CycleState::new();
        }
        let (feasible, diagnosis) =
            self.find_nodes_that_fit(fwk, state, pod, snapshot, nominator)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                pod: namespaced_name(&pod.pod),
                num_all_nodes: snapshot.len(),
                diagnosis,
            })));
        }
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                suggested_host: feasible[0].node_name().to_string(),
                evaluated_nodes: 1 + diagnosis.node_to_status.len(),
                feasible_nodes: 1,
            });
        }
        let totals = prioritize_totals(fwk, state, pod, &feasible, snapshot)?;
        let host = select_host_index(&totals, rng).ok_or(ScheduleError::NoNodesAvailable)?;
        Ok(ScheduleResult {
            suggested_host: feasible[host].node_name().to_string(),
            evaluated_nodes: feasible.len() + diagnosis.node_to_status.len(),
            feasible_nodes: feasible.len(),
        })
    }

    /// [`GenericScheduler::schedule_pod`] for a batchable pod: the same nodes in
    /// the same order, Filter and raw Score results taken from the memo of the
    /// pod's content for every node that did not change. `None` when the pod
    /// needs the full cycle (PreFilter rejected it or narrowed the nodes, or no
    /// node fits), with the start index untouched.
    fn schedule_pod_batched<R: Rng + ?Sized>(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        rng: &mut R,
    ) -> Result<Option<ScheduleResult>, ScheduleError> {
        let (pre_res, status, _) = fwk.run_pre_filter(state, pod, snapshot);
        if !status.is_success() || pre_res.as_ref().is_some_and(|r| r.node_names.is_some()) {
            return Ok(None);
        }
        let pct = fwk
            .percentage_of_nodes_to_score()
            .unwrap_or(self.percentage_of_nodes_to_score);
        let nodes = snapshot.list();
        let n = nodes.len();
        let to_find = num_feasible_nodes_to_find(pct, n);
        let start = self.next_start_node_index;
        let memo =
            self.memos
                .memo_for(fwk.profile_name(), &pod.pod, snapshot, state.active_filters);
        let mut feasible = std::mem::take(&mut self.scratch.feasible);
        feasible.clear();
        let mut rejected = 0;
        let mut processed = 0;
        for i in 0..n {
            if feasible.len() >= to_find {
                break;
            }
            let pos = (start + i) % n;
            processed += 1;
            let fits = match memo.fit(pos) {
                Fit::Feasible => true,
                Fit::Infeasible => false,
                Fit::Unknown => {
                    let s = fwk.run_filter(state, pod, &nodes[pos]);
                    if s.code() == Code::Error {
                        return Err(ScheduleError::Internal(s));
                    }
                    memo.set_fit(pos, &nodes[pos], s.is_success());
                    s.is_success()
                }
            };
            if fits {
                feasible.push(pos);
            } else {
                rejected += 1;
            }
        }
        if feasible.is_empty() {
            return Ok(None);
        }
        self.next_start_node_index = (start + processed) % n;
        if feasible.len() == 1 {
            return Ok(Some(ScheduleResult {
                suggested_host: memo.name(feasible[0]).to_string(),
                evaluated_nodes: 1 + rejected,
                feasible_nodes: 1,
            }));
        }
        let mut totals = std::mem::take(&mut self.scratch.totals);
        totals.clear();
        if fwk.score_plugins().next().is_none() {
            totals.resize(feasible.len(), 1);
        } else {
            // PreScore of a batchable pod does not depend on which nodes passed
            // the filters (see `Plugin::batchable`): give it all of them.
            let s = fwk.run_pre_score(state, pod, nodes, snapshot);
            if !s.is_success() {
                return Err(ScheduleError::Internal(s));
            }
            let (names, table) =
                memo.scoring(fwk.active_score_mask(state), fwk.score_plugin_count());
            let stale: Vec<usize> = feasible
                .iter()
                .copied()
                .filter(|&pos| !table.scored(pos))
                .collect();
            let stale_nodes: Vec<Arc<NodeInfo>> =
                stale.iter().map(|&pos| nodes[pos].clone()).collect();
            let mut buf = recycle(std::mem::take(&mut self.scratch.scores));
            buf.extend(feasible.iter().map(|&pos| NodeScore {
                name: names[pos].as_deref().unwrap_or(""),
                score: 0,
            }));
            let mut stale_buf: Vec<NodeScore> = stale_nodes
                .iter()
                .map(|n| NodeScore {
                    name: n.node_name(),
                    score: 0,
                })
                .collect();
            fwk.run_score_totals_with(state, pod, &mut buf, &mut totals, |k, sp, buf| {
                if !stale.is_empty() {
                    for slot in stale_buf.iter_mut() {
                        slot.score = 0;
                    }
                    sp.score_nodes(state, pod, &stale_nodes, snapshot, &mut stale_buf)?;
                    for (slot, &pos) in stale_buf.iter().zip(&stale) {
                        table.set_raw(pos, k, slot.score);
                    }
                }
                for (slot, &pos) in buf.iter_mut().zip(&feasible) {
                    slot.score = table.raw(pos, k);
                }
                Ok(())
            })
            .map_err(ScheduleError::Internal)?;
            for &pos in &stale {
                table.set_scored(pos);
            }
            self.scratch.scores = recycle(buf);
        }
        let host = select_host_index(&totals, rng).ok_or(ScheduleError::NoNodesAvailable)?;
        let result = ScheduleResult {
            suggested_host: memo.name(feasible[host]).to_string(),
            evaluated_nodes: feasible.len() + rejected,
            feasible_nodes: feasible.len(),
        };
        self.scratch.feasible = feasible;
        self.scratch.totals = totals;
        Ok(Some(result))
    }

    fn find_nodes_that_fit(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nominator: &dyn PodNominator,
    ) -> Result<(Vec<Arc<NodeInfo>>, Diagnosis), ScheduleError> {
        let mut diagnosis = Diagnosis::default();
        let (pre_res, status, narrowing) = fwk.run_pre_filter(state, pod, snapshot);
        if !status.is_success() {
            if !status.is_rejected() {
                return Err(ScheduleError::Internal(status));
            }
            diagnosis.pre_filter_msg = status.message();
            if let Some(p) = status.plugin() {
                diagnosis.unschedulable_plugins.insert(p);
            }
            diagnosis.node_to_status.set_absent_nodes_status(status);
            return Ok((Vec::new(), diagnosis));
        }
        // A node nominated by an earlier preemption is tried first.
        let nominated = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty());
        if let Some(name) = nominated
            && let Some(ni) = snapshot.get(name)
        {
            let s = fwk.run_filter_with_nominated_pods(
                state,
                pod,
                ni,
                &nominator.nominated_pods_for_node(name),
            );
            if s.code() == Code::Error {
                return Err(ScheduleError::Internal(s));
            }
            if s.is_success() {
                return Ok((vec![ni.clone()], diagnosis));
            }
        }
        let all = snapshot.list();
        let restricted: Vec<Arc<NodeInfo>>;
        let nodes: &[Arc<NodeInfo>] = match pre_res.as_ref().and_then(|r| r.node_names.as_ref()) {
            None => all,
            Some(names) => {
                restricted = names
                    .iter()
                    .filter_map(|n| snapshot.get(n).cloned())
                    .collect();
                let plugins: Vec<&str> = narrowing.iter().copied().collect();
                diagnosis
                    .node_to_status
                    .set_absent_nodes_status(Status::new(
                        Code::UnschedulableAndUnresolvable,
                        format!("node(s) didn't satisfy plugin(s) [{}]", plugins.join(" ")),
                    ));
                &restricted
            }
        };
        let pct = fwk
            .percentage_of_nodes_to_score()
            .unwrap_or(self.percentage_of_nodes_to_score);
        let to_find = num_feasible_nodes_to_find(pct, nodes.len());
        let mut feasible = Vec::with_capacity(to_find.min(nodes.len()));
        let n = nodes.len();
        let mut processed = 0;
        let check_nominated = nominator.has_nominations();
        const PREFETCH_AHEAD: usize = 4;
        for i in 0..n.min(PREFETCH_AHEAD) {
            prefetch_node_info(&nodes[(self.next_start_node_index + i) % n]);
        }
        for i in 0..n {
            if feasible.len() >= to_find {
                break;
            }
            if i + PREFETCH_AHEAD < n {
                prefetch_node_info(&nodes[(self.next_start_node_index + i + PREFETCH_AHEAD) % n]);
            }
            let ni = &nodes[(self.next_start_node_index + i) % n];
            processed += 1;
            let s = if check_nominated {
                let noms = nominator.nominated_pods_for_node(ni.node_name());
                fwk.run_filter_with_nominated_pods(state, pod, ni, &noms)
            } else {
                fwk.run_filter(state, pod, ni)
            };
            match s.code() {
                Code::Success => feasible.push(ni.clone()),
                Code::Error => return Err(ScheduleError::Internal(s)),
                _ => {
                    if s.is_rejected()
                        && let Some(p) = s.plugin()
                    {
                        diagnosis.unschedulable_plugins.insert(p);
                    }
                    diagnosis.node_to_status.set_shared(ni.node_name_arc(), s);
                }
            }
        }
        if !all.is_empty() {
            self.next_start_node_index = (self.next_start_node_index + processed) % all.len();
        }
        Ok((feasible, diagnosis))
    }
}

/// The outcome of a whole scheduling cycle for one pod (schedule, then preempt
/// on failure), before the shell assumes, binds or records it.
#[derive(Debug, Clone)]
pub enum ScheduleOutcome {
    /// The pod fits `result.suggested_host`.
    Scheduled(ScheduleResult),
    /// The pod fits nowhere; preemption may have nominated a node and chosen victims.
    Unschedulable {
        /// The failure, its message including the preemption part.
        error: Box<FitError>,
        /// Node nominated by preemption.
        nominated_node: Option<String>,
        /// Pods to delete to make room.
        victims: Vec<Arc<k8s_openapi::api::core::v1::Pod>>,
        /// Lower-priority pods whose nomination to that node must be cleared.
        clear_nominations: Vec<Arc<k8s_openapi::api::core::v1::Pod>>,
    },
    /// The cluster has no nodes.
    NoNodes,
    /// A plugin failed; the pod goes to backoff.
    Error(Status),
}

impl GenericScheduler {
    /// Runs one cycle: [`GenericScheduler::schedule_pod`], and on a fit error
    /// DefaultPreemption (if enabled) whose message lands in the diagnosis.
    #[allow(clippy::too_many_arguments)]
    pub fn schedule_one<R: Rng + ?Sized>(
        &mut self,
        fwk: &Framework,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nominator: &dyn PodNominator,
        pdbs: &[Arc<k8s_openapi::api::policy::v1::PodDisruptionBudget>],
        rng: &mut R,
    ) -> ScheduleOutcome {
        self.schedule_one_with_state(fwk, pod, snapshot, nominator, pdbs, rng)
            .0
    }

    /// [`GenericScheduler::schedule_one`], also returning the cycle's state, which
    /// the Reserve and PreBind plugins of a scheduled pod read.
    #[allow(clippy::too_many_arguments)]
    pub fn schedule_one_with_state<R: Rng + ?Sized>(
        &mut self,
        fwk: &Framework,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nominator: &dyn PodNominator,
        pdbs: &[Arc<k8s_openapi::api::policy::v1::PodDisruptionBudget>],
        rng: &mut R,
    ) -> (ScheduleOutcome, CycleState) {
        let mut state = CycleState::new();
        let outcome = match self.schedule_pod(fwk, &mut state, pod, snapshot, nominator, rng) {
            Ok(r) => ScheduleOutcome::Scheduled(r),
            Err(ScheduleError::NoNodesAvailable) => ScheduleOutcome::NoNodes,
            Err(ScheduleError::Internal(s)) => ScheduleOutcome::Error(s),
            Err(ScheduleError::Fit(mut fe)) => {
                let (mut nominated_node, mut victims, mut clear_nominations) =
                    (None, Vec::new(), Vec::new());
                if fwk.preemption_enabled() {
                    let r = crate::preemption::preempt(
                        fwk,
                        &state,
                        pod,
                        snapshot,
                        &fe.diagnosis.node_to_status,
                        pdbs,
                        nominator,
                        rng,
                    );
                    let msg = r.status.message();
                    if !msg.is_empty() {
                        fe.diagnosis.post_filter_msg = format!("preemption: {msg}");
                    }
                    nominated_node = r.nominated_node;
                    victims = r.victims;
                    clear_nominations = r.clear_nominations;
                }
                ScheduleOutcome::Unschedulable {
                    error: fe,
                    nominated_node,
                    victims,
                    clear_nominations,
                }
            }
        };
        (outcome, state)
    }
}

/// The feasible nodes' total scores, in their order (every node scores 1 when no
/// score plugin runs): [`prioritize_nodes`] without the per-plugin breakdown.
pub fn prioritize_totals(
    fwk: &Framework,
    state: &mut CycleState,
    pod: &PodInfo,
    nodes: &[Arc<NodeInfo>],
    snapshot: &Snapshot,
) -> Result<Vec<i64>, ScheduleError> {
    if fwk.score_plugins().next().is_none() {
        return Ok(vec![1; nodes.len()]);
    }
    let s = fwk.run_pre_score(state, pod, nodes, snapshot);
    if !s.is_success() {
        return Err(ScheduleError::Internal(s));
    }
    fwk.run_score_totals(state, pod, nodes, snapshot)
        .map_err(ScheduleError::Internal)
}

/// Scores the feasible nodes (every node scores 1 when no score plugin runs).
pub fn prioritize_nodes(
    fwk: &Framework,
    state: &mut CycleState,
    pod: &PodInfo,
    nodes: &[Arc<NodeInfo>],
    snapshot: &Snapshot,
) -> Result<Vec<NodePluginScores>, ScheduleError> {
    if fwk.score_plugins().next().is_none() {
        return Ok(nodes
            .iter()
            .map(|n| NodePluginScores {
                name: n.node_name().to_string(),
                scores: vec![PluginScore { name: "", score: 1 }],
                total_score: 1,
            })
            .collect());
    }
    let s = fwk.run_pre_score(state, pod, nodes, snapshot);
    if !s.is_success() {
        return Err(ScheduleError::Internal(s));
    }
    fwk.run_score(state, pod, nodes, snapshot)
        .map_err(ScheduleError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_score_buffers_keep_their_allocation() {
        let names = ["a".to_string(), "b".to_string()];
        let mut v: Vec<NodeScore> = names
            .iter()
            .map(|n| NodeScore { name: n, score: 1 })
            .collect();
        v.reserve(100);
        let (cap, ptr) = (v.capacity(), v.as_ptr() as usize);
        let w: Vec<NodeScore<'static>> = recycle(v);
        assert!(w.is_empty());
        assert_eq!((w.capacity(), w.as_ptr() as usize), (cap, ptr));
    }
    use crate::config::ResolvedProfile;
    use crate::framework::StaticLister;
    use crate::testing::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn fwk() -> Framework {
        Framework::new(
            &ResolvedProfile::default_for("capstan-scheduler"),
            Arc::new(StaticLister::default()),
        )
        .unwrap()
    }

    fn schedule(snap: &Snapshot, pod: PodBuilder) -> Result<ScheduleResult, ScheduleError> {
        let mut g = GenericScheduler::default();
        g.schedule_pod(
            &fwk(),
            &mut CycleState::new(),
            &PodInfo::new(pod.build()),
            snap,
            &NoNominations,
            &mut StdRng::seed_from_u64(1),
        )
    }

    #[test]
    fn adaptive_percentage_of_nodes_to_score() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 99), 99);
        // 1000 nodes: 50 - 8 = 42% → 420.
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 5000 nodes: 50 - 40 = 10% → 500.
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // 6000 nodes: 50 - 48 = 2% → floor 5% → 300.
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        // Never fewer than 100.
        assert_eq!(num_feasible_nodes_to_find(1, 1000), 100);
        assert_eq!(num_feasible_nodes_to_find(100, 1000), 1000);
    }

    #[test]
    fn picks_the_highest_scoring_node() {
        let snap = Snapshot::new(vec![
            NodeInfo::new(NodeBuilder::new("small").capacity("2", "4Gi", 110).build()),
            NodeInfo::new(NodeBuilder::new("big").capacity("16", "64Gi", 110).build()),
        ]);
        let r = schedule(
            &snap,
            PodBuilder::new("p").container(&[("cpu", "1"), ("memory", "1Gi")]),
        )
        .unwrap();
        assert_eq!(r.suggested_host, "big");
        assert_eq!((r.evaluated_nodes, r.feasible_nodes), (2, 2));
    }

    #[test]
    fn fit_error_message_has_upstream_shape() {
        let mut nodes = Vec::new();
        for i in 0..3 {
            nodes.push(NodeInfo::new(
                NodeBuilder::new(&format!("w{i}"))
                    .capacity("1", "4Gi", 110)
                    .build(),
            ));
        }
        for i in 0..2 {
            nodes.push(NodeInfo::new(
                NodeBuilder::new(&format!("cp{i}"))
                    .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                    .build(),
            ));
        }
        let snap = Snapshot::new(nodes);
        let err = schedule(&snap, PodBuilder::new("p").container(&[("cpu", "2")])).unwrap_err();
        let ScheduleError::Fit(fe) = err else {
            panic!("expected a fit error")
        };
        assert_eq!(
            fe.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu."
        );
        assert_eq!(
            fe.diagnosis
                .unschedulable_plugins
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            ["NodeResourcesFit", "TaintToleration"]
        );
    }

    #[test]
    fn pre_filter_rejection_is_reported_once() {
        let snap = Snapshot::new(vec![NodeInfo::new(NodeBuilder::new("n").build())]);
        let err = schedule(&snap, PodBuilder::new("p").pvc("missing")).unwrap_err();
        let ScheduleError::Fit(fe) = err else {
            panic!("expected a fit error")
        };
        assert_eq!(
            fe.to_string(),
            "0/1 nodes are available: persistentvolumeclaim \"missing\" not found."
        );
        assert!(fe.diagnosis.unschedulable_plugins.contains("VolumeBinding"));
    }

    #[test]
    fn node_name_restriction_from_pre_filter_marks_other_nodes() {
        let snap = Snapshot::new(vec![
            NodeInfo::new(NodeBuilder::new("a").capacity("1", "1Gi", 10).build()),
            NodeInfo::new(NodeBuilder::new("b").build()),
        ]);
        let err = schedule(
            &snap,
            PodBuilder::new("p")
                .container(&[("cpu", "2")])
                .node_affinity_required_fields(vec![vec![("metadata.name", "In", vec!["a"])]]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't satisfy plugin(s) [NodeAffinity]."
        );
    }

    #[test]
    fn full_cycle_message_includes_preemption() {
        let mut nodes = Vec::new();
        for i in 0..3 {
            let mut ni = NodeInfo::new(
                NodeBuilder::new(&format!("w{i}"))
                    .capacity("1", "4Gi", 110)
                    .build(),
            );
            ni.add_pod(Arc::new(PodInfo::new(
                PodBuilder::new(&format!("e{i}"))
                    .container(&[("cpu", "500m")])
                    .build(),
            )));
            nodes.push(ni);
        }
        for i in 0..2 {
            nodes.push(NodeInfo::new(
                NodeBuilder::new(&format!("cp{i}"))
                    .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                    .build(),
            ));
        }
        let snap = Snapshot::new(nodes);
        // Equal priority (0): the workers' pods are no victims; upstream's message
        // really ends with "..", the post-filter message being a full FitError.
        let pod = PodInfo::new(PodBuilder::new("p").container(&[("cpu", "600m")]).build());
        let out = GenericScheduler::default().schedule_one(
            &fwk(),
            &pod,
            &snap,
            &NoNominations,
            &[],
            &mut StdRng::seed_from_u64(1),
        );
        let ScheduleOutcome::Unschedulable {
            error,
            nominated_node,
            ..
        } = out
        else {
            panic!("unschedulable expected")
        };
        assert!(nominated_node.is_none());
        assert_eq!(
            error.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu. \
             preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.."
        );
    }

    #[test]
    fn no_nodes() {
        assert!(matches!(
            schedule(&Snapshot::default(), PodBuilder::new("p")),
            Err(ScheduleError::NoNodesAvailable)
        ));
    }

    #[test]
    fn ties_are_broken_randomly_but_reproducibly() {
        let scores: Vec<NodePluginScores> = (0..4)
            .map(|i| NodePluginScores {
                name: format!("n{i}"),
                scores: vec![],
                total_score: if i == 3 { 5 } else { 10 },
            })
            .collect();
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            seen.insert(select_host(&scores, &mut StdRng::seed_from_u64(seed)).unwrap());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["n0", "n1", "n2"]);
        let a = select_host(&scores, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, select_host(&scores, &mut StdRng::seed_from_u64(7)));
    }

    #[test]
    fn selecting_by_totals_picks_what_select_host_picks() {
        let totals = [7i64, 9, 3, 9, 9, 1];
        let scores: Vec<NodePluginScores> = totals
            .iter()
            .enumerate()
            .map(|(i, t)| NodePluginScores {
                name: format!("n{i}"),
                scores: vec![],
                total_score: *t,
            })
            .collect();
        for seed in 0..32 {
            let by_name = select_host(&scores, &mut StdRng::seed_from_u64(seed)).unwrap();
            let by_index = select_host_index(&totals, &mut StdRng::seed_from_u64(seed)).unwrap();
            assert_eq!(by_name, format!("n{by_index}"));
        }
        assert_eq!(select_host_index(&[], &mut StdRng::seed_from_u64(1)), None);
    }

    #[test]
    fn score_totals_equal_the_sum_of_the_per_plugin_scores() {
        // Nodes that differ in free resources, PreferNoSchedule taints, labels and
        // images, so every default score plugin contributes.
        let nodes: Vec<NodeInfo> = (0..6)
            .map(|i| {
                let mut b = NodeBuilder::new(&format!("n{i}"))
                    .capacity(["2", "4", "8"][i % 3], ["4Gi", "8Gi"][i % 2], 110)
                    .label("kubernetes.io/hostname", &format!("n{i}"))
                    .label("topology.kubernetes.io/zone", ["a", "b"][i % 2]);
                if i % 3 == 1 {
                    b = b.taint("dedicated", "x", "PreferNoSchedule");
                }
                if i % 2 == 0 {
                    b = b.image("registry/app:v1", 400 << 20);
                }
                let mut ni = NodeInfo::new(b.build());
                for k in 0..i {
                    ni.add_pod(Arc::new(PodInfo::new(
                        PodBuilder::new(&format!("e{i}-{k}"))
                            .label("app", "web")
                            .container(&[("cpu", "300m"), ("memory", "256Mi")])
                            .node_name(&format!("n{i}"))
                            .build(),
                    )));
                }
                ni
            })
            .collect();
        let snap = Snapshot::new(nodes);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "web")
                .image("registry/app:v1")
                .container(&[("cpu", "200m"), ("memory", "128Mi")])
                .affinity_preferred(30, &[("app", "web")], "topology.kubernetes.io/zone")
                .build(),
        );
        let f = fwk();
        let mut state = CycleState::new();
        let (_, s, _) = f.run_pre_filter(&mut state, &pod, &snap);
        assert!(s.is_success(), "{s}");
        let feasible: Vec<Arc<NodeInfo>> = snap.list().to_vec();
        let detailed = prioritize_nodes(&f, &mut state.clone(), &pod, &feasible, &snap).unwrap();
        let totals = prioritize_totals(&f, &mut state, &pod, &feasible, &snap).unwrap();
        assert_eq!(
            detailed.iter().map(|d| d.total_score).collect::<Vec<_>>(),
            totals
        );
        for d in &detailed {
            assert_eq!(d.total_score, d.scores.iter().map(|s| s.score).sum::<i64>());
        }
        // The scores differ between nodes: the comparison is not trivially equal.
        assert!(totals.iter().any(|t| *t != totals[0]), "{totals:?}");
    }

    #[test]
    fn search_starts_round_robin_and_stops_at_the_sample() {
        let nodes: Vec<NodeInfo> = (0..1000)
            .map(|i| NodeInfo::new(NodeBuilder::new(&format!("n{i:04}")).build()))
            .collect();
        let snap = Snapshot::new(nodes);
        let mut g = GenericScheduler::default();
        let f = fwk();
        let pod = PodInfo::new(PodBuilder::new("p").container(&[("cpu", "100m")]).build());
        let r = g
            .schedule_pod(
                &f,
                &mut CycleState::new(),
                &pod,
                &snap,
                &NoNominations,
                &mut StdRng::seed_from_u64(1),
            )
            .unwrap();
        assert_eq!(r.feasible_nodes, 420);
        assert_eq!(g.next_start_node_index(), 420);
        g.schedule_pod(
            &f,
            &mut CycleState::new(),
            &pod,
            &snap,
            &NoNominations,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(g.next_start_node_index(), 840);
        g.schedule_pod(
            &f,
            &mut CycleState::new(),
            &pod,
            &snap,
            &NoNominations,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(g.next_start_node_index(), 260);
    }

    #[test]
    fn nominated_pods_of_higher_priority_hold_their_room() {
        let snap = Snapshot::new(vec![NodeInfo::new(
            NodeBuilder::new("n").capacity("2", "4Gi", 10).build(),
        )]);
        struct Nom(Vec<Arc<PodInfo>>);
        impl PodNominator for Nom {
            fn nominated_pods_for_node(&self, _n: &str) -> Vec<Arc<PodInfo>> {
                self.0.clone()
            }
        }
        let nom = Nom(vec![Arc::new(PodInfo::new(
            PodBuilder::new("hi")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
        ))]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .priority(10)
                .container(&[("cpu", "1")])
                .build(),
        );
        let mut g = GenericScheduler::default();
        let r = g.schedule_pod(
            &fwk(),
            &mut CycleState::new(),
            &pod,
            &snap,
            &nom,
            &mut StdRng::seed_from_u64(1),
        );
        assert!(matches!(r, Err(ScheduleError::Fit(_))));
        let higher = PodInfo::new(
            PodBuilder::new("p")
                .priority(1000)
                .container(&[("cpu", "1")])
                .build(),
        );
        let r = g.schedule_pod(
            &fwk(),
            &mut CycleState::new(),
            &higher,
            &snap,
            &nom,
            &mut StdRng::seed_from_u64(1),
        );
        assert!(r.is_ok());
    }
}
