//! Node selector terms and tolerations: the matching rules the plugins share
//! (`nodeaffinity`, `v1helper`), kept in capstan-labels' [`capstan_labels::node`]
//! (the DaemonSet controller decides with them too), and their compiled form.
//! Label selectors are capstan-labels'.

mod compiled;

pub use capstan_labels::node::{
    find_untolerated_taint, node_requirement_matches, node_selector_matches,
    node_selector_term_matches, toleration_tolerates, tolerations_tolerate,
};
pub use compiled::{CompiledNodeSelector, NodeLabels, label_hash, label_hashes};
