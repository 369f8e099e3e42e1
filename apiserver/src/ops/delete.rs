//! Deletion as upstream's generic registry does it: preconditions, propagation-policy
//! finalizers, finalizers holding objects with a `deletionTimestamp`, graceful pod
//! deletion, namespaces turning `Terminating`.

use serde_json::{Value, json};

use super::meta::{finalizers, meta_mut, rfc3339, set_finalizers};
use super::{Cluster, key_of};
use crate::kinds::KindInfo;
use crate::kinds::descriptor::Deletion;
use crate::status::ApiError;
use crate::storage::{Mutation, StoredObject};

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are orphaned (`orphan` finalizer).
    Orphan,
    /// Dependents are deleted first (`foregroundDeletion` finalizer).
    Foreground,
    /// Dependents are deleted afterwards by the garbage collector.
    Background,
}

impl Propagation {
    /// Parses the wire value.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Orphan" => Ok(Propagation::Orphan),
            "Foreground" => Ok(Propagation::Foreground),
            "Background" => Ok(Propagation::Background),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// `DeleteOptions`, from the body or the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace: Option<i64>,
    /// `propagationPolicy` (or `orphanDependents`).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body (absent fields keep the query's values).
    pub fn merge_body(&mut self, body: &Value) -> Result<(), ApiError> {
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            self.grace = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            self.propagation = Some(Propagation::parse(p)?);
        } else if let Some(o) = body.get("orphanDependents").and_then(Value::as_bool) {
            self.propagation = Some(if o {
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        }
        if let Some(u) = body.pointer("/preconditions/uid").and_then(Value::as_str) {
            self.uid = Some(u.to_string());
        }
        if let Some(r) = body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            self.resource_version = Some(r.to_string());
        }
        if body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"))
        {
            self.dry_run = true;
        }
        Ok(())
    }
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object is gone; its final state.
    Removed(StoredObject),
    /// The object is terminating (finalizers or a grace period hold it).
    Pending(StoredObject),
}

/// The propagation of a delete that names none: Orphan for kinds whose descriptor says
/// so (batch/v1 Jobs, for compatibility), Background otherwise.
fn default_propagation(kind: &KindInfo) -> Propagation {
    if kind.descriptor.is_some_and(|d| d.delete.orphans_dependents) {
        Propagation::Orphan
    } else {
        Propagation::Background
    }
}

impl Cluster {
    /// Deletes an object as upstream does; see the module docs.
    pub fn delete(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        let key = key_of(kind);
        let is_pod = kind.deletion() == Deletion::Graceful;
        let is_ns = kind.deletion() == Deletion::Namespace;
        let ns_empty = is_ns && !self.store.namespace_has_objects(name);
        let out = self.store.mutate(&key, ns, name, opts.dry_run, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
            let mut obj = cur.value()?;
            if let Some(uid) = &opts.uid
                && *uid != cur.uid
            {
                return Err(ApiError::conflict_msg(
                    &kind.group,
                    &kind.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        cur.uid
                    ),
                ));
            }
            if let Some(rv) = &opts.resource_version
                && *rv != cur.rv.to_string()
            {
                return Err(ApiError::conflict_msg(
                    &kind.group,
                    &kind.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        cur.rv
                    ),
                ));
            }
            let now = chrono::Utc::now();
            let already = obj.pointer("/metadata/deletionTimestamp").is_some();
            // Propagation policy → GC finalizers.
            let policy = opts.propagation.unwrap_or_else(|| default_propagation(kind));
            let mut fins = finalizers(&obj);
            let before = fins.clone();
            match policy {
                Propagation::Orphan => {
                    fins.retain(|f| f != "foregroundDeletion");
                    if !fins.iter().any(|f| f == "orphan") {
                        fins.push("orphan".into());
                    }
                }
                Propagation::Foreground => {
                    fins.retain(|f| f != "orphan");
                    if !fins.iter().any(|f| f == "foregroundDeletion") {
                        fins.push("foregroundDeletion".into());
                    }
                }
                Propagation::Background => {
                    fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
                }
            }
            if is_ns && !already && !ns_empty {
                set_finalizers(&mut obj, &fins);
                let m = meta_mut(&mut obj).ok_or_else(|| ApiError::internal("no metadata"))?;
                m.insert("deletionTimestamp".into(), json!(rfc3339(now)));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                obj["status"] = json!({"phase": "Terminating"});
                return Ok(Mutation::Put(obj));
            }
            if is_ns && already {
                return Ok(Mutation::Keep);
            }
            // Graceful deletion of pods.
            let mut grace = 0i64;
            if is_pod {
                let spec_grace = obj
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30);
                grace = opts.grace.unwrap_or(spec_grace).max(0);
                let unbound = obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                let finished = matches!(
                    obj.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                );
                if unbound || finished {
                    grace = 0;
                }
                if already {
                    let current = obj
                        .pointer("/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if grace >= current && current > 0 {
                        // A longer or equal grace period never extends a deletion.
                        return if fins == before {
                            Ok(Mutation::Keep)
                        } else {
                            set_finalizers(&mut obj, &fins);
                            Ok(Mutation::Put(obj))
                        };
                    }
                }
            }
            if fins.is_empty() && grace == 0 && (!is_ns || ns_empty) {
                return Ok(Mutation::Delete(obj));
            }
            set_finalizers(&mut obj, &fins);
            if already && grace == 0 && !is_pod {
                return if fins == before {
                    Ok(Mutation::Keep)
                } else {
                    Ok(Mutation::Put(obj))
                };
            }
            let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
            let m = meta_mut(&mut obj).ok_or_else(|| ApiError::internal("no metadata"))?;
            let ts = now + chrono::Duration::seconds(grace);
            m.insert("deletionTimestamp".into(), json!(rfc3339(ts)));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if !already && let Some(g) = generation.filter(|g| *g > 0) {
                m.insert("generation".into(), json!(g + 1));
            }
            Ok(Mutation::Put(obj))
        })?;
        let obj = out
            .object
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
        if out.deleted {
            if !opts.dry_run {
                self.after_delete(kind, &obj)?;
            }
            Ok(DeleteOutcome::Removed(obj))
        } else {
            Ok(DeleteOutcome::Pending(obj))
        }
    }

    /// Removes a terminating namespace once its `spec.finalizers` are empty (the
    /// `finalize` subresource); also used when the namespace has become empty.
    pub fn finalize_namespace(
        &self,
        name: &str,
        body: &Value,
        dry_run: bool,
    ) -> Result<StoredObject, ApiError> {
        let kind = self
            .registry
            .lookup("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
        let key = key_of(&kind);
        let out = self.store.mutate(&key, "", name, dry_run, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found("", "namespaces", name))?;
            let mut obj = cur.value()?;
            let fins = body
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| json!([]));
            obj["spec"]["finalizers"] = fins.clone();
            let done = fins.as_array().is_none_or(Vec::is_empty)
                && finalizers(&obj).is_empty()
                && obj.pointer("/metadata/deletionTimestamp").is_some();
            if done {
                Ok(Mutation::Delete(obj))
            } else {
                Ok(Mutation::Put(obj))
            }
        })?;
        out.object
            .ok_or_else(|| ApiError::not_found("", "namespaces", name))
    }
}
