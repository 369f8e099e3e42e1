//! What a request to the API server does — its verb and resource — decided from its
//! method and URL exactly as the API server's `RequestInfoFactory`
//! (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`) decides it, so that a
//! client-side count matches the server's `apiserver_request_total`.

use http::{Method, Uri};

/// Verbs given by a path segment instead of the method (`/api/v1/watch/pods`, the
/// deprecated watch form, and `proxy`).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of a namespace itself, not resources inside it
/// (`/api/v1/namespaces/ns/status`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// The verb and resource of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection` (or `proxy`); for a request that names no
    /// resource (discovery, `/version`), the method in lower case.
    pub verb: String,
    /// The resource, with its subresource after a `/` (`pods`, `pods/status`,
    /// `deployments/scale`); empty when the request names no resource.
    pub resource: String,
}

impl RequestInfo {
    /// Classifies a request by its method and URI (the path and the query; a relative
    /// URI is enough).
    pub fn of(method: &Method, uri: &Uri) -> Self {
        let parts: Vec<&str> = uri
            .path()
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        match resource_parts(&parts) {
            Some(rest) => Self::resource_request(method, uri.query(), rest),
            None => Self {
                verb: method.as_str().to_ascii_lowercase(),
                resource: String::new(),
            },
        }
    }

    /// `parts` relative to the version (`[namespaces, ns, pods, p, status]`).
    fn resource_request(method: &Method, query: Option<&str>, parts: &[&str]) -> Self {
        let (mut verb, mut parts) = match parts {
            [special, rest @ ..] if SPECIAL_VERBS.contains(special) => (*special, rest),
            _ => (method_verb(method), parts),
        };
        if let ["namespaces", _namespace, rest @ ..] = parts
            && rest
                .first()
                .is_some_and(|next| !NAMESPACE_SUBRESOURCES.contains(next))
        {
            parts = rest;
        }
        let resource = parts.first().copied().unwrap_or_default();
        let name = parts.get(1).copied().unwrap_or_default();
        let subresource = match parts.get(2) {
            Some(sub) if verb != "proxy" => *sub,
            _ => "",
        };
        if name.is_empty() && verb == "get" {
            verb = if watch_requested(query) {
                "watch"
            } else {
                "list"
            };
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection";
        }
        Self {
            verb: verb.to_string(),
            resource: if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            },
        }
    }
}

/// The parts after `/api/<version>` or `/apis/<group>/<version>`, or `None` for a
/// request that names no resource (`/api`, `/apis/apps/v1`, `/version`).
fn resource_parts<'a>(parts: &'a [&'a str]) -> Option<&'a [&'a str]> {
    match parts {
        ["api", _version, rest @ ..] if !rest.is_empty() => Some(rest),
        ["apis", _group, _version, rest @ ..] if !rest.is_empty() => Some(rest),
        _ => None,
    }
}

/// The verb a method stands for before the name and query refine it.
fn method_verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::GET | Method::HEAD => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// Whether the query asks for a watch: the first `watch` value is anything but `0`
/// or `false` (any case), as apimachinery converts a query string to a bool.
fn watch_requested(query: Option<&str>) -> bool {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| match pair.split_once('=') {
            Some(("watch", value)) => Some(value),
            None if pair == "watch" => Some(""),
            _ => None,
        })
        .is_some_and(|value| !(value == "0" || value.eq_ignore_ascii_case("false")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `method url verb resource` a line (`-` for no resource); `#` starts a comment.
    const TABLE: &str = "
        # Named objects, namespaced and cluster-scoped, core and grouped.
        GET     /api/v1/namespaces/ns/pods/p                          get               pods
        HEAD    /api/v1/namespaces/ns/pods/p                          get               pods
        GET     /api/v1/nodes/n1                                      get               nodes
        GET     /apis/apps/v1/namespaces/ns/deployments/d             get               deployments
        PUT     /apis/apps/v1/namespaces/ns/replicasets/r             update            replicasets
        PATCH   /api/v1/nodes/n1                                      patch             nodes
        DELETE  /api/v1/namespaces/ns/pods/p                          delete            pods
        GET     /apis/capstan.dev/v1alpha1/nodepools/p                get               nodepools
        # Collections: list, create, deletecollection.
        GET     /api/v1/namespaces/ns/pods                            list              pods
        GET     /api/v1/pods?labelSelector=app%3Dweb                  list              pods
        GET     /apis/apps/v1/replicasets                             list              replicasets
        POST    /api/v1/namespaces/ns/pods                            create            pods
        POST    /api/v1/namespaces                                    create            namespaces
        DELETE  /api/v1/namespaces/ns/pods                            deletecollection  pods
        DELETE  /api/v1/namespaces/ns/configmaps?labelSelector=a      deletecollection  configmaps
        # Watches: watch=true (or anything but 0/false) on a collection, the /watch/ path.
        GET     /api/v1/namespaces/ns/pods?watch=true&resourceVersion=1  watch          pods
        GET     /apis/apps/v1/deployments?allowWatchBookmarks=true&watch=1  watch       deployments
        GET     /api/v1/pods?watch=false                              list              pods
        GET     /api/v1/pods?watch=0                                  list              pods
        GET     /api/v1/pods?watch=False                              list              pods
        GET     /api/v1/pods?watch                                    watch             pods
        GET     /api/v1/watch/namespaces/ns/pods                      watch             pods
        GET     /api/v1/watch/namespaces/ns/pods/p                    watch             pods
        # A watch parameter on a named get leaves it a get.
        GET     /api/v1/namespaces/ns/pods/p?watch=true               get               pods
        # Subresources.
        PATCH   /api/v1/namespaces/ns/pods/p/status                   patch             pods/status
        PUT     /apis/apps/v1/namespaces/ns/replicasets/r/status      update            replicasets/status
        POST    /api/v1/namespaces/ns/pods/p/binding                  create            pods/binding
        POST    /api/v1/namespaces/ns/pods/p/eviction                 create            pods/eviction
        GET     /apis/apps/v1/namespaces/ns/deployments/d/scale       get               deployments/scale
        PUT     /api/v1/nodes/n1/status                               update            nodes/status
        # A namespace's own subresources, and the namespace itself.
        PUT     /api/v1/namespaces/ns/finalize                        update            namespaces/finalize
        PUT     /api/v1/namespaces/ns/status                          update            namespaces/status
        GET     /api/v1/namespaces/ns                                 get               namespaces
        DELETE  /api/v1/namespaces/ns                                 delete            namespaces
        GET     /api/v1/namespaces                                    list              namespaces
        # Proxy names no subresource.
        GET     /api/v1/proxy/namespaces/ns/pods/p/metrics            proxy             pods
        # Requests that name no resource: the method, lower case.
        GET     /api                                                  get               -
        GET     /api/v1                                               get               -
        GET     /apis/apps/v1                                         get               -
        GET     /version                                              get               -
        GET     /openapi/v2                                           get               -
        POST    /apis                                                 post              -
    ";

    #[test]
    fn urls_map_to_verbs_and_resources_as_the_api_server_maps_them() {
        let rows = TABLE
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let mut checked = 0;
        for row in rows {
            let [method, uri, verb, resource] = row
                .split_whitespace()
                .collect::<Vec<_>>()
                .try_into()
                .unwrap_or_else(|cols| panic!("four columns: {cols:?}"));
            let method: Method = method.parse().expect("method");
            let uri: Uri = uri.parse().expect("uri");
            let want = RequestInfo {
                verb: verb.to_string(),
                resource: resource.trim_start_matches('-').to_string(),
            };
            assert_eq!(RequestInfo::of(&method, &uri), want, "{method} {uri}");
            checked += 1;
        }
        assert_eq!(checked, 42, "every row read");
    }

    #[test]
    fn absolute_uris_classify_like_relative_ones() {
        let uri: Uri = "https://127.0.0.1:6443/api/v1/namespaces/ns/pods/p/status"
            .parse()
            .expect("uri");
        let info = RequestInfo::of(&Method::PATCH, &uri);
        assert_eq!(
            (info.verb.as_str(), info.resource.as_str()),
            ("patch", "pods/status")
        );
    }
}
