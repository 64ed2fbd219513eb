//! What a module declares about itself: `# pymaccounter: key = value` lines
//! in the comment block at its top (before its docstring or first statement).
//!
//! ```text
//! # pymaccounter: max-peak-rss = 64 MiB
//! # pymaccounter: timeout = 60
//! # pymaccounter: memory = 256m
//! # pymaccounter: hunt-leaks = 3:3
//! # pymaccounter: expect = leak
//! # pymaccounter: harness = pytest
//! ```
//!
//! An unknown key or a bad value is a usage error naming the file and line;
//! a key given twice names both lines. `timeout` and `memory` are ceilings
//! a module may lower, never raise: the command line (or its default) is the
//! operator's limit.

use std::fmt;
use std::str::FromStr;

use anyhow::Result;

use crate::error::usage;
use crate::model::limits::{parse_memory, MemoryLimit, MAX_TIMEOUT_SECS};
use std::time::Duration;

const PREFIX: &str = "pymaccounter:";

/// `--hunt-leaks WARMUPS:RUNS`: run a module's code WARMUPS + RUNS times in
/// one interpreter and look at the last RUNS deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HuntLeaks {
    pub warmups: u32,
    pub runs: u32,
}

impl HuntLeaks {
    /// CPython's regrtest default (`-R 3:3`), what a bare `--hunt-leaks` means.
    #[cfg(test)]
    pub const DEFAULT: HuntLeaks = HuntLeaks { warmups: 3, runs: 3 };
}

impl FromStr for HuntLeaks {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid =
            || format!("expected WARMUPS:RUNS with 0-100 warm-ups and 1-100 runs (e.g. 3:3), got {text:?}");
        let (warmups, runs) = text.trim().split_once(':').ok_or_else(invalid)?;
        let warmups: u32 = warmups.trim().parse().map_err(|_| invalid())?;
        let runs: u32 = runs.trim().parse().map_err(|_| invalid())?;
        if warmups > 100 || !(1..=100).contains(&runs) {
            return Err(invalid());
        }
        Ok(HuntLeaks { warmups, runs })
    }
}

impl fmt::Display for HuntLeaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.warmups, self.runs)
    }
}

/// How a module's code is run (`--harness`, or `harness =` in the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HarnessChoice {
    /// Chosen from the module's source (see the README)
    Auto,
    /// `python3 module.py`
    Script,
    /// unittest runs the module's TestCases
    Unittest,
    /// pytest runs the module's tests
    Pytest,
}

impl FromStr for HarnessChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        <HarnessChoice as clap::ValueEnum>::from_str(text, false)
            .map_err(|_| "expected auto, script, unittest or pytest".to_string())
    }
}

/// A module's declarations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declarations {
    pub max_peak_rss: Option<u64>,
    pub timeout: Option<u64>,
    pub memory: Option<MemoryLimit>,
    pub hunt_leaks: Option<HuntLeaks>,
    /// The module demonstrates a leak: found, it passes; not found, it fails.
    pub expect_leak: bool,
    pub harness: Option<HarnessChoice>,
    /// `(key, value)` as written, for `list`.
    pub written: Vec<(String, String)>,
}

/// Reads the declarations of a module's source; `file` names it in errors.
pub fn parse(source: &str, file: &str) -> Result<Declarations> {
    let mut declarations = Declarations::default();
    // Where each key was first declared: a second one is an error, not a silent override.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            break;
        }
        let Some(body) = line.trim_start_matches('#').trim().strip_prefix(PREFIX) else {
            continue;
        };
        let at = format!("{file}:{}", number + 1);
        let (key, value) = body
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| usage(format!("{at}: expected `# pymaccounter: key = value`")))?;
        if let Some((_, first)) = seen.iter().find(|(k, _)| k == key) {
            return Err(usage(format!(
                "{at}: {key} is declared twice (lines {first} and {}): keep one",
                number + 1
            )));
        }
        seen.push((key.to_string(), number + 1));
        declarations.set(key, value).map_err(|why| usage(format!("{at}: {key}: {why}")))?;
        declarations.written.push((key.to_string(), value.to_string()));
    }
    Ok(declarations)
}

impl Declarations {
    /// The module's timeout under the operator's: a declaration only lowers it.
    pub fn timeout_under(&self, ceiling: Duration) -> Duration {
        self.timeout.map_or(ceiling, |secs| Duration::from_secs(secs).min(ceiling))
    }

    /// The module's memory limit under the operator's (`Unlimited` is the
    /// highest): a declaration only lowers it.
    pub fn memory_under(&self, ceiling: MemoryLimit) -> MemoryLimit {
        match (self.memory, ceiling) {
            (Some(MemoryLimit::Bytes(declared)), MemoryLimit::Bytes(limit)) => {
                MemoryLimit::Bytes(declared.min(limit))
            }
            (Some(declared @ MemoryLimit::Bytes(_)), MemoryLimit::Unlimited) => declared,
            (Some(MemoryLimit::Unlimited) | None, ceiling) => ceiling,
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "max-peak-rss" => self.max_peak_rss = Some(parse_size(value)?),
            "timeout" => {
                let secs: u64 = value.parse().map_err(|_| format!("expected seconds, got {value:?}"))?;
                if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                    return Err(format!("expected 1 to {MAX_TIMEOUT_SECS} seconds, got {secs}"));
                }
                self.timeout = Some(secs);
            }
            "memory" => self.memory = Some(parse_memory(value)?),
            "hunt-leaks" => self.hunt_leaks = Some(value.parse()?),
            "expect" => match value {
                "leak" => self.expect_leak = true,
                _ => return Err(format!("the only expectation is `leak`, got {value:?}")),
            },
            "harness" => self.harness = Some(value.parse()?),
            _ => {
                return Err(
                    "unknown key; known: max-peak-rss, timeout, memory, hunt-leaks, expect, harness".into()
                )
            }
        }
        Ok(())
    }
}

/// `64 MiB`, `64MiB`, `64m`, `1.5 GiB`, `65536`: bytes (binary units).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("expected a size like 64 MiB, got {text:?}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}: use B, KiB, MiB or GiB")),
    };
    let bytes = number * multiplier as f64;
    if !(1.0..=(1u64 << 40) as f64).contains(&bytes) {
        return Err(format!("expected a size from 1 B to 1024 GiB, got {text:?}"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_declares() {
        let source = "#!/usr/bin/env python3\n# pymaccounter: max-peak-rss = 64 MiB\n\
                      #pymaccounter: timeout=60\n# pymaccounter: hunt-leaks = 3:3\n# pymaccounter: expect = leak\n\
                      # pymaccounter: memory = 256m\n# pymaccounter: harness = pytest\n\"\"\"Doc.\"\"\"\n";
        let d = parse(source, "test_x.py").unwrap();
        assert_eq!(d.max_peak_rss, Some(64 << 20));
        assert_eq!(d.timeout, Some(60));
        assert_eq!(d.hunt_leaks, Some(HuntLeaks { warmups: 3, runs: 3 }));
        assert!(d.expect_leak);
        assert_eq!(d.memory, Some(MemoryLimit::Bytes(256 << 20)));
        assert_eq!(d.harness, Some(HarnessChoice::Pytest));
        assert_eq!(d.written.len(), 6);
    }

    #[test]
    fn declarations_after_the_header_are_not_read() {
        let source = "\"\"\"Doc.\"\"\"\n# pymaccounter: timeout = 60\n";
        assert_eq!(parse(source, "x").unwrap(), Declarations::default());
    }

    #[test]
    fn bad_declarations_name_the_file_and_line() {
        for (source, line) in [
            ("# pymaccounter: colour = blue\n", 1),
            ("#\n# pymaccounter: timeout = soon\n", 2),
            ("# pymaccounter: timeout = 0\n", 1),
            ("# pymaccounter: max-peak-rss = 64 parsecs\n", 1),
            ("# pymaccounter: hunt-leaks = 3\n", 1),
            ("# pymaccounter: hunt-leaks = 3:0\n", 1),
            ("# pymaccounter: expect = pass\n", 1),
            ("# pymaccounter: harness = nose\n", 1),
            ("# pymaccounter: memory = lots\n", 1),
            ("# pymaccounter: timeout\n", 1),
        ] {
            let error = parse(source, "test_x.py").unwrap_err();
            assert!(error.downcast_ref::<crate::error::Usage>().is_some(), "{source}");
            assert!(error.to_string().starts_with(&format!("test_x.py:{line}: ")), "{source}: {error}");
        }
    }

    #[test]
    fn a_key_declared_twice_names_both_lines() {
        let error =
            parse("# pymaccounter: timeout = 5\n#\n# pymaccounter: timeout = 9\n", "t.py").unwrap_err();
        assert!(error.downcast_ref::<crate::error::Usage>().is_some());
        assert!(
            error.to_string().starts_with("t.py:3: timeout is declared twice (lines 1 and 3)"),
            "{error}"
        );
    }

    #[test]
    fn limits_declared_are_ceilings_the_operator_sets() {
        let of = |source: &str| parse(source, "t.py").unwrap();
        let five = Duration::from_secs(5);
        assert_eq!(of("# pymaccounter: timeout = 604800\n").timeout_under(five), five);
        assert_eq!(of("# pymaccounter: timeout = 2\n").timeout_under(five), Duration::from_secs(2));
        assert_eq!(of("").timeout_under(five), five);
        let limit = MemoryLimit::Bytes(256 << 20);
        assert_eq!(of("# pymaccounter: memory = none\n").memory_under(limit), limit);
        assert_eq!(of("# pymaccounter: memory = 2g\n").memory_under(limit), limit);
        assert_eq!(of("# pymaccounter: memory = 64m\n").memory_under(limit), MemoryLimit::Bytes(64 << 20));
        assert_eq!(
            of("# pymaccounter: memory = 64m\n").memory_under(MemoryLimit::Unlimited),
            MemoryLimit::Bytes(64 << 20)
        );
        assert_eq!(
            of("# pymaccounter: memory = none\n").memory_under(MemoryLimit::Unlimited),
            MemoryLimit::Unlimited
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert!(parse_size("0").is_err() && parse_size("-1 MiB").is_err() && parse_size("MiB").is_err());
    }
}
