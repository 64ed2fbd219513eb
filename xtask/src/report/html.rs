//! `--report-html`: one self-contained page (no network fetches) with the
//! summary table and an SVG bar chart of peak memory, one bar per result,
//! a module's variants side by side and coloured by allocator / Python version.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::job::Job;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::status::Tally;
use crate::report::{human_bytes, sanitize, FileReport, ReportContext, Row};

pub const REPORT: FileReport =
    FileReport { flag: "report-html", path: |args| args.report_html.as_deref(), write };

const PALETTE: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
const LABEL_WIDTH: f64 = 330.0;
const BAR_AREA: f64 = 520.0;
const BAR_HEIGHT: f64 = 18.0;
const BAR_GAP: f64 = 4.0;
const GROUP_GAP: f64 = 10.0;
/// The baseline value drawn on each bar.
const BASELINE_PEAK: &str = "peak_rss_bytes";

/// The variant a bar stands for (its colour).
fn variant(job: &Job) -> String {
    job.variant.long().unwrap_or_else(|| "default".to_string())
}

/// The CSS class of a status: how it counts.
fn tally_class(tally: Tally) -> &'static str {
    match tally {
        Tally::Passed => "passed",
        Tally::Skipped => "skipped",
        Tally::Failed => "failed",
    }
}

pub fn render(outcome: &Outcome, title: &str) -> String {
    let counts = outcome.counts();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{title}</title>\n\
         <style>\nbody {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; }} th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}\n\
         td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .passed {{ color: #2e7d32; }} .skipped {{ color: #8a6d00; }} .failed {{ color: #c62828; font-weight: bold; }}\n\
         svg text {{ font-size: 12px; font-family: system-ui, sans-serif; }}\n</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n<p><strong>{}</strong>{}</p>\n",
        sanitize::html(&counts.closing_line()),
        if outcome.not_run.is_empty() { String::new() } else { format!(", {} not run", outcome.not_run.len()) },
        title = sanitize::html(title),
    );
    page.push_str("<h2>Peak memory (RSS) per module</h2>\n");
    page.push_str(&chart(&outcome.results));
    page.push_str(&table(&outcome.results));
    page.push_str("</body>\n</html>\n");
    page
}

fn chart(results: &[ModuleResult]) -> String {
    let mut variants: Vec<String> = Vec::new();
    for result in results {
        let v = variant(&result.job);
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    let colour =
        |job: &Job| PALETTE[variants.iter().position(|v| *v == variant(job)).unwrap() % PALETTE.len()];
    let baseline_peak =
        |r: &ModuleResult| r.baseline.as_ref().and_then(|b| b.values.get(BASELINE_PEAK)).copied();
    let peak_max = results
        .iter()
        .filter_map(|r| r.peak_rss_bytes.map(|p| p as f64))
        .chain(results.iter().filter_map(baseline_peak))
        .fold(1.0, f64::max);
    let legend_height = 24.0;
    let mut bars = String::new();
    let mut y = legend_height + 8.0;
    let mut previous_module: Option<&str> = None;
    for result in results {
        if previous_module.is_some_and(|m| m != result.job.module) {
            y += GROUP_GAP;
        }
        let label = if previous_module == Some(result.job.module.as_str()) { "" } else { &result.job.module };
        previous_module = Some(&result.job.module);
        let peak = result.peak_rss_bytes;
        let width = peak.map_or(0.0, |p| (p as f64 / peak_max * BAR_AREA).max(1.0));
        let value = Row::of(result).peak;
        let tooltip =
            format!("{} ({}): {value}, {}", result.job.module, variant(&result.job), result.status());
        let _ = writeln!(
            bars,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" fill=\"{fill}\">\
             <title>{tooltip}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{value}</text>",
            lx = LABEL_WIDTH - 8.0,
            ty = y + BAR_HEIGHT - 5.0,
            label = sanitize::html(label),
            fill = colour(&result.job),
            tooltip = sanitize::html(&tooltip),
            vx = LABEL_WIDTH + width + 6.0,
        );
        if let Some(before) = baseline_peak(result) {
            // The baseline's peak: a dark tick across the bar.
            let _ = writeln!(
                bars,
                "<line class=\"baseline\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y1}\" y2=\"{y2}\" stroke=\"#222\" \
                 stroke-width=\"2\"><title>baseline: {}</title></line>",
                human_bytes(before.round() as u64),
                x = LABEL_WIDTH + (before / peak_max * BAR_AREA).max(1.0),
                y1 = y - 2.0,
                y2 = y + BAR_HEIGHT + 2.0,
            );
        }
        y += BAR_HEIGHT + BAR_GAP;
    }
    let mut legend = String::new();
    let mut x = LABEL_WIDTH;
    if results.iter().any(|r| baseline_peak(r).is_some()) {
        let _ = writeln!(
            legend,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"2\" y2=\"20\" stroke=\"#222\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"16\">baseline</text>",
            x + 6.0
        );
        x += 80.0;
    }
    for (i, v) in variants.iter().enumerate() {
        let _ = writeln!(
            legend,
            "<rect x=\"{x}\" y=\"4\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" y=\"16\">{}</text>",
            PALETTE[i % PALETTE.len()],
            x + 18.0,
            sanitize::html(v)
        );
        x += 30.0 + 7.0 * v.len() as f64;
    }
    let width = LABEL_WIDTH + BAR_AREA + 90.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" \
         aria-label=\"Peak memory per module\">\n{legend}{bars}</svg>\n",
        height = y + 8.0,
    )
}

fn table(results: &[ModuleResult]) -> String {
    let mut table = String::from(
        "<h2>Results</h2>\n<table>\n<tr><th>module</th><th>allocator</th><th>python</th><th>status</th>\
         <th>duration</th><th>peak memory</th><th>vs baseline</th><th>reason</th></tr>\n",
    );
    for result in results {
        let row = Row::of(result);
        let _ = writeln!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\" title=\"{meaning}\">{status}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            sanitize::html(row.module),
            row.allocator,
            row.python,
            row.duration,
            row.peak,
            sanitize::html(row.vs_baseline.as_deref().unwrap_or("")),
            sanitize::html(row.reason.as_deref().unwrap_or("")),
            class = tally_class(row.tally),
            meaning = sanitize::html(row.status.meaning()),
            status = row.status,
        );
    }
    table.push_str("</table>\n");
    table
}

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let title = format!("pymaccounter: {}", context.test_dir);
    std::fs::write(path, render(outcome, &title))
        .with_context(|| format!("cannot write the HTML report to {}", path.display()))
}
