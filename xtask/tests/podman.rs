//! The same runner on Podman (installed by `.ci/run`), to keep the engine
//! layer honest about the CLI differences it papers over.

mod common;

use std::process::Command;

use common::*;

fn require_podman() {
    require_engine();
    let works = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        works,
        "podman is not installed: apt-get install podman (bash .ci/run does it), or set {SKIP_VARIABLE}=1"
    );
    static HANDED: std::sync::Once = std::sync::Once::new();
    HANDED.call_once(hand_podman_the_offline_base);
}

/// Whether Podman enforces `--memory` for this user: rootless Podman on
/// cgroups v1 ignores it (and only says so on the container's stderr).
fn podman_limits_memory() -> bool {
    let info = Command::new("podman")
        .args(["info", "--format", "{{.Host.CgroupsVersion}} {{.Host.Security.Rootless}}"])
        .output()
        .unwrap();
    assert!(info.status.success(), "podman info: {}", String::from_utf8_lossy(&info.stderr));
    String::from_utf8_lossy(&info.stdout).trim() != "v1 true"
}

/// Where Podman cannot limit memory, a run with a limit is an environment
/// failure before any container starts.
fn assert_refused_for_memory(run: &Finished) {
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(run.stderr.contains("podman cannot limit a container's memory here"), "{}", run.dump());
    assert!(run.stderr.contains("--memory none"), "{}", run.dump());
    assert!(!run.stderr.contains("podman run"), "nothing may start:\n{}", run.dump());
}

/// Podman keeps an image store of its own, one per user: where Docker has
/// the offline 3.11 base (machines with no registry), it is copied into the
/// store of whoever runs the tests, so that a non-root user's run need not
/// debootstrap one (which needs root). Where Docker has none, Podman pulls
/// `python:3.11-slim` itself, or the test says why it cannot.
fn hand_podman_the_offline_base() {
    // Prints the base's reference when it exists (it builds one only as root).
    let base = xtask(&["base-image", "--python", "3.11"]);
    if base.code != 0 {
        return;
    }
    let reference = base.last_line().to_string();
    let exists = Command::new("podman").args(["image", "exists", &reference]).status().unwrap();
    if exists.success() {
        return;
    }
    let loaded = Command::new("bash")
        .args(["-c", "set -o pipefail; docker save \"$1\" | podman load --quiet", "bash", &reference])
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "handing {reference} from Docker to Podman: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn podman_runs_the_baseline_module() {
    require_podman();
    let mut args = vec!["run", r#"["test_baseline.py"]"#, "--engine", "podman"];
    if !podman_limits_memory() {
        assert_refused_for_memory(&xtask(&[&args[..], &["--debug"]].concat()));
        args.extend(["--memory", "none"]);
    }
    let run = xtask(&args);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("Hello from pymaccounter"), "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn podman_reports_oom_and_failures_and_leaves_nothing() {
    require_podman();
    if !podman_limits_memory() {
        // The memory eater below would take the whole machine: refused up front.
        let run =
            xtask(&["run", r#"["test_baseline.py"]"#, "--engine", "podman", "--memory", "64m", "--debug"]);
        assert_refused_for_memory(&run);
        return;
    }
    let dir = fixture("misbehaving");
    std::fs::copy(
        project_root().join("xtask/tests/fixtures/mixed/test_fails.py"),
        dir.path().join("test_fails.py"),
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let run = Finished::from_command(
        xtask_command(&[
            "run",
            "test_eats_memory.py",
            "test_fails.py",
            "--memory",
            "64m",
            "--debug",
            "--test-dir",
            path_str(dir.path()),
            "--report-json",
            path_str(&report),
        ])
        .env("PYMACCOUNTER_ENGINE", "podman"),
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let report = read_json(&report);
    assert_eq!(result_for(&report, "test_eats_memory.py")["status"], "oom", "{report:#}");
    assert_eq!(result_for(&report, "test_fails.py")["status"], "fail", "{report:#}");
    let id = run_id(&run.stderr).unwrap();
    let left = Command::new("podman")
        .args(["ps", "--all", "--quiet", "--filter", &format!("label=pymaccounter.run={id}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "podman containers left: {}", String::from_utf8_lossy(&left.stdout));
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_runtime_that_cannot_start_containers_stops_the_run_after_the_first_start() {
    require_podman();
    // A private containers.conf whose OCI runtime fails as crun does on
    // cgroups hybrid mode: this Podman only, never the machine's.
    let place = tempfile::tempdir().unwrap();
    let runtime = place.path().join("failing-runtime");
    std::fs::write(&runtime, "#!/bin/sh\necho 'cgroups in hybrid mode not supported' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf = place.path().join("containers.conf");
    std::fs::write(
        &conf,
        format!(
            "[engine]\nruntime = \"failing\"\n\n[engine.runtimes]\nfailing = [\"{}\"]\n",
            runtime.display()
        ),
    )
    .unwrap();
    let dir = empty_test_dir();
    for name in ["test_a.py", "test_b.py", "test_c.py"] {
        std::fs::write(dir.path().join(name), "print('never runs')\n").unwrap();
    }
    let mut command = xtask_command(&[
        "run-all-tests",
        "--test-dir",
        path_str(dir.path()),
        "--engine",
        "podman",
        "-j",
        "1",
        "--memory",
        "none",
        "--debug",
    ]);
    command.env("CONTAINERS_CONF", &conf);
    let run = Finished::from_command(&mut command);
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(
        run.stderr.contains("cgroups in hybrid mode not supported"),
        "the engine's words: {}",
        run.dump()
    );
    assert!(run.stderr.contains("OCI runtime"), "the fix: {}", run.dump());
    // One start tried, then the run stopped: the other modules never started.
    let starts = run.stderr.lines().filter(|l| l.starts_with("$ podman run ")).count();
    assert_eq!(starts, 1, "{}", run.dump());
    assert!(run.stdout.contains("not run"), "{}", run.dump());
}

/// Podman's CLI reads its image store itself: a run whose remembered test
/// image the engine's list confirmed, in a store unchanged since, starts its
/// module without asking the engine again. Any change of the store (here the
/// base rebuilt under its name) makes the next run ask, and the stale image
/// never runs.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn an_unchanged_image_store_confirms_the_remembered_image_and_a_changed_one_is_asked() {
    require_podman();
    let base = offline_base_3_11();
    let name = format!("localhost/pymaccounter-test-store-{}:latest", std::process::id());
    let rebuild = |generation: &str| build_generation("podman", &base, &name, generation);
    let dir = generation_test_dir();
    let cache = tempfile::tempdir().unwrap();
    let report = cache.path().join("report.json");
    let mut test_images = Vec::new();
    let mut run = || {
        let mut args = vec![
            "run-all-tests",
            "--test-dir",
            path_str(dir.path()),
            "--base-image",
            &name,
            "--engine",
            "podman",
        ];
        args.extend(["--debug", "--report-json", path_str(&report)]);
        if !podman_limits_memory() {
            args.extend(["--memory", "none"]);
        }
        let mut command = xtask_command(&args);
        let finished = Finished::from_command(command.env("XDG_CACHE_HOME", cache.path()));
        assert_eq!(finished.code, 0, "{}", finished.dump());
        let image = read_json(&report)["run"]["images"][0]["image"].as_str().unwrap().to_string();
        test_images.push(image);
        finished
    };
    let asked =
        |run: &Finished| run.stderr.lines().any(|l| l.starts_with("$ ") && l.contains("podman images "));
    rebuild("1");
    // Built, then found listed and remembered, then confirmed by the list and the store seen.
    for _ in 0..3 {
        let first = run();
        assert!(first.stdout.contains("generation 1"), "{}", first.dump());
    }
    // Other tests may change the store meanwhile (each change makes the next
    // run ask again): of a few runs in a row, one must ask nothing.
    let runs: Vec<Finished> = (0..5).map(|_| run()).collect();
    let unchanged = runs.iter().find(|r| !asked(r)).unwrap_or_else(|| {
        panic!("the store is unchanged: nothing to ask, yet every run asked\n{}", runs[4].dump())
    });
    assert!(unchanged.stdout.contains("generation 1"), "{}", unchanged.dump());
    assert!(unchanged.stderr.contains("$ podman run "), "{}", unchanged.dump());
    assert!(!unchanged.stderr.contains("podman info "), "{}", unchanged.dump());

    rebuild("2");
    let changed = run();
    assert!(asked(&changed), "the store changed: the engine is asked\n{}", changed.dump());
    assert!(changed.stdout.contains("generation 2"), "ran in the new image: {}", changed.dump());
    assert!(
        !changed.stdout.contains("generation 1"),
        "the stale image's module never ran: {}",
        changed.dump()
    );
    let runs = changed.stderr.lines().filter(|l| l.starts_with("run ")).count();
    assert_eq!(runs, 2, "the stale guess was dropped and the run made again:\n{}", changed.dump());
    test_images.sort();
    test_images.dedup();
    assert_eq!(test_images.len(), 2, "one test image per generation of the base: {test_images:?}");
    let _ = Command::new("podman").args(["rmi", "--force", &name]).args(&test_images).output();
}

/// Every container the runner starts gets the limits Podman needs here to
/// start one at all, not only the modules': the helper that asks a named
/// base for its Python version and the installer of the runner's tools
/// (pytest from the index, for a pytest file with no project, in a cache
/// that has none yet) used to fail to start on Podman, the first silently.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn helpers_and_the_installer_start_on_podman_too() {
    require_podman();
    let base = offline_base_3_11();
    let dir = empty_test_dir();
    std::fs::write(
        dir.path().join("test_three.py"),
        "import pytest\n\n@pytest.mark.parametrize('n', range(3))\ndef test_n(n):\n    assert n < 3\n",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let report = cache.path().join("report.json");
    let mut args = vec!["run-all-tests", "--test-dir", path_str(dir.path()), "--engine", "podman"];
    args.extend(["--base-image", &base, "--cache-dir", path_str(cache.path())]);
    args.extend(["--report-json", path_str(&report)]);
    if !podman_limits_memory() {
        args.extend(["--memory", "none"]);
    }
    let run = Finished::from_command(xtask_command(&args).env("XDG_CACHE_HOME", cache.path()));
    assert_eq!(run.code, 0, "{}", run.dump());
    let report = read_json(&report);
    assert_eq!(report["run"]["images"][0]["python"], "3.11", "the helper answered: {report:#}");
    let result = result_for(&report, "test_three.py");
    assert_eq!(result["test_counts"]["passed"], 3, "{result:#}");
    assert_eq!(result["test_counts_from"], "harness", "{result:#}");
}
