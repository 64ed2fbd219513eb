//! Reports for CI on the real engine: JUnit, JSON, HTML, GitHub step summary
//! and annotations, partitions, `list --json`.

mod common;

use std::collections::BTreeSet;

use quick_xml::events::Event;
use quick_xml::Reader;

use common::*;

/// Counts of each element name in an XML (or well-formed HTML) document.
fn element_counts(text: &str) -> std::collections::HashMap<String, usize> {
    let mut reader = Reader::from_str(text);
    let mut counts = std::collections::HashMap::new();
    loop {
        match reader.read_event().expect("well-formed markup") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                *counts.entry(name).or_insert(0) += 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    counts
}

/// The HTML page must fetch nothing: no URL, no `src=`, no `@import`, no `url(`.
fn assert_fetches_nothing(page: &str) {
    for fetcher in ["http:", "https:", "//", "@import", "url(", "src=", "<link", "<iframe", "<img"] {
        assert!(!page.contains(fetcher), "the page must fetch nothing, found {fetcher:?}");
    }
}

/// What a browser's parser sees in the HTML report, read with Python's
/// html.parser on the host: the sort keys of the table's headings, each
/// result row's attributes, the matrix cells' classes, the sections, and any attribute that
/// could make the browser fetch something.
fn html_dom(path: &std::path::Path) -> serde_json::Value {
    let script = r##"
import json, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = {"sort_keys": [], "rows": [], "cells": [], "sections": [], "fetching": [], "scripts": 0}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "th" and "data-key" in a:
            self.found["sort_keys"].append(a["data-key"])
        if tag == "tr" and "data-index" in a:
            self.found["rows"].append(a)
        if tag == "td" and "cell" in classes:
            self.found["cells"].append(a["class"])
        if tag == "section" and "id" in a:
            self.found["sections"].append(a["id"])
        if tag == "script":
            self.found["scripts"] += 1
        for name, value in attrs:
            if name in ("src", "srcset", "href", "action", "poster", "data", "formaction") and value is not None:
                if not value.startswith("#"):
                    self.found["fetching"].append([tag, name, value])

page = Page()
page.feed(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps(page.found))
"##;
    let output =
        std::process::Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_mixed_run_writes_every_report() {
    require_engine();
    let dir = fixture("mixed");
    let (run, reports) = run_as_ci_with_every_report(dir.path());
    let EveryReport { junit, json, html, summary, .. } = &reports;
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed, 1 skipped");

    let xml = element_counts(&std::fs::read_to_string(junit).unwrap());
    assert_eq!(xml.get("testcase"), Some(&3), "{xml:?}");
    assert_eq!(xml.get("failure"), Some(&1), "{xml:?}");
    assert_eq!(xml.get("skipped"), Some(&1), "{xml:?}");

    let report = read_json(json);
    assert_eq!(report["summary"]["passed"], 1);
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["skipped"], 1);
    for result in report["results"].as_array().unwrap() {
        for field in ["module", "status", "duration_s", "stdout", "stderr"] {
            assert!(!result[field].is_null(), "{field} missing in {result}");
        }
        for field in ["python_malloc", "python", "exit_code", "peak_rss_bytes"] {
            assert!(result.get(field).is_some(), "{field} missing in {result}");
        }
        assert!(["pass", "fail", "skip"].contains(&result["status"].as_str().unwrap()));
        assert!(result["peak_rss_bytes"].as_u64().unwrap() > 1024 * 1024);
    }

    let page = std::fs::read_to_string(html).unwrap();
    assert_fetches_nothing(&page);
    let elements = element_counts(&page);
    assert_eq!(elements.get("details"), Some(&3), "one details block per result");
    let dom = html_dom(html);
    // The views a person reads first, then the table and the details.
    let sections: Vec<&str> =
        dom["sections"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(sections, ["attention", "peaks", "matrix", "results", "details"]);
    let cells: Vec<&str> = dom["cells"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(
        cells,
        ["cell failed", "cell passed", "cell skipped"],
        "a matrix cell per result, coloured by tally"
    );
    let attention =
        page.split("<section id=\"attention\">").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(attention.contains("test_fails.py") && !attention.contains("test_passes.py"), "{attention}");
    assert!(page.contains("<i class=\"rss\"") && page.contains("<i class=\"ctr\""), "RSS and container bars");
    assert!(!page.contains("id=\"left-out\""), "a small run is shown whole");

    let markdown = std::fs::read_to_string(summary).unwrap();
    assert_eq!(markdown.lines().filter(|l| l.starts_with("| `test_")).count(), 3, "{markdown}");
    let errors: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(errors[0].contains("test_fails.py"), "{}", errors[0]);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn reports_say_what_the_run_was_and_read_a_scripts_own_test_counts() {
    require_engine();
    let dir = fixture("reports");
    let out = tempfile::tempdir().unwrap();
    let (junit, json, html) =
        (out.path().join("junit.xml"), out.path().join("report.json"), out.path().join("report.html"));
    let run = xtask(&[
        "run-all-tests",
        "--test-dir",
        path_str(dir.path()),
        "--memory",
        "128m",
        "--junit",
        path_str(&junit),
        "--report-json",
        path_str(&json),
        "--report-html",
        path_str(&html),
    ]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed");
    // The summary table's tests column shows the scripts' own counts.
    assert!(run.stdout.contains("2 passed, 1 skipped"), "{}", run.stdout);
    assert!(run.stdout.contains("1 passed, 1 failed, 1 error"), "{}", run.stdout);
    assert!(!run.stdout.contains("1 errors"), "one error is an error: {}", run.stdout);

    // JSON: the run object, python for every result, counts read from unittest's summary.
    let report = read_json(&json);
    let info = &report["run"];
    assert_eq!(info["run_id"], report["run_id"]);
    let started = info["started_at"].as_str().unwrap();
    assert!(is_rfc3339_utc(started), "{started}");
    let wall = info["wall_time_s"].as_f64().unwrap();
    let args: Vec<&str> = info["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&args[..3], ["run-all-tests", "--test-dir", path_str(dir.path())]);
    assert!(args.windows(2).any(|w| w == ["--memory", "128m"]), "{args:?}");
    assert_eq!(info["engine"], "docker");
    assert!(!info["engine_version"].as_str().unwrap().is_empty());
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{info}");
    assert_eq!(images[0]["python"], "3.11", "the default version, with no --python");
    assert!(images[0]["base_id"].as_str().unwrap().starts_with("sha256:"), "{info}");
    assert!(images[0]["image"].as_str().unwrap().starts_with("pymaccounter-tests:"));
    assert!(info["host_cpus"].as_u64().unwrap() >= 1);
    let passing = result_for(&report, "test_own_unittest.py");
    let failing = result_for(&report, "test_own_unittest_fails.py");
    for result in [passing, failing] {
        assert_eq!(result["python"], "3.11", "{result}");
        assert!(result["harness"].is_null(), "a script runs without the harness: {result}");
        assert_eq!(result["test_counts_from"], "unittest summary");
        assert_eq!(result["tests"], serde_json::json!([]), "a summary names no tests");
        assert!(result["duration_s"].as_f64().unwrap() <= wall + 0.01);
    }
    assert_eq!(passing["status"], "pass");
    assert_eq!(
        (passing["test_counts"]["passed"].as_u64(), passing["test_counts"]["skipped"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(failing["status"], "fail");
    let counts = &failing["test_counts"];
    assert_eq!(
        (counts["passed"].as_u64(), counts["failed"].as_u64(), counts["errors"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(passing["memory_limit_bytes"], 128 << 20);
    assert_eq!(failing["memory_limit_bytes"], 64 << 20, "the module's declared memory");

    // JUnit: valid, the run's wall time on testsuites, a start on every suite.
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let mut reader = Reader::from_str(&xml);
    let mut stamps = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) if e.name().as_ref() == b"testsuites" => {
                let time =
                    e.try_get_attribute("time").unwrap().unwrap().unescape_value().unwrap().into_owned();
                let time: f64 = time.parse().unwrap();
                assert!((time - wall).abs() < 0.002, "testsuites time {time} is the run's wall time {wall}");
            }
            Event::Start(e) if e.name().as_ref() == b"testsuite" => {
                let stamp = e.try_get_attribute("timestamp").unwrap().expect("every suite has a timestamp");
                stamps.push(stamp.unescape_value().unwrap().into_owned());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stamps.len(), 2);
    for stamp in &stamps {
        assert!(
            is_rfc3339_utc(stamp) && stamp.as_str() >= started,
            "{stamp} before the run's start {started}"
        );
    }
    assert!(xml.contains(r#"<property name="tests" value="1 passed, 1 failed, 1 error"/>"#), "{xml}");
    assert!(xml.contains(r#"<property name="memory_limit_bytes" value="67108864"/>"#), "{xml}");
    assert!(xml.contains(r#"<property name="python" value="3.11"/>"#), "{xml}");

    // HTML: fetches nothing; rows carry every value the table sorts by.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_fetches_nothing(&page);
    let dom = html_dom(&html);
    assert_eq!(dom["fetching"], serde_json::json!([]), "{dom}");
    assert_eq!(dom["scripts"], 1, "one inline script");
    let keys: Vec<&str> = dom["sort_keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert!(keys.contains(&"peak") && keys.contains(&"rank") && keys.contains(&"tests"), "{keys:?}");
    let rows = dom["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        for key in &keys {
            assert!(row.get(format!("data-{key}")).is_some(), "row lacks data-{key}: {row}");
        }
        assert_eq!(row["data-tests"], "3", "{row}");
        assert_eq!(row["data-python"], "3.11", "{row}");
    }
    let failing_row = rows.iter().find(|r| r["data-module"] == "test_own_unittest_fails.py").unwrap();
    assert_eq!(
        (failing_row["data-tally"].as_str(), failing_row["data-limit"].as_str()),
        (Some("failed"), Some("67108864"))
    );
    let peak: u64 = failing_row["data-peak"].as_str().unwrap().parse().unwrap();
    assert_eq!(Some(peak), failing["peak_rss_bytes"].as_u64());
    for hook in ["id=\"filter\"", "id=\"tally\"", "id=\"results-table\"", "dataset[key]"] {
        assert!(page.contains(hook), "the table's script hook {hook} is missing");
    }
    assert!(page.contains("1 passed, 1 failed, 1 error (read from the unittest summary the script printed)"));
    assert!(page.contains("AssertionError: 4 != 5 : a failure the counts must show"), "the stderr tail");
}

/// `2024-03-01T12:34:56Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn partitions_split_run_all_tests_without_overlap() {
    require_engine();
    let listed: Vec<serde_json::Value> = serde_json::from_str(&xtask(&["list", "--json"]).stdout).unwrap();
    let all: BTreeSet<String> = listed.iter().map(|m| m["module"].as_str().unwrap().to_string()).collect();
    let out = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for part in ["1/2", "2/2"] {
        let json = out.path().join(format!("part{}.json", &part[..1]));
        let run = xtask(&["run-all-tests", "--partition", part, "--report-json", path_str(&json)]);
        assert_eq!(run.code, 0, "{}", run.dump());
        let report = read_json(&json);
        let modules = modules_of(&report);
        assert!(!modules.is_empty());
        seen.extend(modules);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a module ran in both parts: {seen:?}");
    assert_eq!(unique, all);
}

#[test]
fn list_json_names_every_module_with_its_summary() {
    let list = xtask(&["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.dump());
    let entries: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(entries.len(), xtask(&["list"]).stdout.lines().count());
    for entry in &entries {
        assert!(entry["module"].as_str().unwrap().starts_with("test_"));
        assert!(!entry["summary"].as_str().unwrap().is_empty(), "{entry}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = xtask(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.dump());
        assert!(run.stdout.contains("run-all-tests"), "{shell}");
    }
}
