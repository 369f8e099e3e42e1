//! `pods/eviction`, as upstream's `EvictionREST`: the PodDisruptionBudget check and
//! decrement, then the `DisruptionTarget` condition (upstream's
//! `PodDisruptionConditions`, on by default since 1.26) written to the pod's status,
//! then the graceful delete.

use capstan_labels::Selector;
use serde_json::{Value, json};

use super::delete::{DeleteOptions, DeleteOutcome};
use super::meta::now_rfc3339;
use super::{Cluster, key_of};
use crate::admission::{self, Operation};
use crate::kinds::KindInfo;
use crate::selector::label_selector_of;
use crate::status::ApiError;
use crate::storage::{Mutation, ResourceKey, StoredObject};

/// The condition an evicted pod gets before it is deleted.
const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// The message of every 429 an eviction answers.
const BUDGET_VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";
/// `policyv1.DisruptionBudgetCause`.
const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";
/// Upstream's `MaxDisruptedPodSize`: more recorded disruptions than this and evictions
/// are refused until the disruption controller catches up.
const MAX_DISRUPTED_POD_SIZE: usize = 2000;
/// Upstream's `EvictionsRetry` steps: how often a conflicting delete of a pod no
/// budget guards is tried again on a fresh read.
const EVICTIONS_RETRY_STEPS: usize = 20;

impl Cluster {
    /// `POST pods/{name}/eviction`, as upstream's `EvictionREST.Create`: a pod that is
    /// terminal, pending or already being deleted is deleted without looking at
    /// budgets; otherwise the one PodDisruptionBudget selecting it (500 when several
    /// do) must allow the disruption, which is recorded ([`Self::take_disruption`]),
    /// unless the pod is not Ready and its budget lets it go anyway
    /// (`unhealthyPodEvictionPolicy: AlwaysAllow`, or the default `IfHealthyBudget`
    /// while `currentHealthy >= desiredHealthy > 0`): then it is deleted only if it
    /// has not changed since (a 429 otherwise). Then the pod is marked with the
    /// `DisruptionTarget` condition and deleted gracefully.
    pub fn evict(
        &self,
        pods: &KindInfo,
        ns: &str,
        name: &str,
        eviction: &Value,
        dry_run: bool,
    ) -> Result<DeleteOutcome, ApiError> {
        admission::admit_request(self, pods, Operation::Create, ns, name)?;
        let mut base = DeleteOptions {
            dry_run,
            ..DeleteOptions::default()
        };
        if let Some(d) = eviction.get("deleteOptions") {
            base.merge_body(d)?;
        }
        let rv_was_unset = base.resource_version.is_none();
        let mut attempts = 0;
        let (pod, podv) = loop {
            let pod = self.get(pods, ns, name)?;
            let podv = pod.value()?;
            let phase = podv
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            let terminal = matches!(phase, "Succeeded" | "Failed");
            let deleting = podv.pointer("/metadata/deletionTimestamp").is_some();
            if !(terminal || deleting || phase == "Pending") {
                break (pod, podv);
            }
            // Upstream's canIgnorePDB: no budget is asked; a pending pod must not have
            // become ready since it was read (shouldEnforceResourceVersion), and a
            // conflict is retried on a fresh read unless the client set the version.
            let mut opts = base.clone();
            if !terminal && !deleting && rv_was_unset {
                opts.resource_version = Some(pod.rv.to_string());
            }
            match self.delete_evicted(pods, ns, name, &mut opts) {
                Err(e) if e.code == 409 && rv_was_unset && attempts < EVICTIONS_RETRY_STEPS => {
                    attempts += 1;
                }
                done => return done,
            }
        };
        let mut opts = base;
        if let Some(pdb_name) = self.take_disruption(&pod, &podv, ns, name, opts.dry_run)? {
            // An unready pod let go without a decrement must still be the pod read
            // (upstream sets this precondition over the client's).
            opts.resource_version = Some(pod.rv.to_string());
            return self.delete_evicted(pods, ns, name, &mut opts).map_err(|e| {
                if e.code == 409 && rv_was_unset {
                    still_processing(&pdb_name)
                } else {
                    e
                }
            });
        }
        self.delete_evicted(pods, ns, name, &mut opts)
    }

    /// The `DisruptionTarget` condition, then the graceful delete.
    fn delete_evicted(
        &self,
        pods: &KindInfo,
        ns: &str,
        name: &str,
        opts: &mut DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        if !opts.dry_run {
            self.mark_disruption_target(pods, ns, name, opts)?;
        }
        self.delete(pods, ns, name, opts)
    }

    /// The budget check of an eviction: the PodDisruptionBudgets of the pod's
    /// namespace whose selector matches it (`policy/v1`: a null selector matches
    /// nothing, an empty one everything; an invalid one nothing). None: nothing to
    /// check. Several: 500, as upstream. One: an unready pod its
    /// `unhealthyPodEvictionPolicy` lets go answers that budget's name (deleted
    /// without a decrement, see [`Self::evict`]); any other goes through
    /// [`check_and_decrement`]. Answers `None` when the pod may be deleted as is.
    fn take_disruption(
        &self,
        pod: &StoredObject,
        podv: &Value,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Option<String>, ApiError> {
        let pdb_key = ResourceKey::new("policy", "poddisruptionbudgets");
        let page = self.store.list(&pdb_key, Some(ns), None, None, &|_| true);
        let matching: Vec<StoredObject> = page
            .items
            .into_iter()
            .filter(|o| {
                o.value().ok().is_some_and(|v| {
                    let sel = v.pointer("/spec/selector").and_then(label_selector_of);
                    Selector::from_label_selector(sel.as_ref())
                        .is_ok_and(|s| s.matches(&pod.labels))
                })
            })
            .collect();
        if matching.len() > 1 {
            // Upstream answers this Status as is: code 500, no reason.
            return Err(ApiError::new(
                500,
                "",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        let Some(pdb) = matching.first() else {
            return Ok(None);
        };
        let pdb_name = pdb.name.clone();
        if !is_pod_ready(podv) && unhealthy_pod_may_go(&pdb.value()?) {
            return Ok(Some(pdb_name));
        }
        let pod_name = name.to_string();
        self.store.mutate(&pdb_key, ns, &pdb_name, dry_run, |cur| {
            let cur = cur
                .ok_or_else(|| ApiError::not_found("policy", "poddisruptionbudgets", &pdb_name))?;
            let mut v = cur.value()?;
            check_and_decrement(&mut v, &pdb_name, &pod_name, &now_rfc3339())?;
            Ok(Mutation::Put(v))
        })?;
        Ok(None)
    }

    /// Upstream's `addConditionAndDeletePod`: the latest pod, checked against the
    /// delete's preconditions (409 as upstream words it), gets `DisruptionTarget=True`
    /// (reason `EvictionByEvictionAPI`) through its status; a resourceVersion
    /// precondition then follows the write, which this eviction made itself.
    fn mark_disruption_target(
        &self,
        pods: &KindInfo,
        ns: &str,
        name: &str,
        opts: &mut DeleteOptions,
    ) -> Result<(), ApiError> {
        let now = now_rfc3339();
        let out = self.store.mutate(&key_of(pods), ns, name, false, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found("", "pods", name))?;
            check_preconditions(opts, &cur.uid, cur.rv, name)?;
            let mut pod = cur.value()?;
            if update_pod_condition(&mut pod, disruption_target(), &now) {
                Ok(Mutation::Put(pod))
            } else {
                Ok(Mutation::Keep)
            }
        })?;
        if opts.resource_version.is_some()
            && let Some(obj) = out.object
        {
            opts.resource_version = Some(obj.rv.to_string());
        }
        Ok(())
    }
}

/// Upstream `IsPodReady` on the stored pod.
fn is_pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether an unready pod may be evicted without taking from the budget `pdb`:
/// always under `unhealthyPodEvictionPolicy: AlwaysAllow`; under the default
/// `IfHealthyBudget` while the application is not disrupted
/// (`currentHealthy >= desiredHealthy > 0`).
fn unhealthy_pod_may_go(pdb: &Value) -> bool {
    if pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow")
    {
        return true;
    }
    let count = |f: &str| {
        pdb.pointer(&format!("/status/{f}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let desired = count("desiredHealthy");
    count("currentHealthy") >= desired && desired > 0
}

/// The 429 upstream answers while the budget's status lags its spec, or when an
/// unready pod changed before its delete (`createTooManyRequestsError`), with a
/// 10 s retry hint.
fn still_processing(pdb_name: &str) -> ApiError {
    let mut e = ApiError::too_many_requests(BUDGET_VIOLATION);
    e.details = Some(json!({
        "causes": [{
            "reason": DISRUPTION_BUDGET_CAUSE,
            "message": format!("The disruption budget {pdb_name} is still being processed by the server."),
        }],
        "retryAfterSeconds": 10,
    }));
    e
}

/// Upstream's `checkAndDecrement` on a budget's stored JSON: refused while its status
/// lags its generation (429, still being processed), when `disruptionsAllowed` is
/// negative or `disruptedPods` holds more than [`MAX_DISRUPTED_POD_SIZE`] entries
/// (403), when no disruption is allowed (429 naming the healthy counts); otherwise
/// one fewer disruption allowed (the `DisruptionAllowed` condition turning
/// `False`/`InsufficientPods` at zero) and the pod recorded in `disruptedPods` at
/// `now`.
fn check_and_decrement(
    pdb: &mut Value,
    pdb_name: &str,
    pod_name: &str,
    now: &str,
) -> Result<(), ApiError> {
    let int = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if int(pdb, "/status/observedGeneration") < int(pdb, "/metadata/generation") {
        return Err(still_processing(pdb_name));
    }
    let allowed = int(pdb, "/status/disruptionsAllowed");
    let forbidden = |why: &str| ApiError::forbidden("policy", "poddisruptionbudget", pdb_name, why);
    if allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len);
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(forbidden(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        let mut e = ApiError::too_many_requests(BUDGET_VIOLATION);
        e.details = Some(json!({"causes": [{
            "reason": DISRUPTION_BUDGET_CAUSE,
            "message": format!(
                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                int(pdb, "/status/desiredHealthy"),
                int(pdb, "/status/currentHealthy"),
            ),
        }]}));
        return Err(e);
    }
    if !pdb["status"].is_object() {
        pdb["status"] = json!({});
    }
    let status = &mut pdb["status"];
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed == 1 {
        set_insufficient_pods(status, now);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod_name] = json!(now);
    Ok(())
}

/// `UpdateDisruptionAllowedCondition` once no disruption is left:
/// `DisruptionAllowed=False`, reason `InsufficientPods`, as `meta.SetStatusCondition`
/// writes it (the transition time moves only with the status).
fn set_insufficient_pods(status: &mut Value, now: &str) {
    let generation = status
        .get("observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    let wanted = json!({
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "InsufficientPods",
        "message": "",
        "observedGeneration": generation,
        "lastTransitionTime": now,
    });
    match list.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        None => list.push(wanted),
        Some(old) => {
            let since = if old["status"] == "False" {
                old["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            *old = wanted;
            old["lastTransitionTime"] = since;
        }
    }
}

/// The condition upstream's eviction writes.
fn disruption_target() -> Value {
    json!({
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
    })
}

/// The delete's UID and resourceVersion preconditions against the pod in store, refused
/// as upstream's `getLatestPod` refuses them.
fn check_preconditions(
    opts: &DeleteOptions,
    uid: &str,
    rv: u64,
    name: &str,
) -> Result<(), ApiError> {
    if let Some(want) = opts.uid.as_deref().filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(ApiError::conflict_msg(
            "",
            "Pod",
            name,
            &format!(
                "the UID in the precondition ({want}) does not match the UID in record ({uid}). \
                 The object might have been deleted and then recreated"
            ),
        ));
    }
    if let Some(want) = opts.resource_version.as_deref().filter(|r| !r.is_empty())
        && want != rv.to_string()
    {
        return Err(ApiError::conflict_msg(
            "",
            "Pod",
            name,
            &format!(
                "the ResourceVersion in the precondition ({want}) does not match the \
                 ResourceVersion in record ({rv}). The object might have been modified"
            ),
        ));
    }
    Ok(())
}

/// Upstream's `UpdatePodCondition`: sets `condition` (its `lastProbeTime` null, its
/// `lastTransitionTime` `now` unless the status is unchanged) in place of one of the
/// same type, or appends it; answers whether anything changed.
fn update_pod_condition(pod: &mut Value, mut condition: Value, now: &str) -> bool {
    let Some(obj) = pod.as_object_mut() else {
        return false;
    };
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    let Some(status) = status.as_object_mut() else {
        return false;
    };
    let list = status.entry("conditions").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return false;
    };
    condition["lastProbeTime"] = Value::Null;
    condition["lastTransitionTime"] = json!(now);
    let Some(old) = list
        .iter_mut()
        .find(|c| c.get("type") == condition.get("type"))
    else {
        list.push(condition);
        return true;
    };
    if old.get("status") == condition.get("status") {
        condition["lastTransitionTime"] = old
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or(Value::Null);
    }
    let field = |c: &Value, f: &str| c.get(f).cloned().unwrap_or(Value::Null);
    let same = [
        "status",
        "reason",
        "message",
        "lastProbeTime",
        "lastTransitionTime",
    ]
    .iter()
    .all(|f| field(old, f) == field(&condition, f));
    *old = condition;
    !same
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";

    #[test]
    fn the_disruption_condition_is_set_as_upstream_sets_it() {
        let mut pod = json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": T0},
        ]}});
        assert!(update_pod_condition(&mut pod, disruption_target(), T1));
        let conditions = pod["status"]["conditions"]
            .as_array()
            .expect("a list")
            .clone();
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(
            conditions[1],
            json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
                   "lastTransitionTime": T1, "reason": "EvictionByEvictionAPI",
                   "message": "Eviction API: evicting"})
        );
        // A second eviction changes nothing: same status, same transition time.
        let later = "2026-01-01T00:09:00Z";
        assert!(!update_pod_condition(&mut pod, disruption_target(), later));
        assert_eq!(pod["status"]["conditions"][1]["lastTransitionTime"], T1);
    }

    #[test]
    fn a_status_change_moves_the_transition_time() {
        let mut pod = json!({"status": {"conditions": [
            {"type": "DisruptionTarget", "status": "False", "lastTransitionTime": T0},
        ]}});
        assert!(update_pod_condition(&mut pod, disruption_target(), T1));
        assert_eq!(pod["status"]["conditions"][0]["lastTransitionTime"], T1);
        assert_eq!(pod["status"]["conditions"][0]["status"], "True");
        let mut bare = json!({});
        assert!(update_pod_condition(&mut bare, disruption_target(), T1));
        assert_eq!(bare["status"]["conditions"][0]["type"], "DisruptionTarget");
    }

    #[test]
    fn preconditions_are_refused_with_upstreams_words() {
        let opts = DeleteOptions {
            uid: Some("other".into()),
            ..DeleteOptions::default()
        };
        let e = check_preconditions(&opts, "uid-1", 7, "p").unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on Pod \"p\": the UID in the precondition (other) \
             does not match the UID in record (uid-1). The object might have been deleted and \
             then recreated"
        );
        let opts = DeleteOptions {
            resource_version: Some("6".into()),
            ..DeleteOptions::default()
        };
        let e = check_preconditions(&opts, "uid-1", 7, "p").unwrap_err();
        assert!(e.message.ends_with("(6) does not match the ResourceVersion in record (7). The object might have been modified"), "{}", e.message);
        let matching = DeleteOptions {
            uid: Some("uid-1".into()),
            resource_version: Some("7".into()),
            ..DeleteOptions::default()
        };
        assert!(check_preconditions(&matching, "uid-1", 7, "p").is_ok());
    }

    fn budget(status: Value) -> Value {
        json!({"metadata": {"name": "pdb", "generation": 2}, "status": status})
    }

    #[test]
    fn a_budget_allowing_disruptions_records_the_eviction() {
        let mut pdb = budget(json!({"observedGeneration": 2, "disruptionsAllowed": 2,
            "currentHealthy": 3, "desiredHealthy": 1, "expectedPods": 3,
            "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                "message": "", "observedGeneration": 2, "lastTransitionTime": T0}]}));
        check_and_decrement(&mut pdb, "pdb", "p1", T1).unwrap();
        assert_eq!(pdb["status"]["disruptionsAllowed"], 1);
        assert_eq!(pdb["status"]["disruptedPods"], json!({"p1": T1}));
        assert_eq!(
            pdb["status"]["conditions"][0]["status"], "True",
            "still one left"
        );
        check_and_decrement(&mut pdb, "pdb", "p2", T1).unwrap();
        assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
        assert_eq!(pdb["status"]["disruptedPods"], json!({"p1": T1, "p2": T1}));
        let cond = &pdb["status"]["conditions"][0];
        assert_eq!(
            (
                &cond["status"],
                &cond["reason"],
                &cond["lastTransitionTime"]
            ),
            (&json!("False"), &json!("InsufficientPods"), &json!(T1))
        );
        let e = check_and_decrement(&mut pdb, "pdb", "p3", T1).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (429, BUDGET_VIOLATION));
        assert_eq!(
            e.details.unwrap(),
            json!({"causes": [{"reason": "DisruptionBudget",
                "message": "The disruption budget pdb needs 1 healthy pods and has 3 currently"}]})
        );
    }

    #[test]
    fn a_lagging_negative_or_overfull_budget_is_refused_as_upstream() {
        let mut lagging = budget(json!({"observedGeneration": 1, "disruptionsAllowed": 5}));
        let e = check_and_decrement(&mut lagging, "pdb", "p", T1).unwrap_err();
        assert_eq!(e.code, 429);
        assert_eq!(
            e.details.unwrap(),
            json!({"causes": [{"reason": "DisruptionBudget",
                "message": "The disruption budget pdb is still being processed by the server."}],
                "retryAfterSeconds": 10})
        );
        let mut negative = budget(json!({"observedGeneration": 2, "disruptionsAllowed": -1}));
        let e = check_and_decrement(&mut negative, "pdb", "p", T1).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "poddisruptionbudget.policy \"pdb\" is forbidden: pdb disruptions allowed is negative"
        );
        let many: serde_json::Map<String, Value> = (0..=MAX_DISRUPTED_POD_SIZE)
            .map(|i| (format!("p{i}"), json!(T0)))
            .collect();
        let mut full = budget(json!({"observedGeneration": 2, "disruptionsAllowed": 1,
            "disruptedPods": many}));
        let e = check_and_decrement(&mut full, "pdb", "p", T1).unwrap_err();
        assert_eq!(e.code, 403);
        assert!(e.message.ends_with(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        ));
    }

    #[test]
    fn unready_pods_go_without_a_decrement_as_the_policy_says() {
        let pdb = |policy: Option<&str>, current: i64, desired: i64| {
            let mut v = json!({"spec": {}, "status": {"currentHealthy": current, "desiredHealthy": desired}});
            if let Some(p) = policy {
                v["spec"]["unhealthyPodEvictionPolicy"] = json!(p);
            }
            v
        };
        // IfHealthyBudget (the default): only while the application is not disrupted.
        assert!(unhealthy_pod_may_go(&pdb(None, 2, 2)));
        assert!(unhealthy_pod_may_go(&pdb(Some("IfHealthyBudget"), 3, 2)));
        assert!(!unhealthy_pod_may_go(&pdb(None, 1, 2)));
        assert!(!unhealthy_pod_may_go(&pdb(None, 0, 0)), "desiredHealthy 0");
        // AlwaysAllow: whatever the budget.
        assert!(unhealthy_pod_may_go(&pdb(Some("AlwaysAllow"), 0, 2)));
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(is_pod_ready(&ready));
        assert!(!is_pod_ready(&unready));
        assert!(!is_pod_ready(&json!({})));
    }
}
