//! A pod's aggregate requests and limits, as component-helpers' `PodRequests` and
//! `PodLimits` compute them from the spec (containers summed; an init container counts
//! with the restartable init containers before it, the largest of those beside the
//! sum; restartable init containers added to the sum; the pod overhead on top when
//! asked for), and its QoS class's best-effort test.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::quantity::Quantity;
use crate::resources::{InvalidEntry, ResourceList, parse_list};

/// Which side of a container's resources to aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `resources.requests`.
    Requests,
    /// `resources.limits`.
    Limits,
}

/// A container's requests or limits.
pub fn container_resources(c: &Container, side: Side) -> Result<ResourceList, InvalidEntry> {
    let r = c.resources.as_ref();
    parse_list(match side {
        Side::Requests => r.and_then(|r| r.requests.as_ref()),
        Side::Limits => r.and_then(|r| r.limits.as_ref()),
    })
}

/// A pod's containers, then its init containers.
pub fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    let spec = pod.spec.as_ref();
    spec.map(|s| &s.containers[..])
        .unwrap_or_default()
        .iter()
        .chain(
            spec.and_then(|s| s.init_containers.as_ref())
                .into_iter()
                .flatten(),
        )
}

/// Adds `add` into `into` (`addResourceList`).
fn add_into(into: &mut ResourceList, add: &ResourceList) {
    for (k, v) in add {
        into.entry(k.clone())
            .and_modify(|have| *have = have.plus(v))
            .or_insert(*v);
    }
}

/// Keeps the larger of each entry (`maxResourceList`).
fn max_into(into: &mut ResourceList, other: &ResourceList) {
    for (k, v) in other {
        match into.get(k) {
            Some(have) if v <= have => {}
            _ => {
                into.insert(k.clone(), *v);
            }
        }
    }
}

fn is_restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's aggregate requests or limits from its spec; with `overhead`, the pod
/// overhead is added (to every request; to limits only where a limit is set).
pub fn pod_resources(pod: &Pod, side: Side, overhead: bool) -> Result<ResourceList, InvalidEntry> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(ResourceList::new());
    };
    let mut total = ResourceList::new();
    for c in &spec.containers {
        add_into(&mut total, &container_resources(c, side)?);
    }
    let mut restartable = ResourceList::new();
    let mut init_peak = ResourceList::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_resources(c, side)?;
        let during = if is_restartable(c) {
            add_into(&mut total, &own);
            add_into(&mut restartable, &own);
            restartable.clone()
        } else {
            let mut during = own;
            add_into(&mut during, &restartable);
            during
        };
        max_into(&mut init_peak, &during);
    }
    max_into(&mut total, &init_peak);
    if overhead {
        let extra = parse_list(spec.overhead.as_ref())?;
        match side {
            Side::Requests => add_into(&mut total, &extra),
            Side::Limits => {
                for (k, v) in &extra {
                    if let Some(have) = total.get_mut(k) {
                        *have = have.plus(v);
                    }
                }
            }
        }
    }
    Ok(total)
}

/// Whether the pod is in the `BestEffort` QoS class: no container (init containers
/// included) requests or limits a positive amount of cpu or memory (`GetPodQOS`).
pub fn is_best_effort(pod: &Pod) -> bool {
    let positive = |list: Option<&BTreeMap<String, ApiQuantity>>| {
        list.into_iter().flatten().any(|(k, v)| {
            (k == "cpu" || k == "memory") && Quantity::parse(&v.0).is_ok_and(|q| q.signum() > 0)
        })
    };
    !all_containers(pod).any(|c| {
        let r = c.resources.as_ref();
        positive(r.and_then(|r| r.requests.as_ref())) || positive(r.and_then(|r| r.limits.as_ref()))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resources::pretty_print;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    /// A container with the given requests and limits.
    pub(crate) fn container(
        name: &str,
        requests: &[(&str, &str)],
        limits: &[(&str, &str)],
    ) -> Container {
        let list = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ApiQuantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A pod of these containers and init containers.
    pub(crate) fn pod(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: (!init.is_empty()).then_some(init),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_add_up_and_init_containers_take_the_peak() {
        let p = pod(
            vec![
                container("a", &[("cpu", "100m"), ("memory", "64Mi")], &[("cpu", "1")]),
                container("b", &[("cpu", "200m")], &[]),
            ],
            vec![container(
                "init",
                &[("cpu", "1"), ("memory", "1Mi")],
                &[("cpu", "2")],
            )],
        );
        let req = pod_resources(&p, Side::Requests, false).unwrap();
        assert_eq!(pretty_print(&req), "cpu=1,memory=64Mi");
        let lim = pod_resources(&p, Side::Limits, false).unwrap();
        assert_eq!(pretty_print(&lim), "cpu=2");
    }

    #[test]
    fn sidecars_count_beside_the_containers_and_under_later_init_containers() {
        let mut sidecar = container("sidecar", &[("cpu", "300m")], &[]);
        sidecar.restart_policy = Some("Always".into());
        let p = pod(
            vec![container("main", &[("cpu", "500m")], &[])],
            vec![sidecar, container("late-init", &[("cpu", "900m")], &[])],
        );
        // main + sidecar = 800m; late-init runs beside the sidecar: 1200m.
        let req = pod_resources(&p, Side::Requests, false).unwrap();
        assert_eq!(pretty_print(&req), "cpu=1200m");
    }

    #[test]
    fn overhead_adds_to_requests_and_only_to_set_limits() {
        let mut p = pod(
            vec![container("a", &[("cpu", "100m")], &[("cpu", "200m")])],
            vec![],
        );
        if let Some(spec) = p.spec.as_mut() {
            spec.overhead = Some(
                [
                    ("cpu".to_string(), ApiQuantity("50m".into())),
                    ("memory".to_string(), ApiQuantity("10Mi".into())),
                ]
                .into(),
            );
        }
        let req = pod_resources(&p, Side::Requests, true).unwrap();
        assert_eq!(pretty_print(&req), "cpu=150m,memory=10Mi");
        let lim = pod_resources(&p, Side::Limits, true).unwrap();
        assert_eq!(pretty_print(&lim), "cpu=250m");
        assert_eq!(
            pretty_print(&pod_resources(&p, Side::Requests, false).unwrap()),
            "cpu=100m"
        );
    }

    #[test]
    fn best_effort_means_no_positive_cpu_or_memory_anywhere() {
        assert!(is_best_effort(&pod(vec![container("a", &[], &[])], vec![])));
        assert!(is_best_effort(&pod(
            vec![container(
                "a",
                &[("cpu", "0"), ("ephemeral-storage", "1Gi")],
                &[]
            )],
            vec![]
        )));
        assert!(!is_best_effort(&pod(
            vec![container("a", &[], &[])],
            vec![container("i", &[], &[("memory", "1Mi")])]
        )));
    }
}
