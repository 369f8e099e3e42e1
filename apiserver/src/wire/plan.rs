//! The one table both wire rules read: for every message of the vendored `.proto` files
//! (and the few Go types upstream writes that have none, [`super::unvendored`]), each JSON
//! property's position in Go's declaration order, how it holds its values, what they
//! are, and whether `omitempty` leaves it out.
//!
//! go-to-protobuf declares a message's fields in its Go struct's order and names them
//! with their JSON names, so the `.proto` files carry the order `encoding/json` writes.
//! The exceptions, and where their facts come from:
//! - `TypeMeta` (`kind`, `apiVersion`) is embedded first in every top-level type and has
//!   no protobuf field: a message declaring neither gets the two at its head;
//! - a field the JSON schema has no property for is a Go struct embedded inline
//!   (`Volume`'s `VolumeSource`, `Probe`'s `ProbeHandler`): its fields take its place;
//! - apiextensions' `JSONSchemaProps` names `$ref`, `$schema` and the
//!   `x-kubernetes-*` properties `ref`, `schema`, `xKubernetes…` in protobuf;
//! - messages with their own JSON form ([`crate::protobuf::wellknown`], apiextensions'
//!   `JSON` and `JSONSchemaPropsOr…`) are not objects of their fields.
//!
//! The table is built once, on first use, from the compiled descriptors: the `.proto`
//! files are the only source, so there is no generated table to keep current.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

use super::unvendored::{self, Target};
use crate::protobuf::descriptors::{self, META_V1};
use crate::protobuf::shape::{self, Shape};
use crate::protobuf::wellknown;

/// Embedded structs nested deeper than this are not followed (upstream nests two).
const MAX_EMBEDDING: usize = 8;

/// `TypeMeta`'s properties, which lead every top-level type.
const TYPE_META: [&str; 2] = ["kind", "apiVersion"];

const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const APIEXTENSIONS_V1: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1";

/// How a field holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// One value.
    Single,
    /// A JSON array.
    List,
    /// A JSON object keyed by strings (Go writes a map's keys sorted).
    Map,
}

/// What a value is, for writing its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// Arbitrary JSON (raw JSON fields, custom resources): keys sorted, as Go writes a
    /// `map[string]interface{}`.
    Sorted,
    /// An object that names its own type by `apiVersion` and `kind` (a
    /// `runtime.RawExtension`, a response body): see [`Table::form_of_object`].
    Embedded,
    /// An object of the message at this index of the table.
    Message(u32),
}

/// What the table says about one JSON property of a message.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// The Go field has `omitempty`: left out when empty.
    pub omit_empty: bool,
    /// A scalar Go holds by value, whose zero is empty.
    pub by_value_scalar: bool,
    /// How the property holds its values.
    pub container: Container,
    /// What each value is.
    pub form: Form,
}

/// One JSON property of a message.
#[derive(Debug, Clone)]
pub(super) struct Field {
    /// Its place in Go's declaration order (embedded structs' fields at the embedding).
    pub position: u32,
    /// Its rules.
    pub rule: Rule,
}

/// The zero value Go writes for a field it always writes.
#[derive(Debug, Clone)]
pub(super) enum Zero {
    /// A scalar's zero (`0`, `false`, `""`).
    Scalar(Value),
    /// A struct's zero: an object with its own always-written fields.
    Object(Form),
}

/// A fixed-seed hasher: the indexes are built once and only read, so the keys clients
/// send cannot degrade them, and a fast hash of short keys matters on the write path.
type FastHash = foldhash::fast::FixedState;

/// The table's entry for one message.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// In Go's order (a field's position is its index), the fields of embedded structs
    /// included.
    fields: Vec<Field>,
    /// Index into `fields` by JSON name.
    by_name: HashMap<Box<str>, u32, FastHash>,
    /// Properties always written, with the zero written when unset.
    pub always: Vec<(Box<str>, Zero)>,
    /// Whether the `omitempty` rules apply: the JSON schema says which fields are
    /// required. Messages without one, and the fallbacks, are only ordered.
    pub normalises: bool,
}

impl Plan {
    /// The property of this JSON name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.by_name.get(name).map(|&i| &self.fields[i as usize])
    }

    fn push(&mut self, name: &str, rule: Rule) {
        let position = self.fields.len() as u32;
        self.by_name.insert(name.into(), position);
        self.fields.push(Field { position, rule });
    }
}

/// Every plan, and how objects find theirs.
#[derive(Debug)]
pub(super) struct Table {
    plans: Vec<Plan>,
    by_message: HashMap<String, u32>,
    /// meta/v1's messages and the unvendored meta types by kind (`Status`, `Table`,
    /// `APIGroupList`): upstream registers them in every built-in group-version.
    meta_kinds: HashMap<String, u32>,
    /// A built-in object whose message is not vendored: `TypeMeta`, `metadata`, `spec`,
    /// `status`, then the rest sorted.
    fallback_object: u32,
    /// A list of such objects.
    fallback_list: u32,
    /// Groups whose objects Go writes from typed structs; any other group's objects are
    /// custom resources, which upstream writes from `map[string]interface{}`.
    builtin_groups: HashSet<String>,
}

/// The table, built on first use.
pub(super) static TABLE: LazyLock<Table> = LazyLock::new(Table::build);

impl Table {
    /// The plan at an index of [`Form::Message`].
    pub fn plan(&self, index: u32) -> &Plan {
        &self.plans[index as usize]
    }

    /// The index of a message's plan by its full name (`k8s.io.api.core.v1.Pod`).
    pub fn index_of(&self, full_name: &str) -> Option<u32> {
        self.by_message.get(full_name).copied()
    }

    /// The plan of a message by its full name.
    pub fn by_message(&self, full_name: &str) -> Option<&Plan> {
        self.index_of(full_name).map(|i| self.plan(i))
    }

    /// The form of an object that names its own type: its kind's message in a built-in
    /// group, the fallback for a built-in kind without a vendored message, [`Form::Sorted`]
    /// for custom resources and for objects naming no kind.
    pub fn form_of_object(&self, obj: &serde_json::Map<String, Value>) -> Form {
        let Some(kind) = obj.get("kind").and_then(Value::as_str) else {
            return Form::Sorted;
        };
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        self.form_of(api_version, kind)
    }

    /// The form of an object of this `apiVersion` and `kind`.
    pub fn form_of(&self, api_version: &str, kind: &str) -> Form {
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        if !self.builtin_groups.contains(group) {
            return Form::Sorted;
        }
        let typed = descriptors::json_message_for(api_version, kind)
            .and_then(|m| self.by_message.get(m.full_name()).copied())
            .or_else(|| self.meta_kinds.get(kind).copied());
        Form::Message(typed.unwrap_or(if kind.ends_with("List") {
            self.fallback_list
        } else {
            self.fallback_object
        }))
    }

    fn build() -> Table {
        let pool = descriptors::pool();
        let messages: Vec<MessageDescriptor> = pool
            .all_messages()
            .filter(|m| !m.is_map_entry() && own_form(m.full_name()).is_none())
            .collect();
        let mut by_message: HashMap<String, u32> = HashMap::new();
        let names = messages
            .iter()
            .map(|m| m.full_name().to_string())
            .chain(unvendored::TYPES.iter().map(|t| t.name.to_string()));
        for (i, name) in names.enumerate() {
            by_message.insert(name, i as u32);
        }
        let mut plans: Vec<Plan> = messages.iter().map(|m| plan_of(m, &by_message)).collect();
        plans.extend(
            unvendored::TYPES
                .iter()
                .map(|t| plan_of_unvendored(t, &by_message)),
        );
        let meta_kinds = by_message
            .iter()
            .filter_map(|(name, &i)| {
                let short = name.strip_prefix(META_V1)?.strip_prefix('.')?;
                Some((short.to_string(), i))
            })
            .collect();
        let message = |name: &str| {
            by_message
                .get(name)
                .map_or(Form::Sorted, |&i| Form::Message(i))
        };
        let fallback_object = plans.len() as u32;
        plans.push(fallback(&[
            (
                "metadata",
                Container::Single,
                message(&format!("{META_V1}.ObjectMeta")),
            ),
            ("spec", Container::Single, Form::Sorted),
            ("status", Container::Single, Form::Sorted),
        ]));
        let fallback_list = plans.len() as u32;
        plans.push(fallback(&[
            (
                "metadata",
                Container::Single,
                message(&format!("{META_V1}.ListMeta")),
            ),
            ("items", Container::List, Form::Message(fallback_object)),
        ]));
        let builtin_groups = crate::kinds::builtin_kinds()
            .into_iter()
            .map(|k| k.group)
            .chain(descriptors::vendored_groups().map(String::from))
            .chain(["meta.k8s.io".to_string()])
            .collect();
        Table {
            plans,
            by_message,
            meta_kinds,
            fallback_object,
            fallback_list,
            builtin_groups,
        }
    }
}

/// What a message with its own JSON form is written as.
#[derive(Debug, Clone, Copy)]
enum OwnForm {
    /// Raw JSON or a scalar.
    Raw,
    /// A `runtime.RawExtension`: an object naming its own type.
    Embedded,
    /// apiextensions' `JSONSchemaPropsOr…`: a `JSONSchemaProps` or something simpler (a
    /// bool, a list of schemas or of strings) in its place.
    SchemaProps,
}

/// The form of a message with its own JSON form; `None` for ordinary messages.
fn own_form(full_name: &str) -> Option<OwnForm> {
    if full_name == RAW_EXTENSION {
        return Some(OwnForm::Embedded);
    }
    if wellknown::has_own_form(full_name) {
        return Some(OwnForm::Raw);
    }
    match full_name.strip_prefix(APIEXTENSIONS_V1)? {
        ".JSON" => Some(OwnForm::Raw),
        ".JSONSchemaPropsOrArray" | ".JSONSchemaPropsOrBool" | ".JSONSchemaPropsOrStringArray" => {
            Some(OwnForm::SchemaProps)
        }
        _ => None,
    }
}

/// The form of a message's values.
fn form_of_message(full_name: &str, index: &HashMap<String, u32>) -> Form {
    let message = |name: &str| index.get(name).map_or(Form::Sorted, |&i| Form::Message(i));
    match own_form(full_name) {
        None => message(full_name),
        Some(OwnForm::Raw) => Form::Sorted,
        Some(OwnForm::Embedded) => Form::Embedded,
        Some(OwnForm::SchemaProps) => message(&format!("{APIEXTENSIONS_V1}.JSONSchemaProps")),
    }
}

fn plan_of(msg: &MessageDescriptor, index: &HashMap<String, u32>) -> Plan {
    let shape = shape::of(msg.full_name());
    let mut plan = Plan {
        normalises: shape.is_some(),
        ..Plan::default()
    };
    if !declares_type_meta(msg, shape) {
        for name in TYPE_META {
            plan.push(name, passthrough(Container::Single, Form::Sorted));
        }
    }
    add_fields(msg, shape, index, &mut plan, 0);
    plan
}

fn declares_type_meta(msg: &MessageDescriptor, shape: Option<&Shape>) -> bool {
    msg.fields()
        .any(|f| json_name(&f, shape).is_some_and(|n| TYPE_META.contains(&n.as_str())))
}

/// A rule that leaves the value as it is.
fn passthrough(container: Container, form: Form) -> Rule {
    Rule {
        omit_empty: false,
        by_value_scalar: false,
        container,
        form,
    }
}

/// The JSON name of a protobuf field: its own name, or the exceptions' names when the
/// schema has those instead (`$ref`, `x-kubernetes-list-type`); `None` when the schema
/// has neither (an embedded struct). Without a schema, the field's own name.
fn json_name(field: &FieldDescriptor, shape: Option<&Shape>) -> Option<String> {
    let name = field.name();
    let Some(shape) = shape else {
        return Some(name.to_string());
    };
    // go-to-protobuf keeps some Go field names (`BoundObjectReference`'s `uID`) where
    // the JSON name is their lower-case form (`uid`).
    let mut candidates = vec![
        name.to_string(),
        format!("${name}"),
        name.to_ascii_lowercase(),
    ];
    if let Some(rest) = name.strip_prefix("xKubernetes") {
        let mut kebab = String::from("x-kubernetes");
        for c in rest.chars() {
            if c.is_ascii_uppercase() {
                kebab.push('-');
            }
            kebab.push(c.to_ascii_lowercase());
        }
        candidates.push(kebab);
    }
    candidates.into_iter().find(|c| shape.has_property(c))
}

/// Adds `msg`'s fields in declaration order; `shape` is the JSON schema of the outermost
/// message, which lists the properties of embedded structs as its own.
fn add_fields(
    msg: &MessageDescriptor,
    shape: Option<&Shape>,
    index: &HashMap<String, u32>,
    plan: &mut Plan,
    depth: usize,
) {
    for field in declared_fields(msg) {
        let container = if field.is_map() {
            Container::Map
        } else if field.is_list() {
            Container::List
        } else {
            Container::Single
        };
        let message = value_message(&field);
        let Some(name) = json_name(&field, shape) else {
            // A struct field with no JSON property of its own is embedded (Go's inline
            // `VolumeSource`, `ProbeHandler`): its fields are this object's.
            if let (Container::Single, Some(inner)) = (container, &message)
                && depth < MAX_EMBEDDING
            {
                add_fields(inner, shape, index, plan, depth + 1);
            }
            continue;
        };
        let form = message
            .as_ref()
            .map_or(Form::Sorted, |m| form_of_message(m.full_name(), index));
        let required = shape.is_some_and(|s| s.is_required(&name));
        let by_value = descriptors::by_value(&field);
        if required && by_value && container == Container::Single {
            let zero = match &message {
                Some(m) if wellknown::has_own_form(m.full_name()) => None,
                Some(_) => Some(Zero::Object(form)),
                None => scalar_zero(&field.kind()).map(Zero::Scalar),
            };
            if let Some(zero) = zero {
                plan.always.push((name.as_str().into(), zero));
            }
        }
        plan.push(
            &name,
            Rule {
                omit_empty: !required,
                by_value_scalar: container == Container::Single && message.is_none() && by_value,
                container,
                form,
            },
        );
    }
}

/// A message's fields in the order the `.proto` file declares them (prost-reflect's
/// `fields()` goes by field number, which differs: `OwnerReference` declares
/// `apiVersion = 5` first, `PodSpec` `initContainers = 20` second).
fn declared_fields(msg: &MessageDescriptor) -> Vec<FieldDescriptor> {
    msg.descriptor_proto()
        .field
        .iter()
        .filter_map(|f| u32::try_from(f.number()).ok())
        .filter_map(|number| msg.get_field(number))
        .collect()
}

/// The message a field's values are: the field's own for a message or a list of them,
/// the value type for a map.
fn value_message(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(m) if field.is_map() => match m.map_entry_value_field().kind() {
            Kind::Message(v) => Some(v),
            _ => None,
        },
        Kind::Message(m) => Some(m),
        _ => None,
    }
}

/// Go's zero of a scalar, as `encoding/json` writes it.
fn scalar_zero(kind: &Kind) -> Option<Value> {
    match kind {
        Kind::Bool => Some(Value::Bool(false)),
        Kind::String | Kind::Bytes => Some(Value::String(String::new())),
        Kind::Message(_) | Kind::Enum(_) => None,
        _ => Some(Value::from(0)),
    }
}

fn plan_of_unvendored(t: &unvendored::GoType, index: &HashMap<String, u32>) -> Plan {
    let mut plan = Plan::default();
    if !t.fields.iter().any(|f| TYPE_META.contains(&f.0)) {
        for name in TYPE_META {
            plan.push(name, passthrough(Container::Single, Form::Sorted));
        }
    }
    for &(name, container, target) in t.fields {
        let form = match target {
            Target::Sorted => Form::Sorted,
            Target::Embedded => Form::Embedded,
            Target::Message(m) => index.get(m).map_or(Form::Sorted, |&i| Form::Message(i)),
        };
        plan.push(name, passthrough(container, form));
    }
    plan
}

fn fallback(fields: &[(&str, Container, Form)]) -> Plan {
    let mut plan = Plan::default();
    for name in TYPE_META {
        plan.push(name, passthrough(Container::Single, Form::Sorted));
    }
    for &(name, container, form) in fields {
        plan.push(name, passthrough(container, form));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON names of a plan in Go's order.
    fn order(plan: &Plan) -> Vec<&str> {
        let mut names: Vec<(&str, u32)> = plan.by_name.iter().map(|(n, &i)| (&**n, i)).collect();
        names.sort_by_key(|(_, i)| *i);
        names.into_iter().map(|(n, _)| n).collect()
    }

    fn message_order(name: &str) -> Vec<&'static str> {
        order(TABLE.by_message(name).unwrap())
    }

    #[test]
    fn order_is_go_declaration_order() {
        assert_eq!(
            message_order("k8s.io.api.core.v1.Pod"),
            ["kind", "apiVersion", "metadata", "spec", "status"]
        );
        // Nested types get `TypeMeta`'s place too (unused: Go declares no such keys).
        let meta = message_order(&format!("{META_V1}.ObjectMeta"));
        assert_eq!(
            &meta[..5],
            ["kind", "apiVersion", "name", "generateName", "namespace"]
        );
        assert_eq!(meta.last(), Some(&"managedFields"));
        assert_eq!(
            message_order("k8s.io.api.core.v1.PodList"),
            ["kind", "apiVersion", "metadata", "items"]
        );
        // Declared fields that are themselves `kind`/`apiVersion` keep their place.
        assert_eq!(
            &message_order(&format!("{META_V1}.OwnerReference"))[..3],
            ["apiVersion", "kind", "name"]
        );
        // Declaration order, not field numbers.
        assert_eq!(
            &message_order("k8s.io.api.core.v1.PodSpec")[2..7],
            [
                "volumes",
                "initContainers",
                "containers",
                "ephemeralContainers",
                "restartPolicy"
            ]
        );
        // Embedded structs' fields where the struct is embedded.
        let volume = message_order("k8s.io.api.core.v1.Volume");
        assert_eq!(&volume[..4], ["kind", "apiVersion", "name", "hostPath"]);
        let probe = message_order("k8s.io.api.core.v1.Probe");
        assert_eq!(
            &probe[2..8],
            [
                "exec",
                "httpGet",
                "tcpSocket",
                "grpc",
                "initialDelaySeconds",
                "timeoutSeconds"
            ]
        );
    }

    #[test]
    fn json_schema_props_use_their_json_names() {
        let props = message_order(&format!("{APIEXTENSIONS_V1}.JSONSchemaProps"));
        assert_eq!(&props[2..5], ["id", "$schema", "$ref"]);
        assert_eq!(
            &props[props.len() - 7..],
            [
                "x-kubernetes-preserve-unknown-fields",
                "x-kubernetes-embedded-resource",
                "x-kubernetes-int-or-string",
                "x-kubernetes-list-map-keys",
                "x-kubernetes-list-type",
                "x-kubernetes-map-type",
                "x-kubernetes-validations"
            ]
        );
    }

    #[test]
    fn objects_find_their_plans() {
        let table = &*TABLE;
        let plan_of = |av: &str, k: &str| match table.form_of(av, k) {
            Form::Message(i) => Some(order(table.plan(i))),
            _ => None,
        };
        assert_eq!(plan_of("example.com/v1", "Widget"), None);
        let status = plan_of("v1", "Status").unwrap();
        assert_eq!(&status[..4], ["kind", "apiVersion", "metadata", "status"]);
        assert_eq!(status.last(), Some(&"code"));
        assert_eq!(
            plan_of("meta.k8s.io/v1", "Table").unwrap(),
            [
                "kind",
                "apiVersion",
                "metadata",
                "columnDefinitions",
                "rows"
            ]
        );
        assert_eq!(
            plan_of("apiextensions.k8s.io/v1", "CustomResourceDefinition").unwrap(),
            ["kind", "apiVersion", "metadata", "spec", "status"]
        );
        // A built-in kind whose message is not vendored (kube-aggregator's APIService).
        let mut table_with_aggregator = Table::build();
        table_with_aggregator
            .builtin_groups
            .insert("apiregistration.k8s.io".into());
        let fallback = |k: &str| match table_with_aggregator.form_of("apiregistration.k8s.io/v1", k)
        {
            Form::Message(i) => order(table_with_aggregator.plan(i)),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fallback("APIService"),
            ["kind", "apiVersion", "metadata", "spec", "status"]
        );
        assert_eq!(
            fallback("APIServiceList"),
            ["kind", "apiVersion", "metadata", "items"]
        );
    }

    /// Every field of every vendored message the server writes lands on a JSON
    /// property of its schema (under the exceptions' names) or is an embedded struct,
    /// so the order covers every key Go writes.
    #[test]
    fn every_vendored_field_has_a_json_name() {
        let mut problems = Vec::new();
        let mut checked = 0;
        for msg in descriptors::pool().all_messages() {
            let Some(shape) = shape::of(msg.full_name()) else {
                continue;
            };
            if own_form(msg.full_name()).is_some() {
                continue;
            }
            checked += 1;
            for field in msg.fields() {
                let embedded =
                    matches!(field.kind(), Kind::Message(_)) && !field.is_list() && !field.is_map();
                if json_name(&field, Some(shape)).is_none() && !embedded {
                    problems.push(field.full_name().to_string());
                }
            }
        }
        assert!(checked > 250, "only {checked} messages have schemas");
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
