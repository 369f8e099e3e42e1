//! CronJobs and finished Jobs' TTL in a `capstan up`-like setup driven by the
//! real `/usr/bin/kubectl`, after upstream's `test/e2e/apps/cronjob.go` and
//! `ttlafterfinished.go`. The controllers read a `FakeClock` the test moves a
//! minute at a time; touching the CronJobs (`kubectl annotate`) then syncs them
//! at once instead of after the real minute their requeue waits.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use capstan_runtime::clock::FakeClock;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::{Value, json};
use support::*;

const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// A CronJob running every minute with `policy`; its pods carry `annotations`.
fn cronjob(name: &str, policy: &str, extra: Value, annotations: Value) -> Value {
    let mut manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": policy,
            "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["work"]}]
                }
            }}}
        }
    });
    if let (Some(spec), Some(extra)) = (manifest["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    manifest
}

/// Pods that run until deleted.
fn forever() -> Value {
    json!({"capstan.dev/run-for": "forever"})
}

/// Moves the clock to one second past the minute after `minute` (minutes since
/// the epoch), and touches `names` so that their CronJobs sync now.
async fn tick(cluster: &Cluster, clock: &FakeClock, minute: i64, names: &[&str]) {
    let at = Timestamp::from_second((minute + 1) * 60 + 1).expect("time");
    clock.set(at);
    let mut args = vec!["annotate", "--overwrite", "cronjob"];
    args.extend_from_slice(names);
    let stamp = format!("test/tick={}", minute + 1);
    args.push(&stamp);
    let (ok, out) = cluster.kubectl(&args).await;
    assert!(ok, "kubectl annotate: {out}");
}

/// The names of the Jobs the CronJob controls (whatever their state), and its
/// `status.active` names.
async fn jobs_and_active(cluster: &Cluster, name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let cj = cluster.api::<CronJob>().get(name).await.expect("cronjob");
    let uid = cj.uid();
    let jobs = cluster
        .api::<Job>()
        .list(&ListParams::default())
        .await
        .expect("jobs")
        .items
        .into_iter()
        .filter(|j| controller_uid(j) == uid && j.metadata.deletion_timestamp.is_none())
        .map(|j| j.name_any())
        .collect();
    let active = cj
        .status
        .and_then(|s| s.active)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .collect();
    (jobs, active)
}

/// Waits until the CronJob's live Jobs and its active list are `jobs` and
/// `active`.
async fn wait_jobs(cluster: &Cluster, name: &str, jobs: &[String], active: &[String]) {
    let want: (BTreeSet<String>, BTreeSet<String>) = (
        jobs.iter().cloned().collect(),
        active.iter().cloned().collect(),
    );
    eventually(
        &format!("{name}: jobs {jobs:?}, active {active:?}"),
        || async {
            let got = jobs_and_active(cluster, name).await;
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await;
}

/// The reasons of the Events recorded on CronJob `name`.
async fn event_reasons(cluster: &Cluster, name: &str) -> Vec<String> {
    cluster
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("CronJob")
                && e.involved_object.name.as_deref() == Some(name)
        })
        .filter_map(|e| e.reason)
        .collect()
}

/// `kubectl patch cronjob <name>` setting `spec.suspend`.
async fn suspend(cluster: &Cluster, name: &str, suspend: bool) {
    let patch = json!({"spec": {"suspend": suspend}}).to_string();
    let (ok, out) = cluster
        .kubectl(&["patch", "cronjob", name, "-p", &patch])
        .await;
    assert!(ok, "kubectl patch: {out}");
}

/// The minute (since the epoch) the CronJob was created in.
async fn created_minute(cluster: &Cluster, name: &str) -> i64 {
    let cj = cluster.api::<CronJob>().get(name).await.expect("cronjob");
    cj.creation_timestamp().expect("created").0.as_second() / 60
}

/// Creates the CronJobs with kubectl, all in one wall-clock minute (their first
/// schedule counts from their creation): a set that straddles a minute boundary is
/// deleted and created again. Returns that minute.
async fn create_in_one_minute(cluster: &Cluster, cronjobs: &[(&str, serde_json::Value)]) -> i64 {
    for _ in 0..3 {
        for (name, manifest) in cronjobs {
            kubectl_create(cluster, &format!("{name}.json"), manifest).await;
        }
        let mut minutes = BTreeSet::new();
        for (name, _) in cronjobs {
            minutes.insert(created_minute(cluster, name).await);
        }
        if let [minute] = minutes.into_iter().collect::<Vec<_>>()[..] {
            return minute;
        }
        for (name, _) in cronjobs {
            let (ok, out) = cluster.kubectl(&["delete", "cronjob", name]).await;
            assert!(ok, "kubectl delete cronjob {name}: {out}");
        }
    }
    panic!("three tries to create the CronJobs within one minute");
}

/// Upstream "should schedule multiple jobs concurrently" (Allow), "should not
/// schedule new jobs when ForbidConcurrent" and "should replace jobs when
/// ReplaceConcurrent", each with Jobs that run for ever: a minute on, each
/// CronJob starts `<name>-<minute>` with the scheduled-time annotation and
/// `lastScheduleTime`; another minute on, Allow runs two, Forbid keeps the
/// first (`JobAlreadyActive`), Replace deletes the first and runs the second
/// (`SuccessfulDelete`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_policies_under_a_test_clock() {
    let clock = FakeClock::default();
    let cluster = Cluster::start_with_clock(1, clock.shared()).await;
    let names = ["allow", "forbid", "replace"];
    let manifests: Vec<_> = ["Allow", "Forbid", "Replace"]
        .into_iter()
        .zip(names)
        .map(|(policy, name)| (name, cronjob(name, policy, json!({}), forever())))
        .collect();
    let m0 = create_in_one_minute(&cluster, &manifests).await;
    tick(&cluster, &clock, m0, &names).await;
    let first = |n: &str| format!("{n}-{}", m0 + 1);
    for n in names {
        wait_jobs(&cluster, n, &[first(n)], &[first(n)]).await;
    }
    let job = cluster
        .api::<Job>()
        .get(&first("allow"))
        .await
        .expect("job");
    let scheduled = Timestamp::from_second((m0 + 1) * 60).expect("time");
    assert_eq!(
        job.annotations()[SCHEDULED],
        scheduled.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let cj = cluster
        .api::<CronJob>()
        .get("allow")
        .await
        .expect("cronjob");
    assert_eq!(
        cj.status.and_then(|s| s.last_schedule_time).map(|t| t.0),
        Some(scheduled)
    );

    tick(&cluster, &clock, m0 + 1, &names).await;
    let second = |n: &str| format!("{n}-{}", m0 + 2);
    let both = [first("allow"), second("allow")];
    wait_jobs(&cluster, "allow", &both, &both).await;
    wait_jobs(
        &cluster,
        "replace",
        &[second("replace")],
        &[second("replace")],
    )
    .await;
    eventually("Forbid reports the running Job", || async {
        let reasons = event_reasons(&cluster, "forbid").await;
        if reasons.iter().any(|r| r == "JobAlreadyActive") {
            Ok(())
        } else {
            Err(format!("{reasons:?}"))
        }
    })
    .await;
    assert_eq!(
        jobs_and_active(&cluster, "forbid").await.1,
        BTreeSet::from([first("forbid")]),
        "Forbid started nothing new"
    );
    let reasons = event_reasons(&cluster, "replace").await;
    assert!(
        reasons.iter().any(|r| r == "SuccessfulDelete")
            && reasons.iter().filter(|r| *r == "SuccessfulCreate").count() >= 1,
        "{reasons:?}"
    );
    cluster.stop().await;
}

/// Upstream "should delete successful/failed finished jobs with limit of one
/// job" and "should not schedule jobs when suspended": Jobs that complete on
/// sim nodes (a Job's pods exit 0 after a second) and fail (exit code 2) with
/// history limits of one keep only the latest of each, `lastSuccessfulTime`
/// is set; suspended, the CronJob starts nothing while a companion does; on
/// resume it starts the missed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_limits_and_suspend() {
    let clock = FakeClock::default();
    let cluster = Cluster::start_with_clock(1, clock.shared()).await;
    let limits = json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1});
    let fails = json!({"capstan.dev/exit-code": "2"});
    let mut bad = cronjob("bad", "Allow", limits.clone(), fails);
    bad["spec"]["jobTemplate"]["spec"]["backoffLimit"] = json!(0);
    let ok = cronjob("ok", "Allow", limits, json!({}));
    let m0 = create_in_one_minute(&cluster, &[("ok", ok), ("bad", bad)]).await;
    let job = |n: &str, m: i64| format!("{n}-{m}");
    for m in [m0, m0 + 1] {
        tick(&cluster, &clock, m, &["ok", "bad"]).await;
        // Each run finishes, leaves `active`, and only the latest is kept.
        wait_jobs(&cluster, "ok", &[job("ok", m + 1)], &[]).await;
        wait_jobs(&cluster, "bad", &[job("bad", m + 1)], &[]).await;
    }
    let ok = cluster.api::<CronJob>().get("ok").await.expect("cronjob");
    assert!(ok.status.unwrap().last_successful_time.is_some());
    let bad = cluster.api::<CronJob>().get("bad").await.expect("cronjob");
    assert_eq!(bad.status.unwrap().last_successful_time, None);
    let reasons = event_reasons(&cluster, "ok").await;
    for r in ["SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }

    suspend(&cluster, "bad", true).await;
    tick(&cluster, &clock, m0 + 2, &["ok", "bad"]).await;
    wait_jobs(&cluster, "ok", &[job("ok", m0 + 3)], &[]).await;
    assert_eq!(
        jobs_and_active(&cluster, "bad").await.0,
        BTreeSet::from([job("bad", m0 + 2)]),
        "suspended: nothing started"
    );
    suspend(&cluster, "bad", false).await;
    wait_jobs(&cluster, "bad", &[job("bad", m0 + 3)], &[]).await;
    cluster.stop().await;
}

/// The oldest and newest kubectl releases installed next to `/usr/bin/kubectl`.
const KUBECTLS: [&str; 2] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
];

/// `binary` run against the cluster in [`NS`].
async fn kubectl_as(binary: &str, cluster: &Cluster, args: &[&str]) -> (bool, String) {
    let mut all = vec!["-n", NS];
    all.extend_from_slice(args);
    kubectl_binary(binary, &cluster.server, &all).await
}

/// `kubectl create job --from=cronjob/<name>` with kubectl 1.27 and 1.33: the
/// API server takes what each sends (the CronJob as owner — as controller with
/// 1.33 —
/// `cronjob.kubernetes.io/instantiate: manual`), and the Jobs run to
/// completion on sim nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_job_from_a_cronjob() {
    let cluster = Cluster::start(1).await;
    let manifest = cronjob("nightly", "Forbid", json!({"suspend": true}), json!({}));
    kubectl_create(&cluster, "nightly.json", &manifest).await;
    let cj = cluster
        .api::<CronJob>()
        .get("nightly")
        .await
        .expect("cronjob");
    for (i, binary) in KUBECTLS.iter().enumerate() {
        let name = format!("by-hand-{i}");
        let (ok, out) = kubectl_as(
            binary,
            &cluster,
            &["create", "job", &name, "--from=cronjob/nightly"],
        )
        .await;
        assert!(ok, "{binary} create job --from: {out}");
        assert!(out.contains(&format!("job.batch/{name} created")), "{out}");
        let job_ref = format!("job/{name}");
        let (ok, out) = kubectl_as(
            binary,
            &cluster,
            &[
                "wait",
                "--for=condition=complete",
                &job_ref,
                "--timeout=90s",
            ],
        )
        .await;
        assert!(ok, "{binary} wait: {out}");
        let job = cluster.api::<Job>().get(&name).await.expect("job");
        assert_eq!(
            job.annotations().get("cronjob.kubernetes.io/instantiate"),
            Some(&"manual".to_string()),
            "{binary}"
        );
        // kubectl 1.27 leaves the reference's `controller` unset; 1.33 sets it.
        let owners: Vec<(&str, &str)> = job
            .owner_references()
            .iter()
            .map(|r| (r.kind.as_str(), r.uid.as_str()))
            .collect();
        assert_eq!(
            owners,
            [("CronJob", cj.uid().unwrap_or_default().as_str())],
            "{binary}"
        );
        if binary.ends_with("1.33") {
            assert_eq!(controller_uid(&job), cj.uid(), "{binary}");
        }
    }
    cluster.stop().await;
}

/// Upstream "job should be deleted once it finishes after TTL seconds": a Job
/// with `ttlSecondsAfterFinished: 30` completes and stays; 30 s later on the
/// test clock it is deleted with its pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_is_deleted_after_its_ttl() {
    let clock = FakeClock::default();
    let cluster = Cluster::start_with_clock(1, clock.shared()).await;
    let manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "short", "namespace": NS},
        "spec": {
            "ttlSecondsAfterFinished": 30,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["work"]}]
            }}
        }
    });
    kubectl_create(&cluster, "short.json", &manifest).await;
    let (ok, out) = cluster
        .kubectl(&[
            "wait",
            "--for=condition=complete",
            "job/short",
            "--timeout=90s",
        ])
        .await;
    assert!(ok, "kubectl wait: {out}");
    let pods = |c: &Cluster| {
        let api = c.api::<Pod>();
        async move {
            api.list(&ListParams::default().labels("batch.kubernetes.io/job-name=short"))
                .await
                .expect("pods")
                .items
                .len()
        }
    };
    assert_eq!(pods(&cluster).await, 1);
    // Not yet expired: touching it changes nothing.
    let (ok, out) = cluster
        .kubectl(&["annotate", "job", "short", "test/touch=1"])
        .await;
    assert!(ok, "kubectl annotate: {out}");
    assert!(cluster.api::<Job>().get("short").await.is_ok());
    clock.advance(Duration::from_secs(31));
    // Any event of the Job now deletes it: it may already be gone.
    let (ok, out) = cluster
        .kubectl(&["annotate", "job", "short", "test/touch=2", "--overwrite"])
        .await;
    assert!(ok || out.contains("NotFound"), "kubectl annotate: {out}");
    eventually("the Job and its pod deleted", || async {
        let job = cluster.api::<Job>().get_opt("short").await.expect("get");
        let n = pods(&cluster).await;
        if job.is_none() && n == 0 {
            Ok(())
        } else {
            Err(format!("job {}, {n} pods", job.is_some()))
        }
    })
    .await;
    cluster.stop().await;
}
