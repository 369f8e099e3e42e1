//! `Priority`: a pod's `spec.priorityClassName` (or, when it names none, the global
//! default class) resolved into `spec.priority` and `spec.preemptionPolicy` (upstream's
//! `plugin/pkg/admission/priority`).

use serde_json::{Value, json};

use crate::ops::meta::meta_str;
use crate::status::ApiError;
use crate::storage::{ResourceKey, Store};

/// The policy of a class that names none, and of pods no class applies to.
const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// Finds the pod's PriorityClass in the store and writes what it says into the pod; a
/// named class that does not exist is a 403, as upstream answers.
pub(super) fn admit(store: &Store, pod: &mut Value) -> Result<(), ApiError> {
    let key = ResourceKey::new("scheduling.k8s.io", "priorityclasses");
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let class = if name.is_empty() {
        let page = store.list(&key, None, None, None, &|_| true);
        let classes: Vec<Value> = page
            .items
            .into_iter()
            .filter_map(|o| o.value().ok())
            .collect();
        global_default(&classes).cloned()
    } else {
        let found = store
            .get(&key, "", &name)
            .ok_or_else(|| missing_class(pod, &name))?;
        Some(found.value()?)
    };
    apply(pod, class.as_ref());
    Ok(())
}

/// Upstream's answer to a pod naming a class that does not exist.
fn missing_class(pod: &Value, class: &str) -> ApiError {
    super::forbidden(
        "",
        "pods",
        pod,
        &format!("no PriorityClass with name {class} was found"),
    )
}

/// A class's `value`.
fn class_value(class: &Value) -> i64 {
    class.get("value").and_then(Value::as_i64).unwrap_or(0)
}

/// The class a pod naming none gets: of the `globalDefault` classes (more than one only
/// after a race), the lowest valued, as upstream picks.
fn global_default(classes: &[Value]) -> Option<&Value> {
    classes
        .iter()
        .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
        .min_by_key(|c| class_value(c))
}

/// Writes the class's value, policy and name into the pod's spec; without a class,
/// priority 0 and `PreemptLowerPriority`.
fn apply(pod: &mut Value, class: Option<&Value>) {
    let (value, policy, name) = match class {
        Some(c) => (
            class_value(c),
            c.get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or(PREEMPT_LOWER_PRIORITY),
            meta_str(c, "name").unwrap_or(""),
        ),
        None => (0, PREEMPT_LOWER_PRIORITY, ""),
    };
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("priority".into(), json!(value));
        spec.insert("preemptionPolicy".into(), json!(policy));
        if !name.is_empty() {
            spec.insert("priorityClassName".into(), json!(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool, policy: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": name}, "value": value, "globalDefault": default});
        if let Some(p) = policy {
            c["preemptionPolicy"] = json!(p);
        }
        c
    }

    #[test]
    fn pods_take_their_class_as_upstream_resolves_it() {
        let table: Vec<(&str, Value, Option<Value>, Value)> = vec![
            (
                "named class: its value and policy",
                json!({"priorityClassName": "high"}),
                Some(class("high", 1000, false, Some("Never"))),
                json!({"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "Never"}),
            ),
            (
                "class without a policy: PreemptLowerPriority",
                json!({"priorityClassName": "high"}),
                Some(class("high", 7, false, None)),
                json!({"priorityClassName": "high", "priority": 7, "preemptionPolicy": "PreemptLowerPriority"}),
            ),
            (
                "no class named, a global default: its name is written",
                json!({}),
                Some(class("everyone", 5, true, None)),
                json!({"priorityClassName": "everyone", "priority": 5, "preemptionPolicy": "PreemptLowerPriority"}),
            ),
            (
                "no class at all: priority 0",
                json!({}),
                None,
                json!({"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
            ),
        ];
        for (case, spec, class, want) in table {
            let mut pod = json!({"spec": spec});
            apply(&mut pod, class.as_ref());
            assert_eq!(pod["spec"], want, "{case}");
        }
    }

    #[test]
    fn the_lowest_global_default_wins() {
        let classes = [
            class("not-default", 1, false, None),
            class("high-default", 100, true, None),
            class("low-default", 10, true, None),
        ];
        let got = global_default(&classes).and_then(|c| meta_str(c, "name"));
        assert_eq!(got, Some("low-default"));
        assert!(global_default(&classes[..1]).is_none());
    }

    #[test]
    fn a_missing_class_is_forbidden_with_upstreams_message() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "nope"}});
        let e = missing_class(&pod, "nope");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: no PriorityClass with name nope was found"
        );
    }
}
