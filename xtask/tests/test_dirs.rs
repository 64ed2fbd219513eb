//! Real test directories as they are: helper packages, data files, symlinks,
//! scratch space, arguments and environment, no image per edit.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn helpers_data_files_symlinks_and_scratch_work_as_on_the_host() {
    require_engine();
    let dir = fixture("realistic");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_imports_helpers.py", "test_reads_data.py", "test_scratch.py"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("helper says 42"), "{}", run.dump());
    assert!(run.stdout.contains("read 3 numbers"), "{}", run.dump());
    assert!(run.stdout.contains("scratch is /scratch"), "{}", run.dump());
    assert_eq!(report["summary"]["passed"], 3);
    assert!(!dir.path().join("scratch.txt").exists(), "scratch files never reach the test dir");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn arguments_and_environment_reach_every_module_and_the_report() {
    require_engine();
    let dir = fixture("realistic");
    let (run, report) = run_with_report(
        dir.path(),
        &["run", "test_args_env.py", "--debug", "--env", "GREETING=hi there", "--", "-v", "--flag=1"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stdout.contains("args: ['-v', '--flag=1']"), "{}", run.dump());
    assert!(run.stdout.contains("GREETING: hi there"), "{}", run.dump());
    assert!(run.stderr.contains("--env 'GREETING=hi there'"), "--debug shows the variable:\n{}", run.stderr);
    assert!(run.stderr.contains(" -v --flag=1"), "--debug shows the arguments:\n{}", run.stderr);
    assert_eq!(report["module_args"], serde_json::json!(["-v", "--flag=1"]));
    assert_eq!(report["env"], serde_json::json!(["GREETING=hi there"]));
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn edits_build_no_image_and_leave_the_image_list_as_it_was() {
    require_engine();
    let dir = empty_test_dir();
    let module = dir.path().join("test_edited.py");
    std::fs::write(&module, "print('version 0')\n").unwrap();
    let args = ["run", "test_edited.py", "--debug", "--test-dir", path_str(dir.path())];
    let first = xtask(&args);
    assert_eq!(first.code, 0, "{}", first.dump());
    assert!(first.stdout.contains("version 0"), "{}", first.dump());
    let image_before = xtask(&["build-image"]).last_line().to_string();
    for version in 1..=20 {
        std::fs::write(&module, format!("print('version {version}')\n")).unwrap();
        let run = xtask(&args);
        assert_eq!(run.code, 0, "{}", run.dump());
        assert!(
            run.stdout.contains(&format!("version {version}")),
            "edit {version} not seen:\n{}",
            run.dump()
        );
        // Every image the runner makes comes from a `build` or an `import`:
        // none means the image list is as it was (other work on this engine
        // may change it meanwhile, so the list itself is not compared).
        assert!(!run.stderr.contains("$ docker build"), "edit {version} built an image:\n{}", run.dump());
        assert!(!run.stderr.contains("import"), "edit {version} made a base:\n{}", run.dump());
    }
    assert_eq!(xtask(&["build-image"]).last_line(), image_before, "the test image changed");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_module_nobody_can_read_is_refused_up_front_naming_it() {
    use std::os::unix::fs::MetadataExt;
    require_engine();
    let dir = fixture("realistic");
    let module = dir.path().join("test_args_env.py");
    let args = ["run", "test_args_env.py", "--debug", "--test-dir", path_str(dir.path())];
    let refused = |run: &Finished, says: &str| {
        assert_eq!(run.code, 2, "{}", run.dump());
        assert!(run.stderr.contains(says), "{}", run.dump());
        assert!(!run.stderr.contains("$ docker"), "nothing may start:\n{}", run.dump());
    };
    // Modules run as the test dir's owner, root included with no capabilities
    // (whoever runs the tests owns the fixture's copy). Readable by its owner
    // only: the owner's own containers read it.
    let root_owns = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner_only = xtask(&args);
    assert_eq!(owner_only.code, 0, "its owner's containers read it: {}", owner_only.dump());
    assert!(owner_only.stdout.contains("args: []"), "{}", owner_only.dump());
    // Readable by no one: refused for every user, naming it; root reads it on
    // the host, but root with no capabilities in its containers cannot.
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o000)).unwrap();
    let nobody = xtask(&args);
    if root_owns {
        refused(&nobody, "test_args_env.py cannot be read by the containers' user 0:0");
        assert!(nobody.stderr.contains("chmod o+r"), "{}", nobody.dump());
    } else {
        refused(&nobody, "test_args_env.py: Permission denied");
    }
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_failed_image_build_leaves_no_container_no_layer_and_no_context() {
    require_engine();
    // A base with no shell: the Dockerfile's first RUN step cannot start.
    let base = "pymaccounter-test-broken-base:1";
    let _ = std::process::Command::new("docker").args(["rmi", base]).output();
    let empty = tempfile::tempdir().unwrap();
    let imported = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {} -c . | docker import --change 'LABEL pymaccounter=1' - {base}",
            empty.path().display()
        ))
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let containers_before = containers_of(base);
    let dangling_before = dangling_images_since(base);
    let contexts_before = build_contexts();
    let dir = fixture("realistic");
    let run = xtask(&["run", "test_args_env.py", "--base-image", base, "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 3, "{}", run.dump());
    assert!(run.stderr.contains("building the test image"), "{}", run.dump());
    assert_eq!(containers_of(base), containers_before, "the build left a container");
    assert_eq!(dangling_images_since(base), dangling_before, "the build left a dangling image");
    assert_eq!(build_contexts(), contexts_before, "the build left its context folder");
    let _ = std::process::Command::new("docker").args(["rmi", base]).output();
}

/// Containers made from an image (the build's step containers are).
fn containers_of(image: &str) -> Vec<String> {
    let filter = format!("ancestor={image}");
    let output = std::process::Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter", &filter])
        .output()
        .unwrap();
    let mut ids: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect();
    ids.sort();
    ids
}

/// Untagged images whose parent is `image` (a failed build's layers would be;
/// other work on the engine leaves its own, which do not count).
fn dangling_images_since(image: &str) -> Vec<String> {
    let docker = |args: &[&str]| {
        let output = std::process::Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let base = docker(&["image", "inspect", "--format", "{{.Id}}", image]);
    let dangling = docker(&["images", "--all", "--quiet", "--no-trunc", "--filter", "dangling=true"]);
    let mut ids: Vec<String> = dangling
        .lines()
        .filter(|id| docker(&["image", "inspect", "--format", "{{.Parent}}", id]) == base)
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

fn build_contexts() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pymaccounter-build-"))
        .collect();
    names.sort();
    names
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_base_per_version_serves_a_matrix_and_a_version_outside_the_table() {
    require_engine();
    let dir = empty_test_dir();
    std::fs::write(
        dir.path().join("test_version.py"),
        "import sys\nprint('running', sys.version.split()[0])\n",
    )
    .unwrap();
    // Any image with python3 can serve: the 3.13 offline base stands in for "3.12".
    let base = xtask(&["base-image", "--python", "3.13"]);
    assert_eq!(base.code, 0, "{}", base.dump());
    let base = base.last_line().to_string();
    let served = format!("3.12={base}");
    let report = dir.path().join("report.json");
    let run = xtask(&[
        "run",
        "test_version.py",
        "--python",
        "3.11,3.12",
        "--base-image",
        &served,
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&report),
    ]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let json = read_json(&report);
    let pythons: Vec<&str> =
        json["results"].as_array().unwrap().iter().map(|r| r["python"].as_str().unwrap()).collect();
    assert_eq!(pythons, ["3.11", "3.12"]);
    assert!(run.stdout.contains("running 3.11."), "{}", run.stdout);
    assert!(run.stdout.contains("running 3.13."), "the given base ran \"3.12\":\n{}", run.stdout);

    let refused =
        xtask(&["run", "test_version.py", "--python", "3.12", "--debug", "--test-dir", path_str(dir.path())]);
    assert_eq!(refused.code, 2, "{}", refused.dump());
    assert!(refused.stderr.contains("--base-image 3.12=IMAGE"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("$ docker"), "{}", refused.stderr);
}
