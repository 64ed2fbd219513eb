//! The core runner against the real engine: selection, output, exit codes,
//! parallelism, the image cache.

mod common;

use std::process::Command;

use common::*;

#[test]
fn help_lists_every_task() {
    let help = xtask(&["--help"]);
    assert_eq!(help.code, 0);
    let listed: Vec<&str> = help
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for task in ["run", "run-all-tests", "list", "build-image", "base-image", "clean"] {
        assert!(listed.contains(&task), "{task} missing from:\n{}", help.stdout);
    }
}

#[test]
fn list_shows_every_module_with_its_summary() {
    let list = xtask(&["list"]);
    assert_eq!(list.code, 0, "{}", list.dump());
    let baseline = list.stdout.lines().find(|l| l.starts_with("test_baseline.py")).expect("baseline listed");
    assert!(baseline.len() > "test_baseline.py".len() + 5, "no summary: {baseline}");
    let modules = std::fs::read_dir(project_root().join("python_tests"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().into_string().unwrap();
            name.starts_with("test_") && name.ends_with(".py")
        })
        .count();
    assert_eq!(list.stdout.lines().count(), modules);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn baseline_with_debug_shows_greeting_and_engine_commands() {
    require_engine();
    let run = xtask(&["run", r#"["test_baseline.py"]"#, "--debug"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("Test results for python_tests/test_baseline.py:"), "{}", run.dump());
    assert!(run.stdout.contains("Hello from pymaccounter"), "{}", run.dump());
    assert!(run.stderr.contains("$ docker run"), "engine commands not shown:\n{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn run_all_tests_passes_every_module() {
    require_engine();
    let modules = xtask(&["list"]).stdout.lines().count();
    let run = xtask(&["run-all-tests"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    // On the default 3.11 release build, modules about debug builds or
    // mimalloc skip themselves, saying why; every other one passes.
    let last = run.last_line();
    let counts: Vec<usize> =
        last.split(", ").map(|part| part.split(' ').next().unwrap().parse().unwrap()).collect();
    assert_eq!(counts[1], 0, "{}", run.dump());
    assert_eq!(counts[0] + counts.get(2).copied().unwrap_or(0), modules, "{last}");
    assert!(counts.get(2).copied().unwrap_or(0) <= 2, "more skips than the two release-build ones: {last}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_test_dir_outside_the_repository_with_a_failing_module() {
    require_engine();
    let dir = fixture("mixed");
    let run = xtask(&["run", "test_passes.py", "test_fails.py", "--test_dir", path_str(dir.path())]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert!(
        run.stdout.contains("AssertionError: arithmetic still works"),
        "stderr not shown:\n{}",
        run.dump()
    );
    assert!(run.stdout.contains("this one is about to fail"), "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn skips_are_counted_apart_and_do_not_fail_the_run() {
    require_engine();
    let dir = fixture("mixed");
    let only_skip = xtask(&["run", "test_skips.py", "--test-dir", path_str(dir.path())]);
    assert_eq!(only_skip.code, 0, "{}", only_skip.dump());
    assert_eq!(only_skip.last_line(), "0 passed, 0 failed, 1 skipped");
    let all = xtask(&["run-all-tests", "--test-dir", path_str(dir.path())]);
    assert_eq!(all.code, 1, "{}", all.dump());
    assert_eq!(all.last_line(), "1 passed, 1 failed, 1 skipped");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn modules_run_in_parallel_each_in_its_own_container() {
    require_engine();
    let dir = fixture("parallel");
    for i in 1..=4 {
        std::fs::copy(dir.path().join("worker.py"), dir.path().join(format!("test_worker_{i}.py"))).unwrap();
    }
    let run = xtask(&["run-all-tests", "-j", "4", "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let mut spans = Vec::new();
    let mut hosts = std::collections::HashSet::new();
    for line in run.stdout.lines().filter(|l| l.starts_with("host=")) {
        let fields: Vec<&str> = line.split(' ').map(|f| f.split('=').nth(1).unwrap()).collect();
        hosts.insert(fields[0].to_string());
        spans.push((fields[1].parse::<f64>().unwrap(), fields[2].parse::<f64>().unwrap()));
    }
    assert_eq!(hosts.len(), 4, "each module needs its own container:\n{}", run.stdout);
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let overlapping = spans.windows(2).any(|w| w[1].0 < w[0].1);
    assert!(overlapping, "no two modules ran at the same time: {spans:?}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn an_unchanged_recipe_makes_no_build_call() {
    require_engine();
    let first = xtask(&["build-image", "--debug"]);
    assert_eq!(first.code, 0, "{}", first.dump());
    let second = xtask(&["build-image", "--debug"]);
    assert_eq!(second.code, 0, "{}", second.dump());
    assert!(!second.stderr.contains(" build "), "second call rebuilt:\n{}", second.dump());
    assert_eq!(first.last_line(), second.last_line());
    assert!(first.last_line().starts_with("pymaccounter-tests:"));
}

#[test]
fn bad_input_exits_2_and_starts_nothing() {
    let dir = fixture("mixed");
    let test_dir = path_str(dir.path());
    let cases: &[&[&str]] = &[
        &["run", r#"["test_passes.py""#],
        &["run", r#"{"test": "test_passes.py"}"#],
        &["run", r#"["test_passes.py", 1]"#],
        &["run", "[]"],
        &["run", "test_pases.py"],
        &["run", "../test_passes.py"],
        &["run", "/etc/passwd"],
        &["run", "test_passes"],
        &["run", "test_passes.py", "test_passes.py"],
        &["run-all-tests", "--test-dir", "/no/such/dir"],
        &["run-all-tests", "--jobs", "0"],
        &["run-all-tests", "--timeout", "0"],
        &["run-all-tests", "--timeout", "-1"],
        &["run-all-tests", "--memory", "plenty"],
        &["run-all-tests", "--engine", "lxc"],
        &["run-all-tests", "--python-malloc", "jemalloc"],
        &["run-all-tests", "--python", "2.7"],
        &["run-all-tests", "--report-json", "/etc/passwd/report.json"],
        &["run-all-tests", "--report-json", "/proc/x.json"],
        &["run-all-tests", "--report-html", "/tmp"],
        &["run-all-tests", "--junit", "/tmp/pymaccounter-no-such-dir/"],
        &["run-all-tests", "--network", ""],
        &["run-all-tests", "--base-image", "Not A Reference"],
        &["run-all-tests", "--python", "3.11,3.11"],
        &["run-all-tests", "--python-malloc", "malloc,malloc"],
        &["run-all-tests", "--timeout", "18446744073709551615"],
        &["run-all-tests", "--memory", "99999999999999g"],
        &["run-all-tests", "--jobs", "100000"],
    ];
    for case in cases {
        let mut args: Vec<&str> = case.to_vec();
        args.extend(["--debug", "--test-dir", test_dir]);
        if case.contains(&"--test-dir") {
            args.truncate(args.len() - 2);
        }
        let run = xtask(&args);
        assert_eq!(run.code, 2, "{case:?}:\n{}", run.dump());
        assert!(!run.stderr.contains("$ docker"), "{case:?} called the engine:\n{}", run.dump());
        assert!(run.stderr.lines().count() <= 12, "{case:?}: error too long:\n{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{case:?} panicked:\n{}", run.stderr);
    }
    let typo = xtask(&["run", "test_pases.py", "--test-dir", test_dir]);
    assert!(typo.stderr.contains("did you mean test_passes.py"), "{}", typo.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn clean_dry_run_says_what_would_go_and_removes_nothing() {
    require_engine();
    let images = || {
        let out =
            Command::new("docker").args(["images", "-q", "--filter", "label=pymaccounter"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let before = images();
    let run = xtask(&["clean", "--dry-run", "--all-users"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.lines().all(|l| l.starts_with("would ")), "{}", run.dump());
    assert_eq!(images(), before, "nothing removed");
}

/// A run starts its containers with the test images the last such run used
/// while it asks the engine whether they are still right, and no module
/// starts before the answer. A base rebuilt under the same name makes that
/// guess wrong: the module must not run in the old image; the run starts
/// again on the new one.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_remembered_test_image_that_went_stale_is_never_run() {
    require_engine();
    let base = offline_base_3_11();
    let name = format!("pymaccounter-test-guessed-{}:latest", std::process::id());
    let rebuild = |generation: &str| build_generation("docker", &base, &name, generation);
    let dir = generation_test_dir();
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let mut command = xtask_command(&[
            "run-all-tests",
            "--test-dir",
            path_str(dir.path()),
            "--base-image",
            &name,
            "--debug",
        ]);
        Finished::from_command(command.env("XDG_CACHE_HOME", cache.path()))
    };
    rebuild("1");
    // The first run builds the test image, the next finds it listed and remembers it.
    for _ in 0..2 {
        let first = run();
        assert_eq!(first.code, 0, "{}", first.dump());
        assert!(first.stdout.contains("generation 1"), "{}", first.dump());
    }
    // Remembered: this run starts its container before asking the engine.
    let second = run();
    assert_eq!(second.code, 0, "{}", second.dump());
    assert!(second.stdout.contains("generation 1"), "{}", second.dump());
    let started = second.stderr.find("$ docker run").expect("a container started");
    let asked = second.stderr.find(" images ").expect("the engine was asked for its images");
    assert!(started < asked, "the container did not start first:\n{}", second.dump());

    rebuild("2");
    let third = run();
    assert_eq!(third.code, 0, "{}", third.dump());
    assert!(third.stdout.contains("generation 2"), "ran in the new image: {}", third.dump());
    assert!(!third.stdout.contains("generation 1"), "the stale image's module never ran: {}", third.dump());
    let runs = third.stderr.lines().filter(|l| l.starts_with("run ")).count();
    assert_eq!(runs, 2, "the stale guess was dropped and the run made again:\n{}", third.dump());
    let _ = Command::new("docker").args(["rmi", "--force", &name]).output();
}
