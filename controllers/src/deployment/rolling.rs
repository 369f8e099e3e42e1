//! The RollingUpdate strategy (upstream `rolling.go`): grow the new ReplicaSet
//! within `replicas + maxSurge`, then shrink old ones while at least
//! `replicas - maxUnavailable` pods stay available — unhealthy old replicas
//! first, then the oldest ReplicaSets.

use super::sync::Sync;
use super::util::{deployment_complete, max_unavailable, new_rs_new_replicas, replicas, status};
use crate::util::replicasets::{self as rsu, spec_replicas};

impl Sync<'_> {
    /// Upstream `rolloutRolling`.
    pub(crate) fn rollout_rolling(&mut self) {
        let (new, old) = self.all_replica_sets(true);
        let all = Self::all(&old, new);
        let Some(new_i) = new else {
            self.sync_rollout_status(&all, new);
            return;
        };
        if self.reconcile_new_replica_set(&all, new_i) {
            self.sync_rollout_status(&all, new);
            return;
        }
        let active_old = self.active(&old);
        if self.reconcile_old_replica_sets(&all, &active_old, new_i) {
            self.sync_rollout_status(&all, new);
            return;
        }
        if deployment_complete(&self.d, &status(&self.d)) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(&all, new);
    }

    /// Upstream `reconcileNewReplicaSet`: true when the new ReplicaSet was resized.
    fn reconcile_new_replica_set(&mut self, all: &[usize], new_i: usize) -> bool {
        let desired = replicas(&self.d);
        let current = spec_replicas(&self.rss[new_i]);
        if current == desired {
            return false;
        }
        if current > desired {
            return self.scale_and_record(new_i, desired);
        }
        let count = new_rs_new_replicas(&self.d, &self.refs(all), &self.rss[new_i]);
        self.scale_and_record(new_i, count)
    }

    /// Upstream `reconcileOldReplicaSets`: true when any old ReplicaSet shrank.
    ///
    /// At most `all pods - minAvailable - unavailable new pods` may go, so that
    /// unavailable new pods never let old ones be removed (a broken rollout keeps
    /// its old pods), while a rollback or rollover still frees room.
    fn reconcile_old_replica_sets(&mut self, all: &[usize], old: &[usize], new_i: usize) -> bool {
        let old_count = rsu::sum_spec(self.refs(old));
        if old_count == 0 {
            return false;
        }
        let all_count = rsu::sum_spec(self.refs(all));
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.rss[new_i];
        let new_unavailable = spec_replicas(new_rs) - rsu::available_replicas(new_rs);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // Upstream gives up on this sync (no scale-down, no error) when the
        // cleanup meets an old ReplicaSet reporting more available replicas than
        // it asks for: its status predates its latest scale-down, so the
        // available count below would include pods already being deleted.
        let Some(cleaned) = self.cleanup_unhealthy_replicas(old, max_scaled_down) else {
            return false;
        };
        let mut after: Vec<usize> = old.to_vec();
        after.push(new_i);
        let scaled = self.scale_down_old_replica_sets_for_rolling_update(&after, old);
        cleaned + scaled > 0
    }

    /// Upstream `cleanupUnhealthyReplicas`: oldest first, remove old replicas that
    /// are not available, at most `max_cleanup` in total. `None` where upstream
    /// fails with "got invalid request to scale down": an old ReplicaSet whose
    /// status reports more available replicas than its size (a status written
    /// before the pods of its last scale-down were seen going away); the
    /// ReplicaSets already scaled down stay so.
    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i32) -> Option<i32> {
        let mut sorted = old.to_vec();
        self.sort_by_creation(&mut sorted);
        let mut total = 0;
        for i in sorted {
            if total >= max_cleanup {
                break;
            }
            let rs = &self.rss[i];
            let size = spec_replicas(rs);
            let available = rsu::available_replicas(rs);
            if size == 0 || size == available {
                continue;
            }
            let down = (max_cleanup - total).min(size - available);
            let new_size = size - down;
            if new_size > size {
                return None;
            }
            self.scale_and_record(i, new_size);
            total += down;
        }
        Some(total)
    }

    /// Upstream `scaleDownOldReplicaSetsForRollingUpdate`: oldest first, remove
    /// available old replicas beyond `replicas - maxUnavailable` available pods.
    fn scale_down_old_replica_sets_for_rolling_update(
        &mut self,
        all: &[usize],
        old: &[usize],
    ) -> i32 {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available = rsu::sum_available(self.refs(all));
        if available <= min_available {
            return 0;
        }
        let mut sorted = old.to_vec();
        self.sort_by_creation(&mut sorted);
        let to_remove = available - min_available;
        let mut total = 0;
        for i in sorted {
            if total >= to_remove {
                break;
            }
            let size = spec_replicas(&self.rss[i]);
            if size == 0 {
                continue;
            }
            let down = size.min(to_remove - total);
            self.scale_and_record(i, size - down);
            total += down;
        }
        total
    }
}
