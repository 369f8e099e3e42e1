use super::*;
use crate::endpoints::pods::testing::{service, serving_pod};
use crate::util::testing::at;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const CONTROLLER: &str = "endpointslice-controller.k8s.io";

fn svc() -> Service {
    service(IntOrString::String("web".into()))
}

fn pods(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let ip = format!("10.0.{}.{}", i / 256, i % 256);
            serving_pod(&format!("p{i:04}"), &ip, true, &[("web", 8080)])
        })
        .collect()
}

fn zones() -> NodeZones {
    NodeZones::from([("node-1".to_string(), Some("zone-a".to_string()))])
}

fn plan_for(service: &Service, pods: &[Pod], existing: &[EndpointSlice], max: usize) -> SlicePlan {
    let pods: Vec<&Pod> = pods.iter().collect();
    let existing: Vec<&EndpointSlice> = existing.iter().collect();
    reconcile_slices(&SliceInput {
        service,
        pods: &pods,
        zones: &zones(),
        existing: &existing,
        max_endpoints_per_slice: max,
        controller_name: CONTROLLER,
        trigger: None,
    })
}

/// The slices after the API server performed `plan` on `existing`: created slices
/// get a name, a uid and generation 1; updates bump the generation.
fn apply(existing: &[EndpointSlice], plan: &SlicePlan) -> Vec<EndpointSlice> {
    let mut out: BTreeMap<String, EndpointSlice> = existing
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap(), s.clone()))
        .collect();
    for gone in &plan.delete {
        out.remove(gone.metadata.name.as_ref().unwrap());
    }
    for s in &plan.update {
        let name = s.metadata.name.clone().unwrap();
        let mut s = s.clone();
        s.metadata.generation = Some(out[&name].metadata.generation.unwrap() + 1);
        out.insert(name, s);
    }
    let mut n = out.len();
    for s in &plan.create {
        let mut s = s.clone();
        let name = loop {
            n += 1;
            let name = format!("web-{n:05}");
            if !out.contains_key(&name) {
                break name;
            }
        };
        s.metadata.name = Some(name.clone());
        s.metadata.uid = Some(format!("uid-{name}"));
        s.metadata.generation = Some(1);
        s.metadata.generate_name = None;
        out.insert(name, s);
    }
    out.into_values().collect()
}

fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
    let mut v: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

fn endpoint<'a>(slices: &'a [EndpointSlice], pod: &str) -> &'a Endpoint {
    slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .find(|e| e.target_ref.as_ref().unwrap().name.as_deref() == Some(pod))
        .unwrap_or_else(|| panic!("{pod} is listed"))
}

#[test]
fn pods_are_packed_into_slices_of_at_most_the_maximum() {
    let pods = pods(250);
    let plan = plan_for(&svc(), &pods, &[], 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (3, 0, 0)
    );
    let slices = apply(&[], &plan);
    assert_eq!(sizes(&slices), [100, 100, 50]);
    let s = &plan.create[0];
    assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(s.address_type, "IPv4");
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(labels[LABEL_MANAGED_BY], CONTROLLER);
    assert_eq!(labels["team"], "a", "the Service's labels are copied");
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        ("Service", "web", "uid-svc", Some(true))
    );
    let port = &s.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );
    let e = endpoint(&slices, "p0000");
    assert_eq!(e.addresses, ["10.0.0.0"]);
    assert_eq!(e.node_name.as_deref(), Some("node-1"));
    assert_eq!(e.zone.as_deref(), Some("zone-a"));
    let c = e.conditions.as_ref().unwrap();
    assert_eq!(
        (c.ready, c.serving, c.terminating),
        (Some(true), Some(true), Some(false))
    );
}

#[test]
fn an_unchanged_service_writes_nothing() {
    let pods = pods(250);
    let slices = apply(&[], &plan_for(&svc(), &pods, &[], 100));
    assert!(plan_for(&svc(), &pods, &slices, 100).is_empty());
}

/// The figure: a Service over 10,000 pods is 100 full slices, and one pod
/// turning unready rewrites exactly one of them.
#[test]
fn one_pod_of_ten_thousand_turning_unready_rewrites_exactly_one_slice() {
    let mut pods = pods(10_000);
    let slices = apply(&[], &plan_for(&svc(), &pods, &[], 100));
    assert_eq!(slices.len(), 100);
    assert!(sizes(&slices).iter().all(|n| *n == 100));
    pods[4370] = serving_pod("p4370", "10.0.17.18", false, &[("web", 8080)]);
    let plan = plan_for(&svc(), &pods, &slices, 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (0, 1, 0)
    );
    let after = apply(&slices, &plan);
    let c = endpoint(&after, "p4370").conditions.clone().unwrap();
    assert_eq!((c.ready, c.serving), (Some(false), Some(false)));
    assert_eq!(sizes(&after), sizes(&slices));
}

#[test]
fn a_larger_maximum_makes_fewer_slices() {
    let pods = pods(2500);
    let slices = apply(&[], &plan_for(&svc(), &pods, &[], 1000));
    assert_eq!(sizes(&slices), [1000, 1000, 500]);
}

#[test]
fn new_pods_fill_an_existing_slice_before_a_new_one_is_made() {
    let all = pods(130);
    let slices = apply(&[], &plan_for(&svc(), &all[..120], &[], 100));
    assert_eq!(sizes(&slices), [100, 20]);
    let plan = plan_for(&svc(), &all, &slices, 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (0, 1, 0)
    );
    assert_eq!(sizes(&apply(&slices, &plan)), [100, 30]);
}

#[test]
fn a_removed_pod_leaves_a_gap_that_new_pods_fill() {
    let all = pods(201);
    let slices = apply(&[], &plan_for(&svc(), &all[..200], &[], 100));
    // p0005 goes, p0200 comes: the slice losing one is updated and takes the new one.
    let mut next: Vec<Pod> = all.clone();
    next.remove(5);
    let plan = plan_for(&svc(), &next, &slices, 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (0, 1, 0)
    );
    let after = apply(&slices, &plan);
    assert_eq!(sizes(&after), [100, 100]);
    endpoint(&after, "p0200");
}

#[test]
fn differing_resolved_ports_get_separate_slices() {
    let a = serving_pod("a", "10.0.0.1", true, &[("web", 8080)]);
    let b = serving_pod("b", "10.0.0.2", true, &[("web", 9090)]);
    let c = serving_pod("c", "10.0.0.3", true, &[("web", 9090)]);
    let plan = plan_for(&svc(), &[a, b, c], &[], 100);
    let mut by_port: Vec<(i32, usize)> = plan
        .create
        .iter()
        .map(|s| {
            (
                s.ports.as_ref().unwrap()[0].port.unwrap(),
                s.endpoints.len(),
            )
        })
        .collect();
    by_port.sort_unstable();
    assert_eq!(by_port, [(8080, 1), (9090, 2)]);
}

#[test]
fn conditions_follow_readiness_termination_and_publish_not_ready() {
    let mut terminating = serving_pod("t", "10.0.0.1", true, &[("web", 8080)]);
    terminating.metadata.deletion_timestamp = Some(Time(at(9)));
    let unready = serving_pod("u", "10.0.0.2", false, &[("web", 8080)]);
    let pods = [terminating, unready];
    let cond = |slices: &[EndpointSlice], pod: &str| {
        let c = endpoint(slices, pod).conditions.clone().unwrap();
        (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
    };
    let slices = apply(&[], &plan_for(&svc(), &pods, &[], 100));
    assert_eq!(
        cond(&slices, "t"),
        (false, true, true),
        "terminating pods are kept"
    );
    assert_eq!(cond(&slices, "u"), (false, false, false));
    let mut publish = svc();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let slices = apply(&[], &plan_for(&publish, &pods, &[], 100));
    assert_eq!(cond(&slices, "t"), (true, true, true));
    assert_eq!(cond(&slices, "u"), (true, false, false));
}

#[test]
fn an_empty_service_keeps_one_placeholder() {
    let plan = plan_for(&svc(), &[], &[], 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (1, 0, 0)
    );
    let placeholder = &plan.create[0];
    assert!(placeholder.endpoints.is_empty());
    assert!(placeholder.ports.as_ref().unwrap().is_empty());
    let slices = apply(&[], &plan);
    assert!(
        plan_for(&svc(), &[], &slices, 100).is_empty(),
        "kept, not recreated"
    );
    // Pods arrive: the placeholder's port set differs, so a slice of the pods' ports
    // takes its name.
    let three = pods(3);
    let plan = plan_for(&svc(), &three, &slices, 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (0, 1, 0)
    );
    assert_eq!(plan.update[0].metadata.name, slices[0].metadata.name);
    assert_eq!(plan.update[0].endpoints.len(), 3);
    // And they all go: the last slice becomes the placeholder again, the rest go.
    let slices = apply(&[], &plan_for(&svc(), &pods(150), &[], 100));
    let plan = plan_for(&svc(), &[], &slices, 100);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (0, 1, 1)
    );
    assert!(plan.update[0].endpoints.is_empty());
}

#[test]
fn pods_on_unknown_nodes_are_left_out_and_reported() {
    let mut p = serving_pod("lost", "10.0.0.9", true, &[("web", 8080)]);
    p.spec.as_mut().unwrap().node_name = Some("gone".into());
    let plan = plan_for(&svc(), &[p.clone()], &[], 100);
    assert_eq!(plan.pods_on_unknown_nodes, ["lost"]);
    assert!(plan.create[0].endpoints.is_empty(), "only the placeholder");
    let mut publish = svc();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let plan = plan_for(&publish, &[p], &[], 100);
    assert!(plan.pods_on_unknown_nodes.is_empty());
    assert_eq!(plan.create[0].endpoints.len(), 1);
}

#[test]
fn slices_not_owned_or_of_a_dropped_family_are_deleted() {
    let pods = pods(2);
    let mut slices = apply(&[], &plan_for(&svc(), &pods, &[], 100));
    let mut stranger = slices[0].clone();
    stranger.metadata.name = Some("web-old".into());
    stranger.metadata.owner_references.as_mut().unwrap()[0].uid = "uid-old".into();
    let mut v6 = slices[0].clone();
    v6.metadata.name = Some("web-v6".into());
    v6.address_type = "IPv6".into();
    slices.push(stranger);
    slices.push(v6);
    let plan = plan_for(&svc(), &pods, &slices, 100);
    let mut deleted: Vec<&str> = plan
        .delete
        .iter()
        .map(|s| s.metadata.name.as_deref().unwrap())
        .collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["web-old", "web-v6"]);
    assert!(plan.create.is_empty() && plan.update.is_empty());
}

#[test]
fn the_trigger_time_is_written_on_every_write() {
    let pods = pods(1);
    let refs: Vec<&Pod> = pods.iter().collect();
    let plan = reconcile_slices(&SliceInput {
        service: &svc(),
        pods: &refs,
        zones: &zones(),
        existing: &[],
        max_endpoints_per_slice: 100,
        controller_name: CONTROLLER,
        trigger: Some(at(0)),
    });
    let annotations = plan.create[0].metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION],
        "2023-11-14T22:13:20Z"
    );
}
