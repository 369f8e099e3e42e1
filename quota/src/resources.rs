//! Resource lists (`corev1.ResourceList`: resource name → quantity) and the set
//! operations quota works with, as apiserver's `pkg/quota/v1/resources.go` has them:
//! add, subtract, mask, compare against limits, print.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::quantity::{Quantity, QuantityError};

/// Resource name → quantity, sorted by name.
pub type ResourceList = BTreeMap<String, Quantity>;

/// A resource list's entry that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {error}")]
pub struct InvalidEntry {
    /// The resource name.
    pub name: String,
    /// Why its value does not parse.
    pub error: QuantityError,
}

/// Parses an API resource list (an absent one is empty).
pub fn parse_list(
    list: Option<&BTreeMap<String, ApiQuantity>>,
) -> Result<ResourceList, InvalidEntry> {
    list.into_iter()
        .flatten()
        .map(|(name, q)| {
            Quantity::parse(&q.0)
                .map(|v| (name.clone(), v))
                .map_err(|error| InvalidEntry {
                    name: name.clone(),
                    error,
                })
        })
        .collect()
}

/// The API form of a resource list.
pub fn to_api(list: &ResourceList) -> BTreeMap<String, ApiQuantity> {
    list.iter().map(|(k, v)| (k.clone(), v.to_k8s())).collect()
}

/// `a + b` key by key; keys of either side are kept (`quota.Add`).
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|have| *have = have.plus(v))
            .or_insert(*v);
    }
    out
}

/// `a - b` for the keys of `a`, never below zero (`quota.SubtractWithNonNegativeResult`).
pub fn subtract_non_negative(a: &ResourceList, b: &ResourceList) -> ResourceList {
    a.iter()
        .map(|(k, v)| {
            let diff = match b.get(k) {
                Some(other) => v.minus(other),
                None => *v,
            };
            let diff = if diff.signum() < 0 {
                Quantity::ZERO
            } else {
                diff
            };
            (k.clone(), diff)
        })
        .collect()
}

/// The entries of `list` whose names are in `names` (`quota.Mask`).
pub fn mask<'a>(list: &ResourceList, names: impl IntoIterator<Item = &'a str>) -> ResourceList {
    names
        .into_iter()
        .filter_map(|n| list.get(n).map(|v| (n.to_string(), *v)))
        .collect()
}

/// Whether every entry of `a` is at most `b`'s entry of the same name (names `b`
/// lacks are not limited), and the names that exceed (`quota.LessThanOrEqual`).
pub fn less_than_or_equal(a: &ResourceList, b: &ResourceList) -> (bool, Vec<String>) {
    let exceeded: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|limit| *v > limit))
        .map(|(k, _)| k.clone())
        .collect();
    (exceeded.is_empty(), exceeded)
}

/// The list without its zero entries (`quota.RemoveZeros`).
pub fn remove_zeros(list: &ResourceList) -> ResourceList {
    list.iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The names of negative entries (`quota.IsNegative`).
pub fn negative_names(list: &ResourceList) -> Vec<String> {
    list.iter()
        .filter(|(_, v)| v.signum() < 0)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether the lists have the same names with equal values (`quota.Equals`).
pub fn equals(a: &ResourceList, b: &ResourceList) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `name=value` pairs sorted by name and joined by commas, for messages
/// (`prettyPrint`).
pub fn pretty_print(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A resource list of `name, quantity` pairs.
    pub(crate) fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap()))
            .collect()
    }

    #[test]
    fn adding_keeps_every_name_and_sums_shared_ones() {
        let sum = add(
            &list(&[("cpu", "100m"), ("pods", "1")]),
            &list(&[("cpu", "900m"), ("memory", "1Gi")]),
        );
        assert_eq!(pretty_print(&sum), "cpu=1,memory=1Gi,pods=1");
    }

    #[test]
    fn subtraction_stops_at_zero_and_keeps_the_left_names() {
        let d = subtract_non_negative(
            &list(&[("cpu", "1"), ("pods", "1")]),
            &list(&[("cpu", "2"), ("memory", "1")]),
        );
        assert_eq!(pretty_print(&d), "cpu=0,pods=1");
    }

    #[test]
    fn limits_name_what_exceeds() {
        let used = list(&[("pods", "3"), ("cpu", "1"), ("memory", "5Gi")]);
        let hard = list(&[("pods", "2"), ("cpu", "2")]);
        assert_eq!(
            less_than_or_equal(&used, &hard),
            (false, vec!["pods".into()])
        );
        assert!(less_than_or_equal(&mask(&used, ["cpu"]), &hard).0);
    }

    #[test]
    fn zeros_and_negatives_are_found() {
        let l = list(&[("a", "0"), ("b", "-1"), ("c", "1")]);
        assert_eq!(pretty_print(&remove_zeros(&l)), "b=-1,c=1");
        assert_eq!(negative_names(&l), ["b"]);
        assert!(equals(
            &l,
            &list(&[("a", "0m"), ("b", "-1000m"), ("c", "1")])
        ));
        assert!(!equals(&l, &list(&[("a", "0")])));
    }

    #[test]
    fn api_lists_parse_and_print_back() {
        let api: BTreeMap<String, ApiQuantity> =
            [("cpu".to_string(), ApiQuantity("0.5".into()))].into();
        let parsed = parse_list(Some(&api)).unwrap();
        assert_eq!(to_api(&parsed)["cpu"].0, "500m");
        let bad: BTreeMap<String, ApiQuantity> =
            [("cpu".to_string(), ApiQuantity("x".into()))].into();
        assert_eq!(parse_list(Some(&bad)).unwrap_err().name, "cpu");
        assert!(parse_list(None).unwrap().is_empty());
    }
}
