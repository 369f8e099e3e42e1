//! The admission chain: what kube-apiserver's default-on admission plugins do to a
//! request after defaulting and before validation, each step its own module. A kind's
//! descriptor lists the steps its writes go through; [`Admission`] declares them in
//! upstream's plugin order and descriptors list them in it, so the chain runs them in
//! upstream's order. Plugins upstream leaves off by default have no step; a step turned
//! off (`--disable-admission-plugins`, [`AdmissionConfig`]) does not run.
//!
//! Two entry points, because one step needs no object:
//! - [`admit_request`]: `NamespaceLifecycle`, which judges a request by its kind,
//!   namespace, name and operation alone. It runs for every kind (custom resources too)
//!   on creates, updates and subresource creates (`binding`, `eviction`) before the
//!   object is touched, and on single deletes, outside the store's write lock (it reads
//!   the namespace).
//! - [`admit`]: the object steps the kind's descriptor lists, over a create or a
//!   main-resource update about to be written.
//!
//! As upstream, the object steps have two phases: [`admit`] (mutating) runs after
//! defaulting and before validation; [`validate`] (validating) runs after validation,
//! inside the store's write transaction, and ends with `ResourceQuota` on every
//! namespaced kind, whose quota usage is committed with the write.

mod default_storage_class;
mod default_toleration_seconds;
mod limit_ranger;
mod namespace_lifecycle;
mod priority;
mod resource_quota;
mod service_account;
mod storage_object_in_use_protection;
mod taint_nodes_by_condition;

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::kinds::KindInfo;
use crate::kinds::descriptor::Admission;
use crate::ops::Cluster;
use crate::ops::meta::meta_str;
use crate::status::ApiError;
use crate::storage::{Companion, View};

/// The write a step is asked to admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object (or a subresource create: `binding`, `eviction`).
    Create,
    /// A change to an existing object.
    Update,
    /// The removal of one object (`DELETE` of a named object).
    Delete,
}

impl Admission {
    /// Every step, in upstream's plugin order.
    pub const ALL: &'static [Admission] = &[
        Admission::NamespaceLifecycle,
        Admission::LimitRanger,
        Admission::ServiceAccount,
        Admission::TaintNodesByCondition,
        Admission::Priority,
        Admission::DefaultTolerationSeconds,
        Admission::DefaultStorageClass,
        Admission::StorageObjectInUseProtection,
    ];

    /// The plugin's upstream name, as `--disable-admission-plugins` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Admission::NamespaceLifecycle => "NamespaceLifecycle",
            Admission::LimitRanger => "LimitRanger",
            Admission::ServiceAccount => "ServiceAccount",
            Admission::TaintNodesByCondition => "TaintNodesByCondition",
            Admission::Priority => "Priority",
            Admission::DefaultTolerationSeconds => "DefaultTolerationSeconds",
            Admission::DefaultStorageClass => "DefaultStorageClass",
            Admission::StorageObjectInUseProtection => "StorageObjectInUseProtection",
        }
    }

    /// The step named `name` (upstream's plugin name).
    pub fn parse(name: &str) -> Option<Admission> {
        Admission::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Whether upstream's plugin acts on the operation. `Priority` also handles updates
    /// upstream, only to keep the priority the create set, which the update path keeps.
    pub fn handles(self, op: Operation) -> bool {
        match self {
            Admission::NamespaceLifecycle
            | Admission::DefaultTolerationSeconds
            | Admission::LimitRanger => true,
            Admission::ServiceAccount
            | Admission::TaintNodesByCondition
            | Admission::Priority
            | Admission::DefaultStorageClass
            | Admission::StorageObjectInUseProtection => op == Operation::Create,
        }
    }
}

/// Which steps run: upstream's default-on plugins, less those turned off (upstream's
/// `--disable-admission-plugins`; its integration test servers turn off
/// `TaintNodesByCondition` where no node lifecycle controller runs, as capstan's
/// scheduler tests do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionConfig {
    disabled: BTreeSet<Admission>,
}

/// A plugin name `--disable-admission-plugins` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("admission-control plugin {0:?} is unknown")]
pub struct UnknownPlugin(pub String);

impl AdmissionConfig {
    /// Every step on.
    pub fn all() -> AdmissionConfig {
        AdmissionConfig::default()
    }

    /// The same with `step` turned off.
    pub fn without(mut self, step: Admission) -> AdmissionConfig {
        self.disabled.insert(step);
        self
    }

    /// Every step on but those named (upstream's plugin names); [`UnknownPlugin`] for a
    /// name that is none.
    pub fn disabling<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<AdmissionConfig, UnknownPlugin> {
        names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .try_fold(AdmissionConfig::all(), |config, name| {
                Admission::parse(name)
                    .map(|step| config.without(step))
                    .ok_or_else(|| UnknownPlugin(name.to_string()))
            })
    }

    /// Whether `step` runs.
    pub fn enabled(&self, step: Admission) -> bool {
        !self.disabled.contains(&step)
    }
}

/// Runs the steps that judge a request without its object (`NamespaceLifecycle`) on a
/// request for `name` (a create's name, else its `generateName`) of `kind` in namespace
/// `ns` ("" for cluster-scoped kinds). Call it outside the store's write lock.
pub fn admit_request(
    cluster: &Cluster,
    kind: &KindInfo,
    op: Operation,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    if cluster.admission.enabled(Admission::NamespaceLifecycle) {
        namespace_lifecycle::admit(&cluster.store, kind, op, ns, name)?;
    }
    Ok(())
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
        if !step.handles(op) || !cluster.admission.enabled(step) {
            continue;
        }
        match step {
            // Judged by admit_request: descriptors do not list it.
            Admission::NamespaceLifecycle => {}
            Admission::LimitRanger => limit_ranger::admit(&cluster.store, kind, op, obj)?,
            Admission::TaintNodesByCondition => taint_nodes_by_condition::admit(obj),
            Admission::ServiceAccount => service_account::admit(cluster, obj)?,
            Admission::Priority => priority::admit(&cluster.store, obj)?,
            Admission::DefaultTolerationSeconds => default_toleration_seconds::admit(obj),
            Admission::DefaultStorageClass => default_storage_class::admit(&cluster.store, obj),
            Admission::StorageObjectInUseProtection => {
                storage_object_in_use_protection::admit(kind, obj)
            }
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
            assert!(
                !d.admission.contains(&Admission::NamespaceLifecycle),
                "{}: NamespaceLifecycle runs for every kind",
                d.kind
            );
        }
        assert!(Admission::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn kinds_go_through_upstreams_steps() {
        let steps = |resource| by_resource("", resource).map(|d| d.admission);
        assert_eq!(
            steps("pods"),
            Some(
                &[
                    Admission::LimitRanger,
                    Admission::ServiceAccount,
                    Admission::Priority,
                    Admission::DefaultTolerationSeconds
                ][..]
            )
        );
        assert_eq!(
            steps("persistentvolumeclaims"),
            Some(
                &[
                    Admission::LimitRanger,
                    Admission::DefaultStorageClass,
                    Admission::StorageObjectInUseProtection
                ][..]
            )
        );
        assert_eq!(
            steps("persistentvolumes"),
            Some(&[Admission::StorageObjectInUseProtection][..])
        );
        assert_eq!(
            steps("nodes"),
            Some(&[Admission::TaintNodesByCondition][..])
        );
    }

    #[test]
    fn plugins_are_turned_off_by_their_upstream_names() {
        for &step in Admission::ALL {
            assert_eq!(Admission::parse(step.name()), Some(step));
        }
        let config = AdmissionConfig::disabling(["TaintNodesByCondition", " Priority", ""])
            .expect("known plugins");
        assert!(!config.enabled(Admission::TaintNodesByCondition));
        assert!(!config.enabled(Admission::Priority));
        assert!(config.enabled(Admission::NamespaceLifecycle));
        assert_eq!(
            AdmissionConfig::disabling(["AlwaysPullImages"]),
            Err(UnknownPlugin("AlwaysPullImages".into()))
        );
        assert_eq!(
            UnknownPlugin("X".into()).to_string(),
            "admission-control plugin \"X\" is unknown"
        );
    }
}
