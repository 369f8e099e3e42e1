//! [`KindDescriptor`]: everything the server knows about one built-in kind, in one value —
//! its resource names, scope and subresources, its Rust type (for the typed decode check
//! and the OpenAPI schema), defaulting, validation, `kubectl get` columns and what a create
//! does with the client's status, generation and delete rules, admission steps, field
//! selectors. Adding a kind is writing its descriptor and listing it
//! in [`super::builtin`]; the layers (defaulting, validation, tables, OpenAPI, the write
//! path) read the descriptor that routing found with the kind, never a table of kinds.

use std::fmt;

use chrono::{DateTime, Utc};
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{PrinterColumn, Subresource};
use crate::authn::UserInfo;
use crate::field_error::FieldError;
use crate::names::NameRule;

/// A kind's validation beyond object metadata: the object, the stored object on updates,
/// and where the problems go.
pub type Validate = fn(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>);

/// The k8s-openapi type a built-in kind decodes into.
#[derive(Clone, Copy)]
pub struct RustType {
    /// Decodes an object as the type: serde's message when it does not.
    pub decode: fn(&Value) -> Result<(), String>,
    /// Registers the type's schema (and what it references) with a generator; answers its
    /// component name (`io.k8s.api.apps.v1.Deployment`).
    pub schema: fn(&mut SchemaGenerator) -> String,
}

impl RustType {
    /// The [`RustType`] of `T`.
    pub const fn of<T: DeserializeOwned + JsonSchema>() -> RustType {
        RustType {
            decode: decode::<T>,
            schema: schema::<T>,
        }
    }
}

fn decode<T: DeserializeOwned>(obj: &Value) -> Result<(), String> {
    T::deserialize(obj).map(|_| ()).map_err(|e| e.to_string())
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// A kind's `kubectl get` table, as kube-apiserver's printers render it.
#[derive(Clone, Copy)]
pub struct TablePrinter {
    /// The column definitions, wide (`priority: 1`) ones included.
    pub columns: fn() -> Vec<PrinterColumn>,
    /// One row's cells, ages measured against `now`.
    pub cells: fn(obj: &Value, now: DateTime<Utc>) -> Vec<Value>,
    /// The row's `conditions`, for kinds whose printer sets them (finished Pods).
    pub row_conditions: Option<fn(obj: &Value) -> Option<Value>>,
}

/// What a create does with the `status` a client sends, as the kind's registry
/// strategy's `PrepareForCreate` does.
#[derive(Clone, Copy)]
pub enum CreateStatus {
    /// Stored as sent (kinds without a `status` subresource; Nodes, whose agent reports
    /// status when it registers).
    Kept,
    /// Dropped (CRDs: the server writes their status).
    Dropped,
    /// Replaced by the kind's initial status, computed from the object (`{}` for most,
    /// `phase: Pending` and the QoS class for Pods).
    Initial(fn(obj: &Value) -> Value),
}

/// How a kind keeps `metadata.generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Not at all.
    Untracked,
    /// Set to 1 on create, bumped when anything but metadata and status changes.
    Spec,
    /// As [`Generation::Spec`], and also bumped by label changes (EndpointSlices, whose
    /// strategy counts everything but other metadata).
    SpecAndLabels,
    /// As [`Generation::Spec`], and also bumped by annotation changes (Deployments, whose
    /// rollbacks are annotations).
    SpecAndAnnotations,
}

/// How deletes of a kind proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Removed at once, unless finalizers hold the object.
    Immediate,
    /// Pods: removed after a grace period (the request's, else the pod's
    /// `terminationGracePeriodSeconds`; none for unbound or finished pods).
    Graceful,
    /// Namespaces: `Terminating` until their content is gone and `spec.finalizers` (the
    /// `finalize` subresource) is empty.
    Namespace,
}

/// What deletes of a kind do and answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteRules {
    /// How the delete proceeds.
    pub deletion: Deletion,
    /// Dependents are orphaned unless the request asks otherwise (Jobs, for
    /// compatibility with `batch/v1`'s first clients).
    pub orphans_dependents: bool,
    /// A completed delete answers the deleted object rather than a `Status` (Pods,
    /// Services, Namespaces).
    pub returns_object: bool,
}

impl DeleteRules {
    /// Most kinds' deletes: immediate, dependents deleted in the background, a `Status`
    /// answered.
    pub const DEFAULT: DeleteRules = DeleteRules {
        deletion: Deletion::Immediate,
        orphans_dependents: false,
        returns_object: false,
    };
}

/// A step of upstream's admission chain ([`crate::admission`]) that a kind's writes go
/// through; declared in upstream's plugin order, which descriptors list them in.
/// `ResourceQuota`, upstream's last step, applies to every namespaced kind (custom ones
/// too) and is not listed: the chain runs it after the listed steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Admission {
    /// `NamespaceLifecycle`: nothing is created in a missing or terminating namespace,
    /// and `default`, `kube-system` and `kube-public` are never deleted. It acts on every
    /// kind, custom resources too, so no descriptor lists it.
    NamespaceLifecycle,
    /// `LimitRanger`: new pods' missing container requests and limits defaulted from
    /// the namespace's LimitRanges, pods and claims outside their bounds refused.
    LimitRanger,
    /// `ServiceAccount`: pods run as `default` unless they name an account, which must
    /// exist; its token, the CA and the namespace are mounted into their containers.
    ServiceAccount,
    /// `TaintNodesByCondition`: new Nodes carry the `node.kubernetes.io/not-ready`
    /// `NoSchedule` taint until the node lifecycle controller sees them Ready.
    TaintNodesByCondition,
    /// `Priority`: `spec.priorityClassName` (or the global default class) resolved into
    /// `spec.priority` and `spec.preemptionPolicy`; a client's own value that differs is
    /// refused.
    Priority,
    /// `DefaultTolerationSeconds`: pods tolerate the not-ready and unreachable
    /// `NoExecute` taints for 300 seconds unless they say otherwise.
    DefaultTolerationSeconds,
    /// `DefaultStorageClass`: claims naming no class get the default StorageClass.
    DefaultStorageClass,
    /// `StorageObjectInUseProtection`: new PersistentVolumeClaims carry the
    /// `kubernetes.io/pvc-protection` finalizer and PersistentVolumes
    /// `kubernetes.io/pv-protection`, which their protection controllers remove once
    /// nothing uses them.
    StorageObjectInUseProtection,
}

/// Work beyond storing the object that a kind's writes and deletes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Services: cluster IPs and node ports allocated on writes, released on delete.
    ServiceAddresses,
    /// CRDs: the kinds they define served (and their status written) on writes,
    /// withdrawn with their objects on delete.
    CustomResourceDefinition,
    /// APIServices: the availability of one backed by a Service judged on writes.
    ApiService,
}

/// How a kind writes `spec.selector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorForm {
    /// A `metav1.LabelSelector` (`matchLabels`, `matchExpressions`).
    LabelSelector,
    /// A plain label map (ReplicationControllers).
    LabelMap,
}

/// Where a kind's objects come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Stored: written by clients, read back from storage, watched.
    Stored,
    /// ComponentStatuses: the health of the control plane's components, probed on every
    /// read (as upstream's `componentstatus` REST storage does); read-only, `get` and
    /// `list` only.
    ComponentHealth,
}

/// A kind's own rules for updates, beyond the generic ones (status separation, system
/// metadata): upstream's per-subresource `PrepareForUpdate` and the validation each
/// subresource's strategy selects.
#[derive(Clone, Copy)]
pub struct UpdateRules {
    /// Restores what a write through `sub` (`None`: the main resource) may not change,
    /// given the stored object and the time (`metav1.Time` text) for condition
    /// timestamps.
    pub prepare: fn(sub: Option<Subresource>, new: &mut Value, old: &Value, now: &str),
    /// Validates an update through a subresource; updates of the main resource use the
    /// kind's [`Validate`].
    pub validate_subresource:
        fn(sub: Subresource, new: &Value, old: &Value, errs: &mut Vec<FieldError>),
}

/// Scope of a kind's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Objects live in namespaces.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// Everything about one built-in kind; see the module docs.
pub struct KindDescriptor {
    /// API group; empty for the core (legacy) group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind (`Deployment`).
    pub kind: &'static str,
    /// Lowercase plural resource name used in URLs (`deployments`).
    pub plural: &'static str,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Short names kubectl accepts (`deploy`).
    pub short_names: &'static [&'static str],
    /// Categories the resource belongs to (`all`).
    pub categories: &'static [&'static str],
    /// Served subresources.
    pub subresources: &'static [Subresource],
    /// The k8s-openapi type: typed decode check and OpenAPI schema.
    pub rust_type: RustType,
    /// Defaulting (`SetDefaults_*` and the strategy's stateless `PrepareForCreate`), if
    /// the kind has any.
    pub defaults: Option<fn(&mut Value)>,
    /// The rule `metadata.name` follows.
    pub name_rule: NameRule,
    /// A length limit on names tighter than the rule's (CronJobs: 52, so their Jobs'
    /// names fit).
    pub max_name_length: Option<usize>,
    /// Validation beyond object metadata, if any.
    pub validate: Option<Validate>,
    /// The `kubectl get` table; `None` for kube-apiserver's default `NAME CREATED AT`.
    pub table: Option<TablePrinter>,
    /// What a create does with the client's status.
    pub create_status: CreateStatus,
    /// Writes to `/status` also take `metadata.annotations` (Deployments: their
    /// controller records revisions there); otherwise they change only `status`.
    pub status_writes_annotations: bool,
    /// How `metadata.generation` is kept.
    pub generation: Generation,
    /// An update (PUT) of a missing object creates it (Endpoints, Events).
    pub create_on_update: bool,
    /// What deletes do and answer.
    pub delete: DeleteRules,
    /// The admission steps the kind's creates and updates go through, in upstream's
    /// order.
    pub admission: &'static [Admission],
    /// Work writes and deletes carry beyond storage.
    pub lifecycle: Option<Lifecycle>,
    /// How `spec.selector` is written (the `scale` subresource reports it).
    pub selector_form: SelectorForm,
    /// The fields besides `metadata.name` and `metadata.namespace` field selectors may
    /// name.
    pub selectable_fields: &'static [&'static str],
    /// Stored, or computed on every read.
    pub backing: Backing,
    /// The `Warning` every request for the kind answers with, for kinds upstream
    /// deprecates (`v1 ComponentStatus is deprecated in v1.19+`).
    pub deprecation: Option<&'static str>,
    /// The kind's own update rules, if any.
    pub update_rules: Option<UpdateRules>,
    /// Records the requesting user in a new object (CertificateSigningRequests'
    /// `spec.username`, `uid`, `groups`, `extra`), clearing what the client sent;
    /// called with `None` for requests made by the server itself.
    pub records_requester: Option<fn(obj: &mut Value, user: Option<&UserInfo>)>,
}

impl KindDescriptor {
    /// A descriptor with the names, scope and type given and everything else as most
    /// kinds have it: no short names, categories, subresources, defaulting or validation
    /// beyond metadata, subdomain names, the default table, the client's status kept, no
    /// generation, immediate deletes, no admission steps, no selectable fields, stored,
    /// not deprecated, no update rules of its own, no requester recorded.
    pub const fn new(
        group: &'static str,
        kind: &'static str,
        plural: &'static str,
        scope: Scope,
        rust_type: RustType,
    ) -> KindDescriptor {
        KindDescriptor {
            group,
            version: "v1",
            kind,
            plural,
            scope,
            short_names: &[],
            categories: &[],
            subresources: &[],
            rust_type,
            defaults: None,
            name_rule: NameRule::Subdomain,
            max_name_length: None,
            validate: None,
            table: None,
            create_status: CreateStatus::Kept,
            status_writes_annotations: false,
            generation: Generation::Untracked,
            create_on_update: false,
            delete: DeleteRules::DEFAULT,
            admission: &[],
            lifecycle: None,
            selector_form: SelectorForm::LabelSelector,
            selectable_fields: &[],
            backing: Backing::Stored,
            deprecation: None,
            update_rules: None,
            records_requester: None,
        }
    }

    /// Whether objects live in namespaces.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Whether clients may only read the kind (`get`, `list`).
    pub fn read_only(&self) -> bool {
        self.backing != Backing::Stored
    }
}

/// An initial status of `{}` (most kinds with a `status` subresource).
pub fn empty_status(_: &Value) -> Value {
    Value::Object(Default::default())
}

impl fmt::Debug for KindDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.group, self.version, self.kind)
    }
}

/// Descriptors are equal when they describe the same kind.
impl PartialEq for KindDescriptor {
    fn eq(&self, other: &Self) -> bool {
        (self.group, self.version, self.kind) == (other.group, other.version, other.kind)
    }
}

impl Eq for KindDescriptor {}
