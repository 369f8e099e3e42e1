//! Managed fields across the `scale` subresource, after upstream's `ScaleHandler`
//! (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`): a write to `/scale` is
//! tracked on the `Scale` object, whose one managed field is `.spec.replicas`, while the
//! entries live on the parent, where that field is the kind's replicas path.
//!
//! * [`to_subresource`]: the parent's entries that own the replicas path, as entries of
//!   the `Scale` (`apiVersion: autoscaling/v1`, fields `{.spec.replicas}`).
//! * [`to_parent`]: the `Scale`'s entries after the write, merged back: a parent entry
//!   whose manager no longer owns replicas in the `Scale` loses the replicas path, and a
//!   `Scale` manager new to it gets an entry in the parent's version owning the path.
//!
//! Entries are matched by manager, operation and subresource (their `apiVersion`
//! differs between the two views by construction).

use std::collections::HashSet;

use capstan_patch::fieldpath::{FieldSet, Path};
use serde_json::{Map, Value, json};

use crate::json::str_at;

/// The `apiVersion` of `Scale` entries.
pub const SCALE_API_VERSION: &str = "autoscaling/v1";

fn only(path: &Path) -> FieldSet {
    let mut s = FieldSet::new();
    s.insert(&path.0);
    s
}

fn scale_replicas() -> Path {
    Path::fields(&["spec", "replicas"])
}

fn set_of(entry: &Value) -> Option<FieldSet> {
    entry
        .get("fieldsV1")
        .and_then(|v| FieldSet::from_fields_v1(v).ok())
}

/// Manager, operation and subresource.
fn identity(entry: &Value) -> (String, String, String) {
    (
        str_at(entry, &["manager"]).to_string(),
        str_at(entry, &["operation"]).to_string(),
        str_at(entry, &["subresource"]).to_string(),
    )
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

fn with_fields(entry: &Value, api_version: &str, set: &FieldSet) -> Value {
    let mut e = entry.as_object().cloned().unwrap_or_else(Map::new);
    e.insert("apiVersion".into(), json!(api_version));
    e.insert("fieldsType".into(), json!("FieldsV1"));
    e.insert("fieldsV1".into(), set.to_fields_v1());
    Value::Object(e)
}

/// The `Scale` view of the parent's entries in `group` that own `replicas` (the parent
/// kind's replicas path, `.spec.replicas` for built-ins).
pub fn to_subresource(parent: &[Value], group: &str, replicas: &Path) -> Vec<Value> {
    parent
        .iter()
        .filter(|e| group_of(str_at(e, &["apiVersion"])) == group)
        .filter(|e| set_of(e).is_some_and(|s| s.has(&replicas.0)))
        .map(|e| with_fields(e, SCALE_API_VERSION, &only(&scale_replicas())))
        .collect()
}

/// The parent's entries after a write to `/scale` left the `Scale` with `scale`'s
/// entries; new owners of replicas are recorded in `hub_api_version`.
pub fn to_parent(
    parent: &[Value],
    scale: &[Value],
    replicas: &Path,
    hub_api_version: &str,
) -> Vec<Value> {
    let owners: Vec<&Value> = scale
        .iter()
        .filter(|e| set_of(e).is_some_and(|s| s.has(&scale_replicas().0)))
        .collect();
    let owner_ids: HashSet<_> = owners.iter().map(|e| identity(e)).collect();
    let mut kept = HashSet::new();
    let mut out = Vec::new();
    for e in parent {
        let Some(set) = set_of(e).filter(|s| s.has(&replicas.0)) else {
            out.push(e.clone());
            continue;
        };
        let id = identity(e);
        if owner_ids.contains(&id) {
            kept.insert(id);
            out.push(e.clone());
            continue;
        }
        // The manager lost replicas on the Scale: take the path from its entry.
        let rest = set.difference(&only(replicas));
        if !rest.is_empty() {
            out.push(with_fields(e, str_at(e, &["apiVersion"]), &rest));
        }
    }
    for s in owners {
        if !kept.contains(&identity(s)) {
            out.push(with_fields(s, hub_api_version, &only(replicas)));
        }
    }
    // Upstream's order: operation, time, manager, apiVersion, subresource.
    out.sort_by(|a, b| {
        let key = |e: &Value| {
            (
                str_at(e, &["operation"]).to_string(),
                str_at(e, &["time"]).to_string(),
                str_at(e, &["manager"]).to_string(),
                str_at(e, &["apiVersion"]).to_string(),
                str_at(e, &["subresource"]).to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, op: &str, av: &str, sub: Option<&str>, fields: Value) -> Value {
        let mut e = json!({"manager": manager, "operation": op, "apiVersion": av,
                           "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields});
        if let Some(s) = sub {
            e["subresource"] = json!(s);
        }
        e
    }

    fn replicas() -> Path {
        Path::fields(&["spec", "replicas"])
    }

    #[test]
    fn only_replica_owners_reach_the_scale() {
        let parent = vec![
            entry(
                "apply",
                "Apply",
                "apps/v1",
                None,
                json!({"f:spec": {"f:replicas": {}, "f:template": {}}}),
            ),
            entry(
                "labeler",
                "Update",
                "apps/v1",
                None,
                json!({"f:metadata": {"f:labels": {}}}),
            ),
        ];
        let view = to_subresource(&parent, "apps", &replicas());
        assert_eq!(
            view,
            vec![entry(
                "apply",
                "Apply",
                "autoscaling/v1",
                None,
                json!({"f:spec": {"f:replicas": {}}})
            )]
        );
    }

    #[test]
    fn replicas_move_to_the_new_owner() {
        let parent = vec![
            entry(
                "apply",
                "Apply",
                "apps/v1",
                None,
                json!({"f:spec": {"f:replicas": {}, "f:paused": {}}}),
            ),
            entry(
                "only-replicas",
                "Update",
                "apps/v1",
                None,
                json!({"f:spec": {"f:replicas": {}}}),
            ),
            entry(
                "labeler",
                "Update",
                "apps/v1",
                None,
                json!({"f:metadata": {"f:labels": {}}}),
            ),
        ];
        // After a forced apply on /scale, only `hpa` owns replicas there.
        let scale = vec![entry(
            "hpa",
            "Apply",
            "autoscaling/v1",
            Some("scale"),
            json!({"f:spec": {"f:replicas": {}}}),
        )];
        let out = to_parent(&parent, &scale, &replicas(), "apps/v1");
        assert_eq!(
            out,
            vec![
                entry(
                    "apply",
                    "Apply",
                    "apps/v1",
                    None,
                    json!({"f:spec": {"f:paused": {}}})
                ),
                entry(
                    "hpa",
                    "Apply",
                    "apps/v1",
                    Some("scale"),
                    json!({"f:spec": {"f:replicas": {}}})
                ),
                entry(
                    "labeler",
                    "Update",
                    "apps/v1",
                    None,
                    json!({"f:metadata": {"f:labels": {}}})
                ),
            ]
        );
    }

    #[test]
    fn co_owners_keep_their_entries() {
        let parent = vec![entry(
            "replace",
            "Update",
            "apps/v1",
            Some("scale"),
            json!({"f:spec": {"f:replicas": {}}}),
        )];
        let mut scale = to_subresource(&parent, "apps", &replicas());
        scale.push(entry(
            "co-owner",
            "Apply",
            "autoscaling/v1",
            Some("scale"),
            json!({"f:spec": {"f:replicas": {}}}),
        ));
        let out = to_parent(&parent, &scale, &replicas(), "apps/v1");
        let managers: Vec<&str> = out.iter().map(|e| str_at(e, &["manager"])).collect();
        assert_eq!(managers, ["co-owner", "replace"]);
        assert!(out.iter().all(|e| str_at(e, &["apiVersion"]) == "apps/v1"));
    }
}
