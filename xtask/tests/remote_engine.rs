//! The remote-engine path on a real second engine: a `dockerd` this test
//! starts itself on `tcp://127.0.0.1:PORT`, with its own data, exec root,
//! pid file, config and bridge, so the machine's own engine is untouched.
//! With `DOCKER_HOST` naming it, the runner must copy the test dir into a
//! volume (a remote engine cannot see the host's folders), the modules must
//! find their helpers and data there, and nothing of the run may stay.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
#[cfg_attr(not_root, ignore = "starts a second engine daemon: needs root")]
fn a_remote_engine_gets_the_project_and_its_environment_as_volumes_and_counts_as_a_local_one() {
    require_engine();
    require_root();
    let base = offline_base_of_the_main_engine();
    let project = small_project();
    let tests = project.join("tests");
    // The local engine's run: the environment cached in the tests' shared cache.
    let shared = shared_cache();
    let local = project_run(&tests, &shared, None);
    assert_eq!(local.finished.code, 0, "{}", local.finished.dump());

    let engine = SecondEngine::start();
    engine.load(&base);
    // A cache of its own, so the remote engine builds the environment itself
    // (the installer shared, not fetched again).
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(shared.join("tools")).unwrap();
    std::os::unix::fs::symlink(shared.join("tools"), cache.path().join("tools")).unwrap();
    let remote = project_run(&tests, cache.path(), Some(&engine));
    let run = &remote.finished;
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stderr.contains("into the volume pymaccounter-"), "{}", run.dump());

    // The same tests, with the same outcomes, in each module.
    for module in ["test_package.py", "nested/test_rootdir.py"] {
        let (here, there) = (result_for(&local.report, module), result_for(&remote.report, module));
        assert_eq!(here["status"], "pass", "{module} locally: {here:#}");
        assert_eq!(there["status"], here["status"], "{module}: {there:#}");
        assert_eq!(there["test_counts"], here["test_counts"], "{module}'s counts differ");
    }
    let counts = &result_for(&remote.report, "test_package.py")["test_counts"];
    assert_eq!((counts["passed"].as_u64(), counts["skipped"].as_u64()), (Some(3), Some(1)), "{counts:#}");
    let counts = &result_for(&remote.report, "nested/test_rootdir.py")["test_counts"];
    assert_eq!(counts["passed"].as_u64(), Some(2), "{counts:#}");
    // The environment was built for the remote engine, and holds the project's dependency.
    let packages = remote.report["run"]["images"][0]["packages"].to_string();
    assert!(packages.contains("\"six\""), "six is not in the environment: {packages}");
    assert!(
        std::fs::read_dir(cache.path().join("envs"))
            .unwrap()
            .flatten()
            .any(|e| e.path().join("ready").is_file()),
        "no environment in the remote run's cache"
    );

    // What of the root a remote engine gets: neither version control, nor
    // virtual environments, nor target/, nor what .gitignore leaves out.
    let listing = |run: &Finished| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix("root holds: "))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(
        listing(&local.finished),
        ".git .gitignore conftest.py env311 ignored.txt pyproject.toml src target tests",
        "{}",
        local.finished.dump()
    );
    assert_eq!(listing(run), ".gitignore conftest.py pyproject.toml src tests", "{}", run.dump());

    // Every module's container mounts volumes only: the root, the test dir, the environment.
    let module_runs: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" run --rm ") && l.contains(" --name pymaccounter-"))
        .collect();
    assert_eq!(module_runs.len(), 2, "{}", run.dump());
    let root = path_str(&project);
    for line in module_runs {
        assert!(
            line.contains(&format!("-project,target={root},ro")),
            "the project root is not its volume:\n{line}"
        );
        assert!(
            line.contains("-env-3.11,target=/opt/pymaccounter-env/"),
            "the environment is not its volume:\n{line}"
        );
        assert!(!line.contains("type=bind"), "a remote engine cannot bind the host's folder:\n{line}");
    }
    // Each volume made (the install's folders, the environment, the test
    // dir, the root) carries the run's label, which `clean --run` looks for.
    let id = run_id(&run.stderr).expect("a run id");
    let made: Vec<&str> = run.stderr.lines().filter(|l| l.contains(" volume create ")).collect();
    for what in ["-install-3.11-", "-env-3.11", "-tests", "-project"] {
        assert!(made.iter().any(|l| l.contains(what)), "no volume {what}:\n{}", made.join("\n"));
    }
    for line in made {
        assert!(line.contains(&format!("--label pymaccounter.run={id} ")), "not the run's:\n{line}");
    }
    engine.assert_nothing_left("after a run with a project");

    // A project that does not build there is the user's to fix (exit 2,
    // with its backend's words), and the install's volumes go all the same.
    let pyproject = project.join("pyproject.toml");
    let broken =
        std::fs::read_to_string(&pyproject).unwrap() + "\n[tool.setuptools]\npackages = [\"missing\"]\n";
    std::fs::write(&pyproject, broken).unwrap();
    let refused = project_run(&tests, cache.path(), Some(&engine)).finished;
    assert_eq!(refused.code, 2, "{}", refused.dump());
    assert!(refused.stderr.contains("does not build for Python 3.11"), "{}", refused.dump());
    assert!(refused.stderr.contains("missing"), "not the backend's words:\n{}", refused.dump());
    engine.assert_nothing_left("after a project that does not build");
}

/// A run of every test file of `tests` with a JSON report, on `engine`, else on the local one.
struct ProjectRun {
    finished: Finished,
    report: serde_json::Value,
}

fn project_run(tests: &Path, cache: &Path, engine: Option<&SecondEngine>) -> ProjectRun {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("report.json");
    let mut command = run_all_tests_command(tests, cache, &json, &["--debug"]);
    command.env_remove("DOCKER_CONTEXT").env_remove(REMOTE);
    match engine {
        Some(engine) => command.env("DOCKER_HOST", &engine.host),
        None => command.env_remove("DOCKER_HOST"),
    };
    let finished = Finished::from_command(&mut command);
    ProjectRun { finished, report: report_if_written(&json) }
}

/// A src-layout project with a runtime dependency from the index (six), a
/// root conftest fixture, pytest's configuration in `pyproject.toml`, a test
/// dir below the root (the conftest's report header lists the root), and what a remote engine must not get: a `.git`, a
/// virtual environment, `target/`, a file `.gitignore` names. Owned by
/// someone other than root, as a user's checkout is.
/// At a fixed place (an environment's key holds the project's path), so
/// the local engine's environment stays cached between runs of the test.
fn small_project() -> PathBuf {
    let dir = fixed_project_dir("remote-engine");
    let files = [
        (
            "pyproject.toml",
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"remotepkg\"\nversion = \"0.1\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"six\"]\n\n[tool.pytest.ini_options]\nxfail_strict = true\n",
        ),
        ("src/remotepkg/__init__.py", "import six\n\n\ndef answer():\n    return 42 if six.PY3 else 0\n"),
        (
            "conftest.py",
            "import os\n\nimport pytest\n\n\n@pytest.fixture\ndef answer():\n    import remotepkg\n    return remotepkg.answer()\n\n\n\
             def pytest_report_header(config):\n    \
             return 'root holds: ' + ' '.join(sorted(os.listdir(os.path.dirname(__file__))))\n",
        ),
        (
            "tests/test_package.py",
            "import pytest\nimport remotepkg\n\n\ndef test_root_fixture(answer):\n    assert answer == 42\n\n\n\
             def test_dependency():\n    import six\n    assert six.PY3\n\n\n\
             def test_package_is_the_mounted_source():\n    assert remotepkg.__file__.endswith('src/remotepkg/__init__.py')\n\n\n\
             @pytest.mark.skip(reason='on purpose')\ndef test_skipped():\n    pass\n",
        ),
        (
            "tests/nested/test_rootdir.py",
            "from pathlib import Path\n\n\ndef test_rootdir_is_the_project(request):\n    \
             assert request.config.rootpath == Path(__file__).parents[2]\n\n\n\
             def test_configuration_is_the_projects(request):\n    assert request.config.getini('xfail_strict') is True\n",
        ),
        (".gitignore", "ignored.txt\n"),
        ("ignored.txt", "not shipped\n"),
        (".git/HEAD", "ref: refs/heads/main\n"),
        ("env311/pyvenv.cfg", "home = /usr/bin\n"),
        ("target/debug/big", "build output\n"),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let chown = Command::new("chown").args(["-R", "4242:4242", path_str(&dir)]).output().unwrap();
    assert!(chown.status.success(), "{}", String::from_utf8_lossy(&chown.stderr));
    dir
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
