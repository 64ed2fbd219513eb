//! The same runner on Podman (installed by `.ci/run`), to keep the engine
//! layer honest about the CLI differences it papers over.

mod common;

use std::process::Command;

use common::*;

fn require_podman() {
    require_engine();
    let works = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        works,
        "podman is not installed: apt-get install podman (bash .ci/run does it), or set {SKIP_VARIABLE}=1"
    );
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn podman_runs_the_baseline_module() {
    require_podman();
    let run = xtask(&["run", r#"["test_baseline.py"]"#, "--engine", "podman"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("Hello from pymaccounter"), "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn podman_reports_oom_and_failures_and_leaves_nothing() {
    require_podman();
    let dir = fixture("misbehaving");
    std::fs::copy(
        project_root().join("xtask/tests/fixtures/mixed/test_fails.py"),
        dir.path().join("test_fails.py"),
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let run = Finished::from_command(
        xtask_command(&[
            "run",
            "test_eats_memory.py",
            "test_fails.py",
            "--memory",
            "64m",
            "--debug",
            "--test-dir",
            path_str(dir.path()),
            "--report-json",
            path_str(&report),
        ])
        .env("PYMACCOUNTER_ENGINE", "podman"),
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let report = read_json(&report);
    assert_eq!(result_for(&report, "test_eats_memory.py")["status"], "oom", "{report:#}");
    assert_eq!(result_for(&report, "test_fails.py")["status"], "fail", "{report:#}");
    let id = run_id(&run.stderr).unwrap();
    let left = Command::new("podman")
        .args(["ps", "--all", "--quiet", "--filter", &format!("label=pymaccounter.run={id}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "podman containers left: {}", String::from_utf8_lossy(&left.stdout));
}
