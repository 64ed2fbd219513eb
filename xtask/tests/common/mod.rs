//! Helpers for the integration tests: they run the real `xtask` binary
//! against the real container engine.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// A copy of a fixture directory outside the repository.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let copy = tempfile::Builder::new().prefix("pymaccounter-fixture-").tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    copy
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

/// The JSON report written by a run.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written")).expect("report is JSON")
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
