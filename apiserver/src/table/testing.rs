//! Helpers the table tests share: a fixed `now`, timestamps before it, a Table of one
//! object of a built-in kind and its headers and cells.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::{TableOptions, to_table};
use crate::kinds::{KindInfo, Registry};

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

pub(crate) fn ago(secs: i64) -> String {
    (now() - chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn kind(group: &str, plural: &str) -> Arc<KindInfo> {
    Registry::with_builtins()
        .lookup(group, "v1", plural)
        .unwrap()
}

pub(crate) fn table(group: &str, plural: &str, obj: Value) -> Value {
    to_table(&kind(group, plural), &[obj], TableOptions::default(), now())
}

pub(crate) fn headers(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect()
}

pub(crate) fn cells(t: &Value) -> Vec<Value> {
    t["rows"][0]["cells"].as_array().unwrap().clone()
}

pub(crate) fn running_pod() -> Value {
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
