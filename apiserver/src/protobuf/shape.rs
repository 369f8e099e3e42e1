//! What the JSON form of a message looks like, from the k8s-openapi schema of the same
//! type (message `k8s.io.api.core.v1.Volume` ↔ schema `io.k8s.api.core.v1.Volume`): its property names
//! and which of them are required. Two facts the `.proto` files do not carry follow:
//! a message field the JSON schema has no property for is one Go embeds inline
//! (`Volume.volumeSource`, `Probe.handler`), and a required property is one Go writes
//! even when zero (no `omitempty`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::Value;

/// The JSON properties of one message.
#[derive(Debug, Default)]
pub struct Shape {
    properties: HashSet<String>,
    required: HashSet<String>,
}

impl Shape {
    /// Whether the JSON form has a property of this name.
    pub fn has_property(&self, name: &str) -> bool {
        self.properties.contains(name)
    }

    /// Whether the property is required (Go writes it even when zero).
    pub fn is_required(&self, name: &str) -> bool {
        self.required.contains(name)
    }
}

static SHAPES: LazyLock<HashMap<String, Shape>> = LazyLock::new(|| {
    let strings = |v: Option<&Value>| -> HashSet<String> {
        match v {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            _ => HashSet::new(),
        }
    };
    crate::openapi::schemas::builtin_definitions()
        .iter()
        .filter(|(_, schema)| schema.get("properties").is_some())
        .filter_map(|(name, schema)| {
            // `io.k8s.api.core.v1.Pod` describes the message `k8s.io.api.core.v1.Pod`;
            // `io.k8s.apiextensions-apiserver.…` the package `k8s.io.apiextensions_apiserver.…`.
            let message = format!("k8s.io.{}", name.strip_prefix("io.k8s.")?.replace('-', "_"));
            let shape = Shape {
                properties: strings(schema.get("properties")),
                required: strings(schema.get("required")),
            };
            Some((message, shape))
        })
        .collect()
});

/// The shape of a message by its protobuf full name; `None` when no schema describes
/// it as an object with properties.
pub fn of(message_full_name: &str) -> Option<&'static Shape> {
    SHAPES.get(message_full_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_come_from_the_schemas() {
        let port = of("k8s.io.api.core.v1.ContainerPort").unwrap();
        assert!(port.has_property("hostPort"));
        assert!(port.is_required("containerPort"));
        assert!(!port.is_required("hostPort"));
        let volume = of("k8s.io.api.core.v1.Volume").unwrap();
        assert!(volume.has_property("configMap"));
        assert!(!volume.has_property("volumeSource"));
        assert!(of("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions").is_some());
        assert!(of("k8s.io.api.autoscaling.v1.Scale").is_some());
        assert!(of("k8s.io.apimachinery.pkg.util.intstr.IntOrString").is_none());
    }
}
