//! Server-side apply (`application/apply-patch+yaml`): the applied configuration is merged
//! into the live object by its manager with `capstan-patch`'s apply, recording managed
//! fields; a missing object is created (when the main resource is applied to); on
//! `/scale` the configuration is a `Scale` (see [`Cluster::apply_scale`]).

use capstan_patch::apply::{ApplyError, Conflict, Manager};
use serde_json::{Value, json};

use super::kind_schema::KindSchema;
use super::meta::{now_rfc3339, reset_fields};
use super::{Cluster, WriteOptions, key_of};
use crate::kinds::{KindInfo, Subresource};
use crate::status::ApiError;
use crate::storage::StoredObject;

/// A server-side apply: the configuration, who applies it, and whether it takes fields
/// from other managers.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The applied configuration (an object of the kind, or a `Scale` on `/scale`).
    pub config: &'a Value,
    /// The applying manager (`fieldManager`).
    pub manager: &'a str,
    /// `force=true`: take conflicting fields from their managers.
    pub force: bool,
}

/// What a server-side apply wrote.
#[derive(Debug, Clone)]
pub enum Applied {
    /// The object, and whether the apply created it.
    Object {
        /// The stored object.
        object: StoredObject,
        /// Whether it did not exist before (201 rather than 200).
        created: bool,
    },
    /// The new `autoscaling/v1` `Scale` of an apply to `/scale`.
    Scale(Value),
}

impl Cluster {
    /// Server-side apply of `req` to the object `name` (or its `status`, `approval`,
    /// `scale` or `ephemeralcontainers`), creating the object when it does not exist and
    /// the main resource is applied to. Other subresources do not take apply patches (415).
    pub fn apply(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
        req: &ApplyRequest<'_>,
        opts: &WriteOptions,
    ) -> Result<Applied, ApiError> {
        let sub_name = match sub {
            None => None,
            Some(
                s
                @ (Subresource::Status | Subresource::Approval | Subresource::EphemeralContainers),
            ) => Some(s.as_str()),
            Some(Subresource::Scale) => {
                let scale = self.apply_scale(kind, ns, name, req, opts)?;
                return Ok(Applied::Scale(scale));
            }
            Some(_) => {
                return Err(ApiError::unsupported_media("application/apply-patch+yaml"));
            }
        };
        let opts = WriteOptions {
            applied: true,
            ..opts.clone()
        };
        let schema = KindSchema::of(kind);
        let now = now_rfc3339();
        let mgr = Manager {
            name: req.manager,
            subresource: sub_name,
            now: &now,
            ignored: reset_fields(kind, sub_name),
        };
        let run = |live: &Value| {
            capstan_patch::apply::apply(live, req.config, schema.meta(), &mgr, req.force)
                .map_err(|e| apply_error(e, kind, name))
        };
        let exists = self.store.get(&key_of(kind), ns, name).is_some();
        if !exists && sub.is_none() {
            let mut outcome = run(&Value::Null)?;
            if let Some(m) = outcome
                .object
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
            {
                m.insert("name".into(), json!(name));
            }
            let object = self.create(kind, ns, outcome.object, &opts)?;
            return Ok(Applied::Object {
                object,
                created: true,
            });
        }
        let object = self.update_with(kind, ns, name, sub, &opts, |cur| {
            let mut live = cur.clone();
            if let Some(m) = live.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let outcome = run(&live)?;
            Ok(outcome.object)
        })?;
        Ok(Applied::Object {
            object,
            created: false,
        })
    }
}

/// Maps a server-side apply or managed-fields error onto upstream's `Status`: conflicts
/// are `409 Conflict` with one `FieldManagerConflict` cause per field.
pub fn apply_error(e: ApplyError, kind: &KindInfo, name: &str) -> ApiError {
    match e {
        ApplyError::Conflicts(ref conflicts) => {
            let mut err = ApiError::new(409, "Conflict", e.to_string());
            err.details = Some(json!({
                "name": name,
                "group": kind.group,
                "kind": kind.plural,
                "causes": conflicts.iter().map(cause).collect::<Vec<_>>(),
            }));
            err
        }
        ApplyError::Invalid(msg) => ApiError::new(422, "Invalid", msg),
    }
}

fn cause(c: &Conflict) -> Value {
    json!({
        "reason": "FieldManagerConflict",
        "message": c.cause_message(),
        "field": c.field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_become_409_with_causes() {
        let kinds = crate::kinds::builtin_kinds();
        let kind = kinds.iter().find(|k| k.kind == "Deployment").unwrap();
        let e = apply_error(
            ApplyError::Conflicts(vec![Conflict {
                manager: "\"a\"".into(),
                field: ".spec.replicas".into(),
            }]),
            kind,
            "web",
        );
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        let d = e.details.unwrap();
        assert_eq!(d["causes"][0]["reason"], "FieldManagerConflict");
        assert_eq!(d["causes"][0]["field"], ".spec.replicas");
        assert_eq!(d["kind"], "deployments");
    }
}
