//! The clusterrole-aggregation controller inside the server: it follows the store's
//! events and, whenever a ClusterRole is created, updated or deleted, rewrites the
//! rules of every aggregated ClusterRole whose selected roles changed (upstream's
//! `clusterroleaggregation` controller, which kube-controller-manager runs; the
//! embedded server has no controller manager of its own, so it runs here).

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::RBAC_GROUP;
use super::aggregation::settled_aggregates;
use crate::kinds::KindInfo;
use crate::ops::{Cluster, WriteOptions, key_of};
use crate::status::ApiError;
use crate::storage::WatchStart;

/// Passes over the roles [`aggregate_cluster_roles`] makes at most: enough for chains
/// of aggregated roles (`view` into `edit` into `admin`) several levels deeper than
/// upstream's.
const MAX_PASSES: usize = 8;

fn cluster_roles(cluster: &Cluster) -> Result<Arc<KindInfo>, ApiError> {
    cluster
        .registry
        .lookup(RBAC_GROUP, "v1", "clusterroles")
        .ok_or_else(|| ApiError::internal("clusterroles are not served".to_string()))
}

fn writer() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        field_manager: "clusterrole-aggregation-controller".into(),
        applied: false,
    }
}

/// Fills in the rules of every ClusterRole carrying an `aggregationRule`, chains of
/// aggregated roles settled in memory first so each role is written once. Answers how
/// many roles it rewrote.
pub fn aggregate_cluster_roles(cluster: &Cluster) -> Result<usize, ApiError> {
    let kind = cluster_roles(cluster)?;
    let all = cluster
        .store
        .list(&key_of(&kind), None, None, None, &|_| true)
        .items
        .iter()
        .map(|o| o.value())
        .collect::<Result<Vec<Value>, ApiError>>()?;
    let mut written = 0;
    for (name, rules) in settled_aggregates(&all, MAX_PASSES) {
        let result = cluster.update_with(&kind, "", &name, None, &writer(), |cur| {
            let mut next = cur.clone();
            next["rules"] = Value::Array(rules.clone());
            Ok(next)
        });
        match result {
            Ok(_) => written += 1,
            // Deleted since the list: nothing to fill.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Runs the controller until the store closes: one [`aggregate_cluster_roles`] at
/// start, then one after each burst of ClusterRole events (events that arrived while a
/// pass ran are folded into the next pass; a receiver that fell behind re-aggregates).
pub async fn run(cluster: Arc<Cluster>) {
    let kind = match cluster_roles(&cluster) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "clusterrole aggregation not started");
            return;
        }
    };
    let key = key_of(&kind);
    let start = WatchStart::After(cluster.store.current_rv());
    let mut live = match cluster.store.watch(&key, None, start) {
        Ok(w) => w.live,
        Err(e) => {
            tracing::warn!(error = %e, "clusterrole aggregation not started");
            return;
        }
    };
    loop {
        if let Err(e) = aggregate_cluster_roles(&cluster) {
            tracing::warn!(error = %e, "aggregating cluster roles failed");
        }
        // Wait for the next ClusterRole event (or a lag, which may have hidden one).
        loop {
            match live.recv().await {
                Ok(ev) if *ev.key() == key => break,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        // Fold the rest of the burst into one pass.
        loop {
            match live.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
    }
}
