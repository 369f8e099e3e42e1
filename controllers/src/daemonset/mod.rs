//! The DaemonSet controller (upstream `pkg/controller/daemon`): one pod of a
//! DaemonSet on every node that should run it.
//!
//! A sync of one DaemonSet (upstream `syncDaemonSet`, performed by
//! [`controller`]) is:
//!
//! 1. read the DaemonSet and every node from the cache (gone → forget its
//!    expectations; being deleted → nothing), claim its pods and its
//!    ControllerRevisions, and make sure a revision stores the current template
//!    ([`controller`]'s `construct_history`, on the kit's
//!    [`crate::util::history`]; duplicates of it removed after their pods are
//!    relabelled, by [`dedup`]): its hash labels the pods it creates;
//! 2. expectations not met → only the status, without raising
//!    `observedGeneration`;
//! 3. [`plan::plan_pods`] → what to do to the pods: upstream's `manage` (a pod for
//!    every eligible node without one, by [`eligibility`]; deletion of pods on
//!    nodes that are no longer eligible, of duplicates, of finished pods — failed
//!    ones after the node's [`backoff`] — and of unscheduled pods meant for nodes
//!    that are gone), or, when that writes nothing, the `RollingUpdate` step
//!    (`maxUnavailable`, `maxSurge`, `minReadySeconds`);
//! 4. the shell creates the pods ([`pods`] builds them: revision labels,
//!    daemon tolerations, the node-name affinity) in slow-start batches under
//!    expectations, deletes the others, records `FailedDaemonPod` Events, deletes
//!    the revisions beyond `revisionHistoryLimit`;
//! 5. [`status::plan_status`] → the status, written through the kit's
//!    `StatusWriter` when a count or the observed generation changes.
//!
//! Everything but steps 1 and 4's I/O is pure and takes `now` as a value.

pub mod backoff;
pub mod controller;
pub mod dedup;
pub mod eligibility;
pub mod plan;
pub mod pods;
pub mod status;

#[cfg(test)]
mod testing;

use std::time::Duration;

pub use controller::{DaemonSetController, DaemonSetControllerConfig};

/// The component Events are reported under and the queue's name.
pub const DAEMONSET_CONTROLLER: &str = "daemonset-controller";

/// `extensions.DaemonSetTemplateGenerationKey`: the pod label carrying the
/// template generation the pod was made from.
pub const POD_TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// `apps/v1` `DeprecatedTemplateGeneration`: the annotation the API server keeps
/// on a DaemonSet, 1 on create and one more on every template change.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Upstream `BurstReplicas`: at most this many creations and deletions per sync.
pub const BURST_REPLICAS: usize = 250;

/// Upstream's failed-pods backoff starts at one second ...
pub const FAILED_POD_BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// ... and doubles up to 15 minutes.
pub const FAILED_POD_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// Event reason for a failed daemon pod that is deleted to be replaced.
pub const FAILED_DAEMON_POD_REASON: &str = "FailedDaemonPod";

/// Event reason for a succeeded daemon pod that is deleted to be replaced.
pub const SUCCEEDED_DAEMON_POD_REASON: &str = "SucceededDaemonPod";

/// Event reason when the DaemonSet's selector selects every pod.
pub const SELECTING_ALL_REASON: &str = "SelectingAll";

/// `spec.updateStrategy.type` replacing pods in place, bounded.
pub const ROLLING_UPDATE: &str = "RollingUpdate";

/// `spec.updateStrategy.type` replacing pods only when the user deletes them.
pub const ON_DELETE: &str = "OnDelete";
