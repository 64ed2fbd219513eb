//! Per-test memory accounting (issue 25), on the real engine: the leak hunt
//! per test for pytest and unittest files on a debug build (3.11-dbg), each
//! test's own peak, and the file's peak kept right across the per-test resets.
//! Fixtures in `tests/fixtures/per_test/`.

mod common;

use common::*;

fn deltas(value: &serde_json::Value) -> Vec<i64> {
    value.as_array().unwrap_or_else(|| panic!("{value:#}")).iter().map(|d| d.as_i64().unwrap()).collect()
}

fn test_named<'a>(result: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    result["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} in {result:#}"))
}

/// The tests of a result that leaked, by the reason's facts (the verdict).
fn leaking_names(result: &serde_json::Value) -> Vec<String> {
    let named = result["execution"]["tests"]["named"].as_array().unwrap_or_else(|| panic!("{result:#}"));
    named.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_leak_hunt_names_the_leaking_test_of_pytest_and_unittest_files() {
    require_engine();
    let dir = fixture("per_test");
    let reports = tempfile::tempdir().unwrap();
    let (junit, html) = (reports.path().join("r.xml"), reports.path().join("r.html"));
    let (run, report) = run_with_report(
        dir.path(),
        &[
            "run",
            "test_leaks_pytest.py",
            "test_leaks_unittest.py",
            "test_leaks_param.py",
            "--python",
            "3.11-dbg",
            "--hunt-leaks",
            "--junit",
            path_str(&junit),
            "--report-html",
            path_str(&html),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    for (module, leaking, clean) in [
        (
            "test_leaks_pytest.py",
            "test_leaks_one_reference",
            &["test_bounded_cache", "test_clean_plain", "test_clean_fixture", "test_clean_module_fixture"][..],
        ),
        (
            "test_leaks_unittest.py",
            "Leaks.test_leaks_one_reference",
            &[
                "Leaks.test_bounded_cache",
                "Leaks.test_clean_plain",
                "Leaks.test_clean_setup",
                "Leaks.test_clean_class_fixture",
            ][..],
        ),
        ("test_leaks_param.py", "test_param[dict]", &["test_param[list]", "test_param[set]"][..]),
    ] {
        let result = result_for(&report, module);
        assert_eq!(result["status"], "leak", "{result:#}");
        assert_eq!(result["hunt_leaks"]["per_test"], true, "{result:#}");
        assert_eq!(leaking_names(result), [leaking], "exactly the leaking test: {result:#}");
        let hunted = 1 + clean.len() as u64;
        assert_eq!(result["execution"]["tests"]["leaked"], 1);
        assert_eq!(result["execution"]["tests"]["hunted"], hunted);
        let reason = result["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("1 of {hunted} tests leaks under --hunt-leaks")),
            "the module says how many: {reason}"
        );
        assert!(reason.contains(&format!("{leaking} (references [1, 1, 1])")), "{reason}");
        // One reference per run, and nothing else: the deltas as measured.
        let leaked = &test_named(result, leaking)["hunt_leaks"];
        assert_eq!(deltas(&leaked["refs"]), [1, 1, 1], "{leaked:#}");
        assert_eq!(deltas(&leaked["fds"]), [0, 0, 0], "{leaked:#}");
        for name in clean {
            let hunt = &test_named(result, name)["hunt_leaks"];
            assert!(!deltas(&hunt["refs"]).iter().all(|d| *d >= 1), "{name}: {hunt:#}");
            assert!(!deltas(&hunt["blocks"]).iter().all(|d| *d >= 1), "{name}: {hunt:#}");
            assert_eq!(deltas(&hunt["fds"]), [0, 0, 0], "{name}: {hunt:#}");
        }
        assert!(run.stdout.contains(&format!("LEAKED {leaking}: references [1, 1, 1]")), "{}", run.dump());
        // Each test ran once as far as its framework's counts go.
        assert_eq!(result["test_counts"]["passed"], hunted, "{result:#}");
    }
    assert!(run.stdout.contains("leak hunt 3:3 per test: 1 of 5 tests leaks"), "{}", run.dump());

    // JUnit: the leaking test's case fails (and only it), the module's does not say it twice.
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("type=\"leak\"").count(), 3, "{xml}");
    assert!(xml.contains("<testcase name=\"test_param[dict]\" classname=\"test_leaks_param.py [3.11-dbg]\""));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<code>test_param[dict]</code> LEAKED</th><td>references [1, 1, 1]"),
        "HTML details"
    );
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn an_expected_leak_is_found_per_test_and_a_release_build_cannot_show_a_reference() {
    require_engine();
    let dir = fixture("per_test");
    let source = std::fs::read_to_string(dir.path().join("test_leaks_param.py")).unwrap();
    std::fs::write(dir.path().join("test_expected.py"), format!("# pymaccounter: expect = leak\n{source}"))
        .unwrap();
    let (run, report) = run_with_report(
        dir.path(),
        &[
            "run",
            "test_expected.py",
            "--python",
            "3.11-dbg,3.13",
            "--hunt-leaks",
            "--python-malloc",
            "malloc",
        ],
    );
    let results = report["results"].as_array().unwrap();
    let on = |python: &str| results.iter().find(|r| r["python"] == python).unwrap();
    assert_eq!(on("3.11-dbg")["status"], "pass", "the expected leak is there: {}", run.dump());
    // A release build counts no references and plain malloc no blocks: it cannot be seen.
    let blind = on("3.13");
    assert_eq!(blind["status"], "skip", "{blind:#}");
    assert_eq!(blind["execution"]["why"]["cause"], "leak-invisible-here", "{blind:#}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn each_test_has_its_own_peak_and_the_files_peak_survives_the_resets() {
    require_engine();
    let dir = fixture("per_test");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_peaks_up.py", "test_peaks_down.py", "--python", "3.13", "-v"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    const MIB: f64 = (1 << 20) as f64;
    for (module, names) in [
        ("test_peaks_up.py", ["test_10_mib", "test_50_mib", "test_100_mib"]),
        ("test_peaks_down.py", ["Peaks.test_c_10_mib", "Peaks.test_b_50_mib", "Peaks.test_a_100_mib"]),
    ] {
        let result = result_for(&report, module);
        for (name, mib) in names.iter().zip([10.0, 50.0, 100.0]) {
            let peak = test_named(result, name)["peak_bytes"].as_u64().unwrap() as f64 / MIB;
            assert!((peak - mib).abs() <= mib * 0.10, "{module} {name}: {peak:.1} MiB for {mib} MiB");
        }
        // The file's peak: at least its largest test's on top of the interpreter,
        // whichever test came last (GNU time alone would read only what followed
        // the last reset: ~10 MiB above the start in the down order).
        let file_peak = result["peak_rss_bytes"].as_u64().unwrap() as f64 / MIB;
        let container = result["container_peak_bytes"].as_u64().unwrap() as f64 / MIB;
        assert!(file_peak > 105.0, "{module}: the file's peak {file_peak:.1} MiB");
        assert!(
            file_peak <= container + 1.0,
            "{module}: {file_peak:.1} MiB above the cgroup's {container:.1}"
        );
    }
    // The terminal block lists the highest first.
    assert!(run.stdout.contains("highest test peaks: test_100_mib "), "{}", run.dump());
    assert!(run.stdout.contains("highest test peaks: Peaks.test_a_100_mib "), "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn pytest_memrays_limit_memory_fails_the_test_over_its_limit() {
    require_engine();
    let project = fixed_copy("per_test_memray", "per_test_memray-limit-memory");
    let cache = shared_cache();
    let (run, report) = run_with_report(
        &project,
        &["run", "test_limits.py", "--cache-dir", path_str(&cache), "--python", "3.13,3.14"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report:#}");
    for result in results {
        assert_eq!(result["status"], "fail", "{result:#}");
        assert_eq!(result["execution"]["why"]["names"], serde_json::json!(["test_allocates_50_mb"]));
        let over = test_named(result, "test_allocates_50_mb");
        assert_eq!(over["outcome"], "failed", "{over:#}");
        let message = over["message"].as_str().unwrap();
        assert!(message.starts_with("Test was limited to 10.0MiB but allocated 47.7MiB"), "{message}");
        assert!(
            message.contains("; top allocation: 47.7MiB at allocate:")
                && message.ends_with("test_limits.py:9"),
            "{message}"
        );
        assert!(over["traceback"].as_str().unwrap().contains("List of allocations:"), "{over:#}");
        assert_eq!(test_named(result, "test_allocates_1_mb")["outcome"], "passed", "{result:#}");
        assert_eq!(test_named(result, "test_unmarked")["outcome"], "passed", "{result:#}");
    }
}

/// limit_leaks: the test keeping 5 MB fails with pytest-memray's facts, the one freeing them passes.
fn assert_limit_leaks_checked(result: &serde_json::Value) {
    assert_eq!(result["status"], "fail", "{result:#}");
    assert_eq!(result["execution"]["why"]["names"], serde_json::json!(["test_leaks_5_mb"]), "{result:#}");
    let leaking = test_named(result, "test_leaks_5_mb");
    assert_eq!(leaking["outcome"], "failed", "{leaking:#}");
    let message = leaking["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Test was allowed to leak 1.0MiB per location but at least one location leaked more; top allocation: 4.8MiB at "
        ),
        "{message}"
    );
    assert!(leaking["traceback"].as_str().unwrap().contains("List of leaked allocations:"), "{leaking:#}");
    assert_eq!(test_named(result, "test_frees_5_mb")["outcome"], "passed", "{result:#}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn pytest_memrays_limit_leaks_fails_the_test_that_keeps_its_memory() {
    require_engine();
    let project = fixed_copy("per_test_memray", "per_test_memray-limit-leaks");
    let cache = shared_cache();
    let (run, report) = run_with_report(
        &project,
        &["run", "test_leak_limits.py", "--cache-dir", path_str(&cache), "--python", "3.13"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_limit_leaks_checked(result_for(&report, "test_leak_limits.py"));
}

/// Under --memray, pytest-memray's per-test trackers are the only ones: the
/// markers are checked, and the module's figures and flame graph are merged
/// from their captures.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn under_memray_one_tracker_checks_the_markers_and_profiles_the_file() {
    require_engine();
    let project = fixed_copy("per_test_memray", "per_test_memray-under-memray");
    let cache = shared_cache();
    let out = tempfile::tempdir().unwrap();
    let (run, report) = run_with_report_at(
        &project,
        &out.path().join("report.json"),
        &[
            "run",
            "test_limits.py",
            "test_leak_limits.py",
            "--memray",
            "--cache-dir",
            path_str(&cache),
            "--python",
            "3.13",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let limits = result_for(&report, "test_limits.py");
    assert_eq!(
        limits["execution"]["why"]["names"],
        serde_json::json!(["test_allocates_50_mb"]),
        "{limits:#}"
    );
    let message = test_named(limits, "test_allocates_50_mb")["message"].as_str().unwrap();
    assert!(message.starts_with("Test was limited to 10.0MiB but allocated 47.7MiB"), "{message}");
    assert_eq!(test_named(limits, "test_allocates_1_mb")["outcome"], "passed", "{limits:#}");
    assert_eq!(test_named(limits, "test_unmarked")["outcome"], "passed", "{limits:#}");
    assert!(!limits["stderr"].as_str().unwrap().contains("not checked"), "{limits:#}");
    assert_limit_leaks_checked(result_for(&report, "test_leak_limits.py"));
    for (module, tests, peak) in [("test_limits.py", 3, 50_000_000), ("test_leak_limits.py", 2, 5_000_000)] {
        let memray = &result_for(&report, module)["memray"];
        assert_eq!(memray["per_test_captures"], tests, "{memray:#}");
        assert_eq!(memray["flamegraph"], "tests", "{memray:#}");
        // The largest test's own peak: its bytearray, and little besides.
        let heap = memray["peak_memory_bytes"].as_u64().unwrap_or_else(|| panic!("{memray:#}"));
        assert!((peak..peak + peak / 20).contains(&heap), "{heap} for {peak}: {memray:#}");
        assert!(memray["total_allocations"].as_u64().unwrap() >= tests, "{memray:#}");
        let svg =
            std::fs::read_to_string(out.path().join(memray["flamegraph_path"].as_str().unwrap())).unwrap();
        assert!(svg.contains("summed over the tests") && svg.contains("per-test captures"), "{svg:.600}");
        assert!(!svg.contains("pytest_memray/plugin.py"), "pytest-memray's own frame is left out");
    }
    let limits_svg =
        std::fs::read_to_string(out.path().join(limits["memray"]["flamegraph_path"].as_str().unwrap()))
            .unwrap();
    for test in ["test_allocates_50_mb", "test_allocates_1_mb", "test_unmarked"] {
        assert!(limits_svg.contains(test), "{test} in the flame graph");
    }
    let top = limits["memray"]["top_allocations_by_size"][0]["location"].as_str().unwrap();
    assert!(top.starts_with("allocate:") && top.ends_with("test_limits.py:9"), "{top}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn without_a_project_the_markers_are_not_checked_and_the_run_says_so() {
    require_engine();
    // pytest-memray's markers file of the `per_test_memray` project, alone in a test dir.
    let dir = empty_test_dir();
    let markers = project_root().join("xtask/tests/fixtures/per_test_memray/test_limits.py");
    std::fs::write(dir.path().join("test_limits_no_project.py"), std::fs::read(markers).unwrap()).unwrap();
    let (run, report) =
        run_with_report(dir.path(), &["run", "test_limits_no_project.py", "--python", "3.13"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = result_for(&report, "test_limits_no_project.py");
    assert_eq!(test_named(result, "test_allocates_50_mb")["outcome"], "passed", "{result:#}");
    let stderr = result["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("limit_memory / limit_leaks are not checked: pytest-memray is not installed here"),
        "{stderr}"
    );
    assert!(!stderr.contains("PytestUnknownMarkWarning") && !run.stdout.contains("PytestUnknownMarkWarning"));
    // Under --memray, with no pytest-memray to record per test, the file is recorded whole.
    let (run, report) =
        run_with_report(dir.path(), &["run", "test_limits_no_project.py", "--python", "3.13", "--memray"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = result_for(&report, "test_limits_no_project.py");
    assert!(result["stderr"].as_str().unwrap().contains("not checked: pytest-memray is not installed here"));
    let memray = &result["memray"];
    assert_eq!(
        (&memray["per_test_captures"], &memray["flamegraph"]),
        (&serde_json::Value::Null, &"allocations".into())
    );
    assert!(
        memray["peak_memory_bytes"].as_u64().unwrap() >= 50_000_000,
        "the 50 MB test within the module: {memray:#}"
    );
}
