//! The few `field.Error`s (apimachinery `util/validation/field`) that label selectors
//! report, printed as Go prints them: `values[0][app]: Invalid value: "a b": …`.

use std::fmt;

/// The offending value of an [`FieldErrorKind::Invalid`] error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed quoted (`"a b"`).
    String(String),
    /// A list of strings, printed as Go's `%#v` prints a `[]string`
    /// (`[]string{"a", "b"}`, `[]string(nil)` when empty).
    Strings(Vec<String>),
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::String(s) => f.write_str(&go_quote(s)),
            BadValue::Strings(v) if v.is_empty() => f.write_str("[]string(nil)"),
            BadValue::Strings(v) => {
                f.write_str("[]string{")?;
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&go_quote(s))?;
                }
                f.write_str("}")
            }
        }
    }
}

/// What is wrong with a field (`field.ErrorType`, the kinds selectors use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `field.Required`: the field must be set.
    Required,
    /// `field.Forbidden`: the field may not be set.
    Forbidden,
    /// `field.Invalid`: the value is malformed.
    Invalid(BadValue),
}

/// One problem with one field of a selector (`field.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The field path (`spec.selector.matchExpressions[0].values`); `<nil>` where
    /// upstream reports a nil path (a key rejected by the string parser).
    pub field: String,
    /// The explanation (`must be specified when …`).
    pub detail: String,
}

impl FieldError {
    /// `field.Required(field, detail)`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(FieldErrorKind::Required, field, detail)
    }

    /// `field.Forbidden(field, detail)`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, detail)
    }

    /// `field.Invalid(field, value, detail)`.
    pub fn invalid(field: impl Into<String>, value: BadValue, detail: &str) -> Self {
        Self::new(FieldErrorKind::Invalid(value), field, detail)
    }

    fn new(kind: FieldErrorKind, field: impl Into<String>, detail: &str) -> Self {
        FieldError {
            kind,
            field: field.into(),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.field)?;
        match &self.kind {
            FieldErrorKind::Required => f.write_str("Required value")?,
            FieldErrorKind::Forbidden => f.write_str("Forbidden")?,
            FieldErrorKind::Invalid(v) => write!(f, "Invalid value: {v}")?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Go's `%q` of a string (`strconv.Quote`): double quotes, with `"` and `\` escaped and
/// control characters written as Go escapes them.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
