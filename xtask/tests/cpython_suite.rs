//! Acceptance: CPython's own unittest files, from Debian's
//! `libpython3.11-testsuite`, pass under the runner's default isolation
//! exactly as they pass under a plain `docker run` of the same image.
//!
//! The test builds (once, tagged by the offline base it starts from) a base
//! with that package, copies the package's whole `test` folder out to a temp
//! test dir on the host (so every file beside a module is there, as in the
//! image), runs a sample of its modules with `xtask run --base-image`, and
//! runs each module of the sample plainly, as root in a writable container,
//! with `docker run --rm IMAGE python3 FILE`. Nothing in the runner knows
//! these files.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;

/// Chosen for what they do to their surroundings: scratch files in their
/// working directory (`@test_PID_tmp`), memory maps with `PROT_EXEC`,
/// temporary files and folders, subprocesses (and their output buffering),
/// bytecode written and imported, archives, the gc and weak references.
/// Each passes under a plain run.
const SAMPLE: &[&str] = &[
    "test_mmap.py",
    "test_tempfile.py",
    "test_gc.py",
    "test_weakref.py",
    "test_shutil.py",
    "test_glob.py",
    "test_fileio.py",
    "test_posix.py",
    "test_py_compile.py",
    "test_zipimport.py",
    "test_os.py",
    "test_tarfile.py",
    "test_cmd_line.py",
    "test_cmd_line_script.py",
    "test_pkg.py",
];

const SUITE_DIR: &str = "/usr/lib/python3.11/test";
const DEBIAN: &str = "debian:bookworm-slim";

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn cpython_test_files_pass_under_the_runner_as_under_a_plain_docker_run() {
    require_engine();
    let image = suite_image();
    let (_copy, dir) = copy_of_the_suite(&image);
    let reports = tempfile::tempdir().unwrap();
    let report = reports.path().join("report.json");

    let mut args = vec!["run"];
    args.extend(SAMPLE);
    args.extend(["--base-image", &image, "--test-dir", path_str(&dir)]);
    args.extend(["--report-json", path_str(&report)]);
    let run = xtask(&args);
    let json = read_json(&report);
    let plain = plain_runs(&image);

    let mut differences = Vec::new();
    for (module, (plain_code, plain_tail)) in SAMPLE.iter().zip(&plain) {
        let result = result_for(&json, module);
        let status = result["status"].as_str().unwrap();
        if (status == "pass") != (*plain_code == 0) {
            differences.push(format!(
                "{module}: runner {status}, plain docker run exit {plain_code}\n--- runner stderr ---\n{}\n\
                 --- plain run, last lines ---\n{plain_tail}",
                result["stderr"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(differences.is_empty(), "not as under a plain docker run:\n{}", differences.join("\n\n"));
    let failed_plainly: Vec<&str> =
        SAMPLE.iter().zip(&plain).filter(|(_, (code, _))| *code != 0).map(|(m, _)| *m).collect();
    assert!(failed_plainly.is_empty(), "the sample must pass plainly; these do not: {failed_plainly:?}");
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(json["summary"]["passed"], SAMPLE.len(), "{}", run.dump());
}

/// Debian bookworm's Python 3.11 plus the test-suite package, built once per
/// base (its image id is in the tag). The base is the offline one the runner
/// uses where no registry answers (here), else `debian:bookworm-slim`: the
/// package's files belong to Debian's interpreter, not to `python:3.11-slim`'s.
fn suite_image() -> String {
    let built = xtask(&["build-image"]);
    assert_eq!(built.code, 0, "{}", built.dump());
    let base = built
        .stderr
        .lines()
        .find_map(|l| l.split("using the offline base ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map_or_else(
            || {
                let pulled = Command::new("docker").args(["pull", "--quiet", DEBIAN]).output().unwrap();
                assert!(pulled.status.success(), "{DEBIAN}: {}", String::from_utf8_lossy(&pulled.stderr));
                DEBIAN.to_string()
            },
            str::to_string,
        );
    let dockerfile = format!(
        "FROM {base}\n\
         RUN apt-get update && apt-get install -y --no-install-recommends python3 libpython3.11-testsuite \
         && rm -rf /var/lib/apt/lists/*\n"
    );
    // The base's id and the Dockerfile name the image: a new base or recipe builds anew.
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &base]);
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(id.trim(), &dockerfile), &mut hasher);
    let tag = format!("pymaccounter-test-cpython-suite:3.11-{:016x}", std::hash::Hasher::finish(&hasher));
    let present = Command::new("docker").args(["image", "inspect", &tag]).output().unwrap();
    if present.status.success() {
        return tag;
    }
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let build = Command::new("docker")
        .args(["build", "--force-rm", "--tag", &tag])
        .arg(context.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&build.stdout).into_owned() + &String::from_utf8_lossy(&build.stderr);
    let tail: Vec<&str> = log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(
        build.status.success(),
        "building {tag} needs the Debian archive (the engine's default network):\n{}",
        tail.join("\n")
    );
    tag
}

/// The package's whole `test` folder, copied out of the image into a temp
/// folder, keeping its name (test_cmd_line runs `-m unittest test/FILE`
/// from its parent); the folder is given to `nobody`, so the modules run as
/// an ordinary user, as CPython's suite expects of a non-root run.
fn copy_of_the_suite(image: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let parent = empty_test_dir();
    let dir = parent.path().join("test");
    std::fs::create_dir(&dir).unwrap();
    let holder = format!("pymaccounter-test-cpython-copy-{}", std::process::id());
    docker(&["create", "--name", &holder, image, "true"]);
    let copied = Command::new("docker")
        .args(["cp", &format!("{holder}:{SUITE_DIR}/."), path_str(&dir)])
        .output()
        .unwrap();
    docker(&["rm", &holder]);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    for module in SAMPLE {
        assert!(dir.join(module).is_file(), "{module} is not in {SUITE_DIR}");
    }
    (parent, dir)
}

/// Each module of the sample under `docker run --rm IMAGE python3 FILE`,
/// two at a time: its exit code and its output's last lines.
fn plain_runs(image: &str) -> Vec<(i32, String)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![(0, String::new()); SAMPLE.len()]);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(module) = SAMPLE.get(index) else { break };
                let output = Command::new("docker")
                    .args(["run", "--rm", image, "python3", &format!("{SUITE_DIR}/{module}")])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                results.lock().unwrap()[index] = (output.status.code().unwrap_or(-1), tail);
            });
        }
    });
    results.into_inner().unwrap()
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
