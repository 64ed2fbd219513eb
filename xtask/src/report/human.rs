//! What a person at a terminal (or reading a CI log) sees.

use crate::model::choice::Choice;
use crate::model::event::{Event, Notice, Notices};
use crate::model::inner::{InnerTest, LeakHunt};
use crate::model::memray::MemraySummary;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::series::MemorySeries;
use crate::model::status::Tally;
use crate::report::table::{self, Column};
use crate::report::terminal::{
    colour_stdout, paint_status, paint_tally, terminal_width, utf8_locale, StatusLine,
};
use crate::report::{human_bytes, words, Row};
use crate::sanitize;

/// What the block of a module that passed (or skipped) shows; the block of
/// one that did not pass always shows both streams and the reason.
/// What the block of a module that passed (or skipped) shows (`-q`, `-v`);
/// the block of one that did not pass always shows both streams and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Its stdout (the default: a demonstration's output is what it shows).
    Stdout,
    /// Its stdout, then its stderr (`-v`; unittest's "Ran N tests ... OK").
    Both,
    /// The heading only (`-q`).
    None,
}

/// When the output of a module that passed is shown: nextest's
/// `--success-output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessOutput {
    Immediate,
    Final,
    ImmediateFinal,
    Never,
}

impl Choice for SuccessOutput {
    const ALL: &'static [SuccessOutput] = &[
        SuccessOutput::Immediate,
        SuccessOutput::Final,
        SuccessOutput::ImmediateFinal,
        SuccessOutput::Never,
    ];

    fn name(self) -> &'static str {
        match self {
            SuccessOutput::Immediate => "immediate",
            SuccessOutput::Final => "final",
            SuccessOutput::ImmediateFinal => "immediate-final",
            SuccessOutput::Never => "never",
        }
    }

    fn help(self) -> &'static str {
        match self {
            SuccessOutput::Immediate => "In its block, as it finishes",
            SuccessOutput::Final => "After every module finished, before the summary",
            SuccessOutput::ImmediateFinal => "Both as it finishes and at the end",
            SuccessOutput::Never => "Never: its block is the heading only",
        }
    }
}

/// How a run shows modules' output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Showing {
    pub shown: Shown,
    pub when: SuccessOutput,
    /// Stream stderr as it comes (`--debug`, `-s`), and stdout too (`-s`).
    pub live_stderr: bool,
    pub live_stdout: bool,
}

impl Showing {
    /// The default: passing modules' stdout in their blocks, nothing live.
    pub fn plain() -> Showing {
        Showing {
            shown: Shown::Stdout,
            when: SuccessOutput::Immediate,
            live_stderr: false,
            live_stdout: false,
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
        Notice::Command(_) => {}
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
        Notice::BuildingEnvironment { project, python } => {
            say!("Building the environment of {project} for Python {python} ...")
        }
        Notice::GettingTools { tools, python } => {
            say!("Getting {tools} for Python {python} from the package index (no project: the runner's tools) ...")
        }
        Notice::ToolsFromBase { python } => say!(
            "note: no package index answered: Python {python} runs the base image's own tools (the summary says which pytest)"
        ),
        Notice::InstallingInstaller { folder } => say!("Installing uv into {folder} (pip install uv) ..."),
    }
    })
}

pub struct Human {
    test_dir: String,
    width: usize,
    /// Block characters for sparklines, else ASCII.
    utf8: bool,
    showing: Showing,
    /// Blocks of passing modules kept for the end (`--success-output final`).
    deferred: Vec<String>,
    colour: bool,
    status_line: StatusLine,
    total: usize,
    finished: usize,
    /// Finished jobs that counted as failed, so far.
    failed: usize,
    /// The start of a line of live stderr (`--debug`, `-s`) whose end has not come yet, per job.
    partial_lines: std::collections::HashMap<usize, Vec<u8>>,
    /// The same for live stdout (`-s`).
    partial_stdout: std::collections::HashMap<usize, Vec<u8>>,
    /// Running jobs, with when each started.
    running: Vec<(String, std::time::Instant)>,
    started: std::time::Instant,
    /// On GitHub Actions, a token that switches workflow commands off around
    /// module output, so a module printing `::error::` or `::add-mask::`
    /// lines cannot speak to the runner of the workflow.
    stop_commands: Option<String>,
}

impl Human {
    pub fn new(test_dir: &str, showing: Showing, total: usize) -> Human {
        Human {
            test_dir: test_dir.to_string(),
            width: terminal_width(),
            utf8: utf8_locale(),
            showing,
            deferred: Vec::new(),
            colour: colour_stdout(),
            status_line: StatusLine::new(),
            total,
            finished: 0,
            failed: 0,
            partial_lines: Default::default(),
            partial_stdout: Default::default(),
            running: Vec::new(),
            started: std::time::Instant::now(),
            stop_commands: (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(stop_token),
        }
    }

    pub fn event(&mut self, event: &Event) {
        self.status_line.clear();
        match event {
            Event::Started(job) => {
                let label = sanitize::terminal_line(&job.label()).into_owned();
                if self.showing.live_stderr {
                    say!("started {label}");
                }
                self.running.push((label, std::time::Instant::now()));
            }
            Event::Stdout(job, chunk) => {
                let label = sanitize::terminal_line(&job.label()).into_owned();
                let pending = self.partial_stdout.entry(job.index).or_default();
                for line in whole_lines(pending, chunk) {
                    out!("[{label}] {}", sanitize::terminal_line(&line));
                }
            }
            Event::Stderr(job, chunk) => {
                let label = sanitize::terminal_line(&job.label()).into_owned();
                let pending = self.partial_lines.entry(job.index).or_default();
                for line in whole_lines(pending, chunk) {
                    say!("[{label}] {}", sanitize::terminal_line(&line));
                }
            }
            Event::Finished(result) => {
                let label = sanitize::terminal_line(&result.job.label()).into_owned();
                if let Some(rest) = self.partial_lines.remove(&result.job.index).filter(|r| !r.is_empty()) {
                    let rest = String::from_utf8_lossy(&rest).into_owned();
                    if !is_protocol_line(&rest) {
                        say!("[{label}] {}", sanitize::terminal_line(&rest));
                    }
                }
                self.running.retain(|(r, _)| *r != label);
                self.finished += 1;
                self.failed += usize::from(result.tally() == Tally::Failed);
                self.module_block(result);
            }
            Event::Interrupting => say!("Interrupted: stopping and removing this run's containers ..."),
        }
        if !self.running.is_empty() {
            self.status_line.show(&self.progress(std::time::Instant::now()));
        }
    }

    /// `[3/18 4.2s] 2 passed, 1 failed; running: test_b.py 12s, test_c.py`:
    /// a module running for 10 s or more says for how long.
    fn progress(&self, now: std::time::Instant) -> String {
        let running: Vec<String> = self
            .running
            .iter()
            .map(|(label, since)| match now.duration_since(*since).as_secs() {
                secs @ 10.. => format!("{label} {secs}s"),
                _ => label.clone(),
            })
            .collect();
        format!(
            "[{}/{} {:.1}s] {} passed, {} failed; running: {}",
            self.finished,
            self.total,
            now.duration_since(self.started).as_secs_f64(),
            self.finished - self.failed,
            self.failed,
            running.join(", ")
        )
    }

    /// What a passing block shows: `-q`/`-v`, and nothing with `--success-output never`.
    fn shown(&self) -> Shown {
        match self.showing.when {
            SuccessOutput::Never => Shown::None,
            SuccessOutput::Immediate | SuccessOutput::Final | SuccessOutput::ImmediateFinal => {
                self.showing.shown
            }
        }
    }

    fn module_block(&mut self, result: &ModuleResult) {
        let passed = result.tally() != Tally::Failed;
        let (now, later) = match self.showing.when {
            _ if !passed => (true, false),
            SuccessOutput::Immediate | SuccessOutput::Never => (true, false),
            SuccessOutput::Final => (false, true),
            SuccessOutput::ImmediateFinal => (true, true),
        };
        if later {
            self.deferred.push(self.render_block(result));
        }
        if !now {
            return;
        }
        self.print_block(result);
    }

    fn print_block(&self, result: &ModuleResult) {
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
        let shown = self.shown();
        if !passed || shown != Shown::None {
            push_text(&mut block, &sanitize::terminal(&result.stdout.text()));
        }
        if let Some(inner) = &result.inner {
            if let Some(hunt) = &inner.hunt_leaks {
                block.push_str(&leak_hunt_line(hunt, &inner.tests));
            }
            let peaks = super::highest_peaks(&inner.tests);
            if !peaks.is_empty() && (!passed || shown != Shown::None) {
                let listed: Vec<String> =
                    peaks.iter().map(|(n, p)| format!("{n} {}", human_bytes(*p))).collect();
                block.push_str(&sanitize::terminal(&format!("highest test peaks: {}\n", listed.join(", "))));
            }
        }
        // Measures, like the output: a passing block under `-q` is its heading alone.
        if !passed || shown != Shown::None {
            if let Some(memray) = &result.memray {
                block.push_str(&sanitize::terminal(&memray_lines(memray, result.peak_rss_bytes)));
            }
            if let Some(series) = result.memory_series.as_ref().filter(|s| !s.is_empty()) {
                block.push_str(&memory_line(series, self.width, self.utf8));
            }
        }
        if !result.attempts.is_empty() {
            block.push_str(&format!("({})\n", crate::report::words::attempts(&result.attempts)));
        }
        let status = result.status();
        if !passed || shown == Shown::Both {
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
        for block in &self.deferred {
            crate::print_quietly(block.as_bytes());
        }
        crate::print_quietly(self.render_summary(outcome).as_bytes());
    }

    /// The summary table, what did not run, and the closing line (last).
    /// The table fits the terminal: a column nobody needs (the allocator
    /// when no matrix ran) is left out, and long names wrap in their cell.
    fn render_summary(&self, outcome: &Outcome) -> String {
        let mut out = String::new();
        out.push_str(&"═".repeat(self.width));
        out.push('\n');
        // A row's cells are made again each time they are needed (to measure
        // the columns, then to lay the row out): a merged run's 160,000 rows
        // are never all held at once.
        let any = |has: &dyn Fn(&ModuleResult) -> bool| outcome.results.iter().any(has);
        let with_allocator = any(&|r| r.job.variant.python_malloc.is_some());
        let with_python = any(&|r| r.job.variant.python.is_some());
        let with_tests = any(&|r| r.test_counts().is_some());
        let with_baseline = any(&|r| r.baseline.is_some());
        // The module's name wraps only when nothing else will do: then it
        // gets a line of its own (below).
        let mut columns = vec![Column::left("module")];
        if with_allocator {
            columns.push(Column::left("allocator"));
        }
        if with_python {
            columns.push(Column::left("python"));
        }
        let status_column = columns.len();
        columns.extend([Column::left("status"), Column::right("time"), Column::right("peak RSS")]);
        if with_tests {
            columns.push(Column::flexible("tests"));
        }
        if with_baseline {
            columns.push(Column::flexible("vs baseline"));
        }
        let cells_of = |result: &ModuleResult| {
            let row = Row::of(result);
            let mut cells = vec![sanitize::terminal_line(row.module).into_owned()];
            if with_allocator {
                cells.push(row.allocator.to_string());
            }
            if with_python {
                cells.push(row.python.to_string());
            }
            cells.extend([row.status.name().to_string(), row.duration, row.peak]);
            if with_tests {
                cells.push(row.tests.unwrap_or_default());
            }
            if with_baseline {
                cells.push(row.vs_baseline.unwrap_or_default());
            }
            cells
        };
        let paint = |row: Option<usize>, column: usize, cell: String| match row {
            Some(row) if column == status_column => {
                paint_status(Row::of(&outcome.results[row]).status, &cell, self.colour)
            }
            _ => cell,
        };
        // Each column's widest cell, with the module's name in it and without.
        let mut widest = table::widest(&columns);
        let mut widest_below = widest.clone();
        widest_below[0] = 0;
        for result in &outcome.results {
            let cells = cells_of(result);
            table::widen(&mut widest, &cells);
            table::widen(&mut widest_below[1..], &cells[1..]);
        }
        let widths = table::fit_widest(&columns, widest, self.width);
        if table::within(&widths, self.width) {
            let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
            out.push_str(&table::row_lines(&columns, &widths, &header, None, &paint).concat());
            for (index, result) in outcome.results.iter().enumerate() {
                out.push_str(
                    &table::row_lines(&columns, &widths, &cells_of(result), Some(index), &paint).concat(),
                );
            }
        } else {
            // Too wide for one line a row: each module's name on a line of its
            // own, its variants' rows below it (the empty first column indents them).
            let mut columns = columns;
            columns[0] = Column::left("");
            let widths = table::fit_widest(&columns, widest_below, self.width);
            let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
            out.push_str(&format!(
                "module\n{}",
                table::row_lines(&columns, &widths, &header, None, &paint).concat()
            ));
            let mut previous: Option<String> = None;
            for (index, result) in outcome.results.iter().enumerate() {
                let mut cells = cells_of(result);
                let module = std::mem::take(&mut cells[0]);
                if previous.as_deref() != Some(module.as_str()) {
                    for piece in table::wrap(&module, self.width) {
                        out.push_str(&piece);
                        out.push('\n');
                    }
                    previous = Some(module);
                }
                out.push_str(&table::row_lines(&columns, &widths, &cells, Some(index), &paint).concat());
            }
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
        // Which pytest ran, once per Python version (the first module's word for it).
        let mut pytests: Vec<(Option<String>, crate::model::inner::PytestRan)> = Vec::new();
        for result in &outcome.results {
            let Some(pytest) = result.inner.as_ref().and_then(|i| i.pytest.clone()) else { continue };
            let python = result.job.variant.python.map(|p| p.to_string());
            if !pytests.iter().any(|(seen, _)| *seen == python) {
                pytests.push((python, pytest));
            }
        }
        for line in words::pytest_ran(&pytests).iter().flat_map(|said| said.lines()) {
            out.push_str(&sanitize::terminal_line(line));
            out.push('\n');
        }
        // The wall time on its own line: the closing line stays `N passed, N
        // failed` alone, as CI systems read it.
        let jobs = outcome.results.len() + outcome.not_run.len();
        out.push_str(&format!("{jobs} job(s) in {:.2}s\n", outcome.wall_time.as_secs_f64()));
        let counts = outcome.counts();
        let tally =
            if counts.failed > 0 || !outcome.not_run.is_empty() { Tally::Failed } else { Tally::Passed };
        out.push_str(&paint_tally(tally, &counts.closing_line(), self.colour));
        out.push('\n');
        out
    }
}

/// The whole lines `chunk` ends (after what `pending` held), as text,
/// without the runner's own protocol lines; what follows the last newline
/// stays in `pending` for the next chunk.
fn whole_lines(pending: &mut Vec<u8>, chunk: &[u8]) -> Vec<String> {
    pending.extend_from_slice(chunk);
    let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let complete: Vec<u8> = pending.drain(..=end).collect();
    String::from_utf8_lossy(&complete).lines().filter(|l| !is_protocol_line(l)).map(str::to_string).collect()
}

/// A line the container's wrapper and monitor add to stderr for the runner
/// (the module's own copy of one is still in its captured output).
fn is_protocol_line(line: &str) -> bool {
    line.starts_with("@@pymac")
        || line.starts_with("Command exited with non-zero status ")
        || line.starts_with("Command terminated by signal ")
}

/// A token no module can guess: it reaches no container.
fn stop_token() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("pymaccounter-{:x}-{nanos:x}", std::process::id())
}

/// `leak hunt 3:3: references [0, 0, 0], memory blocks [...], file descriptors [...]`;
/// per test, the hunt's verdict and a `LEAKED name: deltas` line per leaking test.
fn leak_hunt_line(hunt: &LeakHunt, tests: &[InnerTest]) -> String {
    if hunt.per_test && hunt.failed_run.is_none() {
        let mut text = format!(
            "leak hunt {}:{} per test: {}\n",
            hunt.warmups,
            hunt.runs,
            words::per_test_tally(hunt, tests)
        );
        for test in tests {
            if let Some(what) = test.hunt_leaks.as_ref().and_then(|d| words::test_leak(hunt, d)) {
                text.push_str(&format!("LEAKED {}: {what}\n", test.name));
            }
        }
        return sanitize::terminal(&text).into_owned();
    }
    let refs = match (&hunt.refs, words::untrusted_refs(hunt)) {
        (Some(refs), Some(why)) => format!("{refs:?} (not trusted: {})", sanitize::terminal_line(&why)),
        (Some(refs), None) => format!("{refs:?}"),
        (None, _) => "not measured (release build: no sys.gettotalrefcount; use a -dbg Python)".into(),
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
fn memray_lines(memray: &MemraySummary, rss: Option<u64>) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    let mut text = format!("memray: {}\n", super::memray_figures(memray));
    text.push_str(&format!("  {}\n", crate::report::words::heap_beside_rss(memray, rss)));
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

/// `memory ▁▃▆██▇▁▁ RSS peak 207.3 MiB at 1.28 s, 7.6 MiB at 3.55 s`: the
/// module's RSS over its run as a sparkline (on a scale from 0, so a fall
/// shows as one), as wide as the line leaves room for, at most 48; ASCII
/// outside a UTF-8 locale; words alone when fewer than 10 columns are left.
fn memory_line(series: &MemorySeries, width: usize, utf8: bool) -> String {
    const BLOCKS: &[char] = &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: &[char] = &['_', '.', '-', '=', '+', '*', '#'];
    let said = words::memory_series(series);
    let room = width.saturating_sub("memory ".len() + 1 + said.chars().count()).min(48);
    if room < 10 {
        return format!("memory: {said}\n");
    }
    let glyphs = if utf8 { BLOCKS } else { ASCII };
    let top = series.rss_bytes.iter().copied().max().unwrap_or(0).max(1);
    let levels = glyphs.len() as u64;
    let spark: String = series
        .rss_in_slices(room)
        .into_iter()
        .map(|v| glyphs[((v.saturating_mul(levels)).div_ceil(top).clamp(1, levels) - 1) as usize])
        .collect();
    format!("memory {spark} {said}\n")
}

fn push_text(block: &mut String, text: &str) {
    block.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        block.push('\n');
    }
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
            utf8: true,
            showing: Showing::plain(),
            deferred: Vec::new(),
            colour: false,
            status_line: StatusLine::disabled(),
            total: 2,
            finished: 0,
            failed: 0,
            partial_lines: Default::default(),
            partial_stdout: Default::default(),
            running: Vec::new(),
            started: std::time::Instant::now(),
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
    fn never_and_final_decide_when_a_passing_block_shows() {
        let mut human =
            Human { showing: Showing { when: SuccessOutput::Never, ..Showing::plain() }, ..plain() };
        let block = human.render_block(&result("test_a.py", Execution::Passed, ""));
        assert_eq!(block.lines().count(), 2, "rule and heading only: {block}");
        human.showing.when = SuccessOutput::Final;
        human.module_block(&result("test_a.py", Execution::Passed, ""));
        human.module_block(&result("test_b.py", Execution::Failed { exit_code: 1, why: None }, ""));
        assert_eq!(human.deferred.len(), 1, "the pass waits for the end, the failure does not");
    }

    #[test]
    fn success_output_chooses_what_a_passing_or_skipped_block_shows() {
        let heading = "Test results for python_tests/test_a.py:";
        let shown = |shown, execution| {
            let human = Human { showing: Showing { shown, ..Showing::plain() }, ..plain() };
            let block = human.render_block(&result("test_a.py", execution, "Ran 3 tests\n\nOK\n"));
            block.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
        };
        for execution in [Execution::Passed, Execution::Skipped { why: None }] {
            assert_eq!(shown(Shown::Stdout, execution.clone()), [heading, "45"]);
            assert_eq!(
                shown(Shown::Both, execution.clone()),
                [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK"]
            );
            assert_eq!(shown(Shown::None, execution), [heading]);
        }
        // A skip's reason is the runner's line: it stays, last, whatever is shown.
        let skipped = Execution::Skipped { why: Some(crate::model::status::SkipCause::LeakInvisibleHere) };
        let skip_line = format!("SKIP: {}", words::reason(&skipped).unwrap());
        assert_eq!(
            shown(Shown::Both, skipped.clone()),
            [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK", &skip_line]
        );
        assert_eq!(shown(Shown::None, skipped), [heading, &skip_line]);
        let failed = Execution::Failed { exit_code: 1, why: None };
        for shown_ in [Shown::Stdout, Shown::Both, Shown::None] {
            assert_eq!(
                shown(shown_, failed.clone()),
                [heading, "45", "--- stderr ---", "Ran 3 tests", "", "OK", "FAIL: exit code 1"]
            );
        }
    }

    #[test]
    fn untrusted_references_are_shown_marked_and_made_safe() {
        use crate::model::inner::ReleaseExtensions;
        let hunt = LeakHunt {
            warmups: 3,
            runs: 3,
            debug_build: true,
            refs: Some(vec![28, 28, 28]),
            blocks: vec![0; 3],
            fds: vec![0; 3],
            failed_run: None,
            release_extensions: Some(ReleaseExtensions { count: 1, names: vec!["np\x1b[2J".into()] }),
            per_test: false,
        };
        let line = leak_hunt_line(&hunt, &[]);
        assert!(
            line.starts_with("leak hunt 3:3: references [28, 28, 28] (not trusted: 1 release-built"),
            "{line}"
        );
        assert!(!line.contains('\x1b'), "a module's name reaches the terminal made safe: {line:?}");
        assert!(line.ends_with("memory blocks [0, 0, 0], file descriptors [0, 0, 0]\n"), "{line}");
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
    fn the_memory_series_is_a_sparkline_that_fits_80_columns() {
        // 2 s up at 200 MiB, then down to 8 MiB for 2 s, in 40 buckets.
        let t_ms: Vec<u32> = (1..=40).map(|i| i * 100).collect();
        let rss_bytes = t_ms.iter().map(|&t| if t <= 2000 { 200 << 20 } else { 8 << 20 }).collect();
        let series = MemorySeries { cgroup_bytes: vec![None; 40], t_ms, rss_bytes };
        let with = |utf8: bool, width: usize| {
            let human = Human { utf8, width, ..plain() };
            let result = ModuleResult {
                memory_series: Some(series.clone()),
                ..result("test_a.py", Execution::Passed, "")
            };
            let block = human.render_block(&result);
            block.lines().find(|l| l.starts_with("memory")).expect("a memory line").to_string()
        };
        let line = with(true, 80);
        println_for_eyes(&line);
        assert_eq!(line.chars().count(), 80, "{line}");
        assert!(line.ends_with(" RSS peak 200.0 MiB at 0.10 s, 8.0 MiB at 4.00 s"), "{line}");
        let spark: String = line.chars().skip("memory ".len()).take_while(|c| *c != ' ').collect();
        // 25 columns of 160 ms: the 13th holds the last high bucket and keeps its maximum.
        assert_eq!(spark, format!("{}{}", "█".repeat(13), "▁".repeat(12)), "up half the run, then down");
        let ascii = with(false, 80);
        assert!(
            ascii.is_ascii()
                && ascii.starts_with(&format!("memory {}{} RSS", "#".repeat(13), "_".repeat(12))),
            "{ascii}"
        );
        assert_eq!(with(true, 200).chars().count(), "memory ".len() + 48 + 1 + 47, "at most 48 wide");
        assert_eq!(
            with(true, 60),
            "memory: RSS peak 200.0 MiB at 0.10 s, 8.0 MiB at 4.00 s",
            "too narrow: words"
        );
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

    /// Results of a realistic run: a matrix of Pythons and allocators over
    /// long nested module names, with test counts and a failure.
    pub fn realistic_outcome() -> Outcome {
        use crate::model::inner::{Harness, InnerCounts, InnerReport};
        let modules = [
            "property/strategies/test_a_rather_long_module_name_for_strategies.py",
            "unit/parsers/isoparser/test_isoparser_with_timezone_offsets.py",
            "test_short.py",
        ];
        let mut outcome = Outcome::empty("r".into());
        for (index, module) in modules.iter().enumerate() {
            for malloc in [PythonMalloc::Pymalloc, PythonMalloc::Malloc] {
                for python in ["3.13", "3.14-dbg"] {
                    let execution = if index == 1 && python == "3.14-dbg" {
                        Execution::Failed { exit_code: 1, why: None }
                    } else {
                        Execution::Passed
                    };
                    let mut r = result(module, execution, "");
                    r.job.variant = Variant { python_malloc: Some(malloc), python: python.parse().ok() };
                    r.inner = Some(InnerReport {
                        harness: Harness::Pytest,
                        counts: InnerCounts {
                            passed: 612,
                            failed: 8,
                            skipped: 21,
                            xfailed: 3,
                            ..InnerCounts::default()
                        },
                        ..InnerReport::default()
                    });
                    outcome.results.push(r);
                }
            }
        }
        outcome
    }

    fn println_for_eyes(text: &str) {
        if std::env::var_os("SHOW_TABLES").is_some() {
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }

    /// The first column's text of each line, joined: what a reader reads as names.
    pub fn first_column(text: &str) -> String {
        text.lines().map(|l| l.split("  ").next().unwrap_or("").trim()).collect()
    }

    #[test]
    fn the_summary_fits_80_columns_and_keeps_every_name_and_status() {
        let outcome = realistic_outcome();
        let summary = plain().render_summary(&outcome);
        for line in summary.lines() {
            assert!(line.chars().count() <= 80, "{} columns: {line}\n{summary}", line.chars().count());
        }
        println_for_eyes(&summary);
        let names = first_column(&summary);
        for result in &outcome.results {
            assert!(names.contains(&result.job.module), "{} unreadable:\n{summary}", result.job.module);
        }
        assert_eq!(summary.matches(" fail ").count() + summary.matches(" fail\n").count(), 2, "{summary}");
        assert!(summary.contains("3.14-dbg") && summary.contains("pymalloc"), "{summary}");
        assert_eq!(summary.lines().last(), Some("10 passed, 2 failed"));
        let plain_run = plain().render_summary(&Outcome {
            results: vec![result("test_a.py", Execution::Passed, "")],
            ..Outcome::empty("r".into())
        });
        assert!(!plain_run.contains("allocator"), "no matrix, no allocator column:\n{plain_run}");
    }

    #[test]
    fn live_stderr_shows_whole_lines_without_the_protocol() {
        let mut pending = Vec::new();
        assert!(whole_lines(&mut pending, b"Tra").is_empty());
        assert_eq!(whole_lines(&mut pending, b"ceback\n  File x\nAsser"), ["Traceback", "  File x"]);
        let end = b"tionError\nCommand exited with non-zero status 1\n@@pymaccounter exit=1 peak_rss_kib=9\n";
        assert_eq!(whole_lines(&mut pending, end), ["AssertionError"]);
        assert!(pending.is_empty());
    }
}
