//! JSON patch (RFC 6902), the `application/json-patch+json` content type, with the
//! semantics of `evanphx/json-patch` as the Kubernetes API server configures it:
//! negative array indices count from the end, and a `test` of a missing member
//! against `null` succeeds (kube-runtime's finalizer helper relies on this).

use serde_json::Value;

/// Why a JSON patch could not be applied. The server answers `422` with this text
/// (or `400` for [`JsonPatchError::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPatchError {
    /// The patch document is not a list of operations.
    #[error("the patch is not a JSON patch: {0}")]
    Malformed(String),
    /// Operation `index` (zero-based) failed.
    #[error("json patch {op} operation {index} on path {path:?} failed: {reason}")]
    Op {
        /// Position of the failing operation in the patch.
        index: usize,
        /// The operation's `op` member.
        op: String,
        /// The operation's `path` member.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Applies the operations of `patch` (a JSON array) to a copy of `doc`, all or nothing.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, JsonPatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| JsonPatchError::Malformed("expected a JSON array of operations".into()))?;
    let mut out = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        let obj = op.as_object().ok_or_else(|| {
            JsonPatchError::Malformed(format!("operation {index} is not an object"))
        })?;
        let name = obj
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let path = obj.get("path").and_then(Value::as_str).map(str::to_owned);
        let fail = |reason: String| JsonPatchError::Op {
            index,
            op: name.clone(),
            path: path.clone().unwrap_or_default(),
            reason,
        };
        let path = path.clone().ok_or_else(|| fail("missing path".into()))?;
        let value = || {
            obj.get("value")
                .cloned()
                .ok_or_else(|| fail("missing value".into()))
        };
        let from = || {
            obj.get("from")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| fail("missing from".into()))
        };
        let result = match name.as_str() {
            "add" => add(&mut out, &path, value()?),
            "remove" => remove(&mut out, &path).map(drop),
            "replace" => replace(&mut out, &path, value()?),
            "move" => {
                let from = from()?;
                if path.starts_with(&format!("{from}/")) {
                    Err("cannot move a value into one of its children".to_owned())
                } else {
                    remove(&mut out, &from).and_then(|v| add(&mut out, &path, v))
                }
            }
            "copy" => {
                let from = from()?;
                get(&out, &from)
                    .cloned()
                    .ok_or_else(|| format!("from path {from:?} does not exist"))
                    .and_then(|v| add(&mut out, &path, v))
            }
            "test" => test(&out, &path, &value()?),
            other => Err(format!("unexpected operation {other:?}")),
        };
        result.map_err(fail)?;
    }
    Ok(out)
}

/// Splits a JSON pointer into unescaped tokens (`~1` → `/`, `~0` → `~`).
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path {path:?} does not start with a slash"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Resolves an array index token for reading or replacing (`0..len`, or negative
/// from the end).
fn index_of(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let i: i64 = token
        .parse()
        .map_err(|_| format!("invalid array index {token:?}"))?;
    let limit = if allow_end {
        len as i64
    } else {
        len as i64 - 1
    };
    let idx = if i < 0 { len as i64 + i } else { i };
    if idx < 0 || idx > limit || (token.starts_with('0') && token.len() > 1) {
        return Err(format!("array index {token} out of bounds (length {len})"));
    }
    Ok(idx as usize)
}

fn get<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = doc;
    for t in tokens(path).ok()? {
        cur = match cur {
            Value::Object(m) => m.get(&t)?,
            Value::Array(a) => a.get(index_of(&t, a.len(), false).ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The parent container of `path` and the last token.
fn parent<'v>(doc: &'v mut Value, path: &str) -> Result<(&'v mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| "path is the document root".to_owned())?;
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(&t)
                .ok_or_else(|| format!("missing member {t:?}"))?,
            Value::Array(a) => {
                let i = index_of(&t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok((cur, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, key) = parent(doc, path)?;
    match container {
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index_of(&key, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent is not a container".into()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (container, key) = parent(doc, path)?;
    match container {
        Value::Object(m) => m
            .remove(&key)
            .ok_or_else(|| format!("unable to remove nonexistent key {key:?}")),
        Value::Array(a) => {
            let i = index_of(&key, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("the parent is not a container".into()),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, key) = parent(doc, path)?;
    match container {
        Value::Object(m) => match m.get_mut(&key) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("doc is missing key {key:?}")),
        },
        Value::Array(a) => {
            let i = index_of(&key, a.len(), false)?;
            a[i] = value;
            Ok(())
        }
        _ => Err("the parent is not a container".into()),
    }
}

fn test(doc: &Value, path: &str, want: &Value) -> Result<(), String> {
    let mut toks = tokens(path)?;
    let Some(last) = toks.pop() else {
        return if doc == want {
            Ok(())
        } else {
            Err("testing value failed".into())
        };
    };
    let mut container = doc;
    for t in &toks {
        container = match container {
            Value::Object(m) => m.get(t).ok_or_else(|| format!("missing member {t:?}"))?,
            Value::Array(a) => &a[index_of(t, a.len(), false)?],
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    let found = match container {
        Value::Object(m) => m.get(&last),
        Value::Array(a) => Some(&a[index_of(&last, a.len(), false)?]),
        _ => return Err("the parent is not a container".into()),
    };
    match found {
        // evanphx/json-patch: a missing member tests equal to null.
        None if want.is_null() => Ok(()),
        Some(v) if v == want => Ok(()),
        _ => Err(format!("testing value {path} failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 6902 appendix A examples (A.1–A.16), plus upstream's extensions.
    #[test]
    fn rfc6902_examples() {
        let ok = [
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"baz":"qux","foo":"bar"}),
            ),
            (
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            (
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            (
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            (
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            (
                json!({"baz":"qux","foo":["a",2,"c"]}),
                json!([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]),
                json!({"baz":"qux","foo":["a",2,"c"]}),
            ),
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            (
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
            (
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            (
                json!({"a":1}),
                json!([{"op":"copy","from":"/a","path":"/b"}]),
                json!({"a":1,"b":1}),
            ),
            // Upstream: negative indices count from the end.
            (
                json!({"l":[1,2,3]}),
                json!([{"op":"remove","path":"/l/-1"}]),
                json!({"l":[1,2]}),
            ),
            // Upstream: testing a missing member against null succeeds (finalizer helper).
            (
                json!({"metadata":{"name":"x"}}),
                json!([{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["f"]}]),
                json!({"metadata":{"name":"x","finalizers":["f"]}}),
            ),
            (
                json!({"a":1}),
                json!([{"op":"replace","path":"","value":[1]}]),
                json!([1]),
            ),
        ];
        for (i, (doc, patch, want)) in ok.into_iter().enumerate() {
            assert_eq!(
                apply(&doc, &patch).unwrap_or_else(|e| panic!("case {i}: {e}")),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn failures_name_the_operation_and_leave_nothing_applied() {
        let cases = [
            (
                json!({"baz":"qux"}),
                json!([{"op":"test","path":"/baz","value":"bar"}]),
                0,
                "test",
            ),
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
                0,
                "add",
            ),
            (
                json!({"a":1}),
                json!([{"op":"add","path":"/b","value":2},{"op":"remove","path":"/missing"}]),
                1,
                "remove",
            ),
            (
                json!({"a":1}),
                json!([{"op":"replace","path":"/missing","value":2}]),
                0,
                "replace",
            ),
            (
                json!({"l":[1]}),
                json!([{"op":"add","path":"/l/5","value":2}]),
                0,
                "add",
            ),
            (
                json!({"l":[1]}),
                json!([{"op":"add","path":"/l/01","value":2}]),
                0,
                "add",
            ),
            (
                json!({"a":{"b":1}}),
                json!([{"op":"move","from":"/a","path":"/a/c"}]),
                0,
                "move",
            ),
            (
                json!({"a":1}),
                json!([{"op":"copy","from":"/x","path":"/b"}]),
                0,
                "copy",
            ),
            (
                json!({"a":1}),
                json!([{"op":"frobnicate","path":"/a"}]),
                0,
                "frobnicate",
            ),
            (json!({"a":1}), json!([{"op":"add","path":"/b"}]), 0, "add"),
            (
                json!({"a":1}),
                json!([{"op":"test","path":"/a/b/c","value":null}]),
                0,
                "test",
            ),
            (
                json!({"a":1}),
                json!([{"op":"test","path":"/a","value":null}]),
                0,
                "test",
            ),
            (
                json!({"a":1}),
                json!([{"op":"add","path":"a","value":1}]),
                0,
                "add",
            ),
        ];
        for (doc, patch, want_index, want_op) in cases {
            match apply(&doc, &patch) {
                Err(JsonPatchError::Op { index, op, .. }) => {
                    assert_eq!((index, op.as_str()), (want_index, want_op), "{patch}");
                }
                other => panic!("{patch}: expected an op error, got {other:?}"),
            }
        }
        assert!(matches!(
            apply(&json!({}), &json!({"op":"add"})),
            Err(JsonPatchError::Malformed(_))
        ));
        let e = apply(&json!({"a":1}), &json!([{"op":"remove","path":"/b"}])).unwrap_err();
        assert!(e.to_string().contains("remove operation 0"), "{e}");
    }

    #[test]
    fn rollout_undo_replaces_template_and_annotations() {
        let d = json!({"metadata":{"annotations":{"deployment.kubernetes.io/revision":"2"}},
            "spec":{"template":{"spec":{"containers":[{"name":"c","image":"v2"}]}}}});
        let p = json!([
            {"op":"replace","path":"/spec/template","value":{"spec":{"containers":[{"name":"c","image":"v1"}]}}},
            {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"1"}}
        ]);
        let out = apply(&d, &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "v1"
        );
        assert_eq!(
            out["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "1"
        );
    }
}
