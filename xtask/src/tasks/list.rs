//! `cargo xtask list`: the modules, what each demonstrates, how it runs
//! (`--harness auto`'s choice) and what it declares.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::cli::SelectionArgs;
use crate::error::usage;
use crate::error::EXIT_PASSED;
use crate::harness::declarations::HarnessChoice;
use crate::harness::{harness_name, ModuleSetup};
use crate::keyword::Expression;
use crate::modules::{docstring_summary, TestDir};
use crate::tasks::run::select_modules;

struct Entry {
    module: String,
    summary: String,
    harness: &'static str,
    declarations: Vec<(String, String)>,
}

/// One line per module, fit to `width`: the name whole, what it shows
/// shortened (`…`) to the rest of the line; `list --json` has it all.
fn text(entries: &[Entry], width: usize) -> String {
    let safe = |t: &str| crate::sanitize::terminal_line(t).into_owned();
    let names: Vec<String> = entries.iter().map(|e| safe(&e.module)).collect();
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let room = width.saturating_sub(name_width + 2).max(10);
    let mut text = String::new();
    for (entry, name) in entries.iter().zip(&names) {
        let mut about = entry.summary.clone();
        if entry.harness != "script" {
            about.push_str(&format!(" [{}]", entry.harness));
        }
        if !entry.declarations.is_empty() {
            let declared: Vec<String> =
                entry.declarations.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            about.push_str(&format!(" ({})", declared.join("; ")));
        }
        let about = shorten(&safe(&about), room);
        text.push_str(format!("{name:<name_width$}  {about}").trim_end());
        text.push('\n');
    }
    text
}

/// `text` in at most `room` characters, ending in `…` when cut.
fn shorten(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_string();
    }
    let kept: String = text.chars().take(room.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// The modules `run` would take with the same selection (names, globs,
/// `--skip`, `--partition`), so that a selection can be previewed.
pub fn list(
    tests: &[String],
    test_dir: Option<&Path>,
    selection: &SelectionArgs,
    as_json: bool,
) -> Result<i32> {
    let dir = TestDir::resolve(test_dir)?;
    let tests = (!tests.is_empty()).then_some(tests);
    let selected = select_modules(tests, &dir, selection)?;
    selected.print_notes();
    let mut entries = Vec::new();
    let pytest_project = dir.rules()?.pytest_project;
    let keyword = selection.keyword.as_deref().map(Expression::parse).transpose().map_err(usage)?;
    for module in selected.modules {
        let source = dir.read_module(&module)?;
        let setup = ModuleSetup::of(&source, &dir.shown(&module), HarnessChoice::Auto, None, pytest_project)?;
        // As `run` does: a script -k does not select by its path never runs.
        if setup.deselected_by(keyword.as_ref(), &module) {
            continue;
        }
        entries.push(Entry {
            summary: docstring_summary(&source),
            harness: harness_name(setup.harness),
            declarations: setup.declarations.written,
            module,
        });
    }
    let text = if as_json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                let declarations: serde_json::Map<String, serde_json::Value> =
                    e.declarations.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                json!({"module": e.module, "summary": e.summary, "harness": e.harness, "declarations": declarations})
            })
            .collect();
        serde_json::to_string_pretty(&list)? + "\n"
    } else {
        text(&entries, crate::report::terminal::terminal_width())
    };
    crate::print_quietly(text.as_bytes());
    Ok(EXIT_PASSED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_fits_80_columns_one_line_a_module() {
        let entries: Vec<Entry> = ["property/strategies/test_a_rather_long_module_name.py", "test_b.py"]
            .iter()
            .map(|module| Entry {
                module: module.to_string(),
                summary: "A long summary that says a great deal about what the module demonstrates and why"
                    .into(),
                harness: "pytest",
                declarations: vec![("max-peak-rss".into(), "64 MiB".into())],
            })
            .collect();
        let text = text(&entries, 80);
        assert_eq!(text.lines().count(), 2, "{text}");
        for (line, entry) in text.lines().zip(&entries) {
            assert!(line.chars().count() <= 80, "{line}");
            assert!(line.starts_with(&entry.module), "{line}");
            assert!(line.ends_with('…'), "{line}");
        }
    }
}
