//! Opportunistic batching (upstream KEP-5598), made exact: pods with the same
//! scheduling content reuse each other's per-node Filter results and raw Score
//! results on every node that did not change since, so a burst of identical pods
//! (a Job's, a bare-pod workload's) costs a full cycle once and then only the
//! nodes that changed — usually the one the previous pod went to.
//!
//! Upstream keeps the previous pod's sorted node list and reuses it only while the
//! chosen node becomes infeasible (one pod per node). Here the memo keeps raw,
//! per-node results instead, invalidated node by node through the cache's
//! [`NodeChangeLog`](crate::cache::NodeChangeLog) and wholesale when the cache's
//! epoch moves; the cycle then walks the same nodes in the same order, normalises
//! the same raw scores and breaks ties with the same random draws as an unbatched
//! cycle, so it picks the same node. A pod is batched only when every filter and
//! score plugin of its profile says it can be ([`Plugin::batchable`]), no pod is
//! nominated anywhere, and PreFilter does not narrow the nodes.
//!
//! [`Plugin::batchable`]: crate::framework::Plugin::batchable

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::cache::{NodeInfo, Snapshot};

/// Memos kept at once (distinct pod contents being scheduled in turn).
const MEMOS: usize = 4;

/// What the memo knows of one node's Filter result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Not computed since the node last changed.
    Unknown,
    /// Every filter passed.
    Feasible,
    /// A filter rejected the node.
    Infeasible,
}

/// Per-node results for pods of one scheduling content, valid for one change log
/// and epoch, up to a change sequence.
#[derive(Debug, Clone)]
pub(crate) struct Memo {
    profile: String,
    pod: Arc<Pod>,
    log_id: u64,
    epoch: u64,
    seq: u64,
    filter_mask: Option<u64>,
    fit: Vec<Fit>,
    names: Vec<Option<Arc<str>>>,
    scores: ScoreTable,
    last_use: u64,
}

/// Raw scores per node and score plugin, for one set of active score plugins.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScoreTable {
    mask: Option<u64>,
    plugins: usize,
    scored: Vec<bool>,
    raw: Vec<i64>,
}

impl ScoreTable {
    /// Whether the raw scores of the node at `pos` are known.
    pub(crate) fn scored(&self, pos: usize) -> bool {
        self.scored[pos]
    }

    /// Marks the raw scores of the node at `pos` as recorded.
    pub(crate) fn set_scored(&mut self, pos: usize) {
        self.scored[pos] = true;
    }

    /// The raw score of plugin `k` on the node at `pos`.
    pub(crate) fn raw(&self, pos: usize, k: usize) -> i64 {
        self.raw[pos * self.plugins + k]
    }

    /// Records the raw score of plugin `k` on the node at `pos`.
    pub(crate) fn set_raw(&mut self, pos: usize, k: usize, score: i64) {
        self.raw[pos * self.plugins + k] = score;
    }
}

impl Memo {
    fn new(profile: &str, pod: &Arc<Pod>, snapshot: &Snapshot, filter_mask: Option<u64>) -> Self {
        let n = snapshot.len();
        Memo {
            profile: profile.to_string(),
            pod: pod.clone(),
            log_id: snapshot.change_log().id(),
            epoch: snapshot.epoch(),
            seq: snapshot.change_seq(),
            filter_mask,
            fit: vec![Fit::Unknown; n],
            names: vec![None; n],
            scores: ScoreTable {
                scored: vec![false; n],
                ..ScoreTable::default()
            },
            last_use: 0,
        }
    }

    fn matches(
        &self,
        profile: &str,
        pod: &Pod,
        snapshot: &Snapshot,
        filter_mask: Option<u64>,
    ) -> bool {
        self.profile == profile
            && self.log_id == snapshot.change_log().id()
            && self.epoch == snapshot.epoch()
            && self.fit.len() == snapshot.len()
            && self.filter_mask == filter_mask
            && same_scheduling_content(&self.pod, pod)
    }

    /// Forgets what it knew of the nodes changed since it was last brought up to
    /// date (of every node when the log no longer has them).
    fn catch_up(&mut self, snapshot: &Snapshot, scratch: &mut Vec<u32>) {
        let to = snapshot.change_seq();
        if to == self.seq {
            return;
        }
        scratch.clear();
        if snapshot.change_log().changed_between(self.seq, to, scratch) {
            for &pos in scratch.iter() {
                let pos = pos as usize;
                if pos < self.fit.len() {
                    self.fit[pos] = Fit::Unknown;
                    self.scores.scored[pos] = false;
                }
            }
        } else {
            self.fit.fill(Fit::Unknown);
            self.scores.scored.fill(false);
        }
        self.seq = to;
    }

    /// The Filter result of the node at `pos`, if known.
    pub(crate) fn fit(&self, pos: usize) -> Fit {
        self.fit[pos]
    }

    /// Records the Filter result of the node at `pos`.
    pub(crate) fn set_fit(&mut self, pos: usize, node: &NodeInfo, feasible: bool) {
        self.fit[pos] = if feasible {
            Fit::Feasible
        } else {
            Fit::Infeasible
        };
        if self.names[pos].is_none() {
            self.names[pos] = Some(node.node_name_arc().clone());
        }
    }

    /// The name of the node at `pos` (known once its Filter result is).
    pub(crate) fn name(&self, pos: usize) -> &str {
        self.names[pos].as_deref().unwrap_or("")
    }

    /// Prepares the raw-score table for a cycle whose score plugins are
    /// `score_mask` out of `plugins` (scores of another set of plugins are
    /// dropped), and returns it beside the node names.
    pub(crate) fn scoring(
        &mut self,
        score_mask: u64,
        plugins: usize,
    ) -> (&[Option<Arc<str>>], &mut ScoreTable) {
        let t = &mut self.scores;
        if t.mask != Some(score_mask) || t.plugins != plugins {
            t.mask = Some(score_mask);
            t.plugins = plugins;
            t.scored.fill(false);
            t.raw = vec![0; self.fit.len() * plugins];
        }
        (&self.names, &mut self.scores)
    }
}

/// Whether two pods are alike for every plugin that can batch: same namespace,
/// labels, controller and other owners (default spreading reads them) and spec
/// (requests, affinity, tolerations, ports, images, volumes, priority …).
pub(crate) fn same_scheduling_content(a: &Pod, b: &Pod) -> bool {
    std::ptr::eq(a, b)
        || (a.metadata.namespace == b.metadata.namespace
            && a.metadata.labels == b.metadata.labels
            && a.metadata.owner_references == b.metadata.owner_references
            && a.spec == b.spec)
}

/// The memos of recent pod contents, least recently used replaced first.
#[derive(Debug, Clone, Default)]
pub struct BatchMemos {
    memos: Vec<Memo>,
    clock: u64,
    scratch: Vec<u32>,
    hits: u64,
    misses: u64,
}

impl BatchMemos {
    /// The memo for `pod`'s content under this snapshot, brought up to date, or a
    /// new empty one.
    pub(crate) fn memo_for(
        &mut self,
        profile: &str,
        pod: &Arc<Pod>,
        snapshot: &Snapshot,
        filter_mask: Option<u64>,
    ) -> &mut Memo {
        self.clock += 1;
        let clock = self.clock;
        let found = self
            .memos
            .iter()
            .position(|m| m.matches(profile, pod, snapshot, filter_mask));
        let idx = match found {
            Some(i) => {
                self.hits += 1;
                self.memos[i].catch_up(snapshot, &mut self.scratch);
                i
            }
            None => {
                self.misses += 1;
                let fresh = Memo::new(profile, pod, snapshot, filter_mask);
                if self.memos.len() < MEMOS {
                    self.memos.push(fresh);
                    self.memos.len() - 1
                } else {
                    let lru = self
                        .memos
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| m.last_use)
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    self.memos[lru] = fresh;
                    lru
                }
            }
        };
        let memo = &mut self.memos[idx];
        memo.last_use = clock;
        memo
    }

    /// Cycles that found a memo of their pod's content.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Batched cycles that had to start a memo.
    pub fn misses(&self) -> u64 {
        self.misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, PodInfo};
    use crate::config::ResolvedProfile;
    use crate::framework::{Framework, StaticLister};
    use crate::schedule_one::{GenericScheduler, NoNominations, ScheduleOutcome};
    use crate::testing::{NodeBuilder, PodBuilder};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn node(i: usize, rng: &mut StdRng) -> k8s_openapi::api::core::v1::Node {
        let cpu = ["2", "4", "8"][rng.random_range(0..3)];
        let mut b = NodeBuilder::new(&format!("n{i}"))
            .capacity(cpu, "16Gi", 30)
            .label("kubernetes.io/hostname", &format!("n{i}"))
            .label("topology.kubernetes.io/zone", &format!("z{}", i % 8));
        match rng.random_range(0..10) {
            0 => b = b.taint("dedicated", "infra", "NoSchedule"),
            1 => b = b.taint("flaky", "yes", "PreferNoSchedule"),
            2 => b = b.image("nginx:1.25", 150 * 1024 * 1024),
            3 => b = b.label("disk", "ssd"),
            _ => {}
        }
        b.build()
    }

    /// A pod of one of a few shapes; most can be batched, some cannot (their
    /// placements move the results of the others on other nodes).
    fn pod(i: usize, rng: &mut StdRng) -> k8s_openapi::api::core::v1::Pod {
        let b = PodBuilder::new(&format!("p{i}"));
        match rng.random_range(0..12) {
            0..=3 => b.container(&[("cpu", "100m"), ("memory", "200Mi")]),
            4 | 5 => b
                .label("app", "f")
                .container(&[("cpu", "100m"), ("memory", "200Mi")]),
            6 => b
                .container(&[("cpu", "500m"), ("memory", "1Gi")])
                .toleration("dedicated", "Equal", "infra", "NoSchedule"),
            7 => b
                .container(&[("cpu", "200m")])
                .node_affinity_preferred(10, vec![("disk", "In", vec!["ssd"])]),
            8 => b.container(&[("cpu", "100m")]).host_port(8080),
            9 => b.image("nginx:1.25").container(&[("cpu", "300m")]),
            10 => b
                .label("app", "anti")
                .container(&[("cpu", "100m")])
                .anti_affinity_required(&[("app", "f")], "topology.kubernetes.io/zone"),
            _ => b
                .label("app", "spread")
                .container(&[("cpu", "100m")])
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "DoNotSchedule",
                    &[("app", "spread")],
                ),
        }
        .build()
    }

    fn outcome_key(o: &ScheduleOutcome) -> String {
        match o {
            ScheduleOutcome::Scheduled(r) => format!("scheduled {}", r.suggested_host),
            ScheduleOutcome::Unschedulable { error, .. } => format!("unschedulable {error}"),
            ScheduleOutcome::NoNodes => "no nodes".into(),
            ScheduleOutcome::Error(s) => format!("error {s:?}"),
        }
    }

    /// Twin schedulers, one batching and one not, over the same random cluster
    /// history (pods placed and removed, nodes added, changed and removed,
    /// namespace labels set): every decision must be the same, and the batching
    /// twin must have reused its memos.
    #[test]
    fn batched_and_unbatched_cycles_decide_alike() {
        let fwk = Framework::new(
            &ResolvedProfile::default_for("capstan-scheduler"),
            Arc::new(StaticLister::default()),
        )
        .unwrap();
        let mut total_hits = 0;
        for seed in 0..6u64 {
            let mut world = StdRng::seed_from_u64(seed);
            let mut caches = [Cache::new(Duration::ZERO), Cache::new(Duration::ZERO)];
            let mut algos = [GenericScheduler::new(0), GenericScheduler::new(0)];
            algos[1].set_batching(false);
            let mut rngs = [
                StdRng::seed_from_u64(seed + 100),
                StdRng::seed_from_u64(seed + 100),
            ];
            let mut nodes = 150;
            for i in 0..nodes {
                let n = node(i, &mut world);
                for c in &mut caches {
                    c.add_node(n.clone());
                }
            }
            let mut placed: Vec<String> = Vec::new();
            for step in 0..600 {
                match world.random_range(0..100) {
                    0..=84 => {
                        let p = pod(step, &mut world);
                        let info = PodInfo::new(p.clone());
                        let mut keys = Vec::new();
                        for t in 0..2 {
                            let snap = caches[t].snapshot();
                            let o = algos[t].schedule_one(
                                &fwk,
                                &info,
                                &snap,
                                &NoNominations,
                                &[],
                                &mut rngs[t],
                            );
                            drop(snap);
                            keys.push(outcome_key(&o));
                            if let ScheduleOutcome::Scheduled(r) = o {
                                let mut bound = p.clone();
                                bound.spec.as_mut().unwrap().node_name = Some(r.suggested_host);
                                caches[t].assume_pod(bound).unwrap();
                            }
                        }
                        assert_eq!(keys[0], keys[1], "seed {seed}, step {step}");
                        assert_eq!(
                            algos[0].next_start_node_index(),
                            algos[1].next_start_node_index(),
                            "seed {seed}, step {step}"
                        );
                        if keys[0].starts_with("scheduled") {
                            placed.push(info.key.clone());
                        }
                    }
                    85..=91 if !placed.is_empty() => {
                        let key = placed.swap_remove(world.random_range(0..placed.len()));
                        for c in &mut caches {
                            c.forget_pod(&key).unwrap();
                        }
                    }
                    92..=94 => {
                        let i = world.random_range(0..nodes);
                        let n = node(i, &mut world);
                        for c in &mut caches {
                            c.update_node(n.clone());
                        }
                    }
                    95 | 96 => {
                        let n = node(nodes, &mut world);
                        nodes += 1;
                        for c in &mut caches {
                            c.add_node(n.clone());
                        }
                    }
                    97 => {
                        let name = format!("n{}", world.random_range(0..nodes));
                        for c in &mut caches {
                            c.remove_node(&name);
                        }
                    }
                    _ => {
                        let labels = BTreeMap::from([("step".to_string(), step.to_string())]);
                        for c in &mut caches {
                            c.set_namespace("default", labels.clone());
                        }
                    }
                }
            }
            assert_eq!(algos[1].batch_memos().hits(), 0);
            total_hits += algos[0].batch_memos().hits();
        }
        assert!(
            total_hits > 1000,
            "batching reused its memos in only {total_hits} cycles"
        );
    }
}
