//! `apps/v1`.

use serde_json::{Value, json};

use crate::json::{array_mut, get_mut, is_unset, set_default};

use super::core::default_pvc;
use super::pod::default_template;

pub(crate) fn default_deployment(d: &mut Value) {
    set_default(d, &["spec", "replicas"], json!(1));
    set_default(d, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if d.pointer("/spec/strategy/type").and_then(|t| t.as_str()) == Some("RollingUpdate") {
        set_default(
            d,
            &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
            json!("25%"),
        );
        set_default(
            d,
            &["spec", "strategy", "rollingUpdate", "maxSurge"],
            json!("25%"),
        );
    }
    set_default(d, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(d, &["spec", "progressDeadlineSeconds"], json!(600));
    default_template(d, &["spec", "template"]);
}

/// `SetDefaults_ReplicaSet`: one replica, and the pod template's defaults.
pub(crate) fn default_replica_set(rs: &mut Value) {
    set_default(rs, &["spec", "replicas"], json!(1));
    default_template(rs, &["spec", "template"]);
}

pub(crate) fn default_statefulset(s: &mut Value) {
    set_default(s, &["spec", "replicas"], json!(1));
    set_default(s, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    if is_unset(s, &["spec", "updateStrategy", "type"]) {
        set_default(
            s,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        set_default(s, &["spec", "updateStrategy", "rollingUpdate"], json!({}));
    }
    if s.pointer("/spec/updateStrategy/type")
        .and_then(|t| t.as_str())
        == Some("RollingUpdate")
        && s.pointer("/spec/updateStrategy/rollingUpdate").is_some()
    {
        set_default(
            s,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
    }
    set_default(s, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(
        s,
        &[
            "spec",
            "persistentVolumeClaimRetentionPolicy",
            "whenDeleted",
        ],
        json!("Retain"),
    );
    set_default(
        s,
        &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"],
        json!("Retain"),
    );
    default_template(s, &["spec", "template"]);
    if let Some(spec) = get_mut(s, &["spec"]) {
        for pvc in array_mut(spec, &["volumeClaimTemplates"]) {
            default_pvc(pvc);
        }
    }
}

pub(crate) fn default_daemonset(d: &mut Value) {
    set_default(
        d,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if d.pointer("/spec/updateStrategy/type")
        .and_then(|t| t.as_str())
        == Some("RollingUpdate")
    {
        set_default(
            d,
            &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
            json!(1),
        );
        set_default(
            d,
            &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
            json!(0),
        );
    }
    set_default(d, &["spec", "revisionHistoryLimit"], json!(10));
    default_template(d, &["spec", "template"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;

    #[test]
    fn deployment_defaults() {
        let d = defaulted(
            "apps",
            "deployments",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let tspec = &spec["template"]["spec"];
        assert_eq!(tspec["restartPolicy"], "Always");
        assert_eq!(tspec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        // Templates do not get the Pod-only defaults.
        assert!(tspec.get("enableServiceLinks").is_none());
        let recreate = defaulted(
            "apps",
            "deployments",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(recreate["spec"]["replicas"], 0);
        assert!(recreate["spec"]["strategy"].get("rollingUpdate").is_none());
    }

    #[test]
    fn statefulset_daemonset_replicaset_defaults() {
        let s = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]}}),
        );
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(s["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let ondelete = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(
            ondelete["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );

        let d = defaulted("apps", "daemonsets", json!({"spec": {}}));
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let rs = defaulted("apps", "replicasets", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);
    }
}
