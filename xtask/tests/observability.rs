//! Peak memory and the allocator / Python-version matrices, on the real engine.

mod common;

use common::*;

const MIB: u64 = 1024 * 1024;

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn peak_rss_is_measured_from_outside_the_module() {
    require_engine();
    let dir = fixture("misbehaving");
    std::fs::copy(
        project_root().join("xtask/tests/fixtures/mixed/test_passes.py"),
        dir.path().join("test_passes.py"),
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let run = xtask(&[
        "run",
        "test_holds_200_mib.py",
        "test_passes.py",
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&report),
    ]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&report);
    let big = result_for(&report, "test_holds_200_mib.py")["peak_rss_bytes"].as_u64().unwrap();
    assert!((200 * MIB..260 * MIB).contains(&big), "200 MiB held, peak {big}");
    let small = result_for(&report, "test_passes.py")["peak_rss_bytes"].as_u64().unwrap();
    assert!(small < 50 * MIB, "a trivial module peaked at {small}");
    assert!(run.stdout.contains("MiB"), "the summary shows peaks in human units:\n{}", run.stdout);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_allocator_matrix_gives_one_result_per_module_and_value() {
    require_engine();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = xtask(&[
        "run",
        "test_baseline.py",
        "test_pymalloc_stats.py",
        "--python-malloc",
        "pymalloc,malloc",
        "--report-json",
        path_str(&report),
    ]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&report);
    let cells: Vec<(String, String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("module"), field("python_malloc"), field("status"))
        })
        .collect();
    let expected = [
        ("test_baseline.py", "pymalloc", "pass"),
        ("test_baseline.py", "malloc", "pass"),
        ("test_pymalloc_stats.py", "pymalloc", "pass"),
        ("test_pymalloc_stats.py", "malloc", "skip"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(cells, expected);
    assert!(
        run.stdout.contains("Test results for python_tests/test_baseline.py (PYTHONMALLOC=malloc):"),
        "{}",
        run.stdout
    );
    assert_eq!(run.last_line(), "3 passed, 0 failed, 1 skipped");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_python_matrix_runs_offline_on_several_versions() {
    require_engine();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = xtask(&["run", "test_baseline.py", "--python", "3.9,3.13", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&report);
    let versions: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["python"].as_str().unwrap()).collect();
    assert_eq!(versions, ["3.9", "3.13"]);
    assert!(
        run.stdout.contains("Python 3.9."),
        "the module reports the interpreter it ran on:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("Python 3.13."), "{}", run.stdout);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn every_module_passes_or_skips_under_three_allocators() {
    require_engine();
    let run = xtask(&["run-all-tests", "--python-malloc", "pymalloc,malloc,debug"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let modules = xtask(&["list"]).stdout.lines().count();
    assert_all_ran_and_none_failed(&run, 3 * modules);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn every_module_passes_or_skips_on_every_python() {
    require_engine();
    let run = xtask(&["run-all-tests", "--python", "3.9,3.11,3.13,3.14"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let modules = xtask(&["list"]).stdout.lines().count();
    assert_all_ran_and_none_failed(&run, 4 * modules);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_container_peak_counts_files_in_tmp_and_names_what_hit_the_limit() {
    require_engine();
    let dir = fixture("misbehaving");
    let report = dir.path().join("report.json");
    let args =
        ["run", "test_fills_tmp.py", "--test-dir", path_str(dir.path()), "--report-json", path_str(&report)];
    let run = xtask(&args);
    assert_eq!(run.code, 0, "{}", run.dump());
    let json = read_json(&report);
    let result = result_for(&json, "test_fills_tmp.py");
    let process = result["peak_rss_bytes"].as_u64().unwrap();
    let container = result["container_peak_bytes"].as_u64().unwrap();
    assert!(container >= process, "{result:#}");
    assert!(container >= 80 << 20, "the 80 MiB in /tmp count: {result:#}");
    assert!(process < 40 << 20, "the module itself stays small: {result:#}");

    let mut limited = args.to_vec();
    limited.extend(["--memory", "48m"]);
    let run = xtask(&limited);
    assert_eq!(run.code, 1, "{}", run.dump());
    let json = read_json(&report);
    let result = result_for(&json, "test_fills_tmp.py");
    assert_eq!(result["status"], "oom", "{result:#}");
    let reason = result["reason"].as_str().unwrap();
    assert!(reason.contains("the container reached") && reason.contains("/tmp"), "{reason}");
}

/// Every job passed or skipped (a module that does not apply under a variant
/// skips, saying why), and most passed.
fn assert_all_ran_and_none_failed(run: &Finished, jobs: usize) {
    let last = run.last_line();
    let counts: Vec<usize> =
        last.split(", ").map(|p| p.split(' ').next().unwrap().parse().unwrap()).collect();
    assert_eq!(counts[1], 0, "{}", run.dump());
    let skipped = counts.get(2).copied().unwrap_or(0);
    assert_eq!(counts[0] + skipped, jobs, "{last}");
    assert!(skipped * 4 < jobs, "too many skips: {last}");
}
