//! Issue 21, "Every test kept": per-test results leave the container through
//! a mounted file, not a size-capped stderr line, so a file's every test is
//! in the JSON report with its outcome, message and bounded traceback, the
//! counts equal to what the framework itself prints; and nothing a module
//! does to that file (planting, replacing, filling it, exiting early, a
//! detached child rewriting it) forges its verdict.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::*;

/// `passed, failed, skipped` of one result's test counts.
fn counts(result: &serde_json::Value) -> (u64, u64, u64) {
    let counts = &result["test_counts"];
    let n = |key: &str| counts[key].as_u64().unwrap_or(0);
    (n("passed"), n("failed") + n("errors"), n("skipped"))
}

/// The last line a plain container of the run's image prints for one file
/// run by the framework itself (`python3 -m pytest FILE`, `python3 -m unittest NAME`).
fn framework_says(image: &str, dir: &std::path::Path, framework: &[&str]) -> String {
    let dir = path_str(dir);
    let output = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-e", "PYTHONDONTWRITEBYTECODE=1", "-v"])
        .arg(format!("{dir}:{dir}:ro"))
        .args(["-w", dir, image, "python3", "-m"])
        .args(framework)
        .output()
        .expect("docker runs");
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string()
}

/// The value before `word` in a summary (`3000 failed`, `failures=40`).
fn figure(summary: &str, word: &str) -> u64 {
    summary
        .split([',', '(', ')', ' '])
        .collect::<Vec<_>>()
        .windows(2)
        .find_map(|pair| (pair[1] == word).then(|| pair[0].parse().ok()).flatten())
        .or_else(|| {
            summary
                .split([',', '(', ')', ' '])
                .find_map(|part| part.strip_prefix(&format!("{word}=")).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn tests_of(result: &serde_json::Value) -> &Vec<serde_json::Value> {
    result["tests"].as_array().expect("a tests list")
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn twenty_thousand_pytest_and_six_thousand_unittest_tests_are_all_kept() {
    require_engine();
    let dir = fixture("every_test");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--timeout", "900"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let image = report["run"]["images"][0]["image"].as_str().unwrap().to_string();

    let many = result_for(&report, "test_twenty_thousand.py");
    assert_eq!(many["status"], "fail", "{}", many["reason"]);
    assert_eq!(counts(many), (17000, 3000, 0), "{}", many["test_counts"]);
    let pytest = framework_says(
        &image,
        dir.path(),
        &["pytest", "-p", "no:cacheprovider", "-q", "--tb=no", "test_twenty_thousand.py"],
    );
    assert_eq!(
        (figure(&pytest, "passed"), figure(&pytest, "failed")),
        (17000, 3000),
        "pytest said {pytest:?}"
    );
    assert_eq!(many["tests_truncated"], false);
    let tests = tests_of(many);
    assert_eq!(tests.len(), 20000, "every test is kept");
    let names: HashSet<&str> = tests.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 20000, "ids are unique, none lost");
    let failing: Vec<&serde_json::Value> = tests.iter().filter(|t| t["outcome"] == "failed").collect();
    assert_eq!(failing.len(), 3000);
    for test in &failing {
        let traceback = test["traceback"].as_str().unwrap_or_else(|| panic!("no traceback: {test:#}"));
        assert!(traceback.contains("fails on purpose") && traceback.len() <= 8000, "{test:#}");
        assert!(test["message"].as_str().unwrap().contains("fails on purpose"), "{test:#}");
    }
    assert!(many["reason"].as_str().unwrap().starts_with("3000 of 20000 tests failed"), "{}", many["reason"]);

    let unittest = result_for(&report, "test_many_unittest.py");
    assert_eq!(counts(unittest), (5700, 40, 485), "{}", unittest["test_counts"]);
    let said = framework_says(&image, dir.path(), &["unittest", "test_many_unittest"]);
    assert_eq!((figure(&said, "failures"), figure(&said, "skipped")), (40, 485), "unittest said {said:?}");
    let tests = tests_of(unittest);
    assert_eq!(tests.len(), 6225, "every one of 6,225 tests is kept");
    assert_eq!(unittest["tests_truncated"], false);
    let names: HashSet<&str> = tests.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 6225, "equal TestCases are told apart by their suffix");
    assert!(names.contains("Same.test_it") && names.contains("Same.test_it [5700]"), "{:?}", &tests[..3]);
    let failing: Vec<&serde_json::Value> = tests.iter().filter(|t| t["outcome"] == "failed").collect();
    assert_eq!(failing.len(), 40);
    assert!(failing.iter().all(|t| t["traceback"].as_str().is_some_and(|tb| tb.contains("AssertionError"))));
    assert_eq!(containers_of_run(report["run_id"].as_str().unwrap()), Vec::<String>::new());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn nothing_a_module_does_to_the_verdict_file_forges_its_verdict() {
    require_engine();
    let dir = fixture("verdict_forgers");
    let started = std::time::Instant::now();
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--timeout", "60"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    // Planted (with the wrapper's nonce had the module been able to read
    // it), then replacing attempted: the verdict is the harness's.
    let planter = result_for(&report, "test_plants_and_replaces.py");
    assert_eq!(planter["status"], "fail", "{planter:#}");
    assert_eq!(counts(planter), (1, 1, 0), "{planter:#}");
    let names: Vec<&str> = tests_of(planter).iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["test_plants_then_fails", "test_passes"], "{planter:#}");
    let stdout = planter["stdout"].as_str().unwrap();
    assert!(stdout.contains("forger: ['planted'"), "it did plant: {stdout}");
    // PID 1 runs an execute-only shell: not dumpable, its memory (the nonce) unreadable.
    assert!(stdout.contains("stolen: no"), "{stdout}");
    // The file is a mount point alone: it cannot be removed or replaced.
    assert!(stdout.contains("'planted', 'OSError', 'OSError', 'OSError'"), "{stdout}");
    // Planted, then the interpreter ended early: no verdict, no pass.
    let exiter = result_for(&report, "test_forges_then_exits.py");
    assert_eq!(exiter["status"], "fail", "{exiter:#}");
    assert!(exiter["reason"].as_str().unwrap().contains("reported nothing"), "{exiter:#}");
    // A detached child rewriting the file and the harness's descriptor every
    // millisecond is dead before the verdict is written.
    let child = result_for(&report, "test_detached_child_rewrites.py");
    assert_eq!(child["status"], "fail", "{child:#}");
    assert_eq!(counts(child), (0, 1, 0), "{child:#}");
    assert_eq!(tests_of(child)[0]["name"], "test_child_rewrites_and_the_test_fails", "{child:#}");
    // Over the cap the runner reads: no verdict, no pass; the file size limit holds.
    let filler = result_for(&report, "test_fills_the_verdict_file.py");
    assert_eq!(filler["status"], "fail", "{filler:#}");
    assert!(filler["reason"].as_str().unwrap().contains("reported nothing"), "{filler:#}");
    assert!(filler["stdout"].as_str().unwrap().contains("sparse: refused"), "{filler:#}");
    let honest = result_for(&report, "test_honest.py");
    assert_eq!(honest["status"], "pass", "{honest:#}");
    assert_eq!(counts(honest), (2, 0, 0), "{honest:#}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "nothing waited for the child");
    let run_id = report["run_id"].as_str().unwrap();
    assert_eq!(containers_of_run(run_id), Vec::<String>::new());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_remote_engine_keeps_the_bounded_stderr_verdict_with_whole_counts() {
    require_engine();
    // The local engine taken for a remote one: the tests go into a volume,
    // and no host file can be mounted, so the verdict is the stderr line.
    let dir = fixture("counts");
    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let run = Finished::from_command(
        xtask_command(&[
            "run",
            "test_many_parametrized.py",
            "--test-dir",
            path_str(dir.path()),
            "--report-json",
            path_str(&report_path),
        ])
        .env("PYMACCOUNTER_REMOTE_ENGINE", "1"),
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let report = read_json(&report_path);
    let many = result_for(&report, "test_many_parametrized.py");
    assert_eq!(counts(many), (1700, 300, 0), "the counts stay whole: {}", many["test_counts"]);
    assert_eq!(many["tests_truncated"], true, "{}", many["tests_truncated"]);
    let tests = tests_of(many);
    assert!(!tests.is_empty() && tests.len() < 2000, "{}", tests.len());
    // Failures are kept before any passing test: a pass is there only once all 300 are.
    let failed = tests.iter().filter(|t| t["outcome"] == "failed").count();
    assert!(failed == 300 || failed == tests.len(), "failing tests go first: {failed} of {}", tests.len());
    assert!(!many["stderr"].as_str().unwrap().contains("@@pymaccounter"), "the line is taken off stderr");
}
