//! Where a node's kubelet is: its preferred address (`GetPreferredNodeAddress`: the
//! first address of the first preferred type present) and its
//! `daemonEndpoints.kubeletEndpoint.port`.

use serde_json::Value;

use super::DEFAULT_KUBELET_PORT;
use crate::status::ApiError;

/// `host:port` of the kubelet of `node` (a Node object), by `preferred` address types.
pub fn kubelet_host_port(node: &Value, preferred: &[String]) -> Result<(String, u16), ApiError> {
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let host = preferred
        .iter()
        .find_map(|t| {
            addresses
                .iter()
                .find(|a| a["type"].as_str() == Some(t.as_str()))
                .and_then(|a| a["address"].as_str())
        })
        .ok_or_else(|| {
            let known: Vec<String> = addresses
                .iter()
                .map(|a| {
                    format!(
                        "{{{} {}}}",
                        a["type"].as_str().unwrap_or(""),
                        a["address"].as_str().unwrap_or("")
                    )
                })
                .collect();
            ApiError::internal(format!(
                "no preferred addresses found; known addresses: [{}]",
                known.join(" ")
            ))
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preferred_address_and_port() {
        let types: Vec<String> = ["InternalIP", "ExternalIP", "Hostname"]
            .map(String::from)
            .to_vec();
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"},
                          {"type": "InternalIP", "address": "10.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10333}}}});
        assert_eq!(
            kubelet_host_port(&node, &types).unwrap(),
            ("10.0.0.1".to_string(), 10333)
        );
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(
            kubelet_host_port(&node, &types).unwrap(),
            ("n1".to_string(), 10250)
        );
        let err = kubelet_host_port(&json!({"status": {}}), &types).unwrap_err();
        assert_eq!(err.code, 500);
        assert!(err.message.contains("no preferred addresses found"));
    }
}
