//! `--junit`: JUnit XML as CI systems read it: one `testsuite` per result
//! (module × variant) with its figures as properties, holding the module's
//! own `testcase` and one per test its framework ran. A test's case is
//! classed by the module and its variant (`test_x.py [malloc, 3.13]`), so
//! the same test under four variants is four cases, not one shown four
//! times; errors are `<error>`, failures `<failure>` with the traceback, and
//! every total is the count of the elements below it. A module that failed
//! only because tests failed is not counted again: its tests' cases say it.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::model::inner::{InnerTest, TestOutcome};
use crate::model::result::Attempt;
use crate::model::result::{rfc3339_utc, ModuleResult, Outcome, RunInfo};
use crate::model::status::{Status, Tally};
use crate::report::{words, FileReport, Parts, ReportContext};
use crate::sanitize;

pub const REPORT: FileReport = FileReport { flag: "junit", path: |args| args.junit.as_deref(), write };

/// The suite's name.
const SUITE: &str = "pymaccounter";

/// Lines of stderr kept in a failure's body.
const STDERR_TAIL_LINES: usize = 40;

/// The whole report in memory (tests).
#[cfg(test)]
pub fn render(outcome: &Outcome, suite_name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let context = ReportContext { test_dir: "", run: None, wholes: None };
    render_to(&mut out, outcome, &context, suite_name)?;
    Ok(out)
}

/// The report as a stream, one result whole at a time: once for the
/// totals the root element carries, once for the suites.
pub fn render_to(
    out: &mut dyn Write,
    outcome: &Outcome,
    context: &ReportContext,
    suite_name: &str,
) -> Result<()> {
    let mut totals = Totals::default();
    context.each_whole(outcome, Parts::NoSeriesNorOutputs, |result| {
        totals = totals.add(Totals::of(result));
        Ok(())
    })?;
    totals.tests += outcome.not_run.len();
    let mut writer = Writer::new_with_indent(out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (tests, failures, errors) =
        (totals.tests.to_string(), totals.failures.to_string(), totals.errors.to_string());
    // The run's wall time: modules run side by side, so not the sum of their times.
    let time = format!("{:.3}", outcome.wall_time.as_secs_f64());
    let suite_name = &*sanitize::xml(suite_name);
    let attributes = [
        ("name", suite_name),
        ("tests", &tests),
        ("failures", &failures),
        ("errors", &errors),
        ("time", &time),
    ];
    writer.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(attributes)))?;
    // One suite per result: the module's own case, then its inner tests.
    context.each_whole(outcome, Parts::NoSeries, |result| suite(&mut writer, result, &outcome.run))?;
    if !outcome.not_run.is_empty() {
        let count = outcome.not_run.len().to_string();
        let timestamp = rfc3339_utc(outcome.started_at);
        let attributes = [
            ("name", "not run"),
            ("tests", &count),
            ("failures", "0"),
            ("errors", "0"),
            ("skipped", &count),
            ("timestamp", &timestamp),
        ];
        writer.write_event(Event::Start(BytesStart::new("testsuite").with_attributes(attributes)))?;
        for job in &outcome.not_run {
            let name = sanitize::xml(&job.label()).into_owned();
            let classname = sanitize::xml(&job.module).into_owned();
            let case = BytesStart::new("testcase")
                .with_attributes([("name", name.as_str()), ("classname", classname.as_str())]);
            writer.write_event(Event::Start(case))?;
            let skipped = BytesStart::new("skipped").with_attributes([("message", "not run")]);
            writer.write_event(Event::Empty(skipped))?;
            writer.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
        writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    writer.into_inner().write_all(b"\n")?;
    Ok(())
}

/// Whether a test leaked under a per-test hunt.
fn leaks(result: &ModuleResult, test: &InnerTest) -> bool {
    let hunt = result.inner.as_ref().and_then(|i| i.hunt_leaks.as_ref());
    hunt.zip(test.hunt_leaks.as_ref()).is_some_and(|(h, d)| !h.test_leaks(d).is_empty())
}

fn inner_tests(result: &ModuleResult) -> &[InnerTest] {
    result.inner.as_ref().map_or(&[], |inner| inner.tests.as_slice())
}

/// The cases of a suite, and how many of them fail, err or skip.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Totals {
    fn of(result: &ModuleResult) -> Totals {
        let inner = inner_tests(result);
        let own = module_case(result);
        Totals {
            tests: 1 + inner.len(),
            failures: usize::from(own == ModuleCase::Failed)
                + inner
                    .iter()
                    .filter(|t| t.outcome == TestOutcome::Failed || (!t.failed() && leaks(result, t)))
                    .count(),
            errors: inner.iter().filter(|t| t.outcome == TestOutcome::Error).count(),
            skipped: usize::from(own == ModuleCase::Skipped) + inner.iter().filter(|t| t.skipped()).count(),
        }
    }

    fn add(self, other: Totals) -> Totals {
        Totals {
            tests: self.tests + other.tests,
            failures: self.failures + other.failures,
            errors: self.errors + other.errors,
            skipped: self.skipped + other.skipped,
        }
    }
}

/// How the module's own case reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModuleCase {
    Passed,
    Skipped,
    Failed,
}

fn module_case(result: &ModuleResult) -> ModuleCase {
    match result.tally() {
        Tally::Passed => ModuleCase::Passed,
        Tally::Skipped => ModuleCase::Skipped,
        // Its failing tests' cases carry the failure; counting the module too
        // would say one failure twice.
        Tally::Failed
            if result.execution.explained_by_its_tests()
                && inner_tests(result).iter().any(|t| t.failed() || leaks(result, t)) =>
        {
            ModuleCase::Passed
        }
        Tally::Failed => ModuleCase::Failed,
    }
}

/// A result's suite: its figures as properties (the schema allows them on
/// suites, not on cases), its own case, and one case per inner test.
fn suite(writer: &mut Writer<&mut dyn Write>, result: &ModuleResult, run: &RunInfo) -> Result<()> {
    let inner = inner_tests(result);
    let totals = Totals::of(result);
    let name = sanitize::xml(&result.job.label()).into_owned();
    let (tests, failures, errors, skipped) = (
        totals.tests.to_string(),
        totals.failures.to_string(),
        totals.errors.to_string(),
        totals.skipped.to_string(),
    );
    let time = format!("{:.3}", result.duration.as_secs_f64());
    let timestamp = rfc3339_utc(result.started_at);
    let attributes = [
        ("name", name.as_str()),
        ("tests", &tests),
        ("failures", &failures),
        ("errors", &errors),
        ("skipped", &skipped),
        ("time", &time),
        ("timestamp", &timestamp),
    ];
    writer.write_event(Event::Start(BytesStart::new("testsuite").with_attributes(attributes)))?;
    writer.write_event(Event::Start(BytesStart::new("properties")))?;
    for (key, value) in &properties(result, run) {
        let property =
            BytesStart::new("property").with_attributes([("name", *key), ("value", value.as_str())]);
        writer.write_event(Event::Empty(property))?;
    }
    writer.write_event(Event::End(BytesEnd::new("properties")))?;
    testcase(writer, result)?;
    // The variant in the class: one test under four variants is four cases.
    let classname = sanitize::xml(&result.job.label()).into_owned();
    let hunt = result.inner.as_ref().and_then(|i| i.hunt_leaks.as_ref());
    for test in inner {
        let leak = hunt.zip(test.hunt_leaks.as_ref()).and_then(|(h, d)| words::test_leak(h, d));
        inner_testcase(writer, test, &classname, leak)?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    Ok(())
}

/// A result's figures, as `name`/`value` pairs; a figure nobody measured is left out.
fn properties(result: &ModuleResult, run: &RunInfo) -> Vec<(&'static str, String)> {
    let variant = &result.job.variant;
    let python = run.python_for(&result.job);
    let counts = result.test_counts();
    let optional = [
        ("python", python.map(str::to_string)),
        ("peak_rss_bytes", result.peak_rss_bytes.map(|p| p.to_string())),
        ("memory_limit_bytes", result.memory_limit_bytes.map(|m| m.to_string())),
        ("tests", counts.map(|c| c.summary())),
        ("tests_passed", counts.map(|c| c.passed.to_string())),
        ("tests_failed", counts.map(|c| (c.failed + c.errors).to_string())),
        ("tests_skipped", counts.map(|c| c.skipped.to_string())),
    ];
    let mut properties =
        vec![("status", result.status().name().to_string()), ("allocator", variant.allocator().to_string())];
    properties.extend(optional.into_iter().filter_map(|(key, value)| value.map(|v| (key, v))));
    properties
}

/// One test's case; `leak`: what it leaked under a per-test hunt (a failure).
fn inner_testcase(
    writer: &mut Writer<&mut dyn Write>,
    test: &InnerTest,
    classname: &str,
    leak: Option<String>,
) -> Result<()> {
    let name = sanitize::xml(&test.name).into_owned();
    let time = format!("{:.3}", test.duration_s);
    let case = BytesStart::new("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", classname),
        ("time", time.as_str()),
    ]);
    writer.write_event(Event::Start(case))?;
    let message = sanitize::xml(test.message.as_deref().unwrap_or(test.outcome.name())).into_owned();
    match test.outcome {
        TestOutcome::Failed | TestOutcome::Error => {
            let tag = if test.outcome == TestOutcome::Error { "error" } else { "failure" };
            let element = BytesStart::new(tag)
                .with_attributes([("message", message.as_str()), ("type", test.outcome.name())]);
            match test.traceback.as_deref().filter(|t| !t.is_empty()) {
                Some(traceback) => {
                    writer.write_event(Event::Start(element))?;
                    writer.write_event(Event::Text(BytesText::new(&sanitize::xml(traceback))))?;
                    writer.write_event(Event::End(BytesEnd::new(tag)))?;
                }
                None => writer.write_event(Event::Empty(element))?,
            }
        }
        TestOutcome::Skipped | TestOutcome::Xfailed => {
            writer.write_event(Event::Empty(
                BytesStart::new("skipped").with_attributes([("message", message.as_str())]),
            ))?;
        }
        TestOutcome::Passed | TestOutcome::Xpassed => {}
    }
    if let (Some(leak), false) = (leak, test.failed()) {
        let message = sanitize::xml(&format!("leaks under --hunt-leaks: {leak}")).into_owned();
        writer.write_event(Event::Empty(
            BytesStart::new("failure").with_attributes([("message", message.as_str()), ("type", "leak")]),
        ))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

/// The module's own case: its status, reason and output.
fn testcase(writer: &mut Writer<&mut dyn Write>, result: &ModuleResult) -> Result<()> {
    let name = sanitize::xml(&result.job.label()).into_owned();
    let classname = sanitize::xml(&result.job.module).into_owned();
    let time = format!("{:.3}", result.duration.as_secs_f64());
    let case = BytesStart::new("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", classname.as_str()),
        ("time", time.as_str()),
    ]);
    writer.write_event(Event::Start(case))?;
    let status = result.status();
    match module_case(result) {
        ModuleCase::Passed => {}
        ModuleCase::Skipped => {
            let stdout = result.stdout.text();
            let message = sanitize::xml(stdout.lines().last().unwrap_or("skipped")).into_owned();
            writer.write_event(Event::Empty(
                BytesStart::new("skipped").with_attributes([("message", message.as_str())]),
            ))?;
        }
        ModuleCase::Failed => {
            let reason = words::reason(&result.execution).unwrap_or_else(|| status.to_string());
            let reason = sanitize::xml(&reason).into_owned();
            let failure = BytesStart::new("failure")
                .with_attributes([("message", reason.as_str()), ("type", status.name())]);
            writer.write_event(Event::Start(failure))?;
            writer.write_event(Event::Text(BytesText::new(&sanitize::xml(&stderr_tail(result)))))?;
            writer.write_event(Event::End(BytesEnd::new("failure")))?;
        }
    }
    reruns(writer, result)?;
    output(writer, &result.stdout.text(), &result.stderr.text())?;
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

/// Failed attempts of a job that ran more than once, the way nextest (and
/// Maven Surefire) write them: `flakyFailure` when the job passed in the end
/// or is flaky, `rerunFailure` for the earlier failures of one that failed
/// (its last failure is the `failure` element).
fn reruns(writer: &mut Writer<&mut dyn Write>, result: &ModuleResult) -> Result<()> {
    let failed: Vec<&Attempt> =
        result.attempts.iter().filter(|a| a.execution.tally() == Tally::Failed).collect();
    let flaky = result.status() == Status::Flaky || result.tally() != Tally::Failed;
    let (tag, shown) = if flaky {
        ("flakyFailure", &failed[..])
    } else {
        ("rerunFailure", &failed[..failed.len().saturating_sub(1)])
    };
    for attempt in shown {
        let status = attempt.execution.status();
        let message = words::reason(&attempt.execution).unwrap_or_else(|| status.to_string());
        let message = sanitize::xml(&format!("attempt {}: {message}", attempt.number)).into_owned();
        let element =
            BytesStart::new(tag).with_attributes([("message", message.as_str()), ("type", status.name())]);
        writer.write_event(Event::Start(element))?;
        output(writer, &attempt.stdout.text(), &attempt.stderr.text())?;
        writer.write_event(Event::End(BytesEnd::new(tag)))?;
    }
    Ok(())
}

/// `system-out` and `system-err`, each when not empty.
fn output(writer: &mut Writer<&mut dyn Write>, stdout: &str, stderr: &str) -> Result<()> {
    for (tag, text) in [("system-out", stdout), ("system-err", stderr)] {
        if !text.is_empty() {
            writer.write_event(Event::Start(BytesStart::new(tag)))?;
            // CDATA cannot hold "]]>": end the section between "]]" and ">".
            let text = sanitize::xml(text);
            let pieces: Vec<&str> = text.split("]]>").collect();
            for (i, piece) in pieces.iter().enumerate() {
                let open = if i == 0 { "" } else { ">" };
                let close = if i + 1 < pieces.len() { "]]" } else { "" };
                writer.write_event(Event::CData(BytesCData::new(format!("{open}{piece}{close}"))))?;
            }
            writer.write_event(Event::End(BytesEnd::new(tag)))?;
        }
    }
    Ok(())
}

fn stderr_tail(result: &ModuleResult) -> String {
    let text = result.stderr.text();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    super::write_atomically_with(path, |out| {
        render_to(out, outcome, context, SUITE).map_err(std::io::Error::other)
    })
    .with_context(|| format!("cannot write the JUnit report to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::Execution;

    fn result(module: &str, execution: Execution, stdout: &str, stderr: &str) -> ModuleResult {
        ModuleResult::sample(module, execution, stdout, stderr)
    }

    /// Attributes of the first element with this name.
    fn attributes_of(xml: &str, element: &str) -> Vec<(String, String)> {
        let mut reader = quick_xml::Reader::from_str(xml);
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == element.as_bytes() => {
                    return e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                            (key, a.unescape_value().unwrap().into_owned())
                        })
                        .collect();
                }
                Event::Eof => panic!("no {element} in {xml}"),
                _ => {}
            }
        }
    }

    fn get<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
        attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_run_takes_its_wall_time_and_each_suite_its_start_and_figures() {
        use std::time::{Duration, UNIX_EPOCH};
        let mut counted = result("test_self.py", Execution::Passed, "", "");
        counted.duration = Duration::from_secs(4);
        counted.started_at = UNIX_EPOCH + Duration::from_secs(1_709_251_200);
        counted.peak_rss_bytes = Some(9 << 20);
        counted.memory_limit_bytes = Some(256 << 20);
        counted.inner = crate::harness::summary::read(
            &crate::model::captured::Captured::from_text(""),
            &crate::model::captured::Captured::from_text("Ran 3 tests in 0.1s\n\nOK (skipped=1)\n"),
        );
        let mut other = result("test_other.py", Execution::Passed, "", "");
        other.duration = Duration::from_secs(4);
        let mut outcome = Outcome::empty("r".into());
        outcome.results = vec![counted, other];
        outcome.wall_time = Duration::from_millis(4_500);
        outcome.run.images = vec![crate::model::result::ImageInfo {
            python: Some("3.11".into()),
            reference: "i".into(),
            ..Default::default()
        }];
        let xml = String::from_utf8(render(&outcome, SUITE).unwrap()).unwrap();
        assert_eq!(get(&attributes_of(&xml, "testsuites"), "time"), Some("4.500"), "not the 8 s sum");
        let suite = attributes_of(&xml, "testsuite");
        assert_eq!(get(&suite, "timestamp"), Some("2024-03-01T00:00:00Z"));
        assert_eq!(get(&suite, "time"), Some("4.000"));
        for property in [
            r#"<property name="python" value="3.11"/>"#,
            r#"<property name="peak_rss_bytes" value="9437184"/>"#,
            r#"<property name="memory_limit_bytes" value="268435456"/>"#,
            r#"<property name="tests" value="2 passed, 1 skipped"/>"#,
            r#"<property name="tests_passed" value="2"/>"#,
            r#"<property name="tests_skipped" value="1"/>"#,
        ] {
            assert!(xml.contains(property), "{property} missing in {xml}");
        }
        assert_eq!(xml.matches(r#"name="tests""#).count(), 1, "no counts for a plain script: {xml}");
    }

    #[test]
    fn hostile_text_and_names_give_xml_1_0_characters_only() {
        let hostile = "a\x1b[31m\x07\x08\x00\u{fffe}\u{ffff}]]>b\r\n";
        let outcome = Outcome {
            run_id: "r".into(),
            results: vec![
                result(&format!("test_{hostile}.py"), Execution::Skipped { why: None }, hostile, ""),
                result(
                    "test_f.py",
                    Execution::Failed {
                        exit_code: 1,
                        why: Some(crate::model::status::FailureCause::HarnessError { error: hostile.into() }),
                    },
                    hostile,
                    hostile,
                ),
            ],
            not_run: vec![],
            interrupted: false,
            fail_fast_tripped: false,
            engine_error: None,
            ..Outcome::empty("r".into())
        };
        let xml = String::from_utf8(render(&outcome, "suite\x01").unwrap()).unwrap();
        let forbidden = |c: char| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        assert!(!xml.chars().any(forbidden), "{xml:?}");
        assert!(
            xml.contains(r#"<skipped message="a\x1b[31m\x07\x08\x00\u{fffe}\u{ffff}]]&gt;b"/>"#),
            "{xml}"
        );
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Start(e) if e.name().as_ref() == b"testsuites" => {
                    assert!(e.try_get_attribute("skipped").unwrap().is_none(), "junit-10.xsd forbids it");
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }

    fn attempt(number: usize, execution: Execution) -> Attempt {
        Attempt {
            memory_limit_bytes: None,
            started_at: std::time::UNIX_EPOCH,
            number,
            execution,
            duration: std::time::Duration::from_secs(1),
            peak_rss_bytes: Some(1 << 20),
            container_peak_bytes: None,
            stdout: crate::model::captured::Captured::from_text("out\n"),
            stderr: crate::model::captured::Captured::from_text(&format!("err {number}\n")),
            inner: None,
            memray: None,
            memory_series: None,
        }
    }

    fn xml(endings: Vec<Execution>, tolerate_flaky: bool) -> String {
        let job = crate::model::job::Job {
            index: 0,
            module: "test_a.py".into(),
            variant: crate::model::job::Variant::default(),
            image: "i".into(),
        };
        let attempts = endings.into_iter().enumerate().map(|(i, e)| attempt(i + 1, e)).collect();
        let mut outcome = crate::model::result::Outcome::empty("r".into());
        outcome.results.push(crate::model::repeat::combine(job, attempts, tolerate_flaky));
        String::from_utf8(render(&outcome, "s").unwrap()).unwrap()
    }

    fn failed() -> Execution {
        Execution::Failed { exit_code: 1, why: None }
    }

    fn test(name: &str, outcome: TestOutcome, traceback: Option<&str>) -> InnerTest {
        InnerTest {
            name: name.into(),
            outcome,
            message: Some(format!("{name} message")),
            traceback: traceback.map(str::to_string),
            duration_s: 0.1,
            hunt_leaks: None,
            peak_bytes: None,
        }
    }

    #[test]
    fn cases_are_unique_per_variant_errors_are_errors_and_totals_are_the_elements() {
        use crate::model::inner::{Harness, InnerReport};
        use crate::model::job::{PythonMalloc, Variant};
        use crate::model::status::FailureCause;
        let mut outcome = Outcome::empty("r".into());
        for malloc in [PythonMalloc::Malloc, PythonMalloc::Pymalloc] {
            let why =
                FailureCause::TestsFailed { failed: 2, total: 3, names: vec!["t::a".into(), "t::b".into()] };
            let mut r = result("test_x.py", Execution::Failed { exit_code: 1, why: Some(why) }, "", "");
            r.job.variant = Variant { python_malloc: Some(malloc), python: "3.13".parse().ok() };
            r.inner = Some(InnerReport {
                harness: Harness::Pytest,
                tests: vec![
                    test(
                        "t::a",
                        TestOutcome::Failed,
                        Some("Traceback (most recent call last):\n  assert 1 == 2"),
                    ),
                    test("t::b", TestOutcome::Error, None),
                    test("t::c", TestOutcome::Passed, None),
                ],
                ..InnerReport::default()
            });
            outcome.results.push(r);
        }
        outcome.results.push(result("test_crash.py", Execution::Crashed { signal: 11 }, "", ""));
        let xml = String::from_utf8(render(&outcome, SUITE).unwrap()).unwrap();
        let run = attributes_of(&xml, "testsuites");
        assert_eq!(
            (get(&run, "tests"), get(&run, "failures"), get(&run, "errors")),
            (Some("9"), Some("3"), Some("2")),
            "2 failed tests, 1 crashed module, 2 errors: {xml}"
        );
        assert_eq!(xml.matches("<failure").count(), 3, "{xml}");
        assert_eq!(xml.matches("<error").count(), 2, "{xml}");
        assert!(xml.contains(r#"<testcase name="t::a" classname="test_x.py [malloc, 3.13]""#), "{xml}");
        assert!(xml.contains(r#"<testcase name="t::a" classname="test_x.py [pymalloc, 3.13]""#), "{xml}");
        assert!(xml.contains("Traceback (most recent call last):\n  assert 1 == 2</failure>"), "{xml}");
    }

    #[test]
    fn reruns_are_marked_the_way_nextest_marks_them() {
        let tolerated = xml(vec![failed(), Execution::Passed], true);
        assert_eq!(tolerated.matches("<flakyFailure").count(), 1, "{tolerated}");
        assert!(tolerated.contains("message=\"attempt 1: exit code 1\""), "{tolerated}");
        assert!(!tolerated.contains("<failure"), "{tolerated}");
        assert!(
            tolerated.contains("<testsuite name=\"test_a.py\" tests=\"1\" failures=\"0\""),
            "{tolerated}"
        );

        let flaky = xml(vec![failed(), Execution::Passed], false);
        assert_eq!(flaky.matches("<flakyFailure").count(), 1, "{flaky}");
        assert!(flaky.contains("<failure message=\"passed 1 of 2 attempts"), "{flaky}");

        let failing = xml(vec![failed(), failed(), failed()], false);
        assert_eq!(failing.matches("<rerunFailure").count(), 2, "{failing}");
        assert_eq!(failing.matches("<failure").count(), 1, "{failing}");

        let once = xml(vec![failed()], false);
        assert!(!once.contains("rerunFailure") && !once.contains("flakyFailure"), "{once}");
    }
}
