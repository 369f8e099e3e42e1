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

impl Cluster {
    /// `POST pods/{name}/eviction`: refuses with 429 when a PodDisruptionBudget
    /// selecting the pod allows no disruption, else records the disruption, marks the
    /// pod with the `DisruptionTarget` condition and deletes it gracefully.
    pub fn evict(
        &self,
        pods: &KindInfo,
        ns: &str,
        name: &str,
        eviction: &Value,
        dry_run: bool,
    ) -> Result<DeleteOutcome, ApiError> {
        admission::admit_request(self, pods, Operation::Create, ns, name)?;
        let pod = self.get(pods, ns, name)?;
        let podv = pod.value()?;
        let mut opts = DeleteOptions {
            dry_run,
            ..DeleteOptions::default()
        };
        if let Some(d) = eviction.get("deleteOptions") {
            opts.merge_body(d)?;
        }
        let phase = podv
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ignore_pdb = matches!(phase, "Succeeded" | "Failed" | "Pending")
            || podv.pointer("/metadata/deletionTimestamp").is_some();
        if !ignore_pdb {
            self.take_disruption(&pod, ns, name, dry_run)?;
        }
        if !opts.dry_run {
            self.mark_disruption_target(pods, ns, name, &mut opts)?;
        }
        self.delete(pods, ns, name, &opts)
    }

    /// Upstream's `checkAndDecrement` on the one PodDisruptionBudget selecting the pod
    /// (500 when several do): 429 when it allows no disruption, else one fewer allowed
    /// and the pod recorded in `disruptedPods`.
    fn take_disruption(
        &self,
        pod: &StoredObject,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let pdb_key = ResourceKey::new("policy", "poddisruptionbudgets");
        let page = self.store.list(&pdb_key, Some(ns), None, None, &|_| true);
        let matching: Vec<StoredObject> = page
            .items
            .into_iter()
            .filter(|o| {
                // Upstream: an invalid selector does not match the pod, and a nil or
                // empty one matches nothing.
                o.value().ok().is_some_and(|v| {
                    let sel = v.pointer("/spec/selector").and_then(label_selector_of);
                    Selector::from_label_selector(sel.as_ref())
                        .is_ok_and(|s| !s.is_empty() && s.matches(&pod.labels))
                })
            })
            .collect();
        if matching.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = matching.first() {
            let pdb_name = pdb.name.clone();
            let pod_name = name.to_string();
            self.store.mutate(&pdb_key, ns, &pdb_name, dry_run, |cur| {
                let cur = cur.ok_or_else(|| ApiError::not_found("policy", "poddisruptionbudgets", &pdb_name))?;
                let mut v = cur.value()?;
                let generation = v.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                let observed = v.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0);
                let allowed = v.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
                if observed < generation || allowed <= 0 {
                    let mut e = ApiError::too_many_requests(
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                    );
                    e.details = Some(json!({"causes": [{
                        "reason": "DisruptionBudget",
                        "message": format!("The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                            v.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0),
                            v.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0)),
                    }]}));
                    return Err(e);
                }
                v["status"]["disruptionsAllowed"] = json!(allowed - 1);
                if !v["status"]["disruptedPods"].is_object() {
                    v["status"]["disruptedPods"] = json!({});
                }
                v["status"]["disruptedPods"][&pod_name] = json!(now_rfc3339());
                Ok(Mutation::Put(v))
            })?;
        }
        Ok(())
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
}
