//! The runtime against a real HTTP API server (capstan-apiserver's `TestServer`):
//! informers see every change in order with the old object, and a controller built from
//! an informer, a queue and the runner converges the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, reconciler_fn};
use capstan_runtime::informer::{DeletedObject, EventHandlerFns, SharedInformerFactory};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use tokio::time::Instant;

/// Polls `cond` until it holds or the deadline passes; returns whether it held.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

fn config_map(name: &str, data: &[(&str, &str)], labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn informer_delivers_add_update_delete_in_order_with_old_objects() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &config_map("before-start", &[("k", "0")], &[]),
    )
    .await
    .unwrap();

    let factory = SharedInformerFactory::new(client.clone(), None);
    let informer = factory.namespaced_informer::<ConfigMap>("default");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    informer
        .add_event_handler(
            EventHandlerFns::new()
                .on_add(move |cm: Arc<ConfigMap>, initial| {
                    a.lock()
                        .push(format!("add {} initial={initial}", cm.name_any()))
                })
                .on_update(move |old: Arc<ConfigMap>, new: Arc<ConfigMap>| {
                    let value = |cm: &ConfigMap| cm.data.as_ref().and_then(|d| d.get("k").cloned());
                    u.lock().push(format!(
                        "update {} {:?}->{:?}",
                        new.name_any(),
                        value(&old),
                        value(&new)
                    ))
                })
                .on_delete(move |gone: DeletedObject<ConfigMap>| {
                    d.lock().push(format!(
                        "delete {} tombstone={}",
                        gone.last_state().name_any(),
                        gone.is_tombstone()
                    ))
                }),
        )
        .unwrap();
    factory.start().unwrap();
    factory
        .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();

    api.create(
        &PostParams::default(),
        &config_map("web", &[("k", "1")], &[]),
    )
    .await
    .unwrap();
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("web", &DeleteParams::default()).await.unwrap();

    let want_web = vec![
        "add web initial=false".to_string(),
        "update web Some(\"1\")->Some(\"2\")".to_string(),
        "delete web tombstone=false".to_string(),
    ];
    let web_events = || {
        log.lock()
            .iter()
            .filter(|l| l.contains(" web "))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(|| web_events().len() == 3).await,
        "events so far: {:?}",
        log.lock()
    );
    assert_eq!(web_events(), want_web);
    assert_eq!(log.lock()[0], "add before-start initial=true");

    let cached = informer.lister().get("default", "before-start").unwrap();
    assert!(
        cached.metadata.managed_fields.is_none(),
        "the default transform drops managedFields"
    );
    factory.shutdown().await;
}

/// A controller in the style of kube-controller-manager's: for every ConfigMap labelled
/// `mirror=true`, keep a ConfigMap `<name>-mirror` holding the same data.
#[tokio::test]
async fn a_controller_converges_through_informer_queue_and_workers() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let factory = SharedInformerFactory::new(client.clone(), None);
    let informer = factory.namespaced_informer::<ConfigMap>("default");
    let lister = informer.lister();
    let writer = api.clone();
    let controller = ControllerBuilder::new("configmap-mirror")
        .workers(2)
        .wait_for({
            let informer = informer.clone();
            Arc::new(move || informer.has_synced())
        })
        .build(reconciler_fn(move |key: ObjectKey| {
            let (lister, writer) = (lister.clone(), writer.clone());
            async move {
                let Some(source) = lister.get_key(&key) else {
                    return Ok::<_, kube::Error>(Action::Done);
                };
                if source.labels().get("mirror").map(String::as_str) != Some("true") {
                    return Ok(Action::Done);
                }
                let mirror_name = format!("{}-mirror", key.name());
                let mut data = source.data.clone().unwrap_or_default();
                data.insert("source".to_string(), key.to_string());
                let wanted = config_map(&mirror_name, &[], &[]);
                let wanted = ConfigMap {
                    data: Some(data),
                    ..wanted
                };
                let patch = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": mirror_name},
                    "data": wanted.data,
                });
                match writer
                    .patch(&mirror_name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => {}
                    Err(err) if capstan_runtime::errors::is_not_found(&err) => {
                        writer.create(&PostParams::default(), &wanted).await?;
                    }
                    Err(err) => return Err(err),
                }
                Ok(Action::Done)
            }
        }));
    let queue = controller.queue();
    let enqueue = move |cm: &ConfigMap| {
        if !cm.name_any().ends_with("-mirror") {
            queue.add(ObjectKey::of(cm));
        }
    };
    let (on_add, on_update) = (enqueue.clone(), enqueue.clone());
    informer
        .add_event_handler(
            EventHandlerFns::new()
                .on_add(move |cm: Arc<ConfigMap>, _| on_add(&cm))
                .on_update(move |_, cm: Arc<ConfigMap>| on_update(&cm)),
        )
        .unwrap();
    factory.start().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));

    for i in 0..20 {
        api.create(
            &PostParams::default(),
            &config_map(
                &format!("app-{i}"),
                &[("v", "1")],
                &[("mirror", if i % 2 == 0 { "true" } else { "false" })],
            ),
        )
        .await
        .unwrap();
    }
    api.patch(
        "app-0",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();

    let mirrors = || async {
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|cm| cm.name_any().ends_with("-mirror"))
            .map(|cm| (cm.name_any(), cm.data.unwrap_or_default()))
            .collect::<BTreeMap<_, _>>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = BTreeMap::new();
    while Instant::now() < deadline {
        seen = mirrors().await;
        if seen.len() == 10
            && seen
                .get("app-0-mirror")
                .and_then(|d| d.get("v"))
                .map(String::as_str)
                == Some("2")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 10, "one mirror per labelled source: {seen:?}");
    assert_eq!(seen["app-0-mirror"]["v"], "2", "the update was mirrored");
    assert_eq!(seen["app-4-mirror"]["source"], "default/app-4");
    assert!(!seen.contains_key("app-1-mirror"));

    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    factory.shutdown().await;
}
