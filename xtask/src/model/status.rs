//! Statuses, and everything each one means. The only place that matches on
//! them: every other file asks a status what it means (its name, whether it
//! counts as passed, failed or skipped), so a new status is a compile error
//! here and nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::schema::Facts;

/// How one job ended, with the facts that ending has (the way nextest's
/// `ExecutionResult` carries them): a pass cannot hold a signal, a crash
/// always does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    /// Exit code 0.
    Passed,
    /// Exit code 77: the module says it does not apply here (or the runner
    /// knows it cannot judge it here, and says why).
    Skipped { reason: Option<String> },
    /// Any other exit code of a module that ran.
    Failed { exit_code: i32, reason: Option<String> },
    /// Still running at its deadline; killed.
    TimedOut { after_secs: u64 },
    /// Killed by the container's memory limit (the engine says so), with
    /// the container's peak and the module process's, when measured.
    OomKilled { container_peak: Option<u64>, process_peak: Option<u64> },
    /// Killed by a signal (segfault, abort).
    Crashed { signal: i32 },
    /// Ran and passed, but leaked under `--hunt-leaks` by CPython's rule;
    /// `deltas` says what leaked and by how much.
    Leaked { deltas: String },
    /// Ran and passed, but its peak RSS passed the module's declared `max-peak-rss`.
    OverBudget { peak_bytes: u64, budget_bytes: u64 },
    /// Passed, but a measure grew beyond its threshold and floor against
    /// `--baseline`; the reason names each such measure with both values.
    Regressed { reason: String },
    /// Passed and failed across the attempts of `--repeat` or `--retries`.
    /// `failure` says which attempt failed first and how; `tolerated` is
    /// `--flaky-result pass` (then it counts as passed).
    Flaky { passed: usize, attempts: usize, failure: String, tolerated: bool },
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
    /// How a module that ran to its end did, from its exit code alone.
    pub fn from_exit_code(exit_code: i32) -> Execution {
        match exit_code {
            0 => Execution::Passed,
            SKIP_EXIT_CODE => Execution::Skipped { reason: None },
            code => Execution::Failed { exit_code: code, reason: None },
        }
    }

    /// How a job ended, rebuilt from a report's record of it (merge-reports).
    pub fn from_record(record: &Facts) -> Execution {
        match record.status {
            Status::Pass => Execution::Passed,
            Status::Skip => Execution::Skipped { reason: record.reason.clone() },
            Status::Fail => {
                let exit_code = record.exit_code.unwrap_or(1);
                // A reason that only repeats the exit code is the default one.
                let reason = record.reason.clone().filter(|r| *r != format!("exit code {exit_code}"));
                Execution::Failed { exit_code, reason }
            }
            Status::Timeout => Execution::TimedOut {
                // Reports before timeout_s: it was killed at about its duration.
                after_secs: record.timeout_s.unwrap_or(record.duration_s as u64),
            },
            Status::Oom => Execution::OomKilled {
                container_peak: record.container_peak_bytes,
                process_peak: record.peak_rss_bytes,
            },
            Status::Leak => {
                let reason = record.reason.clone().unwrap_or_default();
                let deltas = reason.strip_prefix("leaks under --hunt-leaks: ").unwrap_or(&reason).to_string();
                Execution::Leaked { deltas }
            }
            Status::OverBudget => Execution::OverBudget {
                peak_bytes: record.peak_rss_bytes.unwrap_or(0),
                budget_bytes: record.max_peak_rss_bytes.unwrap_or(0),
            },
            Status::Crash => Execution::Crashed { signal: record.signal.unwrap_or(9) },
            Status::Regressed => Execution::Regressed { reason: record.reason.clone().unwrap_or_default() },
            Status::Flaky => {
                let passed = record.attempts.iter().filter(|a| a.status == Status::Pass).count();
                let failure = record.attempts.iter().find(|a| a.status.tally() == Tally::Failed).map_or(
                    String::new(),
                    |a| {
                        let why = a.reason.clone().unwrap_or_else(|| a.status.to_string());
                        format!("attempt {}: {why}", a.attempt)
                    },
                );
                Execution::Flaky {
                    passed,
                    attempts: record.attempts.len(),
                    failure,
                    tolerated: record.counted_as == Some(Tally::Passed),
                }
            }
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

    /// The declared `max-peak-rss` an over-budget result went past.
    pub fn budget_bytes(&self) -> Option<u64> {
        match self {
            Execution::OverBudget { budget_bytes, .. } => Some(*budget_bytes),
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { .. }
            | Execution::TimedOut { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Leaked { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { .. } => None,
        }
    }

    /// The deadline a timed-out job was killed at.
    pub fn timeout_secs(&self) -> Option<u64> {
        match self {
            Execution::TimedOut { after_secs } => Some(*after_secs),
            Execution::Passed
            | Execution::Skipped { .. }
            | Execution::Failed { .. }
            | Execution::OomKilled { .. }
            | Execution::Crashed { .. }
            | Execution::Leaked { .. }
            | Execution::OverBudget { .. }
            | Execution::Regressed { .. }
            | Execution::Flaky { .. } => None,
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

    /// Why it did not pass, in words; `None` for a pass (and a skip the module itself chose).
    pub fn reason(&self) -> Option<String> {
        match self {
            Execution::Passed => None,
            Execution::Skipped { reason } => reason.clone(),
            Execution::Failed { exit_code, reason } => {
                Some(reason.clone().unwrap_or_else(|| format!("exit code {exit_code}")))
            }
            Execution::TimedOut { after_secs } => Some(format!("killed after the timeout ({after_secs} s)")),
            Execution::OomKilled { container_peak, process_peak } => {
                let mut reason = "killed by the container's memory limit".to_string();
                if let Some(container) = container_peak {
                    reason.push_str(&format!(
                        ", which the container reached at {}",
                        crate::report::human_bytes(*container)
                    ));
                }
                if let Some(process) = process_peak {
                    reason.push_str(&format!(
                        "; the module's own peak RSS was {}",
                        crate::report::human_bytes(*process)
                    ));
                }
                reason.push_str(" (files written to /tmp and /scratch count toward the limit too)");
                Some(reason)
            }
            Execution::Crashed { signal } => {
                Some(format!("killed by signal {} ({signal})", signal_name(*signal)))
            }
            Execution::Leaked { deltas } => Some(format!("leaks under --hunt-leaks: {deltas}")),
            Execution::OverBudget { peak_bytes, budget_bytes } => Some(format!(
                "peak RSS {} is over the module's max-peak-rss of {}",
                crate::report::human_bytes(*peak_bytes),
                crate::report::human_bytes(*budget_bytes)
            )),
            Execution::Regressed { reason } => Some(reason.clone()),
            Execution::Flaky { passed, attempts, failure, .. } => {
                Some(format!("passed {passed} of {attempts} attempts; {failure}"))
            }
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

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
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
            failure: "attempt 1: exit code 1".into(),
            tolerated,
        };
        assert_eq!(flaky(false).tally(), Tally::Failed);
        assert_eq!(flaky(true).tally(), Tally::Passed);
        assert_eq!(flaky(true).status(), Status::Flaky);
        assert_eq!(flaky(true).reason().unwrap(), "passed 1 of 2 attempts; attempt 1: exit code 1");
        let mut by_severity = Status::ALL;
        by_severity.sort_by_key(|s| s.severity());
        assert_eq!(by_severity[0], Status::Pass);
        assert_eq!(by_severity[by_severity.len() - 1], Status::Crash);
    }

    #[test]
    fn each_ending_carries_only_its_own_facts() {
        let crash = Execution::Crashed { signal: 11 };
        assert_eq!((crash.exit_code(), crash.signal()), (None, Some(11)));
        assert!(crash.reason().unwrap().contains("SIGSEGV"));
        assert_eq!((Execution::Passed.signal(), Execution::Passed.reason()), (None, None));
        let timeout = Execution::TimedOut { after_secs: 5 };
        assert_eq!((timeout.exit_code(), timeout.signal()), (None, None));
    }
}
