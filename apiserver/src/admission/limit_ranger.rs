//! `LimitRanger`: the namespace's LimitRanges applied to pods and claims (upstream's
//! `plugin/pkg/admission/limitranger`). Its mutating half fills a new pod's missing
//! container requests and limits from `type: Container` items (`defaultRequest`,
//! `default`) and records what it set in the `kubernetes.io/limit-ranger` annotation;
//! its validating half refuses a pod or claim outside an item's `min`, `max` or
//! `maxLimitRequestRatio`, with upstream's 403 messages. Pod updates are left alone
//! (their containers cannot change), as are objects being deleted.

use std::collections::BTreeMap;

use capstan_quota::Quantity;
use capstan_quota::pod::{Side, all_containers, container_resources, pod_resources};
use capstan_quota::resources::{ResourceList, parse_list};
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, PersistentVolumeClaim, Pod};
use serde_json::{Map, Value, json};

use super::{Operation, decode};
use crate::kinds::KindInfo;
use crate::ops::meta::meta_str;
use crate::status::ApiError;
use crate::storage::{ResourceKey, Store, View};

/// The annotation naming the defaults the step set.
const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Largest value whose milli-value fits an int64 (`resource.MaxMilliValue`).
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

fn key() -> ResourceKey {
    ResourceKey::new("", "limitranges")
}

/// Which of the step's objects a write is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Pod,
    Claim,
}

fn target(kind: &KindInfo, op: Operation, old: Option<&Value>) -> Option<Target> {
    if !kind.group.is_empty()
        || old.is_some_and(|o| o.pointer("/metadata/deletionTimestamp").is_some())
    {
        return None;
    }
    match (kind.plural.as_str(), op) {
        ("pods", Operation::Create) => Some(Target::Pod),
        ("persistentvolumeclaims", _) => Some(Target::Claim),
        _ => None,
    }
}

/// Fills a new pod's missing requests and limits from the namespace's LimitRanges.
pub(super) fn admit(
    store: &Store,
    kind: &KindInfo,
    op: Operation,
    pod: &mut Value,
) -> Result<(), ApiError> {
    if target(kind, op, None) != Some(Target::Pod) {
        return Ok(());
    }
    let ns = meta_str(pod, "namespace").unwrap_or("").to_string();
    let page = store.list(&key(), Some(&ns), None, None, &|_| true);
    if page.items.is_empty() {
        return Ok(());
    }
    for stored in page.items {
        let range: LimitRange = decode(&stored.value()?)?;
        set_defaults(pod, &range);
    }
    // The pod's QoS class follows its resources as admission left them (upstream
    // computes it after admission).
    let qos = crate::defaults::pod::pod_qos_class(pod.get("spec").unwrap_or(&Value::Null));
    if let Some(status) = pod.get_mut("status").and_then(Value::as_object_mut)
        && status.contains_key("qosClass")
    {
        status.insert("qosClass".into(), json!(qos));
    }
    Ok(())
}

/// The defaults of a range's `Container` items: requests and limits by resource
/// (`defaultContainerResourceRequirements`; a later item wins a name).
fn container_defaults(range: &LimitRange) -> (Map<String, Value>, Map<String, Value>) {
    let (mut requests, mut limits) = (Map::new(), Map::new());
    let items = range
        .spec
        .as_ref()
        .map(|s| &s.limits[..])
        .unwrap_or_default();
    for item in items.iter().filter(|i| i.type_ == "Container") {
        for (k, v) in item.default_request.iter().flatten() {
            requests.insert(k.clone(), json!(v.0));
        }
        for (k, v) in item.default.iter().flatten() {
            limits.insert(k.clone(), json!(v.0));
        }
    }
    (requests, limits)
}

/// Sets one range's defaults on every container and init container lacking them, and
/// records them in the annotation (`mergePodResourceRequirements`).
fn set_defaults(pod: &mut Value, range: &LimitRange) {
    let (requests, limits) = container_defaults(range);
    let mut notes = Vec::new();
    for (list, what) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(containers) = pod
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in containers.iter_mut() {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let set_requests = fill(c, "requests", &requests);
            let set_limits = fill(c, "limits", &limits);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {what} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!("{} limit for {what} {name}", set_limits.join(", ")));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let value = format!("LimitRanger plugin set: {}", notes.join("; "));
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(ANNOTATION.into(), json!(value));
        }
    }
}

/// Adds the `defaults` missing from a container's `resources.<section>`; answers the
/// names set, sorted.
fn fill(container: &mut Value, section: &str, defaults: &Map<String, Value>) -> Vec<String> {
    if defaults.is_empty() {
        return Vec::new();
    }
    let Some(c) = container.as_object_mut() else {
        return Vec::new();
    };
    let resources = c.entry("resources").or_insert_with(|| json!({}));
    let Some(resources) = resources.as_object_mut() else {
        return Vec::new();
    };
    let list = resources.entry(section).or_insert_with(|| json!({}));
    let Some(list) = list.as_object_mut() else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for (k, v) in defaults {
        if !list.contains_key(k) {
            list.insert(k.clone(), v.clone());
            set.push(k.clone());
        }
    }
    set.sort();
    set
}

/// Refuses a pod or claim outside one of the namespace's LimitRanges.
pub(super) fn validate(
    view: &View<'_>,
    kind: &KindInfo,
    op: Operation,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(target) = target(kind, op, old) else {
        return Ok(());
    };
    let ns = meta_str(new, "namespace").unwrap_or("");
    let mut ranges = view.in_namespace(&key(), ns).peekable();
    if ranges.peek().is_none() {
        return Ok(());
    }
    let problems = |range: &LimitRange| -> Result<Vec<String>, ApiError> {
        Ok(match target {
            Target::Pod => pod_problems(range, &decode::<Pod>(new)?),
            Target::Claim => claim_problems(range, &decode::<PersistentVolumeClaim>(new)?),
        })
    };
    for stored in ranges {
        let range: LimitRange = decode(&stored.value()?)?;
        let found = problems(&range)?;
        if !found.is_empty() {
            let name = meta_str(new, "name")
                .filter(|n| !n.is_empty())
                .or_else(|| meta_str(new, "generateName"))
                .unwrap_or("");
            return Err(ApiError::forbidden(
                "",
                &kind.plural,
                name,
                &aggregate(&found),
            ));
        }
    }
    Ok(())
}

/// Several messages as one, deduplicated (`utilerrors.NewAggregate(...).Error()`).
fn aggregate(messages: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        if !seen.contains(&m.as_str()) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Request, limit and enforced values at the finest common precision
/// (`requestLimitEnforcedValues`).
fn comparable(
    request: Option<&Quantity>,
    limit: Option<&Quantity>,
    enforced: &Quantity,
) -> (i64, i64, i64) {
    let zero = Quantity::ZERO;
    let (r, l) = (request.unwrap_or(&zero), limit.unwrap_or(&zero));
    if [r, l, enforced]
        .iter()
        .all(|q| q.value() <= MAX_MILLI_VALUE)
    {
        (r.milli_value(), l.milli_value(), enforced.milli_value())
    } else {
        (r.value(), l.value(), enforced.value())
    }
}

/// What an item bounds: which kind of object and the requests and limits it has.
struct Observed<'a> {
    kind: &'a str,
    requests: &'a ResourceList,
    limits: &'a ResourceList,
}

fn min_problem(o: &Observed<'_>, name: &str, min: &Quantity) -> Option<String> {
    let (req, lim) = (o.requests.get(name), o.limits.get(name));
    let (r, l, e) = comparable(req, lim, min);
    let kind = o.kind;
    match (req, lim) {
        (None, _) => Some(format!(
            "minimum {name} usage per {kind} is {min}.  No request is specified"
        )),
        (Some(req), _) if r < e => Some(format!(
            "minimum {name} usage per {kind} is {min}, but request is {req}"
        )),
        (_, Some(lim)) if l < e => Some(format!(
            "minimum {name} usage per {kind} is {min}, but limit is {lim}"
        )),
        _ => None,
    }
}

fn max_problem(o: &Observed<'_>, name: &str, max: &Quantity) -> Option<String> {
    let (req, lim) = (o.requests.get(name), o.limits.get(name));
    let (r, l, e) = comparable(req, lim, max);
    let kind = o.kind;
    match (req, lim) {
        (_, None) => Some(format!(
            "maximum {name} usage per {kind} is {max}.  No limit is specified"
        )),
        (_, Some(lim)) if l > e => Some(format!(
            "maximum {name} usage per {kind} is {max}, but limit is {lim}"
        )),
        (Some(req), _) if r > e => Some(format!(
            "maximum {name} usage per {kind} is {max}, but request is {req}"
        )),
        _ => None,
    }
}

/// `max` against the request alone, for claims (`maxRequestConstraint`).
fn max_request_problem(o: &Observed<'_>, name: &str, max: &Quantity) -> Option<String> {
    let req = o.requests.get(name);
    let (r, _, e) = comparable(req, None, max);
    let kind = o.kind;
    match req {
        None => Some(format!(
            "maximum {name} usage per {kind} is {max}.  No request is specified"
        )),
        Some(req) if r > e => Some(format!(
            "maximum {name} usage per {kind} is {max}, but request is {req}"
        )),
        _ => None,
    }
}

fn ratio_problem(o: &Observed<'_>, name: &str, max_ratio: &Quantity) -> Option<String> {
    let (req, lim) = (o.requests.get(name), o.limits.get(name));
    let (r, l, _) = comparable(req, lim, max_ratio);
    let kind = o.kind;
    if req.is_none() || r == 0 {
        return Some(format!(
            "{name} max limit to request ratio per {kind} is {max_ratio}, but no request is specified or request is 0"
        ));
    }
    if lim.is_none() || l == 0 {
        return Some(format!(
            "{name} max limit to request ratio per {kind} is {max_ratio}, but no limit is specified or limit is 0"
        ));
    }
    let shown = l as f64 / r as f64;
    let (observed, allowed) = if max_ratio.value() <= MAX_MILLI_VALUE {
        (shown * 1000.0, max_ratio.milli_value() as f64)
    } else {
        (shown, max_ratio.value() as f64)
    };
    (observed > allowed).then(|| {
        format!("{name} max limit to request ratio per {kind} is {max_ratio}, but provided ratio is {shown:.6}")
    })
}

/// One kind of bound (`min`, `max`, `maxLimitRequestRatio`): the problem it finds
/// with an observed resource, if any.
type Bound = fn(&Observed<'_>, &str, &Quantity) -> Option<String>;

/// An item's bound lists, parsed (an unparsable one bounds nothing: validation keeps
/// them out of storage).
fn bounds(item: &LimitRangeItem) -> [(Bound, ResourceList); 3] {
    let parse = |l: Option<&BTreeMap<_, _>>| parse_list(l).unwrap_or_default();
    [
        (min_problem, parse(item.min.as_ref())),
        (max_problem, parse(item.max.as_ref())),
        (ratio_problem, parse(item.max_limit_request_ratio.as_ref())),
    ]
}

fn check(o: &Observed<'_>, item: &LimitRangeItem, out: &mut Vec<String>) {
    for (problem, list) in bounds(item) {
        out.extend(list.iter().filter_map(|(name, q)| problem(o, name, q)));
    }
}

/// A pod's problems with one range (`PodValidateLimitFunc`): each container and init
/// container against `Container` items, the pod's aggregate against `Pod` items.
fn pod_problems(range: &LimitRange, pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    let items = range
        .spec
        .as_ref()
        .map(|s| &s.limits[..])
        .unwrap_or_default();
    for item in items {
        match item.type_.as_str() {
            "Container" => {
                for c in all_containers(pod) {
                    let requests = container_resources(c, Side::Requests).unwrap_or_default();
                    let limits = container_resources(c, Side::Limits).unwrap_or_default();
                    let o = Observed {
                        kind: "Container",
                        requests: &requests,
                        limits: &limits,
                    };
                    check(&o, item, &mut out);
                }
            }
            "Pod" => {
                let requests = pod_resources(pod, Side::Requests, false).unwrap_or_default();
                let limits = pod_resources(pod, Side::Limits, false).unwrap_or_default();
                let o = Observed {
                    kind: "Pod",
                    requests: &requests,
                    limits: &limits,
                };
                check(&o, item, &mut out);
            }
            _ => {}
        }
    }
    out
}

/// A claim's problems with one range (`PersistentVolumeClaimValidateLimitFunc`): its
/// storage request against `PersistentVolumeClaim` items' `min` and `max`.
fn claim_problems(range: &LimitRange, claim: &PersistentVolumeClaim) -> Vec<String> {
    let requests = parse_list(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
    .unwrap_or_default();
    let no_limits = ResourceList::new();
    let o = Observed {
        kind: "PersistentVolumeClaim",
        requests: &requests,
        limits: &no_limits,
    };
    let items = range
        .spec
        .as_ref()
        .map(|s| &s.limits[..])
        .unwrap_or_default();
    let mut out = Vec::new();
    for item in items.iter().filter(|i| i.type_ == "PersistentVolumeClaim") {
        let [(_, min), (_, max), _] = bounds(item);
        out.extend(min.iter().filter_map(|(n, q)| min_problem(&o, n, q)));
        out.extend(
            max.iter()
                .filter_map(|(n, q)| max_request_problem(&o, n, q)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(items: Value) -> LimitRange {
        decode(&json!({"metadata": {"name": "lr"}, "spec": {"limits": items}})).unwrap()
    }

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}, "status": {"phase": "Pending", "qosClass": "BestEffort"}})
    }

    #[test]
    fn container_defaults_fill_only_what_is_missing_and_are_annotated() {
        let lr = range(json!([{"type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "64Mi"}}]));
        let mut p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "200m"}}},
            {"name": "b"}
        ]));
        set_defaults(&mut p, &lr);
        assert_eq!(
            p["spec"]["containers"][0]["resources"],
            json!({"requests": {"cpu": "200m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}})
        );
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: memory request for container a; cpu, memory limit for container a; \
             cpu, memory request for container b; cpu, memory limit for container b"
        );
    }

    #[test]
    fn pods_outside_container_and_pod_bounds_are_described_as_upstream_does() {
        let lr = range(json!([
            {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}},
            {"type": "Pod", "max": {"cpu": "1"}}
        ]));
        let p: Pod = decode(&pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "50m", "memory": "2Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "600m"}, "limits": {"cpu": "1200m", "memory": "512Mi"}}}
        ])))
        .unwrap();
        assert_eq!(
            pod_problems(&lr, &p),
            [
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum memory usage per Container is 1Gi, but limit is 2Gi",
                "cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000",
                "maximum cpu usage per Pod is 1, but limit is 1700m",
            ]
        );
        assert_eq!(
            aggregate(&pod_problems(&lr, &p)[..1]),
            "minimum cpu usage per Container is 100m, but request is 50m"
        );
    }

    #[test]
    fn missing_values_are_named() {
        let lr = range(
            json!([{"type": "Container", "min": {"memory": "1Mi"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"memory": "1"}}]),
        );
        let p: Pod = decode(&pod(json!([{"name": "a"}]))).unwrap();
        assert_eq!(
            aggregate(&pod_problems(&lr, &p)),
            "[minimum memory usage per Container is 1Mi.  No request is specified, \
             maximum cpu usage per Container is 1.  No limit is specified, \
             memory max limit to request ratio per Container is 1, but no request is specified or request is 0]"
        );
    }

    #[test]
    fn claims_are_bounded_by_their_storage_request() {
        let lr = range(
            json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]),
        );
        let claim = |size: &str| -> PersistentVolumeClaim {
            decode(&json!({"spec": {"resources": {"requests": {"storage": size}}}})).unwrap()
        };
        assert_eq!(
            claim_problems(&lr, &claim("500Mi")),
            ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]
        );
        assert_eq!(
            claim_problems(&lr, &claim("20Gi")),
            ["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]
        );
        assert!(claim_problems(&lr, &claim("5Gi")).is_empty());
    }
}
