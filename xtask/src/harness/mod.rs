//! What runs inside a module's container, and what comes back out of it.
//!
//! Each container's first process (PID 1, which nothing inside can kill) is a
//! small shell, `WRAPPER`. It reads a per-container nonce from its stdin (the
//! runner writes it; it is in no argument or variable the module can see),
//! then runs the monitor (`xtask/container/monitor.pl`) → `python3 -u MODULE`:
//! the monitor is the module's parent, so it reads the module's peak RSS from
//! the kernel (wait4's ru_maxrss) without touching the module's own process,
//! samples its memory over time, and writes both into unlinked files (a
//! descriptor, not a path, that the module does not inherit; the monitor is
//! non-dumpable, so no /proc path reaches them either). When the module ends,
//! or its deadline does (the monitor's, inside the container: it holds even
//! when the runner is gone), the wrapper kills whatever the module left
//! running, then writes one line last on stderr, carrying the nonce: the exit
//! status, the monitor's figures, the cgroup's peak. The harness's verdict
//! (every test of the file) is also
//! written into an unlinked file; the wrapper copies it, once nothing but
//! itself is left alive, into a file the runner mounts (`VERDICT_FILE`),
//! behind a header carrying the nonce and the verdict's length; the runner
//! reads that file as untrusted (`read_verdict`). A remote engine cannot
//! mount a host file: there the verdict is a line before the wrapper's last
//! one, bounded to 24 KiB. This file owns that contract both ways.

pub mod declarations;
pub mod detect;
pub mod memray;
pub mod summary;
pub mod taken;

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::engine::container::Mount;
use crate::engine::kinds::killed_by_signal_exit;
use crate::model::captured::Captured;
use crate::model::inner::{Framework, InnerReport};
use crate::model::series::MemorySeries;
use crate::model::status::{Execution, FailureCause, FrameworkStop, SkipCause, Status};
use declarations::{Declarations, HarnessChoice, HuntLeaks};
use detect::Harness;

/// Where modules' scratch space is, inside the container: their working
/// directory, writable and executable, fresh in every container.
pub const SCRATCH_DIR: &str = "/scratch";
/// `/tmp` is scratch too (tmpfs, executable).
pub const TMP_DIR: &str = "/tmp";
/// Tells each container which attempt of its job it is (1-based; more than
/// one with `--repeat` or `--retries`), so a module can tell a rerun.
pub const ATTEMPT_VARIABLE: &str = "PYMACCOUNTER_ATTEMPT";

/// The monitor's status when the deadline ended the command (as `timeout`'s).
const TIMED_OUT_STATUS: i32 = 124;

/// The container's command around the module: `sh -c WRAPPER sh SECONDS
/// file|report|- COMMAND...`. `file` and `report` open descriptor 4 for the
/// harness's verdict; `file` copies it into `VERDICT_FILE` (opened on
/// descriptor 6 before the module starts, and closed for the module, so a
/// path the module replaced or a mode it changed is not what the wrapper
/// writes through), `report` prints it on stderr. The header at the file's
/// start is written after everything else in the container was killed,
/// through the wrapper's own descriptor, at offset 0: what the module wrote
/// into the file before is overwritten or lies past the length the header
/// gives. The cgroup's peak is `memory.peak` on cgroup v2,
/// `memory.max_usage_in_bytes` on v1: the module's process, its children and
/// files in the tmpfs folders (what the memory limit acts on), which no
/// module can reset. The kernel's count of OOM kills in the container's
/// cgroup (`oom_kill` in v2's `memory.events`, v1's `memory.oom_control`)
/// tells a kill by the memory limit from any other SIGKILL, so the engine
/// need not be asked after the container is gone (it is run with `--rm`).
/// Nothing runs before the wrapper in a fresh `/tmp`, so its unlinked files
/// need no random names, and what it reads it reads with the shell's own
/// `read`: each process it spares is a few ms per container.
const WRAPPER: &str = r#"read -r nonce && [ -n "$nonce" ] || exit 125
deadline=$1; report=$2; shift 2
exec 5<>/tmp/.pymaccounter-time || exit 125
if [ "$report" != - ]; then exec 4<>/tmp/.pymaccounter-verdict || exit 125; fi
if [ "$report" = file ]; then exec 6<>/.pymaccounter-verdict || exit 125; fi
# --memray (these two blocks; see harness/memray.rs): the runner mounted this file. fd 9 takes
# memray's start-up notes; the capture is summarised once nothing of the module's runs, with none
# of the wrapper's descriptors open, and the summary copied behind a nonce-carrying header.
memray=; if [ -e /.pymaccounter-memray ]; then memray=1
  exec 8<>/.pymaccounter-memray || exit 125
  exec 9<>/tmp/.pymaccounter-memray-notes || exit 125
fi
# The monitor (monitor.pl, under an execute-only perl: see the Dockerfile) unlinks the scratch
# files, then runs the module as its child with none of descriptors 5-8: it writes the module's
# exit, peak RSS and time on 5 and its memory series on 7 (unless --env
# PYMACCOUNTER_MEMORY_SERIES=off), and exits 124 at the deadline. PERL5OPT is emptied for perl
# and given back to the module.
series=on; [ "${PYMACCOUNTER_MEMORY_SERIES-}" = off ] && series=off
exec 7<>/tmp/.pymaccounter-series || exit 125
PERL5OPT= /opt/pymaccounter-perl /opt/pymaccounter/monitor.pl "$deadline" $series "${PERL5OPT+=$PERL5OPT}" \
  /tmp/.pymaccounter-time /tmp/.pymaccounter-verdict /tmp/.pymaccounter-memray-notes /tmp/.pymaccounter-series \
  -- "$@" </dev/null 6>&- 8>&-
status=$?
kill -s KILL -- -1 2>/dev/null
series=; read -r series </proc/self/fd/7
case $series in *[!0-9,\;-]*) series= ;; esac
measured=; read -r measured </proc/self/fd/5
cg=/sys/fs/cgroup; peak=; ooms=
{ read -r peak <$cg/memory.peak || read -r peak <$cg/memory/memory.max_usage_in_bytes; } 2>/dev/null
for f in $cg/memory.events $cg/memory/memory.oom_control; do
  [ -r $f ] && while read -r key value; do [ "$key" = oom_kill ] && ooms=$value; done <$f
done
if [ -n "$memray" ]; then
  exec 3<>/tmp/.pymaccounter-memray-summary || exit 125; rm -f /tmp/.pymaccounter-memray-summary
  timeout -k 2 60 "$1" -I /opt/pymaccounter/memray_summary.py /memray/capture.bin /proc/self/fd/9 \
    /tmp/.pymaccounter-memray-tests </dev/null >&3 2>&3 4>&- 5>&- 6>&- 7>&- 8>&-
  summarised=$?
  kill -s KILL -- -1 2>/dev/null
  { printf '@@pymaccounter-%s memray %s %s\n' "$nonce" "$summarised" "$(wc -c </proc/self/fd/3)"; cat /proc/self/fd/3; } >&8
fi
if [ "$report" = file ]; then
  size=$(wc -c </proc/self/fd/4)
  { printf '@@pymaccounter-%s harness %s\n' "$nonce" "$size"; cat /proc/self/fd/4; } >&6
elif [ "$report" = report ]; then
  verdict=$(cat /proc/self/fd/4)
  [ -n "$verdict" ] && printf '@@pymaccounter-%s harness %s\n' "$nonce" "$verdict" >&2
fi
[ -n "$series" ] && printf '@@pymaccounter-%s series %s\n' "$nonce" "$series" >&2
printf '@@pymaccounter-%s status=%s cgroup_peak=%s oom_kills=%s time=%s\n' "$nonce" "$status" "$peak" "$ooms" "$measured" >&2
exit $status"#;
/// Where the wrapper copies the harness's verdict, inside the container: one
/// host file mounted alone (a mount point, which the module can neither
/// remove nor replace, with no folder around it to add files to).
pub const VERDICT_FILE: &str = "/.pymaccounter-verdict";
/// The verdict file's name in the attempt's host folder.
const VERDICT_NAME: &str = "verdict";
/// The most of the verdict file the runner reads (the harness keeps its
/// verdict under 48 MiB: `REPORT_ALL_LIMIT` in `harness.py`).
pub const VERDICT_CAP: u64 = 64 << 20;
/// The largest file a module with a verdict file may write (its container's
/// file size limit, as with memray's capture): the file is on the host's
/// disk, which no memory limit bounds.
pub const VERDICT_WRITE_CAP: u64 = 1 << 30;

/// How the harness's verdict leaves the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictChannel {
    /// A host file mounted at `VERDICT_FILE`: every test (a local engine).
    File,
    /// A line on stderr before the wrapper's, at most 24 KiB (a remote
    /// engine, which cannot mount a host file).
    Stderr,
}
/// What the harness's verdict line starts with (then JSON).
const HARNESS_MARKER: &[u8] = b"@@pymaccounter-harness ";
/// The descriptor the harness writes its verdict to (`--report-fd`).
const REPORT_FD: &str = "4";

/// The wrapper's shell in the test image: a copy of `/bin/sh` that is
/// execute-only (see `Dockerfile`), so the wrapper is not dumpable and no
/// module reads its nonce from `/proc/1/mem`.
pub const WRAPPER_SHELL: &str = "/opt/pymaccounter-sh";

/// The harness script in the test image (from `xtask/container/`).
pub const HARNESS_SCRIPT: &str = "/opt/pymaccounter/run_harness.py";

/// How one module is run, decided on the host from its source (never run
/// there) and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSetup {
    pub harness: Harness,
    /// Tests the module defines and will not run when run as a script.
    pub unrun_tests: Option<Framework>,
    pub hunt_leaks: Option<HuntLeaks>,
    pub declarations: Declarations,
    /// `-k EXPR`: the harness runs only the tests it selects.
    pub keyword: Option<String>,
    /// A pytest module using pytest-memray's `limit_memory` / `limit_leaks`
    /// markers: its environment gets pytest-memray and the harness turns it on.
    pub memray_markers: bool,
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
        let memray_markers = harness == Harness::Pytest && detect::uses_memray_markers(source);
        Ok(ModuleSetup { harness, unrun_tests, hunt_leaks, declarations, keyword: None, memray_markers })
    }

    /// Whether `-k` leaves the module out before it starts: a script has no
    /// tests to pass the expression to, so its path is what must match.
    pub fn deselected_by(&self, keyword: Option<&crate::keyword::Expression>, module: &str) -> bool {
        keyword.is_some_and(|k| {
            self.harness == Harness::Script && !k.matches(&crate::keyword::module_keywords(module))
        })
    }

    /// Whether the harness script runs the module (else the interpreter runs it directly).
    pub fn uses_harness(&self) -> bool {
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

/// The container command for a module: the wrapper with the module's
/// deadline, the monitor running the interpreter on the module (a script as
/// `python3 -u module.py` would), or on the harness, which runs the module's
/// tests or hunts its leaks. `args` follow the module. With `memray`, memray
/// runs the module (or the harness) through `memray::LAUNCHER`, which records into
/// `memray::CAPTURE`, or per test (`Recording::Tests`) leaves the recording
/// to pytest-memray, which then checks the markers and keeps each test's
/// capture in `memray::TESTS_FOLDER`.
/// `-u`: what the module printed before a crash, a kill or its deadline
/// reaches the runner; unlike `PYTHONUNBUFFERED` in the environment, the
/// Pythons it starts keep their usual buffering (CPython's test_cmd_line
/// checks it).
pub fn container_command(
    interpreter: &str,
    module_path: &Path,
    setup: &ModuleSetup,
    args: &[String],
    memray: Option<memray::Recording>,
    timeout: Duration,
    verdict: VerdictChannel,
) -> Vec<String> {
    let report = match (setup.uses_harness(), verdict) {
        (false, _) => "-",
        (true, VerdictChannel::File) => "file",
        (true, VerdictChannel::Stderr) => "report",
    };
    let deadline = timeout.as_secs().max(1).to_string();
    let mut command: Vec<String> =
        vec![WRAPPER_SHELL.into(), "-c".into(), WRAPPER.into(), "sh".into(), deadline, report.into()];
    command.extend([interpreter.to_string(), "-u".into()]);
    if let Some(recording) = memray {
        command.extend(memray::launcher(recording).map(str::to_string));
    }
    if setup.uses_harness() {
        command.extend([HARNESS_SCRIPT.to_string(), "--mode".into(), harness_name(setup.harness).into()]);
        command.extend(["--report-fd".into(), REPORT_FD.into()]);
        command.push("--kill-strays".into());
        if verdict == VerdictChannel::File {
            command.push("--report-all".into());
        }
        if let Some(hunt) = setup.hunt_leaks {
            command.extend(["--hunt-leaks".into(), hunt.to_string()]);
        }
        if setup.memray_markers {
            // memray runs one tracker at a time: under --memray, pytest-memray's
            // are the only ones (per test), or, when the whole module is recorded
            // (no environment to hold pytest-memray), the harness says why not.
            command.push(match memray {
                None => "--memray-markers=check".into(),
                Some(memray::Recording::Module) => "--memray-markers=unchecked".into(),
                Some(memray::Recording::Tests) => format!("--memray-markers=record:{}", memray::TESTS_FOLDER),
            });
        }
        if let Some(expression) = setup.keyword.as_ref().filter(|_| setup.harness != Harness::Script) {
            command.extend(["--keyword".into(), expression.clone()]);
        }
    }
    command.push(module_path.to_string_lossy().into_owned());
    command.extend(args.iter().cloned());
    command
}

/// Creates an attempt's empty verdict file in its host folder and returns
/// its mount. Writable by anyone inside (the container's user may map to
/// any host user); on the host it sits in the runner's private folder.
pub fn verdict_mount(host_dir: &Path) -> Result<Mount> {
    use std::os::unix::fs::PermissionsExt;
    let source = host_dir.join(VERDICT_NAME);
    std::fs::write(&source, b"")?;
    std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o666))?;
    Ok(Mount::Output { source, target: VERDICT_FILE.to_string() })
}

/// The harness's verdict from an attempt's verdict file, then the file
/// removed (a module may have filled it up to `VERDICT_WRITE_CAP`). Trusted
/// only behind the wrapper's header: this container's nonce and the
/// verdict's length, at the file's start. `Ok(None)`: the harness wrote no
/// verdict (it never got to its end); `Err`: the file is not what the
/// wrapper writes, which is no verdict either.
pub fn read_verdict(host_dir: &Path, nonce: &str) -> Result<Option<InnerReport>, String> {
    let path = host_dir.join(VERDICT_NAME);
    let bytes = taken::read_regular(&path, VERDICT_CAP);
    let _ = std::fs::remove_file(&path);
    parse_verdict(&bytes?, nonce)
}

fn parse_verdict(bytes: &[u8], nonce: &str) -> Result<Option<InnerReport>, String> {
    let header = format!("@@pymaccounter-{nonce} harness ");
    let rest = bytes.strip_prefix(header.as_bytes()).ok_or("the verdict file lacks the wrapper's header")?;
    let end = rest.iter().position(|&b| b == b'\n').ok_or("the verdict file's header is cut")?;
    let size: usize = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|text| digits(text.trim()))
        .ok_or("the verdict file's header gives no length")?;
    let body = rest[end + 1..].get(..size).ok_or("the verdict file is shorter than its header says")?;
    if size == 0 {
        return Ok(None);
    }
    let line = body.strip_suffix(b"\n").unwrap_or(body);
    let json = line.strip_prefix(HARNESS_MARKER).ok_or("the verdict is not the harness's")?;
    serde_json::from_slice(json)
        .map(|inner| Some(bounded(inner)))
        .map_err(|e| format!("the verdict is not the harness's: {e}"))
}

/// A fresh nonce for one container: 128 random bits, in hex.
pub fn nonce() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The verdict on a module that ran to its end, given what its harness
/// reported and its declarations: tests run or not, leaks, budget. `peak` is
/// the larger of the module's peak RSS and its container's peak (which the
/// module cannot reset); with a budget, no peak is no pass.
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
        // The exit code and the verdict must agree: a pass with failed tests is none.
        if inner.is_some_and(|i| i.counts.failed + i.counts.errors > 0) {
            return Execution::Failed { exit_code: 0, why: framework_failure(setup, 1, inner) };
        }
        return judge_pass(setup, inner, peak, blocks_counted);
    }
    // -k selected none of its tests: deselected, which is no "ran none".
    if let (Some(expression), Some(inner)) = (&setup.keyword, inner) {
        let none_selected = inner.counts.deselected > 0 && inner.counts.total() == 0;
        if execution.status() == Status::Skip && none_selected {
            return Execution::Skipped {
                why: Some(SkipCause::Deselected { expression: expression.clone() }),
            };
        }
    }
    // pytest given the file by name runs it; collecting its folder would not.
    if execution.status() == Status::Skip
        && setup.harness == Harness::Pytest
        && inner.is_some_and(|i| i.not_collected)
    {
        return Execution::Skipped { why: Some(SkipCause::NotCollected) };
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
        // Per test (pytest, unittest): the module leaks when a test does.
        let tests = hunt.and_then(|h| h.leaking_tests(inner.map_or(&[], |i| i.tests.as_slice())));
        let leaked = hunt.filter(|hunt| match &tests {
            Some(tests) => tests.leaked > 0,
            None => hunt.leaked(),
        });
        // A release build counts no references (and release-built extension
        // modules make a debug build's untrustworthy), and plain malloc no
        // blocks: a leak it expects cannot be seen, which is no failure.
        let blind = hunt.is_some_and(|h| h.judged_refs().is_none()) && !blocks_counted;
        match (leaked, setup.declarations.expect_leak) {
            (Some(hunt), false) => return Execution::Leaked { hunt: hunt.clone(), tests },
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
        (None, Some(_)) => Execution::Failed { exit_code: 0, why: Some(FailureCause::PeakNotMeasured) },
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
    // pytest's own words for a stop: the harness's error, else the first
    // test that errored (a collection error names its file and exception).
    let first_error = inner.and_then(|i| i.tests.iter().find(|t| t.failed())).map(|t| match &t.message {
        Some(message) => format!("{}: {message}", t.name),
        None => t.name.clone(),
    });
    let said = error.clone().or(first_error);
    let stopped = |stop| {
        setup.harness.framework().map(|framework| FailureCause::FrameworkStopped {
            framework,
            stop,
            error: said.clone(),
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

/// What the wrapper's last lines said, removed from the module's stderr.
#[derive(Debug, Default, PartialEq)]
pub struct Measurement {
    pub peak_rss_bytes: Option<u64>,
    /// The cgroup's peak (the container's memory, which the module cannot reset).
    pub container_peak_bytes: Option<u64>,
    /// The signal that killed the module, as the monitor saw it.
    pub signal: Option<i32>,
    /// How many processes the container's memory limit killed (the kernel's
    /// count, read by the wrapper); `None` where the cgroup does not say.
    pub oom_kills: Option<u64>,
    /// The wrapper's line was found and agrees with the container's exit code:
    /// the module ran, so the exit code is the module's (never the engine's).
    pub ran: bool,
    /// The container's own deadline ended the module.
    pub timed_out: bool,
    /// The module's own wall time, from its start (the monitor's ELAPSED).
    pub elapsed: Option<Duration>,
    /// The harness's verdict, when it wrote one.
    pub inner: Option<InnerReport>,
    /// The module's memory over time, as its sampler wrote it (never judged).
    pub memory_series: Option<MemorySeries>,
}

/// Splits the wrapper's lines off the end of stderr. `container_exit` is the
/// engine's exit code for the container (the wrapper's: the module's code,
/// 128 + N when signal N killed it, 124 when its deadline did).
///
/// Only lines carrying this container's nonce count, and only at the very
/// end of the stream, where the wrapper writes them after everything in the
/// container but itself was killed. Anything else the module printed stays its
/// output, whatever it looks like.
pub fn take_measurement(stderr: &mut Captured, nonce: &str, container_exit: Option<i32>) -> Measurement {
    let Some((cut, measurement)) = container_exit.and_then(|code| parse_trailer(stderr.end(), nonce, code))
    else {
        return Measurement::default();
    };
    let len = stderr.end().len() - cut;
    stderr.truncate_end(len);
    measurement
}

/// The measurement and where the wrapper's lines start in `end`.
fn parse_trailer(end: &[u8], nonce: &str, container_exit: i32) -> Option<(usize, Measurement)> {
    let body = end.strip_suffix(b"\n")?;
    let marker = format!("@@pymaccounter-{nonce} ");
    let at = rfind(body, marker.as_bytes())?;
    let line = std::str::from_utf8(&body[at + marker.len()..]).ok()?;
    let rest = line.strip_prefix("status=")?;
    let (status, rest) = rest.split_once(" cgroup_peak=")?;
    let (cgroup, rest) = rest.split_once(" oom_kills=")?;
    let (oom_kills, time) = rest.split_once(" time=")?;
    if digits::<i32>(status)? != container_exit {
        return None;
    }
    // Empty where the cgroup keeps no count; anything else must be one.
    let oom_kills = if oom_kills.is_empty() { None } else { Some(digits(oom_kills)?) };
    let mut measurement =
        Measurement { container_peak_bytes: digits(cgroup), oom_kills, ran: true, ..Measurement::default() };
    match time.split(' ').collect::<Vec<_>>()[..] {
        [exit, peak, elapsed] => {
            // `-`: the monitor could not ask the kernel for the peak (an architecture it does not know).
            let (exit, peak): (i32, Option<u64>) =
                (digits(exit)?, if peak == "-" { None } else { Some(digits(peak)?) });
            // The monitor's EXIT is 0 when a signal killed the module; its own status is then 128 + N.
            let signal = (exit == 0
                && container_exit > 128
                && container_exit == killed_by_signal_exit(container_exit - 128))
            .then_some(container_exit - 128);
            if exit != container_exit && signal.is_none() {
                return None;
            }
            measurement.peak_rss_bytes = peak.map(|kib| kib.saturating_mul(1024));
            measurement.signal = signal;
            measurement.elapsed = seconds(elapsed);
        }
        // No figures: the monitor was stopped before it wrote them (the deadline, or a kill).
        [""] => measurement.timed_out = container_exit == TIMED_OUT_STATUS,
        _ => return None,
    }
    let mut cut = at;
    // The sampler's line, right before the status line (untrusted content);
    // it starts mid-line after output that did not end with a newline.
    let series_marker = format!("@@pymaccounter-{nonce} series ");
    if let Some(before) = body[..at].strip_suffix(b"\n") {
        if let Some(from) = rfind(before, series_marker.as_bytes()) {
            let records = &before[from + series_marker.len()..];
            if !records.contains(&b'\n') {
                measurement.memory_series = parse_series(records);
                cut = from;
            }
        }
    }
    let verdict_marker = format!("@@pymaccounter-{nonce} harness ");
    if let Some(verdict) = body[..cut].strip_suffix(b"\n") {
        if let Some(from) = rfind(verdict, verdict_marker.as_bytes()) {
            let line = &verdict[from + verdict_marker.len()..];
            let json = line.strip_prefix(HARNESS_MARKER).unwrap_or(line);
            if !json.contains(&b'\n') {
                measurement.inner = serde_json::from_slice(json).ok().map(bounded);
                cut = from;
            }
        }
    }
    Some((cut, measurement))
}

/// The sampler's records, `TTTTTTTTT,RRRRRRRRRR,CCCCCCCCCC;` each: a bucket's
/// end in ms, the module's RSS and the cgroup's memory in KiB (`-` when
/// unknown). A module could have written them, so all or nothing: every
/// record whole, at most `MAX_POINTS`, time never going back; else no series.
fn parse_series(records: &[u8]) -> Option<MemorySeries> {
    let text = std::str::from_utf8(records).ok()?.strip_suffix(';')?;
    let mut series = MemorySeries::default();
    for record in text.split(';') {
        let [t, rss, cgroup] = record.split(',').collect::<Vec<_>>()[..] else { return None };
        if t.len() != 9 || rss.len() != 10 || cgroup.len() != 10 {
            return None;
        }
        series.t_ms.push(digits(t)?);
        series.rss_bytes.push(digits::<u64>(rss)? * 1024);
        let unknown = cgroup.bytes().all(|b| b == b'-');
        series.cgroup_bytes.push(if unknown { None } else { Some(digits::<u64>(cgroup)? * 1024) });
    }
    series.is_well_formed().then_some(series)
}

/// What the harness said, within what a report may hold (the line itself
/// is bounded by the captured stream's end window).
fn bounded(mut inner: InnerReport) -> InnerReport {
    inner.hunt_leaks = inner.hunt_leaks.map(|hunt| hunt.bounded());
    inner
}

/// `12.34` (the monitor's ELAPSED, as GNU time's `%e`): a duration.
fn seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let whole: u64 = digits(whole)?;
    let fraction = &fraction[..fraction.len().min(3)];
    let millis = digits::<u64>(fraction)? * 10u64.pow(3 - fraction.len() as u32);
    Some(Duration::from_secs(whole) + Duration::from_millis(millis))
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

/// Whether the memory limit killed the module: a SIGKILL, and the cgroup
/// counted an OOM kill (or the engine left its own word: `oom_marker`).
pub fn oom_killed(exit_code: i32, measurement: &Measurement, oom_marker: bool) -> bool {
    let killed = exit_code == killed_by_signal_exit(9) || measurement.signal == Some(9);
    killed && (measurement.oom_kills.is_some_and(|kills| kills > 0) || oom_marker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::capture::{capture, END_WINDOW, KEEP_HEAD, KEEP_TAIL, KEEP_WHOLE};

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    /// What the wrapper appends after a module that exited with `code`, or
    /// was killed by `signal`, when the monitor wrote its figures.
    fn wrapper(code: i32, signal: Option<i32>, peak_kib: u64) -> String {
        let (status, exit) = match signal {
            Some(signal) => (killed_by_signal_exit(signal), 0),
            None => (code, code),
        };
        format!("@@pymaccounter-{NONCE} status={status} cgroup_peak=4440064 oom_kills=0 time={exit} {peak_kib} 1.25\n")
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
        let minute = Duration::from_secs(60);
        let command = container_command(
            "python3.11d",
            Path::new("/t/test_a.py"),
            &pytest,
            &["-k".into(), "x".into()],
            None,
            minute,
            VerdictChannel::File,
        );
        assert_eq!(&command[..6], [WRAPPER_SHELL, "-c", WRAPPER, "sh", "60", "file"]);
        assert_eq!(
            &command[6..],
            [
                "python3.11d",
                "-u",
                HARNESS_SCRIPT,
                "--mode",
                "pytest",
                "--report-fd",
                "4",
                "--kill-strays",
                "--report-all",
                "/t/test_a.py",
                "-k",
                "x"
            ]
        );
        let hunting = setup("print(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        let command = container_command(
            "python3",
            Path::new("m.py"),
            &hunting,
            &[],
            None,
            minute,
            VerdictChannel::Stderr,
        );
        assert_eq!(
            &command[8..],
            [
                HARNESS_SCRIPT,
                "--mode",
                "script",
                "--report-fd",
                "4",
                "--kill-strays",
                "--hunt-leaks",
                "3:3",
                "m.py"
            ]
        );
        let plain = container_command(
            "python3",
            Path::new("m.py"),
            &script(),
            &["-v".into()],
            None,
            minute,
            VerdictChannel::File,
        );
        let profiled = container_command(
            "python3",
            Path::new("m.py"),
            &script(),
            &[],
            Some(memray::Recording::Module),
            minute,
            VerdictChannel::File,
        );
        assert_eq!(&profiled[8..], [memray::LAUNCHER, memray::CAPTURE, "9", "m.py"]);
        assert_eq!(
            &plain[4..],
            ["60", "-", "python3", "-u", "m.py", "-v"],
            "a script gets no verdict channel"
        );
    }

    #[test]
    fn the_verdict_file_is_trusted_only_behind_the_wrappers_header() {
        let verdict = r#"@@pymaccounter-harness {"harness":"pytest","counts":{"passed":2}}"#;
        let file = |header: &str, body: &str| format!("{header}{body}").into_bytes();
        let good = format!("@@pymaccounter-{NONCE} harness {}\n", verdict.len() + 1);
        let read = parse_verdict(&file(&good, &format!("{verdict}\n")), NONCE).unwrap().unwrap();
        assert_eq!(read.counts.passed, 2);
        // What the module left past the length the header gives is not read.
        let trailing = parse_verdict(&file(&good, &format!("{verdict}\n{{\"junk\"")), NONCE);
        assert_eq!(trailing.unwrap().unwrap().counts.passed, 2);
        // No verdict: the harness never got to its end.
        let empty = format!("@@pymaccounter-{NONCE} harness 0\n");
        assert_eq!(parse_verdict(&file(&empty, verdict), NONCE), Ok(None));
        let other = "ffffffffffffffffffffffffffffffff";
        for forged in [
            file("", verdict),
            file(&format!("@@pymaccounter-{other} harness {}\n", verdict.len()), verdict),
            file(&format!("@@pymaccounter-{NONCE} harness {}\n", verdict.len() + 50), verdict),
            file(&format!("@@pymaccounter-{NONCE} harness x\n"), verdict),
            file(&format!("@@pymaccounter-{NONCE} harness 5\n"), "{}{}{"),
            file(&format!("@@pymaccounter-{NONCE} harness "), ""),
        ] {
            assert!(parse_verdict(&forged, NONCE).is_err(), "{}", String::from_utf8_lossy(&forged));
        }
        let dir = tempfile::tempdir().unwrap();
        let mount = verdict_mount(dir.path()).unwrap();
        assert_eq!(mount, Mount::Output { source: dir.path().join("verdict"), target: VERDICT_FILE.into() });
        assert!(read_verdict(dir.path(), NONCE).unwrap_err().contains("header"));
        assert!(!dir.path().join("verdict").exists(), "read once, then removed");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("verdict")).unwrap();
        assert!(read_verdict(dir.path(), NONCE).unwrap_err().contains("symbolic link"));
    }

    #[test]
    fn nonces_are_fresh_and_plain() {
        let (a, b) = (nonce().unwrap(), nonce().unwrap());
        assert_ne!(a, b);
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
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
        // pytest files are hunted too, per test.
        let pytest =
            ModuleSetup::of(PYTEST_FILE, "t.py", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT), false);
        assert_eq!(pytest.unwrap().hunt_leaks, Some(HuntLeaks::DEFAULT));
    }

    #[test]
    fn pytest_memrays_markers_are_checked_and_under_memray_record_each_test() {
        let marked = "import pytest\n\n@pytest.mark.limit_memory('10 MB')\ndef test_a():\n    pass\n";
        let setup = setup(marked, HarnessChoice::Auto, None);
        assert!(setup.memray_markers);
        let minute = Duration::from_secs(60);
        let command = |memray| {
            container_command("python3", Path::new("m.py"), &setup, &[], memray, minute, VerdictChannel::File)
        };
        assert!(command(None).contains(&"--memray-markers=check".to_string()));
        let whole = command(Some(memray::Recording::Module));
        assert!(whole.contains(&"--memray-markers=unchecked".to_string()));
        assert_eq!(&whole[8..11], [memray::LAUNCHER, memray::CAPTURE, "9"]);
        // Per test: no tracker of ours, pytest-memray's keep each test's capture.
        let per_test = command(Some(memray::Recording::Tests));
        assert_eq!(&per_test[8..11], [memray::LAUNCHER, "-", "9"]);
        assert!(per_test.contains(&format!("--memray-markers=record:{}", memray::TESTS_FOLDER)));
        assert_eq!(memray::Recording::of(true, true), memray::Recording::Tests);
        assert_eq!(memray::Recording::of(true, false), memray::Recording::Module);
        assert_eq!(memray::Recording::of(false, true), memray::Recording::Module);
        assert!(!self::setup(PYTEST_FILE, HarnessChoice::Auto, None).memray_markers);
        // A script that happens to name the marker runs no pytest: nothing to check.
        assert!(!self::setup(&format!("{marked}test_a()\n"), HarnessChoice::Script, None).memray_markers);
    }

    #[test]
    fn a_per_test_hunt_names_the_tests_that_leak() {
        use crate::model::inner::{InnerTest, LeakHunt, ReleaseExtensions, TestDeltas, TestOutcome};
        let test = |name: &str, refs: i64, blocks: i64| InnerTest {
            name: name.into(),
            outcome: TestOutcome::Passed,
            message: None,
            traceback: None,
            duration_s: 0.0,
            hunt_leaks: Some(TestDeltas {
                refs: Some(vec![refs; 3]),
                blocks: vec![blocks; 3],
                fds: vec![0; 3],
            }),
            peak_bytes: None,
        };
        let report = |tests: Vec<InnerTest>, release_extensions| InnerReport {
            harness: Harness::Pytest,
            hunt_leaks: Some(LeakHunt {
                warmups: 3,
                runs: 3,
                debug_build: true,
                refs: Some(vec![]),
                per_test: true,
                release_extensions,
                ..LeakHunt::default()
            }),
            counts: crate::model::inner::InnerCounts { passed: tests.len() as u64, ..Default::default() },
            tests,
            ..Default::default()
        };
        let hunting = setup(PYTEST_FILE, HarnessChoice::Pytest, Some(HuntLeaks::DEFAULT));
        // A cache that fills in the first measured run and stops is no leak.
        let mut cache = test("test_cache", 0, 0);
        cache.hunt_leaks.as_mut().unwrap().blocks = vec![3, 0, 0];
        let clean = report(vec![test("test_a", 0, 0), cache], None);
        assert_eq!(judge_(Execution::Passed, &hunting, Some(&clean), None), Execution::Passed);
        let leaky = report(vec![test("test_a", 0, 0), test("test_p[1]", 1, 0), test("test_c", 2, 0)], None);
        let verdict = judge_(Execution::Passed, &hunting, Some(&leaky), None);
        let Execution::Leaked { tests: Some(tests), .. } = &verdict else { panic!("{verdict:?}") };
        assert_eq!((tests.leaked, tests.hunted), (2, 3));
        assert_eq!(tests.named.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["test_p[1]", "test_c"]);
        let reason = crate::report::words::reason(&verdict).unwrap();
        assert!(
            reason.starts_with("2 of 3 tests leak under --hunt-leaks (each test 3 runs after 3 warm-ups): test_p[1] (references [1, 1, 1]), test_c (references [2, 2, 2])"),
            "{reason}"
        );
        // References not trusted: only blocks and descriptors judge each test.
        let numpy = Some(ReleaseExtensions { count: 1, names: vec!["numpy".into()] });
        let untrusted = report(vec![test("test_p[1]", 5, 0), test("test_k", 9, 1)], numpy);
        let verdict = judge_(Execution::Passed, &hunting, Some(&untrusted), None);
        let Execution::Leaked { tests: Some(tests), .. } = &verdict else { panic!("{verdict:?}") };
        assert_eq!(tests.named.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["test_k"]);
        // expect = leak holds per test too.
        let expected = setup(
            &format!("# pymaccounter: expect = leak\n{PYTEST_FILE}"),
            HarnessChoice::Pytest,
            Some(HuntLeaks::DEFAULT),
        );
        assert_eq!(judge_(Execution::Passed, &expected, Some(&leaky), None), Execution::Passed);
        assert_eq!(
            judge_(Execution::Passed, &expected, Some(&clean), None),
            Execution::Failed { exit_code: 0, why: Some(FailureCause::ExpectedLeakNotFound) }
        );
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
    fn release_built_extensions_on_a_debug_build_leave_references_out_of_the_verdict() {
        use crate::model::inner::{LeakHunt, ReleaseExtensions};
        let numpy =
            || Some(ReleaseExtensions { count: 3, names: vec!["numpy._core._multiarray_umath".into()] });
        let report = |refs: i64, blocks: i64, release_extensions| InnerReport {
            harness: Harness::Script,
            hunt_leaks: Some(LeakHunt {
                warmups: 3,
                runs: 3,
                debug_build: true,
                refs: Some(vec![refs; 3]),
                blocks: vec![blocks; 3],
                fds: vec![0; 3],
                failed_run: None,
                release_extensions,
                per_test: false,
            }),
            ..Default::default()
        };
        let hunting = setup("print(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        assert_eq!(
            judge_(Execution::Passed, &hunting, Some(&report(28, 0, numpy())), None),
            Execution::Passed
        );
        let keeps = judge_(Execution::Passed, &hunting, Some(&report(12, 1, numpy())), None);
        let reason = crate::report::words::reason(&keeps).unwrap();
        assert!(
            reason.starts_with("leaks under --hunt-leaks: memory blocks [1, 1, 1] over 3 runs"),
            "{reason}"
        );
        assert!(
            reason
                .contains("references [12, 12, 12] not judged: 3 release-built extension modules are loaded"),
            "the reason shows the references and says why they were left out: {reason}"
        );
        let trusted = judge_(Execution::Passed, &hunting, Some(&report(1, 0, None)), None);
        assert_eq!(trusted.status(), crate::model::status::Status::Leak);
        // An expected leak that only references could show, under plain malloc, cannot be seen.
        let expected =
            setup("# pymaccounter: expect = leak\nprint(1)\n", HarnessChoice::Auto, Some(HuntLeaks::DEFAULT));
        let blind = judge(Execution::Passed, &expected, Some(&report(5, 0, numpy())), None, false);
        assert_eq!(blind, Execution::Skipped { why: Some(SkipCause::LeakInvisibleHere) });
    }

    #[test]
    fn what_the_harness_says_of_extensions_is_bounded_when_read() {
        let names: Vec<String> = (0..50).map(|i| format!("\"m{i}{}\"", "x".repeat(300))).collect();
        let verdict = format!(
            r#"{{"harness":"script","hunt_leaks":{{"warmups":1,"runs":1,"debug_build":true,"refs":[1],"blocks":[0],"fds":[0],"release_extensions":{{"count":0,"names":[{}]}}}}}}"#,
            names.join(",")
        );
        let stderr = format!("@@pymaccounter-{NONCE} harness {verdict}\n{}", wrapper(0, None, 1));
        let (measurement, _) = measure(&stderr, 0);
        let hunt = measurement.inner.unwrap().hunt_leaks.unwrap();
        let extensions = hunt.release_extensions.as_ref().unwrap();
        assert_eq!(extensions.names.len(), crate::model::inner::ReleaseExtensions::NAMED);
        assert!(extensions
            .names
            .iter()
            .all(|n| n.len() <= crate::model::inner::ReleaseExtensions::NAME_CHARS));
        assert!(hunt.refs_untrusted(), "names with a count of 0 still count as loaded");
    }

    #[test]
    fn no_peak_is_no_pass_under_a_budget() {
        let budget = setup("# pymaccounter: max-peak-rss = 1 MiB\nprint(1)\n", HarnessChoice::Auto, None);
        let verdict = judge_(Execution::Passed, &budget, None, None);
        assert_eq!(verdict, Execution::Failed { exit_code: 0, why: Some(FailureCause::PeakNotMeasured) });
        assert_eq!(judge_(Execution::Passed, &script(), None, None), Execution::Passed);
    }

    #[test]
    fn a_pass_whose_verdict_counts_failures_is_a_failure() {
        let unittest = setup(
            "import unittest\nclass T(unittest.TestCase):\n    def test_a(self): pass\n",
            HarnessChoice::Unittest,
            None,
        );
        let inner: InnerReport = serde_json::from_str(
            r#"{"harness":"unittest","tests":[{"name":"test_a","outcome":"failed"}],"counts":{"failed":1}}"#,
        )
        .unwrap();
        assert_eq!(
            judge_(Execution::Passed, &unittest, Some(&inner), None).status(),
            crate::model::status::Status::Fail
        );
    }

    fn measure(text: &str, container_exit: i32) -> (Measurement, String) {
        let mut stderr = Captured::from_text(text);
        let m = take_measurement(&mut stderr, NONCE, Some(container_exit));
        (m, stderr.text())
    }

    #[test]
    fn the_wrapper_line_gives_the_figures_and_is_removed() {
        let (m, rest) = measure(&format!("warning: x\n{}", wrapper(0, None, 8236)), 0);
        assert_eq!(m.peak_rss_bytes, Some(8236 * 1024));
        assert_eq!(m.container_peak_bytes, Some(4440064));
        assert_eq!(m.elapsed, Some(Duration::from_millis(1250)));
        assert!(m.ran && !m.timed_out && m.signal.is_none() && m.inner.is_none());
        assert_eq!(rest, "warning: x\n");
        let (m, rest) = measure(&format!("AssertionError\n{}", wrapper(1, None, 1)), 1);
        assert_eq!((m.peak_rss_bytes, m.signal, rest.as_str()), (Some(1024), None, "AssertionError\n"));
    }

    #[test]
    fn a_signal_counts_when_gnu_time_and_the_exit_code_agree() {
        let (m, rest) =
            measure(&format!("Fatal Python error: Segmentation fault{}", wrapper(0, Some(11), 9000)), 139);
        assert_eq!((m.signal, m.peak_rss_bytes), (Some(11), Some(9000 * 1024)));
        assert_eq!(
            rest, "Fatal Python error: Segmentation fault",
            "the module's text before it mid-line is kept"
        );
        // A module that exits 139 itself was not killed.
        let (m, _) = measure(&wrapper(139, None, 5), 139);
        assert_eq!(m.signal, None);
    }

    #[test]
    fn the_containers_deadline_leaves_no_figures() {
        let line = format!("@@pymaccounter-{NONCE} status=124 cgroup_peak=77 oom_kills= time=\n");
        let (m, rest) = measure(&format!("still going\n{line}"), 124);
        assert!(m.ran && m.timed_out, "{m:?}");
        assert_eq!(
            (m.peak_rss_bytes, m.container_peak_bytes, rest.as_str()),
            (None, Some(77), "still going\n")
        );
        // A module that exits 124 itself says so through the monitor's figures.
        assert!(!measure(&wrapper(124, None, 5), 124).0.timed_out);
    }

    #[test]
    fn a_peak_the_monitor_could_not_ask_for_is_unknown_and_the_rest_stands() {
        let line = format!("@@pymaccounter-{NONCE} status=3 cgroup_peak=77 oom_kills=0 time=3 - 0.25\n");
        let (m, _) = measure(&line, 3);
        assert!(m.ran && !m.timed_out, "{m:?}");
        assert_eq!((m.peak_rss_bytes, m.container_peak_bytes), (None, Some(77)));
        assert_eq!(m.elapsed, Some(Duration::from_millis(250)));
        // Anything else in its place is no figure.
        let odd = format!("@@pymaccounter-{NONCE} status=3 cgroup_peak=77 oom_kills=0 time=3 -5 0.25\n");
        assert!(!measure(&odd, 3).0.ran);
    }

    #[test]
    fn the_harness_verdict_is_read_only_from_the_wrappers_lines() {
        let verdict = r#"{"harness":"unittest","counts":{"passed":1}}"#;
        let text = format!(
            "Ran 1 test\n@@pymaccounter-{NONCE} harness @@pymaccounter-harness {verdict}\n{}",
            wrapper(0, None, 5)
        );
        let (m, rest) = measure(&text, 0);
        assert_eq!(m.inner.unwrap().counts.passed, 1);
        assert_eq!(rest, "Ran 1 test\n");
        // The harness's own line, printed by the module, is the module's text.
        let forged = format!("@@pymaccounter-harness {verdict}\n");
        let (m, rest) = measure(&format!("{forged}{}", wrapper(0, None, 5)), 0);
        assert!(m.inner.is_none());
        assert_eq!(rest, forged);
    }

    #[test]
    fn a_module_cannot_fake_the_wrappers_lines() {
        let other = "ffffffffffffffffffffffffffffffff";
        for text in [
            // Another nonce, the old format, GNU time's own lines.
            format!("@@pymaccounter-{other} status=0 cgroup_peak=1 oom_kills= time=0 1 0.01\n"),
            "Command terminated by signal 11\n@@pymaccounter exit=0 peak_rss_kib=1\n".to_string(),
            // Not at the very end.
            format!("{}more output\n", wrapper(0, None, 5)),
            wrapper(0, None, 5).trim_end().to_string(),
            // Malformed figures.
            format!("@@pymaccounter-{NONCE} status=0 cgroup_peak=1 oom_kills= time=0 -5 0.01\n"),
            format!("@@pymaccounter-{NONCE} status=0 cgroup_peak=1 oom_kills= time=0 5\n"),
            format!("@@pymaccounter-{NONCE} status=+0 cgroup_peak=1 oom_kills= time=0 5 0.01\n"),
            format!("@@pymaccounter-{NONCE} status=0 cgroup_peak=1 oom_kills= time=0 99999999999999999999999 0.01\n"),
            String::new(),
        ] {
            let (m, rest) = measure(&text, 0);
            assert_eq!(m, Measurement::default(), "{text:?}");
            assert_eq!(rest, text, "nothing is removed without the wrapper's line");
        }
        // A status the container's exit code contradicts.
        assert_eq!(measure(&wrapper(0, None, 5), 1).0, Measurement::default());
        // Figures that contradict the status.
        let odd = format!("@@pymaccounter-{NONCE} status=3 cgroup_peak=1 oom_kills= time=0 5 0.01\n");
        assert_eq!(measure(&odd, 3).0, Measurement::default());
        let mut stderr = Captured::from_text(&wrapper(0, None, 9));
        assert_eq!(take_measurement(&mut stderr, NONCE, None), Measurement::default());
    }

    #[test]
    fn the_samplers_line_gives_a_series_and_never_a_verdict() {
        let records = "000000010,0000001024,0000002048;000000020,0000204800,----------;";
        let series_line = format!("@@pymaccounter-{NONCE} series {records}\n");
        let (m, rest) = measure(&format!("out\n{series_line}{}", wrapper(0, None, 5)), 0);
        let series = m.memory_series.expect("a series");
        assert_eq!(series.t_ms, [10, 20]);
        assert_eq!(series.rss_bytes, [1 << 20, 200 << 20]);
        assert_eq!(series.cgroup_bytes, [Some(2 << 20), None]);
        assert_eq!((m.peak_rss_bytes, rest.as_str()), (Some(5 * 1024), "out\n"));
        // After output with no final newline, the line starts mid-line.
        let (m, rest) = measure(&format!("no newline{series_line}{}", wrapper(0, None, 5)), 0);
        assert_eq!((m.memory_series.map(|s| s.t_ms), rest.as_str()), (Some(vec![10, 20]), "no newline"));
        // On a remote engine the verdict comes before it.
        let verdict = r#"{"harness":"unittest","counts":{"passed":1}}"#;
        let text = format!(
            "@@pymaccounter-{NONCE} harness @@pymaccounter-harness {verdict}\n{series_line}{}",
            wrapper(0, None, 5)
        );
        let (m, rest) = measure(&text, 0);
        assert_eq!(
            (m.inner.unwrap().counts.passed, m.memory_series.unwrap().t_ms.len(), rest.as_str()),
            (1, 2, "")
        );
        // Whatever a module wrote into the sampler's file is all or nothing,
        // and never touches the figures the verdict is made of.
        let too_many = "000000001,0000000001,0000000001;".repeat(crate::model::series::MAX_POINTS + 1);
        for bad in [
            "000000020,0000000001,0000000001;000000010,0000000001,0000000001;",
            "000000010,0000000001,0000000001",
            "000000010,0000000001;",
            "00000010,0000000001,0000000001;",
            "000000010,-000000001,0000000001;",
            "000000010,0000000001,00000000x1;",
            "",
            too_many.as_str(),
        ] {
            let line = format!("@@pymaccounter-{NONCE} series {bad}\n");
            let (m, rest) = measure(&format!("{line}{}", wrapper(0, None, 5)), 0);
            assert_eq!(m.memory_series, None, "{bad}");
            assert_eq!((m.peak_rss_bytes, m.ran, rest.as_str()), (Some(5 * 1024), true, ""), "{bad}");
        }
        // Another nonce's series line is the module's text.
        let forged = format!("@@pymaccounter-ffffffffffffffffffffffffffffffff series {records}\n");
        let (m, rest) = measure(&format!("{forged}{}", wrapper(0, None, 5)), 0);
        assert_eq!((m.memory_series, rest), (None, forged));
    }

    #[test]
    fn an_unknown_cgroup_peak_is_no_figure() {
        let line = format!("@@pymaccounter-{NONCE} status=0 cgroup_peak= oom_kills= time=0 5 0.01\n");
        let (m, rest) = measure(&line, 0);
        assert_eq!((m.container_peak_bytes, m.peak_rss_bytes, rest.as_str()), (None, Some(5 * 1024), ""));
    }

    #[test]
    fn no_trailer_means_no_measurement() {
        let text = "docker: Error response from daemon\n";
        assert_eq!(measure(text, 125), (Measurement::default(), text.to_string()));
        let (m, _) = measure(&wrapper(125, None, 9), 125);
        assert!(m.ran, "exit 125 from a module that ran is the module's");
    }

    #[test]
    fn the_trailer_is_read_whole_whatever_the_stream_size() {
        let temp = tempfile::tempdir().unwrap();
        let trailer = wrapper(0, Some(11), 12345);
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
                let m = take_measurement(&mut stderr, NONCE, Some(139));
                assert_eq!(m.signal, Some(11), "size {size}, chunk {chunk}");
                assert_eq!(m.peak_rss_bytes, Some(12345 * 1024), "size {size}, chunk {chunk}");
                assert_eq!(stderr.total_bytes, size as u64);
                let text = stderr.text();
                assert!(!text.contains("@@pymaccounter"), "{size}");
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
        // Only a SIGKILL the cgroup counted as an OOM kill (or the engine's marker) is one.
        let counted = Measurement { oom_kills: Some(1), ..Measurement::default() };
        let uncounted = Measurement { oom_kills: Some(0), ..Measurement::default() };
        assert!(oom_killed(137, &counted, false) && !oom_killed(1, &counted, false));
        assert!(!oom_killed(137, &uncounted, false) && !oom_killed(137, &none, false));
        assert!(oom_killed(137, &none, true) && !oom_killed(0, &none, true));
    }

    #[test]
    fn the_wrapper_line_carries_the_cgroups_oom_kills() {
        let line = |kills: &str| {
            format!("@@pymaccounter-{NONCE} status=137 cgroup_peak=5 oom_kills={kills} time=0 2048 0.50\n")
        };
        let measure = |text: String| {
            let mut stderr = Captured::from_text(&text);
            take_measurement(&mut stderr, NONCE, Some(137))
        };
        let killed = measure(line("1"));
        assert!(killed.ran && killed.oom_kills == Some(1) && killed.signal == Some(9), "{killed:?}");
        assert_eq!(measure(line("")).oom_kills, None, "a cgroup that does not count");
        assert!(!measure(line("-1")).ran, "not a count: the line is not the wrapper's");
    }
}
