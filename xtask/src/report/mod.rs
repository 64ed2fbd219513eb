//! Presentation: reporters render the runner's events and outcome; nothing
//! else in the runner formats for people or files.

pub mod github;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod sanitize;
pub mod terminal;

use crate::outcome::ModuleResult;

/// Counts for the closing line and the reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of(results: &[ModuleResult]) -> Counts {
        let mut counts = Counts::default();
        for result in results {
            match result.status {
                crate::outcome::Status::Pass => counts.passed += 1,
                crate::outcome::Status::Skip => counts.skipped += 1,
                _ => counts.failed += 1,
            }
        }
        counts
    }

    /// `N passed, N failed`, with `, N skipped` when any skipped.
    pub fn closing_line(self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// `8.1 MiB`: binary units, one decimal.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_mentions_skips_only_when_there_are_some() {
        assert_eq!(Counts { passed: 4, failed: 0, skipped: 0 }.closing_line(), "4 passed, 0 failed");
        assert_eq!(
            Counts { passed: 1, failed: 1, skipped: 1 }.closing_line(),
            "1 passed, 1 failed, 1 skipped"
        );
    }

    #[test]
    fn bytes_read_as_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8 * 1024 * 1024 + 100 * 1024), "8.1 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
