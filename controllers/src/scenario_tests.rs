//! Both planning cores together: the Deployment core drives ReplicaSets whose
//! pods are managed by the ReplicaSet core, with a kubelet stand-in that makes
//! pods Running and Ready one tick after creation and `minReadySeconds` deciding
//! availability. Checks the bounds a user watching `kubectl get pods` cares about.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::deployment::util::{max_surge, max_unavailable, replicas};
use crate::deployment::{
    DeploymentAction, DeploymentInput, RolloutVerdict, plan_deployment, rollout_verdict,
};
use crate::replicaset::ranking::related_pods;
use crate::replicaset::{ManageReplicas, filter_active, plan_status, plan_sync};
use crate::util::pod::is_available;
use crate::util::pod_control::pod_from_template;
use crate::util::replicasets as rsu;
use crate::util::testing::{at, deployment};
use crate::util::time::k8s;

struct Cluster {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    pods: Vec<Pod>,
    now: i64,
    serial: usize,
}

fn controller_uid(p: &Pod) -> Option<&str> {
    p.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

fn image_of(p: &Pod) -> String {
    p.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

impl Cluster {
    fn deployment_sync(&mut self) -> bool {
        let pods: Vec<&Pod> = self.pods.iter().collect();
        let plan = plan_deployment(DeploymentInput {
            deployment: &self.d,
            replica_sets: &self.rss,
            pods: &pods,
            now: at(self.now),
        });
        for a in plan.actions() {
            match a {
                DeploymentAction::CreateReplicaSet(rs) => {
                    let mut rs = rs.clone();
                    self.serial += 1;
                    rs.metadata.uid = Some(format!("rs-{}", self.serial));
                    rs.metadata.generation = Some(1);
                    self.rss.push(rs);
                }
                DeploymentAction::UpdateReplicaSet(rs)
                | DeploymentAction::ScaleReplicaSet { rs, .. } => {
                    let cur = self
                        .rss
                        .iter_mut()
                        .find(|r| rsu::name(r) == rsu::name(rs))
                        .unwrap();
                    let status = cur.status.clone();
                    let generation =
                        cur.metadata.generation.unwrap_or(1) + i64::from(cur.spec != rs.spec);
                    *cur = rs.clone();
                    cur.status = status;
                    cur.metadata.generation = Some(generation);
                }
                DeploymentAction::DeleteReplicaSet { name, .. } => {
                    self.rss.retain(|r| rsu::name(r) != name)
                }
                DeploymentAction::UpdateStatus(d) => {
                    self.d.status = d.status.clone();
                    self.d.metadata.annotations = d.metadata.annotations.clone();
                }
            }
        }
        !plan.steps.is_empty()
    }

    fn replica_set_syncs(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.rss.len() {
            let rs = self.rss[i].clone();
            let uid = rs.metadata.uid.clone().unwrap();
            let all: Vec<&Pod> = self.pods.iter().collect();
            let mine = filter_active(
                all.iter()
                    .copied()
                    .filter(|p| controller_uid(p) == Some(&uid)),
            );
            let related = related_pods(&rs, &self.rss, &filter_active(all.iter().copied()));
            match plan_sync(&rs, &mine, &related, true, at(self.now)) {
                ManageReplicas::Nothing => {}
                ManageReplicas::Create { count } => {
                    let owner = capstan_runtime::ownership::Owner::of(&rs).unwrap();
                    for _ in 0..count {
                        let mut p = pod_from_template(&rs, owner.controller_ref()).unwrap();
                        self.serial += 1;
                        p.metadata.name = Some(format!(
                            "{}{}",
                            p.metadata.generate_name.clone().unwrap(),
                            self.serial
                        ));
                        p.metadata.uid = Some(format!("pod-{:06}", self.serial));
                        p.metadata.creation_timestamp = Some(k8s(at(self.now)));
                        p.status = Some(Default::default());
                        p.status.as_mut().unwrap().phase = Some("Pending".into());
                        self.pods.push(p);
                    }
                    changed = true;
                }
                ManageReplicas::Delete { pods } => {
                    let gone: Vec<String> = pods.into_iter().map(|p| p.uid).collect();
                    self.pods
                        .retain(|p| !gone.contains(p.metadata.uid.as_ref().unwrap()));
                    changed = true;
                }
            }
            let all: Vec<&Pod> = self.pods.iter().collect();
            let mine = filter_active(
                all.iter()
                    .copied()
                    .filter(|p| controller_uid(p) == Some(&uid)),
            );
            let st = plan_status(&self.rss[i], &mine, None, at(self.now));
            if st.write {
                self.rss[i].status = Some(st.status);
                changed = true;
            }
        }
        changed
    }

    /// Pending pods start and become ready.
    fn kubelet(&mut self) {
        for p in &mut self.pods {
            let st = p.status.as_mut().unwrap();
            if st.phase.as_deref() == Some("Pending") {
                st.phase = Some("Running".into());
                p.spec.as_mut().unwrap().node_name = Some(format!(
                    "node-{}",
                    p.metadata.uid.as_ref().unwrap().len() % 3
                ));
                st.conditions = Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(k8s(at(self.now))),
                    ..Default::default()
                }]);
            }
        }
    }

    fn available_pods(&self) -> i32 {
        let min_ready = self.d.spec.as_ref().unwrap().min_ready_seconds.unwrap_or(0);
        self.pods
            .iter()
            .filter(|p| is_available(p, min_ready, at(self.now)))
            .count() as i32
    }
}

#[test]
fn a_rolling_update_through_both_cores_respects_bounds_on_real_pods() {
    let mut d = deployment(
        10,
        IntOrString::String("30%".into()),
        IntOrString::String("20%".into()),
    );
    d.spec.as_mut().unwrap().min_ready_seconds = Some(3);
    let mut c = Cluster {
        d,
        rss: Vec::new(),
        pods: Vec::new(),
        now: 0,
        serial: 0,
    };
    let tick = |c: &mut Cluster| {
        let a = c.deployment_sync();
        let b = c.replica_set_syncs();
        c.kubelet();
        c.now += 1;
        a || b
    };
    for _ in 0..60 {
        tick(&mut c);
    }
    assert_eq!(c.pods.len(), 10);
    assert!(
        matches!(rollout_verdict(&c.d, 0), RolloutVerdict::Done(_)),
        "{:?}",
        rollout_verdict(&c.d, 0)
    );

    c.d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("nginx:2".into());
    c.d.metadata.generation = Some(2);
    let max_pods = replicas(&c.d) + max_surge(&c.d);
    let min_available = replicas(&c.d) - max_unavailable(&c.d);
    let mut done_at = None;
    for round in 0..200 {
        tick(&mut c);
        assert!(
            c.pods.len() as i32 <= max_pods,
            "round {round}: {} pods > {max_pods}",
            c.pods.len()
        );
        assert!(
            c.available_pods() >= min_available,
            "round {round}: {} available < {min_available}",
            c.available_pods()
        );
        if matches!(rollout_verdict(&c.d, 0), RolloutVerdict::Done(_)) {
            done_at = Some(round);
            break;
        }
    }
    assert!(done_at.is_some(), "rollout did not finish");
    assert_eq!(c.pods.len(), 10);
    assert!(c.pods.iter().all(|p| image_of(p) == "nginx:2"));
    assert_eq!(c.d.status.as_ref().unwrap().updated_replicas, Some(10));
}
