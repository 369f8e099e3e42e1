//! `POST serviceaccounts/{name}/token`: a TokenRequest answered with a token signed for
//! the account, as upstream's `TokenREST.Create` does (the pure parts are
//! [`crate::serviceaccount::token_request`] and [`crate::serviceaccount::claims`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::Cluster;
use super::meta::{new_uid, rfc3339};
use crate::serviceaccount::claims::{BoundObject, Grant, ObjectRef};
use crate::serviceaccount::token_request::{
    Account, BoundKind, BoundRef, EXTENDED_EXPIRATION_SECONDS, answer, check_names,
    extends_expiration, spec_of,
};
use crate::status::ApiError;
use crate::storage::{ResourceKey, StoredObject};

impl Cluster {
    /// Issues a token for the account `ns/name` as the TokenRequest `body` asks, at
    /// `now`: 404 when the account (or the object to bind to) does not exist, 422 for a
    /// lifetime out of range, 400 for an unbindable kind or a pod of another account,
    /// 409 when the bound object's uid is not the one the request names.
    pub fn create_token(
        &self,
        ns: &str,
        name: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        check_names(body, name, ns)?;
        let account = self
            .store
            .get(&ResourceKey::new("", "serviceaccounts"), ns, name)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let tokens = &self.service_accounts.tokens;
        let mut spec = spec_of(body)?;
        if spec.audiences.is_empty() {
            spec.audiences = tokens.audiences().to_vec();
        }
        let bound = match &spec.bound {
            Some(r) => Some(self.bound_object(ns, name, r)?),
            None => None,
        };
        let (lifetime, warn_after) = if extends_expiration(&spec, tokens.audiences()) {
            (EXTENDED_EXPIRATION_SECONDS, Some(spec.expiration_seconds))
        } else {
            (spec.expiration_seconds, None)
        };
        let grant = Grant {
            issuer: tokens.issuer().to_string(),
            namespace: ns.to_string(),
            account: ObjectRef::new(name, &account.uid),
            bound,
            audiences: spec.audiences.clone(),
            expiration_seconds: lifetime,
            warn_after_seconds: warn_after,
            jti: new_uid(),
        };
        let token = tokens
            .sign(&grant.claims(now.timestamp()))
            .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
        let expires = now + Duration::seconds(spec.expiration_seconds);
        Ok(answer(
            body,
            Account {
                namespace: ns,
                name,
                uid: &account.uid,
            },
            &spec,
            &rfc3339(now),
            &token,
            &rfc3339(expires),
        ))
    }

    /// The object a token for `account` is to be bound to, as found in the store.
    fn bound_object(&self, ns: &str, account: &str, r: &BoundRef) -> Result<BoundObject, ApiError> {
        let ns_of = |kind: BoundKind| if kind == BoundKind::Node { "" } else { ns };
        let get = |kind: BoundKind, name: &str| -> Result<StoredObject, ApiError> {
            self.store
                .get(&ResourceKey::new("", kind.resource()), ns_of(kind), name)
                .ok_or_else(|| ApiError::not_found("", kind.resource(), name))
        };
        let obj = get(r.kind, &r.name)?;
        let this = ObjectRef::new(&r.name, &obj.uid);
        let bound = match r.kind {
            BoundKind::Pod => {
                let pod = obj.value()?;
                let runs_as = pod
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if runs_as != account {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
                    )));
                }
                let node = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .map(|n| match get(BoundKind::Node, n) {
                        Ok(node) => ObjectRef::new(n, &node.uid),
                        // An unknown node is still named, as upstream does.
                        Err(_) => ObjectRef::new(n, ""),
                    });
                BoundObject::Pod { pod: this, node }
            }
            BoundKind::Secret => BoundObject::Secret(this),
            BoundKind::Node => BoundObject::Node(this),
        };
        if !r.uid.is_empty() && r.uid != obj.uid {
            return Err(ApiError::conflict_msg(
                "",
                r.kind.as_str(),
                &r.name,
                &format!(
                    "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                    r.uid
                ),
            ));
        }
        Ok(bound)
    }
}
