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
    let with_baseline = outcome.results.iter().any(|r| r.baseline.is_some());
    let (extra_head, extra_rule) = if with_baseline { (" vs baseline |", "---|") } else { ("", "") };
    text.push_str(&format!(
        "| module | allocator | python | status | duration | peak memory |{extra_head}\n"
    ));
    text.push_str(&format!("|---|---|---|---|---:|---:|{extra_rule}\n"));
    for result in &outcome.results {
        let row = Row::of(result);
        let icon = match row.tally {
            Tally::Passed => "✅",
            Tally::Skipped => "⏭️",
            Tally::Failed => "❌",
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {icon} {} | {} | {} |",
            row.module, row.allocator, row.python, row.status, row.duration, row.peak,
        ));
        if with_baseline {
            text.push_str(&format!(" {} |", row.vs_baseline.as_deref().unwrap_or("")));
        }
        text.push('\n');
    }
    for job in &outcome.not_run {
        text.push_str(&format!("| `{}` | | | not run | | |\n", job.label()));
    }
    text.push_str(&format!("\n**{}**\n\n", outcome.counts().closing_line()));
    let reasons: Vec<String> = outcome
        .results
        .iter()
        .filter(|r| r.status() == crate::model::status::Status::Regressed)
        .filter_map(|r| r.execution.reason().map(|reason| format!("- `{}`: {reason}\n", r.job.label())))
        .collect();
    if !reasons.is_empty() {
        text.push_str("Regressions:\n\n");
        text.push_str(&reasons.concat());
        text.push('\n');
    }
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
        .filter(|r| r.tally() == Tally::Failed)
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
