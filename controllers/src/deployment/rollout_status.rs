//! What `kubectl rollout status` concludes from a Deployment (kubectl's
//! `DeploymentStatusViewer.Status`, `polymorphichelpers/rollout_status.go`), so
//! tests can check that the statuses this controller writes drive kubectl to the
//! right answer.

use k8s_openapi::api::apps::v1::Deployment;

use super::conditions::{PROGRESS_DEADLINE_EXCEEDED, PROGRESSING, get_in};
use super::revision::revision;

/// kubectl's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutVerdict {
    /// Still waiting; the message kubectl prints.
    Waiting(String),
    /// `deployment "<name>" successfully rolled out`.
    Done(String),
    /// kubectl exits with this error.
    Failed(String),
}

/// Evaluates `d` as kubectl does; `want_revision > 0` checks the revision
/// annotation first (`--revision`).
pub fn rollout_verdict(d: &Deployment, want_revision: i64) -> RolloutVerdict {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    if want_revision > 0 {
        let rev = revision(d).unwrap_or(0);
        if rev != want_revision {
            return RolloutVerdict::Failed(format!(
                "desired revision ({want_revision}) is different from the running revision ({rev})"
            ));
        }
    }
    let st = d.status.clone().unwrap_or_default();
    if d.metadata.generation.unwrap_or(0) <= st.observed_generation.unwrap_or(0) {
        if get_in(Some(&st), PROGRESSING)
            .is_some_and(|c| c.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED))
        {
            return RolloutVerdict::Failed(format!(
                "deployment {name:?} exceeded its progress deadline"
            ));
        }
        let updated = st.updated_replicas.unwrap_or(0);
        let replicas = st.replicas.unwrap_or(0);
        let available = st.available_replicas.unwrap_or(0);
        if let Some(want) = d.spec.as_ref().and_then(|s| s.replicas)
            && updated < want
        {
            return RolloutVerdict::Waiting(format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated...\n"
            ));
        }
        if replicas > updated {
            return RolloutVerdict::Waiting(format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
                replicas - updated
            ));
        }
        if available < updated {
            return RolloutVerdict::Waiting(format!(
                "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available...\n"
            ));
        }
        return RolloutVerdict::Done(format!("deployment {name:?} successfully rolled out\n"));
    }
    RolloutVerdict::Waiting("Waiting for deployment spec update to be observed...\n".into())
}
