//! How kubectl prints values in cells: ages (`HumanDuration`), label maps, label
//! selectors, `<none>` for empty values.

use capstan_labels::Selector;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::selector::label_selector_of;

/// kubectl's `HumanDuration` (`k8s.io/apimachinery/pkg/util/duration`): `5s`, `3m2s`,
/// `10m`, `5h3m`, `2d5h`, `70d`, `3y50d`; `<invalid>` for more than a second in the future.
pub(super) fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp as kubectl prints it; `<unknown>` when missing or
/// unparseable (as upstream prints a zero time).
pub(super) fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.to_string()
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
pub(super) fn format_labels(map: &Value) -> String {
    let Some(m) = map.as_object() else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `metav1.FormatLabelSelector`: a label selector's canonical string form
/// (`app=x,tier in (a,b),!gone`, requirements sorted by key); `<none>` when empty or
/// missing, `<error>` when it does not convert.
pub(super) fn format_label_selector(selector: &Value) -> String {
    match Selector::from_label_selector(label_selector_of(selector).as_ref()) {
        Err(_) => "<error>".into(),
        Ok(s) if s.is_empty() || s.is_nothing() => "<none>".into(),
        Ok(s) => s.to_string(),
    }
}

pub(super) fn int_or_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

pub(super) fn list_with_more(list: Vec<String>, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        format!("{ret} + {} more...", count - max)
    } else if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_duration_matches_kubectl() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(-5)), "<invalid>");
        assert_eq!(human_duration(d(-1)), "0s");
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(182)), "3m2s");
        assert_eq!(human_duration(d(300)), "5m");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(179 * 60)), "179m");
        assert_eq!(human_duration(d(5 * 3600 + 3 * 60)), "5h3m");
        assert_eq!(human_duration(d(5 * 3600)), "5h");
        assert_eq!(human_duration(d(30 * 3600)), "30h");
        assert_eq!(human_duration(d(53 * 3600)), "2d5h");
        assert_eq!(human_duration(d(72 * 3600)), "3d");
        assert_eq!(human_duration(d(70 * 86400)), "70d");
        assert_eq!(human_duration(d((3 * 365 + 50) * 86400)), "3y50d");
        assert_eq!(human_duration(d(3 * 365 * 86400)), "3y");
        assert_eq!(human_duration(d(10 * 365 * 86400)), "10y");
    }

    #[test]
    fn label_selector_formatting() {
        assert_eq!(format_label_selector(&Value::Null), "<none>");
        assert_eq!(format_label_selector(&json!({})), "<none>");
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["y", "x"]},
                                 {"key": "d", "operator": "Exists"}, {"key": "e", "operator": "DoesNotExist"}]});
        assert_eq!(format_label_selector(&sel), "a=1,b=2,c notin (x,y),d,!e");
        assert_eq!(format_labels(&json!({"z": "1", "a": "2"})), "a=2,z=1");
        assert_eq!(format_labels(&json!({})), "<none>");
    }
}
