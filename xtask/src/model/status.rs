//! Statuses, and everything each one means. The only place that matches on
//! them: every other file asks a status what it means (its name, whether it
//! counts as passed, failed or skipped), so a new status is a compile error
//! here and nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::inner::{Framework, LeakHunt, LeakingTests};
use crate::model::measure::Regression;

/// How one job ended, with the facts that ending has (the way nextest's
/// `ExecutionResult` carries them): a pass cannot hold a signal, a crash
/// always does. Facts only: `report/words.rs` says them in words. Written
/// into the JSON report as it is (tagged by `ending`) and read back whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "kebab-case")]
pub enum Execution {
    /// Exit code 0.
    Passed,
    /// Exit code 77: the module says it does not apply here (or the runner
    /// knows it cannot judge it here, and says why).
    Skipped {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<SkipCause>,
    },
    /// Any other exit code of a module that ran, or a verdict against one
    /// that exited 0 (`why` then says what was wrong).
    Failed {
        exit_code: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<FailureCause>,
    },
    /// Still running at its deadline; killed.
    TimedOut { after_secs: u64 },
    /// Killed by the container's memory limit (the engine says so), with
    /// the container's peak and the module process's, when measured.
    OomKilled { container_peak: Option<u64>, process_peak: Option<u64> },
    /// Killed by a signal (segfault, abort).
    Crashed { signal: i32 },
    /// Ran and passed, but leaked under `--hunt-leaks` by CPython's rule
    /// (the hunt's deltas say what leaked and by how much).
    Leaked {
        hunt: LeakHunt,
        /// A per-test hunt's leaking tests (the deltas are theirs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tests: Option<LeakingTests>,
    },
    /// Ran and passed, but its peak RSS passed the module's declared `max-peak-rss`.
    OverBudget { peak_bytes: u64, budget_bytes: u64 },
    /// Passed, but measures grew beyond their threshold and floor against `--baseline`.
    Regressed { measures: Vec<Regression> },
    /// Passed and failed across the attempts of `--repeat` or `--retries`:
    /// how the first failing attempt ended; `tolerated` is `--flaky-result
    /// pass` (then it counts as passed).
    Flaky { passed: usize, attempts: usize, first_failure: Box<AttemptEnding>, tolerated: bool },
}

/// How one attempt of a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptEnding {
    /// 1-based.
    pub attempt: usize,
    pub execution: Execution,
}

/// Why a module that ran was judged failed, beyond its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum FailureCause {
    /// Tests of the framework failed (`names`: the first of them, in order).
    TestsFailed { failed: u64, total: u64, names: Vec<String> },
    /// The framework ended with one of its own exit codes, `error` its words.
    FrameworkStopped {
        framework: Framework,
        stop: FrameworkStop,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The harness ran it and said why it failed (an import error, say).
    HarnessError { error: String },
    /// The harness was to report and did not: the module ended the interpreter itself.
    NoHarnessReport,
    /// It defines tests of `framework` and ran as a script that runs none.
    TestsNotRun { framework: Framework },
    /// A run of the leak hunt failed (1-based): the hunt has no verdict.
    LeakHuntRunFailed { run: u32 },
    /// It declares `expect = leak`, and the hunt found none.
    ExpectedLeakNotFound,
    /// It declares `max-peak-rss`, and no peak was measured: no pass.
    PeakNotMeasured,
    /// `--memray`'s recording of it could not be used (`problem`: what was wrong).
    MemrayUnusable { problem: String },
}

/// The framework exit codes that mean something other than "tests failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrameworkStop {
    /// pytest's 2: interrupted (a collection error, Ctrl-C).
    Interrupted,
    /// pytest's 3.
    InternalError,
    /// 4: a bad command line (or a conftest that failed to import).
    UsageError,
    /// 5: no tests were collected.
    NoTestsCollected,
}

/// Why the runner skipped a module that did not skip itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum SkipCause {
    /// It declares `expect = leak`, and this interpreter cannot show the
    /// leak (a release build counts no references, plain malloc no blocks).
    LeakInvisibleHere,
    /// The project's `requires-python` leaves this Python out.
    PythonNotSupported { requires_python: String },
    /// pytest, collecting the module's folder on this Python, would leave
    /// the file out: the project's conftest (`collect_ignore`,
    /// `pytest_ignore_collect`) or `--ignore` says so.
    NotCollected,
    /// `-k EXPR` selects none of its tests (nor, for a script, its name).
    Deselected { expression: String },
}

/// A status name, as shown and as written in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Skip,
    Fail,
    Timeout,
    Oom,
    Crash,
    Leak,
    OverBudget,
    Regressed,
    Flaky,
}

/// The three ways a status counts in the closing line and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tally {
    Passed,
    Failed,
    Skipped,
}

/// Exit code a module uses to say "does not apply here".
pub const SKIP_EXIT_CODE: i32 = 77;

impl Execution {
    /// Whether `-k` left the whole module out (counted apart from skips).
    pub fn is_deselected(&self) -> bool {
        matches!(self, Execution::Skipped { why: Some(SkipCause::Deselected { .. }) })
    }

    /// How a module that ran to its end did, from its exit code alone.
    pub fn from_exit_code(exit_code: i32) -> Execution {
        match exit_code {
            0 => Execution::Passed,
            SKIP_EXIT_CODE => Execution::Skipped { why: None },
            code => Execution::Failed { exit_code: code, why: None },
        }
    }

    /// How this ending counts: its status's tally, except that a flaky
    /// result counts as passed under `--flaky-result pass`.
    pub fn tally(&self) -> Tally {
        match self {
            Execution::Flaky { tolerated: true, .. } => Tally::Passed,
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { .. }
            | Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { tolerated: false, .. } => self.status().tally(),
        }
    }

    pub fn status(&self) -> Status {
        match self {
            Execution::Passed => Status::Pass,
            Execution::Skipped { .. } => Status::Skip,
            Execution::Failed { .. } => Status::Fail,
            Execution::TimedOut { .. } => Status::Timeout,
            Execution::OomKilled { .. } => Status::Oom,
            Execution::Crashed { .. } => Status::Crash,
            Execution::Leaked { .. } => Status::Leak,
            Execution::OverBudget { .. } => Status::OverBudget,
            Execution::Regressed { .. } => Status::Regressed,
            Execution::Flaky { .. } => Status::Flaky,
        }
    }

    /// The exit code of a failure nothing has explained yet (a harness may know why).
    pub fn unexplained_failure(&self) -> Option<i32> {
        match self {
            Execution::Failed { exit_code, why: None } => Some(*exit_code),
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { why: Some(_), .. }
            | Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { .. } => None,
        }
    }

    /// Whether its failing tests say all there is to say about it: a failed
    /// module whose framework reported the tests that failed.
    pub fn explained_by_its_tests(&self) -> bool {
        match self {
            Execution::Failed { why: Some(FailureCause::TestsFailed { .. }), .. } => true,
            // A per-test hunt names its leaking tests.
            Execution::Leaked { tests: Some(tests), .. } => tests.leaked > 0,
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { .. }
            | Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { .. } => false,
        }
    }

    /// The module's own exit code, when it exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Execution::Passed
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. } => Some(0),
            Execution::Skipped { .. } => Some(SKIP_EXIT_CODE),
            Execution::Failed { exit_code, .. } => Some(*exit_code),
            Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Flaky { .. } => None,
        }
    }

    pub fn signal(&self) -> Option<i32> {
        match self {
            Execution::Crashed { signal } => Some(*signal),
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { .. }
            | Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { .. } => None,
        }
    }
}

impl Status {
    #[cfg(test)]
    pub const ALL: [Status; 10] = [
        Status::Pass,
        Status::Skip,
        Status::Fail,
        Status::Timeout,
        Status::Oom,
        Status::Crash,
        Status::Leak,
        Status::OverBudget,
        Status::Regressed,
        Status::Flaky,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Oom => "oom",
            Status::Crash => "crash",
            Status::Leak => "leak",
            Status::OverBudget => "over-budget",
            Status::Regressed => "regressed",
            Status::Flaky => "flaky",
        }
    }

    /// What a person reads next to the name (README's status table).
    pub fn meaning(self) -> &'static str {
        match self {
            Status::Pass => "exit 0",
            Status::Skip => "exit 77: the module says it does not apply here",
            Status::Fail => "any other exit code",
            Status::Timeout => "killed after --timeout",
            Status::Oom => "killed by the container's memory limit",
            Status::Crash => "killed by a signal (segfault, abort)",
            Status::Leak => "references, memory blocks or file descriptors leak under --hunt-leaks",
            Status::OverBudget => "peak RSS above the module's declared max-peak-rss",
            Status::Regressed => "passed, but a measure grew beyond --threshold against --baseline",
            Status::Flaky => {
                "passed and failed across --repeat or --retries (--flaky-result pass counts it passed)"
            }
        }
    }

    pub fn tally(self) -> Tally {
        match self {
            Status::Pass => Tally::Passed,
            Status::Skip => Tally::Skipped,
            Status::Fail
            | Status::Timeout
            | Status::Oom
            | Status::Crash
            | Status::Leak
            | Status::OverBudget
            | Status::Regressed
            | Status::Flaky => Tally::Failed,
        }
    }

    /// How bad it is, for the worst of several attempts: a pass is least
    /// bad, a crash worst.
    pub fn severity(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Skip => 1,
            Status::Regressed => 2,
            Status::OverBudget => 3,
            Status::Leak => 4,
            Status::Flaky => 5,
            Status::Fail => 6,
            Status::Timeout => 7,
            Status::Oom => 8,
            Status::Crash => 9,
        }
    }

    /// Whether a result with this status ran to its end, so that its
    /// measures describe a whole run and are worth comparing with another's.
    pub fn ran_to_its_end(self) -> bool {
        match self {
            Status::Pass | Status::Regressed | Status::Flaky | Status::Leak | Status::OverBudget => true,
            Status::Skip | Status::Fail | Status::Timeout | Status::Oom | Status::Crash => false,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_to_statuses() {
        assert_eq!(Execution::from_exit_code(0).status(), Status::Pass);
        assert_eq!(Execution::from_exit_code(77).status(), Status::Skip);
        assert_eq!(Execution::from_exit_code(125).status(), Status::Fail);
        assert_eq!(Execution::from_exit_code(125).exit_code(), Some(125));
    }

    #[test]
    fn skips_are_successes_but_not_passes() {
        assert_eq!(Status::Skip.tally(), Tally::Skipped);

        for status in
            [Status::Fail, Status::Timeout, Status::Oom, Status::Crash, Status::Regressed, Status::Flaky]
        {
            assert_eq!(status.tally(), Tally::Failed, "{status}");
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for status in Status::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.name()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
        }
    }

    #[test]
    fn a_flaky_result_fails_unless_tolerated() {
        let flaky = |tolerated| Execution::Flaky {
            passed: 1,
            attempts: 2,
            first_failure: Box::new(AttemptEnding { attempt: 1, execution: Execution::from_exit_code(1) }),
            tolerated,
        };
        assert_eq!(flaky(false).tally(), Tally::Failed);
        assert_eq!(flaky(true).tally(), Tally::Passed);
        assert_eq!(flaky(true).status(), Status::Flaky);
        let mut by_severity = Status::ALL;
        by_severity.sort_by_key(|s| s.severity());
        assert_eq!(by_severity[0], Status::Pass);
        assert_eq!(by_severity[by_severity.len() - 1], Status::Crash);
    }

    #[test]
    fn each_ending_carries_only_its_own_facts() {
        let crash = Execution::Crashed { signal: 11 };
        assert_eq!((crash.exit_code(), crash.signal()), (None, Some(11)));
        assert_eq!(Execution::Passed.signal(), None);
        let timeout = Execution::TimedOut { after_secs: 5 };
        assert_eq!((timeout.exit_code(), timeout.signal()), (None, None));
    }
}
