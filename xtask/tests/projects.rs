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
use std::process::Command;

use common::{copy_tree, path_str, project_root, read_json, require_engine, xtask, Finished};

fn shared_cache() -> PathBuf {
    project_root().join("target/pymaccounter-test-cache")
}

/// A fresh copy of a fixture project at a fixed place per test under
/// `target/` (the environment's key holds the project's path, since its
/// editable install points there: a fixed place keeps the cache warm).
fn project(name: &str, test: &str) -> PathBuf {
    let copy = project_root().join("target/pymaccounter-test-projects").join(test);
    if copy.exists() {
        std::fs::remove_dir_all(&copy).unwrap();
    }
    std::fs::create_dir_all(&copy).unwrap();
    copy_tree(&project_root().join("xtask/tests/fixtures").join(name), &copy);
    copy
}

fn run_all(tests: &Path, cache: &Path, extra: &[&str]) -> (Finished, serde_json::Value) {
    let report = tempfile::tempdir().unwrap();
    let json = report.path().join("r.json");
    let mut args = vec![
        "run-all-tests",
        "--test-dir",
        path_str(tests),
        "--cache-dir",
        path_str(cache),
        "--report-json",
        path_str(&json),
    ];
    args.extend(extra);
    let finished = xtask(&args);
    let report = if json.exists() { read_json(&json) } else { serde_json::Value::Null };
    (finished, report)
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

/// The counts of one plain `pytest` over the test dir in one container of
/// the same image with the same environment (the reference the runner must match).
fn plain_pytest_counts(image: &str, project: &Path, env_dir: &Path, tests: &Path) -> String {
    let in_container = format!("/opt/pymaccounter-env/{}", env_dir.file_name().unwrap().to_str().unwrap());
    let root = path_str(project);
    let output = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        "pymaccounter=1",
        "--user",
        "65534:65534",
        "--workdir",
        "/tmp",
        "--env",
        "HOME=/tmp",
        "--mount",
        &format!("type=bind,source={root},target={root},readonly"),
        "--mount",
        &format!("type=bind,source={},target={in_container},readonly", path_str(env_dir)),
        image,
        &format!("{in_container}/venv/bin/python"),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        path_str(tests),
    ]);
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
    let project = project("src-project", "acceptance");
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
    let project = project("locked-project", "lock");
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
fn a_base_with_python_but_no_pytest_runs_pytest_files() {
    require_engine();
    let offline = xtask(&["base-image", "--python", "3.11"]);
    assert_eq!(offline.code, 0, "{}", offline.dump());
    let base = offline.stdout.lines().last().unwrap().trim().to_string();
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

    let project = project("src-project", "python-only-base");
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

    // Without the project's environment that base cannot run pytest files: exit 3, said so.
    let (alone, _) = run_all(&tests, &shared_cache(), &["--no-project", "--base-image", image]);
    assert_eq!(alone.code, 3, "{}", alone.dump());
    assert!(alone.stderr.contains("has no pytest"), "{}", alone.dump());
}

#[test]
fn bad_project_choices_exit_2_before_anything_starts() {
    let project = project("src-project", "bad-choices");
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
    let project = project("locked-project", "index-errors");
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
    ]);
    command
        .env("UV_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
    let unreachable = Finished::from_command(&mut command);
    assert_eq!(unreachable.code, 3, "{}", unreachable.dump());
    assert!(unreachable.stderr.contains("UV_INDEX_URL"), "the fix is named: {}", unreachable.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_base_rebuilt_under_the_same_name_gets_a_new_test_image() {
    require_engine();
    let offline = xtask(&["base-image", "--python", "3.11"]);
    assert_eq!(offline.code, 0, "{}", offline.dump());
    let base = offline.stdout.lines().last().unwrap().trim().to_string();
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
    let in_container = format!("/opt/pymaccounter-env/{}", env_dir.file_name().unwrap().to_str().unwrap());
    let root = path_str(project);
    let output = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        "pymaccounter=1",
        "--user",
        "65534:65534",
        "--tmpfs",
        "/scratch:rw,exec,mode=1777,uid=65534,gid=65534",
        "--workdir",
        "/scratch",
        "--env",
        "HOME=/tmp",
        "--mount",
        &format!("type=bind,source={root},target={root},readonly"),
        "--mount",
        &format!("type=bind,source={},target={in_container},readonly", path_str(env_dir)),
        image,
        &format!("{in_container}/venv/bin/python"),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rA",
        "--tb=no",
        "-o",
        "console_output_style=classic",
        "--basetemp",
        "/scratch/t",
        "--continue-on-collection-errors",
        &format!("{root}/{tests}"),
    ]);
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
    let image = report["run"]["images"][0]["image"].as_str().unwrap();
    let env_dir = environment_of(&cache, &root);
    let mut plain = plain_pytest_per_file(image, &root, &env_dir, "tests");
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
    let image = report["run"]["images"][0]["image"].as_str().unwrap();
    let env_dir = environment_of(&cache, &root);
    let mut plain = plain_pytest_per_file(image, &root, &env_dir, "tests");
    // The runner takes the test dir's top-level files (tests/property/ is not among them).
    plain.retain(|file, _| ours.contains_key(file));
    assert_eq!(ours, plain, "per-file counts: runner (left) vs plain pytest (right)");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_python_outside_requires_python_gives_skipped_jobs_saying_why() {
    require_engine();
    let project = project_root().join("target/pymaccounter-test-projects/requires-python");
    if project.exists() {
        std::fs::remove_dir_all(&project).unwrap();
    }
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
