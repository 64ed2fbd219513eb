//! Issue 22: nothing a module leaves behind is trusted, the operator's
//! limits are ceilings, nothing outlives the run. Each case runs a hostile
//! fixture on the real engine.

mod common;

use common::*;

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn declared_limits_cannot_lift_the_command_lines() {
    require_engine();
    let dir = fixture("lifts_limits");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--memory", "128m", "--timeout", "4"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(result_for(&report, "test_lifts_memory.py")["status"], "oom", "{report:#}");
    let slept = result_for(&report, "test_lifts_timeout.py");
    assert_eq!(slept["status"], "timeout", "{report:#}");
    assert!(slept["duration_s"].as_f64().unwrap() < 30.0, "{slept:#}");
}

#[test]
fn a_key_declared_twice_is_refused_naming_both_lines() {
    let dir = fixture("duplicate_key");
    let run = xtask(&["run-all-tests", "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(
        run.stderr.contains("test_twice.py:3: timeout is declared twice (lines 1 and 3)"),
        "{}",
        run.dump()
    );
}
