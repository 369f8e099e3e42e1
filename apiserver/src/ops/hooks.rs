//! The seam between the stateful write path and the pure per-kind functions (defaulting,
//! validation, CustomResourceDefinitions in [`crate::defaults`], [`crate::validation`],
//! [`crate::crd`]): the write path calls these.

use serde_json::Value;

use super::meta::{meta_str, now_rfc3339};
use super::{Cluster, key_of};
use crate::aggregator::registration::Pass;
use crate::field_error::FieldError;
use crate::kinds::{KindInfo, Subresource};
use crate::status::ApiError;
use crate::storage::{Mutation, ResourceKey, StoredObject};

/// Upstream defaulting for built-in kinds, schema defaults for custom resources.
pub fn apply_defaults(kind: &KindInfo, obj: &mut Value) {
    crate::defaults::apply_defaults(kind, obj);
}

/// Brings a valid object about to be stored into the form upstream's Go types write it
/// in (zeros of non-`omitempty` fields written, empty `omitempty` fields left out).
pub fn to_wire_form(kind: &KindInfo, obj: &mut Value) {
    crate::wire::normalise(kind, obj);
}

/// The 422 for field errors.
fn invalid(kind: &KindInfo, name: &str, errs: &[FieldError]) -> ApiError {
    crate::validation::invalid_error(&kind.kind, &kind.group, name, errs)
}

/// Validates an object about to be written (`old` for updates, through `sub`); custom
/// resources are
/// also pruned of fields their schema does not declare and checked against it. Answers
/// 400 for a built-in kind's field of the wrong JSON type (as upstream's decoder), then
/// 422 naming each bad field.
pub fn validate(
    cluster: &Cluster,
    kind: &KindInfo,
    obj: &mut Value,
    old: Option<&Value>,
    sub: Option<Subresource>,
) -> Result<(), ApiError> {
    check_types(cluster, kind, obj)?;
    validate_fields(kind, obj, old, sub)
}

/// The 400 for a built-in kind's field of the wrong JSON type, as upstream's decoder
/// answers before anything else looks at the body.
pub fn check_types(cluster: &Cluster, kind: &KindInfo, obj: &Value) -> Result<(), ApiError> {
    crate::typed::check(&cluster.registry, kind, obj)
}

/// [`validate`] without the type check, for a write whose body [`check_types`] has
/// checked already (the server's own additions are well typed).
pub fn validate_fields(
    kind: &KindInfo,
    obj: &mut Value,
    old: Option<&Value>,
    sub: Option<Subresource>,
) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let mut errs = Vec::new();
    if let Some(schema) = kind.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        errs.extend(crate::crd::schema::validate_and_prune(schema, obj));
    }
    errs.extend(crate::validation::validate(kind, obj, old, sub));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(invalid(kind, &name, &errs))
    }
}

/// Validates a write through `pods/ephemeralcontainers` (`obj` is the stored pod `old`
/// with the request's ephemeral containers), comparing both in their wire form so a
/// client leaving out zero-valued fields does not change a container: 422 naming each
/// bad field.
pub fn validate_ephemeral_containers(
    cluster: &Cluster,
    kind: &KindInfo,
    obj: &mut Value,
    old: &Value,
) -> Result<(), ApiError> {
    crate::typed::check(&cluster.registry, kind, obj)?;
    let mut wire = obj.clone();
    to_wire_form(kind, &mut wire);
    let errs = crate::validation::validate_ephemeral_containers(kind, &wire, old);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(invalid(kind, meta_str(obj, "name").unwrap_or(""), &errs))
    }
}

/// A CRD was created or updated: serve its kinds at once, write its status
/// (`acceptedNames`, `storedVersions`, `NamesAccepted`, `Established`) and register the
/// APIServices of its served versions.
pub fn crd_written(cluster: &Cluster, crd: &StoredObject) -> Result<(), ApiError> {
    let v = crd.value()?;
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let kinds = crate::crd::kinds_from_crd(&v).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let status = crate::crd::status::crd_status(&v, &cluster.registry, &now_rfc3339());
    cluster.registry.remove_custom(&crd.name);
    for k in kinds {
        cluster.registry.insert(k);
    }
    let key = ResourceKey::new("apiextensions.k8s.io", "customresourcedefinitions");
    cluster.store.mutate(&key, "", &crd.name, false, |cur| {
        let Some(cur) = cur else {
            return Ok(Mutation::Keep);
        };
        let mut now = cur.value()?;
        if now.get("status") == Some(&status) {
            return Ok(Mutation::Keep);
        }
        now["status"] = status.clone();
        Ok(Mutation::Put(now))
    })?;
    cluster.sync_apiservices(Pass::Running)
}

/// A CRD was removed: its custom resources go with it, its kinds stop being served and
/// the APIServices only it needed are deleted.
pub fn crd_removed(cluster: &Cluster, crd: &StoredObject) -> Result<(), ApiError> {
    let kinds: Vec<_> = cluster
        .registry
        .all()
        .into_iter()
        .filter(|k| matches!(&k.source, crate::kinds::KindSource::Custom { crd_name } if *crd_name == crd.name))
        .collect();
    if let Some(kind) = kinds.first() {
        let key = key_of(kind);
        let page = cluster.store.list(&key, None, None, None, &|_| true);
        for o in page.items {
            let res = cluster
                .store
                .mutate(&key, &o.namespace, &o.name, false, |cur| match cur {
                    Some(c) => Ok(Mutation::Delete(c.value()?)),
                    None => Ok(Mutation::Keep),
                });
            if let Err(e) = res {
                tracing::warn!(error = %e, object = %o.name, "removing a custom resource of a deleted CRD");
            }
        }
    }
    cluster.registry.remove_custom(&crd.name);
    cluster.sync_apiservices(Pass::Running)
}
