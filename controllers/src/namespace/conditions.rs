//! The status conditions a terminating namespace carries (upstream
//! `pkg/controller/namespace/deletion/namespace_condition_updater.go`): one pass
//! of content deletion is summarised as failures and remaining content, then
//! merged into `status.conditions` — every managed type present, the "ok"
//! variant (status `False`) where nothing failed, and a write needed only when a
//! status, reason or message changed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// `NamespaceDeletionDiscoveryFailure`: discovery of served resources failed.
pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
/// `NamespaceDeletionGroupVersionParsingFailure`: a discovered group version did
/// not parse.
pub const GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
/// `NamespaceDeletionContentFailure`: deleting some resource type failed.
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
/// `NamespaceContentRemaining`: objects remain in the namespace.
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
/// `NamespaceFinalizersRemaining`: remaining objects carry finalizers.
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The condition types the namespace controller maintains, in upstream's order.
pub const CONDITION_TYPES: [&str; 5] = [
    DISCOVERY_FAILURE,
    GV_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
];

/// The reason and message of a condition type's "ok" variant (status `False`).
fn ok_variant(condition_type: &str) -> (&'static str, &'static str) {
    match condition_type {
        DISCOVERY_FAILURE => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        GV_PARSING_FAILURE => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        CONTENT_FAILURE => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        CONTENT_REMAINING => ("ContentRemoved", "All content successfully removed"),
        _ => (
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        ),
    }
}

/// A group/version/resource, printed as Go's `schema.GroupVersionResource`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
}

impl Gvr {
    /// A GVR from its parts.
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl std::fmt::Display for Gvr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}, Resource={}",
            self.group, self.version, self.resource
        )
    }
}

/// What remains of the namespace's content after one deletion pass (upstream
/// `allGVRDeletionMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentTotals {
    /// Objects still present, per resource.
    pub remaining: BTreeMap<Gvr, usize>,
    /// Objects still present, per finalizer they carry.
    pub finalizers: BTreeMap<String, usize>,
}

/// Collects one deletion pass's failures and totals, then merges them into a
/// namespace's status (upstream `namespaceConditionUpdater`).
#[derive(Debug, Clone, Default)]
pub struct ConditionUpdater {
    new_conditions: Vec<(String, &'static str, String)>,
    delete_content_errors: Vec<String>,
}

impl ConditionUpdater {
    /// A discovery failure (`DiscoveryFailed`). `failed_groups` is how many
    /// group versions could not be discovered, when the failure was partial.
    pub fn discovery_failed(&mut self, failed_groups: Option<usize>, err: &str) {
        let message = match failed_groups {
            Some(n) => format!("Discovery failed for some groups, {n} failing: {err}"),
            None => err.to_string(),
        };
        self.new_conditions
            .push((DISCOVERY_FAILURE.to_string(), "DiscoveryFailed", message));
    }

    /// A group version that did not parse (`GroupVersionParsingFailed`).
    pub fn group_version_failed(&mut self, err: &str) {
        self.new_conditions.push((
            GV_PARSING_FAILURE.to_string(),
            "GroupVersionParsingFailed",
            err.to_string(),
        ));
    }

    /// Deleting one resource type's content failed.
    pub fn delete_content_failed(&mut self, err: &str) {
        self.delete_content_errors.push(err.to_string());
    }

    /// The content left: `SomeResourcesRemain` and `SomeFinalizersRemain`.
    pub fn content_totals(&mut self, totals: &ContentTotals) {
        let mut resources: Vec<String> = totals
            .remaining
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(gvr, n)| format!("{}.{} has {n} resource instances", gvr.resource, gvr.group))
            .collect();
        if !resources.is_empty() {
            resources.sort();
            self.new_conditions.push((
                CONTENT_REMAINING.to_string(),
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", resources.join(", ")),
            ));
        }
        let mut finalizers: Vec<String> = totals
            .finalizers
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        if !finalizers.is_empty() {
            finalizers.sort();
            self.new_conditions.push((
                FINALIZERS_REMAINING.to_string(),
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    finalizers.join(", ")
                ),
            ));
        }
    }

    /// The conditions this pass asks for, one per managed type, in upstream's
    /// order: the failure where one was recorded, the ok variant otherwise.
    pub fn conditions(&self, now: Timestamp) -> Vec<NamespaceCondition> {
        let mut failures = self.new_conditions.clone();
        if !failures.iter().any(|(t, _, _)| t == CONTENT_FAILURE)
            && !self.delete_content_errors.is_empty()
        {
            let mut msgs = self.delete_content_errors.clone();
            msgs.sort();
            failures.push((
                CONTENT_FAILURE.to_string(),
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ));
        }
        CONDITION_TYPES
            .iter()
            .map(|t| {
                let (status, reason, message) = match failures.iter().find(|(ft, _, _)| ft == t) {
                    Some((_, reason, message)) => ("True", *reason, message.clone()),
                    None => {
                        let (reason, message) = ok_variant(t);
                        ("False", reason, message.to_string())
                    }
                };
                NamespaceCondition {
                    type_: t.to_string(),
                    status: status.to_string(),
                    reason: Some(reason.to_string()),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                }
            })
            .collect()
    }

    /// Merges this pass's conditions into `status`; true when something changed
    /// (a type added, or its status, reason or message different — the
    /// transition time moves only then).
    pub fn update(&self, status: &mut NamespaceStatus, now: Timestamp) -> bool {
        let mut changed = false;
        let current = status.conditions.get_or_insert_with(Vec::new);
        for new in self.conditions(now) {
            match current.iter_mut().find(|c| c.type_ == new.type_) {
                None => {
                    current.push(new);
                    changed = true;
                }
                Some(old) => {
                    if old.status != new.status
                        || old.reason != new.reason
                        || old.message != new.message
                    {
                        *old = new;
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}
