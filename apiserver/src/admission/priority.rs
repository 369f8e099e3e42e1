//! `Priority`: a pod's `spec.priorityClassName` (or, when it names none, the global
//! default class) resolved into `spec.priority` and `spec.preemptionPolicy`; a client
//! that sends either with a value other than the class's is refused (upstream's
//! `plugin/pkg/admission/priority`).

use serde_json::{Value, json};

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use serde::Deserialize;

use crate::status::ApiError;
use crate::storage::{ResourceKey, Store, Stored};

/// The policy of a class that names none, and of pods no class applies to.
const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// Finds the pod's PriorityClass in the store and writes what it says into the pod; a
/// named class that does not exist, or a client's priority or policy that differs from
/// the class's, is a 403, as upstream answers.
pub(super) fn admit(store: &Store, pod: &mut Value) -> Result<(), ApiError> {
    let key = ResourceKey::new("scheduling.k8s.io", "priorityclasses");
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let class = if name.is_empty() {
        let page = store.list(&key, None, None, None, &|_| true);
        let classes = page
            .items
            .iter()
            .map(|o| Class::read(o))
            .collect::<Result<Vec<_>, _>>()?;
        global_default(&classes).cloned()
    } else {
        let found = store.get(&key, "", &name).ok_or_else(|| {
            forbidden(pod, &format!("no PriorityClass with name {name} was found"))
        })?;
        Some(Class::read(&found)?)
    };
    let resolved = Resolved::from(class.as_deref());
    if let Some(why) = client_mismatch(pod, &resolved) {
        return Err(forbidden(pod, &why));
    }
    apply(pod, &resolved);
    Ok(())
}

/// What the step reads of a PriorityClass, decoded straight from its stored bytes: every
/// create of a pod naming no class looks at each class, so none is parsed whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Class {
    #[serde(default)]
    metadata: ClassMeta,
    #[serde(default)]
    value: i64,
    #[serde(default)]
    global_default: bool,
    #[serde(default)]
    preemption_policy: Option<String>,
}

/// A class's `metadata`, of which only the name matters here.
#[derive(Debug, Clone, Default, Deserialize)]
struct ClassMeta {
    #[serde(default)]
    name: String,
}

/// Classes already decoded, by uid and resourceVersion (a version's bytes never
/// change), so a pod create decodes no class it has seen; cleared when it grows past
/// [`CACHED_CLASSES`] (a cluster has a handful of classes).
static DECODED: LazyLock<Mutex<HashMap<ClassVersion, Arc<Class>>>> = LazyLock::new(Mutex::default);

/// A stored class version: its uid and resourceVersion.
type ClassVersion = (String, u64);

/// The most decoded class versions [`DECODED`] keeps.
const CACHED_CLASSES: usize = 1024;

impl Class {
    /// The fields the step reads from a stored class, decoded once per version.
    fn read(stored: &Stored) -> Result<Arc<Class>, ApiError> {
        let decode = || -> Result<Arc<Class>, ApiError> {
            Ok(Arc::new(
                serde_json::from_slice(&stored.bytes).map_err(ApiError::internal)?,
            ))
        };
        if stored.uid.is_empty() {
            // Not a stored version (no uid): nothing to key it by.
            return decode();
        }
        let key = (stored.uid.clone(), stored.rv);
        let mut cache = DECODED.lock();
        if let Some(class) = cache.get(&key) {
            return Ok(class.clone());
        }
        let class = decode()?;
        if cache.len() >= CACHED_CLASSES {
            cache.clear();
        }
        cache.insert(key, class.clone());
        Ok(class)
    }
}

/// Upstream's refusal of a pod (named by its name, else its `generateName`).
fn forbidden(pod: &Value, why: &str) -> ApiError {
    super::forbidden("", "pods", pod, why)
}

/// The class a pod naming none gets: of the `globalDefault` classes (more than one only
/// after a race), the lowest valued, as upstream picks.
fn global_default(classes: &[Arc<Class>]) -> Option<&Arc<Class>> {
    classes
        .iter()
        .filter(|c| c.global_default)
        .min_by_key(|c| c.value)
}

/// What the pod's class (or its absence) gives it.
#[derive(Debug, PartialEq, Eq)]
struct Resolved<'a> {
    /// `spec.priority`.
    value: i64,
    /// `spec.preemptionPolicy`.
    policy: &'a str,
    /// `spec.priorityClassName` ("" when no class applies).
    name: &'a str,
}

impl<'a> From<Option<&'a Class>> for Resolved<'a> {
    /// A class's value, policy and name; without a class, priority 0 and
    /// `PreemptLowerPriority`.
    fn from(class: Option<&'a Class>) -> Self {
        match class {
            Some(c) => Resolved {
                value: c.value,
                policy: c
                    .preemption_policy
                    .as_deref()
                    .unwrap_or(PREEMPT_LOWER_PRIORITY),
                name: &c.metadata.name,
            },
            None => Resolved {
                value: 0,
                policy: PREEMPT_LOWER_PRIORITY,
                name: "",
            },
        }
    }
}

/// Upstream's reason to refuse a pod whose client set `spec.priority` or
/// `spec.preemptionPolicy` to something other than what its class resolves to.
fn client_mismatch(pod: &Value, resolved: &Resolved<'_>) -> Option<String> {
    let spec = pod.get("spec")?;
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != resolved.value
    {
        return Some(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; \
             priority admission controller computed {} from the given PriorityClass name",
            resolved.value
        ));
    }
    if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
        && given != resolved.policy
    {
        return Some(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod \
             spec; priority admission controller computed {} from the given PriorityClass name",
            resolved.policy
        ));
    }
    None
}

/// Writes the resolved value, policy and class name into the pod's spec.
fn apply(pod: &mut Value, resolved: &Resolved<'_>) {
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("priority".into(), json!(resolved.value));
        spec.insert("preemptionPolicy".into(), json!(resolved.policy));
        if !resolved.name.is_empty() {
            spec.insert("priorityClassName".into(), json!(resolved.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool, policy: Option<&str>) -> Arc<Class> {
        let mut c = json!({"metadata": {"name": name}, "value": value, "globalDefault": default});
        if let Some(p) = policy {
            c["preemptionPolicy"] = json!(p);
        }
        let key = ResourceKey::new("scheduling.k8s.io", "priorityclasses");
        Class::read(&Stored::from_value(&key, &c, 1).expect("stored")).expect("class")
    }

    #[test]
    fn pods_take_their_class_as_upstream_resolves_it() {
        let table: Vec<(&str, Value, Option<Arc<Class>>, Value)> = vec![
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
            apply(&mut pod, &Resolved::from(class.as_deref()));
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
        let got = global_default(&classes).map(|c| c.metadata.name.as_str());
        assert_eq!(got, Some("low-default"));
        assert!(global_default(&classes[..1]).is_none());
    }

    #[test]
    fn a_missing_class_is_forbidden_with_upstreams_message() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "nope"}});
        let e = forbidden(&pod, "no PriorityClass with name nope was found");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: no PriorityClass with name nope was found"
        );
        let generated = json!({"metadata": {"generateName": "web-"}, "spec": {}});
        assert!(
            forbidden(&generated, "x")
                .message
                .starts_with("pods \"web-\" is forbidden")
        );
    }

    #[test]
    fn a_clients_own_priority_or_policy_must_match_the_class() {
        let high = (*class("high", 1000, false, Some("Never"))).clone();
        let table: Vec<(&str, Value, Option<&Class>, Option<&str>)> = vec![
            ("nothing given", json!({}), Some(&high), None),
            (
                "the class's own values given",
                json!({"priority": 1000, "preemptionPolicy": "Never"}),
                Some(&high),
                None,
            ),
            (
                "another priority",
                json!({"priority": 5}),
                Some(&high),
                Some(
                    "the integer value of priority (5) must not be provided in pod spec; \
                     priority admission controller computed 1000 from the given PriorityClass name",
                ),
            ),
            (
                "another policy",
                json!({"preemptionPolicy": "PreemptLowerPriority"}),
                Some(&high),
                Some(
                    "the string value of PreemptionPolicy (PreemptLowerPriority) must not be \
                     provided in pod spec; priority admission controller computed Never from \
                     the given PriorityClass name",
                ),
            ),
            (
                "no class, priority 0 given",
                json!({"priority": 0}),
                None,
                None,
            ),
            (
                "no class, another priority",
                json!({"priority": 7}),
                None,
                Some(
                    "the integer value of priority (7) must not be provided in pod spec; \
                     priority admission controller computed 0 from the given PriorityClass name",
                ),
            ),
            (
                "no class, Never",
                json!({"preemptionPolicy": "Never"}),
                None,
                Some(
                    "the string value of PreemptionPolicy (Never) must not be provided in pod \
                     spec; priority admission controller computed PreemptLowerPriority from the \
                     given PriorityClass name",
                ),
            ),
        ];
        for (case, spec, class, want) in table {
            let pod = json!({"spec": spec});
            let got = client_mismatch(&pod, &Resolved::from(class));
            assert_eq!(got.as_deref(), want, "{case}");
        }
    }
}
