//! Test files written for pytest or unittest run as their framework would,
//! each in its own container; a file that defines tests and ran none is never
//! a pass.

mod common;

use common::*;

fn test_names(result: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> =
        result["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn pytest_and_unittest_files_run_under_their_framework() {
    require_engine();
    let dir = fixture("frameworks");
    let junit = dir.path().join("junit.xml");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_pytest_style.py", "test_unittest_no_main.py", "--junit", path_str(&junit)],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let pytest = result_for(&report, "test_pytest_style.py");
    assert_eq!(pytest["status"], "fail", "{pytest:#}");
    assert_eq!(pytest["harness"], "pytest");
    assert_eq!(test_names(pytest), ["test_fails", "test_passes"]);
    assert!(pytest["reason"].as_str().unwrap().contains("1 of 2 tests failed: test_fails"), "{pytest:#}");
    assert!(run.stdout.contains("assert 1 == 2"), "the assertion is shown:\n{}", run.dump());
    let unittest = result_for(&report, "test_unittest_no_main.py");
    assert_eq!(unittest["status"], "fail", "{unittest:#}");
    assert_eq!(unittest["harness"], "unittest");
    assert_eq!(test_names(unittest), ["Arithmetic.test_adds", "Arithmetic.test_subtracts"]);
    assert!(run.stdout.contains("three minus one is two"), "{}", run.dump());
    assert!(run.stdout.contains("1 passed, 1 failed"), "the summary counts inner tests:\n{}", run.stdout);
    assert!(unittest["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "memory is measured per module");
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"test_fails\""), "one testcase per inner test:\n{xml}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_script_with_a_main_guard_runs_as_a_script() {
    require_engine();
    let dir = fixture("frameworks");
    let (run, report) = run_with_report(dir.path(), &["run", "test_script_with_helper.py"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("ran as a script"), "{}", run.dump());
    let result = result_for(&report, "test_script_with_helper.py");
    assert_eq!(result["harness"], serde_json::Value::Null, "no harness between: {result:#}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn no_collected_test_and_tests_run_as_a_script_are_never_a_pass() {
    require_engine();
    let dir = fixture("frameworks");
    let (run, report) = run_with_report(dir.path(), &["run", "test_no_tests.py"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let result = result_for(&report, "test_no_tests.py");
    assert!(result["reason"].as_str().unwrap().contains("no tests ran"), "{result:#}");

    let (run, report) = run_with_report(dir.path(), &["run", "test_pytest_style.py", "--harness", "script"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let result = result_for(&report, "test_pytest_style.py");
    assert_eq!(result["status"], "fail");
    assert!(result["reason"].as_str().unwrap().contains("--harness pytest"), "{result:#}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn arguments_after_a_double_dash_reach_the_framework() {
    require_engine();
    let dir = fixture("frameworks");
    let (run, report) = run_with_report(dir.path(), &["run", "test_pytest_style.py", "--", "-k", "passes"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = result_for(&report, "test_pytest_style.py");
    assert_eq!(test_names(result), ["test_passes"]);
    let (run, report) = run_with_report(dir.path(), &["run", "test_unittest_no_main.py", "--", "-k", "adds"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(test_names(result_for(&report, "test_unittest_no_main.py")), ["Arithmetic.test_adds"]);
}

#[test]
fn the_projects_own_modules_all_run_as_scripts() {
    let list = xtask(&["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.dump());
    let modules: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    for module in modules.as_array().unwrap() {
        assert_eq!(module["harness"], "script", "{module:#}");
    }
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_harness_runs_from_the_bytecode_the_image_compiled() {
    require_engine();
    let dir = fixture("frameworks");
    // Python's verbose mode names where each module's code came from.
    let (run, report) =
        run_with_report(dir.path(), &["run", "test_pytest_style.py", "--env", "PYTHONVERBOSE=1"]);
    let result = result_for(&report, "test_pytest_style.py");
    assert_eq!(result["harness"], "pytest", "{}", run.dump());
    let stderr = result["stderr"].as_str().unwrap();
    let cached = "code object from '/opt/pymaccounter/__pycache__/harness.cpython-";
    assert!(stderr.contains(cached), "the harness was compiled in the container:\n{stderr}");
}
