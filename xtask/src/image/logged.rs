//! Long commands with a log (image builds, debootstrap): with `--debug` the
//! log streams as it comes; otherwise its latest line shows on the terminal's
//! status line, and its tail is kept to explain a failure.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;

use crate::error::Interrupted;
use crate::model::event::{Notice, Notices};
use crate::signals::Interrupt;

/// Lines of log kept for an error message.
const TAIL_LINES: usize = 20;

/// How often a long command's caller looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Runs the command to its end; when it fails, the error `failed` makes of
/// the log's tail (empty with `--debug`: the whole log was shown). `on_line`
/// sees every line, and so does `notices` (the renderer streams them with
/// `--debug`, else shows the latest on the status line). A Ctrl-C or SIGTERM stops the command and everything it
/// started (its own process group) and returns `Interrupted`.
pub fn run_logged(
    command: duct::Expression,
    debug: bool,
    notices: &Notices,
    what: &'static str,
    mut on_line: impl FnMut(&str),
    failed: impl FnOnce(String) -> anyhow::Error,
) -> Result<()> {
    let reader = command
        .stderr_to_stdout()
        .unchecked()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        })
        .reader()?;
    let group = reader.pids().first().copied();
    let (lines_sender, lines) = mpsc::channel();
    let reading = std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in BufReader::new(&reader).lines() {
                if lines_sender.send(line).is_err() {
                    break;
                }
            }
            drop(lines_sender);
        });
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        loop {
            match lines.recv_timeout(POLL) {
                Ok(Ok(line)) => {
                    on_line(&line);
                    notices.send(Notice::LogLine { task: what, line: line.clone() });
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(tail),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Interrupt::requested() {
                if let Some(group) = group {
                    // The whole group: debootstrap and docker build start helpers.
                    let _ = std::process::Command::new("kill")
                        .args(["-TERM", "--", &format!("-{group}")])
                        .status();
                }
                let _ = reader.kill();
                return Err(Interrupted(what.to_string()));
            }
        }
    });
    notices.send(Notice::LogEnded);
    let tail = reading?;
    let succeeded = reader.try_wait()?.is_some_and(|output| output.status.success());
    if succeeded {
        Ok(())
    } else {
        Err(failed(if debug { String::new() } else { Vec::from(tail).join("\n") }))
    }
}
