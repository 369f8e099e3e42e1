//! `storage.k8s.io/v1`.

use serde_json::{Value, json};

use crate::json::set_default;

/// `SetDefaults_StorageClass`: reclaim policy `Delete`, binding mode `Immediate`.
pub(crate) fn default_storage_class(sc: &mut Value) {
    set_default(sc, &["reclaimPolicy"], json!("Delete"));
    set_default(sc, &["volumeBindingMode"], json!("Immediate"));
}
