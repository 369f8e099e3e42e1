//! Resource quantities as apimachinery's `resource.Quantity` has them: parsed from the
//! string form (`100m`, `1.5Gi`, `2e3`), kept exactly (to the nano, rounded up as
//! `ParseQuantity` rounds, capped at the largest int64 as it caps), added, subtracted and
//! compared without loss, and printed in the canonical form `Quantity.String()` writes
//! (`1.5Gi` prints `1536Mi`, `0.5` prints `500m`, `100m` + `900m` prints `1`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// How a quantity was written, which decides how it prints (apimachinery's `Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten with SI suffixes (`100m`, `5k`, `1M`) or no suffix.
    DecimalSi,
    /// Powers of two (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`).
    BinarySi,
    /// A decimal exponent (`1e3`).
    DecimalExponent,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string does not follow the quantity grammar (sign, digits, optional
    /// fraction, suffix); apimachinery's `ErrFormatWrong`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The suffix is not one apimachinery knows; its `ErrSuffix`.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Nanos in one unit: quantities are exact to 10⁻⁹, as apimachinery rounds them.
const NANOS: i128 = 1_000_000_000;
/// apimachinery caps parsed values at the largest int64.
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS;
/// Significant digits parsed exactly; later ones only round up (they are below a nano
/// for any value under the cap).
const MAX_DIGITS: usize = 36;

/// A resource quantity: an exact value and the format it prints in.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Zero, printed `0`.
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSi,
    };

    /// `units` in `format` (`resource.NewQuantity`).
    pub fn new(units: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(units) * NANOS,
            format,
        }
    }

    /// `millis` thousandths, decimal (`resource.NewMilliQuantity(m, DecimalSI)`).
    pub fn from_millis(millis: i64) -> Quantity {
        Quantity {
            nanos: i128::from(millis) * (NANOS / 1000),
            format: Format::DecimalSi,
        }
    }

    /// Parses a quantity string (`resource.ParseQuantity`).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        s.parse()
    }

    /// The format it prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// -1, 0 or 1 (`Quantity.Sign()`).
    pub fn signum(&self) -> i32 {
        self.nanos.signum() as i32
    }

    /// The value in whole units, rounded away from zero (`Quantity.Value()`),
    /// saturating at the int64 bounds.
    pub fn value(&self) -> i64 {
        saturate(div_away_from_zero(self.nanos, NANOS))
    }

    /// The value in thousandths, rounded away from zero (`Quantity.MilliValue()`),
    /// saturating at the int64 bounds.
    pub fn milli_value(&self) -> i64 {
        saturate(div_away_from_zero(self.nanos, NANOS / 1000))
    }

    /// The quantity rounded up to whole units (`RoundUp(0)`), in its format.
    pub fn ceil_units(&self) -> Quantity {
        Quantity {
            nanos: div_away_from_zero(self.nanos, NANOS) * NANOS,
            format: self.format,
        }
    }

    /// The sum, in this quantity's format unless it is zero (`Quantity.Add`), capped
    /// rather than overflowing.
    pub fn plus(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format: self.result_format(other),
        }
    }

    /// The difference, in this quantity's format unless it is zero (`Quantity.Sub`).
    pub fn minus(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(other.nanos),
            format: self.result_format(other),
        }
    }

    fn result_format(&self, other: &Quantity) -> Format {
        if self.nanos == 0 {
            other.format
        } else {
            self.format
        }
    }

    /// The string form, as the API stores a quantity (`k8s_openapi`'s wrapper).
    pub fn to_k8s(&self) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(self.to_string())
    }
}

/// Rounds `n / d` away from zero (`d` > 0), as apimachinery's `RoundUp` mode does.
fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 { q } else { q + n.signum() }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Equal values are equal quantities whatever their formats (`Cmp(...) == 0`).
impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by value (`Quantity.Cmp`).
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Default for Quantity {
    fn default() -> Self {
        Quantity::ZERO
    }
}

/// A suffix's meaning: the format and the decimal and binary exponents it multiplies by.
fn suffix(s: &str) -> Result<(Format, i32, u32), QuantityError> {
    let decimal = |e| Ok((Format::DecimalSi, e, 0));
    let binary = |e| Ok((Format::BinarySi, 0, e));
    match s {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = s
                .strip_prefix('e')
                .or_else(|| s.strip_prefix('E'))
                .ok_or(QuantityError::Suffix)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            let e: i32 = exp.parse().map_err(|_| QuantityError::Suffix)?;
            Ok((Format::DecimalExponent, e, 0))
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            Some(_) => (false, s),
            None => return Err(QuantityError::Format),
        };
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix_text) = body.split_at(end);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(QuantityError::Format);
        }
        let (format, exp10, exp2) = suffix(suffix_text)?;
        // The digits as one integer, scaled by 10^-fraction_len; digits past
        // MAX_DIGITS significant ones only round up.
        let all = format!("{int_part}{frac_part}");
        let significant = all.trim_start_matches('0');
        let mut fraction_len = frac_part.len() as i64;
        let kept = if significant.len() > MAX_DIGITS {
            let dropped = significant.len() - MAX_DIGITS;
            fraction_len -= dropped as i64;
            &significant[..MAX_DIGITS]
        } else {
            significant
        };
        let inexact = significant[kept.len()..].bytes().any(|b| b != b'0');
        let mantissa: i128 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| QuantityError::Format)?
        };
        let scaled = mantissa.checked_mul(1i128 << exp2);
        let power = i64::from(exp10) - fraction_len + 9;
        let nanos = match scaled {
            None => MAX_NANOS,
            Some(m) if power >= 0 => {
                let factor = u32::try_from(power)
                    .ok()
                    .and_then(|p| 10i128.checked_pow(p));
                match factor.and_then(|f| m.checked_mul(f)) {
                    Some(v) => v + i128::from(inexact),
                    None if m == 0 => i128::from(inexact),
                    None => MAX_NANOS,
                }
            }
            Some(m) => {
                let divisor = u32::try_from(-power)
                    .ok()
                    .and_then(|p| 10i128.checked_pow(p));
                match divisor {
                    Some(d) if inexact => m / d + 1,
                    Some(d) => div_away_from_zero(m, d),
                    // Smaller than a nano: rounded up to one, or zero.
                    None => i128::from(m != 0 || inexact),
                }
            }
        };
        let nanos = nanos.min(MAX_NANOS);
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }
}

/// Removes every factor `base` from `n` (non-zero), counting them.
fn remove_factors(mut n: i128, base: i128) -> (i128, i32) {
    let mut times = 0;
    while n != 0 && n % base == 0 {
        n /= base;
        times += 1;
    }
    (n, times)
}

fn decimal_suffix(exp: i32, format: Format) -> String {
    if format == Format::DecimalSi {
        let known = match exp {
            -9 => Some("n"),
            -6 => Some("u"),
            -3 => Some("m"),
            0 => Some(""),
            3 => Some("k"),
            6 => Some("M"),
            9 => Some("G"),
            12 => Some("T"),
            15 => Some("P"),
            18 => Some("E"),
            _ => None,
        };
        if let Some(s) = known {
            return s.to_string();
        }
    }
    if exp == 0 {
        String::new()
    } else {
        format!("e{exp}")
    }
}

/// The canonical form (`Quantity.String()`): the integer mantissa with the largest
/// suffix that keeps it exact; binary quantities under 1024 or with fractions print
/// as decimal ones.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == Format::BinarySi
            && (self.nanos.abs() < 1024 * NANOS || self.nanos % NANOS != 0)
        {
            format = Format::DecimalSi;
        }
        if format == Format::BinarySi {
            let (mantissa, times) = remove_factors(self.nanos / NANOS, 1024);
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            return write!(f, "{mantissa}{}", suffix[times.min(6) as usize]);
        }
        let (mut mantissa, times) = remove_factors(self.nanos, 10);
        let mut exp = times - 9;
        match exp.rem_euclid(3) {
            1 => {
                mantissa *= 10;
                exp -= 1;
            }
            2 => {
                mantissa *= 100;
                exp -= 2;
            }
            _ => {}
        }
        write!(f, "{mantissa}{}", decimal_suffix(exp, format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parsed_quantities_print_in_apimachinerys_canonical_form() {
        let table = [
            ("0", "0"),
            ("0m", "0"),
            ("100m", "100m"),
            ("0.5", "500m"),
            (".5", "500m"),
            ("1.", "1"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("1.1", "1100m"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("1000000", "1M"),
            ("5G", "5G"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("1.5e3", "1500"),
            ("1e-3", "1e-3"),
            ("1Ki", "1Ki"),
            ("2048Ki", "2Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1023", "1023"),
            ("1024", "1024"),
            ("128Mi", "128Mi"),
            ("12345n", "12345n"),
            ("1u", "1u"),
            ("+3", "3"),
            ("-100m", "-100m"),
            ("-1Gi", "-1Gi"),
            ("1E", "1E"),
        ];
        for (input, want) in table {
            assert_eq!(q(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn bad_strings_are_refused() {
        for s in [
            "", "-", ".", "1..2", "abc", "1Qi", "1e", "1ee3", "1 ", " 1", "1.5.3",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn values_round_up_as_apimachinery_does() {
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("1.0001").milli_value(), 1001);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("1Gi").milli_value(), 1000 << 30);
        assert_eq!(q("0.1n").to_string(), "1n");
        assert_eq!(q("1.5").ceil_units().to_string(), "2");
        assert_eq!(q("-1.5").value(), -2);
        assert_eq!(q("1e30").value(), i64::MAX);
        assert_eq!(q("99999999999999999999999999999999").value(), i64::MAX);
    }

    #[test]
    fn arithmetic_is_exact_and_keeps_the_left_format() {
        assert_eq!(q("100m").plus(&q("900m")).to_string(), "1");
        assert_eq!(q("1Gi").plus(&q("512Mi")).to_string(), "1536Mi");
        assert_eq!(q("0").plus(&q("1Gi")).to_string(), "1Gi");
        assert_eq!(q("1G").plus(&q("1Gi")).to_string(), "2073741824");
        assert_eq!(q("1").minus(&q("300m")).to_string(), "700m");
        assert_eq!(q("0.1").plus(&q("0.2")), q("300m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(Quantity::new(2, Format::DecimalSi).to_string(), "2");
        assert_eq!(Quantity::from_millis(250).to_string(), "250m");
    }

    proptest::proptest! {
        #[test]
        fn printing_and_parsing_round_trip(nanos in -(1i128 << 80)..(1i128 << 80), binary: bool) {
            let format = if binary { Format::BinarySi } else { Format::DecimalSi };
            let x = Quantity { nanos, format };
            let back = Quantity::parse(&x.to_string()).unwrap();
            proptest::prop_assert_eq!(back, x);
        }

        #[test]
        fn sums_are_exact(a in 0i64..1_000_000_000, b in 0i64..1_000_000_000) {
            let s = Quantity::from_millis(a).plus(&Quantity::from_millis(b));
            proptest::prop_assert_eq!(s.milli_value(), a + b);
        }
    }
}
