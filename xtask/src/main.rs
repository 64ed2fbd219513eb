//! `cargo xtask`: runs pymaccounter's Python memory demonstrations, each in
//! its own fresh container. See ARCHITECTURE.md for which file owns what.

/// Our own line on stderr. Unlike `eprintln!`, a reader that went away does
/// not panic the thread, which may still have containers to stop.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Our own line on stdout; a reader that went away (`| head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod config;
mod discovery;
mod engine;
mod error;
mod glob;
mod harness;
mod image;
mod keyword;
mod model;
mod modules;
mod project;
mod report;
mod runner;
mod sanitize;
mod scratch;
mod signals;
mod tasks;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use cli::Task;

fn main() -> ExitCode {
    let code = match dispatch(cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            // Errors may quote module names and report contents: made safe once, here.
            say!("error: {}", sanitize::terminal(&format!("{error:#}")));
            error::exit_code_for(&error)
        }
    };
    ExitCode::from(code as u8)
}

fn dispatch(task: Task) -> Result<i32> {
    match task {
        Task::Run { tests, options } => tasks::run::run(Some(&tests), &options),
        Task::RunAllTests { options } => tasks::run::run(None, &options),
        Task::Watch { tests, clear, options } => tasks::watch::watch(&tests, &options, clear),
        Task::List { tests, dir, selection, json } => {
            tasks::list::list(&tests, dir.test_dir.as_deref(), &selection, json)
        }
        Task::BuildImage { base, python, engine } => tasks::images::build_image(
            &tasks::engine(&engine)?,
            base.for_version(python.python),
            python.python,
        ),
        Task::BaseImage { python, force, engine } => {
            tasks::images::base_image(&tasks::engine(&engine)?, python.python, force)
        }
        Task::Clean { run, containers_only, keep_base, force, all_users, dry_run, engine } => {
            let run = run.as_deref();
            let options =
                tasks::clean::CleanOptions { run, containers_only, keep_base, force, all_users, dry_run };
            tasks::clean::clean(&tasks::engine(&engine)?, &options)
        }
        Task::Bench { rounds, jobs, quick, only, engine } => {
            let options =
                tasks::bench::BenchOptions { rounds: rounds.into(), jobs: jobs.into(), quick, only };
            tasks::bench::bench(&tasks::engine(&engine)?, &options)
        }
        Task::Compare { base, new, gate, format } => tasks::compare::compare(&base, &new, &gate, format),
        Task::MergeReports { shards, force, allow_partial, reports } => {
            tasks::merge_reports::merge_reports(&shards, force, allow_partial, &reports.paths())
        }
        Task::Completions { shell } => {
            // Completion scripts need a one-word command name; see README.
            let mut command = cli::command().bin_name("cargo-xtask");
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "cargo-xtask", &mut script);
            print_quietly(&script);
            Ok(error::EXIT_PASSED)
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub fn print_quietly(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

/// The repository's root (the workspace that holds `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}
