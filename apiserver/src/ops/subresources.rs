//! `pods/binding` and the `scale` subresource (`pods/eviction` is [`super::eviction`]).

use capstan_labels::Selector;
use serde_json::{Value, json};

use super::apply::{ApplyRequest, apply_error};
use super::kind_schema::KindSchema;
use super::meta::{meta_str, now_rfc3339};
use super::{Cluster, WriteOptions, key_of};
use crate::admission::{self, Operation};
use crate::json::{int_at, json_path_steps, set_at, str_at};
use crate::kinds::descriptor::SelectorForm;
use crate::kinds::{KindInfo, Subresource};
use crate::selector::label_selector_of;
use crate::status::ApiError;
use crate::storage::{Mutation, StoredObject};

/// Sets a pod condition (replacing one of the same type).
fn set_condition(pod: &mut Value, cond: Value) {
    let Some(status) = pod
        .as_object_mut()
        .map(|o| o.entry("status").or_insert_with(|| json!({})))
    else {
        return;
    };
    if !status.is_object() {
        *status = json!({});
    }
    let conds = status
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = conds {
        list.retain(|c| c.get("type") != cond.get("type"));
        list.push(cond);
    }
}

impl Cluster {
    /// `POST pods/{name}/binding`: assigns the node when the pod has none (409
    /// otherwise) and sets `PodScheduled=True`.
    pub fn bind(
        &self,
        pods: &KindInfo,
        ns: &str,
        name: &str,
        binding: &Value,
        dry_run: bool,
    ) -> Result<StoredObject, ApiError> {
        admission::admit_request(self, pods, Operation::Create, ns, name)?;
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Binding",
                    name,
                    "",
                    vec![(
                        "FieldValueRequired".into(),
                        "target.name".into(),
                        "Required value".into(),
                    )],
                )
            })?
            .to_string();
        let out = self.store.mutate(&key_of(pods), ns, name, dry_run, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found("", "pods", name))?;
            let mut pod = cur.value()?;
            if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str)
                && !uid.is_empty()
                && uid != cur.uid
            {
                return Err(ApiError::conflict_msg(
                    "",
                    "pods",
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", cur.uid),
                ));
            }
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::conflict_msg(
                    "",
                    "pods",
                    name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            if let Some(existing) = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                return Err(ApiError::conflict_msg(
                    "",
                    "pods",
                    name,
                    &format!("pod {name} is already assigned to node \"{existing}\""),
                ));
            }
            pod["spec"]["nodeName"] = json!(node);
            set_condition(
                &mut pod,
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()}),
            );
            Ok(Mutation::Put(pod))
        })?;
        out.object
            .ok_or_else(|| ApiError::not_found("", "pods", name))
    }

    /// The `autoscaling/v1` `Scale` of a scalable object.
    pub fn get_scale(&self, kind: &KindInfo, ns: &str, name: &str) -> Result<Value, ApiError> {
        let obj = self.get(kind, ns, name)?;
        scale_of(kind, &obj.value()?)
    }

    /// Writes a `Scale`'s `spec.replicas` into the object (honouring its
    /// resourceVersion as a precondition) and answers the new `Scale`.
    pub fn update_scale(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        scale: &Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let replicas = scale_replicas(scale, name)?;
        let rv = meta_str(scale, "resourceVersion").unwrap_or("").to_string();
        let spec_path = spec_replicas_path(kind);
        // Recorded in managedFields with `subresource: scale`, as upstream.
        let obj = self.update_with(kind, ns, name, Some(Subresource::Scale), opts, |cur| {
            let mut v = cur.clone();
            if !rv.is_empty() {
                v["metadata"]["resourceVersion"] = json!(rv);
            }
            set_at(&mut v, &spec_path, json!(replicas));
            Ok(v)
        })?;
        scale_of(kind, &obj.value()?)
    }

    /// Server-side apply of a `Scale` configuration by its manager: managed fields are
    /// tracked on the `Scale` view of the object (see the `scale_fields` module), so
    /// conflicts name the managers of the parent's replicas, and the outcome is folded
    /// back into the parent's entries (`subresource: scale`). Answers the new `Scale`.
    pub fn apply_scale(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        req: &ApplyRequest<'_>,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let schema = KindSchema::scale();
        let now = now_rfc3339();
        let manager = capstan_patch::apply::Manager {
            name: req.manager,
            subresource: Some("scale"),
            now: &now,
            ignored: &[],
        };
        let spec_path = spec_replicas_path(kind);
        let replicas_path = capstan_patch::fieldpath::Path::fields(&spec_path);
        let opts = WriteOptions {
            applied: true,
            ..opts.clone()
        };
        let obj = self.update_with(kind, ns, name, Some(Subresource::Scale), &opts, |cur| {
            let parent_entries = cur
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut view = scale_of(kind, cur)?;
            if let Some(meta) = view.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
                let entries = super::scale_fields::to_subresource(
                    &parent_entries,
                    &kind.group,
                    &replicas_path,
                );
                if !entries.is_empty() {
                    meta.insert("managedFields".into(), Value::Array(entries));
                }
            }
            let outcome =
                capstan_patch::apply::apply(&view, req.config, schema.meta(), &manager, req.force)
                    .map_err(|e| apply_error(e, kind, name))?;
            let replicas = scale_replicas(&outcome.object, name)?;
            let scale_entries = outcome
                .object
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut next = cur.clone();
            set_at(&mut next, &spec_path, json!(replicas));
            let merged = super::scale_fields::to_parent(
                &parent_entries,
                &scale_entries,
                &replicas_path,
                &kind.api_version(),
            );
            set_at(
                &mut next,
                &["metadata", "managedFields"],
                Value::Array(merged),
            );
            Ok(next)
        })?;
        scale_of(kind, &obj.value()?)
    }
}

/// A `Scale`'s `spec.replicas` (0 when unset); 422 when negative.
fn scale_replicas(scale: &Value, name: &str) -> Result<i64, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            name,
            "autoscaling",
            vec![(
                "FieldValueInvalid".into(),
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    Ok(replicas)
}

/// Where `kind` keeps its desired replicas (`spec.replicas`, or a CRD's scale path).
fn spec_replicas_path(kind: &KindInfo) -> Vec<&str> {
    match kind.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        Some(s) => json_path_steps(&s.spec_replicas_path),
        None => vec!["spec", "replicas"],
    }
}

/// Builds the `Scale` view of an object.
fn scale_of(kind: &KindInfo, v: &Value) -> Result<Value, ApiError> {
    let custom_scale = kind.custom.as_ref().and_then(|c| c.scale.as_ref());
    if !kind.has_subresource(Subresource::Scale) && custom_scale.is_none() {
        return Err(ApiError::not_found_path());
    }
    let (spec_path, status_path, sel) = match custom_scale {
        Some(s) => {
            let sel = s
                .label_selector_path
                .as_ref()
                .map(|p| str_at(v, &json_path_steps(p)))
                .unwrap_or("")
                .to_string();
            (
                json_path_steps(&s.spec_replicas_path),
                json_path_steps(&s.status_replicas_path),
                sel,
            )
        }
        None => {
            // A ReplicationController's selector is a plain label map (upstream's
            // `scaleFromRC` uses `labels.SelectorFromSet`), the others' a LabelSelector.
            let selector = v.pointer("/spec/selector");
            let label_map = kind
                .descriptor
                .is_some_and(|d| d.selector_form == SelectorForm::LabelMap);
            let sel = if label_map {
                let set = selector.and_then(Value::as_object).into_iter().flatten();
                Selector::from_set(set.map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))))
            } else {
                Selector::from_label_selector(selector.and_then(label_selector_of).as_ref())
                    .map_err(|e| ApiError::bad_request(format!("invalid label selector: {e}")))?
            };
            let sel = sel.to_string();
            (vec!["spec", "replicas"], vec!["status", "replicas"], sel)
        }
    };
    let m = v.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut meta = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(x) = m.get(f) {
            meta[f] = x.clone();
        }
    }
    let mut status = json!({"replicas": int_at(v, &status_path)});
    if !sel.is_empty() {
        status["selector"] = json!(sel);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": int_at(v, &spec_path)},
        "status": status,
    }))
}
