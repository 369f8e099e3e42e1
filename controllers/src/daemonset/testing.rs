//! Builders of DaemonSets, nodes and daemon pods for the cores' unit tests.

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{Node, NodeSpec, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use crate::util::testing::{at, labels, ready_pod as ready_since, template};
use k8s_openapi::jiff::Timestamp;

use super::backoff::FailedPodsBackoff;
use super::plan::SyncInput;
use super::pods::{daemon_pod, node_name_affinity};
use super::{POD_TEMPLATE_GENERATION_LABEL, TEMPLATE_GENERATION_ANNOTATION};
use crate::util::pod_control::PodOwner;

/// The current revision's hash in these tests.
pub const HASH: &str = "h2";

/// A DaemonSet `name` (uid `uid-<name>`, generation 3, template generation 2)
/// of pods `app=web` running `image`, RollingUpdate with the defaults.
pub fn daemonset(name: &str, image: &str) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(3),
            annotations: Some(labels(&[(TEMPLATE_GENERATION_ANNOTATION, "2")])),
            ..Default::default()
        },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                match_expressions: None,
            },
            template: template(image),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_surge: Some(IntOrString::Int(0)),
                    max_unavailable: Some(IntOrString::Int(1)),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// `ds` rolling with `surge` and `unavailable`.
pub fn rolling(mut ds: DaemonSet, surge: IntOrString, unavailable: IntOrString) -> DaemonSet {
    ds.spec.as_mut().unwrap().update_strategy = Some(DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDaemonSet {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        }),
    });
    ds
}

/// A node `name` labelled with its hostname, untainted.
pub fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(&[("kubernetes.io/hostname", name)])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: None,
    }
}

/// Adds the taint `key:effect` to `node`.
pub fn taint(node: &mut Node, key: &str, effect: &str) {
    node.spec
        .get_or_insert_default()
        .taints
        .get_or_insert_default()
        .push(Taint {
            key: key.into(),
            value: None,
            effect: effect.into(),
            time_added: None,
        });
}

/// A toleration of any value of `key` with `effect` (`None`: every effect).
pub fn tolerate(key: &str, effect: Option<&str>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: effect.map(Into::into),
        value: None,
        toleration_seconds: None,
    }
}

/// A daemon pod of `ds` named `name` bound to `node`, of the revision `hash`,
/// created `created` seconds after the epoch, Pending. Pods of another revision
/// than [`HASH`] come from template generation 1.
pub fn pending_pod(ds: &DaemonSet, name: &str, node: &str, hash: &str, created: i64) -> Pod {
    let mut p = daemon_pod(ds, ds.controller_ref().unwrap(), node, hash).unwrap();
    if hash != HASH {
        p.metadata
            .labels
            .get_or_insert_default()
            .insert(POD_TEMPLATE_GENERATION_LABEL.into(), "1".into());
    }
    p.metadata.name = Some(name.into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.creation_timestamp = Some(Time(at(created)));
    p.spec.get_or_insert_default().node_name = Some(node.into());
    p.status.get_or_insert_default().phase = Some("Pending".into());
    p
}

/// [`pending_pod`] not bound yet: only its affinity names the node.
pub fn unscheduled_pod(ds: &DaemonSet, name: &str, node: &str, hash: &str, created: i64) -> Pod {
    let mut p = pending_pod(ds, name, node, hash, created);
    let spec = p.spec.get_or_insert_default();
    spec.node_name = None;
    spec.affinity = Some(node_name_affinity(None, node));
    p
}

/// [`pending_pod`] Running and Ready since its creation.
pub fn ready_pod(ds: &DaemonSet, name: &str, node: &str, hash: &str, created: i64) -> Pod {
    let mut p = pending_pod(ds, name, node, hash, created);
    let r = ready_since(name, at(created));
    p.status = r.status;
    p
}

/// `p` in phase `phase`.
pub fn in_phase(mut p: Pod, phase: &str) -> Pod {
    p.status.get_or_insert_default().phase = Some(phase.into());
    p.status.get_or_insert_default().conditions = None;
    p
}

/// The input of a sync at `at(1000)`.
pub fn input<'a>(
    ds: &'a DaemonSet,
    nodes: &'a [&'a Node],
    pods: &'a [&'a Pod],
    backoff: &'a FailedPodsBackoff,
) -> SyncInput<'a> {
    SyncInput {
        ds,
        nodes,
        pods,
        hash: HASH,
        backoff,
        now: at(1000),
    }
}

/// The current time of [`input`].
pub fn now() -> Timestamp {
    at(1000)
}
