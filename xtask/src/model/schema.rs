//! The JSON report's schema: written by `--report-json`, read back by the
//! tasks that compare or merge reports. One set of types for both ways.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::model::inner::{InnerCounts, InnerTest, LeakHunt};
use crate::model::job::Job;
use crate::model::result::{rfc3339_utc, ModuleResult, Outcome, RunInfo};
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
    /// Arguments every module got (after `--`).
    #[serde(default)]
    pub module_args: Vec<String>,
    /// `--env` variables, as `KEY=VALUE`.
    #[serde(default)]
    pub env: Vec<String>,
    /// When and how the run was asked, and what it ran on.
    #[serde(default)]
    pub run: Option<RunRecord>,
}

/// The run itself: what a report's reader needs to know to compare it with another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    pub run_id: String,
    /// RFC 3339, UTC: when the runner started the first module.
    pub started_at: String,
    /// From the first module's start to the last one's end.
    pub wall_time_s: f64,
    /// The command line after the program's name, as given.
    pub args: Vec<String>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    /// One per test image (one per Python version).
    pub images: Vec<ImageRecord>,
    pub host_cpus: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRecord {
    /// The Python version the image runs (`X.Y`).
    pub python: Option<String>,
    /// The base image as named, and its id.
    pub base: String,
    pub base_id: Option<String>,
    /// The test image built on it.
    pub image: String,
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
    /// `unittest`, `pytest` or `script` when the harness ran the module.
    #[serde(default)]
    pub harness: Option<String>,
    /// The tests its framework ran (empty for plain scripts).
    #[serde(default)]
    pub tests: Vec<InnerTest>,
    #[serde(default)]
    pub test_counts: Option<InnerCounts>,
    /// `harness`, or `unittest summary` / `pytest summary` when the counts
    /// were read from the end of a script's own output.
    #[serde(default)]
    pub test_counts_from: Option<String>,
    /// Per-run deltas of `--hunt-leaks`.
    #[serde(default)]
    pub hunt_leaks: Option<LeakHunt>,
    /// The container's memory limit; null when unlimited.
    #[serde(default)]
    pub memory_limit_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_run: usize,
}

impl JobRecord {
    /// `python` is the version asked for, else the one its image runs.
    fn of(job: &Job, run: &RunInfo) -> JobRecord {
        JobRecord {
            module: job.module.clone(),
            python_malloc: job.variant.python_malloc.map(|m| m.as_str().to_string()),
            python: job
                .variant
                .python
                .map(|p| p.as_str())
                .or_else(|| run.python_of(&job.image))
                .map(str::to_string),
        }
    }
}

impl RunRecord {
    fn of(outcome: &Outcome) -> RunRecord {
        let run = &outcome.run;
        RunRecord {
            run_id: outcome.run_id.clone(),
            started_at: rfc3339_utc(outcome.started_at),
            wall_time_s: (outcome.wall_time.as_secs_f64() * 1000.0).round() / 1000.0,
            args: run.args.clone(),
            engine: Some(run.engine.clone()).filter(|e| !e.is_empty()),
            engine_version: run.engine_version.clone(),
            images: run
                .images
                .iter()
                .map(|i| ImageRecord {
                    python: i.python.clone(),
                    base: i.base.clone(),
                    base_id: i.base_id.clone(),
                    image: i.reference.clone(),
                })
                .collect(),
            host_cpus: Some(run.host_cpus).filter(|n| *n > 0),
        }
    }
}

impl ResultRecord {
    fn of(result: &ModuleResult, run: &RunInfo) -> ResultRecord {
        ResultRecord {
            job: JobRecord::of(&result.job, run),
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
            // A script whose summary was read ran without the harness.
            harness: result.inner.as_ref().filter(|i| i.summary_of.is_none()).map(|i| i.harness.clone()),
            tests: result.inner.as_ref().map(|i| i.tests.clone()).unwrap_or_default(),
            test_counts: result.inner.as_ref().filter(|i| i.has_counts()).map(|i| i.counts),
            test_counts_from: result.inner.as_ref().and_then(|i| i.counts_source()),
            hunt_leaks: result.inner.as_ref().and_then(|i| i.hunt_leaks.clone()),
            memory_limit_bytes: result.memory_limit_bytes,
        }
    }
}

impl Report {
    pub fn of(outcome: &Outcome) -> Report {
        let counts = outcome.counts();
        Report {
            schema_version: SCHEMA_VERSION,
            run_id: outcome.run_id.clone(),
            results: outcome.results.iter().map(|r| ResultRecord::of(r, &outcome.run)).collect(),
            not_run: outcome.not_run.iter().map(|j| JobRecord::of(j, &outcome.run)).collect(),
            interrupted: outcome.interrupted,
            summary: Summary {
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
                not_run: outcome.not_run.len(),
            },
            module_args: outcome.module_args.clone(),
            env: outcome.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            run: Some(RunRecord::of(outcome)),
        }
    }

    /// Reads a report, refusing other schema versions with a clear message.
    #[allow(dead_code)] // read by compare and merge-reports
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
            .with_context(|| format!("{} does not follow the report schema", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::model::job::Variant;
    use crate::model::result::ImageInfo;
    use crate::model::status::Execution;

    fn outcome() -> Outcome {
        let mut asked = ModuleResult::sample("test_a.py", Execution::Passed, "", "");
        asked.job.variant = Variant { python: Some("3.13".parse().unwrap()), python_malloc: None };
        let mut plain = ModuleResult::sample("test_b.py", Execution::Passed, "", "");
        plain.memory_limit_bytes = Some(256 << 20);
        let mut outcome = Outcome::empty("run-1".into());
        outcome.results = vec![asked, plain];
        outcome.started_at = UNIX_EPOCH + Duration::from_secs(1_709_251_200);
        outcome.wall_time = Duration::from_millis(2_345);
        outcome.run = RunInfo {
            args: vec!["run-all-tests".into(), "--memory".into(), "256m".into()],
            engine: "docker".into(),
            engine_version: Some("20.10.24".into()),
            images: vec![ImageInfo {
                python: Some("3.12".into()),
                reference: "i".into(),
                base: "python:3.12-slim".into(),
                base_id: Some("sha256:abc".into()),
            }],
            host_cpus: 2,
        };
        outcome
    }

    #[test]
    fn every_result_names_its_python_and_the_run_says_what_it_was() {
        let value = serde_json::to_value(Report::of(&outcome())).unwrap();
        assert_eq!(value["results"][0]["python"], "3.13", "the version asked for");
        assert_eq!(value["results"][1]["python"], "3.12", "the version its image runs");
        assert_eq!(value["results"][1]["memory_limit_bytes"], 256 << 20);
        let run = &value["run"];
        assert_eq!(run["run_id"], "run-1");
        assert_eq!(run["started_at"], "2024-03-01T00:00:00Z");
        assert_eq!(run["wall_time_s"], 2.345);
        assert_eq!(run["args"], serde_json::json!(["run-all-tests", "--memory", "256m"]));
        assert_eq!(
            (run["engine"].as_str(), run["engine_version"].as_str()),
            (Some("docker"), Some("20.10.24"))
        );
        assert_eq!(run["images"][0]["base_id"], "sha256:abc");
        assert_eq!(run["images"][0]["image"], "i");
        assert_eq!(run["host_cpus"], 2);
    }

    #[test]
    fn reports_round_trip_and_older_ones_without_a_run_still_read() {
        let report = Report::of(&outcome());
        let text = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back.run, report.run);
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        old.as_object_mut().unwrap().remove("run");
        for result in old["results"].as_array_mut().unwrap() {
            result.as_object_mut().unwrap().remove("memory_limit_bytes");
        }
        let old: Report = serde_json::from_value(old).unwrap();
        assert!(old.run.is_none());
        assert_eq!(old.results[1].memory_limit_bytes, None);
    }
}
