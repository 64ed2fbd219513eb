//! The runner's logic against a scripted fake engine (`tests/fake-engine`):
//! fail-fast, deadlines, interruption, the reaper and engine errors, in
//! milliseconds and with no engine at all. The real-engine suites test the
//! same behaviour for real; these add speed, they replace nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A test dir of shell "modules" and the fake engine's state folder.
struct Fake {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
}

impl Fake {
    fn new(modules: &[(&str, &str)]) -> Fake {
        let dir = empty_test_dir();
        for (name, script) in modules {
            std::fs::write(dir.path().join(name), script).unwrap();
        }
        Fake { dir, state: tempfile::tempdir().unwrap() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-engine");
        let mut command = xtask_command(args);
        command
            .args(["--test-dir", path_str(self.dir.path())])
            .env("PYMACCOUNTER_ENGINE_PROGRAM", fake)
            .env("FAKE_ENGINE_STATE", self.state.path())
            .env_remove("DOCKER_HOST");
        command
    }

    fn run(&self, args: &[&str]) -> Finished {
        Finished::from_command(&mut self.command(args))
    }

    fn report(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }

    /// The fake's call log, one line per engine call.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Containers started and not removed.
    fn live_containers(&self) -> Vec<String> {
        std::fs::read_dir(self.state.path())
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".pgid").map(str::to_string))
            .collect()
    }

    fn started(&self) -> Vec<String> {
        self.log().iter().filter_map(|l| l.strip_prefix("run ").map(str::to_string)).collect()
    }
}

#[test]
fn every_container_is_removed_by_the_end_of_the_run() {
    let modules: Vec<(String, &str)> = (0..6).map(|i| (format!("test_{i}.py"), "echo ok\n")).collect();
    let modules: Vec<(&str, &str)> = modules.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let fake = Fake::new(&modules);
    let run = fake.run(&["run-all-tests", "-j", "2"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.last_line(), "6 passed, 0 failed");
    let started = fake.started();
    assert_eq!(started.len(), 6, "{:?}", fake.log());
    // Each is started with `--rm` (the engine removes it as it ends) or removed by name.
    let removals: Vec<String> =
        fake.log().into_iter().filter(|l| l.starts_with("rm ") || l.starts_with("autoremoved ")).collect();
    for name in &started {
        assert!(
            removals.iter().any(|l| l.split(' ').skip(1).any(|n| n == name)),
            "{name} never removed: {removals:?}"
        );
    }
    assert_eq!(fake.live_containers(), Vec::<String>::new());
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let fake = Fake::new(&[
        ("test_a.py", "echo boom >&2; exit 1\n"),
        ("test_b.py", "echo b\n"),
        ("test_c.py", "echo c\n"),
    ]);
    let report = fake.report();
    let run = fake.run(&["run-all-tests", "-j", "1", "--fail-fast", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(fake.started().len(), 1, "{:?}", fake.log());
    assert!(run.stdout.contains("2 not run (--fail-fast): test_b.py, test_c.py"), "{}", run.dump());
    let json = read_json(&report);
    assert_eq!(json["not_run"].as_array().unwrap().len(), 2);
    assert_eq!(result_for(&json, "test_a.py")["status"], "fail");
}

#[test]
fn a_module_past_its_deadline_is_killed_and_reported_timeout() {
    let fake = Fake::new(&[("test_hangs.py", "sleep 30\n"), ("test_quick.py", "echo quick\n")]);
    let report = fake.report();
    let started = Instant::now();
    let run = fake.run(&["run-all-tests", "--timeout", "1", "--report-json", path_str(&report)]);
    assert!(started.elapsed() < Duration::from_secs(15), "the deadline was not kept");
    assert_eq!(run.code, 1, "{}", run.dump());
    let json = read_json(&report);
    let hung = result_for(&json, "test_hangs.py");
    assert_eq!(hung["status"], "timeout");
    assert_eq!(hung["exit_code"], serde_json::Value::Null);
    assert_eq!(result_for(&json, "test_quick.py")["status"], "pass");
    assert_eq!(fake.live_containers(), Vec::<String>::new());
}

#[test]
fn an_interrupted_run_removes_its_containers_and_exits_130() {
    let fake = Fake::new(&[("test_hangs.py", "sleep 30\n")]);
    let mut child = fake
        .command(&["run-all-tests"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.live_containers().is_empty() {
        assert!(Instant::now() < deadline, "the module never started: {:?}", fake.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill").args(["-INT", "--", &format!("-{}", child.id())]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let stdout: Vec<String> =
        BufReader::new(child.stdout.take().unwrap()).lines().map(|l| l.unwrap()).collect();
    assert_eq!(stdout.last().map(String::as_str), Some("0 passed, 0 failed"), "{stdout:?}");
    assert_eq!(fake.live_containers(), Vec::<String>::new(), "{:?}", fake.log());
}

#[test]
fn an_engine_that_cannot_start_a_container_stops_the_run_with_exit_3() {
    let fake = Fake::new(&[("test_a.py", "# FAKE_ENGINE_FAILS\n"), ("test_b.py", "echo b\n")]);
    let run = fake.run(&["run-all-tests", "-j", "1"]);
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(run.stderr.contains("the engine could not run test_a.py"), "{}", run.dump());
    assert!(
        run.stderr.contains("cargo xtask clean --run "),
        "says how to remove what is left:\n{}",
        run.dump()
    );
    assert!(run.stdout.contains("not run"), "{}", run.dump());
    assert_eq!(fake.live_containers(), Vec::<String>::new());
}

#[test]
fn a_runtime_that_cannot_start_a_container_stops_the_run_at_the_first_start() {
    let modules: Vec<(String, String)> =
        (0..6).map(|i| (format!("test_{i}.py"), "# FAKE_RUNTIME_FAILS\n".to_string())).collect();
    let modules: Vec<(&str, &str)> = modules.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
    let fake = Fake::new(&modules);
    let run = fake.run(&["run-all-tests", "-j", "1"]);
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(
        run.stderr.contains("cgroups in hybrid mode not supported"),
        "the engine's words: {}",
        run.dump()
    );
    assert!(run.stderr.contains("OCI runtime cannot start containers"), "and the fix: {}", run.dump());
    let starts = fake.log().iter().filter(|l| l.starts_with("run ")).count();
    assert_eq!(starts, 1, "one start, not six failed modules: {:?}", fake.log());
    assert_eq!(fake.live_containers(), Vec::<String>::new());
}

#[test]
fn a_test_dir_copy_that_fails_leaves_no_volume() {
    // The fake knows no `create`, so filling the volume fails after it was made.
    let fake = Fake::new(&[("test_a.py", "echo a\n")]);
    let run = Finished::from_command(fake.command(&["run-all-tests"]).env("PYMACCOUNTER_REMOTE_ENGINE", "1"));
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(run.stderr.contains("copying"), "{}", run.dump());
    let log = fake.log();
    let created = log.iter().find_map(|l| l.strip_prefix("volume create ")).expect("a volume was made");
    let volume = created.split(' ').next_back().unwrap();
    assert!(
        log.iter().any(|l| l.starts_with("volume rm") && l.split(' ').any(|w| w == volume)),
        "{volume} was left: {log:?}"
    );
    assert!(fake.started().is_empty(), "{log:?}");
}

#[test]
fn a_module_exiting_125_is_the_modules_failure_not_the_engines() {
    let fake = Fake::new(&[("test_a.py", "exit 125\n"), ("test_b.py", "echo b\n")]);
    let report = fake.report();
    let run = fake.run(&["run-all-tests", "-j", "1", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let json = read_json(&report);
    assert_eq!(result_for(&json, "test_a.py")["exit_code"], 125);
    assert_eq!(result_for(&json, "test_a.py")["status"], "fail");
    assert_eq!(result_for(&json, "test_b.py")["status"], "pass");
}

#[test]
fn memory_limit_kills_and_signals_get_their_own_statuses() {
    let fake = Fake::new(&[
        ("test_oom.py", "# FAKE_OOM\n"),
        ("test_segv.py", "# FAKE_SIGNAL=11\n"),
        ("test_skip.py", "exit 77\n"),
    ]);
    let report = fake.report();
    let run = fake.run(&["run-all-tests", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let json = read_json(&report);
    assert_eq!(result_for(&json, "test_oom.py")["status"], "oom");
    let segv = result_for(&json, "test_segv.py");
    assert_eq!((segv["status"].as_str(), segv["signal"].as_i64()), (Some("crash"), Some(11)));
    assert_eq!(result_for(&json, "test_skip.py")["status"], "skip");
    assert_eq!(run.last_line(), "0 passed, 2 failed, 1 skipped");
    assert!(json["run_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[test]
fn each_attempt_is_told_its_number_and_gets_its_own_container() {
    let fake = Fake::new(&[(
        "test_a.py",
        "echo \"attempt $PYMACCOUNTER_ATTEMPT\"\n# FAKE_PEAK_KIB=3000,1000,2000\n",
    )]);
    let report = fake.report();
    let run = fake.run(&["run-all-tests", "--repeat", "3", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
    let started = fake.started();
    assert_eq!(started.len(), 3, "{:?}", fake.log());
    assert_eq!(
        started.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "three distinct containers"
    );
    let json = read_json(&report);
    let result = result_for(&json, "test_a.py");
    assert_eq!(result["peak_rss_bytes"], 2000 * 1024, "the median");
    assert_eq!(result["spread"]["peak_rss_bytes"]["min"], 1000.0 * 1024.0);
    assert_eq!(result["spread"]["peak_rss_bytes"]["max"], 3000.0 * 1024.0);
    let attempts: Vec<&str> =
        result["attempts"].as_array().unwrap().iter().map(|a| a["stdout"].as_str().unwrap().trim()).collect();
    assert_eq!(attempts, ["attempt 1", "attempt 2", "attempt 3"]);
    assert!(run.stdout.contains("(3 attempts: pass, pass, pass; peak RSS"), "{}", run.dump());
    assert_eq!(fake.live_containers(), Vec::<String>::new());
}

#[test]
fn a_failure_then_a_pass_under_retries_is_flaky() {
    let module = "if [ \"$PYMACCOUNTER_ATTEMPT\" = 1 ]; then echo first >&2; exit 1; fi\necho fine\n";
    let fake = Fake::new(&[("test_a.py", module), ("test_b.py", "echo b\n")]);
    let (report, junit) = (fake.report(), fake.dir.path().join("junit.xml"));
    let run = fake.run(&[
        "run-all-tests",
        "--retries",
        "2",
        "--report-json",
        path_str(&report),
        "--junit",
        path_str(&junit),
    ]);
    assert_eq!(run.code, 1, "flaky fails by default: {}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed");
    assert_eq!(fake.started().len(), 3, "a: two attempts, b: one: {:?}", fake.log());
    let json = read_json(&report);
    let a = result_for(&json, "test_a.py");
    assert_eq!((a["status"].as_str(), a["counted_as"].as_str()), (Some("flaky"), Some("failed")));
    assert_eq!(a["reason"], "passed 1 of 2 attempts; attempt 1: exit code 1");
    assert!(result_for(&json, "test_b.py").get("attempts").is_none(), "b ran once");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<flakyFailure").count(), 1, "{xml}");

    let tolerated = fake.run(&[
        "run-all-tests",
        "--retries",
        "2",
        "--flaky-result",
        "pass",
        "--report-json",
        path_str(&report),
    ]);
    assert_eq!(tolerated.code, 0, "{}", tolerated.dump());
    assert_eq!(tolerated.last_line(), "2 passed, 0 failed");
    let a = result_for(&read_json(&report), "test_a.py").clone();
    assert_eq!((a["status"].as_str(), a["counted_as"].as_str()), (Some("flaky"), Some("passed")));
}

#[test]
fn retries_stop_at_the_limit_and_mark_the_reruns() {
    let fake = Fake::new(&[("test_a.py", "echo \"no $PYMACCOUNTER_ATTEMPT\" >&2; exit 3\n")]);
    let (report, junit) = (fake.report(), fake.dir.path().join("junit.xml"));
    let run = fake.run(&[
        "run-all-tests",
        "--retries",
        "2",
        "--report-json",
        path_str(&report),
        "--junit",
        path_str(&junit),
    ]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(fake.started().len(), 3, "{:?}", fake.log());
    let json = read_json(&report);
    let a = result_for(&json, "test_a.py");
    assert_eq!((a["status"].as_str(), a["exit_code"].as_i64()), (Some("fail"), Some(3)));
    assert_eq!(a["attempts"].as_array().unwrap().len(), 3);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<rerunFailure").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("no 3"), "the last attempt's stderr is the failure's: {xml}");
}

#[test]
fn a_mix_of_pass_and_fail_under_repeat_is_flaky() {
    let fake = Fake::new(&[("test_a.py", "[ \"$PYMACCOUNTER_ATTEMPT\" = 2 ] && exit 1\necho ok\n")]);
    let report = fake.report();
    let run = fake.run(&["run-all-tests", "--repeat", "3", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let a = result_for(&read_json(&report), "test_a.py").clone();
    assert_eq!(a["status"], "flaky");
    assert_eq!(a["reason"], "passed 2 of 3 attempts; attempt 2: exit code 1");
}

#[test]
fn the_engine_variable_chooses_the_engine_as_the_flag_does() {
    let run = |value: &str| {
        Finished::from_command(
            xtask_command(&["clean", "--containers-only"])
                .env("PYMACCOUNTER_ENGINE", value)
                .env_remove("PYMACCOUNTER_ENGINE_PROGRAM")
                .env("PATH", "/nonexistent"),
        )
    };
    let podman = run("podman");
    assert_eq!(podman.code, 3, "{}", podman.dump());
    assert!(podman.stderr.contains("`podman` was not found on PATH"), "{}", podman.dump());
    let bogus = run("bogus");
    assert_eq!(bogus.code, 2, "{}", bogus.dump());
    assert!(bogus.stderr.contains("bogus"), "{}", bogus.dump());
}

#[test]
fn max_fail_stops_after_that_many_failures_and_no_fail_fast_undoes_it() {
    let failing = "#!/bin/sh\nexit 1\n";
    let fake = Fake::new(&[
        ("test_a.py", failing),
        ("test_b.py", failing),
        ("test_c.py", failing),
        ("test_d.py", failing),
    ]);
    let ran = |args: &[&str]| {
        let report = fake.dir.path().join("r.json");
        let run =
            fake.run(&[&["run-all-tests", "-j", "1", "--report-json", path_str(&report)], args].concat());
        let report = read_json(&report);
        (run, report["results"].as_array().unwrap().len(), report["not_run"].as_array().unwrap().len())
    };
    let (run, results, not_run) = ran(&["--max-fail", "2"]);
    assert_eq!((results, not_run), (2, 2), "{}", run.dump());
    let (run, results, _) = ran(&["-x"]);
    assert_eq!(results, 1, "-x is pytest's --exitfirst: {}", run.dump());
    let (run, results, _) = ran(&["--exitfirst", "--no-fail-fast"]);
    assert_eq!(results, 4, "the last of the two wins: {}", run.dump());
    let (run, results, _) = ran(&["--maxfail", "3"]);
    assert_eq!(results, 3, "{}", run.dump());
}

#[test]
fn a_committed_configuration_sets_defaults_the_command_line_and_environment_override() {
    let fake = Fake::new(&[("test_a.py", "#!/bin/sh\nexit 0\n"), ("test_b.py", "#!/bin/sh\nexit 0\n")]);
    // A pymaccounter.toml: a pyproject.toml would make the dir a project to install.
    std::fs::write(
        fake.dir.path().join("pymaccounter.toml"),
        "timeout = 60\nskip = [\"test_b.py\"]\npython-malloc = [\"malloc\"]\n\n[profile.ci]\ntimeout = 90\n",
    )
    .unwrap();
    let options = |args: &[&str], profile: Option<&str>| {
        let report = fake.dir.path().join("r.json");
        let mut command =
            fake.command(&[&["run-all-tests", "--report-json", path_str(&report)], args].concat());
        if let Some(profile) = profile {
            command.env("PYMACCOUNTER_PROFILE", profile);
        }
        let run = Finished::from_command(&mut command);
        assert_eq!(run.code, 0, "{}", run.dump());
        let report = read_json(&report);
        (report["run"]["options"].clone(), report["results"].as_array().unwrap().len())
    };
    let (plain, results) = options(&[], None);
    assert_eq!(
        (plain["timeout"].as_u64(), results),
        (Some(60), 1),
        "timeout and skip from the file: {plain}"
    );
    assert_eq!(plain["python-malloc"], serde_json::json!(["malloc"]), "typed: a list");
    assert_eq!(options(&[], Some("ci")).0["timeout"], 90, "the profile over the plain keys");
    assert_eq!(options(&["--timeout", "5"], Some("ci")).0["timeout"], 5, "the command line over both");
    assert_eq!(options(&["--profile", "ci"], None).0["timeout"], 90);

    std::fs::write(fake.dir.path().join("pymaccounter.toml"), "timeout = 60\ntimout = 5\n").unwrap();
    let bad = fake.run(&["run-all-tests"]);
    assert_eq!(bad.code, 2, "{}", bad.dump());
    assert!(bad.stderr.contains("pymaccounter.toml:2: timout: not an option of this task"), "{}", bad.dump());
    assert!(!bad.stderr.contains("run "), "nothing started: {}", bad.dump());
}

#[test]
fn last_failed_runs_what_did_not_pass_last_time_then_everything() {
    let fake = Fake::new(&[("test_a.py", "#!/bin/sh\nexit 0\n"), ("test_b.py", "#!/bin/sh\nexit 1\n")]);
    let ran = |args: &[&str]| {
        let report = fake.dir.path().join("r.json");
        let run = fake.run(&[&["run-all-tests", "--report-json", path_str(&report)], args].concat());
        let report = read_json(&report);
        let modules = modules_of(&report);
        (run, modules)
    };
    assert_eq!(ran(&[]).1, ["test_a.py", "test_b.py"]);
    let (run, modules) = ran(&["--lf"]);
    assert_eq!(modules, ["test_b.py"], "{}", run.dump());
    std::fs::write(fake.dir.path().join("test_b.py"), "#!/bin/sh\nexit 0\n").unwrap();
    assert_eq!(ran(&["--last-failed"]).1, ["test_b.py"]);
    let (run, modules) = ran(&["--lf"]);
    assert_eq!(modules, ["test_a.py", "test_b.py"], "nothing failed: everything runs: {}", run.dump());
    assert!(run.stderr.contains("nothing failed last time"), "{}", run.dump());
}

#[test]
fn clean_empties_the_per_user_cache_and_every_cache_dir_named_and_dry_run_lists_them() {
    let (home, named) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let user_cache = home.path().join("pymaccounter");
    let mut environments = Vec::new();
    for (cache, name) in
        [(&user_cache, "3.11-0123456789abcdef"), (&named.path().to_path_buf(), "3.13-fedcba9876543210")]
    {
        let env = cache.join("envs").join(name);
        std::fs::create_dir_all(env.join("venv/bin")).unwrap();
        std::fs::write(env.join("ready"), "key").unwrap();
        std::fs::create_dir_all(cache.join("tools/bin")).unwrap();
        environments.push(env);
    }
    let state = tempfile::tempdir().unwrap();
    let clean = |extra: &[&str]| {
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-engine");
        let mut args = vec!["clean", "--keep-base", "--cache-dir", path_str(named.path())];
        args.extend(extra);
        let mut command = xtask_command(&args);
        command
            .env("PYMACCOUNTER_ENGINE_PROGRAM", fake)
            .env("FAKE_ENGINE_STATE", state.path())
            .env("XDG_CACHE_HOME", home.path())
            .env_remove("DOCKER_HOST");
        Finished::from_command(&mut command)
    };

    let dry = clean(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.dump());
    for env in &environments {
        assert!(
            dry.stdout.contains(&format!("would remove environment {}", env.display())),
            "{}",
            dry.dump()
        );
        assert!(env.is_dir(), "a dry run removes nothing");
    }
    assert!(
        dry.stdout.contains(&format!("would remove the installer {}", named.path().join("tools").display())),
        "{}",
        dry.dump()
    );

    let run = clean(&[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    for cache in [&user_cache, &named.path().to_path_buf()] {
        let said = format!("removed 1 cached environment(s) and the installer from {}", cache.display());
        assert!(run.stdout.lines().any(|l| l == said), "{}", run.dump());
        assert!(!cache.join("tools").exists(), "{}", run.dump());
    }
    assert!(environments.iter().all(|env| !env.exists()), "{}", run.dump());
}
