//! The admission chain: what kube-apiserver's default-on admission plugins do to a
//! write after defaulting and before validation, each step its own module. A kind's
//! descriptor lists the steps its writes go through; [`Admission`] declares them in
//! upstream's plugin order and descriptors list them in it, so the chain runs them in
//! upstream's order. Plugins upstream leaves off by default have no step.

mod default_storage_class;
mod default_toleration_seconds;
mod priority;
mod service_account;

use serde_json::Value;

use crate::kinds::KindInfo;
use crate::kinds::descriptor::Admission;
use crate::ops::Cluster;
use crate::ops::meta::meta_str;
use crate::status::ApiError;

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
            Admission::ServiceAccount | Admission::Priority | Admission::DefaultStorageClass => {
                op == Operation::Create
            }
            Admission::DefaultTolerationSeconds => true,
        }
    }
}

/// Runs the kind's admission steps that act on `op` over the object about to be written.
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
            Admission::ServiceAccount => service_account::admit(cluster, obj)?,
            Admission::Priority => priority::admit(&cluster.store, obj)?,
            Admission::DefaultTolerationSeconds => default_toleration_seconds::admit(obj),
            Admission::DefaultStorageClass => default_storage_class::admit(&cluster.store, obj),
        }
    }
    Ok(())
}

/// The admission of a write through `pods/ephemeralcontainers` (upstream's
/// `ServiceAccount` validates the new containers' secrets there). What the steps need
/// from the store is read by [`EphemeralContainersAdmission::load`] before the write
/// takes the store's lock; [`EphemeralContainersAdmission::admit`] runs under it.
#[derive(Debug, Default)]
pub struct EphemeralContainersAdmission {
    service_account: Option<service_account::EphemeralContainersCheck>,
}

impl EphemeralContainersAdmission {
    /// Reads what the kind's steps need to admit a change to the pod `ns/name`.
    pub fn load(
        cluster: &Cluster,
        kind: &KindInfo,
        ns: &str,
        name: &str,
    ) -> Result<Self, ApiError> {
        let mut admission = EphemeralContainersAdmission::default();
        for &step in kind.descriptor.map_or(&[][..], |d| d.admission) {
            if step == Admission::ServiceAccount {
                admission.service_account = Some(service_account::EphemeralContainersCheck::load(
                    cluster, ns, name,
                )?);
            }
        }
        Ok(admission)
    }

    /// Admits the pod the write leaves.
    pub fn admit(&self, pod: &Value) -> Result<(), ApiError> {
        if let Some(check) = &self.service_account {
            check.admit(pod)?;
        }
        Ok(())
    }
}

/// Upstream's `admission.NewForbidden`: 403 on the object, named by its name, else its
/// `generateName` (names are generated after admission), else `Unknown`.
fn forbidden(group: &str, plural: &str, obj: &Value, why: &str) -> ApiError {
    let name = meta_str(obj, "name")
        .filter(|n| !n.is_empty())
        .or_else(|| meta_str(obj, "generateName").filter(|n| !n.is_empty()))
        .unwrap_or("Unknown");
    ApiError::forbidden(group, plural, name, why)
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
                    Admission::ServiceAccount,
                    Admission::Priority,
                    Admission::DefaultTolerationSeconds
                ][..]
            )
        );
        assert_eq!(
            steps("persistentvolumeclaims"),
            Some(&[Admission::DefaultStorageClass][..])
        );
    }
}
