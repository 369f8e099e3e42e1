//! The Helm chart `charts/capstan`: `helm lint`, and `helm template` with the default and
//! with non-default values, read back as Kubernetes objects and checked for what a
//! cluster needs — every object expected and nothing else, container args that the
//! built `capstan` accepts (each rendered command is run with `--help`, which parses
//! every flag before it), ports and probes that agree, RBAC rules that cover what each
//! component's code reads and writes and no more, and a scheduler configuration that
//! capstan-scheduler loads. Finally `helm install` into the embedded API server shows the
//! server accepts every object, CRD first.
//!
//! Needs `helm` on PATH or in `~/.local/bin` (`bash ../shared/tools/get-helm.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_controllers::manager::{CONTROLLERS, ControllerDescriptor, ControllerSelection};
use serde::Deserialize;
use serde_json::{Value, json};

/// Helm from PATH or `~/.local/bin`; panics with how to install it otherwise.
fn helm_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let local = std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/bin"));
    on_path
        .into_iter()
        .chain(local)
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "helm is not on PATH nor in ~/.local/bin: install Helm 3.17 with \
                 `bash ../shared/tools/get-helm.sh` from the repository root"
            )
        })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart_dir() -> String {
    repo_root()
        .join("charts/capstan")
        .to_string_lossy()
        .into_owned()
}

/// Runs helm (with its state in a temporary home) and returns stdout; panics on failure.
fn helm(args: &[&str], home: &Path) -> String {
    let out = Command::new(helm_binary())
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("helm runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Values that change every switch the chart has from its default.
const CUSTOM_VALUES: &str = r#"
fullnameOverride: cp
image:
  repository: registry.example.com/capstan
  tag: v9.9.9
  pullPolicy: Never
logLevel: debug
leaderElection:
  namespace: kube-system
  leaseDuration: 30s
  renewDeadline: 20s
  retryPeriod: 4s
controllerManager:
  replicas: 3
  controllers: ["*", "-garbagecollector", "-namespace", "-resourcequota"]
  concurrentReplicasetSyncs: 10
  kubeApiQps: 50.5
  bootstrapPod: true
  nodeSelector:
    node-role.kubernetes.io/control-plane: ""
  tolerations:
    - key: node-role.kubernetes.io/control-plane
      operator: Exists
      effect: NoSchedule
scheduler:
  enabled: false
nodeAgent:
  replicas: 2
  virtualTaint: false
  timeScale: 0.1
  podWorkers: 8
  extraArgs: ["--pod-workers=16"]
nodePool:
  create: true
  name: kind-pool
  nodes: 5
  runtime: process
  labels:
    tier: virtual
"#;

/// Renders the chart (release `capstan` in namespace `capstan-system`) with optional
/// extra values; returns the objects.
fn render(values: Option<&str>) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "capstan",
        chart.as_str(),
        "--namespace",
        "capstan-system",
        "--include-crds",
    ];
    let file = dir.path().join("values.yaml");
    let file_arg = file.to_string_lossy().into_owned();
    if let Some(v) = values {
        std::fs::write(&file, v).expect("write values");
        args.extend(["--values", file_arg.as_str()]);
    }
    let text = helm(&args, dir.path());
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

/// (kind, namespace, name) of every object.
fn inventory(objects: &[Value]) -> BTreeSet<(String, String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of `--flag=value` in `args` (the last one, as clap takes it).
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().rev().find_map(|a| a.strip_prefix(&prefix))
}

/// `args` with `$(NAME)` replaced as the kubelet does from the container's `env`: plain
/// values as they are, the downward API's `status.podIP` by a sample pod IP.
fn expanded(args: &[String], env: &Value) -> Vec<String> {
    let vars: Vec<(String, String)> = env
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e["name"].as_str()?.to_string();
            let value = match (
                &e["value"],
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            ) {
                (Value::String(v), _) => v.clone(),
                (_, Some("status.podIP")) => "10.244.0.5".to_string(),
                _ => return None,
            };
            Some((name, value))
        })
        .collect();
    args.iter()
        .map(|a| {
            vars.iter()
                .fold(a.clone(), |a, (k, v)| a.replace(&format!("$({k})"), v))
        })
        .collect()
}

/// Runs the built `capstan` with a rendered container's args plus `--help`: clap parses
/// (and validates) every flag before `--help`, so exit 0 means each one is accepted.
fn assert_capstan_accepts(args: &[String]) {
    let out = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run capstan");
    assert!(
        out.status.success(),
        "capstan {args:?} is refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--controllers` names only controllers capstan has (checked when the manager starts,
/// not by `--help`).
fn assert_known_controllers(args: &[String]) {
    let list: Vec<&str> = flag(args, "controllers")
        .expect("--controllers")
        .split(',')
        .collect();
    ControllerSelection::parse(&list).unwrap_or_else(|e| panic!("--controllers {list:?}: {e}"));
}

/// The controllers of the table the rendered `--controllers` enables.
fn enabled_controllers(args: &[String]) -> Vec<&'static ControllerDescriptor> {
    let list: Vec<&str> = flag(args, "controllers")
        .expect("--controllers")
        .split(',')
        .collect();
    let selection =
        ControllerSelection::parse(&list).unwrap_or_else(|e| panic!("--controllers {list:?}: {e}"));
    CONTROLLERS
        .iter()
        .filter(|c| selection.enables(c))
        .collect()
}

/// The controller-manager's ClusterRole grants every permission of each enabled
/// controller of the table, and nothing that none of them needs.
fn assert_grants_exactly(role: &[Rule], enabled: &[&ControllerDescriptor]) {
    for c in enabled {
        for p in c.permissions {
            for verb in p.verbs {
                assert!(
                    allows(role, p.group, &p.rbac_resource(), verb),
                    "{} may not {verb} {}/{}: {role:#?}",
                    c.name,
                    p.group,
                    p.rbac_resource()
                );
            }
        }
    }
    for rule in role {
        assert!(rule.names.is_empty(), "{rule:?}");
        for group in &rule.groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    let needed = enabled
                        .iter()
                        .flat_map(|c| c.permissions)
                        .any(|p| p.allows(verb, group, resource));
                    assert!(
                        needed,
                        "{rule:?} grants {verb} {group}/{resource}, which no enabled controller \
                         needs"
                    );
                }
            }
        }
    }
}

/// One RBAC rule as rendered.
#[derive(Debug)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

fn rules(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("role without rules: {role}"))
        .iter()
        .map(|r| Rule {
            groups: strings(&r["apiGroups"]),
            resources: strings(&r["resources"]),
            names: strings(&r["resourceNames"]),
            verbs: strings(&r["verbs"]),
        })
        .collect()
}

/// Whether `rules` allow `verb` on `group`/`resource` (any name), as the RBAC authorizer.
fn allows(rules: &[Rule], group: &str, resource: &str, verb: &str) -> bool {
    let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
    rules.iter().any(|r| {
        any(&r.groups, group)
            && any(&r.resources, resource)
            && any(&r.verbs, verb)
            && r.names.is_empty()
    })
}

/// What each component's code does through its client (read in scheduler/,
/// node-agent/ and runtime/: informers list+watch, direct reads get, writes), as
/// (group, resource, verbs). The controller-manager's is the controller table's
/// ([`CONTROLLERS`]: each controller's permissions).
const SCHEDULER_USES: &[(&str, &str, &[&str])] = &[
    ("", "events", &["create", "patch"]),
    ("", "pods", &["list", "watch", "delete"]),
    ("", "pods/binding", &["create"]),
    ("", "pods/status", &["patch"]),
    ("", "nodes", &["list", "watch"]),
    ("", "namespaces", &["list", "watch"]),
    ("", "services", &["list", "watch"]),
    ("", "persistentvolumes", &["list", "watch"]),
    ("", "persistentvolumeclaims", &["list", "watch"]),
    ("apps", "replicasets", &["list", "watch"]),
    ("apps", "statefulsets", &["list", "watch"]),
    ("policy", "poddisruptionbudgets", &["list", "watch"]),
    ("storage.k8s.io", "storageclasses", &["list", "watch"]),
];
const NODE_AGENT_USES: &[(&str, &str, &[&str])] = &[
    ("", "events", &["create", "patch"]),
    ("capstan.dev", "nodepools", &["list", "watch"]),
    ("capstan.dev", "nodepools/status", &["patch"]),
    ("", "nodes", &["list", "watch", "create", "patch", "delete"]),
    ("", "nodes/status", &["patch"]),
    ("", "pods", &["list", "watch", "delete"]),
    ("", "pods/status", &["patch"]),
    ("", "configmaps", &["get"]),
    ("", "secrets", &["get"]),
];

fn assert_covers(component: &str, rules: &[Rule], uses: &[(&str, &str, &[&str])]) {
    for (group, resource, verbs) in uses {
        for verb in *verbs {
            assert!(
                allows(rules, group, resource, verb),
                "{component} may not {verb} {group}/{resource}: {rules:#?}"
            );
        }
    }
}

/// The ClusterRole bound to the ServiceAccount the Deployment runs as.
fn cluster_role_of<'a>(objects: &'a [Value], deployment: &Value) -> &'a Value {
    let sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let ns = deployment["metadata"]["namespace"].as_str().expect("ns");
    let binding = objects
        .iter()
        .find(|o| {
            o["kind"] == "ClusterRoleBinding"
                && o["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns
                })
        })
        .unwrap_or_else(|| panic!("no ClusterRoleBinding for {ns}/{sa}"));
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    find(
        objects,
        "ClusterRole",
        binding["roleRef"]["name"].as_str().expect("roleRef"),
    )
}

/// The rules of the Roles bound to `sa` in `namespace`.
fn namespaced_rules(objects: &[Value], sa: &str, sa_ns: &str, namespace: &str) -> Vec<Rule> {
    objects
        .iter()
        .filter(|o| {
            o["kind"] == "RoleBinding"
                && o["metadata"]["namespace"] == namespace
                && o["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["name"] == sa && s["namespace"] == sa_ns)
        })
        .flat_map(|b| {
            let role = objects
                .iter()
                .find(|o| {
                    o["kind"] == "Role"
                        && o["metadata"]["namespace"] == namespace
                        && o["metadata"]["name"] == b["roleRef"]["name"]
                })
                .unwrap_or_else(|| panic!("RoleBinding to a missing Role: {b}"));
            rules(role)
        })
        .collect()
}

/// The leader-election Role lets `sa` create its Lease and get/update exactly `name`.
fn assert_lease_access(objects: &[Value], sa: &str, sa_ns: &str, namespace: &str, name: &str) {
    let rules = namespaced_rules(objects, sa, sa_ns, namespace);
    assert!(
        allows(&rules, "coordination.k8s.io", "leases", "create"),
        "{sa} cannot create its Lease in {namespace}: {rules:?}"
    );
    for verb in ["get", "update"] {
        assert!(
            rules.iter().any(|r| r.groups == ["coordination.k8s.io"]
                && r.resources == ["leases"]
                && r.names == [name]
                && r.verbs.iter().any(|v| v == verb)),
            "{sa} cannot {verb} Lease {namespace}/{name}: {rules:?}"
        );
    }
}

/// Checks one component's Deployment: image, the subcommand and its flags (accepted by
/// the binary), port/probe agreement, security settings. Returns the container args.
fn check_workload(pod_spec: &Value, component: &str, image: &str) -> Vec<String> {
    let containers = pod_spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{component}: one container");
    let c = &containers[0];
    assert_eq!(c["image"], image, "{component}");
    let args = strings(&c["args"]);
    assert_eq!(args.first().map(String::as_str), Some(component));
    assert_capstan_accepts(&expanded(&args, &c["env"]));

    // /healthz, /readyz and /metrics on the port the flag binds, on all addresses.
    let bind = flag(&args, "bind-address").expect("--bind-address");
    let port: u16 = bind
        .strip_prefix("0.0.0.0:")
        .unwrap_or_else(|| panic!("{component} binds {bind}: probes could not reach it"))
        .parse()
        .expect("port");
    let ports = c["ports"].as_array().expect("ports");
    // The node agent also exposes its kubelet API.
    let expected_ports = if component == "node-agent" && flag(&args, "kubelet-port").is_some() {
        2
    } else {
        1
    };
    assert_eq!(ports.len(), expected_ports, "{component}: {ports:?}");
    assert_eq!(ports[0]["containerPort"], port, "{component}");
    let port_name = &ports[0]["name"];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], *port_name);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], *port_name);

    // Non-root, matching the Dockerfile's user; a writable /tmp on a read-only root.
    assert_eq!(pod_spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod_spec["securityContext"]["runAsUser"], 65532);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(
        c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["mountPath"] == "/tmp"),
        "{component}: /tmp is writable"
    );
    assert!(
        c["resources"]["requests"]["cpu"].is_string(),
        "{component}: resources"
    );
    args
}

/// The Dockerfile's image runs as the user the chart asks for and starts `capstan`.
#[test]
fn dockerfile_matches_the_chart() {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    assert!(text.contains("cargo build --release -p capstan --locked"));
    let values: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("charts/capstan/values.yaml")).expect("values"),
    )
    .expect("values.yaml parses");
    let user = format!(
        "USER {}:{}",
        values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]
    );
    assert!(
        text.contains(&user),
        "the Dockerfile's user is the chart's: {user}"
    );
    assert!(text.contains(r#"ENTRYPOINT ["capstan"]"#));
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).expect("ignore");
    for entry in ["target/", ".git/"] {
        assert!(ignore.lines().any(|l| l == entry), ".dockerignore: {entry}");
    }
}

/// The chart ships the CRD the Rust types generate, as `crds/` does.
#[test]
fn chart_crd_is_the_generated_one() {
    let generated = capstan_node_agent::nodepool_crd_yaml().expect("render CRD");
    let in_chart = std::fs::read_to_string(repo_root().join("charts/capstan/crds/nodepool.yaml"))
        .expect("chart CRD");
    assert!(
        in_chart == generated,
        "charts/capstan/crds/nodepool.yaml is stale: run \
         `cargo run -p capstan -- crdgen --out-dir charts/capstan/crds`"
    );
}

#[test]
fn helm_lint_passes_with_default_and_custom_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = chart_dir();
    let out = helm(&["lint", "--strict", &chart], dir.path());
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let file = dir.path().join("custom.yaml");
    std::fs::write(&file, CUSTOM_VALUES).expect("values");
    let out = helm(
        &[
            "lint",
            "--strict",
            &chart,
            "--values",
            &file.to_string_lossy(),
        ],
        dir.path(),
    );
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn default_values_render_three_leader_elected_components() {
    let objects = render(None);
    let ns = "capstan-system";
    let o = |kind: &str, namespace: &str, name: &str| {
        (kind.to_string(), namespace.to_string(), name.to_string())
    };
    let mut expected = BTreeSet::from([
        o("CustomResourceDefinition", "", "nodepools.capstan.dev"),
        o("ConfigMap", ns, "capstan-scheduler"),
        // Role and binding in kube-node-lease: the nodes' heartbeat Leases.
        o("Role", "kube-node-lease", "capstan-node-agent"),
        o("RoleBinding", "kube-node-lease", "capstan-node-agent"),
    ]);
    for c in ["controller-manager", "scheduler", "node-agent"] {
        let name = format!("capstan-{c}");
        expected.insert(o("Deployment", ns, &name));
        expected.insert(o("ServiceAccount", ns, &name));
        expected.insert(o("ClusterRole", "", &name));
        expected.insert(o("ClusterRoleBinding", "", &name));
        expected.insert(o("Role", ns, &format!("{name}-leader-election")));
        expected.insert(o("RoleBinding", ns, &format!("{name}-leader-election")));
    }
    assert_eq!(inventory(&objects), expected);

    let crd = find(
        &objects,
        "CustomResourceDefinition",
        "nodepools.capstan.dev",
    );
    let generated: Value =
        serde_yaml::from_str(&capstan_node_agent::nodepool_crd_yaml().expect("generated CRD"))
            .expect("CRD YAML");
    assert_eq!(*crd, generated);

    let image = "ghcr.io/capstan-dev/capstan:0.1.0";
    for c in ["controller-manager", "scheduler", "node-agent"] {
        let name = format!("capstan-{c}");
        let d = find(&objects, "Deployment", &name);
        assert_eq!(d["spec"]["replicas"], 1);
        let template = &d["spec"]["template"];
        assert_eq!(
            template["metadata"]["labels"]["app.kubernetes.io/component"],
            c
        );
        let selector = d["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("selector");
        for (k, v) in selector {
            assert_eq!(template["metadata"]["labels"][k], *v, "{name}: selector");
        }
        let spec = &template["spec"];
        assert_eq!(spec["serviceAccountName"], name);
        let args = check_workload(spec, c, image);
        let env = &spec["containers"][0]["env"];
        assert_eq!(env[0], json!({"name": "RUST_LOG", "value": "info"}));
        // Only the node agent reads its pod's IP (the kubelet API's address).
        let extra = if c == "node-agent" { 2 } else { 1 };
        assert_eq!(env.as_array().map(Vec::len), Some(extra), "{c}: {env}");

        // Leader election on a Lease named after the component, which its Role opens.
        let (lease_ns, lease_name) = if c == "scheduler" {
            assert_eq!(
                flag(&args, "config"),
                Some("/etc/capstan/scheduler/config.yaml")
            );
            let cm = find(&objects, "ConfigMap", "capstan-scheduler");
            let config = capstan_scheduler::config::KubeSchedulerConfiguration::from_yaml(
                cm["data"]["config.yaml"].as_str().expect("config.yaml"),
            )
            .expect("capstan-scheduler loads the rendered configuration");
            assert!(config.leader_election.leader_elect);
            let names: Vec<_> = config
                .profiles
                .iter()
                .filter_map(|p| p.scheduler_name.clone())
                .collect();
            assert_eq!(names, ["capstan-scheduler"]);
            let mounted = spec["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["configMap"]["name"] == "capstan-scheduler");
            assert!(mounted, "the scheduler mounts its ConfigMap");
            assert!(
                template["metadata"]["annotations"]["checksum/config"].is_string(),
                "a configuration change rolls the scheduler"
            );
            (
                config.leader_election.resource_namespace,
                config.leader_election.resource_name,
            )
        } else {
            assert_eq!(flag(&args, "leader-elect"), Some("true"));
            (
                flag(&args, "leader-elect-resource-namespace")
                    .expect("lease namespace")
                    .to_string(),
                flag(&args, "leader-elect-resource-name")
                    .expect("lease name")
                    .to_string(),
            )
        };
        assert_eq!(lease_ns, ns);
        assert_eq!(lease_name, name);
        assert_lease_access(&objects, &name, ns, &lease_ns, &lease_name);

        let role = rules(cluster_role_of(&objects, d));
        match c {
            "controller-manager" => {
                assert_eq!(flag(&args, "controllers"), Some("*"));
                assert_known_controllers(&args);
                let enabled = enabled_controllers(&args);
                let on_by_default: Vec<_> = CONTROLLERS
                    .iter()
                    .filter(|c| c.enabled_by_default)
                    .collect();
                assert_eq!(enabled.len(), on_by_default.len());
                assert_grants_exactly(&role, &enabled);
                // The chart's `--concurrent-*-syncs` defaults are kube's, as the table's.
                for f in CONTROLLERS.iter().filter_map(|c| c.concurrent_syncs) {
                    if let Some(value) = flag(&args, f.name) {
                        assert_eq!(value, f.default.to_string(), "--{}", f.name);
                    }
                }
            }
            "scheduler" => {
                assert_covers(c, &role, SCHEDULER_USES);
                assert!(!allows(&role, "", "pods", "create"));
                assert!(!allows(&role, "", "nodes", "patch"));
            }
            _ => {
                assert!(args.iter().any(|a| a == "--virtual-taint"));
                // The kubelet API, reached by kube-apiserver on the pod's IP with a
                // client certificate of the cluster CA.
                assert_eq!(flag(&args, "kubelet-port"), Some("10250"));
                assert_eq!(flag(&args, "node-ip"), Some("$(POD_IP)"));
                assert_eq!(
                    flag(&args, "client-ca-file"),
                    Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
                );
                let container = &spec["containers"][0];
                assert_eq!(
                    container["env"][1],
                    json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
                );
                assert!(
                    container["ports"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["containerPort"] == 10250)),
                    "{container}"
                );
                assert_covers(c, &role, NODE_AGENT_USES);
                let node_leases = namespaced_rules(&objects, &name, ns, "kube-node-lease");
                for verb in ["get", "create", "patch", "delete"] {
                    assert!(allows(&node_leases, "coordination.k8s.io", "leases", verb));
                }
                assert!(!allows(&role, "", "secrets", "list"), "secrets: get only");
                assert!(!allows(&role, "apps", "deployments", "update"));
            }
        }
        // Only the discovery-driven controllers (garbage collector, namespace, resource
        // quota) need wildcards; nobody gets RBAC escalation verbs.
        for rule in &role {
            let wildcard =
                rule.groups.contains(&"*".to_string()) || rule.resources.contains(&"*".to_string());
            assert!(!wildcard || c == "controller-manager", "{c}: {rule:?}");
            for verb in ["*", "escalate", "bind", "impersonate"] {
                assert!(!rule.verbs.iter().any(|v| v == verb), "{c}: {rule:?}");
            }
        }
    }
}

#[test]
fn custom_values_reach_every_object() {
    let objects = render(Some(CUSTOM_VALUES));
    let ns = "capstan-system";
    let kinds: BTreeMap<String, usize> = objects.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o["kind"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        m
    });
    // No scheduler: its Deployment, ConfigMap, account and roles are gone.
    assert!(
        !inventory(&objects)
            .iter()
            .any(|(_, _, name)| name.contains("scheduler")),
        "scheduler.enabled=false renders no scheduler object"
    );
    assert_eq!(kinds.get("Deployment"), Some(&2));
    assert_eq!(kinds.get("ConfigMap"), None);
    let image = "registry.example.com/capstan:v9.9.9";

    // The controller-manager: 3 replicas, no garbage collector, namespace or resource
    // quota controller, so no wildcard rule.
    let cm = find(&objects, "Deployment", "cp-controller-manager");
    assert_eq!(cm["spec"]["replicas"], 3);
    let spec = &cm["spec"]["template"]["spec"];
    let args = check_workload(spec, "controller-manager", image);
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "Never");
    assert_eq!(
        spec["containers"][0]["env"],
        json!([{"name": "RUST_LOG", "value": "debug"}])
    );
    assert_eq!(
        flag(&args, "controllers"),
        Some("*,-garbagecollector,-namespace,-resourcequota")
    );
    assert_known_controllers(&args);
    assert_eq!(flag(&args, "concurrent-replicaset-syncs"), Some("10"));
    assert_eq!(flag(&args, "kube-api-qps"), Some("50.5"));
    assert_eq!(flag(&args, "leader-elect-lease-duration"), Some("30s"));
    assert_eq!(flag(&args, "leader-elect-retry-period"), Some("4s"));
    assert_eq!(
        spec["nodeSelector"],
        json!({"node-role.kubernetes.io/control-plane": ""})
    );
    assert_eq!(
        spec["tolerations"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    let role = rules(cluster_role_of(&objects, cm));
    let enabled = enabled_controllers(&args);
    let names: Vec<&str> = enabled.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "replicaset-controller",
            "replicationcontroller-controller",
            "deployment-controller",
            "daemonset-controller",
            "job-controller",
            "cronjob-controller",
            "ttl-after-finished-controller",
            "statefulset-controller",
            "persistentvolumeclaim-protection-controller",
            "persistentvolume-protection-controller",
            "endpoints-controller",
            "endpointslice-controller",
            "serviceaccount-controller",
            "taint-eviction-controller",
            "node-lifecycle-controller",
            "disruption-controller"
        ]
    );
    assert_grants_exactly(&role, &enabled);
    assert!(
        role.iter().all(|r| !r.resources.contains(&"*".to_string())),
        "without the discovery-driven controllers no wildcard: {role:?}"
    );
    assert!(!allows(&role, "", "configmaps", "delete"));
    assert!(!allows(&role, "", "namespaces/finalize", "update"));
    assert_lease_access(
        &objects,
        "cp-controller-manager",
        ns,
        "kube-system",
        "cp-controller-manager",
    );

    // The bootstrap Pod runs exactly the Deployment's pod.
    let bootstrap = find(&objects, "Pod", "cp-controller-manager-bootstrap");
    assert_eq!(bootstrap["metadata"]["namespace"], ns);
    assert_eq!(bootstrap["spec"], *spec);

    // The node agent: no taint, its own flags, extraArgs last (they win).
    let agent = find(&objects, "Deployment", "cp-node-agent");
    assert_eq!(agent["spec"]["replicas"], 2);
    let args = check_workload(&agent["spec"]["template"]["spec"], "node-agent", image);
    assert!(!args.iter().any(|a| a == "--virtual-taint"));
    assert_eq!(flag(&args, "time-scale"), Some("0.1"));
    assert_eq!(flag(&args, "pod-workers"), Some("16"));
    assert_eq!(
        flag(&args, "leader-elect-resource-namespace"),
        Some("kube-system")
    );
    assert_lease_access(
        &objects,
        "cp-node-agent",
        ns,
        "kube-system",
        "cp-node-agent",
    );

    // The example pool is a NodePool the agent's types accept.
    let pool = find(&objects, "NodePool", "kind-pool");
    let typed: capstan_node_agent::NodePool =
        serde_json::from_value(pool.clone()).expect("a valid NodePool");
    assert_eq!(typed.spec.nodes, 5);
    assert_eq!(typed.spec.runtime, capstan_node_agent::NodeRuntime::Process);
    assert_eq!(
        typed.spec.labels.get("tier").map(String::as_str),
        Some("virtual")
    );
}

/// Each controller alone (by alias) gets exactly its own rules, and `*,-<alias>` (one
/// comma list in one entry) exactly the others'; with none, the ClusterRole is empty.
#[test]
fn the_cluster_role_follows_the_controllers_selection() {
    let role_for = |controllers: &str| {
        let objects = render(Some(&format!(
            "controllerManager:\n  controllers: [{controllers:?}]\n"
        )));
        let cm = find(&objects, "Deployment", "capstan-controller-manager");
        let args = strings(&cm["spec"]["template"]["spec"]["containers"][0]["args"]);
        assert_capstan_accepts(&args);
        (
            rules(cluster_role_of(&objects, cm)),
            enabled_controllers(&args),
        )
    };
    for c in CONTROLLERS {
        let (role, enabled) = role_for(c.alias);
        assert_eq!(enabled.len(), 1, "{}", c.alias);
        assert_eq!(enabled[0].name, c.name);
        assert_grants_exactly(&role, &enabled);
        let (role, enabled) = role_for(&format!("*,-{}", c.alias));
        assert!(enabled.iter().all(|e| e.name != c.name), "{}", c.alias);
        let others_on_by_default = CONTROLLERS
            .iter()
            .filter(|d| d.enabled_by_default && d.name != c.name)
            .count();
        assert_eq!(enabled.len(), others_on_by_default);
        assert_grants_exactly(&role, &enabled);
    }
    let all_off: Vec<String> = CONTROLLERS.iter().map(|c| format!("-{}", c.name)).collect();
    let (role, enabled) = role_for(&format!("*,{}", all_off.join(",")));
    assert!(enabled.is_empty());
    assert!(role.is_empty(), "{role:?}");
}

/// The chart's controller list is what `capstan controllers` prints from the table.
#[test]
fn the_charts_controller_list_is_the_tables() {
    let out = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .arg("controllers")
        .output()
        .expect("run capstan controllers");
    assert!(out.status.success(), "{out:?}");
    let in_chart =
        std::fs::read_to_string(repo_root().join("charts/capstan/files/controllers.yaml"))
            .expect("the chart's controller list");
    assert!(
        in_chart == String::from_utf8_lossy(&out.stdout),
        "charts/capstan/files/controllers.yaml is stale: run \
         `cargo run -p capstan -- controllers --out charts/capstan/files/controllers.yaml`"
    );
}

/// The kind cluster of the e2e suite (`e2e/kind/cluster.yaml`) turns off, in its own
/// kube-controller-manager, every controller capstan's chart runs there (those on by
/// default), so no two controllers fight over the same objects; the ones capstan
/// leaves to the cluster (off by default) kind keeps.
#[test]
fn the_kind_cluster_leaves_every_capstan_controller_to_capstan() {
    let text = std::fs::read_to_string(repo_root().join("e2e/kind/cluster.yaml"))
        .expect("e2e/kind/cluster.yaml");
    let cluster: Value = serde_yaml::from_str(&text).expect("cluster.yaml parses");
    let patch: Value = serde_yaml::from_str(
        cluster["nodes"][0]["kubeadmConfigPatches"][0]
            .as_str()
            .expect("a kubeadm patch"),
    )
    .expect("the patch parses");
    let list = patch["controllerManager"]["extraArgs"]["controllers"]
        .as_str()
        .expect("kube-controller-manager's --controllers");
    let entries: Vec<&str> = list.split(',').collect();
    assert_eq!(entries.first(), Some(&"*"), "{list}");
    for c in CONTROLLERS {
        assert_eq!(
            entries.contains(&format!("-{}", c.name).as_str()),
            c.enabled_by_default,
            "kind's kube-controller-manager must run {} exactly when capstan does not: {list}",
            c.name
        );
    }
}

/// `helm install` into the embedded API server: the CRD, the RBAC objects, the
/// Deployments and the example NodePool are all accepted (validation included), and the
/// release notes render.
#[tokio::test]
async fn helm_install_into_the_embedded_api_server() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
    use kube::Api;

    let server = capstan_apiserver::TestServer::start()
        .await
        .expect("server");
    let client = server.client().await;
    let kubeconfig = server.kubeconfig_path().to_string_lossy().into_owned();
    let chart = chart_dir();
    let home = server.dir().join("helm-home");
    let out = tokio::task::spawn_blocking(move || {
        helm(
            &[
                "install",
                "capstan",
                &chart,
                "--kubeconfig",
                &kubeconfig,
                "--namespace",
                "capstan-system",
                "--create-namespace",
                "--set",
                "nodePool.create=true",
                "--set",
                "controllerManager.bootstrapPod=true",
            ],
            &home,
        )
    })
    .await
    .expect("helm task");
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(
        out.contains("kubectl get nodepool default"),
        "the notes say how to look at the pool: {out}"
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "capstan-system");
    let mut names: Vec<_> = deployments
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "capstan-controller-manager",
            "capstan-node-agent",
            "capstan-scheduler"
        ]
    );
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let agent = roles.get("capstan-node-agent").await.expect("ClusterRole");
    assert!(agent.rules.unwrap_or_default().len() > 3);
    let node_lease_roles: Api<Role> = Api::namespaced(client.clone(), "kube-node-lease");
    node_lease_roles
        .get("capstan-node-agent")
        .await
        .expect("Role in kube-node-lease");
    let pools: Api<capstan_node_agent::NodePool> = Api::all(client.clone());
    let pool = pools.get("default").await.expect("the example NodePool");
    assert_eq!(pool.spec.nodes, 3);
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), "capstan-system");
    pods.get("capstan-controller-manager-bootstrap")
        .await
        .expect("the bootstrap Pod");
}
