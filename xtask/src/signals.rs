//! The one place that handles signals: Ctrl-C, SIGTERM and SIGHUP only raise a
//! flag, so the runner can stop its containers and report before exiting. A
//! second Ctrl-C raises the same flag again: cleanup is never cut short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

#[derive(Clone)]
pub struct Interrupt(Arc<AtomicBool>);

static INSTALLED: OnceLock<Interrupt> = OnceLock::new();

impl Interrupt {
    /// Takes over SIGINT, SIGTERM and SIGHUP for the rest of the process
    /// (once; later calls return the same flag).
    pub fn install() -> Result<Interrupt> {
        if let Some(installed) = INSTALLED.get() {
            return Ok(installed.clone());
        }
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(INSTALLED.get_or_init(|| Interrupt(flag)).clone())
    }

    /// Whether a stop was asked for since `install` (false before it).
    pub fn requested() -> bool {
        INSTALLED.get().is_some_and(Interrupt::is_set)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A flag no signal raises, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Interrupt {
        Interrupt(Arc::new(AtomicBool::new(false)))
    }

    /// Raises the flag as a signal would, for unit tests.
    #[cfg(test)]
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
