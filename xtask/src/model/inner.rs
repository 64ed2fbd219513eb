//! What a test framework reported from inside a module's container: its
//! tests and their outcomes, and the leak hunt's measurements. Read from the
//! verdict file the container's wrapper writes (or, on a remote engine, a
//! line before its last one on stderr); written into the JSON report as it came.

use serde::{Deserialize, Serialize};

/// The test framework a module's tests are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Unittest,
    Pytest,
}

/// What runs a module in its container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Harness {
    #[default]
    Script,
    Unittest,
    Pytest,
}

/// How one test ended, in pytest's words (unittest's map onto them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestOutcome {
    Passed,
    Failed,
    Error,
    Skipped,
    Xfailed,
    Xpassed,
}

/// Where a result's test counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CountsSource {
    /// Our harness ran the framework and reported each test.
    #[serde(rename = "harness")]
    Harness,
    /// A script ran its own tests; the counts were read from the summary it printed.
    #[serde(rename = "unittest summary")]
    UnittestSummary,
    #[serde(rename = "pytest summary")]
    PytestSummary,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Unittest => "unittest",
            Framework::Pytest => "pytest",
        }
    }
}

impl Harness {
    pub fn name(self) -> &'static str {
        match self {
            Harness::Script => "script",
            Harness::Unittest => "unittest",
            Harness::Pytest => "pytest",
        }
    }

    /// The framework it runs, when it runs one.
    pub fn framework(self) -> Option<Framework> {
        match self {
            Harness::Script => None,
            Harness::Unittest => Some(Framework::Unittest),
            Harness::Pytest => Some(Framework::Pytest),
        }
    }
}

impl TestOutcome {
    pub fn name(self) -> &'static str {
        match self {
            TestOutcome::Passed => "passed",
            TestOutcome::Failed => "failed",
            TestOutcome::Error => "error",
            TestOutcome::Skipped => "skipped",
            TestOutcome::Xfailed => "xfailed",
            TestOutcome::Xpassed => "xpassed",
        }
    }
}

/// The harness's report (`xtask/container/harness.py`, its trailer line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InnerReport {
    pub harness: Harness,
    #[serde(default)]
    pub tests: Vec<InnerTest>,
    #[serde(default)]
    pub counts: InnerCounts,
    /// The tests list was cut (the counts are whole): only on a remote
    /// engine's 24 KiB line, or past 48 MiB of verdict.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub hunt_leaks: Option<LeakHunt>,
    #[serde(default)]
    pub error: Option<String>,
    /// pytest's configuration leaves the file out of its folder's
    /// collection on this Python (the harness then ran nothing and exited 77).
    #[serde(default)]
    pub not_collected: bool,
    /// For a module no harness ran: the framework whose summary its output
    /// ended with; the counts were read from it.
    #[serde(default)]
    pub summary_of: Option<Framework>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerTest {
    pub name: String,
    pub outcome: TestOutcome,
    #[serde(default)]
    pub message: Option<String>,
    /// The failure's traceback, bounded (a marker says where it was cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    #[serde(default)]
    pub duration_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerCounts {
    #[serde(default)]
    pub passed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub xfailed: u64,
    #[serde(default)]
    pub xpassed: u64,
}

/// Per-run deltas after the warm-up runs (`--hunt-leaks WARMUPS:RUNS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakHunt {
    pub warmups: u32,
    pub runs: u32,
    pub debug_build: bool,
    /// `sys.gettotalrefcount()` deltas: only debug builds have it.
    pub refs: Option<Vec<i64>>,
    pub blocks: Vec<i64>,
    pub fds: Vec<i64>,
    /// The run (1-based) that failed, when one did: no verdict then.
    #[serde(default)]
    pub failed_run: Option<u32>,
}

/// What can leak under `--hunt-leaks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakKind {
    References,
    MemoryBlocks,
    FileDescriptors,
}

impl InnerReport {
    /// Whether its counts say something: a framework ran tests, here or in
    /// a script that printed their summary (a plain script's zero counts,
    /// from the leak hunt, do not).
    pub fn has_counts(&self) -> bool {
        self.harness != Harness::Script || self.summary_of.is_some()
    }

    /// Where the counts came from: the harness, or a script's own summary.
    pub fn counts_source(&self) -> Option<CountsSource> {
        match self.summary_of {
            Some(Framework::Unittest) => Some(CountsSource::UnittestSummary),
            Some(Framework::Pytest) => Some(CountsSource::PytestSummary),
            None => self.has_counts().then_some(CountsSource::Harness),
        }
    }
}

impl InnerTest {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, TestOutcome::Failed | TestOutcome::Error)
    }

    pub fn skipped(&self) -> bool {
        matches!(self.outcome, TestOutcome::Skipped | TestOutcome::Xfailed)
    }
}

impl InnerCounts {
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.errors + self.skipped + self.xfailed + self.xpassed
    }

    /// `3 passed, 1 failed`: the non-zero counts, pytest's way.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            (self.passed, "passed"),
            (self.failed, "failed"),
            (self.errors, if self.errors == 1 { "error" } else { "errors" }),
            (self.skipped, "skipped"),
            (self.xfailed, "xfailed"),
            (self.xpassed, "xpassed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "no tests".to_string()
        } else {
            parts.join(", ")
        }
    }
}

impl LeakHunt {
    /// CPython's regrtest rule: references or memory blocks leak when every
    /// measured delta is at least 1; file descriptors when any delta is not 0.
    /// What leaked, with its deltas; empty when nothing did (or a run failed).
    pub fn leaks(&self) -> Vec<(LeakKind, &[i64])> {
        if self.failed_run.is_some() {
            return Vec::new();
        }
        let every_run_grew = |deltas: &[i64]| !deltas.is_empty() && deltas.iter().all(|d| *d >= 1);
        let mut found = Vec::new();
        if let Some(refs) = self.refs.as_deref().filter(|d| every_run_grew(d)) {
            found.push((LeakKind::References, refs));
        }
        if every_run_grew(&self.blocks) {
            found.push((LeakKind::MemoryBlocks, self.blocks.as_slice()));
        }
        if self.fds.iter().any(|d| *d != 0) {
            found.push((LeakKind::FileDescriptors, self.fds.as_slice()));
        }
        found
    }

    pub fn leaked(&self) -> bool {
        !self.leaks().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunt(refs: Option<Vec<i64>>, blocks: Vec<i64>, fds: Vec<i64>) -> LeakHunt {
        LeakHunt { warmups: 3, runs: 3, debug_build: refs.is_some(), refs, blocks, fds, failed_run: None }
    }

    #[test]
    fn refs_and_blocks_leak_only_when_every_run_grew() {
        let kinds = |h: LeakHunt| h.leaks().iter().map(|(kind, _)| *kind).collect::<Vec<_>>();
        assert_eq!(kinds(hunt(Some(vec![1, 1, 1]), vec![0, 0, 0], vec![0, 0, 0])), [LeakKind::References]);
        assert!(!hunt(Some(vec![1, 0, 1]), vec![0, 0, 0], vec![0, 0, 0]).leaked());
        let blocks = hunt(None, vec![2, 5, 1], vec![0, 0, 0]);
        assert_eq!(blocks.leaks(), [(LeakKind::MemoryBlocks, &[2, 5, 1][..])]);
        assert!(!hunt(None, vec![3, 0, 0], vec![0, 0, 0]).leaked(), "a cache that stops growing");
        assert!(!hunt(None, vec![-1, -1, -1], vec![0, 0, 0]).leaked());
    }

    #[test]
    fn any_descriptor_delta_is_a_leak() {
        let fds = hunt(None, vec![0, 0, 0], vec![0, 1, 0]);
        assert_eq!(fds.leaks(), [(LeakKind::FileDescriptors, &[0, 1, 0][..])]);
        assert!(hunt(None, vec![0, 0, 0], vec![0, -1, 0]).leaked());
    }

    #[test]
    fn a_failed_run_gives_no_verdict() {
        let mut failed = hunt(Some(vec![]), vec![], vec![]);
        failed.failed_run = Some(1);
        assert!(!failed.leaked());
    }

    #[test]
    fn the_harness_line_reads_as_a_report() {
        let line = r#"{"harness":"pytest","tests":[{"name":"test_b","outcome":"failed","message":"AssertionError: assert 1 == 2","duration_s":0.01}],"counts":{"passed":1,"failed":1,"errors":0,"skipped":0,"xfailed":0,"xpassed":0},"truncated":false,"hunt_leaks":null,"error":null}"#;
        let report: InnerReport = serde_json::from_str(line).unwrap();
        assert_eq!(report.counts.summary(), "1 passed, 1 failed");
        assert!(report.tests[0].failed());
    }
}
