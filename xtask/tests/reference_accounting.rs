//! Reference accounting: debug interpreters, leak hunting by CPython's rule,
//! budgets and expectations declared in modules, Python 3.14, mimalloc.

mod common;

use common::*;

fn status<'a>(report: &'a serde_json::Value, module: &str) -> &'a str {
    result_for(report, module)["status"].as_str().unwrap()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_debug_build_hunts_reference_leaks_by_cpythons_rule() {
    require_engine();
    let dir = fixture("accounting");
    let modules =
        ["test_debug_build.py", "test_leaks_a_reference.py", "test_stable.py", "test_leaks_a_descriptor.py"];
    let mut args = vec!["run"];
    args.extend(modules);
    args.extend(["--python", "3.11-dbg", "--hunt-leaks"]);
    let (run, report) = run_with_report(dir.path(), &args);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(status(&report, "test_debug_build.py"), "pass");
    assert_eq!(status(&report, "test_stable.py"), "pass", "{report:#}");
    let leaky = result_for(&report, "test_leaks_a_reference.py");
    assert_eq!(leaky["status"], "leak", "{leaky:#}");
    let refs = leaky["hunt_leaks"]["refs"].as_array().expect("a debug build measures references");
    assert!(refs.iter().all(|d| d.as_i64().unwrap() >= 1), "{leaky:#}");
    assert!(leaky["reason"].as_str().unwrap().contains("references"), "{leaky:#}");
    let descriptor = result_for(&report, "test_leaks_a_descriptor.py");
    assert_eq!(descriptor["status"], "leak", "{descriptor:#}");
    assert!(descriptor["reason"].as_str().unwrap().contains("file descriptors"), "{descriptor:#}");

    let (plain, report) =
        run_with_report(dir.path(), &["run", "test_leaks_a_reference.py", "--python", "3.11-dbg"]);
    assert_eq!(plain.code, 0, "without --hunt-leaks it is an ordinary pass:\n{}", plain.dump());
    assert_eq!(status(&report, "test_leaks_a_reference.py"), "pass");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn declarations_set_budgets_and_invert_the_leak_verdict() {
    require_engine();
    let dir = fixture("accounting");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_over_budget.py", "test_expects_a_leak.py", "--hunt-leaks", "2:3"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let over = result_for(&report, "test_over_budget.py");
    assert_eq!(over["status"], "over-budget", "{over:#}");
    assert!(over["reason"].as_str().unwrap().contains("20.0 MiB"), "{over:#}");
    assert_eq!(status(&report, "test_expects_a_leak.py"), "pass", "the leak it expects is found: {report:#}");

    let (run, report) = run_with_report(dir.path(), &["run", "test_stable.py", "--hunt-leaks"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(status(&report, "test_stable.py"), "pass");
    std::fs::write(
        dir.path().join("test_stable.py"),
        "# pymaccounter: expect = leak\n\"\"\"Expects a leak it does not have.\"\"\"\nprint('stable')\n",
    )
    .unwrap();
    let (run, report) = run_with_report(dir.path(), &["run", "test_stable.py", "--hunt-leaks"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert!(result_for(&report, "test_stable.py")["reason"].as_str().unwrap().contains("expect = leak"));
}

#[test]
fn a_bad_declaration_exits_2_naming_the_file_and_line() {
    let dir = fixture("bad_declarations");
    let run = xtask(&["run-all-tests", "--debug", "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run.stderr.contains("test_bad.py:1: max-peak-rss"), "{}", run.stderr);
    assert!(!run.stderr.contains("$ docker"), "nothing started:\n{}", run.stderr);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn python_3_14_comes_from_debian_testing_and_mimalloc_from_3_13_on() {
    require_engine();
    let dir = fixture("accounting");
    let (run, _) = run_with_report(dir.path(), &["run", "test_prints_version.py", "--python", "3.14"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("version 3.14."), "{}", run.stdout);
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_stable.py", "--python", "3.13", "--python-malloc", "mimalloc"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(result_for(&report, "test_stable.py")["python_malloc"], "mimalloc");
    let refused = xtask(&[
        "run",
        "test_stable.py",
        "--python",
        "3.11",
        "--python-malloc",
        "mimalloc",
        "--test-dir",
        path_str(dir.path()),
    ]);
    assert_eq!(refused.code, 2, "{}", refused.dump());
    assert!(refused.stderr.contains("mimalloc"), "{}", refused.stderr);
}
