//! Deleting a repository, a tag or a manifest by hand, under the same protection rules as
//! retention: [`removal`] plans it (a pure function of an [`Inventory`] and the workloads'
//! image uses), [`crate::apply`] carries it out. A removal is all or nothing: when any
//! manifest it would delete is used by a workload (or is a used index's child, or an index
//! containing a used manifest), or would break an index or another tag that stays, nothing
//! is deleted and the plan says why, naming the workload.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use dns01_registry::{Digest, Repository, Tag};

use crate::error::{Error, Result};
use crate::inventory::{Inventory, RepoInventory};
use crate::plan::{Action, Item, Plan, protected_digests};
use crate::workload::ImageUse;

/// What to delete: `proj-a/app`, `proj-a/app:v1` or `proj-a/app@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every manifest of a repository (its directory goes with the next `gc`'s pruning).
    Repository(Repository),
    /// The manifest a tag points at (refused when other tags point at it too: registries
    /// delete by digest, which would take those tags as well).
    Tag(Repository, Tag),
    /// One manifest and every tag pointing at it.
    Digest(Repository, Digest),
}

impl Target {
    /// The repository.
    pub fn repository(&self) -> &Repository {
        match self {
            Self::Repository(r) | Self::Tag(r, _) | Self::Digest(r, _) => r,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Repository(r) => write!(f, "{r}"),
            Self::Tag(r, t) => write!(f, "{r}:{t}"),
            Self::Digest(r, d) => write!(f, "{r}@{d}"),
        }
    }
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |e: dns01_registry::Error| {
            Error::config(
                "target",
                format!(
                    "`{s}`: {e}; write `project/repository`, `project/repository:tag` or \
                     `project/repository@sha256:…`"
                ),
            )
        };
        if let Some((repo, digest)) = s.split_once('@') {
            return Ok(Self::Digest(
                Repository::parse(repo).map_err(bad)?,
                Digest::parse(digest).map_err(bad)?,
            ));
        }
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        match s[last_slash..].rfind(':') {
            Some(i) => {
                let (repo, tag) = s.split_at(last_slash + i);
                Ok(Self::Tag(
                    Repository::parse(repo).map_err(bad)?,
                    Tag::parse(&tag[1..]).map_err(bad)?,
                ))
            }
            None => Ok(Self::Repository(Repository::parse(s).map_err(bad)?)),
        }
    }
}

/// Every manifest below `roots` (index children, recursively), roots included.
fn closure(inv: &RepoInventory, roots: impl IntoIterator<Item = Digest>) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<Digest> = roots.into_iter().collect();
    while let Some(d) = stack.pop() {
        if out.insert(d.clone()) {
            stack.extend(
                inv.manifests
                    .get(&d)
                    .map(|m| m.children.clone())
                    .unwrap_or_default(),
            );
        }
    }
    out
}

/// Plans deleting `target`. Every manifest it would delete is an item: `Delete` when the
/// removal may go ahead, else `Keep` with the reasons (the workload using it, the index or
/// tag that stays and needs it). Callers delete only when it keeps nothing ([`Plan::kept`] is empty).
/// Indexes come before their children (a partial failure never leaves an index whose
/// children are gone).
///
/// # Errors
/// [`Error::Config`] (key `target`) when the repository, tag or digest is not there.
pub fn removal(
    inventory: &Inventory,
    target: &Target,
    uses: &[ImageUse],
    hosts: &[String],
) -> Result<Plan> {
    let repo = target.repository();
    let missing = |what: String| {
        Error::config(
            "target",
            format!("{what}; `dns01-registry-janitor du --repository {repo}` shows what is there"),
        )
    };
    let inv = inventory
        .repositories
        .get(repo)
        .filter(|i| !i.manifests.is_empty())
        .ok_or_else(|| {
            missing(format!(
                "the registry has no repository `{repo}` with content"
            ))
        })?;
    let (roots, reasons): (Vec<Digest>, String) = match target {
        Target::Repository(_) => (
            inv.manifests.keys().cloned().collect(),
            format!("repository {repo} deleted"),
        ),
        Target::Tag(_, tag) => {
            let d = inv
                .tags
                .get(tag)
                .ok_or_else(|| missing(format!("`{repo}` has no tag `{tag}`")))?;
            (vec![d.clone()], format!("tag {tag} deleted"))
        }
        Target::Digest(_, d) => {
            if !inv.manifests.contains_key(d) {
                return Err(missing(format!("`{repo}` has no manifest {d}")));
            }
            (vec![d.clone()], format!("manifest {d} deleted"))
        }
    };
    // What stays: every tag not removed here, and what it lists.
    let staying_tags: Vec<(&Tag, &Digest)> = inv
        .tags
        .iter()
        .filter(|(t, d)| match target {
            Target::Repository(_) => false,
            Target::Tag(_, tag) => *t != tag && !roots.contains(d),
            Target::Digest(_, digest) => *d != digest,
        })
        .collect();
    let staying = closure(inv, staying_tags.iter().map(|(_, d)| (*d).clone()));
    let candidates = closure(inv, roots.iter().cloned());
    // The targets themselves always count (one that something staying needs is refused);
    // what lies below them goes unless something staying needs it too.
    let doomed: BTreeSet<Digest> = candidates
        .difference(&staying)
        .cloned()
        .chain(roots.iter().cloned())
        .collect();
    let guard = protected_digests(repo, inv, uses, hosts);
    let mut items: Vec<Item> = Vec::new();
    for d in &doomed {
        let mut why: Vec<String> = guard.get(d).cloned().unwrap_or_default();
        let is_protected = !why.is_empty();
        if let Target::Tag(_, tag) = target
            && roots.contains(d)
        {
            let others: Vec<&str> = inv
                .tags_of(d)
                .into_iter()
                .filter(|t| *t != tag)
                .map(Tag::as_str)
                .collect();
            if !others.is_empty() {
                why.push(format!(
                    "also tagged {}: a registry deletes by digest, which would remove those \
                     tags too; delete {repo}@{d} to remove them all",
                    others.join(", ")
                ));
            }
        }
        // An index that stays and lists this manifest would break.
        for parent in inv.parents_of(d) {
            if !doomed.contains(parent) {
                let tags: Vec<&str> = inv.tags_of(parent).into_iter().map(Tag::as_str).collect();
                why.push(format!(
                    "listed by index {parent}{}, which stays",
                    if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" (tags {})", tags.join(", "))
                    }
                ));
            }
        }
        items.push(Item {
            repository: repo.clone(),
            digest: d.clone(),
            tags: inv.tags_of(d).into_iter().cloned().collect(),
            action: if why.is_empty() {
                Action::Delete
            } else {
                Action::Keep
            },
            reasons: if why.is_empty() {
                vec![reasons.clone()]
            } else {
                why
            },
            protected: is_protected,
        });
    }
    // Indexes first, then by depth below them: a child never goes before its index.
    let depth: BTreeMap<&Digest, usize> = items
        .iter()
        .map(|i| {
            let mut depth = 0;
            let mut up: Vec<&Digest> = inv.parents_of(&i.digest);
            while !up.is_empty() && depth < 16 {
                depth += 1;
                up = up.into_iter().flat_map(|p| inv.parents_of(p)).collect();
            }
            (&i.digest, depth)
        })
        .collect();
    let mut order: Vec<(usize, Item)> = items
        .iter()
        .map(|i| (depth.get(&i.digest).copied().unwrap_or(0), i.clone()))
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.digest.cmp(&b.1.digest)));
    let mut plan = Plan {
        items: order.into_iter().map(|(_, i)| i).collect(),
    };
    // All or nothing.
    if plan.items.iter().any(|i| i.action == Action::Keep) {
        for i in &mut plan.items {
            if i.action == Action::Delete {
                i.action = Action::Keep;
                i.reasons = vec![format!("not deleted: the removal of {target} was refused")];
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_name_the_fix() {
        assert_eq!(
            "proj-a/app".parse::<Target>().unwrap(),
            Target::Repository(Repository::parse("proj-a/app").unwrap())
        );
        assert_eq!(
            "proj-a/app:v1".parse::<Target>().unwrap(),
            Target::Tag(
                Repository::parse("proj-a/app").unwrap(),
                Tag::parse("v1").unwrap()
            )
        );
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            format!("proj-a/app@{d}").parse::<Target>().unwrap(),
            Target::Digest(
                Repository::parse("proj-a/app").unwrap(),
                Digest::parse(&d).unwrap()
            )
        );
        let e = "Proj/App:v1".parse::<Target>().unwrap_err().to_string();
        assert!(
            e.contains("target") && e.contains("project/repository:tag"),
            "{e}"
        );
    }
}
