//! `--memray`: where memory went, per module, from memray in the module's
//! own container (Python 3.13 and 3.14 bases carry Debian's python3-memray).

mod common;

use common::*;

/// The report in `out/` of the test dir, so that flame graphs land next to it.
fn run_json(dir: &tempfile::TempDir, args: &[&str]) -> (Finished, serde_json::Value) {
    run_with_report_at(dir.path(), &dir.path().join("out/report.json"), args)
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn memray_reports_the_heap_peak_the_allocator_and_a_flame_graph() {
    require_engine();
    let dir = fixture("memray");
    let (run, report) = run_json(
        &dir,
        &["run", "test_fifty_mib.py", "--python", "3.13", "--python-malloc", "malloc", "--memray"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = result_for(&report, "test_fifty_mib.py");
    let memray = &result["memray"];
    let peak = memray["peak_memory_bytes"].as_f64().unwrap();
    let fifty = 50.0 * 1024.0 * 1024.0;
    assert!((peak - fifty).abs() < fifty * 0.10, "peak heap {peak} is not within 10 % of 50 MiB: {memray:#}");
    assert_eq!(memray["python_allocator"], "malloc", "{memray:#}");
    assert_eq!(memray["flamegraph"], "leaks", "malloc gets the leaks flame graph: {memray:#}");
    let top = memray["top_allocations_by_size"].as_array().unwrap();
    assert!(top[0]["location"].as_str().unwrap().contains("test_fifty_mib.py:2"), "{memray:#}");
    let flamegraph = std::path::PathBuf::from(memray["flamegraph_path"].as_str().unwrap());
    assert!(
        flamegraph.starts_with(dir.path().join("out/memray")),
        "saved next to the reports: {flamegraph:?}"
    );
    let page = std::fs::read_to_string(&flamegraph).unwrap();
    assert!(!page.contains("\"/usr/share/"), "the image's local scripts are inlined");
    assert!(run.stdout.contains("memray: peak heap 50.0 MiB"), "{}", run.dump());
    assert!(run.stdout.contains("test_fifty_mib.py:2"), "top sites in the block:\n{}", run.stdout);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_module_the_memory_limit_kills_is_still_oom_with_what_memray_recorded() {
    require_engine();
    let dir = fixture("memray");
    let (run, report) = run_json(
        &dir,
        &["run", "test_grows_until_killed.py", "--python", "3.13", "--memray", "--memory", "128m"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let result = result_for(&report, "test_grows_until_killed.py");
    assert_eq!(result["status"], "oom", "{result:#}");
    let peak = result["memray"]["peak_memory_bytes"].as_u64().expect("memray's capture survives the kill");
    assert!(peak > 32 << 20, "{result:#}");
}

#[test]
fn memray_on_a_python_without_it_is_refused_up_front() {
    let dir = fixture("memray");
    let run = xtask(&[
        "run",
        "test_fifty_mib.py",
        "--python",
        "3.11",
        "--memray",
        "--debug",
        "--test-dir",
        path_str(dir.path()),
    ]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run.stderr.contains("3.13"), "says which versions have it:\n{}", run.stderr);
    assert!(!run.stderr.contains("$ docker"), "nothing started:\n{}", run.stderr);
}
