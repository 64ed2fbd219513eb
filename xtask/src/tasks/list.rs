//! `cargo xtask list`: the modules and what each demonstrates.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::error::EXIT_PASSED;
use crate::modules::{docstring_summary, TestDir};

pub fn list(test_dir: Option<&Path>, as_json: bool) -> Result<i32> {
    let dir = TestDir::resolve(test_dir)?;
    let mut entries = Vec::new();
    for module in dir.test_modules()? {
        let source = std::fs::read_to_string(dir.path.join(&module)).unwrap_or_default();
        entries.push((module, docstring_summary(&source)));
    }
    let text = if as_json {
        let list: Vec<_> = entries.iter().map(|(m, s)| json!({"module": m, "summary": s})).collect();
        serde_json::to_string_pretty(&list)? + "\n"
    } else {
        let width = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        entries.iter().map(|(module, summary)| format!("{module:<width$}  {summary}\n")).collect()
    };
    crate::print_quietly(text.as_bytes());
    Ok(EXIT_PASSED)
}
