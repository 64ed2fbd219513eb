//! Discovery and harness choice as the project's own runner would make them,
//! on the real engine: nested folders, the project's `python_files` and
//! `norecursedirs`, package-relative imports, a TestCase mixed with plain
//! functions, tests defined inside an `if`, a main-guarded file; and the
//! per-file counts equal to what pytest itself says in a plain container.

mod common;

use std::process::Command;

use common::*;

/// `passed, failed, skipped` of one result's test counts.
fn counts(result: &serde_json::Value) -> (u64, u64, u64) {
    let counts = &result["test_counts"];
    let n = |key: &str| counts[key].as_u64().unwrap_or(0);
    (n("passed"), n("failed") + n("errors"), n("skipped"))
}

/// What pytest itself reports for one file, run in a plain container of the
/// run's own image: `passed, failed, skipped` from its summary line.
fn pytest_says(image: &str, dir: &std::path::Path, file: &str) -> (u64, u64, u64) {
    let dir = path_str(dir);
    let output = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-e", "PYTHONDONTWRITEBYTECODE=1", "-v"])
        .arg(format!("{dir}:{dir}:ro"))
        .args(["-w", dir, image, "python3", "-m", "pytest", "-p", "no:cacheprovider", "-q", file])
        .output()
        .expect("docker runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or("").trim_matches('=').trim().to_string();
    let count = |word: &str| {
        summary
            .split(", ")
            .filter_map(|part| part.split(" in ").next())
            .find_map(|part| part.strip_suffix(word).and_then(|n| n.trim().parse::<u64>().ok()))
            .unwrap_or(0)
    };
    (count(" passed"), count(" failed") + count(" error"), count(" skipped"))
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_pytest_project_runs_what_pytest_collects_and_counts_as_pytest_does() {
    require_engine();
    let dir = fixture("discovery");
    let listed = xtask(&["list", "--json", "--test-dir", path_str(dir.path())]);
    assert_eq!(listed.code, 0, "{}", listed.dump());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    let modules: Vec<&str> = listed.iter().map(|m| m["module"].as_str().unwrap()).collect();
    assert_eq!(
        modules,
        ["check_top.py", "pkg/test_relative.py", "property/check_nested.py", "property/test_mixed.py"],
        "python_files, nested folders, norecursedirs, hidden folders"
    );
    assert!(listed.iter().all(|m| m["harness"] == "pytest"), "a pytest project runs every file under pytest");

    let (run, report) = run_with_report(dir.path(), &["run-all-tests"]);
    assert_eq!(run.code, 1, "test_mixed.py has a failing plain test: {}", run.dump());
    let image = report["run"]["images"][0]["image"].as_str().unwrap().to_string();
    for module in modules {
        let result = result_for(&report, module);
        assert_eq!(result["harness"], "pytest", "{result:#}");
        assert_eq!(counts(result), pytest_says(&image, dir.path(), module), "{module}: {result:#}");
    }
    assert_eq!(
        counts(result_for(&report, "property/test_mixed.py")),
        (4, 1, 0),
        "the TestCase and the functions"
    );
    assert_eq!(counts(result_for(&report, "pkg/test_relative.py")), (2, 0, 0), "from . import works");
    assert_eq!(result_for(&report, "pkg/test_relative.py")["status"], "pass");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn outside_a_pytest_project_each_file_gets_the_harness_its_tests_need() {
    require_engine();
    let dir = fixture("plain_discovery");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let mixed = result_for(&report, "test_mixed.py");
    assert_eq!((mixed["harness"].as_str(), counts(mixed)), (Some("pytest"), (3, 0, 0)), "{mixed:#}");
    let inside_if = result_for(&report, "nested/test_inside_if.py");
    assert_eq!(
        (inside_if["harness"].as_str(), counts(inside_if)),
        (Some("unittest"), (2, 0, 0)),
        "{inside_if:#}"
    );
    let guarded = result_for(&report, "nested/test_guarded.py");
    assert_eq!(guarded["test_counts_from"], "unittest summary", "{guarded:#}");
    assert_eq!(counts(guarded), (1, 0, 0), "{guarded:#}");
}

#[test]
fn modules_are_named_by_path_and_globs_cross_folders_only_with_a_double_star() {
    let dir = fixture("discovery");
    let list = |args: &[&str]| {
        let run = xtask(&[&["list", "--json", "--test-dir", path_str(dir.path())], args].concat());
        let modules = serde_json::from_str::<Vec<serde_json::Value>>(&run.stdout)
            .map(|list| list.iter().map(|m| m["module"].as_str().unwrap().to_string()).collect::<Vec<_>>());
        (run, modules.unwrap_or_default())
    };
    assert_eq!(list(&["property/check_nested.py"]).1, ["property/check_nested.py"]);
    assert_eq!(list(&["./property/check_nested.py"]).1, ["property/check_nested.py"]);
    assert_eq!(list(&["property/*"]).1, ["property/check_nested.py", "property/test_mixed.py"]);
    assert_eq!(list(&["**/check_*"]).1, ["check_top.py", "property/check_nested.py"]);
    assert_eq!(list(&["--skip", "property/**"]).1, ["check_top.py", "pkg/test_relative.py"]);
    assert_eq!(list(&["--partition", "2/2"]).1, ["pkg/test_relative.py", "property/test_mixed.py"]);
    let (top_only, _) = list(&["check_*x"]);
    assert_eq!(top_only.code, 2, "{}", top_only.dump());
    let (escaping, _) = list(&["../discovery/check_top.py"]);
    assert_eq!(escaping.code, 2, "{}", escaping.dump());
    assert!(escaping.stderr.contains("inside the test dir"), "{}", escaping.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn every_test_counts_and_errors_are_named_as_what_they_are() {
    require_engine();
    let dir = fixture("counts");
    let junit = dir.path().join("out.xml");
    let html = dir.path().join("out.html");
    let (run, report) = run_with_report(
        dir.path(),
        &["run-all-tests", "--junit", path_str(&junit), "--report-html", path_str(&html)],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let many = result_for(&report, "test_many_parametrized.py");
    assert_eq!(counts(many), (1700, 300, 0), "2,000 tests, duplicate ids included: {}", many["test_counts"]);
    // The same counts in every renderer: the terminal's table, JUnit's properties, the HTML page.
    let row = run.stdout.lines().find(|l| l.starts_with("test_many_parametrized.py ")).unwrap_or_default();
    assert!(row.ends_with("1700 passed, 300 failed"), "the terminal row: {row:?}\n{}", run.dump());
    let xml = std::fs::read_to_string(&junit).unwrap();
    let suite =
        xml.split("<testsuite ").find(|s| s.starts_with("name=\"test_many_parametrized.py\"")).unwrap();
    for (name, value) in [("tests_passed", "1700"), ("tests_failed", "300")] {
        assert!(
            suite.contains(&format!("<property name=\"{name}\" value=\"{value}\"/>")),
            "{name}: {suite:.2000}"
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("1700 passed, 300 failed"), "the HTML report shows the counts");
    assert!(page.contains("5000 passed"), "the HTML report shows the counts");
    let image = report["run"]["images"][0]["image"].as_str().unwrap().to_string();
    assert_eq!(counts(many), pytest_says(&image, dir.path(), "test_many_parametrized.py"));
    let failing_listed =
        many["tests"].as_array().unwrap().iter().filter(|t| t["outcome"] == "failed").count();
    assert!(failing_listed > 0, "{many:#}");
    assert!(many["reason"].as_str().unwrap().starts_with("300 of 2000 tests failed"), "{}", many["reason"]);
    let equal = result_for(&report, "test_equal_cases.py");
    assert_eq!(
        counts(equal),
        (5000, 0, 0),
        "5,000 equal TestCases are 5,000 tests: {}",
        equal["test_counts"]
    );
    let collection = result_for(&report, "test_collection_error.py");
    let reason = collection["reason"].as_str().unwrap();
    assert!(
        reason.contains("ModuleNotFoundError") && reason.contains("test_collection_error.py"),
        "a collection error names the exception and the file: {reason}"
    );
    assert_eq!(reason.matches("interrupted").count(), 1, "{reason}");
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<error"), "errors are <error>: {}", &xml[..xml.len().min(2000)]);

    let broken = fixture("broken_conftest");
    let (run, report) = run_with_report(broken.path(), &["run-all-tests"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let reason = result_for(&report, "test_fine.py")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("a_module_the_conftest_needs") && reason.contains("conftest.py"), "{reason}");
}

/// What pytest collecting the whole folder runs, per file: `file → passed`
/// (files it leaves out are absent), in a plain container of `image`.
fn pytest_over_folder(image: &str, dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    let dir = path_str(dir);
    let output = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-e", "PYTHONDONTWRITEBYTECODE=1", "-v"])
        .arg(format!("{dir}:{dir}:ro"))
        .args(["-w", dir, image, "python3", "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", "."])
        .output()
        .expect("docker runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut passed = std::collections::BTreeMap::new();
    for line in stdout.lines().filter_map(|l| l.strip_prefix("PASSED ")) {
        let file = line.split("::").next().unwrap().to_string();
        *passed.entry(file).or_insert(0) += 1;
    }
    assert!(!passed.is_empty(), "pytest ran nothing:\n{stdout}");
    passed
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn files_the_projects_conftest_leaves_out_are_skipped_saying_so_on_that_python_only() {
    require_engine();
    let dir = fixture("collect_ignore");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--python", "3.9,3.11"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = |module: &str, python: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["module"] == module && r["python"] == python)
            .unwrap_or_else(|| panic!("no result for {module} on {python}: {report:#}"))
            .clone()
    };
    let left_out = |module: &str, python: &str| {
        let r = result(module, python);
        r["status"] == "skip" && r["execution"]["why"]["cause"] == "not-collected"
    };
    // Below 3.10 the conftest leaves the pattern-matching file out (it would not even compile).
    assert!(left_out("test_match_statement.py", "3.9"), "{report:#}");
    assert_eq!(result("test_match_statement.py", "3.11")["status"], "pass", "{report:#}");
    // collect_ignore_glob leaves the scratch file out everywhere: its failing test never runs.
    assert!(left_out("test_notes_scratch.py", "3.9") && left_out("test_notes_scratch.py", "3.11"));
    assert!(run.stdout.contains("does not collect it on this Python"), "{}", run.dump());

    // Per file and Python, what ran is what pytest collecting the folder runs.
    for (index, python) in ["3.9", "3.11"].into_iter().enumerate() {
        let image = report["run"]["images"][index]["image"].as_str().unwrap();
        let expected = pytest_over_folder(image, dir.path());
        let mut ours = std::collections::BTreeMap::new();
        for r in report["results"].as_array().unwrap().iter().filter(|r| r["python"] == python) {
            let passed = r["test_counts"]["passed"].as_u64().unwrap_or(0);
            if passed > 0 {
                ours.insert(r["module"].as_str().unwrap().to_string(), passed);
            }
        }
        assert_eq!(ours, expected, "Python {python}: the runner (left) vs pytest over the folder (right)");
    }
}
