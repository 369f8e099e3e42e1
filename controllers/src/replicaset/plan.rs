//! What a ReplicaSet sync does to its pods (upstream `manageReplicas`).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::owner::ReplicaSetLike;
use super::ranking::pods_to_delete;
use crate::util::pod_control::PodRef;

/// Upstream `BurstReplicas`: at most this many creations or deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// What to do to a ReplicaSet's pods in one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManageReplicas {
    /// Nothing: the right number of pods exist, expectations are pending, or the
    /// ReplicaSet is being deleted.
    Nothing,
    /// Create this many pods from the template, in slow-start batches; expect
    /// exactly this many creations before acting on the count again.
    Create {
        /// Pods to create (at most [`BURST_REPLICAS`]).
        count: usize,
    },
    /// Delete these pods (in parallel); expect these deletions.
    Delete {
        /// The pods, in deletion-preference order.
        pods: Vec<PodRef>,
    },
}

/// The creations or deletions for `rs`, whose claimed active pods are `pods`
/// (upstream `manageReplicas`). `related` are the pods of every ReplicaSet
/// with the same controller as `rs`, its own included (see
/// [`super::ranking::related_pods`]), used to prefer deleting pods on crowded
/// nodes; empty for a ReplicaSet without a controller, as upstream. Upstream runs this only when expectations are satisfied and the
/// RS is not being deleted: see [`super::plan_sync`].
pub fn manage_replicas<R: ReplicaSetLike>(
    rs: &R,
    pods: &[&Pod],
    related: &[&Pod],
    now: Timestamp,
) -> ManageReplicas {
    let desired = usize::try_from(rs.replicas()).unwrap_or(0);
    let have = pods.len();
    if have < desired {
        ManageReplicas::Create {
            count: (desired - have).min(BURST_REPLICAS),
        }
    } else if have > desired {
        let diff = (have - desired).min(BURST_REPLICAS);
        ManageReplicas::Delete {
            pods: pods_to_delete(pods, related, diff, now)
                .into_iter()
                .map(PodRef::of)
                .collect(),
        }
    } else {
        ManageReplicas::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod, ready_pod, rs};

    fn pods(n: usize) -> Vec<Pod> {
        (0..n).map(|i| ready_pod(&format!("p{i}"), at(0))).collect()
    }

    #[test]
    fn creates_the_difference_capped_at_burst_replicas() {
        let cases = [
            (3, 0, 3),
            (3, 1, 2),
            (1000, 0, 500),
            (1000, 600, 400),
            (0, 0, 0),
        ];
        for (desired, have, want) in cases {
            let all = pods(have);
            let refs: Vec<&Pod> = all.iter().collect();
            let got = manage_replicas(&rs("web", desired, at(0)), &refs, &refs, at(10));
            let expected = if want == 0 {
                ManageReplicas::Nothing
            } else {
                ManageReplicas::Create { count: want }
            };
            assert_eq!(got, expected, "desired {desired}, have {have}");
        }
    }

    #[test]
    fn deletes_the_surplus_preferring_unhealthy_pods() {
        let healthy = pods(3);
        let pending = pod("pending");
        let mut refs: Vec<&Pod> = healthy.iter().collect();
        refs.insert(1, &pending);
        let got = manage_replicas(&rs("web", 3, at(0)), &refs, &refs, at(10));
        let ManageReplicas::Delete { pods } = got else {
            panic!("expected deletions, got {got:?}");
        };
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].name, "pending");
        assert_eq!(pods[0].key(), "default/pending");
        assert_eq!(pods[0].uid, "uid-pending");
    }

    #[test]
    fn deletions_are_capped_at_burst_replicas() {
        let all = pods(700);
        let refs: Vec<&Pod> = all.iter().collect();
        let got = manage_replicas(&rs("web", 0, at(0)), &refs, &refs, at(10));
        let ManageReplicas::Delete { pods } = got else {
            panic!("expected deletions");
        };
        assert_eq!(pods.len(), BURST_REPLICAS);
    }
}
