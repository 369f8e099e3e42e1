//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`): real kubectl's typed
//! generators (1.33 through `/usr/bin/kubectl`, and 1.32 directly), and hand-encoded
//! bodies carrying every type with its own JSON form, each stored as the JSON a real
//! API server would return.

mod common;

use base64::Engine as _;
use capstan_apiserver::TestServer;
use capstan_apiserver::protobuf::descriptors;
use common::{Kubectl, get_json, keys, kubectl_version, send};
use prost_reflect::DynamicMessage;
use prost_reflect::prost::Message as _;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// What client-go's typed clients send as Accept.
const ACCEPT: &str = "application/vnd.kubernetes.protobuf,application/json";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Encodes `message` (protobuf JSON mapping of the proto message `full_name`) in the
/// Kubernetes envelope: `k8s\0` + `runtime.Unknown{typeMeta, raw}`.
fn encode(api_version: &str, kind: &str, full_name: &str, message: Value) -> Vec<u8> {
    let desc = descriptors::message(full_name).unwrap_or_else(|| panic!("{full_name}"));
    let msg = DynamicMessage::deserialize(desc, message).expect("valid protobuf JSON");
    let unknown = descriptors::message("k8s.io.apimachinery.pkg.runtime.Unknown").unwrap();
    let env = DynamicMessage::deserialize(
        unknown,
        json!({
            "typeMeta": {"apiVersion": api_version, "kind": kind},
            "raw": b64(&msg.encode_to_vec()),
            "contentEncoding": "",
            "contentType": "",
        }),
    )
    .unwrap();
    let mut out = b"k8s\0".to_vec();
    out.extend(env.encode_to_vec());
    out
}

async fn post_protobuf(client: &kube::Client, path: &str, body: Vec<u8>) -> (u16, String, Value) {
    send(
        client,
        "POST",
        path,
        &[("content-type", PROTOBUF), ("accept", ACCEPT)],
        body,
    )
    .await
}

/// `ObjectMeta` as gogo writes it for a client: every by-value field present, zero.
fn wire_meta(name: &str) -> Value {
    json!({
        "name": name, "generateName": "", "namespace": "", "selfLink": "", "uid": "",
        "resourceVersion": "", "generation": 0, "creationTimestamp": {},
    })
}

async fn typed_generators(s: &TestServer, bin: &str, ns: &str) {
    let client = s.client().await;
    let k = Kubectl::new(s, bin);

    // The request really is protobuf.
    let (ok, _, log) = k.run(&["create", "namespace", ns, "-v=8"]).await;
    assert!(ok, "{log}");
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{bin} did not send protobuf: {log}"
    );
    let n = get_json(&client, &format!("/api/v1/namespaces/{ns}")).await;
    assert_eq!(n["metadata"]["labels"]["kubernetes.io/metadata.name"], ns);
    assert_eq!(n["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(n["status"]["phase"], "Active");
    assert!(n["metadata"]["creationTimestamp"].is_string(), "{n}");
    assert_eq!(n["metadata"].get("generateName"), None, "{n}");

    // ConfigMap: string data and, from a file that is not UTF-8, binaryData (bytes).
    let blob: Vec<u8> = (0..=255u8).rev().collect();
    let file = s.dir().join(format!("blob-{ns}.bin"));
    std::fs::write(&file, &blob).unwrap();
    let from_file = format!("--from-file=blob={}", file.display());
    let args = [
        "create",
        "configmap",
        "settings",
        "-n",
        ns,
        "--from-literal=greeting=hello world",
        &from_file,
    ];
    assert_eq!(k.ok(&args).await.trim(), "configmap/settings created");
    let cm = get_json(
        &client,
        &format!("/api/v1/namespaces/{ns}/configmaps/settings"),
    )
    .await;
    assert_eq!(cm["data"], json!({"greeting": "hello world"}));
    assert_eq!(cm["binaryData"], json!({"blob": b64(&blob)}));
    assert_eq!(cm.get("immutable"), None);
    assert_eq!(
        keys(&cm["metadata"]),
        [
            "creationTimestamp",
            "managedFields",
            "name",
            "namespace",
            "resourceVersion",
            "uid"
        ]
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Update");

    // Secret: data is bytes, base64 in JSON; the type by-value string survives.
    k.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        ns,
        "--from-literal=password=p@ss w0rd",
        "--from-literal=user=admin",
    ])
    .await;
    let sec = get_json(&client, &format!("/api/v1/namespaces/{ns}/secrets/creds")).await;
    assert_eq!(
        sec["data"],
        json!({"password": b64(b"p@ss w0rd"), "user": b64(b"admin")})
    );
    assert_eq!(sec["type"], "Opaque");
    assert_eq!(sec.get("stringData"), None);

    // Deployment: pointer replicas, by-value zeros dropped, defaults applied after.
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        ns,
        "--image=nginx",
        "--replicas=2",
        "--port=80",
    ])
    .await;
    let d = get_json(
        &client,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/web"),
    )
    .await;
    assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "nginx");
    assert_eq!(c["image"], "nginx");
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(c["resources"], json!({}));
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(d["status"], json!({}));

    // Services: IntOrString target ports as numbers and as names.
    k.ok(&["expose", "deployment", "web", "-n", ns, "--port=80"])
        .await;
    let svc = get_json(&client, &format!("/api/v1/namespaces/{ns}/services/web")).await;
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svc["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.")),
        "{svc}"
    );
    k.ok(&[
        "expose",
        "deployment",
        "web",
        "-n",
        ns,
        "--name=web-named",
        "--port=8080",
        "--target-port=http",
    ])
    .await;
    let svc = get_json(
        &client,
        &format!("/api/v1/namespaces/{ns}/services/web-named"),
    )
    .await;
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    k.ok(&[
        "create",
        "service",
        "clusterip",
        "api",
        "-n",
        ns,
        "--tcp=5678:8080",
    ])
    .await;
    let svc = get_json(&client, &format!("/api/v1/namespaces/{ns}/services/api")).await;
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "5678-8080", "port": 5678, "protocol": "TCP", "targetPort": 8080}])
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": "api"}));

    // PodDisruptionBudgets: IntOrString percentages and counts.
    k.ok(&[
        "create",
        "pdb",
        "web-pdb",
        "-n",
        ns,
        "--selector=app=web",
        "--max-unavailable=50%",
    ])
    .await;
    let pdb = get_json(
        &client,
        &format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/web-pdb"),
    )
    .await;
    assert_eq!(pdb["spec"]["maxUnavailable"], "50%");
    assert_eq!(pdb["spec"].get("minAvailable"), None);

    // A Job from a CronJob: an owner reference with pointer booleans.
    k.ok(&[
        "create",
        "cronjob",
        "tick",
        "-n",
        ns,
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--",
        "date",
    ])
    .await;
    k.ok(&["create", "job", "once", "-n", ns, "--from=cronjob/tick"])
        .await;
    let cj = get_json(
        &client,
        &format!("/apis/batch/v1/namespaces/{ns}/cronjobs/tick"),
    )
    .await;
    assert_eq!(cj["spec"]["schedule"], "*/5 * * * *");
    let job = get_json(
        &client,
        &format!("/apis/batch/v1/namespaces/{ns}/jobs/once"),
    )
    .await;
    assert_eq!(
        job["metadata"]["ownerReferences"],
        json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
                "uid": cj["metadata"]["uid"], "controller": true}])
    );
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["date"])
    );
}

#[tokio::test]
async fn kubectl_typed_generators_send_protobuf() {
    let s = TestServer::start().await.unwrap();
    typed_generators(&s, "/usr/bin/kubectl", "team-133").await;
    if let Some(bin) = kubectl_version("1.32") {
        typed_generators(&s, &bin, "team-132").await;
    }
}

#[tokio::test]
async fn protobuf_bodies_map_to_the_json_a_json_client_stores() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let pods = "/api/v1/namespaces/default/pods";

    // A Pod with quantities, probes (inline handler, named and numbered ports), an
    // inline volume source, pointer zeros that must stay and by-value zeros that must go.
    let mut meta = wire_meta("proto-pod");
    meta["labels"] = json!({"app": "web"});
    let container = json!({
        "name": "web", "image": "nginx:1.27",
        "ports": [{"name": "http", "containerPort": 8080, "hostPort": 0, "protocol": "TCP", "hostIP": ""}],
        "resources": {
            "requests": {"cpu": {"string": "250m"}, "memory": {"string": "64Mi"}},
            "limits": {"memory": {"string": "128Mi"}},
        },
        "readinessProbe": {
            "handler": {"httpGet": {"path": "/healthz", "port": {"type": 1, "intVal": 0, "strVal": "http"}, "host": "", "scheme": "HTTP"}},
            "initialDelaySeconds": 0, "timeoutSeconds": 0, "periodSeconds": 5, "successThreshold": 0, "failureThreshold": 0,
        },
        "livenessProbe": {"handler": {"tcpSocket": {"port": {"type": 0, "intVal": 8080, "strVal": ""}, "host": ""}}},
        "env": [{"name": "PASSWORD", "value": "", "valueFrom": {"secretKeyRef": {"localObjectReference": {"name": "creds"}, "key": "password"}}}],
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "subPath": ""}],
    });
    let pod = json!({
        "metadata": meta,
        "spec": {
            "containers": [container],
            "volumes": [{"name": "cfg", "volumeSource": {"configMap": {"localObjectReference": {"name": "settings"}, "defaultMode": 420}}}],
            "securityContext": {"runAsUser": 0},
            "activeDeadlineSeconds": 600,
            "serviceAccountName": "", "nodeName": "",
            // No token volume: its name is random, so the two pods' specs would differ.
            "automountServiceAccountToken": false,
        },
        "status": {},
    });
    let body = encode("v1", "Pod", "k8s.io.api.core.v1.Pod", pod);
    let (code, ct, created) = post_protobuf(&client, pods, body).await;
    assert_eq!(code, 201, "{created}");
    // The answer to a client that accepts protobuf then JSON is JSON, labelled so.
    assert_eq!(ct, "application/json");
    assert_eq!(created["metadata"]["name"], "proto-pod");

    // The same Pod as a JSON client (kubectl create -f) would send it.
    let as_json = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "json-pod", "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "web", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5},
                "livenessProbe": {"tcpSocket": {"port": 8080}},
                "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}],
            }],
            "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
            "securityContext": {"runAsUser": 0},
            "activeDeadlineSeconds": 600,
            "automountServiceAccountToken": false,
        },
    });
    let (code, _, _) = send(
        &client,
        "POST",
        pods,
        &[("content-type", "application/json")],
        serde_json::to_vec(&as_json).unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    let from_proto = get_json(&client, &format!("{pods}/proto-pod")).await;
    let from_json = get_json(&client, &format!("{pods}/json-pod")).await;
    assert_eq!(
        from_proto["spec"], from_json["spec"],
        "protobuf and JSON bodies of one Pod stored differently"
    );
    assert_eq!(from_proto["status"], from_json["status"]);
    assert_eq!(from_proto["metadata"]["labels"], json!({"app": "web"}));
    let c = &from_proto["spec"]["containers"][0];
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "250m", "memory": "64Mi"})
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(c["livenessProbe"]["tcpSocket"]["port"], 8080);
    assert_eq!(
        c["ports"][0],
        json!({"name": "http", "containerPort": 8080, "protocol": "TCP"})
    );
    assert_eq!(
        from_proto["spec"]["volumes"][0],
        json!({"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}})
    );
    assert_eq!(
        from_proto["spec"]["securityContext"],
        json!({"runAsUser": 0})
    );

    // events.k8s.io Event: MicroTime keeps microseconds, Time whole seconds.
    let event = json!({
        "metadata": {"name": "web.1", "namespace": "default"},
        "eventTime": {"seconds": 1714557600, "nanos": 123456789},
        "series": {"count": 2, "lastObservedTime": {"seconds": 1714557660, "nanos": 5000}},
        "reportingController": "capstan.dev/test", "reportingInstance": "test-1",
        "action": "Pulling", "reason": "Pulling", "type": "Normal", "note": "pulling image",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "proto-pod", "apiVersion": "v1"},
        "deprecatedFirstTimestamp": {"seconds": 1714557600, "nanos": 999},
        "deprecatedCount": 0,
    });
    let body = encode(
        "events.k8s.io/v1",
        "Event",
        "k8s.io.api.events.v1.Event",
        event,
    );
    let (code, _, v) = post_protobuf(
        &client,
        "/apis/events.k8s.io/v1/namespaces/default/events",
        body,
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let ev = get_json(
        &client,
        "/apis/events.k8s.io/v1/namespaces/default/events/web.1",
    )
    .await;
    assert_eq!(ev["eventTime"], "2024-05-01T10:00:00.123456Z");
    assert_eq!(
        ev["series"],
        json!({"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000005Z"})
    );
    assert_eq!(ev["deprecatedFirstTimestamp"], "2024-05-01T10:00:00Z");
    assert_eq!(
        ev.get("deprecatedCount"),
        None,
        "a by-value zero is dropped"
    );
    assert_eq!(ev["regarding"]["name"], "proto-pod");

    // Lease: MicroTimes and a pointer zero.
    let lease = json!({
        "metadata": {"name": "leader"},
        "spec": {
            "holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0,
            "acquireTime": {"seconds": 1714557600, "nanos": 0},
            "renewTime": {"seconds": 1714557610, "nanos": 250000000},
        },
    });
    let body = encode(
        "coordination.k8s.io/v1",
        "Lease",
        "k8s.io.api.coordination.v1.Lease",
        lease,
    );
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let (code, _, v) = post_protobuf(&client, leases, body).await;
    assert_eq!(code, 201, "{v}");
    let l = get_json(&client, &format!("{leases}/leader")).await;
    assert_eq!(
        l["spec"],
        json!({"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0,
               "acquireTime": "2024-05-01T10:00:00.000000Z",
               "renewTime": "2024-05-01T10:00:10.250000Z"})
    );

    // ControllerRevision: RawExtension carries JSON.
    let data = json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}});
    let rev = json!({
        "metadata": {"name": "web-1"},
        "data": {"raw": b64(&serde_json::to_vec(&data).unwrap())},
        "revision": 3,
    });
    let body = encode(
        "apps/v1",
        "ControllerRevision",
        "k8s.io.api.apps.v1.ControllerRevision",
        rev,
    );
    let revs = "/apis/apps/v1/namespaces/default/controllerrevisions";
    let (code, _, v) = post_protobuf(&client, revs, body).await;
    assert_eq!(code, 201, "{v}");
    let r = get_json(&client, &format!("{revs}/web-1")).await;
    assert_eq!(r["data"], data);
    assert_eq!(r["revision"], 3);
}

#[tokio::test]
async fn protobuf_updates_deletes_and_subresources() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = |rv: &str, value: &str| {
        let mut meta = wire_meta("conf");
        meta["resourceVersion"] = json!(rv);
        encode(
            "v1",
            "ConfigMap",
            "k8s.io.api.core.v1.ConfigMap",
            json!({"metadata": meta, "data": {"k": value}}),
        )
    };
    let (code, _, created) = post_protobuf(&client, cms, cm("", "one")).await;
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let headers = [("content-type", PROTOBUF), ("accept", ACCEPT)];

    // PUT: optimistic concurrency applies to protobuf bodies as to JSON.
    let path = format!("{cms}/conf");
    let (code, _, v) = send(&client, "PUT", &path, &headers, cm("1", "two")).await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["reason"], "Conflict");
    let (code, ct, v) = send(&client, "PUT", &path, &headers, cm(&rv, "two")).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(ct, "application/json");
    assert_eq!(get_json(&client, &path).await["data"], json!({"k": "two"}));

    // DELETE with protobuf DeleteOptions: a failed uid precondition, then Orphan.
    let delete_opts = |opts: Value| {
        encode(
            "v1",
            "DeleteOptions",
            "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            opts,
        )
    };
    let (code, _, v) = send(
        &client,
        "DELETE",
        &path,
        &headers,
        delete_opts(json!({"preconditions": {"uid": "not-it"}})),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed"),
        "{v}"
    );
    let (code, _, v) = send(
        &client,
        "DELETE",
        &path,
        &headers,
        delete_opts(json!({"propagationPolicy": "Orphan"})),
    )
    .await;
    assert_eq!(code, 202, "held by the orphan finalizer: {v}");
    let held = get_json(&client, &path).await;
    assert_eq!(held["metadata"]["finalizers"], json!(["orphan"]));
    assert!(held["metadata"]["deletionTimestamp"].is_string());

    // pods/binding with a protobuf Binding.
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let pods = "/api/v1/namespaces/default/pods";
    let (code, _, v) = post_protobuf(
        &client,
        pods,
        encode("v1", "Pod", "k8s.io.api.core.v1.Pod", pod),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let binding = json!({"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}});
    let (code, _, v) = post_protobuf(
        &client,
        &format!("{pods}/p/binding"),
        encode("v1", "Binding", "k8s.io.api.core.v1.Binding", binding),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let p = get_json(&client, &format!("{pods}/p")).await;
    assert_eq!(p["spec"]["nodeName"], "node-1");

    // pods/eviction with a protobuf Eviction (kubectl drain's typed client), grace 0.
    let eviction = json!({"metadata": {"name": "p"}, "deleteOptions": {"gracePeriodSeconds": 0}});
    let (code, _, v) = post_protobuf(
        &client,
        &format!("{pods}/p/eviction"),
        encode(
            "policy/v1",
            "Eviction",
            "k8s.io.api.policy.v1.Eviction",
            eviction,
        ),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let (code, _, v) = send(&client, "GET", &format!("{pods}/p"), &[], Vec::new()).await;
    assert_eq!(code, 404, "evicted with grace 0: {v}");

    // A kind without a protobuf schema: 415 naming it.
    let crd = json!({"metadata": {"name": "widgets.example.com"}});
    let (code, _, v) = post_protobuf(
        &client,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        encode(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "k8s.io.api.core.v1.ConfigMap",
            crd,
        ),
    )
    .await;
    assert_eq!(code, 415, "{v}");
    assert_eq!(v["reason"], "UnsupportedMediaType");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("apiextensions.k8s.io/v1, Kind=CustomResourceDefinition"),
        "{v}"
    );
    // Custom resources are not read from protobuf at all, as upstream.
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let (code, _, v) = send(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("content-type", "application/json")],
        serde_json::to_vec(&crd).unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let gadgets = "/apis/example.com/v1/namespaces/default/gadgets";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while send(&client, "GET", gadgets, &[], Vec::new()).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "gadgets never served");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (code, _, v) = post_protobuf(&client, gadgets, cm("", "x")).await;
    assert_eq!(code, 415, "{v}");
    assert_eq!(
        v["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got \"application/vnd.kubernetes.protobuf\")"
    );

    // A JSON body mislabelled as protobuf: 400, and the server keeps serving.
    let (code, _, v) = post_protobuf(&client, cms, b"{\"kind\":\"ConfigMap\"}".to_vec()).await;
    assert_eq!(code, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("magic"), "{v}");
    let (code, _, _) = post_protobuf(&client, cms, cm("", "three")).await;
    assert_eq!(code, 409, "conf still exists (held by its finalizer)");
}
