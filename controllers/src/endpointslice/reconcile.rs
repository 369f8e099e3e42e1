//! The pure core of the EndpointSlice controller: upstream's `Reconciler.Reconcile`
//! (`staging/src/k8s.io/endpointslice/reconciler.go`) as a plan. Given the Service,
//! its pods, the zones of the nodes they run on and the slices that exist, it returns
//! the slices to create, update and delete, changing as few slices as it can:
//!
//! 1. Slices of an IP family the Service no longer has, or not owned by it, go.
//! 2. Per family, the desired endpoints are grouped by their resolved port set; per
//!    port set, each existing slice keeps the endpoints still desired (updated when
//!    one of them changed or left, deleted when none is left, untouched otherwise).
//! 3. New endpoints fill the slices already being updated (fullest first), then the
//!    untouched slice they fit in most snugly, then new slices of at most
//!    `max_endpoints_per_slice`.
//! 4. A Service with nothing to publish keeps one placeholder slice (no endpoints,
//!    no ports); creates take over the names of slices being deleted (as updates).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

use super::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use crate::endpoints::pods::{
    HEADLESS_LABEL, IpFamily, LAST_CHANGE_TRIGGER_TIME_ANNOTATION, find_port, is_service_ip_set,
    pod_ips_of, pod_reference, service_ip_families, should_pod_be_in_endpoints,
    should_set_hostname,
};
use crate::endpoints::trigger::format_trigger_time;
use crate::util::pod::is_ready;

/// What the reconcile knows of the nodes pods run on: a node's
/// `topology.kubernetes.io/zone` label (`None` without one), for the nodes the cache
/// has; a node missing here does not exist (yet).
pub type NodeZones = BTreeMap<String, Option<String>>;

/// What one reconcile reads.
pub struct SliceInput<'a> {
    /// The Service.
    pub service: &'a Service,
    /// The pods its selector picks.
    pub pods: &'a [&'a Pod],
    /// The zones of the nodes.
    pub zones: &'a NodeZones,
    /// The slices labelled as this controller's for this Service.
    pub existing: &'a [&'a EndpointSlice],
    /// The most endpoints a slice holds (`--max-endpoints-per-slice`).
    pub max_endpoints_per_slice: usize,
    /// The controller name written as `endpointslice.kubernetes.io/managed-by`.
    pub controller_name: &'a str,
    /// This sync's trigger time (the `last-change-trigger-time` annotation).
    pub trigger: Option<Timestamp>,
}

/// What one reconcile does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlicePlan {
    /// Slices to create (with `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Slices to update (with their name and cached resourceVersion).
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<EndpointSlice>,
    /// Pods left out because their node is not known: the Service is retried.
    pub pods_on_unknown_nodes: Vec<String>,
}

impl SlicePlan {
    /// True when the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// A set of ports as a map key (upstream `PortMapKey`): sorted fields.
type PortMapKey = Vec<(String, i32, String, String)>;

fn port_map_key(ports: &[EndpointPort]) -> PortMapKey {
    let mut key: PortMapKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// An endpoint's identity (upstream `hashEndpoint`): its sorted addresses, hostname
/// and the pod it points to.
type EndpointKey = (Vec<String>, String, String, String);

fn endpoint_key(e: &Endpoint) -> EndpointKey {
    let mut addresses = e.addresses.clone();
    addresses.sort();
    let r = e.target_ref.as_ref();
    let field = |f: Option<&String>| f.cloned().unwrap_or_default();
    (
        addresses,
        field(e.hostname.as_ref()),
        field(r.and_then(|r| r.namespace.as_ref())),
        field(r.and_then(|r| r.name.as_ref())),
    )
}

/// Upstream `EndpointsEqualBeyondHash`: what may change without changing identity
/// (the pod's resourceVersion in the targetRef aside).
fn equal_beyond_identity(a: &Endpoint, b: &Endpoint) -> bool {
    let reference = |e: &Endpoint| {
        e.target_ref.clone().map(|mut r| {
            r.resource_version = None;
            r
        })
    };
    a.conditions == b.conditions
        && a.node_name == b.node_name
        && a.zone == b.zone
        && reference(a) == reference(b)
}

/// Upstream `getEndpointPorts`: the service ports resolved on the pod (none for a
/// headless Service without ports; unresolvable ports left out).
fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|p| {
            let number = find_port(pod, p)?;
            Some(EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect()
}

/// Upstream `podToEndpoint`: `serving` is Ready, `terminating` is being deleted, and
/// `ready` is serving and not terminating — or always, with
/// `publishNotReadyAddresses`.
fn pod_endpoint(pod: &Pod, zone: Option<String>, service: &Service, family: IpFamily) -> Endpoint {
    let serving = is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let spec = pod.spec.as_ref();
    Endpoint {
        addresses: pod_ips_of(pod, family),
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(pod_reference(pod)),
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        zone: zone.filter(|z| !z.is_empty()),
        hostname: should_set_hostname(pod, service)
            .then(|| spec.and_then(|s| s.hostname.clone()))
            .flatten(),
        ..Default::default()
    }
}

/// Upstream `ownedBy`: the Service is the slice's controller.
pub fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    slice.metadata.owner_references.iter().flatten().any(|r| {
        r.controller == Some(true)
            && r.kind == "Service"
            && r.api_version == "v1"
            && Some(&r.uid) == service.metadata.uid.as_ref()
    })
}

/// Upstream `setEndpointSliceLabels`: the Service's labels (reserved keys aside), the
/// headless label without a cluster IP, and the two labels naming the Service and
/// this controller.
fn slice_labels(service: &Service, controller_name: &str) -> BTreeMap<String, String> {
    let reserved = [LABEL_SERVICE_NAME, LABEL_MANAGED_BY, HEADLESS_LABEL];
    let mut labels: BTreeMap<String, String> = service
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !is_service_ip_set(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), controller_name.into());
    labels
}

/// Upstream `newEndpointSlice`: an empty slice for the Service, `generateName`
/// `<service>-`, the Service as controller owner.
fn new_slice(
    service: &Service,
    family: IpFamily,
    ports: Vec<EndpointPort>,
    controller_name: &str,
) -> EndpointSlice {
    let name = service.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(service, controller_name)),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name,
                uid: service.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: family.as_str().into(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

/// Upstream `placeholderSliceCompare`: an existing slice that is already the
/// placeholder the Service needs.
fn is_placeholder_like(existing: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    existing.metadata.namespace == placeholder.metadata.namespace
        && existing.metadata.labels.clone().unwrap_or_default()
            == placeholder.metadata.labels.clone().unwrap_or_default()
        && existing.metadata.owner_references == placeholder.metadata.owner_references
        && existing.address_type == placeholder.address_type
        && existing.endpoints.is_empty()
        && existing.ports.as_deref().unwrap_or_default().is_empty()
}

/// Upstream `getSliceToFill`: the untouched slice the `n` leftover endpoints fill most
/// snugly (`None` when none has room).
fn slice_to_fill(candidates: &[&EndpointSlice], n: usize, max: usize) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for s in candidates {
        let Some(diff) = max.checked_sub(n + s.endpoints.len()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(d, _)| diff < *d) {
            best = Some((diff, s.metadata.name.clone().unwrap_or_default()));
            if diff == 0 {
                break;
            }
        }
    }
    best.map(|(_, name)| name)
}

/// The writes of one port set (upstream `reconcileByPortMapping`).
#[derive(Default)]
struct PortSetPlan {
    create: Vec<EndpointSlice>,
    update: Vec<EndpointSlice>,
    delete: Vec<EndpointSlice>,
}

fn reconcile_port_set(
    input: &SliceInput<'_>,
    family: IpFamily,
    ports: &[EndpointPort],
    existing: &[&EndpointSlice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
) -> PortSetPlan {
    let max = input.max_endpoints_per_slice;
    let labels = slice_labels(input.service, input.controller_name);
    let mut by_name: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut unchanged: BTreeSet<String> = BTreeSet::new();
    let mut to_update: BTreeSet<String> = BTreeSet::new();
    let mut plan = PortSetPlan::default();
    // 1. Keep in each slice the endpoints still desired, in their current version.
    for slice in existing {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let mut kept = Vec::new();
        let mut changed = false;
        for ep in &slice.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                changed |= !equal_beyond_identity(&want, ep);
                kept.push(want);
            }
        }
        let labels_changed = slice.metadata.labels.as_ref() != Some(&labels);
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                plan.delete.push((*slice).clone());
                continue;
            }
            let mut next = (*slice).clone();
            next.endpoints = kept;
            next.metadata.labels = Some(labels.clone());
            by_name.insert(name.clone(), next);
            to_update.insert(name);
        } else if labels_changed {
            let mut next = (*slice).clone();
            next.metadata.labels = Some(labels.clone());
            by_name.insert(name.clone(), next);
            to_update.insert(name);
        } else {
            by_name.insert(name.clone(), (*slice).clone());
            unchanged.insert(name);
        }
    }
    // 2. Fill the slices being updated anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut order: Vec<(usize, String)> = to_update
            .iter()
            .map(|n| (by_name[n].endpoints.len(), n.clone()))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, name) in order {
            let Some(slice) = by_name.get_mut(&name) else {
                continue;
            };
            while slice.endpoints.len() < max {
                let Some((_, ep)) = desired.pop_first() else {
                    break;
                };
                slice.endpoints.push(ep);
            }
        }
    }
    // 3. The rest into the untouched slice they fit best, else into new slices.
    while !desired.is_empty() {
        let fill = if desired.len() < max && !unchanged.is_empty() {
            let candidates: Vec<&EndpointSlice> = unchanged.iter().map(|n| &by_name[n]).collect();
            slice_to_fill(&candidates, desired.len(), max)
        } else {
            None
        };
        let mut slice = match &fill {
            Some(name) => by_name[name].clone(),
            None => new_slice(input.service, family, ports.to_vec(), input.controller_name),
        };
        while slice.endpoints.len() < max {
            let Some((_, ep)) = desired.pop_first() else {
                break;
            };
            slice.endpoints.push(ep);
        }
        match fill {
            Some(name) => {
                unchanged.remove(&name);
                to_update.insert(name.clone());
                by_name.insert(name, slice);
            }
            None => plan.create.push(slice),
        }
    }
    plan.update = to_update
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect();
    plan
}

/// The writes of one IP family (upstream `reconcileByAddressType`).
fn reconcile_family(
    input: &SliceInput<'_>,
    family: IpFamily,
    existing: &[&EndpointSlice],
    plan: &mut SlicePlan,
) {
    let mut existing_by_ports: BTreeMap<PortMapKey, Vec<&EndpointSlice>> = BTreeMap::new();
    let mut deletes: Vec<EndpointSlice> = Vec::new();
    for slice in existing {
        if owned_by(slice, input.service) {
            let key = port_map_key(slice.ports.as_deref().unwrap_or_default());
            existing_by_ports.entry(key).or_default().push(slice);
        } else {
            deletes.push((*slice).clone());
        }
    }
    type Desired = (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>);
    let mut desired_by_ports: BTreeMap<PortMapKey, Desired> = BTreeMap::new();
    let publish = input
        .service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    for pod in input.pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(input.service, pod);
        let entry = desired_by_ports
            .entry(port_map_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let zone = match input.zones.get(&node) {
            Some(zone) => zone.clone(),
            None if publish => None,
            None => {
                plan.pods_on_unknown_nodes
                    .push(pod.metadata.name.clone().unwrap_or_default());
                continue;
            }
        };
        let ep = pod_endpoint(pod, zone, input.service, family);
        if !ep.addresses.is_empty() {
            entry.1.insert(endpoint_key(&ep), ep);
        }
    }
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for (key, (ports, desired)) in desired_by_ports.iter() {
        let slices = existing_by_ports.get(key).cloned().unwrap_or_default();
        let p = reconcile_port_set(input, family, ports, &slices, desired.clone());
        creates.extend(p.create);
        updates.extend(p.update);
        deletes.extend(p.delete);
    }
    for (key, slices) in &existing_by_ports {
        if !desired_by_ports.contains_key(key) {
            deletes.extend(slices.iter().map(|s| (*s).clone()));
        }
    }
    if existing.len() == deletes.len() && creates.is_empty() {
        let placeholder = new_slice(input.service, family, Vec::new(), input.controller_name);
        if deletes.len() == 1 && is_placeholder_like(&deletes[0], &placeholder) {
            deletes.clear();
        } else {
            creates.push(placeholder);
        }
    }
    plan.create.extend(creates);
    plan.update.extend(updates);
    plan.delete.extend(deletes);
}

/// Upstream `finalize`'s planning: creates take over the names of deleted slices of
/// the same family owned by the Service (one update instead of a create and a
/// delete); no creates while the Service is being deleted; the trigger time on every
/// write.
fn finalize(input: &SliceInput<'_>, plan: &mut SlicePlan) {
    let mut i = 0;
    while i < plan.delete.len() && !plan.create.is_empty() {
        let gone = &plan.delete[i];
        let last = plan.create.len() - 1;
        if gone.address_type == plan.create[last].address_type && owned_by(gone, input.service) {
            let gone = plan.delete.remove(i);
            let mut slice = plan.create.remove(last);
            slice.metadata.name = gone.metadata.name;
            slice.metadata.generate_name = None;
            slice.metadata.resource_version = gone.metadata.resource_version;
            slice.metadata.uid = gone.metadata.uid;
            plan.update.push(slice);
        } else {
            i += 1;
        }
    }
    if input.service.metadata.deletion_timestamp.is_some() {
        plan.create.clear();
    }
    for slice in plan.create.iter_mut().chain(plan.update.iter_mut()) {
        let annotations = slice.metadata.annotations.get_or_insert_default();
        match input.trigger {
            Some(t) => {
                annotations.insert(
                    LAST_CHANGE_TRIGGER_TIME_ANNOTATION.into(),
                    format_trigger_time(t),
                );
            }
            None => {
                annotations.remove(LAST_CHANGE_TRIGGER_TIME_ANNOTATION);
            }
        }
    }
}

/// Upstream `Reconcile`: the plan bringing the Service's slices to its pods.
pub fn reconcile_slices(input: &SliceInput<'_>) -> SlicePlan {
    let families = service_ip_families(input.service);
    let mut plan = SlicePlan::default();
    let mut by_family: BTreeMap<IpFamily, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in input.existing {
        match IpFamily::parse(&slice.address_type).filter(|f| families.contains(f)) {
            Some(f) => by_family.entry(f).or_default().push(slice),
            None => plan.delete.push((*slice).clone()),
        }
    }
    let unsupported = std::mem::take(&mut plan.delete);
    for family in families {
        let existing = by_family.remove(&family).unwrap_or_default();
        reconcile_family(input, family, &existing, &mut plan);
    }
    finalize(input, &mut plan);
    // Slices of a family the Service dropped are deleted, never taken over.
    plan.delete.extend(unsupported);
    plan
}

#[cfg(test)]
mod tests;
