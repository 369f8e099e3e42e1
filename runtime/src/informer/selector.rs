//! Parsing label selector strings (`app=web,tier!=db,env in (a,b),!legacy`) into
//! [`kube::core::Selector`], which kube can match but not parse.
//!
//! The grammar is the one `kubectl -l` and client-go's `labels.Parse` accept:
//! `k=v`, `k==v`, `k!=v`, `k in (v1,v2)`, `k notin (v1,v2)`, `k` (exists) and `!k`
//! (does not exist), joined by commas.

use std::collections::BTreeSet;

use kube::core::{Expression, Selector};

/// A label selector string that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorParseError {
    /// The whole selector string.
    pub selector: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a label selector string; the empty string selects everything.
pub fn parse_label_selector(input: &str) -> Result<Selector, SelectorParseError> {
    let err = |reason: String| SelectorParseError {
        selector: input.to_string(),
        reason,
    };
    let mut exprs = Vec::new();
    for term in split_terms(input).map_err(err)? {
        exprs.push(parse_term(term).map_err(err)?);
    }
    Ok(Selector::from_iter(exprs))
}

/// Splits on commas that are not inside parentheses.
fn split_terms(input: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".into());
                }
            }
            ',' if depth == 0 => {
                terms.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    terms.push(&input[start..]);
    let terms: Vec<&str> = terms.into_iter().map(str::trim).collect();
    if terms.len() == 1 && terms[0].is_empty() {
        return Ok(Vec::new());
    }
    if terms.iter().any(|t| t.is_empty()) {
        return Err("empty requirement".into());
    }
    Ok(terms)
}

fn check_key(key: &str) -> Result<String, String> {
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_string())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

fn check_value(value: &str) -> Result<String, String> {
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(format!("invalid label value {value:?}"))
    }
}

fn parse_set(rest: &str) -> Result<BTreeSet<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised value list, got {rest:?}"))?;
    if inner.trim().is_empty() {
        return Err("empty value list".into());
    }
    let values = inner
        .split(',')
        .map(|v| check_value(v.trim()))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(values)
}

fn parse_term(term: &str) -> Result<Expression, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(check_key(key.trim())?));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(Expression::NotEqual(
            check_key(k.trim())?,
            check_value(v.trim())?,
        ));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Expression::Equal(
            check_key(k.trim())?,
            check_value(v.trim())?,
        ));
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    match words.next().map(str::trim_start) {
        None => Ok(Expression::Exists(check_key(key)?)),
        Some(rest) => {
            if let Some(set) = rest.strip_prefix("notin") {
                Ok(Expression::NotIn(check_key(key)?, parse_set(set)?))
            } else if let Some(set) = rest.strip_prefix("in") {
                Ok(Expression::In(check_key(key)?, parse_set(set)?))
            } else {
                Err(format!("unknown operator in {term:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::SelectorExt;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = parse_label_selector(
            "app=web, tier!=db,env in (prod, staging),zone notin (x),team,!legacy",
        )
        .unwrap();
        let ok = labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("env", "prod"),
            ("zone", "y"),
            ("team", "a"),
        ]);
        assert!(s.matches(&ok));
        for (k, v) in [
            ("app", "api"),
            ("tier", "db"),
            ("env", "dev"),
            ("zone", "x"),
        ] {
            let mut l = ok.clone();
            l.insert(k.into(), v.into());
            assert!(!s.matches(&l), "{k}={v} should not match");
        }
        let mut no_team = ok.clone();
        no_team.remove("team");
        assert!(!s.matches(&no_team));
        let mut legacy = ok.clone();
        legacy.insert("legacy".into(), "".into());
        assert!(!s.matches(&legacy));
    }

    #[test]
    fn double_equals_and_empty_selector() {
        assert!(
            parse_label_selector("a==b")
                .unwrap()
                .matches(&labels(&[("a", "b")]))
        );
        let all = parse_label_selector("  ").unwrap();
        assert!(all.selects_all());
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in [
            "a=b,",
            "a in (x",
            "a in x",
            "a=b c",
            "a foo (x)",
            ",",
            "a in ()",
            "=x",
        ] {
            assert!(parse_label_selector(bad).is_err(), "{bad:?} parsed");
        }
    }
}
