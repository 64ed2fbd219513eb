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
use crate::model::choice::Choice;
use crate::model::limits::{parse_memory, MemoryLimit, MAX_MEMORY_BYTES, MAX_TIMEOUT_SECS};
use crate::model::units::{parse_duration, parse_size};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarnessChoice {
    Auto,
    Script,
    Unittest,
    Pytest,
}

impl Choice for HarnessChoice {
    const ALL: &'static [HarnessChoice] =
        &[HarnessChoice::Auto, HarnessChoice::Script, HarnessChoice::Unittest, HarnessChoice::Pytest];

    fn name(self) -> &'static str {
        match self {
            HarnessChoice::Auto => "auto",
            HarnessChoice::Script => "script",
            HarnessChoice::Unittest => "unittest",
            HarnessChoice::Pytest => "pytest",
        }
    }

    fn help(self) -> &'static str {
        match self {
            HarnessChoice::Auto => "Chosen from the module's source (see the README)",
            HarnessChoice::Script => "`python3 module.py`",
            HarnessChoice::Unittest => "unittest runs the module's TestCases",
            HarnessChoice::Pytest => "pytest runs the module's tests",
        }
    }
}

impl FromStr for HarnessChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        HarnessChoice::named(text).ok_or_else(|| format!("expected {}", HarnessChoice::names()))
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
            "max-peak-rss" => self.max_peak_rss = Some(parse_size(value, 1, MAX_MEMORY_BYTES)?),
            "timeout" => {
                let secs = parse_duration(value, 1.0, MAX_TIMEOUT_SECS as f64)?;
                self.timeout = Some(secs.ceil() as u64);
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
    fn a_declared_size_means_what_the_same_flag_value_means() {
        for text in ["64 MiB", "1.5g", "1.5GiB", "512k", "65536"] {
            let declared = parse(&format!("# pymaccounter: max-peak-rss = {text}\n"), "t.py").unwrap();
            let flag = crate::model::units::parse_size(text, 0, MAX_MEMORY_BYTES).unwrap();
            assert_eq!(declared.max_peak_rss, Some(flag), "{text}");
            let memory = parse(&format!("# pymaccounter: memory = {text}\n"), "t.py");
            assert_eq!(memory.ok().and_then(|d| d.memory), parse_memory(text).ok(), "{text}");
        }
        for bad in ["0", "-1 MiB", "MiB"] {
            assert!(parse(&format!("# pymaccounter: max-peak-rss = {bad}\n"), "t.py").is_err(), "{bad}");
        }
    }
}
