//! What a run produced: one result per finished job, the jobs that did not
//! run, and the counts the closing line and the exit code are made of.

use std::time::Duration;

use crate::model::inner::InnerReport;
use crate::model::job::Job;
use crate::model::memray::MemraySummary;
use crate::model::repeat::Attempt;
use crate::model::schema::BaselineRecord;
use crate::model::status::{Execution, Status, Tally};
use crate::runner::capture::Captured;

/// One finished job: a module under one variant, in its own container.
#[derive(Debug, Clone)]
pub struct ModuleResult {
    pub job: Job,
    pub execution: Execution,
    pub duration: Duration,
    pub peak_rss_bytes: Option<u64>,
    /// The container's peak memory as its cgroup accounts it (the limit acts on this).
    pub container_peak_bytes: Option<u64>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// What the test framework or the leak hunt reported, when a harness ran the module.
    pub inner: Option<InnerReport>,
    /// What memray recorded (`--memray`).
    pub memray: Option<MemraySummary>,
    /// The baseline's result for this job (`--baseline`), when it has one.
    pub baseline: Option<BaselineRecord>,
    /// Every attempt, when the job ran more than once (`--repeat`, `--retries`).
    pub attempts: Vec<Attempt>,
}

impl ModuleResult {
    pub fn status(&self) -> Status {
        self.execution.status()
    }

    /// A result for tests: the module ended as `execution` says, printing `stdout` and `stderr`.
    #[cfg(test)]
    pub fn sample(module: &str, execution: Execution, stdout: &str, stderr: &str) -> ModuleResult {
        use crate::model::job::Variant;
        ModuleResult {
            job: Job { index: 0, module: module.into(), variant: Variant::default(), image: "i".into() },
            execution,
            duration: Duration::from_millis(10),
            peak_rss_bytes: None,
            container_peak_bytes: None,
            stdout: Captured::from_text(stdout),
            stderr: Captured::from_text(stderr),
            inner: None,
            memray: None,
            baseline: None,
            attempts: Vec::new(),
        }
    }

    /// How it counts in the closing line and the exit code.
    pub fn tally(&self) -> Tally {
        self.execution.tally()
    }
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
        }
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.results)
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
}

impl Counts {
    pub fn of(results: &[ModuleResult]) -> Counts {
        let mut counts = Counts::default();
        for result in results {
            match result.tally() {
                Tally::Passed => counts.passed += 1,
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
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_mentions_skips_only_when_there_are_some() {
        assert_eq!(Counts { passed: 4, failed: 0, skipped: 0 }.closing_line(), "4 passed, 0 failed");
        assert_eq!(
            Counts { passed: 1, failed: 1, skipped: 1 }.closing_line(),
            "1 passed, 1 failed, 1 skipped"
        );
    }
}
