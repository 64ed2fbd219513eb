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

#[test]
fn reports_that_pair_nothing_exit_2_not_0() {
    // A matrix report against a plain one: every result is one-sided, so a
    // gate on it would pass having compared nothing.
    let temp = tempfile::tempdir().unwrap();
    let plain = write(temp.path(), "plain.json", &report(&[("test_a.py", 10, 1.0), ("test_b.py", 10, 1.0)]));
    let mut matrix = report(&[("test_a.py", 10, 1.0), ("test_b.py", 10, 1.0)]);
    for result in matrix["results"].as_array_mut().unwrap() {
        result["python_malloc"] = json!("malloc");
    }
    let matrix = write(temp.path(), "matrix.json", &matrix);
    for format in ["text", "markdown", "json"] {
        let run = compare(&plain, &matrix, &["--format", format]);
        assert_eq!(run.code, 2, "{format}: {}", run.dump());
        assert!(run.stderr.contains("nothing to compare"), "{format}: {}", run.dump());
        assert!(run.stderr.contains("--python-malloc"), "says what pairs results: {}", run.dump());
    }
    let text = compare(&plain, &matrix, &[]);
    assert!(text.stdout.contains("(0 compared)"), "the comparison is still shown: {}", text.dump());
    assert!(text.stdout.contains("only in the baseline (2)"), "{}", text.dump());
    // One pair is enough to be a comparison.
    let one = write(temp.path(), "one.json", &report(&[("test_a.py", 10, 1.0)]));
    let run = compare(&plain, &one, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
}

/// A memray heap peak of the largest test (pytest-memray's per-test captures)
/// and one of the whole module measure different things: shown with why,
/// never a regression or an improvement; alike, they are judged as ever.
#[test]
fn compare_does_not_judge_a_per_test_heap_peak_against_a_whole_module_s() {
    let temp = tempfile::tempdir().unwrap();
    let with_heaps = |heaps: &[(&str, u64, bool)]| {
        let results: Vec<(&str, u64, f64)> = heaps.iter().map(|(module, _, _)| (*module, 100, 1.0)).collect();
        let mut value = report(&results);
        for (index, (_, heap_mib, per_test)) in heaps.iter().enumerate() {
            value["results"][index]["memray"] = json!({
                "peak_memory_bytes": heap_mib * MIB, "total_allocations": 10, "total_bytes_allocated": null,
                "python_allocator": "pymalloc", "top_allocations_by_size": [], "flamegraph": "tests",
                "per_test_captures": if *per_test { json!(3) } else { json!(null) },
            });
        }
        value
    };
    let base = write(
        temp.path(),
        "base.json",
        &with_heaps(&[
            ("test_per_test.py", 4, true),
            ("test_whole.py", 50, false),
            ("test_both.py", 4, true),
        ]),
    );
    let new = write(
        temp.path(),
        "new.json",
        &with_heaps(&[
            ("test_per_test.py", 50, false),
            ("test_whole.py", 4, true),
            ("test_both.py", 40, true),
        ]),
    );
    let text = compare(&base, &new, &[]);
    assert_eq!(text.code, 1, "test_both.py's per-test peak grew tenfold: {}", text.dump());
    // Only test_both.py's row is marked (rows wrap within their cells at 80 columns).
    let marked: Vec<&str> =
        text.stdout.lines().filter(|l| l.ends_with("REGRESSED") || l.ends_with("improved")).collect();
    assert!(marked.len() == 1 && marked[0].starts_with("test_both."), "{}", text.stdout);
    assert_eq!(text.stdout.matches("(not").count(), 2, "{}", text.stdout);
    assert_eq!(text.last_line(), "1 regressed, 0 improved, 2 within the thresholds (3 compared)");

    let markdown = compare(&base, &new, &["--format", "markdown"]);
    let row = |module: &str| markdown.stdout.lines().find(|l| l.contains(module)).unwrap().to_string();
    let apart = row("test_per_test.py");
    assert!(
        apart.contains("| 4.0 MiB → 50.0 MiB (not comparable: largest test vs whole module) |"),
        "{apart}"
    );
    assert!(!apart.contains("×10") && !apart.contains("regressed"), "{apart}");
    let apart = row("test_whole.py");
    assert!(apart.contains("(not comparable: whole module vs largest test)"), "{apart}");
    assert!(!apart.contains("improved"), "{apart}");
    assert!(row("test_both.py").contains("**4.0 MiB → 40.0 MiB ×10.00**"), "{}", markdown.stdout);
    let json = compare(&base, &new, &["--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let pair = value["pairs"].as_array().unwrap().iter().find(|p| p["module"] == "test_per_test.py").unwrap();
    let heap = pair["measures"].as_array().unwrap().iter().find(|m| m["measure"] == "heap").unwrap();
    assert_eq!(heap["verdict"], "not-comparable", "{heap:#}");
    assert_eq!(heap["ratio"], serde_json::Value::Null, "{heap:#}");
    assert_eq!(heap["scopes"], json!({"before": "largest-test", "after": "module"}), "{heap:#}");
    assert_eq!(pair["regressed"], false);
    let rss = pair["measures"].as_array().unwrap().iter().find(|m| m["measure"] == "rss").unwrap();
    assert_eq!((&rss["verdict"], rss.get("scopes")), (&json!("within"), None), "{rss:#}");
}

/// A report of `report`'s results written by one `--partition` shard.
fn shard(dir: &Path, partition: &str, results: &[(&str, u64, f64)]) -> PathBuf {
    let mut value = report(results);
    value["run"] = json!({"partition": partition, "options": {"python": "3.11", "timeout": "300"}});
    write(dir, &format!("shard-{}.json", partition.replace('/', "-of-")), &value)
}

#[test]
fn a_merged_set_with_a_partition_missing_exits_1_unless_allowed() {
    let temp = tempfile::tempdir().unwrap();
    let first = shard(temp.path(), "1/3", &[("test_a.py", 10, 1.0)]);
    let third = shard(temp.path(), "3/3", &[("test_c.py", 10, 1.0)]);
    let merged = temp.path().join("merged.json");
    let partial =
        xtask(&["merge-reports", path_str(&first), path_str(&third), "--report-json", path_str(&merged)]);
    assert_eq!(partial.code, 1, "every merged result passed, but 2/3 is missing: {}", partial.dump());
    assert!(partial.stderr.contains("error: no shard of partition 2/3"), "{}", partial.dump());
    assert!(partial.stderr.contains("--allow-partial"), "{}", partial.dump());
    assert_eq!(partial.last_line(), "2 passed, 0 failed", "the closing line stays last: {}", partial.dump());
    assert_eq!(read_json(&merged)["summary"]["passed"], 2, "the partial set is still written");

    let allowed = xtask(&["merge-reports", path_str(&first), path_str(&third), "--allow-partial"]);
    assert_eq!(allowed.code, 0, "{}", allowed.dump());
    assert!(allowed.stderr.contains("note: no shard of partition 2/3"), "{}", allowed.dump());

    let second = shard(temp.path(), "2/3", &[("test_b.py", 10, 1.0)]);
    let whole = xtask(&["merge-reports", path_str(&first), path_str(&second), path_str(&third)]);
    assert_eq!(whole.code, 0, "{}", whole.dump());
    assert!(!whole.stderr.contains("no shard of partition"), "{}", whole.dump());
    assert_eq!(whole.last_line(), "3 passed, 0 failed");
}

/// A copy of the `baseline` fixture, and a folder for reports outside it.
struct Growing {
    dir: tempfile::TempDir,
    out: tempfile::TempDir,
}

impl Growing {
    fn new() -> Growing {
        Growing { dir: fixture("baseline"), out: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }

    /// Runs `test_grows.py` holding `mib` MiB; duration is never judged here
    /// (a loaded machine makes it noisy), only shown.
    fn run(&self, mib: u32, extra: &[&str]) -> Finished {
        std::fs::write(self.dir.path().join("size_mib.txt"), format!("{mib}\n")).unwrap();
        let mut args = vec!["run", "test_grows.py", "--test-dir", path_str(self.dir.path())];
        args.extend_from_slice(extra);
        xtask(&args)
    }
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_doubled_allocation_is_regressed_against_its_baseline() {
    require_engine();
    let growing = Growing::new();
    let (base, new, html, summary) = (
        growing.path("base.json"),
        growing.path("new.json"),
        growing.path("new.html"),
        growing.path("summary.md"),
    );
    let first = growing.run(20, &["--report-json", path_str(&base)]);
    assert_eq!(first.code, 0, "{}", first.dump());

    let mut command = xtask_command(&[
        "run",
        "test_grows.py",
        "--test-dir",
        path_str(growing.dir.path()),
        "--baseline",
        path_str(&base),
        "--threshold",
        "duration=off",
        "--report-json",
        path_str(&new),
        "--report-html",
        path_str(&html),
    ]);
    std::fs::write(growing.dir.path().join("size_mib.txt"), "40\n").unwrap();
    let doubled = Finished::from_command(command.env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(doubled.code, 1, "{}", doubled.dump());
    assert_eq!(doubled.last_line(), "0 passed, 1 failed");
    assert!(
        doubled.stdout.contains("REGRESSED: regressed against the baseline: peak RSS"),
        "{}",
        doubled.dump()
    );
    let row = doubled.stdout.lines().find(|l| l.starts_with("test_grows.py")).unwrap();
    assert!(row.contains("regressed") && row.contains("rss +"), "{row}");

    let report = read_json(&new);
    let result = result_for(&report, "test_grows.py");
    assert_eq!(result["status"], "regressed");
    assert_eq!(result["exit_code"], 0);
    let before = result["baseline"]["peak_rss_bytes"].as_f64().unwrap();
    let after = result["peak_rss_bytes"].as_f64().unwrap();
    assert!(after - before > 15.0 * MIB as f64, "{before} → {after}");
    assert_eq!(result_for(&read_json(&base), "test_grows.py")["peak_rss_bytes"].as_f64(), Some(before));
    // The baseline's RSS is a tick in the matrix's cell, and the legend says so.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<i class=\"base\" style=\"left: "), "{page}");
    assert!(page.contains("<span class=\"swatch base\"></span>baseline RSS peak"));
    assert!(
        page.contains("<section id=\"attention\">") && page.contains(">regressed</span>"),
        "a regression needs attention"
    );
    assert!(std::fs::read_to_string(&summary).unwrap().contains("| vs baseline |"));

    // `compare` on the two reports agrees, with or without judging duration.
    for extra in [&[][..], &["--threshold", "duration=off"]] {
        let compared = compare(&base, &new, extra);
        assert_eq!(compared.code, 1, "{}", compared.dump());
        assert!(compared.stdout.contains("pass → regressed"), "{}", compared.stdout);
    }

    // A threshold above the change lets it pass.
    let tolerant = growing
        .run(40, &["--baseline", path_str(&base), "--threshold", "rss=300%,container=300%,duration=off"]);
    assert_eq!(tolerant.code, 0, "{}", tolerant.dump());
    assert_eq!(tolerant.last_line(), "1 passed, 0 failed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn min_delta_hides_a_small_change() {
    require_engine();
    let growing = Growing::new();
    let (base, small) = (growing.path("base.json"), growing.path("small.json"));
    let first = growing.run(20, &["--report-json", path_str(&base)]);
    assert_eq!(first.code, 0, "{}", first.dump());
    // +5 MiB of about 30: beyond 10% and 1 MiB, within a 10 MiB floor.
    let floored = growing.run(
        25,
        &[
            "--baseline",
            path_str(&base),
            "--threshold",
            "duration=off",
            "--min-delta",
            "rss=10MiB,container=10MiB",
            "--report-json",
            path_str(&small),
        ],
    );
    assert_eq!(floored.code, 0, "{}", floored.dump());
    assert_eq!(result_for(&read_json(&small), "test_grows.py")["status"], "pass");
    let strict = compare(&base, &small, &["--threshold", "duration=off"]);
    assert_eq!(strict.code, 1, "the change is real: {}", strict.dump());
    let lenient = compare(&base, &small, &["--threshold", "duration=off", "--min-delta", "10MiB"]);
    assert_eq!(lenient.code, 0, "{}", lenient.dump());
}

#[test]
fn a_bad_baseline_stops_the_run_before_it_starts() {
    let temp = tempfile::tempdir().unwrap();
    let not_json = temp.path().join("base.json");
    std::fs::write(&not_json, "nope").unwrap();
    for (baseline, says) in
        [(temp.path().join("missing.json"), "cannot read the report"), (not_json, "is not JSON")]
    {
        // A fake engine program that does not exist: nothing may reach it.
        let run = Finished::from_command(
            xtask_command(&["run", "test_baseline.py", "--baseline", path_str(&baseline)])
                .env("PYMACCOUNTER_ENGINE_PROGRAM", "/nonexistent/engine"),
        );
        assert_eq!(run.code, 2, "{}", run.dump());
        assert!(run.stderr.contains(says), "{}", run.dump());
    }
    let run = xtask(&["run", "test_baseline.py", "--threshold", "5%"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run.stderr.contains("add --baseline"), "{}", run.dump());
}

/// (module, status, exit code, reason) of every result, sorted.
fn result_set(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let mut set: Vec<_> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["module"].to_string(),
                r["status"].to_string(),
                r["exit_code"].to_string(),
                r["reason"].to_string(),
            )
        })
        .collect();
    set.sort();
    set
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn merged_shards_of_a_3_way_partition_are_the_whole_run() {
    require_engine();
    let dir = fixture("mixed");
    // A script that runs its own unittest tests: its counts come from the summary it prints.
    let own = project_root().join("xtask/tests/fixtures/reports/test_own_unittest.py");
    std::fs::copy(own, dir.path().join("test_own_unittest.py")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let whole = out.path().join("whole.json");
    let run =
        xtask(&["run-all-tests", "--test-dir", path_str(dir.path()), "--report-json", path_str(&whole)]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let mut shards = Vec::new();
    for part in 1..=3 {
        let shard = out.path().join(format!("shard-{part}.json"));
        let partition = format!("{part}/3");
        let args = [
            "run-all-tests",
            "--test-dir",
            path_str(dir.path()),
            "--partition",
            &partition,
            "--report-json",
            path_str(&shard),
        ];
        let run = xtask(&args);
        assert!(run.code == 0 || run.code == 1, "{}", run.dump());
        assert_eq!(read_json(&shard)["run"]["partition"], partition.as_str());
        shards.push(shard);
    }
    let (merged, junit, html) =
        (out.path().join("merged.json"), out.path().join("merged.xml"), out.path().join("merged.html"));
    let mut args = vec!["merge-reports"];
    args.extend(shards.iter().map(|s| path_str(s)));
    args.extend([
        "--report-json",
        path_str(&merged),
        "--junit",
        path_str(&junit),
        "--report-html",
        path_str(&html),
    ]);
    let merge = xtask(&args);
    assert_eq!(merge.code, 1, "a module fails: {}", merge.dump());
    assert_eq!(merge.last_line(), run.last_line(), "{}", merge.dump());
    let merged_report = read_json(&merged);
    assert_eq!(result_set(&merged_report), result_set(&read_json(&whole)));
    assert_eq!(merged_report["summary"], read_json(&whole)["summary"]);
    assert_eq!(merged_report["run"]["partition"], serde_json::Value::Null);
    // Field for field, all that does not differ between two runs by nature.
    assert_eq!(comparable_results(&merged_report), comparable_results(&read_json(&whole)));
    let own = result_for(&merged_report, "test_own_unittest.py");
    assert_eq!(own["test_counts_from"], "unittest summary", "{own:#}");
    assert_eq!(
        (own["test_counts"]["passed"].as_u64(), own["test_counts"]["skipped"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(std::fs::read_to_string(&junit).unwrap().matches("<testcase").count(), 4);
    assert!(std::fs::read_to_string(&html).unwrap().contains("2 passed, 1 failed, 1 skipped"));

    // A shard twice, or a shard of another run, is refused.
    let twice = xtask(&["merge-reports", path_str(&shards[0]), path_str(&shards[0])]);
    assert_eq!(twice.code, 2, "{}", twice.dump());
    let other = out.path().join("other.json");
    let run = xtask(&[
        "run-all-tests",
        "--test-dir",
        path_str(dir.path()),
        "--partition",
        "2/3",
        "--timeout",
        "100",
        "--report-json",
        path_str(&other),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.dump());
    let mixed = xtask(&["merge-reports", path_str(&shards[0]), path_str(&other)]);
    assert_eq!(mixed.code, 2, "{}", mixed.dump());
    assert!(mixed.stderr.contains("--timeout 300 vs 100"), "{}", mixed.dump());
    let forced = xtask(&["merge-reports", path_str(&shards[0]), path_str(&other), "--force"]);
    assert!(forced.code == 0 || forced.code == 1, "{}", forced.dump());
}

#[test]
fn merge_reports_refuses_bad_shards_with_exit_2() {
    let temp = tempfile::tempdir().unwrap();
    let good = write(temp.path(), "good.json", &report(&[("test_a.py", 10, 1.0)]));
    let run = xtask(&["merge-reports", path_str(&good), path_str(&temp.path().join("missing.json"))]);
    assert_eq!(run.code, 2, "{}", run.dump());
    let old = xtask(&["merge-reports", path_str(&good)]);
    assert_eq!(old.code, 2, "no run options recorded: {}", old.dump());
    assert!(old.stderr.contains("--force"), "{}", old.dump());
    let forced = xtask(&["merge-reports", path_str(&good), "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.dump());
    assert_eq!(forced.last_line(), "1 passed, 0 failed");
}

/// The `href`s of the page's links of a class, percent-decoded.
fn links(page: &str, class: &str) -> Vec<String> {
    let opening = format!("<a class=\"{class}\" href=\"");
    page.split(&opening)
        .skip(1)
        .map(|rest| {
            let encoded = &rest[..rest.find('"').unwrap()];
            let mut bytes = Vec::new();
            let mut at = 0;
            while at < encoded.len() {
                if encoded.as_bytes()[at] == b'%' {
                    bytes.push(u8::from_str_radix(&encoded[at + 1..at + 3], 16).unwrap());
                    at += 3;
                } else {
                    bytes.push(encoded.as_bytes()[at]);
                    at += 1;
                }
            }
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

/// Shards in one folder, merged into reports in others, from a working
/// folder of another depth: every file the HTML page links is found from the
/// page's own folder, and the JSON report names it from its own.
#[test]
fn merged_reports_link_the_shards_flame_graphs_from_their_own_folders() {
    let temp = tempfile::tempdir().unwrap();
    let mut shards = Vec::new();
    for (part, folder, module) in [("1/2", "shards/one #1", "test_a.py"), ("2/2", "shards/two", "test_b.py")]
    {
        let folder = temp.path().join(folder);
        std::fs::create_dir_all(folder.join("memray")).unwrap();
        std::fs::write(folder.join(format!("memray/{module}.svg")), format!("<svg>{module}</svg>")).unwrap();
        let mut value = report(&[(module, 10, 1.0)]);
        value["run"] = json!({"partition": part, "options": {"python": "3.11"}});
        value["results"][0]["memray"] = json!({
            "peak_memory_bytes": MIB, "total_allocations": 3, "total_bytes_allocated": MIB,
            "python_allocator": "pymalloc", "top_allocations_by_size": [], "flamegraph": "allocations",
            "flamegraph_path": format!("memray/{module}.svg"),
        });
        shards.push(write(&folder, "report.json", &value));
    }
    let cwd = temp.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    for folder in ["merged/pages/all", "merged/json", "merged/junit"] {
        std::fs::create_dir_all(temp.path().join(folder)).unwrap();
    }
    let merge = Finished::from(
        xtask_command(&[
            "merge-reports",
            "../shards/one #1/report.json",
            path_str(&shards[1]),
            "--report-html",
            "../merged/pages/all/page.html",
            "--report-json",
            "../merged/json/report.json",
            "--junit",
            "../merged/junit/report.xml",
        ])
        .current_dir(&cwd)
        .output()
        .unwrap(),
    );
    assert_eq!(merge.code, 0, "{}", merge.dump());
    let pages = temp.path().join("merged/pages/all");
    let page = std::fs::read_to_string(pages.join("page.html")).unwrap();
    let flame_graphs = links(&page, "flamegraph");
    assert_eq!(
        flame_graphs,
        ["../../../shards/one #1/memray/test_a.py.svg", "../../../shards/two/memray/test_b.py.svg"]
    );
    for (link, module) in flame_graphs.iter().zip(["test_a.py", "test_b.py"]) {
        let found = std::fs::read_to_string(pages.join(link)).unwrap();
        assert_eq!(found, format!("<svg>{module}</svg>"), "{link} from the page's folder");
    }
    // Every other link of the page is within it; the JUnit report links no file.
    let outside: Vec<&str> = page.split("href=\"").skip(1).filter(|l| !l.starts_with('#')).collect();
    assert_eq!(outside.len(), flame_graphs.len(), "{outside:?}");
    let junit = std::fs::read_to_string(temp.path().join("merged/junit/report.xml")).unwrap();
    assert!(!junit.contains(".svg"), "{junit}");
    let merged = read_json(&temp.path().join("merged/json/report.json"));
    for result in merged["results"].as_array().unwrap() {
        let named = result["memray"]["flamegraph_path"].as_str().unwrap();
        assert!(
            temp.path().join("merged/json").join(named).is_file(),
            "{named} from the JSON report's folder"
        );
    }
}

/// The container names of the `run` commands a `--debug` run shows.
fn containers_started(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("$ docker run"))
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "--name").nth(1).map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn repeat_3_runs_three_containers_and_keeps_the_median() {
    require_engine();
    let growing = Growing::new();
    let report = growing.path("report.json");
    let run = growing.run(20, &["--repeat", "3", "--debug", "--report-json", path_str(&report)]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let mut names = containers_started(&run.stderr);
    assert_eq!(names.len(), 3, "{}", run.dump());
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "three distinct containers: {names:?}");
    let json = read_json(&report);
    let result = result_for(&json, "test_grows.py");
    let mut peaks: Vec<u64> = result["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["peak_rss_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(peaks.len(), 3);
    peaks.sort();
    assert_eq!(result["peak_rss_bytes"].as_u64(), Some(peaks[1]), "the median of {peaks:?}");
    assert_eq!(result["spread"]["peak_rss_bytes"]["min"].as_f64(), Some(peaks[0] as f64));
    assert_eq!(result["spread"]["peak_rss_bytes"]["max"].as_f64(), Some(peaks[2] as f64));
    assert!(peaks[0] > 20 * MIB, "each attempt held 20 MiB: {peaks:?}");
    assert!(run.stdout.contains("(3 attempts: pass, pass, pass; peak RSS"), "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_module_failing_only_its_first_attempt_is_flaky_with_one_retry() {
    require_engine();
    let dir = fixture("baseline");
    let out = tempfile::tempdir().unwrap();
    let (report, junit) = (out.path().join("report.json"), out.path().join("junit.xml"));
    let module = "test_first_attempt_fails.py";
    let once = xtask(&["run", module, "--test-dir", path_str(dir.path())]);
    assert_eq!(once.code, 1, "{}", once.dump());
    assert!(once.stdout.contains("FAIL: exit code 1"), "{}", once.dump());

    let args = ["run", module, "--test-dir", path_str(dir.path()), "--retries", "1"];
    let run =
        xtask(&[&args[..], &["--report-json", path_str(&report), "--junit", path_str(&junit)]].concat());
    assert_eq!(run.code, 1, "flaky fails by default: {}", run.dump());
    assert!(run.stdout.contains("FLAKY: passed 1 of 2 attempts; attempt 1: exit code 1"), "{}", run.dump());
    let json = read_json(&report);
    let result = result_for(&json, module);
    assert_eq!(result["status"], "flaky");
    let attempts: Vec<(&str, &str)> = result["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["status"].as_str().unwrap(), a["stdout"].as_str().unwrap().trim()))
        .collect();
    assert_eq!(attempts, [("fail", "attempt 1"), ("pass", "attempt 2")]);
    assert_eq!(std::fs::read_to_string(&junit).unwrap().matches("<flakyFailure").count(), 1);

    let tolerated = xtask(&[&args[..], &["--flaky-result", "pass"]].concat());
    assert_eq!(tolerated.code, 0, "{}", tolerated.dump());
    assert_eq!(tolerated.last_line(), "1 passed, 0 failed");
}
