//! `apps/v1`.

use serde_json::{Value, json};

use crate::kinds::Subresource;

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
    // The strategy's PrepareForCreate: `spec.templateGeneration` (this annotation in
    // apps/v1) starts at 1; updates keep it through `prepare_daemonset_update`.
    if template_generation(d).is_none_or(|g| g < 1) {
        set_template_generation(d, 1);
    }
}

/// apps/v1's `deprecated.daemonset.template.generation`: the internal
/// `spec.templateGeneration`, which the DaemonSet controller labels pods with.
pub(crate) const DAEMONSET_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn template_generation(d: &Value) -> Option<i64> {
    d.get("metadata")?
        .get("annotations")?
        .get(DAEMONSET_TEMPLATE_GENERATION)?
        .as_str()?
        .parse()
        .ok()
}

fn set_template_generation(d: &mut Value, generation: i64) {
    let Some(meta) = d.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            DAEMONSET_TEMPLATE_GENERATION.into(),
            Value::String(generation.to_string()),
        );
    }
}

/// Upstream `daemonSetStrategy.PrepareForUpdate`'s template generation: a client
/// cannot set it; it stays the stored one, one more when the (defaulted) pod
/// template changes. Writes to `status` keep the stored metadata anyway.
pub(crate) fn prepare_daemonset_update(
    sub: Option<Subresource>,
    new: &mut Value,
    old: &Value,
    _now: &str,
) {
    if sub.is_some() {
        return;
    }
    let stored = template_generation(old).unwrap_or(0);
    let mut defaulted = new.clone();
    default_daemonset(&mut defaulted);
    let changed = defaulted.pointer("/spec/template") != old.pointer("/spec/template");
    let generation = if changed { stored + 1 } else { stored };
    if generation > 0 {
        set_template_generation(new, generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;

    #[test]
    fn daemonset_template_generation_starts_at_one_and_follows_template_changes() {
        let ds = |image: &str| json!({"metadata": {"name": "agent"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": image}]}}}});
        let created = defaulted("apps", "daemonsets", ds("x:1"));
        assert_eq!(template_generation(&created), Some(1));
        // An update that changes nothing else keeps it, even if the client sends another.
        let mut same = ds("x:1");
        set_template_generation(&mut same, 7);
        prepare_daemonset_update(None, &mut same, &created, "");
        assert_eq!(template_generation(&same), Some(1));
        // A template change raises it by one.
        let mut changed = ds("x:2");
        prepare_daemonset_update(None, &mut changed, &created, "");
        assert_eq!(template_generation(&changed), Some(2));
        // Writes to status leave it alone.
        let mut status = json!({"metadata": {}});
        prepare_daemonset_update(Some(Subresource::Status), &mut status, &created, "");
        assert_eq!(template_generation(&status), None);
    }

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
