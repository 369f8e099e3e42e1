//! Jobs in a `capstan up`-like setup — the API server, the controllers, the
//! scheduler and the node agent in one process — driven by the real
//! `/usr/bin/kubectl`, after upstream's `test/e2e/apps/job.go`: a
//! `kubectl create job` runs to completion, completions in parallel, a failing
//! Job backs off and fails, Indexed Jobs with hostnames and `FailIndex`,
//! suspend and resume, `podReplacementPolicy: Failed`, the active deadline,
//! and a deleted Job's pods freed of their tracking finalizer.
//!
//! Pods run on sim nodes (their behaviour set by the `capstan.dev/run-for` and
//! `capstan.dev/exit-code` annotations) or, where the test needs a real
//! command, on a `process` NodePool.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use support::*;

const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// A Job manifest: `spec` merged over completions/parallelism, pods running
/// `command` with the pod `annotations`.
fn job_manifest(name: &str, spec: Value, annotations: Value, command: &[&str]) -> Value {
    let mut manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": command}]
                }
            }
        }
    });
    if let (Some(m), Some(extra)) = (manifest["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    manifest
}

/// Puts the Job's pods on the tainted process pool.
fn on_process_pool(mut manifest: Value, pool: &str) -> Value {
    let spec = &mut manifest["spec"]["template"]["spec"];
    spec["nodeSelector"] = json!({"capstan.dev/nodepool": pool});
    spec["tolerations"] =
        json!([{"key": PROCESS_TAINT, "operator": "Exists", "effect": "NoSchedule"}]);
    manifest
}

async fn get_job(cluster: &Cluster, name: &str) -> Job {
    cluster.api::<Job>().get(name).await.expect("get job")
}

fn condition(job: &Job, type_: &str) -> Option<JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// The pods of Job `name`, by name.
async fn job_pods(cluster: &Cluster, name: &str) -> BTreeMap<String, Pod> {
    cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("{JOB_NAME_LABEL}={name}")))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .map(|p| (p.name_any(), p))
        .collect()
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn has_finalizer(p: &Pod) -> bool {
    p.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

/// `kubectl wait --for=condition=<cond> job/<name>`; panics unless it succeeds.
async fn kubectl_wait(cluster: &Cluster, name: &str, cond: &str) {
    let (ok, out) = cluster
        .kubectl(&[
            "wait",
            &format!("--for=condition={cond}"),
            &format!("job/{name}"),
            "--timeout=110s",
        ])
        .await;
    if !ok {
        let (_, job) = cluster.kubectl(&["get", "job", name, "-o", "yaml"]).await;
        let (_, pods) = cluster
            .kubectl(&[
                "get",
                "pods",
                "-o",
                "yaml",
                "-l",
                &format!("{JOB_NAME_LABEL}={name}"),
            ])
            .await;
        panic!("kubectl wait --for=condition={cond} job/{name}: {out}\n{job}\n{pods}");
    }
    assert!(out.contains("condition met"), "{out}");
}

/// The `(reason, message)` of a True condition of `type_`.
fn reason(job: &Job, type_: &str) -> Option<(String, String)> {
    condition(job, type_)
        .filter(|c| c.status == "True")
        .map(|c| (c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
}

/// Watches a Job's pods and records, after every event, how many are active
/// (neither terminal nor deleting), and every pod name seen.
struct ActiveWatch {
    seen: Arc<parking_lot::Mutex<(usize, BTreeSet<String>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl ActiveWatch {
    async fn start(cluster: &Cluster, job: &str) -> Self {
        use kube::runtime::watcher::{Config, Event};
        let seen = Arc::new(parking_lot::Mutex::new((0usize, BTreeSet::new())));
        let mut pods: BTreeMap<String, bool> = BTreeMap::new();
        let record = seen.clone();
        let config = Config::default().labels(&format!("{JOB_NAME_LABEL}={job}"));
        let task = watch_in_background(cluster.api::<Pod>(), config, move |ev| {
            match ev {
                Event::Apply(p) | Event::InitApply(p) => {
                    let active = !matches!(phase(&p), "Succeeded" | "Failed")
                        && p.metadata.deletion_timestamp.is_none();
                    record.lock().1.insert(p.name_any());
                    pods.insert(p.name_any(), active);
                }
                Event::Delete(p) => {
                    pods.remove(&p.name_any());
                }
                Event::Init | Event::InitDone => {}
            }
            let active = pods.values().filter(|a| **a).count();
            let mut s = record.lock();
            s.0 = s.0.max(active);
        })
        .await;
        Self { seen, task }
    }

    fn max_active(&self) -> usize {
        self.seen.lock().0
    }

    fn pods_seen(&self) -> usize {
        self.seen.lock().1.len()
    }
}

impl Drop for ActiveWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `kubectl create job pi --image=perl -- perl -e 1`, then `kubectl wait
/// --for=condition=complete job/pi`.
async fn create_pi_and_wait(cluster: &Cluster) {
    let (ok, out) = cluster
        .kubectl(&[
            "create",
            "job",
            "pi",
            "--image=perl",
            "--",
            "perl",
            "-e",
            "1",
        ])
        .await;
    assert!(ok, "kubectl create job: {out}");
    kubectl_wait(cluster, "pi", "complete").await;
}

/// `kubectl create job pi --image=perl -- perl -e 1` on `capstan up`'s default
/// sim pool: a Job's pod completes on sim nodes without any annotation, so
/// `kubectl wait --for=condition=complete` returns and the Job counts one
/// success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_job_completes_on_the_default_sim_pool() {
    let cluster = Cluster::start(capstan::up::DEFAULT_POOL_NODES).await;
    create_pi_and_wait(&cluster).await;
    let st = get_job(&cluster, "pi").await.status.unwrap();
    assert_eq!((st.succeeded, st.failed), (Some(1), None));
    let pods = job_pods(&cluster, "pi").await;
    assert_eq!(pods.len(), 1);
    assert!(
        pods.values()
            .all(|p| phase(p) == "Succeeded" && !has_finalizer(p))
    );
    cluster.stop().await;
}

/// `kubectl create job pi --image=perl -- perl -e 1` on a process node: the pod
/// really runs perl, the Job completes (`kubectl wait --for=condition=complete`)
/// through `SuccessCriteriaMet` with upstream's reason and message, counts one
/// success, and its pod keeps no tracking finalizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_job_runs_to_completion() {
    let cluster = Cluster::start(0).await;
    cluster.add_process_pool("proc", 1, false).await;
    create_pi_and_wait(&cluster).await;
    let job = get_job(&cluster, "pi").await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.succeeded, Some(1));
    assert_eq!(st.failed, None);
    assert_eq!(st.active, None);
    assert!(st.start_time.is_some() && st.completion_time.is_some());
    let done = (
        "CompletionsReached".to_string(),
        "Reached expected number of succeeded pods".to_string(),
    );
    assert_eq!(reason(&job, "SuccessCriteriaMet"), Some(done.clone()));
    assert_eq!(reason(&job, "Complete"), Some(done));
    let pods = job_pods(&cluster, "pi").await;
    assert_eq!(pods.len(), 1);
    let pod = pods.values().next().unwrap();
    assert_eq!(phase(pod), "Succeeded");
    assert!(
        !has_finalizer(pod),
        "the tracking finalizer is removed once counted"
    );
    let (ok, out) = cluster.kubectl(&["get", "job", "pi"]).await;
    assert!(
        ok && out.contains("Complete") && out.contains("1/1"),
        "{out}"
    );
    cluster.stop().await;
}

/// Ten completions three at a time (upstream "should run a job to completion
/// when tasks succeed"): never more than three pods active at once, exactly ten
/// pods ever, ten counted successes, and no pod left with the finalizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_completions_three_at_a_time() {
    let cluster = Cluster::start(2).await;
    let watch = ActiveWatch::start(&cluster, "batch").await;
    let manifest = job_manifest(
        "batch",
        json!({"completions": 10, "parallelism": 3}),
        json!({"capstan.dev/run-for": "1s"}),
        &["work"],
    );
    kubectl_create(&cluster, "batch.json", &manifest).await;
    kubectl_wait(&cluster, "batch", "complete").await;
    let job = get_job(&cluster, "batch").await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.succeeded, Some(10));
    assert_eq!(st.failed, None);
    assert_eq!(watch.max_active(), 3, "parallelism bounds the active pods");
    assert_eq!(watch.pods_seen(), 10, "one pod per completion");
    let pods = job_pods(&cluster, "batch").await;
    assert_eq!(pods.len(), 10);
    assert!(
        pods.values()
            .all(|p| phase(p) == "Succeeded" && !has_finalizer(p))
    );
    cluster.stop().await;
}

/// A Job whose pod runs `sh -c 'exit 1'` on a process node (upstream "should
/// fail to exceed backoffLimit"): with `backoffLimit: 1` the failed pod is
/// replaced once, no sooner than 10 s after it failed, and the Job fails with
/// `BackoffLimitExceeded` after its `FailureTarget`, counting two failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_backs_off_and_fails() {
    let cluster = Cluster::start(0).await;
    cluster.add_process_pool("proc", 1, true).await;
    let manifest = on_process_pool(
        job_manifest(
            "fail",
            json!({"backoffLimit": 1}),
            json!({}),
            &["sh", "-c", "exit 1"],
        ),
        "proc",
    );
    kubectl_create(&cluster, "fail.json", &manifest).await;
    kubectl_wait(&cluster, "fail", "failed").await;
    let job = get_job(&cluster, "fail").await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.failed, Some(2));
    assert_eq!(st.succeeded, None);
    let limit = (
        "BackoffLimitExceeded".to_string(),
        "Job has reached the specified backoff limit".to_string(),
    );
    assert_eq!(reason(&job, "FailureTarget"), Some(limit.clone()));
    assert_eq!(reason(&job, "Failed"), Some(limit));
    assert_eq!(st.completion_time, None);
    let mut pods: Vec<Pod> = job_pods(&cluster, "fail").await.into_values().collect();
    assert_eq!(pods.len(), 2);
    pods.sort_by_key(|p| p.creation_timestamp().map(|t| t.0));
    let exit = |p: &Pod| {
        p.status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap()
    };
    assert!(
        pods.iter()
            .all(|p| phase(p) == "Failed" && exit(p).exit_code == 1)
    );
    let failed_at = exit(&pods[0]).finished_at.unwrap().0;
    let replaced_at = pods[1].creation_timestamp().unwrap().0;
    let waited = replaced_at.duration_since(failed_at).as_secs_f64();
    assert!(
        waited >= 9.0,
        "the replacement waited out the 10 s backoff ({waited} s)"
    );
    cluster.stop().await;
}

/// An Indexed Job on a process node whose index 1 exits 3 (read from
/// `JOB_COMPLETION_INDEX`): each pod carries its index (annotation, label),
/// the hostname `<job>-<index>`; the `FailIndex` rule fails index 1 at once
/// despite `backoffLimitPerIndex: 1`; the other indexes complete and the Job
/// fails with `FailedIndexes`, `completedIndexes` "0,2" and `failedIndexes` "1".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_with_hostnames_and_fail_index() {
    let cluster = Cluster::start(0).await;
    cluster.add_process_pool("proc", 1, true).await;
    let script = r#"if [ "$JOB_COMPLETION_INDEX" = 1 ]; then exit 3; fi; exit 0"#;
    let manifest = on_process_pool(
        job_manifest(
            "ix",
            json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                   "backoffLimitPerIndex": 1, "maxFailedIndexes": 1,
                   "podFailurePolicy": {"rules": [
                       {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]}}),
            json!({}),
            &["sh", "-c", script],
        ),
        "proc",
    );
    kubectl_create(&cluster, "ix.json", &manifest).await;
    kubectl_wait(&cluster, "ix", "failed").await;
    let job = get_job(&cluster, "ix").await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(st.failed_indexes.as_deref(), Some("1"));
    assert_eq!((st.succeeded, st.failed), (Some(2), Some(1)));
    assert_eq!(
        reason(&job, "Failed"),
        Some((
            "FailedIndexes".to_string(),
            "Job has failed indexes".to_string()
        ))
    );
    let pods = job_pods(&cluster, "ix").await;
    assert_eq!(pods.len(), 3, "the failed index was not retried");
    for p in pods.values() {
        let ix = p.annotations()[INDEX_ANNOTATION].clone();
        assert_eq!(p.labels()[INDEX_ANNOTATION], ix);
        assert!(p.name_any().starts_with(&format!("ix-{ix}-")));
        assert_eq!(p.spec.as_ref().unwrap().hostname, Some(format!("ix-{ix}")));
        let want = if ix == "1" { "Failed" } else { "Succeeded" };
        assert_eq!(phase(p), want, "index {ix}");
    }
    cluster.stop().await;
}

/// A Job created suspended creates nothing and has no `startTime`; resumed, it
/// starts (the `Suspended` condition turns False with `JobResumed`);
/// suspended again, its active pods are deleted without counting as failures;
/// resumed once more, it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume() {
    let cluster = Cluster::start(1).await;
    let manifest = job_manifest(
        "sus",
        json!({"completions": 2, "parallelism": 2, "suspend": true}),
        json!({"capstan.dev/run-for": "4s"}),
        &["work"],
    );
    kubectl_create(&cluster, "sus.json", &manifest).await;
    let job = eventually_some("the Suspended condition", || async {
        let j = get_job(&cluster, "sus").await;
        reason(&j, "Suspended").map(|_| j)
    })
    .await;
    assert_eq!(
        reason(&job, "Suspended"),
        Some(("JobSuspended".to_string(), "Job suspended".to_string()))
    );
    assert_eq!(job.status.as_ref().unwrap().start_time, None);
    assert!(job_pods(&cluster, "sus").await.is_empty());

    let patch = |suspend: bool| {
        let cluster = &cluster;
        async move {
            let (ok, out) = cluster
                .kubectl(&[
                    "patch",
                    "job/sus",
                    "--type=merge",
                    "-p",
                    &json!({"spec": {"suspend": suspend}}).to_string(),
                ])
                .await;
            assert!(ok, "kubectl patch: {out}");
        }
    };
    patch(false).await;
    eventually("two running pods after resuming", || async {
        let running = job_pods(&cluster, "sus")
            .await
            .values()
            .filter(|p| phase(p) == "Running")
            .count();
        if running == 2 {
            Ok(())
        } else {
            Err(format!("{running} running"))
        }
    })
    .await;
    let job = get_job(&cluster, "sus").await;
    let resumed = condition(&job, "Suspended").unwrap();
    assert_eq!(
        (resumed.status.as_str(), resumed.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert!(job.status.as_ref().unwrap().start_time.is_some());

    patch(true).await;
    eventually("no pod left after suspending", || async {
        let left = job_pods(&cluster, "sus").await.len();
        let j = get_job(&cluster, "sus").await;
        let active = j.status.as_ref().and_then(|s| s.active).unwrap_or(0);
        if left == 0 && active == 0 && reason(&j, "Suspended").is_some() {
            Ok(())
        } else {
            Err(format!("{left} pods, active {active}"))
        }
    })
    .await;
    let job = get_job(&cluster, "sus").await;
    assert_eq!(
        job.status.as_ref().unwrap().failed,
        None,
        "suspension is no failure"
    );

    patch(false).await;
    kubectl_wait(&cluster, "sus", "complete").await;
    assert_eq!(
        get_job(&cluster, "sus").await.status.unwrap().succeeded,
        Some(2)
    );
    cluster.stop().await;
}

/// `activeDeadlineSeconds: 2` on pods that run for ever: the Job fails with
/// `DeadlineExceeded` and its pods are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_deadline_fails_the_job() {
    let cluster = Cluster::start(1).await;
    let manifest = job_manifest(
        "slow",
        json!({"parallelism": 2, "completions": 2, "activeDeadlineSeconds": 2}),
        json!({"capstan.dev/run-for": "forever"}),
        &["sleep-forever"],
    );
    kubectl_create(&cluster, "slow.json", &manifest).await;
    kubectl_wait(&cluster, "slow", "failed").await;
    let job = get_job(&cluster, "slow").await;
    assert_eq!(
        reason(&job, "Failed"),
        Some((
            "DeadlineExceeded".to_string(),
            "Job was active longer than specified deadline".to_string()
        ))
    );
    let st = job.status.unwrap();
    assert_eq!((st.active, st.terminating), (None, Some(0)));
    eventually("the deadline's pods are gone or finished", || async {
        let pods = job_pods(&cluster, "slow").await;
        let live = pods
            .values()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            .count();
        if live == 0 && pods.values().all(|p| !has_finalizer(p)) {
            Ok(())
        } else {
            Err(format!("{live} live of {}", pods.len()))
        }
    })
    .await;
    cluster.stop().await;
}

/// `podReplacementPolicy: Failed` on a process node, the pod trapping SIGTERM
/// for 4 s: deleting the pod leaves it terminating (`status.terminating` 1)
/// and no replacement appears until it failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_waits_for_failed_pods_with_policy_failed() {
    let cluster = Cluster::start(0).await;
    cluster.add_process_pool("proc", 1, true).await;
    let script = "trap 'sleep 4; exit 1' TERM; sleep 1000 & wait";
    let manifest = on_process_pool(
        job_manifest(
            "rp",
            json!({"podReplacementPolicy": "Failed", "backoffLimit": 3}),
            json!({}),
            &["sh", "-c", script],
        ),
        "proc",
    );
    kubectl_create(&cluster, "rp.json", &manifest).await;
    let first = eventually_some("the first pod running", || async {
        job_pods(&cluster, "rp")
            .await
            .into_values()
            .find(|p| phase(p) == "Running")
    })
    .await;
    let (ok, out) = cluster
        .kubectl(&["delete", "pod", &first.name_any(), "--wait=false"])
        .await;
    assert!(ok, "kubectl delete pod: {out}");
    eventually("the Job counts the terminating pod", || async {
        let st = get_job(&cluster, "rp").await.status.unwrap_or_default();
        if st.terminating == Some(1) {
            Ok(())
        } else {
            Err(format!("{st:?}"))
        }
    })
    .await;
    let replacement = eventually_some("a replacement pod", || async {
        let pods = job_pods(&cluster, "rp").await;
        let new = pods
            .values()
            .find(|p| p.name_any() != first.name_any())?
            .clone();
        // When the replacement exists, the first pod has failed (or is gone).
        if let Some(old) = pods.get(&first.name_any()) {
            assert_eq!(phase(old), "Failed", "replaced while still terminating");
        }
        Some(new)
    })
    .await;
    assert!(replacement.creation_timestamp().is_some());
    let st = get_job(&cluster, "rp").await.status.unwrap();
    assert_eq!(st.failed, Some(1), "the deleted pod failed and counts");
    cluster.stop().await;
}

/// Deleting a running Job: the garbage collector deletes its pods, and the Job
/// controller's orphan queue frees them of the tracking finalizer, so none is
/// left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_jobs_pods_do_not_linger() {
    let cluster = Cluster::start(1).await;
    let manifest = job_manifest(
        "gone",
        json!({"parallelism": 3, "completions": 3}),
        json!({"capstan.dev/run-for": "forever"}),
        &["sleep-forever"],
    );
    kubectl_create(&cluster, "gone.json", &manifest).await;
    eventually("three running pods with the finalizer", || async {
        let pods = job_pods(&cluster, "gone").await;
        let n = pods
            .values()
            .filter(|p| phase(p) == "Running" && has_finalizer(p))
            .count();
        if n == 3 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    let (ok, out) = cluster
        .kubectl(&["delete", "job", "gone", "--wait=false"])
        .await;
    assert!(ok, "kubectl delete job: {out}");
    eventually("no pod left", || async {
        let pods = job_pods(&cluster, "gone").await;
        if pods.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", pods.keys()))
        }
    })
    .await;
    cluster.stop().await;
}

/// A Job whose `spec.managedBy` names another controller is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_managed_elsewhere_are_skipped() {
    let cluster = Cluster::start(1).await;
    let mut other: Job = serde_json::from_value(job_manifest(
        "other",
        json!({"managedBy": "example.com/batch"}),
        json!({"capstan.dev/run-for": "1s"}),
        &["work"],
    ))
    .expect("job");
    other.metadata.namespace = Some(NS.into());
    cluster
        .api::<Job>()
        .create(&PostParams::default(), &other)
        .await
        .expect("create");
    // A Job managed here, created after it, runs to completion meanwhile.
    let mine = job_manifest(
        "mine",
        json!({}),
        json!({"capstan.dev/run-for": "1s"}),
        &["work"],
    );
    kubectl_create(&cluster, "mine.json", &mine).await;
    kubectl_wait(&cluster, "mine", "complete").await;
    assert!(job_pods(&cluster, "other").await.is_empty());
    assert_eq!(
        get_job(&cluster, "other")
            .await
            .status
            .unwrap_or_default()
            .start_time,
        None
    );
    cluster.stop().await;
}

/// The reasons of the Events recorded on Job `name`.
async fn job_event_reasons(cluster: &Cluster, name: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Event;
    cluster
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Job")
                && e.involved_object.name.as_deref() == Some(name)
        })
        .filter_map(|e| e.reason)
        .collect()
}

/// Upstream "should adopt matching orphans and release non-matching pods",
/// with `manualSelector`: a running orphan matching the Job's own selector is
/// adopted (controller reference and tracking finalizer) and counts as its
/// active pod; relabelled, it is released (both removed) and replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_selectors_adopt_matching_orphans_and_release_the_rest() {
    let cluster = Cluster::start(1).await;
    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "namespace": NS, "labels": {"app": "adopt"},
            "annotations": {"capstan.dev/run-for": "forever"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    cluster
        .api::<Pod>()
        .create(&PostParams::default(), &orphan)
        .await
        .expect("create orphan");
    // The orphan runs before the Job exists, so the Job adopts a running pod.
    eventually_some("the orphan runs", || async {
        let p = cluster.api::<Pod>().get("orphan").await.ok()?;
        (phase(&p) == "Running").then_some(())
    })
    .await;
    let mut manifest = job_manifest(
        "adopt",
        json!({"manualSelector": true,
        "selector": {"matchLabels": {"app": "adopt"}}}),
        json!({"capstan.dev/run-for": "forever"}),
        &["sleep-forever"],
    );
    manifest["spec"]["template"]["metadata"]["labels"] = json!({"app": "adopt"});
    kubectl_create(&cluster, "adopt.json", &manifest).await;
    let job = get_job(&cluster, "adopt").await;
    let uid = job.uid().unwrap();
    assert_eq!(
        job.spec
            .as_ref()
            .unwrap()
            .selector
            .as_ref()
            .unwrap()
            .match_labels,
        Some([("app".to_string(), "adopt".to_string())].into()),
        "a manual selector is kept as written"
    );
    let adopted = eventually_some("the orphan adopted", || async {
        let p = cluster.api::<Pod>().get("orphan").await.ok()?;
        (controller_uid(&p).as_deref() == Some(uid.as_str()) && has_finalizer(&p)).then_some(p)
    })
    .await;
    assert_eq!(phase(&adopted), "Running");
    eventually("the adopted pod is the Job's active one", || async {
        let st = get_job(&cluster, "adopt").await.status.unwrap_or_default();
        let others = cluster
            .api::<Pod>()
            .list(&ListParams::default().labels("app=adopt"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if st.active == Some(1) && others == 1 {
            Ok(())
        } else {
            Err(format!("active {:?}, {others} pods", st.active))
        }
    })
    .await;
    let (ok, out) = cluster
        .kubectl(&["label", "pod", "orphan", "app=other", "--overwrite"])
        .await;
    assert!(ok, "kubectl label: {out}");
    eventually_some("the pod released and replaced", || async {
        let p = cluster.api::<Pod>().get("orphan").await.ok()?;
        let released = controller_uid(&p).is_none() && !has_finalizer(&p);
        let replaced = cluster
            .api::<Pod>()
            .list(&ListParams::default().labels("app=adopt"))
            .await
            .ok()?
            .items
            .iter()
            .any(|r| controller_uid(r).as_deref() == Some(uid.as_str()));
        (released && replaced).then_some(())
    })
    .await;
    cluster.stop().await;
}

/// Controllers killed and restarted twice while ten completions run two at a
/// time: the tracking finalizer and `uncountedTerminatedPods` lose no pod and
/// count none twice — exactly ten pods, ten successes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_survive_controller_restarts() {
    let mut cluster = Cluster::start(1).await;
    let manifest = job_manifest(
        "steady",
        json!({"completions": 10, "parallelism": 2}),
        json!({"capstan.dev/run-for": "1s"}),
        &["work"],
    );
    kubectl_create(&cluster, "steady.json", &manifest).await;
    for at_least in [2, 6] {
        eventually(&format!("{at_least} pods succeeded"), || async {
            let done = job_pods(&cluster, "steady")
                .await
                .values()
                .filter(|p| phase(p) == "Succeeded")
                .count();
            if done >= at_least {
                Ok(())
            } else {
                Err(format!("{done}"))
            }
        })
        .await;
        cluster.kill_controllers().await;
        cluster.start_controllers().await;
    }
    kubectl_wait(&cluster, "steady", "complete").await;
    let st = get_job(&cluster, "steady").await.status.unwrap();
    assert_eq!((st.succeeded, st.failed), (Some(10), None));
    let pods = job_pods(&cluster, "steady").await;
    assert_eq!(pods.len(), 10, "{:?}", pods.keys());
    assert!(pods.values().all(|p| !has_finalizer(p)));
    cluster.stop().await;
}

/// The Events upstream records: `SuccessfulCreate` for each pod, `Completed`
/// when the Job completes; `BackoffLimitExceeded` (a warning) when it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_record_upstreams_events() {
    let cluster = Cluster::start(1).await;
    let ok = job_manifest(
        "fine",
        json!({}),
        json!({"capstan.dev/run-for": "1s"}),
        &["work"],
    );
    let bad = job_manifest(
        "bad",
        json!({"backoffLimit": 0}),
        json!({"capstan.dev/exit-code": "2"}),
        &["work"],
    );
    kubectl_create(&cluster, "fine.json", &ok).await;
    kubectl_create(&cluster, "bad.json", &bad).await;
    kubectl_wait(&cluster, "fine", "complete").await;
    kubectl_wait(&cluster, "bad", "failed").await;
    eventually("the Jobs' events", || async {
        let fine = job_event_reasons(&cluster, "fine").await;
        let bad = job_event_reasons(&cluster, "bad").await;
        let has = |v: &[String], r: &str| v.iter().any(|x| x == r);
        if has(&fine, "SuccessfulCreate")
            && has(&fine, "Completed")
            && has(&bad, "BackoffLimitExceeded")
        {
            Ok(())
        } else {
            Err(format!("fine {fine:?}, bad {bad:?}"))
        }
    })
    .await;
    let job = get_job(&cluster, "bad").await;
    assert_eq!(job.status.unwrap().failed, Some(1));
    cluster.stop().await;
}

/// An Indexed Job with a success policy on index 0 (the leader), on a process
/// node where only index 0 exits: the Job meets its success criteria with
/// `SuccessPolicy`, its lingering workers are deleted, and it completes with
/// the same reason once they are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_policy_completes_an_indexed_job_early() {
    let cluster = Cluster::start(0).await;
    cluster.add_process_pool("proc", 1, true).await;
    let script = r#"if [ "$JOB_COMPLETION_INDEX" = 0 ]; then exit 0; fi; exec sleep 1000"#;
    let manifest = on_process_pool(
        job_manifest(
            "leader",
            json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                   "successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
            json!({}),
            &["sh", "-c", script],
        ),
        "proc",
    );
    kubectl_create(&cluster, "leader.json", &manifest).await;
    kubectl_wait(&cluster, "leader", "complete").await;
    let job = get_job(&cluster, "leader").await;
    let matched = (
        "SuccessPolicy".to_string(),
        "Matched rules at index 0".to_string(),
    );
    assert_eq!(reason(&job, "SuccessCriteriaMet"), Some(matched.clone()));
    assert_eq!(reason(&job, "Complete"), Some(matched));
    let st = job.status.unwrap();
    assert_eq!(st.completed_indexes.as_deref(), Some("0"));
    assert_eq!(st.succeeded, Some(1));
    assert_eq!((st.active, st.terminating), (None, Some(0)));
    let pods = job_pods(&cluster, "leader").await;
    assert!(
        pods.values()
            .all(|p| matches!(phase(p), "Succeeded" | "Failed") && !has_finalizer(p)),
        "the workers were stopped and every pod counted"
    );
    cluster.stop().await;
}

/// Watches a Job's pods and keeps the last state seen of each, also of the
/// pods since deleted.
struct LastSeen {
    pods: Arc<parking_lot::Mutex<BTreeMap<String, Pod>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LastSeen {
    async fn start(cluster: &Cluster, job: &str) -> Self {
        use kube::runtime::watcher::{Config, Event};
        let pods = Arc::new(parking_lot::Mutex::new(BTreeMap::new()));
        let record = pods.clone();
        let config = Config::default().labels(&format!("{JOB_NAME_LABEL}={job}"));
        let task = watch_in_background(cluster.api::<Pod>(), config, move |ev| match ev {
            Event::Apply(p) | Event::InitApply(p) | Event::Delete(p) => {
                record.lock().insert(p.name_any(), p);
            }
            Event::Init | Event::InitDone => {}
        })
        .await;
        Self { pods, task }
    }

    fn get(&self, name: &str) -> Option<Pod> {
        self.pods.lock().get(name).cloned()
    }
}

impl Drop for LastSeen {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value of the series of metric `name` with `labels` that this process's
/// `/metrics` serves (the controllers run in the test's process).
fn metric(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = capstan_runtime::metrics::render();
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (set, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|(k, v)| set.split(',').any(|pair| pair == format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

/// The `DisruptionTarget` condition of a pod, as `(status, reason)`.
fn disruption_target(p: &Pod) -> Option<(String, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// A Job with `backoffLimit: 0` and the pod failure policy `rule` whose first
/// pod is evicted (`POST pods/<name>/eviction`) once it runs; answers the
/// evicted pod's name and the watch that saw its last state. Its pods run
/// 10 s on sim nodes: long enough to evict the first while it runs.
async fn evict_the_first_pod(cluster: &Cluster, name: &str, rule: Value) -> (String, LastSeen) {
    let seen = LastSeen::start(cluster, name).await;
    let manifest = job_manifest(
        name,
        json!({"backoffLimit": 0, "podFailurePolicy": {"rules": [rule]}}),
        json!({"capstan.dev/run-for": "10s"}),
        &["work"],
    );
    kubectl_create(cluster, &format!("{name}.json"), &manifest).await;
    let first = eventually_some("the first pod running", || async {
        job_pods(cluster, name)
            .await
            .into_values()
            .find(|p| phase(p) == "Running")
    })
    .await;
    cluster
        .api::<Pod>()
        .evict(&first.name_any(), &kube::api::EvictParams::default())
        .await
        .expect("evict the running pod");
    (first.name_any(), seen)
}

/// Upstream "should allow to use the pod failure policy to not count pod
/// disruption towards the backoffLimit": a Job with `backoffLimit: 0` and the
/// rule `Ignore` on `DisruptionTarget` has its running pod evicted through
/// `pods/eviction`. The API server marks the pod `DisruptionTarget=True`
/// (`EvictionByEvictionAPI`), the node agent ends it `Failed` as the kubelet
/// does, the Job does not count the failure (`failed` stays unset, no
/// `BackoffLimitExceeded`), replaces the pod, and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_failure_policy_ignores_an_eviction() {
    let cluster = Cluster::start(1).await;
    let rule = json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]});
    let (evicted, seen) = evict_the_first_pod(&cluster, "evicted", rule).await;
    kubectl_wait(&cluster, "evicted", "complete").await;
    let job = get_job(&cluster, "evicted").await;
    let st = job.status.clone().unwrap();
    assert_eq!((st.succeeded, st.failed), (Some(1), None), "{st:?}");
    assert_eq!(reason(&job, "FailureTarget"), None);
    let last = seen.get(&evicted).expect("the evicted pod was seen");
    assert_eq!(phase(&last), "Failed", "the evicted pod ends Failed");
    assert_eq!(
        disruption_target(&last),
        Some(("True".into(), Some("EvictionByEvictionAPI".into())))
    );
    let pods = job_pods(&cluster, "evicted").await;
    let replacements: Vec<&Pod> = pods.values().filter(|p| p.name_any() != evicted).collect();
    assert_eq!(replacements.len(), 1, "one replacement: {:?}", pods.keys());
    assert_eq!(phase(replacements[0]), "Succeeded");
    assert!(pods.values().all(|p| !has_finalizer(p)));
    let handled = "job_controller_pod_failures_handled_by_failure_policy_total";
    assert_eq!(metric(handled, &[("action", "Ignore")]), Some(1.0));
    let finished = "job_controller_jobs_finished_total";
    let completed = [
        ("completion_mode", "NonIndexed"),
        ("result", "succeeded"),
        ("reason", "CompletionsReached"),
    ];
    assert_eq!(metric(finished, &completed), Some(1.0));
    let pods_finished = "job_controller_job_pods_finished_total";
    let succeeded = [("completion_mode", "NonIndexed"), ("result", "succeeded")];
    assert_eq!(metric(pods_finished, &succeeded), Some(1.0));
    let failed = [("completion_mode", "NonIndexed"), ("result", "failed")];
    assert_eq!(
        metric(pods_finished, &failed),
        None,
        "the ignored failure is not counted"
    );
    let created = "job_controller_job_pods_creation_total";
    let replaced = [
        ("reason", "recreate_terminating_or_failed"),
        ("status", "succeeded"),
    ];
    // The replacement of an ignored failure is created as a new pod: it
    // replaces no counted failure and no terminating pod.
    assert_eq!(
        metric(created, &[("reason", "new"), ("status", "succeeded")]),
        Some(2.0)
    );
    assert_eq!(metric(created, &replaced), None);
    cluster.stop().await;
}

/// The `FailJob` variant: the same eviction under the rule `FailJob` on
/// `DisruptionTarget` fails the Job at once with reason `PodFailurePolicy`
/// and upstream's message naming the pod, the condition and the rule, counting
/// the one failure, and no replacement is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_failure_policy_fails_the_job_on_an_eviction() {
    let cluster = Cluster::start(1).await;
    let rule = json!({"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]});
    let (evicted, _seen) = evict_the_first_pod(&cluster, "disrupted", rule).await;
    kubectl_wait(&cluster, "disrupted", "failed").await;
    let job = get_job(&cluster, "disrupted").await;
    let st = job.status.clone().unwrap();
    assert_eq!((st.succeeded, st.failed), (None, Some(1)), "{st:?}");
    let want = (
        "PodFailurePolicy".to_string(),
        format!(
            "Pod {NS}/{evicted} has condition DisruptionTarget matching FailJob rule at index 0"
        ),
    );
    assert_eq!(reason(&job, "FailureTarget"), Some(want.clone()));
    assert_eq!(reason(&job, "Failed"), Some(want));
    let pods = job_pods(&cluster, "disrupted").await;
    assert!(
        pods.keys().all(|n| *n == evicted),
        "no replacement: {:?}",
        pods.keys()
    );
    let handled = "job_controller_pod_failures_handled_by_failure_policy_total";
    assert_eq!(metric(handled, &[("action", "FailJob")]), Some(1.0));
    let finished = "job_controller_jobs_finished_total";
    let failed = [("result", "failed"), ("reason", "PodFailurePolicy")];
    assert_eq!(metric(finished, &failed), Some(1.0));
    cluster.stop().await;
}
