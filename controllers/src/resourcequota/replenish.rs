//! Which changes make quotas recompute their usage (upstream's replenishment
//! functions and the quota informer's update filter), decided from plain values.

use capstan_quota::Evaluator;
use capstan_quota::resources::{equals, parse_list};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::jiff::Timestamp;

/// Whether a quota update changes what it limits (`spec.hard`); status updates,
/// which admission and this controller write, do not.
pub fn quota_spec_changed(old: &ResourceQuota, new: &ResourceQuota) -> bool {
    let hard = |q: &ResourceQuota| parse_list(q.spec.as_ref().and_then(|s| s.hard.as_ref()));
    match (hard(old), hard(new)) {
        (Ok(a), Ok(b)) => !equals(&a, &b),
        _ => true,
    }
}

/// Whether a pod update changes its charge: it finished, or its deletion grace
/// period ran out by `now` (upstream: `QuotaV1Pod` differs between old and new).
pub fn pod_charge_changed(old: &Pod, new: &Pod, now: Timestamp) -> bool {
    let charged = |p: &Pod| {
        capstan_quota::Evaluator::Pods
            .usage(&capstan_quota::Item::Pod(p), now)
            .is_ok_and(|u| u.contains_key("pods"))
    };
    charged(old) != charged(new)
}

/// Whether a service update changes its charge: its type moved to or from
/// `NodePort` or `LoadBalancer` (`GetQuotaServiceType` differs).
pub fn service_charge_changed(old: &Service, new: &Service) -> bool {
    let quota_type = |s: &Service| match s.spec.as_ref().and_then(|s| s.type_.as_deref()) {
        Some(t @ ("NodePort" | "LoadBalancer")) => t.to_string(),
        _ => String::new(),
    };
    quota_type(old) != quota_type(new)
}

/// Whether a claim update changes its charge: its allocated storage changed
/// (`RequiresQuotaReplenish`).
pub fn claim_charge_changed(old: &PersistentVolumeClaim, new: &PersistentVolumeClaim) -> bool {
    let allocated = |c: &PersistentVolumeClaim| {
        c.status
            .as_ref()
            .and_then(|s| s.allocated_resources.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
    };
    allocated(old) != allocated(new)
}

/// Whether a quota limits something `evaluator` charges, by its `status.hard`
/// (upstream `replenishQuota` only requeues those).
pub fn quota_tracks(quota: &ResourceQuota, evaluator: &Evaluator) -> bool {
    let hard = quota.status.as_ref().and_then(|s| s.hard.as_ref());
    !evaluator
        .matching_resources(hard.into_iter().flatten().map(|(k, _)| k.as_str()))
        .is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimStatus, PodStatus, ResourceQuotaSpec, ResourceQuotaStatus, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::SignedDuration;

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse().expect("timestamp")
    }

    fn quota(hard: &[(&str, &str)], status: bool) -> ResourceQuota {
        let list = || {
            Some(
                hard.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            )
        };
        ResourceQuota {
            spec: Some(ResourceQuotaSpec {
                hard: list(),
                ..Default::default()
            }),
            status: status.then(|| ResourceQuotaStatus {
                hard: list(),
                used: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_spec_changes_of_a_quota_matter() {
        let a = quota(&[("pods", "2")], false);
        assert!(!quota_spec_changed(&a, &quota(&[("pods", "2000m")], true)));
        assert!(quota_spec_changed(&a, &quota(&[("pods", "3")], false)));
        assert!(quota_spec_changed(
            &a,
            &quota(&[("pods", "2"), ("secrets", "1")], false)
        ));
    }

    #[test]
    fn pods_matter_when_they_finish_or_outlive_their_grace_period() {
        let running = Pod::default();
        let mut done = running.clone();
        done.status = Some(PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        assert!(pod_charge_changed(&running, &done, now()));
        assert!(!pod_charge_changed(&running, &running.clone(), now()));
        let mut deleting = running.clone();
        deleting.metadata.deletion_timestamp = Some(Time(now() - SignedDuration::from_secs(60)));
        deleting.metadata.deletion_grace_period_seconds = Some(30);
        assert!(pod_charge_changed(&running, &deleting, now()));
    }

    #[test]
    fn services_matter_when_their_quota_type_changes() {
        let svc = |t: &str| Service {
            spec: Some(ServiceSpec {
                type_: Some(t.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(service_charge_changed(&svc("ClusterIP"), &svc("NodePort")));
        assert!(!service_charge_changed(
            &svc("ClusterIP"),
            &svc("ExternalName")
        ));
        assert!(service_charge_changed(
            &svc("NodePort"),
            &svc("LoadBalancer")
        ));
    }

    #[test]
    fn claims_matter_when_their_allocation_changes() {
        let claim = |size: Option<&str>| PersistentVolumeClaim {
            status: Some(PersistentVolumeClaimStatus {
                allocated_resources: size
                    .map(|s| [("storage".to_string(), Quantity(s.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(claim_charge_changed(&claim(None), &claim(Some("1Gi"))));
        assert!(!claim_charge_changed(
            &claim(Some("1Gi")),
            &claim(Some("1Gi"))
        ));
    }

    #[test]
    fn quotas_are_requeued_only_for_what_they_track_in_status() {
        let q = quota(&[("pods", "2"), ("count/deployments.apps", "1")], true);
        assert!(quota_tracks(&q, &Evaluator::Pods));
        assert!(quota_tracks(
            &q,
            &Evaluator::for_resource("apps", "deployments")
        ));
        assert!(!quota_tracks(&q, &Evaluator::Services));
        assert!(!quota_tracks(
            &quota(&[("pods", "2")], false),
            &Evaluator::Pods
        ));
    }
}
