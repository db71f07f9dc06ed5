//! Retention policies from YAML, per project (a repository's first path component) or per
//! repository, over defaults; each field overrides the one below it. Unknown keys and bad
//! values are refused with the key's path.
//!
//! ```yaml
//! defaults:
//!   keep_newest: 10                 # the 10 newest tags (by image creation time) stay
//!   keep_tags: ['^v\d+', '^latest$'] # tags matching any of these stay
//!   delete_tags_older_than: 90d     # other tags go once older than this
//!   delete_untagged_older_than: 7d  # untagged manifests go once older than this
//! projects:
//!   proj-a: {keep_newest: 3}
//! repositories:
//!   proj-a/app: {delete_tags_older_than: 30d}
//! ```
//!
//! A tag is deleted when no rule keeps it and a rule deletes it: beyond the newest N when
//! only `keep_newest` is set, older than `delete_tags_older_than` when that is set. Without
//! either, no tag is deleted. A tag whose image age is unknown is never deleted by age.

use std::collections::BTreeMap;
use std::time::Duration;

use dns01_registry::Repository;
use regex::Regex;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::parse_duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawRule,
    #[serde(default)]
    projects: BTreeMap<String, RawRule>,
    #[serde(default)]
    repositories: BTreeMap<String, RawRule>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    keep_newest: Option<u32>,
    keep_tags: Option<Vec<String>>,
    delete_tags_older_than: Option<String>,
    delete_untagged_older_than: Option<String>,
}

/// The retention rule that applies to one repository.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Keep the N newest tags.
    pub keep_newest: Option<u32>,
    /// Keep tags matching any of these.
    pub keep_tags: Vec<Regex>,
    /// Delete tags older than this (unless kept).
    pub delete_tags_older_than: Option<Duration>,
    /// Delete untagged manifests older than this (unless in use or referenced).
    pub delete_untagged_older_than: Option<Duration>,
}

impl Rule {
    fn from_raw(key: &str, raw: &RawRule) -> Result<Self> {
        let keep_tags = raw
            .keep_tags
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p).map_err(|e| {
                    Error::config(
                        format!("{key}.keep_tags[{i}]"),
                        format!("`{p}` is not a regular expression: {e}"),
                    )
                })
            })
            .collect::<Result<_>>()?;
        let age = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|t| parse_duration(&format!("{key}.{field}"), t))
                .transpose()
        };
        Ok(Self {
            keep_newest: raw.keep_newest,
            keep_tags,
            delete_tags_older_than: age("delete_tags_older_than", &raw.delete_tags_older_than)?,
            delete_untagged_older_than: age(
                "delete_untagged_older_than",
                &raw.delete_untagged_older_than,
            )?,
        })
    }

    /// `over` with this rule's unset fields taken from `self`.
    fn overlay(&self, over: &Self, raw: &RawRule) -> Self {
        Self {
            keep_newest: over.keep_newest.or(self.keep_newest),
            keep_tags: if raw.keep_tags.is_some() {
                over.keep_tags.clone()
            } else {
                self.keep_tags.clone()
            },
            delete_tags_older_than: over.delete_tags_older_than.or(self.delete_tags_older_than),
            delete_untagged_older_than: over
                .delete_untagged_older_than
                .or(self.delete_untagged_older_than),
        }
    }
}

/// A validated retention configuration.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    defaults: Rule,
    projects: BTreeMap<String, (Rule, RawRule)>,
    repositories: BTreeMap<Repository, (Rule, RawRule)>,
}

impl Policy {
    /// Parses and validates YAML.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key (`projects.proj-a.keep_tags[1]`) and the fix.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
            let key = e.to_string().split_once(": ").map(|(k, _)| k.to_owned()).filter(|k| !k.contains(' ')).unwrap_or_else(|| "(top level)".into());
            Error::config(key, format!("{e}; known keys: defaults, projects, repositories, and in each rule keep_newest, keep_tags, delete_tags_older_than, delete_untagged_older_than"))
        })?;
        let defaults = Rule::from_raw("defaults", &raw.defaults)?;
        let mut projects = BTreeMap::new();
        for (name, r) in &raw.projects {
            let key = format!("projects.{name}");
            if name.contains('/') || Repository::parse(name).is_err() {
                return Err(Error::config(
                    key,
                    "a project is a repository's first path component, lowercase (`proj-a`)",
                ));
            }
            projects.insert(name.clone(), (Rule::from_raw(&key, r)?, r.clone()));
        }
        let mut repositories = BTreeMap::new();
        for (name, r) in &raw.repositories {
            let key = format!("repositories.{name}");
            let repo = Repository::parse(name).map_err(|e| Error::config(&key, e.to_string()))?;
            repositories.insert(repo, (Rule::from_raw(&key, r)?, r.clone()));
        }
        Ok(Self {
            defaults,
            projects,
            repositories,
        })
    }

    /// The rule for `repo`: repository over project over defaults.
    pub fn rule_for(&self, repo: &Repository) -> Rule {
        let mut rule = self.defaults.clone();
        if let Some(project) = repo.components().next()
            && let Some((r, raw)) = self.projects.get(project)
        {
            rule = rule.overlay(r, raw);
        }
        if let Some((r, raw)) = self.repositories.get(repo) {
            rule = rule.overlay(r, raw);
        }
        rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_rules_override_project_rules_over_defaults_field_by_field() {
        let p = Policy::from_yaml(
            "defaults: {keep_newest: 10, keep_tags: ['^latest$'], delete_untagged_older_than: 7d}\n\
             projects: {proj-a: {keep_newest: 3, delete_tags_older_than: 30d}}\n\
             repositories: {proj-a/app: {keep_tags: ['^v\\d+']}}\n",
        )
        .unwrap();
        let app = p.rule_for(&Repository::parse("proj-a/app").unwrap());
        assert_eq!(app.keep_newest, Some(3));
        assert_eq!(
            app.keep_tags.iter().map(Regex::as_str).collect::<Vec<_>>(),
            [r"^v\d+"]
        );
        assert_eq!(
            app.delete_tags_older_than,
            Some(Duration::from_secs(30 * 86400))
        );
        assert_eq!(
            app.delete_untagged_older_than,
            Some(Duration::from_secs(7 * 86400))
        );
        let other = p.rule_for(&Repository::parse("proj-b/x").unwrap());
        assert_eq!(other.keep_newest, Some(10));
        assert_eq!(other.delete_tags_older_than, None);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("projects: {proj-a: {keep_newst: 3}}", "projects.proj-a"),
            (
                "defaults: {keep_tags: ['ok', '(']}",
                "defaults.keep_tags[1]",
            ),
            (
                "repositories: {proj-a/app: {delete_tags_older_than: soon}}",
                "repositories.proj-a/app.delete_tags_older_than",
            ),
            ("repositories: {Proj/App: {}}", "repositories.Proj/App"),
            ("projects: {a/b: {}}", "projects.a/b"),
            ("defaults: {keep_newest: -1}", "defaults.keep_newest"),
        ];
        for (yaml, key) in cases {
            let e = Policy::from_yaml(yaml).unwrap_err().to_string();
            assert!(e.starts_with(&format!("config key `{key}")), "{yaml}: {e}");
        }
    }
}
