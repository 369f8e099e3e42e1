//! `capstan controllers`: the controller table as YAML — each controller's upstream
//! name and alias, whether `*` enables it, its `--concurrent-*-syncs` flag, its informers
//! and the RBAC rules it needs. The Helm chart's controller-manager ClusterRole is built
//! from this list (`charts/capstan/files/controllers.yaml`), so it grants exactly what
//! the enabled controllers use.

use std::path::PathBuf;

use anyhow::{Context, Result};
use capstan_controllers::manager::{CONTROLLERS, ControllerDescriptor};
use clap::Args;
use serde::Serialize;

/// Where the chart keeps the list, from the repository root.
pub const CHART_FILE: &str = "charts/capstan/files/controllers.yaml";

/// Flags of `capstan controllers`.
#[derive(Debug, Args)]
pub struct ControllersArgs {
    /// File to write the list to (the chart's is `charts/capstan/files/controllers.yaml`);
    /// stdout when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The list as the chart reads it.
#[derive(Serialize)]
struct List {
    controllers: Vec<Entry>,
}

/// One controller as the chart reads it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: &'static str,
    alias: &'static str,
    enabled_by_default: bool,
    concurrent_syncs: Option<Flag>,
    informers: Vec<Informer>,
    rules: Vec<Rule>,
}

/// A `--concurrent-*-syncs` flag and its default.
#[derive(Serialize)]
struct Flag {
    flag: &'static str,
    default: usize,
}

/// A shared informer.
#[derive(Serialize)]
struct Informer {
    group: &'static str,
    resource: &'static str,
    kind: &'static str,
}

/// An RBAC `PolicyRule`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    api_groups: [&'static str; 1],
    resources: [String; 1],
    verbs: &'static [&'static str],
}

fn entry(c: &ControllerDescriptor) -> Entry {
    Entry {
        name: c.name,
        alias: c.alias,
        enabled_by_default: c.enabled_by_default,
        concurrent_syncs: c.concurrent_syncs.map(|f| Flag {
            flag: f.name,
            default: f.default,
        }),
        informers: c
            .informers
            .iter()
            .map(|i| Informer {
                group: i.group,
                resource: i.resource,
                kind: i.kind,
            })
            .collect(),
        rules: c
            .permissions
            .iter()
            .map(|p| Rule {
                api_groups: [p.group],
                resources: [p.rbac_resource().into_owned()],
                verbs: p.verbs,
            })
            .collect(),
    }
}

/// The list as YAML, with a header saying where it comes from.
pub fn render() -> Result<String> {
    let list = List {
        controllers: CONTROLLERS.iter().map(entry).collect(),
    };
    let yaml = serde_yaml::to_string(&list).context("rendering the controller list")?;
    Ok(format!(
        "# The controllers capstan can run, generated from the controller table\n\
         # (controllers/src/manager.rs) by `capstan controllers --out {CHART_FILE}`:\n\
         # do not edit. The controller-manager's ClusterRole grants the rules of the\n\
         # enabled ones.\n{yaml}"
    ))
}

/// Prints or writes the list.
pub fn run(args: ControllersArgs) -> Result<()> {
    let yaml = render()?;
    match args.out {
        None => print!("{yaml}"),
        Some(path) => {
            std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The list reads back with every controller, its flag and its rules.
    #[test]
    fn the_list_carries_every_controller_and_rule() {
        let text = render().expect("renders");
        let list: Value = serde_yaml::from_str(&text).expect("YAML");
        let entries = list["controllers"].as_array().expect("controllers");
        assert_eq!(entries.len(), CONTROLLERS.len());
        for (e, c) in entries.iter().zip(CONTROLLERS) {
            assert_eq!(e["name"], c.name);
            assert_eq!(e["alias"], c.alias);
            assert_eq!(e["enabledByDefault"], c.enabled_by_default);
            match c.concurrent_syncs {
                Some(f) => {
                    assert_eq!(e["concurrentSyncs"]["flag"], f.name);
                    assert_eq!(e["concurrentSyncs"]["default"], f.default);
                }
                None => assert!(e["concurrentSyncs"].is_null()),
            }
            let rules = e["rules"].as_array().expect("rules");
            assert_eq!(rules.len(), c.permissions.len(), "{}", c.name);
            for (r, p) in rules.iter().zip(c.permissions) {
                assert_eq!(r["apiGroups"], json!([p.group]));
                assert_eq!(r["resources"], json!([p.rbac_resource()]));
                assert_eq!(r["verbs"], json!(p.verbs));
            }
        }
    }
}
