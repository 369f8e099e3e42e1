//! Name and label syntax as `k8s.io/apimachinery/pkg/util/validation` defines it: DNS
//! labels and subdomains, qualified names, label values, config keys, port and
//! environment variable names, and the rule an object's name follows. Each check answers
//! the problems found (empty when valid) with upstream's wording.

use std::sync::LazyLock;

use capstan_labels::syntax::{max_len_error, regex_error};
use regex::Regex;

/// The label key and value syntax (`util/validation`), which label selectors share.
pub use capstan_labels::syntax::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
};

static DNS1035_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]([-a-z0-9]*[a-z0-9])?$").expect("static regex"));
static CONFIG_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-._a-zA-Z0-9]+$").expect("static regex"));
static ENV_VAR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$").expect("static regex"));

/// `IsDNS1035Label`: problems with `value` as a DNS-1035 label (Service names).
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !DNS1035_LABEL.is_match(value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            "[a-z]([-a-z0-9]*[a-z0-9])?",
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `IsConfigMapKey`: problems with a ConfigMap or Secret key.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !CONFIG_KEY.is_match(value) {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".into());
    } else if value == ".." {
        errs.push("must not be '..'".into());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

/// `ValidatePathSegmentName` (RBAC object names).
fn path_segment_name(name: &str, prefix: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if !prefix && (name == "." || name == "..") {
        errs.push(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// Which rule an object's name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespaces).
    Label,
    /// DNS-1035 label (Services).
    Dns1035,
    /// Path segment (RBAC kinds, APIServices).
    PathSegment,
    /// Anything (CertificateSigningRequests: "we don't care what you call your
    /// certificate requests").
    Any,
}

/// Problems with `name` as an object name under `rule`; `prefix` for a `generateName`.
pub fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    // A generateName prefix is validated with its trailing dash masked.
    let checked = if prefix {
        let trimmed = name.strip_suffix('-').unwrap_or(name);
        if trimmed.is_empty() {
            return Vec::new();
        }
        format!("{trimmed}a")
    } else {
        name.to_string()
    };
    match rule {
        NameRule::Subdomain => is_dns1123_subdomain(&checked),
        NameRule::Label => is_dns1123_label(&checked),
        NameRule::Dns1035 => is_dns1035_label(&checked),
        NameRule::PathSegment => path_segment_name(name, prefix),
        NameRule::Any => Vec::new(),
    }
}

/// `IsValidPortName` (IANA_SVC_NAME): problems with a port name.
pub fn port_name_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.is_empty() || name.len() > 15 {
        errs.push("must be no more than 15 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// `IsEnvVarName`: problems with an environment variable name.
pub fn is_env_var_name(value: &str) -> Vec<String> {
    if ENV_VAR_NAME.is_match(value) {
        return Vec::new();
    }
    vec![regex_error(
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
        "[-._a-zA-Z][-._a-zA-Z0-9]*",
        &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
    )]
}
