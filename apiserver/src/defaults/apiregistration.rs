//! `apiregistration.k8s.io/v1`: APIServices.

use serde_json::{Value, json};

use crate::aggregator::availability::{DEFAULT_SERVICE_PORT, local_condition};
use crate::json::{at, get_mut, set_default};

/// `SetDefaults_ServiceReference`: a service is reached on port 443 unless it says
/// otherwise.
pub fn default_api_service(obj: &mut Value) {
    if let Some(service) = get_mut(obj, &["spec", "service"]).filter(|s| s.is_object()) {
        set_default(service, &["port"], json!(DEFAULT_SERVICE_PORT));
    }
}

/// The strategy's `PrepareForCreate`: the client's status is dropped, and a local
/// APIService (no `spec.service`) is available at once.
pub fn api_service_initial_status(obj: &Value) -> Value {
    if at(obj, &["spec", "service"]).is_object() {
        return json!({});
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({"conditions": [local_condition(&now)]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_port_defaults_to_443_and_local_ones_start_available() {
        let mut remote = json!({"spec": {"service": {"name": "m", "namespace": "kube-system"}}});
        default_api_service(&mut remote);
        assert_eq!(remote["spec"]["service"]["port"], 443);
        assert_eq!(api_service_initial_status(&remote), json!({}));
        let mut local = json!({"spec": {"version": "v1"}});
        default_api_service(&mut local);
        assert!(local["spec"].get("service").is_none());
        let status = api_service_initial_status(&local);
        assert_eq!(status["conditions"][0]["reason"], "Local");
        assert_eq!(status["conditions"][0]["status"], "True");
    }
}
