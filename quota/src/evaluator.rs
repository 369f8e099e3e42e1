//! Upstream's quota evaluators (`pkg/quota/v1/evaluator/core` and the generic object
//! count evaluator): for each kind of object, which quota resources it is charged to,
//! which writes change its usage, what one object uses, which scopes it can match and
//! which requests a quota forces it to state.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::pod::{Side, all_containers, container_resources, pod_resources};
use crate::quantity::{Format, Quantity};
use crate::resources::{InvalidEntry, ResourceList, add, parse_list};
use crate::scope::{ScopeRequirement, is_terminating, pod_matches_scope};

/// A write quota admission looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object.
    Update,
}

/// An object as an evaluator sees it: the kinds with their own usage rules typed,
/// any other object only counted.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A pod.
    Pod(&'a Pod),
    /// A service.
    Service(&'a Service),
    /// A persistent volume claim.
    Claim(&'a PersistentVolumeClaim),
    /// Any other object (its usage is its count).
    Counted,
}

/// Which evaluator measures a resource's objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Evaluator {
    /// Pods: compute resources, `pods`, `count/pods`.
    Pods,
    /// Services: `services`, node ports, load balancers, `count/services`.
    Services,
    /// Claims: `persistentvolumeclaims`, `requests.storage`, per storage class.
    PersistentVolumeClaims,
    /// Any other resource: `count/<resource>.<group>` (and the legacy name for
    /// configmaps, secrets, replicationcontrollers and resourcequotas).
    ObjectCount {
        /// API group (`""` for core).
        group: String,
        /// Plural resource name.
        resource: String,
    },
}

/// The resources a pod is charged to.
const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// The resources a service is charged to.
const SERVICE_RESOURCES: &[&str] = &[
    "count/services",
    "services",
    "services.nodeports",
    "services.loadbalancers",
];

/// The resources a claim is charged to (besides the per-class ones).
const CLAIM_RESOURCES: &[&str] = &[
    "count/persistentvolumeclaims",
    "persistentvolumeclaims",
    "requests.storage",
];

/// Quota names scoped to a storage class: `<class>.storageclass.storage.k8s.io/<resource>`.
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// The resources a quota on cpu or memory forces every container to state (a mistake
/// upstream keeps for compatibility and does not extend).
const MUST_SPECIFY: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// The object count quota name of a resource: `count/<resource>` in the core group,
/// `count/<resource>.<group>` elsewhere (`ObjectCountQuotaResourceNameFor`).
pub fn count_name(group: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }
}

/// Whether a resource name is native to Kubernetes (no domain, or a
/// `kubernetes.io/` one).
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// An extended resource a container may request (`example.com/gpu`).
fn is_extended(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.")
}

/// `requests.<extended>`: the only quota form extended resources have.
fn is_extended_for_quota(name: &str) -> bool {
    !is_native(name) && name.starts_with("requests.")
}

impl Evaluator {
    /// The evaluator of `resource` in `group`.
    pub fn for_resource(group: &str, resource: &str) -> Evaluator {
        match (group, resource) {
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::PersistentVolumeClaims,
            _ => Evaluator::ObjectCount {
                group: group.into(),
                resource: resource.into(),
            },
        }
    }

    /// The evaluators upstream registers up front: pods, services, claims and the four
    /// resources with a legacy count name.
    pub fn registered() -> Vec<Evaluator> {
        let mut all = vec![
            Evaluator::Pods,
            Evaluator::Services,
            Evaluator::PersistentVolumeClaims,
        ];
        all.extend(
            [
                "configmaps",
                "resourcequotas",
                "replicationcontrollers",
                "secrets",
            ]
            .into_iter()
            .map(|r| Evaluator::for_resource("", r)),
        );
        all
    }

    /// The group and resource it measures.
    pub fn group_resource(&self) -> (&str, &str) {
        match self {
            Evaluator::Pods => ("", "pods"),
            Evaluator::Services => ("", "services"),
            Evaluator::PersistentVolumeClaims => ("", "persistentvolumeclaims"),
            Evaluator::ObjectCount { group, resource } => (group, resource),
        }
    }

    /// The legacy count name of the resource, if it has one (`configmaps`, …).
    fn legacy_alias(&self) -> Option<&'static str> {
        match self.group_resource() {
            ("", "configmaps") => Some("configmaps"),
            ("", "resourcequotas") => Some("resourcequotas"),
            ("", "replicationcontrollers") => Some("replicationcontrollers"),
            ("", "secrets") => Some("secrets"),
            _ => None,
        }
    }

    /// Whether a write changes the usage this evaluator measures (`Handles`): any
    /// create; updates of services and claims; pod updates that move the pod between
    /// the terminating scopes.
    pub fn handles(&self, op: Operation, new: &Item<'_>, old: Option<&Item<'_>>) -> bool {
        match (self, op) {
            (_, Operation::Create) => true,
            (Evaluator::Services | Evaluator::PersistentVolumeClaims, Operation::Update) => true,
            (Evaluator::Pods, Operation::Update) => match (new, old) {
                (Item::Pod(new), Some(Item::Pod(old))) => {
                    is_terminating(new) != is_terminating(old)
                }
                _ => false,
            },
            (Evaluator::ObjectCount { .. }, Operation::Update) => false,
        }
    }

    /// The names among `names` this evaluator charges (`MatchingResources`).
    pub fn matching_resources<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let count = count_name(self.group_resource().0, self.group_resource().1);
        names
            .into_iter()
            .filter(|n| match self {
                Evaluator::Pods => {
                    POD_RESOURCES.contains(n)
                        || n.starts_with("hugepages-")
                        || n.starts_with("requests.hugepages-")
                        || is_extended_for_quota(n)
                }
                Evaluator::Services => SERVICE_RESOURCES.contains(n),
                Evaluator::PersistentVolumeClaims => {
                    CLAIM_RESOURCES.contains(n)
                        || ["persistentvolumeclaims", "requests.storage"]
                            .iter()
                            .any(|r| n.ends_with(&format!("{STORAGE_CLASS_SUFFIX}{r}")))
                }
                Evaluator::ObjectCount { .. } => *n == count || Some(*n) == self.legacy_alias(),
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether the item is within a scope (`MatchingScopes`); only pods can be: the
    /// other evaluators match no scope, so a scoped quota never charges them.
    pub fn matches_scope(&self, req: &ScopeRequirement, item: &Item<'_>) -> bool {
        match (self, item) {
            (Evaluator::Pods, Item::Pod(pod)) => pod_matches_scope(req, pod),
            _ => false,
        }
    }

    /// What one object uses (`Usage`). Pods that finished, or whose deletion grace
    /// period has passed at `now`, use only their `count/pods`.
    pub fn usage(&self, item: &Item<'_>, now: Timestamp) -> Result<ResourceList, InvalidEntry> {
        let one = Quantity::new(1, Format::DecimalSi);
        let mut out = ResourceList::new();
        match (self, item) {
            (Evaluator::Pods, Item::Pod(pod)) => {
                out.insert("count/pods".into(), one);
                if !charges_compute(pod, now) {
                    return Ok(out);
                }
                let requests = pod_resources(pod, Side::Requests, true)?;
                let limits = pod_resources(pod, Side::Limits, true)?;
                Ok(add(&out, &compute_usage(&requests, &limits)))
            }
            (Evaluator::Services, Item::Service(svc)) => {
                let spec = svc.spec.as_ref();
                let ports = spec.and_then(|s| s.ports.as_ref()).map_or(0, Vec::len) as i64;
                let kind = spec.and_then(|s| s.type_.as_deref()).unwrap_or("");
                let (node_ports, load_balancers) = match kind {
                    "NodePort" => (ports, 0),
                    "LoadBalancer" => (ports, 1),
                    _ => (0, 0),
                };
                out.insert("count/services".into(), one);
                out.insert("services".into(), one);
                out.insert(
                    "services.loadbalancers".into(),
                    Quantity::new(load_balancers, Format::DecimalSi),
                );
                out.insert(
                    "services.nodeports".into(),
                    Quantity::new(node_ports, Format::DecimalSi),
                );
                Ok(out)
            }
            (Evaluator::PersistentVolumeClaims, Item::Claim(claim)) => claim_usage(claim),
            _ => {
                let (group, resource) = self.group_resource();
                out.insert(count_name(group, resource), one);
                if let Some(alias) = self.legacy_alias() {
                    out.insert(alias.into(), one);
                }
                Ok(out)
            }
        }
    }

    /// Refuses a pod lacking a request or limit that a quota tracks among `required`
    /// (`Constraints`): `must specify limits.cpu for: a,b; requests.memory for: a`.
    pub fn constraints(&self, required: &[String], item: &Item<'_>) -> Result<(), String> {
        let (Evaluator::Pods, Item::Pod(pod)) = (self, item) else {
            return Ok(());
        };
        let required: BTreeSet<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|r| MUST_SPECIFY.contains(r))
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        let mut missing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for c in all_containers(pod) {
            let requests = container_resources(c, Side::Requests).map_err(|e| e.to_string())?;
            let limits = container_resources(c, Side::Limits).map_err(|e| e.to_string())?;
            let usage = compute_usage(&requests, &limits);
            for r in &required {
                if !usage.contains_key(*r) {
                    missing.entry(r).or_default().insert(c.name.as_str());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().copied().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }
}

/// Whether a pod's compute resources are charged: not once it has finished, nor once
/// its deletion grace period has passed (`QuotaV1Pod`).
fn charges_compute(pod: &Pod, now: Timestamp) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    let meta = &pod.metadata;
    if let (Some(deleted), Some(grace)) = (
        meta.deletion_timestamp.as_ref(),
        meta.deletion_grace_period_seconds,
    ) && now > deleted.0 + SignedDuration::from_secs(grace)
    {
        return false;
    }
    true
}

/// The quota usage of requests and limits (`podComputeUsageHelper`).
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), Quantity::new(1, Format::DecimalSi));
    for name in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(r) = requests.get(name) {
            out.insert(name.into(), *r);
            out.insert(format!("requests.{name}"), *r);
        }
        if let Some(l) = limits.get(name) {
            out.insert(format!("limits.{name}"), *l);
        }
    }
    for (name, r) in requests {
        if name.starts_with("hugepages-") {
            out.insert(name.clone(), *r);
            out.insert(format!("requests.{name}"), *r);
        }
        if is_extended(name) {
            out.insert(format!("requests.{name}"), *r);
        }
    }
    out
}

/// A claim's storage class (the beta annotation first, as upstream reads it).
fn claim_class(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .map(String::as_str)
        .or_else(|| {
            claim
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
        })
        .filter(|c| !c.is_empty())
}

/// A claim's usage: itself, its storage request rounded up to whole bytes (or its
/// larger allocated size), both also charged to its storage class.
fn claim_usage(claim: &PersistentVolumeClaim) -> Result<ResourceList, InvalidEntry> {
    let one = Quantity::new(1, Format::DecimalSi);
    let mut out = ResourceList::new();
    out.insert("persistentvolumeclaims".into(), one);
    out.insert("count/persistentvolumeclaims".into(), one);
    let class = claim_class(claim);
    if let Some(c) = class {
        out.insert(
            format!("{c}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            one,
        );
    }
    let requests = parse_list(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )?;
    if let Some(requested) = requests.get("storage") {
        let allocated = parse_list(
            claim
                .status
                .as_ref()
                .and_then(|s| s.allocated_resources.as_ref()),
        )?;
        let storage = match allocated.get("storage") {
            Some(a) if a > requested => a.ceil_units(),
            _ => requested.ceil_units(),
        };
        out.insert("requests.storage".into(), storage);
        if let Some(c) = class {
            out.insert(
                format!("{c}{STORAGE_CLASS_SUFFIX}requests.storage"),
                storage,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::{container, pod};
    use crate::resources::pretty_print;
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimSpec, PodStatus, ServicePort, ServiceSpec, VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_pod_uses_its_requests_limits_and_counts() {
        let p = pod(
            vec![container(
                "a",
                &[
                    ("cpu", "250m"),
                    ("memory", "64Mi"),
                    ("example.com/gpu", "1"),
                    ("hugepages-2Mi", "4Mi"),
                ],
                &[("cpu", "500m")],
            )],
            vec![],
        );
        let u = Evaluator::Pods.usage(&Item::Pod(&p), now()).unwrap();
        assert_eq!(
            pretty_print(&u),
            "count/pods=1,cpu=250m,hugepages-2Mi=4Mi,limits.cpu=500m,memory=64Mi,pods=1,\
             requests.cpu=250m,requests.example.com/gpu=1,requests.hugepages-2Mi=4Mi,requests.memory=64Mi"
        );
    }

    #[test]
    fn finished_and_long_deleted_pods_only_count_as_objects() {
        let mut done = pod(vec![container("a", &[("cpu", "1")], &[])], vec![]);
        done.status = Some(PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        let u = Evaluator::Pods.usage(&Item::Pod(&done), now()).unwrap();
        assert_eq!(pretty_print(&u), "count/pods=1");
        let mut deleting = pod(vec![container("a", &[("cpu", "1")], &[])], vec![]);
        deleting.metadata.deletion_timestamp = Some(Time(now() - SignedDuration::from_secs(60)));
        deleting.metadata.deletion_grace_period_seconds = Some(30);
        let u = Evaluator::Pods.usage(&Item::Pod(&deleting), now()).unwrap();
        assert_eq!(pretty_print(&u), "count/pods=1");
        deleting.metadata.deletion_grace_period_seconds = Some(120);
        let u = Evaluator::Pods.usage(&Item::Pod(&deleting), now()).unwrap();
        assert!(u.contains_key("pods"));
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let svc = |kind: &str, ports: usize| Service {
            spec: Some(ServiceSpec {
                type_: Some(kind.into()),
                ports: Some(vec![ServicePort::default(); ports]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let usage = |s: &Service| {
            pretty_print(&Evaluator::Services.usage(&Item::Service(s), now()).unwrap())
        };
        assert_eq!(
            usage(&svc("ClusterIP", 2)),
            "count/services=1,services=1,services.loadbalancers=0,services.nodeports=0"
        );
        assert_eq!(
            usage(&svc("NodePort", 2)),
            "count/services=1,services=1,services.loadbalancers=0,services.nodeports=2"
        );
        assert_eq!(
            usage(&svc("LoadBalancer", 3)),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=3"
        );
    }

    #[test]
    fn claims_charge_storage_rounded_up_and_per_class() {
        let claim = PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: Some("gold".into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some([("storage".to_string(), ApiQuantity("1500m".into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let u = Evaluator::PersistentVolumeClaims
            .usage(&Item::Claim(&claim), now())
            .unwrap();
        assert_eq!(
            pretty_print(&u),
            "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,\
             gold.storageclass.storage.k8s.io/requests.storage=2,persistentvolumeclaims=1,requests.storage=2"
        );
        let names = [
            "requests.storage",
            "gold.storageclass.storage.k8s.io/requests.storage",
            "pods",
        ];
        assert_eq!(
            Evaluator::PersistentVolumeClaims.matching_resources(names),
            [
                "requests.storage",
                "gold.storageclass.storage.k8s.io/requests.storage"
            ]
        );
    }

    #[test]
    fn other_objects_are_counted_under_their_count_name_and_legacy_alias() {
        let cm = Evaluator::for_resource("", "configmaps");
        assert_eq!(
            pretty_print(&cm.usage(&Item::Counted, now()).unwrap()),
            "configmaps=1,count/configmaps=1"
        );
        let deploy = Evaluator::for_resource("apps", "deployments");
        assert_eq!(
            pretty_print(&deploy.usage(&Item::Counted, now()).unwrap()),
            "count/deployments.apps=1"
        );
        assert_eq!(
            deploy.matching_resources(["count/deployments.apps", "deployments", "pods"]),
            ["count/deployments.apps"]
        );
        assert!(!deploy.handles(Operation::Update, &Item::Counted, Some(&Item::Counted)));
    }

    #[test]
    fn pods_tracked_for_cpu_or_memory_must_state_them() {
        let p = pod(
            vec![
                container("a", &[("cpu", "1")], &[]),
                container("b", &[], &[]),
            ],
            vec![container("init", &[("cpu", "1")], &[("cpu", "1")])],
        );
        let required: Vec<String> = ["pods", "requests.cpu", "limits.cpu"]
            .map(String::from)
            .into();
        assert_eq!(
            Evaluator::Pods.constraints(&required, &Item::Pod(&p)),
            Err("must specify limits.cpu for: a,b; requests.cpu for: b".into())
        );
        let ok: Vec<String> = ["pods", "requests.ephemeral-storage"]
            .map(String::from)
            .into();
        assert_eq!(Evaluator::Pods.constraints(&ok, &Item::Pod(&p)), Ok(()));
    }

    #[test]
    fn pod_updates_matter_only_across_the_terminating_scopes() {
        let a = pod(vec![container("a", &[], &[])], vec![]);
        let mut b = a.clone();
        b.spec.as_mut().unwrap().active_deadline_seconds = Some(10);
        assert!(Evaluator::Pods.handles(Operation::Update, &Item::Pod(&b), Some(&Item::Pod(&a))));
        assert!(!Evaluator::Pods.handles(Operation::Update, &Item::Pod(&a), Some(&Item::Pod(&a))));
        assert!(Evaluator::Services.handles(Operation::Update, &Item::Counted, None));
    }
}
