//! `cargo xtask compare BASE.json NEW.json`: pairs two reports' results and
//! prints their deltas; exit 1 when something regressed, 2 when nothing
//! paired (a gate that compared nothing must not pass).

use std::path::Path;

use anyhow::Result;

use crate::cli::{CompareFormat, GateArgs};
use crate::error::{usage, EXIT_FAILED, EXIT_PASSED};
use crate::model::compare;
use crate::model::schema::Report;
use crate::report::compare::{json, markdown, text, Sides};

pub fn compare(base: &Path, new: &Path, gate: &GateArgs, format: CompareFormat) -> Result<i32> {
    // Slimmed as read: a merged report of 160,000 results holds gigabytes of output.
    let base_report = Report::read_slim(base)?;
    let new_report = Report::read_slim(new)?;
    for (path, report) in [(base, &base_report), (new, &new_report)] {
        compare::check_ranges(&report.results)
            .map_err(|e| usage(crate::sanitize::terminal_line(&format!("{}: {e}", path.display()))))?;
    }
    let gate = gate.gate();
    let comparison = compare::compare(&base_report.results, &new_report.results, &gate)
        .map_err(|e| usage(crate::sanitize::terminal_line(&e)))?;
    let (base_name, new_name) = (base.display().to_string(), new.display().to_string());
    let sides = Sides { base: &base_name, new: &new_name };
    let output = match format {
        CompareFormat::Text => text(&comparison, &gate, &sides, crate::report::terminal::terminal_width()),
        CompareFormat::Markdown => markdown(&comparison, &gate, &sides),
        CompareFormat::Json => json(&comparison, &gate, &sides),
    };
    crate::print_quietly(output.as_bytes());
    if comparison.pairs.is_empty() {
        return Err(usage(format!(
            "nothing to compare: no result of {new_name} pairs with one of {base_name} (results pair by \
             module, Python version and allocator: were both made with the same --python and \
             --python-malloc?)"
        )));
    }
    Ok(if comparison.regressions() > 0 { EXIT_FAILED } else { EXIT_PASSED })
}
