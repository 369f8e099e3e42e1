//! `apps/v1`: Deployments, DaemonSets, StatefulSets (ReplicaSets are plain
//! [`super::workloads::validate_replicated`]).

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};

use super::rules::{validate_immutable, validate_nonnegative, validate_rolling_update};
use super::workloads::{validate_replicated, validate_selector_and_template, validate_template};

/// `ValidateReplicaSet` (+ update): replicas, selector and template.
pub(crate) fn validate_replica_set(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_replicated(new, old, "ReplicaSet", true, errs);
}

pub(crate) fn validate_deployment(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_replicated(new, old, "Deployment", true, errs);
    let strategy = at(new, &["spec", "strategy"]);
    match str_at(strategy, &["type"]) {
        "Recreate" => {
            if !at(strategy, &["rollingUpdate"]).is_null() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" | "" => {
            validate_rolling_update(
                at(strategy, &["rollingUpdate"]),
                "spec.strategy.rollingUpdate",
                errs,
            );
        }
        other => errs.push(FieldError::not_supported(
            "spec.strategy.type",
            json!(other),
            &["Recreate", "RollingUpdate"],
        )),
    }
    validate_nonnegative(
        at(new, &["spec", "revisionHistoryLimit"]),
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(pds) = at(new, &["spec", "progressDeadlineSeconds"]).as_i64() {
        validate_nonnegative(&json!(pds), "spec.progressDeadlineSeconds", errs);
        let mrs = at(new, &["spec", "minReadySeconds"]).as_i64().unwrap_or(0);
        if pds <= mrs {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                json!(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

pub(crate) fn validate_daemonset(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_nonnegative(
        at(new, &["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        errs,
    );
    validate_selector_and_template(new, "daemonset", &["spec", "template"], errs);
    validate_template(new, &["spec", "template"], &["Always"], "DaemonSet", errs);
    let strategy = at(new, &["spec", "updateStrategy"]);
    match str_at(strategy, &["type"]) {
        "OnDelete" | "" => {}
        "RollingUpdate" => {
            validate_rolling_update(
                at(strategy, &["rollingUpdate"]),
                "spec.updateStrategy.rollingUpdate",
                errs,
            );
        }
        other => errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            json!(other),
            &["OnDelete", "RollingUpdate"],
        )),
    }
    if let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
    }
}

/// The set with a volume per `volumeClaimTemplates` entry added to its template,
/// as the controller adds them to each pod, so that containers may mount the
/// claims (upstream does not validate a StatefulSet's pod spec at all, for this
/// reason: "the union of the given volumes and volumeClaims" is what the mounts
/// must match).
fn with_claim_volumes(set: &Value) -> Value {
    let mut set = set.clone();
    let names: Vec<Value> = at(&set, &["spec", "volumeClaimTemplates"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/metadata/name").cloned())
        .collect();
    if names.is_empty() {
        return set;
    }
    if let Some(spec) = set
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
    {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(list) = volumes.as_array_mut() {
            for name in names {
                if !list.iter().any(|v| v.get("name") == Some(&name)) {
                    list.push(json!({"name": name, "persistentVolumeClaim": {"claimName": name}}));
                }
            }
        }
    }
    set
}

pub(crate) fn validate_statefulset(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_replicated(&with_claim_volumes(new), None, "StatefulSet", false, errs);
    let pmp = str_at(new, &["spec", "podManagementPolicy"]);
    if !pmp.is_empty() && pmp != "OrderedReady" && pmp != "Parallel" {
        errs.push(FieldError::not_supported(
            "spec.podManagementPolicy",
            json!(pmp),
            &["OrderedReady", "Parallel"],
        ));
    }
    let ut = str_at(new, &["spec", "updateStrategy", "type"]);
    if !ut.is_empty() && ut != "RollingUpdate" && ut != "OnDelete" {
        errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            json!(ut),
            &["OnDelete", "RollingUpdate"],
        ));
    }
    validate_nonnegative(
        at(
            new,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
        ),
        "spec.updateStrategy.rollingUpdate.partition",
        errs,
    );
    if let Some(old) = old {
        let mutable = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let strip = |spec: &Value| -> Value {
            let mut m = spec.as_object().cloned().unwrap_or_default();
            for f in mutable {
                m.remove(f);
            }
            Value::Object(m)
        };
        if strip(at(new, &["spec"])) != strip(at(old, &["spec"])) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, check_update, deployment};

    #[test]
    fn deployment_rules() {
        let mut d = deployment();
        d["spec"]["replicas"] = json!(-1);
        assert_eq!(
            check("apps", "deployments", d),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
        let mut d = deployment();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
            ]
        );
        let mut d = deployment();
        d["spec"]["selector"] = json!({});
        assert!(
            check("apps", "deployments", d)[0]
                .ends_with("empty selector is invalid for deployment")
        );
        let mut d = deployment();
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            check("apps", "deployments", d),
            ["spec.selector: Required value"]
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": "150%"}});
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"150%\": must not be greater than 100%"
            ]
        );
        let mut d = deployment();
        d["spec"]["minReadySeconds"] = json!(700);
        assert_eq!(
            check("apps", "deployments", d),
            [
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"
            ]
        );
        // Selector immutable on update.
        let mut new = deployment();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        new["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        let errs = check_update("apps", "deployments", deployment(), new);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("spec.selector: Invalid value: ")
                && errs[0].ends_with(": field is immutable")
        );
        // Scaling is an allowed update.
        let mut new = deployment();
        new["spec"]["replicas"] = json!(5);
        assert!(check_update("apps", "deployments", deployment(), new).is_empty());
    }

    #[test]
    fn apps_update_and_template_rules() {
        let sts = json!({"metadata": {"name": "db", "namespace": "d"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg"}],
                    "activeDeadlineSeconds": 5}}}});
        assert_eq!(
            check("apps", "statefulsets", sts.clone()),
            [
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported"
            ]
        );
        let mut ok = sts.clone();
        ok["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("activeDeadlineSeconds");
        let mut changed = ok.clone();
        changed["spec"]["serviceName"] = json!("other");
        assert!(
            check_update("apps", "statefulsets", ok.clone(), changed)[0]
                .starts_with("spec: Forbidden: updates to statefulset spec")
        );
        let mut scaled = ok.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(check_update("apps", "statefulsets", ok.clone(), scaled).is_empty());

        // Containers may mount the claims of the volume claim templates, and
        // nothing else that is not a volume.
        let mut mounted = ok.clone();
        mounted["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/data"}]);
        assert_eq!(
            check("apps", "statefulsets", mounted.clone()),
            ["spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\""]
        );
        mounted["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
        assert!(check("apps", "statefulsets", mounted).is_empty());

        let ds = json!({"metadata": {"name": "agent", "namespace": "d"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        let errs = check("apps", "daemonsets", ds);
        assert!(errs.contains(&"spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string()), "{errs:?}");
    }
}
