//! `cargo xtask list`: the modules, what each demonstrates, how it runs
//! (`--harness auto`'s choice) and what it declares.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::error::EXIT_PASSED;
use crate::harness::declarations::HarnessChoice;
use crate::harness::{harness_name, ModuleSetup};
use crate::modules::{docstring_summary, TestDir};

struct Entry {
    module: String,
    summary: String,
    harness: &'static str,
    declarations: Vec<(String, String)>,
}

pub fn list(test_dir: Option<&Path>, as_json: bool) -> Result<i32> {
    let dir = TestDir::resolve(test_dir)?;
    let mut entries = Vec::new();
    for module in dir.test_modules()? {
        let source = dir.read_module(&module)?;
        let setup = ModuleSetup::of(&source, &dir.shown(&module), HarnessChoice::Auto, None)?;
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
        let width = entries.iter().map(|e| e.module.len()).max().unwrap_or(0);
        let mut text = String::new();
        for entry in &entries {
            let mut line = format!("{:<width$}  {}", entry.module, entry.summary);
            if entry.harness != "script" {
                line.push_str(&format!("  [{}]", entry.harness));
            }
            if !entry.declarations.is_empty() {
                let declared: Vec<String> =
                    entry.declarations.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                line.push_str(&format!("  ({})", declared.join("; ")));
            }
            text.push_str(&crate::sanitize::terminal_line(&line));
            text.push('\n');
        }
        text
    };
    crate::print_quietly(text.as_bytes());
    Ok(EXIT_PASSED)
}
