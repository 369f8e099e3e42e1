//! Which APIServices should exist and what to do about the ones that do: kube-aggregator's
//! autoregister controller (`checkAPIService`) fed by kube-apiserver's local group-versions
//! (synced once, at start) and by upstream's crdregistration controller (a CRD's served
//! group-versions, synced continuously). Pure: the caller lists, this plans.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::priorities::{CRD_GROUP_PRIORITY_MINIMUM, CRD_VERSION_PRIORITY, local_priority};
use crate::json::{array_at, at, str_at};

/// The label marking an APIService the server manages.
pub const MANAGED_LABEL: &str = "kube-aggregator.kubernetes.io/automanaged";

/// How the server manages an APIService (the value of [`MANAGED_LABEL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Management {
    /// `onstart`: written when the server starts, then left to users (a built-in
    /// group-version's).
    OnStart,
    /// `true`: kept as desired, recreated when deleted, deleted when no longer desired
    /// (a CRD's group-version).
    Continuous,
}

impl Management {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Management::OnStart => "onstart",
            Management::Continuous => "true",
        }
    }

    fn of(apiservice: &Value) -> Option<Management> {
        match str_at(apiservice, &["metadata", "labels", MANAGED_LABEL]) {
            "onstart" => Some(Management::OnStart),
            "true" => Some(Management::Continuous),
            _ => None,
        }
    }
}

/// An APIService the server wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The group (empty for the core group).
    pub group: String,
    /// The version.
    pub version: String,
    /// `spec.groupPriorityMinimum`.
    pub group_priority_minimum: i32,
    /// `spec.versionPriority`.
    pub version_priority: i32,
    /// How it is kept.
    pub management: Management,
}

/// An APIService's name: `<version>.<group>` (`v1.` for the core group).
pub fn apiservice_name(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

impl Desired {
    /// Its name.
    pub fn name(&self) -> String {
        apiservice_name(&self.group, &self.version)
    }

    /// Its spec, as Go writes it (an empty group left out); no `service`: served locally.
    pub fn spec(&self) -> Value {
        let mut spec = Map::new();
        if !self.group.is_empty() {
            spec.insert("group".into(), json!(self.group));
        }
        spec.insert("version".into(), json!(self.version));
        spec.insert(
            "groupPriorityMinimum".into(),
            json!(self.group_priority_minimum),
        );
        spec.insert("versionPriority".into(), json!(self.version_priority));
        Value::Object(spec)
    }

    /// The object to create.
    pub fn object(&self) -> Value {
        json!({
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {
                "name": self.name(),
                "labels": {MANAGED_LABEL: self.management.label()},
            },
            "spec": self.spec(),
        })
    }
}

/// The local APIServices of the built-in group-versions served (`(group, version)`
/// pairs), each with upstream's priorities; group-versions upstream has none for are
/// skipped, as upstream skips them.
pub fn local_apiservices<'a>(served: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Desired> {
    let mut out: Vec<Desired> = served
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|(group, version)| {
            let (gp, vp) = local_priority(group, version)?;
            Some(Desired {
                group: group.to_string(),
                version: version.to_string(),
                group_priority_minimum: gp,
                version_priority: vp,
                management: Management::OnStart,
            })
        })
        .collect();
    out.sort_by_key(Desired::name);
    out
}

/// The APIServices of the group-versions `crds` serve (any CRD of the group with the
/// version `served`), except those already served by `builtin` group-versions.
pub fn crd_apiservices(crds: &[Value], builtin: &BTreeSet<(String, String)>) -> Vec<Desired> {
    let mut served = BTreeSet::new();
    for crd in crds {
        let group = str_at(crd, &["spec", "group"]);
        for v in array_at(crd, &["spec", "versions"]) {
            let version = str_at(v, &["name"]);
            let key = (group.to_string(), version.to_string());
            if group.is_empty()
                || version.is_empty()
                || at(v, &["served"]).as_bool() != Some(true)
                || builtin.contains(&key)
            {
                continue;
            }
            served.insert(key);
        }
    }
    served
        .into_iter()
        .map(|(group, version)| Desired {
            group,
            version,
            group_priority_minimum: CRD_GROUP_PRIORITY_MINIMUM,
            version_priority: CRD_VERSION_PRIORITY,
            management: Management::Continuous,
        })
        .collect()
}

/// When a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The server starts: `onstart` APIServices are written (once).
    Start,
    /// Later: only `true` APIServices are kept in line.
    Running,
}

/// A write a sync needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this APIService.
    Create(Value),
    /// Replace the spec of the named APIService.
    SetSpec {
        /// The APIService.
        name: String,
        /// Its new spec.
        spec: Value,
    },
    /// Delete the named APIService.
    Delete(String),
}

/// What makes the stored APIServices (`existing`) what `desired` says, following
/// autoregister's table: an APIService without [`MANAGED_LABEL`] is the user's and left
/// alone; an `onstart` one is only touched on [`Pass::Start`]; a `true` one is created,
/// corrected and deleted as `desired` says.
pub fn plan(desired: &[Desired], existing: &[Value], pass: Pass) -> Vec<Action> {
    let by_name: BTreeMap<&str, &Value> = existing
        .iter()
        .map(|a| (str_at(a, &["metadata", "name"]), a))
        .collect();
    let mut actions = Vec::new();
    let mut wanted = BTreeSet::new();
    for d in desired {
        let name = d.name();
        let touch = d.management == Management::Continuous || pass == Pass::Start;
        match by_name.get(name.as_str()) {
            None if touch => actions.push(Action::Create(d.object())),
            Some(cur) if touch => {
                let managed = Management::of(cur);
                let fresh = managed == Some(Management::Continuous) || pass == Pass::Start;
                if managed.is_some() && fresh && at(cur, &["spec"]) != &d.spec() {
                    actions.push(Action::SetSpec {
                        name: name.clone(),
                        spec: d.spec(),
                    });
                }
            }
            _ => {}
        }
        wanted.insert(name);
    }
    for (name, cur) in &by_name {
        if wanted.contains(*name) {
            continue;
        }
        match Management::of(cur) {
            Some(Management::Continuous) => actions.push(Action::Delete(name.to_string())),
            Some(Management::OnStart) if pass == Pass::Start => {
                actions.push(Action::Delete(name.to_string()))
            }
            _ => {}
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str, label: Option<&str>, spec: Value) -> Value {
        let mut obj = json!({"metadata": {"name": name}, "spec": spec});
        if let Some(l) = label {
            obj["metadata"]["labels"] = json!({MANAGED_LABEL: l});
        }
        obj
    }

    fn crd(group: &str, versions: &[(&str, bool)]) -> Value {
        let versions: Vec<Value> = versions
            .iter()
            .map(|(name, served)| json!({"name": name, "served": served, "storage": false}))
            .collect();
        json!({"spec": {"group": group, "versions": versions}})
    }

    #[test]
    fn local_apiservices_carry_upstreams_names_and_priorities() {
        let local = local_apiservices([
            ("", "v1"),
            ("apps", "v1"),
            ("apps", "v1"),
            ("apiregistration.k8s.io", "v1"),
        ]);
        let names: Vec<String> = local.iter().map(Desired::name).collect();
        assert_eq!(names, ["v1.", "v1.apps"]);
        assert_eq!(
            local[0].object(),
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                   "metadata": {"name": "v1.", "labels": {MANAGED_LABEL: "onstart"}},
                   "spec": {"version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}})
        );
        assert_eq!(
            local[1].spec(),
            json!({"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15})
        );
    }

    #[test]
    fn crd_group_versions_are_the_served_ones_not_built_in() {
        let builtin: BTreeSet<(String, String)> = [("apps".to_string(), "v1".to_string())].into();
        let crds = [
            crd("example.com", &[("v1", true), ("v1beta1", false)]),
            crd("example.com", &[("v1", true), ("v2", true)]),
            crd("apps", &[("v1", true)]),
        ];
        let desired = crd_apiservices(&crds, &builtin);
        let names: Vec<String> = desired.iter().map(Desired::name).collect();
        assert_eq!(names, ["v1.example.com", "v2.example.com"]);
        assert!(
            desired
                .iter()
                .all(|d| d.management == Management::Continuous
                    && d.group_priority_minimum == 1000
                    && d.version_priority == 100)
        );
    }

    #[test]
    fn plans_follow_autoregisters_table() {
        let apps = local_apiservices([("apps", "v1")]).remove(0);
        let widgets =
            crd_apiservices(&[crd("example.com", &[("v1", true)])], &BTreeSet::new()).remove(0);
        let desired = [apps.clone(), widgets.clone()];
        // Start: both created; running: only the CRD's (a deleted onstart one stays gone).
        assert_eq!(
            plan(&desired, &[], Pass::Start),
            [
                Action::Create(apps.object()),
                Action::Create(widgets.object())
            ]
        );
        assert_eq!(
            plan(&desired, &[], Pass::Running),
            [Action::Create(widgets.object())]
        );
        // A managed APIService whose spec drifted is corrected (onstart only at start);
        // a user's own APIService of the same name is left alone.
        let drifted = json!({"group": "apps", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1});
        let existing = [
            stored("v1.apps", Some("onstart"), drifted.clone()),
            stored("v1.example.com", None, json!({})),
        ];
        assert_eq!(
            plan(&desired, &existing, Pass::Start),
            [Action::SetSpec {
                name: "v1.apps".into(),
                spec: apps.spec()
            }]
        );
        assert!(plan(&desired, &existing, Pass::Running).is_empty());
        let existing = [stored("v1.example.com", Some("true"), drifted)];
        assert_eq!(
            plan(std::slice::from_ref(&widgets), &existing, Pass::Running),
            [Action::SetSpec {
                name: "v1.example.com".into(),
                spec: widgets.spec()
            }]
        );
        // No longer desired: a CRD's goes at once, an onstart one only at start, a
        // user's never.
        let existing = [
            stored("v1.example.com", Some("true"), widgets.spec()),
            stored("v1.gone", Some("onstart"), json!({})),
            stored("v1.mine", None, json!({})),
        ];
        assert_eq!(
            plan(&[], &existing, Pass::Running),
            [Action::Delete("v1.example.com".into())]
        );
        assert_eq!(
            plan(&[], &existing, Pass::Start),
            [
                Action::Delete("v1.example.com".into()),
                Action::Delete("v1.gone".into())
            ]
        );
    }
}
