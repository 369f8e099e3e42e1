//! `NamespaceLifecycle`: nothing is created in a namespace that does not exist or is
//! being terminated, nothing is changed in one that does not exist, and the namespaces
//! the cluster needs (`default`, `kube-system`, `kube-public`) are never deleted
//! (upstream's `staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle`).

use serde_json::json;

use super::Operation;
use crate::kinds::KindInfo;
use crate::status::ApiError;
use crate::storage::{ResourceKey, Store, Stored};

/// The namespaces upstream's plugin refuses to delete (`immortalNamespaces`).
const IMMORTAL: [&str; 3] = ["default", "kube-system", "kube-public"];

/// Resources that reveal permissions in a namespace: upstream lets them through so
/// that a 404 does not tell whether a namespace exists.
const ACCESS_REVIEWS: (&str, &str) = ("authorization.k8s.io", "localsubjectaccessreviews");

/// What the plugin decides about a request, before it looks at the namespace.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    /// Let it through.
    Allow,
    /// Refuse: the namespace may not be deleted.
    Immortal,
    /// Look the namespace up: it must exist, and for a create not be terminating.
    Namespace,
}

/// Judges a request for `name` of `kind` in `ns`; see the module docs.
pub(super) fn admit(
    store: &Store,
    kind: &KindInfo,
    op: Operation,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    match check(kind, op, ns, name) {
        Check::Allow => Ok(()),
        Check::Immortal => Err(ApiError::forbidden(
            "",
            "namespaces",
            name,
            "this namespace may not be deleted",
        )),
        Check::Namespace => {
            let namespace = store
                .get(&ResourceKey::new("", "namespaces"), "", ns)
                .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
            if op == Operation::Create && terminating(&namespace) {
                return Err(terminating_error(kind, ns, name));
            }
            Ok(())
        }
    }
}

/// The decision upstream's `Admit` takes before its namespace lookup.
fn check(kind: &KindInfo, op: Operation, ns: &str, name: &str) -> Check {
    let is_namespace = kind.group.is_empty() && kind.plural == "namespaces";
    if is_namespace {
        return if op == Operation::Delete && IMMORTAL.contains(&name) {
            Check::Immortal
        } else {
            Check::Allow
        };
    }
    if ns.is_empty()
        || op == Operation::Delete
        || (kind.group.as_str(), kind.plural.as_str()) == ACCESS_REVIEWS
    {
        return Check::Allow;
    }
    Check::Namespace
}

/// Whether a namespace is being terminated: upstream looks at `status.phase`, which
/// the store keeps among a namespace's selectable fields, so no create parses the
/// namespace (the namespace delete sets the phase with its `deletionTimestamp`).
fn terminating(namespace: &Stored) -> bool {
    namespace
        .fields
        .iter()
        .any(|(f, v)| *f == "status.phase" && v == "Terminating")
}

/// Upstream's refusal of a create in a terminating namespace, with the
/// `NamespaceTerminating` cause clients look for.
fn terminating_error(kind: &KindInfo, ns: &str, name: &str) -> ApiError {
    let mut e = ApiError::forbidden(
        &kind.group,
        &kind.plural,
        name,
        &format!("unable to create new content in namespace {ns} because it is being terminated"),
    );
    if let Some(d) = e.details.as_mut() {
        d["causes"] = json!([{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace"
        }]);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin::by_resource;

    fn kind(group: &str, plural: &str) -> KindInfo {
        KindInfo::from_descriptor(by_resource(group, plural).expect("a built-in kind"))
    }

    #[test]
    fn requests_are_judged_as_upstream_judges_them() {
        use Operation::*;
        let namespaces = kind("", "namespaces");
        let pods = kind("", "pods");
        let nodes = kind("", "nodes");
        let table = [
            (
                "deleting default",
                &namespaces,
                Delete,
                "",
                "default",
                Check::Immortal,
            ),
            (
                "deleting kube-system",
                &namespaces,
                Delete,
                "",
                "kube-system",
                Check::Immortal,
            ),
            (
                "deleting kube-public",
                &namespaces,
                Delete,
                "",
                "kube-public",
                Check::Immortal,
            ),
            (
                "deleting another namespace",
                &namespaces,
                Delete,
                "",
                "team",
                Check::Allow,
            ),
            (
                "creating a namespace",
                &namespaces,
                Create,
                "",
                "default",
                Check::Allow,
            ),
            (
                "updating a namespace",
                &namespaces,
                Update,
                "",
                "kube-system",
                Check::Allow,
            ),
            (
                "a cluster-scoped kind",
                &nodes,
                Create,
                "",
                "n1",
                Check::Allow,
            ),
            ("deleting a pod", &pods, Delete, "team", "p", Check::Allow),
            (
                "creating a pod",
                &pods,
                Create,
                "team",
                "p",
                Check::Namespace,
            ),
            (
                "updating a pod",
                &pods,
                Update,
                "team",
                "p",
                Check::Namespace,
            ),
        ];
        for (case, kind, op, ns, name, want) in table {
            assert_eq!(check(kind, op, ns, name), want, "{case}");
        }
    }

    #[test]
    fn refusals_carry_upstreams_messages() {
        let e = terminating_error(&kind("", "configmaps"), "team", "settings");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "configmaps \"settings\" is forbidden: unable to create new content in namespace team because it is being terminated"
        );
        let causes = &e.details.expect("details")["causes"];
        assert_eq!(causes[0]["reason"], "NamespaceTerminating");
        assert_eq!(causes[0]["field"], "metadata.namespace");
        let stored = |phase: &str| {
            let ns = json!({"metadata": {"name": "team"}, "status": {"phase": phase}});
            Stored::from_value(&ResourceKey::new("", "namespaces"), &ns, 1).expect("stored")
        };
        assert!(terminating(&stored("Terminating")));
        assert!(!terminating(&stored("Active")));
    }
}
