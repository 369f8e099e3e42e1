//! client-go's `EventSourceObjectSpamFilter`: a source may burst [`SPAM_BURST`] events
//! about one object, then one more every 1 / [`SPAM_QPS`] seconds; the rest are dropped
//! before they reach the API server. This is what keeps a ReplicaSet scaled to
//! thousands of replicas from writing thousands of `SuccessfulCreate` Events.

use k8s_openapi::api::core::v1::ObjectReference;
use tokio::time::Instant;

use super::ObjectKey;
use crate::lru::Lru;

/// Events a source may write about one object in a burst (client-go `defaultSpamBurst`).
pub const SPAM_BURST: u32 = 25;
/// Events per second a source may write about one object once its burst is spent:
/// one every 5 minutes (client-go `defaultSpamQPS`).
pub const SPAM_QPS: f64 = 1.0 / 300.0;

/// A token bucket that starts full (x/time/rate's `Allow`).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Rate-limits the events of one source per involved object, remembering the
/// buckets of at most `capacity` objects (least recently used forgotten first).
#[derive(Debug)]
pub(crate) struct SpamFilter {
    buckets: Lru<ObjectKey, Bucket>,
    burst: f64,
    qps: f64,
}

impl SpamFilter {
    /// A filter with client-go's defaults.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buckets: Lru::new(capacity),
            burst: f64::from(SPAM_BURST),
            qps: SPAM_QPS,
        }
    }

    /// Whether an event about `object` at `now` must be dropped; takes a token when not.
    pub(crate) fn filter(&mut self, object: &ObjectReference, now: Instant) -> bool {
        // client-go's `getSpamKey`: the source (the same for every event of one
        // recorder) and the involved object.
        let key = ObjectKey::of(object);
        let (burst, qps) = (self.burst, self.qps);
        let accepted = match self.buckets.get_mut(&key) {
            Some(bucket) => {
                let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
                bucket.tokens = (bucket.tokens + elapsed * qps).min(burst);
                bucket.last = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    true
                } else {
                    false
                }
            }
            None => {
                self.buckets.insert(
                    key,
                    Bucket {
                        tokens: burst - 1.0,
                        last: now,
                    },
                );
                true
            }
        };
        !accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn obj(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ReplicaSet".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("{name}-uid")),
            api_version: Some("apps/v1".into()),
            ..ObjectReference::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_25_per_object_then_one_every_five_minutes() {
        let mut f = SpamFilter::new(16);
        let now = Instant::now();
        let passed = (0..100).filter(|_| !f.filter(&obj("web"), now)).count();
        assert_eq!(passed, 25);
        // Another object has its own bucket.
        assert!(!f.filter(&obj("api"), now));

        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(f.filter(&obj("web"), Instant::now()), "not refilled yet");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            !f.filter(&obj("web"), Instant::now()),
            "one token after 300 s"
        );
        assert!(f.filter(&obj("web"), Instant::now()));

        // A long quiet spell refills up to the burst, no more.
        tokio::time::advance(Duration::from_secs(300 * 100)).await;
        let now = Instant::now();
        let passed = (0..100).filter(|_| !f.filter(&obj("web"), now)).count();
        assert_eq!(passed, 25);
    }
}
