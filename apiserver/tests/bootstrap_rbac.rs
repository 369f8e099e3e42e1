//! Upstream's bootstrap RBAC roles as real kubectl sees them, and aggregation picking up
//! a user's labelled ClusterRole.

mod common;

use std::time::Duration;

use capstan_apiserver::TestServer;
use common::Kubectl;
use serde_json::Value;
use tokio::time::Instant;

const WIDGET_VIEWER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widget-viewer
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- apiGroups: [example.com]
  resources: [widgets]
  verbs: [get, list, watch]
"#;

async fn role(k: &Kubectl, name: &str) -> Value {
    let out = k.ok(&["get", "clusterrole", name, "-o", "json"]).await;
    serde_json::from_str(&out).expect("kubectl prints JSON")
}

fn rules(role: &Value) -> Vec<Value> {
    role["rules"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn kubectl_sees_upstreams_bootstrap_roles_and_aggregation_follows_labelled_roles() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "kubectl");

    let admin = role(&k, "cluster-admin").await;
    assert_eq!(
        admin["metadata"]["labels"]["kubernetes.io/bootstrapping"],
        "rbac-defaults"
    );
    assert_eq!(
        admin["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
        "true"
    );
    let binding = k
        .ok(&["get", "clusterrolebinding", "cluster-admin", "-o", "json"])
        .await;
    let binding: Value = serde_json::from_str(&binding).unwrap();
    assert_eq!(binding["subjects"][0]["name"], "system:masters");
    assert_eq!(binding["subjects"][0]["kind"], "Group");

    // view carries exactly system:aggregate-to-view's rules; edit and admin include them.
    let to_view = rules(&role(&k, "system:aggregate-to-view").await);
    let view = role(&k, "view").await;
    assert_eq!(
        view["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert_eq!(rules(&view), to_view);
    for name in ["edit", "admin"] {
        let got = rules(&role(&k, name).await);
        for r in &to_view {
            assert!(got.contains(r), "{name} lacks view's rule {r}");
        }
    }

    let file = s.dir().join("widget-viewer.yaml");
    std::fs::write(&file, WIDGET_VIEWER).unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let wanted: Value = serde_json::json!({
        "apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let in_view = rules(&role(&k, "view").await).contains(&wanted);
        let in_admin = rules(&role(&k, "admin").await).contains(&wanted);
        if in_view && in_admin {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "widget-viewer's rule never reached view and admin"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
