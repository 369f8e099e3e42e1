//! Presenting stored objects as the client asked: plain JSON (lists streamed straight
//! from the stored bytes), `PartialObjectMetadata[List]`, or `Table`s.

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use serde_json::{Value, json};

use crate::kinds::KindInfo;
use crate::status::ApiError;
use crate::storage::StoredObject;

pub use crate::table::IncludeObject;

/// The object's JSON, with `apiVersion` set to the served version (custom resources
/// served at several versions share storage; conversion is `None`).
pub fn served_value(kind: &KindInfo, obj: &StoredObject) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(&obj.bytes).ok()?;
    if kind.is_custom() {
        v["apiVersion"] = json!(kind.api_version());
    }
    Some(v)
}

/// Whether stored bytes can be sent as they are.
fn verbatim(kind: &KindInfo) -> bool {
    !kind.is_custom() || kind.storage_version() == kind.version
}

/// The bytes to send for one object in plain JSON.
pub fn object_bytes(kind: &KindInfo, obj: &StoredObject) -> Bytes {
    if verbatim(kind) {
        return obj.bytes.clone();
    }
    served_value(kind, obj)
        .and_then(|v| crate::wire::to_vec(&v).ok())
        .map(Bytes::from)
        .unwrap_or_else(|| obj.bytes.clone())
}

/// `PartialObjectMetadata` of an object.
pub fn partial(v: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": v.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A streamed plain-JSON list: the envelope, then the stored bytes of each item,
/// batched into chunks of about 64 KiB, never materialising the whole list. The
/// envelope's keys come in Go's order around the items (a custom resource list's sorted,
/// so its `kind` and `metadata` follow the items; see [`crate::wire`]).
pub fn json_list_stream(
    kind: &KindInfo,
    items: Vec<StoredObject>,
    list_meta: Value,
) -> Result<impl Stream<Item = Bytes> + Send + 'static, ApiError> {
    let envelope = json!({
        "kind": kind.list_kind(),
        "apiVersion": kind.api_version(),
        "metadata": list_meta,
    });
    let (head, mut tail) = crate::wire::list_envelope(&envelope).map_err(ApiError::internal)?;
    tail.push(b'\n');
    let tail = Bytes::from(tail);
    let kind = kind.clone();
    let state = (
        Some(Bytes::from(head)),
        items.into_iter(),
        false,
        kind,
        false,
    );
    Ok(futures::stream::unfold(
        state,
        move |(head, mut it, mut first_done, kind, finished)| {
            let tail = tail.clone();
            async move {
                if finished {
                    return None;
                }
                if let Some(h) = head {
                    return Some((h, (None, it, first_done, kind, false)));
                }
                let mut buf = BytesMut::with_capacity(64 * 1024);
                let mut done = true;
                for obj in it.by_ref() {
                    if first_done {
                        buf.put_u8(b',');
                    }
                    first_done = true;
                    buf.put_slice(&object_bytes(&kind, &obj));
                    if buf.len() >= 60 * 1024 {
                        done = false;
                        break;
                    }
                }
                if done {
                    buf.put_slice(&tail);
                }
                Some((buf.freeze(), (None, it, first_done, kind, done)))
            }
        },
    ))
}

/// A `Table` of `items` for `kind` (wide columns included; kubectl hides them unless
/// `-o wide`, as with kube-apiserver). `no_headers` leaves out the column definitions
/// (watch events after the first).
pub fn table(kind: &KindInfo, items: &[Value], include: IncludeObject, no_headers: bool) -> Value {
    let opts = crate::table::TableOptions {
        wide: true,
        include_object: include,
        no_headers,
    };
    crate::table::to_table(kind, items, opts, chrono::Utc::now())
}

/// Parses `includeObject` (400 for unknown values).
pub fn include_object(q: Option<&str>) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(q.unwrap_or("")).ok_or_else(|| {
        ApiError::bad_request(format!(
            "includeObject: Unsupported value: {:?}: supported values: \"Metadata\", \"None\", \"Object\"",
            q.unwrap_or("")
        ))
    })
}
