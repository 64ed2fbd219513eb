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
    let dir = tempfile::Builder::new().prefix("pymaccounter-selection-").tempdir().unwrap();
    write(
        dir.path(),
        "test_unit.py",
        "\"\"\"A passing unittest module.\"\"\"\nimport unittest\n\n\
         class T(unittest.TestCase):\n    def test_one(self):\n        print('stdout of the unit module')\n\n\
         unittest.main()\n",
    );
    write(
        dir.path(),
        "test_broken.py",
        "\"\"\"Fails.\"\"\"\nimport sys\nprint('stdout of the broken module')\n\
         print('stderr of the broken module', file=sys.stderr)\nsys.exit(3)\n",
    );
    let run = |mode: Option<&str>| {
        let mut args = vec!["run-all-tests", "--test-dir", path_str(dir.path())];
        if let Some(mode) = mode {
            args.extend(["--success-output", mode]);
        }
        let run = xtask(&args);
        assert_eq!(run.code, 1, "{}", run.dump());
        run
    };
    for (mode, stdout_shown, stderr_shown) in [
        (None, true, false),
        (Some("stdout"), true, false),
        (Some("both"), true, true),
        (Some("none"), false, false),
    ] {
        let run = run(mode);
        let passing = block_of(&run.stdout, "test_unit.py");
        assert_eq!(passing.contains("stdout of the unit module"), stdout_shown, "{mode:?}:\n{passing}");
        assert_eq!(passing.contains("Ran 1 test"), stderr_shown, "{mode:?}:\n{passing}");
        assert_eq!(passing.contains("--- stderr ---"), stderr_shown, "{mode:?}:\n{passing}");
        if mode == Some("none") {
            assert_eq!(passing.lines().count(), 1, "only the heading:\n{passing}");
        }
        // A module that did not pass always shows both streams and why.
        let failing = block_of(&run.stdout, "test_broken.py");
        for shown in ["stdout of the broken module", "stderr of the broken module", "FAIL: exit code 3"] {
            assert!(failing.contains(shown), "{mode:?}: {shown:?} missing:\n{failing}");
        }
    }
    let bad = xtask(&["run-all-tests", "--success-output", "all", "--test-dir", path_str(dir.path())]);
    assert_eq!(bad.code, 2, "{}", bad.dump());
}
