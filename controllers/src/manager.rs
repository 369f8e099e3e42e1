//! Running a set of controllers in one process, as kube-controller-manager does:
//! one shared informer factory, each enabled controller with its own queue and
//! workers, a readiness check for the caches, and a graceful stop. Both
//! `capstan controller-manager` and `capstan up` start controllers through here.
//!
//! [`CONTROLLERS`] is the table of every controller this crate can run: a new
//! controller is its module plus one entry there. The `--controllers` selection
//! ([`ControllerSelection`]), the `--concurrent-*-syncs` flags of the binary, the Helm
//! chart's RBAC and [`ControllerManager`] all read the table.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{ControllerError, SyncCheck};
use capstan_runtime::informer::SharedInformerFactory;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ReplicationController, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Client;

use crate::cronjob::{CronJobController, CronJobControllerConfig};
use crate::daemonset::{DaemonSetController, DaemonSetControllerConfig};
use crate::deployment::controller::{DeploymentController, DeploymentControllerConfig};
use crate::disruption::{DisruptionController, DisruptionControllerConfig};
use crate::endpoints::{ENDPOINTS_CONTROLLER, endpoints_controller};
use crate::endpointslice::{
    DEFAULT_MAX_ENDPOINTS_PER_SLICE, ENDPOINTSLICE_CONTROLLER, EndpointSliceConfig,
    endpointslice_controller,
};
use crate::gc::shell::{GcConfig, run_garbage_collector_on};
use crate::job::{JobController, JobControllerConfig};
use crate::namespace::{NamespaceController, NamespaceControllerConfig};
use crate::nodelifecycle::{NodeLifecycleConfig, node_lifecycle_controller};
use crate::replicaset::ReplicaSetLike;
use crate::replicaset::controller::{ReplicaSetController, ReplicaSetControllerConfig, SetupError};
use crate::resourcequota::{ResourceQuotaController, ResourceQuotaControllerConfig};
use crate::serviceaccount::{SERVICEACCOUNT_CONTROLLER, serviceaccount_controller};
use crate::statefulset::{StatefulSetController, StatefulSetControllerConfig};
use crate::tainteviction::{TaintEvictionConfig, UPDATE_WORKER_SIZE, taint_eviction_controller};
use crate::ttl::{TtlAfterFinishedController, TtlAfterFinishedControllerConfig};
use crate::volume::binder::{self, BinderConfig, PersistentVolumeBinderController};
use crate::volume::pv_protection::{self, PvProtectionController};
use crate::volume::pvc_protection::{self, PvcProtectionController};

mod descriptor;
mod selection;

pub use descriptor::{
    ANY, BuildContext, BuiltController, Constructor, ControllerDescriptor, Informed, Permission,
    Shutdown, SyncsFlag,
};
pub use selection::{ControllerSelection, lookup};

/// Upstream name of the ReplicaSet controller (`--controllers`).
pub const REPLICASET_CONTROLLER: &str = "replicaset-controller";

/// Upstream name of the ReplicationController controller (`--controllers`).
pub const REPLICATIONCONTROLLER_CONTROLLER: &str = "replicationcontroller-controller";

/// Upstream name of the Deployment controller (`--controllers`).
pub const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";

/// Upstream name of the DaemonSet controller (`--controllers`).
pub const DAEMONSET_CONTROLLER: &str = "daemonset-controller";

/// Upstream name of the Job controller (`--controllers`).
pub const JOB_CONTROLLER: &str = "job-controller";

/// Upstream name of the CronJob controller (`--controllers`).
pub const CRONJOB_CONTROLLER: &str = crate::cronjob::CRONJOB_CONTROLLER;

/// Upstream name of the TTL-after-finished controller (`--controllers`).
pub const TTL_AFTER_FINISHED_CONTROLLER: &str = crate::ttl::TTL_AFTER_FINISHED_CONTROLLER;

/// Upstream name of the StatefulSet controller (`--controllers`).
pub const STATEFULSET_CONTROLLER: &str = crate::statefulset::STATEFULSET_CONTROLLER;

/// Upstream name of the garbage collector (`--controllers`).
pub const GARBAGE_COLLECTOR_CONTROLLER: &str = "garbage-collector-controller";

/// Upstream name of the namespace controller (`--controllers`).
pub const NAMESPACE_CONTROLLER: &str = "namespace-controller";

/// Upstream name of the PersistentVolumeClaim protection controller (`--controllers`).
pub const PVC_PROTECTION_CONTROLLER: &str = pvc_protection::CONTROLLER_NAME;

/// Upstream name of the PersistentVolume protection controller (`--controllers`).
pub const PV_PROTECTION_CONTROLLER: &str = pv_protection::CONTROLLER_NAME;

/// Upstream name of the PersistentVolume binder (`--controllers`): off by default
/// here, since a real cluster runs its own; `capstan up` turns it on.
pub const PV_BINDER_CONTROLLER: &str = binder::CONTROLLER_NAME;

/// Upstream name of the resource quota controller (`--controllers`).
pub const RESOURCEQUOTA_CONTROLLER: &str = "resourcequota-controller";

/// Upstream name of the Endpoints controller (`--controllers`).
pub const ENDPOINT_CONTROLLER: &str = ENDPOINTS_CONTROLLER;

/// Upstream name of the EndpointSlice controller (`--controllers`).
pub const ENDPOINT_SLICE_CONTROLLER: &str = ENDPOINTSLICE_CONTROLLER;

/// Upstream name of the ServiceAccount controller (`--controllers`).
pub const SERVICE_ACCOUNT_CONTROLLER: &str = SERVICEACCOUNT_CONTROLLER;

/// Upstream name of the taint eviction controller (`--controllers`).
pub const TAINT_EVICTION_CONTROLLER: &str = crate::tainteviction::TAINT_EVICTION_CONTROLLER;
/// Upstream name of the disruption controller (`--controllers`).
pub const DISRUPTION_CONTROLLER: &str = crate::disruption::DISRUPTION_CONTROLLER;
/// Upstream name of the node lifecycle controller (`--controllers`).
pub const NODE_LIFECYCLE_CONTROLLER: &str = crate::nodelifecycle::NODE_LIFECYCLE_CONTROLLER;

/// Events, created and then patched when they repeat (the runtime's recorder).
const RECORDS_EVENTS: Permission = Permission::on::<Event>(&["create", "patch"]);

/// Every controller this crate can run, in kube-controller-manager's terms (see
/// [`ControllerDescriptor`]). Permissions follow upstream's
/// `system:controller:<name>` roles where capstan does the same work.
pub static CONTROLLERS: &[ControllerDescriptor] = &[
    ControllerDescriptor {
        name: REPLICASET_CONTROLLER,
        alias: "replicaset",
        enabled_by_default: true,
        informers: &[Informed::of::<ReplicaSet>(), Informed::of::<Pod>()],
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<ReplicaSet>(&["get", "list", "watch"]),
            Permission::on_sub::<ReplicaSet>("status", &["update"]),
            // Pods created with blockOwnerDeletion need update on the owner's
            // finalizers (OwnerReferencesPermissionEnforcement).
            Permission::on_sub::<ReplicaSet>("finalizers", &["update"]),
            // Pods created, adopted and released (patch), deleted when scaling down.
            Permission::on::<Pod>(&["list", "watch", "create", "patch", "delete"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-replicaset-syncs",
            default: 5,
            help: "The number of replica sets that are allowed to sync concurrently. \
                   Larger number = more responsive replica management, but more CPU (and \
                   network) load",
        }),
        build: replica_set_like::<ReplicaSet>,
    },
    ControllerDescriptor {
        name: REPLICATIONCONTROLLER_CONTROLLER,
        alias: "replicationcontroller",
        enabled_by_default: true,
        informers: &[
            Informed::of::<ReplicationController>(),
            Informed::of::<Pod>(),
        ],
        // Upstream's system:controller:replication-controller.
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<ReplicationController>(&["get", "list", "watch"]),
            Permission::on_sub::<ReplicationController>("status", &["update"]),
            Permission::on_sub::<ReplicationController>("finalizers", &["update"]),
            Permission::on::<Pod>(&["list", "watch", "create", "patch", "delete"]),
        ],
        // Upstream registers `concurrent_rc_syncs`; its flag normalization makes it
        // `--concurrent-rc-syncs`.
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-rc-syncs",
            default: 5,
            help: "The number of replication controllers that are allowed to sync \
                   concurrently. Larger number = more responsive replica management, but \
                   more CPU (and network) load",
        }),
        // Upstream's replication manager: the ReplicaSet controller over RCs.
        build: replica_set_like::<ReplicationController>,
    },
    ControllerDescriptor {
        name: DEPLOYMENT_CONTROLLER,
        alias: "deployment",
        enabled_by_default: true,
        informers: &[
            Informed::of::<Deployment>(),
            Informed::of::<ReplicaSet>(),
            Informed::of::<Pod>(),
        ],
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<Deployment>(&["get", "list", "watch"]),
            Permission::on_sub::<Deployment>("status", &["update"]),
            // ReplicaSets created with blockOwnerDeletion.
            Permission::on_sub::<Deployment>("finalizers", &["update"]),
            // ReplicaSets created, scaled, annotated, adopted and released, and
            // deleted by history cleanup.
            Permission::on::<ReplicaSet>(&[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ]),
            // Pods read (Recreate waits for the old ones to be gone).
            Permission::on::<Pod>(&["list", "watch"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-deployment-syncs",
            default: 5,
            help: "The number of deployment objects that are allowed to sync concurrently. \
                   Larger number = more responsive deployments, but more CPU (and network) \
                   load",
        }),
        build: |cx| {
            let c = DeploymentController::new(
                cx.factory,
                cx.client.clone(),
                &DeploymentControllerConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: DAEMONSET_CONTROLLER,
        alias: "daemonset",
        enabled_by_default: true,
        informers: &[
            Informed::of::<DaemonSet>(),
            Informed::of::<Pod>(),
            Informed::of::<Node>(),
            Informed::of::<ControllerRevision>(),
        ],
        // Upstream's system:controller:daemon-set-controller, as far as this code
        // uses it.
        permissions: &[
            RECORDS_EVENTS,
            // Read fresh before adopting pods and when a revision name collides.
            Permission::on::<DaemonSet>(&["get", "list", "watch"]),
            Permission::on_sub::<DaemonSet>("status", &["update"]),
            // Pods and revisions created with blockOwnerDeletion.
            Permission::on_sub::<DaemonSet>("finalizers", &["update"]),
            Permission::on::<Node>(&["list", "watch"]),
            // Pods created, adopted and released (patch), deleted when misplaced,
            // duplicated, finished or replaced by an update.
            Permission::on::<Pod>(&["list", "watch", "create", "patch", "delete"]),
            // The template history: created, read back on a name collision,
            // adopted, renumbered, deleted beyond revisionHistoryLimit.
            Permission::on::<ControllerRevision>(&[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-daemonset-syncs",
            default: 2,
            help: "The number of daemonset objects that are allowed to sync concurrently. \
                   Larger number = more responsive daemonsets, but more CPU (and network) load",
        }),
        build: |cx| {
            let c = DaemonSetController::new(
                cx.factory,
                cx.client.clone(),
                &DaemonSetControllerConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: JOB_CONTROLLER,
        alias: "job",
        enabled_by_default: true,
        informers: &[Informed::of::<Job>(), Informed::of::<Pod>()],
        // Upstream's system:controller:job-controller, as far as this code uses it.
        permissions: &[
            RECORDS_EVENTS,
            // Listed and watched; read fresh before adopting pods and after a
            // failed status write.
            Permission::on::<Job>(&["get", "list", "watch"]),
            Permission::on_sub::<Job>("status", &["update"]),
            // Pods created with blockOwnerDeletion.
            Permission::on_sub::<Job>("finalizers", &["update"]),
            // Pods created, adopted, released and freed of the tracking finalizer
            // (patch), deleted when surplus, suspended or the Job finishes.
            Permission::on::<Pod>(&["list", "watch", "create", "patch", "delete"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-job-syncs",
            default: 5,
            help: "The number of job objects that are allowed to sync concurrently. Larger \
                   number = more responsive jobs, but more CPU (and network) load",
        }),
        build: |cx| {
            let c = JobController::new(
                cx.factory,
                cx.client.clone(),
                &JobControllerConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: CRONJOB_CONTROLLER,
        alias: "cronjob",
        enabled_by_default: true,
        informers: &[Informed::of::<CronJob>(), Informed::of::<Job>()],
        // Upstream's system:controller:cronjob-controller, as far as this code uses it.
        permissions: &[
            RECORDS_EVENTS,
            // Listed and watched; read fresh before calling a Job unexpected.
            Permission::on::<CronJob>(&["get", "list", "watch"]),
            Permission::on_sub::<CronJob>("status", &["update"]),
            // Jobs created with blockOwnerDeletion.
            Permission::on_sub::<CronJob>("finalizers", &["update"]),
            // Jobs created, read when missing from the cache, deleted by history
            // cleanup and `Replace`.
            Permission::on::<Job>(&["get", "list", "watch", "create", "delete"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-cron-job-syncs",
            default: 5,
            help: "The number of cron job objects that are allowed to sync concurrently. \
                   Larger number = more responsive jobs, but more CPU (and network) load",
        }),
        build: |cx| {
            let c = CronJobController::new(
                cx.factory,
                cx.client.clone(),
                &CronJobControllerConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: TTL_AFTER_FINISHED_CONTROLLER,
        alias: "ttl-after-finished",
        enabled_by_default: true,
        informers: &[Informed::of::<Job>()],
        // Upstream's system:controller:ttl-after-finished-controller.
        permissions: &[
            RECORDS_EVENTS,
            // Listed and watched; read fresh before deleting.
            Permission::on::<Job>(&["get", "list", "watch", "delete"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-ttl-after-finished-syncs",
            default: 5,
            help: "The number of ttl-after-finished-controller workers that are allowed to \
                   sync concurrently.",
        }),
        build: |cx| {
            let c = TtlAfterFinishedController::new(
                cx.factory,
                cx.client.clone(),
                &TtlAfterFinishedControllerConfig {
                    workers: cx.workers,
                    clock: cx.config.clock.clone(),
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: STATEFULSET_CONTROLLER,
        alias: "statefulset",
        enabled_by_default: true,
        informers: &[
            Informed::of::<StatefulSet>(),
            Informed::of::<Pod>(),
            Informed::of::<PersistentVolumeClaim>(),
            Informed::of::<ControllerRevision>(),
        ],
        // Upstream's system:controller:statefulset-controller.
        permissions: &[
            RECORDS_EVENTS,
            // Listed and watched; read fresh before adopting pods or revisions.
            Permission::on::<StatefulSet>(&["get", "list", "watch"]),
            Permission::on_sub::<StatefulSet>("status", &["update"]),
            // Pods, claims and revisions created with blockOwnerDeletion.
            Permission::on_sub::<StatefulSet>("finalizers", &["update"]),
            // Pods created, adopted and released (patch), their identity restored
            // (update), deleted when failed, condemned or replaced.
            Permission::on::<Pod>(&[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ]),
            // Claims created from the templates, their owner references set for
            // the retention policy.
            Permission::on::<PersistentVolumeClaim>(&["get", "list", "watch", "create", "update"]),
            // The history: created, renumbered, adopted, truncated.
            Permission::on::<ControllerRevision>(&[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-statefulset-syncs",
            default: 5,
            help: "The number of statefulset objects that are allowed to sync concurrently. \
                   Larger number = more responsive statefulsets, but more CPU (and network) \
                   load",
        }),
        build: |cx| {
            let c = StatefulSetController::new(
                cx.factory,
                cx.client.clone(),
                &StatefulSetControllerConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: GARBAGE_COLLECTOR_CONTROLLER,
        alias: "garbagecollector",
        enabled_by_default: true,
        // Its own metadata watches on every deletable kind discovery finds.
        informers: &[],
        permissions: &[
            // Metadata of every kind watched (and read fresh before acting), owner
            // references and finalizers patched, dependents deleted.
            Permission::on_any(&["get", "list", "watch", "patch", "delete"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-gc-syncs",
            default: 20,
            help: "The number of garbage collector workers that are allowed to sync \
                   concurrently.",
        }),
        build: |cx| {
            let client = cx.client.clone();
            let config = GcConfig {
                workers: cx.workers,
                ..GcConfig::default()
            };
            // The collector's metadata informers come from the shared factory.
            let factory = cx.factory.clone();
            Ok(BuiltController::new(None, move |stop| async move {
                run_garbage_collector_on(&factory, client, config, stop).await
            }))
        },
    },
    ControllerDescriptor {
        name: NAMESPACE_CONTROLLER,
        alias: "namespace",
        enabled_by_default: true,
        informers: &[Informed::of::<Namespace>()],
        permissions: &[
            Permission::on::<Namespace>(&["get", "list", "watch", "delete"]),
            // Phase and conditions written, the `kubernetes` finalizer removed.
            Permission::on_sub::<Namespace>("status", &["update"]),
            Permission::on_sub::<Namespace>("finalize", &["update"]),
            // The content of every namespaced kind discovery finds: listed and
            // deleted (one collection at a time where served).
            Permission::on_any(&["get", "list", "delete", "deletecollection"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-namespace-syncs",
            default: 10,
            help: "The number of namespace objects that are allowed to sync concurrently. \
                   Larger number = more responsive namespace termination, but more CPU (and \
                   network) load",
        }),
        build: |cx| {
            let c = NamespaceController::new(
                cx.factory,
                cx.client.clone(),
                &NamespaceControllerConfig {
                    workers: cx.workers,
                    clock: cx.config.clock.clone(),
                    ..NamespaceControllerConfig::default()
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: PVC_PROTECTION_CONTROLLER,
        alias: "pvc-protection",
        enabled_by_default: true,
        informers: &[
            Informed::of::<PersistentVolumeClaim>(),
            Informed::of::<Pod>(),
        ],
        // Upstream's system:controller:pvc-protection-controller.
        permissions: &[
            Permission::on::<PersistentVolumeClaim>(&["get", "list", "watch", "update"]),
            Permission::on::<Pod>(&["get", "list", "watch"]),
        ],
        // Upstream runs one worker and has no flag for it.
        concurrent_syncs: None,
        build: |cx| {
            let c = PvcProtectionController::new(cx.factory, cx.client.clone(), cx.workers)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: PV_PROTECTION_CONTROLLER,
        alias: "pv-protection",
        enabled_by_default: true,
        informers: &[Informed::of::<PersistentVolume>()],
        // Upstream's system:controller:pv-protection-controller.
        permissions: &[Permission::on::<PersistentVolume>(&[
            "get", "list", "watch", "update",
        ])],
        concurrent_syncs: None,
        build: |cx| {
            let c = PvProtectionController::new(cx.factory, cx.client.clone(), cx.workers)
                .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: PV_BINDER_CONTROLLER,
        alias: "persistentvolume-binder",
        // Upstream runs it by default; capstan beside a real cluster must not bind
        // and provision beside that cluster's own binder.
        enabled_by_default: false,
        informers: &[
            Informed::of::<PersistentVolumeClaim>(),
            Informed::of::<PersistentVolume>(),
            Informed::of::<StorageClass>(),
        ],
        // Upstream's system:controller:persistent-volume-binder, as far as this code
        // uses it.
        permissions: &[
            RECORDS_EVENTS,
            // Volumes bound, unbound, provisioned and deleted when reclaimed.
            Permission::on::<PersistentVolume>(&[
                "get", "list", "watch", "create", "update", "delete",
            ]),
            Permission::on_sub::<PersistentVolume>("status", &["update"]),
            Permission::on::<PersistentVolumeClaim>(&["get", "list", "watch", "update"]),
            Permission::on_sub::<PersistentVolumeClaim>("status", &["update"]),
            Permission::on::<StorageClass>(&["get", "list", "watch"]),
        ],
        // Upstream runs one claim worker and one volume worker, with no flag.
        concurrent_syncs: None,
        build: |cx| {
            let c = PersistentVolumeBinderController::new(
                cx.factory,
                cx.client.clone(),
                &BinderConfig {
                    workers: cx.workers,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                    local_path_dir: cx.config.local_path_dir.clone(),
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: RESOURCEQUOTA_CONTROLLER,
        alias: "resourcequota",
        enabled_by_default: true,
        informers: &[
            Informed::of::<ResourceQuota>(),
            Informed::of::<Pod>(),
            Informed::of::<Service>(),
            Informed::of::<PersistentVolumeClaim>(),
        ],
        // Upstream's system:controller:resourcequota-controller: every resource
        // listed and watched (counted objects' metadata), quota status updated.
        permissions: &[
            Permission::on_any(&["list", "watch"]),
            Permission::on_sub::<ResourceQuota>("status", &["update"]),
        ],
        // Upstream registers `concurrent_resource_quota_syncs`.
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-resource-quota-syncs",
            default: 5,
            help: "The number of resource quotas that are allowed to sync concurrently. \
                   Larger number = more responsive quota management, but more CPU (and \
                   network) load",
        }),
        build: |cx| {
            let c = ResourceQuotaController::new(
                cx.factory,
                cx.client.clone(),
                &ResourceQuotaControllerConfig {
                    workers: cx.workers,
                    clock: cx.config.clock.clone(),
                    ..ResourceQuotaControllerConfig::default()
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: ENDPOINT_CONTROLLER,
        alias: "endpoint",
        enabled_by_default: true,
        informers: &[
            Informed::of::<Service>(),
            Informed::of::<Pod>(),
            Informed::of::<Endpoints>(),
        ],
        // Upstream's system:controller:endpoint-controller.
        permissions: &[
            Permission::on::<Service>(&["get", "list", "watch"]),
            Permission::on::<Pod>(&["get", "list", "watch"]),
            Permission::on::<Endpoints>(&["get", "list", "watch", "create", "update", "delete"]),
            // Endpoints may name addresses outside the pod network.
            Permission::on_sub::<Endpoints>("restricted", &["create"]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-endpoint-syncs",
            default: 5,
            help: "The number of endpoint syncing operations that will be done \
                   concurrently. Larger number = faster endpoint updating, but more CPU \
                   (and network) load",
        }),
        build: |cx| {
            let c = endpoints_controller(cx.factory, cx.client.clone(), cx.workers)
                .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: ENDPOINT_SLICE_CONTROLLER,
        alias: "endpointslice",
        enabled_by_default: true,
        informers: &[
            Informed::of::<Service>(),
            Informed::of::<Pod>(),
            Informed::of::<Node>(),
            Informed::of::<EndpointSlice>(),
        ],
        // Upstream's system:controller:endpointslice-controller.
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<Service>(&["get", "list", "watch"]),
            Permission::on::<Pod>(&["get", "list", "watch"]),
            Permission::on::<Node>(&["get", "list", "watch"]),
            // Slices are created with blockOwnerDeletion on their Service.
            Permission::on_sub::<Service>("finalizers", &["update"]),
            Permission::on::<EndpointSlice>(&[
                "get", "list", "watch", "create", "update", "delete",
            ]),
        ],
        concurrent_syncs: Some(SyncsFlag {
            name: "concurrent-service-endpoint-syncs",
            default: 5,
            help: "The number of service endpoint syncing operations that will be done \
                   concurrently. Larger number = faster endpoint slice updating, but more \
                   CPU (and network) load.",
        }),
        build: |cx| {
            let c = endpointslice_controller(
                cx.factory,
                cx.client.clone(),
                &EndpointSliceConfig {
                    workers: cx.workers,
                    max_endpoints_per_slice: cx.config.max_endpoints_per_slice,
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: SERVICE_ACCOUNT_CONTROLLER,
        alias: "serviceaccount",
        enabled_by_default: true,
        informers: &[
            Informed::of::<Namespace>(),
            Informed::of::<ServiceAccount>(),
        ],
        // Upstream's system:controller:service-account-controller.
        permissions: &[
            Permission::on::<Namespace>(&["list", "watch"]),
            Permission::on::<ServiceAccount>(&["list", "watch", "create"]),
        ],
        // Upstream runs one worker and has no flag for it
        // (`--concurrent-serviceaccount-token-syncs` is the token controller's).
        concurrent_syncs: None,
        build: |cx| {
            let c = serviceaccount_controller(cx.factory, cx.client.clone(), cx.workers)
                .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: TAINT_EVICTION_CONTROLLER,
        // Upstream registers it (new in 1.29) without an alias; the table wants one,
        // and this is the name without `-controller` as every other alias.
        alias: "taint-eviction",
        enabled_by_default: true,
        informers: &[Informed::of::<Pod>(), Informed::of::<Node>()],
        // What it uses of upstream's system:controller:node-controller, whose
        // account upstream runs it with.
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<Node>(&["get", "list", "watch"]),
            // Read fresh before deleting; deleted with their uid as precondition.
            Permission::on::<Pod>(&["get", "list", "watch", "delete"]),
            // The DisruptionTarget condition.
            Permission::on_sub::<Pod>("status", &["patch"]),
        ],
        // Upstream runs `UpdateWorkerSize` (8) workers and has no flag for them.
        concurrent_syncs: None,
        build: |cx| {
            let c = taint_eviction_controller(
                cx.factory,
                cx.client.clone(),
                &TaintEvictionConfig {
                    workers: UPDATE_WORKER_SIZE,
                    instance: cx.config.instance.clone(),
                    record_events: true,
                    clock: cx.config.clock.clone(),
                },
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: NODE_LIFECYCLE_CONTROLLER,
        alias: "nodelifecycle",
        enabled_by_default: true,
        informers: &[
            Informed::of::<Node>(),
            Informed::of::<Lease>(),
            Informed::of::<Pod>(),
        ],
        // Upstream's system:controller:node-controller, as far as this code uses it
        // (pod deletion is the taint-eviction controller's).
        permissions: &[
            RECORDS_EVENTS,
            // Listed and watched; read fresh after a conflicting taint write;
            // taints patched.
            Permission::on::<Node>(&["get", "list", "watch", "patch"]),
            // Conditions marked Unknown.
            Permission::on_sub::<Node>("status", &["update"]),
            Permission::on::<Lease>(&["list", "watch"]),
            Permission::on::<Pod>(&["list", "watch"]),
            // Pods of a node that is not Ready marked Ready=False.
            Permission::on_sub::<Pod>("status", &["update"]),
        ],
        // Upstream runs one NoSchedule worker per `nodeUpdateWorkerSize` and has no
        // flag for it.
        concurrent_syncs: None,
        build: |cx| {
            let c = node_lifecycle_controller(
                cx.factory,
                cx.client.clone(),
                cx.config.node_lifecycle,
                cx.config.clock.clone(),
                crate::nodelifecycle::controller::NODE_UPDATE_WORKERS,
                Some(&cx.config.instance),
            )?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
    ControllerDescriptor {
        name: DISRUPTION_CONTROLLER,
        alias: "disruption",
        enabled_by_default: true,
        informers: &[
            Informed::of::<PodDisruptionBudget>(),
            Informed::of::<Pod>(),
            Informed::of::<ReplicationController>(),
            Informed::of::<ReplicaSet>(),
            Informed::of::<Deployment>(),
            Informed::of::<StatefulSet>(),
        ],
        // Upstream's system:controller:disruption-controller.
        permissions: &[
            RECORDS_EVENTS,
            Permission::on::<PodDisruptionBudget>(&["list", "watch"]),
            Permission::on_sub::<PodDisruptionBudget>("status", &["update"]),
            Permission::on::<Pod>(&["list", "watch"]),
            // Stale DisruptionTarget conditions reset.
            Permission::on_sub::<Pod>("status", &["update"]),
            Permission::on::<ReplicationController>(&["list", "watch"]),
            Permission::on::<ReplicaSet>(&["list", "watch"]),
            Permission::on::<Deployment>(&["list", "watch"]),
            Permission::on::<StatefulSet>(&["list", "watch"]),
            // The scale of any other kind owning pods (custom resources).
            Permission {
                verbs: &["get"],
                group: ANY,
                resource: ANY,
                subresource: Some("scale"),
            },
        ],
        // Upstream runs one worker per queue and has no flag for it.
        concurrent_syncs: None,
        build: |cx| {
            let c = DisruptionController::new(
                cx.factory,
                cx.client.clone(),
                &DisruptionControllerConfig {
                    instance: cx.config.instance.clone(),
                    clock: cx.config.clock.clone(),
                    ..DisruptionControllerConfig::default()
                },
            )
            .map_err(ManagerError::Handler)?;
            Ok(BuiltController::new(Some(c.synced_check()), |stop| {
                c.run(stop)
            }))
        },
    },
];

/// The constructor of the ReplicaSet controller over owners of kind `R`: the
/// ReplicaSet's own, and the ReplicationController's.
fn replica_set_like<R: ReplicaSetLike>(
    cx: &BuildContext<'_>,
) -> Result<BuiltController, ManagerError> {
    let c = ReplicaSetController::<R>::new(
        cx.factory,
        cx.client.clone(),
        &ReplicaSetControllerConfig {
            workers: cx.workers,
            instance: cx.config.instance.clone(),
            record_events: true,
            clock: cx.config.clock.clone(),
        },
    )?;
    Ok(BuiltController::new(Some(c.synced_check()), |stop| {
        c.run(stop)
    }))
}

/// Errors of a controllers selection or of running the controllers.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// `--controllers` named a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// A controller could not be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A controller's caches did not sync.
    #[error(transparent)]
    Run(#[from] ControllerError),
    /// The garbage collector stopped with an error.
    #[error(transparent)]
    GarbageCollector(#[from] crate::gc::GcError),
    /// An informer event handler could not be registered.
    #[error("registering event handler: {0}")]
    Handler(capstan_runtime::informer::InformerError),
    /// The informers could not start.
    #[error("starting informers: {0}")]
    Informers(#[from] capstan_runtime::informer::InformerError),
}

/// Settings of [`run_controllers`] (kube-controller-manager's flags). Settings later
/// controllers share (the wall clock, node monitor periods) are fields here: every
/// [`Constructor`] reads them through [`BuildContext::config`].
#[derive(Debug, Clone)]
pub struct ControllersConfig {
    /// Which controllers run (`--controllers`).
    pub selection: ControllerSelection,
    /// Concurrent syncs by controller name (its `--concurrent-*-syncs` flag); a
    /// controller not listed uses its flag's default.
    pub concurrent_syncs: BTreeMap<String, usize>,
    /// The instance name events are reported from.
    pub instance: String,
    /// The wall clock every controller reads `now` from (a fake one in tests).
    pub clock: SharedClock,
    /// The most endpoints one EndpointSlice holds (`--max-endpoints-per-slice`).
    pub max_endpoints_per_slice: usize,
    /// Where the binder's built-in local-path provisioner puts its volumes.
    pub local_path_dir: PathBuf,
    /// The node lifecycle controller's periods, grace periods and rates
    /// (`--node-monitor-period`, `--node-monitor-grace-period`, …).
    pub node_lifecycle: NodeLifecycleConfig,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        Self {
            selection: ControllerSelection::default(),
            concurrent_syncs: BTreeMap::new(),
            instance: "capstan".to_string(),
            clock: RealClock::shared(),
            max_endpoints_per_slice: DEFAULT_MAX_ENDPOINTS_PER_SLICE,
            local_path_dir: PathBuf::from(binder::local_path::DEFAULT_LOCAL_PATH_DIR),
            node_lifecycle: NodeLifecycleConfig::default(),
        }
    }
}

impl ControllersConfig {
    /// The concurrent syncs of `controller`: as configured, else its flag's default
    /// (1 for a controller without such a flag).
    pub fn workers(&self, controller: &ControllerDescriptor) -> usize {
        self.concurrent_syncs
            .get(controller.name)
            .copied()
            .or(controller.concurrent_syncs.map(|f| f.default))
            .unwrap_or(1)
    }
}

/// The enabled controllers over one shared informer factory, built but not yet
/// running.
pub struct ControllerManager {
    factory: SharedInformerFactory,
    controllers: Vec<(&'static str, BuiltController)>,
    enabled: Vec<&'static str>,
}

impl ControllerManager {
    /// Builds every enabled controller of [`CONTROLLERS`] on a fresh informer factory
    /// over `client`. Call inside a tokio runtime.
    pub fn new(client: Client, config: &ControllersConfig) -> Result<Self, ManagerError> {
        let factory = SharedInformerFactory::new(client.clone(), None);
        let mut controllers = Vec::new();
        for descriptor in CONTROLLERS.iter().filter(|c| config.selection.enables(c)) {
            let cx = BuildContext {
                factory: &factory,
                client: &client,
                config,
                workers: config.workers(descriptor),
            };
            controllers.push((descriptor.name, (descriptor.build)(&cx)?));
        }
        let enabled = controllers.iter().map(|(name, _)| *name).collect();
        Ok(Self {
            factory,
            controllers,
            enabled,
        })
    }

    /// The upstream names of the controllers that will run.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// A readiness check: true once every informer cache has synced.
    pub fn synced_check(&self) -> SyncCheck {
        let checks: Vec<SyncCheck> = self
            .controllers
            .iter()
            .filter_map(|(_, c)| c.synced_check())
            .collect();
        Arc::new(move || checks.iter().all(|c| c()))
    }

    /// Starts the informers and runs every controller until `shutdown` completes,
    /// then lets in-flight syncs finish and stops the informers. Returns the
    /// first controller's error (its caches did not sync), after stopping the
    /// others.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ManagerError> {
        self.factory.start()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for (_, controller) in self.controllers {
            let mut rx = stop_rx.clone();
            let stopped: Shutdown = Box::pin(async move {
                let _ = rx.wait_for(|s| *s).await;
            });
            tasks.spawn(controller.run(stopped));
        }
        tracing::info!(controllers = ?self.enabled, "started controllers");
        tokio::pin!(shutdown);
        let mut first_err: Option<ManagerError> = None;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                done = tasks.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { first_err = Some(e); break; }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "controller task failed");
                    }
                },
            }
        }
        let _ = stop_tx.send(true);
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        self.factory.shutdown().await;
        tracing::info!("controllers stopped");
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Builds and runs the enabled controllers until `shutdown` completes (the
/// in-process entry point `capstan up` uses).
pub async fn run_controllers(
    client: Client,
    config: &ControllersConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ManagerError> {
    ControllerManager::new(client, config)?.run(shutdown).await
}

#[cfg(test)]
mod tests;
