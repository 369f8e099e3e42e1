//! The manage loop and the rolling update, as upstream's `daemon_controller_test.go`
//! and `update_test.go` exercise them.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::daemonset::testing::*;

fn names(refs: &[PodRef]) -> Vec<String> {
    let mut v: Vec<String> = refs.iter().map(|r| r.name.clone()).collect();
    v.sort();
    v
}

fn nodes(n: usize) -> Vec<Node> {
    (1..=n).map(|i| node(&format!("n{i}"))).collect()
}

#[test]
fn each_eligible_node_without_a_pod_gets_one_and_misplaced_pods_go() {
    let ds = daemonset("agent", "v1");
    let mut all = nodes(4);
    taint(&mut all[3], "dedicated", "NoExecute");
    let refs: Vec<&Node> = all.iter().collect();
    let on_n1 = ready_pod(&ds, "a", "n1", HASH, 1);
    let on_n4 = ready_pod(&ds, "d", "n4", HASH, 1);
    let for_gone_node = unscheduled_pod(&ds, "g", "gone", HASH, 1);
    let pods = [&on_n1, &on_n4, &for_gone_node];
    let backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(plan.create_on, ["n2", "n3"]);
    assert_eq!(names(&plan.delete), ["d", "g"]);
}

#[test]
fn duplicates_are_culled_keeping_the_oldest_scheduled_pod() {
    let ds = daemonset("agent", "v1");
    let all = nodes(1);
    let refs: Vec<&Node> = all.iter().collect();
    let old = ready_pod(&ds, "old", "n1", HASH, 5);
    let newer = ready_pod(&ds, "newer", "n1", HASH, 9);
    let unscheduled = unscheduled_pod(&ds, "early", "n1", HASH, 1);
    let pods = [&newer, &unscheduled, &old];
    let backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert!(plan.create_on.is_empty());
    assert_eq!(names(&plan.delete), ["early", "newer"]);
}

#[test]
fn a_failed_pod_is_replaced_once_per_backoff_period() {
    let ds = daemonset("agent", "v1");
    let all = nodes(2);
    let refs: Vec<&Node> = all.iter().collect();
    let failed = in_phase(ready_pod(&ds, "f", "n1", HASH, 1), "Failed");
    let ok = ready_pod(&ds, "ok", "n2", HASH, 1);
    let pods = [&failed, &ok];
    let mut backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(names(&plan.delete), ["f"]);
    assert_eq!(
        plan.finished,
        [FinishedDaemonPod {
            pod: PodRef::of(&failed),
            node: "n1".into(),
            failed: true
        }]
    );
    // The shell records the failure; the next failed pod within the delay waits.
    let key = backoff_key("uid-agent", "n1");
    backoff.next(&key, now());
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert!(plan.delete.is_empty(), "{plan:?}");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
    // After it, the pod goes and the delay doubles.
    let mut later = input(&ds, &refs, &pods, &backoff);
    later.now = crate::util::time::add(now(), Duration::from_secs(1));
    assert_eq!(names(&plan_pods(&later).delete), ["f"]);
}

#[test]
fn without_surge_old_pods_go_within_max_unavailable() {
    // 5 nodes, maxUnavailable 2: two old pods go per step; the replacements of
    // the previous step count against the budget until available.
    let ds = rolling(
        daemonset("agent", "v2"),
        IntOrString::Int(0),
        IntOrString::Int(2),
    );
    let all = nodes(5);
    let refs: Vec<&Node> = all.iter().collect();
    let olds: Vec<Pod> = (1..=5)
        .map(|i| ready_pod(&ds, &format!("old{i}"), &format!("n{i}"), "h1", 1))
        .collect();
    let pods: Vec<&Pod> = olds.iter().collect();
    let backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert!(plan.create_on.is_empty());
    assert_eq!(plan.delete.len(), 2, "{plan:?}");
    // Step 2: n1, n2 have new pods, one not yet ready: one more old pod may go.
    let new1 = ready_pod(&ds, "new1", "n1", HASH, 900);
    let new2 = pending_pod(&ds, "new2", "n2", HASH, 900);
    let pods: Vec<&Pod> = [&new1, &new2].into_iter().chain(olds[2..].iter()).collect();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(plan.delete.len(), 1, "{plan:?}");
    // An unavailable old pod is replaced regardless of the budget.
    let broken = pending_pod(&ds, "old5", "n5", "h1", 1);
    let pods: Vec<&Pod> = [&new1, &new2, &olds[2], &olds[3], &broken]
        .into_iter()
        .collect();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(names(&plan.delete), ["old3", "old5"]);
}

#[test]
fn percentages_round_up_and_both_zero_means_one_unavailable() {
    let pct = |s: &str| IntOrString::String(s.into());
    let ds = rolling(daemonset("a", "v"), pct("10%"), pct("25%"));
    assert_eq!(surge_and_unavailable(&ds, 5).unwrap(), (1, 2));
    let ds = rolling(
        daemonset("a", "v"),
        IntOrString::Int(0),
        IntOrString::Int(0),
    );
    assert_eq!(surge_and_unavailable(&ds, 5).unwrap(), (0, 1));
    assert_eq!(surge_and_unavailable(&ds, 0).unwrap(), (0, 0));
    assert!(!allows_surge(&ds));
    assert!(allows_surge(&rolling(
        daemonset("a", "v"),
        pct("1%"),
        IntOrString::Int(0)
    )));
    assert!(surge_and_unavailable(&rolling(daemonset("a", "v"), pct("x"), pct("1%")), 5).is_err());
}

#[test]
fn with_surge_new_pods_start_beside_old_ones_and_the_old_go_once_new_are_available() {
    let ds = rolling(
        daemonset("agent", "v2"),
        IntOrString::Int(2),
        IntOrString::Int(0),
    );
    let all = nodes(4);
    let refs: Vec<&Node> = all.iter().collect();
    let olds: Vec<Pod> = (1..=4)
        .map(|i| ready_pod(&ds, &format!("old{i}"), &format!("n{i}"), "h1", 1))
        .collect();
    let pods: Vec<&Pod> = olds.iter().collect();
    let backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(plan.create_on, ["n1", "n2"], "at most maxSurge at once");
    assert!(
        plan.delete.is_empty(),
        "nothing goes before its replacement is up"
    );
    // n1's new pod is available, n2's is starting. The manage loop lets old1 go
    // first (a node keeps an old pod beside a new one only while the new one is
    // not available); the rolling step would also fill the freed surge slot.
    let new1 = ready_pod(&ds, "new1", "n1", HASH, 900);
    let new2 = pending_pod(&ds, "new2", "n2", HASH, 900);
    let pods: Vec<&Pod> = olds.iter().chain([&new1, &new2]).collect();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(names(&plan.delete), ["old1"]);
    assert!(plan.create_on.is_empty(), "{plan:?}");
    let rolling = plan_rolling_update(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(names(&rolling.delete), ["old1"]);
    assert_eq!(rolling.create_on, ["n3"], "one surge slot is free again");
    // Once old1 is gone, n2 still surging: one more node starts.
    let pods: Vec<&Pod> = olds[1..].iter().chain([&new1, &new2]).collect();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert!(plan.delete.is_empty(), "{plan:?}");
    assert_eq!(plan.create_on, ["n3"]);
    // An old pod that is not ready goes as soon as its node has a new one.
    let unready_old = pending_pod(&ds, "old2", "n2", "h1", 1);
    let pods: Vec<&Pod> = [&olds[2], &olds[3], &new1, &new2, &unready_old]
        .into_iter()
        .collect();
    let plan = plan_manage(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(names(&plan.delete), ["old2"]);
}

#[test]
fn on_delete_replaces_nothing_by_itself() {
    let mut ds = daemonset("agent", "v2");
    ds.spec.as_mut().unwrap().update_strategy =
        Some(k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        });
    let all = nodes(2);
    let refs: Vec<&Node> = all.iter().collect();
    let old = ready_pod(&ds, "old", "n1", "h1", 1);
    let pods = [&old];
    let backoff = FailedPodsBackoff::default();
    let plan = plan_pods(&input(&ds, &refs, &pods, &backoff));
    assert_eq!(plan.create_on, ["n2"]);
    assert!(plan.delete.is_empty());
}
