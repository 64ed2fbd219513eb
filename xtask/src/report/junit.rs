//! `--junit`: JUnit XML, one `testcase` per result, as CI systems read it.

use std::path::Path;

use anyhow::{Context, Result};
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::Tally;
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
    match status.tally() {
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
    for (tag, text) in [("system-out", result.stdout.text()), ("system-err", result.stderr.text())] {
        if !text.is_empty() {
            writer.write_event(Event::Start(BytesStart::new(tag)))?;
            // CDATA cannot hold "]]>": end the section between "]]" and ">".
            let text = xml_safe(&text);
            let pieces: Vec<&str> = text.split("]]>").collect();
            for (i, piece) in pieces.iter().enumerate() {
                let open = if i == 0 { "" } else { ">" };
                let close = if i + 1 < pieces.len() { "]]" } else { "" };
                writer.write_event(Event::CData(BytesCData::new(format!("{open}{piece}{close}"))))?;
            }
            writer.write_event(Event::End(BytesEnd::new(tag)))?;
        }
    }
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
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
