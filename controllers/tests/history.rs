//! Controller history against the embedded API server: a StatefulSet's revisions
//! are created under `<name>-<hash>`, identical data is reused (and renumbered on a
//! rollback) instead of stored twice, a name held by other data bumps the collision
//! count, cleanup keeps what live pods use, and the real kubectl reads and rolls
//! back to the stored data.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_controllers::util::history::{
    Created, RevisionControl, go_json, hash_controller_revision, list_controller_revisions,
    next_revision, pod_revisions, sort_controller_revisions, statefulset_history_to_delete,
    statefulset_revision, template_patch,
};
use capstan_labels::Selector;
use capstan_runtime::informer::{Lister, SharedInformerFactory};
use capstan_runtime::ownership::{ControllerRefManager, Owner};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use support::{eventually_some, kubectl};
use tokio::time::Instant;

const NS: &str = "default";

fn image_of(set: &StatefulSet) -> String {
    set.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn image_in(revision: &ControllerRevision) -> String {
    revision.data.as_ref().unwrap().0["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

struct Harness {
    server: TestServer,
    client: Client,
    factory: SharedInformerFactory,
    revisions: Lister<ControllerRevision>,
    control: RevisionControl,
    collision_count: i32,
}

impl Harness {
    async fn start() -> Harness {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let factory = SharedInformerFactory::new(client.clone(), None);
        let revisions = factory.informer::<ControllerRevision>().lister();
        factory.start().unwrap();
        factory
            .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
        Harness {
            control: RevisionControl::new(client.clone()),
            server,
            client,
            factory,
            revisions,
            collision_count: 0,
        }
    }

    fn sets(&self) -> Api<StatefulSet> {
        Api::namespaced(self.client.clone(), NS)
    }

    fn revision_api(&self) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), NS)
    }

    async fn set_image(&self, image: &str) -> StatefulSet {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        self.sets()
            .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .expect("patch statefulset")
    }

    /// The set's history from the cache once it holds `count` revisions, sorted.
    async fn history(&self, set: &StatefulSet, count: usize) -> Vec<Arc<ControllerRevision>> {
        let owner = Owner::of(set).unwrap();
        let selector: Selector = ControllerRefManager::<ControllerRevision>::selector_from(
            &set.spec.as_ref().unwrap().selector,
        )
        .unwrap();
        eventually_some(&format!("{count} revisions in the cache"), || {
            let mut revs = list_controller_revisions(&self.revisions, &owner, &selector);
            sort_controller_revisions(&mut revs);
            async move { (revs.len() == count).then_some(revs) }
        })
        .await
    }

    /// The revision half of a StatefulSet sync: the update revision for `set`,
    /// whose history holds `count` revisions.
    async fn sync(&mut self, set: &StatefulSet, count: usize) -> ControllerRevision {
        let history = self.history(set, count).await;
        let candidate =
            statefulset_revision(set, next_revision(&history), Some(self.collision_count)).unwrap();
        let owner = Owner::of(set).unwrap();
        self.control
            .ensure_update_revision(&owner, &history, candidate, &mut self.collision_count)
            .await
            .expect("update revision")
    }

    async fn stop(self) {
        self.factory.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_are_created_reused_renumbered_collide_and_are_truncated() {
    let mut h = Harness::start().await;
    let manifest: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 0,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }))
    .unwrap();
    let set = h
        .sets()
        .create(&PostParams::default(), &manifest)
        .await
        .unwrap();

    // The first revision: `web-<hash of the stored data and collision count 0>`.
    let first = h.sync(&set, 0).await;
    let data = template_patch(&set.spec.as_ref().unwrap().template);
    let hash = hash_controller_revision(&go_json(&data), Some(0));
    assert_eq!(first.name_any(), format!("web-{hash}"));
    assert_eq!(first.revision, 1);
    assert_eq!(first.data.as_ref().unwrap().0, data);
    assert_eq!(
        first.labels().get("controller.kubernetes.io/hash"),
        Some(&hash)
    );
    assert_eq!(first.labels().get("app").map(String::as_str), Some("web"));
    let owner = &first.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("StatefulSet", set.uid().unwrap().as_str())
    );
    // A repeated create (a lost answer) finds its own data under the name.
    let retry = statefulset_revision(&set, 1, Some(0)).unwrap();
    let again = h.control.create_once(NS, &retry).await.unwrap();
    assert!(matches!(again, Created::Existing(ref r) if r.name_any() == first.name_any()));

    // The same template again: the newest revision is reused, nothing is written.
    let same = h.sync(&set, 1).await;
    assert_eq!(same.name_any(), first.name_any());
    assert_eq!(same.resource_version(), first.resource_version());

    // A new template: revision 2.
    let set = h.set_image("nginx:2").await;
    let second = h.sync(&set, 1).await;
    assert_eq!(
        (second.revision, image_in(&second).as_str()),
        (2, "nginx:2")
    );
    assert_ne!(second.name_any(), first.name_any());

    // Back to the first template: its revision is renumbered 3, not stored twice.
    let set = h.set_image("nginx:1").await;
    let rolled_back = h.sync(&set, 2).await;
    assert_eq!(rolled_back.name_any(), first.name_any());
    assert_eq!(rolled_back.revision, 3);
    let stored = h.revision_api().get(&first.name_any()).await.unwrap();
    assert_eq!(stored.revision, 3);

    // A stranger holds the name the next template would get: the collision count
    // goes up and the revision takes the next name.
    let set = h.set_image("nginx:3").await;
    let taken = statefulset_revision(&set, 4, Some(0)).unwrap();
    let mut squatter = taken.clone();
    squatter.metadata.labels = None;
    squatter.metadata.owner_references = None;
    squatter.data = Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(
        json!({"other": "data"}),
    ));
    h.revision_api()
        .create(&PostParams::default(), &squatter)
        .await
        .unwrap();
    // The cache sees the renumbered revision before deciding.
    eventually_some("renumbered revision cached", || {
        let cached = h.revisions.get(NS, &first.name_any());
        async move { cached.filter(|r| r.revision == 3).map(|_| ()) }
    })
    .await;
    let third = h.sync(&set, 2).await;
    assert_eq!(h.collision_count, 1);
    assert_ne!(third.name_any(), taken.name_any());
    let hash = hash_controller_revision(
        &go_json(third.data.as_ref().map(|d| &d.0).unwrap()),
        Some(1),
    );
    assert_eq!(third.name_any(), format!("web-{hash}"));
    assert_eq!((third.revision, image_in(&third).as_str()), (4, "nginx:3"));
    let untouched = h.revision_api().get(&taken.name_any()).await.unwrap();
    assert_eq!(untouched.data.unwrap().0, json!({"other": "data"}));

    // kubectl reads the history and restores revision 2's template from its data.
    let (ok, out) = kubectl(
        &h.server,
        &["-n", NS, "rollout", "history", "statefulset/web"],
    )
    .await;
    assert!(ok, "kubectl rollout history: {out}");
    let numbers: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["2", "3", "4"], "{out}");
    let (ok, out) = kubectl(
        &h.server,
        &[
            "-n",
            NS,
            "rollout",
            "history",
            "statefulset/web",
            "--revision=2",
        ],
    )
    .await;
    assert!(
        ok && out.contains("nginx:2"),
        "kubectl rollout history --revision=2: {out}"
    );
    let (ok, out) = kubectl(
        &h.server,
        &[
            "-n",
            NS,
            "rollout",
            "undo",
            "statefulset/web",
            "--to-revision=2",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout undo: {out}");
    let set = h.sets().get("web").await.unwrap();
    assert_eq!(image_of(&set), "nginx:2");

    // Cleanup with a limit of 0: a pod still runs revision 2 (nginx:2) and revision
    // 4 is current, so only revision 3 goes.
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), NS);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "labels": {"app": "web", "controller-revision-hash": second.name_any()}},
        "spec": {"containers": [{"name": "c", "image": "nginx:2"}]},
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let history = h.history(&set, 3).await;
    let mut live: HashSet<String> = pod_revisions(&[pod]);
    live.insert(third.name_any());
    let doomed = statefulset_history_to_delete(&history, &live, 0);
    assert_eq!(doomed, [first.name_any()]);
    h.control.delete_all(NS, &doomed).await.unwrap();
    h.control
        .delete_all(NS, &doomed)
        .await
        .expect("deleting again is no error");
    let mut left: Vec<String> = h
        .revision_api()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    left.sort();
    let mut want = vec![second.name_any(), third.name_any(), taken.name_any()];
    want.sort();
    assert_eq!(left, want);
    h.stop().await;
}
