//! The JSON report's schema: written by `--report-json`, read back by the
//! tasks that compare or merge reports. One set of types for both ways.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::usage;
use std::time::Duration;

use crate::model::inner::{InnerCounts, InnerReport, InnerTest, LeakHunt};
use crate::model::job::{Job, PythonMalloc, PythonVersion, Variant};
use crate::model::memray::MemraySummary;
use crate::model::repeat::{self, Attempt, Range};
use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::{Execution, Status, Tally};
use crate::runner::capture::Captured;

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
    /// Arguments every module got (after `--`).
    #[serde(default)]
    pub module_args: Vec<String>,
    /// `--env` variables, as `KEY=VALUE`.
    #[serde(default)]
    pub env: Vec<String>,
    /// How the run was asked for (merge-reports checks that shards agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunRecord>,
}

/// How a run was asked for: the options that decide what ran and how it was
/// judged, as given (flag → value, defaults filled in), and the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `K/N` of `--partition`, when the run was one shard of several.
    #[serde(default)]
    pub partition: Option<String>,
    pub options: BTreeMap<String, String>,
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
    /// The deadline a `timeout` was killed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    pub duration_s: f64,
    pub peak_rss_bytes: Option<u64>,
    /// The container's peak as its cgroup accounts it (files in /tmp count).
    #[serde(default)]
    pub container_peak_bytes: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// `unittest`, `pytest` or `script` when the harness ran the module.
    #[serde(default)]
    pub harness: Option<String>,
    /// The tests its framework ran (empty for plain scripts).
    #[serde(default)]
    pub tests: Vec<InnerTest>,
    #[serde(default)]
    pub test_counts: Option<InnerCounts>,
    /// Per-run deltas of `--hunt-leaks`.
    #[serde(default)]
    pub hunt_leaks: Option<LeakHunt>,
    /// What memray recorded (`--memray`).
    #[serde(default)]
    pub memray: Option<MemraySummary>,
    /// The module's declared `max-peak-rss`, when it went past it (`over-budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_peak_rss_bytes: Option<u64>,
    /// The baseline's result for the same job (`run --baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRecord>,
    /// How it counts (`passed`, `failed`, `skipped`): its status's tally,
    /// except a `flaky` under `--flaky-result pass`.
    #[serde(default)]
    pub counted_as: Option<Tally>,
    /// Every attempt, when the job ran more than once (`--repeat`, `--retries`);
    /// the result's measures are then medians.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// The range of each median over the attempts (keyed by its field).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spread: BTreeMap<String, Range>,
}

/// One attempt of a job that ran more than once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based, as `PYMACCOUNTER_ATTEMPT` told the container.
    pub attempt: usize,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    pub duration_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
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

    /// The job back (its image is not recorded), as the `index`-th of a run.
    pub fn job(&self, index: usize) -> Result<Job, String> {
        let python_malloc = self.python_malloc.as_deref().map(str::parse::<PythonMalloc>).transpose();
        let python = self.python.as_deref().map(str::parse::<PythonVersion>).transpose();
        let why = |e: String| format!("{}: {e}", self.module);
        Ok(Job {
            index,
            module: self.module.clone(),
            variant: Variant { python_malloc: python_malloc.map_err(why)?, python: python.map_err(why)? },
            image: String::new(),
        })
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
            timeout_s: result.execution.timeout_secs(),
            duration_s: seconds(result.duration),
            peak_rss_bytes: result.peak_rss_bytes,
            container_peak_bytes: result.container_peak_bytes,
            stdout: result.stdout.text(),
            stderr: result.stderr.text(),
            stdout_bytes: result.stdout.total_bytes,
            stderr_bytes: result.stderr.total_bytes,
            harness: result.inner.as_ref().map(|i| i.harness.clone()),
            tests: result.inner.as_ref().map(|i| i.tests.clone()).unwrap_or_default(),
            test_counts: result.inner.as_ref().filter(|i| i.harness != "script").map(|i| i.counts),
            hunt_leaks: result.inner.as_ref().and_then(|i| i.hunt_leaks.clone()),
            memray: result.memray.clone(),
            max_peak_rss_bytes: match &result.execution {
                Execution::OverBudget { budget_bytes, .. } => Some(*budget_bytes),
                _ => None,
            },
            baseline: result.baseline.clone(),
            counted_as: Some(result.tally()),
            attempts: result.attempts.iter().map(AttemptRecord::of).collect(),
            spread: repeat::spread(&result.attempts),
        }
    }
}

impl AttemptRecord {
    fn of(attempt: &Attempt) -> AttemptRecord {
        AttemptRecord {
            attempt: attempt.number,
            status: attempt.execution.status(),
            exit_code: attempt.execution.exit_code(),
            signal: attempt.execution.signal(),
            reason: attempt.execution.reason(),
            timeout_s: attempt.execution.timeout_secs(),
            duration_s: seconds(attempt.duration),
            peak_rss_bytes: attempt.peak_rss_bytes,
            stdout: attempt.stdout.text(),
            stderr: attempt.stderr.text(),
            stdout_bytes: attempt.stdout.total_bytes,
            stderr_bytes: attempt.stderr.total_bytes,
        }
    }

    /// The attempt back (merge-reports).
    fn attempt(&self) -> Attempt {
        let facts = Facts {
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            reason: self.reason.clone(),
            timeout_s: self.timeout_s,
            duration_s: self.duration_s,
            attempts: &[],
            counted_as: None,
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: None,
            max_peak_rss_bytes: None,
        };
        Attempt {
            number: self.attempt,
            execution: Execution::from_record(&facts),
            duration: Duration::from_secs_f64(self.duration_s.max(0.0)),
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: None,
            stdout: captured(&self.stdout, self.stdout_bytes),
            stderr: captured(&self.stderr, self.stderr_bytes),
            inner: None,
            memray: None,
        }
    }
}

/// What a record says about how a job ended, for `Execution::from_record`.
pub struct Facts<'a> {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub timeout_s: Option<u64>,
    pub duration_s: f64,
    pub attempts: &'a [AttemptRecord],
    pub counted_as: Option<Tally>,
    pub peak_rss_bytes: Option<u64>,
    pub container_peak_bytes: Option<u64>,
    /// The declared `max-peak-rss` an over-budget result went past.
    pub max_peak_rss_bytes: Option<u64>,
}

/// Seconds, to the millisecond.
fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Output kept whole, as a report holds it.
fn captured(text: &str, total_bytes: u64) -> Captured {
    Captured::from_report(text, total_bytes)
}

impl ResultRecord {
    /// The result back, as the `index`-th of a run (for merge-reports).
    pub fn result(&self, index: usize) -> Result<ModuleResult, String> {
        let facts = Facts {
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            reason: self.reason.clone(),
            timeout_s: self.timeout_s,
            duration_s: self.duration_s,
            attempts: &self.attempts,
            counted_as: self.counted_as,
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: self.container_peak_bytes,
            max_peak_rss_bytes: self.max_peak_rss_bytes,
        };
        let inner = self.harness.as_ref().map(|harness| InnerReport {
            harness: harness.clone(),
            tests: self.tests.clone(),
            counts: self.test_counts.unwrap_or_default(),
            hunt_leaks: self.hunt_leaks.clone(),
            ..InnerReport::default()
        });
        Ok(ModuleResult {
            job: self.job.job(index)?,
            execution: Execution::from_record(&facts),
            duration: Duration::from_secs_f64(self.duration_s.max(0.0)),
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: self.container_peak_bytes,
            stdout: captured(&self.stdout, self.stdout_bytes),
            stderr: captured(&self.stderr, self.stderr_bytes),
            inner,
            memray: self.memray.clone(),
            baseline: self.baseline.clone(),
            attempts: self.attempts.iter().map(AttemptRecord::attempt).collect(),
        })
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
            module_args: outcome.module_args.clone(),
            env: outcome.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            run: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job::PythonMalloc;

    fn outcome() -> Outcome {
        let endings = [
            Execution::Passed,
            Execution::Skipped,
            Execution::Failed { exit_code: 3, reason: None },
            Execution::TimedOut { after_secs: 7 },
            // The report's peak RSS is the module's own peak the reason names.
            Execution::OomKilled { container_peak: None, process_peak: Some(20480) },
            Execution::Crashed { signal: 11 },
            Execution::Regressed { reason: "regressed against the baseline: peak RSS 1 → 2".into() },
        ];
        let results = endings
            .into_iter()
            .enumerate()
            .map(|(index, execution)| ModuleResult {
                container_peak_bytes: None,
                inner: None,
                memray: None,
                job: Job {
                    index,
                    module: format!("test_{index}.py"),
                    variant: Variant {
                        python_malloc: Some(PythonMalloc::Malloc),
                        python: "3.13".parse().ok(),
                    },
                    image: String::new(),
                },
                execution,
                duration: Duration::from_millis(1234),
                peak_rss_bytes: Some(4096 * (index as u64 + 1)),
                stdout: Captured::from_text("out\n"),
                stderr: Captured::from_text("err\n"),
                baseline: None,
                attempts: Vec::new(),
            })
            .collect();
        Outcome {
            module_args: Vec::new(),
            env: Vec::new(),
            run_id: "r".into(),
            results,
            not_run: Vec::new(),
            interrupted: false,
            fail_fast_tripped: false,
            engine_error: None,
        }
    }

    #[test]
    fn every_result_reads_back_as_it_was_written() {
        let written = Report::of(&outcome());
        let text = serde_json::to_string(&written).unwrap();
        let read: Report = serde_json::from_str(&text).unwrap();
        let results: Vec<ModuleResult> =
            read.results.iter().enumerate().map(|(i, r)| r.result(i).unwrap()).collect();
        for (again, original) in results.iter().zip(&outcome().results) {
            assert_eq!(again.execution, original.execution);
            assert_eq!(again.job, original.job);
        }
        let rebuilt = Outcome { results, ..outcome() };
        assert_eq!(
            serde_json::to_value(Report::of(&rebuilt)).unwrap(),
            serde_json::to_value(&written).unwrap()
        );
    }

    #[test]
    fn a_report_without_the_newer_fields_still_reads() {
        let mut value = serde_json::to_value(Report::of(&outcome())).unwrap();
        for result in value["results"].as_array_mut().unwrap() {
            result.as_object_mut().unwrap().remove("timeout_s");
        }
        let read: Report = serde_json::from_value(value).unwrap();
        assert!(read.run.is_none());
        let timeout = read.results[3].result(3).unwrap();
        assert_eq!(timeout.execution, Execution::TimedOut { after_secs: 1 }, "from its duration");
    }
}
