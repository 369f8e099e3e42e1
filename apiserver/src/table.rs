//! `meta.k8s.io/v1` `Table` rendering for `kubectl get`: the columns kube-apiserver's
//! printers (`pkg/printers/internalversion/printers.go`) produce for built-in kinds, the
//! `NAME CREATED AT` default table for kinds without a printer, and a CRD version's
//! `additionalPrinterColumns` (evaluated with a simple JSONPath) for custom resources.
//!
//! Like kube-apiserver, the server renders the wide (`priority: 1`) columns too and the
//! client hides them unless `-o wide`; [`TableOptions::default`] does so.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::json::{array_at, at, int_at, str_at};
use crate::kinds::{KindInfo, PrinterColumn};

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

/// kubectl's `HumanDuration` (`k8s.io/apimachinery/pkg/util/duration`): `5s`, `3m2s`,
/// `10m`, `5h3m`, `2d5h`, `70d`, `3y50d`; `<invalid>` for more than a second in the future.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp as kubectl prints it; `<unknown>` when missing or
/// unparseable (as upstream prints a zero time).
pub fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Evaluates the JSONPath subset CRD printer columns use — `.a.b`, `.a[0].b`,
/// `.a[*].b`, `.a['b.c']`, escaped dots `.a.b\.c` and an optional `{…}` wrapper — and
/// returns every value found.
pub fn eval_json_path<'a>(path: &str, root: &'a Value) -> Vec<&'a Value> {
    let Some(segments) = parse_json_path(path) else {
        return Vec::new();
    };
    let mut current = vec![root];
    for seg in segments {
        let mut next = Vec::new();
        for v in current {
            match &seg {
                PathSegment::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x);
                    }
                }
                PathSegment::Index(i) => {
                    if let Some(arr) = v.as_array() {
                        let idx = if *i < 0 { arr.len() as i64 + i } else { *i };
                        if idx >= 0
                            && let Some(x) = arr.get(idx as usize)
                        {
                            next.push(x);
                        }
                    }
                }
                PathSegment::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
            }
        }
        current = next;
    }
    current
}

#[derive(Debug, PartialEq)]
enum PathSegment {
    Field(String),
    Index(i64),
    Wildcard,
}

fn parse_json_path(path: &str) -> Option<Vec<PathSegment>> {
    let mut p = path.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        p = inner.trim();
    }
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        name.push(chars[i + 1]);
                        i += 2;
                    } else {
                        name.push(chars[i]);
                        i += 1;
                    }
                }
                if name == "*" {
                    out.push(PathSegment::Wildcard);
                } else if !name.is_empty() {
                    out.push(PathSegment::Field(name));
                }
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    out.push(PathSegment::Wildcard);
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
                {
                    out.push(PathSegment::Field(q.to_string()));
                } else {
                    out.push(PathSegment::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Printers

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
    let (columns, cells): (ColumnsFn, CellsFn) = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => (pod_columns, pod_cells),
        ("", "Namespace") => (namespace_columns, namespace_cells),
        ("", "Node") => (node_columns, node_cells),
        ("", "Service") => (service_columns, service_cells),
        ("", "Endpoints") => (endpoints_columns, endpoints_cells),
        ("", "ConfigMap") => (configmap_columns, configmap_cells),
        ("", "Secret") => (secret_columns, secret_cells),
        ("", "ServiceAccount") => (serviceaccount_columns, serviceaccount_cells),
        ("", "Event") => (event_columns, core_event_cells),
        ("events.k8s.io", "Event") => (event_columns, events_v1_event_cells),
        ("", "PersistentVolumeClaim") => (pvc_columns, pvc_cells),
        ("", "PersistentVolume") => (pv_columns, pv_cells),
        ("", "ReplicationController") => {
            (replication_controller_columns, replication_controller_cells)
        }
        ("apps", "Deployment") => (deployment_columns, deployment_cells),
        ("apps", "ReplicaSet") => (replicaset_columns, replicaset_cells),
        ("apps", "StatefulSet") => (statefulset_columns, statefulset_cells),
        ("apps", "DaemonSet") => (daemonset_columns, daemonset_cells),
        ("apps", "ControllerRevision") => (revision_columns, revision_cells),
        ("batch", "Job") => (job_columns, job_cells),
        ("batch", "CronJob") => (cronjob_columns, cronjob_cells),
        ("discovery.k8s.io", "EndpointSlice") => (slice_columns, slice_cells),
        ("coordination.k8s.io", "Lease") => (lease_columns, lease_cells),
        ("policy", "PodDisruptionBudget") => (pdb_columns, pdb_cells),
        ("scheduling.k8s.io", "PriorityClass") => (priorityclass_columns, priorityclass_cells),
        ("storage.k8s.io", "StorageClass") => (storageclass_columns, storageclass_cells),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            (rolebinding_columns, rolebinding_cells)
        }
        _ => (default_columns, default_cells),
    };
    Printer {
        columns,
        cells,
        custom: None,
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

fn col_full(
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

fn col(name: &str, type_: &str, description: &str) -> PrinterColumn {
    col_full(name, type_, "", description, 0, "")
}

fn wide(name: &str, type_: &str, description: &str) -> PrinterColumn {
    col_full(name, type_, "", description, 1, "")
}

fn name_column() -> PrinterColumn {
    col_full("Name", "string", "name", NAME_DESC, 0, "")
}

fn age_column() -> PrinterColumn {
    col("Age", "string", CREATION_DESC)
}

// --- small helpers ---------------------------------------------------------------------

fn name(v: &Value) -> Value {
    json!(str_at(v, &["metadata", "name"]))
}

fn obj_age(v: &Value, now: DateTime<Utc>) -> Value {
    json!(age(at(v, &["metadata", "creationTimestamp"]).as_str(), now))
}

fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.to_string()
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
pub fn format_labels(map: &Value) -> String {
    let Some(m) = map.as_object() else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `metav1.FormatLabelSelector`: a label selector in its string form
/// (`app=x,tier in (a,b),!gone`), requirements sorted by key; `<none>` when empty or
/// missing.
pub fn format_label_selector(selector: &Value) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = selector.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in array_at(selector, &["matchExpressions"]) {
        let key = str_at(e, &["key"]);
        let mut values: Vec<&str> = array_at(e, &["values"])
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        values.sort();
        values.dedup();
        let text = match str_at(e, &["operator"]) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".into(),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    if reqs.is_empty() {
        "<none>".into()
    } else {
        reqs.into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `layoutContainerCells`: container names and images joined by commas.
fn container_cells(pod_spec: &Value) -> (Value, Value) {
    let containers = array_at(pod_spec, &["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

fn int_or_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

// --- default ---------------------------------------------------------------------------

/// kube-apiserver's `DefaultTableConvertor` (Roles, ClusterRoles, CRDs, …): `NAME CREATED AT`.
fn default_columns() -> Vec<PrinterColumn> {
    vec![name_column(), col("Created At", "date", CREATION_DESC)]
}

fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = at(obj, &["metadata", "creationTimestamp"])
        .as_str()
        .and_then(parse_time)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    vec![name(obj), json!(created)]
}

// --- custom resources ------------------------------------------------------------------

fn custom_cells(cols: &[PrinterColumn], obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![name(obj)];
    for c in cols {
        let found = eval_json_path(&c.json_path, obj);
        let Some(value) = found.first() else {
            cells.push(Value::Null);
            continue;
        };
        cells.push(cell_for_json_value(&c.type_, value, now));
    }
    cells
}

/// The apiextensions table convertor's `cellForJSONValue`: a cell of the column's type, or
/// `null` when the value does not fit.
fn cell_for_json_value(type_: &str, value: &Value, now: DateTime<Utc>) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(|f| Value::from(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => json!(b),
        ("string", Value::String(s)) => json!(s),
        // jsonpath prints non-string values as text in string columns.
        ("string", other) => json!(other.to_string()),
        ("date", Value::String(s)) => match parse_time(s) {
            Some(t) => json!(human_duration(now - t)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

// --- pods ------------------------------------------------------------------------------

fn pod_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_column(),
        wide(
            "IP",
            "string",
            "podIP is the IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        wide(
            "Node",
            "string",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
        ),
        wide(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
        ),
        wide(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ]
}

fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .map(|c| str_at(c, &["status"]))
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The `READY`, `STATUS`, `RESTARTS` cells, computed exactly as kubectl's `printPod`.
fn pod_status_cells(pod: &Value, now: DateTime<Utc>) -> (String, String, String) {
    let spec = at(pod, &["spec"]);
    let status = at(pod, &["status"]);
    let conditions = array_at(status, &["conditions"]);
    let init_specs = array_at(spec, &["initContainers"]);
    let is_restartable = |name: &str| {
        init_specs
            .iter()
            .find(|c| str_at(c, &["name"]) == name)
            .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
    };
    let mut total = array_at(spec, &["containers"]).len();
    total += init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let phase = str_at(status, &["phase"]);
    let mut reason = phase.to_string();
    if !str_at(status, &["reason"]).is_empty() {
        reason = str_at(status, &["reason"]).to_string();
    }
    if conditions.iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".into();
    }
    let finished = |c: &Value| {
        at(c, &["lastState", "terminated", "finishedAt"])
            .as_str()
            .and_then(parse_time)
    };

    let init_statuses = array_at(status, &["initContainerStatuses"]);
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += int_at(c, &["restartCount"]);
        last_restart = later(last_restart, finished(c));
        let restartable = is_restartable(str_at(c, &["name"]));
        if restartable {
            sidecar_restarts += int_at(c, &["restartCount"]);
            last_sidecar_restart = later(last_sidecar_restart, finished(c));
        }
        let terminated = at(c, &["state", "terminated"]);
        let waiting = at(c, &["state", "waiting"]);
        if terminated.is_object() && int_at(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if restartable && at(c, &["started"]).as_bool() == Some(true) {
            if at(c, &["ready"]).as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        if terminated.is_object() {
            let r = str_at(terminated, &["reason"]);
            reason = if r.is_empty() {
                if int_at(terminated, &["signal"]) != 0 {
                    format!("Init:Signal:{}", int_at(terminated, &["signal"]))
                } else {
                    format!("Init:ExitCode:{}", int_at(terminated, &["exitCode"]))
                }
            } else {
                format!("Init:{r}")
            };
        } else if waiting.is_object()
            && !str_at(waiting, &["reason"]).is_empty()
            && str_at(waiting, &["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", str_at(waiting, &["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_status(conditions, "Initialized") == Some("True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in array_at(status, &["containerStatuses"]).iter().rev() {
            restarts += int_at(c, &["restartCount"]);
            last_restart = later(last_restart, finished(c));
            let terminated = at(c, &["state", "terminated"]);
            let waiting = at(c, &["state", "waiting"]);
            if waiting.is_object() && !str_at(waiting, &["reason"]).is_empty() {
                reason = str_at(waiting, &["reason"]).to_string();
            } else if terminated.is_object() && !str_at(terminated, &["reason"]).is_empty() {
                reason = str_at(terminated, &["reason"]).to_string();
            } else if terminated.is_object() {
                reason = if int_at(terminated, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(terminated, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(terminated, &["exitCode"]))
                };
            } else if at(c, &["ready"]).as_bool() == Some(true)
                && at(c, &["state", "running"]).is_object()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_status(conditions, "Ready") == Some("True") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_string();
    if deleting && str_at(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_text)
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (ready, reason, restarts) = pod_status_cells(pod, now);
    let status = at(pod, &["status"]);
    let mut ip = String::new();
    if let Some(first) = array_at(status, &["podIPs"]).first() {
        ip = str_at(first, &["ip"]).to_string();
    }
    if ip.is_empty() {
        ip = str_at(status, &["podIP"]).to_string();
    }
    let gates = array_at(pod, &["spec", "readinessGates"]);
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = array_at(status, &["conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| condition_status(conditions, str_at(g, &["conditionType"])) == Some("True"))
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name(pod),
        json!(ready),
        json!(reason),
        json!(restarts),
        obj_age(pod, now),
        json!(or_none(&ip)),
        json!(or_none(str_at(pod, &["spec", "nodeName"]))),
        json!(or_none(str_at(status, &["nominatedNodeName"]))),
        json!(readiness),
    ]
}

fn row_conditions(kind: &KindInfo, obj: &Value) -> Option<Value> {
    if !(kind.group.is_empty() && kind.kind == "Pod") {
        return None;
    }
    match str_at(obj, &["status", "phase"]) {
        "Succeeded" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."
        }])),
        "Failed" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed",
            "message": "The pod failed."
        }])),
        _ => None,
    }
}

// --- core kinds ------------------------------------------------------------------------

fn namespace_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Status", "string", "The status of the namespace"),
        age_column(),
    ]
}

fn namespace_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["status", "phase"])),
        obj_age(o, now),
    ]
}

fn node_columns() -> Vec<PrinterColumn> {
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

fn node_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
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

fn service_columns() -> Vec<PrinterColumn> {
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

fn service_external_ip(o: &Value, wide: bool) -> String {
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

fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
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

fn endpoints_columns() -> Vec<PrinterColumn> {
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

fn endpoints_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
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

fn configmap_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Data", "string", "Data contains the configuration data."),
        age_column(),
    ]
}

fn map_len(v: &Value) -> usize {
    v.as_object().map(|m| m.len()).unwrap_or(0)
}

fn configmap_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = map_len(at(o, &["data"])) + map_len(at(o, &["binaryData"]));
    vec![name(o), json!(count), obj_age(o, now)]
}

fn secret_columns() -> Vec<PrinterColumn> {
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

fn secret_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["type"])),
        json!(map_len(at(o, &["data"]))),
        obj_age(o, now),
    ]
}

fn serviceaccount_columns() -> Vec<PrinterColumn> {
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

fn serviceaccount_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(array_at(o, &["secrets"]).len()),
        obj_age(o, now),
    ]
}

fn event_columns() -> Vec<PrinterColumn> {
    vec![
        col(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        col(
            "Type",
            "string",
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        col(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "string", "The object that this event is about."),
        wide(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        ),
        wide(
            "Source",
            "string",
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        col(
            "Message",
            "string",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        col_full("Name", "string", "name", NAME_DESC, 1, ""),
    ]
}

/// The fields the event printer reads, in either Event API.
struct EventView<'a> {
    first: Option<&'a str>,
    last: Option<&'a str>,
    event_time: Option<&'a str>,
    series_last: Option<&'a str>,
    series_count: Option<i64>,
    count: i64,
    type_: &'a str,
    reason: &'a str,
    regarding: &'a Value,
    component: &'a str,
    host: &'a str,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

fn event_cells(o: &Value, e: EventView<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let micro = |t: Option<&str>| age(t, now);
    let first = if e.first.is_some() {
        age(e.first, now)
    } else {
        micro(e.event_time)
    };
    let mut last = if e.last.is_some() {
        age(e.last, now)
    } else {
        first.clone()
    };
    let mut count = e.count;
    if e.series_last.is_some() || e.series_count.is_some() {
        last = micro(e.series_last);
        count = e.series_count.unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(e.regarding, &["kind"]).to_ascii_lowercase();
    let target_name = str_at(e.regarding, &["name"]);
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let component = if e.component.is_empty() {
        e.reporting_controller
    } else {
        e.component
    };
    let instance = if e.host.is_empty() {
        e.reporting_instance
    } else {
        e.host
    };
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(e.type_),
        json!(e.reason),
        json!(target),
        json!(str_at(e.regarding, &["fieldPath"])),
        json!(source),
        json!(e.message.trim()),
        json!(first),
        json!(count),
        name(o),
    ]
}

fn core_event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let view = EventView {
        first: at(o, &["firstTimestamp"]).as_str(),
        last: at(o, &["lastTimestamp"]).as_str(),
        event_time: at(o, &["eventTime"]).as_str(),
        series_last: at(o, &["series", "lastObservedTime"]).as_str(),
        series_count: at(o, &["series", "count"]).as_i64(),
        count: int_at(o, &["count"]),
        type_: str_at(o, &["type"]),
        reason: str_at(o, &["reason"]),
        regarding: at(o, &["involvedObject"]),
        component: str_at(o, &["source", "component"]),
        host: str_at(o, &["source", "host"]),
        reporting_controller: str_at(o, &["reportingComponent"]),
        reporting_instance: str_at(o, &["reportingInstance"]),
        message: str_at(o, &["message"]),
    };
    event_cells(o, view, now)
}

fn events_v1_event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let view = EventView {
        first: at(o, &["deprecatedFirstTimestamp"]).as_str(),
        last: at(o, &["deprecatedLastTimestamp"]).as_str(),
        event_time: at(o, &["eventTime"]).as_str(),
        series_last: at(o, &["series", "lastObservedTime"]).as_str(),
        series_count: at(o, &["series", "count"]).as_i64(),
        count: int_at(o, &["deprecatedCount"]),
        type_: str_at(o, &["type"]),
        reason: str_at(o, &["reason"]),
        regarding: at(o, &["regarding"]),
        component: str_at(o, &["deprecatedSource", "component"]),
        host: str_at(o, &["deprecatedSource", "host"]),
        reporting_controller: str_at(o, &["reportingController"]),
        reporting_instance: str_at(o, &["reportingInstance"]),
        message: str_at(o, &["note"]),
    };
    event_cells(o, view, now)
}

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, each once.
fn access_modes(modes: &[Value]) -> String {
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

fn unset(x: &str) -> String {
    if x.is_empty() {
        "<unset>".into()
    } else {
        x.to_string()
    }
}

fn pvc_columns() -> Vec<PrinterColumn> {
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

fn pvc_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
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
    let class = match str_at(
        o,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    ) {
        "" => str_at(o, &["spec", "storageClassName"]),
        a => a,
    };
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

fn pv_columns() -> Vec<PrinterColumn> {
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

fn pv_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
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
    let class = match str_at(
        o,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    ) {
        "" => str_at(o, &["spec", "storageClassName"]),
        a => a,
    };
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

fn replication_controller_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Desired",
            "integer",
            "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        ),
        col(
            "Current",
            "integer",
            "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        ),
        col(
            "Ready",
            "integer",
            "The number of ready replicas for this replication controller.",
        ),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        ),
    ]
}

fn replication_controller_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(int_at(o, &["spec", "replicas"])),
        json!(int_at(o, &["status", "replicas"])),
        json!(int_at(o, &["status", "readyReplicas"])),
        obj_age(o, now),
        names,
        images,
        json!(format_labels(at(o, &["spec", "selector"]))),
    ]
}

// --- apps ------------------------------------------------------------------------------

fn deployment_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "string",
            "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
        ),
        col(
            "Available",
            "string",
            "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        ),
    ]
}

fn deployment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            int_at(o, &["status", "readyReplicas"]),
            int_at(o, &["spec", "replicas"])
        )),
        json!(int_at(o, &["status", "updatedReplicas"])),
        json!(int_at(o, &["status", "availableReplicas"])),
        obj_age(o, now),
        names,
        images,
        json!(format_label_selector(at(o, &["spec", "selector"]))),
    ]
}

fn replicaset_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Desired",
            "integer",
            "Replicas is the number of desired pods.",
        ),
        col(
            "Current",
            "integer",
            "Replicas is the most recently observed number of non-terminating pods.",
        ),
        col(
            "Ready",
            "integer",
            "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        ),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "Selector is a label query over pods that should match the replica count.",
        ),
    ]
}

fn replicaset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(int_at(o, &["spec", "replicas"])),
        json!(int_at(o, &["status", "replicas"])),
        json!(int_at(o, &["status", "readyReplicas"])),
        obj_age(o, now),
        names,
        images,
        json!(format_label_selector(at(o, &["spec", "selector"]))),
    ]
}

fn statefulset_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
    ]
}

fn statefulset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            int_at(o, &["status", "readyReplicas"]),
            int_at(o, &["spec", "replicas"])
        )),
        obj_age(o, now),
        names,
        images,
    ]
}

fn daemonset_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Desired",
            "integer",
            "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
        ),
        col(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
        ),
        col(
            "Up-to-date",
            "integer",
            "The total number of nodes that are running updated daemon pod",
        ),
        col(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        ),
        col(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "A label query over pods that are managed by the daemon set.",
        ),
    ]
}

fn daemonset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(int_at(o, &["status", "desiredNumberScheduled"])),
        json!(int_at(o, &["status", "currentNumberScheduled"])),
        json!(int_at(o, &["status", "numberReady"])),
        json!(int_at(o, &["status", "updatedNumberScheduled"])),
        json!(int_at(o, &["status", "numberAvailable"])),
        json!(format_labels(at(
            o,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
        obj_age(o, now),
        names,
        images,
        json!(format_label_selector(at(o, &["spec", "selector"]))),
    ]
}

fn revision_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Controller", "string", "Controller of the object"),
        col(
            "Revision",
            "string",
            "Revision indicates the revision of the state represented by Data.",
        ),
        age_column(),
    ]
}

fn revision_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = array_at(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| at(r, &["controller"]).as_bool() == Some(true))
        .map(|r| {
            let api_version = str_at(r, &["apiVersion"]);
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = str_at(r, &["kind"]).to_ascii_lowercase();
            let group_kind = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{group_kind}/{}", str_at(r, &["name"]))
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        name(o),
        json!(controller),
        json!(int_at(o, &["revision"])),
        obj_age(o, now),
    ]
}

// --- batch -----------------------------------------------------------------------------

fn job_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Status", "string", "Status of the job."),
        col(
            "Completions",
            "string",
            "The desired number of successfully finished pods the job should be run with.",
        ),
        col("Duration", "string", "Time required to complete the job."),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "A label query over pods that should match the pod count.",
        ),
    ]
}

fn job_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(o, &["status", "succeeded"]);
    let completions = match at(o, &["spec", "completions"]).as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = at(o, &["spec", "parallelism"]).as_i64().unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = at(o, &["status", "startTime"])
        .as_str()
        .and_then(parse_time);
    let completion = at(o, &["status", "completionTime"])
        .as_str()
        .and_then(parse_time);
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(done)) => human_duration(done - st),
    };
    let conditions = array_at(o, &["status", "conditions"]);
    let has = |t: &str| condition_status(conditions, t) == Some("True");
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if at(o, &["metadata", "deletionTimestamp"]).is_string() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (names, images) = container_cells(at(o, &["spec", "template", "spec"]));
    vec![
        name(o),
        json!(status),
        json!(completions),
        json!(duration),
        obj_age(o, now),
        names,
        images,
        json!(format_label_selector(at(o, &["spec", "selector"]))),
    ]
}

fn cronjob_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Schedule",
            "string",
            "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        ),
        col(
            "Timezone",
            "string",
            "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
        ),
        col(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
        ),
        col(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        col(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESC),
        wide("Images", "string", IMAGES_DESC),
        wide(
            "Selector",
            "string",
            "A label query over pods that should match the pod count.",
        ),
    ]
}

fn cronjob_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let suspend = match at(o, &["spec", "suspend"]).as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = match at(o, &["status", "lastScheduleTime"]).as_str() {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let job_spec = at(o, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(at(job_spec, &["template", "spec"]));
    vec![
        name(o),
        json!(str_at(o, &["spec", "schedule"])),
        json!(or_none(str_at(o, &["spec", "timeZone"]))),
        json!(suspend),
        json!(array_at(o, &["status", "active"]).len()),
        json!(last),
        obj_age(o, now),
        names,
        images,
        json!(format_label_selector(at(job_spec, &["selector"]))),
    ]
}

// --- other groups ----------------------------------------------------------------------

fn slice_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        col(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        col(
            "Endpoints",
            "string",
            "endpoints is a list of unique endpoints in this slice.",
        ),
        age_column(),
    ]
}

fn list_with_more(list: Vec<String>, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        format!("{ret} + {} more...", count - max)
    } else if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

fn slice_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let max = 3;
    let ports = array_at(o, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .take(max)
        .map(|p| match at(p, &["port"]).as_i64() {
            Some(num) => num.to_string(),
            None => match at(p, &["name"]).as_str() {
                Some(nm) => nm.to_string(),
                None => "*".into(),
            },
        })
        .collect();
    let addresses: Vec<&str> = array_at(o, &["endpoints"])
        .iter()
        .flat_map(|e| {
            array_at(e, &["addresses"])
                .iter()
                .filter_map(|a| a.as_str())
        })
        .collect();
    let addr_list: Vec<String> = addresses.iter().take(max).map(|a| a.to_string()).collect();
    vec![
        name(o),
        json!(str_at(o, &["addressType"])),
        json!(list_with_more(port_list, ports.len(), max)),
        json!(list_with_more(addr_list, addresses.len(), max)),
        obj_age(o, now),
    ]
}

fn lease_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Holder",
            "string",
            "holderIdentity contains the identity of the holder of a current lease.",
        ),
        age_column(),
    ]
}

fn lease_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["spec", "holderIdentity"])),
        obj_age(o, now),
    ]
}

fn pdb_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_column(),
    ]
}

fn pdb_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let na = |v: &Value| int_or_string(v).unwrap_or_else(|| "N/A".into());
    vec![
        name(o),
        json!(na(at(o, &["spec", "minAvailable"]))),
        json!(na(at(o, &["spec", "maxUnavailable"]))),
        json!(int_at(o, &["status", "disruptionsAllowed"])),
        obj_age(o, now),
    ]
}

fn priorityclass_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Value",
            "integer",
            "value represents the integer value of this priority class.",
        ),
        col(
            "Global-Default",
            "boolean",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
        ),
        age_column(),
        col(
            "PreemptionPolicy",
            "string",
            "preemptionPolicy is the Policy for preempting pods with lower priority.",
        ),
    ]
}

fn priorityclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let policy = match str_at(o, &["preemptionPolicy"]) {
        "" => "PreemptLowerPriority",
        p => p,
    };
    vec![
        name(o),
        json!(int_at(o, &["value"])),
        json!(at(o, &["globalDefault"]).as_bool().unwrap_or(false)),
        obj_age(o, now),
        json!(policy),
    ]
}

fn storageclass_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Provisioner",
            "string",
            "provisioner indicates the type of the provisioner.",
        ),
        col(
            "ReclaimPolicy",
            "string",
            "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
        ),
        col(
            "VolumeBindingMode",
            "string",
            "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "string",
            "allowVolumeExpansion shows whether the storage class allow volume expand.",
        ),
        age_column(),
    ]
}

fn storageclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let annotations = at(o, &["metadata", "annotations"]);
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| annotations.get(*k).and_then(|v| v.as_str()) == Some("true"));
    let mut nm = str_at(o, &["metadata", "name"]).to_string();
    if is_default {
        nm.push_str(" (default)");
    }
    let reclaim = match str_at(o, &["reclaimPolicy"]) {
        "" => "Delete",
        r => r,
    };
    let binding = match str_at(o, &["volumeBindingMode"]) {
        "" => "Immediate",
        b => b,
    };
    vec![
        json!(nm),
        json!(str_at(o, &["provisioner"])),
        json!(reclaim),
        json!(binding),
        json!(at(o, &["allowVolumeExpansion"]).as_bool().unwrap_or(false)),
        obj_age(o, now),
    ]
}

fn rolebinding_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Role",
            "string",
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        ),
        age_column(),
        wide("Users", "string", "Users in the roleBinding"),
        wide("Groups", "string", "Groups in the roleBinding"),
        wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the roleBinding",
        ),
    ]
}

fn rolebinding_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subj in array_at(o, &["subjects"]) {
        match str_at(subj, &["kind"]) {
            "User" => users.push(str_at(subj, &["name"]).to_string()),
            "Group" => groups.push(str_at(subj, &["name"]).to_string()),
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(subj, &["namespace"]),
                str_at(subj, &["name"])
            )),
            _ => {}
        }
    }
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            str_at(o, &["roleRef", "kind"]),
            str_at(o, &["roleRef", "name"])
        )),
        obj_age(o, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{CustomKind, KindSource, Registry, Subresource};
    use chrono::TimeZone;
    use std::sync::Arc;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
    }

    fn ago(secs: i64) -> String {
        (now() - chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn kind(group: &str, plural: &str) -> Arc<KindInfo> {
        Registry::with_builtins()
            .lookup(group, "v1", plural)
            .unwrap()
    }

    fn table(group: &str, plural: &str, obj: Value) -> Value {
        to_table(&kind(group, plural), &[obj], TableOptions::default(), now())
    }

    fn headers(t: &Value) -> Vec<String> {
        t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap().to_uppercase())
            .collect()
    }

    fn cells(t: &Value) -> Vec<Value> {
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    #[test]
    fn human_duration_matches_kubectl() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(-5)), "<invalid>");
        assert_eq!(human_duration(d(-1)), "0s");
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(182)), "3m2s");
        assert_eq!(human_duration(d(300)), "5m");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(179 * 60)), "179m");
        assert_eq!(human_duration(d(5 * 3600 + 3 * 60)), "5h3m");
        assert_eq!(human_duration(d(5 * 3600)), "5h");
        assert_eq!(human_duration(d(30 * 3600)), "30h");
        assert_eq!(human_duration(d(53 * 3600)), "2d5h");
        assert_eq!(human_duration(d(72 * 3600)), "3d");
        assert_eq!(human_duration(d(70 * 86400)), "70d");
        assert_eq!(human_duration(d((3 * 365 + 50) * 86400)), "3y50d");
        assert_eq!(human_duration(d(3 * 365 * 86400)), "3y");
        assert_eq!(human_duration(d(10 * 365 * 86400)), "10y");
    }

    fn running_pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ago(300),
                         "resourceVersion": "7", "managedFields": []},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(120)}}},
                    {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
                ]
            }
        })
    }

    #[test]
    fn pod_table_has_kubectl_columns_and_cells() {
        let t = table("", "pods", running_pod());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(headers(&t), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        let wide: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 1)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(wide, ["IP", "Node", "Nominated Node", "Readiness Gates"]);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            cells(&t),
            vec![
                json!("web-1"),
                json!("2/2"),
                json!("Running"),
                json!("2 (2m ago)"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let obj = &t["rows"][0]["object"];
        assert_eq!(obj["kind"], "PartialObjectMetadata");
        assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(obj["metadata"]["name"], "web-1");
        assert!(obj.get("spec").is_none());
    }

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

    fn pod_status(pod: Value) -> (String, String, String) {
        pod_status_cells(&pod, now())
    }

    #[test]
    fn pod_status_reasons_follow_print_pod() {
        // Waiting container reason wins.
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "a", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            pod_status(p),
            ("0/1".into(), "CrashLoopBackOff".into(), "4".into())
        );
        // Terminated without reason → ExitCode / Signal.
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_status(p).1, "ExitCode:3");
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}});
        assert_eq!(pod_status(p).1, "Signal:9");
        // Status reason overrides phase (e.g. Evicted).
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}});
        assert_eq!(pod_status(p).1, "Evicted");
        // Pending pod with no statuses.
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        assert_eq!(pod_status(p), ("0/1".into(), "Pending".into(), "0".into()));
        // Scheduling gated.
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(pod_status(p).1, "SchedulingGated");
    }

    #[test]
    fn pod_init_containers_show_progress() {
        let p = json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}}]}});
        assert_eq!(pod_status(p).1, "Init:1/2");
        let p = json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            pod_status(p),
            ("0/1".into(), "Init:CrashLoopBackOff".into(), "3".into())
        );
        let p = json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}});
        assert_eq!(pod_status(p).1, "Init:ExitCode:2");
        // A started sidecar (restartable init container) counts as a container.
        let p = json!({"spec": {"initContainers": [{"name": "side", "restartPolicy": "Always"}],
                                "containers": [{"name": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "side", "started": true, "ready": true, "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}});
        assert_eq!(pod_status(p).0, "2/2");
    }

    #[test]
    fn pod_terminating_and_completed_rows() {
        let mut p = running_pod();
        p["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(pod_status(p).1, "Terminating");
        let p = json!({"metadata": {"deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(pod_status(p.clone()).1, "Completed");
        let t = table("", "pods", p);
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
    }

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "creationTimestamp": ago(3 * 86400 + 3600)},
            "spec": {"replicas": 3,
                "selector": {"matchLabels": {"app": "web"},
                             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        })
    }

    #[test]
    fn deployment_table() {
        let t = table("apps", "deployments", deployment());
        assert_eq!(
            headers(&t),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3d1h"),
                json!("nginx,side"),
                json!("nginx:1.25,busybox"),
                json!("app=web,tier in (a,b)")
            ]
        );
    }

    #[test]
    fn workload_tables() {
        let rs = json!({"metadata": {"name": "rs", "creationTimestamp": ago(10)},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let t = table("apps", "replicasets", rs);
        assert_eq!(headers(&t), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
        assert_eq!(
            cells(&t)[..5],
            [json!("rs"), json!(2), json!(2), json!(1), json!("10s")]
        );

        let rc = json!({"metadata": {"name": "rc", "creationTimestamp": ago(10)},
            "spec": {"replicas": 3, "selector": {"b": "2", "a": "1"},
                     "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let t = table("", "replicationcontrollers", rc);
        assert_eq!(headers(&t), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
        assert_eq!(
            cells(&t),
            [
                json!("rc"),
                json!(3),
                json!(2),
                json!(1),
                json!("10s"),
                json!("c"),
                json!("nginx"),
                json!("a=1,b=2")
            ]
        );

        let sts = json!({"metadata": {"name": "db", "creationTimestamp": ago(10)},
            "spec": {"replicas": 3}, "status": {"readyReplicas": 3}});
        let t = table("apps", "statefulsets", sts);
        assert_eq!(headers(&t), ["NAME", "READY", "AGE"]);
        assert_eq!(cells(&t)[1], json!("3/3"));

        let ds = json!({"metadata": {"name": "agent", "creationTimestamp": ago(10)},
            "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
                       "updatedNumberScheduled": 4, "numberAvailable": 3}});
        let t = table("apps", "daemonsets", ds);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE"
            ]
        );
        assert_eq!(cells(&t)[6], json!("os=linux"));
        assert_eq!(cells(&t)[10], json!("<none>"));

        let rev = json!({"metadata": {"name": "agent-5d", "creationTimestamp": ago(10),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true}]},
            "revision": 2});
        let t = table("apps", "controllerrevisions", rev);
        assert_eq!(headers(&t), ["NAME", "CONTROLLER", "REVISION", "AGE"]);
        assert_eq!(cells(&t)[1], json!("daemonset.apps/agent"));
    }

    #[test]
    fn job_and_cronjob_tables() {
        let job = json!({"metadata": {"name": "pi", "creationTimestamp": ago(600)},
            "spec": {"completions": 3, "parallelism": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}},
            "status": {"succeeded": 3, "startTime": ago(500), "completionTime": ago(300),
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let t = table("batch", "jobs", job);
        assert_eq!(
            headers(&t),
            ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        );
        assert_eq!(
            cells(&t)[..5],
            [
                json!("pi"),
                json!("Complete"),
                json!("3/3"),
                json!("3m20s"),
                json!("10m")
            ]
        );
        let running = json!({"metadata": {"name": "w", "creationTimestamp": ago(60)},
            "spec": {"parallelism": 2}, "status": {"startTime": ago(30)}});
        let t = table("batch", "jobs", running);
        assert_eq!(
            cells(&t)[1..4],
            [json!("Running"), json!("0/1 of 2"), json!("30s")]
        );

        let cj = json!({"metadata": {"name": "nightly", "creationTimestamp": ago(7200)},
            "spec": {"schedule": "0 0 * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
            "status": {"active": [{"name": "x"}]}});
        let t = table("batch", "cronjobs", cj);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE"
            ]
        );
        assert_eq!(
            cells(&t)[..7],
            [
                json!("nightly"),
                json!("0 0 * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("<none>"),
                json!("120m")
            ]
        );
    }

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

    #[test]
    fn event_tables_for_both_apis() {
        let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
            "source": {"component": "default-scheduler"}, "message": " Assigned \n",
            "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 4});
        let t = table("", "events", ev);
        assert_eq!(
            headers(&t),
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web"),
                json!("spec.containers{a}"),
                json!("default-scheduler"),
                json!("Assigned"),
                json!("10m"),
                json!(4),
                json!("web.1")
            ]
        );
        let ev = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "Failed",
            "regarding": {"kind": "Node", "name": "n1"}, "note": "x", "eventTime": ago(30),
            "reportingController": "capstan", "reportingInstance": "i-1"});
        let k = Registry::with_builtins()
            .lookup("events.k8s.io", "v1", "events")
            .unwrap();
        let t = to_table(&k, &[ev], TableOptions::default(), now());
        let c = cells(&t);
        assert_eq!(c[0], json!("30s"));
        assert_eq!(c[3], json!("node/n1"));
        assert_eq!(c[5], json!("capstan, i-1"));
        assert_eq!(c[8], json!(1));
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

    fn widget_kind(cols: Vec<PrinterColumn>) -> KindInfo {
        KindInfo {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            subresources: vec![Subresource::Status],
            source: KindSource::Custom {
                crd_name: "widgets.example.com".into(),
            },
            custom: Some(Arc::new(CustomKind {
                schema: None,
                printer_columns: cols,
                storage_version: "v1".into(),
                scale: None,
                list_kind: "WidgetList".into(),
                deprecated: false,
                deprecation_warning: None,
                selectable_fields: Vec::new(),
            })),
        }
    }

    #[test]
    fn custom_resource_default_columns_are_name_and_age() {
        let k = widget_kind(vec![]);
        let obj = json!({"metadata": {"name": "w1", "creationTimestamp": ago(90)}});
        let t = to_table(&k, &[obj], TableOptions::default(), now());
        assert_eq!(headers(&t), ["NAME", "AGE"]);
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(cells(&t), vec![json!("w1"), json!("90s")]);
    }

    #[test]
    fn custom_resource_printer_columns_use_json_path() {
        let cols = vec![
            col_full("Replicas", "integer", "", "", 0, ".spec.replicas"),
            col_full("Phase", "string", "", "", 0, ".status.phase"),
            col_full("First", "string", "", "", 0, ".spec.items[0].name"),
            col_full("All", "string", "", "", 1, ".spec.items[*].name"),
            col_full("Ready", "boolean", "", "", 0, ".status.ready"),
            col_full("Ratio", "number", "", "", 0, ".status.ratio"),
            col_full("Started", "date", "", "", 0, ".status.started"),
            col_full(
                "Label",
                "string",
                "",
                "",
                0,
                ".metadata.labels.app\\.kubernetes\\.io/name",
            ),
            col_full("Missing", "string", "", "", 0, ".spec.nope"),
            col_full("Obj", "string", "", "", 0, ".spec.nested"),
        ];
        let k = widget_kind(cols);
        let obj = json!({"metadata": {"name": "w1", "labels": {"app.kubernetes.io/name": "demo"}},
            "spec": {"replicas": 3.0, "items": [{"name": "a"}, {"name": "b"}], "nested": {"x": 1}},
            "status": {"phase": "Ready", "ready": true, "ratio": 2, "started": ago(400)}});
        let t = to_table(&k, &[obj], TableOptions::default(), now());
        assert_eq!(
            headers(&t),
            [
                "NAME", "REPLICAS", "PHASE", "FIRST", "READY", "RATIO", "STARTED", "LABEL",
                "MISSING", "OBJ"
            ]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("w1"),
                json!(3),
                json!("Ready"),
                json!("a"),
                json!("a"),
                json!(true),
                json!(2.0),
                json!("6m40s"),
                json!("demo"),
                Value::Null,
                json!("{\"x\":1}")
            ]
        );
    }

    #[test]
    fn json_path_subset() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}], "d.e": "x"}});
        assert_eq!(eval_json_path(".a.b[1].c", &v), vec![&json!(2)]);
        assert_eq!(
            eval_json_path("{.a.b[*].c}", &v),
            vec![&json!(1), &json!(2)]
        );
        assert_eq!(eval_json_path(".a['d.e']", &v), vec![&json!("x")]);
        assert_eq!(eval_json_path(".a.d\\.e", &v), vec![&json!("x")]);
        assert_eq!(eval_json_path(".a.b[-1].c", &v), vec![&json!(2)]);
        assert!(eval_json_path(".a.b[9].c", &v).is_empty());
        assert!(eval_json_path("a.b", &v).is_empty());
    }

    #[test]
    fn label_selector_formatting() {
        assert_eq!(format_label_selector(&Value::Null), "<none>");
        assert_eq!(format_label_selector(&json!({})), "<none>");
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["y", "x"]},
                                 {"key": "d", "operator": "Exists"}, {"key": "e", "operator": "DoesNotExist"}]});
        assert_eq!(format_label_selector(&sel), "a=1,b=2,c notin (x,y),d,!e");
        assert_eq!(format_labels(&json!({"z": "1", "a": "2"})), "a=2,z=1");
        assert_eq!(format_labels(&json!({})), "<none>");
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
