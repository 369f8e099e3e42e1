//! `certificates.k8s.io/v1`: CertificateSigningRequests (`pkg/apis/certificates/validation`):
//! a PEM `CERTIFICATE REQUEST` whose signature verifies, a well-formed signer name,
//! known usages, at least ten minutes of requested validity, `Approved`/`Denied`/`Failed`
//! conditions that are `True`, exclusive and never removed, PEM certificates only — and
//! which of those an update may change depends on the subresource written.

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Value, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};
use crate::kinds::Subresource;
use crate::names::{is_dns1123_label, is_dns1123_subdomain};

/// The signer name of requests made through `certificates.k8s.io/v1beta1` before signer
/// names existed; refused in `v1`.
const LEGACY_UNKNOWN_SIGNER: &str = "kubernetes.io/legacy-unknown";

/// The condition types that may only be `True`.
const TRUE_ONLY: &[&str] = &["Approved", "Denied", "Failed"];

/// Every key usage upstream knows, sorted as `sets.List` lists them.
const USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// What a write may do: `certificateValidationOptions`, chosen by the subresource
/// written and relaxed where the stored object already breaks a rule.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    allow_setting_approval_conditions: bool,
    allow_setting_certificate: bool,
    allow_both_approved_and_denied: bool,
    allow_legacy_signer_name: bool,
    allow_duplicate_condition_types: bool,
    allow_empty_condition_type: bool,
    allow_arbitrary_certificate: bool,
    allow_unknown_usages: bool,
    allow_duplicate_usages: bool,
}

/// `getValidationOptions`: what the stored object (`old`) already gets away with.
fn options(new: &Value, old: Option<&Value>) -> Options {
    let Some(old) = old else {
        return Options::default();
    };
    let types: Vec<&str> = conditions(old).map(|c| str_at(c, &["type"])).collect();
    let usages: Vec<&str> = array_at(old, &["spec", "usages"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let old_certificate = at(old, &["status", "certificate"]);
    Options {
        allow_both_approved_and_denied: types.contains(&"Approved") && types.contains(&"Denied"),
        allow_legacy_signer_name: str_at(old, &["spec", "signerName"]) == LEGACY_UNKNOWN_SIGNER,
        allow_duplicate_condition_types: types.len() != types.iter().collect::<HashSet<_>>().len(),
        allow_empty_condition_type: types.contains(&""),
        allow_arbitrary_certificate: at(new, &["status", "certificate"]) == old_certificate
            || certificate_problem(old_certificate).is_some(),
        allow_unknown_usages: usages.iter().any(|u| !USAGES.contains(u)),
        allow_duplicate_usages: usages.len() != usages.iter().collect::<HashSet<_>>().len(),
        ..Options::default()
    }
}

fn conditions(csr: &Value) -> impl Iterator<Item = &Value> {
    array_at(csr, &["status", "conditions"]).iter()
}

/// Base64 bytes of a `[]byte` field (empty when unset or not base64, which decoding the
/// body already refused).
fn bytes_at(v: &Value) -> Vec<u8> {
    v.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_default()
}

/// Go's `%#v` of a `[]byte`, as upstream prints a bad request's value.
fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("0x{b:x}")).collect();
    format!("[]byte{{{}}}", items.join(", "))
}

/// `ParseCSR` and `CheckSignature`: why `request` (PEM bytes) is not a signed PKCS#10
/// certificate request, in Go's words.
pub(crate) fn request_problem(request: &[u8]) -> Option<String> {
    let block = match pem::parse(request) {
        Ok(b) if b.tag() == "CERTIFICATE REQUEST" => b,
        _ => return Some("PEM block type must be CERTIFICATE REQUEST".into()),
    };
    let csr = match X509CertificationRequest::from_der(block.contents()) {
        Ok(([], csr)) => csr,
        Ok(_) => return Some("x509: trailing data after X.509 certificate request".into()),
        Err(_) => return Some("x509: malformed certificate request".into()),
    };
    if csr.verify_signature().is_ok() {
        return None;
    }
    Some(
        match csr.certification_request_info.subject_pki.parsed() {
            Ok(PublicKey::RSA(_)) => "crypto/rsa: verification error",
            Ok(PublicKey::EC(_)) => "x509: ECDSA verification failure",
            _ => "x509: signature verification failure",
        }
        .into(),
    )
}

/// `validateCertificate`: why `status.certificate` is not a chain of PEM `CERTIFICATE`
/// blocks (none when empty).
fn certificate_problem(certificate: &Value) -> Option<String> {
    let data = bytes_at(certificate);
    if data.is_empty() {
        return None;
    }
    let blocks = match pem::parse_many(&data) {
        Ok(b) if !b.is_empty() => b,
        _ => return Some("must contain at least one CERTIFICATE PEM block".into()),
    };
    for block in blocks {
        if block.tag() != "CERTIFICATE" {
            return Some(format!(
                "only CERTIFICATE PEM blocks are allowed, found {:?}",
                block.tag()
            ));
        }
        if block.headers().iter().next().is_some() {
            return Some("no PEM block headers are permitted".into());
        }
        if x509_parser::parse_x509_certificate(block.contents()).is_err() {
            return Some("x509: malformed certificate".into());
        }
    }
    None
}

/// `ValidateSignerName`: `<domain>/<path>` with DNS labels in the domain and subdomains in
/// the path.
fn validate_signer_name(name: &str, errs: &mut Vec<FieldError>) {
    const FIELD: &str = "spec.signerName";
    if name.is_empty() {
        errs.push(FieldError::required(FIELD, ""));
        return;
    }
    let segments: Vec<&str> = name.split('/').collect();
    let [domain, path] = segments[..] else {
        errs.push(FieldError::invalid(
            FIELD,
            json!(name),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    };
    if domain.len() > 253 {
        errs.push(FieldError::too_long(FIELD, 253));
    }
    check_labels(domain, is_dns1123_label, errs);
    if domain.split('.').count() < 2 {
        errs.push(FieldError::invalid(
            FIELD,
            json!(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    check_labels(path, is_dns1123_subdomain, errs);
    let max = 253 + (253 + 63 + 1) + 1;
    if name.len() > max {
        errs.push(FieldError::too_long(FIELD, max));
    }
}

/// The problems of the first dot-separated label of `segment` (of a signer name) that
/// `rule` refuses: upstream stops there, as later ones would repeat the message.
fn check_labels(segment: &str, rule: fn(&str) -> Vec<String>, errs: &mut Vec<FieldError>) {
    let first_bad = segment
        .split('.')
        .map(|l| (l, rule(l)))
        .find(|(_, p)| !p.is_empty());
    if let Some((label, problems)) = first_bad {
        for p in problems {
            errs.push(FieldError::invalid(
                "spec.signerName",
                json!(segment),
                &format!("validating label {label:?}: {p}"),
            ));
        }
    }
}

/// `validateCertificateSigningRequest`.
fn validate_object(csr: &Value, opts: Options, errs: &mut Vec<FieldError>) {
    let request = bytes_at(at(csr, &["spec", "request"]));
    if let Some(problem) = request_problem(&request) {
        errs.push(FieldError::invalid_go(
            "spec.request",
            go_bytes(&request),
            &problem,
        ));
    }
    let usages = array_at(csr, &["spec", "usages"]);
    if usages.is_empty() {
        errs.push(FieldError::required("spec.usages", ""));
    }
    if !opts.allow_unknown_usages {
        for (i, u) in usages.iter().enumerate() {
            if !u.as_str().is_some_and(|u| USAGES.contains(&u)) {
                errs.push(FieldError::not_supported(
                    &format!("spec.usages[{i}]"),
                    u.clone(),
                    USAGES,
                ));
            }
        }
    }
    if !opts.allow_duplicate_usages {
        let mut seen = HashSet::new();
        for (i, u) in usages.iter().enumerate() {
            if !seen.insert(u.to_string()) {
                errs.push(FieldError::duplicate(
                    &format!("spec.usages[{i}]"),
                    u.clone(),
                ));
            }
        }
    }
    let signer = str_at(csr, &["spec", "signerName"]);
    if !opts.allow_legacy_signer_name && signer == LEGACY_UNKNOWN_SIGNER {
        errs.push(FieldError::invalid(
            "spec.signerName",
            json!(signer),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        validate_signer_name(signer, errs);
    }
    if let Some(seconds) = at(csr, &["spec", "expirationSeconds"]).as_i64()
        && seconds < 600
    {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(seconds),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    validate_conditions(csr, opts, errs);
    if !opts.allow_arbitrary_certificate
        && let Some(problem) = certificate_problem(at(csr, &["status", "certificate"]))
    {
        errs.push(FieldError::invalid(
            "status.certificate",
            json!("<certificate data>"),
            &problem,
        ));
    }
}

/// `validateConditions`.
fn validate_conditions(csr: &Value, opts: Options, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(csr).enumerate() {
        let field = |f: &str| format!("status.conditions[{i}].{f}");
        let type_ = str_at(c, &["type"]);
        if !opts.allow_empty_condition_type && type_.is_empty() {
            errs.push(FieldError::required(&field("type"), ""));
        }
        let allowed: &[&str] = if TRUE_ONLY.contains(&type_) {
            &["True"]
        } else {
            &["False", "True", "Unknown"]
        };
        let status = str_at(c, &["status"]);
        if status.is_empty() {
            errs.push(FieldError::required(&field("status"), ""));
        } else if !allowed.contains(&status) {
            errs.push(FieldError::not_supported(
                &field("status"),
                json!(status),
                allowed,
            ));
        }
        if !opts.allow_both_approved_and_denied {
            let clash = match type_ {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if clash {
                errs.push(FieldError::invalid(
                    &field("type"),
                    json!(type_),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !opts.allow_duplicate_condition_types && !seen.insert(type_) {
            errs.push(FieldError::duplicate(&field("type"), json!(type_)));
        }
    }
}

fn of_type<'a>(csr: &'a Value, type_: &str) -> Vec<&'a Value> {
    conditions(csr)
        .filter(|c| str_at(c, &["type"]) == type_)
        .collect()
}

/// `validateCertificateSigningRequestUpdate`.
fn validate_update(new: &Value, old: &Value, opts: Options, errs: &mut Vec<FieldError>) {
    validate_object(new, opts, errs);
    for t in ["Approved", "Denied", "Failed"] {
        if of_type(new, t).len() < of_type(old, t).len() {
            errs.push(FieldError::forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {t:?}"),
            ));
        }
    }
    if !opts.allow_setting_approval_conditions {
        for t in ["Approved", "Denied"] {
            let (before, after) = (of_type(old, t), of_type(new, t));
            if after.len() > before.len() {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not add a condition of type {t:?}"),
                ));
            } else if after.len() == before.len() && after != before {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not modify a condition of type {t:?}"),
                ));
            }
        }
    }
    let (before, after) = (
        at(old, &["status", "certificate"]),
        at(new, &["status", "certificate"]),
    );
    if bytes_at(before) != bytes_at(after) {
        if !opts.allow_setting_certificate {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not set certificate content",
            ));
        } else if !bytes_at(before).is_empty() {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            ));
        }
    }
}

/// Creates and updates of the main resource (`ValidateCertificateSigningRequestCreate`,
/// `…Update`).
pub(crate) fn validate_csr(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let opts = options(new, old);
    match old {
        None => validate_object(new, opts, errs),
        Some(old) => validate_update(new, old, opts, errs),
    }
}

/// Updates through `status` (which may set the certificate) and `approval` (which may
/// set the `Approved` and `Denied` conditions).
pub(crate) fn validate_csr_subresource(
    sub: Subresource,
    new: &Value,
    old: &Value,
    errs: &mut Vec<FieldError>,
) {
    let mut opts = options(new, Some(old));
    match sub {
        Subresource::Status => opts.allow_setting_certificate = true,
        Subresource::Approval => opts.allow_setting_approval_conditions = true,
        _ => {}
    }
    validate_update(new, old, opts, errs);
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, check_update};
    use super::*;

    const G: &str = "certificates.k8s.io";

    /// A PEM request for `CN=jane`, signed by a fresh key.
    fn pem_request() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jane");
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn csr(request: &[u8]) -> Value {
        json!({"metadata": {"name": "jane"},
               "spec": {"request": b64(request), "signerName": "kubernetes.io/kube-apiserver-client",
                        "usages": ["client auth"], "expirationSeconds": 86400}})
    }

    #[test]
    fn a_signed_request_passes() {
        assert_eq!(
            check(
                G,
                "certificatesigningrequests",
                csr(pem_request().as_bytes())
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_requests_name_their_field() {
        let errs = check(G, "certificatesigningrequests", csr(b"hello"));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0],
            "spec.request: Invalid value: []byte{0x68, 0x65, 0x6c, 0x6c, 0x6f}: PEM block type must be CERTIFICATE REQUEST"
        );
        // A request whose signature does not verify: the signature's last byte flipped.
        let pem = pem::parse(pem_request()).unwrap();
        let mut der = pem.contents().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0xff;
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let errs = check(G, "certificatesigningrequests", csr(tampered.as_bytes()));
        assert!(
            errs[0].ends_with(": x509: ECDSA verification failure"),
            "{errs:?}"
        );
        let mut bad = csr(pem_request().as_bytes());
        bad["spec"]["signerName"] = json!("example");
        bad["spec"]["usages"] = json!(["client auth", "flying", "client auth"]);
        bad["spec"]["expirationSeconds"] = json!(599);
        assert_eq!(
            check(G, "certificatesigningrequests", bad),
            [
                format!("spec.usages[1]: Unsupported value: \"flying\": supported values: {}",
                    USAGES.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ")),
                "spec.usages[2]: Duplicate value: \"client auth\"".to_string(),
                "spec.signerName: Invalid value: \"example\": must be a fully qualified domain and path of the form 'example.com/signer-name'".to_string(),
                "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)".to_string(),
            ]
        );
        let mut unsigned = csr(pem_request().as_bytes());
        unsigned["spec"]["signerName"] = json!("");
        unsigned["spec"]["usages"] = json!([]);
        assert_eq!(
            check(G, "certificatesigningrequests", unsigned),
            [
                "spec.usages: Required value",
                "spec.signerName: Required value"
            ]
        );
        let mut short = csr(pem_request().as_bytes());
        short["spec"]["signerName"] = json!("example/x");
        assert_eq!(
            check(G, "certificatesigningrequests", short),
            [
                "spec.signerName: Invalid value: \"example\": should be a domain with at least two segments separated by dots"
            ]
        );
    }

    fn approved(mut csr: Value, types: &[&str]) -> Value {
        let conds: Vec<Value> = types
            .iter()
            .map(|t| json!({"type": t, "status": "True", "reason": "r", "lastUpdateTime": "2025-01-01T00:00:00Z"}))
            .collect();
        csr["status"] = json!({"conditions": conds});
        csr
    }

    #[test]
    fn approval_conditions_are_exclusive_permanent_and_only_set_through_approval() {
        let base = csr(pem_request().as_bytes());
        let with_approved = approved(base.clone(), &["Approved"]);
        let sub = |sub: Subresource, new: &Value, old: &Value| -> Vec<String> {
            let mut errs = Vec::new();
            validate_csr_subresource(sub, new, old, &mut errs);
            errs.iter().map(|e| e.to_string()).collect()
        };
        assert!(sub(Subresource::Approval, &with_approved, &base).is_empty());
        assert_eq!(
            sub(Subresource::Status, &with_approved, &base),
            ["status.conditions: Forbidden: updates may not add a condition of type \"Approved\""]
        );
        assert_eq!(
            sub(Subresource::Approval, &base, &with_approved),
            [
                "status.conditions: Forbidden: updates may not remove a condition of type \"Approved\""
            ]
        );
        let both = approved(base.clone(), &["Approved", "Denied"]);
        assert_eq!(
            sub(Subresource::Approval, &both, &with_approved),
            [
                "status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
            ]
        );
        let mut not_true = approved(base.clone(), &["Failed"]);
        not_true["status"]["conditions"][0]["status"] = json!("False");
        assert_eq!(
            sub(Subresource::Status, &not_true, &base),
            [
                "status.conditions[0].status: Unsupported value: \"False\": supported values: \"True\""
            ]
        );
        // The main resource may not touch them either.
        assert_eq!(
            check_update(
                G,
                "certificatesigningrequests",
                base.clone(),
                with_approved.clone()
            ),
            ["status.conditions: Forbidden: updates may not add a condition of type \"Approved\""]
        );
        // A certificate only through status, once, and only PEM certificates.
        let mut issued = with_approved.clone();
        issued["status"]["certificate"] = json!(b64(b"junk"));
        assert_eq!(
            sub(Subresource::Status, &issued, &with_approved),
            [
                "status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"
            ]
        );
    }
}
