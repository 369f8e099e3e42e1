//! Kubernetes label selectors, one implementation for every capstan crate, faithful to
//! apimachinery's `labels` package and `metav1`'s selector helpers:
//!
//! - [`Selector::parse`] reads the string form (`a=b,c!=d,e in (x,y),f notin (z),g,!h`)
//!   as `labels.Parse` does, with its errors;
//! - [`Selector::from_label_selector`] converts a `metav1.LabelSelector`
//!   (`LabelSelectorAsSelector`: a nil selector matches nothing, an empty one
//!   everything);
//! - [`Selector::matches`] checks any [`Labels`] (label maps, pair lists, absent
//!   labels) without allocating;
//! - `Display` writes the canonical form (`Selector.String()`, requirements sorted by
//!   key) for list/watch URLs and a scale subresource's `status.selector`;
//! - [`node`] matches node selector terms and tolerations against Nodes and their
//!   taints (`nodeaffinity`, `v1helper`);
//! - [`validation`] checks labels and selectors for the API server
//!   (`ValidateLabels`, `ValidateLabelSelector`), on the label key and value syntax of
//!   [`syntax`].

mod convert;
mod error;
pub mod field;
mod labels;
pub mod node;
mod parse;
mod requirement;
mod selector;
pub mod syntax;
pub mod validation;

pub use convert::is_empty_label_selector;
pub use error::Error;
pub use labels::Labels;
pub use requirement::{Operator, Requirement};
pub use selector::{Selector, set_matches};

/// `labels.Parse`: [`Selector::parse`].
pub fn parse(input: &str) -> Result<Selector, Error> {
    Selector::parse(input)
}
