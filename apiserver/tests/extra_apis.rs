//! The APIs real clients expect beyond the workload kinds, with real kubectl (two
//! versions each) and kube-rs: `apiregistration.k8s.io` APIServices, `componentstatuses`
//! and `certificates.k8s.io` CertificateSigningRequests with `kubectl certificate
//! approve|deny`.

mod common;

use base64::Engine as _;
use capstan_apiserver::TestServer;
use common::{Kubectl, get_json, kubectl_version, send};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ComponentStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1alpha1
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

const METRICS_APISERVICE: &str = r#"
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {name: metrics-server, namespace: kube-system}
"#;

/// kubectl 1.33 (through the dispatcher, which picks the server's minor) and 1.27, the
/// oldest this machine has.
fn kubectls(s: &TestServer) -> Vec<Kubectl> {
    let old = kubectl_version("1.27").expect("kubectl 1.27 is installed");
    vec![Kubectl::new(s, "kubectl"), Kubectl::new(s, &old)]
}

fn write(s: &TestServer, name: &str, content: &str) -> String {
    let p = s.dir().join(name);
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

/// The rows of a `kubectl get` table, split on whitespace, header first.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], name: &str) -> Option<&'a Vec<String>> {
    rows.iter()
        .find(|r| r.first().map(String::as_str) == Some(name))
}

#[tokio::test]
async fn kubectl_get_apiservices_lists_local_group_versions_and_a_crds() {
    let s = TestServer::start().await.unwrap();
    for (i, k) in kubectls(&s).iter().enumerate() {
        let table = rows(&k.ok(&["get", "apiservices"]).await);
        assert_eq!(
            table[0],
            ["NAME", "SERVICE", "AVAILABLE", "AGE"],
            "{table:?}"
        );
        for name in [
            "v1.",
            "v1.apps",
            "v1.certificates.k8s.io",
            "v1.apiextensions.k8s.io",
        ] {
            let r = row(&table, name).unwrap_or_else(|| panic!("{name} missing: {table:?}"));
            assert_eq!(r[1..3], ["Local", "True"], "{name}");
        }
        // No APIService names the aggregator's own group, as upstream.
        assert!(row(&table, "v1.apiregistration.k8s.io").is_none());

        let apps: Value =
            serde_json::from_str(&k.ok(&["get", "apiservice", "v1.apps", "-o", "json"]).await)
                .unwrap();
        assert_eq!(
            apps["spec"],
            json!({"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15})
        );
        assert_eq!(
            apps["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"],
            "onstart"
        );
        let available = &apps["status"]["conditions"][0];
        assert_eq!(available["type"], "Available");
        assert_eq!(available["reason"], "Local");
        assert_eq!(
            available["message"],
            "Local APIServices are always available"
        );

        // A CRD's served group-version gets its APIService once the CRD is
        // established, and loses it with the CRD.
        if i == 0 {
            k.ok(&["apply", "-f", &write(&s, "crd.yaml", WIDGET_CRD)])
                .await;
        }
        let table = rows(&k.ok(&["get", "apiservices"]).await);
        let widgets = row(&table, "v1.example.com").expect("the CRD's APIService");
        assert_eq!(widgets[1..3], ["Local", "True"]);
        assert!(row(&table, "v1alpha1.example.com").is_none(), "not served");
        let crd_api: Value = serde_json::from_str(
            &k.ok(&["get", "apiservice", "v1.example.com", "-o", "json"])
                .await,
        )
        .unwrap();
        assert_eq!(crd_api["spec"]["groupPriorityMinimum"], 1000);
        assert_eq!(crd_api["spec"]["versionPriority"], 100);
    }
    let k = Kubectl::new(&s, "kubectl");
    k.ok(&["delete", "crd", "widgets.example.com"]).await;
    let (ok, _, err) = k.run(&["get", "apiservice", "v1.example.com"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");

    // A user's APIService is stored and judged against its (missing) Service.
    k.ok(&[
        "apply",
        "-f",
        &write(&s, "metrics.yaml", METRICS_APISERVICE),
    ])
    .await;
    let table = rows(&k.ok(&["get", "apiservices"]).await);
    let metrics = row(&table, "v1beta1.metrics.k8s.io").expect("the user's APIService");
    assert_eq!(
        metrics[1..4],
        ["kube-system/metrics-server", "False", "(ServiceNotFound)"]
    );

    // One that breaks upstream's rules is refused naming the field.
    let bad = METRICS_APISERVICE.replace("name: v1beta1.metrics.k8s.io", "name: metrics");
    let (ok, _, err) = k.run(&["apply", "-f", &write(&s, "bad.yaml", &bad)]).await;
    assert!(!ok, "accepted a misnamed APIService");
    assert!(
        err.contains("metadata.name: Invalid value: \"metrics\": must be `spec.version+\".\"+spec.group`: \"v1beta1.metrics.k8s.io\""),
        "{err}"
    );
}

/// A Lease of `name` in `kube-system` last renewed `age` ago, of 15 seconds.
async fn lease(s: &TestServer, name: &str, age: SignedDuration) {
    let leases: Api<Lease> = Api::namespaced(s.client().await, "kube-system");
    let renewed = MicroTime(Timestamp::now() - age);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: Some(format!("{name}-host_1")),
            lease_duration_seconds: Some(15),
            acquire_time: Some(renewed.clone()),
            renew_time: Some(renewed),
            ..Default::default()
        }),
    };
    match leases.get_opt(name).await.unwrap() {
        Some(cur) => {
            let lease = Lease {
                metadata: cur.metadata,
                ..lease
            };
            leases
                .replace(name, &PostParams::default(), &lease)
                .await
                .unwrap();
        }
        None => {
            leases.create(&PostParams::default(), &lease).await.unwrap();
        }
    }
}

#[tokio::test]
async fn kubectl_get_componentstatuses_reports_each_components_real_health() {
    let s = TestServer::start().await.unwrap();
    for k in kubectls(&s) {
        // No component runs elected yet: only the store is healthy.
        let (ok, out, err) = k.run(&["get", "componentstatuses"]).await;
        assert!(ok, "{err}");
        assert!(
            err.contains("Warning: v1 ComponentStatus is deprecated in v1.19+"),
            "{err}"
        );
        let table = rows(&out);
        assert_eq!(table[0], ["NAME", "STATUS", "MESSAGE", "ERROR"]);
        assert_eq!(row(&table, "etcd-0").unwrap()[1..], ["Healthy", "ok"]);
        let scheduler = row(&table, "scheduler").expect("scheduler listed");
        assert_eq!(scheduler[1], "Unhealthy");
        assert!(
            out.contains("no Lease kube-system/kube-scheduler or kube-system/capstan-scheduler"),
            "{out}"
        );
        assert_eq!(row(&table, "controller-manager").unwrap()[1], "Unhealthy");
    }

    // Both elected and renewing: healthy, by the short name too.
    lease(&s, "capstan-scheduler", SignedDuration::from_secs(1)).await;
    lease(&s, "kube-controller-manager", SignedDuration::from_secs(2)).await;
    for k in kubectls(&s) {
        let table = rows(&k.ok(&["get", "cs"]).await);
        for name in ["scheduler", "controller-manager", "etcd-0"] {
            assert_eq!(row(&table, name).unwrap()[1..], ["Healthy", "ok"], "{name}");
        }
    }

    // The scheduler stopped renewing 20 s ago, longer than its 15 s lease.
    lease(&s, "capstan-scheduler", SignedDuration::from_secs(20)).await;
    let k = Kubectl::new(&s, "kubectl");
    let out = k.ok(&["get", "cs", "scheduler"]).await;
    let table = rows(&out);
    assert_eq!(row(&table, "scheduler").unwrap()[1], "Unhealthy");
    assert!(
        out.contains(
            "Lease kube-system/capstan-scheduler held by \"capstan-scheduler-host_1\" expired"
        ),
        "{out}"
    );

    // kube-rs reads them typed; writes are refused as upstream refuses them.
    let api: Api<ComponentStatus> = Api::all(s.client().await);
    let cm = api.get("controller-manager").await.unwrap();
    let healthy = &cm.conditions.unwrap()[0];
    assert_eq!(
        (healthy.type_.as_str(), healthy.status.as_str()),
        ("Healthy", "True")
    );
    assert_eq!(api.list(&Default::default()).await.unwrap().items.len(), 3);
    let client = s.client().await;
    let (code, _, body) = send(
        &client,
        "POST",
        "/api/v1/componentstatuses",
        &[("content-type", "application/json")],
        br#"{"metadata":{"name":"x"}}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
}

/// A PEM certificate request for `CN=<cn>`, signed by a fresh P-256 key.
fn pem_request(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn csr_yaml(name: &str, request: &str) -> String {
    let request = base64::engine::general_purpose::STANDARD.encode(request);
    format!(
        "apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {name}
spec:
  request: {request}
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
  username: mallory
  groups: [system:masters]
"
    )
}

/// PUTs `body` to `path`, which must answer 422; the Status.
async fn refused(client: &kube::Client, path: &str, body: &Value) -> Value {
    let (code, _, status) = send(
        client,
        "PUT",
        path,
        &[("content-type", "application/json")],
        serde_json::to_vec(body).unwrap(),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    status
}

#[tokio::test]
async fn kubectl_certificate_approve_and_deny() {
    let s = TestServer::start().await.unwrap();
    for (i, k) in kubectls(&s).iter().enumerate() {
        let (alice, bob) = (format!("alice-{i}"), format!("bob-{i}"));
        for name in [&alice, &bob] {
            let file = write(
                &s,
                &format!("{name}.yaml"),
                &csr_yaml(name, &pem_request(name)),
            );
            k.ok(&["create", "-f", &file]).await;
        }
        let table = rows(&k.ok(&["get", "csr"]).await);
        assert_eq!(
            table[0],
            [
                "NAME",
                "AGE",
                "SIGNERNAME",
                "REQUESTOR",
                "REQUESTEDDURATION",
                "CONDITION"
            ]
        );
        let r = row(&table, &alice).unwrap();
        // The requester is who asked, whatever the request said.
        assert_eq!(
            r[2..],
            [
                "kubernetes.io/kube-apiserver-client",
                "capstan-admin",
                "24h",
                "Pending"
            ]
        );

        let (ok, out, log) = k.run(&["certificate", "approve", &alice, "-v=8"]).await;
        assert!(ok, "{log}");
        assert_eq!(
            out.trim(),
            format!("certificatesigningrequest.certificates.k8s.io/{alice} approved")
        );
        assert!(
            log.contains(&format!("/certificatesigningrequests/{alice}/approval")),
            "{log}"
        );
        if i == 0 {
            // kubectl 1.33's typed client writes the approval in protobuf.
            assert!(
                log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
                "{log}"
            );
        }
        let out = k.ok(&["certificate", "deny", &bob]).await;
        assert_eq!(
            out.trim(),
            format!("certificatesigningrequest.certificates.k8s.io/{bob} denied")
        );
        let table = rows(&k.ok(&["get", "csr"]).await);
        assert_eq!(row(&table, &alice).unwrap()[5], "Approved");
        assert_eq!(row(&table, &bob).unwrap()[5], "Denied");

        let csr: Value =
            serde_json::from_str(&k.ok(&["get", "csr", &alice, "-o", "json"]).await).unwrap();
        assert_eq!(csr["spec"]["username"], "capstan-admin");
        assert_eq!(
            csr["spec"]["groups"],
            json!(["system:masters", "system:authenticated"])
        );
        let approved = &csr["status"]["conditions"][0];
        assert_eq!(approved["type"], "Approved");
        assert_eq!(approved["status"], "True");
        assert_eq!(approved["reason"], "KubectlApprove");
        assert!(approved["lastUpdateTime"].is_string(), "{approved}");
        assert!(approved["lastTransitionTime"].is_string(), "{approved}");

        // kubectl refuses to deny it; the server refuses a client that tries: Approved
        // and Denied are exclusive, and the approval may not be removed.
        let (ok, _, err) = k.run(&["certificate", "deny", &alice]).await;
        assert!(!ok && err.contains("already Approved"), "{err}");
        let client = s.client().await;
        let approval =
            format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{alice}/approval");
        let mut denied = csr.clone();
        denied["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Denied", "status": "True", "reason": "Nope"}));
        let status = refused(&client, &approval, &denied).await;
        assert_eq!(
            status["details"]["causes"][0]["message"],
            "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
        );
        let mut withdrawn = csr.clone();
        withdrawn["status"]["conditions"] = json!([]);
        let status = refused(&client, &approval, &withdrawn).await;
        assert_eq!(
            status["details"]["causes"][0]["message"],
            "Forbidden: updates may not remove a condition of type \"Approved\""
        );
    }
}

#[tokio::test]
async fn bad_certificate_signing_requests_get_a_422_naming_the_field() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let good = pem_request("jane");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let csr = |request: &str, signer: &str, expiration: i64| {
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": {"name": "jane"},
               "spec": {"request": b64(request), "signerName": signer,
                        "expirationSeconds": expiration, "usages": ["client auth"]}})
    };
    for (body, field, message) in [
        (
            csr("not a pem", "example.com/signer", 3600),
            "spec.request",
            "PEM block type must be CERTIFICATE REQUEST",
        ),
        (csr(&good, "", 3600), "spec.signerName", "Required value"),
        (
            csr(&good, "example.com/signer", 599),
            "spec.expirationSeconds",
            "Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)",
        ),
    ] {
        let (code, _, status) = send(
            &client,
            "POST",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["details"]["kind"], "CertificateSigningRequest");
        let cause = &status["details"]["causes"][0];
        assert_eq!(cause["field"], field, "{status}");
        assert!(
            cause["message"].as_str().unwrap().ends_with(message),
            "{status}"
        );
    }
    // Nothing was stored.
    let list = get_json(
        &client,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    )
    .await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn kube_rs_patches_and_reads_a_csrs_approval() {
    use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
    let s = TestServer::start().await.unwrap();
    let csrs: Api<CertificateSigningRequest> = Api::all(s.client().await);
    let csr: CertificateSigningRequest =
        serde_yaml::from_str(&csr_yaml("fake", &pem_request("fake"))).unwrap();
    csrs.create(&PostParams::default(), &csr).await.unwrap();
    // kube-rs's own client test: a condition of any type merged in through `approval`.
    let patch = kube::api::Patch::Merge(json!({"status": {"conditions": [
        {"type": "ApprovedFake", "status": "True", "reason": "Test", "message": "fake"}
    ]}}));
    csrs.patch_approval("fake", &Default::default(), &patch)
        .await
        .unwrap();
    let approved = csrs.get_approval("fake").await.unwrap();
    let conditions = approved.status.unwrap().conditions.unwrap();
    assert_eq!(conditions[0].type_, "ApprovedFake");
    assert!(conditions[0].last_update_time.is_some());
    // The main resource cannot change the request.
    let mut changed = csrs.get("fake").await.unwrap();
    changed.spec.signer_name = "example.com/other".into();
    let kept = csrs
        .replace("fake", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(kept.spec.signer_name, "kubernetes.io/kube-apiserver-client");
}

#[tokio::test]
async fn kube_rs_group_discovery_finds_apiregistration_and_certificates() {
    let s = TestServer::start().await.unwrap();
    let discovery = kube::discovery::Discovery::new(s.client().await)
        .run()
        .await
        .unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in ["apiregistration.k8s.io", "certificates.k8s.io"] {
        assert!(groups.iter().any(|n| n == g), "{g} missing from {groups:?}");
    }
    // The aggregator's group comes first, as on a real cluster.
    let client = s.client().await;
    let apis = get_json(&client, "/apis").await;
    assert_eq!(apis["groups"][0]["name"], "apiregistration.k8s.io");
    let core = discovery
        .get("")
        .expect("the core group")
        .recommended_resources();
    let (cs, caps) = core
        .iter()
        .find(|(r, _)| r.plural == "componentstatuses")
        .expect("componentstatuses discovered");
    assert_eq!(cs.kind, "ComponentStatus");
    assert!(caps.supports_operation(kube::discovery::verbs::LIST));
    assert!(!caps.supports_operation(kube::discovery::verbs::WATCH));
    let (csr, caps) = discovery
        .get("certificates.k8s.io")
        .unwrap()
        .recommended_resources()
        .into_iter()
        .find(|(r, _)| r.plural == "certificatesigningrequests")
        .expect("certificatesigningrequests discovered");
    assert_eq!(csr.kind, "CertificateSigningRequest");
    let subresources: Vec<&str> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.as_str())
        .collect();
    assert_eq!(subresources, ["approval", "status"]);
}
