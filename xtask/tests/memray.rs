//! `--memray`: where memory went, per module, from memray in the module's
//! own container (memray from the package index, into the project's
//! environment or, without a project, the run's tools environment),
//! summarised there once the module ended; flame graphs in a real browser.

mod common;

use common::*;

/// The report in `out/` of the test dir, so that flame graphs land next to it.
fn run_json(dir: &tempfile::TempDir, args: &[&str]) -> (Finished, serde_json::Value) {
    run_with_report_at(dir.path(), &dir.path().join("out/report.json"), args)
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn memray_reports_the_heap_peak_the_allocator_and_a_flame_graph() {
    require_engine();
    let dir = fixture("memray");
    let (run, report) = run_json(
        &dir,
        &["run", "test_fifty_mib.py", "--python", "3.13", "--python-malloc", "malloc", "--memray"],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    let result = result_for(&report, "test_fifty_mib.py");
    let memray = &result["memray"];
    let peak = memray["peak_memory_bytes"].as_f64().unwrap();
    let fifty = 50.0 * 1024.0 * 1024.0;
    assert!((peak - fifty).abs() < fifty * 0.10, "peak heap {peak} is not within 10 % of 50 MiB: {memray:#}");
    assert_eq!(memray["python_allocator"], "malloc", "{memray:#}");
    assert_eq!(memray["flamegraph"], "leaks", "malloc gets the leaks flame graph: {memray:#}");
    let top = memray["top_allocations_by_size"].as_array().unwrap();
    assert!(top[0]["location"].as_str().unwrap().contains("test_fifty_mib.py:2"), "{memray:#}");
    // Relative to the report, so the folder works as a CI artifact.
    let relative = memray["flamegraph_path"].as_str().unwrap();
    assert!(relative.starts_with("memray/") && relative.ends_with(".svg"), "{memray:#}");
    let flamegraph = dir.path().join("out").join(relative);
    let page = std::fs::read_to_string(&flamegraph).unwrap();
    assert!(page.contains("<g class=\"own\"><title>fifty_mib ("), "the module's own frame, apart:\n{page}");
    assert!(!page.contains("href") && !page.contains("src="), "nothing loaded from elsewhere");
    let profiler = memray["profiler_rss_bytes"].as_u64().expect("memray's own RSS measured");
    assert!(profiler > 1 << 20 && profiler < result["peak_rss_bytes"].as_u64().unwrap(), "{result:#}");
    assert!(run.stdout.contains("memray: peak heap 50.0 MiB"), "{}", run.dump());
    assert!(run.stdout.contains("which includes memray itself"), "{}", run.dump());
    assert!(run.stdout.contains("test_fifty_mib.py:2"), "top sites in the block:\n{}", run.stdout);
    assert!(!run.stderr.contains("Correcting symbol") && !run.stdout.contains("Correcting symbol"));
    assert!(
        !result["stderr"].as_str().unwrap().contains("Memray WARNING"),
        "memray's noise is not the module's"
    );
}

/// Every module of the project's own test dir passes, or skips with its
/// reason, under `--memray`: memray's start-up leaves no garbage a module's
/// `gc.collect()` would find, and its warnings are not the module's stderr.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_projects_own_modules_pass_under_memray_on_every_version() {
    require_engine();
    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let run = xtask(&[
        "run-all-tests",
        "--python",
        "3.9,3.11,3.13,3.14",
        "--memray",
        "--report-json",
        path_str(&report_path),
    ]);
    let report = read_json(&report_path);
    assert_eq!(run.code, 0, "{}", run.dump());
    for result in report["results"].as_array().unwrap() {
        let status = result["status"].as_str().unwrap();
        // A module skips itself saying why (`SKIP: ...`), or the runner says it.
        let said = result["reason"].is_string() || result["stdout"].as_str().unwrap().contains("SKIP: ");
        assert!(status == "pass" || (status == "skip" && said), "{result:#}");
        assert!(result["memray"]["peak_memory_bytes"].as_u64().is_some(), "{result:#}");
        assert!(!result["stderr"].as_str().unwrap().contains("Memray WARNING"), "{result:#}");
    }
    assert_eq!(report["results"].as_array().unwrap().len(), 4 * 18, "{report:#}");
}

/// The demonstrations with third-party libraries (`python_demos/`, a
/// project: numpy, pyarrow and pandas from its environment, memray beside
/// them) pass, or skip saying why, under `--memray` on 3.11 and 3.13.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn the_demonstrations_pass_under_memray() {
    require_engine();
    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let run = xtask(&[
        "run-all-tests",
        "--test-dir",
        "python_demos",
        "--python",
        "3.11,3.13",
        "--memray",
        "--report-json",
        path_str(&report_path),
    ]);
    let report = read_json(&report_path);
    assert_eq!(run.code, 0, "{}", run.dump());
    let demos = std::fs::read_dir(project_root().join("python_demos"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("test_"))
        .count();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * demos, "{report:#}");
    for result in results {
        let status = result["status"].as_str().unwrap();
        let said = result["reason"].is_string() || result["stdout"].as_str().unwrap().contains("SKIP: ");
        assert!(status == "pass" || (status == "skip" && said), "{result:#}");
        assert!(result["memray"]["peak_memory_bytes"].as_u64().is_some(), "{result:#}");
    }
    for image in report["run"]["images"].as_array().unwrap() {
        let names: Vec<&str> =
            image["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for wanted in ["memray", "numpy", "pyarrow", "pandas"] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
    }
}

/// The flame graph in a real browser engine with the network cut: it draws
/// the module's own frame, and no request leaves (a page that does load a
/// script from elsewhere is caught by the same check).
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_flame_graph_renders_offline_in_chromium() {
    require_engine();
    let browser = chromium();
    let dir = fixture("memray");
    let (run, report) = run_json(&dir, &["run", "test_fifty_mib.py", "--python", "3.14", "--memray"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let relative =
        result_for(&report, "test_fifty_mib.py")["memray"]["flamegraph_path"].as_str().unwrap().to_string();
    let flamegraph = dir.path().join("out").join(relative);
    let out = project_root().join("target/test-output/memray");
    std::fs::create_dir_all(&out).unwrap();
    let screenshot = out.join("flamegraph.png");
    let (dom, requests) = open_offline(browser, &flamegraph, Some(&screenshot));
    assert_eq!(requests, Vec::<String>::new(), "no request leaves the page");
    assert!(dom.contains("<g class=\"own\"><title>fifty_mib ("), "the module's frame is drawn:\n{dom}");
    assert!(dom.contains(">fifty_mib</text>"), "and labelled:\n{dom}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 1000, "a screenshot in {}", out.display());
    // The check can fail: a page that loads a script from elsewhere is seen.
    let online = dir.path().join("online.html");
    std::fs::write(&online, "<html><script src=\"http://cdn.example.com/d3.js\"></script></html>").unwrap();
    let (_, requests) = open_offline(browser, &online, None);
    assert!(
        requests.iter().any(|r| r.contains("cdn.example.com")),
        "the proxy sees a CDN script: {requests:?}"
    );
}

/// The hosts Chromium itself calls on start (sign-in, updates, safe
/// browsing): not the page's requests.
const BROWSER_OWN: [&str; 3] = [".google.com", ".googleapis.com", ".gvt1.com"];

/// Opens `page` in headless Chromium with every request sent to a local
/// proxy that refuses it and notes it; returns the DOM and the requests the
/// page made (the browser's own calls to its vendor left out).
fn open_offline(
    browser: &str,
    page: &std::path::Path,
    screenshot: Option<&std::path::Path>,
) -> (String, Vec<String>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    proxy.set_nonblocking(true).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let listener = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || loop {
            match proxy.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
                    let mut first = [0u8; 512];
                    let n = stream.read(&mut first).unwrap_or(0);
                    let line = String::from_utf8_lossy(&first[..n]).lines().next().unwrap_or("").to_string();
                    let _ = stream.write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    seen.lock().unwrap().push(line);
                }
                Err(_) if done.load(Ordering::SeqCst) => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        })
    };
    let profile = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,400",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!("--proxy-server=http://127.0.0.1:{port}"),
        "--proxy-bypass-list=<-loopback>",
    ]);
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    command.arg(format!("file://{}", page.display()));
    let output = command.output().unwrap();
    // Late connections are still queued for the listener: give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    done.store(true, Ordering::SeqCst);
    listener.join().unwrap();
    let requests: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|line| !BROWSER_OWN.iter().any(|host| line.contains(host)))
        .cloned()
        .collect();
    if screenshot.is_some() {
        // The DOM as well, in a second run (headless mode takes one of the two at a time).
        let (dom, more) = open_offline(browser, page, None);
        return (dom, requests.into_iter().chain(more).collect());
    }
    (String::from_utf8_lossy(&output.stdout).into_owned(), requests)
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_module_the_memory_limit_kills_is_still_oom_with_what_memray_recorded() {
    require_engine();
    let dir = fixture("memray");
    let (run, report) = run_json(
        &dir,
        &["run", "test_grows_until_killed.py", "--python", "3.13", "--memray", "--memory", "128m"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let result = result_for(&report, "test_grows_until_killed.py");
    assert_eq!(result["status"], "oom", "{result:#}");
    let peak = result["memray"]["peak_memory_bytes"].as_u64().expect("memray's capture survives the kill");
    assert!(peak > 32 << 20, "{result:#}");
}

/// Without a project, memray comes from the package index into the run's
/// tools environment: `--memray` works on Pythons whose base has no memray
/// (bullseye's 3.9, bookworm's 3.11), with its figures and an offline flame
/// graph; the HTML page in a folder of its own, and merged reports written
/// elsewhere from another working folder, name the flame graphs from their
/// own folders.
#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn memray_runs_without_a_project_on_pythons_whose_base_has_none() {
    require_engine();
    let browser = chromium();
    let dir = empty_test_dir();
    // The allocation on a line of its own: memray gives 3.9's one-line
    // functions line 0 (its reading of 3.9's line table), and 3.11's their line.
    let module = "\"\"\"Holds 50 MiB.\"\"\"\n\n\ndef fifty_mib():\n    size = 50 * 1024 * 1024\n    \
                  return bytearray(size)\n\n\nblock = fifty_mib()\nprint(len(block))\n";
    std::fs::write(dir.path().join("test_fifty_mib.py"), module).unwrap();
    let shard = dir.path().join("out/shard/report.json");
    let (run, report) = run_with_report_at(
        dir.path(),
        &shard,
        &[
            "run",
            "test_fifty_mib.py",
            "--no-project",
            "--python",
            "3.9,3.11",
            "--memray",
            "--partition",
            "1/1",
            "--report-html",
            path_str(&dir.path().join("out/page/report.html")),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report:#}");
    for result in results {
        let memray = &result["memray"];
        let peak = memray["peak_memory_bytes"].as_f64().unwrap();
        let fifty = 50.0 * 1024.0 * 1024.0;
        assert!(
            (peak - fifty).abs() < fifty * 0.10,
            "peak heap {peak} is not within 10 % of 50 MiB: {result:#}"
        );
        let top = memray["top_allocations_by_size"].as_array().unwrap();
        assert!(top[0]["location"].as_str().unwrap().ends_with("test_fifty_mib.py:6"), "{memray:#}");
        let relative = memray["flamegraph_path"].as_str().unwrap();
        let flamegraph = dir.path().join("out/shard").join(relative);
        let (dom, requests) = open_offline(browser, &flamegraph, None);
        assert_eq!(requests, Vec::<String>::new(), "no request leaves the page");
        assert!(dom.contains("<g class=\"own\"><title>fifty_mib ("), "the module's frame is drawn:\n{dom}");
    }
    // memray came from the index (the bases have none), into a tools environment per Python.
    for image in report["run"]["images"].as_array().unwrap() {
        let packages = image["packages"].as_array().unwrap();
        assert!(packages.iter().any(|p| p["name"] == "memray"), "{image:#}");
    }

    // The page beside another folder than the JSON report's (where the flame graphs are).
    let page = dir.path().join("out/page");
    let links = flame_graph_links(&std::fs::read_to_string(page.join("report.html")).unwrap());
    assert_eq!(links.len(), 2, "{links:?}");
    for link in &links {
        assert!(link.starts_with("../shard/memray/") && page.join(link).is_file(), "{link} from the page");
    }

    // Merged into other folders, from a working folder of another depth: each
    // report names the flame graphs from its own folder.
    let cwd = dir.path().join("cwd");
    for folder in [&cwd, &dir.path().join("merged/all"), &dir.path().join("merged/pages/deep")] {
        std::fs::create_dir_all(folder).unwrap();
    }
    let merge = Finished::from(
        xtask_command(&[
            "merge-reports",
            "../out/shard/report.json",
            "--report-json",
            "../merged/all/report.json",
            "--report-html",
            "../merged/pages/deep/page.html",
        ])
        .current_dir(&cwd)
        .output()
        .unwrap(),
    );
    assert_eq!(merge.code, 0, "{}", merge.dump());
    let merged = dir.path().join("merged/all/report.json");
    for result in read_json(&merged)["results"].as_array().unwrap() {
        let relative = result["memray"]["flamegraph_path"].as_str().unwrap();
        assert!(relative.starts_with("../../out/shard/memray/"), "{relative}");
        assert!(dir.path().join("merged/all").join(relative).is_file(), "{relative} from the merged report");
    }
    let page = dir.path().join("merged/pages/deep");
    let links = flame_graph_links(&std::fs::read_to_string(page.join("page.html")).unwrap());
    assert_eq!(links.len(), 2, "{links:?}");
    for link in &links {
        assert!(link.starts_with("../../../out/shard/memray/"), "{link}");
        assert!(page.join(link).is_file(), "{link} from the merged page");
    }
}

/// The flame graph links of an HTML report (plain names here: nothing percent-encoded).
fn flame_graph_links(page: &str) -> Vec<String> {
    let links: Vec<String> = page
        .split("<a class=\"flamegraph\" href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect();
    assert!(links.iter().all(|l| !l.contains('%')), "{links:?}");
    links
}
