//! The scheduling queue (upstream `internal/queue/scheduling_queue.go`): activeQ
//! ordered by priority then enqueue time (PrioritySort), backoffQ with per-pod
//! exponential backoff, unschedulable pods parked until a cluster event that could
//! make them fit (QueueingHints reduced to each plugin's registered events) or
//! until they have waited 5 minutes, and the nominator of preempting pods.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::{PodInfo, pod_key, pod_priority};
use crate::framework::events::pod_update_actions;
use crate::framework::plugins::SCHEDULING_GATES;
use crate::framework::{ActionType, ClusterEvent, EventResource};
use crate::schedule_one::PodNominator;

/// Queue timing, as upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// First backoff (`podInitialBackoffSeconds`, 1 s).
    pub initial_backoff: Duration,
    /// Backoff cap (`podMaxBackoffSeconds`, 10 s).
    pub max_backoff: Duration,
    /// How long a pod may stay unschedulable before it is retried anyway
    /// (`podMaxInUnschedulablePodsDuration`, 5 min).
    pub max_in_unschedulable: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
        }
    }
}

/// A pod in the queue with its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod_info: Arc<PodInfo>,
    /// When it was last added or requeued (orders activeQ, starts backoff).
    pub timestamp: Instant,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When it was first popped.
    pub initial_attempt_timestamp: Option<Instant>,
    /// Plugins that rejected it in its last attempt (empty: an error).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    gated: bool,
}

impl QueuedPodInfo {
    fn new(pod: Arc<Pod>, now: Instant) -> Self {
        let gated = is_gated(&pod);
        QueuedPodInfo {
            pod_info: Arc::new(PodInfo::new(pod)),
            timestamp: now,
            attempts: 0,
            initial_attempt_timestamp: None,
            unschedulable_plugins: if gated {
                BTreeSet::from([SCHEDULING_GATES])
            } else {
                BTreeSet::new()
            },
            gated,
        }
    }

    /// The queue key of the pod.
    pub fn key(&self) -> &str {
        &self.pod_info.key
    }
}

fn is_gated(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
}

/// Counts of pending pods per sub-queue (the `scheduler_pending_pods` gauge's `queue` label).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingPods {
    /// In activeQ.
    pub active: usize,
    /// In backoffQ.
    pub backoff: usize,
    /// Parked as unschedulable.
    pub unschedulable: usize,
    /// Waiting for scheduling gates.
    pub gated: usize,
}

type ActiveKey = (Reverse<i32>, Instant, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Active(ActiveKey),
    Backoff((Instant, u64)),
    Unschedulable,
    InFlight,
}

#[derive(Debug)]
struct Entry {
    info: QueuedPodInfo,
    loc: Location,
}

#[derive(Debug, Default)]
struct Inner {
    active: BTreeMap<ActiveKey, String>,
    backoff: BTreeMap<(Instant, u64), String>,
    pods: hashbrown::HashMap<String, Entry>,
    in_flight: InFlight,
    /// Keys of parked pods (unschedulable or gated): the only ones a cluster
    /// event or the leftover flush has to look at.
    parked: hashbrown::HashSet<String>,
    events: VecDeque<(u64, ClusterEvent)>,
    event_seq: u64,
    seq: u64,
    scheduling_cycle: u64,
    closed: bool,
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    nominated_node: HashMap<String, String>,
}

/// Popped pods whose attempt is not over, with the event sequence number at
/// which each was popped. Pods stay in flight until their binding finishes, so
/// thousands can be; the oldest start is kept ordered (events older than it are
/// dropped on every `done`).
#[derive(Debug, Default)]
struct InFlight {
    started: hashbrown::HashMap<String, u64>,
    /// Pods in flight per start sequence number.
    by_start: BTreeMap<u64, usize>,
}

impl InFlight {
    fn insert(&mut self, key: String, seq: u64) {
        if let Some(old) = self.started.insert(key, seq) {
            self.forget_start(old);
        }
        *self.by_start.entry(seq).or_default() += 1;
    }

    fn remove(&mut self, key: &str) -> Option<u64> {
        let seq = self.started.remove(key)?;
        self.forget_start(seq);
        Some(seq)
    }

    fn forget_start(&mut self, seq: u64) {
        if let Some(n) = self.by_start.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                self.by_start.remove(&seq);
            }
        }
    }

    fn oldest(&self) -> Option<u64> {
        self.by_start.keys().next().copied()
    }

    fn is_empty(&self) -> bool {
        self.started.is_empty()
    }
}

/// The scheduling queue. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    cfg: QueueConfig,
    plugin_events: HashMap<&'static str, Vec<ClusterEvent>>,
}

impl SchedulingQueue {
    /// A queue; `plugin_events` are the events each plugin registered
    /// ([`crate::framework::Framework::events_to_register`]).
    pub fn new(cfg: QueueConfig, plugin_events: HashMap<&'static str, Vec<ClusterEvent>>) -> Self {
        let mut plugin_events = plugin_events;
        plugin_events.insert(
            SCHEDULING_GATES,
            vec![ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
            )],
        );
        SchedulingQueue {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            cfg,
            plugin_events,
        }
    }

    /// The backoff after `attempts` attempts: initial × 2^(attempts−1), capped
    /// (upstream `calculateBackoffDuration`).
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let mut d = self.cfg.initial_backoff;
        for _ in 1..attempts {
            if d > self.cfg.max_backoff.saturating_sub(d) {
                return self.cfg.max_backoff;
            }
            d += d;
        }
        d.min(self.cfg.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    fn place_active(inner: &mut Inner, key: &str) {
        let Some(e) = inner.pods.get_mut(key) else {
            return;
        };
        inner.seq += 1;
        let ak = (
            Reverse(pod_priority(&e.info.pod_info.pod)),
            e.info.timestamp,
            inner.seq,
        );
        e.loc = Location::Active(ak);
        inner.active.insert(ak, key.to_string());
        inner.parked.remove(key);
    }

    fn place_backoff(&self, inner: &mut Inner, key: &str) {
        let Some(e) = inner.pods.get_mut(key) else {
            return;
        };
        inner.seq += 1;
        let bk = (self.backoff_expiry(&e.info), inner.seq);
        e.loc = Location::Backoff(bk);
        inner.backoff.insert(bk, key.to_string());
        inner.parked.remove(key);
    }

    fn unlink(inner: &mut Inner, key: &str) {
        let Some(e) = inner.pods.get(key) else { return };
        match e.loc {
            Location::Active(k) => {
                inner.active.remove(&k);
            }
            Location::Backoff(k) => {
                inner.backoff.remove(&k);
            }
            Location::Unschedulable | Location::InFlight => {}
        }
    }

    /// Moves a parked pod to backoffQ if it is still backing off, else to activeQ.
    fn requeue_after_event(&self, inner: &mut Inner, key: &str, now: Instant) -> bool {
        let Some(e) = inner.pods.get_mut(key) else {
            return false;
        };
        e.info.gated = false;
        let backing_off = self.backoff_expiry(&e.info) > now;
        Self::unlink(inner, key);
        if backing_off {
            self.place_backoff(inner, key);
            false
        } else {
            Self::place_active(inner, key);
            true
        }
    }

    /// Adds a new pending pod (gated pods wait for their gates to go).
    pub fn add(&self, pod: impl Into<Arc<Pod>>) {
        let pod: Arc<Pod> = pod.into();
        let now = Instant::now();
        let key = pod_key(&pod);
        let mut inner = self.inner.lock();
        if inner.pods.contains_key(&key) {
            drop(inner);
            self.update_inner(None, pod);
            return;
        }
        let info = QueuedPodInfo::new(pod, now);
        let gated = info.gated;
        inner.pods.insert(
            key.clone(),
            Entry {
                info,
                loc: Location::Unschedulable,
            },
        );
        inner.parked.insert(key.clone());
        if !gated {
            Self::place_active(&mut inner, &key);
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Updates a pending pod. A parked pod whose change could make it schedulable
    /// (gates removed, tolerations, smaller requests, …) is moved back.
    pub fn update(&self, old: &Pod, new: impl Into<Arc<Pod>>) {
        self.update_inner(Some(old), new.into());
    }

    fn update_inner(&self, old: Option<&Pod>, new: Arc<Pod>) {
        let now = Instant::now();
        let key = pod_key(&new);
        let mut inner = self.inner.lock();
        let Some(e) = inner.pods.get_mut(&key) else {
            drop(inner);
            self.add(new);
            return;
        };
        let previous = e.info.pod_info.pod.clone();
        let actions = pod_update_actions(old.unwrap_or(&previous), &new);
        let was_gated = e.info.gated;
        e.info.pod_info = Arc::new(PodInfo::new(new));
        let loc = e.loc;
        let mut woke = false;
        match loc {
            Location::Active(_) => {
                Self::unlink(&mut inner, &key);
                Self::place_active(&mut inner, &key);
            }
            Location::Backoff(_) | Location::InFlight => {}
            Location::Unschedulable => {
                let still_gated = inner
                    .pods
                    .get(&key)
                    .is_some_and(|e| is_gated(&e.info.pod_info.pod));
                if was_gated && !still_gated {
                    if let Some(e) = inner.pods.get_mut(&key) {
                        e.info.unschedulable_plugins.clear();
                    }
                    woke = self.requeue_after_event(&mut inner, &key, now);
                } else if !was_gated {
                    let ev = ClusterEvent::new(EventResource::UnscheduledPod, actions);
                    if self.interested(&inner.pods[&key].info, &ev) {
                        woke = self.requeue_after_event(&mut inner, &key, now);
                    }
                }
            }
        }
        drop(inner);
        if woke {
            self.notify.notify_one();
        }
    }

    /// Removes a pod (deleted, or bound by someone else).
    pub fn delete(&self, key: &str) {
        let mut inner = self.inner.lock();
        Self::unlink(&mut inner, key);
        inner.pods.remove(key);
        inner.parked.remove(key);
        Self::remove_nomination(&mut inner, key);
    }

    /// Waits for the highest-priority pod of activeQ and hands it out; `None`
    /// once the queue is closed.
    pub async fn pop(&self) -> Option<QueuedPodInfo> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.inner.lock();
                if inner.closed {
                    return None;
                }
                if let Some((_, key)) = inner.active.pop_first() {
                    let seq = inner.event_seq;
                    inner.in_flight.insert(key.clone(), seq);
                    inner.scheduling_cycle += 1;
                    if let Some(e) = inner.pods.get_mut(&key) {
                        e.loc = Location::InFlight;
                        e.info.attempts += 1;
                        if e.info.initial_attempt_timestamp.is_none() {
                            e.info.initial_attempt_timestamp = Some(Instant::now());
                        }
                        return Some(e.info.clone());
                    }
                    inner.in_flight.remove(&key);
                    continue;
                }
            }
            notified.await;
        }
    }

    /// The number of pods popped so far.
    pub fn scheduling_cycle(&self) -> u64 {
        self.inner.lock().scheduling_cycle
    }

    fn prune_events(inner: &mut Inner) {
        let oldest = inner.in_flight.oldest();
        match oldest {
            None => inner.events.clear(),
            Some(o) => {
                while inner.events.front().is_some_and(|(s, _)| *s <= o) {
                    inner.events.pop_front();
                }
            }
        }
    }

    /// The scheduling attempt of a popped pod is over and it was assumed/bound:
    /// the queue forgets it.
    pub fn done(&self, key: &str) {
        let mut inner = self.inner.lock();
        inner.in_flight.remove(key);
        if inner
            .pods
            .get(key)
            .is_some_and(|e| e.loc == Location::InFlight)
        {
            inner.pods.remove(key);
        }
        Self::prune_events(&mut inner);
    }

    fn interested(&self, info: &QueuedPodInfo, ev: &ClusterEvent) -> bool {
        if ev.resource == EventResource::WildCard {
            return true;
        }
        if info.unschedulable_plugins.is_empty() {
            return true;
        }
        info.unschedulable_plugins.iter().any(|p| {
            self.plugin_events
                .get(p)
                .is_some_and(|evs| evs.iter().any(|reg| reg.matches(ev)))
        })
    }

    /// Returns a popped pod that failed: to backoffQ when it failed with an error
    /// or an event it cares about arrived during its attempt, else parked as
    /// unschedulable (upstream `AddUnschedulableIfNotPresent`).
    pub fn add_unschedulable(&self, key: &str, unschedulable_plugins: BTreeSet<&'static str>) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let started = inner.in_flight.remove(key);
        let Some(e) = inner.pods.get_mut(key) else {
            Self::prune_events(&mut inner);
            return;
        };
        if e.loc != Location::InFlight {
            return;
        }
        e.info.timestamp = now;
        e.info.unschedulable_plugins = unschedulable_plugins;
        let info = e.info.clone();
        let missed_event = started.is_some_and(|s| {
            inner
                .events
                .iter()
                .any(|(seq, ev)| *seq > s && self.interested(&info, ev))
        });
        if info.unschedulable_plugins.is_empty() || missed_event {
            self.place_backoff(&mut inner, key);
        } else if let Some(e) = inner.pods.get_mut(key) {
            e.loc = Location::Unschedulable;
            inner.parked.insert(key.to_string());
        }
        Self::prune_events(&mut inner);
    }

    /// A cluster event: parked pods rejected by a plugin interested in it move to
    /// backoffQ/activeQ (upstream `MoveAllToActiveOrBackoffQueue` with hints).
    pub fn on_cluster_event(&self, ev: ClusterEvent) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if !inner.in_flight.is_empty() {
            inner.event_seq += 1;
            let s = inner.event_seq;
            inner.events.push_back((s, ev));
        }
        let keys: Vec<String> = inner
            .parked
            .iter()
            .filter(|k| {
                inner.pods.get(*k).is_some_and(|e| {
                    e.loc == Location::Unschedulable
                        && !e.info.gated
                        && self.interested(&e.info, &ev)
                })
            })
            .cloned()
            .collect();
        let mut woke = false;
        for k in keys {
            woke |= self.requeue_after_event(&mut inner, &k, now);
        }
        drop(inner);
        if woke {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
    }

    /// A pod was bound to a node (assigned pod added).
    pub fn assigned_pod_added(&self) {
        self.on_cluster_event(ClusterEvent::new(EventResource::Pod, ActionType::ADD));
    }

    /// A bound pod changed.
    pub fn assigned_pod_updated(&self, old: &Pod, new: &Pod) {
        self.on_cluster_event(ClusterEvent::new(
            EventResource::Pod,
            pod_update_actions(old, new),
        ));
    }

    /// A bound pod was deleted.
    pub fn assigned_pod_deleted(&self) {
        self.on_cluster_event(ClusterEvent::new(EventResource::Pod, ActionType::DELETE));
    }

    /// Moves backoffQ pods whose backoff has expired to activeQ (upstream
    /// `flushBackoffQCompleted`, every second).
    pub fn flush_backoff_completed(&self) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let mut moved = false;
        while let Some(entry) = inner.backoff.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            Self::place_active(&mut inner, &key);
            moved = true;
        }
        drop(inner);
        if moved {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
    }

    /// Retries pods parked longer than `max_in_unschedulable` (upstream
    /// `flushUnschedulablePodsLeftover`, every 30 seconds).
    pub fn flush_unschedulable_leftover(&self) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let keys: Vec<String> = inner
            .parked
            .iter()
            .filter(|k| {
                inner.pods.get(*k).is_some_and(|e| {
                    e.loc == Location::Unschedulable
                        && !e.info.gated
                        && now.duration_since(e.info.timestamp) > self.cfg.max_in_unschedulable
                })
            })
            .cloned()
            .collect();
        let mut woke = false;
        for k in keys {
            woke |= self.requeue_after_event(&mut inner, &k, now);
        }
        drop(inner);
        if woke {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
    }

    /// Runs the periodic flushes until [`SchedulingQueue::close`].
    pub async fn run(self: Arc<Self>) {
        let mut backoff_tick = tokio::time::interval(Duration::from_secs(1));
        let mut leftover_tick = tokio::time::interval(Duration::from_secs(30));
        backoff_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        leftover_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.inner.lock().closed {
                return;
            }
            tokio::select! {
                _ = backoff_tick.tick() => self.flush_backoff_completed(),
                _ = leftover_tick.tick() => self.flush_unschedulable_leftover(),
            }
        }
    }

    /// Closes the queue: `pop` returns `None` and `run` ends.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Pending pods per sub-queue.
    pub fn pending_pods(&self) -> PendingPods {
        let inner = self.inner.lock();
        let mut p = PendingPods {
            active: inner.active.len(),
            backoff: inner.backoff.len(),
            ..Default::default()
        };
        for e in inner.parked.iter().filter_map(|k| inner.pods.get(k)) {
            if e.loc == Location::Unschedulable {
                if e.info.gated {
                    p.gated += 1;
                } else {
                    p.unschedulable += 1;
                }
            }
        }
        p
    }

    fn remove_nomination(inner: &mut Inner, key: &str) {
        if let Some(node) = inner.nominated_node.remove(key)
            && let Some(v) = inner.nominated.get_mut(&node)
        {
            v.retain(|p| p.key != key);
            if v.is_empty() {
                inner.nominated.remove(&node);
            }
        }
    }

    /// Records that a pod is nominated to a node (after preemption).
    pub fn add_nominated_pod(&self, pod: Arc<PodInfo>, node: &str) {
        let mut inner = self.inner.lock();
        Self::remove_nomination(&mut inner, &pod.key);
        inner
            .nominated_node
            .insert(pod.key.clone(), node.to_string());
        inner
            .nominated
            .entry(node.to_string())
            .or_default()
            .push(pod);
    }

    /// Clears a pod's nomination.
    pub fn delete_nominated_pod(&self, key: &str) {
        Self::remove_nomination(&mut self.inner.lock(), key);
    }
}

impl PodNominator for SchedulingQueue {
    fn nominated_pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.inner
            .lock()
            .nominated
            .get(node)
            .cloned()
            .unwrap_or_default()
    }

    fn has_nominations(&self) -> bool {
        !self.inner.lock().nominated.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResolvedProfile;
    use crate::framework::{Framework, StaticLister};
    use crate::testing::*;

    fn queue() -> Arc<SchedulingQueue> {
        let fw = Framework::new(
            &ResolvedProfile::default_for("s"),
            Arc::new(StaticLister::default()),
        )
        .unwrap();
        Arc::new(SchedulingQueue::new(
            QueueConfig::default(),
            fw.events_to_register().clone(),
        ))
    }

    async fn pop_now(q: &SchedulingQueue) -> Option<String> {
        tokio::time::timeout(Duration::from_millis(1), q.pop())
            .await
            .ok()
            .flatten()
            .map(|p| p.key().to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn active_queue_orders_by_priority_then_arrival() {
        let q = queue();
        q.add(PodBuilder::new("low").priority(1).build());
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add(PodBuilder::new("high").priority(10).build());
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add(PodBuilder::new("low2").priority(1).build());
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add(PodBuilder::new("high2").priority(10).build());
        let mut order = Vec::new();
        for _ in 0..4 {
            order.push(pop_now(&q).await.unwrap());
        }
        assert_eq!(order, ["high", "high2", "low", "low2"]);
        assert_eq!(q.scheduling_cycle(), 4);
        assert_eq!(pop_now(&q).await, None);
    }

    #[test]
    fn backoff_doubles_from_one_to_ten_seconds() {
        let q = queue();
        let secs: Vec<u64> = (0..7).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn errored_pods_back_off_and_return() {
        let q = queue();
        let runner = tokio::spawn(q.clone().run());
        q.add(PodBuilder::new("p").build());
        let p = q.pop().await.unwrap();
        assert_eq!(p.attempts, 1);
        q.add_unschedulable("p", BTreeSet::new());
        assert_eq!(q.pending_pods().backoff, 1);
        let start = Instant::now();
        let p = q.pop().await.unwrap();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        assert_eq!(p.attempts, 2);
        q.add_unschedulable("p", BTreeSet::new());
        let start = Instant::now();
        q.pop().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(2));
        q.close();
        runner.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_move_only_on_relevant_events() {
        let q = queue();
        q.add(PodBuilder::new("p").build());
        q.pop().await.unwrap();
        q.add_unschedulable("p", BTreeSet::from(["NodeResourcesFit"]));
        assert_eq!(q.pending_pods().unschedulable, 1);
        // A label change does not free resources.
        q.on_cluster_event(ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_LABEL,
        ));
        assert_eq!(q.pending_pods().unschedulable, 1);
        // A deleted pod may.
        tokio::time::advance(Duration::from_secs(5)).await;
        q.assigned_pod_deleted();
        assert_eq!(q.pending_pods().unschedulable, 0);
        assert_eq!(pop_now(&q).await.as_deref(), Some("p"));
    }

    #[tokio::test(start_paused = true)]
    async fn moved_pods_still_serve_their_backoff() {
        let q = queue();
        q.add(PodBuilder::new("p").build());
        q.pop().await.unwrap();
        q.add_unschedulable("p", BTreeSet::from(["TaintToleration"]));
        q.on_cluster_event(ClusterEvent::new(EventResource::Node, ActionType::ADD));
        assert_eq!(q.pending_pods().backoff, 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        q.flush_backoff_completed();
        assert_eq!(pop_now(&q).await.as_deref(), Some("p"));
    }

    #[tokio::test(start_paused = true)]
    async fn events_during_the_attempt_send_the_pod_to_backoff() {
        let q = queue();
        q.add(PodBuilder::new("p").build());
        q.add(PodBuilder::new("other").build());
        q.pop().await.unwrap();
        q.on_cluster_event(ClusterEvent::new(EventResource::Node, ActionType::ADD));
        q.add_unschedulable("p", BTreeSet::from(["NodeResourcesFit"]));
        assert_eq!(
            q.pending_pods(),
            PendingPods {
                active: 1,
                backoff: 1,
                unschedulable: 0,
                gated: 0
            }
        );
        // An irrelevant event during the next attempt does not.
        q.pop().await.unwrap();
        q.on_cluster_event(ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_LABEL,
        ));
        q.add_unschedulable("other", BTreeSet::from(["NodeResourcesFit"]));
        assert_eq!(q.pending_pods().unschedulable, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_kept_while_an_older_pod_is_in_flight() {
        let q = queue();
        for p in ["a", "b", "c", "d"] {
            q.add(PodBuilder::new(p).build());
        }
        q.pop().await.unwrap(); // a: its binding is still running
        q.on_cluster_event(ClusterEvent::new(EventResource::Node, ActionType::ADD));
        q.pop().await.unwrap(); // b: started after that event
        q.on_cluster_event(ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_LABEL,
        ));
        q.pop().await.unwrap(); // c: started after both
        q.done("c");
        q.done("b");
        // a saw the node addition during its attempt, although the pods that
        // started later have finished since.
        q.add_unschedulable("a", BTreeSet::from(["NodeResourcesFit"]));
        assert_eq!(q.pending_pods().backoff, 1);
        // Nothing in flight any more: the events are gone and d, failing, is parked.
        q.pop().await.unwrap();
        q.add_unschedulable("d", BTreeSet::from(["NodeResourcesFit"]));
        assert_eq!(q.pending_pods().unschedulable, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_are_flushed_after_five_minutes() {
        let q = queue();
        let runner = tokio::spawn(q.clone().run());
        q.add(PodBuilder::new("p").build());
        q.pop().await.unwrap();
        q.add_unschedulable("p", BTreeSet::from(["NodeAffinity"]));
        let start = Instant::now();
        let p = q.pop().await.unwrap();
        let waited = start.elapsed();
        assert!(
            waited > Duration::from_secs(300) && waited <= Duration::from_secs(331),
            "{waited:?}"
        );
        assert_eq!(p.attempts, 2);
        q.close();
        runner.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn gated_pods_wait_for_their_gates() {
        let q = queue();
        let mut gated = PodBuilder::new("g").build();
        gated.spec.as_mut().unwrap().scheduling_gates =
            Some(vec![k8s_openapi::api::core::v1::PodSchedulingGate {
                name: "example.com/wait".into(),
            }]);
        q.add(gated.clone());
        assert_eq!(q.pending_pods().gated, 1);
        q.on_cluster_event(ClusterEvent::UNSCHEDULABLE_TIMEOUT);
        assert_eq!(pop_now(&q).await, None);
        let mut open = gated.clone();
        open.spec.as_mut().unwrap().scheduling_gates = None;
        q.update(&gated, open);
        assert_eq!(pop_now(&q).await.as_deref(), Some("g"));
    }

    #[tokio::test(start_paused = true)]
    async fn pod_updates_that_may_help_requeue() {
        let q = queue();
        let pod = PodBuilder::new("p").build();
        q.add(pod.clone());
        q.pop().await.unwrap();
        q.add_unschedulable("p", BTreeSet::from(["TaintToleration"]));
        tokio::time::advance(Duration::from_secs(2)).await;
        let mut relabelled = pod.clone();
        relabelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        q.update(&pod, relabelled.clone());
        assert_eq!(q.pending_pods().unschedulable, 1);
        let tolerant = PodBuilder::new("p")
            .toleration("k", "Exists", "", "")
            .build();
        q.update(&relabelled, tolerant);
        assert_eq!(pop_now(&q).await.as_deref(), Some("p"));
    }

    #[tokio::test(start_paused = true)]
    async fn pop_waits_for_add_and_close_ends_it() {
        let q = queue();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.pop().await.map(|p| p.key().to_string()) });
        tokio::task::yield_now().await;
        q.add(PodBuilder::new("late").build());
        assert_eq!(waiter.await.unwrap().as_deref(), Some("late"));
        let q3 = q.clone();
        let waiter = tokio::spawn(async move { q3.pop().await.is_none() });
        tokio::task::yield_now().await;
        q.close();
        assert!(waiter.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn deleted_pods_leave_the_queue_and_their_nomination() {
        let q = queue();
        q.add(PodBuilder::new("p").build());
        let pi = Arc::new(PodInfo::new(PodBuilder::new("p").build()));
        q.add_nominated_pod(pi, "n1");
        assert_eq!(q.nominated_pods_for_node("n1").len(), 1);
        q.delete("p");
        assert_eq!(pop_now(&q).await, None);
        assert!(q.nominated_pods_for_node("n1").is_empty());
        // A pod deleted during its attempt is not requeued.
        q.add(PodBuilder::new("x").build());
        q.pop().await.unwrap();
        q.delete("x");
        q.add_unschedulable("x", BTreeSet::new());
        assert_eq!(q.pending_pods(), PendingPods::default());
        // A scheduled pod is forgotten.
        q.add(PodBuilder::new("y").build());
        q.pop().await.unwrap();
        q.done("y");
        q.on_cluster_event(ClusterEvent::UNSCHEDULABLE_TIMEOUT);
        assert_eq!(q.pending_pods(), PendingPods::default());
    }
}
