//! Where Events are written: the API server through a `kube::Client`, or anything
//! else implementing [`EventSink`] (tests).

use std::future::Future;

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::Value;

/// Errors of an [`EventSink`].
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The Event to patch no longer exists.
    #[error("event not found")]
    NotFound,
    /// Any other failure.
    #[error("writing event failed: {0}")]
    Failed(String),
}

/// Where Events are written: the API server, or a recorder in tests.
pub trait EventSink: Send + Sync + 'static {
    /// Creates `event`.
    fn create(&self, event: &Event) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Merge-patches the Event `namespace/name`.
    fn patch(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Writes `core/v1` Events through a `kube::Client`.
#[derive(Clone)]
pub struct KubeEventSink {
    client: kube::Client,
}

impl KubeEventSink {
    /// A sink writing through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

fn sink_err(err: kube::Error) -> SinkError {
    if crate::errors::is_not_found(&err) {
        SinkError::NotFound
    } else {
        SinkError::Failed(err.to_string())
    }
}

impl EventSink for KubeEventSink {
    async fn create(&self, event: &Event) -> Result<(), SinkError> {
        let ns = event.metadata.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        api.create(&PostParams::default(), event)
            .await
            .map(|_| ())
            .map_err(sink_err)
    }

    async fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<(), SinkError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(|_| ())
            .map_err(sink_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::test_support::{rec, ts};
    use crate::events::{Correlated, EventCorrelator};
    use parking_lot::Mutex;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::time::Instant;

    #[tokio::test]
    async fn the_kube_sink_posts_core_v1_events_and_maps_not_found() {
        use bytes::Bytes;
        use http_body_util::Full;
        let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let log = seen.clone();
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let log = log.clone();
            async move {
                let ctype = req
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().push((
                    req.method().to_string(),
                    req.uri().path().to_string(),
                    ctype,
                ));
                let (status, body) = if req.method() == http::Method::PATCH {
                    (
                        404,
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
                    )
                } else {
                    (
                        201,
                        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"p.1","namespace":"default"},"involvedObject":{}}"#,
                    )
                };
                let resp = http::Response::builder()
                    .status(status)
                    .header("Content-Type", "application/json")
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap_or_default();
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let sink = KubeEventSink::new(kube::Client::new(svc, "default"));
        let mut c = EventCorrelator::new("rc", "i");
        let Correlated::Create(event) = c.observe(&rec("p", "R", "m"), ts(0), Instant::now())
        else {
            panic!("creates")
        };
        sink.create(&event).await.expect("created");
        let err = sink.patch("default", "p.1", &json!({"count": 2})).await;
        assert!(matches!(err, Err(SinkError::NotFound)), "{err:?}");
        let seen = seen.lock().clone();
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[0].1, "/api/v1/namespaces/default/events");
        assert_eq!(seen[1].0, "PATCH");
        assert_eq!(seen[1].1, "/api/v1/namespaces/default/events/p.1");
        assert_eq!(seen[1].2, "application/merge-patch+json");
    }
}
