//! Issue 22: nothing a module leaves behind is trusted, the operator's
//! limits are ceilings, nothing outlives the run. Each case runs a hostile
//! fixture on the real engine.

mod common;

use common::*;

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn declared_limits_cannot_lift_the_command_lines() {
    require_engine();
    let dir = fixture("lifts_limits");
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--memory", "128m", "--timeout", "4"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(result_for(&report, "test_lifts_memory.py")["status"], "oom", "{report:#}");
    let slept = result_for(&report, "test_lifts_timeout.py");
    assert_eq!(slept["status"], "timeout", "{report:#}");
    assert!(slept["duration_s"].as_f64().unwrap() < 30.0, "{slept:#}");
}

#[test]
fn a_key_declared_twice_is_refused_naming_both_lines() {
    let dir = fixture("duplicate_key");
    let run = xtask(&["run-all-tests", "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(
        run.stderr.contains("test_twice.py:3: timeout is declared twice (lines 1 and 3)"),
        "{}",
        run.dump()
    );
}

/// Every file under `dir` with its size (symlinks not followed).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let metadata = std::fs::symlink_metadata(entry.path()).unwrap();
        if metadata.is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push((entry.path(), metadata.len()));
        }
    }
    found
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn what_a_module_leaves_in_memrays_folder_is_bounded_and_never_trusted() {
    require_engine();
    let dir = fixture("memray_hostile");
    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let run = xtask(&[
        "run-all-tests",
        "--python",
        "3.13",
        "--memray",
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&report_path),
    ]);
    let report = read_json(&report_path);
    assert_eq!(run.code, 1, "{}", run.dump());
    // The folder the module sees is not writable: nothing was planted.
    let planted = result_for(&report, "test_plants_links.py");
    assert_eq!(planted["status"], "pass", "{planted:#}");
    assert!(planted["stdout"].as_str().unwrap().contains("planted: nothing"), "{planted:#}");
    let flamegraph = planted["memray"]["flamegraph_path"].as_str().expect("summarised as usual");
    let page = std::fs::read_to_string(out.path().join(flamegraph)).unwrap();
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let secret = shadow.lines().next().unwrap_or("no shadow here");
    assert!(page.contains("<svg") && !page.contains(secret), "a flame graph, no host file");
    // Its summary file is one the module may write, and the wrapper's header alone counts.
    let forger = result_for(&report, "test_forges_summary.py");
    assert_eq!(forger["status"], "pass", "{forger:#}");
    assert!(forger["stdout"].as_str().unwrap().contains("wrote a summary"), "{forger:#}");
    let heap = forger["memray"]["peak_memory_bytes"].as_u64().unwrap();
    assert!(heap > 8 << 20 && heap != 1, "memray's figure, not the forged one: {forger:#}");
    // The capture is capped (or memray gives up on a capture written under it): 1.5 GiB never lands.
    let filled = result_for(&report, "test_fills_capture.py");
    let stdout = filled["stdout"].as_str().unwrap();
    assert!(!stdout.contains("wrote"), "{filled:#}");
    assert!(filled["status"] != "pass" || stdout.contains("stopped after"), "{filled:#}");
    // Bad content fails that module alone, with the reason.
    let corrupt = result_for(&report, "test_corrupts_capture.py");
    assert_eq!(corrupt["status"], "fail", "{corrupt:#}");
    assert!(corrupt["reason"].as_str().unwrap().contains("--memray: memray could not read"), "{corrupt:#}");
    assert_eq!(result_for(&report, "test_plain.py")["status"], "pass", "the others go on");
    // Code planted where Python looks (user site-packages under HOME) never runs in the summary.
    let planter = result_for(&report, "test_plants_usercustomize.py");
    assert_eq!(planter["status"], "pass", "{planter:#}");
    assert!(planter["memray"]["peak_memory_bytes"].as_u64().unwrap() > 1 << 20, "{planter:#}");
    // Nothing the modules wrote stays on the host but the flame graphs the reports link.
    let run_id = report["run_id"].as_str().unwrap();
    let work = project_root().join("target/pymaccounter/runs").join(run_id).join("memray");
    let left = files_under(&work);
    assert!(left.iter().all(|(path, _)| path.extension().is_some_and(|e| e == "svg")), "{left:?}");
    assert_eq!(containers_of_run(run_id), Vec::<String>::new());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn printed_lines_early_exits_detached_children_files_and_descriptors_forge_no_verdict_or_peak() {
    require_engine();
    let dir = fixture("forgers");
    let started = std::time::Instant::now();
    let (run, report) = run_with_report(dir.path(), &["run-all-tests", "--timeout", "60"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let status = |module: &str| result_for(&report, module)["status"].as_str().unwrap().to_string();
    let forger = result_for(&report, "test_forges_unittest_pass.py");
    assert_eq!(forger["status"], "fail", "{forger:#}");
    assert!(forger["reason"].as_str().unwrap().contains("reported nothing"), "{forger:#}");
    assert!(
        forger["stderr"].as_str().unwrap().contains("@@pymaccounter-harness"),
        "the forgery stays output"
    );
    assert_ne!(status("test_exits_before_the_verdict.py"), "pass", "{report:#}");
    // The detached child is killed with the module: the measurement comes last and the budget holds.
    let flooder = result_for(&report, "test_detached_child_floods.py");
    assert_eq!(flooder["status"], "over-budget", "{flooder:#}");
    assert!(flooder["peak_rss_bytes"].as_u64().unwrap() > 100 << 20, "{flooder:#}");
    // A cleared high-water mark does not hide what the cgroup saw.
    let clearer = result_for(&report, "test_clears_its_peak.py");
    assert_eq!(clearer["status"], "over-budget", "{clearer:#}");
    assert!(clearer["container_peak_bytes"].as_u64().unwrap() > 300 << 20, "{clearer:#}");
    // Nothing it can write into reaches the monitor's figures: the peak is the kernel's.
    let figures = result_for(&report, "test_forges_its_figures.py");
    assert_eq!(figures["status"], "over-budget", "{figures:#}");
    assert!(figures["peak_rss_bytes"].as_u64().unwrap() > 250 << 20, "{figures:#}");
    assert!(figures["duration_s"].as_f64().unwrap() > 0.01, "{figures:#}");
    assert_eq!(status("test_honest_pass.py"), "pass", "{report:#}");
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "nothing waited for the detached child");
    assert_eq!(containers_of_run(report["run_id"].as_str().unwrap()), Vec::<String>::new());
}

/// Containers of a run that are still running.
fn running_containers_of_run(run_id: &str) -> Vec<String> {
    let filter = format!("label=pymaccounter.run={run_id}");
    let output =
        std::process::Command::new("docker").args(["ps", "--quiet", "--filter", &filter]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

/// The run's temporary folders (`pymaccounter-run-<id>-*` in the temp dir).
fn temp_folders_of_run(run_id: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("pymaccounter-run-{run_id}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_module_ends_at_its_deadline_even_when_the_runner_was_killed() {
    require_engine();
    let dir = fixture("misbehaving");
    let (mut child, id, _lines) = start_hanging_run(&dir, &["--timeout", "4"]);
    // The engine keeps no copy of what the module prints: the runner captures it.
    for container in running_containers_of_run(&id) {
        let format = "{{.HostConfig.LogConfig.Type}}";
        let inspect = std::process::Command::new("docker")
            .args(["container", "inspect", "--format", format, &container])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&inspect.stdout).trim(),
            "none",
            "{container} logs through the engine"
        );
    }
    let killed_at = std::time::Instant::now();
    signal_group(&child, "-KILL");
    let _ = child.wait();
    assert!(!temp_folders_of_run(&id).is_empty(), "a killed runner cannot remove its temporary folder");
    // The container's own deadline ends it: 4 s, plus GNU time's grace to stop.
    while !running_containers_of_run(&id).is_empty() {
        assert!(killed_at.elapsed() < std::time::Duration::from_secs(15), "still running without its runner");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let clean = xtask(&["clean", "--run", &id]);
    assert_eq!(clean.code, 0, "{}", clean.dump());
    assert_eq!(containers_of_run(&id), Vec::<String>::new());
    assert_eq!(temp_folders_of_run(&id), Vec::<std::path::PathBuf>::new(), "{}", clean.dump());
}

#[test]
fn report_paths_onto_what_a_run_must_not_overwrite_are_refused_up_front() {
    let dir = fixture("mixed");
    let out = tempfile::tempdir().unwrap();
    let at = |name: &str| out.path().join(name).to_str().unwrap().to_string();
    let module = dir.path().join("test_passes.py");
    let before = std::fs::read(&module).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", out.path().join("outside.json")).unwrap();
    std::fs::write(out.path().join("base.json"), "{}").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--report-json".into(), path_str(&module).into()], "a module of the test dir"),
        (vec!["--report-json".into(), at("same"), "--junit".into(), at("same")], "writes the same file"),
        (
            vec!["--report-json".into(), at("base.json"), "--baseline".into(), at("base.json")],
            "--baseline file",
        ),
        (vec!["--junit".into(), at("outside.json")], "is a symbolic link to /etc/passwd"),
    ];
    for (extra, why) in cases {
        let mut args = vec!["run-all-tests", "--test-dir", path_str(dir.path())];
        args.extend(extra.iter().map(String::as_str));
        let run = xtask(&args);
        assert_eq!(run.code, 2, "{extra:?}: {}", run.dump());
        assert!(run.stderr.contains(why), "{extra:?}: {}", run.dump());
        assert!(run_id(&run.stderr).is_none(), "nothing started: {}", run.dump());
    }
    assert_eq!(std::fs::read(&module).unwrap(), before);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_report_is_replaced_whole_and_written_through_a_link_in_its_own_folder() {
    require_engine();
    let dir = fixture("mixed");
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("real.json"), "old").unwrap();
    std::os::unix::fs::symlink("real.json", out.path().join("latest.json")).unwrap();
    let latest = out.path().join("latest.json");
    let run = xtask(&[
        "run",
        "test_passes.py",
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&latest),
    ]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(std::fs::symlink_metadata(&latest).unwrap().file_type().is_symlink(), "the link stays a link");
    let report = read_json(&out.path().join("real.json"));
    assert_eq!(result_for(&report, "test_passes.py")["status"], "pass");
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left beside the report: {names:?}");
}

#[test]
fn test_dir_paths_the_containers_cannot_mount_are_refused() {
    let parent = empty_test_dir();
    let broken = parent.path().join("line\nbreak");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("test_a.py"), "print(1)\n").unwrap();
    let run = xtask(&["run-all-tests", "--test-dir", path_str(&broken)]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run.stderr.contains("line break"), "{}", run.dump());
    let run = xtask(&["run-all-tests", "--test-dir", "/tmp"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run.stderr.contains("/tmp (fresh scratch space) would hide it"), "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_private_test_dir_runs_as_its_owner_with_no_capabilities() {
    use std::os::unix::fs::PermissionsExt;
    require_engine();
    // As `mktemp -d` makes it: mode 0700, the owner's alone (root's, in CI).
    let dir = tempfile::Builder::new().prefix("pymaccounter-private-").tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/as_owner/test_runs_as_owner.py");
    let module = dir.path().join("test_runs_as_owner.py");
    std::fs::copy(source, &module).unwrap();
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let run = xtask(&["run-all-tests", "--test-dir", path_str(dir.path())]);
    assert_eq!(run.code, 0, "{}", run.dump());
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    assert!(run.stdout.contains(&format!("uid {uid} capabilities 0000000000000000")), "{}", run.dump());
    assert!(run.stdout.contains("test dir not writable"), "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_linked_module_inside_the_test_dir_runs_and_one_outside_says_why_not() {
    require_engine();
    let dir = fixture("mixed");
    let elsewhere = empty_test_dir();
    std::fs::write(elsewhere.path().join("real.py"), "print('outside')\n").unwrap();
    std::os::unix::fs::symlink("test_passes.py", dir.path().join("test_alias.py")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("real.py"), dir.path().join("test_outside.py")).unwrap();
    let (run, report) = run_with_report(dir.path(), &["run-all-tests"]);
    assert_eq!(result_for(&report, "test_alias.py")["status"], "pass", "{}", run.dump());
    assert!(
        run.stderr.contains("test_outside.py: not run, it links to a file outside the test dir"),
        "{}",
        run.dump()
    );
    let named = xtask(&["run", "test_outside.py", "--test-dir", path_str(dir.path())]);
    assert_eq!(named.code, 2, "{}", named.dump());
    assert!(named.stderr.contains("links to a file outside"), "{}", named.dump());
}

/// Starts `xtask ARGS` on the second engine in its own process group; its
/// run id once its container runs there, and a channel of its stderr lines.
fn start_on(
    engine: &second_engine::SecondEngine,
    args: &[&str],
) -> (std::process::Child, String, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut child = xtask_command(args)
        .env("DOCKER_HOST", &engine.host)
        .env_remove("DOCKER_CONTEXT")
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = sender.send(line.unwrap_or_default());
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut id = None;
    while std::time::Instant::now() < deadline {
        while let Ok(line) = lines.try_recv() {
            id = id.or_else(|| run_id(&line));
        }
        let running = engine.docker(&["ps", "--quiet"]);
        if let (Some(id), false) = (&id, running.stdout.is_empty()) {
            return (child, id.clone(), lines);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the module's container never started on the second engine");
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill").args([name, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {name} {pid}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
#[cfg_attr(not_root, ignore = "starts a second engine daemon: needs root")]
fn a_paused_engine_neither_times_a_module_out_nor_holds_a_stop() {
    use std::time::{Duration, Instant};
    require_engine();
    second_engine::require_root();
    let base = second_engine::offline_base_of_the_main_engine();
    let engine = second_engine::SecondEngine::start();
    engine.load(&base);
    let dir = fixture("engine_pause");
    let report = dir.path().join("report.json");

    // Paused for 15 s while a 3 s module runs: its time is still its own, and it passes.
    let args = ["run", "test_three_seconds.py", "--timeout", "10", "--test-dir", path_str(dir.path())];
    let args = [&args[..], &["--report-json", path_str(&report)]].concat();
    let (mut child, _id, _lines) = start_on(&engine, &args);
    signal(engine.pid(), "-STOP");
    std::thread::sleep(Duration::from_secs(15));
    signal(engine.pid(), "-CONT");
    let status = wait_at_most(&mut child, Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "a paused engine failed a module that passed");
    let json = read_json(&report);
    let result = result_for(&json, "test_three_seconds.py");
    assert_eq!(result["status"], "pass", "{result:#}");
    assert!(result["duration_s"].as_f64().unwrap() < 8.0, "the engine's pause was counted: {result:#}");

    // Paused while a module hangs: SIGTERM still ends the run, with exit 130 and what is left named.
    let args = ["run", "test_hangs.py", "--timeout", "300", "--test-dir", path_str(dir.path())];
    let (mut child, id, lines) = start_on(&engine, &args);
    signal(engine.pid(), "-STOP");
    let asked = Instant::now();
    signal(child.id(), "-TERM");
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let stopped_in = asked.elapsed();
    signal(engine.pid(), "-CONT");
    let stderr: Vec<String> = lines.try_iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stopped_in < Duration::from_secs(45), "the stop waited for the engine: {stopped_in:?}\n{stderr}");
    assert!(stderr.contains(&format!("clean --run {id}")), "{stderr}");
    assert!(stderr.contains("containers left: pymaccounter-"), "the leftovers are named:\n{stderr}");
    let mut clean = xtask_command(&["clean", "--run", &id]);
    clean.env("DOCKER_HOST", &engine.host).env_remove("DOCKER_CONTEXT");
    let clean = Finished::from_command(&mut clean);
    assert_eq!(clean.code, 0, "{}", clean.dump());
    engine.assert_nothing_left("after clean --run");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn compare_and_merge_say_hostile_names_safely_and_refuse_values_no_run_records() {
    require_engine();
    let dir = fixture("mixed");
    let (run, report) = run_with_report(dir.path(), &["run", "test_passes.py"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let out = tempfile::tempdir().unwrap();
    let write = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut copy = report.clone();
        edit(&mut copy["results"][0]);
        let path = out.path().join(name);
        std::fs::write(&path, serde_json::to_string(&copy).unwrap()).unwrap();
        path_str(&path).to_string()
    };
    let hostile = "test_\u{1b}]0;owned\u{7}\n### injected <img src=x onerror=alert(1)>.py";
    let named = write("named.json", &|r| r["module"] = hostile.into());
    let text = xtask(&["compare", &named, &named]);
    assert_eq!(text.code, 0, "{}", text.dump());
    assert!(!text.stdout.contains('\u{1b}') && !text.stdout.contains('\u{7}'), "{}", text.dump());
    let markdown = xtask(&["compare", &named, &named, "--format", "markdown"]);
    assert_eq!(markdown.code, 0, "{}", markdown.dump());
    assert!(!markdown.stdout.lines().any(|l| l.starts_with("### injected")), "{}", markdown.stdout);
    assert!(!markdown.stdout.contains('\u{1b}'), "{}", markdown.stdout);
    let merged = xtask(&["merge-reports", &named, &named]);
    assert_eq!(merged.code, 2, "{}", merged.dump());
    assert!(merged.stderr.contains("is in both"), "{}", merged.dump());
    assert!(
        !merged.stderr.contains('\u{1b}') && !merged.stderr.contains("\n### injected"),
        "{}",
        merged.dump()
    );
    for (field, value, said) in [
        ("duration_s", serde_json::json!(-5.0), "duration_s = -5"),
        ("duration_s", serde_json::json!(1e300), "duration_s = 1e300"),
        ("peak_rss_bytes", serde_json::json!(u64::MAX), "peak_rss_bytes = "),
    ] {
        let bad = write("bad.json", &|r| r[field] = value.clone());
        let good = write("good.json", &|_| {});
        let refused = xtask(&["compare", &good, &bad]);
        assert_eq!(refused.code, 2, "{field}: {}", refused.dump());
        assert!(refused.stderr.contains(said), "{field}: {}", refused.dump());
        assert!(refused.stderr.len() < 1000, "no 300-digit numbers: {}", refused.dump());
    }
}
