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
