//! GitHub Actions: a Markdown table for the job's step summary
//! (`GITHUB_STEP_SUMMARY`) and `::error` annotations (`GITHUB_ACTIONS=true`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::result::Outcome;
use crate::model::status::Tally;
use crate::report::{words, Row};
use crate::sanitize;

/// Rows of the step summary at most: GitHub refuses a summary over 1 MiB,
/// and a merged CI run can hold 160,000 results.
const STEP_ROWS: usize = 500;

/// The results the step summary lists: all of them when they fit, else failures first.
fn listed(outcome: &Outcome) -> Vec<&crate::model::result::ModuleResult> {
    let mut results: Vec<_> = outcome.results.iter().collect();
    if results.len() > STEP_ROWS {
        results.sort_by_key(|r| r.tally() != Tally::Failed);
        results.truncate(STEP_ROWS);
    }
    results
}

pub fn step_summary(outcome: &Outcome, test_dir: &str) -> String {
    let mut text = format!("### pymaccounter: {}\n\n", sanitize::markdown_cell(test_dir));
    let with_baseline = outcome.results.iter().any(|r| r.baseline.is_some());
    let (extra_head, extra_rule) = if with_baseline { (" vs baseline |", "---|") } else { ("", "") };
    text.push_str(&format!(
        "| module | allocator | python | status | duration | peak memory |{extra_head}\n"
    ));
    text.push_str(&format!("|---|---|---|---|---:|---:|{extra_rule}\n"));
    let listed = listed(outcome);
    for result in &listed {
        let row = Row::of(result);
        let icon = match row.tally {
            Tally::Passed => "✅",
            Tally::Skipped => "⏭️",
            Tally::Failed => "❌",
        };
        text.push_str(&format!(
            "| {} | {} | {} | {icon} {} | {} | {} |",
            sanitize::markdown_code_cell(row.module),
            row.allocator,
            row.python,
            row.status,
            row.duration,
            row.peak,
        ));
        if with_baseline {
            text.push_str(&format!(" {} |", row.vs_baseline.as_deref().unwrap_or("")));
        }
        text.push('\n');
    }
    for job in &outcome.not_run {
        text.push_str(&format!("| {} | | | not run | | |\n", sanitize::markdown_code_cell(&job.label())));
    }
    if listed.len() < outcome.results.len() {
        text.push_str(&format!("\n{}\n", words::more_results(outcome.results.len() - listed.len())));
    }
    text.push_str(&format!("\n**{}**\n\n", outcome.counts().closing_line()));
    let reasons: Vec<String> = outcome
        .results
        .iter()
        .filter(|r| r.status() == crate::model::status::Status::Regressed)
        .filter_map(|r| {
            words::reason(&r.execution).map(|reason| format!("- `{}`: {reason}\n", r.job.label()))
        })
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
            let reason = words::reason(&r.execution).unwrap_or_else(|| "did not pass".into());
            format!(
                "::error file={},title={}::{}",
                sanitize::workflow_property(&format!("{test_dir}/{}", r.job.module)),
                sanitize::workflow_property(&format!("{} {}", r.job.label(), r.status())),
                sanitize::workflow_data(&format!("{reason}\n{last_line}")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::result::ModuleResult;
    use crate::model::status::Execution;

    fn outcome(module: &str, stderr: &str) -> Outcome {
        let failed = Execution::Failed { exit_code: 1, why: None };
        let result = ModuleResult::sample(module, failed, "", stderr);
        let mut outcome = Outcome::empty("r".into());
        outcome.not_run = vec![result.job.clone()];
        outcome.results = vec![result];
        outcome
    }

    #[test]
    fn a_hostile_module_name_stays_in_its_table_cell() {
        let summary = step_summary(&outcome("test_a|b`c\nd.py", ""), "dir");
        let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), 2, "{summary}");
        for row in rows {
            // Cells split on `|` not preceded by a backslash: 6 cells, 7 separators.
            let separators = row.match_indices('|').filter(|(i, _)| !row[..*i].ends_with('\\')).count();
            assert_eq!(separators, 7, "{row}");
        }
    }

    #[test]
    fn annotations_are_one_line_whatever_the_module_printed() {
        let lines = annotations(&outcome("test_x,y:z.py", "50%\r\n\x1b[2Jboom\r\n"), "dir");
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains(['\r', '\n', '\x1b']), "{:?}", lines[0]);
        assert!(lines[0].starts_with("::error file=dir/test_x%2Cy%3Az.py,title="), "{}", lines[0]);
        assert!(lines[0].ends_with("::exit code 1%0A\\x1b[2Jboom"), "{}", lines[0]);
    }

    #[test]
    fn a_step_summary_of_a_huge_run_lists_failures_first_and_stays_under_github_s_limit() {
        let mut big = Outcome::empty("r".into());
        for i in 0..20_000 {
            let execution =
                if i % 1000 == 999 { Execution::Crashed { signal: 11 } } else { Execution::Passed };
            big.results.push(ModuleResult::sample(&format!("pkg/test_module_{i:05}.py"), execution, "", ""));
        }
        let summary = step_summary(&big, "dir");
        assert!(summary.len() < 1 << 20, "{} bytes", summary.len());
        let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), STEP_ROWS);
        assert!(
            rows[..20].iter().all(|r| r.contains("crash")) && !rows[20].contains("crash"),
            "{}",
            rows[20]
        );
        assert!(summary.contains("… and 19500 more results, not listed here"), "{summary:.300}");
        assert!(summary.contains("**19980 passed, 20 failed**"));
    }
}
