//! What a run produced: one result per finished job, the jobs that did not
//! run, and the counts the closing line and the exit code are made of.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_USAGE};
use crate::model::captured::Captured;
use crate::model::inner::{InnerCounts, InnerReport};
use crate::model::job::Job;
use crate::model::measure::MeasureId;
use crate::model::memray::MemraySummary;
use crate::model::series::MemorySeries;
use crate::model::status::{Execution, Status, Tally};

/// One finished job: a module under one variant, in its own container.
#[derive(Debug, Clone)]
pub struct ModuleResult {
    pub job: Job,
    pub execution: Execution,
    /// When its container was started (the JUnit suite's timestamp).
    pub started_at: SystemTime,
    pub duration: Duration,
    pub peak_rss_bytes: Option<u64>,
    /// The container's peak memory as its cgroup accounts it (the limit acts on this).
    pub container_peak_bytes: Option<u64>,
    /// The container's memory limit (`--memory`, or the module's declared
    /// `memory`); `None` when unlimited.
    pub memory_limit_bytes: Option<u64>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// What the test framework or the leak hunt reported, when a harness ran the module.
    pub inner: Option<InnerReport>,
    /// What memray recorded (`--memray`).
    pub memray: Option<MemraySummary>,
    /// Its memory over time, when the sampler in its container delivered it
    /// (of the attempt whose output is shown, when it ran more than once).
    pub memory_series: Option<MemorySeries>,
    /// The baseline's result for this job (`--baseline`), when it has one.
    pub baseline: Option<BaselineRecord>,
    /// Every attempt, when the job ran more than once (`--repeat`, `--retries`).
    pub attempts: Vec<Attempt>,
}

impl ModuleResult {
    pub fn status(&self) -> Status {
        self.execution.status()
    }

    /// A job decided without running it (a Python the project does not support).
    pub fn not_run(job: Job, execution: Execution) -> ModuleResult {
        ModuleResult {
            job,
            execution,
            started_at: SystemTime::now(),
            duration: Duration::ZERO,
            peak_rss_bytes: None,
            container_peak_bytes: None,
            memory_limit_bytes: None,
            stdout: Captured::from_text(""),
            stderr: Captured::from_text(""),
            inner: None,
            memray: None,
            memory_series: None,
            baseline: None,
            attempts: Vec::new(),
        }
    }

    /// A result for tests: the module ended as `execution` says, printing `stdout` and `stderr`.
    #[cfg(test)]
    pub fn sample(module: &str, execution: Execution, stdout: &str, stderr: &str) -> ModuleResult {
        use crate::model::job::Variant;
        ModuleResult {
            job: Job { index: 0, module: module.into(), variant: Variant::default(), image: "i".into() },
            execution,
            started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(10),
            peak_rss_bytes: None,
            container_peak_bytes: None,
            memory_limit_bytes: None,
            stdout: Captured::from_text(stdout),
            stderr: Captured::from_text(stderr),
            inner: None,
            memray: None,
            memory_series: None,
            baseline: None,
            attempts: Vec::new(),
        }
    }

    /// The counts of the tests inside it, when its framework or its own summary gave them.
    pub fn test_counts(&self) -> Option<InnerCounts> {
        self.inner.as_ref().filter(|i| i.has_counts()).map(|i| i.counts)
    }

    /// How it counts in the closing line and the exit code.
    pub fn tally(&self) -> Tally {
        self.execution.tally()
    }
}

/// One run of a job in its own container.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// 1-based, as the container was told in `PYMACCOUNTER_ATTEMPT`.
    pub number: usize,
    pub execution: Execution,
    pub duration: Duration,
    pub peak_rss_bytes: Option<u64>,
    pub container_peak_bytes: Option<u64>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub inner: Option<InnerReport>,
    pub memray: Option<MemraySummary>,
    pub memory_series: Option<MemorySeries>,
    /// When its container started, and the memory limit it ran under.
    pub started_at: SystemTime,
    pub memory_limit_bytes: Option<u64>,
}

impl Attempt {
    /// Whether `--retries` runs the job again after this attempt.
    pub fn wants_retry(&self) -> bool {
        self.execution.tally() == Tally::Failed
    }
}

/// What a baseline said about a job: its status and its measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    pub status: Status,
    #[serde(flatten)]
    pub values: BTreeMap<MeasureId, f64>,
    /// What a value is of, where not the whole module (memray's heap peak of
    /// a file recorded per test: `largest-test`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scopes: BTreeMap<MeasureId, crate::model::measure::Scope>,
    /// The baseline's memory over time, so its curve can be drawn beside this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_series: Option<MemorySeries>,
}
/// How a run ended.
pub struct Outcome {
    pub run_id: String,
    /// Finished jobs, in the order they were asked for.
    pub results: Vec<ModuleResult>,
    /// Jobs that never finished (fail-fast, interruption, engine failure).
    pub not_run: Vec<Job>,
    pub interrupted: bool,
    pub fail_fast_tripped: bool,
    /// The engine failed in a way no module caused; the run was stopped.
    pub engine_error: Option<anyhow::Error>,
    /// Arguments every module got (after `--`), and `--env` variables.
    pub module_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// When the runner started the first job, and how long it ran them all
    /// (the run's wall time, not the sum of the durations).
    pub started_at: SystemTime,
    pub wall_time: Duration,
    /// What the run was asked and ran on, for the reports' headers.
    pub run: RunInfo,
}

/// What a run was asked and what it ran on: filled by `tasks::run` when a
/// report file is asked for (it costs an engine call or two), else empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// The command line's arguments after the program, as given.
    pub args: Vec<String>,
    /// `docker` or `podman`, empty when unknown.
    pub engine: String,
    /// The engine server's version, when it said.
    pub engine_version: Option<String>,
    /// One per test image of the run (one per Python version).
    pub images: Vec<ImageInfo>,
    /// CPUs this host offers the runner.
    pub host_cpus: usize,
}

/// A test image of the run and what it was built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `X.Y`: asked for with `--python`, the default version, or asked of a
    /// `--base-image` (`python3` in it); `None` when it could not say.
    pub python: Option<String>,
    /// The test image (`pymaccounter-tests:<content hash>`).
    pub reference: String,
    /// The base image as named, and its id (a tag can move, an id cannot).
    pub base: String,
    pub base_id: Option<String>,
    /// What the project's environment installed for it (name, version), sorted; empty without one.
    pub packages: Vec<(String, String)>,
}

impl RunInfo {
    /// The Python version a job ran: the one asked for, else its test image's, when known.
    pub fn python_for<'a>(&'a self, job: &'a Job) -> Option<&'a str> {
        job.variant.python.as_ref().map(|p| p.as_str()).or_else(|| {
            self.images.iter().find(|i| i.reference == job.image).and_then(|i| i.python.as_deref())
        })
    }
}

impl Outcome {
    /// A run with nothing to do (an empty partition).
    pub fn empty(run_id: String) -> Outcome {
        Outcome {
            run_id,
            results: Vec::new(),
            not_run: Vec::new(),
            interrupted: false,
            fail_fast_tripped: false,
            engine_error: None,
            module_args: Vec::new(),
            env: Vec::new(),
            started_at: SystemTime::now(),
            wall_time: Duration::ZERO,
            run: RunInfo::default(),
        }
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.results)
    }

    /// The run's exit code: 0 when everything ran and passed or skipped,
    /// 130 when it was interrupted, 2 when `-k` selected nothing at all (a
    /// selection that matches nothing is bad input), else 1 (a merged run's too).
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            EXIT_INTERRUPTED
        } else if self.selected_nothing() {
            EXIT_USAGE
        } else if self.succeeded() {
            EXIT_PASSED
        } else {
            EXIT_FAILED
        }
    }

    /// Whether `-k` left out every module of the run.
    pub fn selected_nothing(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|r| r.execution.is_deselected())
    }

    /// Whether every job ran and passed or skipped.
    pub fn succeeded(&self) -> bool {
        self.not_run.is_empty() && self.results.iter().all(|r| r.tally() != Tally::Failed)
    }
}

/// Counts for the closing line and the reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Modules `-k` left out whole: skipped, and counted apart.
    pub deselected: usize,
}

impl Counts {
    pub fn of(results: &[ModuleResult]) -> Counts {
        let mut counts = Counts::default();
        for result in results {
            match result.tally() {
                Tally::Passed => counts.passed += 1,
                Tally::Skipped if result.execution.is_deselected() => counts.deselected += 1,
                Tally::Skipped => counts.skipped += 1,
                Tally::Failed => counts.failed += 1,
            }
        }
        counts
    }

    /// `N passed, N failed`, with `, N skipped` when any skipped.
    pub fn closing_line(self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        if self.deselected > 0 {
            line.push_str(&format!(", {} deselected", self.deselected));
        }
        line
    }
}

/// `2024-05-01T12:34:56Z`: RFC 3339 (and ISO 8601) in UTC, to the second.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// `2024-05-01T12:34:56.789Z`: the same, to the millisecond (a result's start).
pub fn rfc3339_utc_millis(time: SystemTime) -> String {
    let millis = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    let seconds = rfc3339_utc(time);
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

/// The time an RFC 3339 UTC stamp of ours names (`…Z`, with or without
/// milliseconds); `None` for anything else.
pub fn parse_rfc3339_utc(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let number = |part: &str| part.parse::<u64>().ok();
    let mut date = date.splitn(3, '-').map(number);
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (time, millis) = match time.split_once('.') {
        Some((time, fraction)) if fraction.len() == 3 => (time, number(fraction)?),
        Some(_) => return None,
        None => (time, 0),
    };
    let mut time = time.splitn(3, ':').map(number);
    let (hour, minute, second) = (time.next()??, time.next()??, time.next()??);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// `civil_from_days`, after Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_utc() {
        let at = |seconds: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z", "a leap day of a 400-year");
        assert_eq!(at(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_709_251_200), "2024-03-01T00:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z", "2100 has no leap day");
        assert_eq!(at(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn stamps_read_back_to_the_millisecond() {
        for seconds in [0, 951_782_400, 951_868_799, 1_709_251_199, 4_107_542_399] {
            let time = UNIX_EPOCH + Duration::from_millis(seconds * 1000 + 789);
            assert_eq!(parse_rfc3339_utc(&rfc3339_utc_millis(time)), Some(time));
            let whole = UNIX_EPOCH + Duration::from_secs(seconds);
            assert_eq!(parse_rfc3339_utc(&rfc3339_utc(whole)), Some(whole));
        }
        for bad in ["", "2024-03-01", "2024-03-01T00:00:00", "2024-13-01T00:00:00Z", "2024-03-01T00:00:00.5Z"]
        {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn closing_line_mentions_skips_only_when_there_are_some() {
        assert_eq!(Counts { passed: 4, ..Counts::default() }.closing_line(), "4 passed, 0 failed");
        assert_eq!(
            Counts { passed: 1, failed: 1, skipped: 1, deselected: 0 }.closing_line(),
            "1 passed, 1 failed, 1 skipped"
        );
        assert_eq!(
            Counts { passed: 1, failed: 0, skipped: 1, deselected: 2 }.closing_line(),
            "1 passed, 0 failed, 1 skipped, 2 deselected"
        );
    }
}
