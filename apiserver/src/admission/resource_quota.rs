//! `ResourceQuota`: every write to a namespaced resource checked against the
//! namespace's quotas and charged to them (apiserver's `resourcequota` plugin, over
//! [`capstan_quota::check_request`]). It runs under the store's write lock with the
//! write itself, so the quotas read are current and their new `status.used` is
//! committed with the object or not at all — what upstream's compare-and-swap on the
//! quota status achieves. A namespace without quotas costs one lookup in the
//! namespace-ordered quota table.

use capstan_quota::resources::to_api;
use capstan_quota::{Evaluator, Item};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{Operation, decode};
use crate::kinds::KindInfo;
use crate::ops::meta::meta_str;
use crate::status::ApiError;
use crate::storage::{Companion, ResourceKey, View};

fn key() -> ResourceKey {
    ResourceKey::new("", "resourcequotas")
}

/// An object decoded as its evaluator reads it.
enum Decoded {
    Pod(Box<Pod>),
    Service(Box<Service>),
    Claim(Box<PersistentVolumeClaim>),
    Counted,
}

impl Decoded {
    fn of(evaluator: &Evaluator, v: &Value) -> Result<Decoded, ApiError> {
        Ok(match evaluator {
            Evaluator::Pods => Decoded::Pod(decode(v)?),
            Evaluator::Services => Decoded::Service(decode(v)?),
            Evaluator::PersistentVolumeClaims => Decoded::Claim(decode(v)?),
            Evaluator::ObjectCount { .. } => Decoded::Counted,
        })
    }

    fn item(&self) -> Item<'_> {
        match self {
            Decoded::Pod(p) => Item::Pod(p),
            Decoded::Service(s) => Item::Service(s),
            Decoded::Claim(c) => Item::Claim(c),
            Decoded::Counted => Item::Counted,
        }
    }
}

/// Checks a create or update of `new` (`old` on updates) against the namespace's
/// quotas: a 403 with upstream's message when it does not fit, else the quotas whose
/// `status.used` it raises, to be committed with it.
pub(super) fn charge(
    view: &View<'_>,
    kind: &KindInfo,
    op: Operation,
    new: &Value,
    old: Option<&Value>,
    now: Timestamp,
) -> Result<Vec<Companion>, ApiError> {
    if !kind.namespaced {
        return Ok(Vec::new());
    }
    let ns = meta_str(new, "namespace").unwrap_or("");
    let stored: Vec<_> = view.in_namespace(&key(), ns).collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let values = stored
        .iter()
        .map(|s| s.value())
        .collect::<Result<Vec<Value>, _>>()?;
    let quotas = values
        .iter()
        .map(decode::<ResourceQuota>)
        .collect::<Result<Vec<_>, _>>()?;
    let evaluator = Evaluator::for_resource(&kind.group, &kind.plural);
    let new_item = Decoded::of(&evaluator, new)?;
    let old_item = old.map(|o| Decoded::of(&evaluator, o)).transpose()?;
    let op = match op {
        Operation::Create => capstan_quota::Operation::Create,
        Operation::Update => capstan_quota::Operation::Update,
        // A deletion charges nothing; the controller gives its usage back.
        Operation::Delete => return Ok(Vec::new()),
    };
    let charges = capstan_quota::check_request(
        &quotas,
        &evaluator,
        op,
        &new_item.item(),
        old_item.as_ref().map(Decoded::item).as_ref(),
        now,
    )
    .map_err(|refusal| {
        let name = meta_str(new, "name").unwrap_or("");
        ApiError::forbidden(&kind.group, &kind.plural, name, &refusal.0)
    })?;
    Ok(charges
        .into_iter()
        .map(|c| {
            let mut quota = values[c.index].clone();
            if let Some(o) = quota.as_object_mut() {
                let status = o.entry("status").or_insert_with(|| json!({}));
                status["used"] = json!(to_api(&c.used));
            }
            Companion {
                key: key(),
                namespace: ns.to_string(),
                name: stored[c.index].name.clone(),
                object: quota,
            }
        })
        .collect())
}
