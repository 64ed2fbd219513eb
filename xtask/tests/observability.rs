//! Peak memory and the allocator / Python-version matrices, on the real engine.

mod common;

use common::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn peak_rss_is_measured_from_outside_the_module() {
    if !engine_available() {
        return;
    }
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
fn the_allocator_matrix_gives_one_result_per_module_and_value() {
    if !engine_available() {
        return;
    }
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
fn the_python_matrix_runs_offline_on_several_versions() {
    if !engine_available() {
        return;
    }
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
fn every_module_passes_or_skips_under_three_allocators() {
    if !engine_available() {
        return;
    }
    let run = xtask(&["run-all-tests", "--python-malloc", "pymalloc,malloc,debug"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let modules = xtask(&["list"]).stdout.lines().count();
    // Skips: pymalloc stats under malloc, and under each allocator the mimalloc
    // module (3.11 has none) and the total refcount (a release build).
    let skipped = 1 + 3 + 3;
    assert_eq!(run.last_line(), format!("{} passed, 0 failed, {skipped} skipped", 3 * modules - skipped));
}

#[test]
fn every_module_passes_or_skips_on_every_python() {
    if !engine_available() {
        return;
    }
    let run = xtask(&["run-all-tests", "--python", "3.9,3.11,3.13"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let modules = xtask(&["list"]).stdout.lines().count();
    // Skips: the mimalloc module on 3.9 and 3.11, the total refcount on all three (release builds).
    let skipped = 2 + 3;
    assert_eq!(
        run.last_line(),
        format!("{} passed, 0 failed, {skipped} skipped", 3 * modules - skipped),
        "{}",
        run.dump()
    );
}
