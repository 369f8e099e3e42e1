//! Creating strategic merge patches the way kubectl does: the two-way diff
//! (`CreateTwoWayMergePatch`, used by `kubectl edit`) and the three-way patch of
//! client-side `kubectl apply` (`CreateThreeWayMergePatch`) from
//! *original* (the `last-applied-configuration`), *modified* (the new manifest) and
//! *current* (the live object). The patch changes what the manifest changed, deletes
//! what the manifest stopped declaring, and leaves fields set by others alone — so an
//! unchanged re-apply yields an empty patch, and removing a field from the manifest
//! removes it from the object.

use serde_json::{Map, Value};

use crate::schema::{PatchMeta, lookup};
use crate::strategic::{
    DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, ElemKind, MergeOptions, PatchError, RETAIN_KEYS,
    SET_ELEMENT_ORDER, merge_map, normalize_slice_order, scalar_string, slice_element_kind,
};

/// Upstream `DiffOptions`.
#[derive(Debug, Clone, Copy, Default)]
struct DiffOptions {
    set_element_order: bool,
    ignore_changes_and_additions: bool,
    ignore_deletions: bool,
    build_retain_keys: bool,
}

/// The strategic merge patch that turns `original` into `modified`
/// (upstream `CreateTwoWayMergePatch`, with `$setElementOrder` lists).
pub fn two_way(
    original: &Value,
    modified: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let (Value::Object(o), Value::Object(m)) = (original, modified) else {
        return Err(PatchError::BadJsonDoc);
    };
    let opts = DiffOptions {
        set_element_order: true,
        ..DiffOptions::default()
    };
    diff_maps(o, m, Some(meta), opts).map(Value::Object)
}

/// kubectl's client-side apply patch (upstream `CreateThreeWayMergePatch` with
/// `overwrite = true`, kubectl's default): the changes from `current` to `modified`
/// without deletions, plus the deletions from `original` to `modified`.
/// `original` may be `null` (no last-applied configuration yet).
pub fn three_way(
    original: &Value,
    modified: &Value,
    current: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let empty = Map::new();
    let as_map = |v: &'_ Value| -> Result<Map<String, Value>, PatchError> {
        match v {
            Value::Null => Ok(empty.clone()),
            Value::Object(m) => Ok(m.clone()),
            _ => Err(PatchError::BadJsonDoc),
        }
    };
    let (original, modified, current) = (as_map(original)?, as_map(modified)?, as_map(current)?);
    let delta_opts = DiffOptions {
        ignore_deletions: true,
        set_element_order: true,
        ..DiffOptions::default()
    };
    let delta = diff_maps(&current, &modified, Some(meta), delta_opts)?;
    let deletion_opts = DiffOptions {
        set_element_order: true,
        ignore_changes_and_additions: true,
        ..DiffOptions::default()
    };
    let deletions = diff_maps(&original, &modified, Some(meta), deletion_opts)?;
    let opts = MergeOptions {
        merge_parallel_list: false,
        ignore_unmatched_nulls: false,
    };
    merge_map(deletions, delta, Some(meta), opts).map(Value::Object)
}

fn diff_maps(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    meta: Option<&dyn PatchMeta>,
    opts: DiffOptions,
) -> Result<Map<String, Value>, PatchError> {
    let mut patch = Map::new();
    let mut retain: Vec<Value> = Vec::new();
    for (key, mv) in modified {
        if opts.build_retain_keys && !mv.is_null() {
            retain.push(Value::String(key.clone()));
        }
        let Some(ov) = original.get(key) else {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        };
        if key == DIRECTIVE {
            let (Some(o), Some(m)) = (ov.as_str(), mv.as_str()) else {
                return Err(PatchError::BadPatchType {
                    directive: mv.to_string(),
                    map: String::new(),
                });
            };
            if o != m {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        }
        if std::mem::discriminant(ov) != std::mem::discriminant(mv) {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        }
        match (ov, mv) {
            (Value::Object(o), Value::Object(m)) => {
                let fm = lookup(meta, key);
                let sub = DiffOptions {
                    build_retain_keys: fm.strategy.retain_keys,
                    ..opts
                };
                if fm.strategy.replace {
                    if !opts.ignore_changes_and_additions && o != m {
                        patch.insert(key.clone(), mv.clone());
                    }
                } else {
                    let p = diff_maps(o, m, fm.schema, sub)?;
                    if !p.is_empty() {
                        patch.insert(key.clone(), Value::Object(p));
                    }
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                let fm = lookup(meta, key);
                if fm.strategy.merge {
                    let sub = DiffOptions {
                        build_retain_keys: fm.strategy.retain_keys,
                        ..opts
                    };
                    let (add, del, order) = diff_lists(o, m, fm.schema, fm.merge_key, sub)?;
                    if !add.is_empty() {
                        patch.insert(key.clone(), Value::Array(add));
                    }
                    if !del.is_empty() {
                        patch.insert(
                            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
                            Value::Array(del),
                        );
                    }
                    if !order.is_empty() {
                        patch.insert(format!("{SET_ELEMENT_ORDER}/{key}"), Value::Array(order));
                    }
                } else if !opts.ignore_changes_and_additions && ov != mv {
                    patch.insert(key.clone(), mv.clone());
                }
            }
            _ => {
                if !opts.ignore_changes_and_additions && ov != mv {
                    patch.insert(key.clone(), mv.clone());
                }
            }
        }
    }
    if !opts.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    let has_additional = original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
    if !retain.is_empty() && (!patch.is_empty() || has_additional) {
        sort_scalars(&mut retain);
        patch.insert(RETAIN_KEYS.to_owned(), Value::Array(retain));
    }
    Ok(patch)
}

fn sort_scalars(v: &mut [Value]) {
    v.sort_by_key(scalar_string);
}

type ListDiff = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Upstream `diffLists`: (patch list, primitive deletion list, `$setElementOrder` list).
fn diff_lists(
    original: &[Value],
    modified: &[Value],
    elem: Option<&dyn PatchMeta>,
    mk: Option<&str>,
    opts: DiffOptions,
) -> Result<ListDiff, PatchError> {
    if original.is_empty() {
        if modified.is_empty() || opts.ignore_changes_and_additions {
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        return Ok((modified.to_vec(), Vec::new(), Vec::new()));
    }
    let kind = slice_element_kind(&[original, modified])?;
    match kind {
        ElemKind::Map => {
            let mk = mk.unwrap_or("");
            let (patch_list, deletions) = diff_lists_of_maps(original, modified, elem, mk, opts)?;
            let mut patch_list = normalize_slice_order(patch_list, modified, Some(mk), kind)?;
            let order_same = original.len() == modified.len()
                && original
                    .iter()
                    .zip(modified)
                    .all(|(o, m)| o.get(mk) == m.get(mk));
            patch_list.extend(deletions);
            let mut order = Vec::new();
            if opts.set_element_order
                && ((!opts.ignore_changes_and_additions && (!patch_list.is_empty() || !order_same))
                    || (!opts.ignore_deletions && !patch_list.is_empty()))
            {
                order = modified
                    .iter()
                    .map(|v| {
                        let mut m = Map::new();
                        m.insert(mk.to_owned(), v.get(mk).cloned().unwrap_or(Value::Null));
                        Value::Object(m)
                    })
                    .collect();
            }
            Ok((patch_list, Vec::new(), order))
        }
        ElemKind::Scalar => {
            let mut sorted_original = original.to_vec();
            sort_scalars(&mut sorted_original);
            let (add, del) = diff_lists_of_scalars(&sorted_original, modified, opts);
            let add = normalize_slice_order(add, modified, None, kind)?;
            let mut order = Vec::new();
            // Upstream compares the (in-place sorted) original with modified.
            if opts.set_element_order
                && ((!opts.ignore_deletions && !del.is_empty())
                    || (!opts.ignore_changes_and_additions
                        && sorted_original.as_slice() != modified))
            {
                order = modified.to_vec();
            }
            Ok((add, del, order))
        }
    }
}

fn diff_lists_of_scalars(
    sorted_original: &[Value],
    modified: &[Value],
    opts: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let mut m = modified.to_vec();
    sort_scalars(&mut m);
    let (mut oi, mut mi) = (0, 0);
    let (mut add, mut del) = (Vec::new(), Vec::<Value>::new());
    loop {
        let (o, n) = (sorted_original.get(oi), m.get(mi));
        match (o, n) {
            (None, None) => break,
            (Some(o), Some(n)) if scalar_string(o) == scalar_string(n) => {
                oi += 1;
                mi += 1;
            }
            (Some(o), Some(n)) if scalar_string(o) < scalar_string(n) => {
                if !opts.ignore_deletions {
                    del.push(o.clone());
                }
                oi += 1;
            }
            (Some(o), None) => {
                if !opts.ignore_deletions {
                    del.push(o.clone());
                }
                oi += 1;
            }
            (_, Some(n)) => {
                if !opts.ignore_changes_and_additions {
                    add.push(n.clone());
                }
                mi += 1;
            }
        }
    }
    let mut dedup: Vec<Value> = Vec::with_capacity(del.len());
    for d in del {
        if !dedup.contains(&d) {
            dedup.push(d);
        }
    }
    (add, dedup)
}

fn key_string(v: &Value, mk: &str) -> Result<String, PatchError> {
    let m = v.as_object().ok_or(PatchError::BadArgType {
        expected: "map",
        got: "non-map".into(),
    })?;
    m.get(mk)
        .map(scalar_string)
        .ok_or_else(|| PatchError::NoMergeKey {
            map: Value::Object(m.clone()).to_string(),
            key: mk.to_owned(),
        })
}

fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    elem: Option<&dyn PatchMeta>,
    mk: &str,
    opts: DiffOptions,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let sorted = |l: &[Value]| -> Result<Vec<(String, Value)>, PatchError> {
        let mut v = l
            .iter()
            .map(|x| Ok((key_string(x, mk)?, x.clone())))
            .collect::<Result<Vec<_>, PatchError>>()?;
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    };
    let (o, m) = (sorted(original)?, sorted(modified)?);
    let (mut oi, mut mi) = (0, 0);
    let (mut patch, mut deletions) = (Vec::new(), Vec::new());
    loop {
        match (o.get(oi), m.get(mi)) {
            (None, None) => break,
            (Some((ok, ov)), Some((mkey, mv))) if ok == mkey => {
                let (Value::Object(om), Value::Object(mm)) = (ov, mv) else {
                    return Err(not_a_map());
                };
                let mut p = diff_maps(om, mm, elem, opts)?;
                if !p.is_empty() {
                    p.insert(mk.to_owned(), mm.get(mk).cloned().unwrap_or(Value::Null));
                    patch.push(Value::Object(p));
                }
                oi += 1;
                mi += 1;
            }
            (Some((ok, ov)), Some((mkey, _))) if ok < mkey => {
                push_delete(&mut deletions, ov, mk, opts);
                oi += 1;
            }
            (Some((_, ov)), None) => {
                push_delete(&mut deletions, ov, mk, opts);
                oi += 1;
            }
            (_, Some((_, mv))) => {
                if !opts.ignore_changes_and_additions {
                    patch.push(mv.clone());
                }
                mi += 1;
            }
        }
    }
    Ok((patch, deletions))
}

fn not_a_map() -> PatchError {
    PatchError::BadArgType {
        expected: "map",
        got: "non-map".into(),
    }
}

fn push_delete(deletions: &mut Vec<Value>, ov: &Value, mk: &str, opts: DiffOptions) {
    if !opts.ignore_deletions {
        let mut d = Map::new();
        d.insert(mk.to_owned(), ov.get(mk).cloned().unwrap_or(Value::Null));
        d.insert(DIRECTIVE.to_owned(), Value::String(DELETE.to_owned()));
        deletions.push(Value::Object(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_meta::builtin_patch_meta;
    use crate::strategic;
    use serde_json::json;

    fn deployment_meta() -> &'static dyn PatchMeta {
        builtin_patch_meta("apps", "Deployment").expect("deployment meta")
    }

    fn manifest(image: &str, env: Value, ports: Value, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": image, "env": env, "ports": ports}]}}}
        })
    }

    /// Simulates the server side of `kubectl apply`: the live object carries fields
    /// nobody declared in the manifest (defaults, status, another client's annotation).
    fn live_from(applied: &Value) -> Value {
        let mut live = applied.clone();
        live["metadata"]["annotations"] = json!({"other-client": "keep-me"});
        live["metadata"]["resourceVersion"] = json!("7");
        live["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
            json!("/dev/termination-log");
        live["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
        live["status"] = json!({"replicas": 2});
        live
    }

    #[test]
    fn apply_twice_is_an_empty_patch() {
        let m = manifest(
            "nginx:1",
            json!([{"name":"A","value":"1"}]),
            json!([{"containerPort":80}]),
            json!({"app":"web"}),
        );
        let live = live_from(&m);
        let patch = three_way(&m, &m, &live, deployment_meta()).unwrap();
        assert_eq!(patch, json!({}));
    }

    #[test]
    fn editing_the_manifest_changes_exactly_what_changed() {
        let v1 = manifest(
            "nginx:1",
            json!([{"name":"A","value":"1"}]),
            json!([{"containerPort":80},{"containerPort":443}]),
            json!({"app":"web","team":"x"}),
        );
        let live = live_from(&v1);
        // change image, add an env var, remove a port, remove a label
        let v2 = manifest(
            "nginx:2",
            json!([{"name":"A","value":"1"},{"name":"B","value":"2"}]),
            json!([{"containerPort":80}]),
            json!({"app":"web"}),
        );
        let patch = three_way(&v1, &v2, &live, deployment_meta()).unwrap();
        let out = strategic::apply(&live, &patch, deployment_meta()).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2");
        assert_eq!(
            c["env"],
            json!([{"name":"A","value":"1"},{"name":"B","value":"2"}])
        );
        assert_eq!(c["ports"], json!([{"containerPort":80}]));
        assert_eq!(
            c["terminationMessagePath"], "/dev/termination-log",
            "server default kept"
        );
        assert_eq!(out["metadata"]["labels"], json!({"app":"web"}));
        assert_eq!(
            out["metadata"]["annotations"],
            json!({"other-client":"keep-me"})
        );
        assert_eq!(out["status"], json!({"replicas":2}));
        assert_eq!(out["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(out["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        // and applying v2 again is now a no-op
        let again = three_way(&v2, &v2, &out, deployment_meta()).unwrap();
        assert_eq!(again, json!({}));
    }

    #[test]
    fn patch_shape_matches_kubectl() {
        let v1 = manifest(
            "i",
            json!([{"name":"A","value":"1"},{"name":"B","value":"2"}]),
            json!([]),
            json!({"app":"web","team":"x"}),
        );
        let v2 = manifest(
            "i",
            json!([{"name":"B","value":"2"}]),
            json!([]),
            json!({"app":"web"}),
        );
        let patch = three_way(&v1, &v2, &live_from(&v1), deployment_meta()).unwrap();
        assert_eq!(
            patch,
            json!({
                "metadata": {"labels": {"team": null}},
                "spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{
                        "name": "nginx",
                        "$setElementOrder/env": [{"name": "B"}],
                        "env": [{"name": "A", "$patch": "delete"}]
                    }]
                }}}
            })
        );
    }

    #[test]
    fn primitive_merge_lists_use_parallel_deletion_lists() {
        let meta = builtin_patch_meta("", "Pod").unwrap();
        let original = json!({"metadata":{"finalizers":["a","b"]}});
        let modified = json!({"metadata":{"finalizers":["a"]}});
        let current = json!({"metadata":{"finalizers":["a","b","c"]}});
        let patch = three_way(&original, &modified, &current, meta).unwrap();
        assert_eq!(
            patch,
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"],"$setElementOrder/finalizers":["a"]}})
        );
        let out = strategic::apply(&current, &patch, meta).unwrap();
        assert_eq!(out, json!({"metadata":{"finalizers":["a","c"]}}));
    }

    #[test]
    fn retain_keys_switches_a_union_member() {
        let meta = deployment_meta();
        let v1 =
            json!({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}});
        let v2 = json!({"spec":{"strategy":{"type":"Recreate"}}});
        let patch = three_way(&v1, &v2, &v1, meta).unwrap();
        assert_eq!(
            patch,
            json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}})
        );
        let out = strategic::apply(&v1, &patch, meta).unwrap();
        assert_eq!(out, v2);
    }

    #[test]
    fn two_way_round_trips() {
        let meta = deployment_meta();
        let a = manifest(
            "a",
            json!([{"name":"X","value":"1"}]),
            json!([{"containerPort":1}]),
            json!({"k":"v"}),
        );
        let b = manifest(
            "b",
            json!([{"name":"Y","value":"2"}]),
            json!([{"containerPort":2},{"containerPort":1}]),
            json!({}),
        );
        let p = two_way(&a, &b, meta).unwrap();
        assert_eq!(strategic::apply(&a, &p, meta).unwrap(), b);
        assert_eq!(two_way(&a, &a, meta).unwrap(), json!({}));
    }

    #[test]
    fn first_apply_without_last_applied() {
        let meta = deployment_meta();
        let m = manifest("a", json!([]), json!([]), json!({"k":"v"}));
        let live = json!({"metadata":{"name":"web","annotations":{"x":"y"}}});
        let p = three_way(&Value::Null, &m, &live, meta).unwrap();
        let out = strategic::apply(&live, &p, meta).unwrap();
        assert_eq!(out["metadata"]["annotations"], json!({"x":"y"}));
        assert_eq!(out["spec"], m["spec"]);
    }
}
