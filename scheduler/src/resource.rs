//! Resource quantities and the scheduler's `Resource` vector, as upstream's
//! `framework.Resource` and `resourcehelper.PodRequests`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Resource name `cpu`.
pub const CPU: &str = "cpu";
/// Resource name `memory`.
pub const MEMORY: &str = "memory";
/// Resource name `ephemeral-storage`.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// Resource name `pods`.
pub const PODS: &str = "pods";

/// CPU request assumed for a container without one when spreading/scoring
/// (upstream `DefaultMilliCPURequest`, 0.1 core).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory request assumed for a container without one when spreading/scoring
/// (upstream `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A quantity string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {0:?}")]
pub struct InvalidQuantity(pub String);

/// Parses a Kubernetes quantity and returns its value scaled by `10^scale_exp`,
/// rounded up (as apimachinery's `Value()` for 0 and `MilliValue()` for 3).
pub fn parse_quantity_scaled(s: &str, scale_exp: i32) -> Result<i64, InvalidQuantity> {
    let err = || InvalidQuantity(s.to_string());
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(err());
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return Err(err());
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| err())?
    };
    let (binary_mult, dec_exp): (i128, i32) = match suffix {
        "" => (1, 0),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        other => {
            let rest = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))
                .ok_or_else(err)?;
            (1, rest.parse::<i32>().map_err(|_| err())?)
        }
    };
    let exp = dec_exp - frac_part.len() as i32 + scale_exp;
    let mut value = mantissa.checked_mul(binary_mult).ok_or_else(err)?;
    if exp >= 0 {
        for _ in 0..exp {
            value = match value.checked_mul(10) {
                Some(v) if v <= i64::MAX as i128 => v,
                _ => {
                    value = i64::MAX as i128;
                    break;
                }
            };
        }
    } else {
        let mut div: i128 = 1;
        for _ in 0..(-exp) {
            div = match div.checked_mul(10) {
                Some(d) => d,
                None => break,
            };
        }
        // Round up, as apimachinery does for positive values.
        value = if value == 0 {
            0
        } else {
            (value + div - 1) / div
        };
    }
    let value = value.min(i64::MAX as i128) as i64;
    Ok(if neg { -value } else { value })
}

/// The integer value of a quantity rounded up (`Quantity.Value()`); 0 when invalid
/// (the API server validates quantities, so this only guards against corrupt input).
pub fn quantity_value(q: &Quantity) -> i64 {
    parse_quantity_scaled(&q.0, 0).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "ignoring invalid quantity");
        0
    })
}

/// The milli-value of a quantity rounded up (`Quantity.MilliValue()`); 0 when invalid.
pub fn quantity_milli_value(q: &Quantity) -> i64 {
    parse_quantity_scaled(&q.0, 3).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "ignoring invalid quantity");
        0
    })
}

/// Whether `name` is a native resource prefixed with `kubernetes.io/`.
pub fn is_prefixed_native_resource(name: &str) -> bool {
    name.contains("kubernetes.io/")
}

/// Whether `name` is an extended resource (`example.com/gpu`), as upstream's
/// `IsExtendedResourceName`.
pub fn is_extended_resource_name(name: &str) -> bool {
    name.contains('/') && !is_prefixed_native_resource(name) && !name.starts_with("requests.")
}

/// Whether `name` is tracked in [`Resource::scalar`] (extended, hugepages,
/// prefixed native or attachable volumes), as upstream's `IsScalarResourceName`.
pub fn is_scalar_resource_name(name: &str) -> bool {
    is_extended_resource_name(name)
        || name.starts_with("hugepages-")
        || is_prefixed_native_resource(name)
        || name.starts_with("attachable-volumes-")
}

/// Compute resources of a node or pod, as upstream's `framework.Resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Number of pods (meaningful for allocatable only).
    pub allowed_pod_number: i64,
    /// Extended, hugepages and other scalar resources.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Builds a resource vector from a resource list (requests, allocatable, overhead).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Resource::default();
        r.add_list(list);
        r
    }

    /// Adds every entry of a resource list.
    pub fn add_list(&mut self, list: &BTreeMap<String, Quantity>) {
        for (name, q) in list {
            match name.as_str() {
                CPU => self.milli_cpu += quantity_milli_value(q),
                MEMORY => self.memory += quantity_value(q),
                PODS => self.allowed_pod_number += quantity_value(q),
                EPHEMERAL_STORAGE => self.ephemeral_storage += quantity_value(q),
                other if is_scalar_resource_name(other) => {
                    *self.scalar.entry(other.to_string()).or_default() += quantity_value(q)
                }
                _ => {}
            }
        }
    }

    /// Adds another resource vector field by field.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts another resource vector field by field.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Raises every field to at least the other's value (upstream `maxResourceList`).
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// The amount of a scalar resource (0 when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }

    /// The amount of any named resource: cpu in millicores, others in units.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            other => self.scalar(other),
        }
    }

    /// Whether every field is zero.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.allowed_pod_number == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

fn container_requests(c: &Container, non_zero_defaults: bool) -> Resource {
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let mut r = requests.map(Resource::from_list).unwrap_or_default();
    if non_zero_defaults {
        let has = |name: &str| requests.is_some_and(|m| m.contains_key(name));
        if !has(CPU) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has(MEMORY) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn is_restartable_init_container(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn pod_requests_with(pod: &Pod, non_zero_defaults: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero_defaults));
    }
    // Sidecars (restartable init containers) run beside the regular containers, so
    // they add to the sum; each init container also runs beside the sidecars started
    // before it, and the pod needs the maximum of those phases.
    let mut restartable = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let c_reqs = container_requests(c, non_zero_defaults);
        let phase = if is_restartable_init_container(c) {
            reqs.add(&c_reqs);
            restartable.add(&c_reqs);
            restartable.clone()
        } else {
            let mut tmp = c_reqs;
            tmp.add(&restartable);
            tmp
        };
        init_max.set_max(&phase);
    }
    reqs.set_max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add_list(overhead);
    }
    reqs
}

/// A pod's effective requests: `max(sum(containers + sidecars), max(init phases))`
/// plus overhead, as upstream's `resourcehelper.PodRequests`.
pub fn pod_requests(pod: &Pod) -> Resource {
    pod_requests_with(pod, false)
}

/// A pod's requests with containers missing a cpu or memory request counted at
/// the defaults (100m, 200Mi), as upstream's non-zero requests used for scoring.
pub fn pod_non_zero_requests(pod: &Pod) -> Resource {
    pod_requests_with(pod, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn quantities_parse_as_apimachinery() {
        assert_eq!(parse_quantity_scaled("100m", 3), Ok(100));
        assert_eq!(parse_quantity_scaled("0.1", 3), Ok(100));
        assert_eq!(parse_quantity_scaled("1.5", 3), Ok(1500));
        assert_eq!(parse_quantity_scaled("2", 3), Ok(2000));
        assert_eq!(parse_quantity_scaled("1Gi", 0), Ok(1 << 30));
        assert_eq!(parse_quantity_scaled("1.5Gi", 0), Ok(3 << 29));
        assert_eq!(parse_quantity_scaled("128974848", 0), Ok(128974848));
        assert_eq!(parse_quantity_scaled("129e6", 0), Ok(129_000_000));
        assert_eq!(parse_quantity_scaled("123M", 0), Ok(123_000_000));
        assert_eq!(parse_quantity_scaled("1k", 0), Ok(1000));
        // Rounded up like Value()/MilliValue().
        assert_eq!(parse_quantity_scaled("1500m", 0), Ok(2));
        assert_eq!(parse_quantity_scaled("0.5m", 3), Ok(1));
        assert_eq!(parse_quantity_scaled("-2", 0), Ok(-2));
        assert!(parse_quantity_scaled("abc", 0).is_err());
        assert!(parse_quantity_scaled("1Xi", 0).is_err());
        assert!(parse_quantity_scaled("", 0).is_err());
    }

    #[test]
    fn scalar_resource_names() {
        assert!(is_scalar_resource_name("example.com/gpu"));
        assert!(is_scalar_resource_name("hugepages-2Mi"));
        assert!(is_scalar_resource_name("kubernetes.io/batch-cpu"));
        assert!(!is_scalar_resource_name("cpu"));
        assert!(!is_scalar_resource_name("requests.example.com/gpu"));
    }

    #[test]
    fn pod_requests_sum_containers_and_max_init() {
        let pod = PodBuilder::new("p")
            .container(&[("cpu", "100m"), ("memory", "1Gi")])
            .container(&[("cpu", "200m"), ("example.com/gpu", "1")])
            .init_container(&[("cpu", "500m")])
            .init_container(&[("memory", "3Gi")])
            .build();
        let r = pod_requests(&pod);
        assert_eq!(r.milli_cpu, 500);
        assert_eq!(r.memory, 3 << 30);
        assert_eq!(r.scalar("example.com/gpu"), 1);
    }

    #[test]
    fn sidecars_add_to_containers_and_later_init_phases() {
        // Upstream example: sidecar 1 cpu, then init 2 cpu (runs with sidecar: 3),
        // containers 1 cpu (runs with sidecar: 2) => 3.
        let pod = PodBuilder::new("p")
            .sidecar(&[("cpu", "1")])
            .init_container(&[("cpu", "2")])
            .container(&[("cpu", "1")])
            .build();
        assert_eq!(pod_requests(&pod).milli_cpu, 3000);
        // An init container before the sidecar does not run beside it.
        let pod = PodBuilder::new("p")
            .init_container(&[("cpu", "2")])
            .sidecar(&[("cpu", "1")])
            .container(&[("cpu", "1")])
            .build();
        assert_eq!(pod_requests(&pod).milli_cpu, 2000);
    }

    #[test]
    fn overhead_is_added() {
        let mut pod = PodBuilder::new("p").container(&[("cpu", "1")]).build();
        pod.spec.as_mut().unwrap().overhead = Some(quantities(&[("cpu", "250m")]));
        assert_eq!(pod_requests(&pod).milli_cpu, 1250);
    }

    #[test]
    fn non_zero_requests_default_missing_cpu_and_memory() {
        let pod = PodBuilder::new("p")
            .container(&[])
            .container(&[("cpu", "1")])
            .build();
        let r = pod_non_zero_requests(&pod);
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY_REQUEST);
        assert_eq!(pod_requests(&pod).memory, 0);
    }
}
