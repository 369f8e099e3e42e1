//! What an API error means, decided as apimachinery's `pkg/api/errors` does
//! (`errors.IsNotFound(err)`, `errors.IsConflict(err)`, …), for `kube::Error`.
//!
//! Each check looks at the `Status` the API server answered with: its `reason`
//! first, and its HTTP `code` only when the reason is not one the API defines
//! (an aggregated server or a proxy may answer a bare 404). So an `AlreadyExists`
//! (409) is not a conflict, and an `Expired` (410) is not "gone", exactly as
//! upstream decides. Errors that never reached the server (transport, decoding)
//! match nothing.

use kube::core::Status;
use kube::core::response::reason;

/// The `Status` the API server answered with, if `err` is an API error.
pub fn status(err: &kube::Error) -> Option<&Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// The text upstream's `err.Error()` gives, for Events and conditions: the API
/// server's message for an API error (`pods "p" is forbidden: exceeded quota…`),
/// the error's own text otherwise or when the server sent no message.
pub fn message(err: &kube::Error) -> String {
    match status(err) {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => err.to_string(),
    }
}

/// True when the status has `want` as its reason, or an unknown reason and `code`
/// (apimachinery's `reason == X || (!knownReasons[reason] && code == C)`).
fn reason_or_code(err: &kube::Error, want: &str, code: u16) -> bool {
    status(err)
        .is_some_and(|s| s.reason == want || (!reason::is_known(&s.reason) && s.code == code))
}

/// True when the status has exactly `want` as its reason.
fn has_reason(err: &kube::Error, want: &str) -> bool {
    status(err).is_some_and(|s| s.reason == want)
}

/// The object (or the resource) does not exist: `NotFound`, or a 404 with no known
/// reason (upstream `IsNotFound`).
pub fn is_not_found(err: &kube::Error) -> bool {
    reason_or_code(err, reason::NOT_FOUND, 404)
}

/// A create found an object of that name already there: `AlreadyExists`, by reason
/// only — its code, 409, is shared with conflicts (upstream `IsAlreadyExists`).
pub fn is_already_exists(err: &kube::Error) -> bool {
    has_reason(err, reason::ALREADY_EXISTS)
}

/// A write lost an optimistic-concurrency race (stale `resourceVersion`, or a
/// field-manager conflict): `Conflict`, or a 409 with no known reason (upstream
/// `IsConflict`). Re-read and retry.
pub fn is_conflict(err: &kube::Error) -> bool {
    reason_or_code(err, reason::CONFLICT, 409)
}

/// The object failed validation: `Invalid`, or a 422 with no known reason (upstream
/// `IsInvalid`).
pub fn is_invalid(err: &kube::Error) -> bool {
    reason_or_code(err, reason::INVALID, 422)
}

/// The request was refused by authorization or admission (a quota, a terminating
/// namespace): `Forbidden`, or a 403 with no known reason (upstream `IsForbidden`).
pub fn is_forbidden(err: &kube::Error) -> bool {
    reason_or_code(err, reason::FORBIDDEN, 403)
}

/// The resource is no longer available: `Gone`, or a 410 with no known reason
/// (upstream `IsGone`). A too-old `resourceVersion` is [`is_resource_expired`].
pub fn is_gone(err: &kube::Error) -> bool {
    reason_or_code(err, reason::GONE, 410)
}

/// The requested `resourceVersion` is too old to list or watch from: `Expired`
/// (upstream `IsResourceExpired`); relist.
pub fn is_resource_expired(err: &kube::Error) -> bool {
    has_reason(err, reason::EXPIRED)
}

/// The verb is not served for the resource: `MethodNotAllowed`, or a 405 with no
/// known reason (upstream `IsMethodNotSupported`).
pub fn is_method_not_supported(err: &kube::Error) -> bool {
    reason_or_code(err, reason::METHOD_NOT_ALLOWED, 405)
}

/// The server asked the client to slow down: `TooManyRequests`, or any 429 — the one
/// check upstream keeps on the code whatever the reason (`IsTooManyRequests`).
pub fn is_too_many_requests(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.reason == reason::TOO_MANY_REQUESTS || s.code == 429)
}

/// True when the status details carry a cause of type `cause` (upstream
/// `HasStatusCause`), such as `NamespaceTerminating` on a create refused because
/// the namespace is being deleted.
pub fn has_status_cause(err: &kube::Error, cause: &str) -> bool {
    status(err)
        .and_then(|s| s.details.as_ref())
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == cause))
}

/// The cause upstream's API server attaches to a create refused in a terminating
/// namespace (`v1.NamespaceTerminatingCause`).
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("message", reason).with_code(code).boxed())
    }

    type Check = fn(&kube::Error) -> bool;
    /// A status's code and reason, and whether the check matches it.
    type Case = (u16, &'static str, bool);

    /// Each check against statuses upstream's tests use: the reason decides; the
    /// code counts only when the reason is unknown (empty or foreign).
    #[test]
    fn checks_follow_apimachinery() {
        let table: &[(&str, Check, &[Case])] = &[
            (
                "not found",
                is_not_found,
                &[
                    (404, "NotFound", true),
                    (404, "", true),
                    (404, "SomethingElse", true),
                    // A known reason other than NotFound wins over the code.
                    (404, "MethodNotAllowed", false),
                    (200, "NotFound", true),
                    (500, "", false),
                ],
            ),
            (
                "already exists",
                is_already_exists,
                &[
                    (409, "AlreadyExists", true),
                    (409, "", false),
                    (409, "Conflict", false),
                ],
            ),
            (
                "conflict",
                is_conflict,
                &[
                    (409, "Conflict", true),
                    (409, "", true),
                    (409, "AlreadyExists", false),
                ],
            ),
            (
                "invalid",
                is_invalid,
                &[
                    (422, "Invalid", true),
                    (422, "", true),
                    (422, "BadRequest", false),
                ],
            ),
            (
                "forbidden",
                is_forbidden,
                &[
                    (403, "Forbidden", true),
                    (403, "", true),
                    (401, "Unauthorized", false),
                ],
            ),
            (
                "gone",
                is_gone,
                &[
                    (410, "Gone", true),
                    (410, "", true),
                    (410, "Expired", false),
                ],
            ),
            (
                "expired",
                is_resource_expired,
                &[
                    (410, "Expired", true),
                    (410, "", false),
                    (410, "Gone", false),
                ],
            ),
            (
                "method not supported",
                is_method_not_supported,
                &[
                    (405, "MethodNotAllowed", true),
                    (405, "", true),
                    (404, "NotFound", false),
                ],
            ),
            (
                "too many requests",
                is_too_many_requests,
                &[
                    (429, "TooManyRequests", true),
                    (429, "", true),
                    // Upstream keeps the code check whatever the reason.
                    (429, "ServiceUnavailable", true),
                    (503, "ServiceUnavailable", false),
                ],
            ),
        ];
        for (name, check, cases) in table {
            for &(code, reason, want) in *cases {
                assert_eq!(
                    check(&api(code, reason)),
                    want,
                    "{name}: code {code}, reason {reason:?}"
                );
            }
        }
    }

    #[test]
    fn errors_that_never_reached_the_server_match_nothing() {
        let err = kube::Error::LinesCodecMaxLineLengthExceeded;
        let checks: [Check; 9] = [
            is_not_found,
            is_already_exists,
            is_conflict,
            is_invalid,
            is_forbidden,
            is_gone,
            is_resource_expired,
            is_method_not_supported,
            is_too_many_requests,
        ];
        assert!(checks.iter().all(|check| !check(&err)));
        assert!(status(&err).is_none());
        assert!(!has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE));
    }

    #[test]
    fn messages_are_the_servers_when_it_sent_one() {
        assert_eq!(message(&api(409, "AlreadyExists")), "message");
        let bare = kube::Error::Api(Status::failure("", "").with_code(404).boxed());
        assert_eq!(message(&bare), bare.to_string());
        let local = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert_eq!(message(&local), "Error finding newline character");
    }

    #[test]
    fn status_causes_are_found_by_type() {
        // As kube-apiserver's NamespaceLifecycle admission answers.
        let refused: Status = serde_json::from_value(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
            "reason": "Forbidden",
            "message": "pods \"p\" is forbidden: unable to create new content in namespace ns because it is being terminated",
            "details": {"name": "p", "kind": "pods", "causes": [{
                "reason": "NamespaceTerminating",
                "message": "namespace ns is being terminated",
                "field": "metadata.namespace",
            }]},
        }))
        .expect("a Status");
        let err = kube::Error::Api(refused.boxed());
        assert!(has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE));
        assert!(!has_status_cause(&err, "FieldValueInvalid"));
        assert!(!has_status_cause(
            &api(403, "Forbidden"),
            NAMESPACE_TERMINATING_CAUSE
        ));
    }
}
