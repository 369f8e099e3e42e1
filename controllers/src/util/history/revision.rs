//! ControllerRevisions as values: building one for an owner, comparing, sorting
//! and numbering them (upstream `pkg/controller/history` and the revision helpers
//! of the DaemonSet and StatefulSet controllers).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use capstan_runtime::ownership::{Owner, OwnershipError};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::Value;

use super::data::{go_json, revision_bytes, template_patch};
use super::hash::{compute_hash, controller_revision_name, hash_controller_revision};

/// Upstream `history.ControllerRevisionHashLabel`: the label carrying the hash a
/// revision was named with.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// apps/v1 `ControllerRevisionHashLabelKey` (`DefaultDaemonSetUniqueLabelKey`,
/// `StatefulSetRevisionLabel`): on a pod, the revision it was created from (the
/// revision's name for StatefulSets, its hash for DaemonSets); on a DaemonSet's
/// revision, its hash.
pub const POD_REVISION_LABEL: &str = "controller-revision-hash";

/// Upstream `history.NewControllerRevision`: a revision of `owner` storing `data`
/// with number `revision`, labelled with `template_labels` plus its hash, controlled
/// by `owner`, and named `<owner>-<hash>` where the hash covers the data and the
/// owner's collision count.
pub fn new_controller_revision(
    owner: &Owner,
    template_labels: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_controller_revision(&go_json(&data), collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(controller_revision_name(&owner.name, &hash)),
            namespace: owner.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner.controller_ref()]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Upstream StatefulSet `newRevision`: the revision restoring `set`'s pod template,
/// carrying the set's annotations.
pub fn statefulset_revision(
    set: &StatefulSet,
    revision: i64,
    collision_count: Option<i32>,
) -> Result<ControllerRevision, OwnershipError> {
    let owner = Owner::of(set)?;
    let template = set.spec.as_ref().map(|s| &s.template);
    let template = template.cloned().unwrap_or_default();
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let mut cr = new_controller_revision(
        &owner,
        labels,
        template_patch(&template),
        revision,
        collision_count,
    );
    let annotations = set.metadata.annotations.clone().unwrap_or_default();
    cr.metadata.annotations = Some(annotations);
    Ok(cr)
}

/// Upstream DaemonSet `snapshot`'s revision: named `<ds>-<ComputeHash(template,
/// collisionCount)>`, labelled with the template's labels plus
/// [`POD_REVISION_LABEL`] set to that hash, carrying the DaemonSet's annotations.
pub fn daemonset_revision(
    ds: &DaemonSet,
    revision: i64,
) -> Result<ControllerRevision, OwnershipError> {
    let owner = Owner::of(ds)?;
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = compute_hash(&template, collision_count);
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(POD_REVISION_LABEL.into(), hash.clone());
    Ok(ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", owner.name)),
            namespace: owner.namespace.clone(),
            labels: Some(labels),
            annotations: ds.metadata.annotations.clone(),
            owner_references: Some(vec![owner.controller_ref()]),
            ..Default::default()
        },
        data: Some(RawExtension(template_patch(&template))),
        revision,
    })
}

/// A revision's [`CONTROLLER_REVISION_HASH_LABEL`] read as upstream's
/// `EqualRevision` reads it: a 32-bit decimal integer, or nothing.
fn numeric_hash(revision: &ControllerRevision) -> Option<i32> {
    revision
        .metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH_LABEL)?
        .parse()
        .ok()
}

/// Upstream `history.EqualRevision`: whether two revisions store the same data.
/// Hash labels that both parse as numbers and differ make them unequal without
/// looking at the data (upstream's shortcut; safe-encoded hashes rarely parse).
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    if let (Some(x), Some(y)) = (numeric_hash(a), numeric_hash(b))
        && x != y
    {
        return false;
    }
    revision_bytes(a) == revision_bytes(b)
}

/// Upstream `history.FindEqualRevisions`: the revisions equal to `needle`, in the
/// order given.
pub fn find_equal_revisions<'a, R: Borrow<ControllerRevision>>(
    revisions: &'a [R],
    needle: &ControllerRevision,
) -> Vec<&'a R> {
    revisions
        .iter()
        .filter(|r| equal_revision((*r).borrow(), needle))
        .collect()
}

/// Upstream's `byRevision` order: by revision number, then the older first, then
/// by name.
pub fn revision_order(a: &ControllerRevision, b: &ControllerRevision) -> Ordering {
    a.revision
        .cmp(&b.revision)
        .then_with(|| {
            let created =
                |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            created(a).cmp(&created(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Upstream `history.SortControllerRevisions`: sorts stably by [`revision_order`].
pub fn sort_controller_revisions<R: Borrow<ControllerRevision>>(revisions: &mut [R]) {
    revisions.sort_by(|a, b| revision_order(a.borrow(), b.borrow()));
}

/// Upstream StatefulSet `nextRevision`: one more than the last of `sorted`
/// revisions, or 1 for an empty history.
pub fn next_revision<R: Borrow<ControllerRevision>>(sorted: &[R]) -> i64 {
    sorted.last().map_or(1, |r| r.borrow().revision + 1)
}

/// Upstream DaemonSet `maxRevision`: the highest revision number, 0 for none.
pub fn max_revision<R: Borrow<ControllerRevision>>(revisions: &[R]) -> i64 {
    revisions
        .iter()
        .map(|r| r.borrow().revision)
        .fold(0, i64::max)
}

/// What to do so that a revision storing the owner's current data is the newest
/// (upstream StatefulSet `getStatefulSetRevisions`).
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateRevision {
    /// The newest revision already stores the data: use the one at this index.
    Unchanged(usize),
    /// An older revision stores the data (a rollback): give the one at this index
    /// the next number instead of storing the data twice.
    Renumber {
        /// Index of the revision in the sorted history.
        index: usize,
        /// Its new number.
        revision: i64,
    },
    /// No revision stores the data: create this candidate.
    Create(Box<ControllerRevision>),
}

/// Decides how the candidate revision (built with [`next_revision`] of `sorted`)
/// enters the history: reuse the newest equal revision, renumber an older equal
/// one, or create it. `sorted` must be in [`sort_controller_revisions`] order.
pub fn plan_update_revision<R: Borrow<ControllerRevision>>(
    sorted: &[R],
    candidate: ControllerRevision,
) -> UpdateRevision {
    let last_equal = sorted
        .iter()
        .rposition(|r| equal_revision(r.borrow(), &candidate));
    match last_equal {
        Some(index) if index + 1 == sorted.len() => UpdateRevision::Unchanged(index),
        Some(index) => UpdateRevision::Renumber {
            index,
            revision: candidate.revision,
        },
        None => UpdateRevision::Create(Box::new(candidate)),
    }
}

/// Upstream DaemonSet `dedupCurHistories`' choice among revisions that all store the
/// current data: keep the highest-numbered (the last one of equal numbers), and
/// return the names of the others, to delete once pods are relabelled.
pub fn dedup_current<R: Borrow<ControllerRevision>>(current: &[R]) -> Option<(&R, Vec<String>)> {
    let mut keep: Option<&R> = None;
    for r in current {
        if keep.is_none_or(|k| r.borrow().revision >= k.borrow().revision) {
            keep = Some(r);
        }
    }
    let keep = keep?;
    let keep_name = keep.borrow().metadata.name.clone();
    let duplicates = current
        .iter()
        .filter_map(|r| r.borrow().metadata.name.clone())
        .filter(|n| Some(n) != keep_name.as_ref())
        .collect();
    Some((keep, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::history::data::template_patch;
    use crate::util::testing::{at, labels, template};
    use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetStatus, StatefulSetSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn owner() -> Owner {
        Owner {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: "web".into(),
            namespace: Some("default".into()),
            uid: "uid-web".into(),
            deleting: false,
        }
    }

    fn rev(name: &str, number: i64, image: &str) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(RawExtension(template_patch(&template(image)))),
            revision: number,
        }
    }

    #[test]
    fn a_new_revision_is_named_labelled_and_owned_as_upstream() {
        let t = template("nginx:1");
        let data = template_patch(&t);
        let cr = new_controller_revision(
            &owner(),
            t.metadata.as_ref().and_then(|m| m.labels.as_ref()),
            data.clone(),
            4,
            Some(0),
        );
        let hash = hash_controller_revision(&go_json(&data), Some(0));
        assert_eq!(cr.metadata.name, Some(format!("web-{hash}")));
        assert_eq!(
            cr.metadata.labels,
            Some(labels(&[
                ("app", "web"),
                (CONTROLLER_REVISION_HASH_LABEL, &hash)
            ]))
        );
        let refs = cr.metadata.owner_references.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (
                refs[0].uid.as_str(),
                refs[0].controller,
                refs[0].block_owner_deletion
            ),
            ("uid-web", Some(true), Some(true))
        );
        assert_eq!(cr.revision, 4);
        assert_eq!(cr.data.unwrap().0, data);
        let bumped = new_controller_revision(&owner(), None, template_patch(&t), 4, Some(1));
        assert_ne!(bumped.metadata.name, Some(format!("web-{hash}")));
    }

    #[test]
    fn owner_specific_revisions() {
        let set = StatefulSet {
            metadata: ObjectMeta {
                name: Some("db".into()),
                namespace: Some("default".into()),
                uid: Some("uid-db".into()),
                annotations: Some(labels(&[("note", "x")])),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                template: template("postgres:16"),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cr = statefulset_revision(&set, 1, Some(0)).unwrap();
        assert!(cr.metadata.name.as_deref().unwrap().starts_with("db-"));
        assert_eq!(cr.metadata.annotations, Some(labels(&[("note", "x")])));
        assert_eq!(cr.metadata.owner_references.unwrap()[0].kind, "StatefulSet");

        let ds = DaemonSet {
            metadata: set.metadata.clone(),
            spec: Some(DaemonSetSpec {
                template: template("agent:1"),
                ..Default::default()
            }),
            status: Some(DaemonSetStatus {
                collision_count: Some(2),
                ..Default::default()
            }),
        };
        let cr = daemonset_revision(&ds, 3).unwrap();
        let hash = compute_hash(&template("agent:1"), Some(2));
        assert_eq!(cr.metadata.name, Some(format!("db-{hash}")));
        assert_eq!(
            cr.metadata.labels.unwrap().get(POD_REVISION_LABEL),
            Some(&hash)
        );
        assert_eq!(cr.metadata.owner_references.unwrap()[0].kind, "DaemonSet");
        assert_eq!(cr.revision, 3);
        assert!(statefulset_revision(&StatefulSet::default(), 1, None).is_err());
    }

    #[test]
    fn equality_is_by_data_with_upstreams_numeric_label_shortcut() {
        let a = rev("a", 1, "nginx:1");
        let mut b = rev("b", 7, "nginx:1");
        assert!(equal_revision(&a, &b));
        assert!(!equal_revision(&a, &rev("c", 1, "nginx:2")));
        let label = |n: &str| Some(labels(&[(CONTROLLER_REVISION_HASH_LABEL, n)]));
        // Safe-encoded hashes do not parse as numbers: the data decides.
        let mut a2 = a.clone();
        a2.metadata.labels = label("bcd");
        b.metadata.labels = label("xyz");
        assert!(equal_revision(&a2, &b));
        // Numeric hashes that differ decide alone.
        a2.metadata.labels = label("245");
        b.metadata.labels = label("246");
        assert!(!equal_revision(&a2, &b));
        b.metadata.labels = label("245");
        assert!(equal_revision(&a2, &b));
        let history = [a.clone(), rev("x", 2, "nginx:2"), b.clone()];
        let found: Vec<&str> = find_equal_revisions(&history, &a)
            .iter()
            .map(|r| r.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(found, ["a", "b"]);
    }

    #[test]
    fn sorting_and_numbering() {
        let mut older = rev("z", 2, "a");
        older.metadata.creation_timestamp = Some(Time(at(0)));
        let mut newer = rev("a", 2, "b");
        newer.metadata.creation_timestamp = Some(Time(at(10)));
        let same_time = |name: &str| {
            let mut r = rev(name, 1, "c");
            r.metadata.creation_timestamp = Some(Time(at(5)));
            r
        };
        let mut revs = vec![
            newer,
            rev("m", 3, "d"),
            same_time("q"),
            older,
            same_time("p"),
        ];
        sort_controller_revisions(&mut revs);
        let names: Vec<&str> = revs
            .iter()
            .map(|r| r.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["p", "q", "z", "a", "m"]);
        assert_eq!(next_revision(&revs), 4);
        assert_eq!(next_revision::<ControllerRevision>(&[]), 1);
        assert_eq!(max_revision(&[rev("a", 5, "x"), rev("b", 2, "y")]), 5);
        assert_eq!(max_revision::<ControllerRevision>(&[]), 0);
    }

    #[test]
    fn update_revision_plans() {
        let history = [rev("r1", 1, "v1"), rev("r2", 2, "v2")];
        let candidate = |image: &str| rev("new", next_revision(&history), image);
        assert_eq!(
            plan_update_revision(&history, candidate("v2")),
            UpdateRevision::Unchanged(1)
        );
        assert_eq!(
            plan_update_revision(&history, candidate("v1")),
            UpdateRevision::Renumber {
                index: 0,
                revision: 3
            }
        );
        assert_eq!(
            plan_update_revision(&history, candidate("v3")),
            UpdateRevision::Create(Box::new(candidate("v3")))
        );
        assert_eq!(
            plan_update_revision::<ControllerRevision>(&[], candidate("v1")),
            UpdateRevision::Create(Box::new(candidate("v1")))
        );
        // With duplicates, the newest equal revision is the one renumbered.
        let dup = [rev("a", 1, "v1"), rev("b", 2, "v1"), rev("c", 3, "v2")];
        assert_eq!(
            plan_update_revision(&dup, rev("n", 4, "v1")),
            UpdateRevision::Renumber {
                index: 1,
                revision: 4
            }
        );
    }

    #[test]
    fn dedup_keeps_the_highest_numbered_current_revision() {
        let current = [
            rev("a", 3, "v1"),
            rev("b", 5, "v1"),
            rev("c", 5, "v1"),
            rev("d", 1, "v1"),
        ];
        let (keep, dups) = dedup_current(&current).unwrap();
        assert_eq!(keep.metadata.name.as_deref(), Some("c"));
        assert_eq!(dups, ["a", "b", "d"]);
        let (keep, dups) = dedup_current(&current[..1]).unwrap();
        assert_eq!(keep.metadata.name.as_deref(), Some("a"));
        assert!(dups.is_empty());
        assert!(dedup_current::<ControllerRevision>(&[]).is_none());
    }
}
