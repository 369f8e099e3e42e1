//! Upstream's `podControllerFinder`s: the controller of a pod and its scale, from
//! the ReplicationController, Deployment, ReplicaSet and StatefulSet caches, and for
//! any other kind from its `scale` subresource (a custom resource's, found through
//! discovery). Tried in upstream's order: RC, Deployment (through the pod's
//! ReplicaSet), ReplicaSet (not owned by a Deployment), StatefulSet, `scale`.

use std::collections::HashMap;

use capstan_runtime::errors::is_not_found;
use capstan_runtime::informer::Lister;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource};
use kube::{Client, Resource};
use parking_lot::Mutex;

/// A pod's controller and its desired replica count (upstream `controllerAndScale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerScale {
    /// The controller's uid (the Deployment's for a pod of a Deployment's ReplicaSet).
    pub uid: String,
    /// Its `spec.replicas`.
    pub scale: i32,
}

/// Why a pod's controller could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum FinderError {
    /// An owner reference's `apiVersion` is not `group/version` or `version`.
    #[error("unexpected GroupVersion string: {0}")]
    GroupVersion(String),
    /// Discovery knows no resource of the owner's kind.
    #[error("no matches for kind {kind:?} in version {api_version:?}: {source}")]
    NoMapping {
        /// The owner's kind.
        kind: String,
        /// The owner's `apiVersion`.
        api_version: String,
        /// Discovery's error.
        #[source]
        source: kube::Error,
    },
    /// The owner's resource has no `scale` subresource.
    #[error("{0} does not implement the scale subresource")]
    NoScale(String),
    /// Reading the `scale` subresource failed.
    #[error("getting the scale of {resource} {name}: {source}")]
    Scale {
        /// The resource, `plural.group`.
        resource: String,
        /// The owner's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// No finder found the controller a pod names.
    #[error("found no controllers for pod {0:?}")]
    NoControllers(String),
}

/// The group of an `apiVersion` (apimachinery `ParseGroupVersion`): `""` for `v1`
/// or `/v1`, `apps` for `apps/v1`; more than one `/` is an error.
pub fn group_of(api_version: &str) -> Result<&str, FinderError> {
    match api_version.matches('/').count() {
        0 => Ok(""),
        1 => Ok(api_version.split('/').next().unwrap_or_default()),
        _ => Err(FinderError::GroupVersion(api_version.to_string())),
    }
}

/// Upstream `verifyGroupKind`: the reference names `kind` in one of `groups` (its
/// `apiVersion` is parsed first, and an unparsable one is an error).
pub fn verify_group_kind(
    r: &OwnerReference,
    kind: &str,
    groups: &[&str],
) -> Result<bool, FinderError> {
    let group = group_of(&r.api_version)?;
    Ok(r.kind == kind && groups.contains(&group))
}

fn replicas(r: Option<i32>) -> i32 {
    r.unwrap_or(1)
}

fn uid<K: Resource>(obj: &K) -> &str {
    obj.meta().uid.as_deref().unwrap_or_default()
}

/// The workload caches the built-in finders read.
#[derive(Clone)]
pub struct Workloads {
    /// ReplicationControllers.
    pub rcs: Lister<ReplicationController>,
    /// ReplicaSets.
    pub rss: Lister<ReplicaSet>,
    /// Deployments.
    pub deployments: Lister<Deployment>,
    /// StatefulSets.
    pub statefulsets: Lister<StatefulSet>,
}

impl Workloads {
    /// Upstream `getPodReplicationController`.
    pub fn replication_controller(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        if !verify_group_kind(r, "ReplicationController", &[""])? {
            return Ok(None);
        }
        Ok(self
            .rcs
            .get(ns, &r.name)
            .filter(|rc| uid(rc.as_ref()) == r.uid)
            .map(|rc| ControllerScale {
                uid: r.uid.clone(),
                scale: replicas(rc.spec.as_ref().and_then(|s| s.replicas)),
            }))
    }

    /// The ReplicaSet a reference names, if it is in the cache with that uid.
    fn replica_set(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<std::sync::Arc<ReplicaSet>>, FinderError> {
        if !verify_group_kind(r, "ReplicaSet", &["apps", "extensions"])? {
            return Ok(None);
        }
        Ok(self
            .rss
            .get(ns, &r.name)
            .filter(|rs| uid(rs.as_ref()) == r.uid))
    }

    /// Upstream `getPodDeployment`: the Deployment controlling the pod's ReplicaSet.
    pub fn deployment(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        let Some(rs) = self.replica_set(r, ns)? else {
            return Ok(None);
        };
        let Some(owner) = capstan_runtime::ownership::controller_of(rs.as_ref()) else {
            return Ok(None);
        };
        if !verify_group_kind(owner, "Deployment", &["apps", "extensions"])? {
            return Ok(None);
        }
        Ok(self
            .deployments
            .get(ns, &owner.name)
            .filter(|d| uid(d.as_ref()) == owner.uid)
            .map(|d| ControllerScale {
                uid: owner.uid.clone(),
                scale: replicas(d.spec.as_ref().and_then(|s| s.replicas)),
            }))
    }

    /// Upstream `getPodReplicaSet`: a ReplicaSet no Deployment controls.
    pub fn replica_set_scale(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        let Some(rs) = self.replica_set(r, ns)? else {
            return Ok(None);
        };
        if capstan_runtime::ownership::controller_of(rs.as_ref())
            .is_some_and(|o| o.kind == "Deployment")
        {
            return Ok(None);
        }
        Ok(Some(ControllerScale {
            uid: r.uid.clone(),
            scale: replicas(rs.spec.as_ref().and_then(|s| s.replicas)),
        }))
    }

    /// Upstream `getPodStatefulSet`.
    pub fn stateful_set(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        if !verify_group_kind(r, "StatefulSet", &["apps"])? {
            return Ok(None);
        }
        Ok(self
            .statefulsets
            .get(ns, &r.name)
            .filter(|ss| uid(ss.as_ref()) == r.uid)
            .map(|ss| ControllerScale {
                uid: r.uid.clone(),
                scale: replicas(ss.spec.as_ref().and_then(|s| s.replicas)),
            }))
    }

    /// The built-in finders in upstream's order; `None` when none knows the
    /// controller (the `scale` finder is tried next).
    pub fn find(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        type Finder =
            fn(&Workloads, &OwnerReference, &str) -> Result<Option<ControllerScale>, FinderError>;
        let finders: [Finder; 4] = [
            Workloads::replication_controller,
            Workloads::deployment,
            Workloads::replica_set_scale,
            Workloads::stateful_set,
        ];
        for finder in finders {
            if let Some(found) = finder(self, r, ns)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// Whether discovery lists a `scale` subresource of kind `Scale` in a version the
/// scale client reads (upstream `implementsScale`).
pub fn implements_scale(caps: &ApiCapabilities) -> bool {
    caps.subresources.iter().any(|(ar, _)| {
        ar.plural == "scale"
            && ar.kind == "Scale"
            && matches!(
                (ar.group.as_str(), ar.version.as_str()),
                ("autoscaling", "v1") | ("extensions", "v1beta1")
            )
    })
}

/// `plural.group`, or `plural` in the core group (`GroupResource.String`).
fn group_resource(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        ar.plural.clone()
    } else {
        format!("{}.{}", ar.plural, ar.group)
    }
}

/// Upstream `getScaleController`: the `scale` subresource of any kind, its resource
/// found through discovery (remembered per kind).
pub struct ScaleFinder {
    client: Client,
    mappings: Mutex<HashMap<GroupVersionKind, ApiResource>>,
}

impl ScaleFinder {
    /// A finder reading through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            mappings: Mutex::new(HashMap::new()),
        }
    }

    async fn discover(
        &self,
        gvk: &GroupVersionKind,
        r: &OwnerReference,
    ) -> Result<(ApiResource, ApiCapabilities), FinderError> {
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(|source| FinderError::NoMapping {
                kind: r.kind.clone(),
                api_version: r.api_version.clone(),
                source,
            })?;
        self.mappings.lock().insert(gvk.clone(), ar.clone());
        Ok((ar, caps))
    }

    /// The scale of the object `r` names in `ns`: `None` when it is gone or was
    /// replaced (another uid); an error when its kind is unknown or has no `scale`.
    pub async fn find(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<ControllerScale>, FinderError> {
        let group = group_of(&r.api_version)?;
        let version = r.api_version.rsplit('/').next().unwrap_or_default();
        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
        let known = self.mappings.lock().get(&gvk).cloned();
        let ar = match known {
            Some(ar) => ar,
            None => self.discover(&gvk, r).await?.0,
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        match api.get_scale(&r.name).await {
            Ok(scale) if scale.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                Ok(Some(ControllerScale {
                    uid: r.uid.clone(),
                    scale: scale.spec.and_then(|s| s.replicas).unwrap_or(0),
                }))
            }
            Ok(_) => Ok(None),
            // Gone, or its resource has no `scale`: discovery tells which.
            Err(e) if is_not_found(&e) => {
                let (ar, caps) = self.discover(&gvk, r).await?;
                if implements_scale(&caps) {
                    Ok(None)
                } else {
                    Err(FinderError::NoScale(group_resource(&ar)))
                }
            }
            Err(source) => Err(FinderError::Scale {
                resource: group_resource(&ar),
                name: r.name.clone(),
                source,
            }),
        }
    }
}
