//! The remote-engine path on a real second engine: a `dockerd` this test
//! starts itself on `tcp://127.0.0.1:PORT`, with its own data, exec root,
//! pid file, config and bridge, so the machine's own engine is untouched.
//! With `DOCKER_HOST` naming it, the runner must copy the test dir into a
//! volume (a remote engine cannot see the host's folders), the modules must
//! find their helpers and data there, and nothing of the run may stay.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::second_engine::*;
use common::*;

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
#[cfg_attr(not_root, ignore = "starts a second engine daemon: needs root")]
fn a_remote_engine_gets_the_test_dir_as_a_volume_and_keeps_nothing() {
    require_engine();
    require_root();
    let base = offline_base_of_the_main_engine();
    let engine = SecondEngine::start();
    engine.load(&base);

    let dir = owned_fixture_with_a_private_data_file();

    let modules = ["test_imports_helpers.py", "test_reads_data.py", "test_scratch.py"];
    let run = engine.xtask(&dir, &modules);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("helper says 42"), "the helper package did not arrive:\n{}", run.dump());
    assert!(run.stdout.contains("read 3 numbers"), "the data file did not arrive:\n{}", run.dump());
    assert!(run.stdout.contains("scratch is /scratch"), "{}", run.dump());
    assert!(run.stdout.contains("3 passed, 0 failed"), "{}", run.dump());
    assert!(
        run.stderr.contains("note: the engine is remote; copying") && run.stderr.contains("into the volume"),
        "the copy is not announced:\n{}",
        run.dump()
    );
    let module_runs: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" run --rm ") && l.contains(" --name pymaccounter-"))
        .collect();
    assert_eq!(module_runs.len(), modules.len(), "{}", run.dump());
    for line in module_runs {
        assert!(line.contains("--mount type=volume,source=pymaccounter-"), "not the volume:\n{line}");
        assert!(!line.contains("type=bind"), "a remote engine cannot bind the host's folder:\n{line}");
    }
    engine.assert_nothing_left("after a passing run");

    // A failing module: the volume goes all the same.
    std::fs::write(dir.path().join("test_fails.py"), "raise SystemExit('failed on purpose')\n").unwrap();
    let failed = engine.xtask(&dir, &["test_fails.py", "test_reads_data.py"]);
    assert_eq!(failed.code, 1, "{}", failed.dump());
    assert!(failed.stdout.contains("1 passed, 1 failed"), "{}", failed.dump());
    engine.assert_nothing_left("after a failing run");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
#[cfg_attr(not_root, ignore = "starts a second engine daemon: needs root")]
fn podman_asked_for_a_copy_reads_the_test_dir_as_a_bind_mount_would() {
    require_engine();
    require_root();
    let works = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        works,
        "podman is not installed: apt-get install podman (bash .ci/run does it), or set {SKIP_VARIABLE}=1"
    );
    // Podman's `cp` gives the files to the container's user unless told
    // otherwise, and takes `ro`, not `readonly`, on a volume mount.
    let dir = owned_fixture_with_a_private_data_file();
    let modules = ["test_imports_helpers.py", "test_reads_data.py", "test_scratch.py"];
    let mut args = vec!["run", "--engine", "podman", "--test-dir", path_str(dir.path())];
    args.extend(modules);
    let mut command = xtask_command(&args);
    command.env(REMOTE, "1").env_remove("CONTAINER_HOST");
    let run = Finished::from_command(&mut command);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stderr.contains("copying"), "{}", run.dump());
    assert!(run.stdout.contains("read 3 numbers"), "{}", run.dump());
    let id = run_id(&run.stderr).expect("a run id");
    let filter = format!("label=pymaccounter.run={id}");
    for kind in [
        &["ps", "--all", "--quiet", "--filter", &filter][..],
        &["volume", "ls", "--quiet", "--filter", &filter],
    ] {
        let left = Command::new("podman").args(kind).output().unwrap();
        assert!(left.status.success(), "{}", String::from_utf8_lossy(&left.stderr));
        assert!(
            left.stdout.is_empty(),
            "`podman {}` left: {}",
            kind.join(" "),
            String::from_utf8_lossy(&left.stdout)
        );
    }
}

/// The realistic fixture owned by someone other than root, with a data file
/// only its owner may read: through a bind mount the module (running as the
/// owner) reads it, so through a copy it must too.
fn owned_fixture_with_a_private_data_file() -> tempfile::TempDir {
    let dir = fixture("realistic");
    let chown = Command::new("chown").args(["-R", "4242:4242", path_str(dir.path())]).output().unwrap();
    assert!(chown.status.success(), "{}", String::from_utf8_lossy(&chown.stderr));
    let data = dir.path().join("data/numbers.txt");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

const REMOTE: &str = "PYMACCOUNTER_REMOTE_ENGINE";
