//! CNCF Distribution's filesystem layout (`<root>/docker/registry/v2/...`): finding
//! repositories, pruning the ones left empty after collection, and counting blob bytes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `<root>/docker/registry/v2`.
pub fn v2(root: &Path) -> PathBuf {
    root.join("docker/registry/v2")
}

/// Repository directories below `repositories/` (those holding `_layers`, `_manifests` or
/// `_uploads`), with their names.
///
/// # Errors
/// When the tree cannot be read.
pub fn repositories(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let base = v2(root).join("repositories");
    let mut found = Vec::new();
    if base.is_dir() {
        walk_repos(&base, &base, &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn walk_repos(base: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("reading the storage", dir))?;
    let mut is_repo = false;
    for entry in entries {
        let entry = entry.map_err(Error::io("reading the storage", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('_') {
            is_repo |= matches!(name.as_ref(), "_layers" | "_manifests" | "_uploads");
        } else if entry.path().is_dir() {
            walk_repos(base, &entry.path(), found)?;
        }
    }
    if is_repo && let Ok(rel) = dir.strip_prefix(base) {
        found.push((rel.to_string_lossy().into_owned(), dir.to_owned()));
    }
    Ok(())
}

fn has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() { has_files(&p) } else { true }
    })
}

/// Removes repositories with no manifest revision, no tag and no upload in progress (what
/// the collector leaves of a repository whose manifests were all deleted): their `_layers`,
/// `_manifests` and `_uploads`, then the directories left empty. A nested repository
/// (`proj/app/sub` under `proj/app`) is untouched. Returns the names pruned. Run it only
/// while the registry refuses writes.
///
/// # Errors
/// When a directory cannot be removed.
pub fn prune_empty_repositories(root: &Path) -> Result<Vec<String>> {
    let base = v2(root).join("repositories");
    let mut pruned = Vec::new();
    for (name, dir) in repositories(root)? {
        if has_files(&dir.join("_manifests")) || has_files(&dir.join("_uploads")) {
            continue;
        }
        for sub in ["_layers", "_manifests", "_uploads"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p)
                    .map_err(Error::io("pruning an empty repository", &p))?;
            }
        }
        let mut d = dir.as_path();
        while d != base && std::fs::remove_dir(d).is_ok() {
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        pruned.push(name);
    }
    Ok(pruned)
}

/// Total bytes of the files under `blobs/` (what the collector frees).
pub fn blob_bytes(root: &Path) -> u64 {
    fn sum(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => sum(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    sum(&v2(root).join("blobs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }

    #[test]
    fn only_repositories_without_manifests_are_pruned_and_nested_ones_survive() {
        let root = tempfile::tempdir().unwrap();
        let repos = v2(root.path()).join("repositories");
        // proj/app: empty after collection, but proj/app/sub is nested inside and alive.
        std::fs::create_dir_all(repos.join("proj/app/_manifests/revisions/sha256")).unwrap();
        std::fs::create_dir_all(repos.join("proj/app/_manifests/tags")).unwrap();
        touch(&repos.join("proj/app/_layers/sha256/aa/link"));
        touch(&repos.join("proj/app/sub/_manifests/revisions/sha256/bb/link"));
        // gone/old: empty, whole project goes.
        std::fs::create_dir_all(repos.join("gone/old/_manifests/tags")).unwrap();
        touch(&repos.join("gone/old/_layers/sha256/cc/link"));
        let pruned = prune_empty_repositories(root.path()).unwrap();
        assert_eq!(pruned, ["gone/old", "proj/app"]);
        assert!(!repos.join("gone").exists());
        assert!(!repos.join("proj/app/_layers").exists());
        assert!(
            repos
                .join("proj/app/sub/_manifests/revisions/sha256/bb/link")
                .exists()
        );
        let left: Vec<String> = repositories(root.path())
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(left, ["proj/app/sub"]);
    }
}
