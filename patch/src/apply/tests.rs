use super::*;
use crate::builtin_meta::builtin_patch_meta;
use serde_json::json;

fn deploy_meta() -> &'static dyn PatchMeta {
    builtin_patch_meta("apps", "Deployment").expect("meta")
}

fn mgr(name: &str) -> Manager<'_> {
    Manager {
        name,
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        ignored: &["status"],
    }
}

fn config(replicas: i64, image: &str, env: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "env": env,
                    "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}
    })
}

fn entry<'v>(obj: &'v Value, manager: &str) -> &'v Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["manager"] == manager))
        .unwrap_or_else(|| {
            panic!(
                "no entry for {manager} in {}",
                obj["metadata"]["managedFields"]
            )
        })
}

#[test]
fn create_on_apply_records_upstream_fields_v1() {
    let cfg = config(
        2,
        "nginx:1",
        json!([{"name": "A", "value": "1"}]),
        json!({"app": "web"}),
    );
    let out = apply(&Value::Null, &cfg, deploy_meta(), &mgr("kubectl"), false).unwrap();
    assert!(out.changed);
    let e = entry(&out.object, "kubectl");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert_eq!(e["time"], "2026-01-01T00:00:00Z");
    assert_eq!(
        e["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                    ".": {}, "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                    "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}
                }}}}}
        })
    );
    assert_eq!(out.object["spec"]["replicas"], 2);
}

#[test]
fn unchanged_apply_is_a_no_op() {
    let cfg = config(2, "nginx:1", json!([]), json!({"app": "web"}));
    let first = apply(&Value::Null, &cfg, deploy_meta(), &mgr("kubectl"), false).unwrap();
    let mut live = first.object.clone();
    live["metadata"]["resourceVersion"] = json!("5");
    live["status"] = json!({"replicas": 2});
    let later = Manager {
        now: "2026-02-02T00:00:00Z",
        ..mgr("kubectl")
    };
    let again = apply(&live, &cfg, deploy_meta(), &later, false).unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.object, live,
        "object and managedFields (incl. time) untouched"
    );
}

#[test]
fn fields_no_longer_applied_are_removed_unless_owned_by_others() {
    let v1 = config(
        2,
        "nginx:1",
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        json!({"app": "web", "team": "x"}),
    );
    let live = apply(&Value::Null, &v1, deploy_meta(), &mgr("kubectl"), false)
        .unwrap()
        .object;
    // another manager co-owns label team (same value: shared ownership, no conflict)
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "x"}}});
    let live = apply(&live, &other, deploy_meta(), &mgr("labeler"), false)
        .unwrap()
        .object;
    let v2 = config(
        2,
        "nginx:2",
        json!([{"name": "A", "value": "1"}]),
        json!({"app": "web"}),
    );
    let out = apply(&live, &v2, deploy_meta(), &mgr("kubectl"), false).unwrap();
    assert!(out.changed);
    let o = &out.object;
    assert_eq!(
        o["metadata"]["labels"],
        json!({"app": "web", "team": "x"}),
        "team kept: labeler owns it"
    );
    let c = &o["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:2");
    assert_eq!(
        c["env"],
        json!([{"name": "A", "value": "1"}]),
        "B removed: nobody else owned it"
    );
    let kubectl = entry(o, "kubectl");
    assert!(
        kubectl["fieldsV1"]["f:metadata"]["f:labels"]
            .get("f:team")
            .is_none()
    );
    assert!(
        entry(o, "labeler")["fieldsV1"]["f:metadata"]["f:labels"]
            .get("f:team")
            .is_some()
    );
}

#[test]
fn removing_a_whole_struct_removes_it() {
    let mut v1 = config(1, "i", json!([]), json!({"app": "web"}));
    v1["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "1"}});
    let live = apply(&Value::Null, &v1, deploy_meta(), &mgr("m"), false)
        .unwrap()
        .object;
    let v2 = config(1, "i", json!([]), json!({"app": "web"}));
    let out = apply(&live, &v2, deploy_meta(), &mgr("m"), false)
        .unwrap()
        .object;
    assert!(
        out["spec"]["template"]["spec"]["containers"][0]
            .get("resources")
            .is_none(),
        "{out}"
    );
}

#[test]
fn conflicts_name_manager_and_field_then_force_transfers_ownership() {
    let a = config(2, "nginx:1", json!([]), json!({"app": "web"}));
    let live = apply(&Value::Null, &a, deploy_meta(), &mgr("alice"), false)
        .unwrap()
        .object;
    let b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let err = apply(&live, &b, deploy_meta(), &mgr("bob"), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let ApplyError::Conflicts(cs) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(cs[0].cause_message(), "conflict with \"alice\"");
    assert_eq!(cs[0].field, ".spec.replicas");

    let forced = apply(&live, &b, deploy_meta(), &mgr("bob"), true).unwrap();
    assert_eq!(forced.object["spec"]["replicas"], 3);
    assert!(
        entry(&forced.object, "alice")["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        entry(&forced.object, "bob")["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    // alice re-applying her old value now conflicts with bob
    let err = apply(&forced.object, &a, deploy_meta(), &mgr("alice"), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"bob\": .spec.replicas"
    );
}

#[test]
fn conflicts_with_update_managers_and_nested_list_items() {
    let created = config(1, "nginx:1", json!([]), json!({"app": "web"}));
    let live = update(
        &Value::Null,
        &created,
        deploy_meta(),
        &mgr("kubectl-create"),
    )
    .unwrap();
    let e = entry(&live, "kubectl-create");
    assert_eq!(e["operation"], "Update");
    assert_eq!(
        e["fieldsV1"]["f:metadata"]["f:labels"],
        json!({".": {}, "f:app": {}})
    );
    let applied = config(5, "nginx:2", json!([]), json!({"app": "web"}));
    let err = apply(&live, &applied, deploy_meta(), &mgr("ssa"), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn updates_take_ownership_of_what_they_change() {
    let cfg = config(2, "nginx:1", json!([]), json!({"app": "web"}));
    let live = apply(&Value::Null, &cfg, deploy_meta(), &mgr("kubectl"), false)
        .unwrap()
        .object;
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    let out = update(&live, &scaled, deploy_meta(), &mgr("kubectl-scale")).unwrap();
    assert_eq!(
        entry(&out, "kubectl-scale")["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(
        entry(&out, "kubectl")["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    // the applier applying its unchanged config now conflicts on replicas only
    let err = apply(&out, &cfg, deploy_meta(), &mgr("kubectl"), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
    );
    // a manager left with nothing disappears
    let mut back = out.clone();
    back["spec"]["replicas"] = json!(2);
    let out2 = update(&out, &back, deploy_meta(), &mgr("other")).unwrap();
    let names: Vec<&str> = out2["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(names, vec!["kubectl", "other"]);
}

#[test]
fn set_lists_are_owned_per_value_and_atomic_lists_whole() {
    let meta = builtin_patch_meta("", "Pod").unwrap();
    let a = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a/x"]},
        "spec": {"tolerations": [{"key": "k"}], "containers": [{"name": "c", "args": ["1"]}]}});
    let live = apply(&Value::Null, &a, meta, &mgr("one"), false)
        .unwrap()
        .object;
    let fv = &entry(&live, "one")["fieldsV1"];
    assert_eq!(fv["f:metadata"]["f:finalizers"], json!({"v:\"a/x\"": {}}));
    assert_eq!(fv["f:spec"]["f:tolerations"], json!({}));
    assert_eq!(
        fv["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:args"],
        json!({})
    );
    let b = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["b/y"]}});
    let out = apply(&live, &b, meta, &mgr("two"), false).unwrap().object;
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["a/x", "b/y"]),
        "sets merge without conflict"
    );
}

#[test]
fn invalid_configurations() {
    let meta = deploy_meta();
    let with_mf = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "managedFields": [{}]}});
    assert!(
        matches!(apply(&Value::Null, &with_mf, meta, &mgr("m"), false), Err(ApplyError::Invalid(m)) if m.contains("managedFields"))
    );
    let no_kind = json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}});
    assert!(matches!(
        apply(&Value::Null, &no_kind, meta, &mgr("m"), false),
        Err(ApplyError::Invalid(_))
    ));
    let no_key = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [{"image": "i"}]}}}});
    assert!(matches!(
        apply(&Value::Null, &no_key, meta, &mgr("m"), false),
        Err(ApplyError::Invalid(_))
    ));
}

#[test]
fn objects_without_managed_fields_get_before_first_apply() {
    let live = config(1, "i", json!([]), json!({"app": "web"}));
    let applied = config(3, "i", json!([]), json!({"app": "web"}));
    let err = apply(&live, &applied, deploy_meta(), &mgr("m"), false).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"before-first-apply\" using apps/v1: .spec.replicas"),
        "{err}"
    );
}

#[test]
fn crd_schema_supplies_list_types() {
    let schema = crate::schema::OpenApiMeta::from_schema(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"items": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["id"], "items": {"type": "object", "properties": {"id": {"type": "integer"}}}}}}}}));
    let a = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"items": [{"id": 1, "v": "a"}]}});
    let live = apply(&Value::Null, &a, &schema, &mgr("one"), false)
        .unwrap()
        .object;
    let b = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"items": [{"id": 2, "v": "b"}]}});
    let out = apply(&live, &b, &schema, &mgr("two"), false)
        .unwrap()
        .object;
    assert_eq!(
        out["spec"]["items"],
        json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    );
}

#[test]
fn associative_lists_keep_live_only_items_in_place_and_follow_applied_order() {
    let meta = deploy_meta();
    let env = |names: &[&str]| {
        Value::Array(
            names
                .iter()
                .map(|n| json!({"name": n, "value": "v"}))
                .collect(),
        )
    };
    let live_cfg = config(1, "i", env(&["a", "b", "c"]), json!({"app": "web"}));
    let live = apply(&Value::Null, &live_cfg, meta, &mgr("first"), false)
        .unwrap()
        .object;
    let names = |o: &Value| -> Vec<String> {
        o["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // reorder shared items: live-only b keeps its place, shared follow applied order
    let out = apply(
        &live,
        &config(1, "i", env(&["c", "a"]), json!({"app": "web"})),
        meta,
        &mgr("second"),
        false,
    )
    .unwrap()
    .object;
    assert_eq!(names(&out), ["b", "c", "a"]);
    // a new item is inserted where the applied list has it
    let out = apply(
        &live,
        &config(1, "i", env(&["a", "x", "b"]), json!({"app": "web"})),
        meta,
        &mgr("second"),
        false,
    )
    .unwrap()
    .object;
    assert_eq!(names(&out), ["a", "x", "b", "c"]);
}

#[test]
fn ignored_paths_are_neither_merged_nor_owned() {
    let meta = deploy_meta();
    let mut cfg = config(1, "i", json!([]), json!({"app": "web"}));
    cfg["status"] = json!({"replicas": 9});
    let out = apply(&Value::Null, &cfg, meta, &mgr("m"), false)
        .unwrap()
        .object;
    assert!(
        out.get("status").is_none(),
        "status is reset on the main resource"
    );
    assert!(entry(&out, "m")["fieldsV1"].get("f:status").is_none());
    let status_mgr = Manager {
        subresource: Some("status"),
        ignored: &["spec", "metadata.labels"],
        ..mgr("ctl")
    };
    let st = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"x": "y"}},
        "spec": {"replicas": 7}, "status": {"replicas": 1}});
    let out2 = apply(&out, &st, meta, &status_mgr, false).unwrap().object;
    assert_eq!(out2["status"], json!({"replicas": 1}));
    assert_eq!(out2["spec"]["replicas"], 1);
    assert_eq!(out2["metadata"]["labels"], json!({"app": "web"}));
    let e = entry(&out2, "ctl");
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
}

#[test]
fn client_side_to_server_side_migration_via_written_managed_fields() {
    let meta = deploy_meta();
    let v1 = config(
        2,
        "nginx:1",
        json!([{"name": "A", "value": "1"}]),
        json!({"app": "web"}),
    );
    let live = update(&Value::Null, &v1, meta, &mgr("kubectl-client-side-apply")).unwrap();
    // kubectl (csaupgrade) rewrites the entry as an Apply entry of manager "kubectl"
    let mut migrated = live.clone();
    let mf = migrated["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap();
    mf[0]["manager"] = json!("kubectl");
    mf[0]["operation"] = json!("Apply");
    let live = update(&live, &migrated, meta, &mgr("kubectl")).unwrap();
    assert_eq!(
        live["metadata"]["managedFields"].as_array().unwrap().len(),
        1
    );
    assert_eq!(entry(&live, "kubectl")["operation"], "Apply");
    // server-side apply of the same manifest: no conflict with the old client-side manager
    let out = apply(&live, &v1, meta, &mgr("kubectl"), false).unwrap();
    // removing the env var now removes it, as the migrated entry owned it
    let v2 = config(2, "nginx:1", json!([]), json!({"app": "web"}));
    let out2 = apply(&out.object, &v2, meta, &mgr("kubectl"), false)
        .unwrap()
        .object;
    // (the whole `env` field goes: it was owned only through its items, as upstream's
    // EnsureNamedFieldsAreMembers prunes it)
    assert!(
        out2["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none(),
        "{out2}"
    );
    // [{}] resets tracking
    let mut reset = out2.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    assert!(
        update(&out2, &reset, meta, &mgr("x")).unwrap()["metadata"]
            .get("managedFields")
            .is_none()
    );
    // a client that omits managedFields does not erase them
    let mut omitted = out2.clone();
    omitted["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert!(
        update(&out2, &omitted, meta, &mgr("x")).unwrap()["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

#[test]
fn list_map_keys_an_element_omits_take_the_schema_default() {
    // A container port without `protocol` is keyed as `TCP`, and matches the live
    // (defaulted) element.
    let mut live = config(1, "nginx", json!([]), json!({}));
    live["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 80, "protocol": "TCP"}]);
    let mut applied = config(1, "nginx", json!([]), json!({}));
    applied["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 80, "name": "http"}]);
    let out = apply(&live, &applied, deploy_meta(), &mgr("a"), false).unwrap();
    let c = &out.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}])
    );
    let owned = &entry(&out.object, "a")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"nginx\"}"]["f:ports"];
    assert!(
        owned
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some(),
        "{owned}"
    );
    // Without a default the element is rejected, as upstream.
    let crd = crate::schema::OpenApiMeta::from_schema(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"items": {"type": "array",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "kind"],
            "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"type": "string", "default": "A"}}}}}}}}));
    let obj = |items: Value| json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"items": items}});
    let out = apply(
        &Value::Null,
        &obj(json!([{"name": "n"}])),
        &crd,
        &mgr("a"),
        false,
    )
    .unwrap();
    assert_eq!(out.object["spec"]["items"], json!([{"name": "n"}]));
    let err = apply(
        &Value::Null,
        &obj(json!([{"kind": "B"}])),
        &crd,
        &mgr("a"),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Invalid(m) if m.contains("omits key field \"name\"")));
}
