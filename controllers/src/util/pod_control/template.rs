//! The pod an owner creates from its template (upstream `GetPodFromTemplate`,
//! `pkg/controller/controller_utils.go`).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::PodOwner;

/// Why a pod cannot be built from an owner's template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodTemplateError {
    /// The template has no labels: the pod could never be matched back.
    #[error("unable to create pods, no labels")]
    NoLabels,
    /// The owner has no template.
    #[error("{0} has no pod template")]
    NoTemplate(String),
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

/// The pod to create for `owner`: the template's labels, annotations, finalizers
/// and spec, `generateName: <owner>-`, the owner's namespace, and `controller_ref`
/// (normally [`PodOwner::controller_ref`]). A template without labels is refused,
/// as upstream's `CreatePods` refuses the pod.
pub fn pod_from_template<O: PodOwner>(
    owner: &O,
    controller_ref: OwnerReference,
) -> Result<Pod, PodTemplateError> {
    let name = owner.meta().name.as_deref().unwrap_or_default();
    let template = owner
        .pod_template()
        .ok_or_else(|| PodTemplateError::NoTemplate(format!("{} {name}", O::kind(&()))))?;
    let meta = template.metadata.clone().unwrap_or_default();
    if meta.labels.as_ref().is_none_or(|l| l.is_empty()) {
        return Err(PodTemplateError::NoLabels);
    }
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(pods_prefix(name)),
            namespace: owner.meta().namespace.clone(),
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
    use crate::util::testing::{at, labels, rc, rs};

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
    fn replication_controllers_make_pods_with_their_own_controller_ref() {
        let mut c = rc("frontend", 2, at(0));
        c.spec.as_mut().unwrap().template.as_mut().unwrap().metadata = Some(ObjectMeta {
            labels: Some(labels(&[("app", "web"), ("tier", "fe")])),
            annotations: Some(labels(&[("note", "x")])),
            ..Default::default()
        });
        let p = pod_from_template(&c, c.controller_ref().unwrap()).unwrap();
        assert_eq!(p.metadata.generate_name.as_deref(), Some("frontend-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            p.metadata.labels,
            Some(labels(&[("app", "web"), ("tier", "fe")]))
        );
        assert_eq!(p.metadata.annotations, Some(labels(&[("note", "x")])));
        let r = &p.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str(), r.name.as_str()),
            ("v1", "ReplicationController", "frontend")
        );
        assert_eq!(r.uid, "uid-frontend");
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert_eq!(p.spec, c.spec.unwrap().template.unwrap().spec);
    }

    #[test]
    fn a_replica_set_and_its_controller_ref() {
        let r = rs("web", 1, at(0));
        assert_eq!(r.controller_ref().unwrap(), owner());
        let p = pod_from_template(&r, r.controller_ref().unwrap()).unwrap();
        assert_eq!(p.metadata.owner_references, Some(vec![owner()]));
    }

    #[test]
    fn owners_without_a_template_are_refused_by_name() {
        let mut c = rc("frontend", 1, at(0));
        c.spec.as_mut().unwrap().template = None;
        assert_eq!(
            pod_from_template(&c, owner()).unwrap_err().to_string(),
            "ReplicationController frontend has no pod template"
        );
    }

    #[test]
    fn long_names_drop_the_dash() {
        assert_eq!(pods_prefix("a"), "a-");
        let long = "a".repeat(253);
        assert_eq!(pods_prefix(&long), long);
    }
}
