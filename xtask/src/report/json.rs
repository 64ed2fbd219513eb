//! `--report-json`: every result, the jobs not run, and the counts.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::harness::ModuleResult;
use crate::model::job::Job;
use crate::report::Counts;
use crate::runner::Outcome;

pub fn render(outcome: &Outcome) -> Value {
    let counts = Counts::of(&outcome.results);
    json!({
        "results": outcome.results.iter().map(result).collect::<Vec<_>>(),
        "not_run": outcome.not_run.iter().map(job_fields).collect::<Vec<_>>(),
        "interrupted": outcome.interrupted,
        "summary": {
            "passed": counts.passed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "not_run": outcome.not_run.len(),
        },
    })
}

fn job_fields(job: &Job) -> Value {
    json!({
        "module": job.module,
        "python_malloc": job.python_malloc.map(|m| m.as_str()),
        "python": job.python.map(|p| p.as_str()),
    })
}

fn result(result: &ModuleResult) -> Value {
    let mut fields = job_fields(&result.job);
    let extra = json!({
        "status": result.status.as_str(),
        "exit_code": result.exit_code,
        "signal": result.signal,
        "reason": result.reason,
        "duration_s": (result.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        "peak_rss_bytes": result.peak_rss_bytes,
        "stdout": result.stdout.text(),
        "stderr": result.stderr.text(),
        "stdout_bytes": result.stdout.total_bytes,
        "stderr_bytes": result.stderr.total_bytes,
    });
    if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    fields
}

pub fn write(outcome: &Outcome, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(&render(outcome))?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}
