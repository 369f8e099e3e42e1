//! `scheduling.k8s.io/v1`.

use serde_json::{Value, json};

use crate::json::set_default;

/// `SetDefaults_PriorityClass`: preemption policy `PreemptLowerPriority`.
pub(crate) fn default_priority_class(pc: &mut Value) {
    set_default(pc, &["preemptionPolicy"], json!("PreemptLowerPriority"));
}
