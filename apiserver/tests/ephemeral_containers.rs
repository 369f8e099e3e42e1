//! `pods/{name}/ephemeralcontainers` over HTTP: every write kind (PUT, strategic merge,
//! JSON merge and JSON patches, server-side apply) changes only
//! `spec.ephemeralContainers`, which may only grow, with upstream's validation.

mod common;

use capstan_apiserver::TestServer;
use common::{get_json, post_json, send};
use serde_json::{Value, json};

const POD: &str = "/api/v1/namespaces/default/pods/p";
const EPHEMERAL: &str = "/api/v1/namespaces/default/pods/p/ephemeralcontainers";

async fn write(
    client: &kube::Client,
    method: &str,
    ct: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let (code, _, v) = send(
        client,
        method,
        path,
        &[("content-type", ct)],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    (code, v)
}

fn names(pod: &Value) -> Vec<String> {
    pod["spec"]["ephemeralContainers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn rv(pod: &Value) -> u64 {
    pod["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_write_kind_adds_ephemeral_containers_and_nothing_else() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let (code, created) = post_json(
        &client,
        "/api/v1/namespaces/default/pods",
        &json!({"metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let viewed = get_json(&client, EPHEMERAL).await;
    assert_eq!(viewed["kind"], "Pod");
    assert_eq!(viewed["metadata"]["uid"], created["metadata"]["uid"]);

    // kubectl debug's strategic merge patch; the label and image it also carries are
    // ignored, as upstream drops every change but the ephemeral containers.
    let (code, p1) = write(
        &client,
        "PATCH",
        "application/strategic-merge-patch+json",
        EPHEMERAL,
        json!({"metadata": {"labels": {"app": "changed"}},
            "spec": {"containers": [{"name": "c", "image": "httpd"}],
                "ephemeralContainers": [{"name": "debugger", "image": "busybox", "targetContainerName": "c",
                    "resources": {}, "terminationMessagePolicy": "File"}]}}),
    )
    .await;
    assert_eq!(code, 200, "{p1}");
    assert_eq!(names(&p1), ["debugger"]);
    assert!(rv(&p1) > rv(&created));
    let debugger = &p1["spec"]["ephemeralContainers"][0];
    assert_eq!(
        debugger["imagePullPolicy"], "Always",
        "defaulted: {debugger}"
    );
    assert_eq!(debugger["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(p1["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(p1["spec"]["containers"][0]["image"], "nginx");

    // A JSON merge patch replaces the list: the old one must be in it.
    let mut list = p1["spec"]["ephemeralContainers"].clone();
    list.as_array_mut()
        .unwrap()
        .push(json!({"name": "merged", "image": "busybox"}));
    let (code, p2) = write(
        &client,
        "PATCH",
        "application/merge-patch+json",
        EPHEMERAL,
        json!({"spec": {"ephemeralContainers": list}}),
    )
    .await;
    assert_eq!(code, 200, "{p2}");
    assert_eq!(names(&p2), ["debugger", "merged"]);

    let (code, p3) = write(
        &client,
        "PATCH",
        "application/json-patch+json",
        EPHEMERAL,
        json!([{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "jsonpatched", "image": "busybox"}}]),
    )
    .await;
    assert_eq!(code, 200, "{p3}");
    assert_eq!(names(&p3), ["debugger", "merged", "jsonpatched"]);

    // PUT of the whole pod: a spec change besides is ignored; a stale version conflicts.
    let mut put = p3.clone();
    put["spec"]["activeDeadlineSeconds"] = json!(30);
    put["spec"]["ephemeralContainers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "put", "image": "busybox"}));
    let (code, p4) = write(&client, "PUT", "application/json", EPHEMERAL, put.clone()).await;
    assert_eq!(code, 200, "{p4}");
    assert_eq!(names(&p4), ["debugger", "merged", "jsonpatched", "put"]);
    assert!(p4["spec"].get("activeDeadlineSeconds").is_none(), "{p4}");
    let (code, stale) = write(&client, "PUT", "application/json", EPHEMERAL, put).await;
    assert_eq!(
        (code, stale["reason"].as_str()),
        (409, Some("Conflict")),
        "{stale}"
    );

    // Server-side apply of one container by its manager.
    let (code, _, p5) = send(
        &client,
        "PATCH",
        &format!("{EPHEMERAL}?fieldManager=tester"),
        &[("content-type", "application/apply-patch+yaml")],
        serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"ephemeralContainers": [{"name": "applied", "image": "busybox"}]}}),
        )
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{p5}");
    assert_eq!(
        names(&p5),
        ["debugger", "merged", "jsonpatched", "put", "applied"]
    );
    let stored = get_json(&client, POD).await;
    assert_eq!(names(&stored), names(&p5));
    let managers: Vec<(&str, &str)> = stored["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["subresource"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        managers.contains(&("tester", "ephemeralcontainers")),
        "{managers:?}"
    );
}

#[tokio::test]
async fn ephemeral_containers_are_validated_as_upstream_validates_them() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let (code, v) = post_json(
        &client,
        "/api/v1/namespaces/default/pods",
        &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}],
            "ephemeralContainers": [{"name": "early", "image": "busybox"}]}}),
    )
    .await;
    assert_eq!(
        (code, v["message"].as_str().unwrap_or("")),
        (
            422,
            "Pod \"p\" is invalid: spec.ephemeralContainers: Forbidden: cannot be set on create"
        )
    );
    let (code, v) = post_json(
        &client,
        "/api/v1/namespaces/default/pods",
        &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let merge = |containers: Value| json!({"spec": {"ephemeralContainers": containers}});
    let debugger = json!({"name": "debugger", "image": "busybox"});
    let (code, v) = write(
        &client,
        "PATCH",
        "application/merge-patch+json",
        EPHEMERAL,
        merge(json!([debugger])),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let kept = v["spec"]["ephemeralContainers"][0].clone();
    let table: Vec<(&str, Value, &str, &str)> = vec![
        (
            "ports",
            json!([kept, {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]),
            "spec.ephemeralContainers[1].ports",
            "Pod \"p\" is invalid: spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
        ),
        (
            "a probe",
            json!([kept, {"name": "x", "image": "nginx", "livenessProbe": {"exec": {"command": ["true"]}}}]),
            "spec.ephemeralContainers[1].livenessProbe",
            "Pod \"p\" is invalid: spec.ephemeralContainers[1].livenessProbe: Forbidden: cannot be set for an Ephemeral Container",
        ),
        (
            "resources",
            json!([kept, {"name": "x", "image": "nginx", "resources": {"requests": {"cpu": "1"}}}]),
            "spec.ephemeralContainers[1].resources",
            "Pod \"p\" is invalid: spec.ephemeralContainers[1].resources: Forbidden: cannot be set for an Ephemeral Container",
        ),
        (
            "a name another container has",
            json!([kept, {"name": "c", "image": "busybox"}]),
            "spec.ephemeralContainers[1].name",
            "Pod \"p\" is invalid: spec.ephemeralContainers[1].name: Duplicate value: \"c\"",
        ),
        (
            "a target that is not a container",
            json!([kept, {"name": "x", "image": "busybox", "targetContainerName": "debugger"}]),
            "spec.ephemeralContainers[1].targetContainerName",
            "Pod \"p\" is invalid: spec.ephemeralContainers[1].targetContainerName: Not found: \"debugger\"",
        ),
        (
            "removing one",
            json!([]),
            "spec.ephemeralContainers",
            "Pod \"p\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be removed\n",
        ),
        (
            "changing one",
            json!([{"name": "debugger", "image": "alpine"}]),
            "spec.ephemeralContainers[debugger]",
            "Pod \"p\" is invalid: spec.ephemeralContainers[debugger]: Forbidden: existing ephemeral containers \"debugger\" may not be changed\n",
        ),
    ];
    for (case, containers, field, message) in table {
        let (code, v) = write(
            &client,
            "PATCH",
            "application/merge-patch+json",
            EPHEMERAL,
            merge(containers),
        )
        .await;
        assert_eq!(
            (code, v["message"].as_str().unwrap_or("")),
            (422, message),
            "{case}: {v}"
        );
        assert_eq!(v["details"]["causes"][0]["field"], field, "{case}");
    }
    // The main resource does not take them.
    let (code, v) = write(
        &client,
        "PATCH",
        "application/merge-patch+json",
        POD,
        merge(json!([kept, {"name": "sneaky", "image": "busybox"}])),
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("pod updates may not change fields"),
        "{v}"
    );
    assert_eq!(names(&get_json(&client, POD).await), ["debugger"]);

    // Static pods take none.
    let (code, v) = post_json(
        &client,
        "/api/v1/namespaces/default/pods",
        &json!({"metadata": {"name": "m", "annotations": {"kubernetes.io/config.mirror": "h"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let (code, v) = write(
        &client,
        "PATCH",
        "application/merge-patch+json",
        "/api/v1/namespaces/default/pods/m/ephemeralcontainers",
        merge(json!([debugger])),
    )
    .await;
    assert_eq!(
        (code, v["message"].as_str().unwrap_or("")),
        (
            422,
            "Pod \"m\" is invalid: : Forbidden: static pods do not support ephemeral containers"
        )
    );
}
