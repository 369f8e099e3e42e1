//! The admission chain: what kube-apiserver's default-on admission plugins do to a
//! write, each step its own module. A kind's descriptor lists the steps its writes go
//! through; [`Admission`] declares them in upstream's plugin order and descriptors list
//! them in it, so the chain runs them in upstream's order. Plugins upstream leaves off
//! by default have no step.
//!
//! As upstream, the chain has two phases: [`admit`] (mutating) runs after defaulting
//! and before validation; [`validate`] (validating) runs after validation, inside the
//! store's write transaction, and ends with `ResourceQuota` on every namespaced kind,
//! whose quota usage is committed with the write.

mod default_storage_class;
mod default_toleration_seconds;
mod limit_ranger;
mod priority;
mod resource_quota;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::kinds::KindInfo;
use crate::kinds::descriptor::Admission;
use crate::ops::Cluster;
use crate::status::ApiError;
use crate::storage::{Companion, View};

/// The write a step is asked to admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to the main resource of an existing object (subresource writes are not
    /// admitted by these steps).
    Update,
}

impl Admission {
    /// Whether upstream's plugin acts on the operation. `Priority` also handles updates
    /// upstream, only to keep the priority the create set, which the update path keeps.
    pub fn handles(self, op: Operation) -> bool {
        match self {
            Admission::Priority | Admission::DefaultStorageClass => op == Operation::Create,
            Admission::DefaultTolerationSeconds | Admission::LimitRanger => true,
        }
    }
}

/// Runs the mutating half of the kind's admission steps that act on `op` over the
/// object about to be written.
pub fn admit(
    cluster: &Cluster,
    kind: &KindInfo,
    op: Operation,
    obj: &mut Value,
) -> Result<(), ApiError> {
    for &step in kind.descriptor.map_or(&[][..], |d| d.admission) {
        if !step.handles(op) {
            continue;
        }
        match step {
            Admission::LimitRanger => limit_ranger::admit(&cluster.store, kind, op, obj)?,
            Admission::Priority => priority::admit(&cluster.store, obj)?,
            Admission::DefaultTolerationSeconds => default_toleration_seconds::admit(obj),
            Admission::DefaultStorageClass => default_storage_class::admit(&cluster.store, obj),
        }
    }
    Ok(())
}

/// Runs the validating half of the chain over a valid object about to be stored
/// (`old` is the stored one on updates), reading other objects through `view` under
/// the store's write lock: the listed steps that validate, then `ResourceQuota`.
/// Answers the writes that go with the object (the quotas it is charged to).
pub fn validate(
    view: &View<'_>,
    kind: &KindInfo,
    op: Operation,
    new: &Value,
    old: Option<&Value>,
) -> Result<Vec<Companion>, ApiError> {
    for &step in kind.descriptor.map_or(&[][..], |d| d.admission) {
        if step == Admission::LimitRanger {
            limit_ranger::validate(view, kind, op, new, old)?;
        }
    }
    resource_quota::charge(view, kind, op, new, old, now())
}

/// A stored or admitted object as its k8s-openapi type (valid objects always decode;
/// a failure is the client's malformed body).
fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    T::deserialize(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The wall-clock time, as quota usage rules compare it with deletion timestamps.
fn now() -> Timestamp {
    let t = chrono::Utc::now();
    Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin::{ALL, by_resource};

    #[test]
    fn every_kind_lists_its_steps_in_upstreams_order() {
        for d in ALL {
            assert!(
                d.admission.windows(2).all(|w| w[0] < w[1]),
                "{}: {:?}",
                d.kind,
                d.admission
            );
        }
    }

    #[test]
    fn pods_and_claims_go_through_upstreams_steps() {
        let steps = |resource| by_resource("", resource).map(|d| d.admission);
        assert_eq!(
            steps("pods"),
            Some(
                &[
                    Admission::LimitRanger,
                    Admission::Priority,
                    Admission::DefaultTolerationSeconds
                ][..]
            )
        );
        assert_eq!(
            steps("persistentvolumeclaims"),
            Some(&[Admission::LimitRanger, Admission::DefaultStorageClass][..])
        );
    }
}
