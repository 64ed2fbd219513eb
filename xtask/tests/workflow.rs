//! The GitHub workflow, read as YAML: the jobs a careful CI has (style,
//! tests, the modules over every supported Python version and the debug
//! allocator, one merged report, a compare on pull requests), least
//! permissions, time limits, caching, and actions on current majors.

mod common;

use yaml_rust2::{Yaml, YamlLoader};

use common::*;

const WORKFLOW: &str = ".github/workflows/memory-tests.yml";

fn workflow() -> Yaml {
    let text = std::fs::read_to_string(project_root().join(WORKFLOW)).unwrap();
    let mut documents = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{WORKFLOW}: {e}"));
    assert_eq!(documents.len(), 1);
    documents.remove(0)
}

fn key<'a>(node: &'a Yaml, name: &str) -> &'a Yaml {
    &node[name]
}

fn text(node: &Yaml) -> String {
    match node {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn steps(job: &Yaml) -> &Vec<Yaml> {
    key(job, "steps").as_vec().expect("a job with steps")
}

/// Every `run:` of a job, joined.
fn runs(job: &Yaml) -> String {
    steps(job).iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
}

fn uses(job: &Yaml) -> Vec<String> {
    steps(job).iter().filter_map(|s| s["uses"].as_str().map(str::to_string)).collect()
}

/// The Python versions the runner supports, as its own error message lists them.
fn supported_pythons() -> Vec<String> {
    let refused = xtask(&["run-all-tests", "--python", "x"]);
    assert_eq!(refused.code, 2, "{}", refused.dump());
    let list = refused.stderr.split("supported: ").nth(1).expect("the error lists the supported versions");
    let list = list.lines().next().unwrap();
    list.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty() && !v.contains('-')).collect()
}

#[test]
fn the_workflow_has_every_job_a_careful_ci_has() {
    let workflow = workflow();
    let jobs = key(&workflow, "jobs").as_hash().expect("jobs");
    let names: Vec<String> = jobs.keys().map(text).collect();
    assert_eq!(names, ["lint", "test", "modules", "report"]);

    let lint = key(&workflow["jobs"], "lint");
    assert!(runs(lint).contains("cargo fmt --all -- --check"));
    assert!(runs(lint).contains("cargo clippy --all-targets -- -D warnings"));
    assert!(runs(&workflow["jobs"]["test"]).contains("cargo nextest run --workspace"));

    let modules = &workflow["jobs"]["modules"];
    let matrix = &modules["strategy"]["matrix"];
    let pythons: Vec<String> = matrix["python"].as_vec().expect("a python axis").iter().map(text).collect();
    for version in supported_pythons() {
        assert!(pythons.contains(&version), "the matrix lacks Python {version}: {pythons:?}");
    }
    assert!(matrix["partition"].as_vec().is_some_and(|p| p.len() >= 2), "the modules are split by partition");
    let run = runs(modules);
    assert!(
        run.contains("--partition ${{ matrix.partition }}") && run.contains("--python ${{ matrix.python }}")
    );
    let mallocs =
        run.split("--python-malloc ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("");
    assert!(mallocs.split(',').any(|m| m == "debug"), "the debug allocator runs: {run}");
    assert!(run.contains("--report-json reports/report.json"));
    assert!(uses(modules).iter().any(|u| u.starts_with("actions/upload-artifact@")));
}

#[test]
fn the_report_job_merges_the_shards_and_compares_pull_requests() {
    let workflow = workflow();
    let report = &workflow["jobs"]["report"];
    assert_eq!(text(&report["needs"]), "modules");
    let steps = steps(report);
    let merge = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo xtask merge-reports")))
        .expect("a merge step");
    let merge = merge["run"].as_str().unwrap();
    for flag in ["--report-json", "--junit", "--report-html"] {
        assert!(merge.contains(flag), "the merge writes {flag}: {merge}");
    }
    assert!(uses(report).iter().any(|u| u.starts_with("actions/download-artifact@")));
    let compare = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo xtask compare")))
        .expect("a compare step");
    assert!(compare["if"].as_str().unwrap().contains("github.event_name == 'pull_request'"));
    let command = compare["run"].as_str().unwrap();
    assert!(command.contains("--threshold") && command.contains("GITHUB_STEP_SUMMARY"), "{command}");
    assert_eq!(text(&report["permissions"]["actions"]), "read", "reading another run's artifact");
}

#[test]
fn permissions_are_least_every_job_has_a_time_limit_and_a_cache() {
    let workflow = workflow();
    let top = workflow["permissions"].as_hash().expect("top-level permissions");
    assert_eq!(top.len(), 1);
    assert_eq!(text(&workflow["permissions"]["contents"]), "read");
    for (name, job) in workflow["jobs"].as_hash().unwrap() {
        let name = text(name);
        let minutes =
            job["timeout-minutes"].as_i64().unwrap_or_else(|| panic!("{name} has no timeout-minutes"));
        assert!((1..=60).contains(&minutes), "{name}: {minutes} minutes");
        let uses = uses(job);
        assert!(
            uses.iter().any(|u| u.starts_with("Swatinem/rust-cache@")),
            "{name} caches nothing: {uses:?}"
        );
        if let Some(permissions) = job["permissions"].as_hash() {
            for (scope, level) in permissions {
                assert_eq!(text(level), "read", "{name}: {} is more than read", text(scope));
            }
        }
    }
}

#[test]
fn actions_are_on_current_majors() {
    // The first majors that run on Node 24 (older ones run on a deprecated runtime).
    let minimum = [("actions/checkout", 5), ("actions/upload-artifact", 6), ("actions/download-artifact", 7)];
    let workflow = workflow();
    let mut seen = 0;
    for (_, job) in workflow["jobs"].as_hash().unwrap() {
        for action in uses(job) {
            let (name, version) = action.split_once('@').expect("a pinned version");
            assert!(version.starts_with('v') || version == "stable", "{action}: pin a major tag");
            if let Some((_, least)) = minimum.iter().find(|(n, _)| *n == name) {
                let major: u32 = version.trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
                assert!(major >= *least, "{action}: use v{least} or later");
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "checkout and the artifact actions are used");
}
