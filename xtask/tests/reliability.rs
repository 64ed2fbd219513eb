//! Modules that hang, eat memory, crash or flood; signals; engine faults.
//! Every case runs on the real engine and checks that nothing is left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// `run_with_report` with `--debug` (engine command lines, live stderr).
fn run_json(dir: &tempfile::TempDir, args: &[&str]) -> (Finished, serde_json::Value) {
    run_with_report(dir.path(), &[args, &["--debug"]].concat())
}

/// No container of the run that wrote this report is left on the engine.
fn assert_run_left_nothing(report: &serde_json::Value) {
    let id = report["run_id"].as_str().expect("the report names its run");
    assert!(!id.is_empty());
    assert_eq!(containers_of_run(id), Vec::<String>::new(), "containers left by run {id}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_hanging_module_times_out_and_its_container_goes() {
    require_engine();
    let dir = fixture("misbehaving");
    let (run, report) = run_json(&dir, &["run", "test_hangs.py", "test_holds_200_mib.py", "--timeout", "3"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(result_for(&report, "test_hangs.py")["status"], "timeout", "{report:#}");
    assert_eq!(result_for(&report, "test_holds_200_mib.py")["status"], "pass", "the others go on");
    assert!(run.stdout.contains("hanging"), "output before the kill is kept:\n{}", run.dump());
    assert_run_left_nothing(&report);
}

/// A reader that went away (`| head`, a parent that died) must not stop the
/// runner from enforcing the timeout, removing the container and exiting:
/// every line `--debug` prints, the kill's included, goes to a closed pipe.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_runner_whose_readers_went_away_still_times_out_and_cleans_up() {
    require_engine();
    let dir = fixture("misbehaving");
    let report = dir.path().join("report.json");
    let args = ["run", "test_hangs.py", "--debug", "--timeout", "3", "--test-dir", path_str(dir.path())];
    let mut child = xtask_command(&args)
        .args(["--report-json", path_str(&report)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = wait_at_most(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(1), "the run ends as a failed run, not a panic");
    let report = read_json(&report);
    assert_eq!(result_for(&report, "test_hangs.py")["status"], "timeout", "{report:#}");
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_memory_limit_kill_is_reported_as_oom() {
    require_engine();
    let dir = fixture("misbehaving");
    let (run, report) = run_json(&dir, &["run", "test_eats_memory.py", "--memory", "64m"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(result_for(&report, "test_eats_memory.py")["status"], "oom", "{report:#}");
    assert!(run.stdout.contains("OOM: killed by the container's memory limit"), "{}", run.dump());
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn crashes_are_reported_with_the_signal() {
    require_engine();
    let dir = fixture("misbehaving");
    let (run, report) = run_json(&dir, &["run", "test_segfaults.py", "test_aborts.py"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    for (module, signal, name) in [("test_segfaults.py", 11, "SIGSEGV"), ("test_aborts.py", 6, "SIGABRT")] {
        let result = result_for(&report, module);
        assert_eq!(result["status"], "crash", "{result:#}");
        assert_eq!(result["signal"], signal, "{result:#}");
        assert!(result["reason"].as_str().unwrap().contains(name), "{result:#}");
    }
    assert!(run.stdout.contains("about to read address 0"), "{}", run.dump());
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_flood_of_output_keeps_head_and_tail_and_spills_the_rest() {
    require_engine();
    let dir = fixture("misbehaving");
    let (run, report) = run_json(&dir, &["run", "test_floods.py"]);
    assert_eq!(run.code, 0, "exit {}\n{}", run.code, run.stderr);
    let result = result_for(&report, "test_floods.py");
    assert_eq!(result["stdout_bytes"], 50 * 1_000_000 + "the last line\n".len());
    let shown = result["stdout"].as_str().unwrap();
    assert!(shown.len() < 200_000, "kept {} bytes", shown.len());
    assert!(shown.ends_with("the last line\n"));
    let spill = shown.split("full output in ").nth(1).unwrap().split(' ').next().unwrap();
    let spilled = std::fs::metadata(spill).expect("spill file exists").len();
    assert_eq!(spilled, 50 * 1_000_000 + "the last line\n".len() as u64);
    std::fs::remove_file(spill).unwrap();
    assert!(run.stdout.len() < 300_000, "the terminal got {} bytes", run.stdout.len());
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn fail_fast_starts_nothing_after_the_first_failure() {
    require_engine();
    let dir = fixture("mixed");
    let (run, report) = run_json(&dir, &["run-all-tests", "--fail-fast", "-j", "1"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["not_run"].as_array().unwrap().len(), 2, "{report:#}");
    assert!(run.stdout.contains("2 not run (--fail-fast)"), "{}", run.dump());
    assert_eq!(run.last_line(), "0 passed, 1 failed");
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn containers_are_hardened_by_default_and_the_network_can_be_relaxed() {
    require_engine();
    let dir = fixture("isolation");
    let (strict, report) = run_json(&dir, &["run-all-tests"]);
    assert_eq!(strict.code, 0, "{}", strict.dump());
    assert_eq!(strict.last_line(), "3 passed, 0 failed");
    assert_run_left_nothing(&report);
    let (relaxed, report) = run_json(&dir, &["run", "test_no_network.py", "--network", "bridge"]);
    assert_eq!(relaxed.code, 1, "with a network the module must see more than lo:\n{}", relaxed.dump());
    assert_run_left_nothing(&report);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn two_runs_at_once_do_not_collide() {
    require_engine();
    let dir = fixture("mixed");
    let reports = [dir.path().join("first.json"), dir.path().join("second.json")];
    let start = |report: &std::path::Path| {
        let args = ["run-all-tests", "--test-dir", path_str(dir.path()), "--report-json", path_str(report)];
        xtask_command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let children = [start(&reports[0]), start(&reports[1])];
    let mut ids = Vec::new();
    for (child, report) in children.into_iter().zip(&reports) {
        let run = Finished::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 1, "{}", run.dump());
        assert_eq!(run.last_line(), "1 passed, 1 failed, 1 skipped", "{}", run.dump());
        let report = read_json(report);
        assert_run_left_nothing(&report);
        ids.push(report["run_id"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1], "two runs shared a run id");
}

fn check_interrupted_run(mut child: Child, id: &str, signals: &[&str]) {
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        signal_group(&child, signal);
    }
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    assert!(!status.success(), "an interrupted run must exit non-zero");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(stdout.contains("1 not run (interrupted)"), "summary missing:\n{stdout}");
    assert_eq!(stdout.lines().last().unwrap(), "0 passed, 0 failed");
    assert_eq!(containers_of_run(id), Vec::<String>::new(), "containers left after {signals:?}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn ctrl_c_removes_the_runs_containers_and_prints_the_summary() {
    require_engine();
    let dir = fixture("misbehaving");
    let reports = tempfile::tempdir().unwrap();
    let (json, junit) = (reports.path().join("r.json"), reports.path().join("junit.xml"));
    let extra = ["--report-json", path_str(&json), "--junit", path_str(&junit)];
    let (child, id, _lines) = start_hanging_run(&dir, &extra);
    check_interrupted_run(child, &id, &["-INT"]);
    let report = read_json(&json);
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["not_run"][0]["module"], "test_hangs.py", "{report:#}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<skipped message=\"not run\"/>"), "{xml}");
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn sigterm_removes_the_runs_containers() {
    require_engine();
    let dir = fixture("misbehaving");
    let (child, id, _lines) = start_hanging_run(&dir, &[]);
    check_interrupted_run(child, &id, &["-TERM"]);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_second_ctrl_c_does_not_leave_containers_either() {
    require_engine();
    let dir = fixture("misbehaving");
    let (child, id, _lines) = start_hanging_run(&dir, &[]);
    check_interrupted_run(child, &id, &["-INT", "-INT"]);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn clean_removes_what_a_killed_runner_left() {
    require_engine();
    let dir = fixture("misbehaving");
    let (mut child, id, _lines) = start_hanging_run(&dir, &[]);
    signal_group(&child, "-KILL");
    let _ = child.wait();
    assert!(!containers_of_run(&id).is_empty(), "SIGKILL leaves the container (nothing can clean up)");
    let clean = xtask(&["clean", "--run", &id]);
    assert_eq!(clean.code, 0, "{}", clean.dump());
    assert_eq!(containers_of_run(&id), Vec::<String>::new());
}

#[test]
fn engine_faults_exit_3_with_the_fix() {
    let dir = fixture("mixed");
    let test_dir = path_str(dir.path());
    let no_binary = Finished::from_command(
        xtask_command(&["run-all-tests", "--test-dir", test_dir]).env("PATH", "/nonexistent"),
    );
    assert_eq!(no_binary.code, 3, "{}", no_binary.dump());
    assert!(no_binary.stderr.contains("not found on PATH"), "{}", no_binary.dump());

    let no_daemon = Finished::from_command(
        xtask_command(&["run-all-tests", "--test-dir", test_dir])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    );
    assert_eq!(no_daemon.code, 3, "{}", no_daemon.dump());
    assert!(no_daemon.stderr.contains("not answering"), "{}", no_daemon.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_base_that_cannot_be_had_exits_3_with_the_fix() {
    require_engine();
    let dir = fixture("misbehaving");
    let test_dir = path_str(dir.path());
    let bad_base =
        xtask(&["run-all-tests", "--test-dir", test_dir, "--base-image", "pymaccounter-no-such-base:0"]);
    assert_eq!(bad_base.code, 3, "{}", bad_base.dump());
    assert!(
        bad_base.stderr.contains("building the test image from pymaccounter-no-such-base:0 failed"),
        "{}",
        bad_base.dump()
    );
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn clean_leaves_a_live_runs_containers_alone() {
    require_engine();
    let dir = fixture("misbehaving");
    let (child, id, _lines) = start_hanging_run(&dir, &[]);
    let clean = xtask(&["clean", "--containers-only"]);
    assert_eq!(clean.code, 0, "{}", clean.dump());
    assert!(clean.stdout.contains("of runs still going"), "{}", clean.dump());
    assert!(!containers_of_run(&id).is_empty(), "clean removed a live run's container");
    check_interrupted_run(child, &id, &["-INT"]);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_signal_during_an_image_build_exits_130_and_leaves_nothing() {
    require_engine();
    // A base of its own, new each time: its test image is built afresh, no
    // step cached (the harness's compile among them), while the signal comes.
    let base = "pymaccounter-test-interrupted-build:1";
    let offline = offline_base_3_11();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let fresh = format!("{}-{}", std::process::id(), since.as_nanos());
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {offline}\nLABEL pymaccounter.test={fresh}\n"),
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "--quiet", "--tag", base])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let dir = fixture("mixed");
    let args = ["run", "test_passes.py", "--base-image", base, "--debug", "--test-dir", path_str(dir.path())];
    let mut child =
        xtask_command(&args).process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = lines_sender.send(line.unwrap_or_default());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("apt-get")) {
        assert!(Instant::now() < deadline, "the build never started:\n{}", seen.join("\n"));
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    signal_group(&child, "-TERM");
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(status.code(), Some(130), "{}\n{}", seen.join("\n"), rest.join("\n"));
    let started = seen.iter().chain(&rest).any(|l| l.starts_with("$ docker run "));
    assert!(
        !started,
        "the signal came during the build, before any module:\n{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    std::thread::sleep(Duration::from_secs(2));
    let children = Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter", &format!("ancestor={base}")])
        .output()
        .unwrap();
    assert!(children.stdout.is_empty(), "the build left a container");
    let contexts = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pymaccounter-build-"))
        .count();
    assert_eq!(contexts, 0, "the build left its context folder");
    let _ = Command::new("docker").args(["rmi", base]).output();
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn an_empty_partition_writes_empty_reports_and_names_itself() {
    require_engine();
    let dir = fixture("mixed");
    let report = dir.path().join("empty.json");
    let junit = dir.path().join("empty.xml");
    let run = xtask(&[
        "run-all-tests",
        "--partition",
        "13/13",
        "--test-dir",
        path_str(dir.path()),
        "--report-json",
        path_str(&report),
        "--junit",
        path_str(&junit),
    ]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(run.stderr.contains("partition 13/13 holds no module"), "{}", run.dump());
    assert!(!run.stderr.contains("Some("), "{}", run.dump());
    assert_eq!(run.last_line(), "0 passed, 0 failed");
    assert_eq!(read_json(&report)["results"].as_array().unwrap().len(), 0);
    assert!(junit.exists(), "the JUnit file is written too");
}

/// A filesystem of its own, `size` bytes of tmpfs, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mount a small tmpfs (needs root)");
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// On a full disk the reports of an earlier run stay whole: each is written
/// into a temporary file beside it and renamed only once complete, so what
/// cannot be written leaves the old file (and no temporary one) behind, and
/// the run says which reports it could not write (exit 3).
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
#[cfg_attr(not_root, ignore = "mounts a small tmpfs: needs root")]
fn a_full_disk_leaves_the_earlier_reports_whole() {
    require_engine();
    let dir = empty_test_dir();
    // Enough output that each new report is larger than the old one.
    std::fs::write(dir.path().join("test_small.py"), "print('small')\n").unwrap();
    std::fs::write(dir.path().join("test_large.py"), "print('x' * 60000)\n").unwrap();
    let disk = SmallDisk::new("256k");
    let reports = |folder: &std::path::Path| {
        ["report.json", "junit.xml", "report.html"].map(|name| folder.join(name).display().to_string())
    };
    let [json, junit, html] = reports(disk.0.path());
    let run_with = |module: &str| {
        xtask(&[
            "run",
            module,
            "--test-dir",
            path_str(dir.path()),
            "--report-json",
            &json,
            "--junit",
            &junit,
            "--report-html",
            &html,
        ])
    };
    let first = run_with("test_small.py");
    assert_eq!(first.code, 0, "{}", first.dump());
    let before: Vec<Vec<u8>> = [&json, &junit, &html].iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Fill the disk but for a little room.
    let filler = disk.0.path().join("filler");
    let free = |path: &std::path::Path| {
        let output = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
        String::from_utf8_lossy(&output.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let room = free(disk.0.path()).saturating_sub(8 << 10);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();

    let second = run_with("test_large.py");
    assert_eq!(second.code, 3, "reports not written are an environment failure: {}", second.dump());
    assert!(second.stderr.contains("some reports were not written"), "{}", second.dump());
    let after: Vec<Vec<u8>> = [&json, &junit, &html].iter().map(|p| std::fs::read(p).unwrap()).collect();
    for ((path, old), new) in [&json, &junit, &html].iter().zip(&before).zip(&after) {
        assert!(old == new, "{path} changed on a full disk ({} bytes, was {})", new.len(), old.len());
    }
    let left: Vec<String> = std::fs::read_dir(disk.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pymaccounter-report-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "temporary files left on the full disk");
    // The old JSON is still a report that reads back.
    let report: serde_json::Value = serde_json::from_slice(&before[0]).unwrap();
    assert_eq!(result_for(&report, "test_small.py")["status"], "pass");
}
