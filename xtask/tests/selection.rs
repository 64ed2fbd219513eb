//! Choosing modules (globs, --skip, names without `.py`) and what a passing
//! module's block shows (--success-output), on the real engine.

mod common;

use std::path::Path;

use common::*;

/// A temp test dir whose modules each print their own name.
fn dir_of(modules: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("pymaccounter-selection-").tempdir().unwrap();
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
