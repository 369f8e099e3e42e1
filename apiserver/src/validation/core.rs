//! The core group's kinds besides Pods: Services, ConfigMaps and Secrets, volumes and
//! their claims, ReplicationControllers.

use std::collections::HashSet;

use capstan_labels::set_matches;
use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};
use crate::names::{is_config_map_key, is_dns1123_subdomain, port_name_errors};
use crate::selector::JsonLabels;

use super::meta::validate_labels;
use super::pod::{validate_port_number, validate_protocol};
use super::rules::{validate_nonnegative, validate_unique_label};
use super::workloads::validate_template;

/// `ValidateReplicationControllerSpec`: the selector is a plain label map that must be
/// non-empty and match the template's labels; the selector may change on update.
pub(crate) fn validate_replication_controller(
    new: &Value,
    _old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
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
        && !set_matches(
            selector
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k, v.as_str().unwrap_or(""))),
            &JsonLabels(labels),
        )
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

pub(crate) fn validate_service(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
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
            validate_unique_label(name, &format!("{path}.name"), &mut names, errs);
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

/// `ValidateConfigMap` (+ update): keys, size, immutability.
pub(crate) fn validate_config_map(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_config_data(new, old, false, errs);
}

/// `ValidateSecret` (+ update): keys, size, immutability, type.
pub(crate) fn validate_secret(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_config_data(new, old, true, errs);
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

pub(crate) fn validate_pvc(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
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

pub(crate) fn validate_pv(new: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, check_update};

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
}
