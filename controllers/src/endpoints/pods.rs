//! What a Service makes of a pod, shared by the Endpoints and EndpointSlice
//! controllers (upstream `pkg/api/v1/pod.FindPort`, `k8s.io/endpointslice/util` and
//! `pkg/controller/util/endpoint`): whether the pod is published at all, the port a
//! service port reaches on it, its address of the Service's IP family, its hostname,
//! and which Services a pod change concerns.

use std::collections::BTreeSet;

use capstan_labels::set_matches;
use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::util::pod::{is_ready, phase};

/// The `clusterIP` of a headless Service (upstream `v1.ClusterIPNone`).
pub const CLUSTER_IP_NONE: &str = "None";
/// The label marking the Endpoints and EndpointSlices of a headless Service
/// (upstream `v1.IsHeadlessService`).
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The annotation holding when the change that triggered the last write happened
/// (upstream `v1.EndpointsLastChangeTriggerTime`).
pub const LAST_CHANGE_TRIGGER_TIME_ANNOTATION: &str =
    "endpoints.kubernetes.io/last-change-trigger-time";

/// An IP family as Services and EndpointSlices name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// `IPv4`.
    V4,
    /// `IPv6`.
    V6,
}

impl IpFamily {
    /// The family's API name (`IPv4`, `IPv6`): a Service's `ipFamilies` entry and an
    /// EndpointSlice's `addressType`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    /// The family named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// The family of an IP address written as text (upstream `utilnet.IsIPv6String`
    /// decides: anything that is not IPv6 counts as IPv4).
    pub fn of_ip(ip: &str) -> Self {
        match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(_)) => IpFamily::V6,
            _ => IpFamily::V4,
        }
    }
}

/// Upstream `ShouldPodBeInEndpoints`: a pod is published once it has an IP, unless it
/// is terminal (`Succeeded` or `Failed`: its containers stopped for good) or
/// terminating while terminating pods are not wanted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(phase(pod), "Failed" | "Succeeded") {
        return false;
    }
    let has_ip = pod.status.as_ref().is_some_and(|s| {
        s.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            || s.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty())
    });
    has_ip && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

/// The protocol of a port, `TCP` when unset (the API server's default).
fn protocol(p: Option<&String>) -> &str {
    p.map(String::as_str).unwrap_or("TCP")
}

/// Upstream `podutil.FindPort`: the port number `service_port` reaches on `pod`. A
/// numeric `targetPort` is taken as is (an unset one means `port`); a named one is
/// looked up among the pod's container ports of the same protocol — app containers
/// first, then restartable init containers (sidecars). `None` when the name is not
/// found: the pod does not serve that port.
pub fn find_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    match &service_port.target_port {
        None => Some(service_port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let want = protocol(service_port.protocol.as_ref());
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c: &Container| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name) && protocol(p.protocol.as_ref()) == want)
                .map(|p| p.container_port)
        }
    }
}

/// Upstream `helper.IsServiceIPSet`: the Service has a cluster IP (is not headless).
pub fn is_service_ip_set(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != CLUSTER_IP_NONE)
}

/// Whether the Service is headless (`clusterIP: None`), as the "headless Services may
/// have no ports" rule reads it.
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some(CLUSTER_IP_NONE)
}

/// Upstream `ShouldSetHostname`: the pod's `hostname` is published when its
/// `subdomain` names this Service in the same namespace.
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == service.metadata.name.as_deref()
        && pod.metadata.namespace == service.metadata.namespace
}

/// The IP families a Service's endpoints are published in (upstream
/// `getAddressTypesForService`): its `ipFamilies`; without them (an older API
/// server), the family of its cluster IP, else IPv4.
pub fn service_ip_families(service: &Service) -> BTreeSet<IpFamily> {
    let spec = service.spec.as_ref();
    let listed: BTreeSet<IpFamily> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    let family = match spec.and_then(|s| s.cluster_ip.as_deref()) {
        Some(ip) if is_service_ip_set(service) => IpFamily::of_ip(ip),
        _ => IpFamily::V4,
    };
    BTreeSet::from([family])
}

/// The Service's primary IP family (upstream `podToEndpointAddressForService`): the
/// first of `ipFamilies`; without them the cluster IP's family, or for a headless
/// Service the family of the pod's primary IP.
pub fn primary_ip_family(service: &Service, pod: &Pod) -> IpFamily {
    let spec = service.spec.as_ref();
    if let Some(first) = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .and_then(|f| IpFamily::parse(f))
    {
        return first;
    }
    if is_service_ip_set(service) {
        let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
        return IpFamily::of_ip(ip);
    }
    let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref());
    IpFamily::of_ip(pod_ip.unwrap_or(""))
}

/// The pod's IPs of `family`, in its `podIPs` order (its `podIP` when `podIPs` is
/// empty).
pub fn pod_ips_of(pod: &Pod, family: IpFamily) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = match status.pod_ips.as_ref().filter(|ips| !ips.is_empty()) {
        Some(ips) => ips.iter().map(|ip| ip.ip.as_str()).collect(),
        None => status.pod_ip.as_deref().into_iter().collect(),
    };
    listed
        .into_iter()
        .filter(|ip| !ip.is_empty() && IpFamily::of_ip(ip) == family)
        .map(str::to_string)
        .collect()
}

/// The reference an endpoint keeps to its pod (kind, namespace, name, uid).
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// Whether the Service's selector picks `pod` (same namespace; a Service without a
/// selector picks nothing: its endpoints are someone else's).
pub fn service_selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    service.metadata.namespace == pod.metadata.namespace
        && set_matches(selector, &pod.metadata.labels)
}

/// Whether the endpoints controllers manage the Service's endpoints: it has a
/// selector and is not of type `ExternalName`.
pub fn has_managed_endpoints(service: &Service) -> bool {
    let Some(spec) = service.spec.as_ref() else {
        return false;
    };
    spec.selector.is_some() && spec.type_.as_deref() != Some("ExternalName")
}

/// The names of the Services of `services` that select `pod` (upstream
/// `GetPodServiceMemberships`).
pub fn services_of_pod<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    pod: &Pod,
) -> BTreeSet<String> {
    services
        .into_iter()
        .filter(|s| service_selects(s, pod))
        .filter_map(|s| s.metadata.name.clone())
        .collect()
}

/// Upstream `podEndpointsChanged`: whether the pod's labels or hostname/subdomain
/// changed (its Service memberships may have), and whether what it publishes did
/// (deletion started, readiness, IPs).
pub fn pod_endpoints_changed(old: &Pod, new: &Pod) -> (bool, bool) {
    let naming = |p: &Pod| {
        p.spec
            .as_ref()
            .map(|s| (s.hostname.clone(), s.subdomain.clone()))
    };
    let labels_changed = old.metadata.labels != new.metadata.labels || naming(old) != naming(new);
    let ips = |p: &Pod| -> Vec<String> {
        p.status
            .as_ref()
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|ip| ip.ip.clone())
            .collect()
    };
    let pod_changed = old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        || is_ready(old) != is_ready(new)
        || ips(old) != ips(new);
    (labels_changed, pod_changed)
}

/// Upstream `GetServicesToUpdateOnPodChange`: the Services (by name) to resync after
/// a pod went from `old` to `new` — every Service of either version when what it
/// publishes changed, else only those whose membership changed.
pub fn services_to_update_on_pod_change(
    services: &[&Service],
    old: &Pod,
    new: &Pod,
) -> BTreeSet<String> {
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        return BTreeSet::new();
    }
    let (labels_changed, pod_changed) = pod_endpoints_changed(old, new);
    if !labels_changed && !pod_changed {
        return BTreeSet::new();
    }
    let now = services_of_pod(services.iter().copied(), new);
    if !labels_changed {
        return now;
    }
    let before = services_of_pod(services.iter().copied(), old);
    if pod_changed {
        now.union(&before).cloned().collect()
    } else {
        now.symmetric_difference(&before).cloned().collect()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Services and pods for the endpoints controllers' unit tests.

    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, Pod, PodCondition, PodIP, Service, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use crate::util::testing::{at, labels, pod};

    /// A ClusterIP Service `web` selecting `app=web`, one port `http` 80 → `target`.
    pub fn service(target: IntOrString) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("uid-svc".into()),
                labels: Some(labels(&[("team", "a")])),
                creation_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(labels(&[("app", "web")])),
                cluster_ip: Some("10.96.0.10".into()),
                ip_families: Some(vec!["IPv4".into()]),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    target_port: Some(target),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// A running pod `name` at `ip` on node `node-1`, ready or not since `at(1)`,
    /// whose container serves `ports` (name, number).
    pub fn serving_pod(name: &str, ip: &str, ready: bool, ports: &[(&str, i32)]) -> Pod {
        let mut p = pod(name);
        let spec = p.spec.get_or_insert_default();
        spec.node_name = Some("node-1".into());
        spec.containers = vec![Container {
            name: "app".into(),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, port)| ContainerPort {
                        name: Some(n.to_string()),
                        container_port: *port,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }];
        let st = p.status.get_or_insert_default();
        st.phase = Some("Running".into());
        st.pod_ip = Some(ip.into());
        st.pod_ips = Some(vec![PodIP { ip: ip.into() }]);
        st.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(at(1))),
            ..Default::default()
        }]);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{service, serving_pod};
    use super::*;
    use crate::util::testing::{at, labels};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn ports_resolve_as_find_port_does() {
        let named = |n: &str| IntOrString::String(n.into());
        let pod = serving_pod("a", "10.0.0.1", true, &[("web", 8080), ("metrics", 9090)]);
        let mut udp = service(named("web")).spec.unwrap().ports.unwrap()[0].clone();
        udp.protocol = Some("UDP".into());
        let port = |t: Option<IntOrString>| ServicePort {
            port: 80,
            target_port: t,
            ..Default::default()
        };
        let table = [
            (
                "a number is taken as is",
                port(Some(IntOrString::Int(3000))),
                Some(3000),
            ),
            ("unset means the service port", port(None), Some(80)),
            (
                "a name finds the container port",
                port(Some(named("web"))),
                Some(8080),
            ),
            (
                "another name, another port",
                port(Some(named("metrics"))),
                Some(9090),
            ),
            (
                "an unknown name serves nothing",
                port(Some(named("grpc"))),
                None,
            ),
            ("the protocol must match", udp, None),
        ];
        for (case, sp, want) in table {
            assert_eq!(find_port(&pod, &sp), want, "{case}");
        }
    }

    #[test]
    fn sidecar_ports_count_but_plain_init_containers_do_not() {
        let mut pod = serving_pod("a", "10.0.0.1", true, &[]);
        let init = |policy: Option<&str>| Container {
            name: "init".into(),
            restart_policy: policy.map(str::to_string),
            ports: Some(vec![k8s_openapi::api::core::v1::ContainerPort {
                name: Some("proxy".into()),
                container_port: 15001,
                ..Default::default()
            }]),
            ..Default::default()
        };
        let sp = ServicePort {
            port: 80,
            target_port: Some(IntOrString::String("proxy".into())),
            ..Default::default()
        };
        pod.spec.as_mut().unwrap().init_containers = Some(vec![init(None)]);
        assert_eq!(find_port(&pod, &sp), None);
        pod.spec.as_mut().unwrap().init_containers = Some(vec![init(Some("Always"))]);
        assert_eq!(find_port(&pod, &sp), Some(15001));
    }

    #[test]
    fn pods_are_published_as_upstream_decides() {
        let running = serving_pod("a", "10.0.0.1", false, &[]);
        let mut no_ip = running.clone();
        no_ip.status.as_mut().unwrap().pod_ip = None;
        no_ip.status.as_mut().unwrap().pod_ips = None;
        let mut terminating = running.clone();
        terminating.metadata.deletion_timestamp = Some(Time(at(5)));
        let finished = |phase: &str| {
            let mut p = running.clone();
            p.status.as_mut().unwrap().phase = Some(phase.into());
            p
        };
        let table = [
            ("running, unready", &running, false, true),
            ("no IP yet", &no_ip, true, false),
            ("terminating, not wanted", &terminating, false, false),
            ("terminating, wanted", &terminating, true, true),
            (
                "Failed, whatever the restart policy",
                &finished("Failed"),
                true,
                false,
            ),
            ("Succeeded", &finished("Succeeded"), true, false),
            ("Running", &finished("Running"), false, true),
        ];
        for (case, pod, include_terminating, want) in table {
            assert_eq!(
                should_pod_be_in_endpoints(pod, include_terminating),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn families_come_from_the_service_then_its_cluster_ip() {
        let mut svc = service(IntOrString::Int(80));
        let pod = serving_pod("a", "fd00::1", true, &[]);
        assert_eq!(service_ip_families(&svc), BTreeSet::from([IpFamily::V4]));
        let spec = svc.spec.as_mut().unwrap();
        spec.ip_families = None;
        spec.cluster_ip = Some("fd00:10::1".into());
        assert_eq!(service_ip_families(&svc), BTreeSet::from([IpFamily::V6]));
        assert_eq!(primary_ip_family(&svc, &pod), IpFamily::V6);
        svc.spec.as_mut().unwrap().cluster_ip = Some(CLUSTER_IP_NONE.into());
        assert_eq!(
            primary_ip_family(&svc, &pod),
            IpFamily::V6,
            "headless: the pod's"
        );
        assert_eq!(pod_ips_of(&pod, IpFamily::V6), vec!["fd00::1".to_string()]);
        assert!(pod_ips_of(&pod, IpFamily::V4).is_empty());
    }

    #[test]
    fn a_pod_change_resyncs_the_services_it_concerns() {
        let web = service(IntOrString::Int(80));
        let mut api = web.clone();
        api.metadata.name = Some("api".into());
        api.spec.as_mut().unwrap().selector = Some(labels(&[("tier", "api")]));
        let services = [&web, &api];
        let old = serving_pod("a", "10.0.0.1", true, &[]);
        let rv = |mut p: Pod, v: &str| {
            p.metadata.resource_version = Some(v.into());
            p
        };
        let old = rv(old, "1");
        let mut unready = rv(serving_pod("a", "10.0.0.1", false, &[]), "2");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            services_to_update_on_pod_change(&services, &old, &unready),
            names(&["web"])
        );
        assert!(services_to_update_on_pod_change(&services, &old, &old).is_empty());
        // Relabelled from web to api without other change: both memberships changed.
        let mut moved = rv(old.clone(), "3");
        moved.metadata.labels = Some(labels(&[("tier", "api")]));
        assert_eq!(
            services_to_update_on_pod_change(&services, &old, &moved),
            names(&["api", "web"])
        );
        // A label that changes no membership, nothing else: nothing to resync.
        let mut extra = rv(old.clone(), "4");
        extra.metadata.labels = Some(labels(&[("app", "web"), ("x", "y")]));
        assert!(services_to_update_on_pod_change(&services, &old, &extra).is_empty());
        unready.metadata.labels = Some(labels(&[("app", "web"), ("x", "y")]));
        assert_eq!(
            services_to_update_on_pod_change(&services, &old, &unready),
            names(&["web"])
        );
    }
}
