//! Watches through kube-runtime: a churn of 10,000 objects with watches cut mid-stream
//! (resumed from the last resourceVersion, no relist), too-old resourceVersions (410 →
//! relist), streaming lists, metadata watches, selector-filtered watches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use capstan_apiserver::{ServerConfig, TestServer};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use tokio::time::Instant;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"churn": "yes"}}, "data": {"v": "0"}}),
    )
    .unwrap()
}

/// What a watcher consumer knows: name → resourceVersion, plus how many (re)lists it saw.
#[derive(Default)]
struct Model {
    objects: BTreeMap<String, String>,
    buffer: BTreeMap<String, String>,
    inits: usize,
}

impl Model {
    fn apply<K: kube::Resource>(&mut self, ev: Event<K>) {
        let key = |k: &K| {
            (
                k.meta().name.clone().unwrap(),
                k.meta().resource_version.clone().unwrap(),
            )
        };
        match ev {
            Event::Apply(o) => {
                let (n, rv) = key(&o);
                self.objects.insert(n, rv);
            }
            Event::Delete(o) => {
                self.objects.remove(&key(&o).0);
            }
            Event::Init => {
                self.inits += 1;
                self.buffer.clear();
            }
            Event::InitApply(o) => {
                let (n, rv) = key(&o);
                self.buffer.insert(n, rv);
            }
            Event::InitDone => self.objects = std::mem::take(&mut self.buffer),
        }
    }
}

async fn server_state(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default().labels("churn=yes"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            (
                c.metadata.name.unwrap(),
                c.metadata.resource_version.unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_every_change_through_cut_watches() {
    let s = Arc::new(
        TestServer::start_with(ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            watch_history: 100_000,
            ..ServerConfig::default()
        })
        .await
        .unwrap(),
    );
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let model = Arc::new(parking_lot::Mutex::new(Model::default()));
    let m2 = model.clone();
    let wapi = api.clone();
    let watch_task = tokio::spawn(async move {
        let stream = watcher::watcher(wapi, watcher::Config::default().labels("churn=yes"));
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => m2.lock().apply(ev),
                Err(e) => panic!("watcher error: {e}"),
            }
        }
    });
    const N: usize = 10_000;
    let ops = Arc::new(AtomicUsize::new(0));
    // Cut every watch each 1,500 operations (about ten cuts).
    let cutter = {
        let s = s.clone();
        let ops = ops.clone();
        tokio::spawn(async move {
            let mut next = 1_500;
            loop {
                if ops.load(Ordering::Relaxed) >= next {
                    s.cut_watches();
                    next += 1_500;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let api = api.clone();
            let ops = ops.clone();
            tokio::spawn(async move {
                for i in (w..N).step_by(16) {
                    let name = format!("cm-{i:05}");
                    api.create(&PostParams::default(), &cm(&name))
                        .await
                        .unwrap();
                    ops.fetch_add(1, Ordering::Relaxed);
                    if i % 3 == 0 {
                        api.patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"data": {"v": "1"}})),
                        )
                        .await
                        .unwrap();
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                    if i % 5 == 0 {
                        api.delete(&name, &DeleteParams::default()).await.unwrap();
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    cutter.abort();
    assert!(ops.load(Ordering::Relaxed) > 15_000);
    let want = server_state(&api).await;
    assert_eq!(want.len(), N - N / 5);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if model.lock().objects == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watcher never converged: has {} objects, want {}",
            model.lock().objects.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every cut was resumed from the last resourceVersion: only the first list happened.
    assert_eq!(model.lock().inits, 1);
    watch_task.abort();
}

#[tokio::test]
async fn too_old_resource_version_is_410_and_the_watcher_relists() {
    let s = TestServer::start_with(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        watch_history: 20,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    api.create(&PostParams::default(), &cm("first"))
        .await
        .unwrap();
    let first_rv = api
        .get("first")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..50 {
        api.create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .unwrap();
    }
    // A raw watch from the old revision: HTTP 200, one ERROR event with 410 Expired.
    let events: Vec<_> = api
        .watch(&WatchParams::default(), &first_rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    match &events[0] {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }

    // A watcher whose resume point fell out of the history relists.
    let mut model = Model::default();
    let stream = watcher::watcher(api.clone(), watcher::Config::default().labels("churn=yes"));
    futures::pin_mut!(stream);
    while model.inits == 0 || model.objects.len() != 51 {
        model.apply(stream.try_next().await.unwrap().unwrap());
    }
    s.cut_watches();
    for i in 0..50 {
        api.patch(
            &format!("c{i}"),
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "2"}})),
        )
        .await
        .unwrap();
    }
    let want = server_state(&api).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut expired = 0;
    while model.objects != want {
        assert!(Instant::now() < deadline, "watcher never converged");
        match tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(ev) => model.apply(ev),
            // The watcher surfaces the 410 ERROR event, then relists on the next poll.
            Err(watcher::Error::WatchError(e)) if e.code == 410 => expired += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(expired, 1);
    assert_eq!(
        model.inits, 2,
        "the expired resume point forces exactly one relist"
    );
}

#[tokio::test]
async fn streaming_lists_and_metadata_watches() {
    let s = TestServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("s{i}")))
            .await
            .unwrap();
    }
    // sendInitialEvents=true streaming list, ending at the initial-events-end bookmark.
    let stream = watcher::watcher(
        api.clone(),
        watcher::Config::default()
            .labels("churn=yes")
            .streaming_lists(),
    );
    futures::pin_mut!(stream);
    let mut model = Model::default();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let done = matches!(ev, Event::InitDone);
        model.apply(ev);
        if done {
            break;
        }
    }
    assert_eq!(model.objects.len(), 5);
    api.create(&PostParams::default(), &cm("s5")).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(30), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, Event::Apply(ref c) if c.metadata.name.as_deref() == Some("s5")));

    // Metadata-only watch (PartialObjectMetadata).
    let meta_api: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(s.client().await, "default");
    let meta = watcher::watcher(meta_api, watcher::Config::default().labels("churn=yes"));
    futures::pin_mut!(meta);
    let mut names = Vec::new();
    while names.len() < 6 {
        let ev = tokio::time::timeout(Duration::from_secs(30), meta.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Event::InitApply(m) = ev {
            names.push(m.metadata.name.unwrap());
        }
    }
    names.sort();
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4", "s5"]);
}

#[tokio::test]
async fn label_selector_watch_sees_objects_enter_and_leave() {
    let s = TestServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    let rv = api
        .get("x")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().labels("churn=yes").timeout(10), &rv)
        .await
        .unwrap();
    futures::pin_mut!(stream);
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"churn": "no"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"churn": "yes"}}})),
    )
    .await
    .unwrap();
    api.delete("x", &DeleteParams::default()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(c) => got.push(("ADDED", c.metadata.resource_version.unwrap())),
            WatchEvent::Deleted(c) => got.push(("DELETED", c.metadata.resource_version.unwrap())),
            WatchEvent::Modified(_) => got.push(("MODIFIED", String::new())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    let base: u64 = rv.parse().unwrap();
    assert_eq!(
        got,
        [
            ("DELETED", (base + 1).to_string()),
            ("ADDED", (base + 2).to_string()),
            ("DELETED", (base + 3).to_string()),
        ]
    );
}
