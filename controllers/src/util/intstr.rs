//! `IntOrString` resolution as apimachinery's `intstr.GetScaledValueFromIntOrPercent`.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An `IntOrString` that is neither an integer nor a `"<n>%"` string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for IntOrString: invalid type: string is not a percentage: {0:?}")]
pub struct InvalidIntOrPercent(pub String);

/// Resolves an integer or a percentage of `total`. Percentages round up when
/// `round_up` (maxSurge) and down otherwise (maxUnavailable), exactly as
/// `intstr.GetScaledValueFromIntOrPercent`.
pub fn scaled_value(
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, InvalidIntOrPercent> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct = s
                .strip_suffix('%')
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| InvalidIntOrPercent(s.clone()))?;
            let product = pct * i64::from(total);
            let v = if round_up {
                product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
            } else {
                product.div_euclid(100)
            };
            Ok(i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percentages_round_as_upstream() {
        // (value, total, round_up, expected) as intstr_test.go's table.
        let cases = [
            (pct("25%"), 10, true, 3),
            (pct("25%"), 10, false, 2),
            (pct("25%"), 4, true, 1),
            (pct("25%"), 3, false, 0),
            (pct("25%"), 3, true, 1),
            (pct("1%"), 1, true, 1),
            (pct("1%"), 1, false, 0),
            (pct("100%"), 7, false, 7),
            (pct("0%"), 7, true, 0),
            (IntOrString::Int(5), 100, false, 5),
        ];
        for (v, total, up, want) in cases {
            assert_eq!(
                scaled_value(&v, total, up).unwrap(),
                want,
                "{v:?} of {total}"
            );
        }
    }

    #[test]
    fn strings_that_are_not_percentages_are_errors() {
        assert!(scaled_value(&pct("5"), 10, true).is_err());
        assert!(scaled_value(&pct("x%"), 10, true).is_err());
    }
}
