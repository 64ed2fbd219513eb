//! Reports for CI on the real engine: JUnit, JSON, HTML, GitHub step summary
//! and annotations, partitions, `list --json`.

mod common;

use std::collections::BTreeSet;

use quick_xml::events::Event;
use quick_xml::Reader;

use common::*;

/// Counts of each element name in an XML (or well-formed HTML) document, and
/// the `class` attributes of `rect` elements.
fn element_counts(text: &str) -> (std::collections::HashMap<String, usize>, Vec<String>) {
    let mut reader = Reader::from_str(text);
    let mut counts = std::collections::HashMap::new();
    let mut rect_classes = Vec::new();
    loop {
        match reader.read_event().expect("well-formed markup") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "rect" {
                    let class = e
                        .try_get_attribute("class")
                        .unwrap()
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                    rect_classes.push(class);
                }
                *counts.entry(name).or_insert(0) += 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (counts, rect_classes)
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_mixed_run_writes_every_report() {
    require_engine();
    let dir = fixture("mixed");
    let out = tempfile::tempdir().unwrap();
    let (junit, json, html, summary) = (
        out.path().join("junit.xml"),
        out.path().join("report.json"),
        out.path().join("report.html"),
        out.path().join("step-summary.md"),
    );
    let run = Finished::from_command(
        xtask_command(&[
            "run-all-tests",
            "--test-dir",
            path_str(dir.path()),
            "--junit",
            path_str(&junit),
            "--report-json",
            path_str(&json),
            "--report-html",
            path_str(&html),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary),
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed, 1 skipped");

    let (xml, _) = element_counts(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(xml.get("testcase"), Some(&3), "{xml:?}");
    assert_eq!(xml.get("failure"), Some(&1), "{xml:?}");
    assert_eq!(xml.get("skipped"), Some(&1), "{xml:?}");

    let report = read_json(&json);
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

    let page = std::fs::read_to_string(&html).unwrap();
    // The SVG namespace is a name, not a fetch; any other URL could be one.
    let without_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for fetcher in ["http:", "https:", "//", "@import", "url(", "src="] {
        assert!(!without_namespace.contains(fetcher), "the page must fetch nothing, found {fetcher:?}");
    }
    let (elements, rects) = element_counts(&page);
    assert_eq!(elements.get("svg"), Some(&1));
    assert_eq!(rects.iter().filter(|c| *c == "bar").count(), 3, "one bar per result");

    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(markdown.lines().filter(|l| l.starts_with("| `test_")).count(), 3, "{markdown}");
    let errors: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(errors[0].contains("test_fails.py"), "{}", errors[0]);
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
        let modules: Vec<String> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["module"].as_str().unwrap().to_string())
            .collect();
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
