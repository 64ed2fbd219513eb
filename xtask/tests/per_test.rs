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
