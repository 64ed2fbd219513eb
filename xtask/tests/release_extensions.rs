//! Leak hunting on a debug build where release-built extension modules are
//! loaded (issue 20): numpy's wheel, imported by Debian's python3.11-dbg,
//! moves `sys.gettotalrefcount()` although nothing leaks. The reference deltas
//! are shown marked as untrusted, and the verdict rests on memory blocks and
//! descriptors. On the real engine, with numpy from the index (through the
//! host), in the environment cache the project tests share.

mod common;

use common::*;

fn deltas(hunt: &serde_json::Value, key: &str) -> Vec<i64> {
    hunt[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {hunt:#}"))
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn numpy_on_a_debug_build_is_judged_on_blocks_with_its_references_marked_untrusted() {
    require_engine();
    let project = fixed_copy("numpy-hunt", "numpy-hunt");
    let cache = shared_cache();
    let report_dir = tempfile::tempdir().unwrap();
    let json = report_dir.path().join("r.json");
    let html = report_dir.path().join("r.html");
    // The test dir is the project root (a flat project): mounted once.
    let run = xtask(&[
        "run-all-tests",
        "--test-dir",
        path_str(&project),
        "--cache-dir",
        path_str(&cache),
        "--python",
        "3.11-dbg",
        "--hunt-leaks",
        "--report-json",
        path_str(&json),
        "--report-html",
        path_str(&html),
    ]);
    assert_eq!(run.code, 1, "the module keeping arrays leaks:\n{}", run.dump());
    let report = read_json(&json);

    let clean = result_for(&report, "test_numpy_clean.py");
    assert_eq!(clean["status"], "pass", "a clean numpy loop is clean: {clean:#}");
    let hunt = &clean["hunt_leaks"];
    assert_eq!(hunt["debug_build"], true, "{hunt:#}");
    assert_eq!(deltas(hunt, "refs").len(), 3, "the references are still shown: {hunt:#}");
    assert_eq!(deltas(hunt, "blocks"), [0, 0, 0], "{hunt:#}");
    assert_eq!(deltas(hunt, "fds"), [0, 0, 0], "{hunt:#}");
    let extensions = &hunt["release_extensions"];
    assert!(extensions["count"].as_u64().unwrap() >= 1, "{hunt:#}");
    let names: Vec<&str> =
        extensions["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("numpy.")), "numpy's extension is named: {names:?}");

    let leaky = result_for(&report, "test_numpy_keeps_arrays.py");
    assert_eq!(leaky["status"], "leak", "an array kept per run is found: {leaky:#}");
    let hunt = &leaky["hunt_leaks"];
    assert!(deltas(hunt, "blocks").iter().all(|d| *d >= 1), "{hunt:#}");
    assert!(hunt["release_extensions"]["count"].as_u64().unwrap() >= 1, "{hunt:#}");
    let reason = leaky["reason"].as_str().unwrap();
    assert!(reason.starts_with("leaks under --hunt-leaks: memory blocks ["), "{reason}");
    assert!(reason.contains("not judged: ") && reason.contains("release-built extension module"), "{reason}");
    assert_eq!(leaky["execution"]["hunt"], *hunt, "the verdict's facts are the hunt's");

    // Every renderer says it: the terminal block, the HTML page.
    assert!(run.stdout.contains("(not trusted: "), "{}", run.dump());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("(not trusted: "), "the HTML deltas mark the references");
    assert!(page.contains(
        "no leak by CPython&#39;s rule on memory blocks and file descriptors; references not judged"
    ));
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn without_a_release_built_extension_references_are_judged_as_ever() {
    require_engine();
    // The stdlib's own extension modules (ctypes, json) are the debug build's.
    let dir = fixture("accounting");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_leaks_a_reference.py", "--python", "3.11-dbg", "--hunt-leaks"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let leaky = result_for(&report, "test_leaks_a_reference.py");
    assert_eq!(leaky["status"], "leak", "{leaky:#}");
    assert!(leaky["hunt_leaks"].get("release_extensions").is_none(), "{leaky:#}");
    assert!(leaky["reason"].as_str().unwrap().contains("references ["), "{leaky:#}");
    assert!(!run.stdout.contains("not trusted"), "{}", run.dump());
}
