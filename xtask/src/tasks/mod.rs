//! One file per task of the command line.

pub mod bench;
pub mod clean;
pub mod compare;
pub mod images;
pub mod list;
pub mod merge_reports;
pub mod project;
pub mod run;
pub mod watch;

use anyhow::Result;

use crate::cli::EngineArgs;
use crate::engine::Engine;

/// The engine the options name, its command lines and build notes shown as
/// `--debug` asks.
pub fn engine(args: &EngineArgs) -> Result<Engine> {
    Engine::find(args.kind, args.debug, crate::report::human::notices(args.debug))
}
