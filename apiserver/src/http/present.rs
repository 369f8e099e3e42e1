//! Presenting stored objects as the client asked: plain JSON (lists streamed straight
//! from the stored bytes), `PartialObjectMetadata[List]`, or `Table`s.

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use serde_json::{Value, json};

use crate::kinds::KindInfo;
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
        .and_then(|v| serde_json::to_vec(&v).ok())
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
/// batched into chunks of about 64 KiB, never materialising the whole list.
pub fn json_list_stream(
    kind: &KindInfo,
    items: Vec<StoredObject>,
    list_meta: Value,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let head = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        json!(kind.list_kind()),
        json!(kind.api_version()),
        list_meta
    );
    let kind = kind.clone();
    let state = (
        Some(Bytes::from(head)),
        items.into_iter(),
        false,
        kind,
        false,
    );
    futures::stream::unfold(
        state,
        |(head, mut it, mut first_done, kind, finished)| async move {
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
                buf.put_slice(b"]}\n");
            }
            Some((buf.freeze(), (None, it, first_done, kind, done)))
        },
    )
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
pub fn include_object(q: Option<&str>) -> Result<IncludeObject, crate::status::ApiError> {
    IncludeObject::parse(q.unwrap_or("")).ok_or_else(|| {
        crate::status::ApiError::bad_request(format!(
            "includeObject: Unsupported value: {:?}: supported values: \"Metadata\", \"None\", \"Object\"",
            q.unwrap_or("")
        ))
    })
}
