//! The `status` the server writes for a CRD: accepted names, stored versions and the
//! `NamesAccepted` and `Established` conditions.

use serde_json::{Value, json};

use crate::json::{str_at, strings_at};
use crate::kinds::{KindSource, Registry};

use super::storage_version;

/// The `status` the server should write for `crd`: `acceptedNames` (its names, unless
/// they clash with another served kind in the same group), `storedVersions` (the existing
/// ones plus the current storage version) and the `NamesAccepted` and `Established`
/// conditions with upstream's reasons. `now` stamps changed conditions.
pub fn crd_status(crd: &Value, registry: &Registry, now: &str) -> Value {
    let crd_name = str_at(crd, &["metadata", "name"]);
    let group = str_at(crd, &["spec", "group"]);
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let singular = str_at(crd, &["spec", "names", "singular"]);
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let list_kind = str_at(crd, &["spec", "names", "listKind"]);
    let short_names = strings_at(crd, &["spec", "names", "shortNames"]);

    let others: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|k| k.group == group)
        .filter(|k| !matches!(&k.source, KindSource::Custom { crd_name: n } if n == crd_name))
        .collect();
    let conflict = if others.iter().any(|k| k.plural == plural) {
        Some(("PluralConflict", format!("{plural:?} is already in use")))
    } else if others
        .iter()
        .any(|k| k.singular == singular || k.plural == singular)
    {
        Some((
            "SingularConflict",
            format!("{singular:?} is already in use"),
        ))
    } else if let Some(s) = short_names
        .iter()
        .find(|s| others.iter().any(|k| k.short_names.contains(s)))
    {
        Some(("ShortNamesConflict", format!("{s:?} is already in use")))
    } else if others.iter().any(|k| k.kind == kind) {
        Some(("KindConflict", format!("{kind:?} is already in use")))
    } else if others.iter().any(|k| k.list_kind() == list_kind) {
        Some((
            "ListKindConflict",
            format!("{list_kind:?} is already in use"),
        ))
    } else {
        None
    };

    let old_conditions = crd
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = old_conditions
            .iter()
            .find(|c| str_at(c, &["type"]) == type_ && str_at(c, &["status"]) == status)
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        json!({"type": type_, "status": status, "lastTransitionTime": since,
               "reason": reason, "message": message})
    };
    let (accepted_names, conditions) = match &conflict {
        None => (
            names,
            vec![
                condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            ],
        ),
        Some((reason, message)) => (
            crd.pointer("/status/acceptedNames")
                .cloned()
                .unwrap_or_else(|| json!({"plural": "", "kind": ""})),
            vec![
                condition("NamesAccepted", "False", reason, message),
                condition(
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                ),
            ],
        ),
    };
    let mut stored = strings_at(crd, &["status", "storedVersions"]);
    if let Some(sv) = storage_version(crd)
        && !stored.contains(&sv)
    {
        stored.push(sv);
    }
    json!({
        "acceptedNames": accepted_names,
        "storedVersions": stored,
        "conditions": conditions,
    })
}

/// Whether a CRD's status says it is established (its kinds should be served).
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| str_at(c, &["type"]) == "Established" && str_at(c, &["status"]) == "True")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::kinds_from_crd;
    use crate::crd::testing::defaulted_crd;

    #[test]
    fn status_accepts_names_and_records_storage_version() {
        let registry = Registry::with_builtins();
        let crd = defaulted_crd();
        let status = crd_status(&crd, &registry, "2024-01-01T00:00:00Z");
        assert_eq!(status["acceptedNames"]["plural"], "widgets");
        assert_eq!(status["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(status["storedVersions"], json!(["v1"]));
        let conds = status["conditions"].as_array().unwrap();
        assert_eq!(
            conds[0],
            json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
                   "reason": "NoConflicts", "message": "no conflicts found"})
        );
        assert_eq!(conds[1]["type"], "Established");
        assert_eq!(conds[1]["reason"], "InitialNamesAccepted");
        assert_eq!(conds[1]["message"], "the initial names have been accepted");
        // Serving its own kinds is not a conflict, and transition times are kept.
        for k in kinds_from_crd(&crd).unwrap() {
            registry.insert(k);
        }
        let mut with_status = crd.clone();
        with_status["status"] = status.clone();
        assert!(is_established(&with_status));
        let again = crd_status(&with_status, &registry, "2025-01-01T00:00:00Z");
        assert_eq!(again, status);
        // Stored versions accumulate.
        with_status["spec"]["versions"][0]["storage"] = json!(false);
        with_status["spec"]["versions"][1]["storage"] = json!(true);
        let moved = crd_status(&with_status, &registry, "2025-01-01T00:00:00Z");
        assert_eq!(moved["storedVersions"], json!(["v1", "v1beta1"]));
    }

    #[test]
    fn conflicting_names_are_not_accepted() {
        let registry = Registry::with_builtins();
        for k in kinds_from_crd(&defaulted_crd()).unwrap() {
            registry.insert(k);
        }
        let mut other = defaulted_crd();
        other["metadata"]["name"] = json!("gadgets.example.com");
        other["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                                         "listKind": "GadgetList", "shortNames": ["wd"]});
        let status = crd_status(&other, &registry, "t");
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["reason"], "ShortNamesConflict");
        assert_eq!(
            status["conditions"][0]["message"],
            "\"wd\" is already in use"
        );
        assert_eq!(status["conditions"][1]["status"], "False");
        assert_eq!(status["conditions"][1]["reason"], "NotAccepted");
        assert!(!is_established(&json!({"status": status})));
    }
}
