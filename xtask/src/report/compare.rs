//! `compare`'s output: the pairs of two reports with their deltas, as text
//! for a terminal, Markdown for a pull-request comment or step summary, or
//! JSON for tools. Regressions and status changes first (the model sorts).
//! Each is written a row at a time as it is made (`write_text`,
//! `write_markdown`, `write_json`), so a comparison
//! of 160,000 pairs is never one string in memory (`text` and `markdown`
//! give the same as a string, for tests).

use std::io::{self, Write};

use serde::ser::{Serialize, Serializer};

use crate::model::compare::{label, Comparison, Delta, Gate, Measurable, Measure, Pair, Verdict, MEASURES};
use crate::model::measure::Threshold;
use crate::model::schema::JobRecord;
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
pub fn closing_line<R>(comparison: &Comparison<R>) -> String {
    let regressed = comparison.regressions();
    let improved = comparison.improvements();
    let within = comparison.pairs.len() - regressed - improved;
    let mut line = format!(
        "{regressed} regressed, {improved} improved, {within} within the thresholds ({} compared)",
        comparison.pairs.len()
    );
    if !comparison.only_base.is_empty() {
        line.push_str(&format!("; {} only in the baseline", comparison.only_base.len()));
    }
    if !comparison.only_new.is_empty() {
        line.push_str(&format!("; {} only in the new report", comparison.only_new.len()));
    }
    line
}

/// The measures any pair has, in `MEASURES` order (the table's columns).
fn shown_measures<R>(comparison: &Comparison<R>) -> Vec<&'static Measure> {
    MEASURES
        .iter()
        .filter(|m| {
            comparison.pairs.iter().any(|p| p.deltas.iter().any(|d| d.measure.id.key() == m.id.key()))
        })
        .collect()
}

fn delta_for<'a, R>(pair: &'a Pair<R>, key: &str) -> Option<&'a Delta> {
    pair.deltas.iter().find(|d| d.measure.id.key() == key)
}

fn status_text<R: Measurable>(pair: &Pair<R>) -> String {
    if pair.status_changed() {
        format!("{} → {}", pair.base.status(), pair.new.status())
    } else {
        pair.new.status().to_string()
    }
}

/// `10.0 MiB → 20.0 MiB ×2.00`, or `… (not comparable: largest test vs whole module)`.
fn cell(delta: Option<&Delta>) -> String {
    delta.map_or("-".to_string(), |d| match words::not_comparable(d) {
        Some(why) => format!("{} ({why})", words::values_text(d)),
        None => format!("{} {}", words::values_text(d), words::ratio_text(d)),
    })
}

fn mark<R: Measurable>(pair: &Pair<R>) -> &'static str {
    if pair.regressed() {
        "REGRESSED"
    } else if pair.improved() {
        "improved"
    } else {
        ""
    }
}

#[cfg(test)]
fn to_string(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("writing to memory");
    String::from_utf8(out).expect("the output is UTF-8")
}

#[cfg(test)]
/// Plain text: a heading, one line per pair (wrapped within its cells to
/// fit `width`), the one-sided results, the closing line.
pub fn text<R: Measurable>(comparison: &Comparison<R>, gate: &Gate, sides: &Sides, width: usize) -> String {
    to_string(|out| write_text(out, comparison, gate, sides, width))
}

/// The table's widths come from a first pass over the pairs (each row made
/// and measured, then dropped); the second writes each row as it is made.
pub fn write_text<R: Measurable>(
    out: &mut dyn Write,
    comparison: &Comparison<R>,
    gate: &Gate,
    sides: &Sides,
    width: usize,
) -> io::Result<()> {
    let heading = format!("compare {} → {}", sides.base, sides.new);
    let gate_line = format!("gate: {}", words::gate(gate));
    for line in [heading, gate_line] {
        for piece in table::wrap(&sanitize::terminal_line(&line), width) {
            writeln!(out, "{piece}")?;
        }
    }
    writeln!(out)?;
    let measures = shown_measures(comparison);
    let mut columns = vec![Column::first_to_narrow("result"), Column::left("status")];
    columns.extend(measures.iter().map(|m| Column::flexible(words::measure_label(m.id))));
    columns.push(Column::left(""));
    let row = |pair: &Pair<R>| {
        let mut row = vec![sanitize::terminal_line(&label(pair.new.job())).into_owned(), status_text(pair)];
        row.extend(measures.iter().map(|m| cell(delta_for(pair, m.id.key()))));
        row.push(mark(pair).to_string());
        row
    };
    let mut widest = table::widest(&columns);
    for pair in &comparison.pairs {
        table::widen(&mut widest, &row(pair));
    }
    let widths = table::fit_widest(&columns, widest, width);
    let plain = |_: Option<usize>, _: usize, cell: String| cell;
    let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    for line in table::row_lines(&columns, &widths, &header, None, &plain) {
        out.write_all(line.as_bytes())?;
    }
    for (index, pair) in comparison.pairs.iter().enumerate() {
        for line in table::row_lines(&columns, &widths, &row(pair), Some(index), &plain) {
            out.write_all(line.as_bytes())?;
        }
    }
    let plain = |l: &str| format!("  {}\n", sanitize::terminal_line(l));
    one_sided(out, "only in the baseline", &comparison.only_base, plain)?;
    one_sided(out, "only in the new report", &comparison.only_new, plain)?;
    writeln!(out)?;
    writeln!(out, "{}", closing_line(comparison))
}

fn one_sided<R: Measurable>(
    out: &mut dyn Write,
    title: &str,
    records: &[&R],
    line: impl Fn(&str) -> String,
) -> io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    write!(out, "\n{title} ({}):\n", records.len())?;
    for record in records {
        out.write_all(line(&format!("{} ({})", label(record.job()), record.status())).as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
/// Markdown for a pull-request comment or a step summary.
pub fn markdown<R: Measurable>(comparison: &Comparison<R>, gate: &Gate, sides: &Sides) -> String {
    to_string(|out| write_markdown(out, comparison, gate, sides))
}

pub fn write_markdown<R: Measurable>(
    out: &mut dyn Write,
    comparison: &Comparison<R>,
    gate: &Gate,
    sides: &Sides,
) -> io::Result<()> {
    write!(
        out,
        "### pymaccounter: `{}` → `{}`\n\n**{}**\n\nA regression is a change beyond both its threshold and \
         its floor ({}).\n\n",
        sides.base,
        sides.new,
        closing_line(comparison),
        words::gate(gate)
    )?;
    let measures = shown_measures(comparison);
    if !comparison.pairs.is_empty() {
        let mut head = String::from("| result | status |");
        for measure in &measures {
            head.push_str(&format!(" {} |", words::measure_label(measure.id)));
        }
        head.push_str(" |\n|---|---|");
        head.push_str(&"---:|".repeat(measures.len()));
        head.push_str("---|\n");
        out.write_all(head.as_bytes())?;
        for pair in &comparison.pairs {
            let mut line = format!(
                "| {} | {} |",
                sanitize::markdown_code_cell(&label(pair.new.job())),
                status_text(pair)
            );
            for measure in &measures {
                let text = match delta_for(pair, measure.id.key()) {
                    Some(d) if d.verdict == Verdict::Regressed => format!("**{}**", cell(Some(d))),
                    other => cell(other),
                };
                line.push_str(&format!(" {text} |"));
            }
            let flag = if pair.regressed() {
                "❌ regressed"
            } else if pair.improved() {
                "✅ improved"
            } else {
                ""
            };
            writeln!(out, "{line} {flag} |")?;
        }
    }
    let item = |l: &str| format!("- {}\n", sanitize::markdown_code_cell(l));
    one_sided(out, "Only in the baseline", &comparison.only_base, item)?;
    one_sided(out, "Only in the new report", &comparison.only_new, item)?;
    writeln!(out)
}

#[derive(serde::Serialize)]
#[serde(bound = "R: Measurable")]
struct JsonComparison<'a, R> {
    schema_version: u32,
    base: &'a str,
    new: &'a str,
    gate: Vec<JsonGate>,
    pairs: JsonPairs<'a, R>,
    only_base: Jobs<'a, R>,
    only_new: Jobs<'a, R>,
    summary: JsonSummary,
}

/// The pairs, each turned into its JSON as the serializer reaches it.
struct JsonPairs<'a, R>(&'a [Pair<'a, R>]);

impl<R: Measurable> Serialize for JsonPairs<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|pair| {
            JsonPair {
                job: pair.new.job(),
                status_before: pair.base.status(),
                status_after: pair.new.status(),
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
                        ratio: Some(d.ratio())
                            .filter(|r| r.is_finite() && d.verdict != Verdict::NotComparable),
                        verdict: d.verdict,
                        scopes: (d.scopes[0] != d.scopes[1])
                            .then_some(JsonScopes { before: d.scopes[0], after: d.scopes[1] }),
                    })
                    .collect(),
            }
        }))
    }
}

/// The jobs of one-sided results.
struct Jobs<'a, R>(&'a [&'a R]);

impl<R: Measurable> Serialize for Jobs<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|r| r.job()))
    }
}

#[derive(serde::Serialize)]
struct JsonGate {
    measure: &'static str,
    /// `null` when the measure is not gated (`off`).
    threshold_percent: Option<f64>,
    min_delta: f64,
}

#[derive(serde::Serialize)]
struct JsonPair<'a> {
    #[serde(flatten)]
    job: &'a JobRecord,
    status_before: Status,
    status_after: Status,
    regressed: bool,
    improved: bool,
    measures: Vec<JsonDelta>,
}

#[derive(serde::Serialize)]
struct JsonDelta {
    measure: &'static str,
    field: crate::model::measure::MeasureId,
    before: f64,
    after: f64,
    /// `null` when the baseline was 0, or the values are not comparable.
    ratio: Option<f64>,
    verdict: Verdict,
    /// What each value is of, when they differ (`verdict` is `not-comparable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<JsonScopes>,
}

#[derive(serde::Serialize)]
struct JsonScopes {
    before: crate::model::measure::Scope,
    after: crate::model::measure::Scope,
}

#[derive(serde::Serialize)]
struct JsonSummary {
    compared: usize,
    regressed: usize,
    improved: usize,
    only_base: usize,
    only_new: usize,
}

/// JSON for tools; `schema_version` says which shape.
pub fn write_json<R: Measurable>(
    out: &mut dyn Write,
    comparison: &Comparison<R>,
    gate: &Gate,
    sides: &Sides,
) -> io::Result<()> {
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
        pairs: JsonPairs(&comparison.pairs),
        only_base: Jobs(&comparison.only_base),
        only_new: Jobs(&comparison.only_new),
        summary: JsonSummary {
            compared: comparison.pairs.len(),
            regressed: comparison.regressions(),
            improved: comparison.improvements(),
            only_base: comparison.only_base.len(),
            only_new: comparison.only_new.len(),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &value).map_err(io::Error::other)?;
    writeln!(out)
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
