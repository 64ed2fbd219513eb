//! Memory over time on the real engine: a module that rises to 200 MiB,
//! holds, frees and holds again has a series that shows both (as a script
//! and as a unittest module the harness runs), drawn in the terminal block
//! and in the HTML report (checked in headless Chromium: a screenshot in
//! `target/memory-series-test/`), kept through `--baseline` and merge-reports.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const MIB: u64 = 1 << 20;

/// A clean output folder for one test, under `target/`.
fn output_folder(test: &str) -> PathBuf {
    let folder = project_root().join("target/memory-series-test").join(test);
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// The series of a result, checked for the shape every reader relies on.
fn series(result: &serde_json::Value) -> (Vec<u64>, Vec<u64>, Vec<Option<u64>>) {
    let series = &result["memory_series"];
    let numbers = |key: &str| -> Vec<Option<u64>> {
        series[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}: {result:#}"))
            .iter()
            .map(|v| v.as_u64())
            .collect()
    };
    let t: Vec<u64> = numbers("t_ms").into_iter().map(Option::unwrap).collect();
    let rss: Vec<u64> = numbers("rss_bytes").into_iter().map(Option::unwrap).collect();
    let cgroup = numbers("cgroup_bytes");
    assert!(!t.is_empty() && t.len() <= 128, "between 1 and 128 buckets: {}", t.len());
    assert!(rss.len() == t.len() && cgroup.len() == t.len(), "{series:#}");
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "time goes forward: {t:?}");
    (t, rss, cgroup)
}

/// Rises above 190 MiB, then falls below 30 MiB after its peak, over the
/// two seconds the module sleeps; never above the process's own peak.
fn assert_rises_and_falls(result: &serde_json::Value) {
    let (t, rss, cgroup) = series(result);
    let module = result["module"].as_str().unwrap();
    let (peak_at, &peak) = rss.iter().enumerate().max_by_key(|(_, b)| **b).unwrap();
    let curve: Vec<(u64, u64)> = t.iter().zip(&rss).map(|(t, b)| (*t, b / MIB)).collect();
    assert!(peak > 190 * MIB, "{module}: the series rises above 190 MiB: {curve:?}");
    let after = rss[peak_at..].iter().min().unwrap();
    assert!(*after < 30 * MIB, "{module}: and falls below 30 MiB after its peak: {curve:?}");
    assert!(t.last().unwrap() >= &1900, "{module}: it covers the run's two seconds of sleep: {curve:?}");
    let process_peak = result["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak <= process_peak, "{module}: a sample is never above the kernel's high-water mark");
    // The container's memory holds the module's and is read where the cgroup is.
    let container: Vec<u64> = cgroup.iter().flatten().copied().collect();
    assert_eq!(container.len(), cgroup.len(), "{module}: every bucket has the cgroup's figure");
    assert!(container.iter().max().unwrap() > &(190 * MIB), "{module}");
}

/// Headless Chromium's screenshot of `page` (at `#fragment`, which opens
/// that result's details), saved as `png`.
fn screenshot(page: &Path, fragment: &str, png: &Path) {
    let output = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1500"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}#{fragment}", page.display()))
        .output()
        .expect("chromium starts");
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "no screenshot ({size} bytes): {}", String::from_utf8_lossy(&output.stderr));
}

/// What Chromium made of the page: its DOM after loading.
fn dom(page: &Path) -> String {
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_rise_and_fall_is_in_the_series_the_terminal_and_the_page() {
    require_engine();
    let dir = fixture("memory_series");
    let out = output_folder("rise_and_fall");
    let (json, html) = (out.join("report.json"), out.join("report.html"));
    let run = Finished::from_command(
        xtask_command(&["run-all-tests", "--test-dir", path_str(dir.path())])
            .args(["--report-json", path_str(&json), "--report-html", path_str(&html)])
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE"),
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&json);
    assert_valid_report(&report);
    for module in ["test_rise_and_fall.py", "test_rise_and_fall_unittest.py"] {
        assert_rises_and_falls(result_for(&report, module));
    }
    // The terminal block: a sparkline that is high, then low, and its words.
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("memory "))
        .unwrap_or_else(|| panic!("{}", run.dump()))
        .to_string();
    let spark: String = line.chars().skip("memory ".len()).take_while(|c| *c != ' ').collect();
    assert!(spark.contains('█') && spark.ends_with('▁'), "{line}");
    assert!(line.contains(" RSS peak 2") && line.chars().count() <= 80, "{line}");
    // The page: one timeline per result, which Chromium parses as SVG and draws.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg class=\"timeline\"").count(), 2);
    let parsed = dom(&html);
    assert!(parsed.contains("<path class=\"rss\"") && parsed.contains("<path class=\"cgroup\""), "{parsed}");
    assert!(parsed.contains("<title>memory over time: RSS peak 2"), "{parsed}");
    let index =
        report["results"].as_array().unwrap().iter().position(|r| r["module"] == "test_rise_and_fall.py");
    screenshot(&html, &format!("result-{}", index.unwrap()), &out.join("timeline.png"));
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_baselines_curve_is_kept_and_drawn_and_merged_reports_keep_series() {
    require_engine();
    let dir = fixture("memory_series");
    let out = output_folder("baseline");
    let (base, new, html) = (out.join("base.json"), out.join("new.json"), out.join("new.html"));
    let (first, _) = run_with_report_at(dir.path(), &base, &["run", "test_rise_and_fall.py"]);
    assert_eq!(first.code, 0, "{}", first.dump());
    let (second, report) = run_with_report_at(
        dir.path(),
        &new,
        &["run", "test_rise_and_fall.py", "--baseline", path_str(&base), "--report-html", path_str(&html)],
    );
    assert!(second.code <= 1, "{}", second.dump());
    assert_valid_report(&report);
    let result = result_for(&report, "test_rise_and_fall.py");
    let baseline = &result["baseline"]["memory_series"];
    assert_eq!(baseline, &result_for(&read_json(&base), "test_rise_and_fall.py")["memory_series"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<path class=\"baseline\""), "the baseline's curve is drawn");
    screenshot(&html, "result-0", &out.join("timeline-with-baseline.png"));
    // merge-reports reads the series back and writes it as it was.
    let merged = out.join("merged.json");
    let merge = xtask(&["merge-reports", path_str(&new), "--report-json", path_str(&merged)]);
    assert_eq!(merge.code, if second.code == 0 { 0 } else { 1 }, "{}", merge.dump());
    let merged = read_json(&merged);
    assert_eq!(result_for(&merged, "test_rise_and_fall.py")["memory_series"], result["memory_series"]);
    assert_eq!(result_for(&merged, "test_rise_and_fall.py")["baseline"]["memory_series"], *baseline);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_remote_engines_run_gets_the_same_series_beside_its_verdict_line() {
    require_engine();
    // As for a remote engine: the test dir copied into a volume, and the
    // harness's verdict a line on stderr right before the sampler's.
    let dir = fixture("memory_series");
    let out = output_folder("remote");
    let json = out.join("report.json");
    let run = Finished::from_command(
        xtask_command(&["run", "test_rise_and_fall_unittest.py", "--test-dir", path_str(dir.path())])
            .args(["--report-json", path_str(&json)])
            .env("PYMACCOUNTER_REMOTE_ENGINE", "1"),
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stderr.contains("copying"), "{}", run.dump());
    let report = read_json(&json);
    assert_valid_report(&report);
    let result = result_for(&report, "test_rise_and_fall_unittest.py");
    assert_eq!(result["test_counts"]["passed"], 1, "the verdict line still reads: {result:#}");
    assert_rises_and_falls(result);
    assert!(!result["stderr"].as_str().unwrap().contains("@@pymaccounter"), "{result:#}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn podman_gets_the_same_series() {
    require_engine();
    let works = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(works, "podman is not installed: apt-get install podman (bash .ci/run does it)");
    let dir = fixture("memory_series");
    let out = output_folder("podman");
    let json = out.join("report.json");
    let run = Finished::from_command(
        xtask_command(&[
            "run",
            "test_rise_and_fall.py",
            "--engine",
            "podman",
            "--test-dir",
            path_str(dir.path()),
        ])
        .args(["--report-json", path_str(&json)])
        .env_remove("CONTAINER_HOST"),
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&json);
    assert_valid_report(&report);
    assert_rises_and_falls(result_for(&report, "test_rise_and_fall.py"));
}
