//! A committed change, as watchers receive it, with its wire encodings computed at most
//! once each however many watchers send it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use super::{ResourceKey, StoredObject};

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change of one object.
#[derive(Debug)]
pub struct WatchEvent {
    key: ResourceKey,
    etype: EventType,
    object: StoredObject,
    prev: Option<StoredObject>,
    /// Encoded frames: [ADDED obj, MODIFIED obj, DELETED obj, DELETED prev-at-this-rv].
    frames: [OnceLock<Bytes>; 4],
    counter: Arc<AtomicU64>,
}

/// Builds `{"type":"T","object":<json>}\n`.
pub fn frame(etype: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(etype.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

impl WatchEvent {
    /// An event; `prev` is the object's state before the change.
    pub fn new(
        key: ResourceKey,
        etype: EventType,
        object: StoredObject,
        prev: Option<StoredObject>,
        counter: Arc<AtomicU64>,
    ) -> Self {
        WatchEvent {
            key,
            etype,
            object,
            prev,
            frames: Default::default(),
            counter,
        }
    }

    /// The resource this event is about.
    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// The revision of the change.
    pub fn rv(&self) -> u64 {
        self.object.rv
    }

    /// What happened.
    pub fn event_type(&self) -> EventType {
        self.etype
    }

    /// The object after the change (its last state, at the deletion's revision, for
    /// deletes).
    pub fn object(&self) -> &StoredObject {
        &self.object
    }

    /// The object before the change.
    pub fn prev(&self) -> Option<&StoredObject> {
        self.prev.as_ref()
    }

    /// The encoded frame sending the new object as `as_type` (watchers whose selector it
    /// newly matches get it as ADDED). Encoded once per type.
    pub fn frame_for(&self, as_type: EventType) -> Bytes {
        let idx = match as_type {
            EventType::Added => 0,
            EventType::Modified => 1,
            EventType::Deleted => 2,
        };
        self.frames[idx]
            .get_or_init(|| {
                self.counter.fetch_add(1, Ordering::Relaxed);
                frame(as_type.as_str(), &self.object.bytes)
            })
            .clone()
    }

    /// The frame for watchers whose selector the object just stopped matching: DELETED
    /// with the previous state stamped with this event's revision, as upstream's cacher
    /// sends. Encoded once.
    pub fn frame_prev_deleted(&self) -> Bytes {
        self.frames[3]
            .get_or_init(|| {
                self.counter.fetch_add(1, Ordering::Relaxed);
                let prev = self.prev.as_ref().unwrap_or(&self.object);
                let mut v: Value = match serde_json::from_slice(&prev.bytes) {
                    Ok(v) => v,
                    Err(_) => return frame("DELETED", &prev.bytes),
                };
                if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert(
                        "resourceVersion".into(),
                        Value::String(self.rv().to_string()),
                    );
                }
                let bytes = crate::wire::to_vec(&v).unwrap_or_else(|_| prev.bytes.to_vec());
                frame("DELETED", &bytes)
            })
            .clone()
    }
}
