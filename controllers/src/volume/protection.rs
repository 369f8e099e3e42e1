//! Where a protected object stands with its protection finalizer (upstream's
//! `pkg/controller/volume/protectionutil`), and the write that changes it: both
//! protection controllers decide with [`plan_protection`] and write with
//! [`write_finalizers`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a protection controller does with one object, given whether something still
/// uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerPlan {
    /// Nothing: the object is settled (or deleted but still in use).
    Keep,
    /// Remove the finalizer: the object is deleted and nothing uses it any more
    /// (`IsDeletionCandidate` and unused).
    Remove,
    /// Add the finalizer: a live object created before admission added it
    /// (`NeedToAddFinalizer`).
    Add,
}

/// Whether the object is deleted and still carries `finalizer` (upstream's
/// `IsDeletionCandidate`): only then does its use matter.
pub fn is_deletion_candidate(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_some() && has_finalizer(meta, finalizer)
}

/// Whether the object is live and lacks `finalizer` (upstream's `NeedToAddFinalizer`).
pub fn needs_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_none() && !has_finalizer(meta, finalizer)
}

fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Upstream's `processPVC` / `processPV`: a deletion candidate loses its finalizer once
/// `in_use` says nothing uses it (asked only then, since it may cost a live list), a
/// live object without the finalizer gets it.
pub async fn plan_protection<F, Fut, E>(
    meta: &ObjectMeta,
    finalizer: &str,
    in_use: F,
) -> Result<FinalizerPlan, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
{
    if is_deletion_candidate(meta, finalizer) {
        return Ok(if in_use().await? {
            FinalizerPlan::Keep
        } else {
            FinalizerPlan::Remove
        });
    }
    if needs_finalizer(meta, finalizer) {
        return Ok(FinalizerPlan::Add);
    }
    Ok(FinalizerPlan::Keep)
}

/// The finalizer list after `plan` (`None` when the plan changes nothing): `Add`
/// appends, `Remove` drops every copy, as upstream's `slice.RemoveString`.
pub fn finalizers_after(
    meta: &ObjectMeta,
    finalizer: &str,
    plan: FinalizerPlan,
) -> Option<Vec<String>> {
    let mut list = meta.finalizers.clone().unwrap_or_default();
    match plan {
        FinalizerPlan::Keep => return None,
        FinalizerPlan::Add => list.push(finalizer.to_string()),
        FinalizerPlan::Remove => list.retain(|f| f != finalizer),
    }
    Some(list)
}

/// Performs `plan` on the cached `obj` as upstream does, by an update of the whole
/// object (its resourceVersion makes a stale cache a conflict, retried by the queue).
pub async fn write_finalizers<K>(
    api: &Api<K>,
    obj: &K,
    finalizer: &str,
    plan: FinalizerPlan,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let Some(finalizers) = finalizers_after(obj.meta(), finalizer, plan) else {
        return Ok(());
    };
    let mut updated = obj.clone();
    updated.meta_mut().finalizers = Some(finalizers);
    api.replace(&obj.name_any(), &PostParams::default(), &updated)
        .await?;
    tracing::debug!(object = %obj.name_any(), ?plan, finalizer, "protection finalizer written");
    Ok(())
}

/// A protection controller built: its workers and its informers' sync check.
pub use super::VolumeController as ProtectionController;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const F: &str = "kubernetes.io/pvc-protection";

    fn meta(deleted: bool, finalizers: &[&str]) -> ObjectMeta {
        ObjectMeta {
            deletion_timestamp: deleted.then(|| Time(at(0))),
            finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            ..ObjectMeta::default()
        }
    }

    fn plan(m: &ObjectMeta, used: bool) -> (FinalizerPlan, bool) {
        let mut asked = false;
        let p = futures::executor::block_on(plan_protection(m, F, || {
            asked = true;
            async move { Ok::<_, ()>(used) }
        }))
        .expect("no error");
        (p, asked)
    }

    #[test]
    fn objects_are_planned_as_upstream_plans_them() {
        let table = [
            (
                "live with the finalizer",
                meta(false, &[F]),
                true,
                (FinalizerPlan::Keep, false),
            ),
            (
                "live without it",
                meta(false, &["other"]),
                false,
                (FinalizerPlan::Add, false),
            ),
            (
                "deleted and used",
                meta(true, &[F]),
                true,
                (FinalizerPlan::Keep, true),
            ),
            (
                "deleted and unused",
                meta(true, &["other", F]),
                false,
                (FinalizerPlan::Remove, true),
            ),
            (
                "deleted without it",
                meta(true, &["other"]),
                false,
                (FinalizerPlan::Keep, false),
            ),
        ];
        for (case, m, used, want) in table {
            assert_eq!(plan(&m, used), want, "{case}");
        }
    }

    #[test]
    fn finalizer_lists_change_as_planned() {
        let m = meta(true, &["a", F, "b"]);
        assert_eq!(
            finalizers_after(&m, F, FinalizerPlan::Remove),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            finalizers_after(&meta(false, &["a"]), F, FinalizerPlan::Add),
            Some(vec!["a".to_string(), F.to_string()])
        );
        assert_eq!(finalizers_after(&m, F, FinalizerPlan::Keep), None);
        let none = ObjectMeta::default();
        assert_eq!(
            finalizers_after(&none, F, FinalizerPlan::Add),
            Some(vec![F.to_string()])
        );
    }
}
