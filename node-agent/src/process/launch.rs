//! A container spec turned into a command line, an environment and a working directory,
//! as the kubelet builds a container's config: `envFrom` first, then `env` in order
//! (each value may reference earlier variables as `$(NAME)`, `$$` escapes a `$`), then
//! `command` and `args` expanded against the result.
//!
//! Images are ignored: the process runtime behaves as if every image had no
//! `ENTRYPOINT` and no `CMD`, so the command line is `command` + `args` (or `args`
//! alone, which OCI runs as the command when there is no entrypoint); a container with
//! neither cannot start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, Pod, Secret};
use kube::{Api, Client};

/// A container ready to be spawned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The program (looked up in the container's `PATH` when it has no `/`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The whole environment (nothing is inherited from the agent).
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// What the downward API (`fieldRef`) can read of a pod besides its spec.
#[derive(Clone, Copy, Debug)]
pub struct PodAddresses<'a> {
    /// `status.hostIP`.
    pub host_ip: &'a str,
    /// `status.podIP`.
    pub pod_ip: &'a str,
}

/// The variables every process gets before the container's own: `PATH` (the agent's,
/// or the usual default), `HOME` and `HOSTNAME` (the pod's name, as a container's
/// hostname is).
pub fn base_env(pod: &Pod) -> Vec<(String, String)> {
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    let hostname = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    vec![
        ("PATH".into(), path),
        ("HOME".into(), home),
        ("HOSTNAME".into(), hostname),
    ]
}

/// Kubernetes' `$(VAR)` expansion (`third_party/forked/golang/expansion`): `$(NAME)`
/// becomes `lookup(NAME)` or stays as written when undefined, `$$` becomes `$`, any
/// other `$` is kept.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // `$` followed by anything else is literal (char-boundary safe:
                    // the next byte is re-read from the checkpoint).
                    out.push('$');
                    0
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint <= input.len() {
        out.push_str(&input[checkpoint.min(input.len())..]);
    }
    out
}

fn field_value(pod: &Pod, at: PodAddresses<'_>, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_entry = |map: &Option<std::collections::BTreeMap<String, String>>, key: &str| {
        map.as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let map_all = |map: &Option<std::collections::BTreeMap<String, String>>| {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_all(&meta.labels),
        "metadata.annotations" => map_all(&meta.annotations),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => at.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => at.pod_ip.to_string(),
        _ => {
            if let Some(key) = subscript("metadata.labels") {
                map_entry(&meta.labels, key)
            } else if let Some(key) = subscript("metadata.annotations") {
                map_entry(&meta.annotations, key)
            } else {
                return Err(format!("unsupported fieldRef path {path:?}"));
            }
        }
    })
}

/// ConfigMaps and Secrets of the pod's namespace, fetched once per container start.
struct Sources<'a> {
    client: &'a Client,
    namespace: String,
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl Sources<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&ConfigMap>, String> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
            let got = api.get_opt(name).await.map_err(|e| e.to_string())?;
            self.config_maps.insert(name.to_string(), got);
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&Secret>, String> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
            let got = api.get_opt(name).await.map_err(|e| e.to_string())?;
            self.secrets.insert(name.to_string(), got);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

fn secret_text(v: &ByteString) -> String {
    String::from_utf8_lossy(&v.0).into_owned()
}

fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

/// The environment of `container` in `pod`: [`base_env`], then `envFrom`, then `env`
/// (later definitions of a name win). Errors carry the kubelet's messages (`configmap
/// "x" not found`, `couldn't find key k in ConfigMap ns/x`) for
/// `CreateContainerConfigError`.
pub async fn container_env(
    client: &Client,
    pod: &Pod,
    at: PodAddresses<'_>,
    container: &Container,
) -> Result<Vec<(String, String)>, String> {
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut sources = Sources {
        client,
        namespace: namespace.clone(),
        config_maps: HashMap::new(),
        secrets: HashMap::new(),
    };
    let mut env = base_env(pod);
    let mut own: Vec<(String, String)> = Vec::new();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match sources.config_map(&r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        let name = format!("{prefix}{k}");
                        if !name.contains('=') {
                            set(&mut own, name, v.clone());
                        }
                    }
                }
                None if optional => {}
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match sources.secret(&r.name).await? {
                Some(s) => {
                    for (k, v) in s.data.iter().flatten() {
                        let name = format!("{prefix}{k}");
                        if !name.contains('=') {
                            set(&mut own, name, secret_text(v));
                        }
                    }
                }
                None if optional => {}
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = env_value(&mut sources, pod, at, &own, var).await? {
            set(&mut own, var.name.clone(), value);
        }
    }
    for (k, v) in own {
        set(&mut env, k, v);
    }
    Ok(env)
}

async fn env_value(
    sources: &mut Sources<'_>,
    pod: &Pod,
    at: PodAddresses<'_>,
    so_far: &[(String, String)],
    var: &EnvVar,
) -> Result<Option<String>, String> {
    let Some(from) = &var.value_from else {
        let lookup = |name: &str| {
            so_far
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        return Ok(Some(expand(
            var.value.as_deref().unwrap_or_default(),
            lookup,
        )));
    };
    if let Some(f) = &from.field_ref {
        return field_value(pod, at, &f.field_path).map(Some);
    }
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional.unwrap_or(false);
        let ns = sources.namespace.clone();
        return match sources.config_map(&r.name).await? {
            None if optional => Ok(None),
            None => Err(format!("configmap {:?} not found", r.name)),
            Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(format!(
                    "couldn't find key {} in ConfigMap {ns}/{}",
                    r.key, r.name
                )),
            },
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional.unwrap_or(false);
        let ns = sources.namespace.clone();
        return match sources.secret(&r.name).await? {
            None if optional => Ok(None),
            None => Err(format!("secret {:?} not found", r.name)),
            Some(s) => match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => Ok(Some(secret_text(v))),
                None if optional => Ok(None),
                None => Err(format!(
                    "couldn't find key {} in Secret {ns}/{}",
                    r.key, r.name
                )),
            },
        };
    }
    if from.resource_field_ref.is_some() {
        return Err(format!(
            "env var {:?}: resourceFieldRef is not supported by the process runtime",
            var.name
        ));
    }
    Err(format!("env var {:?} has an empty valueFrom", var.name))
}

/// The command line, environment and directory of `container` with environment `env`;
/// `default_cwd` when it names no `workingDir` (a relative one is taken from there).
/// An error when it has neither `command` nor `args` (images are not looked at).
pub fn launch(
    container: &Container,
    env: Vec<(String, String)>,
    default_cwd: &Path,
) -> Result<Launch, String> {
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut line: Vec<String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|s| expand(s, lookup))
        .collect();
    if line.is_empty() {
        return Err(format!(
            "container {:?} has no command: the process runtime ignores images, so a \
             container needs `command` (or `args`) to run",
            container.name
        ));
    }
    let program = line.remove(0);
    let cwd = match container.working_dir.as_deref().filter(|d| !d.is_empty()) {
        Some(dir) => default_cwd.join(dir),
        None => default_cwd.to_path_buf(),
    };
    Ok(Launch {
        program,
        args: line,
        env,
        cwd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVarSource, ObjectFieldSelector, PodSpec};
    use std::collections::BTreeMap;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "B" => Some("$(A)".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion_matches_kubernetes() {
        for (input, want) in [
            ("$(A)", "alpha"),
            ("x-$(A)-y", "x-alpha-y"),
            ("$(B)", "$(A)"),
            ("$(C)", "$(C)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$alpha"),
            ("$A", "$A"),
            ("$(A", "$(A"),
            ("cost: 5$", "cost: 5$"),
            ("", ""),
            ("héllo $(A) ü$", "héllo alpha ü$"),
            ("$é", "$é"),
        ] {
            assert_eq!(expand(input, lookup), want, "expanding {input:?}");
        }
    }

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("prod".into());
        p.metadata.uid = Some("u1".into());
        p.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        p.spec = Some(PodSpec {
            node_name: Some("pool-0".into()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn field_refs_read_the_pod() {
        let at = PodAddresses {
            host_ip: "10.244.0.1",
            pod_ip: "10.244.0.7",
        };
        let p = pod();
        for (path, want) in [
            ("metadata.name", "web"),
            ("metadata.namespace", "prod"),
            ("metadata.uid", "u1"),
            ("metadata.labels['app']", "web"),
            ("metadata.labels", "app=\"web\""),
            ("spec.nodeName", "pool-0"),
            ("status.podIP", "10.244.0.7"),
            ("status.hostIP", "10.244.0.1"),
        ] {
            assert_eq!(field_value(&p, at, path).as_deref(), Ok(want), "{path}");
        }
        assert!(field_value(&p, at, "spec.bogus").is_err());
    }

    #[test]
    fn command_and_args_form_the_line() {
        let env = vec![("PORT".to_string(), "8080".to_string())];
        let c = Container {
            name: "app".into(),
            command: Some(vec!["python3".into()]),
            args: Some(vec!["-m".into(), "http.server".into(), "$(PORT)".into()]),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        let l = launch(&c, env.clone(), Path::new("/tmp/x")).unwrap();
        assert_eq!(l.program, "python3");
        assert_eq!(l.args, ["-m", "http.server", "8080"]);
        assert_eq!(l.cwd, PathBuf::from("/srv"));
        let args_only = Container {
            name: "app".into(),
            args: Some(vec!["sleep".into(), "1".into()]),
            ..Default::default()
        };
        let l = launch(&args_only, env.clone(), Path::new("/tmp/x")).unwrap();
        assert_eq!(
            (l.program.as_str(), l.cwd.as_path()),
            ("sleep", Path::new("/tmp/x"))
        );
        let none = Container {
            name: "app".into(),
            image: Some("nginx".into()),
            ..Default::default()
        };
        let err = launch(&none, env, Path::new("/tmp/x")).unwrap_err();
        assert!(err.contains("\"app\" has no command"), "{err}");
    }

    #[tokio::test]
    async fn literal_env_values_see_earlier_ones() {
        // Exercised without an API server: no valueFrom needs a lookup.
        let c = Container {
            name: "app".into(),
            env: Some(vec![
                EnvVar {
                    name: "A".into(),
                    value: Some("one".into()),
                    ..Default::default()
                },
                EnvVar {
                    name: "B".into(),
                    value: Some("$(A)-two-$(LATER)".into()),
                    ..Default::default()
                },
                EnvVar {
                    name: "LATER".into(),
                    value: Some("x".into()),
                    ..Default::default()
                },
                EnvVar {
                    name: "ME".into(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        // A client that is never called (no configMap or secret references).
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let at = PodAddresses {
            host_ip: "h",
            pod_ip: "p",
        };
        let env = container_env(&client, &pod(), at, &c).await.unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("B"), Some("one-two-$(LATER)"));
        assert_eq!(get("ME"), Some("web"));
        assert_eq!(get("HOSTNAME"), Some("web"));
        assert!(get("PATH").is_some());
    }
}
