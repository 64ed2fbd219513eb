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
use crate::model::result::{rfc3339_utc, ModuleResult, Outcome, RunInfo};
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

/// The run itself: how it was asked for (the options that decide what ran
/// and how it was judged, as given, defaults filled in; the partition), when,
/// and what it ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    /// `K/N` of `--partition`, when the run was one shard of several.
    pub partition: Option<String>,
    pub options: BTreeMap<String, String>,
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
    /// What the project's environment installed for this Python.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageRecord>,
}

/// One installed distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
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

impl RunRecord {
    /// When the run was, and what it ran on (its options are added by the run task).
    pub fn of(outcome: &Outcome) -> RunRecord {
        let run = &outcome.run;
        RunRecord {
            run_id: outcome.run_id.clone(),
            started_at: rfc3339_utc(outcome.started_at),
            wall_time_s: seconds(outcome.wall_time),
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
                    packages: i
                        .packages
                        .iter()
                        .map(|(name, version)| PackageRecord { name: name.clone(), version: version.clone() })
                        .collect(),
                })
                .collect(),
            host_cpus: Some(run.host_cpus).filter(|n| *n > 0),
            ..RunRecord::default()
        }
    }
}

impl JobRecord {
    /// `python` filled in, when no version was asked for, with the one its image runs.
    fn in_run(mut self, run: &RunInfo, job: &Job) -> JobRecord {
        self.python = run.python_for(job).map(str::to_string);
        self
    }
}

impl ResultRecord {
    /// `python` filled in, when no version was asked for, with the one its image runs.
    fn in_run(mut self, run: &RunInfo, job: &Job) -> ResultRecord {
        self.job = self.job.in_run(run, job);
        self
    }

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
            // A script whose summary was read ran without the harness.
            harness: result.inner.as_ref().filter(|i| i.summary_of.is_none()).map(|i| i.harness.clone()),
            tests: result.inner.as_ref().map(|i| i.tests.clone()).unwrap_or_default(),
            test_counts: result.test_counts(),
            test_counts_from: result.inner.as_ref().and_then(|i| i.counts_source()),
            hunt_leaks: result.inner.as_ref().and_then(|i| i.hunt_leaks.clone()),
            memory_limit_bytes: result.memory_limit_bytes,
            memray: result.memray.clone(),
            max_peak_rss_bytes: result.execution.budget_bytes(),
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
            started_at: std::time::UNIX_EPOCH,
            memory_limit_bytes: None,
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

/// A plain pass of `job`, for tests to adjust with struct update syntax.
#[cfg(test)]
impl ResultRecord {
    pub fn passed(job: JobRecord, duration_s: f64, peak_rss_bytes: u64) -> ResultRecord {
        ResultRecord {
            job,
            status: Status::Pass,
            exit_code: Some(0),
            signal: None,
            reason: None,
            timeout_s: None,
            duration_s,
            peak_rss_bytes: Some(peak_rss_bytes),
            container_peak_bytes: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_bytes: 0,
            stderr_bytes: 0,
            harness: None,
            tests: Vec::new(),
            test_counts: None,
            test_counts_from: None,
            hunt_leaks: None,
            memory_limit_bytes: None,
            memray: None,
            max_peak_rss_bytes: None,
            baseline: None,
            counted_as: None,
            attempts: Vec::new(),
            spread: Default::default(),
        }
    }
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
            started_at: std::time::UNIX_EPOCH,
            memory_limit_bytes: self.memory_limit_bytes,
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
            results: outcome
                .results
                .iter()
                .map(|r| ResultRecord::of(r).in_run(&outcome.run, &r.job))
                .collect(),
            not_run: outcome.not_run.iter().map(|j| JobRecord::of(j).in_run(&outcome.run, j)).collect(),
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
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::model::job::PythonMalloc;
    use crate::model::result::ImageInfo;

    fn outcome() -> Outcome {
        let endings = [
            Execution::Passed,
            Execution::Skipped { reason: None },
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
                started_at: std::time::UNIX_EPOCH,
                job: Job {
                    index,
                    module: format!("test_{index}.py"),
                    variant: Variant {
                        python_malloc: Some(PythonMalloc::Malloc),
                        python: "3.13".parse().ok(),
                    },
                    image: String::new(),
                },
                duration: Duration::from_millis(1234),
                peak_rss_bytes: Some(4096 * (index as u64 + 1)),
                ..ModuleResult::sample("", execution, "out\n", "err\n")
            })
            .collect();
        Outcome {
            run: Default::default(),
            started_at: std::time::UNIX_EPOCH,
            wall_time: std::time::Duration::ZERO,
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
        value.as_object_mut().unwrap().remove("run");
        let read: Report = serde_json::from_value(value).unwrap();
        assert!(read.run.is_none());
        let timeout = read.results[3].result(3).unwrap();
        assert_eq!(timeout.execution, Execution::TimedOut { after_secs: 1 }, "from its duration");
    }

    fn run_outcome() -> Outcome {
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
                packages: vec![("numpy".into(), "2.3.1".into())],
            }],
            host_cpus: 2,
        };
        outcome
    }

    #[test]
    fn every_result_names_its_python_and_the_run_says_what_it_was() {
        let value = serde_json::to_value(Report::of(&run_outcome())).unwrap();
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
        assert_eq!(run["images"][0]["packages"][0]["name"], "numpy", "what the environment installed");
        assert_eq!(run["images"][0]["packages"][0]["version"], "2.3.1");
        assert_eq!(run["host_cpus"], 2);
    }

    #[test]
    fn reports_round_trip_and_older_ones_without_a_run_still_read() {
        let report = Report::of(&run_outcome());
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
