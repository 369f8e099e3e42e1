//! Pod control for any controller that owns pods made from a template
//! (ReplicaSet, ReplicationController, DaemonSet, Job, and next StatefulSet):
//! upstream's `PodControl` + `ControllerExpectations` as the ReplicaSet controller
//! drives them (`pkg/controller/controller_utils.go`, `replica_set.go`).
//!
//! - [`PodOwner`]: what an owner must say about itself — its pod template, its
//!   selector, and (from `kube::Resource`) its name, namespace and controller
//!   reference;
//! - [`pod_from_template`]: the pod to create (upstream `GetPodFromTemplate`);
//! - [`slowstart`]: creations in batches of 1, 2, 4, … that stop at the first
//!   failing batch (upstream `slowStartBatch`);
//! - [`PodControl`]: creations and deletions against the API server, raising the
//!   owner's expectations before the calls and lowering them by every call the
//!   informer will never observe, with upstream's Events.

pub mod control;
pub mod slowstart;
pub mod template;

use std::borrow::Cow;
use std::fmt;

use capstan_labels::Selector;
use capstan_runtime::ownership::{Owner, OwnershipError};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use control::{EventWording, PodControl, PodControlError, PodRef};
pub use slowstart::{SLOW_START_INITIAL_BATCH_SIZE, SlowStart};
pub use template::{PodTemplateError, pod_from_template, pods_prefix};

/// Event reason for a created pod (`Created pod: <name>`).
pub const EVENT_SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
/// Event reason for a failed creation (`Error creating: <err>`).
pub const EVENT_FAILED_CREATE: &str = "FailedCreate";
/// Event reason for a deleted pod (`Deleted pod: <name>`).
pub const EVENT_SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
/// Event reason for a failed deletion (`Error deleting: <err>`).
pub const EVENT_FAILED_DELETE: &str = "FailedDelete";

/// A namespaced object that owns pods made from its template. Its name, namespace,
/// UID and kind (for the controller reference) come from `kube::Resource`.
pub trait PodOwner:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The template of the pods it creates, if it has one.
    fn pod_template(&self) -> Option<&PodTemplateSpec>;

    /// The selector of the pods it owns, as a `LabelSelector` (`None`: it has no
    /// spec, and selects nothing).
    fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>>;

    /// The controller reference it puts on the pods it creates or adopts
    /// (`controller: true, blockOwnerDeletion: true`, upstream `NewControllerRef`).
    fn controller_ref(&self) -> Result<OwnerReference, OwnershipError> {
        Ok(Owner::of(self)?.controller_ref())
    }
}

/// `namespace/name` of a pod: the key expectations track deletions by (upstream
/// `PodKey`).
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The owners among `owners` whose non-empty selector matches an orphan pod
/// in their namespace: those that may adopt it (upstream `GetPodReplicaSets`,
/// `GetPodJobs`).
pub fn owners_selecting<'a, O: PodOwner>(pod: &Pod, owners: &'a [&'a O]) -> Vec<&'a O> {
    owners
        .iter()
        .copied()
        .filter(|o| o.meta().namespace == pod.metadata.namespace)
        .filter(|o| {
            let sel = o.pod_selector();
            Selector::from_label_selector(sel.as_deref())
                .is_ok_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
        })
        .collect()
}

mod owners {
    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::ReplicationController;

    impl PodOwner for Job {
        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            Some(&self.spec.as_ref()?.template)
        }

        fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>> {
            self.spec.as_ref()?.selector.as_ref().map(Cow::Borrowed)
        }
    }

    impl PodOwner for DaemonSet {
        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            Some(&self.spec.as_ref()?.template)
        }

        fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>> {
            self.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
        }
    }

    impl PodOwner for ReplicaSet {
        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            self.spec.as_ref()?.template.as_ref()
        }

        fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>> {
            self.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
        }
    }

    impl PodOwner for StatefulSet {
        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            Some(&self.spec.as_ref()?.template)
        }

        fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>> {
            self.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
        }
    }

    /// A ReplicationController's selector is a plain label map: its
    /// `LabelSelector` has those `matchLabels` (upstream's conversion to a
    /// ReplicaSet in `pkg/controller/replication`).
    impl PodOwner for ReplicationController {
        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            self.spec.as_ref()?.template.as_ref()
        }

        fn pod_selector(&self) -> Option<Cow<'_, LabelSelector>> {
            self.spec.as_ref().map(|s| {
                Cow::Owned(LabelSelector {
                    match_labels: s.selector.clone(),
                    match_expressions: None,
                })
            })
        }
    }
}
