//! The write and read semantics of the API on top of [`Store`]: create, update (main
//! resource and `status`), delete with finalizers, graceful pod deletion and propagation
//! policies, server-side apply, and the subresources (`binding`, `eviction`, `scale`,
//! `ephemeralcontainers`, namespace `finalize`, `serviceaccounts/token`).
//! Handlers in [`crate::http`] parse requests and call these.

pub mod alloc;
mod apiservices;
mod apply;
mod computed;
mod delete;
mod eviction;
pub mod hooks;
pub mod kind_schema;
pub mod meta;
mod prepare;
mod scale_fields;
mod subresources;
mod token_request;

use std::sync::Arc;

use serde_json::{Value, json};

pub use apply::{Applied, ApplyRequest};
pub use delete::{DeleteOptions, DeleteOutcome, Propagation};

use crate::admission::{self, AdmissionConfig, EphemeralContainersAdmission, Operation};
use crate::authn::UserInfo;
use crate::kinds::descriptor::Lifecycle;
use crate::kinds::{KindInfo, Registry, Subresource};
use crate::serviceaccount::ServiceAccountSettings;
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
    /// Who asks (`None`: the server itself), for kinds that record their requester.
    pub requester: Option<UserInfo>,
}

impl WriteOptions {
    /// The options of a write the server makes itself, as `manager`.
    pub fn server(manager: &str) -> WriteOptions {
        WriteOptions {
            field_manager: manager.into(),
            ..WriteOptions::default()
        }
    }
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
    /// The key service-account tokens are signed with, and whether a controller keeps
    /// the accounts.
    pub service_accounts: ServiceAccountSettings,
    /// Which admission steps run.
    pub admission: AdmissionConfig,
}

/// The storage key of a kind.
pub fn key_of(kind: &KindInfo) -> ResourceKey {
    ResourceKey::new(&kind.group, &kind.plural)
}

/// The subresource an update writes through (`None`: the main resource), with what its
/// admission read from the store before the write took the store's lock.
struct Through {
    sub: Option<Subresource>,
    pre: Option<EphemeralContainersAdmission>,
}

impl Cluster {
    /// A cluster with the given store, registry and service-account settings.
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        service_accounts: ServiceAccountSettings,
    ) -> Self {
        Cluster {
            store,
            registry,
            alloc: Allocators::new(),
            service_accounts,
            admission: AdmissionConfig::all(),
        }
    }

    /// The kind served at `group/version/plural`; a 500 when it is not served (for the
    /// server's own writes, which only name built-in kinds).
    pub fn served_kind(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Result<Arc<KindInfo>, ApiError> {
        self.registry
            .lookup(group, version, plural)
            .ok_or_else(|| ApiError::internal(format!("{plural} are not served")))
    }

    /// Every stored object of `kind` (in `ns` when given), decoded.
    pub fn list_values(&self, kind: &KindInfo, ns: Option<&str>) -> Result<Vec<Value>, ApiError> {
        self.store
            .list(&key_of(kind), ns, None, None, &|_| true)
            .items
            .iter()
            .map(|o| o.value())
            .collect()
    }

    /// One object, or 404.
    pub fn get(&self, kind: &KindInfo, ns: &str, name: &str) -> Result<StoredObject, ApiError> {
        self.store
            .get(&key_of(kind), ns, name)
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))
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
        // Upstream decodes the body into its Go type first: a field of the wrong JSON
        // type is a 400 before admission, and what the server adds later needs no check.
        hooks::check_types(self, kind, &body)?;
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
        // Refusals name the object as upstream's do: by its name, else its generateName.
        let requested = if explicit_name.is_empty() {
            &generate
        } else {
            &explicit_name
        };
        admission::admit_request(self, kind, Operation::Create, ns, requested)?;
        prepare::fill_system_fields(kind, &mut body);
        prepare::reset_status_on_create(kind, &mut body);
        prepare::record_requester(kind, &mut body, opts.requester.as_ref());
        hooks::apply_defaults(kind, &mut body);
        // As upstream's create handler, the writer's managed fields are those of the
        // decoded, defaulted object (its wire form), before mutating admission: what
        // admission adds (a token volume, default tolerations) belongs to no manager;
        // and a generated name is chosen later, so only `generateName` is the writer's.
        hooks::to_wire_form(kind, &mut body);
        if !opts.applied {
            body = meta::track_update(kind, &Value::Null, body, &opts.field_manager, None);
        }
        admission::admit(self, kind, Operation::Create, &mut body)?;
        let allocated = prepare::allocate_service(self, kind, &mut body, None)?;
        if let Some(m) = meta_mut(&mut body) {
            m.insert("name".into(), json!(shown_name));
        }
        if let Err(e) = hooks::validate_fields(kind, &mut body, None, None) {
            prepare::release_service(self, &allocated);
            return Err(e);
        }
        hooks::to_wire_form(kind, &mut body);
        let key = key_of(kind);
        // Upstream retries a generated name that collides.
        let attempts = if explicit_name.is_empty() { 8 } else { 1 };
        let mut last_err = None;
        // The body moves into the store only when the write goes through: a generated
        // name that collides leaves it here for the next name, and nothing is copied.
        let mut slot = Some(body);
        for attempt in 0..attempts {
            let name = if attempt == 0 {
                shown_name.clone()
            } else {
                generated_name(&generate)
            };
            if let Some(m) = slot.as_mut().and_then(meta_mut) {
                m.insert("name".into(), json!(name));
            }
            let res = self
                .store
                .transact(&key, ns, &name, opts.dry_run, |view, cur| {
                    if cur.is_some() {
                        return Err(ApiError::already_exists(&kind.group, &kind.plural, &name));
                    }
                    let candidate = slot
                        .as_ref()
                        .ok_or_else(|| ApiError::internal("create lost its object"))?;
                    let companions =
                        admission::validate(view, kind, Operation::Create, candidate, None)?;
                    let candidate = slot
                        .take()
                        .ok_or_else(|| ApiError::internal("create lost its object"))?;
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
        admission::admit_request(self, kind, Operation::Update, ns, name)?;
        let key = key_of(kind);
        let exists = self.store.get(&key, ns, name).is_some();
        if !exists && sub.is_none() && prepare::allow_create_on_update(kind) {
            if let Some(m) = meta_mut(&mut body) {
                m.remove("resourceVersion");
            }
            return self.create(kind, ns, body, opts).map(|o| (o, true));
        }
        let through = self.subresource_admission(kind, ns, name, sub)?;
        let out = self
            .store
            .transact(&key, ns, name, opts.dry_run, |view, cur| {
                let cur =
                    cur.ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))?;
                let old = cur.value()?;
                prepare::check_uid_precondition(kind, name, &body, &cur.uid)?;
                prepare::check_resource_version(kind, name, &body, cur.rv)?;
                self.admitted_update(view, kind, &old, body, &through, opts)
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
        admission::admit_request(self, kind, Operation::Update, ns, name)?;
        let key = key_of(kind);
        let through = self.subresource_admission(kind, ns, name, sub)?;
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
                prepare::check_uid_unchanged(kind, name, &body, &cur.uid)?;
                prepare::check_resource_version(kind, name, &body, cur.rv)?;
                self.admitted_update(view, kind, &old, body, &through, opts)
            })?;
        self.updated(kind, name, out, opts)
    }

    /// What the admission of a write through `sub` needs from the store, read before
    /// the write takes the store's lock (only `pods/ephemeralcontainers` needs any).
    fn subresource_admission(
        &self,
        kind: &KindInfo,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
    ) -> Result<Through, ApiError> {
        let pre = match sub {
            Some(Subresource::EphemeralContainers) => {
                Some(EphemeralContainersAdmission::load(self, kind, ns, name)?)
            }
            _ => None,
        };
        Ok(Through { sub, pre })
    }

    /// An update prepared ([`prepare::prepare_update`]) and, when it writes the main
    /// resource, through the validating admission steps with the writes they add;
    /// a write through a subresource is admitted by what `through` read before the lock.
    fn admitted_update(
        &self,
        view: &View<'_>,
        kind: &KindInfo,
        old: &Value,
        body: Value,
        through: &Through,
        opts: &WriteOptions,
    ) -> Result<Transaction, ApiError> {
        let sub = through.sub;
        let main = prepare::prepare_update(self, kind, old, body, sub, opts)?;
        if let (Some(pre), Mutation::Put(new)) = (&through.pre, &main) {
            pre.admit(new)?;
        }
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

    /// Side effects of a committed create or update: CRDs (re)register their kinds and
    /// APIServices; an APIService's availability is judged.
    fn after_write(&self, kind: &KindInfo, obj: &StoredObject) -> Result<(), ApiError> {
        match kind.lifecycle() {
            Some(Lifecycle::CustomResourceDefinition) => hooks::crd_written(self, obj),
            Some(Lifecycle::ApiService) => self.refresh_apiservice_availability(Some(&obj.name)),
            Some(Lifecycle::ServiceAddresses) | None => Ok(()),
        }
    }

    /// Side effects of a removal: released addresses, CRDs' kinds unregistered.
    fn after_delete(&self, kind: &KindInfo, obj: &StoredObject) -> Result<(), ApiError> {
        match kind.lifecycle() {
            Some(Lifecycle::ServiceAddresses) => {
                let v = obj.value()?;
                prepare::release_service(self, &prepare::service_allocations(&v));
            }
            Some(Lifecycle::CustomResourceDefinition) => hooks::crd_removed(self, obj)?,
            Some(Lifecycle::ApiService) | None => {}
        }
        Ok(())
    }
}
