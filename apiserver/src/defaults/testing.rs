//! What the defaulting tests share.

use serde_json::Value;

use super::apply_defaults;
use crate::kinds::Registry;

pub(crate) fn defaulted(group: &str, plural: &str, mut obj: Value) -> Value {
    let k = Registry::with_builtins()
        .lookup(group, "v1", plural)
        .unwrap();
    apply_defaults(&k, &mut obj);
    // Idempotent.
    let mut again = obj.clone();
    apply_defaults(&k, &mut again);
    assert_eq!(obj, again, "defaulting {plural} twice changed it");
    obj
}
