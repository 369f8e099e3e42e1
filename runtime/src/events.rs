//! An event recorder for controllers, writing `core/v1` Events the way client-go's
//! `tools/record` broadcaster does for kube-controller-manager, so `kubectl describe`
//! shows them (`Type`, `Reason`, `Age` as "x N over T", `From`, `Message`).
//!
//! Recording never blocks a reconcile: [`Recorder::record`] puts the event on a
//! bounded queue (1000, client-go's `maxQueuedEvents`) served by one background task
//! and drops it with a warning when the queue is full.
//!
//! Repeats are aggregated as client-go's `EventCorrelator`/`EventLogger` does: an
//! event with the same source, involved object, type, reason and message as one
//! recorded within [`AGGREGATION_WINDOW`] is not created again; the existing Event's
//! `count`, `lastTimestamp` (and `message`) are patched instead. If that Event has
//! expired from the API server meanwhile (404), it is created again with the
//! accumulated count, as client-go does.
//!
//! Why not `kube::runtime::events::Recorder`: it writes `events.k8s.io/v1` only, its
//! aggregation key ignores the message (different messages would be merged into one
//! series), it publishes inline in the caller, and it does not recreate an expired
//! Event. The `core/v1` Events written here are what kube-controller-manager writes.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Events queued for writing before new ones are dropped (client-go `maxQueuedEvents`).
pub const QUEUE_CAPACITY: usize = 1000;
/// A repeat within this long of the previous occurrence bumps the existing Event's
/// count instead of creating a new Event.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Distinct events remembered for aggregation (client-go `maxLruCacheEntries`).
pub const MAX_CACHE_ENTRIES: usize = 4096;

/// The severity of an event (`core/v1` Event `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something happened as expected.
    Normal,
    /// Something needs attention.
    Warning,
}

impl EventType {
    /// The API value, `Normal` or `Warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One occurrence to record.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The object the event is about.
    pub involved_object: ObjectReference,
    /// Severity.
    pub type_: EventType,
    /// Short `PascalCase` reason, e.g. `SuccessfulCreate`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// What the controller did or failed to do, e.g. `Create`.
    pub action: String,
}

/// The aggregation key: client-go's `getEventKey` fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    component: String,
    host: String,
    kind: String,
    namespace: String,
    name: String,
    field_path: String,
    uid: String,
    api_version: String,
    type_: EventType,
    reason: String,
    message: String,
}

#[derive(Debug, Clone)]
struct Seen {
    event: Event,
    last_seen: Instant,
}

/// What the background writer must do for one occurrence.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlated {
    /// A first occurrence (or one outside the window): create this Event.
    Create(Event),
    /// A repeat: patch the existing Event with this merge patch; when it is gone,
    /// create `event` (which carries the accumulated count) instead.
    Patch {
        /// The full updated Event.
        event: Event,
        /// The merge patch (`count`, `lastTimestamp`, `message`).
        patch: Value,
    },
}

/// Decides whether an occurrence is new or a repeat (pure apart from the clock
/// values passed in). Bounded to [`MAX_CACHE_ENTRIES`]: the least recently seen
/// entry is forgotten first.
#[derive(Debug)]
pub struct EventCorrelator {
    component: String,
    instance: String,
    host: String,
    seen: HashMap<EventKey, Seen>,
}

impl EventCorrelator {
    /// A correlator for events reported by `component` (the controller's name) and
    /// `instance` (e.g. the pod or host name).
    pub fn new(component: &str, instance: &str) -> Self {
        Self {
            component: component.to_string(),
            instance: instance.to_string(),
            host: String::new(),
            seen: HashMap::new(),
        }
    }

    fn key(&self, rec: &EventRecord) -> EventKey {
        let o = &rec.involved_object;
        EventKey {
            component: self.component.clone(),
            host: self.host.clone(),
            kind: o.kind.clone().unwrap_or_default(),
            namespace: o.namespace.clone().unwrap_or_default(),
            name: o.name.clone().unwrap_or_default(),
            field_path: o.field_path.clone().unwrap_or_default(),
            uid: o.uid.clone().unwrap_or_default(),
            api_version: o.api_version.clone().unwrap_or_default(),
            type_: rec.type_,
            reason: rec.reason.clone(),
            message: rec.message.clone(),
        }
    }

    fn new_event(&self, rec: &EventRecord, wall: Timestamp) -> Event {
        let o = &rec.involved_object;
        let namespace = o
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let name = format!(
            "{}.{:x}",
            o.name.as_deref().unwrap_or(&self.component),
            wall.as_nanosecond()
        );
        Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: o.clone(),
            reason: Some(rec.reason.clone()),
            message: Some(rec.message.clone()),
            type_: Some(rec.type_.as_str().to_string()),
            action: Some(rec.action.clone()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            first_timestamp: Some(Time(wall)),
            last_timestamp: Some(Time(wall)),
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        }
    }

    /// Correlates one occurrence at wall time `wall` and monotonic time `now`.
    pub fn observe(&mut self, rec: &EventRecord, wall: Timestamp, now: Instant) -> Correlated {
        let key = self.key(rec);
        if let Some(prev) = self.seen.get_mut(&key)
            && now.saturating_duration_since(prev.last_seen) <= AGGREGATION_WINDOW
        {
            let count = prev.event.count.unwrap_or(1).saturating_add(1);
            prev.event.count = Some(count);
            prev.event.last_timestamp = Some(Time(wall));
            prev.event.message = Some(rec.message.clone());
            prev.last_seen = now;
            let patch = json!({
                "count": count,
                "lastTimestamp": Time(wall),
                "message": rec.message,
            });
            return Correlated::Patch {
                event: prev.event.clone(),
                patch,
            };
        }
        let event = self.new_event(rec, wall);
        if self.seen.len() >= MAX_CACHE_ENTRIES && !self.seen.contains_key(&key) {
            self.evict_oldest();
        }
        self.seen.insert(
            key,
            Seen {
                event: event.clone(),
                last_seen: now,
            },
        );
        Correlated::Create(event)
    }

    /// Forgets an occurrence whose Event could not be written, so the next one
    /// creates it afresh.
    pub fn forget(&mut self, rec: &EventRecord) {
        let key = self.key(rec);
        self.seen.remove(&key);
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .seen
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| k.clone())
        {
            self.seen.remove(&oldest);
        }
    }
}

/// Errors of an [`EventSink`].
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The Event to patch no longer exists.
    #[error("event not found")]
    NotFound,
    /// Any other failure.
    #[error("writing event failed: {0}")]
    Failed(String),
}

/// Where Events are written: the API server, or a recorder in tests.
pub trait EventSink: Send + Sync + 'static {
    /// Creates `event`.
    fn create(&self, event: &Event) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Merge-patches the Event `namespace/name`.
    fn patch(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Writes `core/v1` Events through a `kube::Client`.
#[derive(Clone)]
pub struct KubeEventSink {
    client: kube::Client,
}

impl KubeEventSink {
    /// A sink writing through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

fn sink_err(err: kube::Error) -> SinkError {
    match &err {
        kube::Error::Api(status) if status.is_not_found() => SinkError::NotFound,
        _ => SinkError::Failed(err.to_string()),
    }
}

impl EventSink for KubeEventSink {
    async fn create(&self, event: &Event) -> Result<(), SinkError> {
        let ns = event.metadata.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        api.create(&PostParams::default(), event)
            .await
            .map(|_| ())
            .map_err(sink_err)
    }

    async fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<(), SinkError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(|_| ())
            .map_err(sink_err)
    }
}

/// Records events for one controller. Cheap to clone; all clones feed one
/// background writer, which stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<EventRecord>,
}

impl Recorder {
    /// A recorder writing through `client` as `reporting_controller` (e.g.
    /// `replicaset-controller`) from `reporting_instance` (e.g. the host name).
    /// Spawns the writer task: call inside a tokio runtime.
    pub fn new(client: kube::Client, reporting_controller: &str, reporting_instance: &str) -> Self {
        Self::with_sink(
            KubeEventSink::new(client),
            reporting_controller,
            reporting_instance,
        )
    }

    /// A recorder writing to any [`EventSink`].
    pub fn with_sink<S: EventSink>(
        sink: S,
        reporting_controller: &str,
        reporting_instance: &str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let correlator = EventCorrelator::new(reporting_controller, reporting_instance);
        tokio::spawn(write_events(sink, correlator, rx));
        Self { tx }
    }

    /// Records an event about `object` without waiting. Returns false (and logs a
    /// warning) when the queue is full or the writer has stopped, and the event was
    /// dropped.
    pub fn record(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
        action: &str,
    ) -> bool {
        let rec = EventRecord {
            involved_object: object.clone(),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
            action: action.to_string(),
        };
        match self.tx.try_send(rec) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(rec)) => {
                tracing::warn!(reason = %rec.reason, object = ?rec.involved_object.name, "event queue full, dropping event");
                false
            }
            Err(mpsc::error::TrySendError::Closed(rec)) => {
                tracing::warn!(reason = %rec.reason, "event writer stopped, dropping event");
                false
            }
        }
    }

    /// Records an event about a typed object (see [`record`](Self::record)).
    pub fn record_for<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        message: &str,
        action: &str,
    ) -> bool {
        self.record(&object.object_ref(&()), type_, reason, message, action)
    }
}

async fn write_events<S: EventSink>(
    sink: S,
    mut correlator: EventCorrelator,
    mut rx: mpsc::Receiver<EventRecord>,
) {
    while let Some(rec) = rx.recv().await {
        let result = match correlator.observe(&rec, Timestamp::now(), Instant::now()) {
            Correlated::Create(event) => sink.create(&event).await,
            Correlated::Patch { event, patch } => {
                let ns = event.metadata.namespace.as_deref().unwrap_or("default");
                let name = event.metadata.name.as_deref().unwrap_or("");
                match sink.patch(ns, name, &patch).await {
                    Err(SinkError::NotFound) => {
                        // The Event expired from the API server: create it again.
                        let mut fresh = event.clone();
                        fresh.metadata.resource_version = None;
                        sink.create(&fresh).await
                    }
                    other => other,
                }
            }
        };
        if let Err(err) = result {
            tracing::warn!(%err, reason = %rec.reason, object = ?rec.involved_object.name, "could not write event");
            correlator.forget(&rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::sync::Arc;

    fn pod_ref(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            ..ObjectReference::default()
        }
    }

    fn rec(name: &str, reason: &str, message: &str) -> EventRecord {
        EventRecord {
            involved_object: pod_ref(name),
            type_: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
            action: "Create".into(),
        }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[tokio::test(start_paused = true)]
    async fn repeats_within_the_window_bump_the_count() {
        let mut c = EventCorrelator::new("replicaset-controller", "host-1");
        let first = c.observe(&rec("p", "Pulled", "pulled"), ts(0), Instant::now());
        let Correlated::Create(event) = first else {
            panic!("first occurrence creates: {first:?}")
        };
        assert_eq!(event.count, Some(1));
        assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
        assert!(
            event
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("p."))
        );
        assert_eq!(
            event.source.as_ref().and_then(|s| s.component.as_deref()),
            Some("replicaset-controller")
        );
        assert_eq!(event.reporting_instance.as_deref(), Some("host-1"));
        assert_eq!(event.type_.as_deref(), Some("Normal"));

        tokio::time::advance(Duration::from_secs(30)).await;
        let second = c.observe(&rec("p", "Pulled", "pulled"), ts(30), Instant::now());
        let Correlated::Patch { event: e2, patch } = second else {
            panic!("repeat patches: {second:?}")
        };
        assert_eq!(e2.metadata.name, event.metadata.name, "same Event");
        assert_eq!(e2.count, Some(2));
        assert_eq!(e2.first_timestamp, event.first_timestamp);
        assert_eq!(patch["count"], 2);
        assert_eq!(patch["lastTimestamp"], json!(Time(ts(30))));

        let third = c.observe(&rec("p", "Pulled", "pulled"), ts(31), Instant::now());
        assert!(matches!(third, Correlated::Patch { ref event, .. } if event.count == Some(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn different_message_reason_type_or_object_are_separate_events() {
        let mut c = EventCorrelator::new("rc", "i");
        let now = Instant::now();
        assert!(matches!(
            c.observe(&rec("p", "R", "m"), ts(0), now),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.observe(&rec("p", "R", "other"), ts(0), now),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.observe(&rec("p", "R2", "m"), ts(0), now),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.observe(&rec("q", "R", "m"), ts(0), now),
            Correlated::Create(_)
        ));
        let mut warning = rec("p", "R", "m");
        warning.type_ = EventType::Warning;
        assert!(matches!(
            c.observe(&warning, ts(0), now),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.observe(&rec("p", "R", "m"), ts(0), now),
            Correlated::Patch { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_after_the_window_creates_a_new_event() {
        let mut c = EventCorrelator::new("rc", "i");
        c.observe(&rec("p", "R", "m"), ts(0), Instant::now());
        tokio::time::advance(AGGREGATION_WINDOW + Duration::from_secs(1)).await;
        let later = c.observe(&rec("p", "R", "m"), ts(601), Instant::now());
        assert!(
            matches!(later, Correlated::Create(ref e) if e.count == Some(1)),
            "{later:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cluster_scoped_objects_get_events_in_default() {
        let mut c = EventCorrelator::new("rc", "i");
        let mut r = rec("node-1", "NodeNotReady", "m");
        r.involved_object.namespace = None;
        let Correlated::Create(e) = c.observe(&r, ts(0), Instant::now()) else {
            panic!("creates")
        };
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_is_bounded() {
        let mut c = EventCorrelator::new("rc", "i");
        for i in 0..(MAX_CACHE_ENTRIES + 10) {
            c.observe(&rec(&format!("p{i}"), "R", "m"), ts(0), Instant::now());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(c.seen.len(), MAX_CACHE_ENTRIES);
        // The oldest were evicted, the newest kept.
        assert!(matches!(
            c.observe(
                &rec(&format!("p{}", MAX_CACHE_ENTRIES + 9), "R", "m"),
                ts(0),
                Instant::now()
            ),
            Correlated::Patch { .. }
        ));
    }

    /// Records writes; answers 404 to patches of names in `expired`.
    #[derive(Clone, Default)]
    struct FakeSink {
        writes: Arc<Mutex<Vec<(String, Value)>>>,
        expired: Arc<Mutex<Vec<String>>>,
    }

    impl EventSink for FakeSink {
        async fn create(&self, event: &Event) -> Result<(), SinkError> {
            let body = serde_json::to_value(event).map_err(|e| SinkError::Failed(e.to_string()))?;
            self.writes.lock().push(("create".into(), body));
            Ok(())
        }
        async fn patch(&self, _ns: &str, name: &str, patch: &Value) -> Result<(), SinkError> {
            if self.expired.lock().iter().any(|n| n == name) {
                return Err(SinkError::NotFound);
            }
            self.writes
                .lock()
                .push((format!("patch {name}"), patch.clone()));
            Ok(())
        }
    }

    async fn wait_for_writes(sink: &FakeSink, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let writes = sink.writes.lock().clone();
            if writes.len() >= n || Instant::now() > deadline {
                return writes;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn the_recorder_writes_in_the_background_and_aggregates() {
        let sink = FakeSink::default();
        let recorder = Recorder::with_sink(sink.clone(), "replicaset-controller", "host-1");
        let pod = pod_ref("web-1");
        assert!(recorder.record(
            &pod,
            EventType::Normal,
            "SuccessfulCreate",
            "Created pod: web-1",
            "Create"
        ));
        assert!(recorder.record(
            &pod,
            EventType::Normal,
            "SuccessfulCreate",
            "Created pod: web-1",
            "Create"
        ));
        assert!(recorder.record(&pod, EventType::Warning, "FailedCreate", "quota", "Create"));
        let writes = wait_for_writes(&sink, 3).await;
        assert_eq!(writes.len(), 3, "{writes:?}");
        assert_eq!(writes[0].0, "create");
        assert_eq!(writes[0].1["involvedObject"]["name"], "web-1");
        assert_eq!(writes[0].1["reason"], "SuccessfulCreate");
        assert_eq!(writes[0].1["count"], 1);
        let name = writes[0].1["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert_eq!(writes[1].0, format!("patch {name}"));
        assert_eq!(writes[1].1["count"], 2);
        assert_eq!(writes[2].0, "create");
        assert_eq!(writes[2].1["type"], "Warning");

        // The first Event expires in the API server: the next repeat recreates it
        // carrying the accumulated count.
        sink.expired.lock().push(name.clone());
        recorder.record(
            &pod,
            EventType::Normal,
            "SuccessfulCreate",
            "Created pod: web-1",
            "Create",
        );
        let writes = wait_for_writes(&sink, 4).await;
        assert_eq!(writes.len(), 4, "{writes:?}");
        assert_eq!(writes[3].0, "create");
        assert_eq!(writes[3].1["metadata"]["name"], name.as_str());
        assert_eq!(writes[3].1["count"], 3);
    }

    #[tokio::test]
    async fn the_kube_sink_posts_core_v1_events_and_maps_not_found() {
        use bytes::Bytes;
        use http_body_util::Full;
        let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let log = seen.clone();
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let log = log.clone();
            async move {
                let ctype = req
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().push((
                    req.method().to_string(),
                    req.uri().path().to_string(),
                    ctype,
                ));
                let (status, body) = if req.method() == http::Method::PATCH {
                    (
                        404,
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
                    )
                } else {
                    (
                        201,
                        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"p.1","namespace":"default"},"involvedObject":{}}"#,
                    )
                };
                let resp = http::Response::builder()
                    .status(status)
                    .header("Content-Type", "application/json")
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap_or_default();
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let sink = KubeEventSink::new(kube::Client::new(svc, "default"));
        let mut c = EventCorrelator::new("rc", "i");
        let Correlated::Create(event) = c.observe(&rec("p", "R", "m"), ts(0), Instant::now())
        else {
            panic!("creates")
        };
        sink.create(&event).await.expect("created");
        let err = sink.patch("default", "p.1", &json!({"count": 2})).await;
        assert!(matches!(err, Err(SinkError::NotFound)), "{err:?}");
        let seen = seen.lock().clone();
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[0].1, "/api/v1/namespaces/default/events");
        assert_eq!(seen[1].0, "PATCH");
        assert_eq!(seen[1].1, "/api/v1/namespaces/default/events/p.1");
        assert_eq!(seen[1].2, "application/merge-patch+json");
    }

    /// A sink that never finishes a write, so the queue fills up.
    struct StuckSink;

    impl EventSink for StuckSink {
        async fn create(&self, _event: &Event) -> Result<(), SinkError> {
            std::future::pending().await
        }
        async fn patch(&self, _: &str, _: &str, _: &Value) -> Result<(), SinkError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_blocking() {
        let recorder = Recorder::with_sink(StuckSink, "rc", "i");
        let pod = pod_ref("p");
        let accepted = (0..QUEUE_CAPACITY + 50)
            .filter(|i| recorder.record(&pod, EventType::Normal, "R", &format!("m{i}"), "A"))
            .count();
        // The writer holds at most one event; the rest beyond capacity are dropped.
        assert!(accepted <= QUEUE_CAPACITY + 1, "{accepted}");
        assert!(accepted >= QUEUE_CAPACITY, "{accepted}");
    }
}
