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
    /// Under the pytest harness: the pytest that ran.
    #[serde(default)]
    pub pytest: Option<PytestRan>,
    /// The process's RSS high-water mark as the harness read it before each
    /// per-test reset (which lowers what the monitor reads at exit): the
    /// file's peak is the larger of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

/// Where projects' environments appear inside containers (never under a
/// home folder, which the modules' user may not be allowed to cross).
pub const ENVIRONMENTS_IN_CONTAINER: &str = "/opt/pymaccounter-env";
/// Where Debian's python3-pytest lives (the offline bases').
const DEBIAN_DIST_PACKAGES: &str = "/usr/lib/python3/dist-packages/";

/// The pytest a module ran under, as the harness found it imported: its
/// version and the folder of its package, inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PytestRan {
    pub version: String,
    pub path: String,
}

/// Where a pytest came from, told by the folder it was imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PytestSource {
    /// The project's environment: resolved from the package index (or the project's lock).
    Environment,
    /// Debian's python3-pytest in the base (the offline bases carry it).
    Debian,
    /// The base image's own copy, installed by whoever built the image.
    Image,
}

/// In the folder name of a run's environment that holds the runner's tools
/// alone (a run without a project: `<python>-tools-<key>`).
pub const TOOLS_ONLY_MARK: &str = "-tools-";

impl PytestRan {
    /// An environment's pytest of a run without a project (the runner's tools alone).
    pub fn tools_only(&self) -> bool {
        self.source() == PytestSource::Environment
            && self.path[ENVIRONMENTS_IN_CONTAINER.len()..]
                .split('/')
                .nth(1)
                .is_some_and(|d| d.contains(TOOLS_ONLY_MARK))
    }

    pub fn source(&self) -> PytestSource {
        if self.path.starts_with(&format!("{ENVIRONMENTS_IN_CONTAINER}/")) {
            PytestSource::Environment
        } else if self.path.starts_with(DEBIAN_DIST_PACKAGES) {
            PytestSource::Debian
        } else {
            PytestSource::Image
        }
    }
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
    /// Under a per-test `--hunt-leaks`: the deltas of its measured runs
    /// (none when a run failed or it skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hunt_leaks: Option<TestDeltas>,
    /// Its own peak: how far the process's RSS high-water mark rose over
    /// the RSS at its start while it ran (under the hunt, over all its runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
}

/// One test's deltas over the measured runs of a per-test leak hunt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDeltas {
    /// `sys.gettotalrefcount()` deltas: only debug builds have it.
    pub refs: Option<Vec<i64>>,
    pub blocks: Vec<i64>,
    pub fds: Vec<i64>,
}

/// The tests of a per-test hunt that leaked: how many of how many hunted,
/// and the first few with their deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakingTests {
    pub leaked: u64,
    pub hunted: u64,
    pub named: Vec<LeakingTest>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakingTest {
    pub name: String,
    pub deltas: TestDeltas,
}

impl LeakingTests {
    /// Tests named, at most.
    pub const NAMED: usize = 10;
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
    /// Tests `-k` left out (not in `total`: they did not run).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deselected: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// On a debug build, the release-built extension modules that were
    /// loaded (numpy's, pyarrow's wheels): their references escape
    /// `sys.gettotalrefcount()`, so the reference deltas are not trusted
    /// and the verdict rests on memory blocks and descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_extensions: Option<ReleaseExtensions>,
    /// Each test was hunted on its own (pytest and unittest files): the
    /// deltas are the tests' (`InnerTest::hunt_leaks`), these are empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub per_test: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Release-built extension modules loaded in a debug interpreter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseExtensions {
    /// How many were loaded.
    pub count: u32,
    /// The first few (by module name, else file name), sorted.
    #[serde(default)]
    pub names: Vec<String>,
}

impl ReleaseExtensions {
    /// Names kept, at most, and the characters of each: what a harness
    /// reported is bounded whatever it sent.
    pub const NAMED: usize = 8;
    pub const NAME_CHARS: usize = 120;

    /// Within the bounds above; the count at least the names kept.
    pub fn bounded(mut self) -> ReleaseExtensions {
        self.names.truncate(Self::NAMED);
        for name in &mut self.names {
            if let Some((at, _)) = name.char_indices().nth(Self::NAME_CHARS) {
                name.truncate(at);
            }
        }
        self.count = self.count.max(self.names.len() as u32);
        self
    }
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
            (self.deselected, "deselected"),
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

/// CPython's regrtest rule on one set of deltas (`refs`: those to judge).
fn regrtest_rule<'a>(
    refs: Option<&'a [i64]>,
    blocks: &'a [i64],
    fds: &'a [i64],
) -> Vec<(LeakKind, &'a [i64])> {
    let every_run_grew = |deltas: &[i64]| !deltas.is_empty() && deltas.iter().all(|d| *d >= 1);
    let mut found = Vec::new();
    if let Some(refs) = refs.filter(|d| every_run_grew(d)) {
        found.push((LeakKind::References, refs));
    }
    if every_run_grew(blocks) {
        found.push((LeakKind::MemoryBlocks, blocks));
    }
    if fds.iter().any(|d| *d != 0) {
        found.push((LeakKind::FileDescriptors, fds));
    }
    found
}

impl LeakHunt {
    /// CPython's regrtest rule: references or memory blocks leak when every
    /// measured delta is at least 1; file descriptors when any delta is not 0.
    /// References are judged only where they can be trusted ([`Self::judged_refs`]).
    /// What leaked, with its deltas; empty when nothing did (or a run failed).
    pub fn leaks(&self) -> Vec<(LeakKind, &[i64])> {
        if self.failed_run.is_some() {
            return Vec::new();
        }
        regrtest_rule(self.judged_refs(), &self.blocks, &self.fds)
    }

    /// What a test of a per-test hunt leaked, by the same rule, its
    /// references judged only where this hunt trusts them.
    pub fn test_leaks<'a>(&self, deltas: &'a TestDeltas) -> Vec<(LeakKind, &'a [i64])> {
        let refs = deltas.refs.as_deref().filter(|_| !self.refs_untrusted());
        regrtest_rule(refs, &deltas.blocks, &deltas.fds)
    }

    /// The tests of a per-test hunt that leaked; `None` when the hunt was not per test.
    pub fn leaking_tests(&self, tests: &[InnerTest]) -> Option<LeakingTests> {
        if !self.per_test {
            return None;
        }
        let hunted: Vec<(&InnerTest, &TestDeltas)> =
            tests.iter().filter_map(|t| t.hunt_leaks.as_ref().map(|d| (t, d))).collect();
        let leaking: Vec<_> = hunted.iter().filter(|(_, d)| !self.test_leaks(d).is_empty()).collect();
        Some(LeakingTests {
            leaked: leaking.len() as u64,
            hunted: hunted.len() as u64,
            named: leaking
                .iter()
                .take(LeakingTests::NAMED)
                .map(|(t, d)| LeakingTest { name: t.name.clone(), deltas: (*d).clone() })
                .collect(),
        })
    }

    pub fn leaked(&self) -> bool {
        !self.leaks().is_empty()
    }

    /// Whether the reference deltas were measured but cannot be trusted:
    /// release-built extension modules were loaded in the debug interpreter.
    pub fn refs_untrusted(&self) -> bool {
        self.refs.is_some() && self.release_extensions.as_ref().is_some_and(|r| r.count > 0)
    }

    /// The reference deltas the verdict may use: measured (a debug build) and trusted.
    pub fn judged_refs(&self) -> Option<&[i64]> {
        self.refs.as_deref().filter(|_| !self.refs_untrusted())
    }

    /// Within what a report may hold, whatever a harness sent.
    pub fn bounded(mut self) -> LeakHunt {
        self.release_extensions = self.release_extensions.map(ReleaseExtensions::bounded);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunt(refs: Option<Vec<i64>>, blocks: Vec<i64>, fds: Vec<i64>) -> LeakHunt {
        LeakHunt {
            warmups: 3,
            runs: 3,
            debug_build: refs.is_some(),
            refs,
            blocks,
            fds,
            failed_run: None,
            release_extensions: None,
            per_test: false,
        }
    }

    fn numpy_loaded() -> Option<ReleaseExtensions> {
        Some(ReleaseExtensions { count: 1, names: vec!["numpy._core._multiarray_umath".into()] })
    }

    #[test]
    fn release_built_extensions_leave_the_verdict_to_blocks_and_descriptors() {
        // A clean numpy loop on 3.11-dbg: references grow, nothing else does.
        let clean = LeakHunt {
            release_extensions: numpy_loaded(),
            ..hunt(Some(vec![28, 28, 28]), vec![0; 3], vec![0; 3])
        };
        assert!(clean.refs_untrusted());
        assert_eq!(clean.judged_refs(), None);
        assert!(!clean.leaked(), "untrusted references are no leak");
        // Keeping one array per run still leaks, by its memory block.
        let keeps = LeakHunt {
            release_extensions: numpy_loaded(),
            ..hunt(Some(vec![12, 12, 12]), vec![1; 3], vec![0; 3])
        };
        assert_eq!(keeps.leaks(), [(LeakKind::MemoryBlocks, &[1, 1, 1][..])]);
        let fds = LeakHunt {
            release_extensions: numpy_loaded(),
            ..hunt(Some(vec![0; 3]), vec![0; 3], vec![1, 0, 0])
        };
        assert_eq!(fds.leaks(), [(LeakKind::FileDescriptors, &[1, 0, 0][..])]);
        // Nothing loaded, or a count of none: references are judged as ever.
        let none = ReleaseExtensions { count: 0, names: vec![] };
        let trusted =
            LeakHunt { release_extensions: Some(none), ..hunt(Some(vec![1, 1, 1]), vec![0; 3], vec![0; 3]) };
        assert!(!trusted.refs_untrusted());
        assert_eq!(trusted.leaks(), [(LeakKind::References, &[1, 1, 1][..])]);
        // A release build measures no references: nothing to distrust.
        let release = LeakHunt { release_extensions: numpy_loaded(), ..hunt(None, vec![0; 3], vec![0; 3]) };
        assert!(!release.refs_untrusted());
    }

    #[test]
    fn what_a_harness_says_of_extensions_is_bounded() {
        let sent = ReleaseExtensions {
            count: 2,
            names: (0..100).map(|i| format!("m{i}{}", "é".repeat(500))).collect(),
        };
        let kept = LeakHunt { release_extensions: Some(sent), ..LeakHunt::default() }.bounded();
        let kept = kept.release_extensions.unwrap();
        assert_eq!(kept.names.len(), ReleaseExtensions::NAMED);
        assert!(kept.names.iter().all(|n| n.chars().count() == ReleaseExtensions::NAME_CHARS), "{kept:?}");
        assert_eq!(kept.count, ReleaseExtensions::NAMED as u32, "never fewer than the names kept");
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
