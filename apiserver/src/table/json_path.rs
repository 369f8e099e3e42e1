//! The JSONPath subset CRD printer columns use.

use serde_json::Value;

/// Evaluates the JSONPath subset CRD printer columns use — `.a.b`, `.a[0].b`,
/// `.a[*].b`, `.a['b.c']`, escaped dots `.a.b\.c` and an optional `{…}` wrapper — and
/// returns every value found.
pub(super) fn eval_json_path<'a>(path: &str, root: &'a Value) -> Vec<&'a Value> {
    let Some(segments) = parse_json_path(path) else {
        return Vec::new();
    };
    let mut current = vec![root];
    for seg in segments {
        let mut next = Vec::new();
        for v in current {
            match &seg {
                PathSegment::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x);
                    }
                }
                PathSegment::Index(i) => {
                    if let Some(arr) = v.as_array() {
                        let idx = if *i < 0 { arr.len() as i64 + i } else { *i };
                        if idx >= 0
                            && let Some(x) = arr.get(idx as usize)
                        {
                            next.push(x);
                        }
                    }
                }
                PathSegment::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
            }
        }
        current = next;
    }
    current
}

#[derive(Debug, PartialEq)]
pub(super) enum PathSegment {
    Field(String),
    Index(i64),
    Wildcard,
}

pub(super) fn parse_json_path(path: &str) -> Option<Vec<PathSegment>> {
    let mut p = path.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        p = inner.trim();
    }
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        name.push(chars[i + 1]);
                        i += 2;
                    } else {
                        name.push(chars[i]);
                        i += 1;
                    }
                }
                if name == "*" {
                    out.push(PathSegment::Wildcard);
                } else if !name.is_empty() {
                    out.push(PathSegment::Field(name));
                }
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    out.push(PathSegment::Wildcard);
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
                {
                    out.push(PathSegment::Field(q.to_string()));
                } else {
                    out.push(PathSegment::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_path_subset() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}], "d.e": "x"}});
        assert_eq!(eval_json_path(".a.b[1].c", &v), vec![&json!(2)]);
        assert_eq!(
            eval_json_path("{.a.b[*].c}", &v),
            vec![&json!(1), &json!(2)]
        );
        assert_eq!(eval_json_path(".a['d.e']", &v), vec![&json!("x")]);
        assert_eq!(eval_json_path(".a.d\\.e", &v), vec![&json!("x")]);
        assert_eq!(eval_json_path(".a.b[-1].c", &v), vec![&json!(2)]);
        assert!(eval_json_path(".a.b[9].c", &v).is_empty());
        assert!(eval_json_path("a.b", &v).is_empty());
    }
}
