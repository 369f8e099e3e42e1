//! Why a selector could not be built, with upstream's messages.

use crate::field::{FieldError, go_quote};

/// A selector that cannot be built from its string form or from a
/// `metav1.LabelSelector`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The string form breaks the grammar or names an invalid key or value; the message
    /// is `labels.Parse`'s (`found ',', expected: identifier after ','`,
    /// `unable to parse requirement: …`).
    #[error("{0}")]
    Parse(String),
    /// A requirement breaks `labels.NewRequirement`'s rules (bad key, bad value, values
    /// missing for `In`/`NotIn` or present for `Exists`/`DoesNotExist`); printed as
    /// upstream's aggregate of field errors.
    #[error("{}", aggregate(.0))]
    InvalidRequirement(Vec<FieldError>),
    /// A `matchExpressions` operator other than `In`, `NotIn`, `Exists` and
    /// `DoesNotExist`.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    InvalidOperator(String),
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several (without
/// repeats) as `[a, b]`.
fn aggregate(errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::with_capacity(errs.len());
    for e in errs {
        let m = e.to_string();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}
