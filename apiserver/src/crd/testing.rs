//! What the CRD tests share: a CRD serving a `Widget` kind in three versions, with
//! a schema exercising every rule, as sent and as defaulted.

use serde_json::{Value, json};

use super::defaults::default_crd;

pub(crate) fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "required": ["size"], "properties": {
                         "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                         "color": {"type": "string", "enum": ["red", "blue"]},
                         "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                         "port": {"x-kubernetes-int-or-string": true},
                         "tags": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                         "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                         "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                         "maybe": {"type": "string", "nullable": true},
                         "nested": {"type": "object", "properties": {"flag": {"type": "boolean", "default": false}}, "default": {}},
                         "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
                     }},
                     "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                 }}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                {"name": "v1beta1", "served": true, "storage": false, "deprecated": true,
                 "deprecationWarning": "use v1",
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1alpha1", "served": false, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]
        }
    })
}

pub(crate) fn schema() -> Value {
    widget_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

pub(crate) fn defaulted_crd() -> Value {
    let mut crd = widget_crd();
    default_crd(&mut crd);
    crd
}
