//! The per-write preparation upstream's registry strategies do: system metadata,
//! status reset on create, status/main separation on update, generation, Service
//! address allocation, namespace finalizers.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::alloc::AllocError;
use super::meta::{
    finalizers, generation_changed, meta_mut, meta_str, new_uid, now_rfc3339, tracks_generation,
};
use super::{Cluster, WriteOptions, hooks};
use crate::admission::{self, Operation};
use crate::authn::UserInfo;
use crate::field_error::FieldError;
use crate::kinds::descriptor::{CreateStatus, Deletion, Lifecycle};
use crate::kinds::{KindInfo, Subresource};
use crate::status::ApiError;
use crate::storage::Mutation;
use crate::validation::invalid_error;

/// Checks (and fills in) `apiVersion` and `kind` against the URL's kind.
pub fn check_type(kind: &KindInfo, body: &mut Value) -> Result<(), ApiError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    };
    let want_av = kind.api_version();
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != kind.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                kind.kind
            )));
        }
        _ => {
            obj.insert("kind".into(), json!(kind.kind));
        }
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if !av.is_empty() && av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        _ => {
            obj.insert("apiVersion".into(), json!(want_av));
        }
    }
    if obj
        .get("metadata")
        .is_some_and(|m| !m.is_object() && !m.is_null())
    {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// Reconciles the body's namespace with the URL's.
pub fn check_namespace(kind: &KindInfo, ns: &str, body: &mut Value) -> Result<(), ApiError> {
    let Some(m) = meta_mut(body) else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    if kind.namespaced {
        match m.get("namespace").and_then(Value::as_str) {
            Some(b) if !b.is_empty() && b != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                m.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        m.remove("namespace");
    }
    Ok(())
}

/// Sets uid, creationTimestamp, generation; clears what clients may not set on create.
pub fn fill_system_fields(kind: &KindInfo, body: &mut Value) {
    if let Some(m) = meta_mut(body) {
        m.insert("uid".into(), json!(new_uid()));
        m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        for f in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "resourceVersion",
        ] {
            m.remove(f);
        }
        if tracks_generation(kind) {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
}

/// Upstream's PrepareForCreate status handling per kind: built-ins get their initial
/// status (Pods `Pending` with a QoS class, Namespaces `Active`, `{}` …), custom
/// resources with a status subresource and CRDs drop the client's status.
pub fn reset_status_on_create(kind: &KindInfo, body: &mut Value) {
    let initial = crate::defaults::initial_status(kind, body);
    let dropped = match kind.descriptor {
        Some(d) => matches!(d.create_status, CreateStatus::Dropped),
        None => kind.has_subresource(Subresource::Status),
    };
    let Some(o) = body.as_object_mut() else {
        return;
    };
    if dropped {
        o.remove("status");
    } else if let Some(st) = initial {
        o.insert("status".into(), st);
    }
}

/// Records who creates the object, for kinds that keep their requester (the
/// strategy's `PrepareForCreate` taking `user.Info` from the request).
pub fn record_requester(kind: &KindInfo, body: &mut Value, requester: Option<&UserInfo>) {
    if let Some(record) = kind.descriptor.and_then(|d| d.records_requester) {
        record(body, requester);
    }
}

/// Kinds upstream lets a PUT create when missing.
pub fn allow_create_on_update(kind: &KindInfo) -> bool {
    kind.descriptor.is_some_and(|d| d.create_on_update)
}

/// Addresses a Service holds.
#[derive(Debug, Default, Clone)]
pub struct ServiceAllocations {
    ips: Vec<Ipv4Addr>,
    ports: Vec<u16>,
}

/// The addresses recorded in a Service object.
pub fn service_allocations(svc: &Value) -> ServiceAllocations {
    let mut a = ServiceAllocations::default();
    if let Some(ip) = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    {
        a.ips.push(ip);
    }
    if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
        a.ports.extend(
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok()),
        );
    }
    a
}

/// Releases what [`allocate_service`] reserved.
pub fn release_service(cluster: &Cluster, a: &ServiceAllocations) {
    for ip in &a.ips {
        cluster.alloc.release_ip(*ip);
    }
    for p in &a.ports {
        cluster.alloc.release_port(*p);
    }
}

fn alloc_invalid(field: &str, value: &str, e: AllocError) -> ApiError {
    ApiError::invalid(
        "Service",
        "",
        "",
        vec![(
            "FieldValueInvalid".into(),
            field.into(),
            format!("Invalid value: {value}: failed to allocate: {e}"),
        )],
    )
}

/// Allocates a cluster IP (unless headless or ExternalName) and node ports (for
/// NodePort and LoadBalancer) to a Service, keeping those `old` already holds.
pub fn allocate_service(
    cluster: &Cluster,
    kind: &KindInfo,
    body: &mut Value,
    old: Option<&Value>,
) -> Result<ServiceAllocations, ApiError> {
    let mut got = ServiceAllocations::default();
    if kind.lifecycle() != Some(Lifecycle::ServiceAddresses) {
        return Ok(got);
    }
    let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(got);
    };
    let stype = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if stype != "ExternalName" {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ip = if requested == "None" {
            Some("None".to_string())
        } else if requested.is_empty() {
            match old_ip {
                Some(ip) => Some(ip),
                None => {
                    let ip = cluster
                        .alloc
                        .allocate_ip(None)
                        .map_err(|e| alloc_invalid("spec.clusterIPs", "[]", e))?;
                    got.ips.push(ip);
                    Some(ip.to_string())
                }
            }
        } else if old_ip.as_deref() == Some(requested.as_str()) {
            Some(requested)
        } else {
            let parsed: Ipv4Addr = requested.parse().map_err(|_| {
                alloc_invalid("spec.clusterIPs", &requested, AllocError::OutOfRange("IP"))
            })?;
            cluster
                .alloc
                .allocate_ip(Some(parsed))
                .map_err(|e| alloc_invalid("spec.clusterIPs", &format!("[\"{requested}\"]"), e))?;
            got.ips.push(parsed);
            Some(requested)
        };
        if let Some(ip) = ip {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
            spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
            spec.entry("ipFamilyPolicy")
                .or_insert_with(|| json!("SingleStack"));
        }
    }
    if stype == "NodePort" || stype == "LoadBalancer" {
        let old_ports: Vec<u64> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                let want = p.get("nodePort").and_then(Value::as_u64);
                match want {
                    Some(n) if old_ports.contains(&n) => {}
                    Some(n) => {
                        let port = u16::try_from(n).map_err(|_| {
                            alloc_invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                &n.to_string(),
                                AllocError::OutOfRange("port"),
                            )
                        });
                        let port = match port {
                            Ok(p) => p,
                            Err(e) => {
                                release_service(cluster, &got);
                                return Err(e);
                            }
                        };
                        if let Err(e) = cluster.alloc.allocate_port(Some(port)) {
                            release_service(cluster, &got);
                            return Err(alloc_invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                &n.to_string(),
                                e,
                            ));
                        }
                        got.ports.push(port);
                    }
                    None => match cluster.alloc.allocate_port(None) {
                        Ok(port) => {
                            got.ports.push(port);
                            p["nodePort"] = json!(port);
                        }
                        Err(e) => {
                            release_service(cluster, &got);
                            return Err(alloc_invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                "0",
                                e,
                            ));
                        }
                    },
                }
            }
        }
    }
    Ok(got)
}

/// A replace (PUT) whose body carries a `metadata.uid` makes it a precondition, as
/// upstream's `DefaultUpdatedObjectInfo.Preconditions`: another object under the same
/// name is a 409 Conflict, checked before the resourceVersion.
pub fn check_uid_precondition(
    kind: &KindInfo,
    name: &str,
    body: &Value,
    stored_uid: &str,
) -> Result<(), ApiError> {
    match meta_str(body, "uid") {
        Some(uid) if !uid.is_empty() && uid != stored_uid => Err(ApiError::conflict_msg(
            &kind.group,
            &kind.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {stored_uid}"
            ),
        )),
        _ => Ok(()),
    }
}

/// A patch or apply may not change `metadata.uid` (upstream's
/// `ValidateObjectMetaUpdate`: 422, `field is immutable`); leaving it out keeps it.
pub fn check_uid_unchanged(
    kind: &KindInfo,
    name: &str,
    body: &Value,
    stored_uid: &str,
) -> Result<(), ApiError> {
    match meta_str(body, "uid") {
        Some(uid) if !uid.is_empty() && uid != stored_uid => Err(invalid_error(
            &kind.kind,
            &kind.group,
            name,
            &[FieldError::invalid(
                "metadata.uid",
                json!(uid),
                "field is immutable",
            )],
        )),
        _ => Ok(()),
    }
}

/// Optimistic concurrency: a stale resourceVersion is a 409; an empty one means an
/// unconditional update for built-in kinds and a 422 for custom resources.
pub fn check_resource_version(
    kind: &KindInfo,
    name: &str,
    body: &Value,
    current: u64,
) -> Result<(), ApiError> {
    match meta_str(body, "resourceVersion") {
        None | Some("") => {
            if kind.is_custom() {
                return Err(ApiError::invalid(
                    &kind.kind,
                    name,
                    &kind.group,
                    vec![(
                        "FieldValueInvalid".into(),
                        "metadata.resourceVersion".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            Ok(())
        }
        Some(rv) => match rv.parse::<u64>() {
            Ok(n) if n == current => Ok(()),
            Ok(_) => Err(ApiError::conflict(&kind.group, &kind.plural, name)),
            Err(_) => Err(ApiError::bad_request(format!(
                "invalid resource version: {rv:?}"
            ))),
        },
    }
}

/// What a write through `pods/ephemeralcontainers` leaves (upstream's
/// `dropNonEphemeralContainerUpdates`): the stored pod with the body's ephemeral
/// containers and the managed fields the write carries; every other change the body
/// makes is ignored.
fn ephemeral_containers_update(old: &Value, body: &Value) -> Value {
    let mut n = old.clone();
    take_managed_fields(body, &mut n);
    let containers = body.pointer("/spec/ephemeralContainers").cloned();
    if let Some(spec) = n.get_mut("spec").and_then(Value::as_object_mut) {
        match containers {
            Some(c) => {
                spec.insert("ephemeralContainers".into(), c);
            }
            None => {
                spec.remove("ephemeralContainers");
            }
        }
    }
    n
}

/// A subresource write keeps the managed fields its body carries.
fn take_managed_fields(body: &Value, into: &mut Value) {
    if let Some(mf) = body.pointer("/metadata/managedFields")
        && let Some(m) = meta_mut(into)
    {
        m.insert("managedFields".into(), mf.clone());
    }
}

fn strip_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

/// Computes the new state of an update from the old object and the request body:
/// system metadata kept, status/main separation, finalizer rules, defaults,
/// validation, generation, and removal when the last finalizer of a deleted object goes.
pub fn prepare_update(
    cluster: &Cluster,
    kind: &KindInfo,
    old: &Value,
    body: Value,
    sub: Option<Subresource>,
    opts: &WriteOptions,
) -> Result<Mutation, ApiError> {
    let name = meta_str(old, "name").unwrap_or("").to_string();
    let mut new = match sub {
        Some(s) if s.writes_status() => {
            // Status writes change only status (and the managed fields a client sends).
            let mut n = old.clone();
            take_managed_fields(&body, &mut n);
            match body.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            // Upstream's deploymentStatusStrategy keeps only spec and labels: the
            // deployment controller writes the revision annotations through
            // deployments/status.
            if kind.descriptor.is_some_and(|d| d.status_writes_annotations) {
                let annotations = body.pointer("/metadata/annotations").cloned();
                if let Some(m) = meta_mut(&mut n) {
                    match annotations {
                        Some(a) => {
                            m.insert("annotations".into(), a);
                        }
                        None => {
                            m.remove("annotations");
                        }
                    }
                }
            }
            n
        }
        Some(Subresource::EphemeralContainers) => ephemeral_containers_update(old, &body),
        _ => {
            let mut n = body;
            if kind.has_subresource(Subresource::Status) {
                // Main-resource writes never change status.
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(o) = n.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            n
        }
    };
    if let Some(rules) = kind.descriptor.and_then(|d| d.update_rules) {
        (rules.prepare)(sub, &mut new, old, &now_rfc3339());
    }
    // System metadata is the server's.
    if let (Some(om), Some(nm)) = (
        old.get("metadata").and_then(Value::as_object),
        meta_mut(&mut new),
    ) {
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match om.get(f) {
                Some(v) => {
                    nm.insert(f.into(), v.clone());
                }
                None => {
                    nm.remove(f);
                }
            }
        }
        nm.remove("selfLink");
    }
    let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    if deleting {
        let before = finalizers(old);
        if let Some(added) = finalizers(&new).into_iter().find(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &kind.kind,
                &name,
                &kind.group,
                vec![(
                    "FieldValueForbidden".into(),
                    "metadata.finalizers".into(),
                    format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{added}\"}}"
                    ),
                )],
            ));
        }
    }
    if matches!(sub, None | Some(Subresource::Scale)) {
        hooks::apply_defaults(kind, &mut new);
        if sub.is_none() {
            admission::admit(cluster, kind, Operation::Update, &mut new)?;
        }
        allocate_service(cluster, kind, &mut new, Some(old))?;
    }
    if sub == Some(Subresource::EphemeralContainers) {
        hooks::apply_defaults(kind, &mut new);
        hooks::validate_ephemeral_containers(cluster, kind, &mut new, old)?;
    } else {
        hooks::validate(cluster, kind, &mut new, Some(old), sub)?;
    }
    hooks::to_wire_form(kind, &mut new);
    if !sub.is_some_and(Subresource::writes_status)
        && tracks_generation(kind)
        && generation_changed(kind, old, &new)
    {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(m) = meta_mut(&mut new) {
            m.insert("generation".into(), json!(g + 1));
        }
    }
    let sub_name = sub.map(Subresource::as_str);
    if !opts.applied {
        new = super::meta::track_update(kind, old, new, &opts.field_manager, sub_name);
    }
    // Managed fields are compared too: an apply that only takes ownership still writes.
    if strip_volatile(old) == strip_volatile(&new) {
        return Ok(Mutation::Keep);
    }
    if deleting
        && finalizers(&new).is_empty()
        && new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && !(kind.deletion() == Deletion::Namespace
            && new
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()))
    {
        return Ok(Mutation::Delete(new));
    }
    Ok(Mutation::Put(new))
}
