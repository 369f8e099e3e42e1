//! The [`Recorder`] controllers hold: records occurrences without waiting and writes
//! them from one background task through the [`EventCorrelator`].

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{
    Correlated, EventCorrelator, EventRecord, EventSink, EventType, KubeEventSink, SinkError,
};

/// Events queued for writing before new ones are dropped (client-go `maxQueuedEvents`).
pub const QUEUE_CAPACITY: usize = 1000;

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
            Correlated::Skip => continue,
            Correlated::Create(event) => sink.create(&event).await,
            Correlated::Patch { event, patch } => {
                let ns = event.metadata.namespace.as_deref().unwrap_or("default");
                let name = event.metadata.name.as_deref().unwrap_or("");
                match sink.patch(ns, name, &patch).await {
                    Err(SinkError::NotFound) => {
                        // Expired from the API server, or never written (dropped as
                        // spam, or its create failed): create it with the count so far.
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::test_support::pod_ref;
    use k8s_openapi::api::core::v1::Event;
    use parking_lot::Mutex;
    use serde_json::Value;
    use std::sync::Arc;
    use std::time::Duration;

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
        let deadline = Instant::now() + Duration::from_secs(30);
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
