//! Strategic merge patch (`application/strategic-merge-patch+json`), a port of
//! `k8s.io/apimachinery/pkg/util/strategicpatch` (`StrategicMergeMapPatch`) onto
//! `serde_json::Value`, driven by a [`PatchMeta`] schema instead of Go struct tags.
//!
//! Semantics, as upstream:
//! * objects merge key by key; `null` deletes a key;
//! * lists are replaced unless the field's strategy is `merge`: lists of maps merge by
//!   the field's merge key, primitive lists are unioned;
//! * `$patch: replace` in a map replaces it, `$patch: delete` empties it; in a list of
//!   maps, `{"<key>": v, "$patch": "delete"}` removes that element and an element
//!   `{"$patch": "replace"}` replaces the whole list; `$patch: merge` in a list is
//!   rejected as upstream does ("merging lists cannot yet be specified in the patch");
//! * `$deleteFromPrimitiveList/<field>: [..]` removes values from a merging primitive list;
//! * `$setElementOrder/<field>: [..]` fixes the order of a merging list;
//! * `$retainKeys: [..]` clears every key of the map not listed.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::schema::{FieldMeta, PatchMeta, lookup};

pub(crate) const DIRECTIVE: &str = "$patch";
pub(crate) const REPLACE: &str = "replace";
pub(crate) const DELETE: &str = "delete";
pub(crate) const MERGE: &str = "merge";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a strategic merge patch (or a three-way patch calculation) failed. The texts
/// follow `k8s.io/apimachinery/pkg/util/mergepatch`; the server answers `422`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The document or patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A `$patch` directive with an unknown value.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType {
        /// The directive's value.
        directive: String,
        /// The map it appeared in.
        map: String,
    },
    /// A list element lacks the merge key of its field.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element.
        map: String,
        /// The merge key.
        key: String,
    },
    /// A merging list of maps whose field declares no merge key.
    #[error("cannot merge lists without merge key for {field}")]
    MissingMergeKeyMeta {
        /// The field name.
        field: String,
    },
    /// Lists of lists cannot be merged.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// Elements of one list have different JSON types.
    #[error("list element types are not identical: {0}")]
    MixedListTypes(String),
    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// Malformed `$deleteFromPrimitiveList`.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// Malformed `$retainKeys`, or a patched key missing from it.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// Malformed `$setElementOrder`, or an order the patch list contradicts.
    #[error("invalid patch format of setElementOrder list{0}")]
    BadSetElementOrder(String),
    /// A value of the wrong JSON type where a map or list was required.
    #[error("expected a {expected}, but received a {got}")]
    BadArgType {
        /// The required type.
        expected: &'static str,
        /// What was found.
        got: String,
    },
    /// Client-side apply found a field changed both in the manifest and in the live
    /// object (only when not overwriting).
    #[error("patch conflicts with changes made from the original configuration: {0}")]
    Conflict(String),
}

/// Options of the merge (upstream `MergeOptions`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MergeOptions {
    /// Apply `$deleteFromPrimitiveList`/`$setElementOrder`/`$retainKeys` (server side)
    /// rather than carry them over (merging two patches client side).
    pub merge_parallel_list: bool,
    /// Drop `null`s that match nothing instead of keeping them.
    pub ignore_unmatched_nulls: bool,
}

const SERVER: MergeOptions = MergeOptions {
    merge_parallel_list: true,
    ignore_unmatched_nulls: true,
};

/// Applies strategic merge patch `patch` to `current` using `meta`, the schema of the
/// top-level kind (see [`crate::builtin_meta::builtin_patch_meta`]).
pub fn apply(current: &Value, patch: &Value, meta: &dyn PatchMeta) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (current, patch) else {
        return Err(PatchError::BadJsonDoc);
    };
    merge_map(original.clone(), patch.clone(), Some(meta), SERVER).map(Value::Object)
}

fn short(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
    .to_owned()
}

/// Go's `reflect.TypeOf` equivalence class of a decoded JSON value.
fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// `fmt.Sprintf("%v", v)` for the scalars upstream sorts by.
pub(crate) fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn extract_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_owned()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(PatchError::BadPrimitiveList),
        _ => Err(PatchError::BadSetElementOrder(String::new())),
    }
}

/// Merges `patch` into `original` (upstream `mergeMap`).
pub(crate) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    meta: Option<&dyn PatchMeta>,
    opts: MergeOptions,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some(DELETE) => Ok(Map::new()),
            _ => Err(PatchError::BadPatchType {
                directive: scalar_string(directive),
                map: short(&patch),
            }),
        };
    }
    apply_retain_keys(&mut original, &mut patch, opts)?;
    merge_set_element_order(&mut original, &mut patch, meta, opts)?;

    for (k, patch_v) in patch {
        let (key, is_delete_list) = if k.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            if !opts.merge_parallel_list {
                original.insert(k, patch_v);
                continue;
            }
            (extract_key(&k, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (k, false)
        };
        if patch_v.is_null() {
            original.remove(&key);
            if opts.ignore_unmatched_nulls {
                continue;
            }
        }
        let take_patch = match original.get(&key) {
            None => true,
            Some(o) => !same_type(o, &patch_v),
        };
        if take_patch {
            if !is_delete_list {
                let mut v = patch_v;
                if opts.ignore_unmatched_nulls {
                    discard_nulls(&mut v);
                }
                match remove_directives(v, opts) {
                    Some(v) => original.insert(key, v),
                    None => original.remove(&key),
                };
            }
            continue;
        }
        let fm = lookup(meta, &key);
        let Some(slot) = original.get_mut(&key) else {
            continue;
        };
        let merged = match (std::mem::take(slot), patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                if fm.strategy.replace {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, fm.schema, opts)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(merge_slice_handler(o, p, &key, &fm, is_delete_list, opts)?)
            }
            (_, p) => p,
        };
        *slot = merged;
    }
    Ok(original)
}

/// Upstream `discardNullValuesFromPatch`: nulls that match nothing are not stored.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Upstream `removeDirectives`: a map carrying `$patch` disappears. Server side, the
/// parallel-list directives of a value that matched nothing are dropped too (a real
/// server drops them when decoding into the typed object).
fn remove_directives(v: Value, opts: MergeOptions) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if opts.merge_parallel_list
                    && (k == RETAIN_KEYS
                        || k.starts_with(SET_ELEMENT_ORDER)
                        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST))
                {
                    continue;
                }
                if let Some(v) = remove_directives(v, opts) {
                    out.insert(k, v);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter()
                .filter_map(|v| remove_directives(v, opts))
                .collect(),
        )),
        other => Some(other),
    }
}

/// Upstream `applyRetainKeysDirective`.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    opts: MergeOptions,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    if !opts.merge_parallel_list {
        match original.get(RETAIN_KEYS) {
            Some(existing) if existing != &retain => return Err(PatchError::BadRetainKeys),
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS.to_owned(), retain);
            }
        }
        return Ok(());
    }
    let list = retain.as_array().ok_or(PatchError::BadRetainKeys)?;
    let keep: HashSet<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep.contains(k.as_str()) {
            return Err(PatchError::BadRetainKeys);
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

/// Upstream `mergePatchIntoOriginal`: processes each `$setElementOrder/<field>` together
/// with the `<field>` list of the patch and removes both from the patch.
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    meta: Option<&dyn PatchMeta>,
    opts: MergeOptions,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        if !opts.merge_parallel_list {
            match original.get(&key) {
                Some(existing) if existing != &order => {
                    return Err(PatchError::BadSetElementOrder(String::new()));
                }
                Some(_) => {}
                None => {
                    original.insert(key.clone(), order.clone());
                }
            }
        }
        let order = match order {
            Value::Array(a) => a,
            other => {
                return Err(PatchError::BadArgType {
                    expected: "list",
                    got: type_name(&other),
                });
            }
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER)?;
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>, PatchError> {
            match v {
                None => Ok(None),
                Some(Value::Array(a)) => Ok(Some(a.clone())),
                Some(other) => Err(PatchError::BadArgType {
                    expected: "list",
                    got: type_name(other),
                }),
            }
        };
        let original_list = as_list(original.get(&field))?;
        let patch_list = as_list(patch.get(&field))?;
        let fm = lookup(meta, &field);
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            fm.merge_key,
        )?;
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.clone(),
            (Some(o), Some(p)) => {
                merge_slice_handler(o.clone(), p.clone(), &field, &fm, false, opts)?
            }
            (None, None) => continue,
        };
        let o = original_list.unwrap_or_default();
        let p = patch_list.unwrap_or_default();
        let both = if o.is_empty() && p.is_empty() {
            merged
        } else {
            let kind = slice_element_kind(&[&o, &p])?;
            let (patch_items, server_only) = partition(merged, &order, fm.merge_key)?;
            normalize_element_order(patch_items, server_only, &order, &o, fm.merge_key, kind)?
        };
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

fn contains_directive(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

fn merge_key_value_equal(l: &Value, r: &Value, mk: Option<&str>) -> Result<bool, PatchError> {
    let Some(mk) = mk else { return Ok(l == r) };
    Ok(merge_key_of(l, mk)? == merge_key_of(r, mk)?)
}

fn merge_key_of<'v>(v: &'v Value, mk: &str) -> Result<&'v Value, PatchError> {
    let m = v.as_object().ok_or_else(|| PatchError::BadArgType {
        expected: "map",
        got: type_name(v),
    })?;
    m.get(mk).ok_or_else(|| PatchError::NoMergeKey {
        map: short(m),
        key: mk.to_owned(),
    })
}

/// Upstream `validatePatchWithSetOrderList`: the patch list must follow the order list.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    mk: Option<&str>,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if mk.is_some() {
        let mut v = Vec::new();
        for item in patch_list {
            let m = item.as_object().ok_or_else(|| PatchError::BadArgType {
                expected: "map",
                got: type_name(item),
            })?;
            if m.get(DIRECTIVE).and_then(Value::as_str) != Some(DELETE) {
                v.push(item);
            }
        }
        v
    } else {
        patch_list.iter().collect()
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if contains_directive(non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[si], mk)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::BadSetElementOrder(format!(
            ": the order in patch list {} doesn't match $setElementOrder list {}",
            short(&patch_list),
            short(&order)
        )));
    }
    Ok(())
}

/// Kind of the elements of one or more lists (upstream `sliceElementType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemKind {
    Map,
    Scalar,
}

pub(crate) fn slice_element_kind(lists: &[&[Value]]) -> Result<ElemKind, PatchError> {
    let mut first: Option<&Value> = None;
    for list in lists {
        for v in list.iter() {
            if v.is_array() {
                return Err(PatchError::NoListOfLists);
            }
            match first {
                None => first = Some(v),
                Some(f) if !same_type(f, v) => {
                    return Err(PatchError::MixedListTypes(short(&lists)));
                }
                _ => {}
            }
        }
    }
    match first {
        Some(Value::Object(_)) => Ok(ElemKind::Map),
        Some(_) => Ok(ElemKind::Scalar),
        None => Err(PatchError::MixedListTypes(
            "no elements in any of the given slices".into(),
        )),
    }
}

/// Upstream `mergeSliceHandler`: merge only lists whose strategy is `merge`.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &str,
    fm: &FieldMeta<'_>,
    is_delete_list: bool,
    opts: MergeOptions,
) -> Result<Vec<Value>, PatchError> {
    if fm.strategy.merge {
        merge_slice(original, patch, field, fm, opts, is_delete_list)
    } else {
        Ok(patch)
    }
}

/// Upstream `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &str,
    fm: &FieldMeta<'_>,
    opts: MergeOptions,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    if kind == ElemKind::Scalar {
        if opts.merge_parallel_list && is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (patch_items, server_only) = partition(merged, &patch, None)?;
        return normalize_element_order(patch_items, server_only, &patch, &original, None, kind);
    }
    let mk = fm
        .merge_key
        .ok_or_else(|| PatchError::MissingMergeKeyMeta {
            field: field.to_owned(),
        })?;
    let (original, patch) = merge_slice_with_special_elements(original, patch, mk)?;
    let merged =
        merge_slice_without_special_elements(original.clone(), &patch, mk, fm.schema, opts)?;
    let (patch_items, server_only) = partition(merged, &patch, Some(mk))?;
    normalize_element_order(patch_items, server_only, &patch, &original, Some(mk), kind)
}

/// Handles `$patch` elements of a list of maps; returns the new original and the patch
/// without them.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut without = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let directive = v.as_object().and_then(|m| m.get(DIRECTIVE)).cloned();
        match directive {
            None => without.push(v),
            Some(d) => match d.as_str() {
                Some(DELETE) => {
                    let key = merge_key_of(&v, mk)?.clone();
                    if let Some(bad) = original.iter().find(|o| !o.is_object()) {
                        return Err(PatchError::BadArgType {
                            expected: "map",
                            got: type_name(bad),
                        });
                    }
                    original.retain(|o| o.get(mk) != Some(&key));
                }
                Some(REPLACE) => replace = true,
                Some(MERGE) => return Err(PatchError::MergeDirectiveInList),
                _ => {
                    return Err(PatchError::BadPatchType {
                        directive: scalar_string(&d),
                        map: short(&v),
                    });
                }
            },
        }
    }
    if replace {
        return Ok((without, Vec::new()));
    }
    Ok((original, without))
}

fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    mk: &str,
    elem: Option<&dyn PatchMeta>,
    opts: MergeOptions,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let key = merge_key_of(v, mk)?;
        let pos = original.iter().position(|o| o.get(mk) == Some(key));
        match pos {
            Some(i) => {
                let (Value::Object(o), Value::Object(p)) =
                    (std::mem::take(&mut original[i]), v.clone())
                else {
                    return Err(PatchError::BadArgType {
                        expected: "map",
                        got: type_name(v),
                    });
                };
                original[i] = Value::Object(merge_map(o, p, elem, opts)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

/// Splits `items` into those present in `by` (by merge key, or by value) and the rest.
fn partition(
    items: Vec<Value>,
    by: &[Value],
    mk: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(items.len());
    let mut rest = Vec::new();
    for v in items {
        let found = match mk {
            None => by.contains(&v),
            Some(mk) => {
                let key = merge_key_of(&v, mk)?;
                let mut found = false;
                for b in by {
                    let bm = b.as_object().ok_or_else(|| PatchError::BadArgType {
                        expected: "map",
                        got: type_name(b),
                    })?;
                    if bm.get(mk) == Some(key) {
                        found = true;
                        break;
                    }
                }
                found
            }
        };
        if found { present.push(v) } else { rest.push(v) }
    }
    Ok((present, rest))
}

fn index_in(list: &[Value], item: &Value, mk: Option<&str>, kind: ElemKind) -> Option<usize> {
    match (kind, mk) {
        (ElemKind::Map, Some(mk)) => {
            let key = item.get(mk);
            list.iter().position(|v| v.get(mk) == key)
        }
        _ => list.iter().position(|v| v == item),
    }
}

/// Upstream `normalizeSliceOrder`: sort `to_sort` by `order`, deletions last.
pub(crate) fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    mk: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let (mut keep, mut deletes) = (Vec::with_capacity(to_sort.len()), Vec::new());
    if kind == ElemKind::Map {
        let mk = mk.unwrap_or("");
        for v in to_sort.iter().chain(order.iter()) {
            merge_key_of(v, mk)?;
        }
        for v in to_sort {
            if v.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                deletes.push(v);
            } else {
                keep.push(v);
            }
        }
    } else {
        keep = to_sort;
    }
    keep.sort_by_key(|v| index_in(order, v, mk, kind).unwrap_or(usize::MAX));
    keep.extend(deletes);
    Ok(keep)
}

/// Upstream `normalizeElementOrder` + `mergeSortedSlice`.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mk: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let right = normalize_slice_order(patch, patch_order, mk, kind)?;
    let left = normalize_slice_order(server_only, server_order, mk, kind)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut li, mut ri) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        match (li.peek(), ri.peek()) {
            (None, None) => break,
            (Some(_), None) => out.extend(li.by_ref()),
            (None, Some(_)) => out.extend(ri.by_ref()),
            (Some(l), Some(r)) => {
                let less = match (
                    index_in(server_order, l, mk, kind),
                    index_in(server_order, r, mk, kind),
                ) {
                    (Some(a), Some(b)) => a < b,
                    _ => false,
                };
                let next = if less { li.next() } else { ri.next() };
                out.extend(next);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldMeta, Keys, ListType, MapKind, PatchStrategy};
    use serde_json::json;

    /// The schema of upstream's test struct `MergeItem` (patch_test.go): `mergingList`
    /// merges by `name`, `mergingIntList` is a merging primitive list, `nonMergingList`
    /// and `nonMergingIntList` replace, `retainKeysMap` has the retainKeys strategy,
    /// `replacingItem` the replace strategy; every nested map is a `MergeItem` again.
    struct MergeItem;

    impl PatchMeta for MergeItem {
        fn field(&self, name: &str) -> Option<FieldMeta<'_>> {
            let base = FieldMeta {
                schema: Some(&MergeItem),
                ..FieldMeta::PLAIN
            };
            Some(match name {
                "mergingList" | "retainKeysMergingList" => FieldMeta {
                    strategy: if name == "mergingList" {
                        PatchStrategy::MERGE
                    } else {
                        PatchStrategy::MERGE_RETAIN_KEYS
                    },
                    merge_key: Some("name"),
                    list_type: ListType::Map,
                    list_map_keys: Keys::Static(&["name"]),
                    ..base
                },
                "mergingIntList" => FieldMeta {
                    strategy: PatchStrategy::MERGE,
                    list_type: ListType::Set,
                    ..base
                },
                "retainKeysMap" => FieldMeta {
                    strategy: PatchStrategy::RETAIN_KEYS,
                    ..base
                },
                "replacingItem" => FieldMeta {
                    strategy: PatchStrategy::REPLACE,
                    map_kind: MapKind::Atomic,
                    ..base
                },
                _ => base,
            })
        }
    }

    fn smp(original: Value, patch: Value) -> Result<Value, PatchError> {
        apply(&original, &patch, &MergeItem)
    }

    /// Table of upstream's documented cases (patch_test.go `createStrategicMergePatchTestCaseData`
    /// and `strategicMergePatchRawTestCases`), each as (description, original, patch, result).
    #[test]
    fn documented_cases() {
        let cases: Vec<(&str, Value, Value, Value)> = vec![
            (
                "nil patch returns the original",
                json!({"name":"1"}),
                json!({}),
                json!({"name":"1"}),
            ),
            (
                "add a field",
                json!({"name":"1"}),
                json!({"value":"1"}),
                json!({"name":"1","value":"1"}),
            ),
            (
                "change a field",
                json!({"name":"1","value":"1"}),
                json!({"value":"2"}),
                json!({"name":"1","value":"2"}),
            ),
            (
                "delete a field with null",
                json!({"name":"1","value":"1"}),
                json!({"value":null}),
                json!({"name":"1"}),
            ),
            (
                "null for a missing field is ignored",
                json!({"name":"1"}),
                json!({"value":null}),
                json!({"name":"1"}),
            ),
            (
                "nested maps merge",
                json!({"simpleMap":{"key1":"a","key2":"b"}}),
                json!({"simpleMap":{"key2":"c","key3":"d"}}),
                json!({"simpleMap":{"key1":"a","key2":"c","key3":"d"}}),
            ),
            (
                "$patch: replace replaces a map",
                json!({"simpleMap":{"key1":"a","key2":"b"}}),
                json!({"simpleMap":{"$patch":"replace","key3":"d"}}),
                json!({"simpleMap":{"key3":"d"}}),
            ),
            (
                "$patch: delete empties a map",
                json!({"simpleMap":{"key1":"a"}}),
                json!({"simpleMap":{"$patch":"delete"}}),
                json!({"simpleMap":{}}),
            ),
            (
                "$patch: replace at the top level",
                json!({"name":"1","value":"1"}),
                json!({"$patch":"replace","other":"a"}),
                json!({"other":"a"}),
            ),
            (
                "replace strategy replaces a map",
                json!({"replacingItem":{"a":1,"b":2}}),
                json!({"replacingItem":{"c":3}}),
                json!({"replacingItem":{"c":3}}),
            ),
            (
                "non-merging list is replaced",
                json!({"nonMergingList":[{"name":"1"},{"name":"2"}]}),
                json!({"nonMergingList":[{"name":"3"}]}),
                json!({"nonMergingList":[{"name":"3"}]}),
            ),
            (
                "non-merging int list is replaced",
                json!({"nonMergingIntList":[1,2]}),
                json!({"nonMergingIntList":[2,3]}),
                json!({"nonMergingIntList":[2,3]}),
            ),
            (
                "merging int list is unioned, patch order first then server order",
                json!({"mergingIntList":[1,2]}),
                json!({"mergingIntList":[2,3]}),
                json!({"mergingIntList":[1,2,3]}),
            ),
            (
                "$deleteFromPrimitiveList removes values",
                json!({"mergingIntList":[1,2,3]}),
                json!({"$deleteFromPrimitiveList/mergingIntList":[1,3]}),
                json!({"mergingIntList":[2]}),
            ),
            (
                "$deleteFromPrimitiveList on a missing list does nothing",
                json!({"name":"a"}),
                json!({"$deleteFromPrimitiveList/mergingIntList":[1]}),
                json!({"name":"a"}),
            ),
            (
                "merging list of maps merges by key and appends new items",
                json!({"mergingList":[{"name":"1","value":"a"},{"name":"2","value":"b"}]}),
                json!({"mergingList":[{"name":"2","value":"c"},{"name":"3","value":"d"}]}),
                json!({"mergingList":[{"name":"1","value":"a"},{"name":"2","value":"c"},{"name":"3","value":"d"}]}),
            ),
            (
                "element fields merge recursively, null deletes inside an element",
                json!({"mergingList":[{"name":"1","value":"a","other":"x"}]}),
                json!({"mergingList":[{"name":"1","other":null}]}),
                json!({"mergingList":[{"name":"1","value":"a"}]}),
            ),
            (
                "$patch: delete removes an element by merge key",
                json!({"mergingList":[{"name":"1"},{"name":"2"},{"name":"3"}]}),
                json!({"mergingList":[{"name":"2","$patch":"delete"}]}),
                json!({"mergingList":[{"name":"1"},{"name":"3"}]}),
            ),
            (
                "$patch: delete removes every element with the key",
                json!({"mergingList":[{"name":"1","v":1},{"name":"1","v":2},{"name":"2"}]}),
                json!({"mergingList":[{"name":"1","$patch":"delete"}]}),
                json!({"mergingList":[{"name":"2"}]}),
            ),
            (
                "$patch: replace element replaces the whole list",
                json!({"mergingList":[{"name":"1"},{"name":"2"}]}),
                json!({"mergingList":[{"name":"3","value":"x"},{"$patch":"replace"}]}),
                json!({"mergingList":[{"name":"3","value":"x"}]}),
            ),
            (
                "$patch: replace with no other element empties the list",
                json!({"mergingList":[{"name":"1"}]}),
                json!({"mergingList":[{"$patch":"replace"}]}),
                json!({"mergingList":[]}),
            ),
            (
                "$setElementOrder orders a merging list of maps",
                json!({"mergingList":[{"name":"1"},{"name":"2"},{"name":"3"}]}),
                json!({"$setElementOrder/mergingList":[{"name":"3"},{"name":"2"},{"name":"1"}],
                    "mergingList":[{"name":"2","value":"x"}]}),
                json!({"mergingList":[{"name":"3"},{"name":"2","value":"x"},{"name":"1"}]}),
            ),
            (
                "$setElementOrder keeps server-only items near their neighbours",
                json!({"mergingList":[{"name":"1"},{"name":"2"},{"name":"3"}]}),
                json!({"$setElementOrder/mergingList":[{"name":"3"},{"name":"1"}]}),
                json!({"mergingList":[{"name":"2"},{"name":"3"},{"name":"1"}]}),
            ),
            (
                "$setElementOrder with an added element",
                json!({"mergingList":[{"name":"1"},{"name":"2"}]}),
                json!({"$setElementOrder/mergingList":[{"name":"1"},{"name":"4"},{"name":"2"}],
                    "mergingList":[{"name":"4"}]}),
                json!({"mergingList":[{"name":"1"},{"name":"4"},{"name":"2"}]}),
            ),
            (
                "$setElementOrder on a primitive list",
                json!({"mergingIntList":[1,2,3]}),
                json!({"$setElementOrder/mergingIntList":[3,2,1],"mergingIntList":[3]}),
                json!({"mergingIntList":[3,2,1]}),
            ),
            (
                "$setElementOrder with deletions of primitives",
                json!({"mergingIntList":[1,2,3]}),
                json!({"$setElementOrder/mergingIntList":[3,1],"$deleteFromPrimitiveList/mergingIntList":[2]}),
                json!({"mergingIntList":[3,1]}),
            ),
            (
                "$setElementOrder for a list missing in the original",
                json!({}),
                json!({"$setElementOrder/mergingList":[{"name":"2"},{"name":"1"}],
                    "mergingList":[{"name":"2"},{"name":"1"}]}),
                json!({"mergingList":[{"name":"2"},{"name":"1"}]}),
            ),
            (
                "$retainKeys clears keys not listed",
                json!({"retainKeysMap":{"name":"foo","value":"bar","other":"x"}}),
                json!({"retainKeysMap":{"$retainKeys":["name","value"],"value":"baz"}}),
                json!({"retainKeysMap":{"name":"foo","value":"baz"}}),
            ),
            (
                "$retainKeys in list elements (volumes-like)",
                json!({"retainKeysMergingList":[{"name":"v","emptyDir":{},"hostPath":{"path":"/x"}}]}),
                json!({"retainKeysMergingList":[{"name":"v","$retainKeys":["name","hostPath"],"hostPath":{"path":"/y"}}]}),
                json!({"retainKeysMergingList":[{"name":"v","hostPath":{"path":"/y"}}]}),
            ),
            (
                "$retainKeys allows nulls and directives outside the list",
                json!({"retainKeysMap":{"name":"foo","value":"bar"}}),
                json!({"retainKeysMap":{"$retainKeys":["name"],"value":null}}),
                json!({"retainKeysMap":{"name":"foo"}}),
            ),
            (
                "type change replaces",
                json!({"name":{"a":1}}),
                json!({"name":"s"}),
                json!({"name":"s"}),
            ),
            (
                "new key value keeps no nulls and no directives",
                json!({}),
                json!({"simpleMap":{"a":"1","b":null},"mergingList":[{"name":"1"},{"name":"2","$patch":"delete"}]}),
                json!({"simpleMap":{"a":"1"},"mergingList":[{"name":"1"}]}),
            ),
            (
                "nested merging list; an item unknown to the server goes before server-only items",
                json!({"mergingList":[{"name":"1","mergingList":[{"name":"a","value":"1"}]}]}),
                json!({"mergingList":[{"name":"1","mergingList":[{"name":"b","value":"2"}]}]}),
                json!({"mergingList":[{"name":"1","mergingList":[{"name":"b","value":"2"},{"name":"a","value":"1"}]}]}),
            ),
        ];
        for (desc, original, patch, want) in cases {
            let got = smp(original, patch).unwrap_or_else(|e| panic!("{desc}: {e}"));
            assert_eq!(got, want, "{desc}");
        }
    }

    type ErrorCase = (&'static str, Value, Value, fn(&PatchError) -> bool);

    #[test]
    fn documented_errors() {
        let cases: Vec<ErrorCase> = vec![
            (
                "unknown $patch in a map",
                json!({"a":{}}),
                json!({"a":{"$patch":"bogus"}}),
                |e| matches!(e, PatchError::BadPatchType { .. }),
            ),
            (
                "$patch: merge in a map is not a known map directive",
                json!({"a":{}}),
                json!({"a":{"$patch":"merge"}}),
                |e| matches!(e, PatchError::BadPatchType { .. }),
            ),
            (
                "$patch: merge in a list",
                json!({"mergingList":[{"name":"1"}]}),
                json!({"mergingList":[{"$patch":"merge"}]}),
                |e| *e == PatchError::MergeDirectiveInList,
            ),
            (
                "missing merge key",
                json!({"mergingList":[{"name":"1"}]}),
                json!({"mergingList":[{"value":"x"}]}),
                |e| matches!(e, PatchError::NoMergeKey { .. }),
            ),
            (
                "delete directive without merge key",
                json!({"mergingList":[{"name":"1"}]}),
                json!({"mergingList":[{"$patch":"delete"}]}),
                |e| matches!(e, PatchError::NoMergeKey { .. }),
            ),
            (
                "mixed element types",
                json!({"mergingIntList":[1]}),
                json!({"mergingIntList":["a"]}),
                |e| matches!(e, PatchError::MixedListTypes(_)),
            ),
            (
                "list of lists",
                json!({"mergingIntList":[[1]]}),
                json!({"mergingIntList":[[2]]}),
                |e| *e == PatchError::NoListOfLists,
            ),
            (
                "$retainKeys not listing a patched key",
                json!({"retainKeysMap":{"name":"a"}}),
                json!({"retainKeysMap":{"$retainKeys":["name"],"value":"x"}}),
                |e| *e == PatchError::BadRetainKeys,
            ),
            (
                "$retainKeys not a list",
                json!({"retainKeysMap":{}}),
                json!({"retainKeysMap":{"$retainKeys":"name"}}),
                |e| *e == PatchError::BadRetainKeys,
            ),
            (
                "$setElementOrder contradicting the patch",
                json!({"mergingList":[{"name":"1"},{"name":"2"}]}),
                json!({"$setElementOrder/mergingList":[{"name":"1"},{"name":"2"}],"mergingList":[{"name":"2"},{"name":"1"}]}),
                |e| matches!(e, PatchError::BadSetElementOrder(_)),
            ),
            (
                "bad parallel list prefix",
                json!({}),
                json!({"$deleteFromPrimitiveListX/a":[1]}),
                |e| *e == PatchError::BadPrimitiveList,
            ),
        ];
        for (desc, original, patch, check) in cases {
            match smp(original, patch) {
                Err(e) => assert!(check(&e), "{desc}: unexpected error {e:?}"),
                Ok(v) => panic!("{desc}: expected an error, got {v}"),
            }
        }
        assert_eq!(
            apply(&json!([1]), &json!({}), &MergeItem),
            Err(PatchError::BadJsonDoc)
        );
    }

    #[test]
    fn patch_is_not_mutated_and_original_kept_on_error() {
        let original = json!({"mergingList":[{"name":"1"}]});
        let patch = json!({"mergingList":[{"value":"x"}]});
        assert!(apply(&original, &patch, &MergeItem).is_err());
        assert_eq!(original, json!({"mergingList":[{"name":"1"}]}));
    }

    /// `kubectl patch --type strategic` on built-in kinds, with upstream's metadata.
    #[test]
    fn builtin_kinds() {
        let pod_meta = crate::builtin_meta::builtin_patch_meta("", "Pod").unwrap();
        let pod = json!({"metadata": {"name": "p", "finalizers": ["a"], "labels": {"x": "1"}},
            "spec": {"containers": [
                {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}],
                 "volumeMounts": [{"name": "v", "mountPath": "/data"}]},
                {"name": "side", "image": "side:1"}],
              "tolerations": [{"key": "a"}], "volumes": [{"name": "v", "emptyDir": {}}]}});
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "change one container's image by name",
                json!({"spec": {"containers": [{"name": "side", "image": "side:2"}]}}),
                json!({"/spec/containers/1/image": "side:2", "/spec/containers/0/image": "app:1"}),
            ),
            (
                "add a port merges by containerPort",
                json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}}),
                json!({"/spec/containers/0/ports": [{"containerPort": 443}, {"containerPort": 80}]}),
            ),
            (
                "remove an env var with $patch: delete",
                json!({"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}),
                json!({"/spec/containers/0/env": []}),
            ),
            (
                "volumeMounts merge by mountPath",
                json!({"spec": {"containers": [{"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}}),
                json!({"/spec/containers/0/volumeMounts": [{"name": "v", "mountPath": "/data", "readOnly": true}]}),
            ),
            (
                "tolerations are replaced",
                json!({"spec": {"tolerations": [{"key": "b"}]}}),
                json!({"/spec/tolerations": [{"key": "b"}]}),
            ),
            (
                "finalizers are unioned (patch items the server lacks go first, as upstream)",
                json!({"metadata": {"finalizers": ["b"]}}),
                json!({"/metadata/finalizers": ["b", "a"]}),
            ),
            (
                "finalizer removed with $deleteFromPrimitiveList",
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
                json!({"/metadata/finalizers": []}),
            ),
            (
                "labels: null removes one label",
                json!({"metadata": {"labels": {"x": null, "y": "2"}}}),
                json!({"/metadata/labels": {"y": "2"}}),
            ),
            (
                "volume source switched with $retainKeys",
                json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/h"}}]}}),
                json!({"/spec/volumes": [{"name": "v", "hostPath": {"path": "/h"}}]}),
            ),
            (
                "$patch: replace on a container list",
                json!({"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}),
                json!({"/spec/containers": [{"name": "only", "image": "o"}]}),
            ),
        ];
        for (desc, patch, expect) in cases {
            let out = apply(&pod, &patch, pod_meta).unwrap_or_else(|e| panic!("{desc}: {e}"));
            for (ptr, want) in expect.as_object().unwrap() {
                assert_eq!(out.pointer(ptr), Some(want), "{desc}: {ptr} in {out}");
            }
        }
    }
}
