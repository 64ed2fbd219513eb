//! Baselines and gates: `compare` on reports written here (fast, no engine),
//! then `run --baseline`, repeats, retries and merged shards on the real engine.

mod common;

use std::path::{Path, PathBuf};

use serde_json::json;

use common::*;

const MIB: u64 = 1024 * 1024;

/// A report of the current schema with one passing result per (module, peak MiB, seconds).
fn report(results: &[(&str, u64, f64)]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = results
        .iter()
        .map(|(module, mib, secs)| {
            json!({
                "module": module, "python_malloc": null, "python": "3.11", "status": "pass",
                "exit_code": 0, "signal": null, "reason": null, "duration_s": secs,
                "peak_rss_bytes": mib * MIB, "stdout": "", "stderr": "", "stdout_bytes": 0, "stderr_bytes": 0,
            })
        })
        .collect();
    let passed = results.len();
    json!({
        "schema_version": 2, "run_id": "r", "results": results, "not_run": [], "interrupted": false,
        "summary": {"passed": passed, "failed": 0, "skipped": 0, "not_run": 0},
    })
}

fn write(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> Finished {
    let mut args = vec!["compare", path_str(base), path_str(new)];
    args.extend_from_slice(extra);
    xtask(&args)
}

#[test]
fn compare_flags_a_doubled_peak_and_exits_1() {
    let temp = tempfile::tempdir().unwrap();
    let base = write(temp.path(), "base.json", &report(&[("test_a.py", 10, 1.0), ("test_b.py", 10, 1.0)]));
    let new = write(temp.path(), "new.json", &report(&[("test_a.py", 10, 1.0), ("test_b.py", 20, 1.0)]));
    let run = compare(&base, &new, &[]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let line = run.stdout.lines().find(|l| l.starts_with("test_b.py")).expect("a line for test_b.py");
    assert!(line.contains("10.0 MiB → 20.0 MiB ×2.00") && line.ends_with("REGRESSED"), "{line}");
    assert_eq!(run.last_line(), "1 regressed, 0 improved, 1 within the thresholds (2 compared)");
    // The regression is listed before the unchanged result.
    let a = run.stdout.find("test_a.py").unwrap();
    assert!(run.stdout.find("test_b.py").unwrap() < a, "{}", run.stdout);

    let tolerant = compare(&base, &new, &["--threshold", "rss=150%"]);
    assert_eq!(tolerant.code, 0, "{}", tolerant.dump());
    let floor = compare(&base, &new, &["--min-delta", "rss=16MiB"]);
    assert_eq!(floor.code, 0, "{}", floor.dump());
}

#[test]
fn compare_lists_one_sided_results_apart_and_speaks_markdown_and_json() {
    let temp = tempfile::tempdir().unwrap();
    let base = write(temp.path(), "base.json", &report(&[("test_a.py", 10, 1.0), ("test_gone.py", 5, 1.0)]));
    let new = write(temp.path(), "new.json", &report(&[("test_a.py", 10, 3.0), ("test_new.py", 5, 1.0)]));
    let markdown = compare(&base, &new, &["--format", "markdown"]);
    assert_eq!(markdown.code, 1, "duration tripled: {}", markdown.dump());
    assert!(markdown.stdout.contains("| result | status | peak RSS | duration | |"), "{}", markdown.stdout);
    assert!(markdown.stdout.contains("**1.00 s → 3.00 s ×3.00**"), "{}", markdown.stdout);
    assert!(markdown.stdout.contains("Only in the baseline (1):\n- `test_gone.py [3.11] (pass)`"));
    assert!(markdown.stdout.contains("Only in the new report (1):\n- `test_new.py [3.11] (pass)`"));

    let json = compare(&base, &new, &["--format", "json", "--threshold", "duration=off"]);
    assert_eq!(json.code, 0, "duration is not judged: {}", json.dump());
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["summary"]["compared"], 1);
    assert_eq!(value["only_base"][0]["module"], "test_gone.py");
    let duration = &value["pairs"][0]["measures"][1];
    assert_eq!((duration["measure"].as_str(), duration["ratio"].as_f64()), (Some("duration"), Some(3.0)));
    assert_eq!(duration["verdict"], "within");
}

#[test]
fn a_result_that_stops_passing_is_a_regression() {
    let temp = tempfile::tempdir().unwrap();
    let base = write(temp.path(), "base.json", &report(&[("test_a.py", 10, 1.0)]));
    let mut failing = report(&[("test_a.py", 10, 1.0)]);
    failing["results"][0]["status"] = json!("fail");
    failing["results"][0]["exit_code"] = json!(1);
    let new = write(temp.path(), "new.json", &failing);
    let run = compare(&base, &new, &[]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert!(run.stdout.contains("pass → fail"), "{}", run.stdout);
}

#[test]
fn bad_input_exits_2_with_a_short_message() {
    let temp = tempfile::tempdir().unwrap();
    let good = write(temp.path(), "good.json", &report(&[("test_a.py", 10, 1.0)]));
    let not_json = temp.path().join("not.json");
    std::fs::write(&not_json, "<html>").unwrap();
    let mut old = report(&[]);
    old.as_object_mut().unwrap().remove("schema_version");
    let old = write(temp.path(), "old.json", &old);
    let mut future = report(&[]);
    future["schema_version"] = json!(99);
    let future = write(temp.path(), "future.json", &future);
    let mut broken = report(&[("test_a.py", 10, 1.0)]);
    broken["results"][0]["status"] = json!("melted");
    let broken = write(temp.path(), "broken.json", &broken);
    for (bad, says) in [
        (temp.path().join("missing.json"), "cannot read the report"),
        (not_json, "is not JSON"),
        (old, "schema version none"),
        (future, "schema version 99"),
        (broken, "does not follow the report schema"),
    ] {
        let run = compare(&good, &bad, &[]);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.dump());
        assert!(run.stderr.contains(says), "{bad:?}: {}", run.dump());
        assert!(run.stderr.lines().count() <= 2, "{}", run.stderr);
    }
}
