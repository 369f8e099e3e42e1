//! Column definitions and cells every printer shares: `Name`, `Age`, a workload's
//! containers and images, conditions, and kube-apiserver's default `NAME CREATED AT`
//! table.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, str_at};
use crate::kinds::PrinterColumn;

use super::format::{age, parse_time};

pub(super) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

pub(super) const CREATION_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const CONTAINERS_DESC: &str = "Names of each container in the template.";

const IMAGES_DESC: &str = "Images referenced by each container in the template.";

pub(super) fn col_full(
    name: &str,
    type_: &str,
    format: &str,
    description: &str,
    priority: i64,
    json_path: &str,
) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: format.into(),
        description: description.into(),
        priority,
        json_path: json_path.into(),
    }
}

pub(super) fn col(name: &str, type_: &str, description: &str) -> PrinterColumn {
    col_full(name, type_, "", description, 0, "")
}

pub(super) fn wide(name: &str, type_: &str, description: &str) -> PrinterColumn {
    col_full(name, type_, "", description, 1, "")
}

pub(super) fn name_column() -> PrinterColumn {
    col_full("Name", "string", "name", NAME_DESC, 0, "")
}

pub(super) fn age_column() -> PrinterColumn {
    col("Age", "string", CREATION_DESC)
}

pub(super) fn name(v: &Value) -> Value {
    json!(str_at(v, &["metadata", "name"]))
}

pub(super) fn obj_age(v: &Value, now: DateTime<Utc>) -> Value {
    json!(age(at(v, &["metadata", "creationTimestamp"]).as_str(), now))
}

/// `layoutContainerCells`: container names and images joined by commas.
fn container_cells(pod_spec: &Value) -> (Value, Value) {
    let containers = array_at(pod_spec, &["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

pub(super) fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .map(|c| str_at(c, &["status"]))
}

/// kube-apiserver's `DefaultTableConvertor` (Roles, ClusterRoles, CRDs, …): `NAME CREATED AT`.
pub(super) fn default_columns() -> Vec<PrinterColumn> {
    vec![name_column(), col("Created At", "date", CREATION_DESC)]
}

pub(super) fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = at(obj, &["metadata", "creationTimestamp"])
        .as_str()
        .and_then(parse_time)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    vec![name(obj), json!(created)]
}

/// The columns every workload's table ends with: `Age`, then the wide `Containers` and
/// `Images` of its pod template and, with a description, its `Selector`.
pub(super) fn workload_columns(selector: Option<&str>) -> Vec<PrinterColumn> {
    let mut columns = vec![
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
    ];
    if let Some(description) = selector {
        columns.push(wide("Selector", "string", description));
    }
    columns
}

/// The cells of [`workload_columns`]: the object's age, the containers and images of the
/// pod template in `spec` (the object's spec, or a CronJob's job template's), and its
/// `selector` as `selector` prints it.
pub(super) fn workload_cells(
    o: &Value,
    spec: &Value,
    selector: Option<fn(&Value) -> String>,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let (names, images) = container_cells(at(spec, &["template", "spec"]));
    let mut cells = vec![obj_age(o, now), names, images];
    if let Some(print) = selector {
        cells.push(json!(print(at(spec, &["selector"]))));
    }
    cells
}
