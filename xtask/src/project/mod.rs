//! The project under test: where it is (found from the test dir, or named),
//! what its `pyproject.toml` declares (name, `requires-python`, extras,
//! dependency groups, build requirements, a lock), and what the user asked
//! to install with it. Plain facts, checked once before anything starts;
//! `environment.rs` turns them into an installed environment.

pub mod environment;
pub mod locks;
pub mod shipped;
pub mod specifier;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::usage;

/// The files whose presence makes a folder a project root.
pub const PROJECT_FILES: [&str; 3] = ["pyproject.toml", "setup.cfg", "setup.py"];

/// Where the project is, as the options say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Walk up from the test dir.
    Find,
    /// `--project DIR`.
    At(PathBuf),
    /// `--no-project`.
    Nothing,
}

/// What to install besides the project and its runtime dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub groups: Vec<String>,
    pub extras: Vec<String>,
    /// Absolute paths of `--requirements` files.
    pub requirements: Vec<PathBuf>,
    pub with: Vec<String>,
    /// memray comes from the index too (`--memray`).
    pub memray: bool,
    /// pytest-memray too: a module uses its `limit_memory` / `limit_leaks` markers.
    pub pytest_memray: bool,
}

/// A project found on disk, with what its configuration declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Canonical path of the project root.
    pub root: PathBuf,
    pub metadata: Metadata,
}

/// What `pyproject.toml` says (empty when the project has only setup.py/setup.cfg).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: Option<String>,
    pub requires_python: Option<String>,
    /// `[project.optional-dependencies]` keys, normalized.
    pub extras: Vec<String>,
    /// `[dependency-groups]` keys, normalized.
    pub groups: Vec<String>,
    /// `[build-system] requires` (PEP 517's default when absent).
    pub build_requires: Vec<String>,
    /// `uv.lock` lies beside it.
    pub uv_lock: bool,
    /// `pylock.toml` (PEP 751) lies beside it (a `uv.lock` wins over it).
    pub pylock: bool,
}

impl Project {
    /// The project of a test dir, as `choice` says; `None` with `--no-project`
    /// or when no project file lies between the test dir and the top.
    pub fn find(test_dir: &Path, choice: &Choice) -> Result<Option<Project>> {
        let root = match choice {
            Choice::Nothing => return Ok(None),
            Choice::At(dir) => {
                let root =
                    dir.canonicalize().map_err(|e| usage(format!("--project {}: {e}", dir.display())))?;
                if !PROJECT_FILES.iter().any(|f| root.join(f).is_file()) {
                    return Err(usage(format!(
                        "--project {}: no {} there",
                        dir.display(),
                        PROJECT_FILES.join(", ")
                    )));
                }
                root
            }
            Choice::Find => match find_root(&test_dir.canonicalize()?) {
                Some(root) => root,
                None => return Ok(None),
            },
        };
        let metadata = Metadata::read(&root)?;
        Ok(Some(Project { root, metadata }))
    }

    /// The user's choice checked against the project: every group and extra
    /// must exist, every requirements file too. With nothing asked, the `dev`
    /// group when there is one (as uv does).
    pub fn check(&self, mut wanted: Wanted) -> Result<Wanted> {
        for (kind, names, known) in [
            ("dependency group", &mut wanted.groups, &self.metadata.groups),
            ("extra", &mut wanted.extras, &self.metadata.extras),
        ] {
            for name in names.iter_mut() {
                *name = normalize(name);
                if !known.contains(name) {
                    let have = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                    return Err(usage(format!(
                        "the project {} has no {kind} `{name}` (it has: {have})",
                        self.root.display()
                    )));
                }
            }
        }
        for file in &mut wanted.requirements {
            if !file.is_file() {
                return Err(usage(format!("--requirements {}: no such file", file.display())));
            }
            *file = file.canonicalize()?;
        }
        let nothing_asked = wanted.groups.is_empty()
            && wanted.extras.is_empty()
            && wanted.requirements.is_empty()
            && wanted.with.is_empty();
        if nothing_asked && self.metadata.groups.iter().any(|g| g == "dev") {
            wanted.groups.push("dev".into());
        }
        Ok(wanted)
    }

    /// The project's `requires-python` when it leaves out Python `version` (`X.Y`).
    pub fn refuses_python(&self, version: &str) -> Option<String> {
        let spec = self.metadata.requires_python.as_deref()?;
        match specifier::allows(spec, version) {
            Ok(true) => None,
            Ok(false) => Some(spec.to_string()),
            // A specifier we cannot read is left to the installer to judge.
            Err(_) => None,
        }
    }
}

/// The nearest folder from `start` up with a project file, stopping at the
/// filesystem root or at the top of a repository (a folder holding `.git`).
pub fn find_root(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        if declares_a_project(dir) {
            return Some(dir.to_path_buf());
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// Whether a folder holds a package's declaration: a `setup.py`, a
/// `pyproject.toml` with `[project]` or `[build-system]`, a `setup.cfg` with
/// `[metadata]` or `[options]`. A file holding only tools' settings
/// (`[tool.pytest.ini_options]`, `[tool.pymaccounter]`, `[flake8]`) is no project.
fn declares_a_project(dir: &Path) -> bool {
    if dir.join("setup.py").is_file() {
        return true;
    }
    let has_line = |file: &str, headers: &[&str]| {
        fs::read_to_string(dir.join(file))
            .is_ok_and(|text| text.lines().any(|line| headers.contains(&line.trim())))
    };
    has_line("pyproject.toml", &["[project]", "[build-system]"])
        || has_line("setup.cfg", &["[metadata]", "[options]"])
}

/// PEP 503 normalization, which extras and group names follow (PEP 685, PEP 735).
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl Metadata {
    /// The lock that decides the environment's versions: `uv.lock`, else `pylock.toml`.
    pub fn lock_file(&self) -> Option<&'static str> {
        match (self.uv_lock, self.pylock) {
            (true, _) => Some("uv.lock"),
            (false, true) => Some("pylock.toml"),
            (false, false) => None,
        }
    }

    pub fn read(root: &Path) -> Result<Metadata> {
        let uv_lock = root.join("uv.lock").is_file();
        let pylock = root.join("pylock.toml").is_file();
        let path = root.join("pyproject.toml");
        let default_build = vec!["setuptools>=40.8.0".to_string()];
        if !path.is_file() {
            return Ok(Metadata { build_requires: default_build, uv_lock, pylock, ..Metadata::default() });
        }
        let text = fs::read_to_string(&path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| usage(format!("{}: not valid TOML: {e}", path.display())))?;
        let project = table.get("project").and_then(|p| p.as_table());
        let string = |t: Option<&toml::Table>, key: &str| {
            t.and_then(|t| t.get(key)).and_then(|v| v.as_str()).map(str::to_string)
        };
        let keys = |v: Option<&toml::Value>| -> Vec<String> {
            let mut names: Vec<String> = v
                .and_then(|v| v.as_table())
                .map(|t| t.keys().map(|k| normalize(k)).collect())
                .unwrap_or_default();
            names.sort();
            names
        };
        let build_requires = table
            .get("build-system")
            .and_then(|b| b.get("requires"))
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or(default_build);
        Ok(Metadata {
            name: string(project, "name"),
            requires_python: string(project, "requires-python"),
            extras: keys(project.and_then(|p| p.get("optional-dependencies"))),
            groups: keys(table.get("dependency-groups")),
            build_requires,
            uv_lock,
            pylock,
        })
    }
}

/// `[build-system] requires` of an sdist's pyproject.toml text (PEP 517's default when absent).
pub fn build_requires_of(pyproject: Option<&str>) -> Vec<String> {
    let parsed = pyproject.and_then(|text| toml::from_str::<toml::Table>(text).ok());
    parsed
        .as_ref()
        .and_then(|t| t.get("build-system"))
        .and_then(|b| b.get("requires"))
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| vec!["setuptools>=40.8.0".to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_nearest_project_file_below_the_repository_top() {
        let temp = tempfile::tempdir().unwrap();
        let top = temp.path();
        fs::create_dir_all(top.join("repo/pkg/tests/deep")).unwrap();
        fs::create_dir(top.join("repo/.git")).unwrap();
        assert_eq!(find_root(&top.join("repo/pkg/tests/deep")), None, "stops at .git");
        fs::write(top.join("repo/pyproject.toml"), "[tool.pytest.ini_options]\n").unwrap();
        assert_eq!(find_root(&top.join("repo/pkg/tests/deep")), None, "tools' settings alone are no project");
        fs::write(top.join("repo/pyproject.toml"), "[project]\nname = \"p\"\n").unwrap();
        assert_eq!(find_root(&top.join("repo/pkg/tests/deep")), Some(top.join("repo")));
        fs::write(top.join("repo/pkg/setup.py"), "").unwrap();
        assert_eq!(find_root(&top.join("repo/pkg/tests/deep")), Some(top.join("repo/pkg")));
        // Above a repository's top is another project: never reached.
        fs::remove_file(top.join("repo/pyproject.toml")).unwrap();
        fs::remove_file(top.join("repo/pkg/setup.py")).unwrap();
        fs::write(top.join("setup.cfg"), "[metadata]\nname = p\n").unwrap();
        assert_eq!(find_root(&top.join("repo/pkg")), None);
        assert_eq!(find_root(top), Some(top.to_path_buf()));
    }

    #[test]
    fn pyproject_declarations_are_read_and_names_normalized() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(
            temp.path().join("pyproject.toml"),
            r#"
[build-system]
requires = ["hatchling"]
[project]
name = "demo"
requires-python = ">=3.10"
[project.optional-dependencies]
Fast_Math = ["numpy"]
[dependency-groups]
dev = ["pytest"]
"Test.Extra" = ["hypothesis"]
"#,
        )
        .unwrap();
        let metadata = Metadata::read(temp.path()).unwrap();
        assert_eq!(metadata.name.as_deref(), Some("demo"));
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.10"));
        assert_eq!(metadata.extras, ["fast-math"]);
        assert_eq!(metadata.groups, ["dev", "test-extra"]);
        assert_eq!(metadata.build_requires, ["hatchling"]);
        let project = Project { root: temp.path().to_path_buf(), metadata };
        let error = project.check(Wanted { groups: vec!["docs".into()], ..Wanted::default() }).unwrap_err();
        assert!(
            error.to_string().contains("no dependency group `docs` (it has: dev, test-extra)"),
            "{error}"
        );
        let wanted = project.check(Wanted { extras: vec!["fast_math".into()], ..Wanted::default() }).unwrap();
        assert_eq!((wanted.extras, wanted.groups), (vec!["fast-math".to_string()], vec![]));
        assert_eq!(project.check(Wanted::default()).unwrap().groups, ["dev"], "dev by default");
        assert_eq!(project.refuses_python("3.9").unwrap(), ">=3.10");
        assert_eq!(project.refuses_python("3.13"), None);
        let missing = Wanted { requirements: vec![temp.path().join("nope.txt")], ..Wanted::default() };
        assert!(project.check(missing).is_err());
    }

    #[test]
    fn bad_toml_is_a_usage_error() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join("pyproject.toml"), "[project\nname=").unwrap();
        let error = Metadata::read(temp.path()).unwrap_err();
        assert!(error.downcast_ref::<crate::error::Usage>().is_some());
    }
}
