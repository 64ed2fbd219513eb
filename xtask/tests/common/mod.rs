//! Helpers for the integration tests: they run the real `xtask` binary
//! against the real container engine.

#![allow(dead_code)]

pub mod second_engine;
pub mod watching;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set to 1 to skip the tests that need a container engine (CI never sets it).
pub const SKIP_VARIABLE: &str = "PYMACCOUNTER_SKIP_ENGINE_TESTS";

pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn from(output: Output) -> Finished {
        Finished {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn from_command(command: &mut Command) -> Finished {
        Finished::from(command.output().expect("xtask binary runs"))
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Shown when an assertion fails.
    pub fn dump(&self) -> String {
        format!("exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn xtask_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).current_dir(project_root()).stdin(Stdio::null()).env_remove("PYMACCOUNTER_ENGINE");
    command.env_remove("GITHUB_ACTIONS").env_remove("GITHUB_STEP_SUMMARY");
    command
}

pub fn xtask(args: &[&str]) -> Finished {
    Finished::from(xtask_command(args).output().expect("xtask binary runs"))
}

/// Panics with the fix when no engine answers. Tests that call it carry
/// `#[cfg_attr(skip_engine_tests, ignore = ...)]`: with
/// PYMACCOUNTER_SKIP_ENGINE_TESTS=1 they are reported as ignored, not passed
/// (see xtask/build.rs).
pub fn require_engine() {
    let answered = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        answered,
        "no Docker engine answers: start one (dockerd as root, or `bash .ci/run` does it), \
         or set {SKIP_VARIABLE}=1 to skip the engine tests"
    );
}

/// A copy of a fixture directory outside the repository (symlinks kept),
/// readable by the containers' user like a checkout is.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let copy = tempfile::Builder::new().prefix("pymaccounter-fixture-").tempdir().unwrap();
    copy_tree(&source, copy.path());
    copy
}

/// Copies a folder's contents, keeping symlinks as symlinks, and opens the
/// copy to every user, as a checkout is.
pub fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            std::fs::create_dir(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// The environment cache the project tests share
/// (`target/pymaccounter-test-cache`): a warm one makes each a few seconds.
pub fn shared_cache() -> PathBuf {
    project_root().join("target/pymaccounter-test-cache")
}

/// An empty folder at `target/pymaccounter-test-projects/{place}` (emptied
/// when there): an environment's key holds its project's path, so a project
/// at a fixed place keeps `shared_cache` warm between runs. A place is one
/// test's: two tests sharing one, run in parallel, would empty each other's
/// project mid-run (refused here when they share a process, as under `cargo test`).
pub fn fixed_project_dir(place: &str) -> PathBuf {
    static CLAIMED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!claimed.iter().any(|p| p == place), "the fixed project place {place} is another test's");
    claimed.push(place.to_string());
    drop(claimed);
    let dir = project_root().join("target/pymaccounter-test-projects").join(place);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh copy of the fixture `name` in `fixed_project_dir(place)`.
pub fn fixed_copy(name: &str, place: &str) -> PathBuf {
    let copy = fixed_project_dir(place);
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), &copy);
    copy
}

/// An empty test dir outside the repository, readable by the containers' user.
pub fn empty_test_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("pymaccounter-tests-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The offline base of Python 3.11 (built when missing), by its reference.
pub fn offline_base_3_11() -> String {
    let offline = xtask(&["base-image", "--python", "3.11"]);
    assert_eq!(offline.code, 0, "{}", offline.dump());
    offline.last_line().trim().to_string()
}

/// For the tests of remembered test images: an image named `name` built
/// (again) by `engine` (docker or podman) from `base`, whose `/generation`
/// holds `generation`, and a test dir whose module prints it.
pub fn build_generation(engine: &str, base: &str, name: &str, generation: &str) {
    let context = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {base}\nRUN echo {generation} > /generation\nLABEL pymaccounter=1 generation={generation}\n"
    );
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let built = Command::new(engine)
        .args(["build", "--network", "none", "-q", "-t", name])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
}

pub fn generation_test_dir() -> tempfile::TempDir {
    let dir = empty_test_dir();
    std::fs::write(
        dir.path().join("test_generation.py"),
        "print('generation', open('/generation').read())\n",
    )
    .unwrap();
    dir
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The run id every run prints on stderr (`run ID: N job(s) ...`), for a
/// run still going; a finished run's id is in its JSON report.
pub fn run_id(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .map(|rest| rest.split(':').next().unwrap().to_string())
}

/// Containers (any state) carrying a run's label.
pub fn containers_of_run(run_id: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter", &format!("label=pymaccounter.run={run_id}")])
        .output()
        .unwrap();
    assert!(output.status.success(), "docker ps failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

/// The JSON report written by a run, checked against the report's JSON
/// Schema (`xtask/schema/report.schema.json`): every report a test reads is.
pub fn read_json(path: &Path) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
            .expect("report is JSON");
    assert_valid_report(&report);
    report
}

/// Panics, saying where, when `report` does not follow the report's JSON Schema.
pub fn assert_valid_report(report: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("report.schema.json", schema).unwrap();
    let index = compiler.compile("report.schema.json", &mut schemas).expect("the report schema compiles");
    if let Err(error) = schemas.validate(report, index) {
        panic!("the report does not follow {}:\n{error:#}", schema_path.display());
    }
}

/// The result for a module in a JSON report.
pub fn result_for<'a>(report: &'a serde_json::Value, module: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["module"] == module)
        .unwrap_or_else(|| panic!("no result for {module} in {report:#}"))
}

/// The xmlschema the JUnit check installs (pinned: a new release must not
/// change what the tests accept).
const XMLSCHEMA: &str = "xmlschema==4.3.2";
/// The pytest the harness's own tests run it under on the host (pinned, as
/// the newest release is what a project's environment gets from the index).
pub const HOST_PYTEST: &str = "pytest==9.2.0";

fn xmlschema_python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| python_with(XMLSCHEMA))
}

/// The host's Python with pytest (`HOST_PYTEST`), for the harness's pytest cases.
pub fn pytest_python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| python_with(HOST_PYTEST))
}

/// A Python with `requirement` installed, for any user: a venv in cargo's
/// target dir, made from PyPI on first use (the host's own site-packages are
/// never asked, so a non-root user with no packages runs the tests as root
/// does). Test processes racing to make it each build one aside and move
/// theirs into place; the first rename wins.
fn python_with(requirement: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = tmp.join(format!("venv-{}", requirement.replace("==", "-")));
    let python = venv.join("bin/python3");
    if python.exists() {
        return python;
    }
    let building = tempfile::Builder::new().prefix("venv-building-").tempdir_in(tmp).unwrap();
    let made = Command::new("python3").args(["-m", "venv"]).arg(building.path()).output();
    let made = made.expect("python3 runs on the host (the tests need it)");
    assert!(made.status.success(), "python3 -m venv: {}", String::from_utf8_lossy(&made.stderr));
    let pip = building.path().join("bin/pip");
    let installed = Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check", requirement])
        .output()
        .expect("the venv's pip runs");
    assert!(
        installed.status.success(),
        "installing {requirement} from PyPI for the tests: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let built = building.keep();
    if std::fs::rename(&built, &venv).is_err() {
        // Another test process got there first.
        let _ = std::fs::remove_dir_all(&built);
    }
    assert!(python.exists(), "{} was not made", python.display());
    python
}

/// The host's headless Chromium, for the tests that draw a page.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("this test needs Chromium (apt-get install chromium)")
}

/// Validates a JUnit file against the common JUnit schema (junit-10.xsd, see
/// tests/schemas) with Python's xmlschema (see `xmlschema_python`); panics with the reason.
pub fn assert_valid_junit(junit: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit-10.xsd");
    let script = "import sys, xmlschema\nxmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])\n";
    let output = Command::new(xmlschema_python())
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(junit)
        .output()
        .expect("the venv's python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{} is not valid JUnit:\n{stderr}", junit.display());
}

/// Runs xtask on a test dir with a JSON report (written in a folder of its
/// own); `args` may end with `--` and module arguments. The run, and the report.
pub fn run_with_report(dir: &Path, args: &[&str]) -> (Finished, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    run_with_report_at(dir, &out.path().join("report.json"), args)
}

/// `run_with_report`, the report written at `report`.
pub fn run_with_report_at(dir: &Path, report: &Path, args: &[&str]) -> (Finished, serde_json::Value) {
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut all: Vec<&str> = args[..split].to_vec();
    all.extend(["--test-dir", path_str(dir), "--report-json", path_str(report)]);
    all.extend(&args[split..]);
    let run = xtask(&all);
    let json = read_json(report);
    (run, json)
}

/// `run-all-tests` of the test dir `tests` with the environment cache
/// `cache` and its JSON report at `json`, `extra` after.
pub fn run_all_tests_command(tests: &Path, cache: &Path, json: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "run-all-tests",
        "--test-dir",
        path_str(tests),
        "--cache-dir",
        path_str(cache),
        "--report-json",
        path_str(json),
    ];
    args.extend(extra);
    xtask_command(&args)
}

/// The JSON report at `json`, or `Null` when the run wrote none.
pub fn report_if_written(json: &Path) -> serde_json::Value {
    if json.exists() {
        read_json(json)
    } else {
        serde_json::Value::Null
    }
}

/// The files of a run with every report, in a temp dir that lives as long as this.
pub struct EveryReport {
    _dir: tempfile::TempDir,
    pub junit: PathBuf,
    pub json: PathBuf,
    pub html: PathBuf,
    pub summary: PathBuf,
}

/// Runs every module of `dir` as on GitHub Actions (a step summary too),
/// writing every report.
pub fn run_as_ci_with_every_report(dir: &Path) -> (Finished, EveryReport) {
    let out = tempfile::tempdir().unwrap();
    let reports = EveryReport {
        junit: out.path().join("junit.xml"),
        json: out.path().join("report.json"),
        html: out.path().join("report.html"),
        summary: out.path().join("step-summary.md"),
        _dir: out,
    };
    let run = Finished::from_command(
        xtask_command(&[
            "run-all-tests",
            "--test-dir",
            path_str(dir),
            "--junit",
            path_str(&reports.junit),
            "--report-json",
            path_str(&reports.json),
            "--report-html",
            path_str(&reports.html),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &reports.summary),
    );
    (run, reports)
}

/// Starts a run of the hanging module in its own process group; returns it
/// with its run id once its container is running.
pub fn start_hanging_run(dir: &tempfile::TempDir, extra: &[&str]) -> (Child, String, mpsc::Receiver<String>) {
    let mut args = vec!["run", "test_hangs.py", "--debug", "--test-dir", path_str(dir.path())];
    if !extra.contains(&"--timeout") {
        args.extend(["--timeout", "120"]);
    }
    args.extend(extra);
    let mut child =
        xtask_command(&args).process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (lines_sender, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = lines_sender.send(line.unwrap_or_default());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut id = None;
    while Instant::now() < deadline {
        if id.is_none() {
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
                id = run_id(&line);
            }
            continue;
        }
        let running = Command::new("docker")
            .args(["ps", "--quiet", "--filter", &format!("label=pymaccounter.run={}", id.as_ref().unwrap())])
            .output()
            .unwrap();
        if !running.stdout.is_empty() {
            return (child, id.unwrap(), lines);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the hanging module's container never started");
}

pub fn signal_group(child: &Child, signal: &str) {
    let status = Command::new("kill").args([signal, "--", &format!("-{}", child.id())]).status().unwrap();
    assert!(status.success());
}

pub fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the runner did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The results of a report without what differs between two runs by nature
/// (times, durations, memory figures, output that carries them), sorted by module.
pub fn comparable_results(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut results: Vec<serde_json::Value> = report["results"].as_array().unwrap().clone();
    for result in &mut results {
        let record = result.as_object_mut().unwrap();
        for by_nature in [
            "started_at",
            "duration_s",
            "peak_rss_bytes",
            "container_peak_bytes",
            "stdout",
            "stderr",
            "stdout_bytes",
            "stderr_bytes",
            "memory_series",
        ] {
            record.remove(by_nature);
        }
        for test in record.get_mut("tests").and_then(|t| t.as_array_mut()).into_iter().flatten() {
            let test = test.as_object_mut().unwrap();
            test.remove("duration_s");
            test.remove("peak_bytes");
            // Object addresses in a traceback differ between two runs by nature.
            if let Some(serde_json::Value::String(traceback)) = test.get_mut("traceback") {
                *traceback = without_addresses(traceback);
            }
        }
    }
    results.sort_by_key(|r| r["module"].to_string());
    results
}

/// Asserts two reports' comparable results are equal, naming each module
/// and field that differs (the whole lists are too long to read).
pub fn assert_same_results(left: &serde_json::Value, right: &serde_json::Value) {
    let (left, right) = (comparable_results(left), comparable_results(right));
    let module = |r: &serde_json::Value| r["module"].to_string();
    let mut differences = Vec::new();
    if left.iter().map(module).ne(right.iter().map(module)) {
        differences.push(format!(
            "modules differ: {:?} vs {:?}",
            left.iter().map(module).collect::<Vec<_>>(),
            right.iter().map(module).collect::<Vec<_>>()
        ));
    }
    for (a, b) in left.iter().zip(&right) {
        let keys: std::collections::BTreeSet<&String> =
            a.as_object().unwrap().keys().chain(b.as_object().unwrap().keys()).collect();
        for key in keys {
            if let (Some(serde_json::Value::Array(x)), Some(serde_json::Value::Array(y))) =
                (a.get(key), b.get(key))
            {
                // A cut tests list keeps as many as fit in the harness's line, which
                // depends on each test's duration: of two cut lists, the shorter's
                // entries are all in the longer.
                let cut = |r: &serde_json::Value| r["tests_truncated"] == true;
                if key == "tests" && cut(a) && cut(b) {
                    let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
                    if let Some(missing) = short.iter().find(|t| !long.contains(t)) {
                        differences
                            .push(format!("{} tests (both cut): {missing:?} is in one only", module(a)));
                    }
                    continue;
                }
                // Lists (the tests): the first entry that differs, and the lengths.
                if let Some(i) = (0..x.len().max(y.len())).find(|&i| x.get(i) != y.get(i)) {
                    differences.push(format!(
                        "{} {key}[{i}] (of {} vs {}): {:?} vs {:?}",
                        module(a),
                        x.len(),
                        y.len(),
                        x.get(i),
                        y.get(i)
                    ));
                }
                continue;
            }
            if a.get(key) != b.get(key) {
                let shown = |v: Option<&serde_json::Value>| {
                    let text = v.map_or("(absent)".into(), |v| v.to_string());
                    text.chars().take(300).collect::<String>()
                };
                differences.push(format!(
                    "{} {key}: {} vs {}",
                    module(a),
                    shown(a.get(key)),
                    shown(b.get(key))
                ));
            }
        }
    }
    assert!(differences.is_empty(), "results differ:\n{}", differences.join("\n"));
}

/// `0x7f3a…` addresses as `0x…`.
fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at + 2]);
        rest = rest[at + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        out.push('…');
    }
    out.push_str(rest);
    out
}

/// The module of each result of a report, in the report's order.
pub fn modules_of(report: &serde_json::Value) -> Vec<String> {
    report["results"].as_array().unwrap().iter().map(|r| r["module"].as_str().unwrap().to_string()).collect()
}
