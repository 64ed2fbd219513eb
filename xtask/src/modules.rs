//! The test directory: which modules exist, which the user named, what each says it does.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::usage;
use crate::report::sanitize::terminal_line;

/// A directory of test modules, with the spelling the user gave it (for messages).
#[derive(Debug, Clone)]
pub struct TestDir {
    pub path: PathBuf,
    pub display: String,
}

impl TestDir {
    /// The directory the user named, or this repository's `python_tests`.
    pub fn resolve(given: Option<&Path>) -> Result<TestDir> {
        let (path, display) = match given {
            Some(path) => (path.to_path_buf(), path.display().to_string()),
            None => (crate::project_root().join("python_tests"), "python_tests".to_string()),
        };
        if !path.is_dir() {
            return Err(usage(format!(
                "test dir {} does not exist or is not a directory (pass --test-dir DIR)",
                path.display()
            )));
        }
        Ok(TestDir { path, display: display.trim_end_matches('/').to_string() })
    }

    /// Every `.py` file directly in the directory whose name is UTF-8, sorted
    /// (what goes into the image). Other names are left out: see `non_utf8_modules`.
    pub fn python_files(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> =
            self.python_entries()?.into_iter().filter_map(|name| name.into_string().ok()).collect();
        names.sort();
        Ok(names)
    }

    /// `test_*.py` files whose names are not valid UTF-8, shown lossily (U+FFFD
    /// for the bad bytes). They are not run: a module's name is text in every
    /// report and in the container's command. The caller says so and runs the
    /// others; `.py` helpers with such names are simply left out of the image.
    pub fn non_utf8_modules(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .python_entries()?
            .into_iter()
            .filter(|name| name.to_str().is_none() && name.as_bytes().starts_with(b"test_"))
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Names of the regular files ending in `.py` directly in the directory, as the OS gives them.
    fn python_entries(&self) -> Result<Vec<OsString>> {
        let mut names = Vec::new();
        let entries = fs::read_dir(&self.path)
            .with_context(|| format!("cannot read test dir {}", self.path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read test dir {}", self.path.display()))?;
            let name = entry.file_name();
            if name.as_bytes().ends_with(b".py") && entry.file_type().is_ok_and(|t| t.is_file()) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The test modules: `test_*.py`, sorted by name.
    pub fn test_modules(&self) -> Result<Vec<String>> {
        Ok(self.python_files()?.into_iter().filter(|n| n.starts_with("test_")).collect())
    }
}

/// The modules named on the command line: one JSON list, or plain names.
pub fn parse_selection(args: &[String]) -> Result<Vec<String>> {
    let names = match args {
        [single] if looks_like_json(single) => parse_json_list(single)?,
        _ => {
            if args.iter().any(|a| looks_like_json(a)) {
                return Err(usage("give either one JSON list or plain module names, not both"));
            }
            args.to_vec()
        }
    };
    if names.is_empty() {
        return Err(usage("no module named: the list is empty"));
    }
    Ok(names)
}

fn looks_like_json(arg: &str) -> bool {
    arg.trim_start().starts_with(['[', '{'])
}

fn parse_json_list(text: &str) -> Result<Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        usage(format!("TESTS is not valid JSON ({e}); expected e.g. '[\"test_baseline.py\"]'"))
    })?;
    let items = value.as_array().ok_or_else(|| usage("TESTS must be a JSON list of module names"))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| usage(format!("TESTS must hold only strings, found {item}")))
        })
        .collect()
}

/// Checks that every name is a plain `.py` file name present in the test dir, once.
pub fn validate_selection(names: &[String], dir: &TestDir) -> Result<()> {
    let available = dir.python_files()?;
    let mut problems = Vec::new();
    for (position, name) in names.iter().enumerate() {
        // Shown with control characters escaped: names reach the terminal.
        let shown = terminal_line(name);
        if names[..position].contains(name) {
            problems.push(format!("{shown}: named twice"));
        } else if name.contains('/') || name.contains('\\') || name.starts_with('.') {
            problems
                .push(format!("{shown}: give a module name, not a path (use --test-dir for the directory)"));
        } else if name.starts_with('-') {
            problems.push(format!(
                "{shown}: a module name cannot start with '-' (python3 would read it as an option)"
            ));
        } else if !name.ends_with(".py") {
            problems.push(format!("{shown}: not a .py file"));
        } else if !available.contains(name) {
            problems.push(unknown_module(name, &available, dir));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(usage(problems.join("\n")))
    }
}

fn unknown_module(name: &str, available: &[String], dir: &TestDir) -> String {
    let mut close: Vec<(f64, &String)> = available
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hint = match close.as_slice() {
        [] => "see `cargo xtask list`".to_string(),
        close => {
            let names: Vec<String> =
                close.iter().take(3).map(|(_, n)| terminal_line(n).into_owned()).collect();
            format!("did you mean {}?", names.join(", "))
        }
    };
    format!("{}: no such module in {}; {hint}", terminal_line(name), terminal_line(&dir.display))
}

/// The first line of a module's docstring, or "" when it has none.
pub fn docstring_summary(source: &str) -> String {
    let body = source
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty() || line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let body = body.trim_start_matches(['r', 'R', 'u', 'U']);
    for quote in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(rest) = body.strip_prefix(quote) {
            let content = rest.split(quote).next().unwrap_or("");
            return content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> (tempfile::TempDir, TestDir) {
        let temp = tempfile::tempdir().unwrap();
        for file in files {
            fs::write(temp.path().join(file), "").unwrap();
        }
        let dir = TestDir::resolve(Some(temp.path())).unwrap();
        (temp, dir)
    }

    fn is_usage(result: Result<impl std::fmt::Debug>) -> String {
        let error = result.unwrap_err();
        assert!(error.downcast_ref::<crate::error::Usage>().is_some(), "{error:?}");
        error.to_string()
    }

    #[test]
    fn selection_accepts_a_json_list_or_plain_names() {
        let json = vec![r#"["test_a.py", "test_b.gc.py"]"#.to_string()];
        assert_eq!(parse_selection(&json).unwrap(), ["test_a.py", "test_b.gc.py"]);
        let plain = vec!["test_a.py".to_string(), "test_b.py".to_string()];
        assert_eq!(parse_selection(&plain).unwrap(), ["test_a.py", "test_b.py"]);
    }

    #[test]
    fn bad_selections_are_usage_errors() {
        for bad in [r#"["test_a.py""#, r#"{"a": 1}"#, r#"["test_a.py", 3]"#, "[]"] {
            is_usage(parse_selection(&[bad.to_string()]));
        }
        is_usage(parse_selection(&["[\"a.py\"]".to_string(), "b.py".to_string()]));
    }

    #[test]
    fn names_must_be_known_plain_py_files_named_once() {
        let (_temp, dir) = dir_with(&["test_baseline.py", "test_refcount.py", "notes.txt"]);
        assert!(validate_selection(&["test_baseline.py".into()], &dir).is_ok());
        for bad in ["../test_baseline.py", "/etc/passwd", "sub/test_x.py", "notes.txt", ".hidden.py", "-c.py"]
        {
            is_usage(validate_selection(&[bad.into()], &dir));
        }
        let hostile = is_usage(validate_selection(&["test_\x1b[2J.py".into()], &dir));
        assert!(hostile.starts_with("test_\\x1b[2J.py: no such module"), "{hostile}");
        let twice =
            is_usage(validate_selection(&["test_baseline.py".into(), "test_baseline.py".into()], &dir));
        assert!(twice.contains("named twice"), "{twice}");
    }

    #[test]
    fn unknown_names_get_the_closest_suggestions() {
        let (_temp, dir) = dir_with(&["test_baseline.py", "test_refcount.py"]);
        let message = is_usage(validate_selection(&["test_baselin.py".into()], &dir));
        assert!(message.contains("did you mean test_baseline.py"), "{message}");
    }

    #[test]
    fn missing_test_dir_is_a_usage_error() {
        is_usage(TestDir::resolve(Some(Path::new("/no/such/dir"))));
    }

    #[test]
    fn modules_are_test_files_sorted_by_name() {
        let (_temp, dir) = dir_with(&["test_b.py", "helper.py", "test_a.gc.py", "test_c.txt"]);
        assert_eq!(dir.test_modules().unwrap(), ["test_a.gc.py", "test_b.py"]);
        assert_eq!(dir.python_files().unwrap(), ["helper.py", "test_a.gc.py", "test_b.py"]);
    }

    #[test]
    fn a_non_utf8_name_is_left_out_and_reported_without_blocking_the_others() {
        use std::os::unix::ffi::OsStringExt;
        let (temp, dir) = dir_with(&["test_fine.py", "helper.py"]);
        for raw in [&b"test_bad\xff.py"[..], b"helper\xfe.py", b"data\xff.txt"] {
            fs::write(temp.path().join(OsString::from_vec(raw.to_vec())), "").unwrap();
        }
        assert_eq!(dir.test_modules().unwrap(), ["test_fine.py"]);
        assert_eq!(dir.python_files().unwrap(), ["helper.py", "test_fine.py"]);
        assert_eq!(dir.non_utf8_modules().unwrap(), ["test_bad\u{fffd}.py"]);
        assert!(validate_selection(&["test_fine.py".into()], &dir).is_ok());
    }

    #[test]
    fn docstring_summary_is_the_first_non_empty_line() {
        let source =
            "#!/usr/bin/env python3\n# comment\n\"\"\"\nShows refcounts.\n\nMore.\n\"\"\"\nimport sys\n";
        assert_eq!(docstring_summary(source), "Shows refcounts.");
        assert_eq!(docstring_summary("'''One line.'''\n"), "One line.");
        assert_eq!(docstring_summary("import sys\n"), "");
    }
}
