//! One requirement of a selector (`labels.Requirement`): a key, an operator and
//! values; its validation (`NewRequirement`), matching and string form.

use std::fmt;

use crate::error::Error;
use crate::field::{BadValue, FieldError};
use crate::labels::Labels;
use crate::syntax::{is_qualified_name, is_valid_label_value};

/// How a requirement relates its key and values (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `k=v`: the label exists with this value.
    Equals,
    /// `k==v`: the same as [`Operator::Equals`], spelled differently.
    DoubleEquals,
    /// `k!=v`: the label is absent or has another value.
    NotEquals,
    /// `k in (a,b)`: the label exists with one of the values.
    In,
    /// `k notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `k`: the label exists.
    Exists,
    /// `!k`: the label does not exist.
    DoesNotExist,
    /// `k>n`: the label's value is an integer greater than the one value.
    GreaterThan,
    /// `k<n`: the label's value is an integer less than the one value.
    LessThan,
}

impl Operator {
    /// Upstream's name of the operator (`selection.Operator`: `in`, `notin`, `=`, `==`,
    /// `!=`, `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }

    /// Whether a label whose value is `value` (`None`: the label is absent) satisfies
    /// this operator with `values` (`Requirement.Matches`). `Gt`/`Lt` need exactly one
    /// value, and it and the label's value must be integers.
    #[inline]
    pub fn matches<S: AsRef<str>>(self, values: &[S], value: Option<&str>) -> bool {
        let has = |v: &str| values.iter().any(|x| x.as_ref() == v);
        match self {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !has(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), [bound]) = (value, values) else {
                    return false;
                };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.as_ref().parse::<i64>()) else {
                    return false;
                };
                if self == Operator::GreaterThan {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

/// A key, an operator and values, as `labels.NewRequirement` accepts them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement`: a requirement whose key is a valid label key, whose
    /// values are valid label values, and whose number of values suits the operator
    /// (`In`/`NotIn` at least one, `=`/`==`/`!=`/`Gt`/`Lt` exactly one, `Exists`/`!`
    /// none; `Gt`/`Lt` an integer). Every problem is reported, with upstream's field
    /// paths (`key`, `values`, `values[0][key]`).
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, Error> {
        let key = key.into();
        let mut errs = Vec::new();
        if let Some(e) = key_error(&key, "key") {
            errs.push(e);
        }
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(detail) = count_error {
            errs.push(FieldError::invalid(
                "values",
                BadValue::Strings(values.clone()),
                detail,
            ));
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(FieldError::invalid(
                        format!("values[{i}]"),
                        BadValue::String(v.clone()),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    format!("values[{i}][{key}]"),
                    BadValue::String(v.clone()),
                    &msgs.join("; "),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(Error::InvalidRequirement(errs));
        }
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// `key=value` without validation, as `labels.SelectorFromValidatedSet` builds its
    /// requirements: for labels read from objects the API server has validated.
    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> Self {
        Requirement {
            key: key.into(),
            operator: Operator::Equals,
            values: vec![value.into()],
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order given (`ValuesUnsorted`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy the requirement (`Requirement.Matches`).
    #[inline]
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.operator
            .matches(&self.values, labels.lookup(&self.key))
    }
}

/// `validateLabelKey`: the key's problems joined into one `field.Invalid` at `path`.
pub(crate) fn key_error(key: &str, path: &str) -> Option<FieldError> {
    let msgs = is_qualified_name(key);
    (!msgs.is_empty())
        .then(|| FieldError::invalid(path, BadValue::String(key.to_string()), &msgs.join("; ")))
}

/// `Requirement.String()`: `!k`, `k`, `k=v`, `k==v`, `k!=v`, `k>v`, `k<v`,
/// `k in (a,b)`, `k notin (a,b)`, with several values sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, set) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
        };
        f.write_str(op)?;
        if set {
            f.write_str("(")?;
        }
        if self.values.is_sorted() {
            write_joined(f, self.values.iter())?;
        } else {
            let mut sorted: Vec<&String> = self.values.iter().collect();
            sorted.sort();
            write_joined(f, sorted.into_iter())?;
        }
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn write_joined<'a>(
    f: &mut fmt::Formatter<'_>,
    values: impl Iterator<Item = &'a String>,
) -> fmt::Result {
    for (i, v) in values.enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        f.write_str(v)?;
    }
    Ok(())
}
