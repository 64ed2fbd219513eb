//! The test directory: which modules exist, which the user named, what each says it does.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::discovery::Rules;
use crate::error::usage;
use crate::glob::{is_glob, path_matches};
use crate::sanitize::terminal_line;

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
    /// (the modules a selection can name). Other names are left out: see `non_utf8_modules`.
    pub fn python_files(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> =
            self.python_entries()?.into_iter().filter_map(|name| name.into_string().ok()).collect();
        names.sort();
        Ok(names)
    }

    /// `test_*.py` files whose names are not valid UTF-8, shown lossily (U+FFFD
    /// for the bad bytes). They are not run: a module's name is text in every
    /// report and in the container's command. The caller says so and runs the
    /// others (helpers with such names are still in the mounted dir, as on disk).
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

    /// `test_*.py` links whose file is outside the test dir (or missing): the
    /// containers see the test dir alone, so they cannot run; the caller says so.
    pub fn outside_links(&self) -> Result<Vec<String>> {
        let entries = fs::read_dir(&self.path)
            .with_context(|| format!("cannot read test dir {}", self.path.display()))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("test_") && name.ends_with(".py") && !self.links_inside(name))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the link `name` leads to a regular file inside the test dir
    /// (which the containers see, at the same path, so the link works there).
    fn links_inside(&self, name: &str) -> bool {
        let (Ok(dir), Ok(target)) = (fs::canonicalize(&self.path), fs::canonicalize(self.path.join(name)))
        else {
            return false;
        };
        target.starts_with(&dir) && target.is_file()
    }

    /// Names of the regular files ending in `.py` directly in the directory
    /// (or links to one inside it), as the OS gives them.
    fn python_entries(&self) -> Result<Vec<OsString>> {
        let mut names = Vec::new();
        let entries = fs::read_dir(&self.path)
            .with_context(|| format!("cannot read test dir {}", self.path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read test dir {}", self.path.display()))?;
            let name = entry.file_name();
            let kind = entry.file_type();
            let link_inside = || {
                kind.as_ref().is_ok_and(|t| t.is_symlink())
                    && name.to_str().is_some_and(|n| self.links_inside(n))
            };
            if name.as_bytes().ends_with(b".py")
                && (kind.as_ref().is_ok_and(|t| t.is_file()) || link_inside())
            {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// A file of the directory as messages name it (`python_tests/test_a.py`).
    pub fn shown(&self, name: &str) -> String {
        format!("{}/{name}", self.display)
    }

    /// A module's source (invalid UTF-8 replaced), or a usage error naming the file.
    pub fn read_module(&self, module: &str) -> Result<String> {
        let source = fs::read(self.path.join(module))
            .map_err(|e| usage(format!("cannot read {}: {e}", self.shown(module))))?;
        Ok(String::from_utf8_lossy(&source).into_owned())
    }

    /// The test modules, found as the project's runner finds them
    /// (`discovery.rs`): paths relative to the dir, sorted.
    pub fn test_modules(&self) -> Result<Vec<String>> {
        self.rules()?.test_files(&self.path.canonicalize()?)
    }

    /// How this dir's test files are found.
    pub fn rules(&self) -> Result<Rules> {
        Rules::of(&self.path.canonicalize()?)
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

/// The modules the names select, in the order named: a plain name must be a
/// `.py` file of the test dir, named by its path relative to it
/// (`property/test_x.py`), once; a glob (`*` within a folder, `**` across
/// folders, `?`, `[...]`) selects every test module it matches, sorted, and
/// must match at least one. A module selected twice (by overlapping globs)
/// runs once.
pub fn expand_selection(names: &[String], dir: &TestDir) -> Result<Vec<String>> {
    let available = dir.python_files()?;
    let modules = dir.test_modules()?;
    let mut selected: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for (position, given) in names.iter().enumerate() {
        let name = &given.strip_prefix("./").unwrap_or(given).to_string();
        // Shown with control characters escaped: names reach the terminal.
        let shown = terminal_line(name);
        let leaves_the_dir =
            name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty());
        if leaves_the_dir || name.contains('\\') {
            problems.push(format!(
                "{shown}: name a module by its path inside the test dir (property/test_x.py; use --test-dir for another directory)"
            ));
        } else if name.starts_with('-') {
            problems.push(format!(
                "{shown}: a module name cannot start with '-' (python3 would read it as an option)"
            ));
        } else if is_glob(name) {
            let matched: Vec<&String> = modules.iter().filter(|m| path_matches(name, m)).collect();
            if matched.is_empty() {
                let message =
                    format!("'{name}' matches no module in {}; {}", dir.display, hint(name, &modules));
                problems.push(terminal_line(&message).into_owned());
            }
            for module in matched {
                if !selected.contains(module) {
                    selected.push(module.clone());
                }
            }
        } else if names[..position].contains(name) {
            problems.push(format!("{shown}: named twice"));
        } else if !name.ends_with(".py") {
            problems.push(terminal_line(&not_a_py_name(name, &available, &modules, dir)).into_owned());
        } else if !available.contains(name) && (!name.contains('/') || !nested_python_file(dir, name)) {
            problems.push(unknown_module(name, &modules_and(&available, &modules), dir));
        } else if !selected.contains(name) {
            selected.push(name.clone());
        }
    }
    if problems.is_empty() {
        Ok(selected)
    } else {
        Err(usage(problems.join("\n")))
    }
}

/// Whether `name` (a path with a folder) is a `.py` file inside the test dir.
fn nested_python_file(dir: &TestDir, name: &str) -> bool {
    let (Ok(root), Ok(file)) = (dir.path.canonicalize(), dir.path.join(name).canonicalize()) else {
        return false;
    };
    file.starts_with(root) && file.is_file()
}

/// The names suggestions are chosen from: top-level files and every test module.
fn modules_and(available: &[String], modules: &[String]) -> Vec<String> {
    let mut all: Vec<String> = available.iter().chain(modules).cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// Leaves out the modules any `--skip` pattern (a name or a glob) matches;
/// also returns one warning per pattern that matched none of them.
pub fn apply_skip(modules: Vec<String>, patterns: &[String]) -> (Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    for pattern in patterns {
        if !modules.iter().any(|m| path_matches(pattern, m)) {
            let warning = format!("--skip {pattern} matches no selected module; {}", hint(pattern, &modules));
            warnings.push(terminal_line(&warning).into_owned());
        }
    }
    let kept = modules.into_iter().filter(|m| !patterns.iter().any(|p| path_matches(p, m))).collect();
    (kept, warnings)
}

/// What to say after a pattern that matched nothing: the same pattern with
/// `.py` when that would match, else where to look.
fn hint(pattern: &str, modules: &[String]) -> String {
    let with_py = format!("{pattern}.py");
    if !pattern.ends_with(".py") && modules.iter().any(|m| path_matches(&with_py, m)) {
        format!("did you mean {with_py}?")
    } else {
        "see `cargo xtask list`".to_string()
    }
}

/// A plain name without `.py`: most likely a module named without its
/// extension, or the start of one.
fn not_a_py_name(name: &str, available: &[String], modules: &[String], dir: &TestDir) -> String {
    let with_py = format!("{name}.py");
    if available.contains(&with_py) {
        return format!("{name}: did you mean {with_py}?");
    }
    let starting: Vec<&str> = modules.iter().filter(|m| m.starts_with(name)).map(String::as_str).collect();
    match starting.as_slice() {
        [] if dir.path.join(name).exists() => format!("{name}: not a .py file"),
        [] => unknown_module(name, available, dir),
        [one] => format!("{name}: did you mean {one}?"),
        several => format!(
            "{name}: did you mean {}? ('{name}*' selects all {})",
            several.iter().take(3).copied().collect::<Vec<_>>().join(", "),
            several.len()
        ),
    }
}

fn unknown_module(name: &str, available: &[String], dir: &TestDir) -> String {
    let with_py = if name.ends_with(".py") { name.to_string() } else { format!("{name}.py") };
    let mut close: Vec<(f64, &String)> = available
        .iter()
        .map(|candidate| (strsim::jaro_winkler(&with_py, candidate), candidate))
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
    if fs::symlink_metadata(dir.path.join(&with_py)).is_ok_and(|m| m.file_type().is_symlink()) {
        return format!(
            "{}: links to a file outside {} (or to none), which the containers do not see: copy the file in",
            terminal_line(&with_py),
            terminal_line(&dir.display)
        );
    }
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn names_must_be_known_plain_py_files_named_once() {
        let (_temp, dir) = dir_with(&["test_baseline.py", "test_refcount.py", "notes.txt"]);
        assert_eq!(expand_selection(&names(&["test_baseline.py"]), &dir).unwrap(), ["test_baseline.py"]);
        for bad in ["../test_baseline.py", "/etc/passwd", "sub/test_x.py", "notes.txt", ".hidden.py", "-c.py"]
        {
            is_usage(expand_selection(&names(&[bad]), &dir));
        }
        let hostile = is_usage(expand_selection(&names(&["test_\x1b[2J.py"]), &dir));
        assert!(hostile.starts_with("test_\\x1b[2J.py: no such module"), "{hostile}");
        let hostile_glob = is_usage(expand_selection(&names(&["test_\x1b[2J*"]), &dir));
        assert!(hostile_glob.starts_with("'test_\\x1b[2J*' matches no module"), "{hostile_glob}");
        let twice = is_usage(expand_selection(&names(&["test_baseline.py", "test_baseline.py"]), &dir));
        assert!(twice.contains("named twice"), "{twice}");
        let text = is_usage(expand_selection(&names(&["notes.txt"]), &dir));
        assert!(text.contains("not a .py file"), "{text}");
    }

    #[test]
    fn unknown_names_get_the_closest_suggestions() {
        let (_temp, dir) = dir_with(&["test_baseline.py", "test_refcount.py"]);
        let message = is_usage(expand_selection(&names(&["test_baselin.py"]), &dir));
        assert!(message.contains("did you mean test_baseline.py"), "{message}");
    }

    #[test]
    fn a_name_without_py_is_asked_about_the_module_it_means() {
        let (_temp, dir) =
            dir_with(&["test_gc.py", "test_gc_cycles.py", "test_gc_generations.py", "test_refcount.py"]);
        let exact = is_usage(expand_selection(&names(&["test_gc"]), &dir));
        assert_eq!(exact, "test_gc: did you mean test_gc.py?");
        let prefix = is_usage(expand_selection(&names(&["test_ref"]), &dir));
        assert_eq!(prefix, "test_ref: did you mean test_refcount.py?");
        let several = is_usage(expand_selection(&names(&["test_gc_"]), &dir));
        assert!(several.contains("test_gc_cycles.py, test_gc_generations.py"), "{several}");
        assert!(several.contains("'test_gc_*'"), "{several}");
        let none = is_usage(expand_selection(&names(&["test_nothing"]), &dir));
        assert!(none.contains("no such module"), "{none}");
    }

    #[test]
    fn globs_select_the_matching_test_modules_sorted_once() {
        let (_temp, dir) =
            dir_with(&["test_gc_b.py", "test_gc_a.py", "test_refcount.py", "helper.py", "test_x.txt"]);
        let all = expand_selection(&names(&["*"]), &dir).unwrap();
        assert_eq!(all, ["test_gc_a.py", "test_gc_b.py", "test_refcount.py"], "only test modules");
        let gc = expand_selection(&names(&["test_gc*"]), &dir).unwrap();
        assert_eq!(gc, ["test_gc_a.py", "test_gc_b.py"]);
        let overlapping = expand_selection(&names(&["test_refcount.py", "test_gc_?.py", "*_a.py"]), &dir);
        assert_eq!(overlapping.unwrap(), ["test_refcount.py", "test_gc_a.py", "test_gc_b.py"]);
        let class = expand_selection(&names(&["test_gc_[!b].py"]), &dir).unwrap();
        assert_eq!(class, ["test_gc_a.py"]);
    }

    #[test]
    fn a_glob_matching_nothing_is_named_in_the_error() {
        let (_temp, dir) = dir_with(&["test_gc_cycles.py", "test_refcount.py"]);
        let message = is_usage(expand_selection(&names(&["test_nothing*", "test_refcount.py"]), &dir));
        assert!(message.starts_with("'test_nothing*' matches no module in "), "{message}");
        let hinted = is_usage(expand_selection(&names(&["*cycles"]), &dir));
        assert!(hinted.ends_with("did you mean *cycles.py?"), "{hinted}");
        is_usage(expand_selection(&names(&["sub/test_*"]), &dir));
    }

    #[test]
    fn skip_leaves_out_matching_modules_and_warns_about_unused_patterns() {
        let modules = names(&["test_a.py", "test_gc_a.py", "test_gc_b.py", "test_rss.py"]);
        let (kept, warnings) = apply_skip(modules.clone(), &names(&["test_gc*", "test_rss.py"]));
        assert_eq!(kept, ["test_a.py"]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let (kept, warnings) = apply_skip(modules.clone(), &names(&["test_zzz*", "test_rss"]));
        assert_eq!(kept, modules);
        assert_eq!(
            warnings,
            [
                "--skip test_zzz* matches no selected module; see `cargo xtask list`",
                "--skip test_rss matches no selected module; did you mean test_rss.py?",
            ]
        );
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
    fn links_inside_the_test_dir_are_modules_and_links_out_of_it_are_named() {
        let (temp, dir) = dir_with(&["test_real.py"]);
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("x.py"), "").unwrap();
        std::os::unix::fs::symlink("test_real.py", temp.path().join("test_alias.py")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.py"), temp.path().join("test_out.py")).unwrap();
        std::os::unix::fs::symlink("missing.py", temp.path().join("test_dangling.py")).unwrap();
        assert_eq!(dir.test_modules().unwrap(), ["test_alias.py", "test_real.py"]);
        assert_eq!(dir.outside_links().unwrap(), ["test_dangling.py", "test_out.py"]);
        let error = expand_selection(&["test_out.py".to_string()], &dir).unwrap_err().to_string();
        assert!(error.contains("links to a file outside"), "{error}");
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
        assert_eq!(expand_selection(&names(&["test_fine.py"]), &dir).unwrap(), ["test_fine.py"]);
        assert_eq!(expand_selection(&names(&["test_*"]), &dir).unwrap(), ["test_fine.py"]);
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
