//! GitHub Actions: a Markdown table for the job's step summary
//! (`GITHUB_STEP_SUMMARY`) and `::error` annotations (`GITHUB_ACTIONS=true`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::result::Outcome;
use crate::model::status::Tally;
use crate::report::Row;

pub fn step_summary(outcome: &Outcome, test_dir: &str) -> String {
    let mut text = format!("### pymaccounter: {test_dir}\n\n");
    text.push_str("| module | allocator | python | status | duration | peak memory |\n");
    text.push_str("|---|---|---|---|---:|---:|\n");
    for result in &outcome.results {
        let row = Row::of(result);
        let icon = match row.status.tally() {
            Tally::Passed => "✅",
            Tally::Skipped => "⏭️",
            Tally::Failed => "❌",
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {icon} {} | {} | {} |\n",
            row.module, row.allocator, row.python, row.status, row.duration, row.peak,
        ));
    }
    for job in &outcome.not_run {
        text.push_str(&format!("| `{}` | | | not run | | |\n", job.label()));
    }
    text.push_str(&format!("\n**{}**\n\n", outcome.counts().closing_line()));
    text
}

pub fn append_step_summary(outcome: &Outcome, test_dir: &str, path: &Path) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the step summary {}", path.display()))?;
    file.write_all(step_summary(outcome, test_dir).as_bytes())?;
    Ok(())
}

/// One `::error` workflow command per result that did not pass.
pub fn annotations(outcome: &Outcome, test_dir: &str) -> Vec<String> {
    outcome
        .results
        .iter()
        .filter(|r| !r.status().is_success())
        .map(|r| {
            let stderr = r.stderr.text();
            let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            let reason = r.execution.reason().unwrap_or_else(|| "did not pass".into());
            format!(
                "::error file={},title={}::{}",
                escape_property(&format!("{test_dir}/{}", r.job.module)),
                escape_property(&format!("{} {}", r.job.label(), r.status())),
                escape_data(&format!("{reason}\n{last_line}")),
            )
        })
        .collect()
}

/// Workflow command data: %, CR and LF are encoded.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Workflow command properties also encode ':' and ','.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a,b:c"), "a%2Cb%3Ac");
    }
}
