//! `certificates.k8s.io/v1` tables (CertificateSigningRequests), as kube-apiserver's
//! `printCertificateSigningRequest` renders them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};
use super::format::human_duration;

fn csr_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        age_column(),
        col(
            "SignerName",
            "string",
            "signerName indicates the requested signer, and is a qualified name.",
        ),
        col(
            "Requestor",
            "string",
            "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.",
        ),
        col(
            "RequestedDuration",
            "string",
            "expirationSeconds is the requested duration of validity of the issued certificate.",
        ),
        col(
            "Condition",
            "string",
            "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".",
        ),
    ]
}

/// `extractCSRStatus`: `Denied`, else `Approved`, else `Pending`; then `,Failed` and
/// `,Issued` when they apply.
fn csr_condition(o: &Value) -> String {
    let has = |t: &str| {
        array_at(o, &["status", "conditions"])
            .iter()
            .any(|c| str_at(c, &["type"]) == t)
    };
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(o, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

fn csr_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let signer = match str_at(o, &["spec", "signerName"]) {
        "" => "<none>",
        s => s,
    };
    let duration = at(o, &["spec", "expirationSeconds"]).as_i64().map_or_else(
        || "<none>".to_string(),
        |s| human_duration(chrono::Duration::seconds(s)),
    );
    vec![
        name(o),
        obj_age(o, now),
        json!(signer),
        json!(str_at(o, &["spec", "username"])),
        json!(duration),
        json!(csr_condition(o)),
    ]
}

/// `kubectl get csr`.
pub(crate) const CERTIFICATE_SIGNING_REQUEST: TablePrinter = TablePrinter {
    columns: csr_columns,
    cells: csr_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_signer_requestor_duration_and_condition() {
        let now = Utc::now();
        let pending = json!({"metadata": {"name": "jane"},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "capstan-admin",
                     "expirationSeconds": 86400}});
        assert_eq!(
            csr_cells(&pending, now)[2..],
            [
                json!("kubernetes.io/kube-apiserver-client"),
                json!("capstan-admin"),
                json!("24h"),
                json!("Pending")
            ]
        );
        let issued = json!({"metadata": {"name": "j"}, "spec": {},
            "status": {"conditions": [{"type": "Approved"}, {"type": "Failed"}], "certificate": "Yw=="}});
        let cells = csr_cells(&issued, now);
        assert_eq!(cells[2], json!("<none>"));
        assert_eq!(cells[4], json!("<none>"));
        assert_eq!(cells[5], json!("Approved,Failed,Issued"));
        let denied = json!({"status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}]}});
        assert_eq!(csr_condition(&denied), "Denied");
        let names: Vec<String> = csr_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Age",
                "SignerName",
                "Requestor",
                "RequestedDuration",
                "Condition"
            ]
        );
    }
}
