//! What a person at a terminal (or reading a CI log) sees.

use std::io::{IsTerminal, Write};

use crate::matrix::Job;
use crate::outcome::ModuleResult;
use crate::report::terminal::{colour_stdout, paint_status, StatusLine};
use crate::report::{human_bytes, Counts};
use crate::runner::{Event, Outcome};

pub struct Human {
    test_dir: String,
    width: usize,
    live_stderr: bool,
    colour: bool,
    status_line: StatusLine,
    total: usize,
    finished: usize,
    running: Vec<String>,
}

impl Human {
    pub fn new(test_dir: &str, live_stderr: bool, total: usize) -> Human {
        Human {
            test_dir: test_dir.to_string(),
            width: terminal_width(),
            live_stderr,
            colour: colour_stdout(),
            status_line: StatusLine::new(),
            total,
            finished: 0,
            running: Vec::new(),
        }
    }

    pub fn event(&mut self, event: &Event) {
        self.status_line.clear();
        match event {
            Event::Started(job) => {
                self.running.push(job.label());
                if self.live_stderr {
                    eprintln!("started {}", job.label());
                }
            }
            Event::Stderr(job, chunk) => {
                let label = job.label();
                for line in String::from_utf8_lossy(chunk).lines() {
                    eprintln!("[{label}] {line}");
                }
            }
            Event::Finished(result) => {
                let label = result.job.label();
                self.running.retain(|r| *r != label);
                self.finished += 1;
                self.module_block(result);
            }
            Event::Interrupting => eprintln!("Interrupted: stopping and removing this run's containers ..."),
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
        let mut block = String::new();
        block.push_str(&"─".repeat(self.width));
        block.push('\n');
        block.push_str(&format!("Test results for {}/{}", self.test_dir, result.job.module));
        if let Some(variant) = variant(&result.job) {
            block.push_str(&format!(" ({variant})"));
        }
        block.push_str(":\n");
        push_text(&mut block, &result.stdout.text());
        if !result.status.passed() {
            let stderr = result.stderr.text();
            if !stderr.trim().is_empty() {
                block.push_str("--- stderr ---\n");
                push_text(&mut block, &stderr);
            }
            let reason = result.reason.as_deref().unwrap_or("did not pass");
            let status = paint_status(result.status, &result.status.as_str().to_uppercase(), self.colour);
            block.push_str(&format!("{status}: {reason}\n"));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(block.as_bytes());
        let _ = stdout.flush();
    }

    pub fn summary(&self, outcome: &Outcome) {
        self.status_line.clear();
        let mut out = String::new();
        out.push_str(&"═".repeat(self.width));
        out.push('\n');
        let with_python = outcome.results.iter().any(|r| r.job.python.is_some());
        let module_width = outcome.results.iter().map(|r| r.job.module.len()).max().unwrap_or(6).max(6);
        let mut header = format!("{:<module_width$}  {:<14}", "module", "allocator");
        if with_python {
            header.push_str(&format!("  {:<6}", "python"));
        }
        header.push_str(&format!("  {:<7}  {:>9}  {:>11}\n", "status", "duration", "peak memory"));
        out.push_str(&header);
        for result in &outcome.results {
            let allocator = result.job.python_malloc.map_or("default", |m| m.as_str());
            let mut row = format!("{:<module_width$}  {allocator:<14}", result.job.module);
            if with_python {
                row.push_str(&format!("  {:<6}", result.job.python.map_or("", |p| p.as_str())));
            }
            let peak = result.peak_rss_bytes.map_or("-".to_string(), human_bytes);
            let duration = format!("{:.2}s", result.duration.as_secs_f64());
            let status = paint_status(result.status, &format!("{:<7}", result.status.as_str()), self.colour);
            row.push_str(&format!("  {status}  {duration:>9}  {peak:>11}\n"));
            out.push_str(&row);
        }
        if !outcome.not_run.is_empty() {
            let why = if outcome.interrupted {
                "interrupted"
            } else if outcome.fail_fast_tripped {
                "--fail-fast"
            } else {
                "the run stopped"
            };
            let names: Vec<String> = outcome.not_run.iter().map(Job::label).collect();
            out.push_str(&format!("{} not run ({why}): {}\n", names.len(), names.join(", ")));
        }
        out.push_str(&Counts::of(&outcome.results).closing_line());
        out.push('\n');
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

fn variant(job: &Job) -> Option<String> {
    let parts: Vec<String> = job
        .python_malloc
        .map(|m| format!("PYTHONMALLOC={}", m.as_str()))
        .into_iter()
        .chain(job.python.map(|p| format!("Python {p}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
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
