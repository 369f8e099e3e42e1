//! Builders of StatefulSets, pods and claims for the cores' unit tests.

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::identity;
use crate::util::history::POD_REVISION_LABEL;
use crate::util::testing::{at, labels, template};

/// A StatefulSet `name` of `replicas` pods labelled `app=web`, defaulted as the
/// API server defaults it (OrderedReady, RollingUpdate with partition 0).
pub fn set(name: &str, replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            },
            template: template("nginx:1"),
            pod_management_policy: Some("OrderedReady".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    max_unavailable: None,
                }),
            }),
            revision_history_limit: Some(10),
            ..Default::default()
        }),
        status: None,
    }
}

/// The set with a retention policy.
pub fn with_policy(mut s: StatefulSet, when_deleted: &str, when_scaled: &str) -> StatefulSet {
    s.spec
        .as_mut()
        .unwrap()
        .persistent_volume_claim_retention_policy =
        Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_deleted: Some(when_deleted.into()),
            when_scaled: Some(when_scaled.into()),
        });
    s
}

/// The set with a `RollingUpdate` partition.
pub fn with_partition(mut s: StatefulSet, partition: i32) -> StatefulSet {
    let strategy = s
        .spec
        .as_mut()
        .unwrap()
        .update_strategy
        .get_or_insert_default();
    strategy.type_ = Some("RollingUpdate".into());
    strategy.rolling_update.get_or_insert_default().partition = Some(partition);
    s
}

/// The set with the `OnDelete` strategy.
pub fn on_delete(mut s: StatefulSet) -> StatefulSet {
    let strategy = s
        .spec
        .as_mut()
        .unwrap()
        .update_strategy
        .get_or_insert_default();
    strategy.type_ = Some("OnDelete".into());
    strategy.rolling_update = None;
    s
}

/// A claim template `name`.
pub fn claim_template(name: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The set's pod of `ordinal` at `revision`, as the API server stores it once
/// created (a uid, phase Pending).
pub fn member(s: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let mut p = identity::new_pod(s, ordinal).unwrap();
    p.metadata.uid = Some(format!("uid-{}", identity::pod_name(s, ordinal)));
    p.metadata
        .labels
        .get_or_insert_default()
        .insert(POD_REVISION_LABEL.into(), revision.into());
    p.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Pending".into()),
        ..Default::default()
    });
    p
}

/// The pod Running and Ready since `since`.
pub fn running(mut p: Pod, since: Timestamp) -> Pod {
    let ready = crate::util::testing::ready_pod("x", since);
    p.status = ready.status;
    p
}

/// The pod being deleted.
pub fn terminating(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(at(1)));
    p
}

/// The pod in a terminal phase.
pub fn with_phase(mut p: Pod, phase: &str) -> Pod {
    p.status.get_or_insert_default().phase = Some(phase.into());
    p
}
