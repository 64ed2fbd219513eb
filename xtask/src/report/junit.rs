//! `--junit`: JUnit XML, one `testcase` per result, as CI systems read it.

use std::path::Path;

use anyhow::{Context, Result};
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::Tally;
use crate::report::{sanitize, FileReport, ReportContext};

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
    let suite_name = &*sanitize::xml(suite_name);
    let attributes =
        [("name", suite_name), ("tests", &tests), ("failures", &failures), ("errors", "0"), ("time", &time)];
    // The common JUnit schema (junit-10.xsd) allows `skipped` on a testsuite only.
    writer.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(attributes)))?;
    writer.write_event(Event::Start(
        BytesStart::new("testsuite").with_attributes(attributes).with_attributes([("skipped", &*skipped)]),
    ))?;
    for result in &outcome.results {
        testcase(&mut writer, result, suite_name)?;
    }
    for job in &outcome.not_run {
        let name = sanitize::xml(&job.label()).into_owned();
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
    let name = sanitize::xml(&result.job.label()).into_owned();
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
            let stdout = result.stdout.text();
            let message = sanitize::xml(stdout.lines().last().unwrap_or("skipped")).into_owned();
            writer.write_event(Event::Empty(
                BytesStart::new("skipped").with_attributes([("message", message.as_str())]),
            ))?;
        }
        Tally::Failed => {
            let reason = result.execution.reason().unwrap_or_else(|| status.to_string());
            let reason = sanitize::xml(&reason).into_owned();
            let failure = BytesStart::new("failure")
                .with_attributes([("message", reason.as_str()), ("type", status.name())]);
            writer.write_event(Event::Start(failure))?;
            writer.write_event(Event::Text(BytesText::new(&sanitize::xml(&stderr_tail(result)))))?;
            writer.write_event(Event::End(BytesEnd::new("failure")))?;
        }
    }
    for (tag, text) in [("system-out", result.stdout.text()), ("system-err", result.stderr.text())] {
        if !text.is_empty() {
            writer.write_event(Event::Start(BytesStart::new(tag)))?;
            // CDATA cannot hold "]]>": end the section between "]]" and ">".
            let text = sanitize::xml(&text);
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
    use super::*;
    use crate::model::status::Execution;

    fn result(module: &str, execution: Execution, stdout: &str, stderr: &str) -> ModuleResult {
        ModuleResult::sample(module, execution, stdout, stderr)
    }

    #[test]
    fn hostile_text_and_names_give_xml_1_0_characters_only() {
        let hostile = "a\x1b[31m\x07\x08\x00\u{fffe}\u{ffff}]]>b\r\n";
        let outcome = Outcome {
            run_id: "r".into(),
            results: vec![
                result(&format!("test_{hostile}.py"), Execution::Skipped, hostile, ""),
                result(
                    "test_f.py",
                    Execution::Failed { exit_code: 1, reason: Some(format!("exit code 1{hostile}")) },
                    hostile,
                    hostile,
                ),
            ],
            not_run: vec![],
            interrupted: false,
            fail_fast_tripped: false,
            engine_error: None,
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
}
