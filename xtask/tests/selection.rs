//! Choosing modules (globs, --skip, names without `.py`) and what a passing
//! module's block shows (--success-output), on the real engine.

mod common;

use std::path::Path;

use common::*;

/// A temp test dir whose modules each print their own name.
fn dir_of(modules: &[&str]) -> tempfile::TempDir {
    let dir = empty_test_dir();
    for module in modules {
        write(dir.path(), module, &format!("\"\"\"Prints its name.\"\"\"\nprint('this is {module}')\n"));
    }
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The modules whose blocks a run printed, in order.
fn modules_run(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Test results for "))
        .map(|l| l.rsplit('/').next().unwrap().trim_end_matches(':').to_string())
        .collect()
}

/// A module's block: from its heading to the next rule.
fn block_of<'a>(stdout: &'a str, module: &str) -> &'a str {
    let start = stdout.find(&format!("/{module}:\n")).unwrap_or_else(|| panic!("no block for {module}"));
    let rest = &stdout[start..];
    let end = rest.find(['─', '═']).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn globs_select_modules_and_skip_leaves_some_out() {
    require_engine();
    let dir = dir_of(&["test_gc_a.py", "test_gc_b.py", "test_other.py"]);
    let test_dir = path_str(dir.path());

    let glob = xtask(&["run", "test_gc*", "--test-dir", test_dir]);
    assert_eq!(glob.code, 0, "{}", glob.dump());
    let mut ran = modules_run(&glob.stdout);
    ran.sort();
    assert_eq!(ran, ["test_gc_a.py", "test_gc_b.py"], "{}", glob.dump());
    assert!(glob.stdout.contains("this is test_gc_b.py"), "{}", glob.dump());
    assert_eq!(glob.last_line(), "2 passed, 0 failed");

    let json = xtask(&[
        "run",
        r#"["test_gc_?.py", "test_other.py"]"#,
        "--skip",
        "test_gc_b.py",
        "--test-dir",
        test_dir,
    ]);
    assert_eq!(json.code, 0, "{}", json.dump());
    let mut ran = modules_run(&json.stdout);
    ran.sort();
    assert_eq!(ran, ["test_gc_a.py", "test_other.py"], "{}", json.dump());

    let all =
        xtask(&["run-all-tests", "--skip", "test_gc*", "--skip", "test_absent*", "--test-dir", test_dir]);
    assert_eq!(all.code, 0, "{}", all.dump());
    assert_eq!(modules_run(&all.stdout), ["test_other.py"], "{}", all.dump());
    let warnings: Vec<&str> = all.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings, ["warning: --skip test_absent* matches no selected module; see `cargo xtask list`"]);
    assert_eq!(all.last_line(), "1 passed, 0 failed");
}

#[test]
fn bad_selections_exit_2_and_say_why() {
    let dir = dir_of(&["test_gc_a.py", "test_other.py"]);
    let test_dir = path_str(dir.path());
    let cases: &[(&[&str], &str)] = &[
        (&["run", "test_zz*"], "'test_zz*' matches no module in "),
        (&["run", r#"["test_other.py", "test_[xy]*"]"#], "'test_[xy]*' matches no module in "),
        (&["run", "test_gc_a"], "error: test_gc_a: did you mean test_gc_a.py?"),
        (&["run", "test_oth"], "error: test_oth: did you mean test_other.py?"),
        (&["run-all-tests", "--skip", "*"], "error: --skip leaves no module to run"),
        (&["run", "test_other.py", "--skip", "test_other.py"], "error: --skip leaves no module to run"),
    ];
    for (args, expected) in cases {
        let mut args = args.to_vec();
        args.extend(["--debug", "--test-dir", test_dir]);
        let run = xtask(&args);
        assert_eq!(run.code, 2, "{args:?}:\n{}", run.dump());
        assert!(run.stderr.contains(expected), "{args:?} should say {expected:?}:\n{}", run.dump());
        assert!(!run.stderr.contains("$ docker"), "{args:?} called the engine:\n{}", run.dump());
    }
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn success_output_chooses_what_a_passing_block_shows() {
    require_engine();
    let dir = empty_test_dir();
    write(
        dir.path(),
        "test_unit.py",
        "\"\"\"A passing unittest module.\"\"\"\nimport unittest\n\n\
         class T(unittest.TestCase):\n    def test_one(self):\n        print('stdout of the unit module')\n\n\
         if __name__ == '__main__':\n    unittest.main()\n",
    );
    write(
        dir.path(),
        "test_broken.py",
        "\"\"\"Fails.\"\"\"\nimport sys\nprint('stdout of the broken module')\n\
         print('stderr of the broken module', file=sys.stderr)\nsys.exit(3)\n",
    );
    let run = |mode: &[&str]| {
        let run = xtask(&[&["run-all-tests", "--test-dir", path_str(dir.path())], mode].concat());
        assert_eq!(run.code, 1, "{}", run.dump());
        run
    };
    for (mode, stdout_shown, stderr_shown) in [
        (&[][..], true, false),
        (&["--success-output", "immediate"][..], true, false),
        (&["-v"][..], true, true),
        (&["--verbose"][..], true, true),
        (&["-q"][..], false, false),
        (&["--success-output", "never"][..], false, false),
    ] {
        let run = run(mode);
        let passing = block_of(&run.stdout, "test_unit.py");
        assert_eq!(passing.contains("stdout of the unit module"), stdout_shown, "{mode:?}:\n{passing}");
        assert_eq!(passing.contains("Ran 1 test"), stderr_shown, "{mode:?}:\n{passing}");
        assert_eq!(passing.contains("--- stderr ---"), stderr_shown, "{mode:?}:\n{passing}");
        if !stdout_shown {
            assert_eq!(passing.lines().count(), 1, "only the heading:\n{passing}");
        }
        // A module that did not pass always shows both streams and why.
        let failing = block_of(&run.stdout, "test_broken.py");
        for shown in ["stdout of the broken module", "stderr of the broken module", "FAIL: exit code 3"] {
            assert!(failing.contains(shown), "{mode:?}: {shown:?} missing:\n{failing}");
        }
    }
    let bad = xtask(&["run-all-tests", "--success-output", "both", "--test-dir", path_str(dir.path())]);
    assert_eq!(bad.code, 2, "nextest's values only: {}", bad.dump());
    // -s streams each module's output as it comes, prefixed by its name.
    let streamed = run(&["-s", "-j", "1"]);
    assert!(streamed.stdout.contains("[test_broken.py] stdout of the broken module"), "{}", streamed.dump());
    assert!(streamed.stderr.contains("[test_broken.py] stderr of the broken module"), "{}", streamed.dump());
    // final: a passing block after every module, before the summary.
    let last = run(&["--success-output", "final"]);
    let (unit, table) =
        (last.stdout.find("stdout of the unit module").unwrap(), last.stdout.find("═").unwrap());
    let broken = last.stdout.find("Test results for").unwrap();
    assert!(broken < unit && unit < table, "{}", last.dump());
}

/// `cargo xtask watch` running as a child, its output collected as it comes.
struct Watching {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watching {
    fn start(args: &[&str]) -> Watching {
        Watching::start_with(xtask_command(args))
    }

    fn start_with(mut command: std::process::Command) -> Watching {
        use std::io::Read;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("xtask binary runs");
        let collect = |mut stream: Box<dyn Read + Send>| {
            let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let sink = std::sync::Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Watching { child, stdout, stderr }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn dump(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout(), self.stderr())
    }

    /// Waits until `done(stdout, stderr)` holds; fails when watch ended or took too long.
    fn wait_for(&mut self, what: &str, done: impl Fn(&str, &str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        while !done(&self.stdout(), &self.stderr()) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("watch ended ({status}) before {what}:\n{}", self.dump());
            }
            assert!(std::time::Instant::now() < deadline, "no {what} in time:\n{}", self.dump());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) and returns the exit code.
    fn interrupt(&mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last output.
                std::thread::sleep(std::time::Duration::from_millis(200));
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "watch did not stop on SIGINT:\n{}", self.dump());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The ids of the runs (rounds) it started.
    fn run_ids(&self) -> Vec<String> {
        let stderr = self.stderr();
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix("run "))
            .map(|rest| rest.split(':').next().unwrap().to_string())
            .collect()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.interrupt();
        }
    }
}

fn closing_lines(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.ends_with(" failed") && l.contains(" passed, ")).count()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn watch_reruns_what_changed_and_ctrl_c_ends_it() {
    require_engine();
    let dir = dir_of(&["test_edited.py", "test_other.py"]);
    write(dir.path(), "test_edited.py", "print('first version')\n");
    let mut watch = Watching::start(&["watch", "--test-dir", path_str(dir.path())]);
    watch.wait_for("the first round", |out, err| {
        out.lines().last() == Some("2 passed, 0 failed") && err.contains("watching ")
    });
    assert!(watch.stdout().contains("first version"), "{}", watch.dump());
    assert!(watch
        .stderr()
        .contains(&format!("watching {} for changes (Ctrl-C to stop)", path_str(dir.path()))));

    // An edited module runs again, alone, as edited.
    let before = watch.stdout().len();
    write(dir.path(), "test_edited.py", "print('second version')\n");
    watch.wait_for("the re-run of the edited module", |out, _| closing_lines(out) == 2);
    let second = watch.stdout()[before..].to_string();
    assert_eq!(modules_run(&second), ["test_edited.py"], "{}", watch.dump());
    assert!(second.contains("second version"), "the edit did not reach the container:\n{}", watch.dump());
    assert!(second.ends_with("1 passed, 0 failed\n"), "{}", watch.dump());

    // Any other file changing runs every module.
    let before = watch.stdout().len();
    write(dir.path(), "data.txt", "input\n");
    watch.wait_for("the run of every module", |out, _| closing_lines(out) == 3);
    let mut third = modules_run(&watch.stdout()[before..]);
    third.sort();
    assert_eq!(third, ["test_edited.py", "test_other.py"], "{}", watch.dump());

    watch.wait_for("the wait for changes", |_, err| err.matches("watching ").count() == 3);
    assert_eq!(watch.interrupt(), 130, "{}", watch.dump());
    assert_eq!(closing_lines(&watch.stdout()), 3, "reading its own files started a round:\n{}", watch.dump());
    let runs = watch.run_ids();
    assert_eq!(runs.len(), 3, "{}", watch.dump());
    for run in runs {
        assert_eq!(containers_of_run(&run), Vec::<String>::new(), "run {run} left containers");
    }
}

/// Reports, flame graphs and the step summary written into the test dir are
/// the run's own output: none of them starts another round.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn nothing_a_watch_round_writes_into_the_test_dir_starts_another() {
    require_engine();
    let dir = dir_of(&["test_quick.py"]);
    let html = dir.path().join("r.html");
    let json = dir.path().join("out/r.json");
    let mut command = xtask_command(&[
        "watch",
        "--python",
        "3.13",
        "--memray",
        "--test-dir",
        path_str(dir.path()),
        "--report-html",
        path_str(&html),
        "--report-json",
        path_str(&json),
    ]);
    command.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"));
    let mut watch = Watching::start_with(command);
    watch.wait_for("the first round", |out, err| {
        out.lines().last() == Some("1 passed, 0 failed") && err.contains("watching ")
    });
    assert!(
        dir.path().join("out/memray").is_dir() && dir.path().join("summary.md").is_file(),
        "{}",
        watch.dump()
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(watch.interrupt(), 130, "{}", watch.dump());
    assert_eq!(closing_lines(&watch.stdout()), 1, "its own output started a round:\n{}", watch.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn ctrl_c_during_a_watch_round_removes_its_containers() {
    require_engine();
    let dir = dir_of(&["test_quick.py"]);
    let mut watch = Watching::start(&["watch", "test_*", "--test-dir", path_str(dir.path())]);
    watch.wait_for("the first round", |out, err| {
        out.lines().last() == Some("1 passed, 0 failed") && err.contains("watching ")
    });
    // A new module the glob matches joins the selection and runs.
    write(dir.path(), "test_slow.py", "import time\nprint('started', flush=True)\ntime.sleep(120)\n");
    watch.wait_for("the new module's run", |_, err| {
        err.lines().filter(|l| l.starts_with("run ")).count() == 2
    });
    let slow_run = watch.run_ids().pop().unwrap();
    let started = std::time::Instant::now();
    while containers_of_run(&slow_run).is_empty() {
        assert!(started.elapsed().as_secs() < 60, "no container for run {slow_run}:\n{}", watch.dump());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(watch.interrupt(), 130, "{}", watch.dump());
    assert!(watch.stdout().contains("1 not run (interrupted): test_slow.py"), "{}", watch.dump());
    assert_eq!(containers_of_run(&slow_run), Vec::<String>::new(), "Ctrl-C left a container");
}

#[test]
fn watch_ends_when_its_first_round_cannot_run() {
    // The scripted fake engine (tests/fake-engine) fails to start this
    // module's container: no engine is needed, and waiting would mend nothing.
    let dir = dir_of(&[]);
    write(dir.path(), "test_a.py", "# FAKE_ENGINE_FAILS\n");
    let state = tempfile::tempdir().unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-engine");
    let mut command = xtask_command(&["watch", "--test-dir", path_str(dir.path())]);
    command
        .env("PYMACCOUNTER_ENGINE_PROGRAM", fake)
        .env("FAKE_ENGINE_STATE", state.path())
        .env_remove("DOCKER_HOST")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() > 60 {
            let _ = child.kill();
            panic!("watch kept waiting after a first round that could not run");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ended = Finished::from(child.wait_with_output().unwrap());
    assert_eq!(ended.code, 3, "{}", ended.dump());
    assert!(ended.stderr.contains("the engine could not run test_a.py"), "{}", ended.dump());
    assert!(!ended.stderr.contains("watching "), "{}", ended.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn k_selects_tests_as_pytest_does_and_counts_deselected_modules_apart() {
    require_engine();
    let dir = fixture("keyword");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "-k", "gc"]);
    assert_eq!(run.code, 0, "every test -k leaves out would fail: {}", run.dump());
    assert_eq!(run.last_line(), "3 passed, 0 failed, 2 deselected", "{}", run.dump());
    let counts = |module: &str| result_for(&report, module)["test_counts"].clone();
    // pytest's own -k, and the harness's over unittest tests: one kept, one deselected.
    for module in ["test_pytest_mixed.py", "test_unittest_mixed.py"] {
        assert_eq!(counts(module)["passed"], 1, "{module}: {report:#}");
        assert_eq!(counts(module)["deselected"], 1, "{module}: {report:#}");
        assert_eq!(result_for(&report, module)["status"], "pass");
    }
    // Every test left out, or a script whose path does not match: deselected, never "ran none".
    for module in ["test_pytest_other.py", "test_rss_script.py"] {
        let result = result_for(&report, module);
        assert_eq!(result["status"], "skip", "{module}: {result:#}");
        assert_eq!(result["execution"]["why"]["cause"], "deselected", "{module}: {result:#}");
        assert_eq!(result["execution"]["why"]["expression"], "gc", "{module}: {result:#}");
    }
    let never_ran = result_for(&report, "test_rss_script.py");
    assert!(never_ran["peak_rss_bytes"].is_null() && never_ran["stdout_bytes"] == 0, "{never_ran:#}");
    assert_eq!(report["summary"]["deselected"], 2);
    assert_eq!(report["summary"]["skipped"], 0);
    assert_eq!(report["run"]["options"]["keyword"], "gc");

    // `list -k` previews what runs: the script -k leaves out is not there.
    let listed = xtask(&["list", "--test-dir", path_str(dir.path()), "-k", "gc"]);
    assert_eq!(listed.code, 0, "{}", listed.dump());
    assert!(!listed.stdout.contains("test_rss_script.py"), "{}", listed.dump());
    assert!(listed.stdout.contains("test_gc_script.py"), "{}", listed.dump());

    // Selecting nothing at all is bad input, said after the run; a bad expression, before.
    let nothing = xtask(&["run-all-tests", "--test-dir", path_str(dir.path()), "-k", "no_such_name"]);
    assert_eq!(nothing.code, 2, "{}", nothing.dump());
    assert!(nothing.stderr.contains("selects no test"), "{}", nothing.dump());
    let bad = xtask(&["run-all-tests", "--test-dir", path_str(dir.path()), "-k", "gc and"]);
    assert_eq!(bad.code, 2, "{}", bad.dump());
    assert!(bad.stderr.contains("-k") && run_id(&bad.stderr).is_none(), "{}", bad.dump());
}
