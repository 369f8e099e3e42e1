//! Pure decisions of a namespace's content deletion (upstream
//! `namespaced_resources_deleter.go`): how long pods may still take, what a
//! resource type's leftovers mean, when to look again, and the namespace's
//! finalizers once its content is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use super::conditions::Gvr;

/// The finalizer token the namespace controller owns in `spec.finalizers`.
pub const FINALIZER_TOKEN: &str = "kubernetes";

/// How long objects held by finalizers are assumed to need (upstream
/// `finalizerEstimateSeconds`).
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// A pod as the graceful-termination estimate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodGrace {
    /// `status.phase`.
    pub phase: Option<String>,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_seconds: Option<i64>,
}

/// Upstream `estimateGracefulTermination` for pods: the longest grace period of
/// a non-terminal pod, or 0 once that much time has passed since the namespace's
/// deletion (`elapsed_seconds`).
pub fn estimate_pod_termination(pods: &[PodGrace], elapsed_seconds: i64) -> i64 {
    let estimate = pods
        .iter()
        .filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded" | "Failed")))
        .filter_map(|p| p.grace_seconds)
        .fold(0, i64::max);
    if elapsed_seconds >= estimate {
        0
    } else {
        estimate
    }
}

/// What is left of one resource type after its deletion (upstream
/// `gvrDeletionMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GvrRemaining {
    /// Seconds the remaining objects are expected to need.
    pub estimate: i64,
    /// How many objects remain.
    pub remaining: usize,
    /// Remaining objects per finalizer they carry.
    pub finalizers: BTreeMap<String, usize>,
}

/// The leftovers of `gvr` in `namespace` after a deletion, given each
/// remaining object's finalizers and the graceful-termination `estimate`.
/// Objects that remain with no finalizer and no estimate are unexpected: they
/// come back as the error upstream reports (`Err` carries the partial metadata
/// and the message).
pub fn judge_remaining(
    gvr: &Gvr,
    namespace: &str,
    estimate: i64,
    remaining: &[Vec<String>],
) -> Result<GvrRemaining, (GvrRemaining, String)> {
    let mut finalizers = BTreeMap::new();
    for f in remaining.iter().flatten() {
        *finalizers.entry(f.clone()).or_insert(0) += 1;
    }
    if estimate != 0 {
        return Ok(GvrRemaining {
            estimate,
            remaining: remaining.len(),
            finalizers,
        });
    }
    if !finalizers.is_empty() {
        return Ok(GvrRemaining {
            estimate: FINALIZER_ESTIMATE_SECONDS,
            remaining: remaining.len(),
            finalizers,
        });
    }
    let meta = GvrRemaining {
        estimate,
        remaining: remaining.len(),
        finalizers: BTreeMap::new(),
    };
    if remaining.is_empty() {
        Ok(meta)
    } else {
        Err((
            meta,
            format!("unexpected items still remain in namespace: {namespace} for gvr: {gvr}"),
        ))
    }
}

/// When to look at a namespace again while content remains (upstream's worker:
/// `estimate/2 + 1` seconds).
pub fn requeue_after(estimate: i64) -> Duration {
    Duration::from_secs((estimate.max(0) / 2 + 1) as u64)
}

/// `spec.finalizers` without [`FINALIZER_TOKEN`], sorted and deduplicated as
/// upstream's `finalizeNamespace` leaves them; `None` when the token is not
/// there (the namespace is already finalized by us).
pub fn finalized_spec(finalizers: &[String]) -> Option<Vec<String>> {
    if !finalizers.iter().any(|f| f == FINALIZER_TOKEN) {
        return None;
    }
    let mut rest: Vec<String> = finalizers
        .iter()
        .filter(|f| *f != FINALIZER_TOKEN)
        .cloned()
        .collect();
    rest.sort();
    rest.dedup();
    Some(rest)
}

/// Parses a discovery `groupVersion` (upstream `schema.ParseGroupVersion`):
/// `v1` is the core group, `group/version` otherwise.
pub fn parse_group_version(gv: &str) -> Result<(String, String), String> {
    if gv.is_empty() || gv == "/" {
        return Ok((String::new(), String::new()));
    }
    match gv.split('/').collect::<Vec<_>>()[..] {
        [v] => Ok((String::new(), v.to_string())),
        [g, v] => Ok((g.to_string(), v.to_string())),
        _ => Err(format!("unexpected GroupVersion string: {gv}")),
    }
}
