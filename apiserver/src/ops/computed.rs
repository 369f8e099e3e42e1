//! Kinds whose objects are computed on every read instead of stored
//! ([`Backing`] other than `Stored`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Cluster;
use crate::component_status::{self, Health, LEASE_NAMESPACE};
use crate::kinds::KindInfo;
use crate::kinds::descriptor::Backing;
use crate::status::ApiError;

impl Cluster {
    /// The objects of a computed `kind` as of `now`.
    pub fn computed_objects(
        &self,
        kind: &KindInfo,
        now: DateTime<Utc>,
    ) -> Result<Vec<Value>, ApiError> {
        match kind.descriptor.map(|d| d.backing) {
            Some(Backing::ComponentHealth) => {
                let leases = self.served_kind("coordination.k8s.io", "v1", "leases")?;
                let leases = self.list_values(&leases, Some(LEASE_NAMESPACE))?;
                Ok(component_status::component_statuses(
                    &leases,
                    &self.probe_store(),
                    now,
                ))
            }
            Some(Backing::Stored) | None => Err(ApiError::internal(format!(
                "{} are stored, not computed",
                kind.plural
            ))),
        }
    }

    /// The store's health: it answers a read (taking its lock, as every request does; a
    /// store that cannot answer leaves this request waiting, as an etcd probe times out).
    fn probe_store(&self) -> Health {
        let _revision = self.store.current_rv();
        Ok(())
    }
}
