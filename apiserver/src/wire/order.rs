//! The key rule: a `serde_json::Value` written with each object's keys in the order
//! upstream's Go types declare them. [`Ordered`] walks the value with the table of
//! [`super::plan`] while serialising, so nothing is rebuilt: each object's present keys
//! are looked up (a binary search by name), sorted by position (a handful of entries on
//! the stack) and written.
//!
//! - An object of a built-in kind (by its `apiVersion` and `kind`) is written in its Go
//!   struct's order, nested types in theirs; a key its type does not declare comes after
//!   the declared ones, sorted.
//! - A custom resource is written with its keys sorted at every level: upstream holds it
//!   as `map[string]interface{}` (`unstructured.Unstructured`), which `encoding/json`
//!   writes sorted, whatever order the client sent. Its lists too (`apiVersion`, `items`,
//!   `kind`, `metadata`); the envelopes around it (`Status`, `Table`, watch events,
//!   `PartialObjectMetadata`) are typed and in Go's order.
//! - Map values (`labels`, `data`) are sorted, as Go writes maps.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use smallvec::SmallVec;

use super::plan::{Container, Form, Plan, TABLE};

/// Keys a type does not declare come after every declared one (positions are far below).
const UNDECLARED: u32 = 1 << 20;

/// A JSON value that serialises with Go's key order.
#[derive(Debug, Clone, Copy)]
pub struct Ordered<'a> {
    value: &'a Value,
    container: Container,
    form: Form,
}

impl<'a> Ordered<'a> {
    /// A value that names its own type (an object, a list, a `Status`, a discovery
    /// document): ordered by its `apiVersion` and `kind`; keys sorted when it names no
    /// kind or a custom resource's.
    pub fn new(value: &'a Value) -> Self {
        Ordered {
            value,
            container: Container::Single,
            form: Form::Embedded,
        }
    }

    /// A value of the Go type of this full name (a message of the vendored `.proto`
    /// files, or [`super::unvendored`]'s, such as [`super::VERSION_INFO`]), for documents
    /// that name no kind; unknown names order as [`Ordered::new`] does.
    pub fn of_type(value: &'a Value, full_name: &str) -> Self {
        let form = TABLE
            .index_of(full_name)
            .map_or(Form::Embedded, Form::Message);
        Ordered {
            value,
            container: Container::Single,
            form,
        }
    }

    fn single(value: &'a Value, form: Form) -> Self {
        Ordered {
            value,
            container: Container::Single,
            form,
        }
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.value, self.form) {
            (_, Form::Sorted) => self.value.serialize(s),
            (Value::Array(items), form) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ordered::single(item, form))?;
                }
                seq.end()
            }
            (Value::Object(map), form) if self.container == Container::Map => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Ordered::single(v, form))?;
                }
                out.end()
            }
            (Value::Object(map), Form::Message(i)) => write_object(map, Some(TABLE.plan(i)), s),
            (Value::Object(map), Form::Embedded) => match TABLE.form_of_object(map) {
                Form::Message(i) => write_object(map, Some(TABLE.plan(i)), s),
                _ => self.value.serialize(s),
            },
            _ => self.value.serialize(s),
        }
    }
}

/// An object's entries in Go's order: position, key, value as it is written.
type Entries<'a> = SmallVec<[(u32, &'a String, Ordered<'a>); 16]>;

/// The entries of `map` in the order `plan` gives them (sorted without a plan).
fn entries<'a>(map: &'a Map<String, Value>, plan: Option<&Plan>) -> Entries<'a> {
    let mut out = Entries::new();
    let mut undeclared = UNDECLARED;
    for (key, value) in map {
        // `map` iterates in key order, so undeclared keys stay sorted among themselves.
        let declared = plan.and_then(|p| p.field(key));
        let (position, ordered) = match declared {
            Some(f) => (
                f.position,
                Ordered {
                    value,
                    container: f.rule.container,
                    form: f.rule.form,
                },
            ),
            None => {
                undeclared += 1;
                (undeclared, Ordered::single(value, Form::Sorted))
            }
        };
        out.push((position, key, ordered));
    }
    out.sort_unstable_by_key(|e| e.0);
    out
}

fn write_object<S: Serializer>(
    map: &Map<String, Value>,
    plan: Option<&Plan>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let entries = entries(map, plan);
    let mut out = s.serialize_map(Some(entries.len()))?;
    for (_, key, value) in &entries {
        out.serialize_entry(key, value)?;
    }
    out.end()
}

/// A value's JSON with Go's key order.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Ordered::new(value))
}

/// A list's JSON around its items, for streaming them between: `head` ends with
/// `"items":[`, `tail` starts with `]`, and `head`, the items joined by `,`, then `tail`
/// are the list with Go's key order (`envelope` is the list without its items).
pub fn list_envelope(envelope: &Value) -> Result<(Vec<u8>, Vec<u8>), serde_json::Error> {
    let mut map = envelope.as_object().cloned().unwrap_or_default();
    map.insert("items".into(), Value::Array(Vec::new()));
    let plan = match TABLE.form_of_object(&map) {
        Form::Message(i) => Some(TABLE.plan(i)),
        _ => None,
    };
    let (mut head, mut tail) = (b"{".to_vec(), Vec::new());
    let mut before_items = true;
    for (i, (_, key, value)) in entries(&map, plan).iter().enumerate() {
        let is_items = key.as_str() == "items";
        let out = if before_items { &mut head } else { &mut tail };
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        if is_items {
            out.push(b'[');
        } else {
            serde_json::to_writer(&mut *out, value)?;
        }
        if is_items {
            tail.push(b']');
            before_items = false;
        }
    }
    tail.push(b'}');
    Ok((head, tail))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(v: &Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn built_in_objects_follow_their_go_types() {
        let pod = json!({
            "status": {"phase": "Pending"},
            "spec": {"containers": [{
                "resources": {}, "ports": [{"protocol": "TCP", "containerPort": 80}],
                "imagePullPolicy": "Always", "image": "nginx", "name": "c"}],
                "volumes": [{"name": "v", "configMap": {"name": "cm"}}],
                "restartPolicy": "Always"},
            "metadata": {"uid": "u", "namespace": "ns", "name": "p", "labels": {"b": "2", "a": "1"},
                         "creationTimestamp": "2024-05-01T10:00:00Z", "resourceVersion": "7"},
            "kind": "Pod", "apiVersion": "v1",
        });
        assert_eq!(
            text(&pod),
            concat!(
                r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns","uid":"u","#,
                r#""resourceVersion":"7","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"a":"1","b":"2"}},"#,
                r#""spec":{"volumes":[{"name":"v","configMap":{"name":"cm"}}],"containers":[{"name":"c","#,
                r#""image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},"#,
                r#""imagePullPolicy":"Always"}],"restartPolicy":"Always"},"status":{"phase":"Pending"}}"#
            )
        );
        // Nothing but the order changes.
        assert_eq!(serde_json::from_str::<Value>(&text(&pod)).unwrap(), pod);
    }

    #[test]
    fn undeclared_keys_follow_declared_ones_sorted() {
        let cm = json!({"zeta": 1, "data": {"k": "v"}, "alpha": {"b": 1, "a": 2},
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(
            text(&cm),
            r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"},"data":{"k":"v"},"alpha":{"a":2,"b":1},"zeta":1}"#
        );
    }

    #[test]
    fn custom_resources_are_sorted_as_unstructured_objects_are() {
        let cr = json!({"kind": "Widget", "apiVersion": "example.com/v1",
                        "metadata": {"uid": "u", "name": "w"}, "spec": {"z": 1, "a": 2}});
        assert_eq!(
            text(&cr),
            r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","uid":"u"},"spec":{"a":2,"z":1}}"#
        );
        let (head, tail) = list_envelope(&json!({"kind": "WidgetList",
            "apiVersion": "example.com/v1", "metadata": {"resourceVersion": "3", "continue": ""}}))
        .unwrap();
        assert_eq!(
            String::from_utf8(head).unwrap(),
            r#"{"apiVersion":"example.com/v1","items":["#
        );
        assert_eq!(
            String::from_utf8(tail).unwrap(),
            r#"],"kind":"WidgetList","metadata":{"continue":"","resourceVersion":"3"}}"#
        );
    }

    #[test]
    fn lists_envelopes_and_errors_follow_their_go_types() {
        let (head, tail) = list_envelope(&json!({"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "3", "continue": "x", "remainingItemCount": 2}}))
        .unwrap();
        assert_eq!(
            String::from_utf8(head).unwrap(),
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"3","continue":"x","remainingItemCount":2},"items":["#
        );
        assert_eq!(String::from_utf8(tail).unwrap(), "]}");
        let status = json!({"code": 422, "details": {"causes": [{"field": "spec.containers",
            "message": "spec.containers: Required value", "reason": "FieldValueRequired"}],
            "kind": "Pod", "name": "p"}, "reason": "Invalid", "message": "m", "status": "Failure",
            "metadata": {}, "apiVersion": "v1", "kind": "Status"});
        let t = text(&status);
        assert!(
            t.starts_with(
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","#
            ),
            "{t}"
        );
        assert!(
            t.contains(r#""details":{"name":"p","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"spec.containers: Required value","field":"spec.containers"}]},"code":422}"#),
            "{t}"
        );
    }

    #[test]
    fn envelopes_order_the_objects_they_embed() {
        let table = json!({"rows": [
            {"object": {"metadata": {"uid": "u", "name": "p"}, "kind": "Pod", "apiVersion": "v1"}, "cells": ["p"]},
            {"object": {"spec": {}, "kind": "Widget", "apiVersion": "example.com/v1"}, "cells": ["w"]}],
            "columnDefinitions": [{"type": "string", "priority": 0, "name": "Name", "format": "name", "description": "d"}],
            "metadata": {"resourceVersion": "1"}, "apiVersion": "meta.k8s.io/v1", "kind": "Table"});
        assert_eq!(
            text(&table),
            concat!(
                r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1"},"#,
                r#""columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"d","priority":0}],"#,
                r#""rows":[{"cells":["p"],"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u"}}},"#,
                r#"{"cells":["w"],"object":{"apiVersion":"example.com/v1","kind":"Widget","spec":{}}}]}"#
            )
        );
        let version = json!({"platform": "linux/amd64", "major": "1", "minor": "33", "gitVersion": "v1.33.0"});
        assert_eq!(
            serde_json::to_string(&Ordered::of_type(&version, super::super::VERSION_INFO)).unwrap(),
            r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","platform":"linux/amd64"}"#
        );
        // Values naming no kind, and unknown type names, keep sorted keys.
        let doc = json!({"paths": {"b": 1, "a": 2}});
        assert_eq!(text(&doc), r#"{"paths":{"a":2,"b":1}}"#);
        assert_eq!(
            serde_json::to_string(&Ordered::of_type(&doc, "no.such.Type")).unwrap(),
            text(&doc)
        );
    }

    #[test]
    fn schemas_inside_crds_follow_json_schema_props() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"versions": [{"served": true, "name": "v1", "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer", "default": {"b": 1, "a": 0}}}}},
                    "description": "d"}}}],
                "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"}, "group": "example.com"}});
        assert_eq!(
            text(&crd),
            concat!(
                r#"{"kind":"CustomResourceDefinition","apiVersion":"apiextensions.k8s.io/v1","metadata":{"name":"widgets.example.com"},"#,
                r#""spec":{"group":"example.com","names":{"plural":"widgets","kind":"Widget"},"scope":"Namespaced","#,
                r#""versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"description":"d","type":"object","#,
                r#""properties":{"spec":{"type":"object","properties":{"n":{"type":"integer","default":{"a":0,"b":1}}}}},"#,
                r#""x-kubernetes-preserve-unknown-fields":true}}}]}}"#
            )
        );
    }
}
