//! Validation of served objects as kube-apiserver does it (`pkg/apis/*/validation`),
//! reporting `field.Error`s with upstream's wording, and the `422 Invalid` `Status` built
//! from them (`apierrors.NewInvalid`).
//!
//! Custom resources get metadata validation here; their schema validation and pruning is
//! [`crate::crd::validate_and_prune`].

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use crate::field_error::{FieldError, go_quote};

use crate::json::{array_at, at, str_at};
use crate::kinds::KindInfo;
use crate::names::{
    NameRule, is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_env_var_name,
    is_qualified_name, is_valid_label_value, name_errors, port_name_errors,
};

/// The `422 Unprocessable Entity` `Status` for `errors` on the object `name` of `kind`
/// (`Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: …`), with one
/// `details.causes` entry per error.
pub fn invalid_status(kind: &KindInfo, name: &str, errors: &[FieldError]) -> Value {
    let qualified = if kind.group.is_empty() {
        kind.kind.clone()
    } else {
        format!("{}.{}", kind.kind, kind.group)
    };
    let mut seen = HashSet::new();
    let messages: Vec<String> = errors
        .iter()
        .map(|e| e.to_string())
        .filter(|m| seen.insert(m.clone()))
        .collect();
    let message = match messages.len() {
        0 => format!("{qualified} {} is invalid", go_quote(name)),
        1 => format!("{qualified} {} is invalid: {}", go_quote(name), messages[0]),
        _ => format!(
            "{qualified} {} is invalid: [{}]",
            go_quote(name),
            messages.join(", ")
        ),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.kind.cause(), "message": e.body(), "field": e.field}))
        .collect();
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !kind.group.is_empty() {
        details.insert("group".into(), json!(kind.group));
    }
    details.insert("kind".into(), json!(kind.kind));
    details.insert("causes".into(), Value::Array(causes));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

/// The name rule kube-apiserver applies to `kind`.
pub fn name_rule(kind: &KindInfo) -> NameRule {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

// ---------------------------------------------------------------------------------------
// Entry point

/// Validates `new` as an object of `kind`: a create when `old` is `None`, an update of
/// `old` otherwise (adding immutability rules). Returns every problem found; empty means
/// valid. Expects defaults to have been applied.
pub fn validate(kind: &KindInfo, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_object_meta(kind, new, old, &mut errs);
    if kind.is_custom() {
        return errs;
    }
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => {
            validate_pod_spec(at(new, &["spec"]), "spec", &mut errs);
            if let Some(old) = old {
                validate_pod_update(new, old, &mut errs);
            }
        }
        ("", "Service") => validate_service(new, old, &mut errs),
        ("", "ConfigMap") => validate_config_data(new, old, false, &mut errs),
        ("", "Secret") => validate_config_data(new, old, true, &mut errs),
        ("", "PersistentVolumeClaim") => validate_pvc(new, old, &mut errs),
        ("", "PersistentVolume") => validate_pv(new, &mut errs),
        ("", "ReplicationController") => validate_replication_controller(new, &mut errs),
        ("apps", "Deployment") => validate_deployment(new, old, &mut errs),
        ("apps", "ReplicaSet") => {
            validate_replicated(new, old, "ReplicaSet", true, &mut errs);
        }
        ("apps", "DaemonSet") => validate_daemonset(new, old, &mut errs),
        ("apps", "StatefulSet") => validate_statefulset(new, old, &mut errs),
        ("batch", "Job") => validate_job(new, old, &mut errs),
        ("batch", "CronJob") => validate_cronjob(new, &mut errs),
        ("policy", "PodDisruptionBudget") => validate_pdb(new, &mut errs),
        ("scheduling.k8s.io", "PriorityClass") => validate_priority_class(new, old, &mut errs),
        ("storage.k8s.io", "StorageClass") => validate_storage_class(new, old, &mut errs),
        ("discovery.k8s.io", "EndpointSlice") => validate_endpoint_slice(new, old, &mut errs),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            validate_role_binding(new, old, &mut errs)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            errs.extend(crate::crd::validate_crd(new, old));
        }
        _ => {}
    }
    errs
}

/// `ValidateObjectMeta` (+ `ValidateObjectMetaUpdate`): name or generateName, namespace
/// presence by scope, labels, annotations, and on update unchanged name/namespace/uid.
fn validate_object_meta(
    kind: &KindInfo,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let meta = at(obj, &["metadata"]);
    let rule = name_rule(kind);
    let name = str_at(meta, &["name"]);
    let generate = str_at(meta, &["generateName"]);
    if !generate.is_empty() {
        for m in name_errors(rule, generate, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                json!(generate),
                &m,
            ));
        }
    }
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in name_errors(rule, name, false) {
            errs.push(FieldError::invalid("metadata.name", json!(name), &m));
        }
    }
    if kind.kind == "CronJob" && kind.group == "batch" && name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be no more than 52 characters",
        ));
    }
    let ns = str_at(meta, &["namespace"]);
    if kind.namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for m in is_dns1123_label(ns) {
                errs.push(FieldError::invalid("metadata.namespace", json!(ns), &m));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    validate_labels(at(meta, &["labels"]), "metadata.labels", errs);
    validate_annotations(at(meta, &["annotations"]), "metadata.annotations", errs);
    if let Some(old) = old {
        let old_meta = at(old, &["metadata"]);
        for field in ["name", "namespace", "uid"] {
            let (n, o) = (str_at(meta, &[field]), str_at(old_meta, &[field]));
            if !o.is_empty() && n != o {
                errs.push(FieldError::invalid(
                    &format!("metadata.{field}"),
                    json!(n),
                    "field is immutable",
                ));
            }
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values valid label values.
pub fn validate_labels(labels: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = labels.as_object() else {
        return;
    };
    for (k, v) in map {
        for m in is_qualified_name(k) {
            errs.push(FieldError::invalid(field, json!(k), &m));
        }
        let value = v.as_str().unwrap_or("");
        for m in is_valid_label_value(value) {
            errs.push(FieldError::invalid(field, json!(value), &m));
        }
    }
}

/// Upstream's limit on the total size of an object's annotations.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), total size at
/// most 256 KiB.
pub fn validate_annotations(annotations: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = annotations.as_object() else {
        return;
    };
    let mut total = 0;
    for (k, v) in map {
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(field, json!(k), &m));
        }
        total += k.len() + v.as_str().map(|s| s.len()).unwrap_or(0);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

// ---------------------------------------------------------------------------------------
// Label selectors

/// `ValidateLabelSelector`: operators, values presence, matchLabels syntax.
fn validate_label_selector(sel: &Value, field: &str, errs: &mut Vec<FieldError>) {
    if sel.is_null() {
        return;
    }
    for (i, e) in array_at(sel, &["matchExpressions"]).iter().enumerate() {
        let path = format!("{field}.matchExpressions[{i}]");
        let values = array_at(e, &["values"]);
        match str_at(e, &["operator"]) {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &format!("{path}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &format!("{path}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                &format!("{path}.operator"),
                json!(op),
                "not a valid selector operator",
            )),
        }
        for m in is_qualified_name(str_at(e, &["key"])) {
            errs.push(FieldError::invalid(
                &format!("{path}.key"),
                json!(str_at(e, &["key"])),
                &m,
            ));
        }
    }
    validate_labels(
        at(sel, &["matchLabels"]),
        &format!("{field}.matchLabels"),
        errs,
    );
}

/// Whether a `metav1.LabelSelector` selects `labels`.
pub fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(|v| v.as_str());
    if let Some(m) = sel.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if get(k) != v.as_str() {
                return false;
            }
        }
    }
    for e in array_at(sel, &["matchExpressions"]) {
        let key = str_at(e, &["key"]);
        let values: Vec<&str> = array_at(e, &["values"])
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let ok = match str_at(e, &["operator"]) {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn selector_is_empty(sel: &Value) -> bool {
    sel.get("matchLabels")
        .and_then(|m| m.as_object())
        .is_none_or(|m| m.is_empty())
        && array_at(sel, &["matchExpressions"]).is_empty()
}

// ---------------------------------------------------------------------------------------
// Pods

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];

fn validate_nonnegative(v: &Value, field: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = v.as_i64()
        && n < 0
    {
        errs.push(FieldError::invalid(
            field,
            json!(n),
            "must be greater than or equal to 0",
        ));
    }
}

fn validate_port_number(v: &Value, field: &str, allow_zero: bool, errs: &mut Vec<FieldError>) {
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
fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
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
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(
                &format!("{path}.name"),
                json!(name),
                &m,
            ));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&format!("{path}.name"), json!(name)));
        }
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

/// Parses a `resource.Quantity` (`100m`, `1Gi`, `1.5`, `2e3`) into its numeric value;
/// `None` when malformed.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let base: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(base * mult)
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
                None => errs.push(FieldError::invalid(
                    &field,
                    json!(text),
                    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )),
                Some(v) if v < 0.0 => errs.push(FieldError::invalid(
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

fn validate_protocol(p: &Value, path: &str, errs: &mut Vec<FieldError>) {
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
fn validate_pod_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
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

// ---------------------------------------------------------------------------------------
// Workloads

/// Validates a workload's pod template at `spec.template`: labels, pod spec, the
/// restart policies the controller allows, and (for apps kinds) no activeDeadlineSeconds.
fn validate_template(
    obj: &Value,
    template_path: &[&str],
    restart_policies: &[&str],
    kind_name: &str,
    errs: &mut Vec<FieldError>,
) {
    let field = template_path.join(".");
    let template = at(obj, template_path);
    if template.is_null() {
        errs.push(FieldError::required(&field, ""));
        return;
    }
    validate_labels(
        at(template, &["metadata", "labels"]),
        &format!("{field}.metadata.labels"),
        errs,
    );
    validate_annotations(
        at(template, &["metadata", "annotations"]),
        &format!("{field}.metadata.annotations"),
        errs,
    );
    let spec = at(template, &["spec"]);
    validate_pod_spec(spec, &format!("{field}.spec"), errs);
    let restart = str_at(spec, &["restartPolicy"]);
    if !restart.is_empty()
        && RESTART_POLICIES.contains(&restart)
        && !restart_policies.contains(&restart)
    {
        errs.push(FieldError::not_supported(
            &format!("{field}.spec.restartPolicy"),
            json!(restart),
            restart_policies,
        ));
    }
    if restart_policies == ["Always"] && !at(spec, &["activeDeadlineSeconds"]).is_null() {
        errs.push(FieldError::forbidden(
            &format!("{field}.spec.activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind_name} is not Supported"),
        ));
    }
}

/// Selector present, non-empty, well-formed and matching the template's labels.
fn validate_selector_and_template(
    obj: &Value,
    kind_name: &str,
    template_path: &[&str],
    errs: &mut Vec<FieldError>,
) {
    let sel = at(obj, &["spec", "selector"]);
    if sel.is_null() {
        errs.push(FieldError::required("spec.selector", ""));
        return;
    }
    validate_label_selector(sel, "spec.selector", errs);
    if selector_is_empty(sel) {
        errs.push(FieldError::invalid(
            "spec.selector",
            sel.clone(),
            &format!("empty selector is invalid for {kind_name}"),
        ));
        return;
    }
    let labels_path: Vec<&str> = template_path
        .iter()
        .copied()
        .chain(["metadata", "labels"])
        .collect();
    let labels = at(obj, &labels_path);
    if !selector_matches(sel, labels) {
        errs.push(FieldError::invalid(
            &labels_path.join("."),
            if labels.is_null() {
                json!({})
            } else {
                labels.clone()
            },
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_immutable(new: &Value, old: &Value, path: &[&str], errs: &mut Vec<FieldError>) {
    let (n, o) = (at(new, path), at(old, path));
    if n != o {
        errs.push(FieldError::invalid(
            &path.join("."),
            n.clone(),
            "field is immutable",
        ));
    }
}

/// ReplicaSet-like kinds: replicas, minReadySeconds, selector/template, update rules.
fn validate_replicated(
    new: &Value,
    old: Option<&Value>,
    kind_name: &str,
    selector_immutable: bool,
    errs: &mut Vec<FieldError>,
) {
    validate_nonnegative(at(new, &["spec", "replicas"]), "spec.replicas", errs);
    validate_nonnegative(
        at(new, &["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        errs,
    );
    validate_selector_and_template(new, &kind_name.to_lowercase(), &["spec", "template"], errs);
    validate_template(new, &["spec", "template"], &["Always"], kind_name, errs);
    if selector_immutable && let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
    }
}

/// `ValidateReplicationControllerSpec`: the selector is a plain label map that must be
/// non-empty and match the template's labels; the selector may change on update.
fn validate_replication_controller(new: &Value, errs: &mut Vec<FieldError>) {
    validate_nonnegative(
        at(new, &["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        errs,
    );
    let selector = at(new, &["spec", "selector"]);
    let selector_empty = selector.as_object().is_none_or(|m| m.is_empty());
    if selector_empty {
        errs.push(FieldError::required("spec.selector", ""));
    }
    validate_nonnegative(at(new, &["spec", "replicas"]), "spec.replicas", errs);
    let labels = at(new, &["spec", "template", "metadata", "labels"]);
    if !at(new, &["spec", "template"]).is_null()
        && !selector_empty
        && !selector_matches(&json!({"matchLabels": selector}), labels)
    {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            if labels.is_null() {
                json!({})
            } else {
                labels.clone()
            },
            "`selector` does not match template `labels`",
        ));
    }
    validate_template(
        new,
        &["spec", "template"],
        &["Always"],
        "ReplicationController",
        errs,
    );
}

fn parse_int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s.strip_suffix('%')?.parse().ok().map(|n| (n, true)),
        _ => None,
    }
}

fn validate_int_or_percent(v: &Value, field: &str, errs: &mut Vec<FieldError>) -> Option<i64> {
    if v.is_null() {
        return None;
    }
    match parse_int_or_percent(v) {
        None => {
            errs.push(FieldError::invalid(
                field,
                v.clone(),
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            ));
            None
        }
        Some((n, pct)) => {
            if n < 0 {
                errs.push(FieldError::invalid(
                    field,
                    v.clone(),
                    "must be greater than or equal to 0",
                ));
            }
            if pct && n > 100 {
                errs.push(FieldError::invalid(
                    field,
                    v.clone(),
                    "must not be greater than 100%",
                ));
            }
            Some(n)
        }
    }
}

fn validate_deployment(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_replicated(new, old, "Deployment", true, errs);
    let strategy = at(new, &["spec", "strategy"]);
    match str_at(strategy, &["type"]) {
        "Recreate" => {
            if !at(strategy, &["rollingUpdate"]).is_null() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" | "" => {
            let ru = at(strategy, &["rollingUpdate"]);
            let mu = validate_int_or_percent(
                at(ru, &["maxUnavailable"]),
                "spec.strategy.rollingUpdate.maxUnavailable",
                errs,
            );
            let ms = validate_int_or_percent(
                at(ru, &["maxSurge"]),
                "spec.strategy.rollingUpdate.maxSurge",
                errs,
            );
            if mu == Some(0) && ms == Some(0) {
                errs.push(FieldError::invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    at(ru, &["maxUnavailable"]).clone(),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.strategy.type",
            json!(other),
            &["Recreate", "RollingUpdate"],
        )),
    }
    validate_nonnegative(
        at(new, &["spec", "revisionHistoryLimit"]),
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(pds) = at(new, &["spec", "progressDeadlineSeconds"]).as_i64() {
        validate_nonnegative(&json!(pds), "spec.progressDeadlineSeconds", errs);
        let mrs = at(new, &["spec", "minReadySeconds"]).as_i64().unwrap_or(0);
        if pds <= mrs {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                json!(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

fn validate_daemonset(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_nonnegative(
        at(new, &["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        errs,
    );
    validate_selector_and_template(new, "daemonset", &["spec", "template"], errs);
    validate_template(new, &["spec", "template"], &["Always"], "DaemonSet", errs);
    let strategy = at(new, &["spec", "updateStrategy"]);
    match str_at(strategy, &["type"]) {
        "OnDelete" | "" => {}
        "RollingUpdate" => {
            let ru = at(strategy, &["rollingUpdate"]);
            let mu = validate_int_or_percent(
                at(ru, &["maxUnavailable"]),
                "spec.updateStrategy.rollingUpdate.maxUnavailable",
                errs,
            );
            let ms = validate_int_or_percent(
                at(ru, &["maxSurge"]),
                "spec.updateStrategy.rollingUpdate.maxSurge",
                errs,
            );
            if mu == Some(0) && ms == Some(0) {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    at(ru, &["maxUnavailable"]).clone(),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            json!(other),
            &["OnDelete", "RollingUpdate"],
        )),
    }
    if let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
    }
}

fn validate_statefulset(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_replicated(new, None, "StatefulSet", false, errs);
    let pmp = str_at(new, &["spec", "podManagementPolicy"]);
    if !pmp.is_empty() && pmp != "OrderedReady" && pmp != "Parallel" {
        errs.push(FieldError::not_supported(
            "spec.podManagementPolicy",
            json!(pmp),
            &["OrderedReady", "Parallel"],
        ));
    }
    let ut = str_at(new, &["spec", "updateStrategy", "type"]);
    if !ut.is_empty() && ut != "RollingUpdate" && ut != "OnDelete" {
        errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            json!(ut),
            &["OnDelete", "RollingUpdate"],
        ));
    }
    validate_nonnegative(
        at(
            new,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
        ),
        "spec.updateStrategy.rollingUpdate.partition",
        errs,
    );
    if let Some(old) = old {
        let mutable = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let strip = |spec: &Value| -> Value {
            let mut m = spec.as_object().cloned().unwrap_or_default();
            for f in mutable {
                m.remove(f);
            }
            Value::Object(m)
        };
        if strip(at(new, &["spec"])) != strip(at(old, &["spec"])) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

fn validate_job_spec(spec_owner: &Value, spec_path: &[&str], errs: &mut Vec<FieldError>) {
    let base = spec_path.join(".");
    let spec = at(spec_owner, spec_path);
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        validate_nonnegative(at(spec, &[f]), &format!("{base}.{f}"), errs);
    }
    if let Some(ads) = at(spec, &["activeDeadlineSeconds"]).as_i64()
        && ads <= 0
    {
        errs.push(FieldError::invalid(
            &format!("{base}.activeDeadlineSeconds"),
            json!(ads),
            "must be greater than or equal to 0",
        ));
    }
    let mode = str_at(spec, &["completionMode"]);
    if !mode.is_empty() && mode != "NonIndexed" && mode != "Indexed" {
        errs.push(FieldError::not_supported(
            &format!("{base}.completionMode"),
            json!(mode),
            &["NonIndexed", "Indexed"],
        ));
    }
    if mode == "Indexed" && at(spec, &["completions"]).is_null() {
        errs.push(FieldError::required(
            &format!("{base}.completions"),
            "when completion mode is Indexed",
        ));
    }
    let template_path: Vec<&str> = spec_path.iter().copied().chain(["template"]).collect();
    validate_template(
        spec_owner,
        &template_path,
        &["OnFailure", "Never"],
        "Job",
        errs,
    );
}

fn validate_job(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_job_spec(new, &["spec"], errs);
    validate_selector_and_template(new, "job", &["spec", "template"], errs);
    if let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
        validate_immutable(new, old, &["spec", "completionMode"], errs);
        validate_immutable(new, old, &["spec", "podFailurePolicy"], errs);
        // Completions may change only for Indexed Jobs together with parallelism.
        let indexed = str_at(new, &["spec", "completionMode"]) == "Indexed";
        let completions_changed =
            at(new, &["spec", "completions"]) != at(old, &["spec", "completions"]);
        if completions_changed
            && !(indexed && at(new, &["spec", "completions"]) == at(new, &["spec", "parallelism"]))
        {
            errs.push(FieldError::invalid(
                "spec.completions",
                at(new, &["spec", "completions"]).clone(),
                "field is immutable",
            ));
        }
        // The template is immutable, except for scheduling directives of a suspended Job
        // that has not started.
        let new_t = at(new, &["spec", "template"]);
        let old_t = at(old, &["spec", "template"]);
        if new_t != old_t {
            let suspended = at(new, &["spec", "suspend"]).as_bool() == Some(true)
                && at(old, &["status", "startTime"]).is_null();
            let strip = |t: &Value| -> Value {
                let mut t = t.clone();
                if let Some(spec) = t.get_mut("spec").and_then(|s| s.as_object_mut()) {
                    for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                        spec.remove(f);
                    }
                }
                if let Some(meta) = t.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    meta.remove("labels");
                    meta.remove("annotations");
                }
                t
            };
            if !(suspended && strip(new_t) == strip(old_t)) {
                errs.push(FieldError::invalid(
                    "spec.template",
                    new_t.clone(),
                    "field is immutable",
                ));
            }
        }
    }
}

/// Whether `schedule` is a cron expression the CronJob controller accepts: five fields
/// or a `@descriptor`, optionally prefixed with `CRON_TZ=`/`TZ=`.
pub fn valid_cron_schedule(schedule: &str) -> bool {
    let trimmed = schedule.trim();
    if trimmed.is_empty() {
        return false;
    }
    if let Some(d) = trimmed.strip_prefix('@') {
        return matches!(
            d,
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly"
        ) || d.starts_with("every ");
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if fields.len() != 5 {
        return false;
    }
    fields.iter().all(|f| {
        f.split(',').all(|part| {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            let step_ok = step.is_none_or(|st| st.parse::<u32>().is_ok_and(|n| n > 0));
            let range_ok = range == "*"
                || range == "?"
                || range
                    .split('-')
                    .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric()));
            step_ok && range_ok
        })
    })
}

fn validate_cronjob(new: &Value, errs: &mut Vec<FieldError>) {
    let schedule = str_at(new, &["spec", "schedule"]);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else if schedule.contains("TZ") {
        errs.push(FieldError::invalid(
            "spec.schedule",
            json!(schedule),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    } else if !valid_cron_schedule(schedule) {
        errs.push(FieldError::invalid(
            "spec.schedule",
            json!(schedule),
            &format!("unparseable cron expression: {schedule}"),
        ));
    }
    let cp = str_at(new, &["spec", "concurrencyPolicy"]);
    if !["Allow", "Forbid", "Replace"].contains(&cp) {
        if cp.is_empty() {
            errs.push(FieldError::required("spec.concurrencyPolicy", ""));
        } else {
            errs.push(FieldError::not_supported(
                "spec.concurrencyPolicy",
                json!(cp),
                &["Allow", "Forbid", "Replace"],
            ));
        }
    }
    for f in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        validate_nonnegative(at(new, &["spec", f]), &format!("spec.{f}"), errs);
    }
    validate_job_spec(new, &["spec", "jobTemplate", "spec"], errs);
}

// ---------------------------------------------------------------------------------------
// Core kinds

fn validate_service(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let spec = at(new, &["spec"]);
    let svc_type = str_at(spec, &["type"]);
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !types.contains(&svc_type) {
        errs.push(FieldError::not_supported(
            "spec.type",
            json!(svc_type),
            &types,
        ));
    }
    let ports = array_at(spec, &["ports"]);
    let headless = str_at(spec, &["clusterIP"]) == "None";
    if svc_type == "ExternalName" {
        let ext = str_at(spec, &["externalName"]);
        if ext.is_empty() {
            errs.push(FieldError::required("spec.externalName", ""));
        } else {
            for m in is_dns1123_subdomain(ext.trim_end_matches('.')) {
                errs.push(FieldError::invalid("spec.externalName", json!(ext), &m));
            }
        }
    } else if ports.is_empty() && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = str_at(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(&format!("{path}.name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(
                    &format!("{path}.name"),
                    json!(name),
                    &m,
                ));
            }
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(&format!("{path}.name"), json!(name)));
            }
        }
        validate_port_number(at(p, &["port"]), &format!("{path}.port"), false, errs);
        validate_protocol(p, &path, errs);
        match at(p, &["targetPort"]) {
            Value::Number(_) => validate_port_number(
                at(p, &["targetPort"]),
                &format!("{path}.targetPort"),
                false,
                errs,
            ),
            Value::String(tp) => {
                for m in port_name_errors(tp) {
                    errs.push(FieldError::invalid(
                        &format!("{path}.targetPort"),
                        json!(tp),
                        &m,
                    ));
                }
            }
            _ => {}
        }
        if svc_type == "ClusterIP" && at(p, &["nodePort"]).as_i64().is_some_and(|n| n != 0) {
            errs.push(FieldError::forbidden(
                &format!("{path}.nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
    }
    validate_labels(at(spec, &["selector"]), "spec.selector", errs);
    if let Some(old) = old {
        let (n, o) = (
            str_at(spec, &["clusterIP"]),
            str_at(old, &["spec", "clusterIP"]),
        );
        if !o.is_empty()
            && !n.is_empty()
            && n != o
            && str_at(old, &["spec", "type"]) != "ExternalName"
        {
            errs.push(FieldError::invalid(
                "spec.clusterIP",
                json!(n),
                "field is immutable",
            ));
        }
    }
}

fn validate_config_data(
    new: &Value,
    old: Option<&Value>,
    secret: bool,
    errs: &mut Vec<FieldError>,
) {
    let mut total = 0;
    let mut keys = HashSet::new();
    let fields: &[&str] = if secret {
        &["data", "stringData"]
    } else {
        &["data", "binaryData"]
    };
    for field in fields {
        if let Some(map) = at(new, &[field]).as_object() {
            for (k, v) in map {
                let path = format!("{field}[{k}]");
                for m in is_config_map_key(k) {
                    errs.push(FieldError::invalid(&path, json!(k), &m));
                }
                if !secret && !keys.insert(k.clone()) {
                    errs.push(FieldError::invalid(
                        &path,
                        json!(k),
                        "duplicate of key present in data",
                    ));
                }
                total += v.as_str().map(|s| s.len()).unwrap_or(0);
            }
        }
    }
    let limit = 1024 * 1024;
    if total > limit {
        errs.push(FieldError::too_long(
            if secret { "data" } else { "" },
            limit,
        ));
    }
    if let Some(old) = old {
        if at(old, &["immutable"]).as_bool() == Some(true) {
            if at(new, &["immutable"]).as_bool() != Some(true) {
                errs.push(FieldError::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
            for field in ["data", "binaryData"] {
                if at(new, &[field]) != at(old, &[field]) {
                    errs.push(FieldError::forbidden(
                        field,
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
        }
        if secret && str_at(new, &["type"]) != str_at(old, &["type"]) {
            errs.push(FieldError::invalid(
                "type",
                json!(str_at(new, &["type"])),
                "field is immutable",
            ));
        }
    }
}

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn validate_access_modes(obj: &Value, path: &[&str], errs: &mut Vec<FieldError>) {
    let modes = array_at(obj, path);
    let field = path.join(".");
    if modes.is_empty() {
        errs.push(FieldError::required(
            &field,
            "at least 1 access mode is required",
        ));
    }
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(&field, json!(m), ACCESS_MODES));
        }
    }
}

fn validate_pvc(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_access_modes(new, &["spec", "accessModes"], errs);
    if at(new, &["spec", "resources", "requests", "storage"]).is_null()
        && at(new, &["spec", "dataSourceRef"]).is_null()
    {
        errs.push(FieldError::required("spec.resources[storage]", ""));
    }
    if let Some(old) = old {
        let strip = |v: &Value| -> Value {
            let mut spec = at(v, &["spec"]).clone();
            if let Some(m) = spec.as_object_mut() {
                m.remove("resources");
                m.remove("volumeAttributesClassName");
                // Binding fills volumeName in.
                if at(old, &["spec", "volumeName"]).is_null() {
                    m.remove("volumeName");
                }
            }
            spec
        };
        if strip(new) != strip(old) {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
    }
}

fn validate_pv(new: &Value, errs: &mut Vec<FieldError>) {
    validate_access_modes(new, &["spec", "accessModes"], errs);
    if at(new, &["spec", "capacity"]).is_null() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    let sources = [
        "hostPath",
        "local",
        "nfs",
        "csi",
        "iscsi",
        "fc",
        "rbd",
        "cephfs",
        "glusterfs",
        "awsElasticBlockStore",
        "gcePersistentDisk",
        "azureDisk",
        "azureFile",
        "cinder",
        "flexVolume",
        "flocker",
        "vsphereVolume",
        "quobyte",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
    ];
    let count = sources
        .iter()
        .filter(|f| !at(new, &["spec", f]).is_null())
        .count();
    if count == 0 {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    } else if count > 1 {
        errs.push(FieldError::forbidden(
            "spec",
            "may not specify more than 1 volume type",
        ));
    }
    let policy = str_at(new, &["spec", "persistentVolumeReclaimPolicy"]);
    let policies = ["Delete", "Recycle", "Retain"];
    if !policy.is_empty() && !policies.contains(&policy) {
        errs.push(FieldError::not_supported(
            "spec.persistentVolumeReclaimPolicy",
            json!(policy),
            &policies,
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Other groups

fn validate_pdb(new: &Value, errs: &mut Vec<FieldError>) {
    let spec = at(new, &["spec"]);
    let (min, max) = (at(spec, &["minAvailable"]), at(spec, &["maxUnavailable"]));
    if !min.is_null() && !max.is_null() {
        errs.push(FieldError::invalid(
            "spec",
            spec.clone(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    validate_int_or_percent(min, "spec.minAvailable", errs);
    validate_int_or_percent(max, "spec.maxUnavailable", errs);
    validate_label_selector(at(spec, &["selector"]), "spec.selector", errs);
    let policy = str_at(spec, &["unhealthyPodEvictionPolicy"]);
    if !policy.is_empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow" {
        errs.push(FieldError::not_supported(
            "spec.unhealthyPodEvictionPolicy",
            json!(policy),
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
}

/// The highest priority a user-defined PriorityClass may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

fn validate_priority_class(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let name = str_at(new, &["metadata", "name"]);
    let value = at(new, &["value"]).as_i64();
    let system = name == "system-cluster-critical" || name == "system-node-critical";
    if !system {
        if name.starts_with("system-") {
            errs.push(FieldError::forbidden(
                "metadata.name",
                "priority class names with 'system-' prefix are reserved for system use only",
            ));
        }
        if value.is_some_and(|v| v > HIGHEST_USER_DEFINABLE_PRIORITY) {
            errs.push(FieldError::forbidden(
                "value",
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
    }
    let policy = str_at(new, &["preemptionPolicy"]);
    if !policy.is_empty() && policy != "PreemptLowerPriority" && policy != "Never" {
        errs.push(FieldError::not_supported(
            "preemptionPolicy",
            json!(policy),
            &["Never", "PreemptLowerPriority"],
        ));
    }
    if let Some(old) = old {
        if at(new, &["value"]) != at(old, &["value"]) {
            errs.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        if at(new, &["preemptionPolicy"]) != at(old, &["preemptionPolicy"]) {
            errs.push(FieldError::invalid(
                "preemptionPolicy",
                json!(policy),
                "field is immutable",
            ));
        }
    }
}

fn validate_storage_class(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let provisioner = str_at(new, &["provisioner"]);
    if provisioner.is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    }
    let binding = str_at(new, &["volumeBindingMode"]);
    if !binding.is_empty() && binding != "Immediate" && binding != "WaitForFirstConsumer" {
        errs.push(FieldError::not_supported(
            "volumeBindingMode",
            json!(binding),
            &["Immediate", "WaitForFirstConsumer"],
        ));
    }
    if let Some(old) = old {
        if at(new, &["parameters"]) != at(old, &["parameters"]) {
            errs.push(FieldError::forbidden(
                "parameters",
                "updates to parameters are forbidden.",
            ));
        }
        if provisioner != str_at(old, &["provisioner"]) {
            errs.push(FieldError::forbidden(
                "provisioner",
                "updates to provisioner are forbidden.",
            ));
        }
        if at(new, &["reclaimPolicy"]) != at(old, &["reclaimPolicy"]) {
            errs.push(FieldError::forbidden(
                "reclaimPolicy",
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        if at(new, &["volumeBindingMode"]) != at(old, &["volumeBindingMode"]) {
            errs.push(FieldError::invalid(
                "volumeBindingMode",
                json!(binding),
                "field is immutable",
            ));
        }
    }
}

fn validate_endpoint_slice(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let at_ = str_at(new, &["addressType"]);
    let types = ["FQDN", "IPv4", "IPv6"];
    if at_.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !types.contains(&at_) {
        errs.push(FieldError::not_supported("addressType", json!(at_), &types));
    }
    let endpoints = array_at(new, &["endpoints"]);
    if endpoints.len() > 1000 {
        errs.push(FieldError::too_many("endpoints", endpoints.len(), 1000));
    }
    for (i, e) in endpoints.iter().enumerate() {
        let addrs = array_at(e, &["addresses"]);
        if addrs.is_empty() || addrs.len() > 100 {
            errs.push(FieldError::invalid(
                &format!("endpoints[{i}].addresses"),
                json!(addrs.len()),
                "must contain at least 1 address but not more than 100",
            ));
        }
    }
    if let Some(old) = old {
        validate_immutable(new, old, &["addressType"], errs);
    }
}

fn validate_role_binding(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let role_ref = at(new, &["roleRef"]);
    let kind = str_at(role_ref, &["kind"]);
    let cluster = str_at(new, &["kind"]) == "ClusterRoleBinding"
        || at(new, &["metadata", "namespace"]).is_null();
    let allowed: &[&str] = if cluster {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if str_at(role_ref, &["apiGroup"]) != "rbac.authorization.k8s.io" {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            json!(str_at(role_ref, &["apiGroup"])),
            &["rbac.authorization.k8s.io"],
        ));
    }
    if !allowed.contains(&kind) {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            json!(kind),
            allowed,
        ));
    }
    if str_at(role_ref, &["name"]).is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for (i, subj) in array_at(new, &["subjects"]).iter().enumerate() {
        let path = format!("subjects[{i}]");
        let k = str_at(subj, &["kind"]);
        if !["ServiceAccount", "User", "Group"].contains(&k) {
            errs.push(FieldError::not_supported(
                &format!("{path}.kind"),
                json!(k),
                &["ServiceAccount", "User", "Group"],
            ));
        }
        if str_at(subj, &["name"]).is_empty() {
            errs.push(FieldError::required(&format!("{path}.name"), ""));
        }
        if k == "ServiceAccount" && cluster && str_at(subj, &["namespace"]).is_empty() {
            errs.push(FieldError::required(&format!("{path}.namespace"), ""));
        }
    }
    if let Some(old) = old
        && at(new, &["roleRef"]) != at(old, &["roleRef"])
    {
        errs.push(FieldError::invalid(
            "roleRef",
            role_ref.clone(),
            "cannot change roleRef",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::apply_defaults;
    use crate::field_error::errors_by_field;
    use crate::kinds::Registry;

    fn kind(group: &str, plural: &str) -> std::sync::Arc<KindInfo> {
        Registry::with_builtins()
            .lookup(group, "v1", plural)
            .unwrap()
    }

    fn check(group: &str, plural: &str, mut obj: Value) -> Vec<String> {
        let k = kind(group, plural);
        apply_defaults(&k, &mut obj);
        validate(&k, &obj, None)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn check_update(group: &str, plural: &str, old: Value, new: Value) -> Vec<String> {
        let k = kind(group, plural);
        let (mut old, mut new) = (old, new);
        apply_defaults(&k, &mut old);
        apply_defaults(&k, &mut new);
        validate(&k, &new, Some(&old))
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
    }

    #[test]
    fn invalid_status_shape() {
        let k = kind("apps", "deployments");
        let errs = vec![FieldError::invalid(
            "spec.replicas",
            json!(-1),
            "must be greater than or equal to 0",
        )];
        let st = invalid_status(&k, "x", &errs);
        assert_eq!(st["kind"], "Status");
        assert_eq!(st["code"], 422);
        assert_eq!(st["reason"], "Invalid");
        assert_eq!(st["status"], "Failure");
        assert_eq!(
            st["message"],
            "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(st["details"]["group"], "apps");
        assert_eq!(st["details"]["kind"], "Deployment");
        assert_eq!(st["details"]["name"], "x");
        assert_eq!(
            st["details"]["causes"][0],
            json!({"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0", "field": "spec.replicas"})
        );
        let pod = kind("", "pods");
        let errs = vec![
            FieldError::required("spec.containers[0].image", ""),
            FieldError::required("spec.containers[0].image", ""),
            FieldError::required("spec.containers[0].name", ""),
        ];
        let st = invalid_status(&pod, "p", &errs);
        assert!(st["details"].get("group").is_none());
        assert_eq!(
            st["message"],
            "Pod \"p\" is invalid: [spec.containers[0].image: Required value, spec.containers[0].name: Required value]"
        );
        assert_eq!(st["details"]["causes"][2]["reason"], "FieldValueRequired");
        // kube-rs decodes error bodies as Status.
        let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::Status =
            serde_json::from_value(st).unwrap();
        assert_eq!(typed.code, Some(422));
        assert_eq!(typed.details.unwrap().causes.unwrap().len(), 3);
    }

    #[test]
    fn valid_objects_pass() {
        assert_eq!(
            check("apps", "deployments", deployment()),
            Vec::<String>::new()
        );
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"name": "data", "mountPath": "/d"}]}], "volumes": [{"name": "data"}]}});
        assert_eq!(check("", "pods", pod), Vec::<String>::new());
        let svc = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "https", "port": 443}]}});
        assert_eq!(check("", "services", svc), Vec::<String>::new());
        let job = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}});
        assert_eq!(check("batch", "jobs", job), Vec::<String>::new());
        let cj = json!({"metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        assert_eq!(check("batch", "cronjobs", cj), Vec::<String>::new());
        for (g, p, obj) in [
            ("", "namespaces", json!({"metadata": {"name": "team-a"}})),
            (
                "",
                "configmaps",
                json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a.b": "1"}}),
            ),
            (
                "",
                "secrets",
                json!({"metadata": {"name": "s", "namespace": "d"}, "data": {"k": "dg=="}}),
            ),
            (
                "rbac.authorization.k8s.io",
                "clusterroles",
                json!({"metadata": {"name": "system:controller:x"}}),
            ),
            (
                "scheduling.k8s.io",
                "priorityclasses",
                json!({"metadata": {"name": "high"}, "value": 1000}),
            ),
            (
                "storage.k8s.io",
                "storageclasses",
                json!({"metadata": {"name": "s"}, "provisioner": "p"}),
            ),
            (
                "discovery.k8s.io",
                "endpointslices",
                json!({"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.0.0.1"]}]}),
            ),
            (
                "policy",
                "poddisruptionbudgets",
                json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1}}),
            ),
        ] {
            assert_eq!(check(g, p, obj), Vec::<String>::new(), "{p}");
        }
    }

    #[test]
    fn names_per_kind() {
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"name": "Bad_Name", "namespace": "d"}}),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"));
        assert!(errs[0].ends_with(r"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
        // Namespaces are labels: dots are not allowed.
        let errs = check("", "namespaces", json!({"metadata": {"name": "a.b"}}));
        assert!(errs[0].contains("a lowercase RFC 1123 label must consist of"));
        assert!(errs[0].contains("(e.g. 'my-name',  or '123-abc', regex"));
        // Services are DNS-1035 labels: must start with a letter.
        let svc = json!({"metadata": {"name": "1web", "namespace": "d"}, "spec": {"ports": [{"port": 80}]}});
        let errs = check("", "services", svc);
        assert!(
            errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
            "{errs:?}"
        );
        // RBAC names are path segments.
        let errs = check(
            "rbac.authorization.k8s.io",
            "roles",
            json!({"metadata": {"name": "a/b", "namespace": "d"}}),
        );
        assert_eq!(
            errs,
            ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
        // Missing name; generateName prefix is checked with its dash masked.
        let errs = check("", "configmaps", json!({"metadata": {"namespace": "d"}}));
        assert_eq!(
            errs,
            ["metadata.name: Required value: name or generateName is required"]
        );
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "d"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        let long = "a".repeat(254);
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"name": long, "namespace": "d"}}),
        );
        assert!(errs[0].ends_with("must be no more than 253 characters"));
        // Scope.
        let errs = check("", "configmaps", json!({"metadata": {"name": "c"}}));
        assert_eq!(errs, ["metadata.namespace: Required value"]);
        let errs = check(
            "",
            "namespaces",
            json!({"metadata": {"name": "n", "namespace": "x"}}),
        );
        assert_eq!(
            errs,
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
        // CronJob names are limited to 52 characters.
        let cj = json!({"metadata": {"name": "c".repeat(53), "namespace": "d"}, "spec": {"schedule": "@hourly",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}});
        assert!(check("batch", "cronjobs", cj)[0].ends_with("must be no more than 52 characters"));
    }

    #[test]
    fn labels_and_annotations() {
        let obj = json!({"metadata": {"name": "c", "namespace": "d",
            "labels": {"bad key": "v", "ok": "bad value!", "example.com/x": "y", "/x": "y"}}});
        let errs = check("", "configmaps", obj);
        assert!(errs.iter().any(|e| e.starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters")));
        assert!(errs.iter().any(|e| e.starts_with(
            "metadata.labels: Invalid value: \"bad value!\": a valid label must be an empty string"
        )));
        assert!(
            errs.iter()
                .any(|e| e
                    == "metadata.labels: Invalid value: \"/x\": prefix part must be non-empty")
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let obj = json!({"metadata": {"name": "c", "namespace": "d", "annotations": {"a": big, "Example.COM/Upper": ""}}});
        assert_eq!(
            check("", "configmaps", obj),
            ["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }

    #[test]
    fn deployment_rules() {
        let mut d = deployment();
        d["spec"]["replicas"] = json!(-1);
        assert_eq!(
            check("apps", "deployments", d),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
        let mut d = deployment();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
            ]
        );
        let mut d = deployment();
        d["spec"]["selector"] = json!({});
        assert!(
            check("apps", "deployments", d)[0]
                .ends_with("empty selector is invalid for deployment")
        );
        let mut d = deployment();
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            check("apps", "deployments", d),
            ["spec.selector: Required value"]
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": "150%"}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"150%\": must not be greater than 100%"
            ]
        );
        let mut d = deployment();
        d["spec"]["minReadySeconds"] = json!(700);
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"
            ]
        );
        // Selector immutable on update.
        let mut new = deployment();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        new["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        let errs = check_update("apps", "deployments", deployment(), new);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("spec.selector: Invalid value: ")
                && errs[0].ends_with(": field is immutable")
        );
        // Scaling is an allowed update.
        let mut new = deployment();
        new["spec"]["replicas"] = json!(5);
        assert!(check_update("apps", "deployments", deployment(), new).is_empty());
    }

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
    fn job_and_cronjob_rules() {
        let job = json!({"metadata": {"name": "pi", "namespace": "d", "uid": "u1"},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}});
        assert_eq!(
            check("batch", "jobs", job.clone()),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
            ]
        );
        let mut ok = job.clone();
        ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let mut changed = ok.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        changed["spec"]["completions"] = json!(3);
        changed["spec"]["backoffLimit"] = json!(-1);
        let errs = check_update("batch", "jobs", ok.clone(), changed);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.template: Invalid value:")
                    && e.ends_with("field is immutable")),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"spec.completions: Invalid value: 3: field is immutable".to_string())
        );
        assert!(errs.contains(
            &"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0".to_string()
        ));
        // A suspended job that never started may change scheduling directives.
        let mut suspended = ok.clone();
        suspended["spec"]["suspend"] = json!(true);
        let mut moved = suspended.clone();
        moved["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(check_update("batch", "jobs", suspended, moved).is_empty());

        let cj = |schedule: &str, policy: &str| {
            json!({"metadata": {"name": "c", "namespace": "d"},
            "spec": {"schedule": schedule, "concurrencyPolicy": policy, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}})
        };
        assert_eq!(
            check("batch", "cronjobs", cj("not a cron", "Allow")),
            [
                "spec.schedule: Invalid value: \"not a cron\": unparseable cron expression: not a cron"
            ]
        );
        assert_eq!(
            check("batch", "cronjobs", cj("@daily", "Sometimes")),
            [
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""
            ]
        );
        assert!(valid_cron_schedule("0 0 * * MON-FRI"));
        assert!(valid_cron_schedule("*/15 1,2 1-5 JAN *"));
        assert!(!valid_cron_schedule("* * * *"));
        assert!(!valid_cron_schedule("*/0 * * * *"));
    }

    #[test]
    fn apps_update_and_template_rules() {
        let sts = json!({"metadata": {"name": "db", "namespace": "d"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg"}],
                    "activeDeadlineSeconds": 5}}}});
        assert_eq!(
            check("apps", "statefulsets", sts.clone()),
            [
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported"
            ]
        );
        let mut ok = sts.clone();
        ok["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("activeDeadlineSeconds");
        let mut changed = ok.clone();
        changed["spec"]["serviceName"] = json!("other");
        assert!(
            check_update("apps", "statefulsets", ok.clone(), changed)[0]
                .starts_with("spec: Forbidden: updates to statefulset spec")
        );
        let mut scaled = ok.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(check_update("apps", "statefulsets", ok, scaled).is_empty());

        let ds = json!({"metadata": {"name": "agent", "namespace": "d"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        let errs = check("apps", "daemonsets", ds);
        assert!(errs.contains(&"spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string()), "{errs:?}");
    }

    #[test]
    fn replication_controller_rules() {
        let rc = |selector: Value, labels: Value| {
            json!({"metadata": {"name": "web", "namespace": "d"},
                "spec": {"replicas": 2, "selector": selector,
                    "template": {"metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        };
        let ok = rc(json!({"app": "web"}), json!({"app": "web", "v": "1"}));
        assert!(check("", "replicationcontrollers", ok.clone()).is_empty());
        assert_eq!(
            check(
                "",
                "replicationcontrollers",
                rc(json!({"app": "db"}), json!({"app": "web"}))
            ),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
        // No selector and no template labels: nothing to default it from.
        let mut bare = rc(json!({}), json!(null));
        bare["spec"]["replicas"] = json!(-1);
        bare["spec"]["minReadySeconds"] = json!(-3);
        bare["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(
            check("", "replicationcontrollers", bare),
            [
                "spec.minReadySeconds: Invalid value: -3: must be greater than or equal to 0",
                "spec.selector: Required value",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported",
            ]
        );
        let mut never = ok.clone();
        never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            check("", "replicationcontrollers", never),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
        // Unlike a ReplicaSet's, the selector may change (with the template's labels).
        let moved = rc(
            json!({"app": "web", "v": "1"}),
            json!({"app": "web", "v": "1"}),
        );
        assert!(check_update("", "replicationcontrollers", ok, moved).is_empty());
    }

    #[test]
    fn service_and_config_rules() {
        let svc = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"type": "ClusterIP",
            "ports": [{"port": 80, "nodePort": 30001}, {"port": 0}]}});
        let errs = check("", "services", svc);
        for e in [
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value",
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            "spec.ports[1].port: Required value",
        ] {
            assert!(errs.iter().any(|x| x == e), "missing {e}: {errs:#?}");
        }
        let svc = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"type": "Magic"}});
        assert!(
            check("", "services", svc)[0].starts_with("spec.type: Unsupported value: \"Magic\"")
        );
        let old = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}});
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.96.0.6");
        assert_eq!(
            check_update("", "services", old, new),
            ["spec.clusterIP: Invalid value: \"10.96.0.6\": field is immutable"]
        );

        let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"bad key": "1", "k": "2"}, "binaryData": {"k": ""}});
        let errs = check("", "configmaps", cm);
        assert!(errs[0].starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"));
        assert!(errs.contains(
            &"binaryData[k]: Invalid value: \"k\": duplicate of key present in data".to_string()
        ));
        let old = json!({"metadata": {"name": "c", "namespace": "d"}, "immutable": true, "data": {"a": "1"}});
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        assert_eq!(
            check_update("", "configmaps", old, new),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let old = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"});
        let mut new = old.clone();
        new["type"] = json!("kubernetes.io/tls");
        assert_eq!(
            check_update("", "secrets", old, new),
            ["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }

    #[test]
    fn other_kinds_rules() {
        let pvc = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {}});
        assert_eq!(
            check("", "persistentvolumeclaims", pvc),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
        let pdb = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1, "maxUnavailable": 1}});
        assert!(
            check("policy", "poddisruptionbudgets", pdb)[0]
                .ends_with("minAvailable and maxUnavailable cannot be both set")
        );
        let pc = json!({"metadata": {"name": "huge"}, "value": 2_000_000_000});
        assert_eq!(
            check("scheduling.k8s.io", "priorityclasses", pc),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let old = json!({"metadata": {"name": "pc"}, "value": 1});
        let new = json!({"metadata": {"name": "pc"}, "value": 2});
        assert_eq!(
            check_update("scheduling.k8s.io", "priorityclasses", old, new),
            ["value: Forbidden: may not be changed in an update."]
        );
        let old = json!({"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "a"}});
        let new = json!({"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "b"}});
        let errs = check_update("rbac.authorization.k8s.io", "rolebindings", old, new);
        assert!(
            errs[0].starts_with("roleRef: Invalid value:")
                && errs[0].ends_with("cannot change roleRef")
        );
        let crb = json!({"metadata": {"name": "crb"}, "roleRef": {"kind": "Role", "name": "a"}});
        assert_eq!(
            check("rbac.authorization.k8s.io", "clusterrolebindings", crb),
            ["roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""]
        );
        let slice = json!({"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPX"});
        assert!(
            check("discovery.k8s.io", "endpointslices", slice)[0]
                .starts_with("addressType: Unsupported value: \"IPX\"")
        );
        let sc_old = json!({"metadata": {"name": "s"}, "provisioner": "a"});
        let sc_new = json!({"metadata": {"name": "s"}, "provisioner": "b"});
        assert_eq!(
            check_update("storage.k8s.io", "storageclasses", sc_old, sc_new),
            ["provisioner: Forbidden: updates to provisioner are forbidden."]
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
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("2Gi"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("1.5"), Some(1.5));
        assert_eq!(parse_quantity("1Xi"), None);
    }

    #[test]
    fn selector_matching() {
        let labels = json!({"app": "web", "tier": "fe"});
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
            &labels
        ));
        assert_eq!(
            errors_by_field(&[
                FieldError::required("a", ""),
                FieldError::required("a", "x")
            ])["a"]
                .len(),
            2
        );
    }
}
