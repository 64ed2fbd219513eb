//! `--junit`: JUnit XML, one `testcase` per result, as CI systems read it.

use std::path::Path;

use anyhow::{Context, Result};
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::model::repeat::Attempt;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::{Status, Tally};
use crate::report::{FileReport, ReportContext};

pub const REPORT: FileReport = FileReport { flag: "junit", path: |args| args.junit.as_deref(), write };

/// The suite's name.
const SUITE: &str = "pymaccounter";

/// Lines of stderr kept in a failure's body.
const STDERR_TAIL_LINES: usize = 40;

pub fn render(outcome: &Outcome, suite_name: &str) -> Result<Vec<u8>> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let counts = outcome.counts();
    let total_time: f64 = outcome.results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let tests = (outcome.results.len() + outcome.not_run.len()).to_string();
    let failures = counts.failed.to_string();
    let skipped = (counts.skipped + outcome.not_run.len()).to_string();
    let time = format!("{total_time:.3}");
    let attributes = [
        ("name", suite_name),
        ("tests", &tests),
        ("failures", &failures),
        ("errors", "0"),
        ("skipped", &skipped),
        ("time", &time),
    ];
    writer.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(attributes)))?;
    writer.write_event(Event::Start(BytesStart::new("testsuite").with_attributes(attributes)))?;
    for result in &outcome.results {
        testcase(&mut writer, result, suite_name)?;
    }
    for job in &outcome.not_run {
        let name = job.label();
        let case =
            BytesStart::new("testcase").with_attributes([("name", name.as_str()), ("classname", suite_name)]);
        writer.write_event(Event::Start(case))?;
        let skipped = BytesStart::new("skipped").with_attributes([("message", "not run")]);
        writer.write_event(Event::Empty(skipped))?;
        writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut xml = writer.into_inner();
    xml.push(b'\n');
    Ok(xml)
}

fn testcase(writer: &mut Writer<Vec<u8>>, result: &ModuleResult, suite_name: &str) -> Result<()> {
    let name = result.job.label();
    let time = format!("{:.3}", result.duration.as_secs_f64());
    let case = BytesStart::new("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", suite_name),
        ("time", time.as_str()),
    ]);
    writer.write_event(Event::Start(case))?;
    let status = result.status();
    match result.tally() {
        Tally::Passed => {}
        Tally::Skipped => {
            let message = result.stdout.text().lines().last().unwrap_or("skipped").to_string();
            writer.write_event(Event::Empty(
                BytesStart::new("skipped").with_attributes([("message", message.as_str())]),
            ))?;
        }
        Tally::Failed => {
            let reason = result.execution.reason().unwrap_or_else(|| status.to_string());
            let failure = BytesStart::new("failure")
                .with_attributes([("message", reason.as_str()), ("type", status.name())]);
            writer.write_event(Event::Start(failure))?;
            writer.write_event(Event::Text(BytesText::new(&xml_safe(&stderr_tail(result)))))?;
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
fn reruns(writer: &mut Writer<Vec<u8>>, result: &ModuleResult) -> Result<()> {
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
        let message = attempt.execution.reason().unwrap_or_else(|| status.to_string());
        let message = format!("attempt {}: {message}", attempt.number);
        let element =
            BytesStart::new(tag).with_attributes([("message", message.as_str()), ("type", status.name())]);
        writer.write_event(Event::Start(element))?;
        output(writer, &attempt.stdout.text(), &attempt.stderr.text())?;
        writer.write_event(Event::End(BytesEnd::new(tag)))?;
    }
    Ok(())
}

/// `system-out` and `system-err`, each when not empty.
fn output(writer: &mut Writer<Vec<u8>>, stdout: &str, stderr: &str) -> Result<()> {
    for (tag, text) in [("system-out", stdout), ("system-err", stderr)] {
        if !text.is_empty() {
            writer.write_event(Event::Start(BytesStart::new(tag)))?;
            // CDATA cannot hold "]]>": end the section between "]]" and ">".
            let text = xml_safe(text);
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

/// XML 1.0 cannot carry most control characters (a module may print ANSI colours).
fn xml_safe(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r')).collect()
}

fn stderr_tail(result: &ModuleResult) -> String {
    let text = result.stderr.text();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

pub fn write(outcome: &Outcome, _context: &ReportContext, path: &Path) -> Result<()> {
    std::fs::write(path, render(outcome, SUITE)?)
        .with_context(|| format!("cannot write the JUnit report to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::job::{Job, Variant};
    use crate::model::repeat::combine;
    use crate::model::status::Execution;
    use crate::runner::capture::Captured;

    fn attempt(number: usize, execution: Execution) -> Attempt {
        Attempt {
            number,
            execution,
            duration: Duration::from_secs(1),
            peak_rss_bytes: Some(1 << 20),
            stdout: Captured::from_text("out\n"),
            stderr: Captured::from_text(&format!("err {number}\n")),
        }
    }

    fn xml(endings: Vec<Execution>, tolerate_flaky: bool) -> String {
        let job =
            Job { index: 0, module: "test_a.py".into(), variant: Variant::default(), image: "i".into() };
        let attempts = endings.into_iter().enumerate().map(|(i, e)| attempt(i + 1, e)).collect();
        let mut outcome = crate::model::result::Outcome::empty("r".into());
        outcome.results.push(combine(job, attempts, tolerate_flaky));
        String::from_utf8(render(&outcome, "s").unwrap()).unwrap()
    }

    fn failed() -> Execution {
        Execution::Failed { exit_code: 1, reason: None }
    }

    #[test]
    fn reruns_are_marked_the_way_nextest_marks_them() {
        let tolerated = xml(vec![failed(), Execution::Passed], true);
        assert_eq!(tolerated.matches("<flakyFailure").count(), 1, "{tolerated}");
        assert!(tolerated.contains("message=\"attempt 1: exit code 1\""), "{tolerated}");
        assert!(!tolerated.contains("<failure"), "{tolerated}");

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
