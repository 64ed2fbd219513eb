//! What runs inside a module's container, and what comes back out of it.
//!
//! Each module runs as `/usr/bin/time -f MARKER python3 -u MODULE`: GNU time is
//! the module's parent, so it reads the module's peak RSS from the kernel
//! (wait4's ru_maxrss) without touching the module's own process, then prints
//! one marker line last on stderr. This file owns that contract both ways.

pub mod declarations;
pub mod detect;
pub mod memray;
pub mod summary;

use std::path::Path;

use anyhow::Result;

use crate::engine::kinds::killed_by_signal_exit;
use crate::error::usage;
use crate::model::captured::Captured;
use crate::model::inner::{Framework, InnerReport};
use crate::model::status::{Execution, FailureCause, FrameworkStop, SkipCause, Status};
use declarations::{Declarations, HarnessChoice, HuntLeaks};
use detect::Harness;

/// Our format line: GNU time prints it after the module ended, last on stderr.
/// `%x` is the module's exit status (0 when a signal killed it), `%M` its peak RSS in KiB.
const MARKER: &str = "@@pymaccounter ";
const FORMAT: &str = "@@pymaccounter exit=%x peak_rss_kib=%M";
/// GNU time's own status line, printed just before the format line when the module did not exit 0.
const TERMINATED: &[u8] = b"Command terminated by signal ";
const EXITED: &[u8] = b"Command exited with non-zero status ";

/// Where modules' scratch space is, inside the container: their working
/// directory, writable and executable, fresh in every container.
pub const SCRATCH_DIR: &str = "/scratch";
/// `/tmp` is scratch too (tmpfs, executable).
pub const TMP_DIR: &str = "/tmp";
/// Tells each container which attempt of its job it is (1-based; more than
/// one with `--repeat` or `--retries`), so a module can tell a rerun.
pub const ATTEMPT_VARIABLE: &str = "PYMACCOUNTER_ATTEMPT";

/// The last line on stderr: the container's peak memory as its cgroup
/// accounts it (the module's process, its children, and files in the tmpfs
/// folders: what the memory limit acts on), read once GNU time has ended.
const CGROUP_MARKER: &[u8] = b"@@pymaccounter-cgroup peak=";
/// A small shell around GNU time that reads the cgroup's peak after it:
/// `memory.peak` on cgroup v2, `memory.max_usage_in_bytes` on v1.
const CGROUP_WRAPPER: &str = "\"$@\"; status=$?; \
    peak=$(cat /sys/fs/cgroup/memory.peak 2>/dev/null || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null); \
    echo \"@@pymaccounter-cgroup peak=$peak\" >&2; exit $status";

/// The harness script in the test image (from `xtask/container/`).
pub const HARNESS_SCRIPT: &str = "/opt/pymaccounter/harness.py";
/// The harness's report: its last line on stderr, before GNU time's.
const INNER_MARKER: &[u8] = b"@@pymaccounter-harness ";

/// How one module is run, decided on the host from its source (never run
/// there) and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSetup {
    pub harness: Harness,
    /// Tests the module defines and will not run when run as a script.
    pub unrun_tests: Option<Framework>,
    pub hunt_leaks: Option<HuntLeaks>,
    pub declarations: Declarations,
}

impl ModuleSetup {
    /// A module's setup. The command line's explicit `--harness` and
    /// `--hunt-leaks` win over the module's declarations, which win over `auto`.
    /// In a pytest project `auto` is pytest for every test file, as the
    /// project's own `pytest` runs them (TestCase classes, package-relative
    /// imports and all); elsewhere it reads the module (`detect.rs`).
    pub fn of(
        source: &str,
        file: &str,
        harness: HarnessChoice,
        hunt: Option<HuntLeaks>,
        pytest_project: bool,
    ) -> Result<ModuleSetup> {
        let declarations = declarations::parse(source, file)?;
        let detection = detect::detect(source);
        let choice = match (harness, declarations.harness) {
            (HarnessChoice::Auto, Some(declared)) => declared,
            (chosen, _) => chosen,
        };
        let harness = match choice {
            HarnessChoice::Auto if pytest_project => Harness::Pytest,
            HarnessChoice::Auto => detection.harness,
            HarnessChoice::Script => Harness::Script,
            HarnessChoice::Unittest => Harness::Unittest,
            HarnessChoice::Pytest => Harness::Pytest,
        };
        let unrun_tests = match harness {
            Harness::Script => detection.unrun_tests(),
            Harness::Unittest | Harness::Pytest => None,
        };
        let hunt_leaks = hunt.or(declarations.hunt_leaks);
        if hunt_leaks.is_some() && harness == Harness::Pytest {
            return Err(usage(format!(
                "{file} runs under pytest, and --hunt-leaks hunts in scripts and unittest modules only \
                 (drop hunt-leaks for it, or --skip it)"
            )));
        }
        Ok(ModuleSetup { harness, unrun_tests, hunt_leaks, declarations })
    }

    /// Whether the harness script runs the module (else the interpreter runs it directly).
    fn uses_harness(&self) -> bool {
        self.harness != Harness::Script || self.hunt_leaks.is_some()
    }
}

pub fn harness_name(harness: Harness) -> &'static str {
    match harness {
        Harness::Script => "script",
        Harness::Unittest => "unittest",
        Harness::Pytest => "pytest",
    }
}

/// The container command for a module: GNU time runs the interpreter on the
/// module (a script as `python3 -u module.py` would), or on the harness,
/// which runs the module's tests or hunts its leaks. `args` follow the module.
/// With `memray`, memray runs the module (or the harness) and records into
/// `memray::CAPTURE`.
/// `-u`: what the module printed before a crash, a kill or its deadline
/// reaches the runner; unlike `PYTHONUNBUFFERED` in the environment, the
/// Pythons it starts keep their usual buffering (CPython's test_cmd_line
/// checks it).
pub fn container_command(
    interpreter: &str,
    module_path: &Path,
    setup: &ModuleSetup,
    args: &[String],
    memray: bool,
) -> Vec<String> {
    let mut command: Vec<String> =
        ["/bin/sh", "-c", CGROUP_WRAPPER, "sh", "/usr/bin/time", "-f", FORMAT, interpreter, "-u"]
            .map(str::to_string)
            .to_vec();
    if memray {
        command.extend(
            ["-m", "memray", "run", "--quiet", "--force", "--output", memray::CAPTURE].map(str::to_string),
        );
    }
    if setup.uses_harness() {
        command.extend([HARNESS_SCRIPT.to_string(), "--mode".into(), harness_name(setup.harness).into()]);
        if let Some(hunt) = setup.hunt_leaks {
            command.extend(["--hunt-leaks".into(), hunt.to_string()]);
        }
    }
    command.push(module_path.to_string_lossy().into_owned());
    command.extend(args.iter().cloned());
    command
}

/// Splits the cgroup's peak off the end of stderr (first: it is the last
/// line). `None` when the container was killed before the wrapper could read it.
pub fn take_container_peak(stderr: &mut Captured) -> Option<u64> {
    let end = stderr.end();
    let body = end.strip_suffix(b"\n")?;
    let at = rfind(body, CGROUP_MARKER)?;
    let value = std::str::from_utf8(&body[at + CGROUP_MARKER.len()..]).ok()?;
    let len = end.len() - at;
    // The line is removed even when the kernel gave no number (an empty value).
    let peak = digits(value);
    stderr.truncate_end(len);
    peak
}

/// Splits the harness's report off the end of stderr (after GNU time's
/// trailer was taken). `None` when the module ran without the harness, or
/// when the harness never got to write it (killed).
pub fn take_inner_report(stderr: &mut Captured) -> Option<InnerReport> {
    let end = stderr.end();
    let body = end.strip_suffix(b"\n")?;
    let at = rfind(body, INNER_MARKER)?;
    let report: InnerReport = serde_json::from_slice(&body[at + INNER_MARKER.len()..]).ok()?;
    let len = end.len() - at;
    stderr.truncate_end(len);
    Some(report)
}

/// The verdict on a module that ran to its end, given what its harness
/// reported and its declarations: tests run or not, leaks, budget.
/// `blocks_counted` says whether the allocator lets `sys.getallocatedblocks()` see leaks.
pub fn judge(
    execution: Execution,
    setup: &ModuleSetup,
    inner: Option<&InnerReport>,
    peak: Option<u64>,
    blocks_counted: bool,
) -> Execution {
    let harnessed = setup.uses_harness();
    if execution.status() == Status::Pass {
        if harnessed && inner.is_none() {
            return Execution::Failed { exit_code: 0, why: Some(FailureCause::NoHarnessReport) };
        }
        return judge_pass(setup, inner, peak, blocks_counted);
    }
    match execution.unexplained_failure() {
        Some(exit_code) if harnessed => {
            Execution::Failed { exit_code, why: framework_failure(setup, exit_code, inner) }
        }
        _ => execution,
    }
}

fn judge_pass(
    setup: &ModuleSetup,
    inner: Option<&InnerReport>,
    peak: Option<u64>,
    blocks_counted: bool,
) -> Execution {
    if let Some(framework) = setup.unrun_tests {
        return Execution::Failed { exit_code: 0, why: Some(FailureCause::TestsNotRun { framework }) };
    }
    if setup.hunt_leaks.is_some() {
        let hunt = inner.and_then(|i| i.hunt_leaks.as_ref());
        let leaked = hunt.filter(|hunt| hunt.leaked());
        // A release build counts no references, and plain malloc no blocks:
        // a reference leak it expects cannot be seen, which is no failure.
        let blind = hunt.is_some_and(|h| h.refs.is_none()) && !blocks_counted;
        match (leaked, setup.declarations.expect_leak) {
            (Some(hunt), false) => return Execution::Leaked { hunt: hunt.clone() },
            (None, true) if blind => return Execution::Skipped { why: Some(SkipCause::LeakInvisibleHere) },
            (None, true) => {
                return Execution::Failed { exit_code: 0, why: Some(FailureCause::ExpectedLeakNotFound) }
            }
            (Some(_), true) | (None, false) => {}
        }
    }
    match (peak, setup.declarations.max_peak_rss) {
        (Some(peak_bytes), Some(budget_bytes)) if peak_bytes > budget_bytes => {
            Execution::OverBudget { peak_bytes, budget_bytes }
        }
        _ => Execution::Passed,
    }
}

/// Why a harnessed module failed, from the framework's exit code and what
/// the harness reported. `None` when the exit code is all there is to say.
fn framework_failure(
    setup: &ModuleSetup,
    exit_code: i32,
    inner: Option<&InnerReport>,
) -> Option<FailureCause> {
    /// Failed tests named in a reason, at most.
    const NAMED: usize = 10;
    let error = inner.and_then(|i| i.error.clone());
    if let Some(run) = inner.and_then(|i| i.hunt_leaks.as_ref()).and_then(|h| h.failed_run) {
        return Some(FailureCause::LeakHuntRunFailed { run });
    }
    let stopped = |stop| {
        setup.harness.framework().map(|framework| FailureCause::FrameworkStopped {
            framework,
            stop,
            error: error.clone(),
        })
    };
    let failed = inner.map_or(0, |i| i.counts.failed + i.counts.errors);
    match (setup.harness, exit_code) {
        (_, 1) if failed > 0 => {
            let inner = inner.expect("counts came from it");
            let names =
                inner.tests.iter().filter(|t| t.failed()).take(NAMED).map(|t| t.name.clone()).collect();
            Some(FailureCause::TestsFailed { failed, total: inner.counts.total(), names })
        }
        (Harness::Pytest, 2) => stopped(FrameworkStop::Interrupted),
        (Harness::Pytest, 3) => stopped(FrameworkStop::InternalError),
        (Harness::Unittest | Harness::Pytest, 4) => stopped(FrameworkStop::UsageError),
        (Harness::Unittest | Harness::Pytest, 5) => stopped(FrameworkStop::NoTestsCollected),
        _ => error.map(|error| FailureCause::HarnessError { error }),
    }
}

/// What the measurement trailer said, removed from the module's stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    pub peak_rss_bytes: Option<u64>,
    /// The signal that killed the module, as GNU time saw it.
    pub signal: Option<i32>,
    /// GNU time's trailer was found and agrees with the container's exit code:
    /// the module ran to its end, so the exit code is the module's (never the engine's).
    pub ran: bool,
}

/// The trailer found at the end of stderr.
#[derive(Debug, PartialEq, Eq)]
struct Trailer {
    /// Bytes it takes at the end of the stream (status line and format line).
    len: usize,
    peak_rss_kib: u64,
    signal: Option<i32>,
}

/// Splits GNU time's trailer off the end of stderr. `container_exit` is the
/// engine's exit code for the container (GNU time's own: the module's code,
/// or 128 + N when signal N killed it).
///
/// Only facts count: the format line must be the last line of the stream
/// (GNU time writes it after the module has ended, and the module cannot
/// write after that); a status line counts only when it sits immediately
/// before it and agrees with both `%x` and the exit code. Anything else the
/// module printed stays its output, whatever it looks like.
pub fn take_measurement(stderr: &mut Captured, container_exit: Option<i32>) -> Measurement {
    let Some(trailer) = container_exit.and_then(|code| parse_trailer(stderr.end(), code)) else {
        return Measurement::default();
    };
    stderr.truncate_end(trailer.len);
    Measurement {
        peak_rss_bytes: Some(trailer.peak_rss_kib.saturating_mul(1024)),
        signal: trailer.signal,
        ran: true,
    }
}

fn parse_trailer(end: &[u8], container_exit: i32) -> Option<Trailer> {
    // The format line: from the last marker to the end, one line ending in '\n'.
    let body = end.strip_suffix(b"\n")?;
    let marker_at = rfind(body, MARKER.as_bytes())?;
    let fields = std::str::from_utf8(&body[marker_at + MARKER.len()..]).ok()?;
    let (exit, peak) = match fields.split(' ').collect::<Vec<_>>()[..] {
        [exit, peak] => (exit.strip_prefix("exit=")?, peak.strip_prefix("peak_rss_kib=")?),
        _ => return None,
    };
    let exit: i32 = digits(exit)?;
    let peak_rss_kib: u64 = digits(peak)?;
    // GNU time's status line, when one sits right before (it may start mid-line).
    let before = &body[..marker_at];
    let status = |prefix: &[u8]| -> Option<(i32, usize)> {
        let line = before.strip_suffix(b"\n")?;
        let number_at = line.iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
        let number: i32 = digits(std::str::from_utf8(&line[number_at..]).ok()?)?;
        line[..number_at].ends_with(prefix).then(|| (number, before.len() - (number_at - prefix.len())))
    };
    let format_len = end.len() - marker_at;
    if let Some((signal, status_len)) = status(TERMINATED) {
        if exit == 0 && container_exit == killed_by_signal_exit(signal) {
            return Some(Trailer { len: format_len + status_len, peak_rss_kib, signal: Some(signal) });
        }
    }
    if let Some((code, status_len)) = status(EXITED) {
        if code != 0 && exit == code && container_exit == code {
            return Some(Trailer { len: format_len + status_len, peak_rss_kib, signal: None });
        }
    }
    // Without a status line GNU time says the module exited 0.
    (exit == 0 && container_exit == 0).then_some(Trailer { len: format_len, peak_rss_kib, signal: None })
}

/// A plain decimal number (no sign, no spaces, at most 9 digits for an i32, 19 for a u64).
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|window| window == needle)
}

/// How a module ended. `oom_killed` is the engine's word, asked only when it matters.
pub fn classify(
    exit_code: i32,
    measurement: &Measurement,
    oom_killed: bool,
    container_peak: Option<u64>,
) -> Execution {
    if oom_killed {
        return Execution::OomKilled { container_peak, process_peak: measurement.peak_rss_bytes };
    }
    if let Some(signal) = measurement.signal {
        return Execution::Crashed { signal };
    }
    Execution::from_exit_code(exit_code)
}

/// Whether an exit code could mean the memory limit's SIGKILL (then we ask the engine).
pub fn may_be_oom(exit_code: i32, measurement: &Measurement) -> bool {
    exit_code == killed_by_signal_exit(9) || measurement.signal == Some(9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::capture::{capture, END_WINDOW, KEEP_HEAD, KEEP_TAIL, KEEP_WHOLE};

    /// What GNU time appends after a module that exited with `code`, or was killed by `signal`.
    fn gnu_time(code: i32, signal: Option<i32>, peak_kib: u64) -> String {
        let status = match (signal, code) {
            (Some(signal), _) => format!("Command terminated by signal {signal}\n"),
            (None, 0) => String::new(),
            (None, code) => format!("Command exited with non-zero status {code}\n"),
        };
        let exit = if signal.is_some() { 0 } else { code };
        format!("{status}@@pymaccounter exit={exit} peak_rss_kib={peak_kib}\n")
    }

    fn judge_(
        execution: Execution,
        setup: &ModuleSetup,
        inner: Option<&InnerReport>,
        peak: Option<u64>,
    ) -> Execution {
        judge(execution, setup, inner, peak, true)
    }

    fn script() -> ModuleSetup {
        ModuleSetup::of("print(1)\n", "test_a.py", HarnessChoice::Auto, None, false).unwrap()
    }

    fn setup(source: &str, choice: HarnessChoice, hunt: Option<HuntLeaks>) -> ModuleSetup {
        ModuleSetup::of(source, "test_a.py", choice, hunt, false).unwrap()
    }

    const PYTEST_FILE: &str = "def test_fails():\n    assert 1 == 2\n";

    #[test]
    fn harnessed_modules_run_through_the_harness_with_their_arguments() {
        let pytest = setup(PYTEST_FILE, HarnessChoice::Auto, None);
        let command = container_command(
            "python3.11d",
            Path::new("/t/test_a.py"),
            &pytest,
            &["-k".into(), "x".into()],
            false,
        );
        assert_eq!(
            &command[7..],
            ["python3.11d", "-u", HARNESS_SCRIPT, "--mode", "pytest", "/t/test_a.py", "-k", "x"]
        );
        let hunting = setup("print(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        let command = container_command("python3", Path::new("m.py"), &hunting, &[], false);
        assert_eq!(&command[9..], [HARNESS_SCRIPT, "--mode", "script", "--hunt-leaks", "3:3", "m.py"]);
        let plain = container_command("python3", Path::new("m.py"), &script(), &["-v".into()], false);
        let profiled = container_command("python3", Path::new("m.py"), &script(), &[], true);
        assert_eq!(
            &profiled[9..],
            ["-m", "memray", "run", "--quiet", "--force", "--output", memray::CAPTURE, "m.py"]
        );
        assert_eq!(&plain[7..], ["python3", "-u", "m.py", "-v"]);
    }

    #[test]
    fn declarations_choose_unless_the_command_line_does() {
        let declared = "# pymaccounter: harness = unittest\ndef test_x(): pass\n";
        assert_eq!(setup(declared, HarnessChoice::Auto, None).harness, Harness::Unittest);
        assert_eq!(setup(declared, HarnessChoice::Script, None).harness, Harness::Script);
        let hunt = "# pymaccounter: hunt-leaks = 1:2\nprint(1)\n";
        assert_eq!(
            setup(hunt, HarnessChoice::Auto, None).hunt_leaks,
            Some(HuntLeaks { warmups: 1, runs: 2 })
        );
        assert!(ModuleSetup::of(PYTEST_FILE, "t.py", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT), false)
            .is_err());
    }

    #[test]
    fn a_script_that_defines_tests_and_runs_none_is_never_a_pass() {
        let forced = setup(PYTEST_FILE, HarnessChoice::Script, None);
        let verdict = judge_(Execution::Passed, &forced, None, None);
        assert_eq!(verdict.status(), crate::model::status::Status::Fail);
        assert!(crate::report::words::reason(&verdict).unwrap().contains("--harness pytest"), "{verdict:?}");
        let guarded = setup(
            "def test_helper(): pass\nif __name__ == '__main__':\n    test_helper()\n",
            HarnessChoice::Auto,
            None,
        );
        assert_eq!(judge_(Execution::Passed, &guarded, None, None), Execution::Passed);
    }

    #[test]
    fn framework_exit_codes_read_as_reasons() {
        let pytest = setup(PYTEST_FILE, HarnessChoice::Auto, None);
        let no_tests = judge_(Execution::from_exit_code(5), &pytest, None, None);
        assert!(crate::report::words::reason(&no_tests).unwrap().contains("no tests ran"), "{no_tests:?}");
        let inner: InnerReport = serde_json::from_str(
            r#"{"harness":"pytest","tests":[{"name":"test_a","outcome":"passed"},{"name":"test_b","outcome":"failed","message":"AssertionError"}],"counts":{"passed":1,"failed":1}}"#,
        )
        .unwrap();
        let failed = judge_(Execution::from_exit_code(1), &pytest, Some(&inner), None);
        assert_eq!(crate::report::words::reason(&failed).unwrap(), "1 of 2 tests failed: test_b");
        assert_eq!(
            judge_(Execution::Passed, &pytest, None, None),
            Execution::Failed { exit_code: 0, why: Some(FailureCause::NoHarnessReport) }
        );
    }

    #[test]
    fn leaks_and_budgets_decide_a_pass() {
        let leak_data = |blocks: Vec<i64>| InnerReport {
            harness: Harness::Script,
            hunt_leaks: Some(crate::model::inner::LeakHunt {
                warmups: 1,
                runs: 3,
                blocks,
                fds: vec![0, 0, 0],
                ..Default::default()
            }),
            ..Default::default()
        };
        let hunting = setup("print(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        let leaky = leak_data(vec![1, 2, 1]);
        assert_eq!(
            judge_(Execution::Passed, &hunting, Some(&leaky), None).status(),
            crate::model::status::Status::Leak
        );
        assert_eq!(
            judge_(Execution::Passed, &hunting, Some(&leak_data(vec![1, 0, 0])), None),
            Execution::Passed
        );
        let expected =
            setup("# pymaccounter: expect = leak\nprint(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        assert_eq!(judge_(Execution::Passed, &expected, Some(&leaky), None), Execution::Passed);
        let missing = judge_(Execution::Passed, &expected, Some(&leak_data(vec![0, 0, 0])), None);
        assert!(crate::report::words::reason(&missing).unwrap().contains("expect = leak"));
        let budget = setup("# pymaccounter: max-peak-rss = 1 MiB\nprint(1)\n", HarnessChoice::Auto, None);
        assert_eq!(
            judge_(Execution::Passed, &budget, None, Some(2 << 20)),
            Execution::OverBudget { peak_bytes: 2 << 20, budget_bytes: 1 << 20 }
        );
        assert_eq!(judge_(Execution::Passed, &budget, None, Some(1 << 20)), Execution::Passed);
    }

    #[test]
    fn the_cgroup_line_is_taken_off_stderr_first() {
        let mut stderr = Captured::from_text(&format!(
            "boom\n{}@@pymaccounter-cgroup peak=4440064\n",
            gnu_time(0, None, 10)
        ));
        assert_eq!(take_container_peak(&mut stderr), Some(4440064));
        assert_eq!(take_measurement(&mut stderr, Some(0)).peak_rss_bytes, Some(10 * 1024));
        assert_eq!(stderr.text(), "boom\n");
        let mut unreadable = Captured::from_text("@@pymaccounter-cgroup peak=\n");
        assert_eq!(take_container_peak(&mut unreadable), None);
        assert_eq!(unreadable.text(), "");
    }

    #[test]
    fn an_expected_leak_no_measure_can_see_is_a_skip_with_the_reason() {
        let expected =
            setup("# pymaccounter: expect = leak\nprint(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        let quiet = InnerReport {
            harness: Harness::Script,
            hunt_leaks: Some(crate::model::inner::LeakHunt {
                warmups: 3,
                runs: 3,
                blocks: vec![0, 0, 0],
                fds: vec![0, 0, 0],
                ..Default::default()
            }),
            ..Default::default()
        };
        let blind = judge(Execution::Passed, &expected, Some(&quiet), None, false);
        assert_eq!(blind.status(), crate::model::status::Status::Skip);
        assert!(crate::report::words::reason(&blind).unwrap().contains("PYTHONMALLOC=malloc"), "{blind:?}");
        let seeing = judge(Execution::Passed, &expected, Some(&quiet), None, true);
        assert_eq!(seeing.status(), crate::model::status::Status::Fail);
    }

    #[test]
    fn the_harness_line_is_taken_off_stderr() {
        let mut stderr = Captured::from_text(
            "Ran 1 test\n@@pymaccounter-harness {\"harness\":\"unittest\",\"counts\":{\"passed\":1}}\n",
        );
        let report = take_inner_report(&mut stderr).unwrap();
        assert_eq!(report.counts.passed, 1);
        assert_eq!(stderr.text(), "Ran 1 test\n");
        let mut plain = Captured::from_text("no report here\n");
        assert!(take_inner_report(&mut plain).is_none());
        assert_eq!(plain.text(), "no report here\n");
    }

    fn measure(text: &str, container_exit: i32) -> (Measurement, String) {
        let mut stderr = Captured::from_text(text);
        let m = take_measurement(&mut stderr, Some(container_exit));
        (m, stderr.text())
    }

    #[test]
    fn the_format_line_matches_what_the_parser_reads() {
        let command = container_command("python3", Path::new("test_a.py"), &script(), &[], false);
        assert_eq!(command[3..], ["sh", "/usr/bin/time", "-f", FORMAT, "python3", "-u", "test_a.py"]);
        let line = FORMAT.replace("%x", "0").replace("%M", "8236") + "\n";
        assert_eq!(measure(&line, 0).0.peak_rss_bytes, Some(8236 * 1024));
    }

    #[test]
    fn the_trailer_gives_the_peak_and_is_removed() {
        let (m, rest) = measure(&format!("warning: x\n{}", gnu_time(0, None, 8236)), 0);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(8236 * 1024), signal: None, ran: true });
        assert_eq!(rest, "warning: x\n");
    }

    #[test]
    fn a_signal_counts_when_gnu_time_says_so_and_the_exit_code_agrees() {
        let text = format!("Fatal Python error: Segmentation fault{}", gnu_time(0, Some(11), 9000));
        let (m, rest) = measure(&text, 139);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(9000 * 1024), signal: Some(11), ran: true });
        assert_eq!(rest, "Fatal Python error: Segmentation fault", "a status line mid-line is removed");
    }

    #[test]
    fn a_non_zero_exit_line_is_removed() {
        let (m, rest) = measure(&format!("AssertionError: boom\n{}", gnu_time(1, None, 1)), 1);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(1024), signal: None, ran: true });
        assert_eq!(rest, "AssertionError: boom\n");
    }

    #[test]
    fn a_module_cannot_fake_a_crash_or_a_peak() {
        let fake = gnu_time(0, Some(11), 1);
        // Printed, then exit 0: GNU time's real line follows and says exit 0.
        let (m, rest) = measure(&format!("{fake}{}", gnu_time(0, None, 9000)), 0);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(9000 * 1024), signal: None, ran: true });
        assert_eq!(rest, fake, "the fake stays the module's output");
        // Printed, then exit 139: a fail with exit code 139, not a crash.
        let (m, rest) = measure(&format!("{fake}{}", gnu_time(139, None, 9000)), 139);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(9000 * 1024), signal: None, ran: true });
        assert_eq!(rest, fake);
        // A status line the exit code contradicts is module text.
        let (m, rest) = measure(&fake, 0);
        assert_eq!((m.signal, rest.as_str()), (None, "Command terminated by signal 11\n"));
        // A format line the exit code contradicts is not GNU time's either.
        assert_eq!(measure(&fake, 1), (Measurement::default(), fake.clone()));
        let (m, _) = measure(&format!("Command terminated by signal 11\n{}", gnu_time(0, None, 5)), 0);
        assert_eq!(m.signal, None);
        // Status line and %x disagree.
        let odd = "Command exited with non-zero status 3\n@@pymaccounter exit=0 peak_rss_kib=5\n";
        assert_eq!(measure(odd, 3).0, Measurement::default());
        assert_eq!(measure(odd, 0).0.signal, None);
        // A status line that is not on its own line end is not GNU time's.
        let glued = "Command terminated by signal 11@@pymaccounter exit=0 peak_rss_kib=5\n";
        assert_eq!(measure(glued, 139).0, Measurement::default());
        let (m, rest) = measure(glued, 0);
        assert_eq!((m.signal, rest.as_str()), (None, "Command terminated by signal 11"));
    }

    #[test]
    fn only_the_last_line_at_the_very_end_counts() {
        let trailer = gnu_time(0, None, 5);
        for text in [
            format!("{trailer}more output\n"),
            trailer.trim_end().to_string(),
            format!("{trailer}\n"),
            "@@pymaccounter exit=0 peak_rss_kib=5 extra\n".to_string(),
            "@@pymaccounter exit=0 peak_rss_kib=-5\n".to_string(),
            "@@pymaccounter exit=+0 peak_rss_kib=5\n".to_string(),
            "@@pymaccounter exit=0 peak_rss_kib=99999999999999999999999\n".to_string(),
            "@@pymaccounter peak_rss_kib=5\n".to_string(),
            String::new(),
        ] {
            let (m, rest) = measure(&text, 0);
            assert_eq!(m, Measurement::default(), "{text:?}");
            assert_eq!(rest, text, "nothing is removed without a trailer");
        }
    }

    #[test]
    fn a_trailer_mid_line_is_read_and_the_module_text_before_it_kept() {
        let (m, rest) = measure(&format!("no newline{}", gnu_time(0, None, 7)), 0);
        assert_eq!(m.peak_rss_bytes, Some(7 * 1024));
        assert_eq!(rest, "no newline");
        let (m, rest) = measure(&format!("\u{fffd}\x1b[0m{}", gnu_time(2, None, 7)), 2);
        assert!(m.ran);
        assert_eq!(rest, "\u{fffd}\x1b[0m");
    }

    #[test]
    fn no_trailer_means_no_measurement() {
        let text = "docker: Error response from daemon\n";
        assert_eq!(measure(text, 125), (Measurement::default(), text.to_string()));
        let (m, _) = measure(&gnu_time(125, None, 9), 125);
        assert!(m.ran, "exit 125 from a module that ran is the module's");
        let mut stderr = Captured::from_text(&gnu_time(0, None, 9));
        assert_eq!(take_measurement(&mut stderr, None), Measurement::default());
    }

    /// The trailer survives capture at every size around the cut, in any chunking.
    #[test]
    fn the_trailer_is_read_whole_whatever_the_stream_size() {
        let temp = tempfile::tempdir().unwrap();
        let trailer = gnu_time(0, Some(11), 12345);
        let sizes = [
            0,
            100,
            KEEP_HEAD - 40,
            KEEP_HEAD - 20,
            KEEP_HEAD,
            KEEP_HEAD + 3,
            KEEP_WHOLE - 60,
            KEEP_WHOLE - 30,
        ]
        .into_iter()
        .chain([KEEP_WHOLE, KEEP_WHOLE + 1, KEEP_HEAD + KEEP_TAIL + 17, 3 * KEEP_WHOLE, 1_000_003]);
        for size in sizes {
            for (newline_every, chunk) in [(80, 16384), (usize::MAX, 4096), (80, 1)] {
                if chunk == 1 && size > 2 * KEEP_WHOLE {
                    continue;
                }
                let mut data: Vec<u8> =
                    (0..size).map(|i| if (i + 1) % newline_every == 0 { b'\n' } else { b'e' }).collect();
                data.extend_from_slice(trailer.as_bytes());
                let source = Chunks(&data, chunk);
                let mut stderr = capture(source, temp.path().join("spill.log"), u64::MAX, |_| {}).unwrap();
                assert!(stderr.end().len() <= END_WINDOW);
                let m = take_measurement(&mut stderr, Some(139));
                assert_eq!(m.signal, Some(11), "size {size}, chunk {chunk}");
                assert_eq!(m.peak_rss_bytes, Some(12345 * 1024), "size {size}, chunk {chunk}");
                assert_eq!(stderr.total_bytes, size as u64);
                let text = stderr.text();
                assert!(!text.contains("Command terminated") && !text.contains("@@pymaccounter"), "{size}");
                assert!(text.ends_with('e') || text.ends_with('\n') || size == 0, "{size}");
            }
        }
    }

    struct Chunks<'a>(&'a [u8], usize);

    impl std::io::Read for Chunks<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buffer.len()).min(self.0.len());
            buffer[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn endings_follow_the_contract() {
        use crate::model::status::Status;
        let none = Measurement::default();
        let segv = Measurement { signal: Some(11), ..Measurement::default() };
        assert_eq!(classify(0, &none, false, None).status(), Status::Pass);
        assert_eq!(classify(1, &none, false, None).status(), Status::Fail);
        assert_eq!(classify(77, &none, false, None).status(), Status::Skip);
        assert_eq!(classify(137, &none, true, None).status(), Status::Oom);
        assert_eq!(classify(139, &segv, false, None), Execution::Crashed { signal: 11 });
        assert!(may_be_oom(137, &none) && !may_be_oom(1, &none));
    }
}
