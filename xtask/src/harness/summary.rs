//! The counts a script's own test run printed last: a module run as a
//! script that calls `unittest.main()` or `pytest.main()` itself ends its
//! output with that framework's summary, and those counts are worth as much
//! as the ones our harness reports.
//!
//! Read only from the very end of stderr or stdout (after the wrapper's trailer
//! was taken off), and only when it has exactly the framework's shape, so a
//! module that merely mentions tests is left alone:
//!
//! - unittest (stderr, by default): `Ran N test(s) in X.XXXs`, blank lines,
//!   then `OK`, `FAILED` or `NO TESTS RAN`, with an optional
//!   `(failures=N, errors=N, skipped=N, expected failures=N, unexpected successes=N)`.
//! - pytest (stdout): its last line, `N passed, N failed, … in X.XXs`, between
//!   runs of `=` or alone (`-q`), with an optional `(H:MM:SS)` after the time,
//!   or `no tests ran in X.XXs`; colour codes are ignored.

use crate::model::captured::Captured;
use crate::model::inner::{Framework, Harness, InnerCounts, InnerReport};

/// The framework whose summary a script printed, and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    Unittest(InnerCounts),
    Pytest(InnerCounts),
}

impl Summary {
    fn framework(self) -> Framework {
        match self {
            Summary::Unittest(_) => Framework::Unittest,
            Summary::Pytest(_) => Framework::Pytest,
        }
    }

    fn counts(self) -> InnerCounts {
        match self {
            Summary::Unittest(counts) | Summary::Pytest(counts) => counts,
        }
    }
}

/// A script's inner counts, when its stderr or stdout ends with a
/// framework's summary (stderr is looked at first: unittest writes there).
/// The report has no test list: a summary names no tests.
pub fn read(stdout: &Captured, stderr: &Captured) -> Option<InnerReport> {
    let summary =
        [stderr, stdout].into_iter().find_map(|stream| parse(&String::from_utf8_lossy(stream.end())))?;
    Some(InnerReport {
        harness: Harness::Script,
        counts: summary.counts(),
        summary_of: Some(summary.framework()),
        ..InnerReport::default()
    })
}

/// The summary a text ends with, if any.
pub fn parse(text: &str) -> Option<Summary> {
    unittest(text).map(Summary::Unittest).or_else(|| pytest(text).map(Summary::Pytest))
}

/// The last non-blank lines of a text, last first.
fn last_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().rev().map(str::trim_end).filter(|line| !line.is_empty())
}

fn unittest(text: &str) -> Option<InnerCounts> {
    let mut lines = last_lines(text);
    let verdict = lines.next()?;
    let ran = lines.next()?;
    // Between "Ran …" and the verdict unittest prints one blank line only.
    let rest = ran.strip_prefix("Ran ")?;
    let (number, rest) = rest.split_once(' ')?;
    let run = number_of(number)?;
    let time = rest.strip_prefix(if run == 1 { "test in " } else { "tests in " })?;
    seconds(time.strip_suffix('s')?)?;
    let (word, details) = match verdict.split_once(" (") {
        Some((word, details)) => (word, Some(details.strip_suffix(')')?)),
        None => (verdict, None),
    };
    if !matches!(word, "OK" | "FAILED" | "NO TESTS RAN") {
        return None;
    }
    let mut counts = InnerCounts::default();
    for detail in details.map(|d| d.split(", ").collect::<Vec<_>>()).unwrap_or_default() {
        let (key, value) = detail.split_once('=')?;
        let value = number_of(value)?;
        match key {
            "failures" => counts.failed = value,
            "errors" => counts.errors = value,
            "skipped" => counts.skipped = value,
            "expected failures" => counts.xfailed = value,
            "unexpected successes" => counts.xpassed = value,
            _ => return None,
        }
    }
    // The verdict must agree with its counts, as unittest's own would.
    let failing = counts.failed + counts.errors + counts.xpassed > 0;
    match word {
        "OK" if failing => return None,
        "FAILED" if !failing => return None,
        "NO TESTS RAN" if run > 0 || failing => return None,
        _ => {}
    }
    // A test's failing subtests each count as a failure, and errors in class
    // or module fixtures belong to no test: "passed" never goes below zero.
    counts.passed =
        run.saturating_sub(counts.failed + counts.errors + counts.skipped + counts.xfailed + counts.xpassed);
    Some(counts)
}

fn pytest(text: &str) -> Option<InnerCounts> {
    let line = without_colours(last_lines(text).next()?);
    let line = line.trim();
    let inner = match line.strip_prefix('=') {
        Some(_) => {
            let inner = line.trim_start_matches('=').trim_end_matches('=');
            // Both sides are runs of '=' around one space each.
            let opened = line.len() - line.trim_start_matches('=').len();
            let closed = line.len() - line.trim_end_matches('=').len();
            if opened == 0 || closed == 0 {
                return None;
            }
            inner.strip_prefix(' ')?.strip_suffix(' ')?
        }
        None => line,
    };
    let (parts, time) = inner.rsplit_once(" in ")?;
    let time = match time.split_once(" (") {
        Some((time, clock)) => {
            let clock = clock.strip_suffix(')')?;
            if clock.is_empty() || !clock.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                return None;
            }
            time
        }
        None => time,
    };
    seconds(time.strip_suffix('s')?)?;
    let mut counts = InnerCounts::default();
    if parts == "no tests ran" {
        return Some(counts);
    }
    for part in parts.split(", ") {
        let (number, word) = part.split_once(' ')?;
        let number = number_of(number)?;
        match word {
            "passed" => counts.passed = number,
            "failed" => counts.failed = number,
            "error" | "errors" => counts.errors = number,
            "skipped" => counts.skipped = number,
            "xfailed" => counts.xfailed = number,
            "xpassed" => counts.xpassed = number,
            "warning" | "warnings" | "deselected" | "rerun" | "reruns" => {}
            _ => return None,
        }
    }
    Some(counts)
}

/// A count: plain digits, no sign.
fn number_of(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A duration in seconds as the frameworks print it (`0.001`, `12.50`).
fn seconds(text: &str) -> Option<()> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    (number_of(whole).is_some() && number_of(fraction).is_some()).then_some(())
}

/// The text without terminal colour codes (`ESC [ … m`), which pytest adds
/// when told to colour.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u64, failed: u64, errors: u64, skipped: u64) -> InnerCounts {
        InnerCounts { passed, failed, errors, skipped, ..InnerCounts::default() }
    }

    fn unittest_of(text: &str) -> Option<InnerCounts> {
        match parse(text)? {
            Summary::Unittest(counts) => Some(counts),
            Summary::Pytest(_) => None,
        }
    }

    fn pytest_of(text: &str) -> Option<InnerCounts> {
        match parse(text)? {
            Summary::Pytest(counts) => Some(counts),
            Summary::Unittest(_) => None,
        }
    }

    #[test]
    fn unittest_summaries_give_their_counts() {
        let dots = "....s.\n----------------------------------------------------------------------\n";
        assert_eq!(
            unittest_of(&format!("{dots}Ran 68 tests in 0.041s\n\nOK (skipped=6)\n")),
            Some(counts(62, 0, 0, 6))
        );
        assert_eq!(unittest_of("Ran 1 test in 0.000s\n\nOK\n"), Some(counts(1, 0, 0, 0)));
        assert_eq!(
            unittest_of("Ran 5 tests in 1.5s\n\nFAILED (failures=1, errors=2, skipped=1)\n"),
            Some(counts(1, 1, 2, 1))
        );
        let odd =
            unittest_of("Ran 4 tests in 0.002s\n\nFAILED (expected failures=1, unexpected successes=1)\n")
                .unwrap();
        assert_eq!((odd.passed, odd.xfailed, odd.xpassed), (2, 1, 1));
        assert_eq!(unittest_of("Ran 0 tests in 0.000s\n\nNO TESTS RAN\n"), Some(counts(0, 0, 0, 0)));
        assert_eq!(
            unittest_of("Ran 0 tests in 0.000s\n\nOK\n"),
            Some(counts(0, 0, 0, 0)),
            "Python before 3.12"
        );
        // Trailing blank lines and CRLF endings are not part of the shape.
        assert_eq!(unittest_of("Ran 2 tests in 0.1s\r\n\r\nOK\r\n\n\n"), Some(counts(2, 0, 0, 0)));
    }

    #[test]
    fn failing_subtests_and_fixture_errors_never_make_passed_negative() {
        assert_eq!(unittest_of("Ran 1 test in 0.0s\n\nFAILED (failures=3)\n"), Some(counts(0, 3, 0, 0)));
        assert_eq!(unittest_of("Ran 0 tests in 0.0s\n\nFAILED (errors=1)\n"), Some(counts(0, 0, 1, 0)));
    }

    #[test]
    fn near_misses_are_not_unittest_summaries() {
        for text in [
            "Ran 3 tests in 0.1s\n\nOK\nall done\n", // something printed after it
            "OK\n",                                  // no "Ran" line
            "Ran 3 tests in 0.1s\n",                 // no verdict
            "Ran 3 tests\n\nOK\n",                   // no time
            "Ran 1 tests in 0.1s\n\nOK\n",           // unittest says "1 test"
            "Ran three tests in 0.1s\n\nOK\n",
            "Ran -3 tests in 0.1s\n\nOK\n",
            "Ran 3 tests in 0.1s\n\nOK (failures=1)\n", // a verdict its counts contradict
            "Ran 3 tests in 0.1s\n\nFAILED\n",
            "Ran 3 tests in 0.1s\n\nNO TESTS RAN\n",
            "Ran 3 tests in 0.1s\n\nFAILED (failures=x)\n",
            "Ran 3 tests in 0.1s\n\nFAILED (flakes=1)\n",
            "Ran 3 tests in 0.1s\n\nOK (skipped=1\n",
            "Ran 3 tests in 0.1s\n\nPASSED\n",
            "Ran 3 tests in 0.1s\nsome line\nOK\n", // not unittest's layout
            "",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn pytest_summaries_give_their_counts() {
        let line = |s: &str| format!("tests.py ..F\n{s}\n");
        assert_eq!(pytest_of(&line("=== 2 passed, 1 failed in 0.12s ===")), Some(counts(2, 1, 0, 0)));
        assert_eq!(
            pytest_of(&line("========== 1 failed, 3 passed, 2 skipped, 1 xfailed, 1 xpassed, 2 warnings, 1 error in 1.50s ==========")),
            Some(InnerCounts { passed: 3, failed: 1, errors: 1, skipped: 2, xfailed: 1, xpassed: 1, deselected: 0 })
        );
        assert_eq!(pytest_of(&line("2 passed in 0.01s")), Some(counts(2, 0, 0, 0)), "-q has no rule");
        assert_eq!(pytest_of(&line("==== 4 passed in 75.20s (0:01:15) ====")), Some(counts(4, 0, 0, 0)));
        assert_eq!(pytest_of(&line("==== 2 errors in 0.30s ====")), Some(counts(0, 0, 2, 0)));
        assert_eq!(pytest_of(&line("==== no tests ran in 0.01s ====")), Some(counts(0, 0, 0, 0)));
        assert_eq!(pytest_of(&line("=== 1 passed, 3 deselected in 0.02s ===")), Some(counts(1, 0, 0, 0)));
        let coloured =
            "\x1b[32m=== \x1b[32m\x1b[1m5 passed\x1b[0m\x1b[32m in 0.03s\x1b[0m\x1b[32m ===\x1b[0m\n";
        assert_eq!(pytest_of(coloured), Some(counts(5, 0, 0, 0)));
    }

    #[test]
    fn near_misses_are_not_pytest_summaries() {
        for text in [
            "=== 2 passed in 0.1s ===\ncleanup done\n", // not last
            "=== 2 passed ===\n",                       // no time
            "2 passed in no time\n",
            "=== 2 passed, 1 exploded in 0.1s ===\n", // an unknown outcome
            "=== two passed in 0.1s ===\n",
            "2 passed in 0.1s ===\n", // a rule on one side only
            "=== 2 passed in 0.1s\n",
            "===2 passed in 0.1s===\n",
            "we passed in 0.1s\n",
            "=== 2 passed in 0.1s (soon) ===\n",
            "==========\n",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_scripts_streams_are_read_stderr_first_and_only_at_their_end() {
        let stderr = Captured::from_text("..\nRan 2 tests in 0.0s\n\nFAILED (failures=1)\n");
        let stdout = Captured::from_text("=== 7 passed in 0.1s ===\n");
        let report = read(&stdout, &stderr).unwrap();
        assert_eq!((report.harness, report.summary_of), (Harness::Script, Some(Framework::Unittest)));
        assert_eq!(report.counts, counts(1, 1, 0, 0));
        assert!(report.tests.is_empty() && report.has_counts());
        let report = read(&stdout, &Captured::from_text("Traceback ...\n")).unwrap();
        assert_eq!((report.summary_of, report.counts.passed), (Some(Framework::Pytest), 7));
        assert_eq!(read(&Captured::from_text("45\n"), &Captured::from_text("")), None);
    }
}
