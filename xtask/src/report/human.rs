//! What a person at a terminal (or reading a CI log) sees.

use std::io::IsTerminal;

use crate::model::choice::Choice;
use crate::model::event::{Event, Notice, Notices};
use crate::model::inner::LeakHunt;
use crate::model::memray::MemraySummary;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::Tally;
use crate::report::terminal::{colour_stdout, paint_status, StatusLine};
use crate::report::{human_bytes, words, Row};
use crate::sanitize;

/// What the block of a module that passed (or skipped) shows; the block of
/// one that did not pass always shows both streams and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessOutput {
    Stdout,
    Both,
    None,
}

impl Choice for SuccessOutput {
    const ALL: &'static [SuccessOutput] = &[SuccessOutput::Stdout, SuccessOutput::Both, SuccessOutput::None];

    fn name(self) -> &'static str {
        match self {
            SuccessOutput::Stdout => "stdout",
            SuccessOutput::Both => "both",
            SuccessOutput::None => "none",
        }
    }

    fn help(self) -> &'static str {
        match self {
            SuccessOutput::Stdout => "Its stdout",
            SuccessOutput::Both => "Its stdout, then its stderr (unittest's \"Ran N tests ... OK\")",
            SuccessOutput::None => "The heading only",
        }
    }
}

/// The notices of engine calls and image builds, as a person sees them:
/// command lines and build logs with `--debug` (else a build's latest line
/// on the status line), the notes always.
pub fn notices(debug: bool) -> Notices {
    let status_line = std::sync::Mutex::new(StatusLine::new());
    // The fallback note is said once per base (watch would repeat it each round).
    let fallbacks_said = std::sync::Mutex::new(std::collections::BTreeSet::new());
    Notices::to(move |notice| {
        match notice {
        Notice::Command(line) if debug => say!("$ {}", sanitize::terminal_line(line)),
        Notice::CommandStderr(text) if debug => say!("{}", sanitize::terminal(text)),
        Notice::Command(_) | Notice::CommandStderr(_) => {}
        Notice::LogLine { line, .. } if debug => say!("{}", sanitize::terminal_line(line)),
        Notice::LogLine { task, line } => {
            let status_line = status_line.lock().unwrap_or_else(|e| e.into_inner());
            status_line.show(&format!("{task}: {}", sanitize::terminal_line(line)));
        }
        Notice::LogEnded => status_line.lock().unwrap_or_else(|e| e.into_inner()).clear(),
        Notice::OfflineFallback { wanted, offline, suite } => {
            if fallbacks_said.lock().unwrap_or_else(|e| e.into_inner()).insert(wanted.clone()) {
                say!("note: {wanted} is not available here (no registry?); using the offline base {offline} (Debian {suite})");
            }
        }
        Notice::BuildingBase { image, suite, mirror, packages } => say!(
            "Building offline base {image} from Debian {suite} ({mirror}: {packages}); this takes about a minute ..."
        ),
        Notice::BuiltBase { image } => say!("Built offline base {image}."),
        Notice::BuildingImage { reference, base } => say!("Building test image {reference} from {base} ..."),
        Notice::LayersLeft { error } => say!("warning: could not remove the failed build's layers: {error}"),
    }
    })
}

pub struct Human {
    test_dir: String,
    width: usize,
    live_stderr: bool,
    success_output: SuccessOutput,
    colour: bool,
    status_line: StatusLine,
    total: usize,
    finished: usize,
    running: Vec<String>,
    /// On GitHub Actions, a token that switches workflow commands off around
    /// module output, so a module printing `::error::` or `::add-mask::`
    /// lines cannot speak to the runner of the workflow.
    stop_commands: Option<String>,
}

impl Human {
    pub fn new(test_dir: &str, live_stderr: bool, success_output: SuccessOutput, total: usize) -> Human {
        Human {
            test_dir: test_dir.to_string(),
            width: terminal_width(),
            live_stderr,
            success_output,
            colour: colour_stdout(),
            status_line: StatusLine::new(),
            total,
            finished: 0,
            running: Vec::new(),
            stop_commands: (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(stop_token),
        }
    }

    pub fn event(&mut self, event: &Event) {
        self.status_line.clear();
        match event {
            Event::Started(job) => {
                let label = sanitize::terminal_line(&job.label()).into_owned();
                if self.live_stderr {
                    say!("started {label}");
                }
                self.running.push(label);
            }
            Event::Stderr(job, chunk) => {
                let label = sanitize::terminal_line(&job.label()).into_owned();
                for line in String::from_utf8_lossy(chunk).lines() {
                    say!("[{label}] {}", sanitize::terminal_line(line));
                }
            }
            Event::Finished(result) => {
                let label = sanitize::terminal_line(&result.job.label()).into_owned();
                self.running.retain(|r| *r != label);
                self.finished += 1;
                self.module_block(result);
            }
            Event::Interrupting => say!("Interrupted: stopping and removing this run's containers ..."),
        }
        if !self.running.is_empty() {
            self.status_line.show(&format!(
                "[{}/{}] running: {}",
                self.finished,
                self.total,
                self.running.join(", ")
            ));
        }
    }

    fn module_block(&self, result: &ModuleResult) {
        crate::print_quietly(self.render_block(result).as_bytes());
    }

    /// A module's block: rule, heading, then what `--success-output` asks
    /// for; stdout, stderr and the reason when it did not pass.
    fn render_block(&self, result: &ModuleResult) -> String {
        let block = self.render_module_block(result);
        match &self.stop_commands {
            Some(token) => format!("::stop-commands::{token}\n{block}::{token}::\n"),
            None => block,
        }
    }

    fn render_module_block(&self, result: &ModuleResult) -> String {
        let mut block = String::new();
        block.push_str(&"─".repeat(self.width));
        block.push('\n');
        let path = format!("{}/{}", self.test_dir, result.job.module);
        block.push_str(&format!("Test results for {}", sanitize::terminal_line(&path)));
        if let Some(variant) = result.job.variant.long() {
            block.push_str(&format!(" ({variant})"));
        }
        block.push_str(":\n");
        // Counted as passed or skipped (a tolerated flaky result too): what
        // --success-output asks for; anything counted as failed shows all.
        let passed = result.tally() != Tally::Failed;
        if !passed || self.success_output != SuccessOutput::None {
            push_text(&mut block, &sanitize::terminal(&result.stdout.text()));
        }
        if let Some(hunt) = result.inner.as_ref().and_then(|i| i.hunt_leaks.as_ref()) {
            block.push_str(&leak_hunt_line(hunt));
        }
        if let Some(memray) = &result.memray {
            block.push_str(&sanitize::terminal(&memray_lines(memray)));
        }
        if !result.attempts.is_empty() {
            block.push_str(&format!("({})\n", crate::report::words::attempts(&result.attempts)));
        }
        let status = result.status();
        if !passed || self.success_output == SuccessOutput::Both {
            let stderr = result.stderr.text();
            if !stderr.trim().is_empty() {
                block.push_str("--- stderr ---\n");
                push_text(&mut block, &sanitize::terminal(&stderr));
            }
            for test in result.inner.iter().flat_map(|i| &i.tests).filter(|t| t.failed()) {
                let message = test.message.as_deref().unwrap_or(test.outcome.name());
                block.push_str(&sanitize::terminal(&format!(
                    "{} {}: {message}\n",
                    test.outcome.name().to_uppercase(),
                    test.name
                )));
            }
        }
        // A skip says why, last, as a failure does.
        if let (Tally::Skipped, Some(reason)) = (result.tally(), words::reason(&result.execution)) {
            let label = paint_status(status, &status.name().to_uppercase(), self.colour);
            block.push_str(&format!("{label}: {}\n", sanitize::terminal(&reason)));
        }
        if !passed {
            let reason = words::reason(&result.execution).unwrap_or_else(|| "did not pass".into());
            let reason = sanitize::terminal(&reason);
            let status = paint_status(status, &status.name().to_uppercase(), self.colour);
            block.push_str(&format!("{status}: {reason}\n"));
        }
        block
    }

    pub fn summary(&self, outcome: &Outcome) {
        self.status_line.clear();
        crate::print_quietly(self.render_summary(outcome).as_bytes());
    }

    /// The summary table, what did not run, and the closing line (last).
    fn render_summary(&self, outcome: &Outcome) -> String {
        let mut out = String::new();
        out.push_str(&"═".repeat(self.width));
        out.push('\n');
        let with_python = outcome.results.iter().any(|r| r.job.variant.python.is_some());
        let python_width =
            outcome.results.iter().map(|r| r.job.variant.python_version().len()).max().unwrap_or(6).max(6);
        let with_baseline = outcome.results.iter().any(|r| r.baseline.is_some());
        let modules: Vec<String> =
            outcome.results.iter().map(|r| sanitize::terminal_line(&r.job.module).into_owned()).collect();
        let module_width = modules.iter().map(|m| m.chars().count()).max().unwrap_or(6).max(6);
        let mut header = format!("{:<module_width$}  {:<14}", "module", "allocator");
        if with_python {
            header.push_str(&format!("  {:<python_width$}", "python"));
        }
        header.push_str(&format!("  {:<11}  {:>9}  {:>11}", "status", "duration", "peak memory"));
        let with_tests = outcome.results.iter().any(|r| r.test_counts().is_some());
        if with_tests {
            header.push_str(&format!("  {:<20}", "tests"));
        }
        if with_baseline {
            header.push_str("  vs baseline");
        }
        header.push('\n');
        out.push_str(&header);
        for (result, module) in outcome.results.iter().zip(&modules) {
            let row = Row::of(result);
            let mut line = format!("{module:<module_width$}  {:<14}", row.allocator);
            if with_python {
                line.push_str(&format!("  {:<python_width$}", row.python));
            }
            let status = paint_status(row.status, &format!("{:<11}", row.status.name()), self.colour);
            line.push_str(&format!("  {status}  {:>9}  {:>11}", row.duration, row.peak));
            if with_tests {
                line.push_str(&format!("  {:<20}", row.tests.as_deref().unwrap_or("")));
            }
            if let Some(change) = &row.vs_baseline {
                line.push_str(&format!("  {change}"));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if !outcome.not_run.is_empty() {
            let why = if outcome.interrupted {
                "interrupted"
            } else if outcome.fail_fast_tripped {
                "--fail-fast"
            } else {
                "the run stopped"
            };
            let names: Vec<String> =
                outcome.not_run.iter().map(|j| sanitize::terminal_line(&j.label()).into_owned()).collect();
            out.push_str(&format!("{} not run ({why}): {}\n", names.len(), names.join(", ")));
        }
        out.push_str(&outcome.counts().closing_line());
        out.push('\n');
        out
    }
}

/// A token no module can guess: it reaches no container.
fn stop_token() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("pymaccounter-{:x}-{nanos:x}", std::process::id())
}

/// `leak hunt 3:3: references [0, 0, 0], memory blocks [...], file descriptors [...]`.
fn leak_hunt_line(hunt: &LeakHunt) -> String {
    let refs = match &hunt.refs {
        Some(refs) => format!("{refs:?}"),
        None => "not measured (release build: no sys.gettotalrefcount; use a -dbg Python)".into(),
    };
    match hunt.failed_run {
        Some(run) => format!("leak hunt {}:{}: stopped, run {run} failed\n", hunt.warmups, hunt.runs),
        None => format!(
            "leak hunt {}:{}: references {refs}, memory blocks {:?}, file descriptors {:?}\n",
            hunt.warmups, hunt.runs, hunt.blocks, hunt.fds
        ),
    }
}

/// memray's figures, its five largest allocation sites and the flame graph.
fn memray_lines(memray: &MemraySummary) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    let mut text = format!("memray: {}\n", super::memray_figures(memray));
    for site in &memray.top_allocations_by_size {
        text.push_str(&format!(
            "  {:>10}  {}\n",
            bytes(site.size_bytes),
            site.location.as_deref().unwrap_or("?")
        ));
    }
    if let Some(path) = &memray.flamegraph_path {
        text.push_str(&format!("  {} flame graph: {}\n", memray.flamegraph, path.display()));
    }
    text
}

fn push_text(block: &mut String, text: &str) {
    block.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        block.push('\n');
    }
}

/// The terminal's width, or 80 when stdout is not a terminal.
fn terminal_width() -> usize {
    if !std::io::stdout().is_terminal() {
        return 80;
    }
    terminal_size::terminal_size().map_or(80, |(width, _)| usize::from(width.0).clamp(20, 400))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::captured::Captured;
    use crate::model::job::{Job, PythonMalloc, Variant};
    use crate::model::status::Execution;

    fn plain() -> Human {
        Human {
            test_dir: "python_tests".into(),
            width: 80,
            live_stderr: false,
            success_output: SuccessOutput::Stdout,
            colour: false,
            status_line: StatusLine::disabled(),
            total: 2,
            finished: 0,
            running: Vec::new(),
            stop_commands: None,
        }
    }

    #[test]
    fn on_github_module_output_cannot_issue_workflow_commands() {
        let human = Human { stop_commands: Some("tok".into()), ..plain() };
        let block = human.render_block(&result("test_a.py", Execution::Passed, ""));
        assert!(block.starts_with("::stop-commands::tok\n"), "{block}");
        assert!(block.ends_with("::tok::\n"), "{block}");
        assert_ne!(stop_token(), stop_token(), "each run's token differs");
    }

    fn job(module: &str, malloc: Option<PythonMalloc>) -> Job {
        let variant = Variant { python_malloc: malloc, python: None };
        Job { index: 0, module: module.into(), variant, image: "img".into() }
    }

    fn result(module: &str, execution: Execution, stderr: &str) -> ModuleResult {
        ModuleResult {
            job: job(module, None),
            duration: Duration::from_millis(1500),
            peak_rss_bytes: Some(8 * 1024 * 1024),
            ..ModuleResult::sample(module, execution, "45\n", stderr)
        }
    }

    #[test]
    fn a_passing_block_is_rule_heading_and_stdout() {
        let block = plain().render_block(&result("test_a.py", Execution::Passed, "noise\n"));
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0].chars().count(), 80);
        assert_eq!(&lines[1..], ["Test results for python_tests/test_a.py:", "45"]);
    }

    #[test]
    fn success_output_chooses_what_a_passing_or_skipped_block_shows() {
        let heading = "Test results for python_tests/test_a.py:";
        let shown = |success_output, execution| {
            let human = Human { success_output, ..plain() };
            let block = human.render_block(&result("test_a.py", execution, "Ran 3 tests\n\nOK\n"));
            block.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
        };
        for execution in [Execution::Passed, Execution::Skipped { why: None }] {
            assert_eq!(shown(SuccessOutput::Stdout, execution.clone()), [heading, "45"]);
            assert_eq!(
                shown(SuccessOutput::Both, execution.clone()),
                [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK"]
            );
            assert_eq!(shown(SuccessOutput::None, execution), [heading]);
        }
        // A skip's reason is the runner's line: it stays, last, whatever is shown.
        let skipped = Execution::Skipped { why: Some(crate::model::status::SkipCause::LeakInvisibleHere) };
        let skip_line = format!("SKIP: {}", words::reason(&skipped).unwrap());
        assert_eq!(
            shown(SuccessOutput::Both, skipped.clone()),
            [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK", &skip_line]
        );
        assert_eq!(shown(SuccessOutput::None, skipped), [heading, &skip_line]);
        let failed = Execution::Failed { exit_code: 1, why: None };
        for success_output in [SuccessOutput::Stdout, SuccessOutput::Both, SuccessOutput::None] {
            assert_eq!(
                shown(success_output, failed.clone()),
                [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK", "FAIL: exit code 1"]
            );
        }
    }

    #[test]
    fn a_failing_block_adds_stderr_and_the_reason() {
        let failed = Execution::Failed { exit_code: 1, why: None };
        let block = plain().render_block(&result("test_a.py", failed, "AssertionError: no\n"));
        assert!(block.ends_with("--- stderr ---\nAssertionError: no\nFAIL: exit code 1\n"), "{block}");
    }

    #[test]
    fn module_text_and_names_cannot_act_on_the_terminal() {
        let failed = Execution::Failed { exit_code: 1, why: None };
        let mut r = result("test_\x1b]0;t\x07.py", failed, "\x1b[2J\rFAKE\n");
        r.stdout = Captured::from_text("\x1b[?25lhidden\u{9b}\n\tindented\n");
        let block = plain().render_block(&r);
        assert!(!block.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{block:?}");
        assert!(block.contains("Test results for python_tests/test_\\x1b]0;t\\x07.py:\n"), "{block}");
        assert!(block.contains("\\x1b[?25lhidden\\x9b\n\tindented\n"), "{block}");
        assert!(block.contains("\\x1b[2J\\rFAKE\n"), "{block}");
        let outcome = Outcome {
            run_id: "r".into(),
            results: vec![r],
            not_run: vec![job("test_\r.py", None)],
            interrupted: true,
            fail_fast_tripped: false,
            engine_error: None,
            ..Outcome::empty("r".into())
        };
        let summary = plain().render_summary(&outcome);
        assert!(!summary.chars().any(|c| c.is_control() && c != '\n'), "{summary:?}");
        assert!(summary.contains("1 not run (interrupted): test_\\r.py\n"), "{summary}");
    }

    #[test]
    fn the_heading_names_the_allocator_in_a_matrix() {
        let mut r = result("test_a.py", Execution::Passed, "");
        r.job = job("test_a.py", Some(PythonMalloc::Malloc));
        assert!(plain()
            .render_block(&r)
            .contains("Test results for python_tests/test_a.py (PYTHONMALLOC=malloc):"));
    }

    #[test]
    fn the_summary_ends_with_the_closing_line() {
        let outcome = Outcome {
            run_id: "r1".into(),
            results: vec![
                result("test_a.py", Execution::Passed, ""),
                result("test_b.py", Execution::Skipped { why: None }, ""),
                result("test_c.py", Execution::OomKilled { container_peak: None, process_peak: None }, ""),
            ],
            not_run: vec![job("test_d.py", None)],
            interrupted: false,
            fail_fast_tripped: true,
            engine_error: None,
            ..Outcome::empty("r".into())
        };
        let summary = plain().render_summary(&outcome);
        let lines: Vec<&str> = summary.lines().collect();
        assert!(lines[1].starts_with("module"), "{summary}");
        assert!(
            lines[4].starts_with("test_c.py") && lines[4].contains("oom") && lines[4].contains("8.0 MiB")
        );
        assert_eq!(lines[5], "1 not run (--fail-fast): test_d.py");
        assert_eq!(*lines.last().unwrap(), "1 passed, 1 failed, 1 skipped");
    }
}
