//! `discovery.k8s.io/v1`.

use serde_json::{Value, json};

use crate::json::{array_mut, set_default};

/// `SetDefaults_EndpointPort` (discovery): name `""`, protocol `TCP`.
pub(crate) fn default_endpoint_slice(slice: &mut Value) {
    for port in array_mut(slice, &["ports"]) {
        set_default(port, &["name"], json!(""));
        set_default(port, &["protocol"], json!("TCP"));
    }
}
