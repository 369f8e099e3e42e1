//! The pure core of the Endpoints controller (upstream `syncService` of
//! `pkg/controller/endpoint`): the subsets a Service's pods give, their truncation at
//! 1,000 addresses, and whether the Endpoints object must be created, updated or left
//! alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service, ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use super::pods::{
    HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME_ANNOTATION, find_port, is_headless, is_service_ip_set,
    pod_ips_of, pod_reference, primary_ip_family, should_pod_be_in_endpoints, should_set_hostname,
};
use super::repack::repack_subsets;
use crate::util::pod::is_ready;

/// The most addresses an Endpoints object holds (upstream `maxCapacity`).
pub const MAX_CAPACITY: usize = 1000;
/// The annotation marking a truncated Endpoints object (upstream
/// `v1.EndpointsOverCapacity`).
pub const OVER_CAPACITY_ANNOTATION: &str = "endpoints.kubernetes.io/over-capacity";
/// Its value (upstream `truncated`).
pub const TRUNCATED: &str = "truncated";

/// What one sync does with a Service's Endpoints.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsPlan {
    /// The Endpoints object already says it all: no write.
    Unchanged,
    /// There is none yet: create this one.
    Create(Endpoints),
    /// Update the existing one to this (it carries the cached resourceVersion, so a
    /// stale cache is a conflict and a retry).
    Update(Endpoints),
}

/// Upstream `podToEndpointAddressForService`: the pod's address of the Service's
/// primary IP family, pointing back at the pod; `None` when it has no such IP.
fn pod_address(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let family = primary_ip_family(service, pod);
    let ip = pod_ips_of(pod, family).into_iter().next()?;
    let spec = pod.spec.as_ref();
    Some(EndpointAddress {
        ip,
        node_name: spec.and_then(|s| s.node_name.clone()),
        hostname: should_set_hostname(pod, service)
            .then(|| spec.and_then(|s| s.hostname.clone()))
            .flatten(),
        target_ref: Some(pod_reference(pod)),
    })
}

/// Upstream `endpointPortFromServicePort`.
fn endpoint_port(port: &ServicePort, number: i32) -> EndpointPort {
    EndpointPort {
        name: port.name.clone().filter(|n| !n.is_empty()),
        port: number,
        protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
        app_protocol: port.app_protocol.clone(),
    }
}

/// Upstream `addEndpointSubset`: one subset of one address (ready when the Service
/// publishes unready pods or the pod is ready) on at most one port.
fn single(address: &EndpointAddress, port: Option<EndpointPort>, ready: bool) -> EndpointSubset {
    EndpointSubset {
        addresses: ready.then(|| vec![address.clone()]),
        not_ready_addresses: (!ready).then(|| vec![address.clone()]),
        ports: port.map(|p| vec![p]),
    }
}

/// The repacked subsets of `service` over `pods` (the pods its selector picks):
/// each published pod on each service port its containers resolve, ready or not.
pub fn desired_subsets(service: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.unwrap_or_default();
    let mut subsets = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(address) = pod_address(service, pod) else {
            tracing::debug!(pod = ?pod.metadata.name, "no IP of the Service's family");
            continue;
        };
        let ready = publish_not_ready || is_ready(pod);
        if ports.is_empty() {
            // Headless Services may have no ports.
            if is_headless(service) {
                subsets.push(single(&address, None, ready));
            }
            continue;
        }
        for port in &ports {
            match find_port(pod, port) {
                Some(n) => subsets.push(single(&address, Some(endpoint_port(port, n)), ready)),
                None => {
                    tracing::debug!(pod = ?pod.metadata.name, port = ?port.name, "no suitable port")
                }
            }
        }
    }
    repack_subsets(&subsets)
}

fn count(list: &Option<Vec<EndpointAddress>>) -> usize {
    list.as_ref().map_or(0, Vec::len)
}

/// Upstream `truncateEndpoints`: over [`MAX_CAPACITY`] addresses, keeps the ready
/// ones first — each subset keeping its share (rounded up) of what fits — and drops
/// the not ready ones that do not fit. True when anything was dropped.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, ready)
    } else {
        (MAX_CAPACITY - ready, not_ready)
    };
    let mut can_be_added = max;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let here = count(list);
        let share = (here * max).div_ceil(total).min(can_be_added);
        if let Some(l) = list.as_mut() {
            l.truncate(share);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        can_be_added -= count(list);
    }
    true
}

/// Upstream `capacityAnnotationSetCorrectly`: the over-capacity annotation is there
/// exactly when the object is at capacity after truncation (never over it).
fn capacity_annotation_correct(endpoints: &Endpoints) -> bool {
    let n: usize = endpoints
        .subsets
        .iter()
        .flatten()
        .map(|s| count(&s.addresses) + count(&s.not_ready_addresses))
        .sum();
    if n > MAX_CAPACITY {
        return false;
    }
    let annotated = endpoints
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(OVER_CAPACITY_ANNOTATION));
    !annotated || n == MAX_CAPACITY
}

/// Subsets compared ignoring the pods' resourceVersions in targetRefs (upstream
/// `endpointSubsetsEqualIgnoreResourceVersion`), and an empty list as none.
fn subsets_equal(current: Option<&Vec<EndpointSubset>>, desired: &[EndpointSubset]) -> bool {
    let strip = |s: &EndpointSubset| {
        let mut s = s.clone();
        for a in s
            .addresses
            .iter_mut()
            .chain(s.not_ready_addresses.iter_mut())
            .flatten()
        {
            if let Some(r) = a.target_ref.as_mut() {
                r.resource_version = None;
            }
        }
        s
    };
    let current: Vec<EndpointSubset> = current.into_iter().flatten().map(strip).collect();
    current == desired
}

fn without_headless(labels: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut l = labels.cloned().unwrap_or_default();
    l.remove(HEADLESS_LABEL);
    l
}

/// Upstream `syncService` after the pods are listed: the Endpoints `service` needs
/// over `pods` given the `current` one, `trigger` being this sync's trigger time.
/// Unchanged subsets, labels and capacity annotation mean no write.
pub fn plan_endpoints(
    service: &Service,
    pods: &[&Pod],
    current: Option<&Endpoints>,
    trigger: Option<Timestamp>,
) -> EndpointsPlan {
    let subsets = desired_subsets(service, pods);
    let service_labels = service.metadata.labels.clone().unwrap_or_default();
    if let Some(current) = current
        && subsets_equal(current.subsets.as_ref(), &subsets)
        && without_headless(current.metadata.labels.as_ref()) == service_labels
        && capacity_annotation_correct(current)
    {
        return EndpointsPlan::Unchanged;
    }
    let mut next = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            ..Default::default()
        },
        subsets: None,
    });
    let mut subsets = subsets;
    let truncated = truncate(&mut subsets);
    next.subsets = (!subsets.is_empty()).then_some(subsets);
    let annotations = next.metadata.annotations.get_or_insert_default();
    match trigger {
        Some(t) => {
            annotations.insert(
                LAST_CHANGE_TRIGGER_TIME_ANNOTATION.into(),
                super::trigger::format_trigger_time(t),
            );
        }
        None => {
            annotations.remove(LAST_CHANGE_TRIGGER_TIME_ANNOTATION);
        }
    }
    if truncated {
        annotations.insert(OVER_CAPACITY_ANNOTATION.into(), TRUNCATED.into());
    } else {
        annotations.remove(OVER_CAPACITY_ANNOTATION);
    }
    let mut labels = service_labels;
    if !is_service_ip_set(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    next.metadata.labels = Some(labels);
    match current {
        None => EndpointsPlan::Create(next),
        Some(_) => EndpointsPlan::Update(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::pods::CLUSTER_IP_NONE;
    use crate::endpoints::pods::testing::{service, serving_pod};
    use crate::util::testing::{at, labels};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn named() -> Service {
        service(IntOrString::String("web".into()))
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    fn created(plan: EndpointsPlan) -> Endpoints {
        match plan {
            EndpointsPlan::Create(e) => e,
            other => panic!("expected a create, got {other:?}"),
        }
    }

    #[test]
    fn ready_and_unready_pods_are_split_with_references() {
        let a = serving_pod("a", "10.0.0.1", true, &[("web", 8080)]);
        let b = serving_pod("b", "10.0.0.2", false, &[("web", 8080)]);
        let ep = created(plan_endpoints(&named(), &[&a, &b], None, Some(at(0))));
        assert_eq!(ep.metadata.name.as_deref(), Some("web"));
        assert_eq!(ep.metadata.labels, Some(labels(&[("team", "a")])));
        let subsets = ep.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.2"]);
        let first = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(first.node_name.as_deref(), Some("node-1"));
        let r = first.target_ref.as_ref().unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Pod"), Some("a"), Some("uid-a"))
        );
        assert_eq!(subsets[0].ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(
            ep.metadata.annotations.unwrap()[LAST_CHANGE_TRIGGER_TIME_ANNOTATION],
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn a_named_target_port_resolves_per_pod() {
        let a = serving_pod("a", "10.0.0.1", true, &[("web", 8080)]);
        let b = serving_pod("b", "10.0.0.2", true, &[("web", 9090)]);
        let c = serving_pod("c", "10.0.0.3", true, &[("other", 7070)]);
        let subsets = desired_subsets(&named(), &[&a, &b, &c]);
        let by_port: BTreeMap<i32, Vec<&str>> = subsets
            .iter()
            .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
            .collect();
        assert_eq!(by_port.len(), 2, "c serves no port named web");
        assert_eq!(by_port[&8080], ["10.0.0.1"]);
        assert_eq!(by_port[&9090], ["10.0.0.2"]);
    }

    #[test]
    fn publish_not_ready_addresses_makes_every_pod_ready() {
        let mut svc = named();
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let b = serving_pod("b", "10.0.0.2", false, &[("web", 8080)]);
        let subsets = desired_subsets(&svc, &[&b]);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.2"]);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn headless_services_get_the_label_hostnames_and_portless_subsets() {
        let mut svc = named();
        let spec = svc.spec.as_mut().unwrap();
        spec.cluster_ip = Some(CLUSTER_IP_NONE.into());
        spec.ports = None;
        let mut a = serving_pod("a", "10.0.0.1", true, &[]);
        let s = a.spec.as_mut().unwrap();
        s.hostname = Some("a-host".into());
        s.subdomain = Some("web".into());
        let mut b = serving_pod("b", "10.0.0.2", true, &[]);
        b.spec.as_mut().unwrap().hostname = Some("b-host".into());
        let ep = created(plan_endpoints(&svc, &[&a, &b], None, None));
        assert_eq!(ep.metadata.labels.unwrap()[HEADLESS_LABEL], "");
        let subsets = ep.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        let addrs = subsets[0].addresses.as_ref().unwrap();
        assert_eq!(addrs[0].hostname.as_deref(), Some("a-host"));
        assert_eq!(addrs[1].hostname, None, "b's subdomain is not the Service");
        // A ClusterIP Service without ports publishes nothing.
        let mut plain = named();
        plain.spec.as_mut().unwrap().ports = None;
        assert!(desired_subsets(&plain, &[&a]).is_empty());
    }

    #[test]
    fn nothing_is_written_when_nothing_changed() {
        let a = serving_pod("a", "10.0.0.1", true, &[("web", 8080)]);
        let mut ep = created(plan_endpoints(&named(), &[&a], None, Some(at(0))));
        ep.metadata.resource_version = Some("7".into());
        // Pods' resourceVersions in targetRefs do not count.
        ep.subsets.as_mut().unwrap()[0].addresses.as_mut().unwrap()[0]
            .target_ref
            .as_mut()
            .unwrap()
            .resource_version = Some("99".into());
        assert_eq!(
            plan_endpoints(&named(), &[&a], Some(&ep), Some(at(5))),
            EndpointsPlan::Unchanged
        );
        let unready = serving_pod("a", "10.0.0.1", false, &[("web", 8080)]);
        let EndpointsPlan::Update(next) = plan_endpoints(&named(), &[&unready], Some(&ep), None)
        else {
            panic!("readiness changed: an update");
        };
        assert_eq!(next.metadata.resource_version.as_deref(), Some("7"));
        let annotations = next.metadata.annotations.unwrap();
        assert!(!annotations.contains_key(LAST_CHANGE_TRIGGER_TIME_ANNOTATION));
        // A Service label change is an update too.
        let mut relabelled = named();
        relabelled.metadata.labels = Some(labels(&[("team", "b")]));
        assert!(matches!(
            plan_endpoints(&relabelled, &[&a], Some(&ep), None),
            EndpointsPlan::Update(_)
        ));
    }

    #[test]
    fn over_capacity_keeps_ready_addresses_first_and_annotates() {
        let pods: Vec<Pod> = (0..1100)
            .map(|i| {
                let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                serving_pod(&format!("p{i}"), &ip, i < 950, &[("web", 8080)])
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let ep = created(plan_endpoints(&named(), &refs, None, None));
        let subsets = ep.subsets.as_ref().unwrap();
        let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
        let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
        assert_eq!((ready, not_ready), (950, 50));
        assert_eq!(
            ep.metadata.annotations.as_ref().unwrap()[OVER_CAPACITY_ANNOTATION],
            TRUNCATED
        );
        let mut stored = ep.clone();
        stored.metadata.resource_version = Some("1".into());
        assert_eq!(
            plan_endpoints(&named(), &refs, Some(&stored), None),
            EndpointsPlan::Update(stored.clone()),
            "subsets over capacity never compare equal, as upstream"
        );
    }

    #[test]
    fn truncating_ready_addresses_drops_every_unready_one() {
        let addr = |i: usize| EndpointAddress {
            ip: format!("10.0.{}.{}", i / 256, i % 256),
            ..Default::default()
        };
        let mut subsets = vec![
            EndpointSubset {
                addresses: Some((0..800).map(addr).collect()),
                not_ready_addresses: Some(vec![addr(5000)]),
                ports: None,
            },
            EndpointSubset {
                addresses: Some((800..1200).map(addr).collect()),
                not_ready_addresses: None,
                ports: None,
            },
        ];
        assert!(truncate(&mut subsets));
        assert_eq!(count(&subsets[0].addresses), 667, "ceil(800/1200 * 1000)");
        assert_eq!(count(&subsets[1].addresses), 333);
        assert!(subsets[0].not_ready_addresses.is_none());
    }
}
