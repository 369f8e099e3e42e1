//! Discovery of the namespaced resources a namespace's content can be deleted
//! through (upstream `ServerPreferredNamespacedResources` filtered to the
//! `delete` verb): the preferred version of every group, top-level resources
//! only, with whether `list` and `deletecollection` are served. Groups whose
//! discovery fails are reported beside the ones that worked, as upstream's
//! `ErrGroupDiscoveryFailed`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;

use super::conditions::Gvr;
use super::content::parse_group_version;

/// A namespaced resource whose objects can be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletableResource {
    /// Its group/version/resource.
    pub gvr: Gvr,
    /// Its kind.
    pub kind: String,
    /// Whether `list` is served.
    pub list: bool,
    /// Whether `deletecollection` is served.
    pub delete_collection: bool,
}

/// The outcome of one discovery: what was found, and what failed.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// The deletable namespaced resources of the groups that answered.
    pub resources: Vec<DeletableResource>,
    /// Group versions whose resources could not be read, with the error.
    pub failed_groups: Vec<(String, String)>,
    /// Discovery failed as a whole (the group list itself).
    pub failed: Option<String>,
    /// Group versions that did not parse.
    pub unparsable: Vec<String>,
}

impl Discovered {
    /// The discovery error as upstream prints it, if any, with the number of
    /// failing groups when the failure was partial.
    pub fn error(&self) -> Option<(Option<usize>, String)> {
        if let Some(e) = &self.failed {
            return Some((None, e.clone()));
        }
        if self.failed_groups.is_empty() {
            return None;
        }
        let mut parts: Vec<String> = self
            .failed_groups
            .iter()
            .map(|(gv, e)| format!("{gv}: {e}"))
            .collect();
        parts.sort();
        Some((
            Some(self.failed_groups.len()),
            format!(
                "unable to retrieve the complete list of server APIs: {}",
                parts.join(", ")
            ),
        ))
    }
}

/// The deletable namespaced top-level resources of one discovery document;
/// `Err` when its group version does not parse.
pub fn deletable_resources(list: &APIResourceList) -> Result<Vec<DeletableResource>, String> {
    let (group, version) = parse_group_version(&list.group_version)?;
    Ok(list
        .resources
        .iter()
        .filter(|r| r.namespaced && !r.name.contains('/'))
        .filter(|r| r.verbs.iter().any(|v| v == "delete"))
        .map(|r| DeletableResource {
            gvr: Gvr::new(&group, &version, &r.name),
            kind: r.kind.clone(),
            list: r.verbs.iter().any(|v| v == "list"),
            delete_collection: r.verbs.iter().any(|v| v == "deletecollection"),
        })
        .collect())
}

/// Discovers the deletable namespaced resources of the preferred version of
/// every served group.
pub async fn discover(client: &Client) -> Discovered {
    let mut out = Discovered::default();
    let mut versions = Vec::new();
    match client.list_core_api_versions().await {
        Ok(core) => {
            if let Some(v) = core.versions.first() {
                versions.push(v.clone());
            }
        }
        Err(e) => {
            out.failed = Some(e.to_string());
            return out;
        }
    }
    match client.list_api_groups().await {
        Ok(groups) => {
            for g in groups.groups {
                let preferred = g
                    .preferred_version
                    .map(|p| p.group_version)
                    .or_else(|| g.versions.first().map(|v| v.group_version.clone()));
                if let Some(gv) = preferred {
                    versions.push(gv);
                }
            }
        }
        Err(e) => {
            out.failed = Some(e.to_string());
            return out;
        }
    }
    for gv in versions {
        let list = if gv.contains('/') {
            client.list_api_group_resources(&gv).await
        } else {
            client.list_core_api_resources(&gv).await
        };
        match list {
            Ok(mut list) => {
                if list.group_version.is_empty() {
                    list.group_version = gv.clone();
                }
                match deletable_resources(&list) {
                    Ok(found) => out.resources.extend(found),
                    Err(e) => out.unparsable.push(e),
                }
            }
            Err(e) => out.failed_groups.push((gv, e.to_string())),
        }
    }
    out
}
