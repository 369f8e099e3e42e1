//! The `paths` of a group-version document: each kind's collection, item and
//! subresource operations with the parameters kubectl looks for.

use serde_json::{Map, Value, json};

use crate::kinds::{KindInfo, Subresource};

use super::schemas::{DELETE_OPTIONS, PATCH, STATUS, gvk_ext, reference};

pub(super) fn camel(s: &str) -> String {
    s.split(['.', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

pub(super) fn group_camel(group: &str) -> String {
    if group.is_empty() {
        "Core".into()
    } else {
        camel(group.trim_end_matches(".k8s.io"))
    }
}

pub(super) fn query_param(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description,
           "schema": {"type": type_, "uniqueItems": true}})
}

pub(super) fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true,
           "schema": {"type": "string", "uniqueItems": true}})
}

pub(super) fn dry_run() -> Value {
    query_param(
        "dryRun",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

pub(super) fn field_manager() -> Value {
    query_param(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        "string",
    )
}

pub(super) fn field_validation() -> Value {
    query_param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        "string",
    )
}

pub(super) fn json_content(schema_ref: &str) -> Value {
    let schema = reference(schema_ref);
    json!({
        "application/json": {"schema": schema},
        "application/yaml": {"schema": schema},
        "application/vnd.kubernetes.protobuf": {"schema": schema},
    })
}

pub(super) fn response(schema_ref: &str, codes: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    for (code, desc) in codes {
        r.insert(
            code.to_string(),
            json!({"description": desc, "content": json_content(schema_ref)}),
        );
    }
    r.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(r)
}

pub(super) struct OpSpec<'a> {
    verb: &'a str,
    action: &'a str,
    id: String,
    description: String,
    gvk: Value,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
    tag: &'a str,
}

pub(super) fn operation(op: OpSpec<'_>) -> Value {
    let mut m = Map::new();
    m.insert("tags".into(), json!([op.tag]));
    m.insert("description".into(), json!(op.description));
    m.insert("operationId".into(), json!(op.id));
    if !op.params.is_empty() {
        m.insert("parameters".into(), Value::Array(op.params));
    }
    if let Some(body) = op.body {
        m.insert("requestBody".into(), body);
    }
    m.insert("responses".into(), op.responses);
    m.insert("x-kubernetes-action".into(), json!(op.action));
    m.insert("x-kubernetes-group-version-kind".into(), op.gvk);
    let _ = op.verb;
    Value::Object(m)
}

pub(super) fn body_of(schema_ref: &str) -> Value {
    json!({"content": {"*/*": {"schema": reference(schema_ref)}}, "required": true})
}

pub(super) fn patch_body() -> Value {
    let patch = reference(PATCH);
    json!({"content": {
        "application/apply-patch+yaml": {"schema": patch},
        "application/json-patch+json": {"schema": patch},
        "application/merge-patch+json": {"schema": patch},
    }, "required": true})
}

/// Adds every path of `kind` (collection, item, subresources) to `paths`.
pub(super) fn add_kind_paths(
    paths: &mut Map<String, Value>,
    kind: &KindInfo,
    kind_ref: &str,
    list_ref: &str,
) {
    let (g, v, k) = (
        kind.group.as_str(),
        kind.version.as_str(),
        kind.kind.as_str(),
    );
    let prefix = if g.is_empty() {
        format!("/api/{v}")
    } else {
        format!("/apis/{g}/{v}")
    };
    let tag_owned = format!("{}_{}", group_camel(g).to_lowercase(), v);
    let tag = tag_owned.as_str();
    let ns = if kind.namespaced { "Namespaced" } else { "" };
    let idbase = format!("{}{}", group_camel(g), camel(v));
    let gvk = gvk_ext(g, v, k);
    let (collection, item) = if kind.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", kind.plural),
        )
    } else {
        (
            format!("{prefix}/{}", kind.plural),
            format!("{prefix}/{}/{{name}}", kind.plural),
        )
    };
    let mut scope_params = vec![query_param(
        "pretty",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
        "string",
    )];
    if kind.namespaced {
        scope_params.insert(
            0,
            path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ),
        );
    }
    let list_params = vec![
        query_param(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
            "boolean",
        ),
        query_param(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        ),
        query_param(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        query_param(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        query_param(
            "limit",
            "limit is a maximum number of responses to return for a list call.",
            "integer",
        ),
        query_param(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        ),
        query_param(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
            "string",
        ),
        query_param(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
            "boolean",
        ),
        query_param(
            "timeoutSeconds",
            "Timeout for the list/watch call.",
            "integer",
        ),
        query_param(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
    ];
    let write_params = vec![dry_run(), field_manager(), field_validation()];
    let mut patch_params = write_params.clone();
    patch_params.push(query_param(
        "force",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        "boolean",
    ));
    let delete_params = vec![
        dry_run(),
        query_param(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted.",
            "integer",
        ),
        query_param(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.",
            "string",
        ),
    ];

    let mut coll = Map::new();
    coll.insert(
        "get".into(),
        operation(OpSpec {
            verb: "get",
            action: "list",
            id: format!("list{idbase}{ns}{k}"),
            description: format!("list or watch objects of kind {k}"),
            gvk: gvk.clone(),
            params: list_params.clone(),
            body: None,
            responses: response(list_ref, &[("200", "OK")]),
            tag,
        }),
    );
    coll.insert(
        "post".into(),
        operation(OpSpec {
            verb: "post",
            action: "post",
            id: format!("create{idbase}{ns}{k}"),
            description: format!("create a {k}"),
            gvk: gvk.clone(),
            params: write_params.clone(),
            body: Some(body_of(kind_ref)),
            responses: response(
                kind_ref,
                &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            ),
            tag,
        }),
    );
    coll.insert(
        "delete".into(),
        operation(OpSpec {
            verb: "delete",
            action: "deletecollection",
            id: format!("deletecollection{idbase}{ns}{k}"),
            description: format!("delete collection of {k}"),
            gvk: gvk.clone(),
            params: delete_params.clone(),
            body: Some(json!({"content": {"*/*": {"schema": reference(DELETE_OPTIONS)}}})),
            responses: response(STATUS, &[("200", "OK")]),
            tag,
        }),
    );
    coll.insert("parameters".into(), Value::Array(scope_params.clone()));
    if kind.read_only() {
        coll.retain(|verb, _| matches!(verb.as_str(), "get" | "parameters"));
    }
    paths.insert(collection, Value::Object(coll));

    let mut item_params = vec![path_param("name", &format!("name of the {k}"))];
    item_params.extend(scope_params.iter().cloned());
    let mut it = Map::new();
    it.insert(
        "get".into(),
        operation(OpSpec {
            verb: "get",
            action: "get",
            id: format!("read{idbase}{ns}{k}"),
            description: format!("read the specified {k}"),
            gvk: gvk.clone(),
            params: vec![],
            body: None,
            responses: response(kind_ref, &[("200", "OK")]),
            tag,
        }),
    );
    it.insert(
        "put".into(),
        operation(OpSpec {
            verb: "put",
            action: "put",
            id: format!("replace{idbase}{ns}{k}"),
            description: format!("replace the specified {k}"),
            gvk: gvk.clone(),
            params: write_params.clone(),
            body: Some(body_of(kind_ref)),
            responses: response(kind_ref, &[("200", "OK"), ("201", "Created")]),
            tag,
        }),
    );
    it.insert(
        "patch".into(),
        operation(OpSpec {
            verb: "patch",
            action: "patch",
            id: format!("patch{idbase}{ns}{k}"),
            description: format!("partially update the specified {k}"),
            gvk: gvk.clone(),
            params: patch_params.clone(),
            body: Some(patch_body()),
            responses: response(kind_ref, &[("200", "OK"), ("201", "Created")]),
            tag,
        }),
    );
    it.insert(
        "delete".into(),
        operation(OpSpec {
            verb: "delete",
            action: "delete",
            id: format!("delete{idbase}{ns}{k}"),
            description: format!("delete a {k}"),
            gvk: gvk.clone(),
            params: delete_params,
            body: Some(json!({"content": {"*/*": {"schema": reference(DELETE_OPTIONS)}}})),
            responses: response(STATUS, &[("200", "OK"), ("202", "Accepted")]),
            tag,
        }),
    );
    it.insert("parameters".into(), Value::Array(item_params.clone()));
    if kind.read_only() {
        it.retain(|verb, _| matches!(verb.as_str(), "get" | "parameters"));
    }
    paths.insert(item.clone(), Value::Object(it));

    if kind.namespaced {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            operation(OpSpec {
                verb: "get",
                action: "list",
                id: format!("list{idbase}{k}ForAllNamespaces"),
                description: format!("list or watch objects of kind {k}"),
                gvk: gvk.clone(),
                params: list_params,
                body: None,
                responses: response(list_ref, &[("200", "OK")]),
                tag,
            }),
        );
        paths.insert(format!("{prefix}/{}", kind.plural), Value::Object(all));
    }

    for sub in &kind.subresources {
        let sub_path = format!("{item}/{}", sub.as_str());
        let mut m = Map::new();
        let suffix = camel(sub.as_str());
        match sub {
            Subresource::Status
            | Subresource::Scale
            | Subresource::EphemeralContainers
            | Subresource::Approval => {
                let (sub_ref, sub_gvk) = if *sub == Subresource::Scale {
                    (
                        "io.k8s.api.autoscaling.v1.Scale".to_string(),
                        gvk_ext("autoscaling", "v1", "Scale"),
                    )
                } else {
                    (kind_ref.to_string(), gvk.clone())
                };
                for (verb, action, id, desc, params, body, codes) in [
                    (
                        "get",
                        "get",
                        "read",
                        "read",
                        vec![],
                        None,
                        &[("200", "OK")][..],
                    ),
                    (
                        "put",
                        "put",
                        "replace",
                        "replace",
                        write_params.clone(),
                        Some(body_of(&sub_ref)),
                        &[("200", "OK"), ("201", "Created")][..],
                    ),
                    (
                        "patch",
                        "patch",
                        "patch",
                        "partially update",
                        patch_params.clone(),
                        Some(patch_body()),
                        &[("200", "OK"), ("201", "Created")][..],
                    ),
                ] {
                    m.insert(
                        verb.into(),
                        operation(OpSpec {
                            verb,
                            action,
                            id: format!("{id}{idbase}{ns}{k}{suffix}"),
                            description: format!("{desc} {} of the specified {k}", sub.as_str()),
                            gvk: sub_gvk.clone(),
                            params,
                            body,
                            responses: response(&sub_ref, codes),
                            tag,
                        }),
                    );
                }
            }
            Subresource::Binding | Subresource::Eviction | Subresource::Token => {
                let (sub_ref, sub_gvk) = match sub {
                    Subresource::Binding => {
                        ("io.k8s.api.core.v1.Binding", gvk_ext("", "v1", "Binding"))
                    }
                    Subresource::Eviction => (
                        "io.k8s.api.policy.v1.Eviction",
                        gvk_ext("policy", "v1", "Eviction"),
                    ),
                    _ => (
                        "io.k8s.api.authentication.v1.TokenRequest",
                        gvk_ext("authentication.k8s.io", "v1", "TokenRequest"),
                    ),
                };
                m.insert(
                    "post".into(),
                    operation(OpSpec {
                        verb: "post",
                        action: "post",
                        id: format!("create{idbase}{ns}{k}{suffix}"),
                        description: format!("create {} of a {k}", sub.as_str()),
                        gvk: sub_gvk,
                        params: write_params.clone(),
                        body: Some(body_of(sub_ref)),
                        responses: response(
                            sub_ref,
                            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                        ),
                        tag,
                    }),
                );
            }
            Subresource::Log => {
                m.insert(
                    "get".into(),
                    operation(OpSpec {
                        verb: "get",
                        action: "get",
                        id: format!("read{idbase}{ns}{k}{suffix}"),
                        description: format!("read log of the specified {k}"),
                        gvk: gvk.clone(),
                        params: log_params(),
                        body: None,
                        responses: text_response(),
                        tag,
                    }),
                );
            }
            Subresource::Proxy => {
                let proxy_gvk = gvk_ext("", "v1", "NodeProxyOptions");
                for (verb, action) in [
                    ("get", "Get"),
                    ("put", "Put"),
                    ("post", "Post"),
                    ("delete", "Delete"),
                    ("patch", "Patch"),
                    ("head", "Head"),
                    ("options", "Options"),
                ] {
                    let params = vec![query_param(
                        "path",
                        "Path is the URL path to use for the current proxy request to node.",
                        "string",
                    )];
                    for (p, tail) in [
                        (sub_path.clone(), ""),
                        (format!("{sub_path}/{{path}}"), "WithPath"),
                    ] {
                        let entry = paths.entry(p).or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(o) = entry {
                            o.insert(
                                verb.into(),
                                operation(OpSpec {
                                    verb,
                                    action: "connect",
                                    id: format!("connect{idbase}{action}{k}Proxy{tail}"),
                                    description: format!(
                                        "connect {} requests to proxy of {k}",
                                        verb.to_uppercase()
                                    ),
                                    gvk: proxy_gvk.clone(),
                                    params: params.clone(),
                                    body: None,
                                    responses: text_response(),
                                    tag,
                                }),
                            );
                        }
                    }
                }
                let mut params = vec![path_param("name", "name of the NodeProxyOptions")];
                params.extend(scope_params.iter().cloned());
                let mut with_path = params.clone();
                with_path.push(path_param("path", "path to the resource"));
                if let Some(Value::Object(o)) = paths.get_mut(&sub_path) {
                    o.insert("parameters".into(), Value::Array(params));
                }
                if let Some(Value::Object(o)) = paths.get_mut(&format!("{sub_path}/{{path}}")) {
                    o.insert("parameters".into(), Value::Array(with_path));
                }
                continue;
            }
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                let (what, params) = connect_params(*sub);
                let gvk = gvk_ext("", "v1", &sub_gvk_name(*sub, k));
                for (verb, action) in [("get", "Get"), ("post", "Post")] {
                    m.insert(
                        verb.into(),
                        operation(OpSpec {
                            verb,
                            action: "connect",
                            id: format!("connect{idbase}{action}{ns}{k}{what}"),
                            description: format!(
                                "connect {} requests to {} of {k}",
                                verb.to_uppercase(),
                                sub.as_str()
                            ),
                            gvk: gvk.clone(),
                            params: params.clone(),
                            body: None,
                            responses: text_response(),
                            tag,
                        }),
                    );
                }
            }
        }
        let mut params = vec![path_param(
            "name",
            &format!("name of the {}", sub_gvk_name(*sub, k)),
        )];
        params.extend(scope_params.iter().cloned());
        m.insert("parameters".into(), Value::Array(params));
        paths.insert(sub_path, Value::Object(m));
    }
}

/// The query parameters of `pods/{name}/log`.
fn log_params() -> Vec<Value> {
    [
        ("container", "The container for which to stream logs. Defaults to only container if there is one container in the pod.", "string"),
        ("follow", "Follow the log stream of the pod. Defaults to false.", "boolean"),
        ("insecureSkipTLSVerifyBackend", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.", "boolean"),
        ("limitBytes", "If set, the number of bytes to read from the server before terminating the log output.", "integer"),
        ("previous", "Return previous terminated container logs. Defaults to false.", "boolean"),
        ("sinceSeconds", "A relative time in seconds before the current time from which to show logs.", "integer"),
        ("tailLines", "If set, the number of lines from the end of the logs to show.", "integer"),
        ("timestamps", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.", "boolean"),
    ]
    .into_iter()
    .map(|(name, desc, type_)| query_param(name, desc, type_))
    .collect()
}

/// The operation-name suffix and query parameters of the streaming subresources
/// (`connectCoreV1GetNamespacedPodExec` and its `command`, `container`, … options).
fn connect_params(sub: Subresource) -> (&'static str, Vec<Value>) {
    let streams: [(&str, &str, &str); 5] = [
        (
            "container",
            "The container in which to execute the command. Defaults to only container if there is only one container in the pod.",
            "string",
        ),
        (
            "stderr",
            "Redirect the standard error stream of the pod for this call.",
            "boolean",
        ),
        (
            "stdin",
            "Redirect the standard input stream of the pod for this call. Defaults to false.",
            "boolean",
        ),
        (
            "stdout",
            "Redirect the standard output stream of the pod for this call.",
            "boolean",
        ),
        (
            "tty",
            "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
            "boolean",
        ),
    ];
    let params = |list: &[(&str, &str, &str)]| {
        list.iter()
            .map(|(name, desc, type_)| query_param(name, desc, type_))
            .collect::<Vec<_>>()
    };
    match sub {
        Subresource::Exec => {
            let mut list = vec![(
                "command",
                "Command is the remote command to execute. argv array. Not executed within a shell.",
                "string",
            )];
            list.extend(streams);
            ("Exec", params(&list))
        }
        Subresource::Attach => ("Attach", params(&streams)),
        _ => (
            "Portforward",
            params(&[(
                "ports",
                "List of ports to forward Required when using WebSockets",
                "integer",
            )]),
        ),
    }
}

/// A `200` answering a plain string (logs, proxied answers).
fn text_response() -> Value {
    let schema = json!({"type": "string"});
    json!({
        "200": {"description": "OK", "content": {"*/*": {"schema": schema}}},
        "401": {"description": "Unauthorized"},
    })
}

pub(super) fn sub_gvk_name(sub: Subresource, kind: &str) -> String {
    match sub {
        Subresource::Scale => "Scale".into(),
        Subresource::Binding => "Binding".into(),
        Subresource::Eviction => "Eviction".into(),
        Subresource::Token => "TokenRequest".into(),
        Subresource::Proxy => "NodeProxyOptions".into(),
        Subresource::Exec => "PodExecOptions".into(),
        Subresource::Attach => "PodAttachOptions".into(),
        Subresource::PortForward => "PodPortForwardOptions".into(),
        Subresource::Status
        | Subresource::EphemeralContainers
        | Subresource::Approval
        | Subresource::Log => kind.to_string(),
    }
}
