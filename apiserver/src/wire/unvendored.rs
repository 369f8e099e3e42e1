//! Go types the server writes that have no protobuf message to read their order from
//! (upstream marks them `+protobuf=false` or keeps them outside the API packages), their
//! JSON properties listed in their struct's declaration order:
//!
//! - `meta/v1.Table` and its parts (`apimachinery/pkg/apis/meta/v1/types.go`);
//! - `version.Info` (`apimachinery/pkg/version/types.go`), the `/version` document.
//!
//! Every other order comes from the vendored `.proto` files ([`super::plan`]).

use super::plan::Container;

/// What the values of a property are.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    /// Scalars or arbitrary JSON.
    Sorted,
    /// An object naming its own type (a `runtime.RawExtension`).
    Embedded,
    /// The message or unvendored type of this full name.
    Message(&'static str),
}

/// One Go type: its full name in the protobuf naming (package, then type) and its
/// properties. `TypeMeta`'s `kind` and `apiVersion` lead unless listed.
#[derive(Debug)]
pub(super) struct GoType {
    /// `k8s.io.apimachinery.pkg.apis.meta.v1.Table`.
    pub name: &'static str,
    /// JSON name, how values are held, what they are.
    pub fields: &'static [(&'static str, Container, Target)],
}

/// The types, by their protobuf-style full names.
pub(super) const TYPES: &[GoType] = &[
    GoType {
        name: "k8s.io.apimachinery.pkg.apis.meta.v1.Table",
        fields: &[
            (
                "metadata",
                Container::Single,
                Target::Message("k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta"),
            ),
            (
                "columnDefinitions",
                Container::List,
                Target::Message("k8s.io.apimachinery.pkg.apis.meta.v1.TableColumnDefinition"),
            ),
            (
                "rows",
                Container::List,
                Target::Message("k8s.io.apimachinery.pkg.apis.meta.v1.TableRow"),
            ),
        ],
    },
    GoType {
        name: "k8s.io.apimachinery.pkg.apis.meta.v1.TableColumnDefinition",
        fields: &[
            ("name", Container::Single, Target::Sorted),
            ("type", Container::Single, Target::Sorted),
            ("format", Container::Single, Target::Sorted),
            ("description", Container::Single, Target::Sorted),
            ("priority", Container::Single, Target::Sorted),
        ],
    },
    GoType {
        name: "k8s.io.apimachinery.pkg.apis.meta.v1.TableRow",
        fields: &[
            ("cells", Container::List, Target::Sorted),
            (
                "conditions",
                Container::List,
                Target::Message("k8s.io.apimachinery.pkg.apis.meta.v1.TableRowCondition"),
            ),
            ("object", Container::Single, Target::Embedded),
        ],
    },
    GoType {
        name: "k8s.io.apimachinery.pkg.apis.meta.v1.TableRowCondition",
        fields: &[
            ("type", Container::Single, Target::Sorted),
            ("status", Container::Single, Target::Sorted),
            ("reason", Container::Single, Target::Sorted),
            ("message", Container::Single, Target::Sorted),
        ],
    },
    GoType {
        name: VERSION_INFO,
        fields: &[
            ("major", Container::Single, Target::Sorted),
            ("minor", Container::Single, Target::Sorted),
            ("emulationMajor", Container::Single, Target::Sorted),
            ("emulationMinor", Container::Single, Target::Sorted),
            ("minCompatibilityMajor", Container::Single, Target::Sorted),
            ("minCompatibilityMinor", Container::Single, Target::Sorted),
            ("gitVersion", Container::Single, Target::Sorted),
            ("gitCommit", Container::Single, Target::Sorted),
            ("gitTreeState", Container::Single, Target::Sorted),
            ("buildDate", Container::Single, Target::Sorted),
            ("goVersion", Container::Single, Target::Sorted),
            ("compiler", Container::Single, Target::Sorted),
            ("platform", Container::Single, Target::Sorted),
        ],
    },
];

/// `version.Info`, the `/version` document.
pub const VERSION_INFO: &str = "k8s.io.apimachinery.pkg.version.Info";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_types_are_meta_v1() {
        for t in TYPES.iter().filter(|t| t.name != VERSION_INFO) {
            assert!(
                t.name.starts_with(crate::protobuf::descriptors::META_V1),
                "{}",
                t.name
            );
            // None of them is vendored: this list never shadows a .proto message.
            assert!(
                crate::protobuf::descriptors::message(t.name).is_none(),
                "{}",
                t.name
            );
        }
    }
}
