//! `ServiceAccount` (upstream's `plugin/pkg/admission/serviceaccount`): a new pod runs as
//! `spec.serviceAccountName` (`default` when it names none), which must exist; unless
//! the pod or its account turn `automountServiceAccountToken` off, every container and
//! init container (not ephemeral ones) gets the account's token, CA and namespace
//! mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` from a projected
//! `kube-api-access-<5 chars>` volume; a pod naming no image pull secrets takes its
//! account's; an account annotated `kubernetes.io/enforce-mountable-secrets: "true"`
//! limits the secrets the pod may use to those the account lists. Mirror pods are left
//! alone but may not name an account, use secrets or project tokens.
//!
//! capstan has no controller creating each namespace's `default` account yet: until the
//! server is told accounts are managed ([`crate::serviceaccount::ServiceAccountSettings`]),
//! a missing account is refused only when the pod names it explicitly and it is not
//! `default`.

use serde_json::{Value, json};

use super::forbidden;
use crate::json::{array_at, at, str_at};
use crate::ops::Cluster;
use crate::ops::meta::{generated_name, meta_str};
use crate::serviceaccount::DEFAULT_SERVICE_ACCOUNT;
use crate::serviceaccount::token_request::PROJECTED_EXPIRATION_SECONDS;
use crate::status::ApiError;
use crate::storage::ResourceKey;
use crate::validation::pod::MIRROR_POD_ANNOTATION;

/// Where the token, CA and namespace are mounted in containers.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The name prefix of the projected volume.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// The account annotation that limits a pod's secrets to those the account lists.
pub const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";
/// The ConfigMap every namespace has with the cluster's CA (`ca.crt`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// `ProjectedVolumeSourceDefaultMode` (0644), written explicitly as upstream does.
const PROJECTED_DEFAULT_MODE: i64 = 0o644;

/// Admits a pod being created; see the module docs.
pub(super) fn admit(cluster: &Cluster, pod: &mut Value) -> Result<(), ApiError> {
    if is_mirror(pod) {
        return check_mirror(pod).map_err(|why| forbidden("", "pods", pod, why));
    }
    let name = match str_at(pod, &["spec", "serviceAccountName"]) {
        "" => DEFAULT_SERVICE_ACCOUNT.to_string(),
        n => n.to_string(),
    };
    set_account(pod, &name);
    let account = account(cluster, pod, &name)?;
    if should_automount(pod, account.as_ref()) {
        mount_token(pod, &generated_name(VOLUME_PREFIX));
    }
    if let Some(sa) = &account {
        copy_image_pull_secrets(pod, sa);
        if enforces_mountable_secrets(sa) {
            limit_secret_references(sa, pod).map_err(|why| forbidden("", "pods", pod, &why))?;
        }
    }
    Ok(())
}

/// The account of a pod whose ephemeral containers are being changed, read from the
/// store before the write takes the store's lock (the check runs under it).
#[derive(Debug)]
pub struct EphemeralContainersCheck {
    /// The account, `None` when it is missing and that is allowed, or why a missing
    /// account refuses the write.
    account: Result<Option<Value>, String>,
}

impl EphemeralContainersCheck {
    /// Reads the account of the stored pod `ns/name` (none for a pod naming none).
    pub(super) fn load(cluster: &Cluster, ns: &str, name: &str) -> Result<Self, ApiError> {
        let pod = cluster
            .store
            .get(&ResourceKey::new("", "pods"), ns, name)
            .ok_or_else(|| ApiError::not_found("", "pods", name))?
            .value()?;
        let account = match str_at(&pod, &["spec", "serviceAccountName"]) {
            "" => Ok(None),
            sa => lookup(cluster, ns, sa)?,
        };
        Ok(EphemeralContainersCheck { account })
    }

    /// Upstream's check of a write through `pods/ephemeralcontainers`: the pod names an
    /// account that exists, and when the account enforces mountable secrets, the
    /// ephemeral containers use only those.
    pub(super) fn admit(&self, pod: &Value) -> Result<(), ApiError> {
        if str_at(pod, &["spec", "serviceAccountName"]).is_empty() {
            let why = format!(
                "no service account specified for pod {}/{}",
                meta_str(pod, "namespace").unwrap_or(""),
                meta_str(pod, "name").unwrap_or("")
            );
            return Err(forbidden("", "pods", pod, &why));
        }
        let sa = match &self.account {
            Err(why) => return Err(forbidden("", "pods", pod, why)),
            Ok(None) => return Ok(()),
            Ok(Some(sa)) => sa,
        };
        if enforces_mountable_secrets(sa) {
            let allowed = secret_names(sa, "secrets");
            for c in array_at(pod, &["spec", "ephemeralContainers"]) {
                if let Some(why) = container_secret_refusal(c, "ephemeral container", &allowed, sa)
                {
                    return Err(forbidden("", "pods", pod, &why));
                }
            }
        }
        Ok(())
    }
}

/// The pod's account from the store; a missing one refuses the pod.
fn account(cluster: &Cluster, pod: &Value, name: &str) -> Result<Option<Value>, ApiError> {
    let ns = meta_str(pod, "namespace").unwrap_or("");
    lookup(cluster, ns, name)?.map_err(|why| forbidden("", "pods", pod, &why))
}

/// The account `ns/name`: `Ok(None)` when it is missing and that is allowed (accounts
/// not managed, and it is `default`), the refusal upstream gives otherwise.
fn lookup(
    cluster: &Cluster,
    ns: &str,
    name: &str,
) -> Result<Result<Option<Value>, String>, ApiError> {
    let key = ResourceKey::new("", "serviceaccounts");
    Ok(match cluster.store.get(&key, ns, name) {
        Some(sa) => Ok(Some(sa.value()?)),
        None if cluster.service_accounts.managed || name != DEFAULT_SERVICE_ACCOUNT => {
            Err(format!(
                "error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
            ))
        }
        None => Ok(None),
    })
}

/// `spec.serviceAccountName` and the deprecated `spec.serviceAccount` (which v1's
/// conversion keeps equal to it).
fn set_account(pod: &mut Value, name: &str) {
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("serviceAccountName".into(), json!(name));
        spec.insert("serviceAccount".into(), json!(name));
    }
}

fn is_mirror(pod: &Value) -> bool {
    at(pod, &["metadata", "annotations", MIRROR_POD_ANNOTATION]).is_string()
}

/// What a mirror pod may not do: name an account, use a secret, project a token.
fn check_mirror(pod: &Value) -> Result<(), &'static str> {
    if !str_at(pod, &["spec", "serviceAccountName"]).is_empty() {
        return Err("a mirror pod may not reference service accounts");
    }
    if references_secrets(pod) {
        return Err("a mirror pod may not reference secrets");
    }
    let projects_token = array_at(pod, &["spec", "volumes"]).iter().any(|v| {
        array_at(v, &["projected", "sources"])
            .iter()
            .any(|s| s.get("serviceAccountToken").is_some_and(|t| !t.is_null()))
    });
    if projects_token {
        return Err("a mirror pod may not use ServiceAccountToken volume projections");
    }
    Ok(())
}

/// The pod's containers of every kind.
fn all_containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |f| array_at(pod, &["spec", f]))
}

/// Whether the pod uses any secret (`podutil.VisitPodSecretNames` over all
/// containers): pull secrets, env and envFrom references, and the volume sources that
/// name a secret.
fn references_secrets(pod: &Value) -> bool {
    let named = |v: &Value, path: &[&str]| !str_at(v, path).is_empty();
    if !array_at(pod, &["spec", "imagePullSecrets"]).is_empty() {
        return true;
    }
    let in_containers = all_containers(pod).any(|c| {
        array_at(c, &["envFrom"])
            .iter()
            .any(|e| named(e, &["secretRef", "name"]))
            || array_at(c, &["env"])
                .iter()
                .any(|e| named(e, &["valueFrom", "secretKeyRef", "name"]))
    });
    let in_volumes = array_at(pod, &["spec", "volumes"]).iter().any(|v| {
        named(v, &["secret", "secretName"])
            || named(v, &["azureFile", "secretName"])
            || named(v, &["csi", "nodePublishSecretRef", "name"])
            || [
                "cephfs",
                "cinder",
                "flexVolume",
                "rbd",
                "scaleIO",
                "iscsi",
                "storageos",
            ]
            .iter()
            .any(|source| named(v, &[source, "secretRef", "name"]))
            || array_at(v, &["projected", "sources"])
                .iter()
                .any(|s| named(s, &["secret", "name"]))
    });
    in_containers || in_volumes
}

/// `shouldAutomount`: the pod's preference, else the account's, else yes.
fn should_automount(pod: &Value, account: Option<&Value>) -> bool {
    let pref = |v: &Value, path: &[&str]| at(v, path).as_bool();
    pref(pod, &["spec", "automountServiceAccountToken"])
        .or_else(|| account.and_then(|sa| pref(sa, &["automountServiceAccountToken"])))
        .unwrap_or(true)
}

/// The projected volume of the token (3607 seconds, marking it for the extended
/// expiry), the cluster CA and the pod's namespace.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": PROJECTED_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": PROJECTED_DEFAULT_MODE,
        },
    })
}

/// `mountServiceAccountToken`: every init container and container that mounts nothing
/// at [`MOUNT_PATH`] mounts the token volume there (an existing `kube-api-access-*`
/// volume, else one named `volume_name`, added when some container needs it).
fn mount_token(pod: &mut Value, volume_name: &str) {
    let existing = array_at(pod, &["spec", "volumes"])
        .iter()
        .map(|v| str_at(v, &["name"]))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let name = existing.clone().unwrap_or_else(|| volume_name.to_string());
    let mount = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut needs_volume = false;
    for field in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let mounted = array_at(c, &["volumeMounts"])
                .iter()
                .any(|m| str_at(m, &["mountPath"]) == MOUNT_PATH);
            if mounted {
                continue;
            }
            let Some(c) = c.as_object_mut() else {
                continue;
            };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if !mounts.is_array() {
                *mounts = json!([]);
            }
            if let Some(list) = mounts.as_array_mut() {
                list.push(mount.clone());
                needs_volume = true;
            }
        }
    }
    if existing.is_none() && needs_volume {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if !volumes.is_array() {
            *volumes = json!([]);
        }
        if let Some(list) = volumes.as_array_mut() {
            list.push(token_volume(&name));
        }
    }
}

/// A pod naming no image pull secrets takes its account's (by name).
fn copy_image_pull_secrets(pod: &mut Value, account: &Value) {
    if !array_at(pod, &["spec", "imagePullSecrets"]).is_empty() {
        return;
    }
    let secrets: Vec<Value> = array_at(account, &["imagePullSecrets"])
        .iter()
        .map(|s| json!({"name": str_at(s, &["name"])}))
        .collect();
    if secrets.is_empty() {
        return;
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("imagePullSecrets".into(), Value::Array(secrets));
    }
}

/// Whether the account says its pods may use only the secrets it lists
/// (`strconv.ParseBool` of the annotation).
fn enforces_mountable_secrets(account: &Value) -> bool {
    matches!(
        str_at(
            account,
            &["metadata", "annotations", ENFORCE_MOUNTABLE_SECRETS]
        ),
        "1" | "t" | "T" | "true" | "TRUE" | "True"
    )
}

/// The names an account lists under `field` (`secrets`, `imagePullSecrets`).
fn secret_names<'a>(account: &'a Value, field: &str) -> Vec<&'a str> {
    array_at(account, &[field])
        .iter()
        .map(|s| str_at(s, &["name"]))
        .collect()
}

/// Why a container (`what`: "container", "init container", "ephemeral container") may
/// not use the secrets it references, if it may not.
fn container_secret_refusal(
    c: &Value,
    what: &str,
    allowed: &[&str],
    account: &Value,
) -> Option<String> {
    let cname = str_at(c, &["name"]);
    let sa = meta_str(account, "name").unwrap_or("");
    for e in array_at(c, &["env"]) {
        let secret = str_at(e, &["valueFrom", "secretKeyRef", "name"]);
        if at(e, &["valueFrom", "secretKeyRef"]).is_object() && !allowed.contains(&secret) {
            return Some(format!(
                "{what} {cname} with envVar {} referencing secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret",
                str_at(e, &["name"])
            ));
        }
    }
    for e in array_at(c, &["envFrom"]) {
        let secret = str_at(e, &["secretRef", "name"]);
        if at(e, &["secretRef"]).is_object() && !allowed.contains(&secret) {
            return Some(format!(
                "{what} {cname} with envFrom referencing secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret"
            ));
        }
    }
    None
}

/// `limitSecretReferences`: the pod's secret volumes, its init containers' and
/// containers' env references, and its pull secrets must all be listed by the account.
fn limit_secret_references(account: &Value, pod: &Value) -> Result<(), String> {
    let sa = meta_str(account, "name").unwrap_or("");
    let allowed = secret_names(account, "secrets");
    for v in array_at(pod, &["spec", "volumes"]) {
        if !at(v, &["secret"]).is_object() {
            continue;
        }
        let secret = str_at(v, &["secret", "secretName"]);
        if !allowed.contains(&secret) {
            return Err(format!(
                "volume with secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret"
            ));
        }
    }
    for (field, what) in [
        ("initContainers", "init container"),
        ("containers", "container"),
    ] {
        for c in array_at(pod, &["spec", field]) {
            if let Some(why) = container_secret_refusal(c, what, &allowed, account) {
                return Err(why);
            }
        }
    }
    let pull = secret_names(account, "imagePullSecrets");
    for (i, s) in array_at(pod, &["spec", "imagePullSecrets"])
        .iter()
        .enumerate()
    {
        let name = str_at(s, &["name"]);
        if !pull.contains(&name) {
            return Err(format!(
                "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {sa} does not reference that imagePullSecret"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    fn mount(name: &str) -> Value {
        json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH})
    }

    #[test]
    fn every_container_but_ephemeral_ones_mounts_the_token() {
        let mut p = pod(json!({
            "initContainers": [{"name": "init", "image": "i"}],
            "containers": [
                {"name": "a", "image": "a"},
                {"name": "own", "image": "b", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]},
            ],
            "ephemeralContainers": [{"name": "debug", "image": "d"}],
            "volumes": [{"name": "mine", "emptyDir": {}}],
        }));
        mount_token(&mut p, "kube-api-access-abcde");
        assert_eq!(
            p["spec"]["initContainers"][0]["volumeMounts"],
            json!([mount("kube-api-access-abcde")])
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"],
            json!([mount("kube-api-access-abcde")])
        );
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"],
            json!([{"name": "mine", "mountPath": MOUNT_PATH}])
        );
        assert!(
            p["spec"]["ephemeralContainers"][0]
                .get("volumeMounts")
                .is_none()
        );
        assert_eq!(
            p["spec"]["volumes"],
            json!([{"name": "mine", "emptyDir": {}}, {
                "name": "kube-api-access-abcde",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                    ],
                    "defaultMode": 420,
                },
            }])
        );
    }

    #[test]
    fn an_existing_token_volume_is_reused_and_none_is_added_when_nothing_needs_it() {
        let mut p = pod(json!({
            "containers": [{"name": "a", "image": "a"}],
            "volumes": [{"name": "kube-api-access-xyz12", "emptyDir": {}}],
        }));
        mount_token(&mut p, "kube-api-access-new00");
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"],
            json!([mount("kube-api-access-xyz12")])
        );
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
        let mut all_mounted = pod(json!({"containers": [
            {"name": "a", "image": "a", "volumeMounts": [{"name": "v", "mountPath": MOUNT_PATH}]}]}));
        mount_token(&mut all_mounted, "kube-api-access-new00");
        assert!(all_mounted["spec"].get("volumes").is_none());
    }

    #[test]
    fn automount_follows_the_pod_then_the_account() {
        let sa = |v: Option<bool>| match v {
            Some(b) => json!({"automountServiceAccountToken": b}),
            None => json!({}),
        };
        let p = |v: Option<bool>| match v {
            Some(b) => pod(json!({"automountServiceAccountToken": b})),
            None => pod(json!({})),
        };
        for (pod_pref, sa_pref, account_found, want) in [
            (None, None, true, true),
            (None, None, false, true),
            (None, Some(false), true, false),
            (Some(true), Some(false), true, true),
            (Some(false), Some(true), true, false),
            (Some(false), None, false, false),
        ] {
            let account = account_found.then(|| sa(sa_pref));
            assert_eq!(
                should_automount(&p(pod_pref), account.as_ref()),
                want,
                "{pod_pref:?} {sa_pref:?} {account_found}"
            );
        }
    }

    #[test]
    fn mirror_pods_may_not_use_accounts_secrets_or_token_projections() {
        let mirror = |spec: Value| json!({"metadata": {"name": "m", "annotations": {MIRROR_POD_ANNOTATION: "x"}}, "spec": spec});
        let c = json!([{"name": "a", "image": "a"}]);
        assert!(is_mirror(&mirror(json!({}))));
        assert_eq!(check_mirror(&mirror(json!({"containers": c}))), Ok(()));
        assert_eq!(
            check_mirror(&mirror(json!({"serviceAccountName": "x", "containers": c}))),
            Err("a mirror pod may not reference service accounts")
        );
        for spec in [
            json!({"volumes": [{"name": "s", "secret": {"secretName": "s"}}]}),
            json!({"volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "s"}}]}}]}),
            json!({"volumes": [{"name": "s", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "s"}}}]}),
            json!({"imagePullSecrets": [{"name": "s"}]}),
            json!({"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}]}),
            json!({"ephemeralContainers": [{"name": "e", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}),
        ] {
            assert_eq!(
                check_mirror(&mirror(spec.clone())),
                Err("a mirror pod may not reference secrets"),
                "{spec}"
            );
        }
        let token = json!({"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]});
        assert_eq!(
            check_mirror(&mirror(token)),
            Err("a mirror pod may not use ServiceAccountToken volume projections")
        );
        // ConfigMap volumes are fine: only secrets and tokens are refused upstream.
        let cm = json!({"volumes": [{"name": "c", "configMap": {"name": "c"}}]});
        assert_eq!(check_mirror(&mirror(cm)), Ok(()));
    }

    #[test]
    fn pods_take_their_accounts_pull_secrets_unless_they_name_some() {
        let sa = json!({"imagePullSecrets": [{"name": "registry"}]});
        let mut p = pod(json!({}));
        copy_image_pull_secrets(&mut p, &sa);
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "registry"}]));
        let mut own = pod(json!({"imagePullSecrets": [{"name": "mine"}]}));
        copy_image_pull_secrets(&mut own, &sa);
        assert_eq!(own["spec"]["imagePullSecrets"], json!([{"name": "mine"}]));
    }

    #[test]
    fn enforced_accounts_limit_secrets_with_upstreams_messages() {
        let sa = json!({"metadata": {"name": "sa", "annotations": {ENFORCE_MOUNTABLE_SECRETS: "true"}},
            "secrets": [{"name": "ok"}], "imagePullSecrets": [{"name": "pull"}]});
        assert!(enforces_mountable_secrets(&sa));
        assert!(!enforces_mountable_secrets(
            &json!({"metadata": {"annotations": {ENFORCE_MOUNTABLE_SECRETS: "yes"}}})
        ));
        let env = |secret: &str| json!([{"name": "E", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]);
        for (spec, want) in [
            (
                json!({"volumes": [{"name": "v", "secret": {"secretName": "ok"}}], "containers": [{"name": "c", "env": env("ok")}], "imagePullSecrets": [{"name": "pull"}]}),
                None,
            ),
            (
                json!({"volumes": [{"name": "v", "secret": {"secretName": "no"}}]}),
                Some(
                    "volume with secret.secretName=\"no\" is not allowed because service account sa does not reference that secret",
                ),
            ),
            (
                json!({"initContainers": [{"name": "i", "env": env("no")}]}),
                Some(
                    "init container i with envVar E referencing secret.secretName=\"no\" is not allowed because service account sa does not reference that secret",
                ),
            ),
            (
                json!({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "no"}}]}]}),
                Some(
                    "container c with envFrom referencing secret.secretName=\"no\" is not allowed because service account sa does not reference that secret",
                ),
            ),
            (
                json!({"imagePullSecrets": [{"name": "pull"}, {"name": "no"}]}),
                Some(
                    "imagePullSecrets[1].name=\"no\" is not allowed because service account sa does not reference that imagePullSecret",
                ),
            ),
        ] {
            assert_eq!(
                limit_secret_references(&sa, &pod(spec.clone()))
                    .err()
                    .as_deref(),
                want,
                "{spec}"
            );
        }
        let debug = json!({"name": "d", "env": env("no")});
        assert_eq!(
            container_secret_refusal(&debug, "ephemeral container", &["ok"], &sa).as_deref(),
            Some(
                "ephemeral container d with envVar E referencing secret.secretName=\"no\" is not allowed because service account sa does not reference that secret"
            )
        );
    }
}
