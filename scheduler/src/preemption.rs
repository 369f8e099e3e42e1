//! DefaultPreemption: when a pod fits nowhere, find the node where evicting the
//! fewest, least important lower-priority pods makes it fit (upstream
//! `plugins/defaultpreemption` and `framework/preemption`).

use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use rand::Rng;

use crate::cache::{NodeInfo, PodInfo, Snapshot, pod_namespace, pod_priority};
use crate::framework::{Code, CycleState, Framework, Status};
use crate::schedule_one::{FitError, NodeToStatus, PodNominator};

/// Candidate nodes are at least this share of the potential nodes (percent).
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// ... and at least this many.
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;
/// Status of nodes where preemption cannot help.
pub const MSG_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Status of nodes without lower-priority pods.
pub const MSG_NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// A node where preemption makes the pod fit, and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// Pods to evict, most important first.
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims violate a PodDisruptionBudget.
    pub num_pdb_violations: usize,
}

/// What preemption decided.
#[derive(Debug, Clone)]
pub struct PreemptionResult {
    /// The node the preemptor is nominated to (`status.nominatedNodeName`), when
    /// preemption succeeded.
    pub nominated_node: Option<String>,
    /// Pods to delete.
    pub victims: Vec<Arc<Pod>>,
    /// Lower-priority pods nominated to the same node, whose nomination must be cleared.
    pub clear_nominations: Vec<Arc<Pod>>,
    /// Success, or Unschedulable with upstream's message (without the `preemption: ` prefix).
    pub status: Status,
}

fn start_time(p: &Pod) -> Timestamp {
    p.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
        .unwrap_or(Timestamp::MAX)
}

/// Whether `a` is more important than `b`: higher priority, then earlier start
/// (upstream `util.MoreImportantPod`).
pub fn more_important(a: &Pod, b: &Pod) -> bool {
    let (pa, pb) = (pod_priority(a), pod_priority(b));
    if pa != pb {
        return pa > pb;
    }
    start_time(a) < start_time(b)
}

fn terminating_by_preemption(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                })
            })
}

/// Whether the pod may preempt others (upstream `PodEligibleToPreemptOthers`).
pub fn pod_eligible_to_preempt_others(
    pod: &Pod,
    snapshot: &Snapshot,
    nominated_node_status: &Status,
) -> Result<(), String> {
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never")
    {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    let nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty());
    if let Some(name) = nominated {
        if nominated_node_status.code() == Code::UnschedulableAndUnresolvable {
            return Ok(());
        }
        if let Some(ni) = snapshot.get(name) {
            let prio = pod_priority(pod);
            if ni
                .pods()
                .iter()
                .any(|p| pod_priority(&p.pod) < prio && terminating_by_preemption(&p.pod))
            {
                return Err("not eligible due to a terminating pod on the nominated node.".into());
            }
        }
    }
    Ok(())
}

/// Splits pods (in order) into those whose eviction would violate a PDB and the others.
pub fn filter_pods_with_pdb_violation(
    pods: &[Arc<PodInfo>],
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i32> = pdbs
        .iter()
        .map(|p| p.status.as_ref().map_or(0, |s| s.disruptions_allowed))
        .collect();
    let selectors: Vec<Option<Selector>> = pdbs
        .iter()
        .map(|p| {
            Selector::from_label_selector(p.spec.as_ref().and_then(|s| s.selector.as_ref()))
                .ok()
                .filter(|s| !s.is_empty() && !s.is_nothing())
        })
        .collect();
    let (mut violating, mut ok) = (Vec::new(), Vec::new());
    for pi in pods {
        let labels = pi.pod.metadata.labels.as_ref();
        let mut violated = false;
        if labels.is_some_and(|l| !l.is_empty()) {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace.as_deref().unwrap_or("default") != pod_namespace(&pi.pod)
                {
                    continue;
                }
                let Some(sel) = &selectors[i] else { continue };
                if !sel.matches(&labels) {
                    continue;
                }
                let name = pi.pod.metadata.name.as_deref().unwrap_or("");
                if pdb
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(name))
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pi.clone());
        } else {
            ok.push(pi.clone());
        }
    }
    (violating, ok)
}

/// The fewest victims on one node that make the pod fit: remove every
/// lower-priority pod, then reprieve them most important first (PDB-protected
/// ones first) while the pod still fits (upstream `SelectVictimsOnNode`).
pub fn select_victims_on_node(
    fwk: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    pdbs: &[Arc<PodDisruptionBudget>],
    nominated: &[Arc<PodInfo>],
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let mut state = state.clone();
    let mut ni = node.clone();
    let prio = pod_priority(&pod.pod);
    let mut potential: Vec<Arc<PodInfo>> = Vec::new();
    for p in node.pods() {
        if pod_priority(&p.pod) < prio {
            potential.push(p.clone());
            ni.remove_pod(&p.key);
            let s = fwk.run_pre_filter_remove_pod(&mut state, pod, p, &ni);
            if !s.is_success() {
                return Err(s);
            }
        }
    }
    if potential.is_empty() {
        return Err(Status::new(
            Code::UnschedulableAndUnresolvable,
            MSG_NO_VICTIMS,
        ));
    }
    let s = fwk.run_filter_with_nominated_pods(&state, pod, &ni, nominated);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(|a, b| {
        if more_important(&a.pod, &b.pod) {
            std::cmp::Ordering::Less
        } else if more_important(&b.pod, &a.pod) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let (violating, non_violating) = filter_pods_with_pdb_violation(&potential, pdbs);
    let mut victims = Vec::new();
    let mut num_violating = 0;
    let mut reprieve =
        |p: &Arc<PodInfo>, state: &mut CycleState, ni: &mut NodeInfo| -> Result<bool, Status> {
            ni.add_pod(p.clone());
            let s = fwk.run_pre_filter_add_pod(state, pod, p, ni);
            if !s.is_success() {
                return Err(s);
            }
            let fits = fwk
                .run_filter_with_nominated_pods(state, pod, ni, nominated)
                .is_success();
            if !fits {
                ni.remove_pod(&p.key);
                let s = fwk.run_pre_filter_remove_pod(state, pod, p, ni);
                if !s.is_success() {
                    return Err(s);
                }
                victims.push(p.clone());
            }
            Ok(fits)
        };
    for p in &violating {
        if !reprieve(p, &mut state, &mut ni)? {
            num_violating += 1;
        }
    }
    for p in &non_violating {
        reprieve(p, &mut state, &mut ni)?;
    }
    if !violating.is_empty() && !non_violating.is_empty() {
        victims.sort_by(|a, b| {
            if more_important(&a.pod, &b.pod) {
                std::cmp::Ordering::Less
            } else if more_important(&b.pod, &a.pod) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
    }
    Ok((victims, num_violating))
}

/// Picks the candidate by upstream's criteria in order: fewest PDB violations,
/// lowest highest-victim priority, smallest sum of priorities, fewest victims,
/// latest start of the highest-priority victims, then the first.
pub fn pick_one_node_for_preemption(candidates: &[Candidate]) -> Option<&Candidate> {
    if let Some(c) = candidates.iter().find(|c| c.victims.is_empty()) {
        return Some(c);
    }
    fn narrow<'a>(
        pool: Vec<&'a Candidate>,
        key: &dyn Fn(&Candidate) -> i128,
    ) -> Vec<&'a Candidate> {
        let best = pool.iter().map(|c| key(c)).min();
        pool.into_iter().filter(|c| Some(key(c)) == best).collect()
    }
    let mut pool: Vec<&Candidate> = candidates.iter().collect();
    pool = narrow(pool, &|c| c.num_pdb_violations as i128);
    pool = narrow(pool, &|c| {
        c.victims
            .first()
            .map_or(i128::MIN, |v| pod_priority(&v.pod) as i128)
    });
    pool = narrow(pool, &|c| {
        c.victims
            .iter()
            .map(|v| pod_priority(&v.pod) as i128 + i32::MAX as i128 + 1)
            .sum()
    });
    pool = narrow(pool, &|c| c.victims.len() as i128);
    // Latest "earliest start time among the highest-priority victims" wins.
    pool = narrow(pool, &|c| {
        let top = c.victims.first().map(|v| pod_priority(&v.pod));
        let earliest = c
            .victims
            .iter()
            .filter(|v| Some(pod_priority(&v.pod)) == top)
            .map(|v| start_time(&v.pod))
            .min()
            .unwrap_or(Timestamp::MAX);
        -(earliest.as_nanosecond())
    });
    pool.first().copied()
}

/// Number of candidates to look for among `n` potential nodes.
pub fn num_candidates(n: usize) -> usize {
    (n * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(n)
}

/// Runs DefaultPreemption for a pod that fit nowhere (`node_to_status` is the
/// failed attempt's diagnosis).
#[allow(clippy::too_many_arguments)]
pub fn preempt<R: Rng + ?Sized>(
    fwk: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    node_to_status: &NodeToStatus,
    pdbs: &[Arc<PodDisruptionBudget>],
    nominator: &dyn PodNominator,
    rng: &mut R,
) -> PreemptionResult {
    let fail = |msg: String| PreemptionResult {
        nominated_node: None,
        victims: Vec::new(),
        clear_nominations: Vec::new(),
        status: Status::new(Code::Unschedulable, msg),
    };
    let nominated_name = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.clone())
        .unwrap_or_default();
    if let Err(msg) =
        pod_eligible_to_preempt_others(&pod.pod, snapshot, &node_to_status.get(&nominated_name))
    {
        return fail(msg);
    }
    let potential: Vec<&Arc<NodeInfo>> = snapshot
        .list()
        .iter()
        .filter(|n| node_to_status.get(n.node_name()).code() == Code::Unschedulable)
        .collect();
    let mut statuses = NodeToStatus::default();
    let mut candidates: Vec<Candidate> = Vec::new();
    if !potential.is_empty() {
        let offset = rng.random_range(0..potential.len());
        let wanted = num_candidates(potential.len());
        let mut non_violating = 0;
        for i in 0..potential.len() {
            let ni = potential[(offset + i) % potential.len()];
            let nominated = nominator.nominated_pods_for_node(ni.node_name());
            match select_victims_on_node(fwk, state, pod, ni, pdbs, &nominated) {
                Ok((victims, violations)) => {
                    if violations == 0 {
                        non_violating += 1;
                    }
                    candidates.push(Candidate {
                        node: ni.node_name().to_string(),
                        victims,
                        num_pdb_violations: violations,
                    });
                    if non_violating > 0 && candidates.len() >= wanted {
                        break;
                    }
                }
                Err(s) => statuses.set(ni.node_name(), s),
            }
        }
    }
    if candidates.is_empty() {
        statuses.set_absent_nodes_status(Status::new(
            Code::UnschedulableAndUnresolvable,
            MSG_NOT_HELPFUL,
        ));
        let fe = FitError {
            pod: crate::cache::namespaced_name(&pod.pod),
            num_all_nodes: snapshot.len(),
            diagnosis: crate::schedule_one::Diagnosis {
                node_to_status: statuses,
                ..Default::default()
            },
        };
        return fail(fe.to_string());
    }
    let Some(best) = pick_one_node_for_preemption(&candidates) else {
        return fail(MSG_NOT_HELPFUL.into());
    };
    let prio = pod_priority(&pod.pod);
    let clear_nominations = nominator
        .nominated_pods_for_node(&best.node)
        .into_iter()
        .filter(|p| pod_priority(&p.pod) < prio)
        .map(|p| p.pod.clone())
        .collect();
    PreemptionResult {
        nominated_node: Some(best.node.clone()),
        victims: best.victims.iter().map(|v| v.pod.clone()).collect(),
        clear_nominations,
        status: Status::success(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResolvedProfile;
    use crate::framework::StaticLister;
    use crate::schedule_one::{GenericScheduler, NoNominations, ScheduleError};
    use crate::testing::*;
    use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn fwk() -> Framework {
        Framework::new(
            &ResolvedProfile::default_for("s"),
            Arc::new(StaticLister::default()),
        )
        .unwrap()
    }

    fn node(name: &str, cpu: &str, pods: Vec<k8s_openapi::api::core::v1::Pod>) -> NodeInfo {
        let mut ni = NodeInfo::new(NodeBuilder::new(name).capacity(cpu, "64Gi", 110).build());
        for p in pods {
            ni.add_pod(Arc::new(PodInfo::new(p)));
        }
        ni
    }

    fn victim(name: &str, prio: i32, cpu: &str, start: i64) -> k8s_openapi::api::core::v1::Pod {
        PodBuilder::new(name)
            .priority(prio)
            .container(&[("cpu", cpu)])
            .start_time(start)
            .label("app", name)
            .build()
    }

    /// Runs a failed attempt and then preemption, as scheduleOne does.
    fn run(
        snap: &Snapshot,
        pod: k8s_openapi::api::core::v1::Pod,
        pdbs: &[Arc<PodDisruptionBudget>],
    ) -> PreemptionResult {
        let f = fwk();
        let pi = PodInfo::new(pod);
        let mut st = CycleState::new();
        let mut rng = StdRng::seed_from_u64(3);
        let err = GenericScheduler::default()
            .schedule_pod(&f, &mut st, &pi, snap, &NoNominations, &mut rng)
            .expect_err("the pod must not fit before preemption");
        let ScheduleError::Fit(fe) = err else {
            panic!("fit error expected")
        };
        preempt(
            &f,
            &st,
            &pi,
            snap,
            &fe.diagnosis.node_to_status,
            pdbs,
            &NoNominations,
            &mut rng,
        )
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let snap = Snapshot::new(vec![
            node(
                "n1",
                "4",
                vec![victim("a", 10, "2", 1), victim("b", 20, "2", 1)],
            ),
            node(
                "n2",
                "4",
                vec![
                    victim("c", 5, "1", 1),
                    victim("d", 5, "1", 1),
                    victim("e", 5, "2", 1),
                ],
            ),
        ]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
            &[],
        );
        assert!(r.status.is_success(), "{}", r.status);
        // n2's highest victim priority (5) beats n1's (10).
        assert_eq!(r.nominated_node.as_deref(), Some("n2"));
        assert_eq!(r.victims.len(), 1);
        assert_eq!(r.victims[0].metadata.name.as_deref(), Some("e"));
    }

    #[test]
    fn reprieves_the_most_important_victims_first() {
        let snap = Snapshot::new(vec![node(
            "n1",
            "4",
            vec![
                victim("low", 1, "2", 1),
                victim("mid", 5, "1", 1),
                victim("high", 9, "1", 1),
            ],
        )]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
            &[],
        );
        let names: Vec<_> = r
            .victims
            .iter()
            .map(|v| v.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["low"]);
    }

    #[test]
    fn higher_or_equal_priority_pods_are_never_victims() {
        let snap = Snapshot::new(vec![node("n1", "2", vec![victim("same", 100, "2", 1)])]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "1")])
                .build(),
            &[],
        );
        assert!(r.nominated_node.is_none());
        assert_eq!(
            r.status.message(),
            "0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn unresolvable_nodes_are_not_tried() {
        let snap = Snapshot::new(vec![node("n1", "2", vec![victim("a", 1, "1", 1)])]);
        // 4 cpu exceeds the node's allocatable: unresolvable.
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "4")])
                .build(),
            &[],
        );
        assert_eq!(
            r.status.message(),
            "0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn preemption_policy_never_is_honoured() {
        let snap = Snapshot::new(vec![node("n1", "2", vec![victim("a", 1, "2", 1)])]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .preemption_policy("Never")
                .container(&[("cpu", "1")])
                .build(),
            &[],
        );
        assert!(r.nominated_node.is_none());
        assert_eq!(
            r.status.message(),
            "not eligible due to preemptionPolicy=Never."
        );
    }

    fn pdb(app: &str, allowed: i32) -> Arc<PodDisruptionBudget> {
        let mut p = PodDisruptionBudget::default();
        p.metadata.namespace = Some("default".into());
        p.spec = Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                match_expressions: None,
            }),
            ..Default::default()
        });
        p.status = Some(PodDisruptionBudgetStatus {
            disruptions_allowed: allowed,
            ..Default::default()
        });
        Arc::new(p)
    }

    #[test]
    fn nodes_without_pdb_violations_are_preferred() {
        let snap = Snapshot::new(vec![
            node("guarded", "2", vec![victim("g", 1, "2", 1)]),
            node("free", "2", vec![victim("f", 50, "2", 1)]),
        ]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
            &[pdb("g", 0)],
        );
        assert_eq!(r.nominated_node.as_deref(), Some("free"));
        // Without the PDB the lower-priority victim's node wins.
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
            &[],
        );
        assert_eq!(r.nominated_node.as_deref(), Some("guarded"));
    }

    #[test]
    fn pdb_protected_pods_are_reprieved_first() {
        let (violating, ok) = filter_pods_with_pdb_violation(
            &[
                Arc::new(PodInfo::new(victim("a", 1, "1", 1))),
                Arc::new(PodInfo::new(victim("b", 1, "1", 1))),
            ],
            &[pdb("a", 0), pdb("b", 1)],
        );
        assert_eq!(violating.len(), 1);
        assert_eq!(ok.len(), 1);
        assert_eq!(violating[0].pod.metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn candidate_ordering_criteria() {
        let c = |node: &str, victims: Vec<(i32, i64)>, pdb: usize| Candidate {
            node: node.into(),
            victims: victims
                .into_iter()
                .enumerate()
                .map(|(i, (p, s))| Arc::new(PodInfo::new(victim(&format!("{node}{i}"), p, "1", s))))
                .collect(),
            num_pdb_violations: pdb,
        };
        // Sum of priorities.
        let cs = [
            c("a", vec![(5, 1), (5, 1)], 0),
            c("b", vec![(5, 1), (1, 1)], 0),
        ];
        assert_eq!(pick_one_node_for_preemption(&cs).unwrap().node, "b");
        // Identical candidates: the first wins.
        let cs = [c("a", vec![(5, 1)], 0), c("b", vec![(5, 1)], 0)];
        assert_eq!(pick_one_node_for_preemption(&cs).unwrap().node, "a");
        // Latest start time among the highest-priority victims.
        let cs = [c("a", vec![(5, 100)], 0), c("b", vec![(5, 200)], 0)];
        assert_eq!(pick_one_node_for_preemption(&cs).unwrap().node, "b");
        // PDB violations dominate.
        let cs = [c("a", vec![(1, 1)], 1), c("b", vec![(9, 1), (9, 1)], 0)];
        assert_eq!(pick_one_node_for_preemption(&cs).unwrap().node, "b");
        assert_eq!(num_candidates(50), 50);
        assert_eq!(num_candidates(5000), 500);
    }

    #[test]
    fn anti_affinity_victims_are_found_through_pre_filter_extensions() {
        // The pod's anti-affinity forbids the node because of a low-priority pod; evicting it helps.
        let blocker = PodBuilder::new("blk")
            .priority(1)
            .label("app", "db")
            .build();
        let mut ni = NodeInfo::new(
            NodeBuilder::new("n1")
                .label("kubernetes.io/hostname", "n1")
                .build(),
        );
        ni.add_pod(Arc::new(PodInfo::new(blocker)));
        let snap = Snapshot::new(vec![ni]);
        let r = run(
            &snap,
            PodBuilder::new("p")
                .priority(100)
                .anti_affinity_required(&[("app", "db")], "kubernetes.io/hostname")
                .build(),
            &[],
        );
        assert_eq!(r.nominated_node.as_deref(), Some("n1"));
        assert_eq!(r.victims[0].metadata.name.as_deref(), Some("blk"));
    }

    struct Nom(Vec<(String, Arc<PodInfo>)>);
    impl PodNominator for Nom {
        fn nominated_pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
            self.0
                .iter()
                .filter(|(n, _)| n == node)
                .map(|(_, p)| p.clone())
                .collect()
        }
    }

    #[test]
    fn lower_priority_nominations_on_the_chosen_node_are_cleared() {
        let snap = Snapshot::new(vec![node("n1", "2", vec![victim("low", 1, "2", 1)])]);
        let nominated_low = Arc::new(PodInfo::new(
            PodBuilder::new("waiting")
                .priority(50)
                .container(&[("cpu", "1")])
                .build(),
        ));
        let nom = Nom(vec![("n1".into(), nominated_low)]);
        let f = fwk();
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
        );
        let mut st = CycleState::new();
        let mut rng = StdRng::seed_from_u64(1);
        let ScheduleError::Fit(fe) = GenericScheduler::default()
            .schedule_pod(&f, &mut st, &pod, &snap, &nom, &mut rng)
            .unwrap_err()
        else {
            panic!("fit error expected")
        };
        let r = preempt(
            &f,
            &st,
            &pod,
            &snap,
            &fe.diagnosis.node_to_status,
            &[],
            &nom,
            &mut rng,
        );
        assert_eq!(r.nominated_node.as_deref(), Some("n1"));
        assert_eq!(r.clear_nominations.len(), 1);
        assert_eq!(
            r.clear_nominations[0].metadata.name.as_deref(),
            Some("waiting")
        );
    }

    #[test]
    fn higher_priority_nominations_keep_their_room_during_preemption() {
        // n1's room is promised to a higher-priority nominated pod: evicting "low"
        // would not help the preemptor there.
        let snap = Snapshot::new(vec![node("n1", "2", vec![victim("low", 1, "2", 1)])]);
        let promised = Arc::new(PodInfo::new(
            PodBuilder::new("vip")
                .priority(500)
                .container(&[("cpu", "2")])
                .build(),
        ));
        let nom = Nom(vec![("n1".into(), promised)]);
        let f = fwk();
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .priority(100)
                .container(&[("cpu", "2")])
                .build(),
        );
        let mut st = CycleState::new();
        let mut rng = StdRng::seed_from_u64(1);
        let ScheduleError::Fit(fe) = GenericScheduler::default()
            .schedule_pod(&f, &mut st, &pod, &snap, &nom, &mut rng)
            .unwrap_err()
        else {
            panic!("fit error expected")
        };
        let r = preempt(
            &f,
            &st,
            &pod,
            &snap,
            &fe.diagnosis.node_to_status,
            &[],
            &nom,
            &mut rng,
        );
        assert!(r.nominated_node.is_none());
        assert_eq!(
            r.status.message(),
            "0/1 nodes are available: 1 Insufficient cpu."
        );
    }
}
