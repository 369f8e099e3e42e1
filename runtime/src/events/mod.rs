//! An event recorder for controllers, writing `core/v1` Events the way client-go's
//! `tools/record` broadcaster does for kube-controller-manager, so `kubectl describe`
//! shows them (`Type`, `Reason`, `Age` as "x N over T", `From`, `Message`).
//!
//! Recording never blocks a reconcile: [`Recorder::record`] puts the event on a
//! bounded queue (1000, client-go's `maxQueuedEvents`) served by one background task
//! and drops it with a warning when the queue is full.
//!
//! Before writing, occurrences go through client-go's `EventCorrelator`
//! ([`EventCorrelator`]): similar events with many different messages are combined
//! into one, an occurrence identical to an Event already written bumps that Event's
//! `count`, `lastTimestamp` and `message`, and a source may burst 25 Events about one
//! object and then one every 5 minutes. If an Event has expired from the API server
//! meanwhile (404 on the patch), it is created again with the accumulated count, as
//! client-go does.
//!
//! Why not `kube::runtime::events::Recorder`: it writes `events.k8s.io/v1` only, its
//! aggregation key ignores the message (different messages would be merged into one
//! series), it has no spam filter, it publishes inline in the caller, and it does not
//! recreate an expired Event. The `core/v1` Events written here are what
//! kube-controller-manager writes.

mod correlator;
mod recorder;
mod sink;
mod spam;

use k8s_openapi::api::core::v1::ObjectReference;

pub use correlator::{
    AGGREGATE_INTERVAL, AGGREGATE_MAX_EVENTS, AGGREGATE_MESSAGE_PREFIX, Correlated,
    EventCorrelator, MAX_CACHE_ENTRIES,
};
pub use recorder::{QUEUE_CAPACITY, Recorder};
pub use sink::{EventSink, KubeEventSink, SinkError};
pub use spam::{SPAM_BURST, SPAM_QPS};

/// The involved object's identity, as the correlator's and the spam filter's keys
/// use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ObjectKey {
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    api_version: String,
}

impl ObjectKey {
    pub(crate) fn of(o: &ObjectReference) -> Self {
        Self {
            kind: o.kind.clone().unwrap_or_default(),
            namespace: o.namespace.clone().unwrap_or_default(),
            name: o.name.clone().unwrap_or_default(),
            uid: o.uid.clone().unwrap_or_default(),
            api_version: o.api_version.clone().unwrap_or_default(),
        }
    }
}

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

#[cfg(test)]
pub(crate) mod test_support {
    //! Values shared by the events tests.
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::jiff::Timestamp;

    use super::{EventRecord, EventType};

    pub(crate) fn pod_ref(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            ..ObjectReference::default()
        }
    }

    pub(crate) fn rec(name: &str, reason: &str, message: &str) -> EventRecord {
        EventRecord {
            involved_object: pod_ref(name),
            type_: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
            action: "Create".into(),
        }
    }

    pub(crate) fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
