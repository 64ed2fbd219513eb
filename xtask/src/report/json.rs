//! `--report-json`: the report schema of `model::schema`, written out as a
//! stream: one result's record at a time (whole, as `ReportContext::whole`
//! gives it), so a merged report of 160,000 results never stands in memory.

use std::path::Path;

use anyhow::{Context, Result};
use serde::ser::{Error as _, SerializeSeq};
use serde::Serialize;

use crate::model::result::Outcome;
use crate::model::schema::{JobRecord, Report, ResultRecord, RunRecord, Summary};
use crate::report::{words, FileReport, ReportContext};

pub const REPORT: FileReport = FileReport { flag: "report-json", path: |args| args.json.as_deref(), write };

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let head = head(outcome, context);
    // Flame graphs saved next to the report are named relative to it, so the
    // folder works as a CI artifact wherever it lands.
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let document = Document::of(&head, Results { outcome, context, folder });
    super::write_atomically_with(path, |out| {
        let mut serializer = serde_json::Serializer::pretty(&mut *out);
        document.serialize(&mut serializer).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })
    .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}

/// The report as written, all but its results: the outcome's facts, the run
/// as it was asked for (options, partition, the test dirs of merged shards).
fn head(outcome: &Outcome, context: &ReportContext) -> Report {
    let mut report = Report::head_of(outcome);
    if let (Some(run), Some(asked)) = (&mut report.run, context.run) {
        run.partition = asked.partition.clone();
        run.options = asked.options.clone();
        run.test_dirs = asked.test_dirs.clone();
    }
    report
}

/// The whole report in memory, reasons in words (tests).
#[cfg(test)]
pub fn report(outcome: &Outcome, context: &ReportContext) -> Report {
    let mut report = head(outcome, context);
    report.results = outcome.results.iter().map(|r| record(r, outcome)).collect();
    words::fill_reasons(&mut report);
    report
}

fn record(result: &crate::model::result::ModuleResult, outcome: &Outcome) -> ResultRecord {
    let mut record = ResultRecord::in_run_of(result, &outcome.run);
    words::fill_reason(&mut record);
    record
}

/// `Report`'s fields in `Report`'s order (a test holds them equal), the
/// results a stream.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    run_id: &'a str,
    results: Results<'a>,
    not_run: &'a [JobRecord],
    interrupted: bool,
    summary: Summary,
    module_args: &'a [String],
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<&'a RunRecord>,
}

impl<'a> Document<'a> {
    fn of(head: &'a Report, results: Results<'a>) -> Document<'a> {
        Document {
            schema_version: head.schema_version,
            run_id: &head.run_id,
            results,
            not_run: &head.not_run,
            interrupted: head.interrupted,
            summary: head.summary,
            module_args: &head.module_args,
            env: &head.env,
            run: head.run.as_ref(),
        }
    }
}

struct Results<'a> {
    outcome: &'a Outcome,
    context: &'a ReportContext<'a>,
    /// The report's folder: flame graph paths are written relative to it.
    folder: &'a Path,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.outcome.results.len()))?;
        for index in 0..self.outcome.results.len() {
            let whole =
                self.context.whole(self.outcome, index).map_err(|e| S::Error::custom(format!("{e:#}")))?;
            let mut record = record(&whole, self.outcome);
            if let Some(flamegraph) = record.memray.as_mut().and_then(|m| m.flamegraph_path.as_mut()) {
                *flamegraph = super::relative_to(flamegraph, self.folder);
            }
            seq.serialize_element(&record)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::result::ModuleResult;
    use crate::model::status::Execution;

    #[test]
    fn the_streamed_report_is_the_report_in_memory_written_out() {
        let mut outcome = Outcome::empty("run-1".into());
        outcome.results = vec![
            ModuleResult::sample("test_a.py", Execution::Passed, "out\n", ""),
            ModuleResult::sample("test_b.py", Execution::Crashed { signal: 11 }, "", "segfault\n"),
        ];
        outcome.env = vec![("K".into(), "v".into())];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let run = RunRecord { partition: Some("1/2".into()), ..RunRecord::default() };
        let context = ReportContext { test_dir: "t", run: Some(&run), wholes: None };
        write(&outcome, &context, &path).unwrap();
        let expected = serde_json::to_string_pretty(&report(&outcome, &context)).unwrap() + "\n";
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
        assert!(expected.contains("\"reason\": \"killed by signal SIGSEGV (11)\""), "{expected}");
    }
}
