//! How a module ended: its status, and the measurement taken around it.
//!
//! Each module runs as `/usr/bin/time -f MARKER python3 MODULE` (`python3` being
//! the `--python` version's interpreter when one is given): GNU time is the
//! module's parent, so it reads the module's peak RSS from the kernel (wait4's
//! ru_maxrss) without touching the module's own process, then prints one
//! marker line last on stderr. This file owns that contract both ways.

use std::fmt;
use std::time::Duration;

use crate::capture::Captured;
use crate::matrix::Job;

/// Exit code a module uses to say "does not apply here".
pub const SKIP_EXIT_CODE: i32 = 77;

const MARKER: &str = "@@pymaccounter peak_rss_kib=";
const TERMINATED: &str = "Command terminated by signal ";
const EXITED: &str = "Command exited with non-zero status ";

/// The container command for a module run by `interpreter` (`python3`, `python3.11d`).
pub fn container_command(interpreter: &str, module: &str) -> Vec<String> {
    ["/usr/bin/time", "-f", &format!("{MARKER}%M"), interpreter, module].map(str::to_string).to_vec()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Timeout,
    Oom,
    Crash,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Timeout => "timeout",
            Status::Oom => "oom",
            Status::Crash => "crash",
        }
    }

    pub fn passed(self) -> bool {
        matches!(self, Status::Pass | Status::Skip)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finished (module, allocator, version) cell.
#[derive(Debug, Clone)]
pub struct ModuleResult {
    pub job: Job,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration: Duration,
    pub peak_rss_bytes: Option<u64>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Why it did not pass, in words.
    pub reason: Option<String>,
}

/// What the measurement trailer said, removed from the module's stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    pub peak_rss_bytes: Option<u64>,
    pub signal: Option<i32>,
}

/// Splits GNU time's trailer off the end of stderr.
pub fn take_measurement(stderr: &mut Captured) -> Measurement {
    let end = String::from_utf8_lossy(stderr.end()).into_owned();
    let Some(marker_at) = end.rfind(MARKER) else {
        return Measurement::default();
    };
    let kib: Option<u64> = end[marker_at + MARKER.len()..].trim().parse().ok();
    // GNU time's status line precedes the marker, possibly mid-line when the
    // module's last stderr line had no newline.
    let before = &end[..marker_at];
    let mut trailer_start = marker_at;
    let mut signal = None;
    if let Some(at) = before.rfind(TERMINATED) {
        signal = before[at + TERMINATED.len()..].trim().parse().ok();
        trailer_start = at;
    } else if let Some(at) = before.rfind(EXITED) {
        trailer_start = at;
    }
    stderr.truncate_end(end.len() - trailer_start);
    Measurement { peak_rss_bytes: kib.map(|k| k * 1024), signal }
}

/// Classifies a module's end. `oom_killed` is the engine's word, asked only when it matters.
pub fn classify(
    exit_code: i32,
    measurement: &Measurement,
    timed_out: bool,
    oom_killed: bool,
) -> (Status, Option<String>) {
    if timed_out {
        return (Status::Timeout, Some("killed after the timeout".into()));
    }
    if oom_killed {
        return (Status::Oom, Some("killed by the container's memory limit".into()));
    }
    if let Some(signal) = measurement.signal {
        return (Status::Crash, Some(format!("killed by signal {} ({signal})", signal_name(signal))));
    }
    match exit_code {
        0 => (Status::Pass, None),
        SKIP_EXIT_CODE => (Status::Skip, None),
        code => (Status::Fail, Some(format!("exit code {code}"))),
    }
}

/// Whether an exit code could mean the memory limit's SIGKILL (then we ask the engine).
pub fn may_be_oom(exit_code: i32, measurement: &Measurement) -> bool {
    exit_code == 137 || measurement.signal == Some(9)
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
    fn the_trailer_gives_the_peak_and_is_removed() {
        let mut stderr = Captured::from_text("warning: x\n@@pymaccounter peak_rss_kib=8236\n");
        let m = take_measurement(&mut stderr);
        assert_eq!(m, Measurement { peak_rss_bytes: Some(8236 * 1024), signal: None });
        assert_eq!(stderr.text(), "warning: x\n");
    }

    #[test]
    fn a_signal_line_mid_line_is_read_and_removed() {
        let text = "Fatal Python error: Segmentation faultCommand terminated by signal 11\n@@pymaccounter peak_rss_kib=9000\n";
        let mut stderr = Captured::from_text(text);
        let m = take_measurement(&mut stderr);
        assert_eq!(m.signal, Some(11));
        assert_eq!(stderr.text(), "Fatal Python error: Segmentation fault");
    }

    #[test]
    fn a_non_zero_exit_line_is_removed() {
        let mut stderr = Captured::from_text(
            "AssertionError: boom\nCommand exited with non-zero status 1\n@@pymaccounter peak_rss_kib=1\n",
        );
        let m = take_measurement(&mut stderr);
        assert_eq!(m.signal, None);
        assert_eq!(stderr.text(), "AssertionError: boom\n");
    }

    #[test]
    fn no_trailer_means_no_measurement() {
        let mut stderr = Captured::from_text("docker: Error response from daemon\n");
        assert_eq!(take_measurement(&mut stderr), Measurement::default());
        assert_eq!(stderr.text(), "docker: Error response from daemon\n");
    }

    #[test]
    fn statuses_follow_the_contract() {
        let none = Measurement::default();
        let segv = Measurement { signal: Some(11), ..Measurement::default() };
        assert_eq!(classify(0, &none, false, false).0, Status::Pass);
        assert_eq!(classify(1, &none, false, false).0, Status::Fail);
        assert_eq!(classify(77, &none, false, false).0, Status::Skip);
        assert_eq!(classify(137, &none, true, false).0, Status::Timeout);
        assert_eq!(classify(137, &none, false, true).0, Status::Oom);
        let (status, reason) = classify(139, &segv, false, false);
        assert_eq!(status, Status::Crash);
        assert!(reason.unwrap().contains("SIGSEGV"));
        assert!(Status::Skip.passed() && !Status::Crash.passed());
    }
}
