//! The core group's kinds besides Pods.

use serde_json::{Map, Value, json};

use crate::json::{array_mut, get_mut, is_unset, set_default};

use super::pod::default_template;

/// `SetDefaults_Secret`, after `stringData` is folded into `data`: type `Opaque`.
pub(crate) fn default_secret(secret: &mut Value) {
    convert_secret_data(secret);
    set_default(secret, &["type"], json!("Opaque"));
}

/// Upstream's `Convert_v1_Secret_To_core_Secret`: `stringData` is write-only, each of its
/// entries overwrites `data[key]` (base64 of the string), and the field is never stored.
/// Left in place when a value is not a string, so validation names it. `data` values
/// lose the line breaks Go's base64 decoder skips, as upstream re-encodes the bytes.
pub(super) fn convert_secret_data(secret: &mut Value) {
    use base64::Engine;
    let Some(map) = secret.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(data)) = map.get_mut("data") {
        for v in data.values_mut() {
            if let Value::String(s) = v
                && s.contains(['\r', '\n'])
            {
                s.retain(|c| c != '\r' && c != '\n');
            }
        }
    }
    let all_strings = match map.get("stringData") {
        None => return,
        Some(Value::Null) => true,
        Some(Value::Object(m)) => m.values().all(Value::is_string),
        Some(_) => false,
    };
    if !all_strings {
        return;
    }
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    if strings.is_empty() {
        return;
    }
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in strings {
            let s = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())),
            );
        }
    }
}

/// `SetDefaults_ReplicationController`: with template labels, an empty selector and
/// empty object labels take them; `spec.replicas` defaults to 1.
pub(crate) fn default_replication_controller(rc: &mut Value) {
    let is_empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(Map::is_empty);
    if let Some(labels) = rc
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned()
    {
        if is_empty(rc.pointer("/spec/selector")) {
            rc["spec"]["selector"] = labels.clone();
        }
        if is_empty(rc.pointer("/metadata/labels")) {
            if !rc.get("metadata").is_some_and(Value::is_object) {
                rc["metadata"] = json!({});
            }
            rc["metadata"]["labels"] = labels;
        }
    }
    set_default(rc, &["spec", "replicas"], json!(1));
    default_template(rc, &["spec", "template"]);
}

pub(crate) fn default_service(svc: &mut Value) {
    set_default(svc, &["spec", "type"], json!("ClusterIP"));
    set_default(svc, &["spec", "sessionAffinity"], json!("None"));
    let svc_type = svc
        .pointer("/spec/type")
        .and_then(|t| t.as_str())
        .unwrap_or("ClusterIP")
        .to_string();
    if let Some(spec) = get_mut(svc, &["spec"]) {
        for port in array_mut(spec, &["ports"]) {
            set_default(port, &["protocol"], json!("TCP"));
            let unset = match port.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset && let Some(p) = port.get("port").cloned() {
                port["targetPort"] = p;
            }
        }
        if spec.get("sessionAffinity").and_then(|s| s.as_str()) == Some("ClientIP") {
            set_default(
                spec,
                &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
                json!(10800),
            );
        }
        if svc_type == "NodePort" || svc_type == "LoadBalancer" {
            set_default(spec, &["externalTrafficPolicy"], json!("Cluster"));
        }
        if svc_type == "LoadBalancer" {
            set_default(spec, &["allocateLoadBalancerNodePorts"], json!(true));
        }
        if svc_type != "ExternalName" {
            set_default(spec, &["internalTrafficPolicy"], json!("Cluster"));
            set_default(spec, &["ipFamilyPolicy"], json!("SingleStack"));
            set_default(spec, &["ipFamilies"], json!(["IPv4"]));
        }
    }
}

pub(crate) fn default_namespace(ns: &mut Value) {
    if let Some(name) = ns.pointer("/metadata/name").and_then(|n| n.as_str()) {
        let name = name.to_string();
        if let Some(meta) = ns.get_mut("metadata")
            && meta.is_object()
        {
            set_default(meta, &["labels"], json!({}));
            if let Some(labels) = meta.get_mut("labels").and_then(|l| l.as_object_mut()) {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
    }
    set_default(ns, &["spec", "finalizers"], json!([]));
    if let Some(f) = get_mut(ns, &["spec", "finalizers"]).and_then(|f| f.as_array_mut())
        && !f.iter().any(|x| x == "kubernetes")
    {
        f.push(json!("kubernetes"));
    }
    set_default(ns, &["status", "phase"], json!("Active"));
}

/// `SetDefaults_EndpointPort`: protocol `TCP`.
pub(crate) fn default_endpoints(endpoints: &mut Value) {
    for subset in array_mut(endpoints, &["subsets"]) {
        for port in array_mut(subset, &["ports"]) {
            set_default(port, &["protocol"], json!("TCP"));
        }
    }
}

/// `SetDefaults_PersistentVolume`: reclaim policy `Retain`, volume mode `Filesystem`,
/// phase `Pending`.
pub(crate) fn default_pv(pv: &mut Value) {
    set_default(
        pv,
        &["spec", "persistentVolumeReclaimPolicy"],
        json!("Retain"),
    );
    set_default(pv, &["spec", "volumeMode"], json!("Filesystem"));
    set_default(pv, &["status", "phase"], json!("Pending"));
}

pub(crate) fn default_node(node: &mut Value) {
    if is_unset(node, &["status", "allocatable"])
        && let Some(cap) = node.pointer("/status/capacity").cloned()
        && !cap.is_null()
    {
        set_default(node, &["status", "allocatable"], cap);
    }
}

pub(crate) fn default_pvc(pvc: &mut Value) {
    set_default(pvc, &["spec", "volumeMode"], json!("Filesystem"));
    set_default(pvc, &["status", "phase"], json!("Pending"));
}

/// A Namespace's status on create: `Active`.
pub(crate) fn namespace_status(_: &Value) -> Value {
    json!({"phase": "Active"})
}

/// A claim's or volume's status on create: `Pending`.
pub(crate) fn pending_status(_: &Value) -> Value {
    json!({"phase": "Pending"})
}

/// A Service's status on create: no load balancer yet.
pub(crate) fn service_status(_: &Value) -> Value {
    json!({"loadBalancer": {}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;

    #[test]
    fn secret_string_data_is_written_into_data() {
        let s = defaulted(
            "",
            "secrets",
            json!({"metadata": {"name": "s"}, "data": {"a": "b2xk", "keep": "eA==", "wrapped": "YWJj\nZGVm"},
                   "stringData": {"a": "new", "b": "two"}}),
        );
        assert_eq!(
            s["data"],
            json!({"a": "bmV3", "b": "dHdv", "keep": "eA==", "wrapped": "YWJjZGVm"}),
            "stringData overwrites data; line breaks in base64 go"
        );
        assert!(s.get("stringData").is_none(), "stringData is never stored");
        assert_eq!(s["type"], "Opaque");
        // A non-string value stays for validation to reject.
        let bad = defaulted(
            "",
            "secrets",
            json!({"metadata": {"name": "s"}, "stringData": {"a": 1}}),
        );
        assert_eq!(bad["stringData"], json!({"a": 1}));
    }

    #[test]
    fn replication_controller_defaults_selector_and_labels_from_the_template() {
        let rc = defaulted(
            "",
            "replicationcontrollers",
            json!({"metadata": {"name": "web"},
                   "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
        );
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            rc["spec"]["template"]["spec"]["restartPolicy"],
            json!("Always")
        );
        // Set values are kept; without template labels nothing is defaulted from them.
        let kept = defaulted(
            "",
            "replicationcontrollers",
            json!({"metadata": {"labels": {"team": "a"}},
                   "spec": {"replicas": 0, "selector": {"app": "web"},
                            "template": {"metadata": {"labels": {"app": "web", "v": "1"}}}}}),
        );
        assert_eq!(kept["spec"]["replicas"], 0);
        assert_eq!(kept["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(kept["metadata"]["labels"], json!({"team": "a"}));
        let bare = defaulted("", "replicationcontrollers", json!({"spec": {}}));
        assert!(bare["spec"].get("selector").is_none());
        assert!(bare["metadata"].get("labels").is_none());
    }

    #[test]
    fn service_defaults() {
        let s = defaulted(
            "",
            "services",
            json!({"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["ports"][1]["targetPort"], "https");
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("externalTrafficPolicy").is_none());
        let lb = defaulted(
            "",
            "services",
            json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP"}}),
        );
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        let ext = defaulted(
            "",
            "services",
            json!({"spec": {"type": "ExternalName", "externalName": "a.b"}}),
        );
        assert!(ext["spec"].get("ipFamilies").is_none());
    }
}
