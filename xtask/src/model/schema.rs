//! The JSON report's schema: written by `--report-json`, read back by the
//! tasks that compare or merge reports. One set of types for both ways, and
//! lossless: a result written and read back is the result it was (the
//! facts of its ending included), so merging shards loses nothing. The
//! schema file `xtask/schema/report.schema.json` describes the same shape;
//! the tests validate every report they write against it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::model::captured::Captured;
use crate::model::inner::{
    CountsSource, Framework, Harness, InnerCounts, InnerReport, InnerTest, LeakHunt, PytestRan, PytestSource,
};
use crate::model::job::{Job, PythonMalloc, PythonVersion, Variant};
use crate::model::measure::MeasureId;
use crate::model::memray::MemraySummary;
use crate::model::repeat::{self, Range};
use crate::model::result::{
    parse_rfc3339_utc, rfc3339_utc, Attempt, BaselineRecord, ModuleResult, Outcome, RunInfo,
};
use crate::model::series::MemorySeries;
use crate::model::status::{Execution, SkipCause, Status, Tally};

/// Bumped whenever a field changes meaning or goes away (adding one does not).
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The run options a report records: those that decide what ran and how it
/// was judged (merge-reports refuses shards that differ in one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOption {
    TestDir,
    PythonMalloc,
    Python,
    Timeout,
    Memory,
    Network,
    BaseImage,
    Repeat,
    Retries,
    FlakyResult,
    Skip,
    Baseline,
    Gate,
    Harness,
    HuntLeaks,
    Memray,
    Keyword,
}

/// The run itself: how it was asked for (the options that decide what ran
/// and how it was judged, typed, defaults filled in; the partition), when,
/// and what it ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    /// `K/N` of `--partition`, when the run was one shard of several.
    pub partition: Option<String>,
    /// Each value as JSON types it: numbers, lists, strings, `null` for none.
    pub options: BTreeMap<RunOption, serde_json::Value>,
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
    /// Every test dir of the shards a merged report holds (one for a plain run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_dirs: Vec<String>,
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
    /// What the run's environment installed for this Python (the project's, or the runner's tools alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageRecord>,
    /// The pytest its modules ran under (the first pytest-run result's), when any did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pytest: Option<PytestRecord>,
}

/// The pytest that ran: its version, the folder it was imported from inside
/// the container, and what that folder says of where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PytestRecord {
    pub version: String,
    pub path: String,
    /// Told by `path`; written for readers, recomputed when read back.
    pub from: PytestSource,
}

impl PytestRecord {
    pub fn of(ran: &PytestRan) -> PytestRecord {
        PytestRecord { version: ran.version.clone(), path: ran.path.clone(), from: ran.source() }
    }

    fn ran(&self) -> PytestRan {
        PytestRan { version: self.version.clone(), path: self.path.clone() }
    }
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

/// One result. `execution` holds the facts of how it ended and is what is
/// read back; `status`, `counted_as`, `exit_code`, `signal` and `reason` say
/// the same for readers of the file (`reason` in words, from `report/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    #[serde(flatten)]
    pub job: JobRecord,
    pub status: Status,
    /// How it counts: its status's tally, except a `flaky` under `--flaky-result pass`.
    pub counted_as: Tally,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub execution: Execution,
    /// RFC 3339, UTC, to the millisecond: when its container started.
    pub started_at: String,
    pub duration_s: f64,
    pub peak_rss_bytes: Option<u64>,
    /// The container's peak as its cgroup accounts it (files in /tmp count).
    pub container_peak_bytes: Option<u64>,
    /// The container's memory limit; null when unlimited.
    pub memory_limit_bytes: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// What ran it when our harness did (`script` for a leak-hunted script);
    /// null for a plain script, also one whose own test summary gave the counts.
    pub harness: Option<Harness>,
    /// The tests its framework ran (empty for plain scripts).
    pub tests: Vec<InnerTest>,
    /// The tests list was cut (the counts are whole).
    pub tests_truncated: bool,
    pub test_counts: Option<InnerCounts>,
    pub test_counts_from: Option<CountsSource>,
    /// What the harness said went wrong, in the framework's words.
    pub harness_error: Option<String>,
    /// Per-run deltas of `--hunt-leaks`.
    pub hunt_leaks: Option<LeakHunt>,
    /// What memray recorded (`--memray`).
    pub memray: Option<MemraySummary>,
    /// Its memory over time (the sampler in its container); null when none came.
    #[serde(default)]
    pub memory_series: Option<MemorySeries>,
    /// The pytest the module ran under (the pytest harness only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pytest: Option<PytestRecord>,
    /// The baseline's result for the same job (`run --baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRecord>,
    /// Every attempt, when the job ran more than once (`--repeat`, `--retries`);
    /// the result's measures are then medians.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// The range of each median over the attempts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spread: BTreeMap<MeasureId, Range>,
}

/// One attempt of a job that ran more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based, as `PYMACCOUNTER_ATTEMPT` told the container.
    pub attempt: usize,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub execution: Execution,
    pub started_at: String,
    pub duration_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub container_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    #[serde(default)]
    pub memory_series: Option<MemorySeries>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_run: usize,
    /// Modules `-k` left out whole (not among `skipped`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deselected: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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

    /// `python` filled in, when no version was asked for, with the one its image runs.
    fn in_run(mut self, run: &RunInfo, job: &Job) -> JobRecord {
        self.python = run.python_for(job).map(str::to_string);
        self
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
                    pytest: outcome
                        .results
                        .iter()
                        .filter(|r| r.job.image == i.reference)
                        .find_map(|r| r.inner.as_ref()?.pytest.as_ref())
                        .map(PytestRecord::of),
                })
                .collect(),
            host_cpus: Some(run.host_cpus).filter(|n| *n > 0),
            ..RunRecord::default()
        }
    }
}

impl RunRecord {
    /// The test dirs the record's results come from: those of a merged
    /// report, else its own `test-dir` option.
    pub fn test_dirs(&self) -> Vec<String> {
        if !self.test_dirs.is_empty() {
            return self.test_dirs.clone();
        }
        self.options
            .get(&RunOption::TestDir)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .into_iter()
            .collect()
    }
}

impl ResultRecord {
    pub fn of(result: &ModuleResult) -> ResultRecord {
        let inner = result.inner.as_ref();
        ResultRecord {
            job: JobRecord::of(&result.job),
            status: result.status(),
            counted_as: result.tally(),
            exit_code: result.execution.exit_code(),
            signal: result.execution.signal(),
            // Words come from `report/` (`words::fill_reasons`).
            reason: None,
            execution: result.execution.clone(),
            started_at: rfc3339_utc_millis(result.started_at),
            duration_s: seconds(result.duration),
            peak_rss_bytes: result.peak_rss_bytes,
            container_peak_bytes: result.container_peak_bytes,
            memory_limit_bytes: result.memory_limit_bytes,
            stdout: result.stdout.text(),
            stderr: result.stderr.text(),
            stdout_bytes: result.stdout.total_bytes,
            stderr_bytes: result.stderr.total_bytes,
            // A script whose summary was read ran without the harness.
            harness: inner.filter(|i| i.summary_of.is_none()).map(|i| i.harness),
            tests: inner.map(|i| i.tests.clone()).unwrap_or_default(),
            tests_truncated: inner.is_some_and(|i| i.truncated),
            test_counts: result.test_counts(),
            test_counts_from: inner.and_then(InnerReport::counts_source),
            harness_error: inner.and_then(|i| i.error.clone()),
            hunt_leaks: inner.and_then(|i| i.hunt_leaks.clone()),
            memray: result.memray.clone(),
            memory_series: result.memory_series.clone(),
            pytest: inner.and_then(|i| i.pytest.as_ref()).map(PytestRecord::of),
            baseline: result.baseline.clone(),
            attempts: result.attempts.iter().map(AttemptRecord::of).collect(),
            spread: repeat::spread(&result.attempts),
        }
    }

    /// `python` filled in, when no version was asked for, with the one its image runs.
    fn in_run(mut self, run: &RunInfo, job: &Job) -> ResultRecord {
        self.job = self.job.in_run(run, job);
        self
    }

    /// The record of a result of `run`, as a report holds it.
    pub fn in_run_of(result: &ModuleResult, run: &RunInfo) -> ResultRecord {
        ResultRecord::of(result).in_run(run, &result.job)
    }

    /// What is left when only the measures, the status and the summary
    /// matter (`compare`, `--baseline`, merge-reports' overview): the
    /// outputs, the tests' list and the memory series, the bulk of a record,
    /// are dropped (their byte counts and the test counts stay; `--baseline`
    /// keeps the series, to draw). A new bulky field goes here too.
    pub fn slim(&mut self) {
        self.stdout = String::new();
        self.stderr = String::new();
        self.tests = Vec::new();
        self.memory_series = None;
        for attempt in &mut self.attempts {
            attempt.stdout = String::new();
            attempt.stderr = String::new();
            attempt.memory_series = None;
        }
    }

    /// What the harness reported, back (a script's own summary included).
    fn inner(&self) -> Option<InnerReport> {
        let harness = match (self.harness, self.test_counts_from) {
            (Some(harness), _) => harness,
            (None, Some(CountsSource::UnittestSummary | CountsSource::PytestSummary)) => Harness::Script,
            (None, _) => return None,
        };
        Some(InnerReport {
            harness,
            tests: self.tests.clone(),
            counts: self.test_counts.unwrap_or_default(),
            truncated: self.tests_truncated,
            hunt_leaks: self.hunt_leaks.clone(),
            error: self.harness_error.clone(),
            // Said once, by the ending.
            not_collected: self.execution == Execution::Skipped { why: Some(SkipCause::NotCollected) },
            summary_of: match self.test_counts_from {
                Some(CountsSource::UnittestSummary) => Some(Framework::Unittest),
                Some(CountsSource::PytestSummary) => Some(Framework::Pytest),
                Some(CountsSource::Harness) | None => None,
            },
            pytest: self.pytest.as_ref().map(PytestRecord::ran),
            // The runner put it into the result's own peak.
            peak_rss_bytes: None,
        })
    }

    /// The result back, as the `index`-th of a run (for merge-reports).
    pub fn result(&self, index: usize) -> Result<ModuleResult, String> {
        Ok(ModuleResult {
            job: self.job.job(index)?,
            execution: self.execution.clone(),
            started_at: parse_rfc3339_utc(&self.started_at).unwrap_or(std::time::UNIX_EPOCH),
            duration: Duration::from_secs_f64(self.duration_s.max(0.0)),
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: self.container_peak_bytes,
            memory_limit_bytes: self.memory_limit_bytes,
            stdout: Captured::from_report(&self.stdout, self.stdout_bytes),
            stderr: Captured::from_report(&self.stderr, self.stderr_bytes),
            inner: self.inner(),
            memray: self.memray.clone(),
            memory_series: self.memory_series.clone(),
            baseline: self.baseline.clone(),
            attempts: self.attempts.iter().map(AttemptRecord::attempt).collect(),
        })
    }
}

impl AttemptRecord {
    fn of(attempt: &Attempt) -> AttemptRecord {
        AttemptRecord {
            attempt: attempt.number,
            status: attempt.execution.status(),
            exit_code: attempt.execution.exit_code(),
            signal: attempt.execution.signal(),
            reason: None,
            execution: attempt.execution.clone(),
            started_at: rfc3339_utc_millis(attempt.started_at),
            duration_s: seconds(attempt.duration),
            peak_rss_bytes: attempt.peak_rss_bytes,
            container_peak_bytes: attempt.container_peak_bytes,
            memory_limit_bytes: attempt.memory_limit_bytes,
            stdout: attempt.stdout.text(),
            stderr: attempt.stderr.text(),
            stdout_bytes: attempt.stdout.total_bytes,
            stderr_bytes: attempt.stderr.total_bytes,
            memory_series: attempt.memory_series.clone(),
        }
    }

    /// The attempt back (merge-reports).
    fn attempt(&self) -> Attempt {
        Attempt {
            number: self.attempt,
            execution: self.execution.clone(),
            duration: Duration::from_secs_f64(self.duration_s.max(0.0)),
            peak_rss_bytes: self.peak_rss_bytes,
            container_peak_bytes: self.container_peak_bytes,
            stdout: Captured::from_report(&self.stdout, self.stdout_bytes),
            stderr: Captured::from_report(&self.stderr, self.stderr_bytes),
            inner: None,
            memray: None,
            memory_series: self.memory_series.clone(),
            started_at: parse_rfc3339_utc(&self.started_at).unwrap_or(std::time::UNIX_EPOCH),
            memory_limit_bytes: self.memory_limit_bytes,
        }
    }
}

/// Seconds, to the millisecond.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

fn rfc3339_utc_millis(time: std::time::SystemTime) -> String {
    crate::model::result::rfc3339_utc_millis(time)
}

/// A plain pass of `job`, for tests to adjust with struct update syntax.
#[cfg(test)]
impl ResultRecord {
    pub fn passed(job: JobRecord, duration_s: f64, peak_rss_bytes: u64) -> ResultRecord {
        ResultRecord {
            job,
            status: Status::Pass,
            counted_as: Tally::Passed,
            exit_code: Some(0),
            signal: None,
            reason: None,
            execution: Execution::Passed,
            started_at: "2024-03-01T00:00:00.000Z".into(),
            duration_s,
            peak_rss_bytes: Some(peak_rss_bytes),
            container_peak_bytes: None,
            memory_limit_bytes: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_bytes: 0,
            stderr_bytes: 0,
            harness: None,
            tests: Vec::new(),
            tests_truncated: false,
            test_counts: None,
            test_counts_from: None,
            harness_error: None,
            hunt_leaks: None,
            memray: None,
            memory_series: None,
            pytest: None,
            baseline: None,
            attempts: Vec::new(),
            spread: Default::default(),
        }
    }
}

/// The largest report `Report::read` takes. Reports are read a result at a
/// time (`Report::read_each`), so size costs time, not memory; this only
/// refuses what no run of the runner's could have written.
pub const MAX_REPORT_BYTES: u64 = 16 << 30;

impl Report {
    #[cfg(test)]
    pub fn of(outcome: &Outcome) -> Report {
        Report {
            results: outcome.results.iter().map(|r| ResultRecord::in_run_of(r, &outcome.run)).collect(),
            ..Report::head_of(outcome)
        }
    }

    /// Everything but the results (which `report::json` streams one by one).
    pub fn head_of(outcome: &Outcome) -> Report {
        let counts = outcome.counts();
        Report {
            schema_version: SCHEMA_VERSION,
            run_id: outcome.run_id.clone(),
            results: Vec::new(),
            not_run: outcome.not_run.iter().map(|j| JobRecord::of(j).in_run(&outcome.run, j)).collect(),
            interrupted: outcome.interrupted,
            summary: Summary {
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
                deselected: counts.deselected,
                not_run: outcome.not_run.len(),
            },
            module_args: outcome.module_args.clone(),
            env: outcome.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            run: Some(RunRecord::of(outcome)),
        }
    }

    /// Reads a report whole (tests; the tasks read it slimmed or a record at a time).
    #[cfg(test)]
    pub fn read(path: &Path) -> Result<Report> {
        let mut results = Vec::new();
        let mut report = Report::read_each(path, |record, _| {
            results.push(record);
            Ok(())
        })?;
        report.results = results;
        Ok(report)
    }

    /// Reads a report, handing its results to `each` one at a time as they
    /// are parsed (the report returned has none): memory in proportion to
    /// what `each` keeps, not to the file. With each record comes the span
    /// of the file that holds it (perhaps after a comma and blanks: see
    /// `record_at`), or `None` for a version-2 report, read whole and
    /// upgraded first (only old, small ones are).
    pub fn read_each(
        path: &Path,
        mut each: impl FnMut(ResultRecord, Option<std::ops::Range<u64>>) -> Result<(), String>,
    ) -> Result<Report> {
        let cannot = |e: std::io::Error| usage(format!("cannot read the report {}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(cannot)?;
        let size = file.metadata().map_err(cannot)?.len();
        if size > MAX_REPORT_BYTES {
            return Err(usage(format!(
                "{} is {size} bytes, more than the {MAX_REPORT_BYTES} bytes a report may be (its own runs write far less)",
                path.display()
            )));
        }
        let mut refused = None;
        let mut delivered = 0usize;
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let counting = streaming::Counting { inner: std::io::BufReader::new(file), read: read.clone() };
        let mut deserializer = serde_json::Deserializer::from_reader(counting);
        let streamed = serde::de::DeserializeSeed::deserialize(
            streaming::Streamed {
                each: &mut |record, span| {
                    delivered += 1;
                    each(record, Some(span)).map_err(|e| refused = Some(e))
                },
                read: &read,
            },
            &mut deserializer,
        )
        .and_then(|report| deserializer.end().map(|()| report));
        if let Some(refusal) = refused {
            return Err(usage(refusal));
        }
        match streamed {
            Ok(report) => return Ok(report),
            Err(e) if delivered > 0 => {
                return Err(usage(format!("{} does not follow the report schema: {e}", path.display())))
            }
            // An older version (the tree upgrades it), or not a report (the tree says what is wrong).
            Err(_) => {}
        }
        let text = std::fs::read_to_string(path).map_err(cannot)?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| usage(format!("{} is not JSON: {e}", path.display())))?;
        drop(text);
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
        match version {
            Some(3) => {}
            Some(2) => crate::model::schema_v2::upgrade(&mut value),
            _ => {
                let found =
                    version.map_or("none (a report from before versioning)".to_string(), |v| v.to_string());
                return Err(usage(format!(
                    "{}: report schema version {found}; this runner reads versions 2 and {SCHEMA_VERSION}: \
                     run the tests again to get a current report",
                    path.display()
                )));
            }
        }
        let mut report: Report = serde_json::from_value(value)
            .map_err(|e| usage(format!("{} does not follow the report schema: {e}", path.display())))?;
        for record in std::mem::take(&mut report.results) {
            each(record, None).map_err(usage)?;
        }
        Ok(report)
    }
}

/// A record back from the span `Report::read_each` gave for it.
pub fn record_at(bytes: &[u8]) -> serde_json::Result<ResultRecord> {
    let start = bytes.iter().position(|b| !(b.is_ascii_whitespace() || *b == b',')).unwrap_or(bytes.len());
    serde_json::from_slice(&bytes[start..])
}

/// A report's head (`skim.rs` gives it with `"results": []`), checked as
/// `read_each` checks one: the fields it must have, the version.
pub fn head_at(bytes: &[u8]) -> serde_json::Result<Report> {
    let read = std::cell::Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let report = serde::de::DeserializeSeed::deserialize(
        streaming::Streamed { each: &mut |_, _| Ok(()), read: &read },
        &mut deserializer,
    )?;
    deserializer.end()?;
    Ok(report)
}

/// A current report parsed field by field, its `results` one record at a
/// time into a callback; a `schema_version` other than this one stops it at
/// once (the caller then reads the file as a tree, to upgrade or refuse it).
mod streaming {
    use std::cell::Cell;
    use std::fmt;
    use std::ops::Range;
    use std::rc::Rc;

    use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::Deserializer;

    use super::{Report, ResultRecord, Summary, SCHEMA_VERSION};

    pub const NOT_CURRENT: &str = "not a current report";

    type Each<'a> = &'a mut dyn FnMut(ResultRecord, Range<u64>) -> Result<(), ()>;

    pub struct Streamed<'a> {
        pub each: Each<'a>,
        /// Bytes the parser has taken from the file so far.
        pub read: &'a Cell<u64>,
    }

    /// Counts the bytes the parser takes: serde_json reads a byte at a time
    /// and, after an object's `}`, holds none ahead, so the count then is
    /// where the record ends.
    pub struct Counting<R> {
        pub inner: R,
        pub read: Rc<Cell<u64>>,
    }

    impl<R: std::io::Read> std::io::Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl<'de> DeserializeSeed<'de> for Streamed<'_> {
        type Value = Report;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Report, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Streamed<'_> {
        type Value = Report;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a pymaccounter report")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Report, A::Error> {
            let mut report = Report {
                schema_version: 0,
                run_id: String::new(),
                results: Vec::new(),
                not_run: Vec::new(),
                interrupted: false,
                summary: Summary { passed: 0, failed: 0, skipped: 0, not_run: 0, deselected: 0 },
                module_args: Vec::new(),
                env: Vec::new(),
                run: None,
            };
            let mut seen = [false; 5];
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "schema_version" => {
                        report.schema_version = map.next_value()?;
                        if report.schema_version != SCHEMA_VERSION {
                            return Err(A::Error::custom(NOT_CURRENT));
                        }
                        seen[0] = true;
                    }
                    "results" if seen[0] => {
                        map.next_value_seed(Records { each: self.each, read: self.read })?;
                        seen[1] = true;
                    }
                    // Results before the version: the version decides how to read them.
                    "results" => return Err(A::Error::custom(NOT_CURRENT)),
                    "run_id" => report.run_id = map.next_value()?,
                    "not_run" => {
                        report.not_run = map.next_value()?;
                        seen[2] = true;
                    }
                    "interrupted" => {
                        report.interrupted = map.next_value()?;
                        seen[3] = true;
                    }
                    "summary" => {
                        report.summary = map.next_value()?;
                        seen[4] = true;
                    }
                    "module_args" => report.module_args = map.next_value()?,
                    "env" => report.env = map.next_value()?,
                    "run" => report.run = map.next_value()?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            let names = ["schema_version", "results", "not_run", "interrupted", "summary"];
            if let Some(missing) = seen.iter().position(|s| !s) {
                return Err(A::Error::missing_field(names[missing]));
            }
            Ok(report)
        }
    }

    struct Records<'a> {
        each: Each<'a>,
        read: &'a Cell<u64>,
    }

    impl<'de> DeserializeSeed<'de> for Records<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Records<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of results")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            // Just past the `[`, then past each record's `}`.
            let mut end = self.read.get();
            while let Some(record) = seq
                .next_element::<ResultRecord>()
                .map_err(|e| A::Error::custom(format!("results[{index}]: {e}")))?
            {
                let start = std::mem::replace(&mut end, self.read.get());
                (self.each)(record, start..end).map_err(|()| A::Error::custom("refused"))?;
                index += 1;
            }
            Ok(())
        }
    }
}

/// The sample of `tests` (results of every ending), for other modules' tests.
#[cfg(test)]
pub(crate) use tests::outcome as sample_outcome;

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::model::inner::{
        Harness, LeakingTest, LeakingTests, ReleaseExtensions, TestDeltas, TestOutcome,
    };
    use crate::model::measure::{Regression, Threshold};
    use crate::model::memray::AllocationSite;
    use crate::model::result::ImageInfo;
    use crate::model::status::{AttemptEnding, FailureCause, FrameworkStop, SkipCause};

    fn hunt() -> LeakHunt {
        LeakHunt {
            warmups: 3,
            runs: 3,
            debug_build: true,
            refs: Some(vec![1, 1, 1]),
            blocks: vec![2, 2, 2],
            fds: vec![0, 0, 0],
            failed_run: None,
            release_extensions: Some(ReleaseExtensions {
                count: 2,
                names: vec!["numpy._core._multiarray_umath".into()],
            }),
            per_test: false,
        }
    }

    fn deltas() -> TestDeltas {
        TestDeltas { refs: Some(vec![1, 1, 1]), blocks: vec![0, 1, 0], fds: vec![0; 3] }
    }

    /// One ending of each status, with the facts it can carry: the match is
    /// exhaustive, so a new status cannot be left out of the round trip.
    fn ending(status: Status) -> Vec<Execution> {
        match status {
            Status::Pass => vec![Execution::Passed],
            Status::Skip => vec![
                Execution::Skipped { why: None },
                Execution::Skipped { why: Some(SkipCause::LeakInvisibleHere) },
                Execution::Skipped { why: Some(SkipCause::NotCollected) },
                Execution::Skipped {
                    why: Some(SkipCause::Deselected { expression: "gc and not slow".into() }),
                },
            ],
            Status::Fail => vec![
                Execution::Failed { exit_code: 3, why: None },
                Execution::Failed {
                    exit_code: 1,
                    why: Some(FailureCause::TestsFailed {
                        failed: 2,
                        total: 5,
                        names: vec!["t::a".into(), "t::b".into()],
                    }),
                },
                Execution::Failed {
                    exit_code: 2,
                    why: Some(FailureCause::FrameworkStopped {
                        framework: Framework::Pytest,
                        stop: FrameworkStop::Interrupted,
                        error: Some("ImportError".into()),
                    }),
                },
                Execution::Failed { exit_code: 0, why: Some(FailureCause::NoHarnessReport) },
                Execution::Failed {
                    exit_code: 0,
                    why: Some(FailureCause::TestsNotRun { framework: Framework::Unittest }),
                },
                Execution::Failed { exit_code: 1, why: Some(FailureCause::LeakHuntRunFailed { run: 2 }) },
                Execution::Failed { exit_code: 0, why: Some(FailureCause::ExpectedLeakNotFound) },
                Execution::Failed {
                    exit_code: 1,
                    why: Some(FailureCause::HarnessError { error: "boom".into() }),
                },
            ],
            Status::Timeout => vec![Execution::TimedOut { after_secs: 7 }],
            Status::Oom => {
                vec![Execution::OomKilled { container_peak: Some(1 << 30), process_peak: Some(20480) }]
            }
            Status::Crash => vec![Execution::Crashed { signal: 11 }],
            Status::Leak => vec![
                Execution::Leaked { hunt: hunt(), tests: None },
                Execution::Leaked {
                    hunt: LeakHunt {
                        refs: Some(vec![]),
                        blocks: vec![],
                        fds: vec![],
                        per_test: true,
                        ..hunt()
                    },
                    tests: Some(LeakingTests {
                        leaked: 1,
                        hunted: 5,
                        named: vec![LeakingTest { name: "test_param[1]".into(), deltas: deltas() }],
                    }),
                },
            ],
            Status::OverBudget => vec![Execution::OverBudget { peak_bytes: 2 << 20, budget_bytes: 1 << 20 }],
            Status::Regressed => vec![Execution::Regressed {
                measures: vec![Regression {
                    measure: MeasureId::Rss,
                    before: 1e6,
                    after: 3e6,
                    threshold: Threshold::Percent(10.0),
                    floor: 1048576.0,
                }],
            }],
            Status::Flaky => vec![Execution::Flaky {
                passed: 1,
                attempts: 2,
                first_failure: Box::new(AttemptEnding {
                    attempt: 1,
                    execution: Execution::Crashed { signal: 6 },
                }),
                tolerated: true,
            }],
        }
    }

    /// A small memory series (a cgroup figure missing in the middle).
    fn series(scale: u64) -> MemorySeries {
        MemorySeries {
            t_ms: vec![5, 10, 4000],
            rss_bytes: vec![scale << 20, 200 << 20, 9 << 20],
            cgroup_bytes: vec![Some(12 << 20), None, Some(15 << 20)],
        }
    }

    fn attempt(number: usize, execution: Execution) -> Attempt {
        Attempt {
            number,
            execution,
            duration: Duration::from_millis(100 * number as u64),
            peak_rss_bytes: Some(number as u64 * 4096),
            container_peak_bytes: Some(number as u64 * 8192),
            stdout: Captured::from_text(&format!("attempt {number}\n")),
            stderr: Captured::default(),
            inner: None,
            memray: None,
            memory_series: Some(series(number as u64)),
            started_at: UNIX_EPOCH + Duration::from_millis(1_709_251_200_000 + number as u64),
            memory_limit_bytes: Some(1 << 30),
        }
    }

    /// Results of every status, with counts from a harness, from a script's
    /// unittest and pytest summaries, attempts, a baseline, memray figures
    /// and output cut in the middle.
    pub(crate) fn outcome() -> Outcome {
        let mut results = Vec::new();
        for status in Status::ALL {
            for execution in ending(status) {
                let index = results.len();
                let mut result =
                    ModuleResult::sample(&format!("dir/test_{index}.py"), execution, "out\n", "err\n");
                result.job.index = index;
                result.job.variant =
                    Variant { python_malloc: Some(PythonMalloc::Malloc), python: "3.13".parse().ok() };
                result.started_at = UNIX_EPOCH + Duration::from_millis(1_709_251_200_123);
                result.duration = Duration::from_millis(1234);
                result.peak_rss_bytes = Some(4096 * (index as u64 + 1));
                result.container_peak_bytes = Some(8192);
                result.memory_limit_bytes = Some(1 << 30);
                results.push(result);
            }
        }
        results[0].inner = Some(InnerReport {
            harness: Harness::Pytest,
            tests: vec![InnerTest {
                traceback: Some("Traceback".into()),
                name: "t::a".into(),
                outcome: TestOutcome::Failed,
                message: Some("assert".into()),
                duration_s: 0.5,
                hunt_leaks: Some(deltas()),
                peak_bytes: Some(10 << 20),
            }],
            counts: InnerCounts { passed: 3, failed: 1, ..InnerCounts::default() },
            truncated: true,
            hunt_leaks: Some(hunt()),
            error: Some("an error".into()),
            not_collected: false,
            summary_of: None,
            pytest: Some(PytestRan {
                version: "8.4.2".into(),
                path: "/opt/pymaccounter-env/3.13-k/venv/lib/python3.13/site-packages/pytest".into(),
            }),
            peak_rss_bytes: None,
        });
        // pytest's verdict on a file its configuration leaves out here.
        let not_collected = Execution::Skipped { why: Some(SkipCause::NotCollected) };
        let left_out =
            results.iter_mut().find(|r| r.execution == not_collected).expect("every ending is there");
        left_out.inner =
            Some(InnerReport { harness: Harness::Pytest, not_collected: true, ..InnerReport::default() });
        for (result, framework) in results[1..3].iter_mut().zip([Framework::Unittest, Framework::Pytest]) {
            result.inner = Some(InnerReport {
                harness: Harness::Script,
                counts: InnerCounts { passed: 6, skipped: 1, ..InnerCounts::default() },
                summary_of: Some(framework),
                ..InnerReport::default()
            });
        }
        results[3].attempts =
            vec![attempt(1, Execution::Crashed { signal: 6 }), attempt(2, Execution::Passed)];
        results[4].baseline = Some(BaselineRecord {
            status: Status::Pass,
            values: [(MeasureId::Rss, 1e6), (MeasureId::Heap, 4e5), (MeasureId::Duration, 1.0)]
                .into_iter()
                .collect(),
            scopes: [(MeasureId::Heap, crate::model::measure::Scope::LargestTest)].into_iter().collect(),
            memory_series: Some(series(7)),
        });
        results[4].memory_series = Some(series(3));
        results[5].memray = Some(MemraySummary {
            peak_memory_bytes: Some(1 << 20),
            total_allocations: Some(10),
            total_bytes_allocated: Some(2 << 20),
            profiler_rss_bytes: Some(20 << 20),
            python_allocator: Some("pymalloc".into()),
            top_allocations_by_size: vec![AllocationSite {
                location: Some("f:a.py:1".into()),
                size_bytes: Some(100),
            }],
            flamegraph: "allocations".into(),
            flamegraph_path: Some("memray/x.svg".into()),
            per_test_captures: Some(3),
        });
        let long: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let spill = tempfile::tempdir().unwrap().keep().join("spill");
        results[6].stdout = crate::runner::capture::capture(long.as_bytes(), spill, 1 << 20, |_| {}).unwrap();
        assert!(results[6].stdout.was_cut());
        let mut outcome = Outcome::empty("r".into());
        outcome.results = results;
        outcome.started_at = UNIX_EPOCH + Duration::from_secs(1_709_251_200);
        outcome
    }

    fn read_back(report: &Report) -> Report {
        let text = serde_json::to_string(report).unwrap();
        let read: Report = serde_json::from_str(&text).unwrap();
        let results = read.results.iter().enumerate().map(|(i, r)| r.result(i).unwrap()).collect();
        Report::of(&Outcome { results, ..outcome() })
    }

    #[test]
    fn every_result_reads_back_as_it_was_written() {
        let written = Report::of(&outcome());
        let again = read_back(&written);
        for (a, b) in again.results.iter().zip(&written.results) {
            assert_eq!(a, b, "{}", b.job.module);
        }
        assert_eq!(again, written);
        assert_eq!(read_back(&again), written, "and again");
    }

    /// Panics, saying where, when `report` does not follow the JSON Schema file.
    pub fn assert_follows_the_schema_file(report: &serde_json::Value) {
        let path = crate::project_root().join("xtask/schema/report.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.add_resource("report.schema.json", schema).unwrap();
        let index = compiler.compile("report.schema.json", &mut schemas).expect("the schema compiles");
        if let Err(error) = schemas.validate(report, index) {
            panic!("{report:#}\ndoes not follow {}:\n{error:#}", path.display());
        }
    }

    #[test]
    fn reports_of_every_ending_follow_the_schema_file() {
        let mut report = Report::of(&outcome());
        report.run.as_mut().unwrap().options =
            [(RunOption::Python, serde_json::json!(["3.13"])), (RunOption::Memory, serde_json::Value::Null)]
                .into_iter()
                .collect();
        for result in &mut report.results {
            result.reason = Some("words".into());
        }
        assert_follows_the_schema_file(&serde_json::to_value(&report).unwrap());
        let mut broken = serde_json::to_value(&report).unwrap();
        broken["results"][0]["execution"] = serde_json::json!({"ending": "vanished"});
        let compiles = std::panic::catch_unwind(|| assert_follows_the_schema_file(&broken));
        assert!(compiles.is_err(), "the schema refuses an unknown ending");
    }

    #[test]
    fn a_script_summary_keeps_its_counts_through_a_report() {
        let written = Report::of(&outcome());
        let read: Report = serde_json::from_str(&serde_json::to_string(&written).unwrap()).unwrap();
        for (index, source) in [(1, CountsSource::UnittestSummary), (2, CountsSource::PytestSummary)] {
            let result = read.results[index].result(index).unwrap();
            assert_eq!(result.test_counts().map(|c| c.passed), Some(6));
            assert_eq!(ResultRecord::of(&result).test_counts_from, Some(source));
        }
    }

    fn run_outcome() -> Outcome {
        let mut asked = ModuleResult::sample("test_a.py", Execution::Passed, "", "");
        asked.job.variant = Variant { python: Some("3.13".parse().unwrap()), python_malloc: None };
        let mut plain = ModuleResult::sample("test_b.py", Execution::Passed, "", "");
        plain.memory_limit_bytes = Some(256 << 20);
        plain.job.image = "i".into();
        plain.inner = Some(InnerReport {
            harness: Harness::Pytest,
            pytest: Some(PytestRan {
                version: "7.2.1".into(),
                path: "/usr/lib/python3/dist-packages/pytest".into(),
            }),
            ..InnerReport::default()
        });
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
        let pytest = serde_json::json!({
            "version": "7.2.1", "path": "/usr/lib/python3/dist-packages/pytest", "from": "debian"
        });
        assert_eq!(run["images"][0]["pytest"], pytest, "the pytest its modules ran under");
        assert_eq!(value["results"][1]["pytest"], pytest);
        assert!(value["results"][0].get("pytest").is_none(), "none for a module pytest did not run");
        assert_eq!(run["host_cpus"], 2);
    }

    #[test]
    fn a_version_2_report_still_reads() {
        let v2 = serde_json::json!({
            "schema_version": 2, "run_id": "old", "interrupted": false, "not_run": [],
            "summary": {"passed": 1, "failed": 2, "skipped": 0, "not_run": 0},
            "run": {"options": {"python": "3.11,3.13", "timeout": "300", "memory": "none", "skip": ""}},
            "results": [
                {"module": "test_a.py", "python_malloc": null, "python": "3.11", "status": "pass", "exit_code": 0,
                 "signal": null, "reason": null, "duration_s": 1.0, "peak_rss_bytes": 100, "stdout": "", "stderr": "",
                 "stdout_bytes": 0, "stderr_bytes": 0, "test_counts": {"passed": 3}, "test_counts_from": "unittest summary"},
                {"module": "test_b.py", "python_malloc": null, "python": "3.11", "status": "timeout", "exit_code": null,
                 "signal": null, "reason": "killed", "timeout_s": 5, "duration_s": 5.2, "peak_rss_bytes": null,
                 "stdout": "", "stderr": "", "stdout_bytes": 0, "stderr_bytes": 0},
                {"module": "test_c.py", "python_malloc": null, "python": "3.11", "status": "crash", "exit_code": null,
                 "signal": 11, "reason": "x", "duration_s": 1.0, "peak_rss_bytes": null,
                 "stdout": "", "stderr": "", "stdout_bytes": 0, "stderr_bytes": 0}
            ]
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.json");
        std::fs::write(&path, v2.to_string()).unwrap();
        let report = Report::read(&path).unwrap();
        assert_eq!(report.results[0].result(0).unwrap().test_counts().map(|c| c.passed), Some(3));
        assert_eq!(report.results[1].execution, Execution::TimedOut { after_secs: 5 });
        assert_eq!(report.results[2].execution, Execution::Crashed { signal: 11 });
        let options = &report.run.unwrap().options;
        assert_eq!(options[&RunOption::Python], serde_json::json!(["3.11", "3.13"]));
        assert_eq!(
            (&options[&RunOption::Timeout], &options[&RunOption::Memory]),
            (&serde_json::json!(300), &serde_json::Value::Null)
        );
        assert_eq!(options[&RunOption::Skip], serde_json::json!([]));
    }

    #[test]
    fn a_report_reads_a_record_at_a_time_each_with_its_place_in_the_file() {
        let outcome = outcome();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, serde_json::to_string_pretty(&Report::of(&outcome)).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut count = 0;
        let head = Report::read_each(&path, |record, span| {
            let span = span.expect("a current report's place");
            let again = record_at(&bytes[span.start as usize..span.end as usize]).unwrap();
            assert_eq!(again, record, "the span holds the record");
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((count, head.results.len()), (outcome.results.len(), 0));
        let refused = Report::read_each(&path, |_, _| Err("no, thanks".into())).unwrap_err();
        assert_eq!(refused.to_string(), "no, thanks");
        // Slim: the outputs and the tests' list go, the rest stays.
        let slim = Report::read_slim(&path).unwrap();
        let whole = Report::read(&path).unwrap();
        assert_eq!(slim.results.len(), whole.results.len());
        for (slim, whole) in slim.results.iter().zip(&whole.results) {
            assert!(slim.stdout.is_empty() && slim.stderr.is_empty() && slim.tests.is_empty());
            assert_eq!(
                (slim.stdout_bytes, &slim.test_counts, &slim.execution),
                (whole.stdout_bytes, &whole.test_counts, &whole.execution)
            );
        }
        assert!(
            whole.results.iter().any(|r| !r.stdout.is_empty() && !r.tests.is_empty()),
            "the sample has both"
        );
    }
}
