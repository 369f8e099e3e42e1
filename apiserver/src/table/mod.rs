//! `meta.k8s.io/v1` `Table` rendering for `kubectl get`: the columns kube-apiserver's
//! printers (`pkg/printers/internalversion/printers.go`) produce for built-in kinds, the
//! `NAME CREATED AT` default table for kinds without a printer, and a CRD version's
//! `additionalPrinterColumns` (evaluated with a simple JSONPath) for custom resources.
//!
//! Like kube-apiserver, the server renders the wide (`priority: 1`) columns too and the
//! client hides them unless `-o wide`; [`TableOptions::default`] does so.

pub(crate) mod apiregistration;
pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod certificates;
mod columns;
pub(crate) mod component_status;
pub(crate) mod core;
mod custom;
pub(crate) mod discovery;
pub(crate) mod events;
mod format;
mod json_path;
pub(crate) mod pod;
pub(crate) mod policy;
pub(crate) mod quota;
pub(crate) mod rbac;
pub(crate) mod scheduling;
pub(crate) mod storage;
#[cfg(test)]
mod testing;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::kinds::{KindInfo, PrinterColumn};

use self::columns::{CREATION_DESC, col_full, default_cells, default_columns, name_column};
use self::custom::custom_cells;

/// What each row's `object` carries (`?includeObject=` on a Table request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object (`object: null`).
    None,
    /// A `PartialObjectMetadata` holding the object's metadata (kubectl's default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter (`None`, `Metadata`, `Object`); an
    /// empty value means the default (`Metadata`), anything else is `None` of the three.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// How to render a Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// Include the `priority: 1` cells (kube-apiserver always does; kubectl hides them
    /// unless `-o wide`).
    pub wide: bool,
    /// What each row's `object` holds.
    pub include_object: IncludeObject,
    /// Leave `columnDefinitions` empty (`TableOptions.noHeaders`, used on watch events
    /// after the first).
    pub no_headers: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            wide: true,
            include_object: IncludeObject::Metadata,
            no_headers: false,
        }
    }
}

/// Renders `objects` of `kind` as a `meta.k8s.io/v1` `Table`. `metadata` is left empty
/// (`{}`); the caller sets `resourceVersion`/`continue` as for a list. `now` is the time
/// ages are measured against.
pub fn to_table(
    kind: &KindInfo,
    objects: &[Value],
    options: TableOptions,
    now: DateTime<Utc>,
) -> Value {
    let printer = printer_for(kind);
    let columns: Vec<Value> = if options.no_headers {
        Vec::new()
    } else {
        printer
            .columns()
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = printer.cells(obj, now);
            if !options.wide {
                let cols = printer.columns();
                cells = cells
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| cols.get(*i).is_none_or(|c| c.priority == 0))
                    .map(|(_, c)| c)
                    .collect();
            }
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(conditions) = row_conditions(kind, obj) {
                row.insert("conditions".into(), conditions);
            }
            let object = match options.include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
                IncludeObject::Object => obj.clone(),
            };
            row.insert("object".into(), object);
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The column definitions a Table of `kind` carries (all of them, wide included).
pub fn column_definitions(kind: &KindInfo) -> Vec<PrinterColumn> {
    printer_for(kind).columns()
}

type ColumnsFn = fn() -> Vec<PrinterColumn>;

type CellsFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// One kind's table printer: its columns and how to compute a row's cells.
struct Printer {
    columns: ColumnsFn,
    cells: CellsFn,
    custom: Option<Vec<PrinterColumn>>,
}

impl Printer {
    fn columns(&self) -> Vec<PrinterColumn> {
        match &self.custom {
            Some(cols) => {
                let mut all = vec![name_column()];
                all.extend(cols.iter().cloned());
                all
            }
            None => (self.columns)(),
        }
    }

    fn cells(&self, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
        match &self.custom {
            Some(cols) => custom_cells(cols, obj, now),
            None => (self.cells)(obj, now),
        }
    }
}

fn printer_for(kind: &KindInfo) -> Printer {
    if let Some(custom) = &kind.custom {
        let cols = if custom.printer_columns.is_empty() {
            vec![col_full(
                "Age",
                "date",
                "",
                CREATION_DESC,
                0,
                ".metadata.creationTimestamp",
            )]
        } else {
            custom.printer_columns.clone()
        };
        return Printer {
            columns: default_columns,
            cells: default_cells,
            custom: Some(cols),
        };
    }
    let (columns, cells): (ColumnsFn, CellsFn) = match kind.descriptor.and_then(|d| d.table) {
        Some(p) => (p.columns, p.cells),
        None => (default_columns, default_cells),
    };
    Printer {
        columns,
        cells,
        custom: None,
    }
}

fn row_conditions(kind: &KindInfo, obj: &Value) -> Option<Value> {
    (kind.descriptor?.table?.row_conditions?)(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, kind, now, running_pod, table};

    #[test]
    fn include_object_and_narrow_options() {
        let k = kind("", "pods");
        let opts = TableOptions {
            wide: false,
            include_object: IncludeObject::Object,
            no_headers: true,
        };
        let t = to_table(&k, &[running_pod()], opts, now());
        assert_eq!(t["columnDefinitions"], json!([]));
        assert_eq!(cells(&t).len(), 5);
        assert_eq!(t["rows"][0]["object"]["spec"]["nodeName"], "node-1");
        let opts = TableOptions {
            include_object: IncludeObject::None,
            ..TableOptions::default()
        };
        let t = to_table(&k, &[running_pod()], opts, now());
        assert_eq!(t["rows"][0]["object"], Value::Null);
        assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
        assert_eq!(IncludeObject::parse("bogus"), None);
    }

    #[test]
    fn storage_and_policy_tables() {
        let pvc = json!({"metadata": {"name": "data", "creationTimestamp": ago(5)},
            "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}});
        let t = table("", "persistentvolumeclaims", pvc);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE"
            ]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("data"),
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("standard"),
                json!("<unset>"),
                json!("5s"),
                json!("Filesystem")
            ]
        );
        let pv = json!({"metadata": {"name": "pv-1", "creationTimestamp": ago(5)},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"}},
            "status": {"phase": "Bound"}});
        let t = table("", "persistentvolumes", pv);
        assert_eq!(
            cells(&t)[..6],
            [
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data")
            ]
        );
        let pdb = json!({"metadata": {"name": "p", "creationTimestamp": ago(5)},
            "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        let t = table("policy", "poddisruptionbudgets", pdb);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE"
            ]
        );
        assert_eq!(cells(&t)[1..4], [json!("50%"), json!("N/A"), json!(1)]);
        let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(5),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path"});
        let t = table("storage.k8s.io", "storageclasses", sc);
        assert_eq!(
            cells(&t),
            vec![
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false),
                json!("5s")
            ]
        );
        let pc = json!({"metadata": {"name": "high", "creationTimestamp": ago(5)}, "value": 1000});
        let t = table("scheduling.k8s.io", "priorityclasses", pc);
        assert_eq!(
            headers(&t),
            ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
        );
        assert_eq!(cells(&t)[4], json!("PreemptLowerPriority"));
    }

    #[test]
    fn network_and_coordination_tables() {
        let ep = json!({"metadata": {"name": "kubernetes", "creationTimestamp": ago(5)},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
                         "ports": [{"port": 6443}]}]});
        let t = table("", "endpoints", ep);
        assert_eq!(
            cells(&t)[1],
            json!("10.0.0.1:6443,10.0.0.2:6443,10.0.0.3:6443 + 1 more...")
        );
        let empty = json!({"metadata": {"name": "none"}});
        assert_eq!(cells(&table("", "endpoints", empty))[1], json!("<none>"));
        let slice = json!({"metadata": {"name": "k-abc", "creationTimestamp": ago(5)}, "addressType": "IPv4",
            "ports": [{"port": 6443, "name": "https"}], "endpoints": [{"addresses": ["10.0.0.1"]}]});
        let t = table("discovery.k8s.io", "endpointslices", slice);
        assert_eq!(
            headers(&t),
            ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
        );
        assert_eq!(
            cells(&t)[1..4],
            [json!("IPv4"), json!("6443"), json!("10.0.0.1")]
        );
        let lease = json!({"metadata": {"name": "n1", "creationTimestamp": ago(5)}, "spec": {"holderIdentity": "n1"}});
        let t = table("coordination.k8s.io", "leases", lease);
        assert_eq!(headers(&t), ["NAME", "HOLDER", "AGE"]);
        assert_eq!(cells(&t)[1], json!("n1"));
    }

    #[test]
    fn rbac_and_default_tables() {
        let rb = json!({"metadata": {"name": "rb", "creationTimestamp": ago(5)},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "kube-system"}]});
        let t = table("rbac.authorization.k8s.io", "rolebindings", rb);
        assert_eq!(headers(&t), ["NAME", "ROLE", "AGE"]);
        assert_eq!(
            cells(&t),
            vec![
                json!("rb"),
                json!("ClusterRole/view"),
                json!("5s"),
                json!("alice"),
                json!(""),
                json!("kube-system/sa")
            ]
        );
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        let t = table("rbac.authorization.k8s.io", "roles", role);
        assert_eq!(headers(&t), ["NAME", "CREATED AT"]);
        assert_eq!(cells(&t), vec![json!("r"), json!("2024-01-02T03:04:05Z")]);
        let crd = json!({"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        let t = table("apiextensions.k8s.io", "customresourcedefinitions", crd);
        assert_eq!(headers(&t), ["NAME", "CREATED AT"]);
    }

    #[test]
    fn every_builtin_kind_renders_cells_matching_its_columns() {
        for k in crate::kinds::builtin_kinds() {
            let obj = json!({"metadata": {"name": "x", "creationTimestamp": ago(1)}});
            let t = to_table(&k, &[obj], TableOptions::default(), now());
            let ncols = t["columnDefinitions"].as_array().unwrap().len();
            assert_eq!(cells(&t).len(), ncols, "{}", k.kind);
            assert_eq!(column_definitions(&k).len(), ncols);
        }
    }
}
