//! Behaviour of the shared informer over scripted watcher event sequences.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference,
};
use kube::runtime::watcher::{self, Event};
use parking_lot::Mutex;

use super::*;
use crate::ObjectKey;

type Log = Arc<Mutex<Vec<String>>>;
type Sender = mpsc::UnboundedSender<Result<Event<Pod>, watcher::Error>>;

fn pod(name: &str, rv: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn owned_pod(name: &str, rv: &str, owner_uid: &str) -> Pod {
    let mut p = pod(name, rv);
    p.metadata.owner_references = Some(vec![OwnerReference {
        uid: owner_uid.into(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

fn rv(p: &Pod) -> &str {
    p.metadata.resource_version.as_deref().unwrap_or("")
}

fn name(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("")
}

/// A handler that records what it sees as `add a@1 initial`, `update a 1->2`,
/// `delete a@2 live|tombstone`.
fn recorder() -> (EventHandlerFns<Pod>, Log) {
    let log: Log = Arc::default();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let h = EventHandlerFns::new()
        .on_add(move |o, initial| {
            let tag = if initial { " initial" } else { "" };
            l1.lock().push(format!("add {}@{}{tag}", name(&o), rv(&o)));
        })
        .on_update(move |old, new| {
            l2.lock()
                .push(format!("update {} {}->{}", name(&new), rv(&old), rv(&new)));
        })
        .on_delete(move |d| {
            let how = if d.is_tombstone() {
                "tombstone"
            } else {
                "live"
            };
            let o = d.last_state();
            l3.lock()
                .push(format!("delete {}@{} {how}", name(o), rv(o)));
        });
    (h, log)
}

fn informer(resync: Option<Duration>) -> (SharedInformer<Pod>, Sender) {
    let (tx, rx) = mpsc::unbounded();
    (SharedInformer::from_stream(rx, resync), tx)
}

fn send(tx: &Sender, events: impl IntoIterator<Item = Event<Pod>>) {
    for e in events {
        tx.unbounded_send(Ok(e)).unwrap();
    }
}

fn list(pods: impl IntoIterator<Item = Pod>) -> Vec<Event<Pod>> {
    let mut v = vec![Event::Init];
    v.extend(pods.into_iter().map(Event::InitApply));
    v.push(Event::InitDone);
    v
}

/// Polls `cond` until it holds or 30 seconds pass.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn log_len(log: &Log, n: usize) {
    eventually(&format!("{n} notifications"), || log.lock().len() >= n).await;
}

#[tokio::test]
async fn initial_list_watch_and_relist_reach_handlers_as_client_go_would() {
    let (inf, tx) = informer(None);
    let (h, log) = recorder();
    let reg = inf.add_event_handler(h).unwrap();
    inf.start().unwrap();
    assert!(!inf.has_synced());

    send(&tx, list([pod("a", "1"), pod("b", "1"), pod("c", "1")]));
    inf.wait_for_sync().await.unwrap();
    eventually("registration sync", || reg.has_synced()).await;
    assert_eq!(
        *log.lock(),
        ["add a@1 initial", "add b@1 initial", "add c@1 initial"]
    );

    send(
        &tx,
        [
            Event::Apply(pod("d", "2")),
            Event::Apply(pod("a", "3")),
            Event::Delete(pod("b", "4")),
        ],
    );
    log_len(&log, 6).await;
    assert_eq!(
        log.lock()[3..],
        ["add d@2", "update a 1->3", "delete b@4 live"]
    );

    // The watch drops; while it is down c is updated, d deleted and e created. The
    // relist: a unchanged, c updated, e new, d vanished.
    send(&tx, list([pod("a", "3"), pod("c", "7"), pod("e", "8")]));
    log_len(&log, 9).await;
    assert_eq!(
        log.lock()[6..],
        ["update c 1->7", "add e@8", "delete d@2 tombstone"]
    );
    let lister = inf.lister();
    let mut cached: Vec<String> = lister
        .list_all()
        .iter()
        .map(|p| format!("{}@{}", name(p), rv(p)))
        .collect();
    cached.sort();
    assert_eq!(cached, ["a@3", "c@7", "e@8"]);
    inf.shutdown().await;
}

#[tokio::test]
async fn unchanged_relisted_objects_only_reach_handlers_that_asked_for_resync() {
    let (inf, tx) = informer(None);
    let (plain, plain_log) = recorder();
    let (resyncing, resync_log) = recorder();
    inf.add_event_handler(plain).unwrap();
    inf.add_event_handler_with_resync(resyncing, Some(Duration::from_secs(3600)))
        .unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "1")]));
    send(&tx, list([pod("a", "1"), pod("b", "2")]));
    log_len(&plain_log, 2).await;
    log_len(&resync_log, 3).await;
    assert_eq!(*plain_log.lock(), ["add a@1 initial", "add b@2"]);
    assert_eq!(
        *resync_log.lock(),
        ["add a@1 initial", "update a 1->1", "add b@2"]
    );
    inf.shutdown().await;
}

#[tokio::test]
async fn notifications_for_one_object_arrive_in_order() {
    let (inf, tx) = informer(None);
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let s = seen.clone();
    inf.add_event_handler(EventHandlerFns::new().on_update(move |_, new: Arc<Pod>| {
        // A slow handler: the informer must buffer, not drop or reorder.
        std::thread::sleep(Duration::from_micros(50));
        s.lock().push(rv(&new).parse().unwrap());
    }))
    .unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "0")]));
    send(
        &tx,
        (1..=500).map(|i| Event::Apply(pod("a", &i.to_string()))),
    );
    eventually("500 updates", || seen.lock().len() == 500).await;
    assert_eq!(*seen.lock(), (1..=500).collect::<Vec<u32>>());
    inf.shutdown().await;
}

#[tokio::test]
async fn late_handler_gets_synthetic_adds_then_live_events() {
    let (inf, tx) = informer(None);
    inf.start().unwrap();
    send(&tx, list([pod("a", "1"), pod("b", "1")]));
    inf.wait_for_sync().await.unwrap();

    let (h, log) = recorder();
    let reg = inf.add_event_handler(h).unwrap();
    send(&tx, [Event::Apply(pod("a", "2"))]);
    log_len(&log, 3).await;
    eventually("late registration sync", || reg.has_synced()).await;
    let got = log.lock().clone();
    let mut adds = got[..2].to_vec();
    adds.sort();
    assert_eq!(adds, ["add a@1 initial", "add b@1 initial"]);
    assert_eq!(got[2], "update a 1->2");
    inf.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_syncs_only_after_its_handler_processed_the_initial_list() {
    let (inf, tx) = informer(None);
    let gate = Arc::new(std::sync::Barrier::new(2));
    let g = gate.clone();
    let reg = inf
        .add_event_handler(EventHandlerFns::new().on_add(move |_, _| {
            g.wait();
        }))
        .unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "1")]));
    inf.wait_for_sync().await.unwrap();
    // The informer has synced but the handler is blocked inside on_add.
    assert!(!reg.has_synced());
    let g = gate.clone();
    tokio::task::spawn_blocking(move || g.wait()).await.unwrap();
    eventually("handler sync", || reg.has_synced()).await;
    inf.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn resync_redelivers_cached_objects_to_handlers_with_a_period() {
    let (inf, tx) = informer(Some(Duration::from_secs(30)));
    let (default_h, default_log) = recorder();
    let (fast_h, fast_log) = recorder();
    let (none_h, none_log) = recorder();
    inf.add_event_handler(default_h).unwrap();
    inf.add_event_handler_with_resync(fast_h, Some(Duration::from_secs(10)))
        .unwrap();
    inf.add_event_handler_with_resync(none_h, None).unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "1"), pod("b", "1")]));
    log_len(&none_log, 2).await;

    tokio::time::sleep(Duration::from_secs(11)).await;
    log_len(&fast_log, 4).await;
    let mut resynced = fast_log.lock()[2..].to_vec();
    resynced.sort();
    assert_eq!(resynced, ["update a 1->1", "update b 1->1"]);
    assert_eq!(
        default_log.lock().len(),
        2,
        "30s handler resynced after 11s"
    );

    tokio::time::sleep(Duration::from_secs(20)).await;
    log_len(&default_log, 4).await;
    log_len(&fast_log, 8).await;
    assert_eq!(
        none_log.lock().len(),
        2,
        "handler without resync got updates"
    );
    inf.shutdown().await;
}

#[tokio::test]
async fn removed_handler_receives_nothing_more() {
    let (inf, tx) = informer(None);
    let (h, log) = recorder();
    let (witness, witness_log) = recorder();
    let reg = inf.add_event_handler(h).unwrap();
    inf.add_event_handler(witness).unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "1")]));
    log_len(&log, 1).await;
    reg.remove();
    assert!(reg.is_removed());
    reg.remove();
    send(&tx, [Event::Apply(pod("a", "2"))]);
    log_len(&witness_log, 2).await;
    assert_eq!(*log.lock(), ["add a@1 initial"]);
    assert_eq!(inf.handler_count(), 1);
    inf.shutdown().await;
}

#[tokio::test]
async fn panicking_handler_keeps_receiving() {
    let (inf, tx) = informer(None);
    let seen: Log = Arc::default();
    let s = seen.clone();
    inf.add_event_handler(EventHandlerFns::new().on_add(move |o: Arc<Pod>, _| {
        if name(&o) == "boom" {
            panic!("handler bug");
        }
        s.lock().push(name(&o).to_string());
    }))
    .unwrap();
    inf.start().unwrap();
    send(&tx, list([]));
    send(
        &tx,
        [Event::Apply(pod("boom", "1")), Event::Apply(pod("ok", "2"))],
    );
    eventually("the add after the panic", || seen.lock().len() == 1).await;
    assert_eq!(*seen.lock(), ["ok"]);
    inf.shutdown().await;
}

fn with_managed_fields(mut p: Pod) -> Pod {
    p.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
        manager: Some("kubectl".into()),
        operation: Some("Update".into()),
        ..Default::default()
    }]);
    p
}

#[tokio::test]
async fn default_transform_drops_managed_fields_and_can_be_replaced() {
    let (inf, tx) = informer(None);
    inf.start().unwrap();
    send(&tx, list([with_managed_fields(pod("a", "1"))]));
    inf.wait_for_sync().await.unwrap();
    let a = inf.lister().get("ns", "a").unwrap();
    assert!(a.metadata.managed_fields.is_none());
    assert_eq!(
        inf.set_transform(None),
        Err(InformerError::AlreadyStarted("Pod".into()))
    );
    inf.shutdown().await;

    let (inf, tx) = informer(None);
    inf.set_transform(None).unwrap();
    inf.start().unwrap();
    send(&tx, list([with_managed_fields(pod("a", "1"))]));
    inf.wait_for_sync().await.unwrap();
    assert!(
        inf.lister()
            .get("ns", "a")
            .unwrap()
            .metadata
            .managed_fields
            .is_some()
    );
    inf.shutdown().await;
}

#[tokio::test]
async fn indexes_follow_updates_watch_deletes_and_tombstones() {
    let (inf, tx) = informer(None);
    inf.add_index(CONTROLLER_UID_INDEX, controller_uid_index::<Pod>)
        .unwrap();
    let (h, log) = recorder();
    inf.add_event_handler(h).unwrap();
    inf.start().unwrap();
    send(
        &tx,
        list([
            owned_pod("a", "1", "rs-1"),
            owned_pod("b", "1", "rs-1"),
            owned_pod("c", "1", "rs-2"),
        ]),
    );
    inf.wait_for_sync().await.unwrap();
    let lister = inf.lister();
    let owned = |uid: &str| {
        let mut v: Vec<String> = lister
            .by_index(CONTROLLER_UID_INDEX, uid)
            .unwrap()
            .iter()
            .map(|p| name(p).to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(owned("rs-1"), ["a", "b"]);

    // a is orphaned, c adopted by rs-1, b deleted by the watch.
    send(
        &tx,
        [
            Event::Apply(pod("a", "2")),
            Event::Apply(owned_pod("c", "2", "rs-1")),
            Event::Delete(owned_pod("b", "3", "rs-1")),
        ],
    );
    log_len(&log, 6).await;
    assert_eq!(owned("rs-1"), ["c"]);
    assert!(owned("rs-2").is_empty());

    // c vanishes across a relist: its tombstone removes it from the index too.
    send(&tx, list([pod("a", "2")]));
    log_len(&log, 7).await;
    assert!(owned("rs-1").is_empty());
    assert!(
        inf.indexer()
            .index_values(CONTROLLER_UID_INDEX)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        inf.indexer().index_keys(NAMESPACE_INDEX, "ns").unwrap(),
        [ObjectKey::namespaced("ns", "a")]
    );
    inf.shutdown().await;
}

#[tokio::test]
async fn watch_errors_are_survived_and_shutdown_stops_everything() {
    let (inf, tx) = informer(None);
    let (h, log) = recorder();
    let reg = inf.add_event_handler(h).unwrap();
    inf.start().unwrap();
    tx.unbounded_send(Err(watcher::Error::NoResourceVersion))
        .unwrap();
    send(&tx, list([pod("a", "1")]));
    inf.wait_for_sync().await.unwrap();
    log_len(&log, 1).await;
    inf.shutdown().await;
    assert!(inf.is_stopped());
    assert!(reg.is_removed());
    assert!(matches!(
        inf.add_event_handler(EventHandlerFns::new()),
        Err(InformerError::Stopped(_))
    ));
    assert!(matches!(inf.start(), Err(InformerError::Stopped(_))));
}

#[tokio::test]
async fn wait_for_sync_fails_when_stopped_before_sync() {
    let (inf, _tx) = informer(None);
    inf.start().unwrap();
    let waiter = tokio::spawn({
        let inf = inf.clone();
        async move { inf.wait_for_sync().await }
    });
    inf.shutdown().await;
    assert_eq!(
        waiter.await.unwrap(),
        Err(InformerError::StoppedBeforeSync("Pod".into()))
    );
}

fn pod_on(name: &str, rv: &str, node: Option<&str>) -> Pod {
    let mut p = pod(name, rv);
    p.spec = Some(k8s_openapi::api::core::v1::PodSpec {
        node_name: node.map(str::to_string),
        ..Default::default()
    });
    p
}

#[tokio::test]
async fn pods_are_indexed_by_node_name_as_they_are_bound_and_moved() {
    let (inf, tx) = informer(None);
    inf.add_index(POD_NODE_NAME_INDEX, pod_node_name_index)
        .unwrap();
    let (h, log) = recorder();
    inf.add_event_handler(h).unwrap();
    inf.start().unwrap();
    send(
        &tx,
        list([
            pod_on("a", "1", Some("n1")),
            pod_on("b", "1", Some("n1")),
            pod_on("pending", "1", None),
            pod_on("empty", "1", Some("")),
        ]),
    );
    inf.wait_for_sync().await.unwrap();
    let lister = inf.lister();
    let on = |node: &str| {
        let mut v: Vec<String> = lister
            .by_index(POD_NODE_NAME_INDEX, node)
            .unwrap()
            .iter()
            .map(|p| name(p).to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(on("n1"), ["a", "b"]);
    assert!(on("").is_empty(), "unscheduled pods are filed nowhere");

    // pending is bound to n2, b deleted.
    send(
        &tx,
        [
            Event::Apply(pod_on("pending", "2", Some("n2"))),
            Event::Delete(pod_on("b", "3", Some("n1"))),
        ],
    );
    log_len(&log, 6).await;
    assert_eq!(on("n1"), ["a"]);
    assert_eq!(on("n2"), ["pending"]);
    let mut nodes = inf.indexer().index_values(POD_NODE_NAME_INDEX).unwrap();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"]);
    inf.shutdown().await;
}

#[tokio::test]
async fn handlers_and_listers_share_the_cached_object_without_copies() {
    let (inf, tx) = informer(None);
    let delivered: Arc<Mutex<Vec<Arc<Pod>>>> = Arc::default();
    let d = delivered.clone();
    inf.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |p: Arc<Pod>, _| d.lock().push(p))
            .on_update({
                let d = delivered.clone();
                move |_, new: Arc<Pod>| d.lock().push(new)
            }),
    )
    .unwrap();
    inf.start().unwrap();
    send(&tx, list([pod("a", "1")]));
    send(&tx, [Event::Apply(pod("a", "2"))]);
    eventually("two notifications", || delivered.lock().len() == 2).await;
    let lister = inf.lister();
    let cached = lister.get("ns", "a").unwrap();
    let got = delivered.lock().clone();
    assert!(
        Arc::ptr_eq(&cached, &got[1]),
        "the handler's new object is the cached one"
    );
    assert!(Arc::ptr_eq(&cached, &lister.get("ns", "a").unwrap()));
    assert!(Arc::ptr_eq(&cached, &lister.list_all()[0]));
    assert!(
        Arc::ptr_eq(&cached, &lister.by_index(NAMESPACE_INDEX, "ns").unwrap()[0]),
        "index lookups return the cached Arc too"
    );
    assert_eq!(rv(&got[0]), "1");
    inf.shutdown().await;
}
