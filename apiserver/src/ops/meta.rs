//! Object-metadata helpers shared by the write paths: uids, timestamps, generated
//! names, generation rules, managed-fields records.

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::kinds::KindInfo;
use crate::kinds::descriptor::Generation;

/// A random RFC 4122 version-4 UID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Now as an RFC 3339 timestamp with second precision (`2024-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// A time as upstream serialises `metav1.Time`.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `generateName` plus five characters from upstream's alphabet (no vowels).
pub fn generated_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let prefix = if prefix.len() > 58 {
        &prefix[..58]
    } else {
        prefix
    };
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Whether upstream maintains `metadata.generation` for this kind.
pub fn tracks_generation(kind: &KindInfo) -> bool {
    match kind.descriptor {
        Some(d) => d.generation != Generation::Untracked,
        None => kind.is_custom(),
    }
}

/// Whether `new` differs from `old` in what bumps the generation: the spec (every
/// top-level field but `metadata`, `status`, `apiVersion`, `kind`) for built-ins, any
/// non-metadata field for custom resources (status too without a status subresource), and annotations too for Deployments.
pub fn generation_changed(kind: &KindInfo, old: &Value, new: &Value) -> bool {
    // Custom resources without a status subresource treat status as any other field.
    let skip_status = !kind.is_custom() || kind.has_subresource(crate::kinds::Subresource::Status);
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        let system = matches!(k.as_str(), "metadata" | "apiVersion" | "kind");
                        let status = skip_status && k.as_str() == "status";
                        !system && !status
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if strip(old) != strip(new) {
        return true;
    }
    let watched = match kind.descriptor.map(|d| d.generation) {
        Some(Generation::SpecAndAnnotations) => "/metadata/annotations",
        Some(Generation::SpecAndLabels) => "/metadata/labels",
        _ => return false,
    };
    old.pointer(watched) != new.pointer(watched)
}

/// The fields an endpoint of `kind` resets and managed fields do not track: `status`
/// on the main resource of kinds with a `status` subresource, `spec` on `status` and
/// `approval`.
pub fn reset_fields(kind: &KindInfo, subresource: Option<&str>) -> &'static [&'static str] {
    match subresource {
        Some("status" | "approval") => &["spec"],
        Some(_) => &[],
        None if kind.has_subresource(crate::kinds::Subresource::Status) => &["status"],
        None => &[],
    }
}

/// Records the `Update` entry of a non-apply write (create, update, patch) of `new`
/// over `old` (`Value::Null` for a create) by `manager` in `new`'s `managedFields`,
/// with `capstan_patch::apply::update`: the writer owns what it added or changed. When
/// the bookkeeping fails the write still succeeds, without managed fields, as upstream.
pub fn track_update(
    kind: &KindInfo,
    old: &Value,
    new: Value,
    manager: &str,
    subresource: Option<&str>,
) -> Value {
    let schema = super::kind_schema::KindSchema::of(kind);
    let now = now_rfc3339();
    let m = capstan_patch::apply::Manager {
        name: manager,
        subresource,
        now: &now,
        ignored: reset_fields(kind, subresource),
    };
    match capstan_patch::apply::update(old, &new, schema.meta(), &m) {
        Ok(v) => v,
        Err(e) => {
            // As upstream's `UpdateNoErrors`: the write goes through, its managed
            // fields are dropped and the failure is logged.
            tracing::warn!(
                kind = %kind.kind,
                name = meta_str(&new, "name").unwrap_or(""),
                error = %e,
                "failed to update managedFields; resetting them"
            );
            let mut out = new;
            if let Some(m) = meta_mut(&mut out) {
                m.remove("managedFields");
            }
            out
        }
    }
}

/// The field manager upstream derives from a User-Agent (`kubectl/v1.33 (linux…)` →
/// `kubectl`), used when the request names none.
pub fn manager_from_user_agent(ua: &str) -> String {
    let first = ua.split('/').next().unwrap_or("").trim();
    if first.is_empty() {
        "unknown".to_string()
    } else {
        first.chars().take(128).collect()
    }
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.finalizers` (removing the field when empty).
pub fn set_finalizers(obj: &mut Value, list: &[String]) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(list));
        }
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The mutable `metadata` map, created when missing.
pub fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let o = obj.as_object_mut()?;
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;

    #[test]
    fn uids_are_v4() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uid());
    }

    #[test]
    fn generation_rules_per_kind() {
        let r = Registry::with_builtins();
        let deploy = r.lookup("apps", "v1", "deployments").unwrap();
        let a = json!({"metadata": {"annotations": {"x": "1"}}, "spec": {"replicas": 1}, "status": {"replicas": 0}});
        let mut b = a.clone();
        b["status"]["replicas"] = json!(3);
        assert!(!generation_changed(&deploy, &a, &b));
        b["metadata"]["annotations"]["x"] = json!("2");
        assert!(generation_changed(&deploy, &a, &b));
        let rs = r.lookup("apps", "v1", "replicasets").unwrap();
        assert!(!generation_changed(&rs, &a, &b));
        let mut c = a.clone();
        c["spec"]["replicas"] = json!(2);
        assert!(generation_changed(&rs, &a, &c));
        // EndpointSlices: anything but metadata, and labels.
        let slices = r
            .lookup("discovery.k8s.io", "v1", "endpointslices")
            .unwrap();
        let s =
            json!({"metadata": {"labels": {"a": "1"}, "annotations": {"x": "1"}}, "endpoints": []});
        let mut t = s.clone();
        t["metadata"]["annotations"]["x"] = json!("2");
        assert!(!generation_changed(&slices, &s, &t));
        t["metadata"]["labels"]["a"] = json!("2");
        assert!(generation_changed(&slices, &s, &t));
        let mut u = s.clone();
        u["endpoints"] = json!([{"addresses": ["10.0.0.1"]}]);
        assert!(generation_changed(&slices, &s, &u));
    }

    #[test]
    fn update_records_the_writer() {
        let r = crate::kinds::builtin_kinds();
        let deploy = r.iter().find(|k| k.kind == "Deployment").unwrap();
        let old = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x"}, "spec": {"replicas": 1}});
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        new["metadata"]["labels"] = json!({"a": "b"});
        let obj = track_update(deploy, &old, new, "kubectl-edit", None);
        let mf = obj["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "kubectl-edit");
        assert_eq!(mf[0]["operation"], "Update");
        assert_eq!(mf[0]["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
        assert_eq!(
            mf[0]["fieldsV1"]["f:metadata"]["f:labels"]["f:a"],
            json!({})
        );
        // Bookkeeping that cannot run (a list-map item without its key) drops the
        // managed fields instead of failing the write.
        let mut bad = old.clone();
        bad["spec"]["template"] =
            json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "p"}]}]}});
        let obj = track_update(deploy, &old, bad, "x", None);
        assert!(obj["metadata"].get("managedFields").is_none());
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"],
            "p"
        );
        assert_eq!(
            manager_from_user_agent("kubectl/v1.33.0 (linux/amd64)"),
            "kubectl"
        );
    }
}
