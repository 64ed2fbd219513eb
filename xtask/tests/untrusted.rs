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

/// Every file under `dir` with its size (symlinks not followed).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let metadata = std::fs::symlink_metadata(entry.path()).unwrap();
        if metadata.is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push((entry.path(), metadata.len()));
        }
    }
    found
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn what_a_module_leaves_in_memrays_folder_is_bounded_and_never_trusted() {
    require_engine();
    let dir = fixture("memray_hostile");
    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let run = xtask(&[
        "run-all-tests",
        "--python",
        "3.13",
        "--memray",
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&report_path),
    ]);
    let report = read_json(&report_path);
    assert_eq!(run.code, 1, "{}", run.dump());
    // The folder the module sees is not writable: nothing was planted.
    let planted = result_for(&report, "test_plants_links.py");
    assert_eq!(planted["status"], "pass", "{planted:#}");
    assert!(planted["stdout"].as_str().unwrap().contains("planted: nothing"), "{planted:#}");
    let flamegraph = planted["memray"]["flamegraph_path"].as_str().expect("collected as usual");
    let page = std::fs::read_to_string(flamegraph).unwrap();
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let secret = shadow.lines().next().unwrap_or("no shadow here");
    assert!(page.contains("<html") && !page.contains(secret), "a flame graph, no host file");
    // The capture is capped (or memray gives up on a capture written under it): 1.5 GiB never lands.
    let filled = result_for(&report, "test_fills_capture.py");
    let stdout = filled["stdout"].as_str().unwrap();
    assert!(!stdout.contains("wrote"), "{filled:#}");
    assert!(filled["status"] != "pass" || stdout.contains("stopped after"), "{filled:#}");
    // Bad content fails that module alone, with the reason.
    let corrupt = result_for(&report, "test_corrupts_capture.py");
    assert_eq!(corrupt["status"], "fail", "{corrupt:#}");
    assert!(corrupt["reason"].as_str().unwrap().contains("--memray: memray could not read"), "{corrupt:#}");
    assert_eq!(result_for(&report, "test_plain.py")["status"], "pass", "the others go on");
    // Nothing the modules wrote stays on the host but the flame graphs the reports link.
    let run_id = report["run_id"].as_str().unwrap();
    let work = project_root().join("target/pymaccounter/runs").join(run_id).join("memray");
    let left = files_under(&work);
    assert!(left.iter().all(|(path, _)| path.extension().is_some_and(|e| e == "html")), "{left:?}");
    assert_eq!(containers_of_run(run_id), Vec::<String>::new(), "the collectors' containers went too");
}
