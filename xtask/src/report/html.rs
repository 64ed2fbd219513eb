//! `--report-html`: one self-contained page a person reads (no network
//! fetch: no URL, no `src=`, no `@import`, no `url(...)`), at any scale
//! (160,000 results make a page of a few MB), what a person needs first:
//!
//! - `header`: the run's date, wall time, command line, engine, Python
//!   versions and base images, memory limits, and the closing line;
//! - `left_out`: what the page did not show in full (past its caps), and
//!   where the rest is;
//! - `attention`: failures and regressions, one line per failure (a module
//!   failing alike under four variants is one line naming the four);
//! - `peaks`: the largest peaks;
//! - `matrix`: modules × variants (Python × allocator side by side), each
//!   cell the result's RSS, container peak and memray heap as three bars on
//!   one scale, coloured by how its status counts, with the baseline's RSS as
//!   a tick; a roll-up per module across its variants;
//! - `table`: the results, sortable and filterable by a small inline
//!   script; past `TABLE_ROWS` the rows are built from compact data
//!   embedded in the script (every result's figures, strings said once);
//! - `details`: per result (those shown, past the caps) a collapsible block
//!   with the reason, the inner tests, the leak hunt's deltas, memray's
//!   figures and the tails of stdout and stderr; a failure's tests and
//!   streams once, its other variants pointing there.
//!
//! Results come slimmed from merge-reports (no outputs): a details block
//! reads its result whole through `ReportContext::whole`.
//!
//! The page is also well-formed XML (void elements closed, the script in a
//! CDATA section), which lets tests parse it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::inner::TestOutcome;
use crate::model::inner::{InnerReport, InnerTest, LeakHunt};
use crate::model::measure::MeasureId;
use crate::model::memray::MemraySummary;
use crate::model::result::{rfc3339_utc, ModuleResult, Outcome};
use crate::model::status::Tally;
use crate::report::{human_bytes, words, FileReport, ReportContext, Row};
use crate::sanitize;

pub const REPORT: FileReport = FileReport { flag: "report-html", path: |args| args.html.as_deref(), write };

const MIB: f64 = 1024.0 * 1024.0;
/// Lines of each stream kept in a result's details.
const TAIL_LINES: usize = 40;
/// ... and at most this many characters of them.
const TAIL_CHARS: usize = 8000;
/// The caps that keep the page under 25 MB and quick to open at any scale;
/// what they leave out is said (`left_out`) and stays reachable (the filter
/// searches the embedded data; the JSON report holds everything).
const ATTENTION_ROWS: usize = 200;
const PEAK_ROWS: usize = 10;
const MATRIX_MODULES: usize = 200;
const TABLE_ROWS: usize = 2_000;
const DETAILS: usize = 300;
/// Bytes of details blocks at most (outputs and tests' lists are the bulk).
const DETAILS_BYTES: usize = 6 << 20;
/// Results in the embedded data at most (about 50 bytes each).
const DATA_ROWS: usize = 250_000;

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let title = format!("pymaccounter: {}", context.test_dir);
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Files are linked relative to the page, so that its folder and theirs move together.
    let page = render_with(outcome, context, &title, folder)?;
    super::write_atomically(path, page.as_bytes())
        .with_context(|| format!("cannot write the HTML report to {}", path.display()))
}

/// The page of an outcome whose results are whole (tests).
#[cfg(test)]
pub fn render(outcome: &Outcome, title: &str) -> String {
    let context = ReportContext { test_dir: "", run: None, wholes: None };
    render_with(outcome, &context, title, Path::new(".")).expect("whole results")
}

/// The page; the files it links (flame graphs) are named from `folder`, the page's own.
pub fn render_with(outcome: &Outcome, context: &ReportContext, title: &str, folder: &Path) -> Result<String> {
    let plan = Plan::of(outcome);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        sanitize::html(title)
    );
    page.push_str(&header(outcome, title));
    let mut data = String::new();
    if !outcome.results.is_empty() {
        let details = details(outcome, context, &plan, folder)?;
        page.push_str(&left_out(outcome, &plan, details.shown));
        page.push_str(&attention(outcome, &plan));
        page.push_str(&peaks(outcome, &plan));
        page.push_str(&matrix(outcome, &plan));
        page.push_str(&table(outcome, &plan));
        page.push_str(&details.html);
        if plan.table.len() < outcome.results.len() {
            data = embedded_data(outcome);
        }
    }
    page.push_str(&not_run(outcome));
    let data = if data.is_empty() { "{}".to_string() } else { data };
    let _ = write!(
        page,
        "<script>/*<![CDATA[*/\nvar DATA = {data};\n{SCRIPT}/*]]>*/</script>\n</body>\n</html>\n"
    );
    Ok(page)
}

/// What the page shows of a large outcome, decided once: the failures
/// grouped, the largest peaks, the modules of the matrix, the table's rows,
/// and which results get a details block.
struct Plan {
    /// Failures alike (module, status, reason): result indexes, first detailed.
    failures: Vec<Vec<usize>>,
    /// Results by their larger peak, largest first.
    peaks: Vec<usize>,
    /// The modules of the matrix, in order, with their results.
    modules: Vec<(String, Vec<usize>)>,
    modules_in_all: usize,
    /// The variants, columns of the matrix.
    variants: Vec<String>,
    /// The table's rows.
    table: Vec<usize>,
    /// Results with a details block (before the byte budget).
    details: Vec<usize>,
    /// For a result whose failure another's details show: that one.
    same_failure: BTreeMap<usize, usize>,
    scale: Scale,
}

impl Plan {
    fn of(outcome: &Outcome) -> Plan {
        let results = &outcome.results;
        let failures = failure_groups(results);
        let mut peaks: Vec<usize> = (0..results.len()).filter(|&i| reached(&results[i]).is_some()).collect();
        peaks.sort_by_key(|&i| std::cmp::Reverse(reached(&results[i])));
        peaks.truncate(PEAK_ROWS);
        let (modules, modules_in_all) = matrix_modules(results);
        let mut variants: Vec<String> = Vec::new();
        for result in results {
            let label = variant_label(result);
            if !variants.contains(&label) {
                variants.push(label);
            }
        }
        let table = table_rows(results);
        let mut details: Vec<usize> = if results.len() <= DETAILS {
            (0..results.len()).collect()
        } else {
            failures.iter().map(|group| group[0]).take(DETAILS).chain(peaks.iter().copied()).collect()
        };
        details.sort_unstable();
        details.dedup();
        let same_failure = failures
            .iter()
            .flat_map(|group| group[1..].iter().map(move |&other| (other, group[0])))
            .collect();
        Plan {
            failures,
            peaks,
            modules,
            modules_in_all,
            variants,
            table,
            details,
            same_failure,
            scale: Scale::of(results),
        }
    }
}

/// Failing results grouped by module, status and reason, in order of first appearance.
fn failure_groups(results: &[ModuleResult]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: BTreeMap<(&str, &str, Option<String>), usize> = BTreeMap::new();
    for (index, result) in results.iter().enumerate().filter(|(_, r)| r.tally() == Tally::Failed) {
        let key = (result.job.module.as_str(), result.status().name(), words::reason(&result.execution));
        match by_key.get(&key) {
            Some(&group) => groups[group].push(index),
            None => {
                by_key.insert(key, groups.len());
                groups.push(vec![index]);
            }
        }
    }
    groups
}

/// The memory a result reached: its RSS peak, else (a timeout, whose
/// process peak the monitor could not give) its container's.
fn reached(result: &ModuleResult) -> Option<u64> {
    result.peak_rss_bytes.or(result.container_peak_bytes)
}

/// memray's heap peak, when memray ran. (Another heap figure goes here too.)
fn heap(result: &ModuleResult) -> Option<u64> {
    result.memray.as_ref().and_then(|m| m.peak_memory_bytes)
}

/// `3.13 malloc`-like label of a result's variant; empty without a matrix.
fn variant_label(result: &ModuleResult) -> String {
    result.job.variant.short().unwrap_or_default()
}

/// The matrix's modules: all of them in order when they fit; else those with
/// a failure first, then the largest peaks. And how many there are in all.
fn matrix_modules(results: &[ModuleResult]) -> (Vec<(String, Vec<usize>)>, usize) {
    let mut modules: Vec<(String, Vec<usize>)> = Vec::new();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, result) in results.iter().enumerate() {
        match at.get(result.job.module.as_str()) {
            Some(&m) => modules[m].1.push(index),
            None => {
                at.insert(&result.job.module, modules.len());
                modules.push((result.job.module.clone(), vec![index]));
            }
        }
    }
    let all = modules.len();
    if all > MATRIX_MODULES {
        let key = |(_, members): &(String, Vec<usize>)| {
            let failed = members.iter().any(|&i| results[i].tally() == Tally::Failed);
            let largest = members.iter().filter_map(|&i| reached(&results[i])).max().unwrap_or(0);
            (!failed, std::cmp::Reverse(largest))
        };
        modules.sort_by_key(key);
        modules.truncate(MATRIX_MODULES);
    }
    (modules, all)
}

/// The table's rows: all when they fit, else failures first, then the largest peaks.
fn table_rows(results: &[ModuleResult]) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..results.len()).collect();
    if rows.len() > TABLE_ROWS {
        rows.sort_by_key(|&i| (tally_rank(results[i].tally()), std::cmp::Reverse(reached(&results[i]))));
        rows.truncate(TABLE_ROWS);
    }
    rows
}

/// The CSS class of a status: how it counts.
fn tally_class(tally: Tally) -> &'static str {
    match tally {
        Tally::Passed => "passed",
        Tally::Skipped => "skipped",
        Tally::Failed => "failed",
    }
}

/// Failures first when sorting by status.
fn tally_rank(tally: Tally) -> u8 {
    match tally {
        Tally::Failed => 0,
        Tally::Skipped => 1,
        Tally::Passed => 2,
    }
}

/// The Python version a result ran, or nothing.
fn python_of<'a>(outcome: &'a Outcome, result: &'a ModuleResult) -> &'a str {
    outcome.run.python_for(&result.job).unwrap_or("")
}

fn limit_text(limit: Option<u64>) -> String {
    limit.map_or_else(|| "none".to_string(), human_bytes)
}

/// `2024-03-01 00:00:00 UTC` in a `<time>` element.
fn time_element(time: std::time::SystemTime) -> String {
    let stamp = rfc3339_utc(time);
    let shown = stamp.replace('T', " ").replace('Z', " UTC");
    format!("<time datetime=\"{stamp}\">{shown}</time>")
}

/// The command line as a person would type it again.
fn command_line(args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|arg| {
            let plain =
                !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect();
    format!("cargo xtask {}", quoted.join(" "))
}

/// The run: when, how asked, on what; and how it ended.
fn header(outcome: &Outcome, title: &str) -> String {
    let counts = outcome.counts();
    let verdict = if outcome.succeeded() { "passed" } else { "failed" };
    let mut out = format!("<header>\n<h1>{}</h1>\n", sanitize::html(title));
    let mut closing = counts.closing_line();
    if !outcome.not_run.is_empty() {
        let _ = write!(closing, ", {} not run", outcome.not_run.len());
    }
    if outcome.interrupted {
        closing.push_str(" (interrupted)");
    }
    let _ =
        writeln!(out, "<p class=\"verdict {verdict}\">{}</p>\n<dl class=\"run\">", sanitize::html(&closing));
    let mut item = |term: &str, value: String| {
        let _ = writeln!(out, "<dt>{term}</dt><dd>{value}</dd>");
    };
    let run = &outcome.run;
    item(
        "started",
        format!(
            "{}, ran {:.1} s (wall time) · run {}",
            time_element(outcome.started_at),
            outcome.wall_time.as_secs_f64(),
            run_id(&outcome.run_id)
        ),
    );
    if !run.args.is_empty() {
        item("command", format!("<code>{}</code>", sanitize::html(&command_line(&run.args))));
    }
    if !run.engine.is_empty() {
        let version =
            run.engine_version.as_deref().map(|v| format!(" {}", sanitize::html(v))).unwrap_or_default();
        let cpus =
            if run.host_cpus > 0 { format!(" · host with {} CPUs", run.host_cpus) } else { String::new() };
        item("engine", format!("{}{version}{cpus}", sanitize::html(&run.engine)));
    }
    for image in &run.images {
        let python = image.python.as_deref().unwrap_or("unknown version");
        let id = image
            .base_id
            .as_deref()
            .map(|id| {
                let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
                format!(
                    " <span class=\"id\" title=\"{}\">{}</span>",
                    sanitize::html(id),
                    sanitize::html(&short)
                )
            })
            .unwrap_or_default();
        item(
            &format!("Python {}", sanitize::html(python)),
            format!(
                "base <code>{}</code>{id}, test image <code>{}</code>",
                sanitize::html(&image.base),
                sanitize::html(&image.reference)
            ),
        );
    }
    item("memory limit", memory_limits(&outcome.results));
    if !outcome.module_args.is_empty() {
        item("module arguments", format!("<code>{}</code>", sanitize::html(&outcome.module_args.join(" "))));
    }
    if !outcome.env.is_empty() {
        let env: Vec<String> = outcome.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        item("environment", format!("<code>{}</code>", sanitize::html(&env.join(" "))));
    }
    out.push_str("</dl>\n</header>\n");
    out
}

/// The run's id; a merged run's (its shards' ids joined) cut short, whole in its title.
fn run_id(id: &str) -> String {
    const SHOWN: usize = 80;
    match id.char_indices().nth(SHOWN) {
        None => format!("<code>{}</code>", sanitize::html(id)),
        Some((cut, _)) => format!(
            "<code title=\"{}\">{}…</code> ({} shards)",
            sanitize::html(id),
            sanitize::html(&id[..cut]),
            id.split('+').count()
        ),
    }
}

/// The limits the results ran under: the most common one, and the modules with another.
fn memory_limits(results: &[ModuleResult]) -> String {
    let mut limits: Vec<(Option<u64>, Vec<&str>)> = Vec::new();
    for result in results {
        match limits.iter_mut().find(|(limit, _)| *limit == result.memory_limit_bytes) {
            Some((_, modules)) => {
                if !modules.contains(&result.job.module.as_str()) {
                    modules.push(&result.job.module)
                }
            }
            None => limits.push((result.memory_limit_bytes, vec![&result.job.module])),
        }
    }
    limits.sort_by_key(|(_, modules)| std::cmp::Reverse(modules.len()));
    let Some(((common, _), others)) = limits.split_first() else {
        return "-".into();
    };
    let mut text = format!("{} per container", limit_text(*common));
    for (limit, modules) in others {
        let _ = write!(text, "; {} for {}", limit_text(*limit), sanitize::html(&modules.join(", ")));
    }
    text
}

/// What the page leaves out past its caps, and where the rest is.
fn left_out(outcome: &Outcome, plan: &Plan, detailed: usize) -> String {
    let results = outcome.results.len();
    let shown = words::ShownOfAll {
        failures: (plan.failures.len().min(ATTENTION_ROWS), plan.failures.len()),
        modules: (plan.modules.len(), plan.modules_in_all),
        rows: (plan.table.len(), results),
        searchable: results.min(DATA_ROWS),
        details: (detailed, results),
    };
    match words::left_out(&shown) {
        Some(text) => format!("<p id=\"left-out\" class=\"notice\">{}</p>\n", sanitize::html(&text)),
        None => String::new(),
    }
}

/// Failures and regressions first: one line per failure, naming its variants.
fn attention(outcome: &Outcome, plan: &Plan) -> String {
    let mut out = String::from("<section id=\"attention\">\n<h2>Needs attention</h2>\n");
    if plan.failures.is_empty() {
        out.push_str("<p>Nothing failed or regressed.</p>\n</section>\n");
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"attention cards\"><thead><tr><th>module</th><th>status</th>\
         <th>reason</th><th>variants</th></tr></thead><tbody>\n",
    );
    for group in plan.failures.iter().take(ATTENTION_ROWS) {
        out.push_str(&attention_row(outcome, group));
    }
    out.push_str("</tbody></table></div>\n</section>\n");
    out
}

fn attention_row(outcome: &Outcome, group: &[usize]) -> String {
    let first = &outcome.results[group[0]];
    let row = Row::of(first);
    let variants: Vec<String> = group
        .iter()
        .map(|&i| variant_label(&outcome.results[i]))
        .filter(|v| !v.is_empty())
        .map(|v| sanitize::html(&v))
        .collect();
    format!(
        "<tr class=\"failed\"><td class=\"module\"><a href=\"#result-{index}\">{module}</a></td>\
         <td><span class=\"status\">{status}</span></td><td class=\"reason\">{reason}</td><td>{variants}</td></tr>\n",
        index = group[0],
        module = sanitize::html(&first.job.module),
        status = row.status.name(),
        reason = sanitize::html(row.reason.as_deref().unwrap_or("")),
        variants = variants.join("; "),
    )
}

/// The largest peaks, with each figure the result has.
fn peaks(outcome: &Outcome, plan: &Plan) -> String {
    let mut out = String::from(
        "<section id=\"peaks\">\n<h2>Largest peaks</h2>\n<div class=\"scroll\"><table class=\"peaks cards\"><thead><tr>\
         <th>module</th><th>variant</th><th>status</th><th class=\"num\">RSS</th><th class=\"num\">container</th>\
         <th class=\"num\">heap (memray)</th><th class=\"num\">limit</th></tr></thead><tbody>\n",
    );
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    for &index in &plan.peaks {
        let result = &outcome.results[index];
        let row = Row::of(result);
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td class=\"module\"><a href=\"#result-{index}\">{module}</a></td><td>{variant}</td>\
             <td><span class=\"status\">{status}</span></td><td class=\"num\">{rss}</td><td class=\"num\">{container}</td>\
             <td class=\"num\">{heap}</td><td class=\"num\">{limit}</td></tr>",
            class = tally_class(row.tally),
            module = sanitize::html(&result.job.module),
            variant = sanitize::html(&variant_label(result)),
            status = row.status.name(),
            rss = peak_text(result),
            container = bytes(result.container_peak_bytes),
            heap = bytes(heap(result)),
            limit = limit_text(result.memory_limit_bytes),
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
    out
}

/// A result's RSS peak in words; one without (a timeout: the monitor was cut
/// short) says what its container had reached.
fn peak_text(result: &ModuleResult) -> String {
    match (result.peak_rss_bytes, result.container_peak_bytes) {
        (Some(peak), _) => human_bytes(peak),
        (None, Some(reached)) => format!("{} reached (container)", human_bytes(reached)),
        (None, None) => "-".into(),
    }
}

/// Modules × variants: a row per module, a column per variant (Python ×
/// allocator side by side), and a roll-up of the module across them.
fn matrix(outcome: &Outcome, plan: &Plan) -> String {
    let mut out = String::from(
        "<section id=\"matrix\" aria-label=\"Memory per module and variant\">\n<h2>Memory per module and variant</h2>\n",
    );
    out.push_str(&legend(outcome, &plan.scale));
    out.push_str("<div class=\"scroll\"><table class=\"matrix\"><thead><tr><th class=\"module\">module</th><th>across variants</th>");
    for variant in &plan.variants {
        out.push_str(&variant_heading(variant));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (module, members) in &plan.modules {
        out.push_str(&matrix_row(outcome, plan, module, members));
    }
    out.push_str("</tbody></table></div>\n</section>\n");
    out
}

/// A variant's heading on two lines (Python over allocator), so it reads on a phone.
fn variant_heading(variant: &str) -> String {
    if variant.is_empty() {
        return "<th class=\"variant\">peak (MiB)</th>".into();
    }
    let lines: Vec<String> = variant.split(", ").map(sanitize::html).collect();
    format!("<th class=\"variant\">{}</th>", lines.join("<br/>"))
}

fn matrix_row(outcome: &Outcome, plan: &Plan, module: &str, members: &[usize]) -> String {
    let mut out = format!(
        "<tr data-module=\"{0}\"><th class=\"module\" scope=\"row\">{0}</th>{1}",
        sanitize::html(module),
        roll_up(outcome, members)
    );
    for variant in &plan.variants {
        match members.iter().find(|&&i| variant_label(&outcome.results[i]) == *variant) {
            Some(&index) => out.push_str(&cell(outcome, plan, index)),
            None => out.push_str("<td class=\"cell none\"></td>"),
        }
    }
    out.push_str("</tr>\n");
    out
}

/// A module across its variants: how many passed, and its peaks' range.
fn roll_up(outcome: &Outcome, members: &[usize]) -> String {
    let results: Vec<&ModuleResult> = members.iter().map(|&i| &outcome.results[i]).collect();
    let passed = results.iter().filter(|r| r.tally() == Tally::Passed).count();
    let failed = results.iter().filter(|r| r.tally() == Tally::Failed).count();
    let worst = if failed > 0 {
        Tally::Failed
    } else if passed == results.len() {
        Tally::Passed
    } else {
        Tally::Skipped
    };
    let peaks: Vec<u64> = results.iter().filter_map(|r| reached(r)).collect();
    let range = match (peaks.iter().min(), peaks.iter().max()) {
        (Some(low), Some(high)) if low != high => format!("{}–{}", human_bytes(*low), human_bytes(*high)),
        (Some(only), _) => human_bytes(*only),
        _ => "-".into(),
    };
    format!(
        "<td class=\"rollup {class}\"><span class=\"status\">{}</span><br/>{range}</td>",
        sanitize::html(&words::roll_up(passed, failed, results.len())),
        class = tally_class(worst),
    )
}

/// One result in the matrix: RSS, container peak and heap as bars on the
/// page's scale, the baseline's RSS as a tick; its RSS in MiB and its status.
fn cell(outcome: &Outcome, plan: &Plan, index: usize) -> String {
    let result = &outcome.results[index];
    let row = Row::of(result);
    let scale = &plan.scale;
    let bar = |class: &str, bytes: Option<u64>| match bytes.map(|b| scale.percent(b)) {
        Some(width) => format!("<i class=\"{class}\" style=\"width: {width:.1}%\"></i>"),
        None => String::new(),
    };
    let baseline = baseline_rss(result).map_or(String::new(), |b| {
        format!("<i class=\"base\" style=\"left: {:.1}%\"></i>", scale.percent(b))
    });
    let value = match (result.peak_rss_bytes, reached(result)) {
        (Some(peak), _) => mib_text(peak),
        (None, Some(reached)) => format!("≥{}", mib_text(reached)),
        (None, None) => "-".into(),
    };
    let status = match row.tally {
        Tally::Passed => String::new(),
        _ => format!("<span class=\"status\">{}</span>", row.status.name()),
    };
    let inner = format!(
        "<span class=\"bars\">{}{}{}{baseline}</span><span class=\"num\">{value}</span>{status}",
        bar("rss", result.peak_rss_bytes),
        bar("ctr", result.container_peak_bytes),
        bar("heap", heap(result)),
    );
    let title = sanitize::html(&cell_title(result, &row));
    let body = if plan.details.contains(&index) {
        format!("<a href=\"#result-{index}\" title=\"{title}\">{inner}</a>")
    } else {
        format!("<span title=\"{title}\">{inner}</span>")
    };
    format!("<td class=\"cell {}\" data-index=\"{index}\">{body}</td>", tally_class(row.tally))
}

fn cell_title(result: &ModuleResult, row: &Row) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    let mut title = format!(
        "{}: {} · RSS {} · container {} · heap {}",
        result.job.label(),
        row.status.name(),
        peak_text(result),
        bytes(result.container_peak_bytes),
        bytes(heap(result))
    );
    if let Some(reason) = &row.reason {
        let _ = write!(title, " · {reason}");
    }
    title
}

/// The baseline's RSS peak for a result (`--baseline`).
fn baseline_rss(result: &ModuleResult) -> Option<u64> {
    result.baseline.as_ref().and_then(|b| b.values.get(&MeasureId::Rss)).map(|b| b.round() as u64)
}

/// `42.1`: bytes in MiB.
fn mib_text(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

/// What the bars, the tick and the colours mean, and the scale.
fn legend(outcome: &Outcome, scale: &Scale) -> String {
    let results = &outcome.results;
    let mut out = String::from("<ul class=\"legend\">\n");
    for (class, words) in
        [("passed", "passed"), ("skipped", "skipped"), ("failed", "failed (status written)")]
    {
        let _ = writeln!(out, "<li><span class=\"swatch {class}\"></span>{words}</li>");
    }
    out.push_str(
        "<li><span class=\"swatch rss\"></span>RSS peak, coloured by status (the number, in MiB)</li>\n",
    );
    out.push_str("<li><span class=\"swatch ctr\"></span>container peak (cgroup)</li>\n");
    if results.iter().any(|r| heap(r).is_some()) {
        out.push_str(
            "<li><span class=\"swatch heap\"></span>heap peak (memray; RSS then includes memray)</li>\n",
        );
    }
    if results.iter().any(|r| baseline_rss(r).is_some()) {
        out.push_str("<li><span class=\"swatch base\"></span>baseline RSS peak</li>\n");
    }
    out.push_str("<li>≥: a timeout, the memory it had reached</li>\n");
    let _ = writeln!(out, "<li>bars scaled to {}</li>", human_bytes(scale.end as u64));
    out.push_str("</ul>\n");
    out
}

/// The bars' scale: its end, in bytes.
struct Scale {
    end: f64,
}

impl Scale {
    /// The largest figure any bar shows.
    fn of(results: &[ModuleResult]) -> Scale {
        let figures =
            results.iter().flat_map(|r| [r.peak_rss_bytes, r.container_peak_bytes, heap(r), baseline_rss(r)]);
        let top = figures.flatten().max().unwrap_or(0) as f64;
        Scale { end: top.max(MIB) }
    }

    /// Where a value sits, in percent of the track (at most 100).
    fn percent(&self, bytes: u64) -> f64 {
        (bytes as f64 / self.end * 100.0).min(100.0)
    }
}

/// The results table: every column sorts (by the row's `data-*` values), and
/// a text box and a status list filter the rows (and the matrix's rows and
/// the details); past `TABLE_ROWS` the script builds the rows the filter
/// finds from the embedded data. On a phone each row becomes a small card.
fn table(outcome: &Outcome, plan: &Plan) -> String {
    let with_tests = outcome.results.iter().any(|r| r.test_counts().is_some());
    let mut out = String::from(
        "<section id=\"results\">\n<h2>Results</h2>\n<div class=\"controls\">\
         <label>Filter <input type=\"search\" id=\"filter\" placeholder=\"module, status, reason\"/></label> \
         <label>Show <select id=\"tally\"><option value=\"\">all</option><option value=\"failed\">failed</option>\
         <option value=\"skipped\">skipped</option><option value=\"passed\">passed</option></select></label> \
         <span id=\"shown\" aria-live=\"polite\"></span></div>\n<div class=\"scroll\">\n<table id=\"results-table\">\n\
         <thead><tr>",
    );
    for (name, key, kind) in COLUMNS.iter().filter(|(_, key, _)| with_tests || *key != "tests") {
        let _ = write!(
            out,
            "<th class=\"{key}\" data-key=\"{key}\" data-type=\"{kind}\"><button type=\"button\">{name}</button></th>"
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for &index in &plan.table {
        out.push_str(&table_row(outcome, index, &outcome.results[index], with_tests));
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    out
}

/// The table's columns: heading, the `data-*` key its rows sort by (also
/// each cell's class), and how that value compares.
const COLUMNS: [(&str, &str, &str); 9] = [
    ("module", "module", "text"),
    ("allocator", "allocator", "text"),
    ("python", "python", "text"),
    ("status", "rank", "number"),
    ("duration", "duration", "number"),
    ("peak memory", "peak", "number"),
    ("limit", "limit", "number"),
    ("tests", "tests", "number"),
    ("reason", "reason", "text"),
];

fn table_row(outcome: &Outcome, index: usize, result: &ModuleResult, with_tests: bool) -> String {
    let row = Row::of(result);
    let tally = row.tally;
    let python = sanitize::html(python_of(outcome, result));
    let module = sanitize::html(row.module);
    let reason = sanitize::html(row.reason.as_deref().unwrap_or(""));
    let number = |value: Option<u64>| value.map_or(-1, |v| v as i64);
    let tests_total = result.test_counts().map(|c| c.total());
    // (sort key, sort value, cell content), in COLUMNS' order.
    let cells = [
        ("module", module.clone(), format!("<a href=\"#result-{index}\">{module}</a>")),
        ("allocator", row.allocator.to_string(), row.allocator.to_string()),
        ("python", python.clone(), python),
        (
            "rank",
            tally_rank(tally).to_string(),
            format!(
                "<span class=\"status\" title=\"{}\">{}</span>",
                sanitize::html(row.status.meaning()),
                row.status.name()
            ),
        ),
        ("duration", format!("{:.3}", result.duration.as_secs_f64()), row.duration.clone()),
        ("peak", number(reached(result)).to_string(), peak_text(result)),
        ("limit", number(result.memory_limit_bytes).to_string(), limit_text(result.memory_limit_bytes)),
        ("tests", number(tests_total).to_string(), sanitize::html(row.tests.as_deref().unwrap_or(""))),
        ("reason", reason.clone(), reason),
    ];
    let mut out = format!(
        "<tr class=\"{class}\" data-index=\"{index}\" data-status=\"{status}\" data-tally=\"{class}\"",
        class = tally_class(tally),
        status = row.status.name(),
    );
    let cells: Vec<_> = cells.into_iter().filter(|(key, _, _)| with_tests || *key != "tests").collect();
    for (key, value, _) in &cells {
        let _ = write!(out, " data-{key}=\"{value}\"");
    }
    out.push('>');
    for (key, _, content) in &cells {
        let _ = write!(out, "<td class=\"{key}\">{content}</td>");
    }
    out.push_str("</tr>\n");
    out
}

/// The details blocks of the results the plan details, each read whole,
/// until `DETAILS_BYTES`; and how many there are.
struct Details {
    html: String,
    shown: usize,
}

fn details(outcome: &Outcome, context: &ReportContext, plan: &Plan, folder: &Path) -> Result<Details> {
    let mut html = String::from("<section id=\"details\">\n<h2>Details</h2>\n");
    let mut shown = 0;
    for &index in &plan.details {
        if html.len() > DETAILS_BYTES {
            break;
        }
        let whole = context.whole(outcome, index)?;
        html.push_str(&result_details(outcome, plan, index, &whole, folder));
        shown += 1;
    }
    html.push_str("</section>\n");
    Ok(Details { html, shown })
}

/// `folder`: the page's, which the files it links are named from.
fn result_details(
    outcome: &Outcome,
    plan: &Plan,
    index: usize,
    result: &ModuleResult,
    folder: &Path,
) -> String {
    let row = Row::of(result);
    let tally = row.tally;
    let open = if tally == Tally::Failed { " open=\"open\"" } else { "" };
    let mut out = format!(
        "<details id=\"result-{index}\" class=\"{class}\" data-index=\"{index}\"{open}>\n\
         <summary><span class=\"status\">{status}</span> <strong>{label}</strong> · {peak}</summary>\n",
        class = tally_class(tally),
        status = row.status.name(),
        label = sanitize::html(&result.job.label()),
        peak = peak_text(result),
    );
    out.push_str(&facts(outcome, result, &row));
    out.push_str(&timeline(result));
    if let Some(change) = &row.vs_baseline {
        let _ = writeln!(out, "<p class=\"baseline\">vs baseline: {}</p>", sanitize::html(change));
    }
    if let Some(memray) = &result.memray {
        out.push_str(&memray_details(memray, result.peak_rss_bytes, folder));
    }
    // A failure's tests and streams once: its other variants point there.
    if let Some(first) = plan.same_failure.get(&index) {
        let _ = writeln!(
            out,
            "<p class=\"same\">The same failure as <a href=\"#result-{first}\">{}</a>: its tests and output are there.</p>",
            sanitize::html(&outcome.results[*first].job.label())
        );
    } else {
        out.push_str(&failure_evidence(result));
    }
    out.push_str("</details>\n");
    out
}

/// The result's facts as a definition list.
fn facts(outcome: &Outcome, result: &ModuleResult, row: &Row) -> String {
    let mut facts =
        vec![("status", format!("{} ({})", row.status.name(), sanitize::html(row.status.meaning())))];
    if let Some(reason) = &row.reason {
        facts.push(("reason", sanitize::html(reason)));
    }
    if let Some(code) = result.execution.exit_code() {
        facts.push(("exit code", code.to_string()));
    }
    if let Some(signal) = result.execution.signal() {
        facts.push(("signal", signal.to_string()));
    }
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    facts.extend([
        ("started", time_element(result.started_at)),
        ("duration", row.duration.clone()),
        ("peak RSS", peak_text(result)),
        ("container peak", bytes(result.container_peak_bytes)),
        ("memory limit", limit_text(result.memory_limit_bytes)),
        ("python", sanitize::html(python_of(outcome, result))),
        ("allocator", row.allocator.to_string()),
    ]);
    let mut out = String::from("<dl>\n");
    for (term, value) in facts {
        let _ = writeln!(out, "<dt>{term}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>\n");
    out
}

/// The result's memory over time (with its limit and the baseline's curve), as an inline SVG.
fn timeline(result: &ModuleResult) -> String {
    let Some(series) = &result.memory_series else { return String::new() };
    let baseline = result.baseline.as_ref().and_then(|b| b.memory_series.as_ref());
    let svg = super::timeline::svg(series, result.memory_limit_bytes, baseline);
    format!("<h3>memory over time</h3>\n{svg}")
}

/// The inner tests, the leak hunt and the streams' tails.
fn failure_evidence(result: &ModuleResult) -> String {
    let mut out = String::new();
    if let Some(inner) = &result.inner {
        out.push_str(&inner_tests(inner));
        if let Some(hunt) = &inner.hunt_leaks {
            out.push_str(&leak_hunt(hunt, &inner.tests));
        }
        out.push_str(&test_peaks(&inner.tests));
    }
    for (name, captured) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
        out.push_str(&stream_tail(name, &captured.text(), captured.total_bytes));
    }
    out
}

/// Every result's figures for the script, as a JavaScript value: strings
/// said once (modules, variants, statuses, reasons), each result a short
/// array `[module, variant, status, tally rank, RSS, container, heap,
/// milliseconds, reason, details]` (`-1` for none), failures first.
fn embedded_data(outcome: &Outcome) -> String {
    let mut strings: [Vec<String>; 4] = Default::default();
    let mut at: [BTreeMap<String, usize>; 4] = Default::default();
    let mut intern = |table: usize, text: String| -> usize {
        *at[table].entry(text.clone()).or_insert_with(|| {
            strings[table].push(text);
            strings[table].len() - 1
        })
    };
    let number = |value: Option<u64>| value.map_or(-1, |v| v as i64);
    let mut order: Vec<usize> = (0..outcome.results.len()).collect();
    order.sort_by_key(|&i| tally_rank(outcome.results[i].tally()));
    order.truncate(DATA_ROWS);
    let mut rows = String::new();
    for index in order {
        let result = &outcome.results[index];
        let reason = words::reason(&result.execution).unwrap_or_default();
        let _ = write!(
            rows,
            "[{},{},{},{},{},{},{},{},{},{}],",
            intern(0, result.job.module.clone()),
            intern(1, variant_label(result)),
            intern(2, result.status().name().to_string()),
            tally_rank(result.tally()),
            number(result.peak_rss_bytes),
            number(result.container_peak_bytes),
            number(heap(result)),
            result.duration.as_millis(),
            intern(3, reason),
            index,
        );
    }
    rows.pop();
    let [modules, variants, statuses, reasons] =
        strings.map(|s| serde_json::to_string(&s).unwrap_or_default());
    // Inside a script: no `<` or `>` (no `</script>`, no `]]>`), no line separators.
    let data = format!("{{\"modules\":{modules},\"variants\":{variants},\"statuses\":{statuses},\"reasons\":{reasons},\"rows\":[{rows}]}}");
    data.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// memray's figures, its largest allocation sites and a link to the flame graph.
fn memray_details(memray: &MemraySummary, rss: Option<u64>, folder: &Path) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    let mut out = format!("<h3>memray</h3>\n<p>{}", sanitize::html(&super::memray_figures(memray)));
    let beside = super::words::heap_beside_rss(memray, rss);
    let _ = write!(out, "<br/>{}", sanitize::html(&beside));
    if let (Some(heap), Some(rss)) = (memray.peak_memory_bytes, rss) {
        // Two bars on one scale (inline styles: this figure is all the page adds for it).
        let most = heap.max(rss).max(1) as f64;
        let _ = write!(
            out,
            "</p>\n<div class=\"heap-beside-rss\" role=\"img\" aria-label=\"{}\">",
            sanitize::html(&beside)
        );
        for (name, value, colour) in [("heap", heap, "#e8743b"), ("RSS", rss, "#7f8fa6")] {
            let _ = write!(
                out,
                "<div style=\"margin:2px 0;white-space:nowrap\"><span style=\"display:inline-block;width:{:.1}%;\
                 min-width:2px;height:0.9em;background:{colour};vertical-align:middle\"></span> {name} {}</div>",
                value as f64 * 70.0 / most,
                human_bytes(value)
            );
        }
        out.push_str("</div>\n<p>");
    }
    if let Some(path) = &memray.flamegraph_path {
        let _ = write!(
            out,
            " · <a class=\"flamegraph\" href=\"{}\">{} flame graph</a>",
            sanitize::href(&super::relative_to(path, folder)),
            sanitize::html(&memray.flamegraph)
        );
    }
    out.push_str("</p>\n<table class=\"sites\"><tr><th>size</th><th>where</th></tr>\n");
    for site in &memray.top_allocations_by_size {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td></tr>",
            bytes(site.size_bytes),
            sanitize::html(site.location.as_deref().unwrap_or("?"))
        );
    }
    out.push_str("</table>\n");
    out
}

/// The counts a framework gave, and every test that did not simply pass.
fn inner_tests(inner: &InnerReport) -> String {
    if !inner.has_counts() {
        return String::new();
    }
    let source = match &inner.summary_of {
        Some(framework) => {
            format!(" (read from the {} summary the script printed)", sanitize::html(framework.name()))
        }
        None => format!(" ({})", sanitize::html(inner.harness.name())),
    };
    let mut out = format!("<h3>Tests</h3>\n<p>{}{source}</p>\n", sanitize::html(&inner.counts.summary()));
    let notable: Vec<_> = inner.tests.iter().filter(|t| t.outcome != TestOutcome::Passed).collect();
    if !notable.is_empty() {
        out.push_str("<div class=\"scroll\"><table class=\"inner\"><thead><tr><th>test</th><th>outcome</th><th>message</th></tr></thead><tbody>\n");
        let (failing, others): (Vec<_>, Vec<_>) = notable.into_iter().partition(|t| t.failed());
        for test in failing.into_iter().chain(others) {
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td><pre>{}</pre></td></tr>",
                if test.failed() { "failed" } else { "skipped" },
                sanitize::html(&test.name),
                sanitize::html(test.outcome.name()),
                sanitize::html(test.message.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table></div>\n");
    }
    if inner.truncated {
        out.push_str(
            "<p>The list of tests was cut to keep the harness's report short; the counts are whole.</p>\n",
        );
    }
    if let Some(error) = &inner.error {
        let _ = writeln!(out, "<p>The framework said: <code>{}</code></p>", sanitize::html(error));
    }
    out
}

/// The tests with the highest peaks (each test's rise over its start).
fn test_peaks(tests: &[InnerTest]) -> String {
    let highest = super::highest_peaks(tests);
    if highest.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h3>Highest test peaks</h3>\n<table class=\"deltas\"><tbody>");
    for (name, peak) in highest {
        let _ = write!(
            out,
            "<tr><th><code>{}</code></th><td>{}</td></tr>",
            sanitize::html(name),
            human_bytes(peak)
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The leak hunt's per-run deltas and CPython's verdict on them (per test:
/// each leaking test's deltas).
fn leak_hunt(hunt: &LeakHunt, tests: &[InnerTest]) -> String {
    let mut out = format!("<h3>Leak hunt {}:{}</h3>\n", hunt.warmups, hunt.runs);
    if let Some(run) = hunt.failed_run {
        let _ = writeln!(out, "<p>Stopped: run {run} failed, so there is no verdict.</p>");
        return out;
    }
    if hunt.per_test {
        out.push_str("<table class=\"deltas\"><tbody>");
        for test in tests {
            if let Some(what) = test.hunt_leaks.as_ref().and_then(|d| words::test_leak(hunt, d)) {
                let _ = write!(
                    out,
                    "<tr><th><code>{}</code> LEAKED</th><td>{}</td></tr>",
                    sanitize::html(&test.name),
                    sanitize::html(&what)
                );
            }
        }
        let _ =
            writeln!(out, "</tbody></table>\n<p>{}</p>", sanitize::html(&words::hunt_verdict(hunt, tests)));
        return out;
    }
    let deltas = |values: &[i64]| values.iter().map(|v| format!("{v:+}")).collect::<Vec<_>>().join(", ");
    let refs = match (&hunt.refs, words::untrusted_refs(hunt)) {
        (Some(refs), Some(why)) => format!("{} (not trusted: {})", deltas(refs), sanitize::html(&why)),
        (Some(refs), None) => deltas(refs),
        (None, _) => "not measured (a release build has no sys.gettotalrefcount; use a -dbg Python)".into(),
    };
    let _ = writeln!(
        out,
        "<table class=\"deltas\"><tbody><tr><th>references</th><td>{refs}</td></tr>\
         <tr><th>memory blocks</th><td>{}</td></tr><tr><th>file descriptors</th><td>{}</td></tr></tbody></table>",
        deltas(&hunt.blocks),
        deltas(&hunt.fds)
    );
    let _ = writeln!(out, "<p>{}</p>", sanitize::html(&words::hunt_verdict(hunt, tests)));
    out
}

/// The last lines of a stream (all of it when short), saying what was left out.
fn stream_tail(name: &str, text: &str, total_bytes: u64) -> String {
    if text.is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.len() > TAIL_CHARS {
        let mut cut = tail.len() - TAIL_CHARS;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = tail[cut..].to_string();
    }
    let whole = tail.len() == text.trim_end_matches('\n').len() && total_bytes as usize <= text.len();
    let caption = if whole {
        name.to_string()
    } else {
        format!("{name}: its end ({} in all)", human_bytes(total_bytes))
    };
    format!("<h3>{caption}</h3>\n<pre class=\"stream\">{}</pre>\n", sanitize::html(&tail))
}

fn not_run(outcome: &Outcome) -> String {
    if outcome.not_run.is_empty() {
        return String::new();
    }
    let names: Vec<String> = outcome.not_run.iter().map(|j| sanitize::html(&j.label())).collect();
    format!("<section id=\"not-run\">\n<h2>Not run</h2>\n<p>{}</p>\n</section>\n", names.join(", "))
}

const STYLE: &str = r#"
:root { --pass: #2e7d32; --skip: #8d8d8d; --fail: #c62828; --grid: #e3e3e3; --ink: #1f1f1f; --muted: #5f5f5f; --paper: #fff; --link: #1a56b0; --ctr: #9aa7b8; --heap: #1565c0; --baseline: #111; --notice: #fff4d6; }
@media (prefers-color-scheme: dark) {
  :root { --pass: #66bb6a; --skip: #9e9e9e; --fail: #ef5350; --grid: #3a3a3a; --ink: #e8e8e8; --muted: #a8a8a8; --paper: #161616; --link: #8ab4f8; --ctr: #5c6878; --heap: #64b5f6; --baseline: #fafafa; --notice: #3a3222; }
}
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1.2em; max-width: 96em; color: var(--ink); background: var(--paper); }
h1 { font-size: 1.5em; margin: 0 0 0.3em; overflow-wrap: anywhere; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.6em; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
a { color: var(--link); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
code { overflow-wrap: anywhere; }
.verdict { font-size: 1.15em; font-weight: 600; margin: 0 0 0.8em; }
.verdict.passed { color: var(--pass); } .verdict.failed { color: var(--fail); }
.notice { background: var(--notice); padding: 0.5em 0.8em; border-radius: 4px; }
dl.run, details dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.id { color: var(--muted); font-family: ui-monospace, monospace; font-size: 0.85em; }
.legend { list-style: none; padding: 0; margin: 0 0 0.8em; display: flex; flex-wrap: wrap; gap: 0.3em 1.4em; color: var(--muted); }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em; vertical-align: -0.1em; border-radius: 2px; }
.swatch.passed { background: var(--pass); } .swatch.failed { background: var(--fail); }
.swatch.skipped { background: repeating-linear-gradient(135deg, var(--skip) 0 3px, transparent 3px 6px); border: 1px solid var(--skip); }
.swatch.rss { background: var(--pass); height: 0.5em; vertical-align: 0.1em; }
.swatch.ctr { background: var(--ctr); height: 0.35em; vertical-align: 0.15em; }
.swatch.heap { background: var(--heap); height: 0.35em; vertical-align: 0.15em; }
.swatch.base { width: 0; border-left: 3px solid var(--baseline); border-radius: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.6em; border-bottom: 1px solid var(--grid); text-align: left; vertical-align: top; }
th { white-space: nowrap; }
.num, th.duration, th.peak, th.limit, td.duration, td.peak, td.limit { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.module, th.module, td.reason { overflow-wrap: anywhere; white-space: normal; }
.status { font-weight: 600; }
tr.passed .status, .passed > .status, details.passed > summary .status { color: var(--pass); }
tr.skipped .status, .skipped > .status, details.skipped > summary .status { color: var(--muted); }
tr.failed .status, .failed .status, details.failed > summary .status { color: var(--fail); }
table.matrix { font-size: 0.9em; width: 100%; }
table.matrix th.variant { text-align: center; white-space: nowrap; font-weight: 600; }
table.matrix th.module { position: sticky; left: 0; background: var(--paper); font-weight: 600; min-width: 10em; max-width: 22em; }
table.matrix td.cell { min-width: 6.5em; padding: 0.25em 0.4em; }
table.matrix td.cell a, table.matrix td.cell > span { display: block; color: inherit; text-decoration: none; }
table.matrix td.rollup { white-space: nowrap; color: var(--muted); }
.bars { display: block; position: relative; height: 1.1em; background-image: linear-gradient(to right, var(--grid) 1px, transparent 1px); background-size: 25% 100%; border-right: 1px solid var(--grid); }
.bars i { position: absolute; left: 0; min-width: 2px; border-radius: 0 2px 2px 0; }
.bars .rss { top: 0; height: 45%; background: var(--pass); }
.skipped .bars .rss { background: var(--skip); } .failed .bars .rss { background: var(--fail); }
.bars .ctr { top: 50%; height: 22%; background: var(--ctr); }
.bars .heap { top: 76%; height: 22%; background: var(--heap); }
.bars .base { top: -2px; bottom: -2px; width: 0; min-width: 0; border-left: 3px solid var(--baseline); border-radius: 0; }
td.cell .num { font-variant-numeric: tabular-nums; }
td.cell .status { margin-left: 0.3em; font-size: 0.85em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.5em 1.2em; align-items: center; margin-bottom: 0.6em; }
.controls input, .controls select { font: inherit; padding: 0.2em 0.4em; }
#shown { color: var(--muted); }
#results-table { width: 100%; }
#results-table td.reason { min-width: 14em; overflow-wrap: anywhere; } #results-table td.tests { min-width: 7em; }
#results-table td.module { min-width: 18em; max-width: 28em; }
table.attention td.module { min-width: 14em; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \25B2"; } th[aria-sort="descending"] button::after { content: " \25BC"; }
#results-table tr[hidden], details[hidden], table.matrix tr[hidden] { display: none; }
details { border: 1px solid var(--grid); border-left: 4px solid var(--pass); border-radius: 4px; padding: 0.4em 0.8em; margin: 0.5em 0; }
details.skipped { border-left-color: var(--skip); } details.failed { border-left-color: var(--fail); }
summary { cursor: pointer; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
pre.stream { background: color-mix(in srgb, var(--grid) 40%, transparent); padding: 0.5em; border-radius: 4px; max-height: 28em; overflow: auto; }
@media (max-width: 640px) {
  body { padding: 0.8em; font-size: 14px; }
  dl.run, details dl { grid-template-columns: 1fr; } dd { margin-bottom: 0.3em; }
  table.matrix th.module { min-width: 7em; max-width: 9em; }
  table.matrix td.cell { min-width: 4.2em; }
  table.matrix td.rollup { display: none; }
  table.matrix th:nth-child(2) { display: none; }
  table.cards, table.cards tbody { display: block; } table.cards thead { display: none; }
  table.cards tr { display: flex; flex-wrap: wrap; gap: 0 0.8em; padding: 0.4em 0; border-bottom: 1px solid var(--grid); }
  table.cards td { border: 0; padding: 0; min-width: 0; }
  table.cards td.module, table.cards td.reason { flex-basis: 100%; min-width: 0; }
  table.peaks td.num::before { color: var(--muted); }
  table.peaks td:nth-child(4)::before { content: "RSS "; } table.peaks td:nth-child(5)::before { content: "container "; }
  table.peaks td:nth-child(6)::before { content: "heap "; } table.peaks td:nth-child(7)::before { content: "limit "; }
  #results-table, #results-table thead, #results-table tbody { display: block; }
  #results-table thead tr { display: flex; flex-wrap: wrap; gap: 0.2em 0.9em; padding-bottom: 0.4em; border-bottom: 2px solid var(--grid); }
  #results-table thead tr::before { content: "Sort by"; color: var(--muted); }
  #results-table th { border: 0; padding: 0; font-size: 0.9em; }
  #results-table tbody tr { display: flex; flex-wrap: wrap; gap: 0 0.9em; padding: 0.4em 0; border-bottom: 1px solid var(--grid); }
  #results-table tbody tr[hidden] { display: none; }
  #results-table td { border: 0; padding: 0; min-width: 0; }
  #results-table td.module { flex-basis: 100%; max-width: none; font-weight: 600; overflow-wrap: anywhere; }
  #results-table td.reason { flex-basis: 100%; min-width: 0; color: var(--muted); }
  #results-table td:empty { display: none; }
  #results-table td.python::before { content: "Python "; }
  #results-table td.peak::before { content: "peak "; color: var(--muted); }
  #results-table td.limit::before { content: "limit "; color: var(--muted); }
}
"#;

/// The table's sorting and filtering. `DATA` (set before it) is empty when
/// the table holds every result; else the filter builds its rows from it
/// (at most 500; text only, through `textContent`).
const SCRIPT: &str = r##"
(function () {
  var table = document.getElementById("results-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var served = Array.prototype.slice.call(body.rows);
  var rows = served;
  var filter = document.getElementById("filter");
  var tally = document.getElementById("tally");
  var shown = document.getElementById("shown");
  var keys = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.dataset.key; });
  var TALLY = ["failed", "skipped", "passed"];
  var LIMIT = 500;
  var each = function (selector, action) { Array.prototype.forEach.call(document.querySelectorAll(selector), action); };
  function mib(bytes) { return bytes < 0 ? "-" : (bytes / 1048576).toFixed(1) + " MiB"; }
  function built(r) {
    var parts = DATA.variants[r[1]].split(", ");
    var version = function (part) { return /^[0-9]/.test(part); };
    var python = parts.filter(version)[0] || "";
    var allocator = parts.filter(function (part) { return part && !version(part); })[0] || "default";
    var values = { module: DATA.modules[r[0]], allocator: allocator, python: python,
      rank: r[3], duration: (r[7] / 1000).toFixed(3), peak: r[4] >= 0 ? r[4] : r[5], limit: -1, tests: -1,
      reason: DATA.reasons[r[8]] };
    var texts = { rank: DATA.statuses[r[2]], duration: (r[7] / 1000).toFixed(2) + "s",
      peak: r[4] >= 0 ? mib(r[4]) : (r[5] >= 0 ? mib(r[5]) + " reached (container)" : "-"), limit: "", tests: "" };
    var tr = document.createElement("tr");
    tr.className = TALLY[r[3]];
    tr.dataset.index = r[9];
    tr.dataset.tally = TALLY[r[3]];
    keys.forEach(function (key) {
      tr.dataset[key] = values[key];
      var td = document.createElement("td");
      td.className = key;
      var text = key in texts ? texts[key] : String(values[key]);
      if (key === "module" && document.getElementById("result-" + r[9])) {
        var a = document.createElement("a");
        a.href = "#result-" + r[9];
        a.textContent = text;
        td.appendChild(a);
      } else if (key === "rank") {
        var span = document.createElement("span");
        span.className = "status";
        span.textContent = text;
        td.appendChild(span);
      } else {
        td.textContent = text;
      }
      tr.appendChild(td);
    });
    return tr;
  }
  function search(text) {
    var found = [];
    var total = 0;
    DATA.rows.forEach(function (r) {
      if (tally.value && TALLY[r[3]] !== tally.value) { return; }
      var words = (DATA.modules[r[0]] + " " + DATA.variants[r[1]] + " " + DATA.statuses[r[2]] + " " + DATA.reasons[r[8]]).toLowerCase();
      if (text && words.indexOf(text) === -1) { return; }
      total += 1;
      if (found.length < LIMIT) { found.push(built(r)); }
    });
    return { rows: found, total: total };
  }
  function apply() {
    var text = filter.value.trim().toLowerCase();
    var visible = {};
    var count = 0;
    var total = null;
    if (DATA.rows && (text || tally.value)) {
      var result = search(text);
      rows = result.rows;
      total = result.total;
      body.textContent = "";
      rows.forEach(function (row) { body.appendChild(row); visible[row.dataset.index] = true; });
      count = rows.length;
    } else {
      if (rows !== served) { rows = served; body.textContent = ""; rows.forEach(function (row) { body.appendChild(row); }); }
      rows.forEach(function (row) {
        var keep = (!tally.value || row.dataset.tally === tally.value) &&
          (!text || row.textContent.toLowerCase().indexOf(text) !== -1);
        row.hidden = !keep;
        if (keep) { visible[row.dataset.index] = true; count += 1; }
      });
    }
    var filtering = text || tally.value;
    each("#details details", function (item) { item.hidden = filtering && !visible[item.dataset.index]; });
    each("table.matrix tbody tr", function (tr) {
      tr.hidden = text && tr.dataset.module.toLowerCase().indexOf(text) === -1;
    });
    var all = DATA.rows ? DATA.rows.length : served.length;
    shown.textContent = total === null ? count + " of " + (filtering ? served.length : all) + " shown"
      : count + " of " + total + " found (" + all + " results)";
  }
  filter.addEventListener("input", apply);
  tally.addEventListener("change", apply);
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.dataset.key;
      var numeric = th.dataset.type === "number";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var x = a.dataset[key];
        var y = b.dataset[key];
        var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        if (order === 0) { order = Number(a.dataset.index) - Number(b.dataset.index); }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  function openTarget() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  apply();
})();
"##;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::inner::{InnerCounts, InnerTest};
    use crate::model::job::{PythonMalloc, Variant};
    use crate::model::result::{ImageInfo, RunInfo};
    use crate::model::status::Execution;

    fn result(module: &str, execution: Execution, peak_mib: Option<u64>) -> ModuleResult {
        let mut result = ModuleResult::sample(module, execution, "hello\n", "");
        result.peak_rss_bytes = peak_mib.map(|m| m << 20);
        result.memory_limit_bytes = Some(64 << 20);
        result
    }

    fn outcome(results: Vec<ModuleResult>) -> Outcome {
        let mut outcome = Outcome::empty("run-7".into());
        outcome.results = results;
        outcome.wall_time = Duration::from_millis(3_200);
        outcome.run = RunInfo {
            args: vec![
                "run-all-tests".into(),
                "--memory".into(),
                "64m".into(),
                "--env".into(),
                "A=b c".into(),
            ],
            engine: "docker".into(),
            engine_version: Some("20.10.24".into()),
            images: vec![ImageInfo {
                python: Some("3.11".into()),
                reference: "i".into(),
                base: "pymaccounter-base:python-3.11".into(),
                base_id: Some("sha256:0123456789abcdef".into()),
                packages: Vec::new(),
            }],
            host_cpus: 2,
        };
        outcome
    }

    /// Every element's attributes, in document order (the page is well-formed XML).
    fn elements(page: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut reader = quick_xml::Reader::from_str(page);
        let mut found = Vec::new();
        loop {
            match reader.read_event().expect("well-formed") {
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                    let attributes = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                            (key, a.unescape_value().unwrap().into_owned())
                        })
                        .collect();
                    found.push((String::from_utf8_lossy(e.name().as_ref()).into_owned(), attributes));
                }
                quick_xml::events::Event::Eof => return found,
                _ => {}
            }
        }
    }

    fn with_class<'a>(
        elements: &'a [(String, Vec<(String, String)>)],
        class: &str,
    ) -> Vec<&'a [(String, String)]> {
        elements
            .iter()
            .filter(|(_, attributes)| {
                attributes.iter().any(|(k, v)| k == "class" && v.split(' ').any(|c| c == class))
            })
            .map(|(_, attributes)| attributes.as_slice())
            .collect()
    }

    fn attribute<'a>(attributes: &'a [(String, String)], key: &str) -> &'a str {
        attributes.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn table_rows_carry_what_they_sort_by() {
        let mut failed = result("test_b.py", Execution::Failed { exit_code: 1, why: None }, Some(9));
        failed.duration = Duration::from_millis(1_500);
        failed.inner = Some(InnerReport {
            harness: crate::model::inner::Harness::Unittest,
            counts: InnerCounts { passed: 2, failed: 1, ..InnerCounts::default() },
            tests: vec![InnerTest {
                traceback: None,
                name: "test_x".into(),
                outcome: TestOutcome::Failed,
                message: Some("AssertionError: 1 != 2".into()),
                duration_s: 0.0,
                hunt_leaks: None,
                peak_bytes: None,
            }],
            ..InnerReport::default()
        });
        let page = render(&outcome(vec![result("test_a.py", Execution::Passed, None), failed]), "t");
        let all = elements(&page);
        let rows: Vec<_> =
            all.iter().filter(|(name, a)| name == "tr" && !attribute(a, "data-index").is_empty()).collect();
        assert_eq!(rows.len(), 2);
        let row = &rows[1].1;
        for (key, value) in [
            ("data-module", "test_b.py"),
            ("data-status", "fail"),
            ("data-tally", "failed"),
            ("data-rank", "0"),
            ("data-duration", "1.500"),
            ("data-peak", "9437184"),
            ("data-limit", "67108864"),
            ("data-tests", "3"),
            ("data-python", "3.11"),
            ("data-reason", "exit code 1"),
        ] {
            assert_eq!(attribute(row, key), value, "{key}");
        }
        assert_eq!(attribute(&rows[0].1, "data-peak"), "-1", "no measurement sorts first");
        let headers: Vec<&str> = all
            .iter()
            .filter(|(name, _)| name == "th")
            .map(|(_, a)| attribute(a, "data-key"))
            .filter(|k| !k.is_empty())
            .collect();
        assert_eq!(
            headers,
            ["module", "allocator", "python", "rank", "duration", "peak", "limit", "tests", "reason"]
        );
        for key in headers {
            let attribute_name = format!("data-{key}");
            assert!(rows.iter().all(|(_, a)| a.iter().any(|(k, _)| *k == attribute_name)), "{key}");
        }
        // The failing test and its message are in the open details block.
        assert!(page.contains("<details id=\"result-1\" class=\"failed\" data-index=\"1\" open=\"open\">"));
        assert!(page.contains(
            "<td><code>test_x</code></td><td>failed</td><td><pre>AssertionError: 1 != 2</pre></td>"
        ));
        assert!(page.contains("<details id=\"result-0\" class=\"passed\" data-index=\"0\">"));
    }

    #[test]
    fn the_header_says_when_how_and_on_what() {
        let page =
            render(&outcome(vec![result("test_a.py", Execution::Passed, Some(10))]), "pymaccounter: tests");
        for part in [
            "<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14 22:13:20 UTC</time>",
            "ran 3.2 s (wall time)",
            "<code>cargo xtask run-all-tests --memory 64m --env &#39;A=b c&#39;</code>",
            "docker 20.10.24 · host with 2 CPUs",
            "<dt>Python 3.11</dt><dd>base <code>pymaccounter-base:python-3.11</code> <span class=\"id\" title=\"sha256:0123456789abcdef\">0123456789ab</span>",
            "<dt>memory limit</dt><dd>64.0 MiB per container</dd>",
            "<p class=\"verdict passed\">1 passed, 0 failed</p>",
        ] {
            assert!(page.contains(part), "{part} missing in {page}");
        }
    }

    #[test]
    fn untrusted_references_are_shown_marked_and_left_out_of_the_verdict() {
        let hunt = LeakHunt {
            warmups: 3,
            runs: 3,
            debug_build: true,
            refs: Some(vec![28, 28, 28]),
            blocks: vec![0; 3],
            fds: vec![0; 3],
            release_extensions: Some(crate::model::inner::ReleaseExtensions {
                count: 2,
                names: vec!["<b>numpy</b>".into()],
            }),
            ..LeakHunt::default()
        };
        let section = leak_hunt(&hunt, &[]);
        assert!(
            section.contains("<td>+28, +28, +28 (not trusted: 2 release-built extension modules"),
            "{section}"
        );
        assert!(
            section.contains("&lt;b&gt;numpy&lt;/b&gt; and 1 more") && !section.contains("<b>"),
            "{section}"
        );
        assert!(
            section.contains(
                "no leak by CPython&#39;s rule on memory blocks and file descriptors; references not judged"
            ),
            "{section}"
        );
    }

    #[test]
    fn details_show_leak_deltas_summaries_and_stream_tails() {
        let hunt = LeakHunt {
            warmups: 3,
            runs: 3,
            blocks: vec![1, 2, 1],
            fds: vec![0, 0, 0],
            ..LeakHunt::default()
        };
        let mut hunted = result("test_a.py", Execution::Leaked { hunt: hunt.clone(), tests: None }, Some(9));
        hunted.inner = Some(InnerReport {
            harness: crate::model::inner::Harness::Script,
            hunt_leaks: Some(hunt),
            ..InnerReport::default()
        });
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        hunted.stderr = crate::model::captured::Captured::from_text(&long);
        let mut counted = result("test_b.py", Execution::Passed, Some(9));
        counted.inner = crate::harness::summary::read(
            &crate::model::captured::Captured::from_text(""),
            &crate::model::captured::Captured::from_text("Ran 4 tests in 0.01s\n\nOK (skipped=1)\n"),
        );
        let page = render(&outcome(vec![hunted, counted]), "t");
        assert!(page.contains("<tr><th>memory blocks</th><td>+1, +2, +1</td></tr>"), "{page}");
        assert!(page.contains("memory blocks [1, 2, 1] over 3 runs after 3 warm-ups"));
        assert!(!page.contains("<h3>Tests</h3>\n<p>no tests"), "a hunted script has no counts");
        assert!(
            page.contains("<p>3 passed, 1 skipped (read from the unittest summary the script printed)</p>")
        );
        assert!(page.contains("<td class=\"tests\">3 passed, 1 skipped</td>"), "the table's tests column");
        assert!(page.contains("<h3>stderr: its end (") && page.contains("line 99</pre>"));
        assert!(!page.contains("line 59\n"), "only the last 40 lines");
        assert!(page.contains("<h3>stdout</h3>\n<pre class=\"stream\">hello</pre>"));
    }

    #[test]
    fn module_text_is_escaped_and_nothing_is_fetched() {
        let hostile = "<script>alert(1)</script>\x1b[31m\u{ffff}&\"'";
        let mut r = result(
            &format!("test_{hostile}.py"),
            Execution::Failed {
                exit_code: 1,
                why: Some(crate::model::status::FailureCause::HarnessError { error: hostile.into() }),
            },
            Some(9),
        );
        r.stdout = crate::model::captured::Captured::from_text(hostile);
        let mut o = outcome(vec![r]);
        o.run.args.push(hostile.into());
        o.env.push(("K".into(), hostile.into()));
        let page = render(&o, hostile);
        assert_eq!(page.matches("<script>").count(), 1, "only our own script");
        assert!(!page.contains('\x1b') && !page.contains('\u{ffff}'));
        elements(&page);
        for fetcher in ["http:", "https:", "//", "@import", "url(", "src="] {
            assert!(!page.contains(fetcher), "{fetcher}");
        }
    }

    fn variant(result: &mut ModuleResult, malloc: PythonMalloc, python: &str) {
        result.job.variant = Variant { python_malloc: Some(malloc), python: Some(python.parse().unwrap()) };
    }

    #[test]
    fn the_matrix_puts_variants_side_by_side_with_three_bars_and_a_roll_up() {
        let mut results = Vec::new();
        for (module, malloc, python, execution, peak) in [
            ("test_a.py", PythonMalloc::Malloc, "3.11", Execution::Passed, 10),
            ("test_a.py", PythonMalloc::Pymalloc, "3.13", Execution::Skipped { why: None }, 8),
            (
                "test_b.py",
                PythonMalloc::Malloc,
                "3.11",
                Execution::OomKilled { container_peak: None, process_peak: None },
                63,
            ),
        ] {
            let mut r = result(module, execution, Some(peak));
            variant(&mut r, malloc, python);
            r.container_peak_bytes = Some((peak + 2) << 20);
            results.push(r);
        }
        results[0].memray = Some(MemraySummary::with_peak(4 << 20));
        let page = render(&outcome(results), "t");
        let all = elements(&page);
        let cells: Vec<String> =
            with_class(&all, "cell").iter().map(|a| attribute(a, "class").to_string()).collect();
        // Two modules × two variants: test_b.py has no result under the second.
        assert_eq!(cells, ["cell passed", "cell skipped", "cell failed", "cell none"]);
        assert!(
            page.contains(
                "<th class=\"variant\">malloc<br/>3.11</th><th class=\"variant\">pymalloc<br/>3.13</th>"
            ),
            "{page}"
        );
        assert_eq!(with_class(&all, "rss").len(), 3 + 1, "an RSS bar per result, and the legend's");
        assert_eq!(with_class(&all, "ctr").len(), 3 + 1);
        assert_eq!(with_class(&all, "heap").len(), 1 + 1, "memray's heap where it ran");
        // The scale ends at the largest figure: test_b.py's container, 65 MiB.
        assert!(page.contains("<i class=\"rss\" style=\"width: 96.9%\"></i>"), "{page}");
        assert!(page.contains("<span class=\"num\">63.0</span><span class=\"status\">oom</span>"));
        assert!(page.contains("<span class=\"num\">10.0</span></a></td>"), "a pass needs no word");
        assert!(page.contains("<td class=\"rollup skipped\"><span class=\"status\">1 skipped of 2</span><br/>8.0 MiB–10.0 MiB</td>"), "{page}");
        assert!(page.contains("<td class=\"rollup failed\"><span class=\"status\">1 failed of 1</span>"));
    }

    #[test]
    fn a_failure_alike_across_variants_is_one_line_and_its_evidence_shown_once() {
        let failing = || Execution::Failed {
            exit_code: 1,
            why: Some(crate::model::status::FailureCause::TestsFailed {
                failed: 1,
                total: 2,
                names: vec!["t::x".into()],
            }),
        };
        let mut results = Vec::new();
        for (malloc, text) in
            [(PythonMalloc::Malloc, "first output"), (PythonMalloc::Pymalloc, "second output")]
        {
            let mut r = result("test_a.py", failing(), Some(9));
            variant(&mut r, malloc, "3.11");
            r.stdout = crate::model::captured::Captured::from_text(text);
            results.push(r);
        }
        let page = render(&outcome(results), "t");
        let attention =
            page.split("<section id=\"attention\">").nth(1).unwrap().split("</section>").next().unwrap();
        assert_eq!(attention.matches("<tr class=\"failed\">").count(), 1, "{attention}");
        assert!(page.contains("<td>malloc, 3.11; pymalloc, 3.11</td>"), "both variants named");
        assert!(page.contains("first output") && !page.contains("second output"), "the evidence once");
        assert!(page.contains("The same failure as <a href=\"#result-0\">test_a.py [malloc, 3.11]</a>"));
        assert_eq!(page.matches("<details ").count(), 2, "each result keeps its own facts");
    }

    #[test]
    fn a_timeout_shows_the_memory_it_had_reached() {
        let mut timed_out = result("test_a.py", Execution::TimedOut { after_secs: 5 }, None);
        timed_out.container_peak_bytes = Some(48 << 20);
        let page = render(&outcome(vec![timed_out]), "t");
        assert!(
            page.contains("<span class=\"num\">≥48.0</span><span class=\"status\">timeout</span>"),
            "{page}"
        );
        assert!(page.contains("<td class=\"peak\">48.0 MiB reached (container)</td>"), "{page}");
        assert!(page.contains("<dt>peak RSS</dt><dd>48.0 MiB reached (container)</dd>"));
    }

    #[test]
    fn the_baseline_tick_has_a_legend_entry_and_a_colour_in_both_themes() {
        let mut r = result("test_a.py", Execution::Passed, Some(10));
        r.baseline = Some(crate::model::result::BaselineRecord {
            status: crate::model::status::Status::Pass,
            values: [(MeasureId::Rss, (8u64 << 20) as f64)].into_iter().collect(),
            scopes: Default::default(),
            memory_series: None,
        });
        let page = render(&outcome(vec![r]), "t");
        assert!(page.contains("<i class=\"base\" style=\"left: 80.0%\"></i>"), "{page}");
        assert!(page.contains("<span class=\"swatch base\"></span>baseline RSS peak"));
        // Every colour the style uses is defined, in the light theme and the dark one.
        let (light, dark) = STYLE.split_once("@media (prefers-color-scheme: dark)").unwrap();
        let dark = dark.split('}').next().unwrap();
        for used in STYLE.split("var(--").skip(1).map(|rest| rest.split(')').next().unwrap()) {
            assert!(light.contains(&format!("--{used}:")), "--{used} has no light value");
            assert!(dark.contains(&format!("--{used}:")), "--{used} has no dark value");
        }
    }

    #[test]
    fn a_large_outcome_is_capped_says_what_it_left_out_and_embeds_every_result() {
        let results: Vec<ModuleResult> = (0..3_000)
            .map(|i| {
                let execution =
                    if i % 100 == 7 { Execution::Crashed { signal: 11 } } else { Execution::Passed };
                let mut r = result(&format!("test_{i:04}.py"), execution, Some(1 + (i % 97) as u64));
                r.job.index = i;
                r.stdout = crate::model::captured::Captured::from_text(&"output line\n".repeat(200));
                r
            })
            .collect();
        let page = render(&outcome(results), "t");
        let all = elements(&page);
        let rows =
            all.iter().filter(|(name, a)| name == "tr" && !attribute(a, "data-index").is_empty()).count();
        assert_eq!(rows, TABLE_ROWS);
        assert_eq!(all.iter().filter(|(name, _)| name == "details").count(), 30 + PEAK_ROWS);
        let matrix_row = |(name, a): &&(String, Vec<(String, String)>)| {
            name == "tr" && !attribute(a, "data-module").is_empty() && attribute(a, "data-index").is_empty()
        };
        assert_eq!(all.iter().filter(matrix_row).count(), MATRIX_MODULES);
        assert!(page.contains(
            "3000 results: this page shows 200 of 3000 modules in the matrix (those with a failure first, then the \
             largest peaks), 2000 of 3000 results as rows of the table (failures first, then the largest peaks) and \
             40 of 3000 results with details (the failures and the largest peaks); the filter finds any result; \
             every output and test is in the JSON report."
        ), "{}", &page[..3000]);
        // The matrix starts with the modules that failed.
        let first = all.iter().find(matrix_row).unwrap();
        let number: usize = attribute(&first.1, "data-module")[5..9].parse().unwrap();
        assert_eq!(number % 100, 7, "a failing module");
        let data = page.split("var DATA = ").nth(1).unwrap().split(";\n").next().unwrap();
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["rows"].as_array().unwrap().len(), 3_000, "the filter can find every result");
        assert_eq!(data["rows"][0][2], 0, "failures first");
    }

    #[test]
    fn nothing_is_left_out_of_a_small_outcome() {
        let page = render(&outcome(vec![result("test_a.py", Execution::Passed, Some(10))]), "t");
        assert!(!page.contains("id=\"left-out\""));
        assert!(page.contains("var DATA = {};"), "no embedded data: the table holds every row");
        assert!(page.contains("<p>Nothing failed or regressed.</p>"));
    }

    /// A run's flame graphs lie next to its first report (the JSON one
    /// here): the page in another folder links them from its own.
    #[test]
    fn flame_graphs_are_linked_from_the_page_s_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("json/memray/test_a.py.svg");
        std::fs::create_dir_all(svg.parent().unwrap()).unwrap();
        std::fs::write(&svg, "<svg/>").unwrap();
        let mut result = result("test_a.py", Execution::Passed, Some(10));
        result.memray =
            Some(MemraySummary { flamegraph_path: Some(svg.clone()), ..MemraySummary::with_peak(4 << 20) });
        let pages = dir.path().join("html/pages");
        std::fs::create_dir_all(&pages).unwrap();
        let context = ReportContext { test_dir: "t", run: None, wholes: None };
        write(&outcome(vec![result]), &context, &pages.join("r.html")).unwrap();
        let page = std::fs::read_to_string(pages.join("r.html")).unwrap();
        let all = elements(&page);
        let links: Vec<&str> = with_class(&all, "flamegraph").iter().map(|a| attribute(a, "href")).collect();
        assert_eq!(links, ["../../json/memray/test_a.py.svg"]);
        assert!(pages.join(links[0]).is_file());
    }
}
