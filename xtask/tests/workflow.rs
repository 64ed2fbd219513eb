//! The GitHub workflow, read as YAML: the jobs a careful CI has (style,
//! tests, the modules over every supported Python version and the debug
//! allocator, one merged report, a compare on pull requests), least
//! permissions (each explained), time limits, caching, actions pinned by
//! commit on current majors, piped steps that fail with their command, and
//! no expression expanded into script text.

mod common;

use yaml_rust2::{Yaml, YamlLoader};

use common::*;

const WORKFLOW: &str = ".github/workflows/memory-tests.yml";

fn workflow_text() -> String {
    std::fs::read_to_string(project_root().join(WORKFLOW)).unwrap()
}

fn workflow() -> Yaml {
    parse(&workflow_text())
}

fn parse(text: &str) -> Yaml {
    let mut documents = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{WORKFLOW}: {e}"));
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
    let test = runs(&workflow["jobs"]["test"]);
    assert!(test.contains("cargo nextest run --workspace"), "{test}");
    // The tests run as the runner's user; only debootstrap needs root.
    assert!(test.contains("sudo target/debug/xtask base-image --python \"$python\""), "{test}");
    assert!(test.contains("3.11-dbg") && test.contains("python3-venv"), "{test}");

    let modules = &workflow["jobs"]["modules"];
    let matrix = &modules["strategy"]["matrix"];
    let pythons: Vec<String> = matrix["python"].as_vec().expect("a python axis").iter().map(text).collect();
    for version in supported_pythons() {
        assert!(pythons.contains(&version), "the matrix lacks Python {version}: {pythons:?}");
    }
    assert!(matrix["partition"].as_vec().is_some_and(|p| p.len() >= 2), "the modules are split by partition");
    let run = runs(modules);
    let step = steps(modules).iter().find(|s| s["run"].as_str().is_some_and(|r| r.contains("run-all-tests")));
    let env = &step.expect("a run-all-tests step")["env"];
    assert_eq!(text(&env["PYTHON"]), "${{ matrix.python }}");
    assert_eq!(text(&env["PARTITION"]), "${{ matrix.partition }}");
    assert!(run.contains("--partition \"$PARTITION\"") && run.contains("--python \"$PYTHON\""), "{run}");
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

/// Each `uses:` line of a workflow's text whose reference is not a full
/// commit SHA followed by a `# vN...` comment naming its version (local
/// actions, `./...`, are the repository's own).
fn unpinned_uses(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let value = line.trim_start().trim_start_matches("- ").strip_prefix("uses:")?.trim();
            if value.starts_with("./") {
                return None;
            }
            let pinned = value.split_once('@').is_some_and(|(_, rest)| {
                let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
                let version = comment.trim().strip_prefix('v').unwrap_or("");
                sha.len() == 40
                    && sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                    && version.starts_with(|c: char| c.is_ascii_digit())
            });
            (!pinned).then(|| value.to_string())
        })
        .collect()
}

/// (action, version) of each `uses:` of a pinned workflow, the version read
/// from its comment.
fn pinned_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let value = line.trim_start().trim_start_matches("- ").strip_prefix("uses:")?.trim();
            let (name, rest) = value.split_once('@')?;
            let (_, version) = rest.split_once(" # ")?;
            Some((name.to_string(), version.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_action_is_pinned_by_commit_with_its_version() {
    let text = workflow_text();
    assert_eq!(unpinned_uses(&text), Vec::<String>::new());
    assert_eq!(pinned_versions(&text).len(), text.matches("uses:").count());
}

#[test]
fn the_pin_check_catches_tags_branches_short_shas_and_missing_versions() {
    let sha = "3d3c42e5aac5ba805825da76410c181273ba90b1";
    let sample = format!(
        "steps:\n  - uses: actions/checkout@v7\n  - uses: dtolnay/rust-toolchain@stable\n  \
         - uses: actions/checkout@{short}  # v7.0.1\n  - uses: actions/checkout@{sha}\n  \
         - uses: actions/checkout@{sha} # latest\n  - uses: actions/checkout@{upper} # v7.0.1\n  \
         - name: fine\n    uses: actions/checkout@{sha} # v7.0.1\n  - uses: ./.github/actions/local\n",
        short = &sha[..12],
        upper = sha.to_uppercase(),
    );
    let flagged = unpinned_uses(&sample);
    assert_eq!(flagged.len(), 6, "{flagged:#?}");
    assert!(!flagged.iter().any(|f| f.ends_with("# v7.0.1") && f.contains(sha)), "{flagged:#?}");
}

#[test]
fn actions_are_on_current_majors() {
    // The first majors that run on Node 24 (older ones run on a deprecated runtime).
    let minimum = [("actions/checkout", 5), ("actions/upload-artifact", 6), ("actions/download-artifact", 7)];
    let mut seen = 0;
    for (name, version) in pinned_versions(&workflow_text()) {
        if let Some((_, least)) = minimum.iter().find(|(n, _)| *n == name) {
            let major: u32 = version.trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
            assert!(major >= *least, "{name} {version}: use v{least} or later");
            seen += 1;
        }
    }
    assert!(seen >= 6, "checkout and the artifact actions are used");
}

/// Whether a script holds a pipe (`a | b`, `a |& b`; `||` is no pipe).
fn pipes(script: &str) -> bool {
    let bytes = script.as_bytes();
    (0..bytes.len())
        .any(|i| bytes[i] == b'|' && bytes.get(i + 1) != Some(&b'|') && (i == 0 || bytes[i - 1] != b'|'))
}

/// Whether a step's script runs with pipefail: GitHub's `shell: bash` is
/// `bash -e -o pipefail` (its default, with no `shell`, is `bash -e`), a
/// custom bash command line may say it, or the script sets it itself.
fn runs_with_pipefail(shell: Option<&str>, script: &str) -> bool {
    let set_in_script = script.lines().any(|l| l.trim_start().starts_with("set ") && l.contains("pipefail"));
    match shell {
        Some("bash") => true,
        Some(custom) if custom.starts_with("bash ") && custom.contains("pipefail") => true,
        Some(custom) if custom.starts_with("bash ") => set_in_script,
        Some(_) => false,
        None => set_in_script,
    }
}

/// The `run:` steps (`job: step`) that pipe without pipefail: the step's
/// shell, else the job's `defaults`, else the workflow's.
fn pipes_without_pipefail(workflow: &Yaml) -> Vec<String> {
    let mut found = Vec::new();
    for (name, job) in workflow["jobs"].as_hash().unwrap() {
        for (index, step) in steps(job).iter().enumerate() {
            let Some(script) = step["run"].as_str() else { continue };
            let shell =
                [&step["shell"], &job["defaults"]["run"]["shell"], &workflow["defaults"]["run"]["shell"]]
                    .into_iter()
                    .find_map(|s| s.as_str());
            if pipes(script) && !runs_with_pipefail(shell, script) {
                let step_name = step["name"].as_str().map(str::to_string).unwrap_or(format!("step {index}"));
                found.push(format!("{}: {step_name}", text(name)));
            }
        }
    }
    found
}

#[test]
fn every_piped_step_fails_with_its_command() {
    let workflow = workflow();
    assert_eq!(pipes_without_pipefail(&workflow), Vec::<String>::new());
    let piped = workflow["jobs"]
        .as_hash()
        .unwrap()
        .values()
        .flat_map(steps)
        .filter(|s| s["run"].as_str().is_some_and(pipes))
        .count();
    assert!(piped >= 1, "the compare step pipes into the step summary");
}

#[test]
fn the_pipefail_check_catches_a_pipe_under_the_default_shell() {
    // The compare step as it once was: `bash -e` passes whatever `compare` did.
    let job = "    steps:\n      - name: Compare\n        run: >\n          cargo xtask compare a.json b.json\n          \
               | tee -a \"$GITHUB_STEP_SUMMARY\"\n";
    let sample =
        |top: &str, job_defaults: &str| parse(&format!("{top}jobs:\n  report:\n{job_defaults}{job}"));
    assert_eq!(pipes_without_pipefail(&sample("", "")), ["report: Compare"]);
    let sh = "defaults:\n  run:\n    shell: sh\n";
    assert_eq!(pipes_without_pipefail(&sample(sh, "")), ["report: Compare"], "sh has no pipefail");
    let bash = "defaults:\n  run:\n    shell: bash\n";
    assert!(pipes_without_pipefail(&sample(bash, "")).is_empty(), "the workflow's default shell");
    let job_bash = "    defaults:\n      run:\n        shell: bash\n";
    assert!(pipes_without_pipefail(&sample("", job_bash)).is_empty(), "the job's default shell");
    assert_eq!(
        pipes_without_pipefail(&sample(bash, "    defaults:\n      run:\n        shell: sh\n")),
        ["report: Compare"],
        "the job's shell wins over the workflow's"
    );
    let set =
        parse("jobs:\n  a:\n    steps:\n      - run: |\n          set -euo pipefail\n          a | b\n");
    assert!(pipes_without_pipefail(&set).is_empty(), "set in the script");
    let or = parse("jobs:\n  a:\n    steps:\n      - run: a || b\n");
    assert!(pipes_without_pipefail(&or).is_empty(), "|| is no pipe");
}

#[test]
fn no_expression_is_expanded_into_script_text() {
    // `${{ }}` in a `run:` is pasted into the script before the shell reads
    // it (script injection); values go through `env:` instead.
    let workflow = workflow();
    for (name, job) in workflow["jobs"].as_hash().unwrap() {
        for step in steps(job) {
            if let Some(script) = step["run"].as_str() {
                assert!(!script.contains("${{"), "{}: an expression in the script:\n{script}", text(name));
            }
        }
    }
}

/// Lines under a `permissions:` key that grant a scope without a comment
/// saying why.
fn undocumented_permissions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(block_indent) = block {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if indent > block_indent {
                if !line.contains(" # ") {
                    found.push(line.trim().to_string());
                }
                continue;
            }
            block = None;
        }
        if line.trim() == "permissions:" {
            block = Some(indent);
        } else if line.trim_start().starts_with("permissions:") && !line.contains(" # ") {
            found.push(line.trim().to_string());
        }
    }
    found
}

#[test]
fn every_permission_says_why() {
    assert_eq!(undocumented_permissions(&workflow_text()), Vec::<String>::new());
    let sample = "permissions:\n  contents: read # checkout\n  actions: read\njobs:\n  a:\n    \
                  permissions: read-all\n    steps: []\n";
    assert_eq!(undocumented_permissions(sample), ["actions: read", "permissions: read-all"]);
}
