//! What the controller manager knows of one controller, as kube-controller-manager's
//! `ControllerDescriptor`: its upstream name and alias, whether `*` turns it on, the
//! informers it shares, the API permissions it needs, its `--concurrent-*-syncs` flag
//! and the constructor that builds it. The table of descriptors is
//! [`CONTROLLERS`](super::CONTROLLERS); flags, RBAC and the manager all read it.

use std::borrow::Cow;
use std::future::Future;

use capstan_runtime::controller::SyncCheck;
use capstan_runtime::informer::SharedInformerFactory;
use futures::future::BoxFuture;
use kube::Client;

use super::{ControllersConfig, ManagerError};

/// One controller kube-controller-manager's `--controllers` can name.
#[derive(Debug, Clone, Copy)]
pub struct ControllerDescriptor {
    /// The upstream name (`replicaset-controller`).
    pub name: &'static str,
    /// The short alias upstream also accepts (`replicaset`).
    pub alias: &'static str,
    /// Whether `*` enables it (upstream's controllers are on by default unless listed
    /// in `ControllersDisabledByDefault`).
    pub enabled_by_default: bool,
    /// The resources it keeps a shared informer on (through the factory).
    pub informers: &'static [Informed],
    /// Every API permission its code uses: the controller-manager's RBAC grants the
    /// union of the enabled controllers' permissions.
    pub permissions: &'static [Permission],
    /// Its `--concurrent-*-syncs` flag, if upstream has one.
    pub concurrent_syncs: Option<SyncsFlag>,
    /// Builds it on the manager's informer factory.
    pub build: Constructor,
}

impl ControllerDescriptor {
    /// Whether `name` is this controller's upstream name or its alias.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.alias == name
    }
}

/// A controller's constructor: registers its informers and handlers on the context's
/// factory and returns it ready to run.
pub type Constructor = fn(&BuildContext<'_>) -> Result<BuiltController, ManagerError>;

/// What a [`Constructor`] builds with.
pub struct BuildContext<'a> {
    /// The one informer factory of the manager, shared by every controller.
    pub factory: &'a SharedInformerFactory,
    /// The client the controller reads and writes through.
    pub client: &'a Client,
    /// The manager's settings (instance name, and what later controllers need).
    pub config: &'a ControllersConfig,
    /// Its concurrent syncs: its `--concurrent-*-syncs` value or that flag's default.
    pub workers: usize,
}

/// Completes when the manager stops its controllers.
pub type Shutdown = BoxFuture<'static, ()>;

type RunFn = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, Result<(), ManagerError>> + Send>;

/// A controller built by its [`Constructor`], not yet running.
pub struct BuiltController {
    synced: Option<SyncCheck>,
    run: RunFn,
}

impl BuiltController {
    /// A controller that `run` runs until the [`Shutdown`] it is given completes.
    /// `synced` tells when its informer caches have synced (it joins the manager's
    /// readiness); `None` for a controller that keeps no shared cache.
    pub fn new<F, Fut, E>(synced: Option<SyncCheck>, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        ManagerError: From<E>,
    {
        Self {
            synced,
            run: Box::new(move |stop| Box::pin(async move { Ok(run(stop).await?) })),
        }
    }

    /// Its cache check, if it keeps shared caches.
    pub fn synced_check(&self) -> Option<SyncCheck> {
        self.synced.clone()
    }

    /// Runs it until `shutdown` completes.
    pub fn run(self, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ManagerError>> {
        (self.run)(shutdown)
    }
}

/// A resource a controller keeps a shared informer on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Informed {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
    /// Kind (the informer's name in the factory).
    pub kind: &'static str,
}

impl Informed {
    /// The informer on `K`.
    pub const fn of<K: k8s_openapi::Resource>() -> Self {
        Self {
            group: K::GROUP,
            resource: K::URL_PATH_SEGMENT,
            kind: K::KIND,
        }
    }
}

/// The group and resource an RBAC rule's `*` stands for.
pub const ANY: &str = "*";

/// One API permission a controller needs: `verbs` on a group's resource or one of its
/// subresources, as an RBAC rule grants it (`*` for any group and resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`).
    pub verbs: &'static [&'static str],
    /// API group (`""` for core, [`ANY`] for every group).
    pub group: &'static str,
    /// Plural resource name ([`ANY`] for every resource).
    pub resource: &'static str,
    /// The subresource (`status`, `finalizers`, …), if the permission is on one.
    pub subresource: Option<&'static str>,
}

impl Permission {
    /// `verbs` on `K`.
    pub const fn on<K: k8s_openapi::Resource>(verbs: &'static [&'static str]) -> Self {
        Self {
            verbs,
            group: K::GROUP,
            resource: K::URL_PATH_SEGMENT,
            subresource: None,
        }
    }

    /// `verbs` on `K`'s `subresource`.
    pub const fn on_sub<K: k8s_openapi::Resource>(
        subresource: &'static str,
        verbs: &'static [&'static str],
    ) -> Self {
        Self {
            verbs,
            group: K::GROUP,
            resource: K::URL_PATH_SEGMENT,
            subresource: Some(subresource),
        }
    }

    /// `verbs` on every resource of every group (what discovery-driven controllers,
    /// the garbage collector and the namespace controller, need).
    pub const fn on_any(verbs: &'static [&'static str]) -> Self {
        Self {
            verbs,
            group: ANY,
            resource: ANY,
            subresource: None,
        }
    }

    /// The resource as an RBAC rule names it: `replicasets` or `replicasets/status`.
    pub fn rbac_resource(&self) -> Cow<'static, str> {
        match self.subresource {
            None => Cow::Borrowed(self.resource),
            Some(sub) => Cow::Owned(format!("{}/{sub}", self.resource)),
        }
    }

    /// Whether this permission allows `verb` on `group`'s `resource` (`pods`,
    /// `pods/status`), matching `*` as the RBAC authorizer does.
    pub fn allows(&self, verb: &str, group: &str, resource: &str) -> bool {
        let matches = |have: &str, want: &str| have == ANY || have == want;
        matches(self.group, group)
            && matches(&self.rbac_resource(), resource)
            && self.verbs.iter().any(|v| matches(v, verb))
    }
}

/// A controller's `--concurrent-*-syncs` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncsFlag {
    /// The flag's name without dashes (`concurrent-replicaset-syncs`).
    pub name: &'static str,
    /// Upstream's default.
    pub default: usize,
    /// Its help text (upstream's).
    pub help: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn permissions_match_as_rbac_rules_do() {
        let status = Permission::on_sub::<ReplicaSet>("status", &["update"]);
        assert_eq!(status.rbac_resource(), "replicasets/status");
        assert!(status.allows("update", "apps", "replicasets/status"));
        assert!(!status.allows("update", "apps", "replicasets"));
        assert!(!status.allows("patch", "apps", "replicasets/status"));
        let pods = Permission::on::<Pod>(&["list", "watch"]);
        assert!(pods.allows("watch", "", "pods"));
        assert!(!pods.allows("watch", "apps", "pods"));
        let any = Permission::on_any(&["delete"]);
        assert!(any.allows("delete", "batch", "jobs"));
        assert!(any.allows("delete", ANY, ANY));
        assert!(!any.allows("create", "batch", "jobs"));
    }

    #[test]
    fn informed_names_the_kind_and_its_resource() {
        assert_eq!(
            Informed::of::<ReplicaSet>(),
            Informed {
                group: "apps",
                resource: "replicasets",
                kind: "ReplicaSet"
            }
        );
    }
}
