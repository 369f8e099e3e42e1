//! Parsing request paths into what they name: discovery and health endpoints, or a
//! resource collection, object or subresource (namespaced or cluster-scoped).

/// A resource path: `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]` or the same
/// under `/apis/{group}/{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource segment.
    pub sub: Option<String>,
    /// The deprecated `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz` and their sub-checks.
    Health,
    /// `/api`.
    LegacyVersions,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`.
    ResourceList(String, String),
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Index,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`.
    OpenApiV3(String, String),
    /// A resource.
    Resource(ResourcePath),
    /// `/api/v1/nodes/{name}/proxy[/{path}]`: passed to the node's kubelet.
    NodeProxy {
        /// The node.
        node: String,
        /// The path on the kubelet (without its leading `/`).
        path: String,
    },
    /// Nothing served.
    NotFound,
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let mut rest = rest;
    let mut watch_prefix = false;
    if rest.first() == Some(&"watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    let (namespace, rest) = if rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if rest.is_empty() || rest.len() > 3 || rest.iter().any(|s| s.is_empty()) {
        return Route::NotFound;
    }
    Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        plural: rest[0].to_string(),
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
        watch_prefix,
    })
}

/// Parses a request path.
pub fn parse(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    if let ["api", "v1", "nodes", node, "proxy", ..] = segs.as_slice()
        && !node.is_empty()
    {
        // The kubelet path keeps its trailing slash, as upstream's proxy does.
        let prefix = format!("/api/v1/nodes/{node}/proxy");
        let rest = path.strip_prefix(&prefix).unwrap_or("");
        return Route::NodeProxy {
            node: node.to_string(),
            path: rest.trim_start_matches('/').to_string(),
        };
    }
    match segs.as_slice() {
        ["version"] => Route::Version,
        [h, ..] if matches!(*h, "healthz" | "livez" | "readyz") => Route::Health,
        ["api"] => Route::LegacyVersions,
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["api", "v1"] => Route::ResourceList(String::new(), "v1".into()),
        ["apis", g, v] => Route::ResourceList(g.to_string(), v.to_string()),
        ["api", "v1", rest @ ..] => resource("", "v1", rest),
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", "v1"] => Route::OpenApiV3(String::new(), "v1".into()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3(g.to_string(), v.to_string()),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(r: Route) -> ResourcePath {
        match r {
            Route::Resource(p) => p,
            other => panic!("not a resource: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let p = res(parse("/api/v1/namespaces/default/pods/x/status"));
        assert_eq!(p.namespace.as_deref(), Some("default"));
        assert_eq!(p.plural, "pods");
        assert_eq!(p.name.as_deref(), Some("x"));
        assert_eq!(p.sub.as_deref(), Some("status"));
        let p = res(parse("/api/v1/namespaces/default"));
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let p = res(parse("/api/v1/namespaces/default/finalize"));
        assert_eq!(p.sub.as_deref(), Some("finalize"));
        assert!(p.namespace.is_none());
        let p = res(parse("/apis/apps/v1/deployments"));
        assert_eq!((p.group.as_str(), p.namespace.clone()), ("apps", None));
        let p = res(parse("/api/v1/watch/namespaces/d/pods"));
        assert!(p.watch_prefix);
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::ResourceList("apps".into(), "v1".into())
        );
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3("apps".into(), "v1".into())
        );
        assert_eq!(parse("/readyz/ping"), Route::Health);
        assert_eq!(parse("/nope"), Route::NotFound);
        assert_eq!(
            parse("/api/v1/nodes/n1/proxy/pods"),
            Route::NodeProxy {
                node: "n1".into(),
                path: "pods".into()
            }
        );
        assert_eq!(
            parse("/api/v1/nodes/n1/proxy"),
            Route::NodeProxy {
                node: "n1".into(),
                path: String::new()
            }
        );
    }
}
