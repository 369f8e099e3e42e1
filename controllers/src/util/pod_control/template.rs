//! The pod a ReplicaSet creates from its template (upstream `GetPodFromTemplate`,
//! `pkg/controller/controller_utils.go`).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Why a pod cannot be built from a ReplicaSet's template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodTemplateError {
    /// The template has no labels: the pod could never be matched back.
    #[error("unable to create pods, no labels")]
    NoLabels,
    /// The ReplicaSet has no template.
    #[error("replica set has no pod template")]
    NoTemplate,
}

/// Maximum length of a DNS subdomain name (a `generateName` prefix must leave it valid).
const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// The `generateName` for pods of a controller named `name`: `"<name>-"`, or just
/// `name` when the dash would make it too long (upstream `getPodsPrefix`).
pub fn pods_prefix(name: &str) -> String {
    if name.len() < DNS1123_SUBDOMAIN_MAX {
        format!("{name}-")
    } else {
        name.to_string()
    }
}

/// The pod to create for `rs`: the template's labels, annotations, finalizers and
/// spec, `generateName: <rs>-`, the RS's namespace, and `controller_ref` (the
/// RS's controller reference, `controller: true, blockOwnerDeletion: true`).
pub fn pod_from_template(
    rs: &ReplicaSet,
    controller_ref: OwnerReference,
) -> Result<Pod, PodTemplateError> {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .ok_or(PodTemplateError::NoTemplate)?;
    let meta = template.metadata.clone().unwrap_or_default();
    if meta.labels.as_ref().is_none_or(|l| l.is_empty()) {
        return Err(PodTemplateError::NoLabels);
    }
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(pods_prefix(name)),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, labels, rs};

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "uid-web".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn pods_carry_template_and_controller_ref() {
        let mut r = rs("web", 3, at(0));
        let t = r.spec.as_mut().unwrap().template.as_mut().unwrap();
        let m = t.metadata.get_or_insert_default();
        m.annotations = Some(labels(&[("a", "b")]));
        m.finalizers = Some(vec!["example.com/f".into()]);
        m.name = Some("ignored".into());
        let p = pod_from_template(&r, owner()).unwrap();
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(p.metadata.name, None);
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(p.metadata.labels, Some(labels(&[("app", "web")])));
        assert_eq!(p.metadata.annotations, Some(labels(&[("a", "b")])));
        assert_eq!(
            p.metadata.finalizers,
            Some(vec!["example.com/f".to_string()])
        );
        assert_eq!(p.metadata.owner_references, Some(vec![owner()]));
        assert_eq!(p.spec, r.spec.unwrap().template.unwrap().spec);
    }

    #[test]
    fn templates_without_labels_are_refused() {
        let mut r = rs("web", 1, at(0));
        r.spec.as_mut().unwrap().template.as_mut().unwrap().metadata = None;
        assert_eq!(
            pod_from_template(&r, owner()),
            Err(PodTemplateError::NoLabels)
        );
    }

    #[test]
    fn long_names_drop_the_dash() {
        assert_eq!(pods_prefix("a"), "a-");
        let long = "a".repeat(253);
        assert_eq!(pods_prefix(&long), long);
    }
}
