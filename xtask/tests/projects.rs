//! Real projects (issue 20): the project under test, its dependencies and
//! its configuration in every container. On the real engine and the real
//! index (through the host): environments are resolved and downloaded on the
//! host and installed in a `--network none` container.
//!
//! The shared environment cache is `target/pymaccounter-test-cache`: a warm
//! cache makes these tests a few seconds each; a cold one adds about a
//! minute per environment (uv's bootstrap, numpy's wheel).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::watching::{closing_lines, Watching};
use common::{
    copy_tree, fixed_copy, fixed_project_dir, offline_base_3_11, path_str, project_root, read_json,
    report_if_written, require_engine, run_all_tests_command, shared_cache, xtask, Finished,
};

fn run_all(tests: &Path, cache: &Path, extra: &[&str]) -> (Finished, serde_json::Value) {
    let report = tempfile::tempdir().unwrap();
    let json = report.path().join("r.json");
    let finished = Finished::from_command(&mut run_all_tests_command(tests, cache, &json, extra));
    (finished, report_if_written(&json))
}

fn packages(report: &serde_json::Value) -> Vec<(String, String)> {
    report["run"]["images"][0]["packages"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| {
                    (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The environment folder (in the cache) the last run of `project` used.
fn environment_of(cache: &Path, project: &Path) -> PathBuf {
    let envs = std::fs::read_dir(cache.join("envs")).unwrap();
    let points_at_project = |dir: &Path| {
        let site = dir.join("venv/lib/python3.11/site-packages");
        std::fs::read_dir(site).into_iter().flatten().flatten().any(|entry| {
            entry.path().extension().is_some_and(|e| e == "pth")
                && std::fs::read_to_string(entry.path()).unwrap_or_default().contains(path_str(project))
        })
    };
    // Several may (an older base's); the run just used, and so touched, its own.
    let used = |dir: &PathBuf| std::fs::metadata(dir.join("ready")).and_then(|m| m.modified()).ok();
    envs.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.join("ready").is_file() && points_at_project(dir))
        .max_by_key(used)
        .expect("the run's environment is in the cache")
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// One plain `python -m pytest -p no:cacheprovider` with `pytest_args` in a
/// container of `image`, with the environment `env_dir` and the project at its
/// own path (both read-only), as nobody with the network cut; `workdir` names
/// the working folder (and what makes it).
fn plain_pytest(
    image: &str,
    project: &Path,
    env_dir: &Path,
    workdir: &[&str],
    pytest_args: &[&str],
) -> Output {
    let in_container = format!("/opt/pymaccounter-env/{}", env_dir.file_name().unwrap().to_str().unwrap());
    let root = path_str(project);
    let root_mount = format!("type=bind,source={root},target={root},readonly");
    let env_mount = format!("type=bind,source={},target={in_container},readonly", path_str(env_dir));
    let python = format!("{in_container}/venv/bin/python");
    let mut args =
        vec!["run", "--rm", "--network", "none", "--label", "pymaccounter=1", "--user", "65534:65534"];
    args.extend(workdir);
    args.extend(["--env", "HOME=/tmp", "--mount", &root_mount, "--mount", &env_mount, image, &python]);
    args.extend(["-m", "pytest", "-p", "no:cacheprovider"]);
    args.extend(pytest_args);
    docker(&args)
}

/// The counts of one plain `pytest` over the test dir in one container of
/// the same image with the same environment (the reference the runner must match).
fn plain_pytest_counts(image: &str, project: &Path, env_dir: &Path, tests: &Path) -> String {
    let output = plain_pytest(image, project, env_dir, &["--workdir", "/tmp"], &["-q", path_str(tests)]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!stdout.is_empty(), "plain pytest printed nothing: {}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default().to_string();
    // "5 passed, 1 xfailed in 1.2s" → "5 passed, 1 xfailed"
    last.split(" in ").next().unwrap().trim_matches('=').trim().to_string()
}

fn counts_line(result: &serde_json::Value) -> String {
    let counts = &result["test_counts"];
    let mut parts = Vec::new();
    for key in ["failed", "passed", "skipped", "xfailed", "xpassed", "errors"] {
        let n = counts[key].as_u64().unwrap_or(0);
        if n > 0 {
            let word = if key == "errors" && n == 1 { "error" } else { key };
            parts.push(format!("{n} {word}"));
        }
    }
    parts.join(", ")
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_src_layout_project_runs_with_its_conftest_configuration_and_dependencies() {
    require_engine();
    let project = fixed_copy("src-project", "acceptance");
    let tests = project.join("tests");
    let cache = shared_cache();
    let (run, report) = run_all(&tests, &cache, &["--group", "test"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = &report["results"][0];
    assert_eq!(counts_line(result), "5 passed, 1 xfailed", "{}", run.dump());

    let installed = packages(&report);
    let has = |name: &str, version: Option<&str>| {
        installed.iter().any(|(n, v)| n == name && version.is_none_or(|want| v == want))
    };
    assert!(has("demo", Some("0.1.0")) && has("numpy", None) && has("hypothesis", None), "{installed:?}");
    assert!(has("packaging", Some("24.1")) && has("pytest", None), "{installed:?}");

    // Which pytest ran, and from where: the environment's, said in the report and on the terminal.
    let pytest_version = installed.iter().find(|(n, _)| n == "pytest").unwrap().1.clone();
    let pytest = &result["pytest"];
    assert_eq!(
        (pytest["version"].as_str(), pytest["from"].as_str()),
        (Some(&*pytest_version), Some("environment"))
    );
    assert!(pytest["path"].as_str().unwrap().starts_with("/opt/pymaccounter-env/"), "{pytest}");
    assert_eq!(report["run"]["images"][0]["pytest"], *pytest);
    let line =
        format!("pytest {pytest_version}, from the project's environment (resolved from the package index)");
    assert!(run.stdout.lines().any(|l| l == line), "{}", run.dump());

    // The base does carry an older Debian copy of packaging, which lost.
    let base = report["run"]["images"][0]["base"].as_str().unwrap();
    let debian = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        base,
        "python3",
        "-c",
        "import packaging; print(packaging.__version__)",
    ]);
    let debian = String::from_utf8_lossy(&debian.stdout).trim().to_string();
    assert!(!debian.is_empty() && debian != "24.1", "the base's own packaging is {debian:?}");

    // One plain pytest over the test dir with the same environment counts the same.
    let image = report["run"]["images"][0]["image"].as_str().unwrap();
    let env_dir = environment_of(&cache, &project);
    assert_eq!(plain_pytest_counts(image, &project, &env_dir, &tests), "5 passed, 1 xfailed");

    // The project was built from a copy: nothing was written into it.
    let mut left: Vec<String> = std::fs::read_dir(&project)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["conftest.py", "pyproject.toml", "src", "tests"]);

    // Warm: nothing rebuilt, no installer call.
    let (again, _) = run_all(&tests, &cache, &["--group", "test"]);
    assert_eq!(again.code, 0, "{}", again.dump());
    assert!(!again.stderr.contains("Building the environment"), "{}", again.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_lock_decides_the_versions_and_a_warm_run_needs_no_installer() {
    require_engine();
    let project = fixed_copy("locked-project", "lock");
    let tests = project.join("tests");
    let cache = tempfile::tempdir().unwrap();
    let (run, report) = run_all(&tests, cache.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(packages(&report).contains(&("iniconfig".into(), "2.0.0".into())), "{:?}", packages(&report));

    // The installer gone (and no Python, pip or uv on PATH): the cached environment still runs.
    let tools = cache.path().join("tools");
    std::fs::rename(&tools, cache.path().join("tools-away")).unwrap();
    let mut command = common::xtask_command(&[
        "run-all-tests",
        "--test-dir",
        path_str(&tests),
        "--cache-dir",
        path_str(cache.path()),
    ]);
    let cargo_bin = Path::new(&std::env::var("HOME").unwrap()).join(".cargo/bin");
    command.env("PATH", format!("/usr/bin:/bin:{}", cargo_bin.display()));
    let warm = Finished::from_command(&mut command);
    assert_eq!(warm.code, 0, "{}", warm.dump());
    assert!(!warm.stderr.contains("Building the environment"), "{}", warm.dump());
    assert_eq!(warm.last_line(), "1 passed, 0 failed", "{}", warm.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_pylock_decides_the_versions_and_its_hashes_the_files() {
    // PEP 751: iniconfig 2.0.0 pinned, while the index's newest is later.
    require_engine();
    let project = fixed_copy("pylock-project", "pylock");
    let tests = project.join("tests");
    let cache = shared_cache();
    let (run, report) = run_all(&tests, &cache, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(packages(&report).contains(&("iniconfig".into(), "2.0.0".into())), "{:?}", packages(&report));

    // Without the lock the same project gets a later release: the lock, not the project, chose 2.0.0.
    let unlocked = fixed_copy("pylock-project", "pylock-unlocked");
    std::fs::remove_file(unlocked.join("pylock.toml")).unwrap();
    let (free, free_report) = run_all(&unlocked.join("tests"), &cache, &[]);
    assert_eq!(free.code, 1, "the test wants 2.0.0: {}", free.dump());
    let version = packages(&free_report).into_iter().find(|(n, _)| n == "iniconfig").unwrap().1;
    assert_ne!(version, "2.0.0", "{}", free.dump());

    // Files whose hashes the lock does not record are refused before anything runs
    // (with only the wheel's hash wrong, pip takes the sdist, whose hash the lock has).
    let tampered = fixed_copy("pylock-project", "pylock-tampered");
    let mut lock = std::fs::read_to_string(tampered.join("pylock.toml")).unwrap();
    for hash in [
        "b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374",
        "2d91e135bf72d31a410b17c16da610a82cb55f6b0477d1a902134b24a455b8b3",
    ] {
        assert!(lock.contains(hash));
        lock = lock.replace(hash, &"0".repeat(64));
    }
    std::fs::write(tampered.join("pylock.toml"), lock).unwrap();
    let (refused, _) = run_all(&tampered.join("tests"), &cache, &[]);
    assert_eq!(refused.code, 2, "{}", refused.dump());
    let said = format!("without the hashes {} records", tampered.join("pylock.toml").display());
    assert!(refused.stderr.contains(&said), "{}", refused.dump());
    assert!(!refused.stderr.contains("run "), "nothing started: {}", refused.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn code_to_compile_needs_a_base_with_a_compiler_else_exit_2_naming_the_package() {
    // The test images have no compiler: a project's own C extension, and a
    // dependency with no wheel for the Python (only its C source), are refused;
    // on a base with a compiler the dependency builds.
    require_engine();
    let project = fixed_copy("c-extension-project", "c-extension");
    let (own, _) = run_all(&project.join("tests"), &shared_cache(), &[]);
    assert_eq!(own.code, 2, "{}", own.dump());
    // Named by its folder: a setup.py's name is known only by running it.
    let said = format!("the project {} has code to compile, which needs a C compiler", project.display());
    assert!(own.stderr.contains(&said), "{}", own.dump());
    assert!(own.stderr.contains("--base-image with a C compiler and Python's headers"), "{}", own.dump());
    assert!(!own.stderr.contains("\nrun "), "nothing started: {}", own.dump());

    // netifaces 0.11.0 ships Linux wheels up to CPython 3.9 only.
    let pure = fixed_copy("locked-project", "c-dependency");
    std::fs::write(
        pure.join("tests/test_netifaces.py"),
        "import netifaces\n\n\ndef test_the_extension_works():\n    assert 'lo' in netifaces.interfaces()\n",
    )
    .unwrap();
    let (dependency, _) = run_all(&pure.join("tests"), &shared_cache(), &["--with", "netifaces==0.11.0"]);
    assert_eq!(dependency.code, 2, "{}", dependency.dump());
    let said =
        "netifaces==0.11.0 has no wheel for Python 3.11 (x86_64-manylinux_2_28), and building it from \
                its source needs a C compiler";
    assert!(dependency.stderr.contains(said), "{}", dependency.dump());
    assert!(!dependency.stderr.contains("\nrun "), "nothing started: {}", dependency.dump());

    // The fix the message names: a base with a C compiler and Python's headers.
    let builder = builder_base();
    let with_compiler = ["--with", "netifaces==0.11.0", "--base-image", builder.as_str()];
    let (built, report) = run_all(&pure.join("tests"), &shared_cache(), &with_compiler);
    assert_eq!(built.code, 0, "{}", built.dump());
    assert!(packages(&report).contains(&("netifaces".into(), "0.11.0".into())), "{:?}", packages(&report));
    // A project's own compiled modules would be built in the copy, which the
    // editable install does not point at: refused rather than failing its imports.
    let (own, _) = run_all(&project.join("tests"), &shared_cache(), &["--base-image", builder.as_str()]);
    assert_eq!(own.code, 2, "{}", own.dump());
    let said = format!(
        "the project {} builds compiled modules (cext/_speed.cpython-311-x86_64-linux-gnu.so)",
        project.display()
    );
    assert!(own.stderr.contains(&said), "{}", own.dump());
}

/// The offline 3.11 base with gcc and Python's headers (Debian's archive
/// through the engine's default network), built once per base id.
fn builder_base() -> String {
    let base = offline_base_3_11();
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &base]);
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let dockerfile = format!(
        "FROM {base}\nRUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev \
         && rm -rf /var/lib/apt/lists/*\nLABEL pymaccounter=1\n"
    );
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(&id, &dockerfile), &mut hasher);
    let tag = format!("pymaccounter-test-c-builder:3.11-{:016x}", std::hash::Hasher::finish(&hasher));
    if docker(&["image", "inspect", &tag]).status.success() {
        return tag;
    }
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let built = docker(&["build", "--force-rm", "-q", "-t", &tag, path_str(context.path())]);
    assert!(
        built.status.success(),
        "building {tag} needs the Debian archive (the engine's default network): {}",
        String::from_utf8_lossy(&built.stderr)
    );
    tag
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_base_with_python_but_no_pytest_runs_pytest_files() {
    require_engine();
    let base = offline_base_3_11();
    // Like python:X.Y-slim: Python, and no pytest at all.
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {base}\nRUN dpkg --purge --force-depends python3-pytest && ! python3 -c 'import pytest'\n\
             LABEL pymaccounter=1\n"
        ),
    )
    .unwrap();
    let image = "pymaccounter-test-python-only:latest";
    let built = docker(&["build", "--network", "none", "-q", "-t", image, path_str(context.path())]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));

    let project = fixed_copy("src-project", "python-only-base");
    let tests = project.join("tests");
    let (run, report) = run_all(&tests, &shared_cache(), &["--group", "test", "--base-image", image]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(counts_line(&report["results"][0]), "5 passed, 1 xfailed", "{}", run.dump());

    // --memray too: memray comes from the index into the environment, on a 3.11 base.
    let (profiled, report) =
        run_all(&tests, &shared_cache(), &["--group", "test", "--base-image", image, "--memray"]);
    assert_eq!(profiled.code, 0, "{}", profiled.dump());
    let memray = &report["results"][0]["memray"];
    assert!(memray["peak_memory_bytes"].as_u64().unwrap_or(0) > 1 << 20, "{}", profiled.dump());
    assert!(packages(&report).iter().any(|(name, _)| name == "memray"), "{:?}", packages(&report));

    // Without the project: the runner's tools come from the index into a
    // tools environment, and the same base runs a pytest file and --memray.
    let alone = common::empty_test_dir();
    let module = "def test_holds():\n    block = bytearray(8 << 20)\n    assert len(block) == 8 << 20\n";
    std::fs::write(alone.path().join("test_alone.py"), module).unwrap();
    let (plain, report) = run_all(alone.path(), &shared_cache(), &["--no-project", "--base-image", image]);
    assert_eq!(plain.code, 0, "{}", plain.dump());
    assert_eq!(counts_line(&report["results"][0]), "1 passed", "{}", plain.dump());
    assert_eq!(report["results"][0]["pytest"]["from"], "environment", "{}", plain.dump());
    assert!(
        plain.stdout.contains("from the package index (the runner's tools: no project)"),
        "{}",
        plain.dump()
    );
    let (profiled, report) =
        run_all(alone.path(), &shared_cache(), &["--no-project", "--base-image", image, "--memray"]);
    assert_eq!(profiled.code, 0, "{}", profiled.dump());
    let memray = &report["results"][0]["memray"];
    assert!(memray["peak_memory_bytes"].as_u64().unwrap_or(0) >= 8 << 20, "{}", profiled.dump());
    let installed: Vec<String> = packages(&report).into_iter().map(|(name, _)| name).collect();
    assert!(installed.contains(&"memray".into()) && installed.contains(&"pytest".into()), "{installed:?}");

    // No index, nothing cached: that base has no pytest of its own to fall back on (exit 3, said).
    let fresh = tempfile::tempdir().unwrap();
    let mut command = common::xtask_command(&[
        "run-all-tests",
        "--test-dir",
        path_str(alone.path()),
        "--cache-dir",
        path_str(fresh.path()),
        "--no-project",
        "--base-image",
        image,
    ]);
    command
        .env("UV_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
    let offline = Finished::from_command(&mut command);
    assert_eq!(offline.code, 3, "{}", offline.dump());
    assert!(
        offline.stderr.contains("pytest comes from the package index for Python 3.11"),
        "{}",
        offline.dump()
    );
    assert!(offline.stderr.contains("UV_INDEX_URL"), "the fix is named: {}", offline.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn without_a_project_pytest_comes_from_the_index_and_debians_serves_only_without_one() {
    require_engine();
    let dir = common::empty_test_dir();
    std::fs::write(dir.path().join("test_plain.py"), "def test_one():\n    assert 1 + 1 == 2\n").unwrap();
    // No index answers (port 9 on loopback): Debian's pytest of each offline base serves.
    let cache = tempfile::tempdir().unwrap();
    let report_file = cache.path().join("r.json");
    let offline = |report: &Path| {
        let mut command = common::xtask_command(&[
            "run-all-tests",
            "--test-dir",
            path_str(dir.path()),
            "--cache-dir",
            path_str(cache.path()),
            "--report-json",
            path_str(report),
            "--no-project",
            "--python",
            "3.9,3.11",
            "--debug",
        ]);
        command
            .env("UV_INDEX_URL", "http://127.0.0.1:9/simple")
            .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
        Finished::from_command(&mut command)
    };
    // The installer's command lines (`--debug`): the index is asked once a
    // run, briefly, whatever the number of Pythons; no install is tried.
    let installer = cache.path().join("tools/bin");
    let asked = |run: &Finished| -> Vec<String> {
        let lines = run.stdout.lines().chain(run.stderr.lines());
        lines.filter(|l| l.starts_with("$ ") && l.contains(path_str(&installer))).map(String::from).collect()
    };
    let run = offline(&report_file);
    assert_eq!(run.code, 0, "{}", run.dump());
    for python in ["3.9", "3.11"] {
        let notice = format!("no package index answered: Python {python} runs the base image's own tools");
        assert!(run.stderr.contains(&notice), "{}", run.dump());
    }
    let calls = asked(&run);
    assert!(
        calls.len() == 1 && calls[0].contains(r#""index" "versions" "uv""#),
        "{calls:#?}\n{}",
        run.dump()
    );
    assert!(!run.stderr.contains("Installing uv into"), "{}", run.dump());
    let report = read_json(&report_file);
    let base = report["run"]["images"][0]["base"].as_str().unwrap();
    let debian = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        base,
        "python3",
        "-c",
        "import pytest; print(pytest.__version__)",
    ]);
    let debian = String::from_utf8_lossy(&debian.stdout).trim().to_string();
    assert!(debian.starts_with("6."), "bullseye's pytest is 6.x, not {debian:?}");
    let pytest = &report["results"][0]["pytest"];
    assert_eq!(report["results"][0]["python"], "3.9");
    assert_eq!(
        (pytest["version"].as_str(), pytest["from"].as_str()),
        (Some(&*debian), Some("debian")),
        "{pytest}"
    );
    assert_eq!(pytest["path"], "/usr/lib/python3/dist-packages/pytest");
    assert_eq!(report["run"]["images"][0]["pytest"], *pytest);
    assert_eq!(report["results"][1]["pytest"]["from"], "debian", "{report:#}");
    let line = format!("pytest {debian} (Python 3.9), Debian's python3-pytest in the base image");
    assert!(run.stdout.lines().any(|l| l == line), "{}", run.dump());
    let built = std::fs::read_dir(cache.path().join("envs")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(built, 0, "no environment without an index");

    // With the index: the newest pytest for 3.9 from it, never Debian's.
    let (run, report) = run_all(dir.path(), cache.path(), &["--no-project", "--python", "3.9"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let pytest = &report["results"][0]["pytest"];
    assert_eq!(pytest["from"], "environment", "{pytest}");
    let version = pytest["version"].as_str().unwrap();
    assert!(version.split('.').next().unwrap().parse::<u32>().unwrap() >= 8, "pytest {version} on 3.9");
    assert!(pytest["path"].as_str().unwrap().contains("/3.9-tools-"), "{pytest}");
    let line = format!("pytest {version}, from the package index (the runner's tools: no project)");
    assert!(run.stdout.lines().any(|l| l == line), "{}", run.dump());

    // Offline again, uv installed now (the environment just built is keyed
    // by the index settings, so it is not this run's): one brief question,
    // to uv this time, for both Pythons.
    let run = offline(&report_file);
    assert_eq!(run.code, 0, "{}", run.dump());
    let calls = asked(&run);
    assert!(calls.len() == 1 && calls[0].contains(r#""pip" "compile""#), "{calls:#?}\n{}", run.dump());
    assert!(calls[0].contains(r#"UV_HTTP_RETRIES="0""#), "{calls:#?}");
    for python in ["3.9", "3.11"] {
        let notice = format!("no package index answered: Python {python} runs the base image's own tools");
        assert!(run.stderr.contains(&notice), "{}", run.dump());
    }
    let report = read_json(&report_file);
    let from: Vec<_> =
        report["results"].as_array().unwrap().iter().map(|r| r["pytest"]["from"].clone()).collect();
    assert_eq!(from, ["debian", "debian"], "{report:#}");

    // A run of scripts alone gets no environment: nothing new for plain runs.
    let scripts = common::empty_test_dir();
    std::fs::write(scripts.path().join("test_script.py"), "print('plain')\n").unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let (run, report) = run_all(scripts.path(), fresh.path(), &["--no-project", "--python", "3.9"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(!fresh.path().join("envs").exists() && !fresh.path().join("tools").exists(), "{}", run.dump());
    assert_eq!(report["run"]["images"][0]["packages"], serde_json::Value::Null, "{report:#}");
}

#[test]
fn bad_project_choices_exit_2_before_anything_starts() {
    let project = fixed_copy("src-project", "bad-choices");
    let tests = project.join("tests");
    let cache = tempfile::tempdir().unwrap();
    let (unknown, _) = run_all(&tests, cache.path(), &["--group", "docs"]);
    assert_eq!(unknown.code, 2, "{}", unknown.dump());
    assert!(unknown.stderr.contains("no dependency group `docs` (it has: test)"), "{}", unknown.dump());
    let (extra, _) = run_all(&tests, cache.path(), &["--extra", "fast"]);
    assert_eq!(extra.code, 2, "{}", extra.dump());
    let missing = project.join("nope.txt");
    let (requirements, _) = run_all(&tests, cache.path(), &["--requirements", path_str(&missing)]);
    assert_eq!(requirements.code, 2, "{}", requirements.dump());
    assert!(requirements.stderr.contains("nope.txt: no such file"), "{}", requirements.dump());
    let elsewhere = common::empty_test_dir();
    let (no_project, _) = run_all(&tests, cache.path(), &["--project", path_str(elsewhere.path())]);
    assert_eq!(no_project.code, 2, "{}", no_project.dump());
    assert!(!cache.path().join("envs").exists(), "nothing was built");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_package_no_index_has_is_exit_2_and_an_unreachable_index_exit_3() {
    require_engine();
    let project = fixed_copy("locked-project", "index-errors");
    std::fs::remove_file(project.join("uv.lock")).unwrap();
    let tests = project.join("tests");
    let cache = shared_cache();
    let (missing, _) = run_all(&tests, &cache, &["--with", "pymaccounter-no-such-package-anywhere"]);
    assert_eq!(missing.code, 2, "{}", missing.dump());
    assert!(missing.stderr.contains("pymaccounter-no-such-package-anywhere"), "{}", missing.dump());

    // Port 9 (discard) on loopback: nothing answers there.
    let mut command = common::xtask_command(&[
        "run-all-tests",
        "--test-dir",
        path_str(&tests),
        "--cache-dir",
        path_str(&cache),
        "--with",
        "iniconfig==2.0.0",
        "--debug",
    ]);
    command
        .env("UV_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
    let unreachable = Finished::from_command(&mut command);
    assert_eq!(unreachable.code, 3, "{}", unreachable.dump());
    assert!(unreachable.stderr.contains("UV_INDEX_URL"), "the fix is named: {}", unreachable.dump());
    assert!(unreachable.stderr.contains("Connection refused"), "and why: {}", unreachable.dump());
    // Told by one brief question (no retries), not by the passes' own retries.
    let installer = format!("{}/tools/bin/", path_str(&cache));
    let asked: Vec<&str> =
        unreachable.stderr.lines().filter(|l| l.starts_with("$ ") && l.contains(&installer)).collect();
    assert!(
        asked.len() == 1 && asked[0].contains(r#"UV_HTTP_RETRIES="0""#),
        "{asked:#?}\n{}",
        unreachable.dump()
    );
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_base_rebuilt_under_the_same_name_gets_a_new_test_image() {
    require_engine();
    let base = offline_base_3_11();
    let name = "pymaccounter-test-rebased:latest";
    let test_image_of = |generation: &str| {
        let context = tempfile::tempdir().unwrap();
        let dockerfile = format!("FROM {base}\nLABEL pymaccounter=1 generation={generation}\n");
        std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
        let built = docker(&["build", "--network", "none", "-q", "-t", name, path_str(context.path())]);
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
        let image = xtask(&["build-image", "--base-image", name]);
        assert_eq!(image.code, 0, "{}", image.dump());
        image.stdout.lines().last().unwrap().to_string()
    };
    let first = test_image_of("1");
    assert_eq!(test_image_of("1"), first, "the same base, the same test image");
    assert_ne!(test_image_of("2"), first, "a new base id under the old name");
}

/// A real project's source archive from PyPI, downloaded once into
/// `target/pypi-sdists` and unpacked afresh under `target/`.
fn pypi_project(requirement: &str, folder: &str) -> PathBuf {
    let sdists = project_root().join("target/pypi-sdists");
    let archive = sdists.join(format!("{folder}.tar.gz"));
    if !archive.is_file() {
        let fetched = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                requirement,
                "--dest",
            ])
            .arg(&sdists)
            .output()
            .unwrap();
        assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
    }
    let place = project_root().join("target/pymaccounter-test-projects/pypi");
    let root = place.join(folder);
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    std::fs::create_dir_all(&place).unwrap();
    let unpacked = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&place).status().unwrap();
    assert!(unpacked.success());
    let opened = Command::new("chmod").args(["-R", "a+rX"]).arg(&root).status().unwrap();
    assert!(opened.success());
    root
}

/// Per test file (relative to the project root), pytest's outcome counts
/// from one plain `pytest -v` over the test dir in one container.
fn plain_pytest_per_file(
    image: &str,
    project: &Path,
    env_dir: &Path,
    tests: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> {
    let scratch = ["--tmpfs", "/scratch:rw,exec,mode=1777,uid=65534,gid=65534", "--workdir", "/scratch"];
    let tests = format!("{}/{tests}", path_str(project));
    let output = plain_pytest(
        image,
        project,
        env_dir,
        &scratch,
        &[
            "-rA",
            "--tb=no",
            "-o",
            "console_output_style=classic",
            "--basetemp",
            "/scratch/t",
            "--continue-on-collection-errors",
            &tests,
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Run from writable scratch as the runner does: pytest names files relative to it.
    let root_name = format!("{}/", project.file_name().unwrap().to_str().unwrap());
    let relative = |file: &str| file.rsplit_once(root_name.as_str()).map_or(file, |(_, f)| f).to_string();
    let mut counts: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    // pytest's short summary (-rA): `OUTCOME tests/f.py::id[ - reason]`, a
    // collection error as `ERROR tests/f.py - reason`, skips grouped as
    // `SKIPPED [N] tests/f.py:LINE: reason`. Ids may hold spaces; files do not.
    let summary = stdout.lines().skip_while(|l| !l.contains("short test summary info"));
    for line in summary {
        let Some((word, rest)) = line.split_once(' ') else { continue };
        let outcome = match word {
            "PASSED" => "passed",
            "FAILED" => "failed",
            "SKIPPED" => "skipped",
            "XFAIL" => "xfailed",
            "XPASS" => "xpassed",
            "ERROR" => "errors",
            _ => continue,
        };
        let (n, location) = match rest.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((n, location)) => (n.parse::<u64>().unwrap(), location),
            None => (1, rest),
        };
        let file = location.split(['[', ' ']).next().unwrap();
        let file = file.split("::").next().unwrap().split(':').next().unwrap();
        *counts.entry(relative(file)).or_default().entry(outcome.to_string()).or_default() += n;
    }
    assert!(
        !counts.is_empty(),
        "plain pytest ran nothing:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    counts
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn attrs_own_suite_counts_per_file_as_one_plain_pytest_run() {
    // src layout, a root conftest.py, pytest configuration in pyproject.toml
    // (strict markers, xfail_strict, filterwarnings), its test extra.
    require_engine();
    let root = pypi_project("attrs==24.2.0", "attrs-24.2.0");
    let tests = root.join("tests");
    let cache = shared_cache();
    let (run, report) = run_all(&tests, &cache, &["--extra", "tests"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.dump());
    let mut ours = runner_per_file(&report, "tests");
    assert!(ours.len() > 20, "{}", run.dump());
    let mut plain = plain_pytest_of_run(&report, &cache, &root, "tests");
    // The runner runs Python files; pytest-mypy-plugins' test_mypy.yml is not one.
    plain.retain(|file, _| file.ends_with(".py"));
    // Files where pytest collected nothing are not in its -v output.
    ours.retain(|file, counts| !counts.is_empty() || plain.contains_key(file));
    assert_eq!(ours, plain, "per-file counts: runner (left) vs plain pytest (right)");

    // Three shards of the same run, merged, are the whole run.
    let out = tempfile::tempdir().unwrap();
    let mut shards = Vec::new();
    for part in 1..=3 {
        let partition = format!("{part}/3");
        let (run, shard) = run_all(&tests, &cache, &["--extra", "tests", "--partition", &partition]);
        assert!(run.code == 0 || run.code == 1, "{}", run.dump());
        let path = out.path().join(format!("shard-{part}.json"));
        std::fs::write(&path, serde_json::to_vec(&shard).unwrap()).unwrap();
        shards.push(path);
    }
    let merged = out.path().join("merged.json");
    let mut args = vec!["merge-reports"];
    args.extend(shards.iter().map(|s| path_str(s)));
    args.extend(["--report-json", path_str(&merged)]);
    let merge = xtask(&args);
    assert_eq!(merge.code, run.code, "{}", merge.dump());
    assert_eq!(merge.last_line(), run.last_line(), "{}", merge.dump());
    let merged = read_json(&merged);
    assert_eq!(merged["summary"], report["summary"]);
    common::assert_same_results(&merged, &report);
}

/// `plain_pytest_per_file` in the image and environment the run just used.
fn plain_pytest_of_run(report: &serde_json::Value, cache: &Path, root: &Path, tests: &str) -> PerFile {
    let image = report["run"]["images"][0]["image"].as_str().unwrap();
    plain_pytest_per_file(image, root, &environment_of(cache, root), tests)
}

type PerFile = std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>;

/// Per test file (as `prefix/module`), the runner's nonzero counts.
fn runner_per_file(report: &serde_json::Value, prefix: &str) -> PerFile {
    let mut ours = PerFile::default();
    for result in report["results"].as_array().unwrap() {
        let file = format!("{prefix}/{}", result["module"].as_str().unwrap());
        let counts = result["test_counts"].as_object().unwrap();
        let nonzero =
            counts.iter().filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)));
        ours.insert(file, nonzero.collect());
    }
    ours
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn dateutil_own_suite_counts_per_file_as_one_plain_pytest_run() {
    // setuptools with setup.cfg metadata and [tool:pytest] (filterwarnings =
    // error, xfail_strict), setuptools_scm, src layout, a requirements file.
    // Its test files use relative imports (tests/ is a package): pytest runs them.
    require_engine();
    let root = pypi_project("python-dateutil==2.9.0.post0", "python-dateutil-2.9.0.post0");
    let tests = root.join("tests");
    let cache = shared_cache();
    let requirements = root.join("requirements-dev.txt");
    let (run, report) =
        run_all(&tests, &cache, &["--requirements", path_str(&requirements), "--harness", "pytest"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.dump());
    let ours = runner_per_file(&report, "tests");
    assert!(ours.len() >= 10, "{}", run.dump());
    let mut plain = plain_pytest_of_run(&report, &cache, &root, "tests");
    // The runner takes the test dir's top-level files (tests/property/ is not among them).
    plain.retain(|file, _| ours.contains_key(file));
    assert_eq!(ours, plain, "per-file counts: runner (left) vs plain pytest (right)");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_python_outside_requires_python_gives_skipped_jobs_saying_why() {
    require_engine();
    let project = fixed_project_dir("requires-python");
    std::fs::create_dir_all(project.join("tests")).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"modern\"\nversion = \"1.0\"\nrequires-python = \">=3.12\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("tests/test_modern.py"),
        "import sys\n\n\ndef test_new_enough():\n    assert sys.version_info >= (3, 12)\n",
    )
    .unwrap();
    let tests = project.join("tests");
    copy_tree(&tests.clone(), &tests); // opens the folder to the containers' user
    let (run, report) = run_all(&tests, &shared_cache(), &["--python", "3.11,3.14"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let by_python = |python: &str| {
        report["results"].as_array().unwrap().iter().find(|r| r["python"] == python).cloned().unwrap()
    };
    assert_eq!(by_python("3.14")["status"], "pass", "{}", run.dump());
    let skipped = by_python("3.11");
    assert_eq!(skipped["status"], "skip", "{}", run.dump());
    assert!(skipped["reason"].as_str().unwrap().contains(">=3.12"), "{skipped}");
    assert!(run.last_line().contains("1 skipped"), "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn opt_einsum_own_suite_inside_its_flat_package_counts_per_file_as_one_plain_pytest_run() {
    // Flat layout (the package at the root, no src/), its tests inside the
    // package (opt_einsum/tests/, a subpackage), hatchling with hatch-vcs
    // from an sdist (the version from PKG-INFO), numpy for the tests (which
    // `importorskip` it: without numpy nearly all of them would skip).
    require_engine();
    let root = pypi_project("opt_einsum==3.4.0", "opt_einsum-3.4.0");
    let tests = root.join("opt_einsum/tests");
    let cache = shared_cache();
    let (run, report) = run_all(&tests, &cache, &["--with", "numpy"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.dump());
    let installed = packages(&report);
    assert!(installed.iter().any(|(name, _)| name == "numpy"), "{installed:?}");
    assert!(installed.contains(&("opt-einsum".into(), "3.4.0".into())), "{installed:?}");
    let ours = runner_per_file(&report, "opt_einsum/tests");
    assert_eq!(ours.len(), 8, "{}", run.dump());
    let passed: u64 = ours.values().filter_map(|c| c.get("passed")).sum();
    assert!(passed > 7000, "numpy was there: {ours:?}");
    let plain = plain_pytest_of_run(&report, &cache, &root, "opt_einsum/tests");
    assert_eq!(ours, plain, "per-file counts: runner (left) vs plain pytest (right)");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn watch_rebuilds_the_environment_when_a_dependency_file_changes_and_not_for_the_source() {
    require_engine();
    let project = fixed_project_dir("watch");
    std::fs::create_dir_all(project.join("src/mini")).unwrap();
    std::fs::create_dir_all(project.join("tests")).unwrap();
    let pyproject = |pin: &str| {
        format!(
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"mini\"\nversion = \"0.1.0\"\ndependencies = [\"iniconfig=={pin}\"]\n"
        )
    };
    std::fs::write(project.join("pyproject.toml"), pyproject("2.0.0")).unwrap();
    std::fs::write(project.join("src/mini/__init__.py"), "VALUE = 1\n").unwrap();
    std::fs::write(project.join("README.md"), "mini\n").unwrap();
    // A script: its output is shown, and it runs with the environment's interpreter.
    std::fs::write(
        project.join("tests/test_mini.py"),
        "from importlib.metadata import version\n\nimport mini\n\n\
         print('iniconfig', version('iniconfig'), 'value', mini.VALUE)\n",
    )
    .unwrap();
    let tests = project.join("tests");
    let cache = shared_cache();
    let mut watch =
        Watching::start(&["watch", "--test-dir", path_str(&tests), "--cache-dir", path_str(&cache)]);
    watch.wait_for("the first round", |out, err| closing_lines(out) == 1 && err.contains("watching "));
    assert!(watch.stdout().contains("iniconfig 2.0.0 value 1"), "{}", watch.dump());
    assert!(
        watch.stderr().contains(&format!("and the project {} (dependency files", project.display())),
        "{}",
        watch.dump()
    );

    // The package's source edited: the tests run again, and nothing is rebuilt.
    let (out_before, err_before) = (watch.stdout().len(), watch.stderr().len());
    std::fs::write(project.join("src/mini/__init__.py"), "VALUE = 2\n").unwrap();
    watch.wait_for("the round after the source edit", |out, _| closing_lines(out) == 2);
    assert!(watch.stdout()[out_before..].contains("iniconfig 2.0.0 value 2"), "{}", watch.dump());
    let round = watch.stderr()[err_before..].to_string();
    assert!(round.contains("changed: ") && round.contains("src/mini/__init__.py"), "{}", watch.dump());
    assert!(!round.contains("Building the environment"), "a source edit rebuilt:\n{}", watch.dump());

    // A file that decides nothing starts no round.
    std::fs::write(project.join("README.md"), "mini, edited\n").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(closing_lines(&watch.stdout()), 2, "README.md started a round:\n{}", watch.dump());

    // A dependency changed in pyproject.toml: the next round runs in the environment it now decides.
    let (out_before, err_before) = (watch.stdout().len(), watch.stderr().len());
    std::fs::write(project.join("pyproject.toml"), pyproject("2.1.0")).unwrap();
    watch.wait_for("the round after the dependency change", |out, _| closing_lines(out) == 3);
    assert!(watch.stdout()[out_before..].contains("iniconfig 2.1.0 value 2"), "{}", watch.dump());
    let round = watch.stderr()[err_before..].to_string();
    assert!(
        round.contains(&format!("changed: {}", project.join("pyproject.toml").display())),
        "{}",
        watch.dump()
    );
    assert_eq!(watch.interrupt(), 130, "{}", watch.dump());
}
