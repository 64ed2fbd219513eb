//! The in-container harness (`xtask/container/harness.py`) tested on the
//! host's Python: unittest and pytest modes, leak hunting, the trailer. Its
//! pytest cases run under a pinned pytest in a venv (the newest release, as
//! a project's environment gets it); the real-engine suites run the harness
//! in containers too.

mod common;

use std::process::Command;

#[test]
fn the_harness_passes_its_own_tests() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/test_harness.py");
    let output = Command::new("python3")
        .arg(&tests)
        .env("HARNESS_PYTHON", common::pytest_python())
        .env("HARNESS_REQUIRE_PYTEST", "1")
        .output()
        .expect("python3 runs on the host");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}

/// The monitor (`xtask/container/monitor.pl`, on the host's perl): its
/// buckets, and real runs as the parent of processes that allocate, exit,
/// die by a signal or outlive their deadline, in a PID namespace of its own.
#[test]
fn the_monitor_passes_its_own_tests() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/test_monitor.py");
    let output = Command::new("python3").arg(&tests).output().expect("python3 runs on the host");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}
