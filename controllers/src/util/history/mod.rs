//! Controller history: the hashes controllers name their children by (upstream
//! `controller.ComputeHash`, `history.HashControllerRevision`).
//!
//! - [`hash`]: `ComputeHash`, `HashControllerRevision`, revision names.

pub mod hash;

pub use hash::{compute_hash, controller_revision_name, hash_controller_revision};
