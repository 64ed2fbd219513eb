//! `--report-html`: one self-contained page (no network fetches) with the
//! summary table and an SVG bar chart of peak memory, one bar per result,
//! a module's variants side by side and coloured by allocator / Python version.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::matrix::Job;
use crate::outcome::ModuleResult;
use crate::report::{human_bytes, sanitize, Counts};
use crate::runner::Outcome;

const PALETTE: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
const LABEL_WIDTH: f64 = 330.0;
const BAR_AREA: f64 = 520.0;
const BAR_HEIGHT: f64 = 18.0;
const BAR_GAP: f64 = 4.0;
const GROUP_GAP: f64 = 10.0;

/// The variant a bar stands for (its colour): allocator and Python version.
fn variant(job: &Job) -> String {
    let malloc = job.python_malloc.map_or("default allocator", |m| m.as_str());
    match job.python {
        Some(python) => format!("{malloc}, Python {python}"),
        None => malloc.to_string(),
    }
}

pub fn render(outcome: &Outcome, title: &str) -> String {
    let counts = Counts::of(&outcome.results);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{title}</title>\n\
         <style>\nbody {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; }} th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}\n\
         td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .pass, .skip {{ color: #2e7d32; }} .fail, .timeout, .oom, .crash {{ color: #c62828; font-weight: bold; }}\n\
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
    let peak_max = results.iter().filter_map(|r| r.peak_rss_bytes).max().unwrap_or(1).max(1) as f64;
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
        let value = peak.map_or("-".to_string(), human_bytes);
        let tooltip = format!("{} ({}): {value}, {}", result.job.module, variant(&result.job), result.status);
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
        y += BAR_HEIGHT + BAR_GAP;
    }
    let mut legend = String::new();
    let mut x = LABEL_WIDTH;
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
         <th>duration</th><th>peak memory</th><th>reason</th></tr>\n",
    );
    for r in results {
        let _ = writeln!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td class=\"num\">{:.2}s</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            sanitize::html(&r.job.module),
            r.job.python_malloc.map_or("default", |m| m.as_str()),
            r.job.python.map_or("", |p| p.as_str()),
            r.duration.as_secs_f64(),
            r.peak_rss_bytes.map_or("-".to_string(), human_bytes),
            sanitize::html(r.reason.as_deref().unwrap_or("")),
            status = r.status,
        );
    }
    table.push_str("</table>\n");
    table
}

pub fn write(outcome: &Outcome, title: &str, path: &Path) -> Result<()> {
    std::fs::write(path, render(outcome, title))
        .with_context(|| format!("cannot write the HTML report to {}", path.display()))
}
