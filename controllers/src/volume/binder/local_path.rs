//! The built-in local-path provisioner: the volume kind's `rancher.io/local-path`
//! provisioner would make for a claim — a `hostPath` directory
//! `<dir>/pvc-<uid>_<namespace>_<claim>` on the claim's selected node (no disk is
//! touched: the node agent's runtimes need no real directory), pinned to that node by
//! a `kubernetes.io/hostname` node affinity, pre-bound to the claim, reclaimed as its
//! class says.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::ANN_PROVISIONED_BY;

/// The provisioner name the built-in provisioner serves (kind's default class's).
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";
/// Where its volumes live by default (local-path-provisioner's default path).
pub const DEFAULT_LOCAL_PATH_DIR: &str = "/opt/local-path-provisioner";
/// The node label its volumes are pinned by.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The name of the volume provisioned for a claim (upstream's
/// `GetProvisionedVolumeNameForClaim`): `pvc-<claim uid>`.
pub fn provisioned_volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or(""))
}

/// A reference to the claim, as a volume's `claimRef` holds it.
pub fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("PersistentVolumeClaim".to_string()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The volume made for `claim` of `class`, under `dir`, on `node` (`None` for a
/// claim of an `Immediate` class: reachable from any node).
pub fn provision(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: Option<&str>,
    dir: &Path,
) -> PersistentVolume {
    let name = provisioned_volume_name(claim);
    let spec = claim.spec.clone().unwrap_or_default();
    let folder = format!(
        "{name}_{}_{}",
        claim.metadata.namespace.as_deref().unwrap_or(""),
        claim.metadata.name.as_deref().unwrap_or("")
    );
    let capacity = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| BTreeMap::from([("storage".to_string(), q.clone())]));
    let node_affinity = node.map(|node| VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: HOSTNAME_LABEL.to_string(),
                    operator: "In".to_string(),
                    values: Some(vec![node.to_string()]),
                }]),
                match_fields: None,
            }],
        }),
    });
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name),
            annotations: Some(BTreeMap::from([(
                ANN_PROVISIONED_BY.to_string(),
                LOCAL_PATH_PROVISIONER.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity,
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource {
                path: dir.join(folder).to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".to_string()),
            }),
            mount_options: class.mount_options.clone(),
            node_affinity,
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".to_string()),
            ),
            storage_class_name: class.metadata.name.clone(),
            volume_mode: spec.volume_mode.clone(),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::binder::matching::is_volume_bound_to_claim;
    use crate::volume::binder::testing::{claim, class};

    #[test]
    fn a_provisioned_volume_is_pinned_to_the_node_and_prebound() {
        let c = claim("data", "standard", "2Gi");
        let sc = class(
            "standard",
            LOCAL_PATH_PROVISIONER,
            "WaitForFirstConsumer",
            "Delete",
        );
        let v = provision(&c, &sc, Some("node-1"), Path::new("/var/local"));
        assert_eq!(v.metadata.name.as_deref(), Some("pvc-uid-data"));
        assert!(is_volume_bound_to_claim(&v, &c));
        let spec = v.spec.as_ref().unwrap();
        assert_eq!(
            spec.host_path.as_ref().unwrap().path,
            "/var/local/pvc-uid-data_ns_data"
        );
        assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "2Gi");
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
        let term = &spec
            .node_affinity
            .as_ref()
            .unwrap()
            .required
            .as_ref()
            .unwrap()
            .node_selector_terms[0];
        let req = &term.match_expressions.as_ref().unwrap()[0];
        assert_eq!(
            (req.key.as_str(), req.values.as_deref()),
            (HOSTNAME_LABEL, Some(&["node-1".to_string()][..]))
        );
        assert_eq!(
            v.metadata.annotations.as_ref().unwrap()[ANN_PROVISIONED_BY],
            LOCAL_PATH_PROVISIONER
        );
        let anywhere = provision(&c, &sc, None, Path::new("/d"));
        assert!(anywhere.spec.unwrap().node_affinity.is_none());
    }
}
