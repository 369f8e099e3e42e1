//! Upstream's bootstrap RBAC roles as real kubectl sees them, and aggregation picking up
//! a user's labelled ClusterRole.

mod common;

use std::time::Duration;

use capstan_apiserver::TestServer;
use common::{Kubectl, eventually};
use serde_json::Value;

/// A ClusterRole `<resource>-viewer` labelled to aggregate into `view`, granting read
/// access to `example.com`'s `<resource>s`, as a manifest for `kubectl apply`.
fn labelled_viewer(resource: &str) -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {resource}-viewer
  labels: {{rbac.authorization.k8s.io/aggregate-to-view: "true"}}
rules:
- apiGroups: [example.com]
  resources: [{resource}s]
  verbs: [get, list, watch]
"#
    )
}

async fn role(k: &Kubectl, name: &str) -> Value {
    let out = k.ok(&["get", "clusterrole", name, "-o", "json"]).await;
    serde_json::from_str(&out).expect("kubectl prints JSON")
}

/// Asserts `obj` carries the bootstrap label and the autoupdate annotation.
fn assert_bootstrap_metadata(obj: &Value) {
    let meta = &obj["metadata"];
    assert_eq!(
        meta["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults",
        "{meta}"
    );
    assert_eq!(
        meta["annotations"]["rbac.authorization.kubernetes.io/autoupdate"], "true",
        "{meta}"
    );
}

fn rules(role: &Value) -> Vec<Value> {
    role["rules"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn kubectl_sees_upstreams_bootstrap_roles_and_aggregation_follows_labelled_roles() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");

    assert_bootstrap_metadata(&role(&k, "cluster-admin").await);
    let binding = k
        .ok(&["get", "clusterrolebinding", "cluster-admin", "-o", "json"])
        .await;
    let binding: Value = serde_json::from_str(&binding).unwrap();
    assert_eq!(binding["subjects"][0]["name"], "system:masters");
    assert_eq!(binding["subjects"][0]["kind"], "Group");

    // view carries exactly system:aggregate-to-view's rules; edit and admin include them.
    let to_view = rules(&role(&k, "system:aggregate-to-view").await);
    let view = role(&k, "view").await;
    assert_eq!(
        view["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert_eq!(rules(&view), to_view);
    for name in ["edit", "admin"] {
        let got = rules(&role(&k, name).await);
        for r in &to_view {
            assert!(got.contains(r), "{name} lacks view's rule {r}");
        }
    }

    let file = s.dir().join("widget-viewer.yaml");
    std::fs::write(&file, labelled_viewer("widget")).unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let wanted: Value = serde_json::json!({
        "apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]
    });
    let (k, wanted) = (&k, &wanted);
    eventually(
        "widget-viewer's rule reaching view and admin",
        Duration::from_secs(30),
        || async move {
            rules(&role(k, "view").await).contains(wanted)
                && rules(&role(k, "admin").await).contains(wanted)
        },
    )
    .await;
}

/// kube-apiserver v1.33's bootstrap ClusterRoles beyond the user-facing four (upstream's
/// `cluster-roles.yaml` and `controller-roles.yaml` with default feature gates).
const SYSTEM_CLUSTER_ROLES: &[&str] = &[
    "system:aggregate-to-admin",
    "system:aggregate-to-edit",
    "system:aggregate-to-view",
    "system:auth-delegator",
    "system:basic-user",
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    "system:certificates.k8s.io:kube-apiserver-client-approver",
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
    "system:certificates.k8s.io:kubelet-serving-approver",
    "system:certificates.k8s.io:legacy-unknown-approver",
    "system:discovery",
    "system:heapster",
    "system:kube-aggregator",
    "system:kube-controller-manager",
    "system:kube-dns",
    "system:kube-scheduler",
    "system:kubelet-api-admin",
    "system:monitoring",
    "system:node",
    "system:node-bootstrapper",
    "system:node-problem-detector",
    "system:node-proxier",
    "system:persistent-volume-provisioner",
    "system:public-info-viewer",
    "system:service-account-issuer-discovery",
    "system:volume-scheduler",
];

/// kube-controller-manager's controllers that get a `system:controller:<name>` role
/// and binding in v1.33.
const CONTROLLERS: &[&str] = &[
    "attachdetach-controller",
    "certificate-controller",
    "clusterrole-aggregation-controller",
    "cronjob-controller",
    "daemon-set-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoint-controller",
    "endpointslice-controller",
    "endpointslicemirroring-controller",
    "ephemeral-volume-controller",
    "expand-controller",
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "job-controller",
    "legacy-service-account-token-cleaner",
    "namespace-controller",
    "node-controller",
    "persistent-volume-binder",
    "pod-garbage-collector",
    "pv-protection-controller",
    "pvc-protection-controller",
    "replicaset-controller",
    "replication-controller",
    "resourcequota-controller",
    "root-ca-cert-publisher",
    "route-controller",
    "selinux-warning-controller",
    "service-account-controller",
    "service-cidrs-controller",
    "service-controller",
    "statefulset-controller",
    "ttl-after-finished-controller",
    "ttl-controller",
    "validatingadmissionpolicy-status-controller",
];

/// The non-controller ClusterRoleBindings with their subjects as `kind/name`.
const CLUSTER_ROLE_BINDINGS: &[(&str, &[&str])] = &[
    ("cluster-admin", &["Group/system:masters"]),
    ("system:basic-user", &["Group/system:authenticated"]),
    ("system:discovery", &["Group/system:authenticated"]),
    (
        "system:kube-controller-manager",
        &["User/system:kube-controller-manager"],
    ),
    ("system:kube-dns", &["ServiceAccount/kube-dns"]),
    ("system:kube-scheduler", &["User/system:kube-scheduler"]),
    ("system:monitoring", &["Group/system:monitoring"]),
    ("system:node", &[]),
    ("system:node-proxier", &["User/system:kube-proxy"]),
    (
        "system:public-info-viewer",
        &["Group/system:authenticated", "Group/system:unauthenticated"],
    ),
    (
        "system:service-account-issuer-discovery",
        &["Group/system:serviceaccounts"],
    ),
    ("system:volume-scheduler", &["User/system:kube-scheduler"]),
];

/// The namespaced Roles (each has a RoleBinding of the same name, except the
/// authentication reader's, which is `system::extension-apiserver-authentication-reader`).
const ROLES: &[(&str, &str)] = &[
    ("kube-public", "system:controller:bootstrap-signer"),
    ("kube-system", "extension-apiserver-authentication-reader"),
    (
        "kube-system",
        "system::leader-locking-kube-controller-manager",
    ),
    ("kube-system", "system::leader-locking-kube-scheduler"),
    ("kube-system", "system:controller:bootstrap-signer"),
    ("kube-system", "system:controller:cloud-provider"),
    ("kube-system", "system:controller:token-cleaner"),
];

async fn names(k: &Kubectl, args: &[&str]) -> Vec<String> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "name"]);
    k.ok(&all)
        .await
        .lines()
        .map(|l| l.rsplit_once('/').map_or(l, |(_, n)| n).to_string())
        .collect()
}

fn subjects(binding: &Value) -> Vec<String> {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{}/{}",
                s["kind"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn every_upstream_bootstrap_object_exists_after_boot() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");
    // The policy is the release the server reports being.
    let version = common::get_json(&s.client().await, "/version").await;
    let git_version = version["gitVersion"].as_str().unwrap_or_default();
    assert!(
        git_version.starts_with(&format!(
            "{}.",
            capstan_apiserver::rbac_policy::POLICY_VERSION
        )),
        "server reports {git_version}"
    );

    let roles = names(&k, &["clusterroles"]).await;
    let controller_roles = CONTROLLERS.iter().map(|c| format!("system:controller:{c}"));
    for name in ["cluster-admin", "admin", "edit", "view"]
        .into_iter()
        .map(String::from)
        .chain(SYSTEM_CLUSTER_ROLES.iter().map(|n| n.to_string()))
        .chain(controller_roles.clone())
    {
        assert!(roles.contains(&name), "no ClusterRole {name}");
    }

    let out = k.ok(&["get", "clusterrolebindings", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&out).unwrap();
    let bindings = list["items"].as_array().unwrap();
    let find = |name: &str| {
        bindings
            .iter()
            .find(|b| b["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no ClusterRoleBinding {name}"))
    };
    for (name, want) in CLUSTER_ROLE_BINDINGS {
        let b = find(name);
        assert_eq!(b["roleRef"]["kind"], "ClusterRole", "{name}");
        assert_eq!(b["roleRef"]["name"], *name, "{name}");
        assert_eq!(subjects(b), *want, "{name}'s subjects");
    }
    for c in CONTROLLERS {
        let name = format!("system:controller:{c}");
        let b = find(&name);
        assert_eq!(b["roleRef"]["name"], name.as_str());
        assert_eq!(
            b["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": c, "namespace": "kube-system"}])
        );
    }

    for (ns, name) in ROLES {
        assert!(
            names(&k, &["roles", "-n", ns])
                .await
                .contains(&name.to_string()),
            "no Role {ns}/{name}"
        );
        let binding = if *name == "extension-apiserver-authentication-reader" {
            "system::extension-apiserver-authentication-reader"
        } else {
            name
        };
        let out = k
            .ok(&["get", "rolebinding", binding, "-n", ns, "-o", "json"])
            .await;
        let b: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(b["roleRef"]["kind"], "Role", "{ns}/{binding}");
        assert_eq!(b["roleRef"]["name"], *name, "{ns}/{binding}");
    }
    let out = k
        .ok(&[
            "get",
            "rolebinding",
            "system::leader-locking-kube-scheduler",
            "-n",
            "kube-system",
            "-o",
            "json",
        ])
        .await;
    let b: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        subjects(&b),
        [
            "User/system:kube-scheduler",
            "ServiceAccount/kube-scheduler"
        ]
    );
    for obj in [
        role(&k, "system:controller:job-controller").await,
        role(&k, "system:node").await,
    ] {
        assert_bootstrap_metadata(&obj);
    }
}

#[tokio::test]
async fn kubectl_shows_the_replicaset_controllers_upstream_rules_and_the_bindings() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");
    let out = k
        .ok(&[
            "get",
            "clusterrole",
            "system:controller:replicaset-controller",
            "-o",
            "yaml",
        ])
        .await;
    let got: Value = serde_yaml::from_str(&out).expect("kubectl prints YAML");
    // upstream's controller_policy.go for the ReplicaSet controller.
    let upstream: Value = serde_yaml::from_str(
        r#"
- {apiGroups: [apps, extensions], resources: [replicasets], verbs: [get, list, update, watch]}
- {apiGroups: [apps, extensions], resources: [replicasets/status], verbs: [update]}
- {apiGroups: [apps, extensions], resources: [replicasets/finalizers], verbs: [update]}
- {apiGroups: [""], resources: [pods], verbs: [create, delete, list, patch, watch]}
- {apiGroups: ["", events.k8s.io], resources: [events], verbs: [create, patch, update]}
"#,
    )
    .unwrap();
    assert_eq!(got["rules"], upstream);

    let table = k.ok(&["get", "clusterrolebindings"]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let role_of = |name: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&name))
            .and_then(|r| r.get(1).copied())
            .unwrap_or_else(|| panic!("kubectl get clusterrolebindings lacks {name}:\n{table}"))
    };
    for (name, _) in CLUSTER_ROLE_BINDINGS {
        assert_eq!(role_of(name), format!("ClusterRole/{name}"));
    }
    for c in CONTROLLERS {
        let name = format!("system:controller:{c}");
        assert_eq!(role_of(&name), format!("ClusterRole/{name}"));
    }
}

/// The server's bootstrap pass runs every 10 s; aggregation must not wait for it.
const PROMPTLY: Duration = Duration::from_secs(4);

#[tokio::test]
async fn aggregation_follows_a_labelled_role_promptly_through_the_chain_and_its_delete() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");
    let file = s.dir().join("gadget-viewer.yaml");
    std::fs::write(&file, labelled_viewer("gadget")).unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]).await;

    // Right after the create, `kubectl describe` shows the aggregated rule.
    let k = &k;
    eventually(
        "gadget-viewer's rule in describe view",
        PROMPTLY,
        || async move {
            let out = k.ok(&["describe", "clusterrole", "view"]).await;
            out.lines().any(|l| {
                l.split_whitespace().next() == Some("gadgets.example.com")
                    && l.contains("[get list watch]")
            })
        },
    )
    .await;
    let wanted = serde_json::json!({
        "apiGroups": ["example.com"], "resources": ["gadgets"], "verbs": ["get", "list", "watch"]
    });
    let wanted = &wanted;
    eventually(
        "the rule reaching edit and admin",
        PROMPTLY,
        || async move {
            rules(&role(k, "edit").await).contains(wanted)
                && rules(&role(k, "admin").await).contains(wanted)
        },
    )
    .await;

    // An update of the labelled role is followed too.
    k.ok(&[
        "patch",
        "clusterrole",
        "gadget-viewer",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules/0/verbs","value":["get"]}]"#,
    ])
    .await;
    let narrowed = serde_json::json!({
        "apiGroups": ["example.com"], "resources": ["gadgets"], "verbs": ["get"]
    });
    let narrowed = &narrowed;
    eventually(
        "the update reaching view and admin",
        PROMPTLY,
        || async move {
            let view = rules(&role(k, "view").await);
            let admin = rules(&role(k, "admin").await);
            view.contains(narrowed) && !view.contains(wanted) && admin.contains(narrowed)
        },
    )
    .await;

    k.ok(&["delete", "clusterrole", "gadget-viewer"]).await;
    eventually(
        "the rule leaving view, edit and admin",
        PROMPTLY,
        || async move {
            let mut gone = true;
            for name in ["view", "edit", "admin"] {
                gone &= !rules(&role(k, name).await).contains(narrowed);
            }
            gone
        },
    )
    .await;
    // view is back to exactly the bootstrap rules.
    assert_eq!(
        rules(&role(k, "view").await),
        rules(&role(k, "system:aggregate-to-view").await)
    );
}

/// Empties a ClusterRole's rules with `kubectl patch`.
async fn strip_rules(k: &Kubectl, name: &str) {
    k.ok(&[
        "patch",
        "clusterrole",
        name,
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules","value":[]}]"#,
    ])
    .await;
}

#[tokio::test]
async fn the_bootstrap_pass_restores_removed_rules_and_bindings_unless_autoupdate_is_false() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");
    let cluster = s.server().cluster();
    // On an untouched policy the pass writes nothing (no churn every 10 s).
    let rv = cluster.store.current_rv();
    capstan_apiserver::bootstrap::ensure_rbac_policy(cluster).unwrap();
    assert_eq!(
        cluster.store.current_rv(),
        rv,
        "the pass rewrote untouched objects"
    );
    let full = rules(&role(&k, "system:node-bootstrapper").await);
    // A user strips the role's rules and deletes a binding.
    strip_rules(&k, "system:node-bootstrapper").await;
    k.ok(&["delete", "clusterrolebinding", "system:kube-dns"])
        .await;
    assert!(rules(&role(&k, "system:node-bootstrapper").await).is_empty());

    let rv = cluster.store.current_rv();
    capstan_apiserver::bootstrap::ensure_rbac_policy(cluster).unwrap();
    assert!(cluster.store.current_rv() > rv, "the pass wrote nothing");
    // Broken down as upstream adds missing rules: one verb at a time.
    let restored = rules(&role(&k, "system:node-bootstrapper").await);
    assert_eq!(restored.len(), 4, "{restored:?}");
    for verb in ["create", "get", "list", "watch"] {
        assert!(
            restored.contains(&serde_json::json!({
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests"],
                "verbs": [verb],
            })),
            "{verb} not restored: {restored:?}"
        );
    }
    assert_eq!(full.len(), 1);
    k.ok(&["get", "clusterrolebinding", "system:kube-dns"])
        .await;

    // Marked autoupdate=false, the owner's edits stay.
    k.ok(&[
        "annotate",
        "--overwrite",
        "clusterrole",
        "system:node-bootstrapper",
        "rbac.authorization.kubernetes.io/autoupdate=false",
    ])
    .await;
    strip_rules(&k, "system:node-bootstrapper").await;
    capstan_apiserver::bootstrap::ensure_rbac_policy(cluster).unwrap();
    assert!(rules(&role(&k, "system:node-bootstrapper").await).is_empty());
}
