//! The Recreate strategy (upstream `recreate.go`): scale every old ReplicaSet to
//! zero, wait until none of their pods is running, then create and scale up the
//! new one.

use std::collections::HashSet;

use super::sync::Sync;
use super::util::{deployment_complete, replicas, status};
use crate::util::pod;
use crate::util::replicasets::{self as rsu, spec_replicas};

impl Sync<'_> {
    /// Upstream `rolloutRecreate`.
    pub(crate) fn rollout_recreate(&mut self) {
        let (mut new, mut old) = self.all_replica_sets(false);
        let mut all = Self::all(&old, new);
        let active_old = self.active(&old);
        let mut scaled_down = false;
        for i in active_old {
            if spec_replicas(&self.rss[i]) != 0 {
                self.scale_and_record(i, 0);
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(new, &old) {
            self.sync_rollout_status(&all, new);
            return;
        }
        if new.is_none() {
            (new, old) = self.all_replica_sets(true);
            all = Self::all(&old, new);
        }
        if let Some(i) = new {
            let desired = replicas(&self.d);
            self.scale_and_record(i, desired);
        }
        if deployment_complete(&self.d, &status(&self.d)) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(&all, new);
    }

    /// Upstream `oldPodsRunning`: old ReplicaSets still report pods, or a pod of
    /// a ReplicaSet other than the new one is neither `Succeeded` nor `Failed`.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        if rsu::sum_actual(self.refs(old)) > 0 {
            return true;
        }
        let new_uid = new.and_then(|i| self.rss[i].metadata.uid.as_deref());
        let owners: HashSet<&str> = self
            .rss
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .filter(|u| Some(*u) != new_uid)
            .collect();
        self.pods.iter().any(|p| {
            let owned = p
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .is_some_and(|r| owners.contains(r.uid.as_str()));
            owned && !matches!(pod::phase(p), "Succeeded" | "Failed")
        })
    }
}
