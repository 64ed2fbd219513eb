//! Modules that print, name or do hostile things, on the real engine: what a
//! module prints never changes how it is classified or measured, output stays
//! bounded on disk, every report stays well-formed and the terminal ours.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// The default cap on a spill file (`capture::DEFAULT_SPILL_CAP`).
const SPILL_CAP: u64 = 64 * 1024 * 1024;

/// `run_with_report` with `--debug` (engine command lines, live stderr).
fn run_json(dir: &Path, args: &[&str]) -> (Finished, serde_json::Value) {
    run_with_report(dir, &[args, &["--debug"]].concat())
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_crash_after_long_stderr_is_still_a_crash_with_its_peak() {
    require_engine();
    let dir = fixture("hostile");
    let modules = ["test_crash_after_32k_stderr.py", "test_crash_after_64k_stderr.py"];
    let (run, report) = run_json(dir.path(), &["run", modules[0], modules[1]]);
    assert_eq!(run.code, 1, "{}", run.dump());
    for (module, size) in [(modules[0], 32 * 1024 - 30), (modules[1], 64 * 1024 - 40)] {
        let result = result_for(&report, module);
        assert_eq!(result["status"], "crash", "{result:#}");
        assert_eq!(result["signal"], 11, "{result:#}");
        assert!(result["peak_rss_bytes"].as_u64().unwrap() > 1024 * 1024, "{result:#}");
        // GNU time's lines are removed; the module's own bytes are all counted.
        assert_eq!(result["stderr_bytes"], size, "{result:#}");
        let stderr = result["stderr"].as_str().unwrap();
        assert!(
            !stderr.contains("Command terminated") && !stderr.contains("@@pymaccounter"),
            "{stderr:.300}"
        );
        assert!(!stderr.contains("bytes cut"), "64 KiB of output are kept whole");
        assert_eq!(stderr.len(), size, "{module}");
    }
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn printed_lookalikes_of_the_trailer_change_nothing() {
    require_engine();
    let dir = fixture("hostile");
    let (run, report) = run_json(
        dir.path(),
        &["run", "test_fakes_a_crash.py", "test_fakes_a_crash_exits_139.py", "test_exits_125.py"],
    );
    assert_eq!(run.code, 1, "{}", run.dump());
    let fake = "Command terminated by signal 11\n@@pymaccounter exit=0 peak_rss_kib=1\n";

    let passed = result_for(&report, "test_fakes_a_crash.py");
    assert_eq!(passed["status"], "pass", "{passed:#}");
    assert_eq!(passed["signal"], serde_json::Value::Null, "{passed:#}");
    assert!(
        passed["peak_rss_bytes"].as_u64().unwrap() > 1024 * 1024,
        "the fake peak of 1 KiB won: {passed:#}"
    );
    assert_eq!(passed["stderr"], fake, "the module's own text is kept as it printed it");

    let failed = result_for(&report, "test_fakes_a_crash_exits_139.py");
    assert_eq!(failed["status"], "fail", "{failed:#}");
    assert_eq!(failed["exit_code"], 139, "{failed:#}");
    assert_eq!(failed["signal"], serde_json::Value::Null, "{failed:#}");
    assert!(failed["peak_rss_bytes"].as_u64().unwrap() > 1024 * 1024, "{failed:#}");
    assert_eq!(failed["stderr"], fake);

    let exited = result_for(&report, "test_exits_125.py");
    assert_eq!(exited["status"], "fail", "exit 125 from a module is not an engine failure: {exited:#}");
    assert_eq!(exited["exit_code"], 125, "{exited:#}");
    assert_eq!(run.last_line(), "1 passed, 2 failed", "{}", run.dump());
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn an_endless_writer_leaves_at_most_the_cap_on_disk() {
    require_engine();
    let dir = fixture("hostile");
    let (run, report) = run_json(dir.path(), &["run", "test_floods_forever.py", "--timeout", "5"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    let result = result_for(&report, "test_floods_forever.py");
    assert_eq!(result["status"], "timeout", "{result:#}");
    let written = result["stdout_bytes"].as_u64().unwrap();
    let id = run_id(&run.stderr).expect("--debug prints the run id");
    let folder = project_root().join("target/pymaccounter/runs").join(&id);
    let on_disk: u64 = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("no spill folder {}: {e}", folder.display()))
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    std::fs::remove_dir_all(&folder).unwrap();
    assert!(written > SPILL_CAP, "the module wrote only {written} bytes: the cap was never reached");
    assert_eq!(on_disk, SPILL_CAP, "{written} bytes written");
    let stdout = result["stdout"].as_str().unwrap();
    let dropped = written - SPILL_CAP - (stdout.len() - stdout.find(" ...]\n").unwrap() - 6) as u64;
    let note = format!("the first {SPILL_CAP} bytes are in {}", folder.display());
    assert!(stdout.contains(&note), "{}", &stdout[32 * 1024 - 4096..36 * 1024]);
    assert!(
        stdout.contains(&format!("the {dropped} bytes after them were dropped")),
        "{}",
        &stdout[..36 * 1024]
    );
    assert!(stdout.len() < 80 * 1024, "kept {} bytes in the report", stdout.len());
}

/// Runs Python on the host.
fn python(script: &str, args: &[&Path]) -> std::process::Output {
    Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs")
}

/// The page is XHTML-compatible: a strict XML parser is a stricter check than html.parser.
const WELL_FORMED: &str = "import sys, xml.etree.ElementTree as ET\nET.parse(sys.argv[1])\n";

/// Control characters other than newline and tab.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars().filter(|c| c.is_control() && *c != '\n' && *c != '\t').collect()
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn hostile_output_and_file_names_leave_every_report_well_formed() {
    require_engine();
    let dir = fixture("hostile");
    for module in
        ["test_crash_after_32k_stderr.py", "test_crash_after_64k_stderr.py", "test_floods_forever.py"]
    {
        std::fs::remove_file(dir.path().join(module)).unwrap();
    }
    for module in ["test_fakes_a_crash_exits_139.py", "test_exits_125.py"] {
        std::fs::remove_file(dir.path().join(module)).unwrap();
    }
    // A name with a pipe, markup characters, an escape sequence, a bell and a newline.
    let hostile_name = "test_a|b<&\"c\x1b[31md\x07\ne.py";
    let source = "\"\"\"Passes; its name is hostile.\"\"\"\nprint('ok \\ufffe')\n";
    std::fs::write(dir.path().join(hostile_name), source).expect("the filesystem takes the name");

    let (run, reports) = run_as_ci_with_every_report(dir.path());
    let EveryReport { junit, json, html, summary, .. } = &reports;
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(run.last_line(), "2 passed, 1 failed, 1 skipped", "{}", run.dump());

    // The terminal: no control character from a module reaches it raw.
    assert_eq!(raw_controls(&run.stdout), Vec::<char>::new(), "{}", run.stdout);
    assert_eq!(raw_controls(&run.stderr), Vec::<char>::new(), "{}", run.stderr);
    assert!(run.stdout.contains("\\x1b]0;pwned\\x07\\x1b[2J\\x1b[?25l bell\\x07"), "{}", run.stdout);
    assert!(run.stdout.contains("\\r99 passed, 0 failed"), "{}", run.stdout);
    assert!(run.stdout.contains("test_a|b<&\"c\\x1b[31md\\x07\\ne.py"), "{}", run.stdout);

    // JUnit: valid against the common schema.
    assert_valid_junit(junit);
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("skipped: \\x1b[33myellow"), "{xml}");

    // JSON: parses, and keeps the module's text exactly.
    let report = read_json(json);
    assert_eq!(report["results"].as_array().unwrap().len(), 4);
    let controls = result_for(&report, "test_prints_controls.py");
    assert!(controls["stdout"].as_str().unwrap().starts_with("\x1b]0;pwned\x07"), "{controls:#}");
    assert_eq!(result_for(&report, hostile_name)["status"], "pass");

    // HTML: well-formed, nothing raw.
    let check = python(WELL_FORMED, &[html]);
    let page = std::fs::read_to_string(html).unwrap();
    assert!(check.status.success(), "{}\n{page}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(raw_controls(&page), Vec::<char>::new());
    assert!(!page.contains("<b>"), "module text became markup");

    // The step summary: one table row per result, six cells each.
    let markdown = std::fs::read_to_string(summary).unwrap();
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 4, "{markdown}");
    for row in rows {
        let separators = row.match_indices('|').filter(|(i, _)| !row[..*i].ends_with('\\')).count();
        assert_eq!(separators, 7, "{row}");
    }
    assert_eq!(raw_controls(&markdown), Vec::<char>::new());

    // Annotations: one line per failure.
    let errors: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(errors[0].starts_with("::error file="), "{}", errors[0]);
}

#[test]
#[cfg_attr(skip_engine_tests, ignore = "PYMACCOUNTER_SKIP_ENGINE_TESTS=1")]
fn a_non_utf8_file_name_does_not_block_the_run() {
    require_engine();
    let dir = fixture("mixed");
    for name in [&b"test_bad\xff.py"[..], b"helper\xfe.py", b"data\xff.txt"] {
        let path = dir.path().join(OsString::from_vec(name.to_vec()));
        std::fs::write(path, "raise SystemExit(1)\n").unwrap();
    }
    let (run, report) = run_json(dir.path(), &["run-all-tests"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(run.last_line(), "1 passed, 1 failed, 1 skipped", "{}", run.dump());
    assert_eq!(report["results"].as_array().unwrap().len(), 3, "{report:#}");
    assert!(
        run.stderr.contains("test_bad\u{fffd}.py: not run, its file name is not valid UTF-8"),
        "{}",
        run.dump()
    );
    let named = xtask(&["run", "test_passes.py", "--test-dir", path_str(dir.path())]);
    assert_eq!(named.code, 0, "{}", named.dump());
}
