//! `certificates.k8s.io/v1`: CertificateSigningRequests — the strategies'
//! `PrepareForCreate` (the requester recorded, no status) and `PrepareForUpdate` of the
//! main resource, `status` and `approval`.

use serde_json::{Map, Value, json};

use crate::authn::UserInfo;
use crate::json::{array_at, at, str_at};
use crate::kinds::Subresource;

/// The requester's identity in `spec` (`username`, `uid`, `groups`, `extra`), replacing
/// whatever the client wrote; none when the server itself creates the request.
pub fn record_csr_requester(obj: &mut Value, user: Option<&UserInfo>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for f in ["username", "uid", "groups", "extra"] {
        spec.remove(f);
    }
    let Some(user) = user else {
        return;
    };
    if !user.name.is_empty() {
        spec.insert("username".into(), json!(user.name));
    }
    if !user.uid.is_empty() {
        spec.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        spec.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        spec.insert("extra".into(), json!(user.extra));
    }
}

/// A new request has no conditions and no certificate: users cannot create pre-approved
/// requests.
pub fn csr_initial_status(_: &Value) -> Value {
    json!({})
}

/// What an update may change: through the main resource nothing of `spec` or `status`;
/// through `status` anything of `status` but the `Approved` and `Denied` conditions;
/// through `approval` only the conditions. Conditions get their `lastUpdateTime` (now) and
/// `lastTransitionTime` (kept from a stored condition of the same type and status, else
/// now) when they have none.
pub fn prepare_csr_update(sub: Option<Subresource>, new: &mut Value, old: &Value, now: &str) {
    set(new, "spec", at(old, &["spec"]));
    match sub {
        None => set(new, "status", at(old, &["status"])),
        Some(Subresource::Status) => {
            for t in ["Approved", "Denied"] {
                preserve_condition_instances(new, old, t);
            }
            populate_condition_timestamps(new, old, now);
        }
        Some(Subresource::Approval) => {
            populate_condition_timestamps(new, old, now);
            let conditions = at(new, &["status", "conditions"]).clone();
            let mut status = match at(old, &["status"]) {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            status.remove("conditions");
            if !conditions.is_null() {
                status.insert("conditions".into(), conditions);
            }
            set(new, "status", &Value::Object(status));
        }
        Some(_) => {}
    }
}

/// Sets (or removes, for `null`) a top-level field.
fn set(obj: &mut Value, field: &str, value: &Value) {
    if let Some(m) = obj.as_object_mut() {
        if value.is_null() {
            m.remove(field);
        } else {
            m.insert(field.into(), value.clone());
        }
    }
}

/// `preserveConditionInstances`: the stored conditions of `type_` replace the new ones
/// when there are as many (added or removed ones are left for validation to refuse).
fn preserve_condition_instances(new: &mut Value, old: &Value, type_: &str) {
    let stored: Vec<Value> = array_at(old, &["status", "conditions"])
        .iter()
        .filter(|c| str_at(c, &["type"]) == type_)
        .cloned()
        .collect();
    let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let indices: Vec<usize> = conditions
        .iter()
        .enumerate()
        .filter(|(_, c)| str_at(c, &["type"]) == type_)
        .map(|(i, _)| i)
        .collect();
    if indices.len() != stored.len() {
        return;
    }
    for (i, c) in indices.into_iter().zip(stored) {
        conditions[i] = c;
    }
}

/// `populateConditionTimestamps`.
fn populate_condition_timestamps(new: &mut Value, old: &Value, now: &str) {
    let stored = array_at(old, &["status", "conditions"]).to_vec();
    let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in conditions.iter_mut().filter(|c| c.is_object()) {
        if at(c, &["lastUpdateTime"]).is_null() {
            c["lastUpdateTime"] = json!(now);
        }
        if at(c, &["lastTransitionTime"]).is_null() {
            let kept = stored.iter().find_map(|o| {
                let same = at(o, &["type"]) == at(c, &["type"])
                    && at(o, &["status"]) == at(c, &["status"]);
                same.then(|| at(o, &["lastTransitionTime"]))
                    .filter(|t| !t.is_null())
                    .cloned()
            });
            c["lastTransitionTime"] = kept.unwrap_or_else(|| json!(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-01T00:00:00Z";

    fn csr(conditions: Value, certificate: Option<&str>) -> Value {
        let mut status = json!({"conditions": conditions});
        if let Some(c) = certificate {
            status["certificate"] = json!(c);
        }
        json!({"spec": {"request": "cmVx", "username": "jane"}, "status": status})
    }

    #[test]
    fn the_requester_replaces_what_the_client_wrote() {
        let mut obj =
            json!({"spec": {"username": "mallory", "groups": ["system:masters"], "uid": "x"}});
        record_csr_requester(&mut obj, Some(&UserInfo::admin()));
        assert_eq!(
            obj["spec"],
            json!({"username": "capstan-admin", "groups": ["system:masters", "system:authenticated"]})
        );
        record_csr_requester(&mut obj, None);
        assert_eq!(obj["spec"], json!({}));
    }

    #[test]
    fn approval_writes_only_conditions_with_timestamps() {
        let old = csr(json!([]), Some("Y2VydA=="));
        let mut new = csr(
            json!([{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]),
            None,
        );
        new["spec"]["username"] = json!("mallory");
        prepare_csr_update(Some(Subresource::Approval), &mut new, &old, NOW);
        assert_eq!(new["spec"]["username"], "jane");
        assert_eq!(new["status"]["certificate"], "Y2VydA==");
        assert_eq!(
            new["status"]["conditions"][0],
            json!({"type": "Approved", "status": "True", "reason": "KubectlApprove",
                   "lastUpdateTime": NOW, "lastTransitionTime": NOW})
        );
    }

    #[test]
    fn status_keeps_the_approval_and_main_updates_keep_everything() {
        let approved = json!({"type": "Approved", "status": "True", "reason": "A", "lastUpdateTime": "t0", "lastTransitionTime": "t0"});
        let old = csr(json!([approved]), None);
        let mut new = csr(
            json!([{"type": "Approved", "status": "True", "reason": "changed"}, {"type": "Failed", "status": "True"}]),
            Some("Y2VydA=="),
        );
        prepare_csr_update(Some(Subresource::Status), &mut new, &old, NOW);
        assert_eq!(new["status"]["conditions"][0], approved);
        assert_eq!(new["status"]["conditions"][1]["lastTransitionTime"], NOW);
        assert_eq!(new["status"]["certificate"], "Y2VydA==");
        let mut main = csr(json!([]), Some("Y2VydA=="));
        main["spec"]["request"] = json!("b3RoZXI=");
        prepare_csr_update(None, &mut main, &old, NOW);
        assert_eq!(main["spec"], old["spec"]);
        assert_eq!(main["status"], old["status"]);
    }
}
