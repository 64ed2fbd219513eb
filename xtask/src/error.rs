//! The two kinds of failure the user must tell apart, and their exit codes.
//!
//! Anything else that goes wrong surfaces as a plain `anyhow::Error` and is
//! treated as an environment failure: the modules were not at fault.

use std::fmt;

/// Bad invocation or input: nothing was started. Exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// The engine, the image build or the machine let us down. Exit code 3.
#[derive(Debug)]
pub struct Environment(pub String);

/// Ctrl-C, SIGTERM or SIGHUP stopped the task before its run began; what it
/// had started was stopped and removed. Exit code 130.
#[derive(Debug)]
pub struct Interrupted(pub String);

/// Ctrl-C, SIGTERM or SIGHUP stopped the task while the engine did not
/// answer: what the message names may be left. Exit code 130.
#[derive(Debug)]
pub struct Abandoned(pub String);

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Abandoned {}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted while {}; nothing was left behind", self.0)
    }
}

impl std::error::Error for Interrupted {}
impl std::error::Error for Usage {}
impl std::error::Error for Environment {}

/// Shorthand for returning a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// Shorthand for returning an environment error.
pub fn environment(message: impl Into<String>) -> anyhow::Error {
    Environment(message.into()).into()
}

pub const EXIT_PASSED: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_ENVIRONMENT: i32 = 3;
/// Interrupted by Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// The exit code for an error that stopped a task.
pub fn exit_code_for(error: &anyhow::Error) -> i32 {
    if error.downcast_ref::<Usage>().is_some() {
        EXIT_USAGE
    } else if error.downcast_ref::<Interrupted>().is_some() || error.downcast_ref::<Abandoned>().is_some() {
        EXIT_INTERRUPTED
    } else {
        EXIT_ENVIRONMENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_everything_else_3() {
        assert_eq!(exit_code_for(&usage("bad")), EXIT_USAGE);
        assert_eq!(exit_code_for(&environment("no engine")), EXIT_ENVIRONMENT);
        assert_eq!(exit_code_for(&anyhow::anyhow!("io")), EXIT_ENVIRONMENT);
        assert_eq!(exit_code_for(&usage("bad").context("while parsing")), EXIT_USAGE);
        assert_eq!(exit_code_for(&Interrupted("building".into()).into()), EXIT_INTERRUPTED);
        let abandoned: anyhow::Error = Abandoned("rm got no answer".into()).into();
        assert_eq!(exit_code_for(&abandoned.context("run 1 stopped")), EXIT_INTERRUPTED);
    }
}
