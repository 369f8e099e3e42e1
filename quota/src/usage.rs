//! What the resource quota controller computes for one quota (`quota.CalculateUsage`
//! and `syncResourceQuota`): the usage of every resource it limits from the objects
//! in its namespace, and the status to write (`status.hard` mirrored from
//! `spec.hard`, `status.used` recomputed) when it differs from the stored one.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaStatus};
use k8s_openapi::jiff::Timestamp;

use crate::evaluator::{Evaluator, Item};
use crate::resources::{InvalidEntry, ResourceList, add, equals, mask, parse_list, to_api};
use crate::scope::{ScopeRequirement, quota_scopes};

/// One evaluator's usage over a namespace's objects for `resources`
/// (`CalculateUsageStats`): every resource starts at zero; object counts count every
/// object, the others add the usage of the objects within all `scopes`.
pub fn usage_stats(
    evaluator: &Evaluator,
    resources: &[String],
    scopes: &[ScopeRequirement],
    items: &[Item<'_>],
    now: Timestamp,
) -> Result<ResourceList, InvalidEntry> {
    if let Evaluator::ObjectCount { .. } = evaluator {
        let count = crate::Quantity::new(items.len() as i64, crate::Format::DecimalSi);
        return Ok(resources.iter().map(|r| (r.clone(), count)).collect());
    }
    let mut used: ResourceList = resources
        .iter()
        .map(|r| (r.clone(), crate::Quantity::ZERO))
        .collect();
    for item in items {
        if scopes.iter().all(|s| evaluator.matches_scope(s, item)) {
            used = add(&used, &evaluator.usage(item, now)?);
        }
    }
    Ok(used)
}

/// The objects of one evaluator's resource in a quota's namespace.
pub type Objects<'a> = (&'a Evaluator, Vec<Item<'a>>);

/// The usage of what a quota limits (`CalculateUsage`): the resources some evaluator
/// charges, each measured over its evaluator's objects. Resources no evaluator
/// charges are left out.
pub fn calculate_usage(
    hard: &ResourceList,
    scopes: &[ScopeRequirement],
    objects: &[Objects<'_>],
    now: Timestamp,
) -> Result<ResourceList, InvalidEntry> {
    let names = || hard.keys().map(String::as_str);
    let mut matched = BTreeSet::new();
    let mut used = ResourceList::new();
    for (evaluator, items) in objects {
        let resources = evaluator.matching_resources(names());
        if resources.is_empty() {
            continue;
        }
        used = add(
            &used,
            &usage_stats(evaluator, &resources, scopes, items, now)?,
        );
        matched.extend(resources);
    }
    Ok(mask(&used, matched.iter().map(String::as_str)))
}

/// The status a quota should have given its freshly computed usage, or `None` when
/// the stored one already says it (`syncResourceQuota`): `hard` is `spec.hard`; `used`
/// keeps earlier observations, takes the computed ones and is trimmed to what `hard`
/// names.
pub fn next_status(
    quota: &ResourceQuota,
    computed: &ResourceList,
) -> Result<Option<ResourceQuotaStatus>, InvalidEntry> {
    let status = quota.status.as_ref();
    let spec_hard = parse_list(quota.spec.as_ref().and_then(|s| s.hard.as_ref()))?;
    let stored_hard = status.and_then(|s| s.hard.as_ref());
    let stored_used = status.and_then(|s| s.used.as_ref());
    let old_used = parse_list(stored_used)?;
    let mut dirty = stored_hard.is_none()
        || stored_used.is_none()
        || !equals(&spec_hard, &parse_list(stored_hard)?);
    let mut used = old_used.clone();
    used.extend(computed.iter().map(|(k, v)| (k.clone(), *v)));
    let used = mask(&used, spec_hard.keys().map(String::as_str));
    dirty = dirty || !equals(&used, &old_used);
    Ok(dirty.then(|| ResourceQuotaStatus {
        hard: Some(to_api(&spec_hard)),
        used: Some(to_api(&used)),
    }))
}

/// The status a quota should have, computing its usage from its namespace's objects;
/// `None` when the stored status already says it.
pub fn sync_status(
    quota: &ResourceQuota,
    objects: &[Objects<'_>],
    now: Timestamp,
) -> Result<Option<ResourceQuotaStatus>, InvalidEntry> {
    let hard = parse_list(quota.spec.as_ref().and_then(|s| s.hard.as_ref()))?;
    let computed = calculate_usage(&hard, &quota_scopes(quota), objects, now)?;
    next_status(quota, &computed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::{container, pod};
    use crate::resources::pretty_print;
    use k8s_openapi::api::core::v1::{PodStatus, ResourceQuotaSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

    fn quota(hard: &[(&str, &str)], scopes: &[&str]) -> ResourceQuota {
        ResourceQuota {
            spec: Some(ResourceQuotaSpec {
                hard: Some(
                    hard.iter()
                        .map(|(k, v)| (k.to_string(), ApiQuantity(v.to_string())))
                        .collect(),
                ),
                scopes: (!scopes.is_empty())
                    .then(|| scopes.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `sync_status` at a fixed time, expecting a status to write.
    fn synced(q: &ResourceQuota, objects: &[Objects<'_>]) -> ResourceQuotaStatus {
        sync_status(
            q,
            objects,
            "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
        )
        .unwrap()
        .unwrap()
    }

    fn show(status: &ResourceQuotaStatus) -> (String, String) {
        let s = |l: &Option<std::collections::BTreeMap<String, ApiQuantity>>| {
            pretty_print(&parse_list(l.as_ref()).unwrap())
        };
        (s(&status.hard), s(&status.used))
    }

    #[test]
    fn usage_counts_live_pods_and_every_counted_object() {
        let running = pod(vec![container("a", &[("cpu", "250m")], &[])], vec![]);
        let mut finished = running.clone();
        finished.status = Some(PodStatus {
            phase: Some("Failed".into()),
            ..Default::default()
        });
        let cms = Evaluator::for_resource("", "configmaps");
        let q = quota(
            &[
                ("pods", "10"),
                ("count/pods", "10"),
                ("requests.cpu", "2"),
                ("configmaps", "5"),
                ("services", "2"),
            ],
            &[],
        );
        let objects = [
            (
                &Evaluator::Pods,
                vec![Item::Pod(&running), Item::Pod(&finished)],
            ),
            (&cms, vec![Item::Counted; 3]),
            (&Evaluator::Services, vec![]),
        ];
        let status = synced(&q, &objects);
        assert_eq!(
            show(&status),
            (
                "configmaps=5,count/pods=10,pods=10,requests.cpu=2,services=2".into(),
                "configmaps=3,count/pods=2,pods=1,requests.cpu=250m,services=0".into()
            )
        );
        // Once written, the same computation asks for no write.
        let mut written = q.clone();
        written.status = Some(status);
        assert_eq!(
            sync_status(&written, &objects, Timestamp::UNIX_EPOCH).unwrap(),
            None
        );
    }

    #[test]
    fn scoped_quotas_count_only_pods_in_scope() {
        let best_effort = pod(vec![container("a", &[], &[])], vec![]);
        let burstable = pod(vec![container("a", &[("memory", "1Gi")], &[])], vec![]);
        let q = quota(&[("pods", "5")], &["BestEffort"]);
        let objects = [(
            &Evaluator::Pods,
            vec![Item::Pod(&best_effort), Item::Pod(&burstable)],
        )];
        let status = synced(&q, &objects);
        assert_eq!(show(&status).1, "pods=1");
    }

    #[test]
    fn a_changed_spec_is_mirrored_and_dropped_limits_leave_used() {
        let mut q = quota(&[("pods", "3")], &[]);
        q.status = Some(ResourceQuotaStatus {
            hard: Some(
                [
                    ("pods".to_string(), ApiQuantity("2".into())),
                    ("secrets".to_string(), ApiQuantity("1".into())),
                ]
                .into(),
            ),
            used: Some(
                [
                    ("pods".to_string(), ApiQuantity("1".into())),
                    ("secrets".to_string(), ApiQuantity("1".into())),
                ]
                .into(),
            ),
        });
        let p = pod(vec![], vec![]);
        let status = synced(&q, &[(&Evaluator::Pods, vec![Item::Pod(&p)])]);
        assert_eq!(show(&status), ("pods=3".into(), "pods=1".into()));
    }
}
