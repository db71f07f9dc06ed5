//! What retention would delete and why everything else stays: [`plan`] is a pure function of
//! an [`Inventory`], a [`Policy`], the workloads' image uses and the time; [`apply`] deletes
//! by digest through the registry API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use dns01_registry::{Client, Digest, ImageRef, Reference, Repository, Tag};
use serde::Serialize;

use crate::error::Result;
use crate::inventory::{Inventory, RepoInventory};
use crate::policy::{Policy, Rule};
use crate::workload::ImageUse;

/// Delete or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deleted by `apply`.
    Delete,
    /// Kept.
    Keep,
}

/// One manifest's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The repository.
    pub repository: Repository,
    /// The manifest.
    pub digest: Digest,
    /// Its tags (deleting the digest deletes them all).
    pub tags: Vec<Tag>,
    /// Delete or keep.
    pub action: Action,
    /// Why: each rule or use that decided.
    pub reasons: Vec<String>,
    /// A policy would delete it, but a workload uses it.
    pub protected: bool,
}

/// The whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every manifest, by repository then digest.
    pub items: Vec<Item>,
}

impl Plan {
    /// The items to delete.
    pub fn deletions(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.action == Action::Delete)
    }

    /// The items kept (in a [`crate::remove::removal`] plan: what refuses the removal).
    pub fn kept(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.action == Action::Keep)
    }

    /// Items kept only because a workload uses them.
    pub fn protected(&self) -> usize {
        self.items.iter().filter(|i| i.protected).count()
    }

    /// A human-readable listing.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for i in &self.items {
            let tags = if i.tags.is_empty() {
                "(untagged)".to_owned()
            } else {
                i.tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(",")
            };
            let action = match i.action {
                Action::Delete => "DELETE",
                Action::Keep => "keep  ",
            };
            let _ = writeln!(
                s,
                "{action} {}@{} {tags}: {}",
                i.repository,
                i.digest,
                i.reasons.join("; ")
            );
        }
        let _ = writeln!(
            s,
            "{} to delete, {} kept ({} protected by workloads)",
            self.deletions().count(),
            self.items.len() - self.deletions().count(),
            self.protected()
        );
        s
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 && s > 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Strips a container runtime's scheme (`docker-pullable://`) and parses.
fn parse_use(image: &str) -> Option<ImageRef> {
    let image = image.split_once("://").map_or(image, |(_, rest)| rest);
    ImageRef::parse(image).ok()
}

/// Digests used by workloads in `repo`, with who uses them (tags resolved through the
/// inventory).
fn used_digests(
    repo: &Repository,
    inv: &RepoInventory,
    uses: &[ImageUse],
    hosts: &[String],
) -> BTreeMap<Digest, BTreeSet<String>> {
    let mut used: BTreeMap<Digest, BTreeSet<String>> = BTreeMap::new();
    for u in uses {
        let Some(r) = parse_use(&u.image) else {
            continue;
        };
        if &r.repository != repo || !hosts.iter().any(|h| h == &r.registry) {
            continue;
        }
        let digest = match (&r.digest, r.reference()) {
            (Some(d), _) => Some(d.clone()),
            (None, Reference::Tag(t)) => inv.tags.get(&t).cloned(),
            (None, Reference::Digest(d)) => Some(d),
        };
        if let Some(d) = digest {
            used.entry(d)
                .or_default()
                .insert(format!("in use by {} ({})", u.workload, u.image));
        }
    }
    used
}

/// Everything a used digest protects: itself, its children, the indexes containing it.
fn protected(
    inv: &RepoInventory,
    used: &BTreeMap<Digest, BTreeSet<String>>,
) -> BTreeMap<Digest, Vec<String>> {
    let mut out: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for (d, who) in used {
        for w in who {
            out.entry(d.clone()).or_default().push(w.clone());
            let mut stack: Vec<Digest> = inv
                .manifests
                .get(d)
                .map(|m| m.children.clone())
                .unwrap_or_default();
            while let Some(c) = stack.pop() {
                out.entry(c.clone())
                    .or_default()
                    .push(format!("child of {d}, {w}"));
                stack.extend(
                    inv.manifests
                        .get(&c)
                        .map(|m| m.children.clone())
                        .unwrap_or_default(),
                );
            }
            let mut up: Vec<Digest> = inv.parents_of(d).into_iter().cloned().collect();
            while let Some(p) = up.pop() {
                out.entry(p.clone())
                    .or_default()
                    .push(format!("index containing {d}, {w}"));
                up.extend(inv.parents_of(&p).into_iter().cloned());
            }
        }
    }
    out
}

/// The digests of `repo` that workloads protect, with who protects them: the used ones, their
/// children, and the indexes containing them.
pub(crate) fn protected_digests(
    repo: &Repository,
    inv: &RepoInventory,
    uses: &[ImageUse],
    hosts: &[String],
) -> BTreeMap<Digest, Vec<String>> {
    protected(inv, &used_digests(repo, inv, uses, hosts))
}

fn age(now: jiff::Timestamp, created: Option<jiff::Timestamp>) -> Option<Duration> {
    let secs = now.as_second() - created?.as_second();
    Some(Duration::from_secs(secs.max(0).unsigned_abs()))
}

/// The retention plan. `hosts` are the names workloads use for this registry
/// (`registry.example`, `127.0.0.1:5000`); images on other hosts are ignored.
pub fn plan(
    inventory: &Inventory,
    policy: &Policy,
    uses: &[ImageUse],
    hosts: &[String],
    now: jiff::Timestamp,
) -> Plan {
    let mut items = Vec::new();
    for (repo, inv) in &inventory.repositories {
        let rule = policy.rule_for(repo);
        let used = used_digests(repo, inv, uses, hosts);
        let protected = protected(inv, &used);
        items.extend(plan_repo(repo, inv, &rule, &protected, now));
    }
    Plan { items }
}

/// Why a tag stays (`Ok`) or may go (`Err`).
fn tag_fate(rule: &Rule, tag: &Tag, rank: usize, age: Option<Duration>) -> Result<String, String> {
    if let Some(n) = rule.keep_newest
        && rank < n as usize
    {
        return Ok(format!("tag {tag} is among the newest {n}"));
    }
    if let Some(p) = rule.keep_tags.iter().find(|p| p.is_match(tag.as_str())) {
        return Ok(format!("tag {tag} matches `{}`", p.as_str()));
    }
    match (rule.delete_tags_older_than, age, rule.keep_newest) {
        (Some(max), Some(a), _) if a > max => Err(format!(
            "tag {tag} is {} old, older than {}",
            human(a),
            human(max)
        )),
        (Some(max), Some(_), _) => Ok(format!("tag {tag} is younger than {}", human(max))),
        (Some(_), None, _) => Ok(format!("tag {tag}: image age unknown")),
        (None, _, Some(n)) => Err(format!("tag {tag} is not among the newest {n}")),
        (None, _, None) => Ok(format!("tag {tag}: no rule deletes tags")),
    }
}

fn plan_repo(
    repo: &Repository,
    inv: &RepoInventory,
    rule: &Rule,
    protected: &BTreeMap<Digest, Vec<String>>,
    now: jiff::Timestamp,
) -> Vec<Item> {
    // Tags, newest first (unknown ages last), then by name.
    let mut tags: Vec<(&Tag, &Digest)> = inv.tags.iter().collect();
    let created = |d: &Digest| inv.manifests.get(d).and_then(|m| m.created);
    tags.sort_by(|a, b| created(b.1).cmp(&created(a.1)).then_with(|| a.0.cmp(b.0)));
    let mut by_digest: BTreeMap<&Digest, Vec<Result<String, String>>> = BTreeMap::new();
    for (rank, (tag, digest)) in tags.iter().enumerate() {
        by_digest.entry(digest).or_default().push(tag_fate(
            rule,
            tag,
            rank,
            age(now, created(digest)),
        ));
    }
    let mut decided: BTreeMap<Digest, (Action, Vec<String>, bool)> = BTreeMap::new();
    for (digest, fates) in &by_digest {
        let kept: Vec<String> = fates.iter().filter_map(|f| f.clone().ok()).collect();
        let guard = protected.get(*digest).cloned().unwrap_or_default();
        let decision = if !kept.is_empty() {
            (Action::Keep, kept.into_iter().chain(guard).collect(), false)
        } else if !guard.is_empty() {
            let why: Vec<String> = fates.iter().filter_map(|f| f.clone().err()).collect();
            (
                Action::Keep,
                guard
                    .into_iter()
                    .chain(why.into_iter().map(|w| format!("policy would delete: {w}")))
                    .collect(),
                true,
            )
        } else {
            (
                Action::Delete,
                fates.iter().filter_map(|f| f.clone().err()).collect(),
                false,
            )
        };
        decided.insert((*digest).clone(), decision);
    }
    // Children of kept manifests stay; untagged ones are decided indexes first, so an index
    // kept here keeps its children too.
    let mut live: BTreeSet<Digest> = BTreeSet::new();
    let mark = |live: &mut BTreeSet<Digest>, root: &Digest| {
        let mut stack = inv
            .manifests
            .get(root)
            .map(|m| m.children.clone())
            .unwrap_or_default();
        while let Some(c) = stack.pop() {
            if live.insert(c.clone()) {
                stack.extend(
                    inv.manifests
                        .get(&c)
                        .map(|m| m.children.clone())
                        .unwrap_or_default(),
                );
            }
        }
    };
    for (d, (a, _, _)) in &decided {
        if *a == Action::Keep {
            mark(&mut live, d);
        }
    }
    let mut untagged: Vec<&Digest> = inv
        .manifests
        .keys()
        .filter(|d| !decided.contains_key(*d))
        .collect();
    untagged.sort_by_key(|d| inv.manifests.get(*d).is_none_or(|m| m.children.is_empty()));
    for d in untagged {
        let guard = protected.get(d).cloned().unwrap_or_default();
        let parents: Vec<String> = inv
            .parents_of(d)
            .into_iter()
            .filter(|p| decided.get(*p).is_some_and(|x| x.0 == Action::Keep))
            .map(|p| format!("child of kept index {p}"))
            .collect();
        let policy: Result<String, String> =
            match (rule.delete_untagged_older_than, age(now, created(d))) {
                (Some(max), Some(a)) if a > max => Err(format!(
                    "untagged, {} old, older than {}",
                    human(a),
                    human(max)
                )),
                (Some(max), Some(_)) => Ok(format!("untagged, younger than {}", human(max))),
                (Some(_), None) => Ok("untagged, age unknown".to_owned()),
                (None, _) => Ok("untagged: no rule deletes untagged manifests".to_owned()),
            };
        let decision = if live.contains(d) || !parents.is_empty() {
            let mut why = parents;
            if why.is_empty() {
                why.push("child of a kept index".to_owned());
            }
            (Action::Keep, why.into_iter().chain(guard).collect(), false)
        } else if let Ok(why) = policy.clone() {
            (
                Action::Keep,
                std::iter::once(why).chain(guard).collect(),
                false,
            )
        } else if !guard.is_empty() {
            let why = policy.err().unwrap_or_default();
            (
                Action::Keep,
                guard
                    .into_iter()
                    .chain([format!("policy would delete: {why}")])
                    .collect(),
                true,
            )
        } else {
            (Action::Delete, policy.err().into_iter().collect(), false)
        };
        if decision.0 == Action::Keep {
            mark(&mut live, d);
        }
        decided.insert(d.clone(), decision);
    }
    decided
        .into_iter()
        .map(|(digest, (action, reasons, protected))| Item {
            repository: repo.clone(),
            tags: inv.tags_of(&digest).into_iter().cloned().collect(),
            digest,
            action,
            reasons,
            protected,
        })
        .collect()
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Manifests deleted (or already gone).
    pub deleted: Vec<String>,
    /// Deletions that failed, with why.
    pub failed: Vec<String>,
}

/// Deletes the plan's deletions by digest (a manifest already gone counts as deleted).
///
/// # Errors
/// Never for a single failed delete (listed in [`Applied::failed`]).
pub async fn apply(client: &Client, plan: &Plan) -> Result<Applied> {
    let mut out = Applied::default();
    for item in plan.deletions() {
        let name = format!("{}@{}", item.repository, item.digest);
        match client
            .manifest_delete(&item.repository, &Reference::Digest(item.digest.clone()))
            .await
        {
            Ok(()) | Err(dns01_registry::Error::NotFound { .. }) => out.deleted.push(name),
            Err(e) => out.failed.push(format!("{name}: {}", crate::gc::chain(&e))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ManifestInfo;
    use crate::workload::Workload;

    fn d(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn at(days_ago: i64) -> Option<jiff::Timestamp> {
        Some(jiff::Timestamp::from_second(1_000_000_000 - days_ago * 86400).unwrap())
    }

    fn image(created: Option<jiff::Timestamp>) -> ManifestInfo {
        ManifestInfo {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            children: vec![],
            blobs: vec![],
            created,
        }
    }

    fn index(children: Vec<Digest>, created: Option<jiff::Timestamp>) -> ManifestInfo {
        ManifestInfo {
            children,
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            ..image(created)
        }
    }

    fn inventory() -> Inventory {
        let mut inv = RepoInventory::default();
        let tag = |t: &str| Tag::parse(t).unwrap();
        // v1 (old, semver), old-1 / old-2 (old), new (fresh), multi (old index of 5 and 6).
        for (t, n, days) in [
            ("v1", 1, 100),
            ("old-1", 2, 100),
            ("old-2", 3, 90),
            ("new", 4, 1),
        ] {
            inv.tags.insert(tag(t), d(n));
            inv.manifests.insert(d(n), image(at(days)));
        }
        inv.tags.insert(tag("multi"), d(7));
        inv.manifests.insert(d(5), image(at(80)));
        inv.manifests.insert(d(6), image(at(80)));
        inv.manifests.insert(d(7), index(vec![d(5), d(6)], at(80)));
        // Untagged: 8 old, 9 fresh, 10 old but listed by the untagged old index 11? no: 11 is fresh.
        inv.manifests.insert(d(8), image(at(30)));
        inv.manifests.insert(d(9), image(at(0)));
        inv.manifests.insert(d(10), image(at(30)));
        inv.manifests.insert(d(11), index(vec![d(10)], at(0)));
        let mut i = Inventory::default();
        i.repositories
            .insert(Repository::parse("proj-a/app").unwrap(), inv);
        i
    }

    fn fate(p: &Plan, n: u8) -> &Item {
        p.items.iter().find(|i| i.digest == d(n)).unwrap()
    }

    const POLICY: &str = "defaults: {keep_newest: 1, keep_tags: ['^v\\d+'], delete_tags_older_than: 60d, delete_untagged_older_than: 7d}";

    #[test]
    fn policy_alone_deletes_old_tags_and_old_untagged_and_says_why_the_rest_stays() {
        let policy = Policy::from_yaml(POLICY).unwrap();
        let now = at(0).unwrap();
        let p = plan(&inventory(), &policy, &[], &["r.example".into()], now);
        assert_eq!(fate(&p, 1).action, Action::Keep, "{p:?}");
        assert!(fate(&p, 1).reasons[0].contains("matches `^v\\d+`"));
        assert_eq!(fate(&p, 4).action, Action::Keep);
        assert!(fate(&p, 4).reasons[0].contains("newest 1"));
        for n in [2, 3, 7, 8] {
            assert_eq!(fate(&p, n).action, Action::Delete, "{n}: {p:#?}");
        }
        // Children of the deleted index are untagged and old: they go too.
        assert_eq!(fate(&p, 5).action, Action::Delete);
        assert_eq!(fate(&p, 9).action, Action::Keep);
        assert!(fate(&p, 9).reasons[0].contains("younger than 7d"));
        // 10 is old and untagged, but listed by the fresh (kept) index 11.
        assert_eq!(fate(&p, 10).action, Action::Keep);
        assert!(
            fate(&p, 10).reasons[0].contains(&format!("child of kept index {}", d(11))),
            "{:?}",
            fate(&p, 10)
        );
        assert_eq!(p.protected(), 0);
    }

    #[test]
    fn a_used_digest_its_index_and_siblings_survive_and_the_plan_names_the_workload() {
        let policy = Policy::from_yaml(POLICY).unwrap();
        let w = |kind: &str, name: &str, image: String| ImageUse {
            image,
            workload: Workload {
                namespace: "shop".into(),
                kind: kind.into(),
                name: name.into(),
            },
        };
        let uses = vec![
            w("Pod", "web-1", "r.example/proj-a/app:old-1".into()),
            w(
                "CronJob",
                "report",
                format!("docker-pullable://r.example/proj-a/app@{}", d(8)),
            ),
            w(
                "Deployment",
                "api",
                format!("r.example/proj-a/app@{}", d(5)),
            ),
            // Another registry's image of the same name protects nothing here.
            w(
                "Pod",
                "elsewhere",
                format!("other.example/proj-a/app@{}", d(3)),
            ),
        ];
        let p = plan(
            &inventory(),
            &policy,
            &uses,
            &["r.example".into()],
            at(0).unwrap(),
        );
        let by_tag = fate(&p, 2);
        assert_eq!(by_tag.action, Action::Keep);
        assert!(by_tag.protected);
        assert!(by_tag.reasons[0].contains("shop/Pod/web-1"), "{by_tag:?}");
        assert!(
            by_tag
                .reasons
                .iter()
                .any(|r| r.contains("policy would delete"))
        );
        assert!(fate(&p, 8).reasons[0].contains("shop/CronJob/report"));
        // The index containing 5 stays, and with it its other child.
        assert_eq!(fate(&p, 7).action, Action::Keep);
        assert!(
            fate(&p, 7).reasons[0].contains("index containing"),
            "{:?}",
            fate(&p, 7)
        );
        assert_eq!(fate(&p, 6).action, Action::Keep);
        assert_eq!(fate(&p, 3).action, Action::Delete);
        assert_eq!(p.protected(), 3, "{p:#?}");
        assert!(p.to_text().contains("shop/Deployment/api"));
    }
}
