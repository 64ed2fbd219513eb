//! What runs inside a module's container, and what comes back out of it.
//!
//! Each module runs as `/usr/bin/time -f MARKER python3 MODULE`: GNU time is
//! the module's parent, so it reads the module's peak RSS from the kernel
//! (wait4's ru_maxrss) without touching the module's own process, then prints
//! one marker line last on stderr. This file owns that contract both ways.

use std::path::Path;

use crate::engine::kinds::killed_by_signal_exit;
use crate::model::status::Execution;
use crate::runner::capture::Captured;

const MARKER: &str = "@@pymaccounter peak_rss_kib=";
const TERMINATED: &str = "Command terminated by signal ";
const EXITED: &str = "Command exited with non-zero status ";

/// Where modules' scratch space is, inside the container: their working
/// directory, writable and executable, fresh in every container.
pub const SCRATCH_DIR: &str = "/scratch";
/// `/tmp` is scratch too (tmpfs, executable).
pub const TMP_DIR: &str = "/tmp";
/// Tells each container which attempt of its job it is (1-based; more than
/// one with `--repeat` or `--retries`), so a module can tell a rerun.
pub const ATTEMPT_VARIABLE: &str = "PYMACCOUNTER_ATTEMPT";

/// The container command for a module: GNU time runs the interpreter on it.
pub fn container_command(module_path: &Path) -> Vec<String> {
    ["/usr/bin/time", "-f", &format!("{MARKER}%M"), "python3", &module_path.to_string_lossy()]
        .map(str::to_string)
        .to_vec()
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

/// How a module ended. `oom_killed` is the engine's word, asked only when it matters.
pub fn classify(exit_code: i32, measurement: &Measurement, oom_killed: bool) -> Execution {
    if oom_killed {
        return Execution::OomKilled;
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
    fn endings_follow_the_contract() {
        use crate::model::status::Status;
        let none = Measurement::default();
        let segv = Measurement { signal: Some(11), ..Measurement::default() };
        assert_eq!(classify(0, &none, false).status(), Status::Pass);
        assert_eq!(classify(1, &none, false).status(), Status::Fail);
        assert_eq!(classify(77, &none, false).status(), Status::Skip);
        assert_eq!(classify(137, &none, true).status(), Status::Oom);
        assert_eq!(classify(139, &segv, false), Execution::Crashed { signal: 11 });
        assert!(may_be_oom(137, &none) && !may_be_oom(1, &none));
    }
}
