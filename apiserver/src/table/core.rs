//! The core group's tables besides Pods and Events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::apps::{replicated_cells, replicated_columns};
use super::columns::{age_column, col, condition_status, name, name_column, obj_age, wide};
use super::format::{format_labels, or_none};

pub(super) fn namespace_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Status", "string", "The status of the namespace"),
        age_column(),
    ]
}

pub(super) fn namespace_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["status", "phase"])),
        obj_age(o, now),
    ]
}

pub(super) fn node_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        age_column(),
        col("Version", "string", "Kubelet Version reported by the node."),
        wide(
            "Internal-IP",
            "string",
            "List of addresses reachable to the node.",
        ),
        wide(
            "External-IP",
            "string",
            "List of addresses reachable to the node.",
        ),
        wide(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        ),
        wide(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        ),
        wide(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ]
}

pub(super) fn node_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(st) = condition_status(array_at(o, &["status", "conditions"]), "Ready") {
        status.push(if st == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if at(o, &["spec", "unschedulable"]).as_bool() == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles = std::collections::BTreeSet::new();
    if let Some(labels) = at(o, &["metadata", "labels"]).as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(v) = v.as_str()
                && !v.is_empty()
            {
                roles.insert(v.to_string());
            }
        }
    }
    let roles: Vec<String> = roles.into_iter().collect();
    let address = |t: &str| {
        array_at(o, &["status", "addresses"])
            .iter()
            .find(|a| str_at(a, &["type"]) == t)
            .map(|a| str_at(a, &["address"]).to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let info = at(o, &["status", "nodeInfo"]);
    let unknown = |x: &str| {
        if x.is_empty() {
            "<unknown>".to_string()
        } else {
            x.to_string()
        }
    };
    vec![
        name(o),
        json!(status.join(",")),
        json!(or_none(&roles.join(","))),
        obj_age(o, now),
        json!(str_at(info, &["kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(unknown(str_at(info, &["osImage"]))),
        json!(unknown(str_at(info, &["kernelVersion"]))),
        json!(unknown(str_at(info, &["containerRuntimeVersion"]))),
    ]
}

pub(super) fn service_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Type",
            "string",
            "type determines how the Service is exposed.",
        ),
        col(
            "Cluster-IP",
            "string",
            "clusterIP is the IP address of the service and is usually assigned randomly.",
        ),
        col(
            "External-IP",
            "string",
            "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        ),
        col(
            "Port(s)",
            "string",
            "The list of ports that are exposed by this service.",
        ),
        age_column(),
        wide(
            "Selector",
            "string",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ]
}

pub(super) fn service_external_ip(o: &Value, wide: bool) -> String {
    let external: Vec<&str> = array_at(o, &["spec", "externalIPs"])
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    match str_at(o, &["spec", "type"]) {
        "ClusterIP" | "NodePort" | "" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = array_at(o, &["status", "loadBalancer", "ingress"])
                .iter()
                .filter_map(|i| {
                    let ip = str_at(i, &["ip"]);
                    let host = str_at(i, &["hostname"]);
                    if !ip.is_empty() {
                        Some(ip.to_string())
                    } else if !host.is_empty() {
                        Some(host.to_string())
                    } else {
                        None
                    }
                })
                .collect();
            lb.sort();
            lb.dedup();
            let mut lb_text = lb.join(",");
            if !wide && lb_text.len() > 16 {
                lb_text = format!("{}...", &lb_text[..13]);
            }
            if !external.is_empty() {
                let mut all: Vec<String> = if lb_text.is_empty() {
                    Vec::new()
                } else {
                    lb_text.split(',').map(String::from).collect()
                };
                all.extend(external.iter().map(|s| s.to_string()));
                all.join(",")
            } else if !lb_text.is_empty() {
                lb_text
            } else {
                "<pending>".into()
            }
        }
        "ExternalName" => str_at(o, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

pub(super) fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = array_at(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let proto = match str_at(p, &["protocol"]) {
                "" => "TCP",
                x => x,
            };
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{}:{}/{}", int_at(p, &["port"]), node_port, proto)
            } else {
                format!("{}/{}", int_at(p, &["port"]), proto)
            }
        })
        .collect();
    vec![
        name(o),
        json!(str_at(o, &["spec", "type"])),
        json!(or_none(str_at(o, &["spec", "clusterIP"]))),
        json!(service_external_ip(o, true)),
        json!(or_none(&ports.join(","))),
        obj_age(o, now),
        json!(format_labels(at(o, &["spec", "selector"]))),
    ]
}

pub(super) fn endpoints_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Endpoints",
            "string",
            "The set of all endpoints is the union of all subsets.",
        ),
        age_column(),
    ]
}

pub(super) fn endpoints_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let subsets = array_at(o, &["subsets"]);
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let max = 3;
        let mut list = Vec::new();
        let mut count = 0;
        for ss in subsets {
            for port in array_at(ss, &["ports"]) {
                for addr in array_at(ss, &["addresses"]) {
                    if list.len() < max {
                        let ip = str_at(addr, &["ip"]);
                        let p = int_at(port, &["port"]);
                        list.push(if ip.contains(':') {
                            format!("[{ip}]:{p}")
                        } else {
                            format!("{ip}:{p}")
                        });
                    }
                    count += 1;
                }
            }
        }
        let ret = list.join(",");
        if count > max {
            format!("{ret} + {} more...", count - max)
        } else {
            ret
        }
    };
    vec![name(o), json!(text), obj_age(o, now)]
}

pub(super) fn configmap_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Data", "string", "Data contains the configuration data."),
        age_column(),
    ]
}

pub(super) fn map_len(v: &Value) -> usize {
    v.as_object().map(|m| m.len()).unwrap_or(0)
}

pub(super) fn configmap_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = map_len(at(o, &["data"])) + map_len(at(o, &["binaryData"]));
    vec![name(o), json!(count), obj_age(o, now)]
}

pub(super) fn secret_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Type",
            "string",
            "Used to facilitate programmatic handling of secret data.",
        ),
        col("Data", "string", "Data contains the secret data."),
        age_column(),
    ]
}

pub(super) fn secret_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["type"])),
        json!(map_len(at(o, &["data"]))),
        obj_age(o, now),
    ]
}

pub(super) fn serviceaccount_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Secrets",
            "string",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        ),
        age_column(),
    ]
}

pub(super) fn serviceaccount_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(array_at(o, &["secrets"]).len()),
        obj_age(o, now),
    ]
}

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, each once.
pub(super) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

pub(super) fn unset(x: &str) -> String {
    if x.is_empty() {
        "<unset>".into()
    } else {
        x.to_string()
    }
}

/// The StorageClass of a claim or volume: the legacy beta annotation, else
/// `spec.storageClassName`.
fn storage_class_name(o: &Value) -> &str {
    match str_at(
        o,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    ) {
        "" => str_at(o, &["spec", "storageClassName"]),
        a => a,
    }
}

pub(super) fn pvc_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Status",
            "string",
            "phase represents the current phase of PersistentVolumeClaim.",
        ),
        col(
            "Volume",
            "string",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        col(
            "Capacity",
            "string",
            "capacity represents the actual resources of the underlying volume.",
        ),
        col(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        age_column(),
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines what type of volume is required by the claim.",
        ),
    ]
}

pub(super) fn pvc_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut phase = str_at(o, &["status", "phase"]).to_string();
    if at(o, &["metadata", "deletionTimestamp"]).is_string() {
        phase = "Terminating".into();
    }
    let volume = str_at(o, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            str_at(o, &["status", "capacity", "storage"]).to_string(),
            access_modes(array_at(o, &["status", "accessModes"])),
        )
    };
    let class = storage_class_name(o);
    vec![
        name(o),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(unset(str_at(o, &["spec", "volumeAttributesClassName"]))),
        obj_age(o, now),
        json!(unset(str_at(o, &["spec", "volumeMode"]))),
    ]
}

pub(super) fn pv_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Capacity",
            "string",
            "capacity is the description of the persistent volume's resources and capacity.",
        ),
        col(
            "Access Modes",
            "string",
            "accessModes contains all ways the volume can be mounted.",
        ),
        col(
            "Reclaim Policy",
            "string",
            "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
        ),
        col(
            "Status",
            "string",
            "phase indicates if a volume is available, bound to a claim, or released by a claim.",
        ),
        col(
            "Claim",
            "string",
            "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
        ),
        col("StorageClass", "string", "StorageClass of the pv"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        col(
            "Reason",
            "string",
            "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
        ),
        age_column(),
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
        ),
    ]
}

pub(super) fn pv_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = at(o, &["spec", "claimRef"]);
    let claim_text = if claim.is_object() {
        format!(
            "{}/{}",
            str_at(claim, &["namespace"]),
            str_at(claim, &["name"])
        )
    } else {
        String::new()
    };
    let mut phase = str_at(o, &["status", "phase"]).to_string();
    if at(o, &["metadata", "deletionTimestamp"]).is_string() {
        phase = "Terminating".into();
    }
    let class = storage_class_name(o);
    vec![
        name(o),
        json!(str_at(o, &["spec", "capacity", "storage"])),
        json!(access_modes(array_at(o, &["spec", "accessModes"]))),
        json!(str_at(o, &["spec", "persistentVolumeReclaimPolicy"])),
        json!(phase),
        json!(claim_text),
        json!(class),
        json!(unset(str_at(o, &["spec", "volumeAttributesClassName"]))),
        json!(str_at(o, &["status", "reason"])),
        obj_age(o, now),
        json!(unset(str_at(o, &["spec", "volumeMode"]))),
    ]
}

pub(super) fn replication_controller_columns() -> Vec<PrinterColumn> {
    replicated_columns(
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        "The number of ready replicas for this replication controller.",
        "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
}

pub(super) fn replication_controller_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replicated_cells(o, format_labels, now)
}

/// `kubectl get namespaces`.
pub(crate) const NAMESPACE: TablePrinter = TablePrinter {
    columns: namespace_columns,
    cells: namespace_cells,
    row_conditions: None,
};

/// `kubectl get nodes`.
pub(crate) const NODE: TablePrinter = TablePrinter {
    columns: node_columns,
    cells: node_cells,
    row_conditions: None,
};

/// `kubectl get services`.
pub(crate) const SERVICE: TablePrinter = TablePrinter {
    columns: service_columns,
    cells: service_cells,
    row_conditions: None,
};

/// `kubectl get endpoints`.
pub(crate) const ENDPOINTS: TablePrinter = TablePrinter {
    columns: endpoints_columns,
    cells: endpoints_cells,
    row_conditions: None,
};

/// `kubectl get configmaps`.
pub(crate) const CONFIG_MAP: TablePrinter = TablePrinter {
    columns: configmap_columns,
    cells: configmap_cells,
    row_conditions: None,
};

/// `kubectl get secrets`.
pub(crate) const SECRET: TablePrinter = TablePrinter {
    columns: secret_columns,
    cells: secret_cells,
    row_conditions: None,
};

/// `kubectl get serviceaccounts`.
pub(crate) const SERVICE_ACCOUNT: TablePrinter = TablePrinter {
    columns: serviceaccount_columns,
    cells: serviceaccount_cells,
    row_conditions: None,
};

/// `kubectl get persistentvolumeclaims`.
pub(crate) const PVC: TablePrinter = TablePrinter {
    columns: pvc_columns,
    cells: pvc_cells,
    row_conditions: None,
};

/// `kubectl get persistentvolumes`.
pub(crate) const PV: TablePrinter = TablePrinter {
    columns: pv_columns,
    cells: pv_cells,
    row_conditions: None,
};

/// `kubectl get replicationcontrollers`.
pub(crate) const REPLICATION_CONTROLLER: TablePrinter = TablePrinter {
    columns: replication_controller_columns,
    cells: replication_controller_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, table};

    #[test]
    fn service_table() {
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": ago(10)},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        let t = table("", "services", svc);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP"),
                json!("10s"),
                json!("app=web")
            ]
        );
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "None"}});
        assert_eq!(cells(&table("", "services", lb))[3], json!("<pending>"));
        let ext = json!({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
        let c = cells(&table("", "services", ext));
        assert_eq!(c[2], json!("<none>"));
        assert_eq!(c[3], json!("example.com"));
        assert_eq!(c[4], json!("<none>"));
        assert_eq!(c[5], json!("<unknown>"));
    }

    #[test]
    fn node_namespace_configmap_secret_tables() {
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": ago(86400 * 2),
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0"},
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}]}});
        let t = table("", "nodes", node);
        assert_eq!(headers(&t), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        assert_eq!(
            cells(&t),
            vec![
                json!("n1"),
                json!("NotReady,SchedulingDisabled"),
                json!("control-plane,edge,worker"),
                json!("2d"),
                json!("v1.33.0"),
                json!("192.168.1.2"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(5)}, "status": {"phase": "Active"}});
        let t = table("", "namespaces", ns);
        assert_eq!(headers(&t), ["NAME", "STATUS", "AGE"]);
        assert_eq!(
            cells(&t),
            vec![json!("default"), json!("Active"), json!("5s")]
        );
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": ago(5)}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        let t = table("", "configmaps", cm);
        assert_eq!(headers(&t), ["NAME", "DATA", "AGE"]);
        assert_eq!(cells(&t)[1], json!(3));
        let sec = json!({"metadata": {"name": "s", "creationTimestamp": ago(5)}, "type": "Opaque", "data": {"k": "dg=="}});
        let t = table("", "secrets", sec);
        assert_eq!(headers(&t), ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(cells(&t)[1..3], [json!("Opaque"), json!(1)]);
    }
}
