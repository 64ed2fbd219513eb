//! The JSON report's schema: written by `--report-json`, read back by the
//! tasks that compare or merge reports. One set of types for both ways.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::model::job::Job;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::Status;

/// Bumped whenever a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    pub results: Vec<ResultRecord>,
    pub not_run: Vec<JobRecord>,
    pub interrupted: bool,
    pub summary: Summary,
}

/// Which cell of the matrix a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub module: String,
    pub python_malloc: Option<String>,
    pub python: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRecord {
    #[serde(flatten)]
    pub job: JobRecord,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub duration_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The baseline's result for the same job (`run --baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRecord>,
}

/// What a baseline said about a job: its status and its measures, keyed by
/// the result field each measure is read from (`peak_rss_bytes`, `duration_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    pub status: Status,
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_run: usize,
}

impl JobRecord {
    pub fn of(job: &Job) -> JobRecord {
        JobRecord {
            module: job.module.clone(),
            python_malloc: job.variant.python_malloc.map(|m| m.as_str().to_string()),
            python: job.variant.python.map(|p| p.as_str().to_string()),
        }
    }
}

impl ResultRecord {
    pub fn of(result: &ModuleResult) -> ResultRecord {
        ResultRecord {
            job: JobRecord::of(&result.job),
            status: result.status(),
            exit_code: result.execution.exit_code(),
            signal: result.execution.signal(),
            reason: result.execution.reason(),
            duration_s: (result.duration.as_secs_f64() * 1000.0).round() / 1000.0,
            peak_rss_bytes: result.peak_rss_bytes,
            stdout: result.stdout.text(),
            stderr: result.stderr.text(),
            stdout_bytes: result.stdout.total_bytes,
            stderr_bytes: result.stderr.total_bytes,
            baseline: result.baseline.clone(),
        }
    }
}

impl Report {
    pub fn of(outcome: &Outcome) -> Report {
        let counts = outcome.counts();
        Report {
            schema_version: SCHEMA_VERSION,
            run_id: outcome.run_id.clone(),
            results: outcome.results.iter().map(ResultRecord::of).collect(),
            not_run: outcome.not_run.iter().map(JobRecord::of).collect(),
            interrupted: outcome.interrupted,
            summary: Summary {
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
                not_run: outcome.not_run.len(),
            },
        }
    }

    /// Reads a report, refusing other schema versions with a clear message.
    pub fn read(path: &Path) -> Result<Report> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read the report {}: {e}", path.display())))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| usage(format!("{} is not JSON: {e}", path.display())))?;
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            let found =
                version.map_or("none (a report from before versioning)".to_string(), |v| v.to_string());
            return Err(usage(format!(
                "{}: report schema version {found}; this runner reads version {SCHEMA_VERSION}: \
                 run the tests again to get a current report",
                path.display()
            )));
        }
        serde_json::from_value(value)
            .map_err(|e| usage(format!("{} does not follow the report schema: {e}", path.display())))
    }
}
