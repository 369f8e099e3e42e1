//! The shell of [`crate::aggregator`]: APIServices registered for the served
//! group-versions and CRDs, and their availability written into their status.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::now_rfc3339;
use super::{Cluster, DeleteOptions, WriteOptions};
use crate::aggregator::availability::{Backend, available_condition, with_condition};
use crate::aggregator::priorities::AGGREGATOR_GROUP;
use crate::aggregator::registration::{self, Action, Pass};
use crate::json::{at, str_at};
use crate::kinds::Subresource;
use crate::status::ApiError;

/// The field manager of the server's APIService writes.
const MANAGER: &str = "kube-apiserver";

/// The EndpointSlice label naming the Service a slice belongs to.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

impl Cluster {
    /// Brings the stored APIServices in line with what is served (autoregister and
    /// crdregistration, see [`registration::plan`]): at [`Pass::Start`] the built-in
    /// group-versions' too, afterwards only the CRDs'.
    pub fn sync_apiservices(&self, pass: Pass) -> Result<(), ApiError> {
        let apiservices = self.served_kind(AGGREGATOR_GROUP, "v1", "apiservices")?;
        let crds = self.served_kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
        let builtin: BTreeSet<(String, String)> = self
            .registry
            .all()
            .iter()
            .filter(|k| !k.is_custom())
            .map(|k| (k.group.clone(), k.version.clone()))
            .collect();
        let mut desired =
            registration::local_apiservices(builtin.iter().map(|(g, v)| (g.as_str(), v.as_str())));
        desired.extend(registration::crd_apiservices(
            &self.list_values(&crds, None)?,
            &builtin,
        ));
        let existing = self.list_values(&apiservices, None)?;
        let opts = WriteOptions::server(MANAGER);
        for action in registration::plan(&desired, &existing, pass) {
            let done = match action {
                Action::Create(obj) => self.create(&apiservices, "", obj, &opts).map(drop),
                Action::SetSpec { name, spec } => self
                    .update_with(&apiservices, "", &name, None, &opts, |cur| {
                        let mut next = cur.clone();
                        next["spec"] = spec.clone();
                        Ok(next)
                    })
                    .map(drop),
                Action::Delete(name) => self
                    .delete(&apiservices, "", &name, &DeleteOptions::default())
                    .map(drop),
            };
            match done {
                // Another writer got there first; the next pass sees its result.
                Err(e) if e.code == 404 || e.code == 409 => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Writes the `Available` condition of every APIService (only `name` when given) as
    /// [`available_condition`] judges it now, where it changed.
    pub fn refresh_apiservice_availability(&self, name: Option<&str>) -> Result<(), ApiError> {
        let apiservices = self.served_kind(AGGREGATOR_GROUP, "v1", "apiservices")?;
        let services = self.served_kind("", "v1", "services")?;
        let slices = self.served_kind("discovery.k8s.io", "v1", "endpointslices")?;
        let now = now_rfc3339();
        let opts = WriteOptions::server(MANAGER);
        for apiservice in self.list_values(&apiservices, None)? {
            let this = str_at(&apiservice, &["metadata", "name"]).to_string();
            if name.is_some_and(|n| n != this) {
                continue;
            }
            let svc_ref = at(&apiservice, &["spec", "service"]);
            let (service, backing) = match svc_ref.as_object() {
                Some(_) => {
                    let ns = str_at(svc_ref, &["namespace"]);
                    let svc = str_at(svc_ref, &["name"]);
                    let service = match self.get(&services, ns, svc) {
                        Ok(o) => Some(o.value()?),
                        Err(e) if e.code == 404 => None,
                        Err(e) => return Err(e),
                    };
                    let owned =
                        self.store
                            .list(&super::key_of(&slices), Some(ns), None, None, &|o| {
                                o.labels
                                    .iter()
                                    .any(|(k, v)| k == SERVICE_NAME_LABEL && v == svc)
                            });
                    let values = owned
                        .items
                        .iter()
                        .map(|o| o.value())
                        .collect::<Result<Vec<Value>, ApiError>>()?;
                    (service, values)
                }
                None => (None, Vec::new()),
            };
            let cond = available_condition(
                &apiservice,
                Backend {
                    service: service.as_ref(),
                    slices: &backing,
                },
                &now,
            );
            if with_condition(at(&apiservice, &["status"]), &cond) == *at(&apiservice, &["status"])
            {
                continue;
            }
            let written = self.update_with(
                &apiservices,
                "",
                &this,
                Some(Subresource::Status),
                &opts,
                |cur| {
                    let mut next = cur.clone();
                    next["status"] = with_condition(at(cur, &["status"]), &cond);
                    Ok(next)
                },
            );
            match written {
                Err(e) if e.code == 404 => {}
                other => drop(other?),
            }
        }
        Ok(())
    }
}
