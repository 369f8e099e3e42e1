//! Deployment accessors and the arithmetic of `deployment_util.go`.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::util::intstr::{InvalidIntOrPercent, scaled_value};
use crate::util::replicasets::{self as rsu, spec_replicas};
use crate::util::semantic;

/// The label the Deployment controller adds to its ReplicaSets' selector,
/// template and pods (`apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// `spec.strategy.type` of rolling updates.
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// `spec.strategy.type` of recreate.
pub const RECREATE: &str = "Recreate";

/// `spec.replicas`, defaulted to 1.
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.strategy.type`, defaulted to `RollingUpdate`.
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE)
}

/// True for `RollingUpdate` Deployments (upstream `IsRollingUpdate`).
pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == ROLLING_UPDATE
}

/// `spec.paused`.
pub fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `spec.progressDeadlineSeconds` when it bounds progress (set and not
/// `MaxInt32`, upstream `HasProgressDeadline`).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// `spec.revisionHistoryLimit` when it limits history (set and not `MaxInt32`,
/// upstream `HasRevisionHistoryLimit`).
pub fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .filter(|s| *s != i32::MAX)
}

/// The pod template (empty when the spec is missing).
pub fn template(d: &Deployment) -> PodTemplateSpec {
    d.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

/// The status, default when unset.
pub fn status(d: &Deployment) -> DeploymentStatus {
    d.status.clone().unwrap_or_default()
}

/// `metadata.generation`.
pub fn generation(d: &Deployment) -> i64 {
    d.metadata.generation.unwrap_or(0)
}

fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    // The API server defaults both to 25%; a missing field resolves as 0 upstream
    // (`intstr.ValueOrDefault(nil, 0)`) only when the struct exists.
    match ru {
        None => (
            IntOrString::String("25%".into()),
            IntOrString::String("25%".into()),
        ),
        Some(ru) => (
            ru.max_surge.clone().unwrap_or(IntOrString::Int(0)),
            ru.max_unavailable.clone().unwrap_or(IntOrString::Int(0)),
        ),
    }
}

/// Resolves maxSurge (rounded up) and maxUnavailable (rounded down) against
/// `desired`; when both resolve to 0, maxUnavailable becomes 1 (upstream
/// `ResolveFenceposts`).
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    desired: i32,
) -> Result<(i32, i32), InvalidIntOrPercent> {
    let surge = scaled_value(max_surge, desired, true)?;
    let mut unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

/// The surge a rolling Deployment may take; 0 for Recreate (upstream `MaxSurge`;
/// invalid values are rejected by validation and read as 0).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(&s, &u, replicas(d)).map_or(0, |(s, _)| s)
}

/// The unavailability a rolling Deployment may take, at most `spec.replicas`; 0
/// for Recreate or zero replicas (upstream `MaxUnavailable`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling_update(d) || desired == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(&s, &u, desired).map_or(0, |(_, u)| u.min(desired))
}

/// True when two templates are semantically equal once the `pod-template-hash`
/// label is ignored (upstream `EqualIgnoreHash`: `Semantic.DeepEqual`, so empty
/// and absent lists or maps are equal).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn strip(t: &PodTemplateSpec) -> serde_json::Value {
        let mut t = t.clone();
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.remove(POD_TEMPLATE_HASH_LABEL);
        }
        semantic::canonical(&t)
    }
    strip(a) == strip(b)
}

fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

/// Index of the new ReplicaSet in `rss`: the oldest whose template equals the
/// Deployment's ignoring the hash label (upstream `FindNewReplicaSet`).
pub fn find_new_replica_set(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let t = template(d);
    let mut idx: Vec<usize> = (0..rss.len()).collect();
    idx.sort_by(|a, b| rsu::by_creation(&rss[*a], &rss[*b]));
    idx.into_iter()
        .find(|i| equal_ignore_hash(&rs_template(&rss[*i]), &t))
}

/// The number of pods the new ReplicaSet should have (upstream
/// `NewRSNewReplicas`): for RollingUpdate, grow by what maxSurge leaves over the
/// total of `all`, never beyond `spec.replicas`; for Recreate, `spec.replicas`.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    let current_new = spec_replicas(new_rs);
    if !is_rolling_update(d) {
        return desired;
    }
    let max_total = desired + max_surge(d);
    let current = rsu::sum_spec(all.iter().copied());
    if current >= max_total {
        return current_new;
    }
    let up = (max_total - current).min(desired - current_new);
    current_new + up
}

/// True when the new ReplicaSet owns every desired replica, agrees through its
/// `desired-replicas` annotation, and all are available (upstream `IsSaturated`).
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let desired = replicas(d);
    let annotated = super::revision::annotation_i32(rs, super::revision::DESIRED_REPLICAS);
    spec_replicas(rs) == desired
        && annotated == Some(desired)
        && rsu::available_replicas(rs) == desired
}

/// True once every desired replica is updated and available, no old pods
/// remain, and the status observes the current generation (upstream
/// `DeploymentComplete`).
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = replicas(d);
    status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
        && status.observed_generation.unwrap_or(0) >= generation(d)
}

/// True when `new` shows progress over the stored status: more updated, fewer
/// old, more ready or more available replicas (upstream `DeploymentProgressing`).
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = status(d);
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, deployment, labels, rs, template};

    fn int(i: i32) -> IntOrString {
        IntOrString::Int(i)
    }
    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        // (surge, unavailable, desired) → (surge, unavailable), after
        // TestResolveFenceposts.
        let cases = [
            (pct("0%"), pct("0%"), 0, (0, 1)),
            (pct("39%"), pct("39%"), 10, (4, 3)),
            (pct("oops"), pct("39%"), 10, (-1, -1)),
            (pct("55%"), pct("urg"), 10, (-1, -1)),
            (pct("5"), pct("1"), 10, (-1, -1)),
            (pct("25%"), pct("25%"), 10, (3, 2)),
            (pct("25%"), pct("25%"), 1, (1, 0)),
            (int(0), pct("1%"), 1, (0, 1)),
            (pct("1%"), int(0), 2, (1, 0)),
            (int(3), int(2), 10, (3, 2)),
        ];
        for (s, u, desired, want) in cases {
            let got = resolve_fenceposts(&s, &u, desired).unwrap_or((-1, -1));
            assert_eq!(got, want, "{s:?} {u:?} {desired}");
        }
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_for_recreate() {
        let d = deployment(2, int(0), int(5));
        assert_eq!(max_unavailable(&d), 2);
        let d = deployment(0, int(1), int(1));
        assert_eq!(max_unavailable(&d), 0);
        let mut r = deployment(10, int(3), int(2));
        r.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some(RECREATE.into());
        assert_eq!(max_unavailable(&r), 0);
        assert_eq!(max_surge(&r), 0);
    }

    #[test]
    fn new_rs_replicas_follow_new_rs_new_replicas() {
        // (replicas, surge, old size, new size) → new size, after TestNewRSNewReplicas.
        let cases = [
            (1, int(1), 1, 0, 1),
            (10, int(3), 10, 0, 3),
            (10, int(3), 10, 3, 3),
            (10, int(3), 8, 3, 5),
            (10, pct("25%"), 10, 0, 3),
            (5, int(0), 5, 0, 0),
            (10, int(20), 0, 0, 10),
            (10, int(2), 2, 9, 10),
        ];
        for (replicas, surge, old, new, want) in cases {
            let d = deployment(replicas, surge.clone(), int(1));
            let o = rs("old", old, at(0));
            let n = rs("new", new, at(1));
            assert_eq!(
                new_rs_new_replicas(&d, &[&o, &n], &n),
                want,
                "{replicas} {surge:?} {old} {new}"
            );
        }
        let mut r = deployment(7, int(3), int(1));
        r.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some(RECREATE.into());
        let n = rs("new", 0, at(1));
        assert_eq!(new_rs_new_replicas(&r, &[&n], &n), 7);
    }

    #[test]
    fn equality_ignores_only_the_hash_label() {
        let a = template("nginx:1");
        let mut b = a.clone();
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
        assert!(equal_ignore_hash(&a, &b));
        let mut c = b.clone();
        c.metadata.as_mut().unwrap().labels = Some(labels(&[("app", "other")]));
        assert!(!equal_ignore_hash(&a, &c));
        assert!(!equal_ignore_hash(&a, &template("nginx:2")));
        // Empty and absent lists are the same template.
        let mut d = a.clone();
        d.spec.as_mut().unwrap().volumes = Some(vec![]);
        assert!(equal_ignore_hash(&a, &d));
    }

    #[test]
    fn the_new_replica_set_is_the_oldest_with_the_same_template() {
        let d = deployment(3, int(1), int(1));
        let other = {
            let mut r = rs("other", 1, at(0));
            r.spec.as_mut().unwrap().template = Some(template("nginx:2"));
            r
        };
        let newer = rs("newer", 1, at(5));
        let older = rs("older", 1, at(2));
        let list = [other, newer, older];
        assert_eq!(find_new_replica_set(&d, &list), Some(2));
        assert_eq!(find_new_replica_set(&d, &list[..1]), None);
    }

    #[test]
    fn completeness_and_progress() {
        let d = deployment(3, int(1), int(1));
        let mut s = DeploymentStatus {
            replicas: Some(3),
            updated_replicas: Some(3),
            available_replicas: Some(3),
            observed_generation: Some(1),
            ..Default::default()
        };
        assert!(deployment_complete(&d, &s));
        s.observed_generation = Some(0);
        assert!(!deployment_complete(&d, &s));
        // Progress relative to the stored (empty) status.
        assert!(deployment_progressing(&d, &s));
        let mut stored = d.clone();
        stored.status = Some(s.clone());
        assert!(!deployment_progressing(&stored, &s));
        let mut fewer_old = s.clone();
        fewer_old.replicas = Some(3);
        stored.status.as_mut().unwrap().replicas = Some(4);
        assert!(deployment_progressing(&stored, &fewer_old));
    }
}
