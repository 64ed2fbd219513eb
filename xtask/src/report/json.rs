//! `--report-json`: the report schema of `model::schema`, written out.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model::result::Outcome;
use crate::model::schema::Report;
use crate::report::{FileReport, ReportContext};

pub const REPORT: FileReport =
    FileReport { flag: "report-json", path: |args| args.report_json.as_deref(), write };

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let mut report = Report::of(outcome);
    // The run task adds how the run was asked for (options, partition).
    if let (Some(run), Some(asked)) = (&mut report.run, context.run) {
        run.partition = asked.partition.clone();
        run.options = asked.options.clone();
    }
    let text = serde_json::to_string_pretty(&report)?;
    super::write_atomically(path, (text + "\n").as_bytes())
        .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}
