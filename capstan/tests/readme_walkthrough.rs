//! The README's "Try it" session, command for command, against the `capstan up`
//! binary with the real kubectl: the newest (the dispatcher on PATH picks it from the
//! server's version) and, where it is installed, the oldest supported (1.27).
//!
//! apply `examples/nginx-deployment.yaml` → `rollout status` → `set image` →
//! `rollout status` → `rollout undo` → `scale` → `scale nodepool` →
//! `apply -f examples/process-pool.yaml` → `delete deployment`, each asserted on what
//! a user would look at.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Up, eventually};

/// kubectl 1.27, beside the dispatcher on machines like CI's.
const OLDEST_KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

struct Kubectl<'a> {
    bin: &'a str,
    kubeconfig: &'a Path,
}

impl Kubectl<'_> {
    /// Runs kubectl, returning stdout, or stderr as the error.
    fn try_run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(self.bin)
            .arg("--kubeconfig")
            .arg(self.kubeconfig)
            .args(args)
            .output()
            .map_err(|e| format!("running {}: {e}", self.bin))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{} {args:?}: {}{}",
                self.bin,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn run(&self, args: &[&str]) -> String {
        self.try_run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kubectl rollout status`, which must report success.
    fn rollout_status(&self) {
        let out = self.run(&[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=120s",
        ]);
        assert!(
            out.contains("successfully rolled out"),
            "{}: rollout status said {out}",
            self.bin
        );
    }

    fn jsonpath(&self, what: &str, path: &str) -> String {
        self.run(&["get", what, "-o", &format!("jsonpath={path}")])
    }

    /// Names of the pods labelled `app=nginx` that are Running and not being deleted.
    fn running_nginx_pods(&self) -> Result<usize, String> {
        let out = self.try_run(&[
            "get",
            "pods",
            "-l",
            "app=nginx",
            "-o",
            "jsonpath={range .items[*]}{.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
        ])?;
        Ok(out.lines().filter(|l| l.trim() == "Running").count())
    }
}

async fn walk_through(k: &Kubectl<'_>, first: bool) {
    // kubectl get nodes: the default pool's three virtual nodes, Ready.
    eventually("3 Ready nodes", || async {
        let out = k.try_run(&["get", "nodes", "--no-headers"])?;
        let ready = out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count();
        if ready >= 3 { Ok(()) } else { Err(out) }
    })
    .await;

    let manifest = example("nginx-deployment.yaml");
    let out = k.run(&["apply", "-f", manifest.to_str().unwrap_or_default()]);
    assert!(out.contains("deployment.apps/nginx-deployment"), "{out}");
    k.rollout_status();
    assert_eq!(
        k.jsonpath("deployment/nginx-deployment", "{.status.availableReplicas}"),
        "3"
    );

    k.run(&[
        "set",
        "image",
        "deployment/nginx-deployment",
        "nginx=nginx:1.16.1",
    ]);
    k.rollout_status();
    assert_eq!(
        k.jsonpath(
            "deployment/nginx-deployment",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.16.1"
    );
    let history = k.run(&["rollout", "history", "deployment/nginx-deployment"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");

    k.run(&["rollout", "undo", "deployment/nginx-deployment"]);
    k.rollout_status();
    assert_eq!(
        k.jsonpath(
            "deployment/nginx-deployment",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.14.2",
        "undo returns to the first template"
    );
    assert_eq!(
        k.jsonpath(
            "deployment/nginx-deployment",
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "3",
        "the first ReplicaSet comes back as revision 3"
    );

    k.run(&["scale", "deployment/nginx-deployment", "--replicas=5"]);
    k.rollout_status();
    eventually("5 nginx pods Running", || async {
        let n = k.running_nginx_pods()?;
        if n == 5 {
            Ok(())
        } else {
            Err(format!("{n} Running"))
        }
    })
    .await;

    k.run(&["scale", "nodepool/default", "--replicas=10"]);
    eventually("10 Ready nodes in the default pool", || async {
        let out = k.try_run(&[
            "get",
            "nodes",
            "-l",
            "capstan.dev/nodepool=default",
            "--no-headers",
        ])?;
        let ready = out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count();
        if ready == 10 { Ok(()) } else { Err(out) }
    })
    .await;

    if first {
        // A pool whose pod is a real local process, Ready once its probe passes.
        let pool = example("process-pool.yaml");
        let pool = pool.to_str().unwrap_or_default();
        k.run(&["apply", "-f", pool]);
        k.run(&[
            "wait",
            "--for=condition=Ready",
            "pod/web-local",
            "--timeout=60s",
        ]);
        // Its process must not outlive the test: delete it before capstan stops.
        k.run(&["delete", "-f", pool, "--wait=true", "--timeout=60s"]);
    }

    let out = k.run(&["delete", "deployment", "nginx-deployment"]);
    assert!(out.contains("deleted"), "{out}");
    eventually("the ReplicaSets and pods go too", || async {
        let rs = k.try_run(&["get", "rs", "-l", "app=nginx", "--no-headers"])?;
        let pods = k.try_run(&["get", "pods", "-l", "app=nginx", "--no-headers"])?;
        if rs.trim().is_empty() && pods.trim().is_empty() {
            Ok(())
        } else {
            Err(format!("{rs}{pods}"))
        }
    })
    .await;
}

#[tokio::test]
async fn the_readme_session_works_with_old_and_new_kubectl() {
    let (mut up, _client) = Up::start("readme").await;
    let mut kubectls = vec!["kubectl"];
    if Path::new(OLDEST_KUBECTL).exists() {
        kubectls.push(OLDEST_KUBECTL);
    } else {
        eprintln!("{OLDEST_KUBECTL} not installed: only the kubectl on PATH is tried");
    }
    for (i, bin) in kubectls.iter().enumerate() {
        let k = Kubectl {
            bin,
            kubeconfig: &up.kubeconfig,
        };
        walk_through(&k, i == 0).await;
    }
    let status = up.interrupt().await;
    assert!(status.success(), "clean stop: {status:?}");
}
