//! `--report-json`: the report schema of `model::schema`, written out.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model::result::Outcome;
use crate::model::schema::Report;
use crate::report::{words, FileReport, ReportContext};

pub const REPORT: FileReport = FileReport { flag: "report-json", path: |args| args.json.as_deref(), write };

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let mut report = report(outcome, context);
    // Flame graphs saved next to the report are named relative to it, so the
    // folder works as a CI artifact wherever it lands.
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for record in &mut report.results {
        if let Some(flamegraph) = record.memray.as_mut().and_then(|m| m.flamegraph_path.as_mut()) {
            if let Ok(relative) = flamegraph.strip_prefix(folder) {
                *flamegraph = relative.to_path_buf();
            }
        }
    }
    let text = serde_json::to_string_pretty(&report)?;
    super::write_atomically(path, (text + "\n").as_bytes())
        .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}

/// The report as written: the outcome's facts, the run as it was asked for
/// (options, partition, the test dirs of merged shards), reasons in words.
pub fn report(outcome: &Outcome, context: &ReportContext) -> Report {
    let mut report = Report::of(outcome);
    if let (Some(run), Some(asked)) = (&mut report.run, context.run) {
        run.partition = asked.partition.clone();
        run.options = asked.options.clone();
        run.test_dirs = asked.test_dirs.clone();
    }
    words::fill_reasons(&mut report);
    report
}
