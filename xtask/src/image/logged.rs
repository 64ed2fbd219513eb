//! Long commands with a log (image builds, debootstrap): with `--debug` the
//! log streams as it comes; otherwise its latest line shows on the terminal's
//! status line, and its tail is kept to explain a failure.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};

use anyhow::Result;

use crate::report::terminal::StatusLine;

/// Lines of log kept for an error message.
const TAIL_LINES: usize = 20;

/// Runs the command to its end; when it fails, the error `failed` makes of
/// the log's tail (empty with `--debug`: the whole log was shown).
pub fn run_logged(
    command: duct::Expression,
    debug: bool,
    what: &str,
    failed: impl FnOnce(String) -> anyhow::Error,
) -> Result<()> {
    if debug {
        let output = command.unchecked().run()?;
        return if output.status.success() { Ok(()) } else { Err(failed(String::new())) };
    }
    let status_line = StatusLine::new();
    let reader = command.stderr_to_stdout().unchecked().reader()?;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    for line in BufReader::new(&reader).lines() {
        let line = line?;
        status_line.show(&format!("{what}: {line}"));
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    status_line.clear();
    let succeeded = reader.try_wait()?.is_some_and(|output| output.status.success());
    if succeeded {
        Ok(())
    } else {
        Err(failed(Vec::from(tail).join("\n")))
    }
}
