//! The patch schema of a kind, which merge keys, list types and managed fields follow:
//! a built-in kind's transcribed struct tags, a custom resource's CRD schema, or none.

use capstan_patch::PatchMeta;
use capstan_patch::schema::{NoMeta, OpenApiMeta};

use crate::kinds::KindInfo;

/// The patch schema of a kind: built-in struct tags, a CRD's OpenAPI schema, or none.
pub enum KindSchema {
    /// A built-in kind's transcribed patch metadata.
    Builtin(&'static dyn PatchMeta),
    /// A custom resource's `openAPIV3Schema`.
    Custom(Box<OpenApiMeta>),
    /// No metadata (lists atomic, objects merged).
    Untyped,
}

impl KindSchema {
    /// The schema of `kind` (its CRD schema for custom resources).
    pub fn of(kind: &KindInfo) -> KindSchema {
        if let Some(custom) = kind.custom.as_ref() {
            return match custom.schema.as_ref() {
                Some(s) => KindSchema::Custom(Box::new(OpenApiMeta::from_schema(s))),
                None => KindSchema::Untyped,
            };
        }
        match capstan_patch::builtin_meta::builtin_patch_meta(&kind.group, &kind.kind) {
            Some(m) => KindSchema::Builtin(m),
            None => KindSchema::Untyped,
        }
    }

    /// The `autoscaling/v1` `Scale` schema.
    pub fn scale() -> KindSchema {
        match capstan_patch::builtin_meta::builtin_patch_meta("autoscaling", "Scale") {
            Some(m) => KindSchema::Builtin(m),
            None => KindSchema::Untyped,
        }
    }

    /// The lookup the patch algorithms take.
    pub fn meta(&self) -> &dyn PatchMeta {
        match self {
            KindSchema::Builtin(m) => *m,
            KindSchema::Custom(m) => m.as_ref(),
            KindSchema::Untyped => &NoMeta,
        }
    }

    /// Whether strategic merge patch is served (built-in kinds only, as upstream).
    pub fn strategic(&self) -> bool {
        !matches!(self, KindSchema::Custom(_)) && !matches!(self, KindSchema::Untyped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_serves_strategic_merge_patch() {
        // Kinds computed on read (ComponentStatuses) take no writes at all.
        for k in crate::kinds::builtin_kinds()
            .into_iter()
            .filter(|k| !k.read_only())
        {
            assert!(
                matches!(KindSchema::of(&k), KindSchema::Builtin(_)),
                "{}/{} has no patch metadata",
                k.group,
                k.kind
            );
        }
    }
}
