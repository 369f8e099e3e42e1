//! The built-in kinds, one [`KindDescriptor`] each, by API group, with the names, scopes,
//! short names, categories and subresources a real v1.33 cluster reports for them.

mod apiextensions;
mod apiregistration;
mod apps;
mod batch;
mod certificates;
mod coordination;
mod core;
mod discovery;
mod events;
mod policy;
mod rbac;
mod scheduling;
mod storage;

use std::collections::HashMap;
use std::sync::LazyLock;

use super::KindDescriptor;

/// Every built-in kind, in the order discovery was first written in.
pub static ALL: &[&KindDescriptor] = &[
    &core::NAMESPACE,
    &core::POD,
    &core::NODE,
    &core::SERVICE,
    &core::ENDPOINTS,
    &core::CONFIG_MAP,
    &core::SECRET,
    &core::SERVICE_ACCOUNT,
    &core::EVENT,
    &core::PERSISTENT_VOLUME_CLAIM,
    &core::PERSISTENT_VOLUME,
    &core::REPLICATION_CONTROLLER,
    &core::RESOURCE_QUOTA,
    &core::LIMIT_RANGE,
    &apps::DEPLOYMENT,
    &apps::REPLICA_SET,
    &apps::STATEFUL_SET,
    &apps::DAEMON_SET,
    &apps::CONTROLLER_REVISION,
    &batch::JOB,
    &batch::CRON_JOB,
    &discovery::ENDPOINT_SLICE,
    &coordination::LEASE,
    &events::EVENT,
    &policy::POD_DISRUPTION_BUDGET,
    &scheduling::PRIORITY_CLASS,
    &storage::STORAGE_CLASS,
    &rbac::ROLE,
    &rbac::ROLE_BINDING,
    &rbac::CLUSTER_ROLE,
    &rbac::CLUSTER_ROLE_BINDING,
    &apiextensions::CUSTOM_RESOURCE_DEFINITION,
    &core::COMPONENT_STATUS,
    &apiregistration::API_SERVICE,
    &certificates::CERTIFICATE_SIGNING_REQUEST,
];

/// The built-in kind served as `resource` in `group`, from an index built on first use
/// (storage asks on every write, for the kind's selectable fields).
pub fn by_resource(group: &str, resource: &str) -> Option<&'static KindDescriptor> {
    type Index = HashMap<(&'static str, &'static str), &'static KindDescriptor>;
    static INDEX: LazyLock<Index> =
        LazyLock::new(|| ALL.iter().map(|d| ((d.group, d.plural), *d)).collect());
    let index: &HashMap<(&str, &str), &'static KindDescriptor> = &INDEX;
    index.get(&(group, resource)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;
    use crate::kinds::descriptor::{Admission, Scope};

    #[test]
    fn every_kind_is_found_by_its_own_group_and_resource() {
        for d in ALL {
            let found = by_resource(d.group, d.plural).unwrap_or_else(|| panic!("{d:?}"));
            assert!(std::ptr::eq(found, *d), "{d:?} found {found:?}");
        }
        assert!(by_resource("apps", "pods").is_none());
        assert!(by_resource("", "deployments").is_none());
        // Events are served in two groups, each its own kind.
        assert_eq!(by_resource("", "events").unwrap().group, "");
        assert_eq!(
            by_resource("events.k8s.io", "events").unwrap().group,
            "events.k8s.io"
        );
    }

    #[test]
    fn routing_finds_a_kinds_descriptor_with_its_names() {
        let r = Registry::with_builtins();
        let pods = r.lookup("", "v1", "pods").unwrap();
        let d = pods.descriptor.unwrap();
        assert_eq!((d.kind, d.scope), ("Pod", Scope::Namespaced));
        assert_eq!(
            d.admission,
            [
                Admission::LimitRanger,
                Admission::ServiceAccount,
                Admission::Priority,
                Admission::DefaultTolerationSeconds
            ]
        );
        assert_eq!(pods.short_names, ["po"]);
        assert_eq!(pods.singular, "pod");
        let crds = r
            .lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        assert!(!crds.namespaced);
        assert_eq!(crds.short_names, ["crd", "crds"]);
        assert_eq!(r.all().len(), ALL.len(), "one served kind per descriptor");
    }
}
