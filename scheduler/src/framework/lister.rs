//! Read access to the cluster objects some plugins need besides nodes and pods
//! (claims, volumes, storage classes, and the workloads behind default spreading).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

/// Listers the plugins read (filled from informers by the shell).
pub trait ClusterLister: Send + Sync {
    /// A PersistentVolumeClaim by namespace and name.
    fn pvc(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>>;
    /// A PersistentVolume by name.
    fn pv(&self, name: &str) -> Option<Arc<PersistentVolume>>;
    /// A StorageClass by name.
    fn storage_class(&self, name: &str) -> Option<Arc<StorageClass>>;
    /// All PersistentVolumes (for delayed-binding claims to match against).
    fn pvs(&self) -> Vec<Arc<PersistentVolume>>;
    /// Services of a namespace.
    fn services(&self, namespace: &str) -> Vec<Arc<Service>>;
    /// ReplicationControllers of a namespace.
    fn replication_controllers(&self, namespace: &str) -> Vec<Arc<ReplicationController>>;
    /// ReplicaSets of a namespace.
    fn replica_sets(&self, namespace: &str) -> Vec<Arc<ReplicaSet>>;
    /// StatefulSets of a namespace.
    fn stateful_sets(&self, namespace: &str) -> Vec<Arc<StatefulSet>>;
    /// PodDisruptionBudgets (all namespaces).
    fn pdbs(&self) -> Vec<Arc<PodDisruptionBudget>>;
}

/// An in-memory [`ClusterLister`] over plain values.
#[derive(Debug, Default, Clone)]
pub struct StaticLister {
    /// Claims by `namespace/name`.
    pub pvcs: HashMap<String, Arc<PersistentVolumeClaim>>,
    /// Volumes by name.
    pub pvs: HashMap<String, Arc<PersistentVolume>>,
    /// Storage classes by name.
    pub storage_classes: HashMap<String, Arc<StorageClass>>,
    /// Services.
    pub services: Vec<Arc<Service>>,
    /// ReplicationControllers.
    pub replication_controllers: Vec<Arc<ReplicationController>>,
    /// ReplicaSets.
    pub replica_sets: Vec<Arc<ReplicaSet>>,
    /// StatefulSets.
    pub stateful_sets: Vec<Arc<StatefulSet>>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Arc<PodDisruptionBudget>>,
}

impl StaticLister {
    /// Adds a claim.
    pub fn add_pvc(&mut self, pvc: PersistentVolumeClaim) {
        let key = format!(
            "{}/{}",
            pvc.metadata.namespace.as_deref().unwrap_or("default"),
            pvc.metadata.name.as_deref().unwrap_or("")
        );
        self.pvcs.insert(key, Arc::new(pvc));
    }

    /// Adds a volume.
    pub fn add_pv(&mut self, pv: PersistentVolume) {
        self.pvs
            .insert(pv.metadata.name.clone().unwrap_or_default(), Arc::new(pv));
    }
}

fn in_ns<
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    items: &[Arc<T>],
    ns: &str,
) -> Vec<Arc<T>> {
    items
        .iter()
        .filter(|o| o.metadata().namespace.as_deref().unwrap_or("default") == ns)
        .cloned()
        .collect()
}

impl ClusterLister for StaticLister {
    fn pvc(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.pvcs.get(&format!("{namespace}/{name}")).cloned()
    }
    fn pv(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.pvs.get(name).cloned()
    }
    fn storage_class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.storage_classes.get(name).cloned()
    }
    fn pvs(&self) -> Vec<Arc<PersistentVolume>> {
        self.pvs.values().cloned().collect()
    }
    fn services(&self, namespace: &str) -> Vec<Arc<Service>> {
        in_ns(&self.services, namespace)
    }
    fn replication_controllers(&self, namespace: &str) -> Vec<Arc<ReplicationController>> {
        in_ns(&self.replication_controllers, namespace)
    }
    fn replica_sets(&self, namespace: &str) -> Vec<Arc<ReplicaSet>> {
        in_ns(&self.replica_sets, namespace)
    }
    fn stateful_sets(&self, namespace: &str) -> Vec<Arc<StatefulSet>> {
        in_ns(&self.stateful_sets, namespace)
    }
    fn pdbs(&self) -> Vec<Arc<PodDisruptionBudget>> {
        self.pdbs.clone()
    }
}
