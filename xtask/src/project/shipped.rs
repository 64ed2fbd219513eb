//! What of a project root a remote engine gets: every entry but version
//! control, virtual environments (any folder holding a `pyvenv.cfg`),
//! Cargo's build output (`target/` at the root, or any `target/` holding
//! Cargo's `CACHEDIR.TAG`: a package may be named `target`), caches, and
//! what the project's `.gitignore`
//! files leave out (read here, so no `git` is needed: comments, `!`
//! re-includes, a trailing `/` for folders, patterns with a `/` anchored to
//! their file's folder, `*`, `?`, `[...]` and `**`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::glob::{glob_matches, path_matches};

/// Folder names never shipped, wherever they are.
const LEFT_OUT: [&str; 11] = [
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
];

/// One line of a `.gitignore`.
#[derive(Debug)]
struct Rule {
    /// The folder of its `.gitignore`, relative to the root.
    base: PathBuf,
    pattern: String,
    negated: bool,
    folders_only: bool,
    /// Matched against the path below `base`, not against the name alone.
    anchored: bool,
}

/// The entries of `root` to ship, relative to it: `.` first, each folder
/// before what it holds, sorted by name within a folder. Symbolic links are
/// entries (never followed); sockets and pipes are left out.
pub fn entries(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = vec![PathBuf::from(".")];
    let mut rules = Vec::new();
    walk(root, Path::new(""), &mut rules, &mut found)?;
    Ok(found)
}

fn walk(root: &Path, below: &Path, rules: &mut Vec<Rule>, found: &mut Vec<PathBuf>) -> Result<()> {
    let folder = root.join(below);
    let kept = rules.len();
    if let Ok(text) = fs::read_to_string(folder.join(".gitignore")) {
        rules.extend(text.lines().filter_map(|line| rule(below, line)));
    }
    let mut children: Vec<_> = fs::read_dir(&folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read {}", folder.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name();
        let relative = below.join(&name);
        let kind = child.file_type()?;
        let is_folder = kind.is_dir();
        if !(is_folder || kind.is_file() || kind.is_symlink()) {
            continue;
        }
        let name = name.to_string_lossy();
        let build_output = is_folder
            && name == "target"
            && (below.as_os_str().is_empty() || child.path().join("CACHEDIR.TAG").is_file());
        if (LEFT_OUT.contains(&name.as_ref()) && (is_folder || name == ".git"))
            || build_output
            || (is_folder && child.path().join("pyvenv.cfg").is_file())
            || ignored(rules, &relative, &name, is_folder)
        {
            continue;
        }
        found.push(relative.clone());
        if is_folder {
            walk(root, &relative, rules, found)?;
        }
    }
    rules.truncate(kept);
    Ok(())
}

/// A `.gitignore` line as a rule, or `None` for a blank line or a comment.
fn rule(base: &Path, line: &str) -> Option<Rule> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (negated, line) = match line.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix('\\').unwrap_or(line)),
    };
    let (folders_only, line) = match line.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let anchored = line.contains('/');
    let pattern = line.strip_prefix('/').unwrap_or(line).to_string();
    (!pattern.is_empty()).then(|| Rule { base: base.to_path_buf(), pattern, negated, folders_only, anchored })
}

/// Whether the last rule that matches `relative` (named `name`) leaves it out.
fn ignored(rules: &[Rule], relative: &Path, name: &str, is_folder: bool) -> bool {
    let mut verdict = false;
    for rule in rules {
        if rule.folders_only && !is_folder {
            continue;
        }
        let Ok(below) = relative.strip_prefix(&rule.base) else { continue };
        let hit = match rule.anchored {
            true => path_matches(&rule.pattern, &below.to_string_lossy()),
            false => glob_matches(&rule.pattern, name),
        };
        if hit {
            verdict = !rule.negated;
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            if !file.ends_with('/') {
                fs::write(&path, "x").unwrap();
            }
        }
        dir
    }

    fn shipped(dir: &tempfile::TempDir) -> Vec<String> {
        entries(dir.path()).unwrap().iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn version_control_environments_build_output_and_caches_stay_behind() {
        let dir = tree(&[
            "pyproject.toml",
            "src/pkg/__init__.py",
            "src/pkg/__pycache__/__init__.cpython-311.pyc",
            ".git/HEAD",
            ".venv/bin/python",
            "env-3.11/pyvenv.cfg",
            "env-3.11/lib/site.py",
            "target/debug/x",
            "rust/target/CACHEDIR.TAG",
            "rust/lib.rs",
            "src/pkg/target/__init__.py",
            "tests/conftest.py",
            "tests/target.py",
        ]);
        assert_eq!(
            shipped(&dir),
            [
                ".",
                "pyproject.toml",
                "rust",
                "rust/lib.rs",
                "src",
                "src/pkg",
                "src/pkg/__init__.py",
                "src/pkg/target",
                "src/pkg/target/__init__.py",
                "tests",
                "tests/conftest.py",
                "tests/target.py"
            ]
        );
    }

    #[test]
    fn gitignore_rules_apply_where_their_file_is() {
        let dir = tree(&[
            ".gitignore",
            "a.log",
            "keep.log",
            "build/out.txt",
            "docs/build/page.html",
            "docs/.gitignore",
            "docs/secret.txt",
            "docs/notes.txt",
            "data/big/blob.bin",
            "data/small.csv",
            "src/pkg/gen/x.py",
            "src/gen/y.py",
            "tests/deep/cache.tmp",
            "#literal",
        ]);
        let root_rules =
            "# comment\n*.log\n!keep.log\n/build\ndata/big/\nsrc/**/gen/\n**/*.tmp\n\\#literal\n\n";
        fs::write(dir.path().join(".gitignore"), root_rules).unwrap();
        fs::write(dir.path().join("docs/.gitignore"), "secret.txt\n/build/\n").unwrap();
        assert_eq!(
            shipped(&dir),
            [
                ".",
                ".gitignore",
                "data",
                "data/small.csv",
                "docs",
                "docs/.gitignore",
                "docs/notes.txt",
                "keep.log",
                "src",
                "src/pkg",
                "tests",
                "tests/deep",
            ]
        );
    }

    #[test]
    fn a_folder_rule_leaves_files_of_that_name_alone() {
        let dir = tree(&[".gitignore", "logs", "sub/logs/x"]);
        fs::write(dir.path().join(".gitignore"), "logs/\n").unwrap();
        assert_eq!(shipped(&dir), [".", ".gitignore", "logs", "sub"]);
    }
}
