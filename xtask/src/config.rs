//! A configuration a project commits: `[tool.pymaccounter]` in its
//! `pyproject.toml` (the convention of pytest, ruff, coverage and mypy), or
//! the same keys at the top of a `pymaccounter.toml`; named profiles under
//! `profile.NAME` (nextest's habit), chosen by `--profile` or
//! `PYMACCOUNTER_PROFILE`. Keys are the run options' long flags
//! (`timeout = 60`, `python = ["3.11", "3.13"]`, `fail-fast = true`).
//!
//! Found from the test dir upward (stopping at a repository's top), or from
//! the current directory when no test dir is given, or named by `--config`.
//! The values become the options' defaults, so the command line and the
//! environment still win: command line > environment > profile >
//! `[tool.pymaccounter]` > built-in default. This file reads and checks the
//! file; `cli.rs` sets the defaults.

use std::fs;
use std::path::{Path, PathBuf};

/// The values a configuration gives, as the option's command-line text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The file, and the profile used from it.
    pub file: Option<PathBuf>,
    pub profile: Option<String>,
    /// `(long flag, values)`: one value for a scalar, several for a list.
    pub values: Vec<(String, Vec<String>)>,
}

/// What a key may be: how the option it names takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A switch (`--fail-fast`): `true` or `false`.
    Switch,
    /// One value (`--timeout 60`).
    One,
    /// Several, as a list (`--python 3.11,3.13`, `--skip a --skip b`).
    Several,
    /// A run option this task has no use for (`memory` for `list`).
    NotHere,
}

/// Where a configuration is, as the command line says.
pub struct Search<'a> {
    pub named: Option<&'a Path>,
    pub test_dir: Option<&'a Path>,
    pub profile: Option<&'a str>,
}

impl Config {
    /// The configuration to use, checked against the options the task takes
    /// (`takes(key)`: `None` for a key that is no option of the task). An
    /// error says the file, the line and what is wrong.
    pub fn find(search: &Search, takes: &dyn Fn(&str) -> Option<Takes>) -> Result<Config, String> {
        let Some((file, table)) = locate(search)? else {
            return match search.profile {
                Some(profile) => Err(format!("--profile {profile}: no pymaccounter configuration found")),
                None => Ok(Config::default()),
            };
        };
        let text = fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut config = Config {
            file: Some(file.clone()),
            profile: search.profile.map(str::to_string),
            ..Config::default()
        };
        let at = |key: &str| format!("{}:{}", file.display(), line_of(&text, key));
        let profiles = table.get("profile").and_then(toml::Value::as_table);
        let mut layers = vec![(None, table.clone())];
        if let Some(name) = search.profile {
            let profile =
                profiles.and_then(|p| p.get(name)).and_then(toml::Value::as_table).ok_or_else(|| {
                    let known: Vec<&String> = profiles.map(|p| p.keys().collect()).unwrap_or_default();
                    format!("--profile {name}: {} has no profile {name} (it has: {known:?})", file.display())
                })?;
            layers.push((Some(name), profile.clone()));
        }
        for (profile, layer) in layers {
            for (key, value) in &layer {
                if key == "profile" && profile.is_none() {
                    continue;
                }
                if key == "test-dir" && search.test_dir.is_some() {
                    return Err(format!(
                        "{}: test-dir: a configuration found through the test dir cannot move it",
                        at(key)
                    ));
                }
                let Some(takes) = takes(key) else {
                    return Err(format!("{}: {key}: not an option of this task", at(key)));
                };
                let values = values_of(value, takes).map_err(|why| format!("{}: {key}: {why}", at(key)))?;
                config.values.retain(|(k, _)| k != key);
                if takes != Takes::NotHere {
                    config.values.push((key.clone(), values));
                }
            }
        }
        Ok(config)
    }
}

/// The file and its table of keys: `--config FILE`, else the nearest
/// `pymaccounter.toml` or `pyproject.toml` with `[tool.pymaccounter]`.
fn locate(search: &Search) -> Result<Option<(PathBuf, toml::Table)>, String> {
    if let Some(named) = search.named {
        let table = read_table(named)?;
        let table = if named.file_name().is_some_and(|n| n == "pyproject.toml") {
            tool_section(&table)
                .ok_or_else(|| format!("{}: no [tool.pymaccounter] in it", named.display()))?
        } else {
            table
        };
        return Ok(Some((named.to_path_buf(), table)));
    }
    let start = match search.test_dir {
        Some(dir) => dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?,
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    for dir in start.ancestors() {
        let own = dir.join("pymaccounter.toml");
        if own.is_file() {
            return Ok(Some((own.clone(), read_table(&own)?)));
        }
        let pyproject = dir.join("pyproject.toml");
        if pyproject.is_file() {
            if let Some(table) = tool_section(&read_table(&pyproject)?) {
                return Ok(Some((pyproject, table)));
            }
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    Ok(None)
}

fn read_table(file: &Path) -> Result<toml::Table, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    toml::from_str(&text).map_err(|e| format!("{} is not valid TOML: {e}", file.display()))
}

fn tool_section(table: &toml::Table) -> Option<toml::Table> {
    table.get("tool")?.get("pymaccounter")?.as_table().cloned()
}

/// The command-line text of a key's value, checked against what the option takes.
fn values_of(value: &toml::Value, takes: Takes) -> Result<Vec<String>, String> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("expected a string or a number".to_string()),
    };
    match (takes, value) {
        (Takes::Switch, toml::Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (Takes::Switch, _) => Err("expected true or false".into()),
        (Takes::One, toml::Value::Array(_)) => Err("expected one value, not a list".into()),
        (Takes::One, value) => Ok(vec![scalar(value)?]),
        (Takes::Several, toml::Value::Array(items)) => items.iter().map(scalar).collect(),
        (Takes::Several, value) => Ok(vec![scalar(value)?]),
        (Takes::NotHere, _) => Ok(Vec::new()),
    }
}

/// The 1-based line where `key` is set (the first, when set twice in tables).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
                || line
                    .strip_prefix(&format!("\"{key}\""))
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(key: &str) -> Option<Takes> {
        match key {
            "fail-fast" => Some(Takes::Switch),
            "timeout" | "memory" | "test-dir" => Some(Takes::One),
            "python" | "skip" => Some(Takes::Several),
            _ => None,
        }
    }

    fn project(pyproject: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::create_dir(dir.path().join("tests")).unwrap();
        fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        dir
    }

    fn find(dir: &Path, profile: Option<&str>) -> Result<Config, String> {
        let tests = dir.join("tests");
        Config::find(&Search { named: None, test_dir: Some(&tests), profile }, &takes)
    }

    const PYPROJECT: &str = "[project]\nname = \"x\"\n\n[tool.pymaccounter]\ntimeout = 60\npython = [\"3.11\", \"3.13\"]\nfail-fast = true\n\n[tool.pymaccounter.profile.ci]\ntimeout = 600\nskip = [\"test_slow*\"]\n";

    #[test]
    fn the_tool_section_and_a_profile_give_the_defaults() {
        let dir = project(PYPROJECT);
        let plain = find(dir.path(), None).unwrap();
        assert_eq!(plain.file, Some(dir.path().canonicalize().unwrap().join("pyproject.toml")));
        assert!(plain.values.contains(&("timeout".into(), vec!["60".into()])));
        assert!(plain.values.contains(&("python".into(), vec!["3.11".into(), "3.13".into()])));
        assert!(plain.values.contains(&("fail-fast".into(), vec!["true".into()])));
        let ci = find(dir.path(), Some("ci")).unwrap();
        assert!(ci.values.contains(&("timeout".into(), vec!["600".into()])), "the profile wins: {ci:?}");
        assert!(ci.values.contains(&("skip".into(), vec!["test_slow*".into()])));
        assert!(find(dir.path(), Some("nightly")).unwrap_err().contains("no profile nightly"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_line() {
        let unknown = project("[tool.pymaccounter]\ntimeout = 60\ntimout = 5\n");
        let error = find(unknown.path(), None).unwrap_err();
        assert!(error.ends_with("pyproject.toml:3: timout: not an option of this task"), "{error}");
        let bad = project("[tool.pymaccounter]\n\nfail-fast = \"yes\"\n");
        assert!(find(bad.path(), None)
            .unwrap_err()
            .contains("pyproject.toml:3: fail-fast: expected true or false"));
        let moved = project("[tool.pymaccounter]\ntest-dir = \"elsewhere\"\n");
        assert!(find(moved.path(), None).unwrap_err().contains("cannot move it"));
    }

    #[test]
    fn no_configuration_is_no_change_and_a_pymaccounter_toml_is_read_too() {
        let none = project("[project]\nname = \"x\"\n");
        assert_eq!(find(none.path(), None).unwrap(), Config::default());
        let own = project("[project]\nname = \"x\"\n");
        fs::write(own.path().join("tests/pymaccounter.toml"), "memory = \"512m\"\n").unwrap();
        assert_eq!(
            find(own.path(), None).unwrap().values,
            [("memory".to_string(), vec!["512m".to_string()])]
        );
    }
}
