//! In-memory storage: every object of every kind, keyed by (group, resource) and
//! (namespace, name), kept as its serialised JSON bytes plus the few fields lists and
//! watches filter on; one global revision counter that is every object's and every
//! list's `resourceVersion`; and a bounded per-resource event history for watches.
//!
//! Writes happen under one write lock: a revision is assigned, the object re-serialised
//! once, the event recorded and handed to live watchers (a non-blocking broadcast), so
//! watchers see events in revision order with no gap between replay and live delivery.

mod event;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::broadcast;

pub use event::{EventType, WatchEvent, frame as event_frame};

use crate::selector::extract_fields;
use crate::status::ApiError;

/// Identifies a stored resource type independently of version: (group, plural).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl ResourceKey {
    /// A key from group and plural.
    pub fn new(group: &str, resource: &str) -> Self {
        ResourceKey {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// One stored object version: its JSON bytes (with `metadata.resourceVersion` already
/// set) and what selectors need, extracted once at write time.
#[derive(Debug)]
pub struct Stored {
    /// The object serialised as JSON.
    pub bytes: Bytes,
    /// `metadata.namespace` ("" when cluster-scoped).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The revision this version was written at.
    pub rv: u64,
    /// `metadata.labels`.
    pub labels: Vec<(String, String)>,
    /// Per-kind selectable fields (see [`crate::selector::selectable_fields`]).
    pub fields: Vec<(&'static str, String)>,
}

/// A shared stored object version.
pub type StoredObject = Arc<Stored>;

impl Stored {
    /// Serialises `obj` (with Go's key order, see [`crate::wire`]) and extracts its
    /// selectable data.
    pub fn from_value(key: &ResourceKey, obj: &Value, rv: u64) -> Result<Stored, ApiError> {
        let meta = obj.get("metadata");
        let s = |f: &str| {
            meta.and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let bytes = crate::wire::to_vec(obj).map_err(ApiError::internal)?;
        Ok(Stored {
            bytes: Bytes::from(bytes),
            namespace: s("namespace"),
            name: s("name"),
            uid: s("uid"),
            rv,
            labels,
            fields: extract_fields(&key.group, &key.resource, obj),
        })
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.bytes).map_err(ApiError::internal)
    }
}

/// What a mutation decided to do with the object.
#[derive(Debug)]
pub enum Mutation {
    /// Write this new state (create when there was none).
    Put(Value),
    /// Remove the object; the value is its final state, sent in the DELETED event.
    Delete(Value),
    /// Leave it unchanged.
    Keep,
}

/// The result of a mutation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The object after the mutation (its final state when deleted); `None` only when
    /// `Keep` was returned for an absent object.
    pub object: Option<StoredObject>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// Whether it was created.
    pub created: bool,
}

/// What [`Store::transact`] commits: the object's own mutation and the writes that go
/// with it.
#[derive(Debug)]
pub struct Transaction {
    /// The mutation of the object the transaction is about.
    pub main: Mutation,
    /// Other objects replaced in the same commit.
    pub companions: Vec<Companion>,
}

/// An object replaced together with another write (see [`Store::transact`]).
#[derive(Debug)]
pub struct Companion {
    /// Its resource.
    pub key: ResourceKey,
    /// Its namespace ("" when cluster-scoped).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its new state.
    pub object: Value,
}

/// Read access to the store's state while a transaction holds the write lock.
pub struct View<'a> {
    state: &'a State,
}

impl View<'_> {
    /// One object.
    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<&StoredObject> {
        self.state
            .tables
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// The objects of `key` in namespace `ns`, in name order: a range of the
    /// namespace-ordered table, nothing scanned when the namespace has none.
    pub fn in_namespace<'s>(
        &'s self,
        key: &ResourceKey,
        ns: &'s str,
    ) -> impl Iterator<Item = &'s StoredObject> + 's {
        self.state.tables.get(key).into_iter().flat_map(move |t| {
            t.range((ns.to_string(), String::new())..)
                .take_while(move |((n, _), _)| n == ns)
                .map(|(_, o)| o)
        })
    }
}

/// `value` with `metadata.resourceVersion` set to `rv`, serialised.
fn stamp(key: &ResourceKey, mut value: Value, rv: u64) -> Result<StoredObject, ApiError> {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    Ok(Arc::new(Stored::from_value(key, &value, rv)?))
}

/// A page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Matching objects in key order.
    pub items: Vec<StoredObject>,
    /// The revision the list reflects.
    pub rv: u64,
    /// The key to continue after, when the limit cut the list short.
    pub next: Option<(String, String)>,
    /// How many further matching objects exist, when cut short.
    pub remaining: u64,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current state, then live events.
    Current,
    /// Every event after this revision (410 when it is no longer kept).
    After(u64),
}

/// What a newly started watch gets: its initial objects, the events to replay, the live
/// receiver, and the revision the initial state reflects.
#[derive(Debug)]
pub struct WatchStartup {
    /// Current objects to send as ADDED (for [`WatchStart::Current`]).
    pub initial: Vec<StoredObject>,
    /// Kept events to replay (for [`WatchStart::After`]).
    pub replay: Vec<Arc<WatchEvent>>,
    /// Live events after the start point.
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
    /// The revision the start reflects.
    pub rv: u64,
    /// The store's [`Store::committed_rv`], for bookmarks.
    pub committed: Arc<AtomicU64>,
}

/// One resource's recent events and its live channel: a write wakes only the watchers
/// of its own resource, so watchers of quiet resources cost nothing while others are
/// written, and cannot be closed as too slow because of another resource's burst.
#[derive(Debug, Default)]
struct History {
    events: VecDeque<Arc<WatchEvent>>,
    /// Every event of this resource after `floor` is still kept.
    floor: u64,
    /// The live events of this resource, from its first watch on (a resource nobody
    /// has watched has no channel and its writes send nothing).
    live: Option<broadcast::Sender<Arc<WatchEvent>>>,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    tables: HashMap<ResourceKey, BTreeMap<(String, String), StoredObject>>,
    histories: HashMap<ResourceKey, History>,
}

/// The store shared by all request handlers.
#[derive(Debug)]
pub struct Store {
    state: RwLock<State>,
    /// Capacity of each resource's live channel.
    watch_buffer: usize,
    /// The newest revision whose event has been handed to its live channel (see
    /// [`Store::committed_rv`]).
    committed: Arc<AtomicU64>,
    history_size: usize,
    serializations: Arc<AtomicU64>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// A store keeping `history_size` events per resource for watches, and buffering
    /// up to `watch_buffer` live events for a watcher before closing it as too slow.
    pub fn new(history_size: usize, watch_buffer: usize) -> Self {
        Store {
            state: RwLock::new(State::default()),
            watch_buffer: watch_buffer.max(16),
            committed: Arc::new(AtomicU64::new(0)),
            history_size: history_size.max(1),
            serializations: Arc::new(AtomicU64::new(0)),
            cut: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Ends every open watch stream (as an API server restart would); clients resume
    /// from their last resourceVersion. For tests of watch resumption.
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever [`Store::cut_watches`] is called.
    pub fn cut_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.cut.subscribe()
    }

    /// The latest revision.
    pub fn current_rv(&self) -> u64 {
        self.state.read().rv
    }

    /// How many watch events have been serialised in total (each event is encoded at
    /// most once per event type, however many watchers receive it).
    pub fn serializations(&self) -> u64 {
        self.serializations.load(Ordering::Relaxed)
    }

    /// The counter behind [`Store::serializations`], for per-watcher encoders.
    pub fn serialization_counter(&self) -> &Arc<AtomicU64> {
        &self.serializations
    }

    /// One object.
    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<StoredObject> {
        self.state
            .read()
            .tables
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Whether any object lives in namespace `ns` (any resource).
    pub fn namespace_has_objects(&self, ns: &str) -> bool {
        let st = self.state.read();
        st.tables.values().any(|t| {
            t.range((ns.to_string(), String::new())..)
                .next()
                .is_some_and(|((n, _), _)| n == ns)
        })
    }

    /// Lists objects of `key` in `ns` (all when `None`) after the key `after`, keeping
    /// those `filter` accepts, at most `limit` of them.
    pub fn list(
        &self,
        key: &ResourceKey,
        ns: Option<&str>,
        after: Option<(String, String)>,
        limit: Option<usize>,
        filter: &dyn Fn(&Stored) -> bool,
    ) -> ListPage {
        let st = self.state.read();
        let rv = st.rv;
        let Some(table) = st.tables.get(key) else {
            return ListPage {
                items: Vec::new(),
                rv,
                next: None,
                remaining: 0,
            };
        };
        let lower = match (&after, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0u64;
        for ((ons, oname), obj) in table.range((lower, Bound::Unbounded)) {
            if let Some(ns) = ns
                && ons != ns
            {
                break;
            }
            if !filter(obj) {
                continue;
            }
            if next.is_some() {
                remaining += 1;
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                next = Some(items_last_key(&items).unwrap_or((ons.clone(), oname.clone())));
                remaining += 1;
                continue;
            }
            items.push(obj.clone());
        }
        ListPage {
            items,
            rv,
            next,
            remaining,
        }
    }

    /// Applies `f` to the current object (or `None`) under the write lock and commits
    /// what it decides: a new revision, the serialised object, the watch event. With
    /// `dry_run` nothing is committed and the would-be object is returned.
    pub fn mutate(
        &self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(Option<&StoredObject>) -> Result<Mutation, ApiError>,
    ) -> Result<Outcome, ApiError> {
        self.transact(key, ns, name, dry_run, |_, cur| {
            Ok(Transaction {
                main: f(cur)?,
                companions: Vec::new(),
            })
        })
    }

    /// As [`Store::mutate`], with `f` also reading other objects through a [`View`] of
    /// the same state and answering companion writes (a quota's usage charged with the
    /// object it admits): all are decided under one write lock and committed together,
    /// companions first, each with its own revision and event, or none is.
    pub fn transact(
        &self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(&View<'_>, Option<&StoredObject>) -> Result<Transaction, ApiError>,
    ) -> Result<Outcome, ApiError> {
        let mut st = self.state.write();
        let okey = (ns.to_string(), name.to_string());
        let current = st.tables.get(key).and_then(|t| t.get(&okey)).cloned();
        let Transaction { main, companions } = f(&View { state: &st }, current.as_ref())?;
        if let Mutation::Keep = main {
            return Ok(Outcome {
                object: current,
                deleted: false,
                created: false,
            });
        }
        if let Mutation::Delete(_) = main
            && current.is_none()
        {
            return Err(ApiError::not_found(&key.group, &key.resource, name));
        }
        if dry_run {
            let (created, deleted) = (current.is_none(), matches!(main, Mutation::Delete(_)));
            let (Mutation::Put(value) | Mutation::Delete(value)) = main else {
                return Err(ApiError::internal("unreachable mutation"));
            };
            let stored = Stored::from_value(key, &value, current.as_ref().map_or(0, |c| c.rv))?;
            return Ok(Outcome {
                object: Some(Arc::new(stored)),
                deleted,
                created,
            });
        }
        // Serialise everything first: a failure commits nothing.
        let mut prepared = Vec::with_capacity(companions.len() + 1);
        let mut rv = st.rv;
        for c in companions {
            let cur = st
                .tables
                .get(&c.key)
                .and_then(|t| t.get(&(c.namespace.clone(), c.name.clone())));
            rv += 1;
            let stored = stamp(&c.key, c.object, rv)?;
            prepared.push((c.key, (c.namespace, c.name), cur.cloned(), false, stored));
        }
        let deleted = matches!(main, Mutation::Delete(_));
        let (Mutation::Put(value) | Mutation::Delete(value)) = main else {
            return Err(ApiError::internal("unreachable mutation"));
        };
        rv += 1;
        let stored = stamp(key, value, rv)?;
        let created = current.is_none();
        prepared.push((key.clone(), okey, current, deleted, stored.clone()));
        for (k, okey, previous, deleted, stored) in prepared {
            self.commit(&mut st, k, okey, previous, deleted, stored);
        }
        Ok(Outcome {
            object: Some(stored),
            deleted,
            created,
        })
    }

    /// Records one prepared write: the table, the revision, the history and the live
    /// event.
    fn commit(
        &self,
        st: &mut State,
        key: ResourceKey,
        okey: (String, String),
        previous: Option<StoredObject>,
        deleted: bool,
        stored: StoredObject,
    ) {
        let etype = match (deleted, &previous) {
            (true, _) => EventType::Deleted,
            (false, Some(_)) => EventType::Modified,
            (false, None) => EventType::Added,
        };
        st.rv = stored.rv;
        let table = st.tables.entry(key.clone()).or_default();
        if deleted {
            table.remove(&okey);
        } else {
            table.insert(okey, stored.clone());
        }
        let event = Arc::new(WatchEvent::new(
            key.clone(),
            etype,
            stored,
            previous,
            self.serializations.clone(),
        ));
        let history_size = self.history_size;
        let hist = st.histories.entry(key).or_default();
        hist.events.push_back(event.clone());
        while hist.events.len() > history_size {
            if let Some(old) = hist.events.pop_front() {
                hist.floor = old.rv();
            }
        }
        let rv = event.rv();
        // Nobody listening is not an error: events are in the history.
        if let Some(live) = &hist.live {
            let _ = live.send(event);
        }
        self.committed.store(rv, Ordering::Release);
    }

    /// The newest revision whose event has been sent to its resource's live channel.
    /// A watcher that reads it and then finds its own receiver empty has received
    /// every event of its resource up to that revision, so a bookmark may carry it
    /// even when the watched resource itself has not been written for a while.
    pub fn committed_rv(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Registers a watch on `key`, atomically with respect to writes: the initial state
    /// or replayed events plus the live receiver cover every revision exactly once.
    pub fn watch(
        &self,
        key: &ResourceKey,
        ns: Option<&str>,
        start: WatchStart,
    ) -> Result<WatchStartup, ApiError> {
        let mut st = self.state.read();
        let live = match st.histories.get(key).and_then(|h| h.live.as_ref()) {
            Some(sender) => sender.subscribe(),
            None => {
                // The first watch of this resource opens its channel.
                drop(st);
                let mut w = self.state.write();
                let watch_buffer = self.watch_buffer;
                let receiver = w
                    .histories
                    .entry(key.clone())
                    .or_default()
                    .live
                    .get_or_insert_with(|| broadcast::channel(watch_buffer).0)
                    .subscribe();
                st = parking_lot::RwLockWriteGuard::downgrade(w);
                receiver
            }
        };
        match start {
            WatchStart::Current => {
                let mut initial = Vec::new();
                if let Some(t) = st.tables.get(key) {
                    match ns {
                        Some(ns) => initial.extend(
                            t.range((ns.to_string(), String::new())..)
                                .take_while(|((n, _), _)| n == ns)
                                .map(|(_, o)| o.clone()),
                        ),
                        None => initial.extend(t.values().cloned()),
                    }
                }
                Ok(WatchStartup {
                    initial,
                    replay: Vec::new(),
                    live,
                    rv: st.rv,
                    committed: self.committed.clone(),
                })
            }
            WatchStart::After(after) => {
                let (floor, events) = match st.histories.get(key) {
                    Some(h) => (h.floor, Some(&h.events)),
                    None => (0, None),
                };
                if after < floor {
                    let oldest = events.and_then(|e| e.front()).map_or(st.rv, |e| e.rv());
                    return Err(ApiError::expired(after, oldest));
                }
                let replay = events
                    .map(|evs| {
                        let start = evs.partition_point(|e| e.rv() <= after);
                        evs.range(start..).cloned().collect()
                    })
                    .unwrap_or_default();
                Ok(WatchStartup {
                    initial: Vec::new(),
                    replay,
                    live,
                    rv: st.rv.max(after),
                    committed: self.committed.clone(),
                })
            }
        }
    }

    /// Every key of objects of `key` (for bulk operations and tests).
    pub fn count(&self, key: &ResourceKey) -> usize {
        self.state.read().tables.get(key).map_or(0, BTreeMap::len)
    }
}

fn items_last_key(items: &[StoredObject]) -> Option<(String, String)> {
    items.last().map(|o| (o.namespace.clone(), o.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": "x"}}})
    }

    fn put(store: &Store, key: &ResourceKey, name: &str) -> Outcome {
        store
            .mutate(key, "default", name, false, |_| {
                Ok(Mutation::Put(pod(name)))
            })
            .unwrap()
    }

    #[test]
    fn revisions_increase_and_are_written_into_objects() {
        let s = Store::new(10, 16);
        let k = ResourceKey::new("", "pods");
        let a = put(&s, &k, "a");
        let b = put(&s, &k, "b");
        assert!(a.created);
        assert_eq!(a.object.unwrap().rv, 1);
        let b = b.object.unwrap();
        assert_eq!(b.rv, 2);
        assert_eq!(b.value().unwrap()["metadata"]["resourceVersion"], "2");
        assert_eq!(s.current_rv(), 2);
    }

    #[test]
    fn list_pages_in_key_order() {
        let s = Store::new(10, 16);
        let k = ResourceKey::new("", "pods");
        for n in ["c", "a", "b"] {
            put(&s, &k, n);
        }
        let p = s.list(&k, Some("default"), None, Some(2), &|_| true);
        let names: Vec<_> = p.items.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(p.remaining, 1);
        let p2 = s.list(&k, Some("default"), p.next, Some(2), &|_| true);
        assert_eq!(p2.items.len(), 1);
        assert_eq!(p2.items[0].name, "c");
        assert!(p2.next.is_none());
        assert!(
            s.list(&k, Some("other"), None, None, &|_| true)
                .items
                .is_empty()
        );
    }

    #[test]
    fn watch_replays_after_revision_and_expires_old_ones() {
        let s = Store::new(3, 16);
        let k = ResourceKey::new("", "pods");
        for i in 0..5 {
            put(&s, &k, &format!("p{i}"));
        }
        let w = s.watch(&k, None, WatchStart::After(3)).unwrap();
        let rvs: Vec<_> = w.replay.iter().map(|e| e.rv()).collect();
        assert_eq!(rvs, [4, 5]);
        let err = s.watch(&k, None, WatchStart::After(1)).unwrap_err();
        assert_eq!(err.code, 410);
        let w = s.watch(&k, None, WatchStart::Current).unwrap();
        assert_eq!(w.initial.len(), 5);
        assert_eq!(w.rv, 5);
    }

    #[test]
    fn delete_event_carries_the_deletion_revision() {
        let s = Store::new(10, 16);
        let k = ResourceKey::new("", "pods");
        put(&s, &k, "a");
        let mut w = s.watch(&k, None, WatchStart::After(1)).unwrap();
        let out = s
            .mutate(&k, "default", "a", false, |cur| {
                Ok(Mutation::Delete(cur.unwrap().value().unwrap()))
            })
            .unwrap();
        assert!(out.deleted);
        assert!(s.get(&k, "default", "a").is_none());
        let ev = w.live.try_recv().unwrap();
        assert_eq!(ev.event_type(), EventType::Deleted);
        assert_eq!(ev.rv(), 2);
        assert_eq!(
            ev.object().value().unwrap()["metadata"]["resourceVersion"],
            "2"
        );
    }

    #[test]
    fn a_transaction_commits_its_companions_with_the_object_or_nothing() {
        let s = Store::new(10, 16);
        let pods = ResourceKey::new("", "pods");
        let quotas = ResourceKey::new("", "resourcequotas");
        put(&s, &quotas, "q");
        let mut w = s.watch(&quotas, None, WatchStart::After(1)).unwrap();
        let out = s
            .transact(&pods, "default", "a", false, |view, _| {
                let seen: Vec<_> = view
                    .in_namespace(&quotas, "default")
                    .map(|o| o.name.clone())
                    .collect();
                assert_eq!(seen, ["q"]);
                assert!(view.in_namespace(&quotas, "other").next().is_none());
                let mut q = view.get(&quotas, "default", "q").unwrap().value()?;
                q["status"] = json!({"used": {"pods": "1"}});
                Ok(Transaction {
                    main: Mutation::Put(pod("a")),
                    companions: vec![Companion {
                        key: quotas.clone(),
                        namespace: "default".into(),
                        name: "q".into(),
                        object: q,
                    }],
                })
            })
            .unwrap();
        assert_eq!(
            out.object.unwrap().rv,
            3,
            "the companion is committed first"
        );
        let q = s.get(&quotas, "default", "q").unwrap();
        assert_eq!(
            (q.rv, q.value().unwrap()["status"]["used"]["pods"].clone()),
            (2, json!("1"))
        );
        assert_eq!(w.live.try_recv().unwrap().event_type(), EventType::Modified);
        let refused = s.transact(&pods, "default", "b", false, |_, _| {
            Err::<Transaction, _>(ApiError::forbidden("", "pods", "b", "no"))
        });
        assert!(refused.is_err());
        assert!(s.get(&pods, "default", "b").is_none());
        assert_eq!(s.current_rv(), 3);
    }

    #[test]
    fn dry_run_commits_nothing() {
        let s = Store::new(10, 16);
        let k = ResourceKey::new("", "pods");
        let out = s
            .mutate(&k, "default", "a", true, |_| Ok(Mutation::Put(pod("a"))))
            .unwrap();
        assert!(out.created);
        assert!(s.get(&k, "default", "a").is_none());
        assert_eq!(s.current_rv(), 0);
    }
}
