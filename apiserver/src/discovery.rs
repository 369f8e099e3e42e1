//! API discovery documents built from the [`Registry`]: the legacy `/api`, `/apis`,
//! `/api/v1` and `/apis/{group}/{version}` documents (which kube-rs `Discovery::run()` and
//! older clients read) and the aggregated `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`
//! (which kubectl 1.27+ asks for first). Shapes follow `k8s.io/apimachinery` `APIVersions`,
//! `APIGroupList`, `APIResourceList` and `k8s.io/api/apidiscovery/v2`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::aggregator::priorities::group_priority;
use crate::kinds::{KindInfo, Registry, Subresource};

/// The content type the server should answer aggregated discovery with, for the
/// `apidiscovery.k8s.io` version the client asked for (`v2` or `v2beta1`).
pub fn aggregated_content_type(version: AggregatedVersion) -> &'static str {
    match version {
        AggregatedVersion::V2 => {
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        }
        AggregatedVersion::V2Beta1 => {
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        }
    }
}

/// The `apidiscovery.k8s.io` versions of the aggregated document. kubectl 1.27–1.29 only
/// ask for `v2beta1`; 1.30+ ask for `v2` first. The two have the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatedVersion {
    /// `apidiscovery.k8s.io/v2`.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`.
    V2Beta1,
}

impl AggregatedVersion {
    /// The `apiVersion` string of documents of this version.
    pub fn api_version(self) -> &'static str {
        match self {
            AggregatedVersion::V2 => "apidiscovery.k8s.io/v2",
            AggregatedVersion::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }
}

/// `/api`: the legacy `APIVersions` document. `server_addr` is the `host:port` clients
/// should use (reported for the `0.0.0.0/0` client CIDR, as kube-apiserver does).
pub fn api_versions(server_addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_addr}
        ]
    })
}

/// `/apis`: the `APIGroupList` of every named group (the core group is not listed), in
/// kube-apiserver's priority order, each with its versions (preferred first).
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = grouped(registry)
        .into_iter()
        .filter(|(group, _)| !group.is_empty())
        .map(|(group, versions)| {
            let version_values: Vec<Value> = versions
                .iter()
                .map(|(v, _)| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            let preferred = version_values.first().cloned().unwrap_or(Value::Null);
            json!({
                "name": group,
                "versions": version_values,
                "preferredVersion": preferred,
            })
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1` (group `""`) or `/apis/{group}/{version}`: the `APIResourceList`, with one
/// entry per resource and one per subresource (`pods/status`, `deployments/scale`, …),
/// sorted by name as kube-apiserver does. `None` when nothing is served there.
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut kinds: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    kinds.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut resources = Vec::new();
    for kind in &kinds {
        resources.push(legacy_resource(kind));
        for sub in sorted_subresources(kind) {
            resources.push(legacy_subresource(kind, sub));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The aggregated discovery document (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`):
/// for `/api` when `legacy` (the core group only), for `/apis` otherwise (every named
/// group in priority order).
pub fn aggregated_discovery(registry: &Registry, legacy: bool) -> Value {
    aggregated_discovery_as(registry, legacy, AggregatedVersion::V2)
}

/// [`aggregated_discovery`] in the requested `apidiscovery.k8s.io` version.
pub fn aggregated_discovery_as(
    registry: &Registry,
    legacy: bool,
    version: AggregatedVersion,
) -> Value {
    let items: Vec<Value> = grouped(registry)
        .into_iter()
        .filter(|(group, _)| group.is_empty() == legacy)
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|(v, kinds)| {
                    let resources: Vec<Value> = kinds.iter().map(aggregated_resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": group, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": items,
    })
}

/// The `storageVersionHash` of a resource stored as `group/version/kind`: the first 8
/// bytes of the SHA-256 of `"<group>/<version>/<kind>"`, base64-encoded, as
/// kube-apiserver's `discovery.StorageVersionHash` computes it.
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// Orders API versions as Kubernetes does (`k8s.io/apimachinery/pkg/version`
/// `CompareKubeAwareVersionStrings`): GA before beta before alpha, higher numbers first,
/// and versions not of the `vN[alpha|betaM]` form last, alphabetically.
/// Returns `Less` when `a` is preferred over `b`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// `(stability, major, minor)` where stability is 2 for GA, 1 beta, 0 alpha; larger is
/// more preferred.
fn parse_kube_version(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits_end == 0 {
        return None;
    }
    let major: u64 = rest[..digits_end].parse().ok()?;
    if major == 0 {
        return None;
    }
    let tail = &rest[digits_end..];
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, num) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n)
    } else {
        return None;
    };
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((stability, major, num.parse().ok()?))
}

type VersionKinds = Vec<(String, Vec<std::sync::Arc<KindInfo>>)>;

/// The registry's kinds as groups (priority order) → versions (preferred first) →
/// kinds (by plural).
fn grouped(registry: &Registry) -> Vec<(String, VersionKinds)> {
    let mut by_group: BTreeMap<String, BTreeMap<String, Vec<std::sync::Arc<KindInfo>>>> =
        BTreeMap::new();
    for kind in registry.all() {
        by_group
            .entry(kind.group.clone())
            .or_default()
            .entry(kind.version.clone())
            .or_default()
            .push(kind);
    }
    let mut groups: Vec<(String, VersionKinds)> = by_group
        .into_iter()
        .map(|(group, versions)| {
            let mut versions: VersionKinds = versions
                .into_iter()
                .map(|(v, mut kinds)| {
                    kinds.sort_by(|a, b| a.plural.cmp(&b.plural));
                    (v, kinds)
                })
                .collect();
            versions.sort_by(|a, b| compare_versions(&a.0, &b.0));
            (group, versions)
        })
        .collect();
    groups.sort_by(|a, b| {
        group_priority(&b.0)
            .cmp(&group_priority(&a.0))
            .then_with(|| a.0.cmp(&b.0))
    });
    groups
}

/// Subresources in URL-name order, as discovery lists them.
fn sorted_subresources(kind: &KindInfo) -> Vec<Subresource> {
    let mut subs = kind.subresources.clone();
    subs.sort_by_key(|s| s.as_str());
    subs.dedup();
    subs
}

/// `(group, version, kind)` a subresource answers with, and its verbs.
fn subresource_shape(
    kind: &KindInfo,
    sub: Subresource,
) -> ((String, String, String), Vec<&'static str>) {
    let update_verbs = vec!["get", "patch", "update"];
    match sub {
        Subresource::Status | Subresource::EphemeralContainers | Subresource::Approval => (
            (kind.group.clone(), kind.version.clone(), kind.kind.clone()),
            update_verbs,
        ),
        Subresource::Scale => (
            ("autoscaling".into(), "v1".into(), "Scale".into()),
            update_verbs,
        ),
        Subresource::Binding => (("".into(), "v1".into(), "Binding".into()), vec!["create"]),
        Subresource::Eviction => (
            ("policy".into(), "v1".into(), "Eviction".into()),
            vec!["create"],
        ),
        Subresource::Token => (
            (
                "authentication.k8s.io".into(),
                "v1".into(),
                "TokenRequest".into(),
            ),
            vec!["create"],
        ),
        Subresource::Log => (
            (kind.group.clone(), kind.version.clone(), kind.kind.clone()),
            vec!["get"],
        ),
        Subresource::Proxy => (
            ("".into(), "v1".into(), "NodeProxyOptions".into()),
            vec!["create", "delete", "get", "patch", "update"],
        ),
        Subresource::Exec => (
            ("".into(), "v1".into(), "PodExecOptions".into()),
            vec!["create", "get"],
        ),
        Subresource::Attach => (
            ("".into(), "v1".into(), "PodAttachOptions".into()),
            vec!["create", "get"],
        ),
        Subresource::PortForward => (
            ("".into(), "v1".into(), "PodPortForwardOptions".into()),
            vec!["create", "get"],
        ),
    }
}

/// A legacy `APIResource` for a kind's main resource.
fn legacy_resource(kind: &KindInfo) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(kind.plural));
    m.insert("singularName".into(), json!(kind.singular));
    m.insert("namespaced".into(), json!(kind.namespaced));
    m.insert("kind".into(), json!(kind.kind));
    m.insert("verbs".into(), json!(kind.verbs()));
    if !kind.short_names.is_empty() {
        m.insert("shortNames".into(), json!(kind.short_names));
    }
    if !kind.categories.is_empty() {
        m.insert("categories".into(), json!(kind.categories));
    }
    // Only stored kinds have a storage version.
    if !kind.read_only() {
        m.insert(
            "storageVersionHash".into(),
            json!(storage_version_hash(
                &kind.group,
                kind.storage_version(),
                &kind.kind
            )),
        );
    }
    Value::Object(m)
}

/// A legacy `APIResource` for `<plural>/<subresource>`; `group`/`version` are given only
/// when they differ from the enclosing group-version, as upstream does.
fn legacy_subresource(kind: &KindInfo, sub: Subresource) -> Value {
    let ((g, v, k), verbs) = subresource_shape(kind, sub);
    let mut m = Map::new();
    m.insert(
        "name".into(),
        json!(format!("{}/{}", kind.plural, sub.as_str())),
    );
    m.insert("singularName".into(), json!(""));
    m.insert("namespaced".into(), json!(kind.namespaced));
    if g != kind.group || v != kind.version {
        m.insert("group".into(), json!(g));
        m.insert("version".into(), json!(v));
    }
    m.insert("kind".into(), json!(k));
    m.insert("verbs".into(), json!(verbs));
    Value::Object(m)
}

/// An aggregated `APIResourceDiscovery` for a kind with its subresources.
fn aggregated_resource(kind: &std::sync::Arc<KindInfo>) -> Value {
    let mut m = Map::new();
    m.insert("resource".into(), json!(kind.plural));
    m.insert(
        "responseKind".into(),
        json!({"group": kind.group, "version": kind.version, "kind": kind.kind}),
    );
    m.insert(
        "scope".into(),
        json!(if kind.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    m.insert("singularResource".into(), json!(kind.singular));
    m.insert("verbs".into(), json!(kind.verbs()));
    if !kind.short_names.is_empty() {
        m.insert("shortNames".into(), json!(kind.short_names));
    }
    if !kind.categories.is_empty() {
        m.insert("categories".into(), json!(kind.categories));
    }
    let subs: Vec<Value> = sorted_subresources(kind)
        .into_iter()
        .map(|sub| {
            let ((g, v, k), verbs) = subresource_shape(kind, sub);
            json!({
                "subresource": sub.as_str(),
                "responseKind": {"group": g, "version": v, "kind": k},
                "verbs": verbs,
            })
        })
        .collect();
    if !subs.is_empty() {
        m.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::CustomKind;
    use crate::kinds::testing::{widget, widget_custom};

    fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    }

    fn crd_kind(version: &str, storage: &str) -> KindInfo {
        let custom = CustomKind {
            storage_version: storage.into(),
            ..widget_custom()
        };
        KindInfo {
            short_names: vec!["wd".into()],
            categories: vec!["all".into()],
            ..widget(version, custom)
        }
    }

    #[test]
    fn storage_version_hash_matches_real_clusters() {
        // Values reported by kube-apiserver v1.2x for these resources.
        assert_eq!(
            storage_version_hash("apps", "v1", "Deployment"),
            "8aSe+NMegvE="
        );
        assert_eq!(storage_version_hash("", "v1", "Pod"), "xPOwRZ+Yhw8=");
        assert_eq!(storage_version_hash("", "v1", "ConfigMap"), "qFsyl6wFWjQ=");
    }

    #[test]
    fn api_versions_reports_v1_and_server_address() {
        let v = api_versions("127.0.0.1:6443");
        assert_eq!(v["kind"], "APIVersions");
        assert_eq!(v["versions"], json!(["v1"]));
        assert_eq!(
            v["serverAddressByClientCIDRs"][0],
            json!({"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"})
        );
    }

    #[test]
    fn group_list_excludes_core_orders_by_priority_and_prefers_ga() {
        let r = Registry::with_builtins();
        r.insert(crd_kind("v1beta1", "v1"));
        r.insert(crd_kind("v1", "v1"));
        r.insert(crd_kind("v2alpha1", "v1"));
        let list = api_group_list(&r);
        assert_eq!(list["kind"], "APIGroupList");
        let names: Vec<&str> = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&""));
        // kube-aggregator lists its own group first, then apiVersionPriorities' order.
        assert_eq!(names[0], "apiregistration.k8s.io");
        assert_eq!(names[1], "apps");
        assert_eq!(names[2], "events.k8s.io");
        assert_eq!(*names.last().unwrap(), "example.com");
        let batch = &list["groups"][names.iter().position(|n| *n == "batch").unwrap()];
        assert_eq!(
            batch["preferredVersion"],
            json!({"groupVersion": "batch/v1", "version": "v1"})
        );
        let example = list["groups"].as_array().unwrap().last().unwrap();
        let versions: Vec<&str> = example["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["v1", "v1beta1", "v2alpha1"]);
        assert_eq!(
            example["preferredVersion"]["groupVersion"],
            "example.com/v1"
        );
    }

    #[test]
    fn version_ordering_is_kube_aware() {
        let mut v = vec![
            "v1alpha1",
            "v11alpha2",
            "foo1",
            "v10",
            "v2",
            "v1",
            "v12alpha1",
            "v1beta2",
            "v11beta2",
            "foo10",
            "v3beta1",
            "v10beta3",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        // The order documented in apiextensions' version priority rules.
        assert_eq!(
            v,
            [
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v10beta3",
                "v3beta1",
                "v1beta2",
                "v12alpha1",
                "v11alpha2",
                "v1alpha1",
                "foo1",
                "foo10"
            ]
        );
    }

    #[test]
    fn core_resource_list_has_pods_and_subresources() {
        let r = Registry::with_builtins();
        let list = api_resource_list(&r, "", "v1").unwrap();
        assert_eq!(list["kind"], "APIResourceList");
        assert_eq!(list["groupVersion"], "v1");
        let pods = find(&list, "pods");
        assert_eq!(pods["singularName"], "pod");
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["kind"], "Pod");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["storageVersionHash"], "xPOwRZ+Yhw8=");
        assert_eq!(
            pods["verbs"],
            json!([
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch"
            ])
        );
        let status = find(&list, "pods/status");
        assert_eq!(status["kind"], "Pod");
        assert_eq!(status["verbs"], json!(["get", "patch", "update"]));
        assert!(status.get("group").is_none());
        let binding = find(&list, "pods/binding");
        assert_eq!(binding["kind"], "Binding");
        assert_eq!(binding["verbs"], json!(["create"]));
        assert!(binding.get("group").is_none());
        let eviction = find(&list, "pods/eviction");
        assert_eq!(eviction["group"], "policy");
        assert_eq!(eviction["version"], "v1");
        assert_eq!(eviction["kind"], "Eviction");
        let ephemeral = find(&list, "pods/ephemeralcontainers");
        assert_eq!(ephemeral["kind"], "Pod");
        assert_eq!(ephemeral["verbs"], json!(["get", "patch", "update"]));
        let token = find(&list, "serviceaccounts/token");
        assert_eq!(
            (&token["group"], &token["version"], &token["kind"]),
            (
                &json!("authentication.k8s.io"),
                &json!("v1"),
                &json!("TokenRequest")
            )
        );
        assert_eq!(token["verbs"], json!(["create"]));
        let ns = find(&list, "namespaces");
        assert_eq!(ns["namespaced"], false);
        assert!(ns.get("categories").is_none());
        // Sorted by name with subresources right after their parent.
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn apps_resource_list_has_scale_as_autoscaling() {
        let r = Registry::with_builtins();
        let list = api_resource_list(&r, "apps", "v1").unwrap();
        assert_eq!(list["groupVersion"], "apps/v1");
        let scale = find(&list, "deployments/scale");
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["version"], "v1");
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
        assert_eq!(find(&list, "deployments")["shortNames"], json!(["deploy"]));
        assert!(api_resource_list(&r, "apps", "v2").is_none());
        assert!(api_resource_list(&r, "nope.io", "v1").is_none());
    }

    #[test]
    fn custom_resource_hash_uses_storage_version() {
        let r = Registry::with_builtins();
        r.insert(crd_kind("v1beta1", "v1"));
        let list = api_resource_list(&r, "example.com", "v1beta1").unwrap();
        assert_eq!(
            find(&list, "widgets")["storageVersionHash"],
            json!(storage_version_hash("example.com", "v1", "Widget"))
        );
    }

    #[test]
    fn aggregated_legacy_document_holds_only_core() {
        let r = Registry::with_builtins();
        let doc = aggregated_discovery(&r, true);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["metadata"].get("name").is_none());
        let v1 = &items[0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        assert_eq!(v1["freshness"], "Current");
        let pods = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        let subs = pods["subresources"].as_array().unwrap();
        let names: Vec<&str> = subs
            .iter()
            .map(|s| s["subresource"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "status"
            ]
        );
        // log
        assert_eq!(
            subs[5]["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(subs[5]["verbs"], json!(["get"]));
        // exec
        assert_eq!(
            subs[4]["responseKind"],
            json!({"group": "", "version": "v1", "kind": "PodExecOptions"})
        );
        assert_eq!(subs[4]["verbs"], json!(["create", "get"]));
        let nodes = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "nodes")
            .unwrap();
        let proxy = nodes["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "proxy")
            .unwrap();
        assert_eq!(
            proxy["responseKind"],
            json!({"group": "", "version": "v1", "kind": "NodeProxyOptions"})
        );
        assert_eq!(
            subs[3]["responseKind"],
            json!({"group": "policy", "version": "v1", "kind": "Eviction"})
        );
        assert_eq!(subs[3]["verbs"], json!(["create"]));
        assert_eq!(
            subs[2]["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(subs[2]["verbs"], json!(["get", "patch", "update"]));
        let nodes = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "nodes")
            .unwrap();
        assert_eq!(nodes["scope"], "Cluster");
    }

    #[test]
    fn aggregated_apis_document_lists_groups_in_priority_order() {
        let r = Registry::with_builtins();
        r.insert(crd_kind("v1", "v1"));
        let doc = aggregated_discovery_as(&r, false, AggregatedVersion::V2Beta1);
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let names: Vec<&str> = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        // kube-aggregator lists its own group first, then apiVersionPriorities' order.
        assert_eq!(names[..2], ["apiregistration.k8s.io", "apps"]);
        assert!(!names.contains(&""));
        assert_eq!(*names.last().unwrap(), "example.com");
        let apps = &doc["items"][1]["versions"][0];
        let deploy = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        let scale = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        let crd = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "apiextensions.k8s.io")
            .unwrap();
        assert_eq!(
            crd["versions"][0]["resources"][0]["categories"],
            json!(["api-extensions"])
        );
    }

    #[test]
    fn legacy_documents_deserialize_into_the_types_kube_rs_uses() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            APIGroupList, APIResourceList, APIVersions,
        };
        let r = Registry::with_builtins();
        r.insert(crd_kind("v1", "v1"));
        let versions: APIVersions = serde_json::from_value(api_versions("127.0.0.1:6443")).unwrap();
        assert_eq!(versions.versions, ["v1"]);
        let groups: APIGroupList = serde_json::from_value(api_group_list(&r)).unwrap();
        let apps = groups.groups.iter().find(|g| g.name == "apps").unwrap();
        assert_eq!(
            apps.preferred_version.as_ref().unwrap().group_version,
            "apps/v1"
        );
        for (g, v) in [
            ("", "v1"),
            ("apps", "v1"),
            ("example.com", "v1"),
            ("policy", "v1"),
        ] {
            let list: APIResourceList =
                serde_json::from_value(api_resource_list(&r, g, v).unwrap()).unwrap();
            assert!(!list.resources.is_empty());
        }
    }

    #[test]
    fn every_aggregated_resource_parses_as_client_go_expects() {
        // client-go's aggregated discovery conversion drops resources without a
        // responseKind and subresources without one: check every entry has it.
        let r = Registry::with_builtins();
        for legacy in [true, false] {
            let doc = aggregated_discovery(&r, legacy);
            for item in doc["items"].as_array().unwrap() {
                for v in item["versions"].as_array().unwrap() {
                    for res in v["resources"].as_array().unwrap() {
                        assert!(res["responseKind"]["kind"].is_string(), "{res}");
                        assert!(res["verbs"].is_array());
                        for s in res["subresources"].as_array().into_iter().flatten() {
                            assert!(s["responseKind"]["kind"].is_string(), "{s}");
                            assert!(s["verbs"].is_array());
                        }
                    }
                }
            }
        }
    }
}
