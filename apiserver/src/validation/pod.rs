//! Pods (`ValidatePodSpec`, `ValidatePodUpdate`): containers, images, ports, resources,
//! policies, volumes and mounts, and the little a pod update may change. Pod templates of
//! workloads go through the same spec checks.

use std::collections::{BTreeMap, HashSet};

use capstan_quota::Quantity;
use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};
use crate::names::{is_dns1123_label, is_dns1123_subdomain, is_env_var_name, port_name_errors};

use super::meta::validate_labels;
use super::rules::{validate_nonnegative, validate_unique_label};

pub(super) const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];

pub(super) fn validate_port_number(
    v: &Value,
    field: &str,
    allow_zero: bool,
    errs: &mut Vec<FieldError>,
) {
    match v {
        Value::Null if allow_zero => {}
        Value::Null => errs.push(FieldError::required(field, "")),
        Value::Number(n) => {
            let p = n.as_i64().unwrap_or(-1);
            if p == 0 && allow_zero {
                return;
            }
            if p == 0 {
                errs.push(FieldError::required(field, ""));
            } else if !(1..=65535).contains(&p) {
                errs.push(FieldError::invalid(
                    field,
                    v.clone(),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        other => errs.push(FieldError::type_invalid(
            field,
            other.clone(),
            "must be an integer",
        )),
    }
}

/// `ValidatePodSpec` (the parts clients hit): containers, names, images, ports,
/// policies, volumes and mounts.
/// `ValidatePodCreate`/`ValidatePodUpdate` beyond metadata.
pub(crate) fn validate_pod(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_pod_spec(at(new, &["spec"]), "spec", errs);
    match old {
        Some(old) => validate_pod_update(new, old, errs),
        // `ValidatePodCreate`: ephemeral containers come through their subresource.
        None if !array_at(new, &["spec", "ephemeralContainers"]).is_empty() => errs.push(
            FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create"),
        ),
        None => {}
    }
}

/// Container fields an ephemeral container may not set (`allowedEphemeralContainerFields`
/// lists them `false`): they would make it part of the workload.
const EPHEMERAL_FORBIDDEN_FIELDS: &[&str] = &[
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// Whether a JSON value is what Go decodes to its zero value (null, false, 0, "", and
/// arrays and objects holding nothing else).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

/// `validateEphemeralContainers`: each is a valid container whose name is unique among
/// all the pod's containers, that targets an existing (non-ephemeral) container if it
/// names one, and sets none of the fields ephemeral containers may not have.
fn validate_ephemeral_containers(
    spec: &Value,
    path: &str,
    volumes: &HashSet<String>,
    names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let others = names.clone();
    for (i, c) in array_at(spec, &["ephemeralContainers"]).iter().enumerate() {
        let cpath = format!("{path}.ephemeralContainers[{i}]");
        validate_container(c, &cpath, volumes, names, errs);
        let target = str_at(c, &["targetContainerName"]);
        if !target.is_empty() && !others.contains(target) {
            errs.push(FieldError::not_found(
                &format!("{cpath}.targetContainerName"),
                json!(target),
            ));
        }
        for field in EPHEMERAL_FORBIDDEN_FIELDS {
            if !is_zero(at(c, &[field])) {
                errs.push(FieldError::forbidden(
                    &format!("{cpath}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for (j, m) in array_at(c, &["volumeMounts"]).iter().enumerate() {
            for field in ["subPath", "subPathExpr"] {
                if !str_at(m, &[field]).is_empty() {
                    errs.push(FieldError::forbidden(
                        &format!("{cpath}.volumeMounts[{j}].{field}"),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
}

/// `ValidatePodEphemeralContainersUpdate`: the pod's spec is valid, it is not a static
/// (mirror) pod, and the ephemeral containers it had are all still there unchanged.
pub(crate) fn validate_ephemeral_containers_update(
    new: &Value,
    old: &Value,
    errs: &mut Vec<FieldError>,
) {
    if at(old, &["metadata", "annotations", MIRROR_POD_ANNOTATION]).is_string() {
        errs.clear();
        errs.push(FieldError::forbidden(
            "",
            "static pods do not support ephemeral containers",
        ));
        return;
    }
    validate_pod_spec(at(new, &["spec"]), "spec", errs);
    let new_containers = array_at(new, &["spec", "ephemeralContainers"]);
    for o in array_at(old, &["spec", "ephemeralContainers"]) {
        let name = str_at(o, &["name"]);
        match new_containers.iter().find(|n| str_at(n, &["name"]) == name) {
            None => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(n) if n != o => errs.push(FieldError::forbidden(
                &format!("spec.ephemeralContainers[{name}]"),
                &format!("existing ephemeral containers {name:?} may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
}

/// The annotation that marks a mirror pod (the API copy of a node's static pod).
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub(super) fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let mut volume_names = HashSet::new();
    for (i, v) in array_at(spec, &["volumes"]).iter().enumerate() {
        let vpath = format!("{path}.volumes[{i}].name");
        let name = str_at(v, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(&vpath, ""));
        } else {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&vpath, json!(name), &m));
            }
            if !volume_names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(&vpath, json!(name)));
            }
        }
    }
    let containers = array_at(spec, &["containers"]);
    if containers.is_empty() {
        errs.push(FieldError::required(&format!("{path}.containers"), ""));
    }
    let mut names = HashSet::new();
    for field in ["initContainers", "containers"] {
        for (i, c) in array_at(spec, &[field]).iter().enumerate() {
            validate_container(
                c,
                &format!("{path}.{field}[{i}]"),
                &volume_names,
                &mut names,
                errs,
            );
        }
    }
    validate_ephemeral_containers(spec, path, &volume_names, &mut names, errs);
    let restart = str_at(spec, &["restartPolicy"]);
    if !RESTART_POLICIES.contains(&restart) {
        if restart.is_empty() {
            errs.push(FieldError::required(&format!("{path}.restartPolicy"), ""));
        } else {
            errs.push(FieldError::not_supported(
                &format!("{path}.restartPolicy"),
                json!(restart),
                RESTART_POLICIES,
            ));
        }
    }
    let dns = str_at(spec, &["dnsPolicy"]);
    let dns_policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    if !dns.is_empty() && !dns_policies.contains(&dns) {
        errs.push(FieldError::not_supported(
            &format!("{path}.dnsPolicy"),
            json!(dns),
            &dns_policies,
        ));
    }
    if let Some(ads) = at(spec, &["activeDeadlineSeconds"]).as_i64()
        && !(1..=i32::MAX as i64).contains(&ads)
    {
        errs.push(FieldError::invalid(
            &format!("{path}.activeDeadlineSeconds"),
            json!(ads),
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    validate_nonnegative(
        at(spec, &["terminationGracePeriodSeconds"]),
        &format!("{path}.terminationGracePeriodSeconds"),
        errs,
    );
    let node = str_at(spec, &["nodeName"]);
    if !node.is_empty() {
        for m in is_dns1123_subdomain(node) {
            errs.push(FieldError::invalid(
                &format!("{path}.nodeName"),
                json!(node),
                &m,
            ));
        }
    }
    validate_labels(
        at(spec, &["nodeSelector"]),
        &format!("{path}.nodeSelector"),
        errs,
    );
}

fn validate_container(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let name = str_at(c, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(&format!("{path}.name"), ""));
    } else {
        validate_unique_label(name, &format!("{path}.name"), names, errs);
    }
    if str_at(c, &["image"]).trim().is_empty() {
        errs.push(FieldError::required(&format!("{path}.image"), ""));
    }
    let pull = str_at(c, &["imagePullPolicy"]);
    let pull_policies = ["Always", "IfNotPresent", "Never"];
    if !pull.is_empty() && !pull_policies.contains(&pull) {
        errs.push(FieldError::not_supported(
            &format!("{path}.imagePullPolicy"),
            json!(pull),
            &pull_policies,
        ));
    }
    let mut port_names = HashSet::new();
    for (i, p) in array_at(c, &["ports"]).iter().enumerate() {
        let ppath = format!("{path}.ports[{i}]");
        validate_port_number(
            at(p, &["containerPort"]),
            &format!("{ppath}.containerPort"),
            false,
            errs,
        );
        validate_port_number(
            at(p, &["hostPort"]),
            &format!("{ppath}.hostPort"),
            true,
            errs,
        );
        validate_protocol(p, &ppath, errs);
        let pname = str_at(p, &["name"]);
        if !pname.is_empty() {
            for m in port_name_errors(pname) {
                errs.push(FieldError::invalid(
                    &format!("{ppath}.name"),
                    json!(pname),
                    &m,
                ));
            }
            if !port_names.insert(pname.to_string()) {
                errs.push(FieldError::duplicate(
                    &format!("{ppath}.name"),
                    json!(pname),
                ));
            }
        }
    }
    for (i, e) in array_at(c, &["env"]).iter().enumerate() {
        let epath = format!("{path}.env[{i}].name");
        let ename = str_at(e, &["name"]);
        if ename.is_empty() {
            errs.push(FieldError::required(&epath, ""));
        } else {
            for m in is_env_var_name(ename) {
                errs.push(FieldError::invalid(&epath, json!(ename), &m));
            }
        }
    }
    validate_resources(at(c, &["resources"]), &format!("{path}.resources"), errs);
    for (i, m) in array_at(c, &["volumeMounts"]).iter().enumerate() {
        let mpath = format!("{path}.volumeMounts[{i}]");
        let vname = str_at(m, &["name"]);
        if vname.is_empty() {
            errs.push(FieldError::required(&format!("{mpath}.name"), ""));
        } else if !volumes.contains(vname) {
            errs.push(FieldError::not_found(
                &format!("{mpath}.name"),
                json!(vname),
            ));
        }
        if str_at(m, &["mountPath"]).is_empty() {
            errs.push(FieldError::required(&format!("{mpath}.mountPath"), ""));
        }
    }
}

/// apimachinery's message for a string that is not a quantity.
pub(crate) const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Parses a `resource.Quantity` (`100m`, `1Gi`, `1.5`, `2e3`) exactly; `None` when
/// malformed.
pub fn parse_quantity(q: &str) -> Option<Quantity> {
    Quantity::parse(q).ok()
}

fn quantity_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `ValidateResourceRequirements`: quantities well-formed and non-negative, requests not
/// above limits.
fn validate_resources(res: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let mut parsed = BTreeMap::new();
    for section in ["limits", "requests"] {
        let Some(map) = at(res, &[section]).as_object() else {
            continue;
        };
        for (name, qty) in map {
            let field = format!("{path}.{section}[{name}]");
            let text = quantity_text(qty);
            match parse_quantity(&text) {
                None => errs.push(FieldError::invalid(&field, json!(text), QUANTITY_FORMAT)),
                Some(v) if v.signum() < 0 => errs.push(FieldError::invalid(
                    &field,
                    json!(text),
                    "must be greater than or equal to 0",
                )),
                Some(v) => {
                    parsed.insert((section, name.clone()), (v, text));
                }
            }
        }
    }
    for ((section, name), (value, text)) in &parsed {
        if *section != "requests" {
            continue;
        }
        if let Some((limit, limit_text)) = parsed.get(&("limits", name.clone()))
            && value > limit
        {
            errs.push(FieldError::invalid(
                &format!("{path}.requests[{name}]"),
                json!(text),
                &format!("must be less than or equal to {name} limit of {limit_text}"),
            ));
        }
    }
}

pub(super) fn validate_protocol(p: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let proto = str_at(p, &["protocol"]);
    let protocols = ["SCTP", "TCP", "UDP"];
    if proto.is_empty() {
        errs.push(FieldError::required(&format!("{path}.protocol"), ""));
    } else if !protocols.contains(&proto) {
        errs.push(FieldError::not_supported(
            &format!("{path}.protocol"),
            json!(proto),
            &protocols,
        ));
    }
}

/// The message upstream gives when a pod update changes an immutable part of the spec.
pub const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate`: only images, activeDeadlineSeconds, added tolerations,
/// terminationGracePeriodSeconds and removed scheduling gates may change.
pub(super) fn validate_pod_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let new_spec = at(new, &["spec"]);
    let old_spec = at(old, &["spec"]);
    // activeDeadlineSeconds may be added or lowered, never removed or raised.
    let (na, oa) = (
        at(new_spec, &["activeDeadlineSeconds"]).as_i64(),
        at(old_spec, &["activeDeadlineSeconds"]).as_i64(),
    );
    if let Some(o) = oa {
        match na {
            None => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                Value::Null,
                "must not update from a positive integer to nil value",
            )),
            Some(n) if n > o => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                json!(n),
                "must be less than or equal to previous value",
            )),
            _ => {}
        }
    }
    // Tolerations: existing ones must be kept.
    let new_tol = array_at(new_spec, &["tolerations"]);
    for t in array_at(old_spec, &["tolerations"]) {
        if !new_tol.contains(t) {
            errs.push(FieldError::forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    // Compare with the mutable fields taken from the old spec.
    let mut normalized = new_spec.clone();
    if let Some(m) = normalized.as_object_mut() {
        for field in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "schedulingGates",
        ] {
            match old_spec.get(field) {
                Some(v) => {
                    m.insert(field.into(), v.clone());
                }
                None => {
                    m.remove(field);
                }
            }
        }
        for field in ["containers", "initContainers"] {
            let old_containers = array_at(old_spec, &[field]);
            if let Some(cs) = m.get_mut(field).and_then(|c| c.as_array_mut())
                && cs.len() == old_containers.len()
            {
                for (c, oc) in cs.iter_mut().zip(old_containers) {
                    if let (Some(cm), Some(img)) = (c.as_object_mut(), oc.get("image")) {
                        cm.insert("image".into(), img.clone());
                    }
                }
            }
        }
        // Scheduling gates may only be removed, and nodeSelector/affinity only set while
        // gated: allow removals of gates.
        if let Some(new_gates) = new_spec.get("schedulingGates").and_then(|g| g.as_array()) {
            let old_gates = array_at(old_spec, &["schedulingGates"]);
            if new_gates.iter().any(|g| !old_gates.contains(g)) {
                errs.push(FieldError::forbidden(
                    "spec.schedulingGates",
                    "only deletion is allowed, but found new scheduling gate",
                ));
            }
        }
    }
    if normalized != *old_spec {
        errs.push(FieldError::forbidden("spec", POD_UPDATE_FORBIDDEN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, check_update};

    #[test]
    fn pod_rules() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [
            {"name": "a", "ports": [{"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}]},
            {"name": "a", "image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/m"}]},
            {"image": "x"}
        ], "restartPolicy": "Sometimes", "activeDeadlineSeconds": 0}});
        let errs = check("", "pods", pod);
        let expected = [
            "spec.containers[0].image: Required value",
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[1].name: Duplicate value: \"a\"",
            "spec.containers[1].volumeMounts[0].name: Not found: \"missing\"",
            "spec.containers[2].name: Required value",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
        ];
        for e in expected {
            assert!(errs.iter().any(|x| x == e), "missing {e}\n got {errs:#?}");
        }
        assert_eq!(errs.len(), expected.len(), "{errs:#?}");
        let empty = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {}});
        assert_eq!(
            check("", "pods", empty),
            ["spec.containers: Required value"]
        );
    }

    #[test]
    fn ephemeral_containers_come_only_through_their_subresource_and_stay() {
        use crate::validation::testing::kind;
        let old = json!({"metadata": {"name": "p", "namespace": "d", "uid": "1"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "initContainers": [{"name": "i", "image": "x"}],
                "restartPolicy": "Always"}});
        let mut created = old.clone();
        created["spec"]["ephemeralContainers"] = json!([{"name": "e", "image": "busybox"}]);
        assert_eq!(
            check("", "pods", created),
            ["spec.ephemeralContainers: Forbidden: cannot be set on create"]
        );
        let pods = kind("", "pods");
        let update = |old: &Value, ephemeral: Value| {
            let mut new = old.clone();
            new["spec"]["ephemeralContainers"] = ephemeral;
            crate::validation::validate_ephemeral_containers(&pods, &new, old)
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        };
        let debugger = json!({"name": "debugger", "image": "busybox", "targetContainerName": "c",
            "resources": {}, "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}}});
        assert_eq!(update(&old, json!([debugger])), Vec::<String>::new());
        assert_eq!(
            update(
                &old,
                json!([
                    {"name": "c", "image": "busybox", "targetContainerName": "nope",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}], "readinessProbe": {"exec": {"command": ["true"]}},
                     "resources": {"limits": {"cpu": "1"}},
                     "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "x"}]},
                    {"name": "i", "image": "busybox"},
                ])
            ),
            [
                "spec.ephemeralContainers[0].name: Duplicate value: \"c\"",
                "spec.ephemeralContainers[0].volumeMounts[0].name: Not found: \"v\"",
                "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
                "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[1].name: Duplicate value: \"i\"",
            ]
        );
        let mut with_one = old.clone();
        with_one["spec"]["ephemeralContainers"] = json!([debugger]);
        let mut changed = debugger.clone();
        changed["image"] = json!("alpine");
        assert_eq!(
            update(&with_one, json!([changed])),
            [
                "spec.ephemeralContainers[debugger]: Forbidden: existing ephemeral containers \"debugger\" may not be changed\n"
            ]
        );
        assert_eq!(
            update(&with_one, json!([])),
            [
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be removed\n"
            ]
        );
        let mut mirror = old.clone();
        mirror["metadata"]["annotations"] = json!({MIRROR_POD_ANNOTATION: "hash"});
        assert_eq!(
            update(&mirror, json!([debugger])),
            [": Forbidden: static pods do not support ephemeral containers"]
        );
    }

    #[test]
    fn pod_update_rules() {
        let old = json!({"metadata": {"name": "p", "namespace": "d", "uid": "1"},
            "spec": {"containers": [{"name": "a", "image": "nginx:1"}], "tolerations": [{"key": "k", "operator": "Exists"}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["activeDeadlineSeconds"] = json!(30);
        new["spec"]["tolerations"] =
            json!([{"key": "k", "operator": "Exists"}, {"key": "k2", "operator": "Exists"}]);
        new["metadata"]["labels"] = json!({"a": "b"});
        assert!(check_update("", "pods", old.clone(), new).is_empty());
        let mut new = old.clone();
        new["spec"]["containers"][0]["name"] = json!("b");
        assert_eq!(
            check_update("", "pods", old.clone(), new),
            [format!("spec: Forbidden: {POD_UPDATE_FORBIDDEN}")]
        );
        let mut new = old.clone();
        new["spec"]["tolerations"] = json!([]);
        let errs = check_update("", "pods", old.clone(), new);
        assert!(errs.contains(&"spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds".to_string()));
        let mut new = old.clone();
        new["metadata"]["uid"] = json!("2");
        assert_eq!(
            check_update("", "pods", old, new),
            ["metadata.uid: Invalid value: \"2\": field is immutable"]
        );
    }

    #[test]
    fn resource_requirements() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "a", "image": "i",
            "resources": {"limits": {"cpu": "1", "memory": "-1Mi"}, "requests": {"cpu": "1500m", "memory": "1Gi", "ephemeral-storage": "lots"}}}]}});
        let errs = check("", "pods", pod);
        assert_eq!(
            errs,
            [
                "spec.containers[0].resources.limits[memory]: Invalid value: \"-1Mi\": must be greater than or equal to 0",
                "spec.containers[0].resources.requests[ephemeral-storage]: Invalid value: \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"1500m\": must be less than or equal to cpu limit of 1",
            ]
        );
        let q = |s: &str| parse_quantity(s).map(|q| q.milli_value());
        assert_eq!(q("100m"), Some(100));
        assert_eq!(q("2Gi"), Some(2 * 1024 * 1024 * 1024 * 1000));
        assert_eq!(q("1e3"), Some(1_000_000));
        assert_eq!(q("1.5"), Some(1500));
        assert_eq!(q("1Xi"), None);
    }
}
