//! Defaulting as kube-apiserver does it when an object is decoded for create or update
//! (`pkg/apis/*/v1/defaults.go`, `SetDefaults_*`), plus the stateless parts of the
//! registry strategies' `PrepareForCreate` that fill fields in (a Job's generated
//! selector, a Namespace's `kubernetes` finalizer, a Pod's initial status).
//!
//! Stateful defaults (ClusterIP and NodePort allocation, PriorityClass resolution) are
//! the server's, since they need storage. Custom resources get their schema's `default`
//! values through [`crate::crd::defaults::apply_schema_defaults`].

use serde_json::{Map, Value, json};

use crate::json::{array_mut, get_mut, is_unset, set_default};
use crate::kinds::{KindInfo, Subresource};

/// Fills in every default upstream fills in for an object of `kind`. Idempotent: applying
/// it twice gives the same object. Needs `metadata.uid` (set before defaulting) for the
/// Job selector; `metadata.name` for Namespace and Job labels.
pub fn apply_defaults(kind: &KindInfo, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    if let Some(custom) = &kind.custom {
        if let Some(schema) = &custom.schema {
            crate::crd::defaults::apply_schema_defaults(schema, obj);
        }
        return;
    }
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => default_pod(obj),
        ("", "Service") => default_service(obj),
        ("", "Namespace") => default_namespace(obj),
        ("", "Node") => default_node(obj),
        ("", "Secret") => {
            convert_secret_data(obj);
            set_default(obj, &["type"], json!("Opaque"));
        }
        ("", "Endpoints") => {
            for subset in array_mut(obj, &["subsets"]) {
                for port in array_mut(subset, &["ports"]) {
                    set_default(port, &["protocol"], json!("TCP"));
                }
            }
        }
        ("", "PersistentVolumeClaim") => default_pvc(obj),
        ("", "PersistentVolume") => {
            set_default(
                obj,
                &["spec", "persistentVolumeReclaimPolicy"],
                json!("Retain"),
            );
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
            set_default(obj, &["status", "phase"], json!("Pending"));
        }
        ("", "ServiceAccount" | "ConfigMap" | "Event") => {}
        ("", "ReplicationController") => default_replication_controller(obj),
        ("apps", "Deployment") => default_deployment(obj),
        ("apps", "ReplicaSet") => {
            set_default(obj, &["spec", "replicas"], json!(1));
            default_template(obj, &["spec", "template"]);
        }
        ("apps", "StatefulSet") => default_statefulset(obj),
        ("apps", "DaemonSet") => default_daemonset(obj),
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => default_cronjob(obj),
        ("discovery.k8s.io", "EndpointSlice") => {
            for port in array_mut(obj, &["ports"]) {
                set_default(port, &["name"], json!(""));
                set_default(port, &["protocol"], json!("TCP"));
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            set_default(obj, &["preemptionPolicy"], json!("PreemptLowerPriority"))
        }
        ("storage.k8s.io", "StorageClass") => {
            set_default(obj, &["reclaimPolicy"], json!("Delete"));
            set_default(obj, &["volumeBindingMode"], json!("Immediate"));
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            set_default(
                obj,
                &["roleRef", "apiGroup"],
                json!("rbac.authorization.k8s.io"),
            );
            for subject in array_mut(obj, &["subjects"]) {
                let group = match subject.get("kind").and_then(|k| k.as_str()) {
                    Some("User" | "Group") => "rbac.authorization.k8s.io",
                    _ => "",
                };
                set_default(subject, &["apiGroup"], json!(group));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            crate::crd::defaults::default_crd(obj)
        }
        _ => {}
    }
}

/// The `status` a create stores for `kind`, as the registry strategies' `PrepareForCreate`
/// resets it: `Some(status)` replaces whatever the client sent (e.g. `{}` for
/// Deployments, `{phase: Pending, qosClass}` for Pods), `None` keeps the client's status
/// (kinds without a `status` subresource, and Nodes, whose agent reports status on create).
pub fn initial_status(kind: &KindInfo, obj: &Value) -> Option<Value> {
    if !kind.has_subresource(Subresource::Status) {
        return None;
    }
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Node") => None,
        ("", "Pod") => Some(json!({
            "phase": "Pending",
            "qosClass": pod_qos_class(obj.get("spec").unwrap_or(&Value::Null)),
        })),
        ("", "Namespace") => Some(json!({"phase": "Active"})),
        ("", "PersistentVolumeClaim" | "PersistentVolume") => Some(json!({"phase": "Pending"})),
        _ => Some(json!({})),
    }
}

/// A pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`) from its containers'
/// requests and limits, as `qos.GetPodQOS` computes it.
pub fn pod_qos_class(spec: &Value) -> &'static str {
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

fn is_zero_quantity(v: &Value) -> bool {
    match v {
        Value::String(s) => s.trim_start_matches('0').is_empty() || s == "0m",
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

// --- secrets ---------------------------------------------------------------------------

/// Upstream's `Convert_v1_Secret_To_core_Secret`: `stringData` is write-only, each of its
/// entries overwrites `data[key]` (base64 of the string), and the field is never stored.
/// Left in place when a value is not a string, so validation names it. `data` values
/// lose the line breaks Go's base64 decoder skips, as upstream re-encodes the bytes.
fn convert_secret_data(secret: &mut Value) {
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

// --- pods ------------------------------------------------------------------------------

/// `SetDefaults_Pod` + the pod spec defaults.
fn default_pod(pod: &mut Value) {
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
fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
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

/// `SetDefaults_Container`, ports, probes, lifecycle handlers and env field references.
fn default_container(c: &mut Value, host_network: bool) {
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
fn default_handler(h: &mut Value) {
    if let Some(get) = h.get_mut("httpGet")
        && get.is_object()
    {
        set_default(get, &["path"], json!("/"));
        set_default(get, &["scheme"], json!("HTTP"));
    }
}

/// The tag `ParseImageName` finds: `latest` when there is neither tag nor digest, empty
/// when only a digest is given.
pub fn image_tag(image: &str) -> String {
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

const VOLUME_SOURCES: &[&str] = &[
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
fn default_volume(v: &mut Value) {
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
fn default_template(obj: &mut Value, path: &[&str]) {
    if let Some(t) = get_mut(obj, path)
        && let Some(spec) = t.get_mut("spec")
    {
        default_pod_spec(spec);
    }
}

// --- core ------------------------------------------------------------------------------

/// `SetDefaults_ReplicationController`: with template labels, an empty selector and
/// empty object labels take them; `spec.replicas` defaults to 1.
fn default_replication_controller(rc: &mut Value) {
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

fn default_service(svc: &mut Value) {
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

fn default_namespace(ns: &mut Value) {
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

fn default_node(node: &mut Value) {
    if is_unset(node, &["status", "allocatable"])
        && let Some(cap) = node.pointer("/status/capacity").cloned()
        && !cap.is_null()
    {
        set_default(node, &["status", "allocatable"], cap);
    }
}

fn default_pvc(pvc: &mut Value) {
    set_default(pvc, &["spec", "volumeMode"], json!("Filesystem"));
    set_default(pvc, &["status", "phase"], json!("Pending"));
}

// --- apps ------------------------------------------------------------------------------

fn default_deployment(d: &mut Value) {
    set_default(d, &["spec", "replicas"], json!(1));
    set_default(d, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if d.pointer("/spec/strategy/type").and_then(|t| t.as_str()) == Some("RollingUpdate") {
        set_default(
            d,
            &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
            json!("25%"),
        );
        set_default(
            d,
            &["spec", "strategy", "rollingUpdate", "maxSurge"],
            json!("25%"),
        );
    }
    set_default(d, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(d, &["spec", "progressDeadlineSeconds"], json!(600));
    default_template(d, &["spec", "template"]);
}

fn default_statefulset(s: &mut Value) {
    set_default(s, &["spec", "replicas"], json!(1));
    set_default(s, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    if is_unset(s, &["spec", "updateStrategy", "type"]) {
        set_default(
            s,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        set_default(s, &["spec", "updateStrategy", "rollingUpdate"], json!({}));
    }
    if s.pointer("/spec/updateStrategy/type")
        .and_then(|t| t.as_str())
        == Some("RollingUpdate")
        && s.pointer("/spec/updateStrategy/rollingUpdate").is_some()
    {
        set_default(
            s,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
    }
    set_default(s, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(
        s,
        &[
            "spec",
            "persistentVolumeClaimRetentionPolicy",
            "whenDeleted",
        ],
        json!("Retain"),
    );
    set_default(
        s,
        &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"],
        json!("Retain"),
    );
    default_template(s, &["spec", "template"]);
    if let Some(spec) = get_mut(s, &["spec"]) {
        for pvc in array_mut(spec, &["volumeClaimTemplates"]) {
            default_pvc(pvc);
        }
    }
}

fn default_daemonset(d: &mut Value) {
    set_default(
        d,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if d.pointer("/spec/updateStrategy/type")
        .and_then(|t| t.as_str())
        == Some("RollingUpdate")
    {
        set_default(
            d,
            &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
            json!(1),
        );
        set_default(
            d,
            &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
            json!(0),
        );
    }
    set_default(d, &["spec", "revisionHistoryLimit"], json!(10));
    default_template(d, &["spec", "template"]);
}

// --- batch -----------------------------------------------------------------------------

/// The label holding a Job's uid on its pods and in its generated selector.
pub const JOB_CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label holding a Job's name on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

fn default_job(job: &mut Value) {
    if is_unset(job, &["spec", "completions"]) && is_unset(job, &["spec", "parallelism"]) {
        set_default(job, &["spec", "completions"], json!(1));
    }
    set_default(job, &["spec", "parallelism"], json!(1));
    let per_index = !is_unset(job, &["spec", "backoffLimitPerIndex"]);
    set_default(
        job,
        &["spec", "backoffLimit"],
        json!(if per_index { i32::MAX as i64 } else { 6 }),
    );
    set_default(job, &["spec", "completionMode"], json!("NonIndexed"));
    set_default(job, &["spec", "suspend"], json!(false));
    set_default(job, &["spec", "manualSelector"], json!(false));
    let has_failure_policy = !is_unset(job, &["spec", "podFailurePolicy"]);
    if let Some(rules) = get_mut(job, &["spec", "podFailurePolicy", "rules"]) {
        for rule in rules.as_array_mut().into_iter().flatten() {
            for pattern in array_mut(rule, &["onPodConditions"]) {
                set_default(pattern, &["status"], json!("True"));
            }
        }
    }
    set_default(
        job,
        &["spec", "podReplacementPolicy"],
        json!(if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    generate_job_selector(job);
    default_template(job, &["spec", "template"]);
    // Job labels default to the template's labels when the Job has none.
    let template_labels = job.pointer("/spec/template/metadata/labels").cloned();
    if let Some(labels) = template_labels
        && labels.as_object().is_some_and(|l| !l.is_empty())
    {
        let has_labels = job
            .pointer("/metadata/labels")
            .and_then(|l| l.as_object())
            .is_some_and(|l| !l.is_empty());
        if !has_labels && let Some(meta) = job.get_mut("metadata") {
            meta["labels"] = labels;
        }
    }
}

/// The Job strategy's `generateSelector`: unless `manualSelector`, label the template
/// with the Job's name and uid and select on the uid.
fn generate_job_selector(job: &mut Value) {
    if job
        .pointer("/spec/manualSelector")
        .and_then(|m| m.as_bool())
        == Some(true)
    {
        return;
    }
    let uid = job
        .pointer("/metadata/uid")
        .and_then(|u| u.as_str())
        .unwrap_or("")
        .to_string();
    let name = job
        .pointer("/metadata/name")
        .and_then(|u| u.as_str())
        .unwrap_or("")
        .to_string();
    if uid.is_empty() {
        return;
    }
    for (label, value) in [
        (LEGACY_JOB_NAME_LABEL, &name),
        (JOB_NAME_LABEL, &name),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (JOB_CONTROLLER_UID_LABEL, &uid),
    ] {
        set_default(
            job,
            &["spec", "template", "metadata", "labels", label],
            json!(value),
        );
    }
    set_default(
        job,
        &["spec", "selector", "matchLabels", JOB_CONTROLLER_UID_LABEL],
        json!(uid),
    );
}

fn default_cronjob(cj: &mut Value) {
    set_default(cj, &["spec", "concurrencyPolicy"], json!("Allow"));
    set_default(cj, &["spec", "suspend"], json!(false));
    set_default(cj, &["spec", "successfulJobsHistoryLimit"], json!(3));
    set_default(cj, &["spec", "failedJobsHistoryLimit"], json!(1));
    default_template(cj, &["spec", "jobTemplate", "spec", "template"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;

    fn defaulted(group: &str, plural: &str, mut obj: Value) -> Value {
        let k = Registry::with_builtins()
            .lookup(group, "v1", plural)
            .unwrap();
        apply_defaults(&k, &mut obj);
        // Idempotent.
        let mut again = obj.clone();
        apply_defaults(&k, &mut again);
        assert_eq!(obj, again, "defaulting {plural} twice changed it");
        obj
    }

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

    #[test]
    fn deployment_defaults() {
        let d = defaulted(
            "apps",
            "deployments",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let tspec = &spec["template"]["spec"];
        assert_eq!(tspec["restartPolicy"], "Always");
        assert_eq!(tspec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        // Templates do not get the Pod-only defaults.
        assert!(tspec.get("enableServiceLinks").is_none());
        let recreate = defaulted(
            "apps",
            "deployments",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(recreate["spec"]["replicas"], 0);
        assert!(recreate["spec"]["strategy"].get("rollingUpdate").is_none());
    }

    #[test]
    fn statefulset_daemonset_replicaset_defaults() {
        let s = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]}}),
        );
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(s["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let ondelete = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(
            ondelete["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );

        let d = defaulted("apps", "daemonsets", json!({"spec": {}}));
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let rs = defaulted("apps", "replicasets", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);
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
    fn job_defaults_and_generated_selector() {
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"name": "pi", "uid": "u-1"},
                   "spec": {"template": {"spec": {"restartPolicy": "Never",
                            "containers": [{"name": "pi", "image": "perl"}]}}}}),
        );
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1",
            "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "job-name": "pi"});
        assert_eq!(spec["template"]["metadata"]["labels"], labels);
        assert_eq!(j["metadata"]["labels"], labels);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn job_parallelism_rules_and_manual_selector() {
        // completions unset, parallelism set: completions stays unset (work queue).
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"parallelism": 3}}),
        );
        assert!(j["spec"].get("completions").is_none());
        assert_eq!(j["spec"]["parallelism"], 3);
        // completions set, parallelism unset: parallelism 1.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"completions": 5}}),
        );
        assert_eq!(j["spec"]["parallelism"], 1);
        // Per-index backoff makes the global limit unlimited.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"backoffLimitPerIndex": 1, "completionMode": "Indexed",
                   "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        );
        assert_eq!(j["spec"]["backoffLimit"], i32::MAX);
        assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(
            j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            "True"
        );
        // A manual selector is left alone.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"manualSelector": true,
                   "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}}),
        );
        assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"a": "b"}}));
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"],
            json!({"a": "b"})
        );
    }

    #[test]
    fn cronjob_defaults() {
        let c = defaulted(
            "batch",
            "cronjobs",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}}}}),
        );
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(
            c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
        // SetDefaults_Job does not apply inside a job template.
        assert!(
            c["spec"]["jobTemplate"]["spec"]
                .get("backoffLimit")
                .is_none()
        );
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

    #[test]
    fn namespace_node_volume_and_misc_defaults() {
        let ns = defaulted("", "namespaces", json!({"metadata": {"name": "team-a"}}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        let node = defaulted(
            "",
            "nodes",
            json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}}),
        );
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4"}));
        let pvc = defaulted("", "persistentvolumeclaims", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
        let secret = defaulted("", "secrets", json!({"data": {}}));
        assert_eq!(secret["type"], "Opaque");
        let pc = defaulted("scheduling.k8s.io", "priorityclasses", json!({"value": 5}));
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        let sc = defaulted(
            "storage.k8s.io",
            "storageclasses",
            json!({"provisioner": "p"}),
        );
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        let rb = defaulted(
            "rbac.authorization.k8s.io",
            "rolebindings",
            json!({"roleRef": {"kind": "Role", "name": "r"},
                   "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "d"}]}),
        );
        assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][1]["apiGroup"], "");
        let slice = defaulted(
            "discovery.k8s.io",
            "endpointslices",
            json!({"addressType": "IPv4", "ports": [{"port": 80}]}),
        );
        assert_eq!(
            slice["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
    }

    #[test]
    fn initial_status_per_kind() {
        let r = Registry::with_builtins();
        let pod = r.lookup("", "v1", "pods").unwrap();
        let be = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
        assert_eq!(
            initial_status(&pod, &be),
            Some(json!({"phase": "Pending", "qosClass": "BestEffort"}))
        );
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(initial_status(&pod, &g).unwrap()["qosClass"], "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(initial_status(&pod, &b).unwrap()["qosClass"], "Burstable");
        let deploy = r.lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(initial_status(&deploy, &json!({})), Some(json!({})));
        let node = r.lookup("", "v1", "nodes").unwrap();
        assert_eq!(initial_status(&node, &json!({})), None);
        let cm = r.lookup("", "v1", "configmaps").unwrap();
        assert_eq!(initial_status(&cm, &json!({})), None);
    }
}
