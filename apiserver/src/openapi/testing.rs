//! What the OpenAPI tests share: a custom `Widget` kind with a given schema.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::kinds::{CustomKind, KindInfo, KindSource, Subresource};

pub(crate) fn widget(schema: Value) -> KindInfo {
    KindInfo {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec![],
        categories: vec![],
        subresources: vec![Subresource::Status, Subresource::Scale],
        source: KindSource::Custom {
            crd_name: "widgets.example.com".into(),
        },
        custom: Some(Arc::new(CustomKind {
            schema: Some(schema),
            printer_columns: vec![],
            storage_version: "v1".into(),
            scale: None,
            list_kind: "WidgetList".into(),
            deprecated: false,
            deprecation_warning: None,
            selectable_fields: Vec::new(),
        })),
        descriptor: None,
    }
}

pub(crate) fn widget_schema(extra: &str) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"}, extra: {"type": "string"},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}})
}
