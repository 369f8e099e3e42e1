//! The quota admission check (`CheckRequest` of apiserver's resourcequota plugin): which
//! of a namespace's quotas a write is charged to, whether it fits each of them, and
//! each charged quota's new `status.used`. Pure: the caller reads the quotas and writes
//! the new usage atomically with the object.

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::jiff::Timestamp;

use crate::evaluator::{Evaluator, Item, Operation};
use crate::resources::{
    InvalidEntry, ResourceList, add, less_than_or_equal, mask, negative_names, parse_list,
    pretty_print, remove_zeros, subtract_non_negative,
};
use crate::scope::quota_scopes;

/// Why a write is refused: upstream's message, which the API server sends as a 403
/// (`pods "p" is forbidden: <message>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl From<InvalidEntry> for Refusal {
    fn from(e: InvalidEntry) -> Self {
        Refusal(format!("invalid quantity in quota usage: {e}"))
    }
}

/// A quota's new usage after an admitted write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The quota's position in the slice checked.
    pub index: usize,
    /// Its `status.used` with the write counted.
    pub used: ResourceList,
}

/// A quota's `status.hard` and `status.used`.
fn status_lists(quota: &ResourceQuota) -> Result<(ResourceList, ResourceList), InvalidEntry> {
    let status = quota.status.as_ref();
    Ok((
        parse_list(status.and_then(|s| s.hard.as_ref()))?,
        parse_list(status.and_then(|s| s.used.as_ref()))?,
    ))
}

fn name_of(quota: &ResourceQuota) -> &str {
    quota.metadata.name.as_deref().unwrap_or("")
}

/// Whether a quota charges the item (`generic.Matches`): it limits a resource the
/// evaluator charges (in `status.hard`), and the item is in every one of its scopes.
pub fn quota_matches(evaluator: &Evaluator, quota: &ResourceQuota, item: &Item<'_>) -> bool {
    let hard = quota
        .status
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str());
    !evaluator.matching_resources(hard).is_empty()
        && quota_scopes(quota)
            .iter()
            .all(|s| evaluator.matches_scope(s, item))
}

/// Checks a create or update of `new` (`old` is the stored object on updates) against
/// the namespace's `quotas`, as upstream's `CheckRequest`: refuses a write a quota
/// charges but has no usage for yet, a pod lacking a request the quota forces, and a
/// write that would take a quota's usage past its hard limit
/// (`exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`); otherwise
/// answers the new usage of every quota the write changes.
pub fn check_request(
    quotas: &[ResourceQuota],
    evaluator: &Evaluator,
    op: Operation,
    new: &Item<'_>,
    old: Option<&Item<'_>>,
    now: Timestamp,
) -> Result<Vec<Charge>, Refusal> {
    if !evaluator.handles(op, new, old) {
        return Ok(Vec::new());
    }
    let mut interesting = Vec::new();
    for (i, quota) in quotas.iter().enumerate() {
        if !quota_matches(evaluator, quota, new) {
            continue;
        }
        let (hard, used) = status_lists(quota)?;
        let restricted = evaluator.matching_resources(hard.keys().map(String::as_str));
        evaluator
            .constraints(&restricted, new)
            .map_err(|e| Refusal(format!("failed quota: {}: {e}", name_of(quota))))?;
        if restricted.iter().any(|r| !used.contains_key(r)) {
            let mut all: Vec<&str> = restricted.iter().map(String::as_str).collect();
            all.sort_unstable();
            return Err(Refusal(format!(
                "status unknown for quota: {}, resources: {}",
                name_of(quota),
                all.join(",")
            )));
        }
        interesting.push((i, hard, used));
    }
    if interesting.is_empty() {
        return Ok(Vec::new());
    }
    let input = evaluator.usage(new, now)?;
    let negative = negative_names(&input);
    if !negative.is_empty() {
        return Err(Refusal(format!(
            "quota usage is negative for resource(s): {}",
            negative.join(",")
        )));
    }
    // On updates, quotas that already charged the old object are charged the growth.
    let growth = match (op, old) {
        (Operation::Update, Some(old)) => {
            Some(subtract_non_negative(&input, &evaluator.usage(old, now)?))
        }
        _ => None,
    };
    let mut charges = Vec::new();
    for (index, hard, used) in interesting {
        let delta = match (&growth, old) {
            (Some(g), Some(old)) if quota_matches(evaluator, &quotas[index], old) => g,
            _ => &input,
        };
        let delta = remove_zeros(delta);
        if delta.is_empty() {
            continue;
        }
        let requested = mask(&delta, hard.keys().map(String::as_str));
        let new_used = add(&used, &requested);
        let charged = mask(&new_used, requested.keys().map(String::as_str));
        let (fits, exceeded) = less_than_or_equal(&charged, &hard);
        if !fits {
            let names = || exceeded.iter().map(String::as_str);
            return Err(Refusal(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                name_of(&quotas[index]),
                pretty_print(&mask(&requested, names())),
                pretty_print(&mask(&used, names())),
                pretty_print(&mask(&hard, names())),
            )));
        }
        if !crate::resources::equals(&new_used, &used) {
            charges.push(Charge {
                index,
                used: new_used,
            });
        }
    }
    Ok(charges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::{container, pod};
    use crate::resources::tests::list;
    use crate::resources::to_api;
    use k8s_openapi::api::core::v1::{ResourceQuotaSpec, ResourceQuotaStatus};

    fn quota(
        name: &str,
        hard: &[(&str, &str)],
        used: &[(&str, &str)],
        scopes: &[&str],
    ) -> ResourceQuota {
        ResourceQuota {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(ResourceQuotaSpec {
                hard: Some(to_api(&list(hard))),
                scopes: (!scopes.is_empty())
                    .then(|| scopes.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            status: Some(ResourceQuotaStatus {
                hard: Some(to_api(&list(hard))),
                used: Some(to_api(&list(used))),
            }),
        }
    }

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
    }

    /// The check of a create of `item` under `quotas`.
    fn create(
        quotas: &[ResourceQuota],
        evaluator: &Evaluator,
        item: Item<'_>,
    ) -> Result<Vec<Charge>, Refusal> {
        check_request(quotas, evaluator, Operation::Create, &item, None, now())
    }

    #[test]
    fn a_pod_within_quota_is_charged_and_one_past_it_refused() {
        let p = pod(vec![container("a", &[("cpu", "500m")], &[])], vec![]);
        let quotas = [quota(
            "q",
            &[("pods", "2"), ("requests.cpu", "1")],
            &[("pods", "1"), ("requests.cpu", "250m")],
            &[],
        )];
        let charges = create(&quotas, &Evaluator::Pods, Item::Pod(&p)).unwrap();
        assert_eq!(charges.len(), 1);
        assert_eq!(pretty_print(&charges[0].used), "pods=2,requests.cpu=750m");
        let full = [quota("q", &[("pods", "2")], &[("pods", "2")], &[])];
        let refused = create(&full, &Evaluator::Pods, Item::Pod(&p));
        assert_eq!(
            refused,
            Err(Refusal(
                "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2".into()
            ))
        );
    }

    #[test]
    fn only_the_exceeded_resources_are_named() {
        let p = pod(
            vec![container("a", &[("cpu", "2"), ("memory", "1Gi")], &[])],
            vec![],
        );
        let quotas = [quota(
            "compute",
            &[("requests.cpu", "1"), ("requests.memory", "2Gi")],
            &[("requests.cpu", "0"), ("requests.memory", "0")],
            &[],
        )];
        let refused = create(&quotas, &Evaluator::Pods, Item::Pod(&p));
        assert_eq!(
            refused,
            Err(Refusal("exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1".into()))
        );
    }

    #[test]
    fn quotas_without_usage_yet_refuse_what_they_track() {
        let mut q = quota("new", &[("pods", "2")], &[], &[]);
        q.status.as_mut().unwrap().used = None;
        let p = pod(vec![container("a", &[], &[])], vec![]);
        let refused = create(&[q], &Evaluator::Pods, Item::Pod(&p));
        assert_eq!(
            refused,
            Err(Refusal(
                "status unknown for quota: new, resources: pods".into()
            ))
        );
    }

    #[test]
    fn a_quota_not_yet_mirrored_into_status_charges_nothing() {
        let mut q = quota("fresh", &[("pods", "0")], &[], &[]);
        q.status = None;
        let p = pod(vec![container("a", &[], &[])], vec![]);
        let got = create(&[q], &Evaluator::Pods, Item::Pod(&p));
        assert_eq!(got, Ok(vec![]));
    }

    #[test]
    fn scoped_quotas_charge_only_pods_in_scope() {
        let quotas = [
            quota(
                "best-effort",
                &[("pods", "5")],
                &[("pods", "0")],
                &["BestEffort"],
            ),
            quota(
                "not-best-effort",
                &[("pods", "5")],
                &[("pods", "0")],
                &["NotBestEffort"],
            ),
        ];
        let p = pod(vec![container("a", &[], &[])], vec![]);
        let charges = create(&quotas, &Evaluator::Pods, Item::Pod(&p)).unwrap();
        assert_eq!(charges.iter().map(|c| c.index).collect::<Vec<_>>(), [0]);
        // Scoped quotas never charge services (their evaluator has no scopes).
        let svc = k8s_openapi::api::core::v1::Service::default();
        let svc_quota = [quota(
            "s",
            &[("services", "1")],
            &[("services", "0")],
            &["BestEffort"],
        )];
        let got = create(&svc_quota, &Evaluator::Services, Item::Service(&svc));
        assert_eq!(got, Ok(vec![]));
    }

    #[test]
    fn missing_requests_refuse_the_pod_with_the_quota_named() {
        let quotas = [quota(
            "compute",
            &[("limits.memory", "1Gi")],
            &[("limits.memory", "0")],
            &[],
        )];
        let p = pod(vec![container("web", &[], &[])], vec![]);
        let refused = create(&quotas, &Evaluator::Pods, Item::Pod(&p));
        assert_eq!(
            refused,
            Err(Refusal(
                "failed quota: compute: must specify limits.memory for: web".into()
            ))
        );
    }

    #[test]
    fn updates_charge_only_growth() {
        use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
        let svc = |kind: &str| Service {
            spec: Some(ServiceSpec {
                type_: Some(kind.into()),
                ports: Some(vec![ServicePort::default()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let quotas = [quota(
            "s",
            &[("services", "1"), ("services.nodeports", "1")],
            &[("services", "1"), ("services.nodeports", "0")],
            &[],
        )];
        let (old, new) = (svc("ClusterIP"), svc("NodePort"));
        let charges = check_request(
            &quotas,
            &Evaluator::Services,
            Operation::Update,
            &Item::Service(&new),
            Some(&Item::Service(&old)),
            now(),
        )
        .unwrap();
        assert_eq!(
            pretty_print(&charges[0].used),
            "services=1,services.nodeports=1"
        );
        let charges = check_request(
            &quotas,
            &Evaluator::Services,
            Operation::Update,
            &Item::Service(&old),
            Some(&Item::Service(&old)),
            now(),
        )
        .unwrap();
        assert!(charges.is_empty());
    }
}
