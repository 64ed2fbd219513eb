//! `cargo xtask`: runs pymaccounter's Python memory demonstrations, each in
//! its own fresh container. See ARCHITECTURE.md for which file owns what.

mod base_image;
mod bench;
mod capture;
mod clean;
mod cli;
mod engine;
mod error;
mod image;
mod list;
mod logged;
mod matrix;
mod modules;
mod outcome;
mod pythons;
mod report;
mod run;
mod runner;
mod signals;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use cli::Task;

fn main() -> ExitCode {
    let code = match dispatch(cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            error::exit_code_for(&error)
        }
    };
    ExitCode::from(code as u8)
}

fn dispatch(task: Task) -> Result<i32> {
    match task {
        Task::Run { tests, options } => run::run(Some(&tests), &options),
        Task::RunAllTests { options } => run::run(None, &options),
        Task::List { test_dir, json } => list::list(test_dir.as_deref(), json),
        Task::BuildImage { test_dir, base_image: base, python, engine } => {
            let dir = modules::TestDir::resolve(test_dir.as_deref())?;
            let engine = engine::Engine::find(&engine)?;
            let recipe = image::Recipe::load(&dir)?;
            let local = image::LocalImages::read(&engine)?;
            let reference = image::ensure(&engine, &recipe, &local, base.as_deref(), python)?;
            println!("{reference}");
            Ok(error::EXIT_PASSED)
        }
        Task::BaseImage { python, force, engine } => {
            let engine = engine::Engine::find(&engine)?;
            let reference = base_image::reference(python);
            if !base_image::build(&engine, python, force)? {
                eprintln!("{reference} exists already (use --force to build it again)");
            }
            println!("{reference}");
            Ok(error::EXIT_PASSED)
        }
        Task::Clean { run, containers_only, keep_base, engine } => {
            let engine = engine::Engine::find(&engine)?;
            clean::clean(&engine, run.as_deref(), containers_only, keep_base)?;
            Ok(error::EXIT_PASSED)
        }
        Task::Bench { rounds, jobs, quick, engine } => {
            let engine = engine::Engine::find(&engine)?;
            bench::bench(&engine, &bench::BenchOptions { rounds, jobs, quick })
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
