//! Watch streams: from a [`WatchStartup`] (initial state or replayed history plus the
//! live receiver) to the sequence of newline-delimited JSON frames one client receives,
//! applying its namespace/label/field filter with upstream's transition rules (into the
//! selector → ADDED, out of it → DELETED), bookmarks, the `initial-events-end`
//! bookmark, the timeout, and closing watchers that fall too far behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use capstan_labels::Selector;
use futures::Stream;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::selector::FieldSelector;
use crate::storage::{EventType, ResourceKey, Stored, WatchEvent, WatchStartup};

pub use crate::storage::event_frame as frame;

/// Which objects a watcher receives.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    /// Only this namespace, when set.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: Selector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// A custom resource's `selectableFields`, read from the object when the field
    /// selector names one (built-in kinds' fields are extracted at write time).
    pub custom_fields: Vec<String>,
}

impl WatchFilter {
    /// Whether an object version passes the filter.
    pub fn matches(&self, o: &Stored) -> bool {
        if let Some(ns) = &self.namespace
            && o.namespace != *ns
        {
            return false;
        }
        if !self.labels.matches(&o.labels) {
            return false;
        }
        if self.custom_fields.is_empty() || !self.fields.has_other_fields() {
            return self.fields.matches(&o.name, &o.namespace, &o.fields);
        }
        let values = match o.value() {
            Ok(v) => crate::selector::custom_field_values(&self.custom_fields, &v),
            Err(_) => Vec::new(),
        };
        self.fields.matches(&o.name, &o.namespace, &values)
    }
}

/// Re-encodes objects for watchers that asked for a Table or partial metadata; `None`
/// sends the stored JSON with shared, once-serialised frames.
pub type Transform = Box<dyn FnMut(Value) -> Value + Send>;

/// How a watch behaves.
pub struct WatchOptions {
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: end the initial events with the annotated bookmark.
    pub initial_events_end: bool,
    /// When the stream ends.
    pub timeout: Duration,
    /// Interval between progress bookmarks.
    pub bookmark_interval: Duration,
    /// `apiVersion` and `kind` bookmark objects carry.
    pub bookmark_type: (String, String),
    /// Per-watcher re-encoding, when asked for.
    pub transform: Option<Transform>,
}

/// upstream's default: a random duration between 30 and 60 minutes.
pub fn default_timeout() -> Duration {
    Duration::from_secs(rand::rng().random_range(1800..3600))
}

struct StreamState {
    key: ResourceKey,
    filter: WatchFilter,
    opts: WatchOptions,
    pending: VecDeque<Bytes>,
    live: tokio::sync::broadcast::Receiver<Arc<WatchEvent>>,
    cut: tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    last_rv: u64,
    /// The store's newest revision handed to live channels (of any resource).
    committed: Arc<AtomicU64>,
    done: bool,
    serializations: Arc<AtomicU64>,
}

fn bookmark(api_version: &str, kind: &str, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": kind, "apiVersion": api_version, "metadata": meta});
    frame("BOOKMARK", &crate::wire::to_vec(&obj).unwrap_or_default())
}

/// Frames already queued for a watcher are sent together up to this many bytes.
const CHUNK: usize = 64 * 1024;

impl StreamState {
    /// Moves `last_rv` to the store's committed revision when this watcher has taken
    /// every event of its resource sent so far: with a channel per resource, a quiet
    /// resource's watcher sees no events while others are written, and its bookmarks
    /// still report the store's progress, as upstream's cacher does. The committed
    /// revision is read before the receiver is checked, and each event is sent before
    /// the revision is published, so an empty receiver means nothing at or below that
    /// revision is still on its way.
    fn advance_to_committed(&mut self) {
        let committed = self.committed.load(Ordering::Acquire);
        if self.live.is_empty() {
            self.last_rv = self.last_rv.max(committed);
        }
    }

    fn pending_bytes(&self) -> usize {
        self.pending.iter().map(Bytes::len).sum()
    }

    /// The next chunk to write: one frame, or several queued frames joined (up to
    /// [`CHUNK`] bytes). Joining copies bytes; nothing is re-serialised.
    fn take_chunk(&mut self) -> Bytes {
        let Some(first) = self.pending.pop_front() else {
            return Bytes::new();
        };
        if self.pending.is_empty() || first.len() >= CHUNK {
            return first;
        }
        let mut buf = bytes::BytesMut::with_capacity(CHUNK);
        buf.extend_from_slice(&first);
        while let Some(next) = self.pending.front() {
            if buf.len() + next.len() > CHUNK {
                break;
            }
            buf.extend_from_slice(next);
            self.pending.pop_front();
        }
        buf.freeze()
    }

    fn encode(
        &mut self,
        etype: EventType,
        obj: &Stored,
        rv_override: Option<u64>,
    ) -> Option<Bytes> {
        let t = self.opts.transform.as_mut()?;
        let mut v: Value = serde_json::from_slice(&obj.bytes).ok()?;
        if let Some(rv) = rv_override
            && let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let out = t(v);
        self.serializations.fetch_add(1, Ordering::Relaxed);
        Some(frame(etype.as_str(), &crate::wire::to_vec(&out).ok()?))
    }

    fn initial(&mut self, obj: &Stored) {
        if !self.filter.matches(obj) {
            return;
        }
        let f = match self.encode(EventType::Added, obj, None) {
            Some(f) => f,
            None => frame("ADDED", &obj.bytes),
        };
        self.pending.push_back(f);
    }

    fn event(&mut self, ev: &WatchEvent) {
        self.last_rv = self.last_rv.max(ev.rv());
        if ev.key() != &self.key {
            return;
        }
        let now = self.filter.matches(ev.object());
        let send = match ev.event_type() {
            EventType::Added => now.then_some((EventType::Added, false)),
            EventType::Deleted => now.then_some((EventType::Deleted, false)),
            EventType::Modified => {
                let before = ev.prev().is_some_and(|p| self.filter.matches(p));
                match (before, now) {
                    (true, true) => Some((EventType::Modified, false)),
                    (false, true) => Some((EventType::Added, false)),
                    (true, false) => Some((EventType::Deleted, true)),
                    (false, false) => None,
                }
            }
        };
        let Some((etype, prev_deleted)) = send else {
            return;
        };
        let f = if self.opts.transform.is_some() {
            if prev_deleted {
                let prev = ev.prev().cloned();
                prev.and_then(|p| self.encode(etype, &p, Some(ev.rv())))
            } else {
                self.encode(etype, ev.object(), None)
            }
        } else if prev_deleted {
            Some(ev.frame_prev_deleted())
        } else {
            Some(ev.frame_for(etype))
        };
        if let Some(f) = f {
            self.pending.push_back(f);
        }
    }
}

/// The frames of one watch, as a stream that ends on timeout, on a cut, or when the
/// watcher falls further behind than the live buffer holds (the client then resumes
/// from its last resourceVersion, as with upstream's cacher).
pub fn stream(
    startup: WatchStartup,
    key: ResourceKey,
    filter: WatchFilter,
    opts: WatchOptions,
    cut: tokio::sync::watch::Receiver<u64>,
    serializations: Arc<AtomicU64>,
) -> impl Stream<Item = Bytes> + Send {
    let now = Instant::now();
    let mut st = StreamState {
        key,
        filter,
        deadline: now + opts.timeout,
        next_bookmark: now + opts.bookmark_interval,
        opts,
        pending: VecDeque::new(),
        live: startup.live,
        cut,
        last_rv: startup.rv,
        committed: startup.committed,
        done: false,
        serializations,
    };
    st.cut.mark_unchanged();
    for o in &startup.initial {
        st.initial(o);
    }
    if st.opts.initial_events_end {
        let (av, k) = st.opts.bookmark_type.clone();
        st.pending.push_back(bookmark(&av, &k, startup.rv, true));
    }
    for ev in &startup.replay {
        st.event(ev);
    }
    st.last_rv = st.last_rv.max(startup.rv);
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if !st.pending.is_empty() {
                return Some((st.take_chunk(), st));
            }
            if st.done {
                return None;
            }
            tokio::select! {
                biased;
                _ = st.cut.changed() => return None,
                r = st.live.recv() => match r {
                    Ok(ev) => {
                        st.event(&ev);
                        // Under load, take whatever else is already queued so it goes
                        // out in one write rather than one write per event.
                        let mut taken = 0;
                        while taken < 256 && st.pending_bytes() < CHUNK {
                            match st.live.try_recv() {
                                Ok(ev) => st.event(&ev),
                                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                                    tracing::debug!(missed = n, "closing a watcher that fell behind");
                                    st.done = true;
                                    break;
                                }
                                Err(_) => break,
                            }
                            taken += 1;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "closing a watcher that fell behind");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(st.deadline) => return None,
                _ = tokio::time::sleep_until(st.next_bookmark), if st.opts.bookmarks => {
                    st.next_bookmark = Instant::now() + st.opts.bookmark_interval;
                    st.advance_to_committed();
                    let (av, k) = st.opts.bookmark_type.clone();
                    st.pending.push_back(bookmark(&av, &k, st.last_rv, false));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Mutation, Store, WatchStart};
    use futures::StreamExt;

    fn pod(name: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "d", "labels": {"app": app}}})
    }

    #[test]
    fn watches_without_timeout_seconds_last_30_to_60_minutes() {
        let all: Vec<Duration> = (0..200).map(|_| default_timeout()).collect();
        assert!(
            all.iter()
                .all(|d| (Duration::from_secs(1800)..Duration::from_secs(3600)).contains(d))
        );
        // Randomised, so watchers started together do not all reconnect together.
        assert!(all.iter().any(|d| *d != all[0]));
    }

    fn opts() -> WatchOptions {
        WatchOptions {
            bookmarks: false,
            initial_events_end: false,
            timeout: Duration::from_secs(60),
            bookmark_interval: Duration::from_secs(60),
            bookmark_type: ("v1".into(), "Pod".into()),
            transform: None,
        }
    }

    /// Reads `n` event lines (chunks may carry several).
    async fn lines<S: futures::Stream<Item = Bytes> + Unpin>(s: &mut S, n: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        while out.len() < n {
            let chunk = s.next().await.expect("stream ended early");
            out.extend(
                chunk
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(Bytes::copy_from_slice),
            );
        }
        out
    }

    fn types(frames: &[Bytes]) -> Vec<(String, String)> {
        frames
            .iter()
            .map(|f| {
                let v: Value = serde_json::from_slice(f).unwrap();
                (
                    v["type"].as_str().unwrap().to_string(),
                    v["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn selector_transitions_become_added_and_deleted() {
        let store = Store::new(100, 100);
        let k = ResourceKey::new("", "pods");
        store
            .mutate(&k, "d", "a", false, |_| Ok(Mutation::Put(pod("a", "web"))))
            .unwrap();
        let start = store.watch(&k, None, WatchStart::Current).unwrap();
        let filter = WatchFilter {
            labels: Selector::parse("app=web").unwrap(),
            ..Default::default()
        };
        let s = stream(
            start,
            k.clone(),
            filter,
            opts(),
            store.cut_signal(),
            store.serialization_counter().clone(),
        );
        futures::pin_mut!(s);
        store
            .mutate(&k, "d", "a", false, |_| Ok(Mutation::Put(pod("a", "db"))))
            .unwrap();
        store
            .mutate(&k, "d", "b", false, |_| Ok(Mutation::Put(pod("b", "db"))))
            .unwrap();
        store
            .mutate(&k, "d", "b", false, |_| Ok(Mutation::Put(pod("b", "web"))))
            .unwrap();
        let got = lines(&mut s, 3).await;
        assert_eq!(
            types(&got),
            [
                ("ADDED".into(), "a".into()),
                ("DELETED".into(), "a".into()),
                ("ADDED".into(), "b".into())
            ]
        );
        let v: Value = serde_json::from_slice(&got[1]).unwrap();
        // The DELETED for leaving the selector carries the old labels at the new revision.
        assert_eq!(v["object"]["metadata"]["labels"]["app"], "web");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], "2");
    }

    #[tokio::test]
    async fn each_event_is_serialised_once_for_many_watchers() {
        let store = Store::new(100, 100);
        let k = ResourceKey::new("", "pods");
        let mut streams = Vec::new();
        for _ in 0..20 {
            let start = store.watch(&k, None, WatchStart::Current).unwrap();
            streams.push(Box::pin(stream(
                start,
                k.clone(),
                WatchFilter::default(),
                opts(),
                store.cut_signal(),
                store.serialization_counter().clone(),
            )));
        }
        for i in 0..5 {
            let n = format!("p{i}");
            store
                .mutate(&k, "d", &n, false, |_| Ok(Mutation::Put(pod(&n, "x"))))
                .unwrap();
        }
        for s in &mut streams {
            let got = lines(s, 5).await;
            assert_eq!(got.len(), 5);
        }
        assert_eq!(store.serializations(), 5);
    }

    #[tokio::test]
    async fn cut_and_initial_events_end() {
        let store = Store::new(100, 100);
        let k = ResourceKey::new("", "pods");
        store
            .mutate(&k, "d", "a", false, |_| Ok(Mutation::Put(pod("a", "web"))))
            .unwrap();
        let start = store.watch(&k, None, WatchStart::Current).unwrap();
        let mut o = opts();
        o.initial_events_end = true;
        let s = stream(
            start,
            k.clone(),
            WatchFilter::default(),
            o,
            store.cut_signal(),
            store.serialization_counter().clone(),
        );
        futures::pin_mut!(s);
        let got = lines(&mut s, 2).await;
        assert_eq!(types(&got[..1])[0].0, "ADDED");
        let bm: Value = serde_json::from_slice(&got[1]).unwrap();
        assert_eq!(bm["type"], "BOOKMARK");
        assert_eq!(
            bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
        assert_eq!(bm["object"]["metadata"]["resourceVersion"], "1");
        store.cut_watches();
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_closed_without_blocking_writers() {
        // The live buffer holds 16 events; the watcher reads none while 100 are written.
        let store = Store::new(1000, 16);
        let k = ResourceKey::new("", "pods");
        let start = store.watch(&k, None, WatchStart::Current).unwrap();
        let s = stream(
            start,
            k.clone(),
            WatchFilter::default(),
            opts(),
            store.cut_signal(),
            store.serialization_counter().clone(),
        );
        futures::pin_mut!(s);
        for i in 0..100 {
            let n = format!("p{i}");
            store
                .mutate(&k, "d", &n, false, |_| Ok(Mutation::Put(pod(&n, "x"))))
                .unwrap();
        }
        // Writers were never blocked; the laggard's stream ends so it resumes from its
        // last resourceVersion (here: still in the 1000-event history).
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while s.next().await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "the lagging watch was closed");
        assert_eq!(store.current_rv(), 100);
        assert!(
            store
                .watch(&k, None, WatchStart::After(0))
                .unwrap()
                .replay
                .len()
                == 100
        );
    }

    #[tokio::test]
    async fn a_quiet_resources_watcher_survives_a_burst_elsewhere_and_bookmarks_its_progress() {
        // The live buffer holds 16 events; 100 pods are written while a ConfigMap
        // watcher reads nothing. It gets no pod events, is not closed as too slow, and
        // its next bookmark carries the store's revision, so resuming from it replays
        // nothing old.
        let store = Store::new(1000, 16);
        let pods = ResourceKey::new("", "pods");
        let cms = ResourceKey::new("", "configmaps");
        let start = store.watch(&cms, None, WatchStart::Current).unwrap();
        let s = stream(
            start,
            cms.clone(),
            WatchFilter::default(),
            WatchOptions {
                bookmarks: true,
                bookmark_interval: Duration::from_millis(50),
                ..opts()
            },
            store.cut_signal(),
            store.serialization_counter().clone(),
        );
        futures::pin_mut!(s);
        for i in 0..100 {
            let n = format!("p{i}");
            store
                .mutate(&pods, "d", &n, false, |_| Ok(Mutation::Put(pod(&n, "x"))))
                .unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(5), lines(&mut s, 1))
            .await
            .expect("a bookmark within 5 s");
        let bm: Value = serde_json::from_slice(&got[0]).unwrap();
        assert_eq!(bm["type"], "BOOKMARK", "{bm}");
        assert_eq!(bm["object"]["metadata"]["resourceVersion"], "100");
        // Still open: a ConfigMap written now arrives.
        store
            .mutate(&cms, "d", "c", false, |_| {
                Ok(Mutation::Put(
                    json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "d"}}),
                ))
            })
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let l = lines(&mut s, 1).await;
                let v: Value = serde_json::from_slice(&l[0]).unwrap();
                if v["type"] != "BOOKMARK" {
                    return v;
                }
            }
        })
        .await
        .expect("the ConfigMap event within 5 s");
        assert_eq!(next["type"], "ADDED");
        assert_eq!(next["object"]["metadata"]["name"], "c");
        assert_eq!(next["object"]["metadata"]["resourceVersion"], "101");
    }
}
