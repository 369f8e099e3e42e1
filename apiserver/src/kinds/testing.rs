//! A custom `Widget` kind (`widgets.example.com`) for tests of the layers that serve
//! custom resources; each test adjusts what it needs.

use std::sync::Arc;

use super::{CustomKind, KindInfo, KindSource, Subresource};

/// What the `Widget` CRD says about a version: no schema, columns or scale.
pub(crate) fn widget_custom() -> CustomKind {
    CustomKind {
        schema: None,
        printer_columns: vec![],
        storage_version: "v1".into(),
        scale: None,
        list_kind: "WidgetList".into(),
        deprecated: false,
        deprecation_warning: None,
        selectable_fields: Vec::new(),
    }
}

/// The namespaced `Widget` kind served at `version` with `status` and `scale`.
pub(crate) fn widget(version: &str, custom: CustomKind) -> KindInfo {
    KindInfo {
        group: "example.com".into(),
        version: version.into(),
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
        custom: Some(Arc::new(custom)),
        descriptor: None,
    }
}
