//! The volume protection controllers in a `capstan up`-like setup: a claim a pod uses
//! stays `Terminating` after its delete until the pod is gone, then disappears; a
//! volume stays while `Bound` and goes once released.

mod support;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::*;

const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

fn claim(name: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .unwrap()
}

/// Whether the claim is gone (404).
async fn gone(api: &Api<PersistentVolumeClaim>, name: &str) -> Result<(), String> {
    match api.get_opt(name).await {
        Ok(None) => Ok(()),
        Ok(Some(c)) => Err(format!("{name} still there: {:?}", c.metadata.finalizers)),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_in_use_is_kept_until_its_pod_is_gone() {
    let cluster = Cluster::start(1).await;
    let client = cluster.client.clone();
    let pvcs: Api<PersistentVolumeClaim> = cluster.api();
    let pods: Api<Pod> = cluster.api();
    let pp = PostParams::default();
    for name in ["data", "spare"] {
        let created = pvcs.create(&pp, &claim(name)).await.unwrap();
        assert_eq!(created.finalizers(), [PVC_PROTECTION.to_string()], "{name}");
    }
    let node = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items[0]
        .name_any();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "user"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }))
    .unwrap();
    pods.create(&pp, &pod).await.unwrap();
    eventually_some("the pod runs", || async {
        let p = pods.get("user").await.ok()?;
        is_ready(&p).then_some(())
    })
    .await;

    let dp = DeleteParams::default();
    pvcs.delete("data", &dp).await.unwrap();
    pvcs.delete("spare", &dp).await.unwrap();
    // The unused claim goes: the controller (one worker, its queue first in first out)
    // has looked at the used one, deleted first, before it.
    eventually("the unused claim removed", || gone(&pvcs, "spare")).await;
    let held = pvcs.get("data").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), [PVC_PROTECTION.to_string()]);

    pods.delete("user", &dp).await.unwrap();
    eventually("the claim removed once its pod is gone", || {
        gone(&pvcs, "data")
    })
    .await;
    assert!(pods.get_opt("user").await.unwrap().is_none());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_volume_is_kept_until_released() {
    // Without the binder, which would set right the phases this test sets by hand.
    let cluster = Cluster::start_selecting(1, &["*", "-persistentvolume-binder-controller"]).await;
    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": "disk"},
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                 "hostPath": {"path": "/tmp/disk"}},
    }))
    .unwrap();
    let created = pvs.create(&PostParams::default(), &pv).await.unwrap();
    assert_eq!(created.finalizers(), [PV_PROTECTION.to_string()]);
    let pp = PatchParams::default();
    let phase = |p: &str| Patch::Merge(json!({"status": {"phase": p}}));
    pvs.patch_status("disk", &pp, &phase("Bound"))
        .await
        .unwrap();
    pvs.delete("disk", &DeleteParams::default()).await.unwrap();
    // Still bound: still there, Terminating, as long as the phase says Bound. A second
    // volume, unbound, shows the controller has acted meanwhile.
    let mut spare = pv.clone();
    spare.metadata.name = Some("spare".into());
    pvs.create(&PostParams::default(), &spare).await.unwrap();
    pvs.delete("spare", &DeleteParams::default()).await.unwrap();
    eventually("the unbound volume removed", || async {
        match pvs.get_opt("spare").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let held = pvs.get("disk").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), [PV_PROTECTION.to_string()]);

    pvs.patch_status("disk", &pp, &phase("Released"))
        .await
        .unwrap();
    eventually("the released volume removed", || async {
        match pvs.get_opt("disk").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    cluster.stop().await;
}
