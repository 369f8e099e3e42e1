//! The write and read semantics of the API on top of [`Store`]: create, update (main
//! resource and `status`), delete with finalizers, graceful pod deletion and propagation
//! policies, server-side apply, and the subresources (`binding`, `eviction`, `scale`,
//! namespace `finalize`).
//! Handlers in [`crate::http`] parse requests and call these.

pub mod alloc;
mod apply;
mod delete;
pub mod hooks;
pub mod kind_schema;
pub mod meta;
mod prepare;
mod scale_fields;
mod subresources;

use std::sync::Arc;

use serde_json::{Value, json};

pub use apply::{Applied, ApplyRequest};
pub use delete::{DeleteOptions, DeleteOutcome, Propagation};

use crate::admission::{self, Operation};
use crate::kinds::descriptor::Lifecycle;
use crate::kinds::{KindInfo, Registry, Subresource};
use crate::status::ApiError;
use crate::storage::{Mutation, Outcome, ResourceKey, Store, StoredObject, Transaction, View};
use alloc::Allocators;
use meta::{generated_name, meta_mut, meta_str};

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, commit nothing.
    pub dry_run: bool,
    /// `fieldManager` (or the one derived from the User-Agent).
    pub field_manager: String,
    /// The body is the result of server-side apply and already carries its
    /// `managedFields`: no `Update` entry is recorded.
    pub applied: bool,
}

/// The cluster state behind the HTTP API: storage, the registry of served kinds, and
/// the service address allocators.
#[derive(Debug)]
pub struct Cluster {
    /// All objects, revisions and watch history.
    pub store: Store,
    /// Served kinds (built-in plus CRDs).
    pub registry: Arc<Registry>,
    /// Cluster IPs and node ports.
    pub alloc: Allocators,
}

/// The storage key of a kind.
pub fn key_of(kind: &KindInfo) -> ResourceKey {
    ResourceKey::new(&kind.group, &kind.plural)
}

fn namespace_key() -> ResourceKey {
    ResourceKey::new("", "namespaces")
}

impl Cluster {
    /// A cluster with the given store and registry.
    pub fn new(store: Store, registry: Arc<Registry>) -> Self {
        Cluster {
            store,
            registry,
            alloc: Allocators::new(),
        }
    }

    /// One object, or 404.
    pub fn get(&self, kind: &KindInfo, ns: &str, name: &str) -> Result<StoredObject, ApiError> {
        self.store
            .get(&key_of(kind), ns, name)
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))
    }

    /// Checks the URL namespace exists and is not terminating, for creates.
    fn check_namespace_for_create(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !kind.namespaced {
            return Ok(());
        }
        let nsobj = self
            .store
            .get(&namespace_key(), "", ns)
            .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
        let v = nsobj.value()?;
        if v.pointer("/metadata/deletionTimestamp").is_some()
            || v.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        {
            let mut e = ApiError::forbidden(
                &kind.group,
                &kind.plural,
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            );
            if let Some(d) = e.details.as_mut() {
                d["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {ns} is being terminated"),
                    "field": "metadata.namespace"
                }]);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Creates an object from a request body in namespace `ns` ("" when cluster-scoped).
    pub fn create(
        &self,
        kind: &KindInfo,
        ns: &str,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<StoredObject, ApiError> {
        prepare::check_type(kind, &mut body)?;
        prepare::check_namespace(kind, ns, &mut body)?;
        let rv_set = meta_str(&body, "resourceVersion").is_some_and(|s| !s.is_empty());
        if rv_set {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let explicit_name = meta_str(&body, "name").unwrap_or("").to_string();
        let generate = meta_str(&body, "generateName").unwrap_or("").to_string();
        if explicit_name.is_empty() && generate.is_empty() {
            return Err(ApiError::invalid(
                &kind.kind,
                "",
                &kind.group,
                vec![(
                    "FieldValueRequired".into(),
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
        let shown_name = if explicit_name.is_empty() {
            generated_name(&generate)
        } else {
            explicit_name.clone()
        };
        self.check_namespace_for_create(kind, ns, &shown_name)?;
        prepare::fill_system_fields(kind, &mut body);
        prepare::reset_status_on_create(kind, &mut body);
        hooks::apply_defaults(kind, &mut body);
        admission::admit(self, kind, Operation::Create, &mut body)?;
        let allocated = prepare::allocate_service(self, kind, &mut body, None)?;
        if let Some(m) = meta_mut(&mut body) {
            m.insert("name".into(), json!(shown_name));
        }
        if let Err(e) = hooks::validate(self, kind, &mut body, None) {
            prepare::release_service(self, &allocated);
            return Err(e);
        }
        hooks::to_wire_form(kind, &mut body);
        if !opts.applied {
            body = meta::track_update(kind, &Value::Null, body, &opts.field_manager, None);
        }
        let key = key_of(kind);
        // Upstream retries a generated name that collides.
        let attempts = if explicit_name.is_empty() { 8 } else { 1 };
        let mut last_err = None;
        for attempt in 0..attempts {
            let name = if attempt == 0 {
                shown_name.clone()
            } else {
                generated_name(&generate)
            };
            if let Some(m) = meta_mut(&mut body) {
                m.insert("name".into(), json!(name));
            }
            let candidate = body.clone();
            let res = self
                .store
                .transact(&key, ns, &name, opts.dry_run, |view, cur| {
                    if cur.is_some() {
                        return Err(ApiError::already_exists(&kind.group, &kind.plural, &name));
                    }
                    let companions =
                        admission::validate(view, kind, Operation::Create, &candidate, None)?;
                    Ok(Transaction {
                        main: Mutation::Put(candidate),
                        companions,
                    })
                });
            match res {
                Ok(out) => {
                    if opts.dry_run {
                        prepare::release_service(self, &allocated);
                    }
                    let obj = out
                        .object
                        .ok_or_else(|| ApiError::internal("create produced no object"))?;
                    if !opts.dry_run {
                        self.after_write(kind, &obj)?;
                    }
                    return Ok(obj);
                }
                Err(e) if e.reason == "AlreadyExists" && explicit_name.is_empty() => {
                    last_err = Some(e);
                }
                Err(e) => {
                    prepare::release_service(self, &allocated);
                    return Err(e);
                }
            }
        }
        prepare::release_service(self, &allocated);
        Err(last_err.unwrap_or_else(|| ApiError::internal("name generation failed")))
    }

    /// Replaces an object (PUT) or its status (`sub` = Status). Answers whether it was
    /// created (kinds upstream allows to be created by update).
    pub fn update(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        mut body: Value,
        sub: Option<Subresource>,
        opts: &WriteOptions,
    ) -> Result<(StoredObject, bool), ApiError> {
        prepare::check_type(kind, &mut body)?;
        prepare::check_namespace(kind, ns, &mut body)?;
        match meta_str(&body, "name") {
            Some(n) if !n.is_empty() && n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            Some(n) if !n.is_empty() => {}
            _ => {
                if let Some(m) = meta_mut(&mut body) {
                    m.insert("name".into(), json!(name));
                }
            }
        }
        let key = key_of(kind);
        let exists = self.store.get(&key, ns, name).is_some();
        if !exists && sub.is_none() && prepare::allow_create_on_update(kind) {
            if let Some(m) = meta_mut(&mut body) {
                m.remove("resourceVersion");
            }
            return self.create(kind, ns, body, opts).map(|o| (o, true));
        }
        let out = self
            .store
            .transact(&key, ns, name, opts.dry_run, |view, cur| {
                let cur =
                    cur.ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
                let old = cur.value()?;
                prepare::check_resource_version(kind, name, &body, cur.rv)?;
                self.admitted_update(view, kind, &old, body, sub, opts)
            })?;
        let obj = self.updated(kind, name, out, opts)?;
        Ok((obj, false))
    }

    /// Read-modify-write of the current object with `f` (used by PATCH and `scale`): the
    /// result goes through the same update rules; `f` sees the current object, so no
    /// resourceVersion conflict arises unless `f` sets a stale one.
    pub fn update_with(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
        opts: &WriteOptions,
        f: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<StoredObject, ApiError> {
        let key = key_of(kind);
        let out = self
            .store
            .transact(&key, ns, name, opts.dry_run, |view, cur| {
                let cur =
                    cur.ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
                let old = cur.value()?;
                let mut body = f(&old)?;
                prepare::check_type(kind, &mut body)?;
                // Only a resourceVersion the change itself carries is a precondition.
                if meta_str(&body, "resourceVersion").is_none_or(str::is_empty)
                    && let Some(m) = meta_mut(&mut body)
                {
                    m.insert("resourceVersion".into(), json!(cur.rv.to_string()));
                }
                if meta_str(&body, "name").is_some_and(|n| n != name) {
                    return Err(ApiError::bad_request(
                        "metadata.name: the name of the object may not be changed",
                    ));
                }
                prepare::check_resource_version(kind, name, &body, cur.rv)?;
                self.admitted_update(view, kind, &old, body, sub, opts)
            })?;
        self.updated(kind, name, out, opts)
    }

    /// An update prepared ([`prepare::prepare_update`]) and, when it writes the main
    /// resource, through the validating admission steps with the writes they add.
    fn admitted_update(
        &self,
        view: &View<'_>,
        kind: &KindInfo,
        old: &Value,
        body: Value,
        sub: Option<Subresource>,
        opts: &WriteOptions,
    ) -> Result<Transaction, ApiError> {
        let main = prepare::prepare_update(self, kind, old, body, sub, opts)?;
        let companions = match (&main, sub) {
            (Mutation::Put(new), None) => {
                admission::validate(view, kind, Operation::Update, new, Some(old))?
            }
            _ => Vec::new(),
        };
        Ok(Transaction { main, companions })
    }

    /// The object an update left, after the side effects of its commit (none on dry
    /// runs): a write's, or a removal's when the update dropped the last finalizer of a
    /// deleted object.
    fn updated(
        &self,
        kind: &KindInfo,
        name: &str,
        out: Outcome,
        opts: &WriteOptions,
    ) -> Result<StoredObject, ApiError> {
        let obj = out
            .object
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
        if !opts.dry_run {
            if out.deleted {
                self.after_delete(kind, &obj)?;
            } else {
                self.after_write(kind, &obj)?;
            }
        }
        Ok(obj)
    }

    /// Side effects of a committed create or update: CRDs (re)register their kinds.
    fn after_write(&self, kind: &KindInfo, obj: &StoredObject) -> Result<(), ApiError> {
        if kind.lifecycle() == Some(Lifecycle::CustomResourceDefinition) {
            hooks::crd_written(self, obj)?;
        }
        Ok(())
    }

    /// Side effects of a removal: released addresses, CRDs' kinds unregistered.
    fn after_delete(&self, kind: &KindInfo, obj: &StoredObject) -> Result<(), ApiError> {
        match kind.lifecycle() {
            Some(Lifecycle::ServiceAddresses) => {
                let v = obj.value()?;
                prepare::release_service(self, &prepare::service_allocations(&v));
            }
            Some(Lifecycle::CustomResourceDefinition) => hooks::crd_removed(self, obj)?,
            None => {}
        }
        Ok(())
    }
}
