//! `compare`'s output: the pairs of two reports with their deltas, as text
//! for a terminal, Markdown for a pull-request comment or step summary, or
//! JSON for tools. Regressions and status changes first (the model sorts).

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::compare::{label, Comparison, Delta, Gate, Measure, Pair, Verdict, MEASURES};
use crate::model::measure::Threshold;
use crate::model::schema::{JobRecord, ResultRecord};
use crate::model::status::Status;
use crate::report::table::{self, Column};
use crate::report::words;
use crate::sanitize;

/// Bumped whenever a field of the JSON output changes meaning or goes away.
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// The two sides, as the user named them.
pub struct Sides<'a> {
    pub base: &'a str,
    pub new: &'a str,
}

/// `2 regressed, 1 improved, 9 within the thresholds (12 compared); 1 only in the baseline`.
pub fn closing_line(comparison: &Comparison) -> String {
    let regressed = comparison.regressions();
    let improved = comparison.improvements();
    let within = comparison.pairs.len() - regressed - improved;
    let mut line = format!(
        "{regressed} regressed, {improved} improved, {within} within the thresholds ({} compared)",
        comparison.pairs.len()
    );
    if !comparison.only_base.is_empty() {
        let _ = write!(line, "; {} only in the baseline", comparison.only_base.len());
    }
    if !comparison.only_new.is_empty() {
        let _ = write!(line, "; {} only in the new report", comparison.only_new.len());
    }
    line
}

/// The measures any pair has, in `MEASURES` order (the table's columns).
fn shown_measures(comparison: &Comparison) -> Vec<&'static Measure> {
    MEASURES
        .iter()
        .filter(|m| {
            comparison.pairs.iter().any(|p| p.deltas.iter().any(|d| d.measure.id.key() == m.id.key()))
        })
        .collect()
}

fn delta_for<'a>(pair: &'a Pair, key: &str) -> Option<&'a Delta> {
    pair.deltas.iter().find(|d| d.measure.id.key() == key)
}

fn status_text(pair: &Pair) -> String {
    if pair.status_changed() {
        format!("{} → {}", pair.base.status, pair.new.status)
    } else {
        pair.new.status.to_string()
    }
}

/// `10.0 MiB → 20.0 MiB ×2.00`.
fn cell(delta: Option<&Delta>) -> String {
    delta.map_or("-".to_string(), |d| format!("{} {}", words::values_text(d), words::ratio_text(d)))
}

fn mark(pair: &Pair) -> &'static str {
    if pair.regressed() {
        "REGRESSED"
    } else if pair.improved() {
        "improved"
    } else {
        ""
    }
}

/// Plain text: a heading, one line per pair (wrapped within its cells to
/// fit `width`), the one-sided results, the closing line.
pub fn text(comparison: &Comparison, gate: &Gate, sides: &Sides, width: usize) -> String {
    let heading = format!("compare {} → {}", sides.base, sides.new);
    let gate_line = format!("gate: {}", words::gate(gate));
    let mut out = String::new();
    for line in [heading, gate_line] {
        for piece in table::wrap(&sanitize::terminal_line(&line), width) {
            out.push_str(&piece);
            out.push('\n');
        }
    }
    out.push('\n');
    let measures = shown_measures(comparison);
    let mut columns = vec![Column::first_to_narrow("result"), Column::left("status")];
    columns.extend(measures.iter().map(|m| Column::flexible(words::measure_label(m.id))));
    columns.push(Column::left(""));
    let rows: Vec<Vec<String>> = comparison
        .pairs
        .iter()
        .map(|pair| {
            let mut row =
                vec![sanitize::terminal_line(&label(&pair.new.job)).into_owned(), status_text(pair)];
            row.extend(measures.iter().map(|m| cell(delta_for(pair, m.id.key()))));
            row.push(mark(pair).to_string());
            row
        })
        .collect();
    out.push_str(&table::render(&columns, &rows, width, &|_, _, cell| cell));
    let plain = |l: &str| format!("  {}\n", sanitize::terminal_line(l));
    one_sided(&mut out, "only in the baseline", &comparison.only_base, plain);
    one_sided(&mut out, "only in the new report", &comparison.only_new, plain);
    out.push('\n');
    out.push_str(&closing_line(comparison));
    out.push('\n');
    out
}

fn one_sided(out: &mut String, title: &str, records: &[&ResultRecord], line: impl Fn(&str) -> String) {
    if records.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title} ({}):", records.len());
    for record in records {
        out.push_str(&line(&format!("{} ({})", label(&record.job), record.status)));
    }
}

/// Markdown for a pull-request comment or a step summary.
pub fn markdown(comparison: &Comparison, gate: &Gate, sides: &Sides) -> String {
    let mut out = format!(
        "### pymaccounter: `{}` → `{}`\n\n**{}**\n\nA regression is a change beyond both its threshold and \
         its floor ({}).\n\n",
        sides.base,
        sides.new,
        closing_line(comparison),
        words::gate(gate)
    );
    let measures = shown_measures(comparison);
    if !comparison.pairs.is_empty() {
        out.push_str("| result | status |");
        for measure in &measures {
            let _ = write!(out, " {} |", words::measure_label(measure.id));
        }
        out.push_str(" |\n|---|---|");
        out.push_str(&"---:|".repeat(measures.len()));
        out.push_str("---|\n");
        for pair in &comparison.pairs {
            let _ = write!(
                out,
                "| {} | {} |",
                sanitize::markdown_code_cell(&label(&pair.new.job)),
                status_text(pair)
            );
            for measure in &measures {
                let text = match delta_for(pair, measure.id.key()) {
                    Some(d) if d.verdict == Verdict::Regressed => format!("**{}**", cell(Some(d))),
                    other => cell(other),
                };
                let _ = write!(out, " {text} |");
            }
            let flag = if pair.regressed() {
                "❌ regressed"
            } else if pair.improved() {
                "✅ improved"
            } else {
                ""
            };
            let _ = writeln!(out, " {flag} |");
        }
    }
    let item = |l: &str| format!("- {}\n", sanitize::markdown_code_cell(l));
    one_sided(&mut out, "Only in the baseline", &comparison.only_base, item);
    one_sided(&mut out, "Only in the new report", &comparison.only_new, item);
    out.push('\n');
    out
}

#[derive(Serialize)]
struct JsonComparison<'a> {
    schema_version: u32,
    base: &'a str,
    new: &'a str,
    gate: Vec<JsonGate>,
    pairs: Vec<JsonPair<'a>>,
    only_base: Vec<&'a JobRecord>,
    only_new: Vec<&'a JobRecord>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonGate {
    measure: &'static str,
    /// `null` when the measure is not gated (`off`).
    threshold_percent: Option<f64>,
    min_delta: f64,
}

#[derive(Serialize)]
struct JsonPair<'a> {
    #[serde(flatten)]
    job: &'a JobRecord,
    status_before: Status,
    status_after: Status,
    regressed: bool,
    improved: bool,
    measures: Vec<JsonDelta>,
}

#[derive(Serialize)]
struct JsonDelta {
    measure: &'static str,
    field: crate::model::measure::MeasureId,
    before: f64,
    after: f64,
    /// `null` when the baseline was 0.
    ratio: Option<f64>,
    verdict: Verdict,
}

#[derive(Serialize)]
struct JsonSummary {
    compared: usize,
    regressed: usize,
    improved: usize,
    only_base: usize,
    only_new: usize,
}

/// JSON for tools; `schema_version` says which shape.
pub fn json(comparison: &Comparison, gate: &Gate, sides: &Sides) -> String {
    let value = JsonComparison {
        schema_version: COMPARE_SCHEMA_VERSION,
        base: sides.base,
        new: sides.new,
        gate: MEASURES
            .iter()
            .map(|m| JsonGate {
                measure: m.id.key(),
                threshold_percent: match gate.threshold(m) {
                    Threshold::Percent(p) => Some(p),
                    Threshold::Off => None,
                },
                min_delta: gate.floor(m),
            })
            .collect(),
        pairs: comparison
            .pairs
            .iter()
            .map(|pair| JsonPair {
                job: &pair.new.job,
                status_before: pair.base.status,
                status_after: pair.new.status,
                regressed: pair.regressed(),
                improved: pair.improved(),
                measures: pair
                    .deltas
                    .iter()
                    .map(|d| JsonDelta {
                        measure: d.measure.id.key(),
                        field: d.measure.id,
                        before: d.before,
                        after: d.after,
                        ratio: Some(d.ratio()).filter(|r| r.is_finite()),
                        verdict: d.verdict,
                    })
                    .collect(),
            })
            .collect(),
        only_base: comparison.only_base.iter().map(|r| &r.job).collect(),
        only_new: comparison.only_new.iter().map(|r| &r.job).collect(),
        summary: JsonSummary {
            compared: comparison.pairs.len(),
            regressed: comparison.regressions(),
            improved: comparison.improvements(),
            only_base: comparison.only_base.len(),
            only_new: comparison.only_new.len(),
        },
    };
    serde_json::to_string_pretty(&value).expect("plain data serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_made_safe_in_every_format() {
        use crate::model::schema::{JobRecord, ResultRecord};
        let hostile = "test_\x1b[2J\n### owned <img src=x>|`.py";
        let job = JobRecord { module: hostile.into(), python_malloc: None, python: None };
        let base = [ResultRecord::passed(job.clone(), 1.0, 1 << 20)];
        let other = JobRecord { module: format!("{hostile}2"), ..job.clone() };
        let new = [ResultRecord::passed(job, 1.0, 1 << 20), ResultRecord::passed(other, 1.0, 1 << 20)];
        let comparison = crate::model::compare::compare(&base, &new, &Gate::default()).unwrap();
        let sides = Sides { base: "a.json", new: "b.json" };
        let text = text(&comparison, &Gate::default(), &sides, 80);
        assert!(!text.contains('\x1b'), "{text}");
        let markdown = markdown(&comparison, &Gate::default(), &sides);
        assert!(!markdown.contains("\n### owned"), "no heading injected:\n{markdown}");
        assert!(!markdown.contains('\x1b'), "{markdown}");
    }

    #[test]
    fn the_text_fits_80_columns_and_keeps_every_name_and_status() {
        use crate::model::schema::{JobRecord, ResultRecord};
        let modules = [
            "property/strategies/test_a_rather_long_module_name_for_strategies.py",
            "unit/parsers/isoparser/test_isoparser_with_timezone_offsets.py",
        ];
        let (mut base, mut new) = (Vec::new(), Vec::new());
        for module in modules {
            for malloc in ["pymalloc", "malloc"] {
                for python in ["3.13", "3.14-dbg"] {
                    let job = JobRecord {
                        module: module.into(),
                        python_malloc: Some(malloc.into()),
                        python: Some(python.into()),
                    };
                    let mut before = ResultRecord::passed(job.clone(), 1.0, 10 << 20);
                    before.container_peak_bytes = Some(30 << 20);
                    let mut after = ResultRecord::passed(job, 2.5, 25 << 20);
                    after.container_peak_bytes = Some(31 << 20);
                    base.push(before);
                    new.push(after);
                }
            }
        }
        let comparison = crate::model::compare::compare(&base, &new, &Gate::default()).unwrap();
        let sides =
            Sides { base: "target/reports/main/report.json", new: "target/reports/pr-1234/report.json" };
        let text = text(&comparison, &Gate::default(), &sides, 80);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{} columns: {line}\n{text}", line.chars().count());
        }
        let names: String = text.lines().map(|l| l.split("  ").next().unwrap_or("").trim()).collect();
        for module in modules {
            assert!(names.contains(module), "{module} unreadable:\n{text}");
        }
        assert_eq!(text.matches("REGRESSED").count(), 8, "{text}");
    }
}
