//! Pods and pod templates: `SetDefaults_Pod`, `SetDefaults_PodSpec` and what it implies
//! for containers, probes, lifecycle handlers and volumes; a pod's QoS class.

use serde_json::{Map, Value, json};

use crate::json::{array_mut, get_mut, is_unset, set_default};

/// A pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`) from its containers'
/// requests and limits, as `qos.GetPodQOS` computes it.
/// A Pod's status on create: `Pending`, with its QoS class.
pub(crate) fn pod_initial_status(pod: &Value) -> Value {
    json!({
        "phase": "Pending",
        "qosClass": pod_qos_class(pod.get("spec").unwrap_or(&Value::Null)),
    })
}

pub(crate) fn pod_qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    let containers = spec
        .get("containers")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .chain(
            spec.get("initContainers")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten(),
        );
    for c in containers {
        let requests = c.pointer("/resources/requests").and_then(|r| r.as_object());
        let limits = c.pointer("/resources/limits").and_then(|r| r.as_object());
        let relevant = |m: Option<&Map<String, Value>>| {
            m.map(|m| {
                m.iter()
                    .filter(|(k, v)| {
                        (k.as_str() == "cpu" || k.as_str() == "memory") && !is_zero_quantity(v)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<String, Value>>()
            })
            .unwrap_or_default()
        };
        let req = relevant(requests);
        let lim = relevant(limits);
        if !req.is_empty() || !lim.is_empty() {
            any = true;
        }
        // Guaranteed needs cpu and memory limits, and requests (if given) equal to them.
        if !(lim.contains_key("cpu") && lim.contains_key("memory")) {
            guaranteed = false;
        }
        for (k, v) in &req {
            if lim.get(k) != Some(v) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub(super) fn is_zero_quantity(v: &Value) -> bool {
    match v {
        Value::String(s) => s.trim_start_matches('0').is_empty() || s == "0m",
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// `SetDefaults_Pod` + the pod spec defaults.
pub(crate) fn default_pod(pod: &mut Value) {
    if let Some(spec) = get_mut(pod, &["spec"]) {
        // Requests default to limits when only limits are given.
        for field in ["containers", "initContainers"] {
            for c in array_mut(spec, &[field]) {
                let Some(limits) = c.pointer("/resources/limits").cloned() else {
                    continue;
                };
                let Some(limits) = limits.as_object() else {
                    continue;
                };
                for (res, qty) in limits {
                    set_default(c, &["resources", "requests", res], qty.clone());
                }
            }
        }
        set_default(spec, &["enableServiceLinks"], json!(true));
        default_pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and what it implies for containers, volumes and probes; used for
/// pods and for every pod template.
pub(super) fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    mirror_service_account(spec);
    let host_network = spec
        .get("hostNetwork")
        .and_then(|h| h.as_bool())
        .unwrap_or(false);
    for field in ["containers", "initContainers", "ephemeralContainers"] {
        for c in array_mut(spec, &[field]) {
            default_container(c, host_network);
        }
    }
    for v in array_mut(spec, &["volumes"]) {
        default_volume(v);
    }
}

/// v1's conversion of a pod spec's account: `serviceAccountName`, else the deprecated
/// `serviceAccount` it replaced, written back into both.
fn mirror_service_account(spec: &mut Value) {
    let name = ["serviceAccountName", "serviceAccount"]
        .iter()
        .filter_map(|f| spec.get(*f).and_then(Value::as_str))
        .find(|n| !n.is_empty())
        .map(str::to_string);
    if let (Some(name), Some(spec)) = (name, spec.as_object_mut()) {
        spec.insert("serviceAccountName".into(), json!(name));
        spec.insert("serviceAccount".into(), json!(name));
    }
}

/// `SetDefaults_Container`, ports, probes, lifecycle handlers and env field references.
pub(super) fn default_container(c: &mut Value, host_network: bool) {
    if !c.is_object() {
        return;
    }
    if is_unset(c, &["imagePullPolicy"]) {
        let image = c.get("image").and_then(|i| i.as_str()).unwrap_or("");
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        set_default(c, &["imagePullPolicy"], json!(policy));
    }
    set_default(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    set_default(c, &["terminationMessagePolicy"], json!("File"));
    for port in array_mut(c, &["ports"]) {
        set_default(port, &["protocol"], json!("TCP"));
        if host_network
            && is_unset(port, &["hostPort"])
            && let Some(cp) = port.get("containerPort").cloned()
        {
            set_default(port, &["hostPort"], cp);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe)
            && p.is_object()
        {
            set_default(p, &["timeoutSeconds"], json!(1));
            set_default(p, &["periodSeconds"], json!(10));
            set_default(p, &["successThreshold"], json!(1));
            set_default(p, &["failureThreshold"], json!(3));
            default_handler(p);
        }
    }
    for hook in ["postStart", "preStop"] {
        if let Some(h) = get_mut(c, &["lifecycle", hook]) {
            default_handler(h);
        }
    }
    for env in array_mut(c, &["env"]) {
        if let Some(fr) = get_mut(env, &["valueFrom", "fieldRef"]) {
            set_default(fr, &["apiVersion"], json!("v1"));
        }
    }
}

/// `SetDefaults_HTTPGetAction`: path `/`, scheme `HTTP`.
pub(super) fn default_handler(h: &mut Value) {
    if let Some(get) = h.get_mut("httpGet")
        && get.is_object()
    {
        set_default(get, &["path"], json!("/"));
        set_default(get, &["scheme"], json!("HTTP"));
    }
}

/// The tag `ParseImageName` finds: `latest` when there is neither tag nor digest, empty
/// when only a digest is given.
pub(super) fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => tag.to_string(),
        None if digest.is_some() => String::new(),
        None => "latest".into(),
    }
}

pub(super) const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// `SetDefaults_Volume` and the volume sources' defaults (mode 0644 for secret,
/// configMap, downwardAPI and projected volumes).
pub(super) fn default_volume(v: &mut Value) {
    if !v.is_object() {
        return;
    }
    if VOLUME_SOURCES.iter().all(|s| is_unset(v, &[s])) {
        set_default(v, &["emptyDir"], json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = v.get_mut(source)
            && src.is_object()
        {
            set_default(src, &["defaultMode"], json!(420));
        }
    }
    if let Some(hp) = v.get_mut("hostPath")
        && hp.is_object()
    {
        set_default(hp, &["type"], json!(""));
    }
    if let Some(src) = get_mut(v, &["downwardAPI"]) {
        for item in array_mut(src, &["items"]) {
            if let Some(fr) = item.get_mut("fieldRef") {
                set_default(fr, &["apiVersion"], json!("v1"));
            }
        }
    }
}

/// Pod template defaults at `path` (its `spec`).
pub(super) fn default_template(obj: &mut Value, path: &[&str]) {
    if let Some(t) = get_mut(obj, path)
        && let Some(spec) = t.get_mut("spec")
    {
        default_pod_spec(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;

    fn pod_spec() -> Value {
        json!({"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
             "livenessProbe": {"httpGet": {"port": 80}},
             "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
            {"name": "b", "image": "nginx:1.25", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "c", "image": "registry:5000/app@sha256:abc"},
            {"name": "d", "image": "localhost:5000/app"}
        ], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]})
    }

    #[test]
    fn pod_defaults() {
        let pod = defaulted(
            "",
            "pods",
            json!({"metadata": {"name": "p"}, "spec": pod_spec()}),
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        let a = &spec["containers"][0];
        assert_eq!(a["imagePullPolicy"], "Always");
        assert_eq!(a["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(a["terminationMessagePolicy"], "File");
        assert_eq!(a["ports"][0]["protocol"], "TCP");
        assert!(a["ports"][0].get("hostPort").is_none());
        let probe = &a["livenessProbe"];
        assert_eq!(probe["timeoutSeconds"], 1);
        assert_eq!(probe["periodSeconds"], 10);
        assert_eq!(probe["successThreshold"], 1);
        assert_eq!(probe["failureThreshold"], 3);
        assert_eq!(probe["httpGet"]["path"], "/");
        assert_eq!(probe["httpGet"]["scheme"], "HTTP");
        assert_eq!(a["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        let b = &spec["containers"][1];
        assert_eq!(b["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            b["resources"]["requests"],
            json!({"cpu": "1", "memory": "1Gi"})
        );
        assert_eq!(spec["containers"][2]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["containers"][3]["imagePullPolicy"], "Always");
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][1]["secret"]["defaultMode"], 420);
        assert!(spec["volumes"][1].get("emptyDir").is_none());
    }

    #[test]
    fn the_deprecated_service_account_field_mirrors_the_name() {
        for (given, want) in [
            (json!({}), None),
            (json!({"serviceAccountName": "a"}), Some("a")),
            (json!({"serviceAccount": "old"}), Some("old")),
            (
                json!({"serviceAccountName": "a", "serviceAccount": "old"}),
                Some("a"),
            ),
            (
                json!({"serviceAccountName": "", "serviceAccount": "old"}),
                Some("old"),
            ),
        ] {
            let mut spec = given.clone();
            spec["containers"] = json!([{"name": "c", "image": "i"}]);
            let pod = defaulted("", "pods", json!({"metadata": {"name": "p"}, "spec": spec}));
            let got = |f: &str| pod["spec"].get(f).and_then(Value::as_str);
            assert_eq!(got("serviceAccountName"), want, "{given}");
            assert_eq!(got("serviceAccount"), want, "{given}");
        }
    }

    #[test]
    fn explicit_values_are_kept() {
        let pod = defaulted(
            "",
            "pods",
            json!({"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "a", "image": "x:latest", "imagePullPolicy": "Never"}]}}),
        );
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 0);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Never");
    }

    #[test]
    fn host_network_copies_container_ports() {
        let pod = defaulted(
            "",
            "pods",
            json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 8080}]}]}}),
        );
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:latest"), "latest");
        assert_eq!(image_tag("nginx:1.2"), "1.2");
        assert_eq!(image_tag("localhost:5000/nginx"), "latest");
        assert_eq!(image_tag("localhost:5000/nginx:v1"), "v1");
        assert_eq!(image_tag("nginx@sha256:abc"), "");
        assert_eq!(image_tag("nginx:1@sha256:abc"), "1");
    }
}
