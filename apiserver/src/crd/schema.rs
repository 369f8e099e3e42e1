//! Custom resources against their version's structural schema: validation with
//! kube-openapi's wording, and pruning of the fields the schema does not declare.

use serde_json::{Value, json};

use crate::field_error::FieldError;

/// Validates a custom resource against its version's structural `schema` and prunes
/// fields the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`),
/// including null values of non-nullable fields. `apiVersion`, `kind` and `metadata` at
/// the root are never pruned. Returns the problems found, with upstream's wording.
pub fn validate_and_prune(schema: &Value, obj: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    prune(schema, obj, true);
    validate_node(schema, obj, "", &mut errs);
    errs
}

/// Removes unknown fields from `obj` per `schema`; returns nothing, edits in place.
pub fn prune(schema: &Value, obj: &mut Value, root: bool) {
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(|b| b.as_bool())
        == Some(true);
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(|b| b.as_bool())
        == Some(true);
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let keep_meta = (root || embedded)
                    && (key == "apiVersion" || key == "kind" || key == "metadata");
                let child_schema = props.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(cs) => {
                        let nullable = cs.get("nullable").and_then(|n| n.as_bool()) == Some(true);
                        if map.get(&key).is_some_and(|v| v.is_null()) && !nullable && !keep_meta {
                            map.remove(&key);
                            continue;
                        }
                        if let Some(child) = map.get_mut(&key) {
                            prune(cs, child, false);
                        }
                    }
                    None if keep_meta || preserve => {}
                    None => {
                        map.remove(&key);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

pub(super) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn child_path(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

pub(super) fn validate_node(schema: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    let flag = |k: &str| schema.get(k).and_then(|b| b.as_bool()) == Some(true);
    if v.is_null() {
        if !flag("nullable") && schema.get("type").is_some() {
            errs.push(FieldError::type_invalid(
                shown,
                json!("null"),
                &format!(
                    "{shown} in body must be of type {}: \"null\"",
                    schema.get("type").and_then(|t| t.as_str()).unwrap_or("")
                ),
            ));
        }
        return;
    }
    let declared = schema.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let type_ok = if flag("x-kubernetes-int-or-string") {
        v.is_string() || v.as_i64().is_some() || v.as_u64().is_some()
    } else {
        match declared {
            "" => true,
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => {
                v.as_i64().is_some()
                    || v.as_u64().is_some()
                    || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => true,
        }
    };
    if !type_ok {
        let expected = if flag("x-kubernetes-int-or-string") {
            "integer,string".to_string()
        } else {
            declared.to_string()
        };
        errs.push(FieldError::type_invalid(
            shown,
            json!(json_type_name(v)),
            &format!(
                "{shown} in body must be of type {expected}: \"{}\"",
                json_type_name(v)
            ),
        ));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(|e| e.as_array())
        && !values.contains(v)
    {
        let supported: Vec<String> = values
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        let refs: Vec<&str> = supported.iter().map(|s| s.as_str()).collect();
        errs.push(FieldError::not_supported(shown, v.clone(), &refs));
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let excl_min = schema.get("exclusiveMinimum").and_then(|b| b.as_bool()) == Some(true);
            let excl_max = schema.get("exclusiveMaximum").and_then(|b| b.as_bool()) == Some(true);
            if let Some(min) = schema.get("minimum").and_then(|m| m.as_f64()) {
                let bad = if excl_min { x <= min } else { x < min };
                if bad {
                    let rel = if excl_min {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should be {rel} {}", schema["minimum"]),
                    ));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(|m| m.as_f64()) {
                let bad = if excl_max { x >= max } else { x > max };
                if bad {
                    let rel = if excl_max {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should be {rel} {}", schema["maximum"]),
                    ));
                }
            }
            if let Some(m) = schema.get("multipleOf").and_then(|m| m.as_f64())
                && m > 0.0
                && (x / m).fract() != 0.0
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    &format!(
                        "{shown} in body should be a multiple of {}",
                        schema["multipleOf"]
                    ),
                ));
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(|m| m.as_u64())
                && len < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    &format!("{shown} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = schema.get("maxLength").and_then(|m| m.as_u64())
                && len > max
            {
                errs.push(FieldError::too_long_chars(shown, max));
            }
            if let Some(p) = schema.get("pattern").and_then(|p| p.as_str()) {
                match cached_regex(p) {
                    Some(re) if !re.is_match(s) => errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should match '{p}'"),
                    )),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(|m| m.as_u64())
                && n < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    json!(n),
                    &format!("{shown} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(|m| m.as_u64())
                && n > max
            {
                errs.push(FieldError::too_many(shown, n as usize, max as usize));
            }
            let list_type = schema
                .get("x-kubernetes-list-type")
                .and_then(|t| t.as_str());
            if list_type == Some("set") {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        errs.push(FieldError::duplicate(
                            &format!("{shown}[{i}]"),
                            item.clone(),
                        ));
                    }
                }
            }
            if list_type == Some("map") {
                let keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(|k| k.as_array())
                    .cloned()
                    .unwrap_or_default();
                let key_of = |item: &Value| -> Vec<Value> {
                    keys.iter()
                        .map(|k| {
                            k.as_str()
                                .and_then(|k| item.get(k))
                                .cloned()
                                .unwrap_or(Value::Null)
                        })
                        .collect()
                };
                for (i, item) in items.iter().enumerate() {
                    let k = key_of(item);
                    if items[..i].iter().any(|o| key_of(o) == k) {
                        let shown_key = if k.len() == 1 {
                            k[0].clone()
                        } else {
                            Value::Array(k)
                        };
                        errs.push(FieldError::duplicate(&format!("{shown}[{i}]"), shown_key));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            for r in schema
                .get("required")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
            {
                if !map.contains_key(r) {
                    errs.push(FieldError::required(&child_path(path, r), ""));
                }
            }
            if let Some(min) = schema.get("minProperties").and_then(|m| m.as_u64())
                && (map.len() as u64) < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    json!(map.len()),
                    &format!("{shown} in body should have at least {min} properties"),
                ));
            }
            if let Some(max) = schema.get("maxProperties").and_then(|m| m.as_u64())
                && (map.len() as u64) > max
            {
                errs.push(FieldError::too_many(shown, map.len(), max as usize));
            }
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(|b| b.as_bool())
                == Some(true);
            if embedded {
                for f in ["apiVersion", "kind"] {
                    if map
                        .get(f)
                        .and_then(|x| x.as_str())
                        .is_none_or(|x| x.is_empty())
                    {
                        errs.push(FieldError::required(
                            &child_path(path, f),
                            "must not be empty",
                        ));
                    }
                }
            }
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                if path.is_empty() && (key == "metadata" || key == "apiVersion" || key == "kind") {
                    continue;
                }
                if let Some(cs) = props.and_then(|p| p.get(key)) {
                    validate_node(cs, child, &child_path(path, key), errs);
                } else if let Some(ap) = additional {
                    validate_node(ap, child, &format!("{shown}[{key}]"), errs);
                }
            }
        }
        _ => {}
    }
}

/// Compiled schema `pattern`s, kept so each is compiled once (bounded; cleared when full).
pub(super) static PATTERNS: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>,
> = std::sync::LazyLock::new(Default::default);

pub(super) fn cached_regex(pattern: &str) -> Option<regex::Regex> {
    let mut cache = PATTERNS.lock();
    if let Some(re) = cache.get(pattern) {
        return re.clone();
    }
    if cache.len() >= 1024 {
        cache.clear();
    }
    let re = regex::Regex::new(pattern).ok();
    cache.insert(pattern.to_string(), re.clone());
    re
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::testing::schema;

    fn errors(obj: &mut Value) -> Vec<String> {
        validate_and_prune(&schema(), obj)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_resource_is_pruned_of_unknown_fields() {
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "d", "labels": {"a": "b"}},
            "spec": {"size": 2, "unknown": 1, "port": "http", "labels": {"x": "y"},
                     "free": {"anything": {"goes": [1]}}, "maybe": null,
                     "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 1}},
            "status": {"replicas": 1, "extra": true},
            "topLevelJunk": "x"
        });
        assert_eq!(errors(&mut obj), Vec::<String>::new());
        assert!(obj["spec"].get("unknown").is_none());
        assert!(obj.get("topLevelJunk").is_none());
        assert!(obj["status"].get("extra").is_none());
        assert_eq!(obj["spec"]["free"], json!({"anything": {"goes": [1]}}));
        assert_eq!(obj["spec"]["maybe"], Value::Null);
        assert_eq!(obj["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(obj["spec"]["template"]["metadata"], json!({"name": "p"}));
        assert!(obj["spec"]["template"].get("junk").is_none());
    }

    #[test]
    fn schema_violations_use_upstream_wording() {
        let mut obj = json!({"spec": {"size": "big"}});
        assert_eq!(
            errors(&mut obj),
            [
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
            ]
        );
        let mut obj = json!({"spec": {"size": 11, "color": "pink", "name": "ABCDEFG", "tags": ["a", "a", "b"], "port": 1.5}});
        let errs = errors(&mut obj);
        for expected in [
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
            "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\"",
            "spec.name: Too long: may not be more than 5 bytes",
            "spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
            "spec.tags: Too many: 3: must have at most 2 items",
            "spec.tags[1]: Duplicate value: \"a\"",
            "spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\"",
        ] {
            assert!(
                errs.iter().any(|e| e == expected),
                "missing {expected}\n{errs:#?}"
            );
        }
        let mut obj = json!({"spec": {"size": 0, "name": "a"}});
        let errs = errors(&mut obj);
        assert!(errs.contains(&"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1".to_string()));
        assert!(errs.contains(&"spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long".to_string()));
        let mut obj = json!({"spec": {"color": "red"}});
        assert_eq!(errors(&mut obj), ["spec.size: Required value"]);
        // A null for a non-nullable field is pruned, then required applies.
        let mut obj = json!({"spec": {"size": null}});
        assert_eq!(errors(&mut obj), ["spec.size: Required value"]);
        let mut obj = json!({"spec": {"size": 1, "template": {"spec": {}}}});
        let errs = errors(&mut obj);
        assert!(
            errs.contains(
                &"spec.template.apiVersion: Required value: must not be empty".to_string()
            ),
            "{errs:?}"
        );
        let mut obj = json!({"spec": {"size": 1, "labels": {"k": 5}}});
        assert_eq!(
            errors(&mut obj),
            [
                "spec.labels[k]: Invalid value: \"integer\": spec.labels[k] in body must be of type string: \"integer\""
            ]
        );
    }
}
