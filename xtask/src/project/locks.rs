//! A project's lock as pinned requirements: a `pylock.toml` (PEP 751) read
//! into `name==version ; marker --hash=…` lines, and the hashes a lock
//! records kept through the resolution (uv's `pip compile` drops its
//! inputs' hashes and writes the index's), so that pip downloads exactly the
//! files the lock names or fails.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::usage;

/// The packages of a `pylock.toml`, as pinned requirements (the project
/// itself, named `project`, left out: it is installed from its source).
/// Refused (exit 2, naming the file and the package): a package without a
/// version, or one from a directory, VCS or archive (nothing to download
/// from an index), and a multi-use lock's markers on extras or dependency
/// groups, which the runner does not evaluate.
pub fn pylock_requirements(text: &str, shown: &str, project: Option<&str>) -> Result<String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| usage(format!("{shown}: not valid TOML: {e}")))?;
    let version = table.get("lock-version").and_then(|v| v.as_str()).unwrap_or("");
    if version.split('.').next() != Some("1") {
        return Err(usage(format!("{shown}: lock-version {version:?} is not one this runner reads (1.x)")));
    }
    let project = project.map(super::normalize);
    let mut lines = String::new();
    let packages = table.get("packages").and_then(|p| p.as_array()).map(Vec::as_slice).unwrap_or_default();
    for package in packages {
        let Some(name) = package.get("name").and_then(|n| n.as_str()) else {
            return Err(usage(format!("{shown}: a [[packages]] entry has no name")));
        };
        if project.as_deref() == Some(super::normalize(name).as_str()) {
            continue;
        }
        for source in ["directory", "vcs", "archive"] {
            if package.get(source).is_some() {
                return Err(usage(format!(
                    "{shown}: {name} comes from a {source}, which the runner cannot download from an index: \
                     lock it from the index, or install it with --requirements"
                )));
            }
        }
        let Some(version) = package.get("version").and_then(|v| v.as_str()) else {
            return Err(usage(format!("{shown}: {name} has no version")));
        };
        let marker = package.get("marker").and_then(|m| m.as_str());
        if let Some(marker) = marker.filter(|m| m.contains("extras") || m.contains("dependency_groups")) {
            return Err(usage(format!(
                "{shown}: {name}'s marker `{marker}` depends on extras or dependency groups (a multi-use \
                 lock), which the runner does not evaluate yet: lock the set you test (`uv pip compile -o \
                 pylock.toml`, `pip lock`)"
            )));
        }
        lines.push_str(&format!("{name}=={version}"));
        if let Some(marker) = marker {
            lines.push_str(&format!(" ; {marker}"));
        }
        let files = package.get("wheels").and_then(|w| w.as_array()).into_iter().flatten();
        for file in files.chain(package.get("sdist")) {
            let hashes = file.get("hashes").and_then(|h| h.as_table()).into_iter().flatten();
            for (algorithm, digest) in hashes {
                if let Some(digest) = digest.as_str() {
                    lines.push_str(&format!(" --hash={algorithm}:{digest}"));
                }
            }
        }
        lines.push('\n');
    }
    Ok(lines)
}

/// One requirement of a requirements file: its name (normalized), its
/// version when pinned with `==`, and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pinned {
    spec: String,
    name: String,
    version: Option<String>,
    hashes: Vec<String>,
}

/// The requirements of a requirements file's text (continuation lines
/// joined; comments and option lines kept as they are, apart, as `Err`).
fn entries(text: &str) -> Vec<Result<Pinned, String>> {
    let mut joined: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let (body, continues) = match line.trim_end().strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line, false),
        };
        current.push_str(body.trim());
        current.push(' ');
        if !continues {
            joined.push(std::mem::take(&mut current).trim().to_string());
        }
    }
    if !current.trim().is_empty() {
        joined.push(current.trim().to_string());
    }
    joined
        .into_iter()
        .map(|line| {
            if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
                return Err(line);
            }
            let (spec, hashes) = match line.find(" --hash") {
                Some(at) => (line[..at].trim().to_string(), &line[at..]),
                None => (line.clone(), ""),
            };
            let hashes =
                hashes.split_whitespace().filter_map(|t| t.strip_prefix("--hash=")).map(str::to_string);
            let requirement = spec.split(';').next().unwrap_or_default().trim();
            let (name, version) = match requirement.split_once("==") {
                Some((name, version)) => (name.trim(), Some(version.trim().to_string())),
                None => (requirement, None),
            };
            let name = super::normalize(name.split('[').next().unwrap_or_default());
            Ok(Pinned { spec: spec.clone(), name, version, hashes: hashes.collect() })
        })
        .collect()
}

/// The requirements files an environment reads: `given`, and every file
/// they include (`-r`/`--requirement`, `-c`/`--constraint`, relative to the
/// including file), each once. An included file changes what is installed
/// as much as a given one, so each is part of the environment's key (and
/// watched). URLs are left to the installer.
pub fn requirement_files(given: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut pending: Vec<PathBuf> = given.to_vec();
    while let Some(file) = pending.pop() {
        if found.contains(&file) {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap_or_default();
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
        for entry in entries(&text) {
            let Err(line) = entry else { continue };
            if let Some(included) = included_file(&line) {
                if !included.contains("://") {
                    pending.push(folder.join(included));
                }
            }
        }
        found.push(file);
    }
    found
}

/// The file an option line includes: `-r F`, `-rF`, `--requirement F`,
/// `--requirement=F`, and the same for `-c`/`--constraint`.
fn included_file(line: &str) -> Option<&str> {
    let line = line.split(" #").next().unwrap_or_default().trim();
    for option in ["--requirement", "--constraint", "-r", "-c"] {
        if let Some(rest) = line.strip_prefix(option) {
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            // `-r` must not take `--requirements-something` apart.
            let long_prefix = option.len() == 2 && line.starts_with("--");
            if !rest.is_empty() && !long_prefix {
                return Some(rest);
            }
        }
    }
    None
}

/// `compiled` (a resolution's pinned, hashed requirements) with the hashes
/// of every package `locked` pins at the same version and records hashes
/// for: the lock's, not the index's.
pub fn keep_locked_hashes(compiled: &str, locked: &str) -> String {
    let mut by_name: BTreeMap<String, Pinned> = BTreeMap::new();
    for pinned in entries(locked).into_iter().flatten() {
        if !pinned.hashes.is_empty() && pinned.version.is_some() {
            by_name.insert(pinned.name.clone(), pinned);
        }
    }
    let mut out = String::new();
    for entry in entries(compiled) {
        match entry {
            Err(line) => {
                if !line.is_empty() {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Ok(pinned) => {
                let hashes = match by_name.get(&pinned.name) {
                    Some(lock) if lock.version == pinned.version => &lock.hashes,
                    _ => &pinned.hashes,
                };
                out.push_str(&pinned.spec);
                for hash in hashes {
                    out.push_str(&format!(" \\\n    --hash={hash}"));
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.9"

[[packages]]
name = "iniconfig"
version = "2.0.0"
sdist = { url = "https://x/iniconfig-2.0.0.tar.gz", hashes = { sha256 = "aa" } }
wheels = [{ url = "https://x/iniconfig-2.0.0-py3-none-any.whl", hashes = { sha256 = "bb" } }]

[[packages]]
name = "tomli"
version = "2.0.1"
marker = "python_full_version < '3.11'"
wheels = [{ url = "https://x/tomli-2.0.1-py3-none-any.whl", hashes = { sha256 = "cc" } }]

[[packages]]
name = "Demo_Project"
directory = { path = ".", editable = true }
"#;

    #[test]
    fn a_pylock_reads_as_pinned_hashed_requirements_without_the_project() {
        let lines = pylock_requirements(LOCK, "pylock.toml", Some("demo-project")).unwrap();
        assert_eq!(
            lines,
            "iniconfig==2.0.0 --hash=sha256:bb --hash=sha256:aa\n\
             tomli==2.0.1 ; python_full_version < '3.11' --hash=sha256:cc\n"
        );
    }

    #[test]
    fn what_a_pylock_holds_that_the_runner_cannot_honour_is_refused_by_name() {
        let other = pylock_requirements(LOCK, "p/pylock.toml", Some("other")).unwrap_err();
        assert!(other.to_string().contains("Demo_Project comes from a directory"), "{other}");
        assert!(other.downcast_ref::<crate::error::Usage>().is_some());
        let multi = "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\n\
                     marker = \"'test' in dependency_groups\"\n";
        let error = pylock_requirements(multi, "pylock.toml", None).unwrap_err();
        assert!(error.to_string().contains("a's marker `'test' in dependency_groups`"), "{error}");
        let future = pylock_requirements("lock-version = \"2.0\"\n", "pylock.toml", None).unwrap_err();
        assert!(future.to_string().contains("lock-version \"2.0\""), "{future}");
        assert!(pylock_requirements("[[packages]\n", "pylock.toml", None).is_err());
    }

    #[test]
    fn the_locks_hashes_replace_the_indexs_for_what_it_pins() {
        let compiled = "iniconfig==2.0.0 \\\n    --hash=sha256:index1 \\\n    --hash=sha256:index2\n\
                        pluggy==1.6.0 \\\n    --hash=sha256:pp\n\
                        tomli==2.0.1 ; python_full_version < '3.11' \\\n    --hash=sha256:index3\n";
        let locked = pylock_requirements(LOCK, "pylock.toml", Some("demo-project")).unwrap();
        assert_eq!(
            keep_locked_hashes(compiled, &locked),
            "iniconfig==2.0.0 \\\n    --hash=sha256:bb \\\n    --hash=sha256:aa\n\
             pluggy==1.6.0 \\\n    --hash=sha256:pp\n\
             tomli==2.0.1 ; python_full_version < '3.11' \\\n    --hash=sha256:cc\n"
        );
        // A version the lock does not pin keeps the index's hashes.
        let newer = "iniconfig==2.1.0 \\\n    --hash=sha256:new\n";
        assert_eq!(keep_locked_hashes(newer, &locked), newer);
    }

    #[test]
    fn included_requirements_and_constraints_are_found_once_relative_to_their_file() {
        let temp = tempfile::tempdir().unwrap();
        let top = temp.path();
        fs::create_dir_all(top.join("req/more")).unwrap();
        fs::write(
            top.join("req/test.txt"),
            "-r base.txt\n--constraint=more/pins.txt  # pins\n-r https://example.org/r.txt\nhypothesis\n",
        )
        .unwrap();
        fs::write(top.join("req/base.txt"), "--requirement test.txt\nnumpy\n").unwrap();
        fs::write(top.join("req/more/pins.txt"), "-cother.txt\nnumpy==2.0\n").unwrap();
        let files = requirement_files(&[top.join("req/test.txt")]);
        let mut names: Vec<String> =
            files.iter().map(|f| f.strip_prefix(top).unwrap().display().to_string()).collect();
        names.sort();
        assert_eq!(names, ["req/base.txt", "req/more/other.txt", "req/more/pins.txt", "req/test.txt"]);
        assert_eq!(included_file("--require-hashes"), None);
        assert_eq!(included_file("-e ."), None);
    }
}
