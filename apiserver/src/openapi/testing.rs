//! What the OpenAPI tests share: a custom `Widget` kind with a given schema.

use serde_json::{Value, json};

use crate::kinds::{self, CustomKind, KindInfo};

pub(crate) fn widget(schema: Value) -> KindInfo {
    kinds::testing::widget(
        "v1",
        CustomKind {
            schema: Some(schema),
            ..kinds::testing::widget_custom()
        },
    )
}

pub(crate) fn widget_schema(extra: &str) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"}, extra: {"type": "string"},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}})
}
