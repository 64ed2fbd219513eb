//! What a test framework reported from inside a module's container: its
//! tests and their outcomes, and the leak hunt's measurements. Read from the
//! harness's last stderr line; written into the JSON report as it came.

use serde::{Deserialize, Serialize};

/// The harness's report (`xtask/container/harness.py`, its trailer line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InnerReport {
    /// `unittest`, `pytest` or `script`.
    pub harness: String,
    #[serde(default)]
    pub tests: Vec<InnerTest>,
    #[serde(default)]
    pub counts: InnerCounts,
    /// The tests list was cut to keep the line short (the counts are whole).
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub hunt_leaks: Option<LeakHunt>,
    #[serde(default)]
    pub error: Option<String>,
    /// For a module no harness ran: the framework (`unittest`, `pytest`)
    /// whose summary its output ended with; the counts were read from it.
    #[serde(default)]
    pub summary_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerTest {
    pub name: String,
    /// `passed`, `failed`, `error`, `skipped`, `xfailed` or `xpassed`.
    pub outcome: String,
    #[serde(default)]
    pub message: Option<String>,
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

impl InnerReport {
    /// Whether its counts say something: a framework ran tests, here or in
    /// a script that printed their summary (a plain script's zero counts,
    /// from the leak hunt, do not).
    pub fn has_counts(&self) -> bool {
        self.harness != "script" || self.summary_of.is_some()
    }

    /// Where the counts came from: `harness`, or `unittest summary` /
    /// `pytest summary` read from a script's output.
    pub fn counts_source(&self) -> Option<String> {
        match &self.summary_of {
            Some(framework) => Some(format!("{framework} summary")),
            None => self.has_counts().then(|| "harness".to_string()),
        }
    }
}

impl InnerTest {
    pub fn failed(&self) -> bool {
        matches!(self.outcome.as_str(), "failed" | "error")
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
            (self.errors, "errors"),
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
    /// `None` when nothing leaked, else what leaked, in words.
    pub fn leaks(&self) -> Option<String> {
        if self.failed_run.is_some() {
            return None;
        }
        let every_run_grew = |deltas: &[i64]| !deltas.is_empty() && deltas.iter().all(|d| *d >= 1);
        let mut found = Vec::new();
        if let Some(refs) = self.refs.as_deref().filter(|d| every_run_grew(d)) {
            found.push(format!("references {refs:?}"));
        }
        if every_run_grew(&self.blocks) {
            found.push(format!("memory blocks {:?}", self.blocks));
        }
        if self.fds.iter().any(|d| *d != 0) {
            found.push(format!("file descriptors {:?}", self.fds));
        }
        (!found.is_empty())
            .then(|| format!("{} over {} runs after {} warm-ups", found.join(", "), self.runs, self.warmups))
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
        assert!(hunt(Some(vec![1, 1, 1]), vec![0, 0, 0], vec![0, 0, 0])
            .leaks()
            .unwrap()
            .contains("references"));
        assert!(hunt(Some(vec![1, 0, 1]), vec![0, 0, 0], vec![0, 0, 0]).leaks().is_none());
        assert!(hunt(None, vec![2, 5, 1], vec![0, 0, 0])
            .leaks()
            .unwrap()
            .contains("memory blocks [2, 5, 1]"));
        assert!(hunt(None, vec![3, 0, 0], vec![0, 0, 0]).leaks().is_none(), "a cache that stops growing");
        assert!(hunt(None, vec![-1, -1, -1], vec![0, 0, 0]).leaks().is_none());
    }

    #[test]
    fn any_descriptor_delta_is_a_leak() {
        assert!(hunt(None, vec![0, 0, 0], vec![0, 1, 0]).leaks().unwrap().contains("file descriptors"));
        assert!(hunt(None, vec![0, 0, 0], vec![0, -1, 0]).leaks().is_some());
    }

    #[test]
    fn a_failed_run_gives_no_verdict() {
        let mut failed = hunt(Some(vec![]), vec![], vec![]);
        failed.failed_run = Some(1);
        assert!(failed.leaks().is_none());
    }

    #[test]
    fn the_harness_line_reads_as_a_report() {
        let line = r#"{"harness":"pytest","tests":[{"name":"test_b","outcome":"failed","message":"AssertionError: assert 1 == 2","duration_s":0.01}],"counts":{"passed":1,"failed":1,"errors":0,"skipped":0,"xfailed":0,"xpassed":0},"truncated":false,"hunt_leaks":null,"error":null}"#;
        let report: InnerReport = serde_json::from_str(line).unwrap();
        assert_eq!(report.counts.summary(), "1 passed, 1 failed");
        assert!(report.tests[0].failed());
    }
}
