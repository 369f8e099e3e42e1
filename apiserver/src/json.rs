//! Reading and writing fields of JSON objects by path (`&["spec", "replicas"]`), the way
//! defaulting, validation, tables and the write path look into objects they hold as
//! `serde_json::Value`: a missing field or one of another JSON type reads as `null`, `""`,
//! `0` or an empty list, so callers state what they want rather than how to get there.

use serde_json::{Value, json};

/// The value at `path` in `v`; `null` when a step is missing.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(x) => cur = x,
            None => return &Value::Null,
        }
    }
    cur
}

/// The string at `path`; `""` when missing or not a string.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

/// The integer at `path`; `0` when missing or not an integer.
pub fn int_at(v: &Value, path: &[&str]) -> i64 {
    at(v, path).as_i64().unwrap_or(0)
}

/// The items of the array at `path`; empty when missing or not an array.
pub fn array_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).as_array().map(|a| a.as_slice()).unwrap_or(&[])
}

/// The strings in the array at `path` (other items skipped).
pub fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    array_at(v, path)
        .iter()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// Whether `path` is missing or `null`.
pub fn is_unset(v: &Value, path: &[&str]) -> bool {
    at(v, path).is_null()
}

/// The value at `path`, mutably; `None` when a step is missing.
pub fn get_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get_mut(*p)?;
    }
    Some(cur)
}

/// The items of the array at `path`, mutably (none when missing).
pub fn array_mut<'a>(v: &'a mut Value, path: &[&str]) -> impl Iterator<Item = &'a mut Value> {
    get_mut(v, path)
        .and_then(|v| v.as_array_mut())
        .into_iter()
        .flatten()
}

/// Sets `path` to `value` when it is missing or `null`, creating intermediate objects
/// (and replacing `null` ones); a step through a non-object leaves `v` as it is.
pub fn set_default(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        let entry = map.entry(p.to_string()).or_insert_with(|| json!({}));
        if entry.is_null() {
            *entry = json!({});
        }
        cur = entry;
    }
    if let Some(map) = cur.as_object_mut() {
        let entry = map.entry(last.to_string()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = value;
        }
    }
}

/// Sets `path` to `value`, creating intermediate objects and replacing any step that is
/// not an object.
pub fn set_at(v: &mut Value, path: &[&str], value: Value) {
    let mut cur = v;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            obj.insert((*seg).to_string(), value);
            return;
        }
        cur = obj.entry((*seg).to_string()).or_insert_with(|| json!({}));
    }
}

/// The steps of a simple JSONPath (`.spec.replicas` → `["spec", "replicas"]`), as CRDs
/// name their scale and selectable fields.
pub fn json_path_steps(path: &str) -> Vec<&str> {
    path.trim_start_matches('.').split('.').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_default_to_empty_values() {
        let v = json!({"spec": {"replicas": 3, "name": "x", "ports": [1, "a", 2], "n": null}});
        assert_eq!(int_at(&v, &["spec", "replicas"]), 3);
        assert_eq!(str_at(&v, &["spec", "name"]), "x");
        assert_eq!(str_at(&v, &["spec", "replicas"]), "");
        assert_eq!(array_at(&v, &["spec", "ports"]).len(), 3);
        assert!(array_at(&v, &["spec", "missing", "deeper"]).is_empty());
        assert_eq!(strings_at(&v, &["spec", "ports"]), ["a"]);
        assert!(is_unset(&v, &["spec", "n"]));
        assert!(is_unset(&v, &["status"]));
        assert!(!is_unset(&v, &["spec"]));
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let mut v = json!({"spec": {"replicas": 3, "strategy": null}});
        set_default(&mut v, &["spec", "replicas"], json!(1));
        set_default(
            &mut v,
            &["spec", "strategy", "type"],
            json!("RollingUpdate"),
        );
        set_default(&mut v, &["spec", "replicas", "deeper"], json!(1));
        assert_eq!(
            v,
            json!({"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate"}}})
        );
        let mut list = json!({"a": [1, 2]});
        for x in array_mut(&mut list, &["a"]) {
            *x = json!(0);
        }
        assert_eq!(list, json!({"a": [0, 0]}));
        assert_eq!(array_mut(&mut list, &["missing"]).count(), 0);
    }

    #[test]
    fn set_at_creates_and_replaces() {
        let mut v = json!({"spec": 5});
        set_at(&mut v, &["spec", "replicas"], json!(2));
        set_at(&mut v, &["status", "replicas"], json!(1));
        assert_eq!(
            v,
            json!({"spec": {"replicas": 2}, "status": {"replicas": 1}})
        );
        assert_eq!(json_path_steps(".spec.replicas"), ["spec", "replicas"]);
    }
}
