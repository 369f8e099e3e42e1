//! What the controller remembers between syncs (upstream's `taintedNodes` map and
//! `TimedWorkerQueue`), and the two syncs over it — a node's and a pod's — as pure
//! functions of the cached objects and the time. The timers of upstream's timed
//! workers are the work queue's delayed adds here: a sync answers when the pod's key
//! must be looked at again, and the pod's sync carries the deletion out once it is
//! due, so a fake clock drives the deadlines as well as the real one.

use std::collections::HashMap;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::jiff::Timestamp;

use super::plan::{Decision, Scheduled, decide, no_execute_taints};
use crate::util::time;

/// A scheduled deletion and whether its Event was already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scheduled: Scheduled,
    /// `TaintManagerEviction` "Marking for deletion" was recorded (once per
    /// deletion, not once per retry).
    marked: bool,
}

/// The `NoExecute` taints of every tainted node and the deletions scheduled, by pod.
#[derive(Debug, Default)]
pub struct Evictions {
    tainted: HashMap<String, Vec<Taint>>,
    scheduled: HashMap<ObjectKey, Entry>,
}

/// What a pod's sync asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodOutcome {
    /// A scheduled deletion was cancelled: record the cancellation Event.
    pub cancelled: bool,
    /// The deletion is due: carry it out for this pod.
    pub evict: Option<Eviction>,
    /// Look at the pod again after this long (its deletion is not yet due).
    pub requeue_after: Option<Duration>,
}

/// A deletion to carry out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// The uid of the pod to delete (a precondition of the writes).
    pub uid: String,
    /// Whether to record the "Marking for deletion" Event (first attempt only).
    pub record_event: bool,
}

/// What a node's sync asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeOutcome {
    /// Pods whose scheduled deletion was cancelled (record an Event for each).
    pub cancelled: Vec<ObjectKey>,
    /// Pods to sync, each after its delay (zero: at once).
    pub enqueue: Vec<(ObjectKey, Duration)>,
}

impl Evictions {
    /// The `NoExecute` taints recorded for `node`, if it is tainted.
    pub fn taints_of(&self, node: &str) -> Option<&[Taint]> {
        self.tainted.get(node).map(Vec::as_slice)
    }

    /// The deletion scheduled for `pod`, if any.
    pub fn scheduled(&self, pod: &ObjectKey) -> Option<&Scheduled> {
        self.scheduled.get(pod).map(|e| &e.scheduled)
    }

    /// Cancels the deletion scheduled for `pod`; true when that calls for the
    /// cancellation Event (a timed deletion was pending: upstream emits none for
    /// work started at once).
    pub fn cancel(&mut self, pod: &ObjectKey) -> bool {
        self.scheduled
            .remove(pod)
            .is_some_and(|e| !e.scheduled.is_immediate())
    }

    /// The deletion of `pod` (uid `uid`) succeeded or is moot: forgets it, unless a
    /// deletion of another pod of that name was scheduled meanwhile.
    pub fn finished(&mut self, pod: &ObjectKey, uid: &str) {
        if self
            .scheduled
            .get(pod)
            .is_some_and(|e| e.scheduled.uid == uid)
        {
            self.scheduled.remove(pod);
        }
    }

    /// Records `decision` for `pod`; true when a timed deletion was cancelled (an
    /// Event to record).
    fn record(&mut self, pod: &ObjectKey, decision: Decision) -> bool {
        match decision {
            Decision::Cancel => self.cancel(pod),
            Decision::Keep => false,
            Decision::Schedule { at, replaces } => {
                let cancelled = replaces && self.cancel(pod);
                self.scheduled.insert(
                    pod.clone(),
                    Entry {
                        scheduled: at,
                        marked: false,
                    },
                );
                cancelled
            }
        }
    }
    /// A pod's sync (upstream `handlePodUpdate` and, when due, the timed worker's
    /// firing): `pod` is the cached pod of key `key` (`None` once deleted).
    pub fn sync_pod(&mut self, key: &ObjectKey, pod: Option<&Pod>, now: Timestamp) -> PodOutcome {
        let Some(pod) = pod else {
            return PodOutcome {
                cancelled: self.cancel(key),
                ..Default::default()
            };
        };
        let node = crate::util::pod::node_name(pod);
        let Some(taints) = (!node.is_empty()).then(|| self.tainted.get(node)).flatten() else {
            // Not bound, or its node is not (or no longer) tainted.
            return PodOutcome {
                cancelled: self.cancel(key),
                ..Default::default()
            };
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        let decision = decide(uid, tolerations, taints, now, self.scheduled(key));
        let mut out = PodOutcome {
            cancelled: self.record(key, decision),
            ..Default::default()
        };
        if let Some(entry) = self.scheduled.get_mut(key) {
            if entry.scheduled.is_due(now) {
                out.evict = Some(Eviction {
                    uid: entry.scheduled.uid.clone(),
                    record_event: !entry.marked,
                });
                entry.marked = true;
            } else {
                out.requeue_after = Some(time::since(entry.scheduled.fire_at, now));
            }
        }
        out
    }

    /// A node's sync (upstream `handleNodeUpdate`): records the `NoExecute` taints of
    /// `node` (`None` once deleted: forgotten, its pods' deletions left as they are,
    /// as upstream) and decides for each of `pods` (those bound to it) at one `now`.
    /// Deletions due are not carried out here but by each pod's own sync, which the
    /// outcome enqueues.
    pub fn sync_node(
        &mut self,
        name: &str,
        node: Option<&Node>,
        pods: &[std::sync::Arc<Pod>],
        now: Timestamp,
    ) -> NodeOutcome {
        let mut out = NodeOutcome::default();
        let Some(node) = node else {
            self.tainted.remove(name);
            return out;
        };
        let taints = no_execute_taints(
            node.spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or(&[]),
        );
        if taints.is_empty() {
            self.tainted.remove(name);
            for pod in pods {
                let key = ObjectKey::of(pod.as_ref());
                if self.cancel(&key) {
                    out.cancelled.push(key);
                }
            }
            return out;
        }
        self.tainted.insert(name.to_string(), taints);
        for pod in pods {
            let key = ObjectKey::of(pod.as_ref());
            let uid = pod.metadata.uid.as_deref().unwrap_or("");
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or(&[]);
            let taints = self.tainted.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let decision = decide(uid, tolerations, taints, now, self.scheduled(&key));
            if self.record(&key, decision) {
                out.cancelled.push(key.clone());
            }
            if let Some(s) = self.scheduled(&key) {
                out.enqueue.push((key, time::since(s.fire_at, now)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod};
    use k8s_openapi::api::core::v1::{NodeSpec, Toleration};
    use std::sync::Arc;

    fn node(name: &str, taints: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.spec = Some(NodeSpec {
            taints: Some(
                taints
                    .iter()
                    .map(|(key, effect)| Taint {
                        key: (*key).into(),
                        value: Some("x".into()),
                        effect: (*effect).into(),
                        time_added: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        n
    }

    /// A pod on `node` tolerating `dedicated` for `seconds` (`Some(None)`: forever;
    /// `None`: no toleration).
    fn pod_on(name: &str, node: &str, tolerates: Option<Option<i64>>) -> Arc<Pod> {
        let mut p = pod(name);
        let spec = p.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(node.into());
        spec.tolerations = tolerates.map(|seconds| {
            vec![Toleration {
                key: Some("dedicated".into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: seconds,
                value: None,
            }]
        });
        Arc::new(p)
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::namespaced("default", name)
    }

    #[test]
    fn a_tainted_node_schedules_each_pod_by_its_tolerations() {
        let mut ev = Evictions::default();
        let pods = [
            pod_on("bare", "n1", None),
            pod_on("timed", "n1", Some(Some(3))),
            pod_on("forever", "n1", Some(None)),
        ];
        let out = ev.sync_node(
            "n1",
            Some(&node(
                "n1",
                &[("dedicated", "NoExecute"), ("soft", "NoSchedule")],
            )),
            &pods,
            at(0),
        );
        assert!(out.cancelled.is_empty());
        assert_eq!(
            out.enqueue,
            [
                (key("bare"), Duration::ZERO),
                (key("timed"), Duration::from_secs(3))
            ]
        );
        assert_eq!(
            ev.taints_of("n1").map(<[Taint]>::len),
            Some(1),
            "NoExecute only"
        );
        assert!(ev.scheduled(&key("forever")).is_none());

        // The untolerating pod's sync evicts it, its Event once.
        let bare = ev.sync_pod(&key("bare"), Some(&pods[0]), at(0));
        assert_eq!(
            bare.evict,
            Some(Eviction {
                uid: "uid-bare".into(),
                record_event: true
            })
        );
        let retry = ev.sync_pod(&key("bare"), Some(&pods[0]), at(1));
        assert_eq!(
            retry.evict,
            Some(Eviction {
                uid: "uid-bare".into(),
                record_event: false
            }),
            "a failed deletion is retried without a second Event"
        );
        ev.finished(&key("bare"), "uid-bare");
        assert!(ev.scheduled(&key("bare")).is_none());

        // The timed one waits until its deadline, counted from the node's sync.
        let early = ev.sync_pod(&key("timed"), Some(&pods[1]), at(1));
        assert_eq!(early.evict, None);
        assert_eq!(early.requeue_after, Some(Duration::from_secs(2)));
        let due = ev.sync_pod(&key("timed"), Some(&pods[1]), at(3));
        assert_eq!(due.evict.map(|e| e.uid), Some("uid-timed".into()));

        // Forever stays forever.
        let forever = ev.sync_pod(&key("forever"), Some(&pods[2]), at(1000));
        assert_eq!(forever, PodOutcome::default());
    }

    #[test]
    fn removing_the_taint_cancels_with_an_event_per_timed_deletion() {
        let mut ev = Evictions::default();
        let pods = [
            pod_on("bare", "n1", None),
            pod_on("timed", "n1", Some(Some(30))),
        ];
        ev.sync_node(
            "n1",
            Some(&node("n1", &[("dedicated", "NoExecute")])),
            &pods,
            at(0),
        );
        let out = ev.sync_node(
            "n1",
            Some(&node("n1", &[("dedicated", "NoSchedule")])),
            &pods,
            at(5),
        );
        assert_eq!(
            out.cancelled,
            [key("timed")],
            "work started at once is cancelled without an Event, as upstream"
        );
        assert!(out.enqueue.is_empty());
        assert!(ev.taints_of("n1").is_none());
        assert!(ev.scheduled(&key("bare")).is_none() && ev.scheduled(&key("timed")).is_none());
        // A later sync of the pod finds nothing to do.
        assert_eq!(
            ev.sync_pod(&key("timed"), Some(&pods[1]), at(40)),
            PodOutcome::default()
        );
    }

    #[test]
    fn pod_updates_are_re_evaluated() {
        let mut ev = Evictions::default();
        let timed = pod_on("p", "n1", Some(Some(30)));
        ev.sync_node(
            "n1",
            Some(&node("n1", &[("dedicated", "NoExecute")])),
            &[],
            at(0),
        );
        // Added to the tainted node: scheduled from its first sighting.
        let first = ev.sync_pod(&key("p"), Some(&timed), at(10));
        assert_eq!(first.requeue_after, Some(Duration::from_secs(30)));
        // Tolerating forever now (a toleration added): cancelled with an Event.
        let forever = pod_on("p", "n1", Some(None));
        let out = ev.sync_pod(&key("p"), Some(&forever), at(12));
        assert!(out.cancelled && out.evict.is_none() && out.requeue_after.is_none());
        // Moved to an untainted node (nodeName changed): nothing to cancel any more.
        ev.sync_pod(&key("p"), Some(&timed), at(13));
        let moved = pod_on("p", "n2", Some(Some(30)));
        let out = ev.sync_pod(&key("p"), Some(&moved), at(14));
        assert!(out.cancelled, "leaving the tainted node cancels");
        // Unbound pods and deleted pods cancel too.
        ev.sync_pod(&key("p"), Some(&timed), at(15));
        let mut unbound = (*timed).clone();
        unbound.spec.as_mut().unwrap().node_name = None;
        assert!(ev.sync_pod(&key("p"), Some(&unbound), at(16)).cancelled);
        ev.sync_pod(&key("p"), Some(&timed), at(17));
        assert!(ev.sync_pod(&key("p"), None, at(18)).cancelled);
        assert!(ev.scheduled(&key("p")).is_none());
    }

    #[test]
    fn a_deleted_node_is_forgotten_and_a_recreated_pod_is_not_deleted_for_the_old() {
        let mut ev = Evictions::default();
        let old = pod_on("p", "n1", Some(Some(30)));
        ev.sync_node(
            "n1",
            Some(&node("n1", &[("dedicated", "NoExecute")])),
            &[old],
            at(0),
        );
        // The pod is recreated with a new uid while the deletion is pending.
        let mut new = pod_on("p", "n1", Some(Some(30))).as_ref().clone();
        new.metadata.uid = Some("uid-new".into());
        let out = ev.sync_pod(&key("p"), Some(&new), at(10));
        assert!(out.cancelled, "the old pod's deletion is cancelled");
        let s = ev.scheduled(&key("p")).expect("rescheduled");
        assert_eq!((s.uid.as_str(), s.fire_at), ("uid-new", at(40)));
        // An old deletion finishing late does not forget the new one.
        ev.finished(&key("p"), "uid-p");
        assert!(ev.scheduled(&key("p")).is_some());
        // The node goes away: forgotten, the pending deletion left to run out.
        let out = ev.sync_node("n1", None, &[], at(11));
        assert_eq!(out, NodeOutcome::default());
        assert!(ev.taints_of("n1").is_none());
        assert!(ev.scheduled(&key("p")).is_some());
    }

    #[test]
    fn a_new_untolerated_taint_replaces_a_timed_deletion() {
        let mut ev = Evictions::default();
        let pods = [pod_on("p", "n1", Some(Some(300)))];
        ev.sync_node(
            "n1",
            Some(&node("n1", &[("dedicated", "NoExecute")])),
            &pods,
            at(0),
        );
        let out = ev.sync_node(
            "n1",
            Some(&node(
                "n1",
                &[("dedicated", "NoExecute"), ("other", "NoExecute")],
            )),
            &pods,
            at(5),
        );
        assert_eq!(out.cancelled, [key("p")]);
        assert_eq!(out.enqueue, [(key("p"), Duration::ZERO)]);
        let s = ev.scheduled(&key("p")).expect("scheduled");
        assert!(s.is_due(at(5)));
    }
}
