//! A label selector (`labels.Selector`): requirements ANDed together, kept sorted by
//! key as upstream's `internalSelector` keeps them, or the selector that matches
//! nothing.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::labels::Labels;
use crate::requirement::Requirement;

/// A label selector. [`Selector::everything`] (no requirements, also the default)
/// matches every label set; [`Selector::nothing`] (what a nil `metav1.LabelSelector`
/// converts to) matches none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The requirements sorted by key (stable, so requirements on one key keep their
    /// order); `None` for the selector that matches nothing.
    requirements: Option<Vec<Requirement>>,
}

impl Default for Selector {
    fn default() -> Self {
        Self::everything()
    }
}

impl Selector {
    /// `labels.Everything()`: no requirements, matches every label set.
    pub fn everything() -> Self {
        Selector {
            requirements: Some(Vec::new()),
        }
    }

    /// `labels.Nothing()`: matches no label set; adding requirements leaves it so.
    pub fn nothing() -> Self {
        Selector { requirements: None }
    }

    /// `labels.SelectorFromValidatedSet`: `key=value` for each pair, not validated (for
    /// labels read from objects the API server has validated). An empty set gives
    /// [`Selector::everything`].
    pub fn from_set<K: Into<String>, V: Into<String>>(
        set: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::from_requirements(set.into_iter().map(|(k, v)| Requirement::equals(k, v)))
    }

    /// A selector of these requirements (`NewSelector().Add(…)`), sorted by key.
    pub fn from_requirements(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut reqs: Vec<Requirement> = requirements.into_iter().collect();
        reqs.sort_by(|a, b| a.key().cmp(b.key()));
        Selector {
            requirements: Some(reqs),
        }
    }

    /// `labels.Parse`: the selector written in `input`'s string form.
    pub fn parse(input: &str) -> Result<Self, Error> {
        crate::parse::parse(input)
    }

    /// Adds a requirement in key order (`Selector.Add`); the nothing selector stays
    /// nothing.
    pub fn add(&mut self, requirement: Requirement) {
        if let Some(reqs) = &mut self.requirements {
            let at = reqs.partition_point(|r| r.key() <= requirement.key());
            reqs.insert(at, requirement);
        }
    }

    /// The requirements, sorted by key (`Selector.Requirements`); `None` for the
    /// nothing selector.
    pub fn requirements(&self) -> Option<&[Requirement]> {
        self.requirements.as_deref()
    }

    /// Whether the selector has no requirements and so matches everything
    /// (`Selector.Empty`; the nothing selector is not empty).
    pub fn is_empty(&self) -> bool {
        self.requirements.as_ref().is_some_and(Vec::is_empty)
    }

    /// Whether this is the selector that matches nothing (`labels.MatchesNothing`).
    pub fn is_nothing(&self) -> bool {
        self.requirements.is_none()
    }

    /// Whether `labels` satisfy every requirement (`Selector.Matches`). Does not
    /// allocate.
    #[inline]
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match &self.requirements {
            None => false,
            Some(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }
}

/// `labels.ValidatedSetSelector(set).Matches(labels)`: whether every `key=value` of
/// `set` is in `labels` (an empty set matches everything), without building a
/// [`Selector`]; for `nodeSelector` maps and Service selectors on hot paths.
#[inline]
pub fn set_matches<K, V, L>(set: impl IntoIterator<Item = (K, V)>, labels: &L) -> bool
where
    K: AsRef<str>,
    V: AsRef<str>,
    L: Labels + ?Sized,
{
    set.into_iter()
        .all(|(k, v)| labels.lookup(k.as_ref()) == Some(v.as_ref()))
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Selector {
    /// [`Selector::from_set`].
    fn from_iter<I: IntoIterator<Item = (K, V)>>(set: I) -> Self {
        Self::from_set(set)
    }
}

/// The canonical string form (`Selector.String()`): the requirements in key order,
/// joined by commas (`a=b,c in (d,e),!f`); empty for everything and for nothing. This
/// is what list and watch URLs and a scale subresource's `status.selector` carry.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().flatten().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
