//! client-go's `EventCorrelator`: decides, for each occurrence a controller records,
//! whether to create an Event, bump the count of one already written, or drop it.
//!
//! Three steps, in client-go's order:
//! 1. **aggregate**: once [`AGGREGATE_MAX_EVENTS`] events about one object with the same
//!    type and reason but different messages are seen within [`AGGREGATE_INTERVAL`] of
//!    each other, further ones become a single Event whose message is
//!    `(combined from similar events): <latest message>`;
//! 2. **count**: an occurrence identical to one already written (same object, type,
//!    reason and message — or the same aggregate) patches that Event's `count`,
//!    `lastTimestamp` and `message` instead of creating another;
//! 3. **filter spam**: a source may burst 25 Events about one object, then one every 5
//!    minutes ([`super::spam`]); the rest are dropped, though still counted, so the
//!    next one written carries the full count.
//!
//! Each step remembers at most [`MAX_CACHE_ENTRIES`] keys, least recently used
//! forgotten first, as client-go's LRU caches.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::spam::SpamFilter;
use super::{EventRecord, EventType, ObjectKey};
use crate::lru::Lru;

/// Distinct keys each cache of the correlator remembers (client-go `maxLruCacheEntries`).
pub const MAX_CACHE_ENTRIES: usize = 4096;
/// Distinct messages of one object, type and reason after which they are combined into
/// one Event (client-go `defaultAggregateMaxEvents`).
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long after the last similar event a new one starts a fresh aggregation group
/// (client-go `defaultAggregateIntervalInSeconds`).
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// The message prefix of a combined Event (client-go `EventAggregatorByReasonMessageFunc`).
pub const AGGREGATE_MESSAGE_PREFIX: &str = "(combined from similar events): ";

/// What the background writer must do for one occurrence.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlated {
    /// A first occurrence: create this Event.
    Create(Event),
    /// A repeat: patch the existing Event with this merge patch; when it is gone,
    /// create `event` (which carries the accumulated count) instead.
    Patch {
        /// The full updated Event.
        event: Event,
        /// The merge patch (`count`, `lastTimestamp`, `message`).
        patch: Value,
    },
    /// Dropped by the spam filter: the source has written too many Events about the
    /// object lately. The occurrence is still counted.
    Skip,
}

/// An aggregation group: client-go's `EventAggregatorByReasonFunc` key (the source
/// and reporting controller are the same for every event of one correlator).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AggregateKey {
    object: ObjectKey,
    type_: EventType,
    reason: String,
}

/// One exact event: client-go's `getEventKey`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    object: ObjectKey,
    field_path: String,
    type_: EventType,
    reason: String,
    message: String,
}

/// What the count step keys its Events by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LogKey {
    Event(EventKey),
    Aggregate(AggregateKey),
}

/// The distinct messages of one aggregation group.
#[derive(Debug)]
struct AggregateRecord {
    messages: HashSet<String>,
    last_seen: Instant,
}

/// Decides whether an occurrence is new, a repeat, or spam (pure apart from the clock
/// values passed in).
#[derive(Debug)]
pub struct EventCorrelator {
    component: String,
    instance: String,
    aggregates: Lru<AggregateKey, AggregateRecord>,
    logged: Lru<LogKey, Event>,
    spam: SpamFilter,
}

impl EventCorrelator {
    /// A correlator for events reported by `component` (the controller's name) and
    /// `instance` (e.g. the pod or host name).
    pub fn new(component: &str, instance: &str) -> Self {
        Self {
            component: component.to_string(),
            instance: instance.to_string(),
            aggregates: Lru::new(MAX_CACHE_ENTRIES),
            logged: Lru::new(MAX_CACHE_ENTRIES),
            spam: SpamFilter::new(MAX_CACHE_ENTRIES),
        }
    }

    /// Correlates one occurrence at wall time `wall` and monotonic time `now`.
    pub fn observe(&mut self, rec: &EventRecord, wall: Timestamp, now: Instant) -> Correlated {
        let correlated = if self.aggregate(rec, now) {
            let key = LogKey::Aggregate(AggregateKey {
                object: ObjectKey::of(&rec.involved_object),
                type_: rec.type_,
                reason: rec.reason.clone(),
            });
            let message = format!("{AGGREGATE_MESSAGE_PREFIX}{}", rec.message);
            self.count(key, message, wall, |c, message| {
                // client-go's combined Event carries no action nor reporting fields.
                let mut event = c.new_event(rec, message, wall);
                event.action = None;
                event.reporting_component = None;
                event.reporting_instance = None;
                event
            })
        } else {
            let key = LogKey::Event(EventKey {
                object: ObjectKey::of(&rec.involved_object),
                field_path: rec.involved_object.field_path.clone().unwrap_or_default(),
                type_: rec.type_,
                reason: rec.reason.clone(),
                message: rec.message.clone(),
            });
            self.count(key, rec.message.clone(), wall, |c, message| {
                c.new_event(rec, message, wall)
            })
        };
        if self.spam.filter(&rec.involved_object, now) {
            return Correlated::Skip;
        }
        correlated
    }

    /// Adds the occurrence's message to its aggregation group; true when the group
    /// holds [`AGGREGATE_MAX_EVENTS`] distinct messages, i.e. the occurrence is to be
    /// combined. The group then forgets one message, as client-go's does, so it never
    /// grows past the threshold.
    fn aggregate(&mut self, rec: &EventRecord, now: Instant) -> bool {
        let key = AggregateKey {
            object: ObjectKey::of(&rec.involved_object),
            type_: rec.type_,
            reason: rec.reason.clone(),
        };
        let record = self.aggregates.get_or_insert_with(key, || AggregateRecord {
            messages: HashSet::new(),
            last_seen: now,
        });
        if now.saturating_duration_since(record.last_seen) > AGGREGATE_INTERVAL {
            record.messages.clear();
        }
        record.last_seen = now;
        if !record.messages.contains(&rec.message) {
            record.messages.insert(rec.message.clone());
        }
        if record.messages.len() < AGGREGATE_MAX_EVENTS {
            return false;
        }
        if let Some(any) = record.messages.iter().next().cloned() {
            record.messages.remove(&any);
        }
        true
    }

    /// Bumps the count of the Event already written under `key`, or makes a new one.
    fn count(
        &mut self,
        key: LogKey,
        message: String,
        wall: Timestamp,
        make: impl FnOnce(&Self, String) -> Event,
    ) -> Correlated {
        if let Some(prev) = self.logged.get_mut(&key) {
            let count = prev.count.unwrap_or(1).saturating_add(1);
            prev.count = Some(count);
            prev.last_timestamp = Some(Time(wall));
            let patch = json!({
                "count": count,
                "lastTimestamp": Time(wall),
                "message": message,
            });
            prev.message = Some(message);
            return Correlated::Patch {
                event: prev.clone(),
                patch,
            };
        }
        let event = make(self, message);
        self.logged.insert(key, event.clone());
        Correlated::Create(event)
    }

    fn new_event(&self, rec: &EventRecord, message: String, wall: Timestamp) -> Event {
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
            message: Some(message),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::test_support::{rec, ts};

    #[tokio::test(start_paused = true)]
    async fn repeats_bump_the_count_of_one_event() {
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

        // client-go's logger has no time window: hours later it is still a repeat.
        tokio::time::advance(Duration::from_secs(3 * 3600)).await;
        let later = c.observe(&rec("p", "Pulled", "pulled"), ts(10_830), Instant::now());
        assert!(matches!(later, Correlated::Patch { ref event, .. } if event.count == Some(3)));
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
    async fn the_tenth_distinct_message_starts_one_combined_event() {
        let mut c = EventCorrelator::new("replicaset-controller", "i");
        let now = Instant::now();
        let mut created = Vec::new();
        for i in 0..9 {
            match c.observe(
                &rec("web", "SuccessfulCreate", &format!("Created pod: web-{i}")),
                ts(0),
                now,
            ) {
                Correlated::Create(e) => created.push(e),
                other => panic!("message {i} is its own Event: {other:?}"),
            }
        }
        let Correlated::Create(combined) = c.observe(
            &rec("web", "SuccessfulCreate", "Created pod: web-9"),
            ts(1),
            now,
        ) else {
            panic!("the tenth creates the combined Event")
        };
        assert_eq!(
            combined.message.as_deref(),
            Some("(combined from similar events): Created pod: web-9")
        );
        assert_eq!(combined.reason.as_deref(), Some("SuccessfulCreate"));
        assert_eq!(combined.count, Some(1));
        assert_eq!(combined.reporting_component, None);
        assert!(
            created
                .iter()
                .all(|e| e.metadata.name != combined.metadata.name)
        );

        let Correlated::Patch { event, patch } = c.observe(
            &rec("web", "SuccessfulCreate", "Created pod: web-10"),
            ts(2),
            now,
        ) else {
            panic!("the next ones bump the combined Event")
        };
        assert_eq!(event.metadata.name, combined.metadata.name);
        assert_eq!(event.count, Some(2));
        assert_eq!(
            patch["message"],
            "(combined from similar events): Created pod: web-10"
        );

        // Another reason about the same object is its own group.
        assert!(matches!(
            c.observe(&rec("web", "SuccessfulDelete", "Deleted pod: web-0"), ts(3), now),
            Correlated::Create(ref e) if e.message.as_deref() == Some("Deleted pod: web-0")
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_interval_starts_a_fresh_aggregation_group() {
        let mut c = EventCorrelator::new("rc", "i");
        for i in 0..9 {
            c.observe(&rec("web", "R", &format!("m{i}")), ts(0), Instant::now());
        }
        tokio::time::advance(AGGREGATE_INTERVAL + Duration::from_secs(1)).await;
        let after = c.observe(&rec("web", "R", "m9"), ts(601), Instant::now());
        assert!(
            matches!(after, Correlated::Create(ref e) if e.message.as_deref() == Some("m9")),
            "{after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn spam_is_dropped_but_counted() {
        let mut c = EventCorrelator::new("rc", "i");
        let now = Instant::now();
        let written = (0..40)
            .filter(|_| {
                !matches!(
                    c.observe(&rec("p", "BackOff", "back-off"), ts(0), now),
                    Correlated::Skip
                )
            })
            .count();
        assert_eq!(written, 25, "a burst of 25 per object");
        assert!(matches!(
            c.observe(&rec("q", "BackOff", "back-off"), ts(0), now),
            Correlated::Create(_)
        ));
        tokio::time::advance(Duration::from_secs(300)).await;
        let next = c.observe(&rec("p", "BackOff", "back-off"), ts(300), Instant::now());
        assert!(
            matches!(next, Correlated::Patch { ref event, .. } if event.count == Some(41)),
            "the dropped ones were counted: {next:?}"
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
    async fn the_caches_are_bounded_and_forget_the_least_recently_used() {
        let mut c = EventCorrelator::new("rc", "i");
        for i in 0..(MAX_CACHE_ENTRIES + 10) {
            c.observe(&rec(&format!("p{i}"), "R", "m"), ts(0), Instant::now());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(c.logged.len(), MAX_CACHE_ENTRIES);
        assert_eq!(c.aggregates.len(), MAX_CACHE_ENTRIES);
        // The newest is remembered, the oldest forgotten.
        let newest = rec(&format!("p{}", MAX_CACHE_ENTRIES + 9), "R", "m");
        assert!(matches!(
            c.observe(&newest, ts(0), Instant::now()),
            Correlated::Patch { .. }
        ));
        assert!(matches!(
            c.observe(&rec("p0", "R", "m"), ts(0), Instant::now()),
            Correlated::Create(_)
        ));
    }
}
