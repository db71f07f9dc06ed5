//! Storage accounting: per project and repository, bytes of blobs no other repository (or
//! project) references, bytes shared with others, tags, manifests and the last push.
//! Manifests count as blobs (Distribution stores them as blobs). Computed from an
//! [`Inventory`]; with a storage root the last push is the newest tag link's modification
//! time, else the newest image's `created`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use dns01_registry::{Digest, Repository};
use serde::Serialize;

use crate::inventory::Inventory;
use crate::storage;

/// One row: a project or a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// `proj-a` or `proj-a/app`.
    pub name: String,
    /// Bytes of blobs only this one references.
    pub unique_bytes: u64,
    /// Bytes of blobs it references that others reference too.
    pub shared_bytes: u64,
    /// Tags.
    pub tags: usize,
    /// Manifests (tagged, index children, untagged when a storage root was given).
    pub manifests: usize,
    /// The last push (RFC 3339), when known.
    pub last_push: Option<String>,
}

/// The whole registry's accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Per project (first path component).
    pub projects: Vec<Usage>,
    /// Per repository.
    pub repositories: Vec<Usage>,
    /// Bytes of all distinct blobs the inventory references.
    pub total_bytes: u64,
}

fn blobs_of(inv: &crate::inventory::RepoInventory) -> BTreeMap<Digest, u64> {
    let mut out = BTreeMap::new();
    for (d, m) in &inv.manifests {
        out.insert(d.clone(), m.size);
        for (b, size) in &m.blobs {
            out.insert(b.clone(), *size);
        }
    }
    out
}

fn project_of(repo: &Repository) -> String {
    repo.components().next().unwrap_or_default().to_owned()
}

fn usage(
    name: String,
    blobs: &BTreeMap<Digest, u64>,
    owners: &BTreeMap<&Digest, BTreeSet<String>>,
) -> Usage {
    let mut u = Usage {
        name,
        ..Usage::default()
    };
    for (d, size) in blobs {
        if owners.get(d).is_some_and(|o| o.len() > 1) {
            u.shared_bytes += size;
        } else {
            u.unique_bytes += size;
        }
    }
    u
}

fn last_tag_push(root: &Path, repo: &Repository) -> Option<jiff::Timestamp> {
    let tags = storage::v2(root)
        .join("repositories")
        .join(repo.as_str())
        .join("_manifests/tags");
    std::fs::read_dir(tags)
        .ok()?
        .flatten()
        .filter_map(|t| {
            std::fs::metadata(t.path().join("current/link"))
                .ok()?
                .modified()
                .ok()
        })
        .max()
        .and_then(|m| jiff::Timestamp::try_from(m).ok())
}

/// Accounts `inventory`; `storage_root` gives push times.
pub fn report(inventory: &Inventory, storage_root: Option<&Path>) -> Report {
    let per_repo: BTreeMap<&Repository, BTreeMap<Digest, u64>> = inventory
        .repositories
        .iter()
        .map(|(r, inv)| (r, blobs_of(inv)))
        .collect();
    let mut repo_owners: BTreeMap<&Digest, BTreeSet<String>> = BTreeMap::new();
    let mut project_owners: BTreeMap<&Digest, BTreeSet<String>> = BTreeMap::new();
    let mut all: BTreeMap<&Digest, u64> = BTreeMap::new();
    for (repo, blobs) in &per_repo {
        for (d, size) in blobs {
            repo_owners.entry(d).or_default().insert(repo.to_string());
            project_owners
                .entry(d)
                .or_default()
                .insert(project_of(repo));
            all.insert(d, *size);
        }
    }
    let mut report = Report {
        total_bytes: all.values().sum(),
        ..Report::default()
    };
    let mut projects: BTreeMap<String, (BTreeMap<Digest, u64>, Usage)> = BTreeMap::new();
    for (repo, blobs) in &per_repo {
        let inv = &inventory.repositories[*repo];
        let mut u = usage(repo.to_string(), blobs, &repo_owners);
        u.tags = inv.tags.len();
        u.manifests = inv.manifests.len();
        let pushed = storage_root
            .and_then(|root| last_tag_push(root, repo))
            .or_else(|| inv.manifests.values().filter_map(|m| m.created).max());
        u.last_push = pushed.map(|t| t.to_string());
        let p = projects.entry(project_of(repo)).or_default();
        p.0.extend(blobs.iter().map(|(d, s)| (d.clone(), *s)));
        p.1.tags += u.tags;
        p.1.manifests += u.manifests;
        p.1.last_push = p.1.last_push.clone().max(u.last_push.clone());
        report.repositories.push(u);
    }
    for (name, (blobs, acc)) in projects {
        let mut u = usage(name, &blobs, &project_owners);
        u.tags = acc.tags;
        u.manifests = acc.manifests;
        u.last_push = acc.last_push;
        report.projects.push(u);
    }
    report
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

impl Report {
    /// A `du`-like table: projects, each followed by its repositories.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<40} {:>12} {:>12} {:>6} {:>9}  LAST PUSH",
            "NAME", "UNIQUE", "SHARED", "TAGS", "MANIFESTS"
        );
        let row = |s: &mut String, name: &str, u: &Usage| {
            let _ = writeln!(
                s,
                "{name:<40} {:>12} {:>12} {:>6} {:>9}  {}",
                bytes(u.unique_bytes),
                bytes(u.shared_bytes),
                u.tags,
                u.manifests,
                u.last_push.as_deref().unwrap_or("-")
            );
        };
        for p in &self.projects {
            row(&mut s, &p.name, p);
            for r in self
                .repositories
                .iter()
                .filter(|r| r.name.split('/').next() == Some(p.name.as_str()))
            {
                row(&mut s, &format!("  {}", r.name), r);
            }
        }
        let _ = writeln!(s, "total {}", bytes(self.total_bytes));
        s
    }
}
