//! Which files of a test dir are test files, found the way the project's own
//! runner finds them. In a project configured for pytest that is pytest's
//! rules, read statically from its configuration: the first `pytest.ini`,
//! `pyproject.toml` with `[tool.pytest.ini_options]`, `tox.ini` with
//! `[pytest]` or `setup.cfg` with `[tool:pytest]` from the test dir up (the
//! rootdir is its folder), then `python_files`, `norecursedirs`,
//! `testpaths` (when the test dir is the rootdir, as a bare `pytest` there
//! uses them) and `addopts`' `--ignore`/`--ignore-glob`. Elsewhere
//! `test_*.py`, recursively. Test files are named by their path relative to
//! the test dir (`property/test_x.py`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::usage;
use crate::glob::glob_matches;

/// pytest's default `norecursedirs`.
const DEFAULT_NORECURSE: [&str; 9] =
    ["*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}"];
/// Folders never searched whatever the configuration: caches and virtual
/// environments (pytest skips a folder holding a virtual environment too).
const NEVER_SEARCHED: [&str; 3] = ["__pycache__", "site-packages", ".venv"];

/// A configuration section's options, each value split into words.
type Options = Vec<(String, Vec<String>)>;

/// How a test dir's test files are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The pytest configuration file the rules come from, when there is one.
    pub config_file: Option<PathBuf>,
    /// pytest's rootdir: the configuration file's folder (else the test dir).
    pub rootdir: PathBuf,
    /// Whether pytest runs this project's tests: it has a pytest
    /// configuration, a `conftest.py`, or pytest among its test dependencies.
    pub pytest_project: bool,
    /// Globs of test file names (`python_files`).
    pub python_files: Vec<String>,
    /// Globs of folder names not searched (`norecursedirs`).
    pub norecursedirs: Vec<String>,
    /// Folders (absolute) searched instead of the whole test dir (`testpaths`).
    pub testpaths: Vec<PathBuf>,
    /// Paths (absolute) left out (`--ignore`), and globs of paths (`--ignore-glob`).
    pub ignore: Vec<PathBuf>,
    pub ignore_globs: Vec<String>,
}

impl Rules {
    /// The rules for a test dir (a canonical path): the pytest configuration
    /// found from it upward (stopping at a repository's top), else defaults.
    pub fn of(test_dir: &Path) -> Result<Rules> {
        let mut rules = Rules {
            config_file: None,
            rootdir: test_dir.to_path_buf(),
            pytest_project: false,
            python_files: vec!["test_*.py".into()],
            norecursedirs: DEFAULT_NORECURSE.iter().map(|s| s.to_string()).collect(),
            testpaths: Vec::new(),
            ignore: Vec::new(),
            ignore_globs: Vec::new(),
        };
        let mut conftest = false;
        for dir in test_dir.ancestors() {
            conftest |= dir.join("conftest.py").is_file();
            if let Some((file, options)) = pytest_config_in(dir)? {
                rules.apply(dir, &file, &options, test_dir)?;
                rules.config_file = Some(file);
                break;
            }
            if dir.join(".git").exists() {
                break;
            }
        }
        conftest |= has_conftest_below(test_dir);
        let declares_pytest = rules.rootdir.join("pyproject.toml").is_file()
            && fs::read_to_string(rules.rootdir.join("pyproject.toml")).is_ok_and(|t| declares_pytest(&t));
        rules.pytest_project = rules.config_file.is_some() || conftest || declares_pytest;
        if rules.pytest_project && rules.config_file.is_none() {
            // pytest's own default, where nothing configured it.
            rules.python_files = vec!["test_*.py".into(), "*_test.py".into()];
        }
        Ok(rules)
    }

    fn apply(
        &mut self,
        dir: &Path,
        file: &Path,
        options: &[(String, Vec<String>)],
        test_dir: &Path,
    ) -> Result<()> {
        self.rootdir = dir.to_path_buf();
        // pytest's own default once a configuration exists.
        self.python_files = vec!["test_*.py".into(), "*_test.py".into()];
        for (key, values) in options {
            match key.as_str() {
                "python_files" => self.python_files = values.clone(),
                "norecursedirs" => self.norecursedirs = values.clone(),
                // A bare `pytest` in the rootdir searches them; a test dir
                // below it is an explicit path, which pytest searches whole.
                "testpaths" if test_dir == dir => {
                    self.testpaths = values.iter().map(|p| dir.join(p)).collect();
                }
                "addopts" => self.apply_addopts(dir, values),
                _ => {}
            }
        }
        if self.python_files.is_empty() {
            return Err(usage(format!(
                "{}: python_files is empty: no file could be a test file",
                file.display()
            )));
        }
        Ok(())
    }

    /// `--ignore=PATH`, `--ignore PATH`, `--ignore-glob=GLOB` (relative to the rootdir).
    fn apply_addopts(&mut self, dir: &Path, words: &[String]) {
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let (flag, value) = match word.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_string())),
                None => (word.as_str(), None),
            };
            let value = || value.clone().or_else(|| words.clone().next().cloned());
            match flag {
                "--ignore" => {
                    if let Some(path) = value() {
                        self.ignore.push(dir.join(path.trim_end_matches('/')));
                    }
                }
                "--ignore-glob" => {
                    if let Some(glob) = value() {
                        self.ignore_globs.push(dir.join(glob).to_string_lossy().into_owned());
                    }
                }
                _ => {}
            }
        }
    }

    /// The test files of `test_dir`, as paths relative to it, sorted.
    pub fn test_files(&self, test_dir: &Path) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let roots: Vec<PathBuf> = if self.testpaths.is_empty() {
            vec![test_dir.to_path_buf()]
        } else {
            self.testpaths.iter().filter(|p| p.starts_with(test_dir)).cloned().collect()
        };
        for root in roots {
            if root.is_file() {
                found.push(root);
            } else if root.is_dir() {
                self.walk(&root, &mut found)?;
            }
        }
        let mut names: Vec<String> = found
            .into_iter()
            // A link is a module only when it leads to a file inside the test
            // dir: the containers see nothing else (`TestDir::outside_links` says so).
            .filter(|p| {
                !p.is_symlink() || fs::canonicalize(p).is_ok_and(|t| t.starts_with(test_dir) && t.is_file())
            })
            .filter_map(|p| p.strip_prefix(test_dir).ok().and_then(|r| r.to_str().map(str::to_string)))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn walk(&self, dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
        let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            if self.ignored(&path) {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                let skipped = NEVER_SEARCHED.contains(&name.as_str())
                    || self.norecursedirs.iter().any(|glob| glob_matches(glob, &name))
                    || path.join("pyvenv.cfg").is_file();
                if !skipped {
                    self.walk(&path, found)?;
                }
            } else if (kind.is_file() || kind.is_symlink())
                && name.ends_with(".py")
                && self.python_files.iter().any(|glob| glob_matches(glob, &name))
            {
                found.push(path);
            }
        }
        Ok(())
    }

    fn ignored(&self, path: &Path) -> bool {
        self.ignore.iter().any(|ignored| path.starts_with(ignored))
            || self.ignore_globs.iter().any(|glob| glob_matches(glob, &path.to_string_lossy()))
    }
}

/// The pytest configuration of a folder, in pytest's order of files, with
/// each option's words.
fn pytest_config_in(dir: &Path) -> Result<Option<(PathBuf, Options)>> {
    for (name, section) in [("pytest.ini", "pytest"), (".pytest.ini", "pytest")] {
        let file = dir.join(name);
        if file.is_file() {
            // pytest.ini counts even with no [pytest] section.
            let options = ini_section(&read(&file)?, section).unwrap_or_default();
            return Ok(Some((file, options)));
        }
    }
    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        if let Some(options) = pyproject_options(&read(&pyproject)?, &pyproject)? {
            return Ok(Some((pyproject, options)));
        }
    }
    for (name, section) in [("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")] {
        let file = dir.join(name);
        if file.is_file() {
            if let Some(options) = ini_section(&read(&file)?, section) {
                return Ok(Some((file, options)));
            }
        }
    }
    Ok(None)
}

fn read(file: &Path) -> Result<String> {
    fs::read_to_string(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))
}

/// The options of one section of an ini file, each value split into words
/// (continuation lines are more words), or `None` without that section.
fn ini_section(text: &str, section: &str) -> Option<Options> {
    let mut options: Options = Vec::new();
    let mut inside = false;
    let mut seen = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') || trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            inside = trimmed[1..trimmed.len() - 1].trim() == section;
            seen |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        let continued = line.starts_with([' ', '\t']);
        match (continued, trimmed.split_once(['=', ':'])) {
            (true, _) if !options.is_empty() => {
                let last = options.last_mut().expect("not empty");
                last.1.extend(trimmed.split_whitespace().map(str::to_string));
            }
            (_, Some((key, value))) => {
                options
                    .push((key.trim().to_string(), value.split_whitespace().map(str::to_string).collect()));
            }
            _ => {}
        }
    }
    seen.then_some(options)
}

/// `[tool.pytest.ini_options]` of a pyproject.toml, values as words.
fn pyproject_options(text: &str, file: &Path) -> Result<Option<Options>> {
    let value: toml::Table =
        toml::from_str(text).map_err(|e| usage(format!("{} is not valid TOML: {e}", file.display())))?;
    let Some(options) = value.get("tool").and_then(|t| t.get("pytest")).and_then(|p| p.get("ini_options"))
    else {
        return Ok(None);
    };
    let Some(options) = options.as_table() else { return Ok(None) };
    let words = |value: &toml::Value| -> Vec<String> {
        match value {
            toml::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            toml::Value::Array(items) => {
                items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
            }
            toml::Value::Boolean(b) => vec![b.to_string()],
            toml::Value::Integer(i) => vec![i.to_string()],
            toml::Value::Float(f) => vec![f.to_string()],
            _ => Vec::new(),
        }
    };
    Ok(Some(options.iter().map(|(key, value)| (key.clone(), words(value))).collect()))
}

/// Whether a pyproject.toml names pytest among its dependencies (a group, an extra).
fn declares_pytest(text: &str) -> bool {
    let Ok(value) = toml::from_str::<toml::Table>(text) else { return false };
    let names_pytest = |list: Option<&toml::Value>| {
        list.and_then(toml::Value::as_array).is_some_and(|items| {
            items.iter().filter_map(toml::Value::as_str).any(|spec| {
                let name: String = spec
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                name.eq_ignore_ascii_case("pytest")
            })
        })
    };
    let tables =
        [value.get("dependency-groups"), value.get("project").and_then(|p| p.get("optional-dependencies"))];
    let declared = tables
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
        .any(|t| t.values().any(|v| names_pytest(Some(v))));
    declared
}

fn has_conftest_below(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "conftest.py" {
            return true;
        }
        let descend = entry.file_type().is_ok_and(|t| t.is_dir())
            && !name.starts_with('.')
            && !NEVER_SEARCHED.contains(&name.as_ref())
            && !DEFAULT_NORECURSE.iter().any(|g| glob_matches(g, &name));
        descend && has_conftest_below(&entry.path())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn plain_test_dirs_are_searched_for_test_files_at_any_depth() {
        let dir = tree(&[
            ("test_a.py", ""),
            ("property/test_b.py", ""),
            ("property/helper.py", ""),
            ("build/test_built.py", ""),
            (".hidden/test_h.py", ""),
            ("__pycache__/test_c.py", ""),
            ("env/pyvenv.cfg", ""),
            ("env/test_v.py", ""),
            ("c_test.py", ""),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let rules = Rules::of(&root).unwrap();
        assert!(!rules.pytest_project);
        assert_eq!(rules.test_files(&root).unwrap(), ["property/test_b.py", "test_a.py"]);
    }

    #[test]
    fn pytest_configuration_decides_the_files() {
        let dir = tree(&[
            ("pyproject.toml", "[tool.pytest.ini_options]\npython_files = [\"check_*.py\", \"*_test.py\"]\nnorecursedirs = [\"slow\"]\naddopts = \"--ignore=tests/skipped -q\"\n"),
            ("tests/check_a.py", ""),
            ("tests/b_test.py", ""),
            ("tests/test_c.py", ""),
            ("tests/slow/check_d.py", ""),
            ("tests/skipped/check_e.py", ""),
        ]);
        let tests = dir.path().canonicalize().unwrap().join("tests");
        let rules = Rules::of(&tests).unwrap();
        assert!(rules.pytest_project);
        assert_eq!(rules.test_files(&tests).unwrap(), ["b_test.py", "check_a.py"]);
    }

    #[test]
    fn testpaths_apply_in_the_rootdir_and_ini_files_are_read() {
        let dir = tree(&[
            ("setup.cfg", "[metadata]\nname = x\n\n[tool:pytest]\ntestpaths =\n    tests\n    more\n"),
            ("tests/test_a.py", ""),
            ("more/test_b.py", ""),
            ("docs/test_not.py", ""),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let rules = Rules::of(&root).unwrap();
        assert_eq!(rules.config_file, Some(root.join("setup.cfg")));
        assert_eq!(rules.test_files(&root).unwrap(), ["more/test_b.py", "tests/test_a.py"]);
        let below = Rules::of(&root.join("tests")).unwrap();
        assert_eq!(below.test_files(&root.join("tests")).unwrap(), ["test_a.py"]);
    }

    #[test]
    fn a_conftest_or_a_pytest_dependency_makes_a_pytest_project() {
        let with_conftest = tree(&[("tests/conftest.py", ""), ("tests/a_test.py", "")]);
        let tests = with_conftest.path().canonicalize().unwrap().join("tests");
        let rules = Rules::of(&tests).unwrap();
        assert!(rules.pytest_project);
        assert_eq!(rules.test_files(&tests).unwrap(), ["a_test.py"], "pytest's default python_files");
        let declared =
            tree(&[("pyproject.toml", "[dependency-groups]\ntest = [\"pytest>=8\", \"hypothesis\"]\n")]);
        assert!(Rules::of(&declared.path().canonicalize().unwrap()).unwrap().pytest_project);
        let other = tree(&[("pyproject.toml", "[dependency-groups]\ntest = [\"pytest-cov\"]\n")]);
        assert!(!Rules::of(&other.path().canonicalize().unwrap()).unwrap().pytest_project);
    }

    #[test]
    fn ini_sections_read_continuations_and_skip_comments() {
        let text =
            "[pytest]\n# a comment\naddopts = -ra\n    --ignore=x\nxfail_strict = true\n[other]\nkey = v\n";
        let options = ini_section(text, "pytest").unwrap();
        assert_eq!(options[0], ("addopts".to_string(), vec!["-ra".to_string(), "--ignore=x".to_string()]));
        assert_eq!(options.len(), 2);
        assert!(ini_section(text, "tool:pytest").is_none());
    }
}
