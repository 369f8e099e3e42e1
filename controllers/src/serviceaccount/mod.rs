//! `serviceaccount-controller` (upstream `pkg/controller/serviceaccount`'s
//! `ServiceAccountsController`): every active namespace has a `default`
//! ServiceAccount, created when the namespace appears and recreated when deleted.
//! No token Secrets are made (upstream stopped in 1.24: pods get projected tokens
//! from the TokenRequest API instead); the token controller is not part of this.
//!
//! A sync of a namespace (upstream `syncNamespace`): gone or not `Active`
//! (terminating) → nothing; otherwise each account of [`SERVICE_ACCOUNTS_TO_ENSURE`]
//! missing from the cache is created, `AlreadyExists` counting as done.

use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors::is_already_exists;
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, SharedInformerFactory,
};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::util::queued::QueuedController;

/// Upstream name of the ServiceAccount controller (`--controllers`).
pub const SERVICEACCOUNT_CONTROLLER: &str = "serviceaccount-controller";
/// Its work queue's name (upstream's `serviceaccount`).
pub const SERVICEACCOUNT_QUEUE: &str = "serviceaccount";
/// The accounts every namespace gets (upstream's `DefaultServiceAccountsControllerOptions`).
pub const SERVICE_ACCOUNTS_TO_ENSURE: &[&str] = &["default"];

/// The accounts of `to_ensure` a namespace still needs: none unless it is active,
/// else those `exists` does not find.
pub fn missing_accounts<'a>(
    namespace: &Namespace,
    to_ensure: &[&'a str],
    exists: impl Fn(&str) -> bool,
) -> Vec<&'a str> {
    let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
    // An unset phase is the API server's default, Active.
    if phase.is_some_and(|p| p != "Active") || namespace.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    to_ensure
        .iter()
        .copied()
        .filter(|name| !exists(name))
        .collect()
}

/// Why a namespace's sync failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    /// Creating the account failed.
    #[error("creating ServiceAccount {namespace}/{name}: {source}")]
    Create {
        /// The namespace.
        namespace: String,
        /// The account.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// One namespace's sync: upstream `syncNamespace`.
pub struct ServiceAccountReconciler {
    client: Client,
    namespaces: Lister<Namespace>,
    accounts: Lister<ServiceAccount>,
}

impl Reconciler for ServiceAccountReconciler {
    type Error = ServiceAccountError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ServiceAccountError> {
        let Some(ns) = self.namespaces.get_key(&key) else {
            return Ok(Action::Done);
        };
        let namespace = key.name();
        let missing = missing_accounts(&ns, SERVICE_ACCOUNTS_TO_ENSURE, |name| {
            self.accounts.get(namespace, name).is_some()
        });
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        for name in missing {
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &account).await {
                Ok(_) => tracing::debug!(namespace, name, "created ServiceAccount"),
                Err(e) if is_already_exists(&e) => {}
                Err(source) => {
                    return Err(ServiceAccountError::Create {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `serviceaccount-controller`.
pub type ServiceAccountController = QueuedController<ServiceAccountReconciler>;

/// Builds the controller on `factory`'s Namespace and ServiceAccount informers,
/// writing through `client`.
pub fn serviceaccount_controller(
    factory: &SharedInformerFactory,
    client: Client,
    workers: usize,
) -> Result<ServiceAccountController, InformerError> {
    let namespaces = factory.informer::<Namespace>();
    let accounts = factory.informer::<ServiceAccount>();
    let synced = synced_all([namespaces.synced_check(), accounts.synced_check()]);
    let controller = ControllerBuilder::new(SERVICEACCOUNT_QUEUE)
        .workers(workers)
        .wait_for(synced.clone())
        .build(ServiceAccountReconciler {
            client,
            namespaces: namespaces.lister(),
            accounts: accounts.lister(),
        });
    // Upstream's `namespaceAdded` / `namespaceUpdated` / `serviceAccountDeleted`.
    let (q1, q2, q3) = (controller.queue(), controller.queue(), controller.queue());
    namespaces.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |ns: Arc<Namespace>, _| q1.add(ObjectKey::of(ns.as_ref())))
            .on_update(move |_, ns: Arc<Namespace>| q2.add(ObjectKey::of(ns.as_ref()))),
    )?;
    accounts.add_event_handler(EventHandlerFns::new().on_delete(
        move |gone: DeletedObject<ServiceAccount>| {
            let sa = gone.last_state();
            if let Some(ns) = sa.metadata.namespace.as_deref() {
                q3.add(ObjectKey::cluster(ns));
            }
        },
    ))?;
    Ok(QueuedController::wrap(controller, synced))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ns(phase: Option<&str>, deleted: bool) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                deletion_timestamp: deleted.then(|| Time(crate::util::testing::at(0))),
                ..Default::default()
            },
            spec: None,
            status: phase.map(|p| NamespaceStatus {
                phase: Some(p.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn active_namespaces_get_the_accounts_they_lack() {
        let none = |_: &str| false;
        let table = [
            (
                "active, no account",
                ns(Some("Active"), false),
                none as fn(&str) -> bool,
                vec!["default"],
            ),
            (
                "phase unset counts as active",
                ns(None, false),
                none,
                vec!["default"],
            ),
            (
                "already there",
                ns(Some("Active"), false),
                |n: &str| n == "default",
                vec![],
            ),
            ("terminating", ns(Some("Terminating"), true), none, vec![]),
            (
                "deleted, phase not yet updated",
                ns(Some("Active"), true),
                none,
                vec![],
            ),
        ];
        for (case, namespace, exists, want) in table {
            assert_eq!(
                missing_accounts(&namespace, SERVICE_ACCOUNTS_TO_ENSURE, exists),
                want,
                "{case}"
            );
        }
    }
}
