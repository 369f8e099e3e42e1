//! LimitRanges' defaults (`SetDefaults_LimitRangeItem`).

use serde_json::Value;

use crate::json::at;

/// `SetDefaults_LimitRangeItem`: a Container item's missing defaults come from `max`;
/// its missing default requests from the defaults, then from `min`.
pub(crate) fn default_limit_range(obj: &mut Value) {
    let Some(items) = obj
        .pointer_mut("/spec/limits")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for item in items.iter_mut() {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let read = |item: &Value, f: &str| at(item, &[f]).as_object().cloned().unwrap_or_default();
        let (max, min) = (read(item, "max"), read(item, "min"));
        let mut default = read(item, "default");
        for (k, v) in max {
            default.entry(k).or_insert(v);
        }
        let mut request = read(item, "defaultRequest");
        for (k, v) in default.iter().chain(min.iter()) {
            request.entry(k.clone()).or_insert_with(|| v.clone());
        }
        item["default"] = Value::Object(default);
        item["defaultRequest"] = Value::Object(request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_items_default_from_max_and_min() {
        let mut lr = json!({"spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}},
            {"type": "Pod", "max": {"cpu": "4"}}
        ]}});
        default_limit_range(&mut lr);
        assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "2"}));
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "2", "memory": "1Mi"})
        );
        assert!(lr["spec"]["limits"][1].get("default").is_none());
    }
}
