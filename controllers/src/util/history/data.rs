//! What a DaemonSet's or StatefulSet's `ControllerRevision` stores, and the bytes
//! upstream compares and hashes.
//!
//! `data` is a strategic merge patch that restores the owner's pod template
//! (upstream's `getPatch` in `pkg/controller/daemon/update.go` and
//! `pkg/controller/statefulset/stateful_set_utils.go`):
//!
//! ```json
//! {"spec":{"template":{"$patch":"replace","metadata":{...},"spec":{...}}}}
//! ```
//!
//! `kubectl rollout history --revision=N` prints the template it restores and
//! `kubectl rollout undo` sends it as a patch, so its shape is fixed. Upstream builds
//! it by round-tripping the owner through `map[string]interface{}`, so the bytes are
//! Go's `encoding/json` output with every object's keys sorted; [`go_json`] writes
//! exactly that, and [`template_patch`] adds what Go's structs always emit and
//! k8s-openapi omits when empty: the template's `metadata.creationTimestamp: null`
//! (as Kubernetes 1.33, the version capstan reports) and each container's
//! `resources: {}`. For a template as the API server returns it the bytes are then
//! kube-controller-manager's (see the tests).
//!
//! k8s-openapi holds `data` as a parsed JSON value, not upstream's raw bytes, so
//! [`revision_bytes`] re-encodes it with [`go_json`]: for data written by a Go
//! controller that gives back the bytes it wrote; data written with other key orders
//! or whitespace compares equal to its canonical form.

use capstan_patch::builtin_meta::builtin_patch_meta;
use capstan_patch::schema::NoMeta;
use capstan_patch::strategic;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::HistoryError;

/// The strategic-merge directive that makes the stored template replace the
/// owner's instead of merging into it.
pub const PATCH_DIRECTIVE: &str = "$patch";

/// Encodes `value` as Go's `json.Marshal` encodes a `map[string]interface{}`:
/// compact, object keys sorted bytewise, `<`, `>`, `&`, U+2028 and U+2029 escaped
/// as `\u003c`…, other control characters as `\n`, `\r`, `\t`, `\b`, `\f` or
/// `\u00XX`, and integral numbers without a fraction.
pub fn go_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => write_joined(out, b'[', b']', items.iter(), write_value),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            write_joined(out, b'{', b'}', keys.into_iter(), |key, out| {
                write_string(key, out);
                out.push(b':');
                write_value(&map[key.as_str()], out);
            });
        }
    }
}

/// Writes `open`, the items separated by commas, then `close`.
fn write_joined<T>(
    out: &mut Vec<u8>,
    open: u8,
    close: u8,
    items: impl Iterator<Item = T>,
    mut write: impl FnMut(T, &mut Vec<u8>),
) {
    out.push(open);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(close);
}

/// Upstream decodes numbers with apimachinery's `json.Unmarshal`, which turns
/// integral values into `int64`, so they are written back without a fraction.
fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if n.is_i64() || n.is_u64() {
        out.extend_from_slice(n.to_string().as_bytes());
        return;
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            out.extend_from_slice((f as i64).to_string().as_bytes());
        }
        _ => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Upstream `getPatch`: the revision data that restores `template`, as a value.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut t {
        go_struct_fields(map);
        map.insert(PATCH_DIRECTIVE.into(), Value::String("replace".into()));
    }
    json!({"spec": {"template": t}})
}

/// Adds the fields Go's structs emit even when empty and k8s-openapi omits.
fn go_struct_fields(template: &mut Map<String, Value>) {
    let metadata = template
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = metadata {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    let Some(Value::Object(spec)) = template.get_mut("spec") else {
        return;
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                c.entry("resources")
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        }
    }
}

/// The bytes upstream compares and hashes for `revision`: its data in Go's
/// encoding, empty when it has none.
pub fn revision_bytes(revision: &ControllerRevision) -> Vec<u8> {
    revision
        .data
        .as_ref()
        .map(|raw| go_json(&raw.0))
        .unwrap_or_default()
}

/// Upstream's DaemonSet `Match`: whether `revision` stores exactly `template`.
pub fn matches_template(template: &PodTemplateSpec, revision: &ControllerRevision) -> bool {
    go_json(&template_patch(template)) == revision_bytes(revision)
}

/// Upstream `ApplyRevision`: `owner` with the revision's data applied as a strategic
/// merge patch, i.e. with the stored pod template in place of its own.
pub fn apply_revision<K>(owner: &K, revision: &ControllerRevision) -> Result<K, HistoryError>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
{
    let current = serde_json::to_value(owner).map_err(HistoryError::Decode)?;
    let patch = revision
        .data
        .as_ref()
        .map(|raw| raw.0.clone())
        .unwrap_or_else(|| json!({}));
    let patched = match builtin_patch_meta(&K::group(&()), &K::kind(&())) {
        Some(meta) => strategic::apply(&current, &patch, meta),
        None => strategic::apply(&current, &patch, &NoMeta),
    }
    .map_err(HistoryError::Patch)?;
    serde_json::from_value(patched).map_err(HistoryError::Decode)
}

/// The pod template a revision stores (what `kubectl rollout history --revision`
/// shows), without the `$patch` directive.
pub fn stored_template(revision: &ControllerRevision) -> Result<PodTemplateSpec, HistoryError> {
    let mut template = revision
        .data
        .as_ref()
        .and_then(|raw| raw.0.pointer("/spec/template"))
        .cloned()
        .ok_or(HistoryError::NoTemplate)?;
    if let Value::Object(map) = &mut template {
        map.remove(PATCH_DIRECTIVE);
    }
    serde_json::from_value(template).map_err(HistoryError::Decode)
}

#[cfg(test)]
mod tests {
    use super::super::hash::tests::UPSTREAM_1_33_DATA;
    use super::*;
    use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
    use k8s_openapi::api::core::v1::{Container, PodSecurityContext, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

    use crate::util::testing::{labels, template};

    /// The template of upstream's StatefulSet compatibility test, defaulted as the
    /// API server returns it.
    fn upstream_template() -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                annotations: Some(labels(&[("test", "value")])),
                labels: Some(labels(&[("app", "foo")])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    image: Some("test".into()),
                    image_pull_policy: Some("Always".into()),
                    name: "test".into(),
                    termination_message_path: Some("/dev/termination-log".into()),
                    termination_message_policy: Some("File".into()),
                    ..Default::default()
                }],
                dns_policy: Some("ClusterFirst".into()),
                restart_policy: Some("Always".into()),
                scheduler_name: Some("default-scheduler".into()),
                security_context: Some(PodSecurityContext::default()),
                termination_grace_period_seconds: Some(30),
                ..Default::default()
            }),
        }
    }

    fn revision_with(data: Value) -> ControllerRevision {
        ControllerRevision {
            data: Some(RawExtension(data)),
            revision: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_patch_is_byte_for_byte_kube_controller_managers() {
        let bytes = go_json(&template_patch(&upstream_template()));
        assert_eq!(String::from_utf8(bytes).unwrap(), UPSTREAM_1_33_DATA);
    }

    #[test]
    fn stored_upstream_data_reencodes_to_its_original_bytes() {
        let parsed: Value = serde_json::from_str(UPSTREAM_1_33_DATA).unwrap();
        let rev = revision_with(parsed);
        assert_eq!(revision_bytes(&rev), UPSTREAM_1_33_DATA.as_bytes());
        assert!(matches_template(&upstream_template(), &rev));
        assert!(!matches_template(&template("nginx:1"), &rev));
        assert!(revision_bytes(&ControllerRevision::default()).is_empty());
    }

    #[test]
    fn go_encoding_table() {
        let cases = [
            (
                json!({"b": 1, "a": {"d": [], "c": null}}),
                r#"{"a":{"c":null,"d":[]},"b":1}"#,
            ),
            (
                json!("<a href=\"x\">&</a>"),
                r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#,
            ),
            (
                json!("tab\there\nnl\r\u{1}\u{8}\u{c}\\"),
                r#""tab\there\nnl\r\u0001\b\f\\""#,
            ),
            (json!("\u{2028}\u{2029}é"), "\"\\u2028\\u2029é\""),
            (json!([1.0, 2.5, -3, true]), "[1,2.5,-3,true]"),
        ];
        for (value, want) in cases {
            assert_eq!(String::from_utf8(go_json(&value)).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn applying_a_revision_replaces_the_whole_template() {
        let mut old = template("nginx:1");
        old.spec.as_mut().unwrap().node_selector = Some(labels(&[("disk", "ssd")]));
        let rev = revision_with(template_patch(&old));
        let set = StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(3),
                template: template("nginx:2"),
                ..Default::default()
            }),
            ..Default::default()
        };
        let restored = apply_revision(&set, &rev).unwrap();
        let spec = restored.spec.unwrap();
        assert_eq!(spec.replicas, Some(3), "only the template changes");
        let t = spec.template.spec.unwrap();
        assert_eq!(t.containers[0].image.as_deref(), Some("nginx:1"));
        assert_eq!(t.node_selector, Some(labels(&[("disk", "ssd")])));
        assert_eq!(restored.metadata.name.as_deref(), Some("web"));

        // A template without a node selector replaces one that has it, where a
        // merge would have kept it.
        let back = apply_revision(
            &StatefulSet {
                spec: Some(StatefulSetSpec {
                    template: old,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &revision_with(template_patch(&template("nginx:3"))),
        )
        .unwrap();
        assert_eq!(
            back.spec.unwrap().template.spec.unwrap().node_selector,
            None
        );
    }

    #[test]
    fn the_stored_template_is_the_patch_without_its_directive() {
        let t = template("nginx:1");
        let got = stored_template(&revision_with(template_patch(&t))).unwrap();
        // Equal but for the empty `resources: {}` Go's structs add.
        assert!(crate::util::semantic::equal(&got, &t));
        assert_eq!(got.metadata.unwrap().labels, t.metadata.unwrap().labels);
        assert!(matches!(
            stored_template(&revision_with(json!({"spec": {}}))),
            Err(HistoryError::NoTemplate)
        ));
    }
}
