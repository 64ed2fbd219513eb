//! `--report-html`: one self-contained page a person reads (no network
//! fetch: no URL, no `src=`, no `@import`, no `url(...)`), in four parts,
//! each drawn by its own function:
//!
//! - `header`: the run's date, wall time, command line, engine, Python
//!   versions and base images, memory limits, and the closing line;
//! - `chart`: peak RSS per result as bars drawn with HTML and CSS (so the
//!   chart reflows on a phone), coloured by how the status counts (passed,
//!   skipped, failed; the status is also written next to a bar that did not
//!   pass), the variant written as the bar's label, the memory limit as a
//!   line, and an axis in MiB with gridlines;
//! - `table`: the results, sortable and filterable by a small inline script
//!   (rows carry `data-*` values to sort by);
//! - `details`: per result a collapsible block with the reason, the inner
//!   tests, the leak hunt's deltas, and the tails of stdout and stderr.
//!
//! The page is also well-formed XML (void elements closed, the script in a
//! CDATA section), which lets tests parse it.

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
/// A memory limit is drawn on the chart's scale when it is at most this many
/// times the largest peak; further out it would squeeze every bar to a sliver.
const LIMIT_ON_SCALE: f64 = 2.0;
/// Lines of each stream kept in a result's details.
const TAIL_LINES: usize = 40;
/// ... and at most this many characters of them.
const TAIL_CHARS: usize = 8000;

pub fn write(outcome: &Outcome, context: &ReportContext, path: &Path) -> Result<()> {
    let title = format!("pymaccounter: {}", context.test_dir);
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let page = render(outcome, &title);
    // Flame graphs saved next to the report are linked relative to it, so the folder can move.
    let page = page.replace(&format!("href=\"{}/", folder.display()), "href=\"");
    super::write_atomically(path, page.as_bytes())
        .with_context(|| format!("cannot write the HTML report to {}", path.display()))
}

pub fn render(outcome: &Outcome, title: &str) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        sanitize::html(title)
    );
    page.push_str(&header(outcome, title));
    if !outcome.results.is_empty() {
        page.push_str(&chart(outcome));
        page.push_str(&table(outcome));
        page.push_str(&details(outcome));
    }
    page.push_str(&not_run(outcome));
    let _ = write!(page, "<script>/*<![CDATA[*/{SCRIPT}/*]]>*/</script>\n</body>\n</html>\n");
    page
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
            "{}, ran {:.1} s (wall time) · run <code>{}</code>",
            time_element(outcome.started_at),
            outcome.wall_time.as_secs_f64(),
            sanitize::html(&outcome.run_id)
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

/// The chart's scale: the axis's end and its step, both in bytes.
struct Scale {
    end: f64,
    step: f64,
}

impl Scale {
    /// Ends at a whole number of 1-2-5 steps (in MiB) past the largest peak,
    /// and past any limit close enough to it to be drawn.
    fn of(results: &[ModuleResult]) -> Scale {
        let peak = results.iter().filter_map(|r| r.peak_rss_bytes).max().unwrap_or(0) as f64;
        let near_limit = results
            .iter()
            .filter_map(|r| r.memory_limit_bytes)
            .map(|l| l as f64)
            .filter(|l| peak > 0.0 && *l <= peak * LIMIT_ON_SCALE)
            .fold(0.0, f64::max);
        let top = peak.max(near_limit).max(MIB);
        // At most six steps: 1-2-5 steps of at least a sixth of the top.
        let raw = top / MIB / 6.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
        let step = step.max(0.5) * MIB;
        Scale { end: (top / step).ceil() * step, step }
    }

    fn ticks(&self) -> usize {
        (self.end / self.step).round() as usize
    }

    /// Where a value sits, in percent of the track, or `None` beyond the axis.
    fn percent(&self, bytes: u64) -> Option<f64> {
        let at = bytes as f64 / self.end * 100.0;
        (at <= 100.0).then_some(at)
    }
}

/// `2`, `0.5`, `1024`: a tick's label in MiB.
fn mib_label(bytes: f64) -> String {
    let mib = bytes / MIB;
    if mib.fract() == 0.0 {
        format!("{mib:.0}")
    } else {
        format!("{mib:.1}")
    }
}

/// Peak RSS per result, grouped by module.
fn chart(outcome: &Outcome) -> String {
    let results = &outcome.results;
    let scale = Scale::of(results);
    let matrix = results.iter().any(|r| r.job.variant.short().is_some());
    let mut out = String::from("<section id=\"chart\" aria-label=\"Peak memory per result\">\n<h2>Peak memory (RSS) per result</h2>\n");
    out.push_str(&legend(results, &scale));
    let layout = if matrix { "variants" } else { "modules" };
    let _ = writeln!(out, "<div class=\"chart {layout}\" style=\"--ticks: {}\">", scale.ticks());
    out.push_str(&axis(&scale));
    let mut previous: Option<&str> = None;
    for (index, result) in results.iter().enumerate() {
        if matrix && previous != Some(result.job.module.as_str()) {
            let _ = writeln!(
                out,
                "<div class=\"module\" data-module=\"{0}\">{0}</div>",
                sanitize::html(&result.job.module)
            );
        }
        previous = Some(&result.job.module);
        out.push_str(&bar_row(index, result, &scale, matrix));
    }
    out.push_str(&axis(&scale));
    out.push_str("</div>\n</section>\n");
    out
}

/// What the colours, the line and the labels mean; limits beyond the scale are named here.
fn legend(results: &[ModuleResult], scale: &Scale) -> String {
    let mut out = String::from("<ul class=\"legend\">\n");
    for (class, words) in
        [("passed", "passed"), ("skipped", "skipped"), ("failed", "failed (status written after the bar)")]
    {
        let _ = writeln!(out, "<li><span class=\"swatch {class}\"></span>{words}</li>");
    }
    let mut off_scale: Vec<u64> =
        results.iter().filter_map(|r| r.memory_limit_bytes).filter(|l| scale.percent(*l).is_none()).collect();
    off_scale.sort_unstable();
    off_scale.dedup();
    let on_scale = results.iter().filter_map(|r| r.memory_limit_bytes).any(|l| scale.percent(l).is_some());
    if on_scale {
        out.push_str("<li><span class=\"swatch line\"></span>memory limit</li>\n");
    }
    if !off_scale.is_empty() {
        let limits: Vec<String> = off_scale.into_iter().map(human_bytes).collect();
        let _ = writeln!(out, "<li>memory limit {} (beyond the scale)</li>", limits.join(", "));
    }
    if results.iter().any(|r| r.memory_limit_bytes.is_none()) {
        out.push_str("<li>some containers had no memory limit</li>\n");
    }
    out.push_str("</ul>\n");
    out
}

/// Tick labels over the track, in MiB.
fn axis(scale: &Scale) -> String {
    let mut out = String::from("<div class=\"axis\"><div class=\"label\"></div><div class=\"ticks\">");
    for tick in 0..=scale.ticks() {
        let at = tick as f64 * scale.step;
        let _ = write!(out, "<span style=\"left: {:.2}%\">{}</span>", at / scale.end * 100.0, mib_label(at));
    }
    out.push_str("</div><div class=\"value\">MiB</div></div>\n");
    out
}

/// One result's bar: its label (the variant in a matrix, else the module),
/// the bar, its limit line, and its value (with the status when it did not pass).
fn bar_row(index: usize, result: &ModuleResult, scale: &Scale, matrix: bool) -> String {
    let row = Row::of(result);
    let tally = row.tally;
    let label =
        if matrix { result.job.variant.short().unwrap_or_default() } else { result.job.module.clone() };
    let bar = match result.peak_rss_bytes.and_then(|p| scale.percent(p)) {
        Some(width) => format!("<div class=\"bar\" style=\"width: {width:.2}%\"></div>"),
        None => String::new(),
    };
    let baseline_peak = result.baseline.as_ref().and_then(|b| b.values.get(&MeasureId::Rss)).copied();
    let baseline = match baseline_peak.and_then(|b| scale.percent(b as u64).map(|at| (b, at))) {
        Some((before, at)) => format!(
            "<div class=\"baseline\" style=\"left: {at:.2}%\" title=\"baseline {}\"></div>",
            human_bytes(before.round() as u64)
        ),
        None => String::new(),
    };
    let limit = match result.memory_limit_bytes.and_then(|l| scale.percent(l).map(|at| (l, at))) {
        Some((bytes, at)) => format!(
            "<div class=\"limit\" style=\"left: {at:.2}%\" title=\"memory limit {}\"></div>",
            human_bytes(bytes)
        ),
        None => String::new(),
    };
    let status = match tally {
        Tally::Passed => String::new(),
        Tally::Skipped | Tally::Failed => format!(" <span class=\"status\">{}</span>", row.status.name()),
    };
    let value = if result.peak_rss_bytes.is_some() { row.peak.clone() } else { "not measured".into() };
    format!(
        "<div class=\"row {class}\" data-index=\"{index}\" data-module=\"{module}\">\
         <div class=\"label\" title=\"{title}\">{label}</div>\
         <div class=\"track\">{bar}{baseline}{limit}</div>\
         <div class=\"value\"><a href=\"#result-{index}\">{value}</a>{status}</div></div>\n",
        class = tally_class(tally),
        module = sanitize::html(&result.job.module),
        title = sanitize::html(&format!("{}: {}, {}", result.job.label(), value, row.status.name())),
        label = sanitize::html(&label),
    )
}

/// The results table: every column sorts (by the row's `data-*` values), and
/// a text box and a status list filter the rows (and the chart's bars and
/// the details). On a phone each row becomes a small card.
fn table(outcome: &Outcome) -> String {
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
    for (index, result) in outcome.results.iter().enumerate() {
        out.push_str(&table_row(outcome, index, result, with_tests));
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
        ("peak", number(result.peak_rss_bytes).to_string(), row.peak.clone()),
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

/// A collapsible block per result; those that failed start open.
fn details(outcome: &Outcome) -> String {
    let mut out = String::from("<section id=\"details\">\n<h2>Details</h2>\n");
    for (index, result) in outcome.results.iter().enumerate() {
        out.push_str(&result_details(outcome, index, result));
    }
    out.push_str("</section>\n");
    out
}

fn result_details(outcome: &Outcome, index: usize, result: &ModuleResult) -> String {
    let row = Row::of(result);
    let tally = row.tally;
    let open = if tally == Tally::Failed { " open=\"open\"" } else { "" };
    let mut out = format!(
        "<details id=\"result-{index}\" class=\"{class}\" data-index=\"{index}\"{open}>\n\
         <summary><span class=\"status\">{status}</span> <strong>{label}</strong> · {peak}</summary>\n<dl>\n",
        class = tally_class(tally),
        status = row.status.name(),
        label = sanitize::html(&result.job.label()),
        peak = row.peak,
    );
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
    facts.extend([
        ("started", time_element(result.started_at)),
        ("duration", row.duration.clone()),
        ("peak RSS", row.peak.clone()),
        ("memory limit", limit_text(result.memory_limit_bytes)),
        ("python", sanitize::html(python_of(outcome, result))),
        ("allocator", row.allocator.to_string()),
    ]);
    for (term, value) in facts {
        let _ = writeln!(out, "<dt>{term}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>\n");
    if let Some(change) = &row.vs_baseline {
        let _ = writeln!(out, "<p class=\"baseline\">vs baseline: {}</p>", sanitize::html(change));
    }
    if let Some(memray) = &result.memray {
        out.push_str(&memray_details(memray));
    }
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
    out.push_str("</details>\n");
    out
}

/// memray's figures, its largest allocation sites and a link to the flame graph.
fn memray_details(memray: &MemraySummary) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    let mut out = format!("<h3>memray</h3>\n<p>{}", sanitize::html(&super::memray_figures(memray)));
    if let Some(path) = &memray.flamegraph_path {
        let _ = write!(
            out,
            " · <a class=\"flamegraph\" href=\"{}\">{} flame graph</a> (its plugins load from a CDN)",
            sanitize::html(&path.display().to_string()),
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
:root { --pass: #2e7d32; --skip: #8d8d8d; --fail: #c62828; --grid: #e3e3e3; --ink: #1f1f1f; --muted: #5f5f5f; --paper: #fff; --line: #6a1b9a; --link: #1a56b0; }
@media (prefers-color-scheme: dark) {
  :root { --pass: #66bb6a; --skip: #9e9e9e; --fail: #ef5350; --grid: #3a3a3a; --ink: #e8e8e8; --muted: #a8a8a8; --paper: #161616; --line: #ce93d8; --link: #8ab4f8; }
}
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1.2em; max-width: 78em; color: var(--ink); background: var(--paper); }
h1 { font-size: 1.5em; margin: 0 0 0.3em; overflow-wrap: anywhere; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.6em; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
a { color: var(--link); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
code { overflow-wrap: anywhere; }
.verdict { font-size: 1.15em; font-weight: 600; margin: 0 0 0.8em; }
.verdict.passed { color: var(--pass); } .verdict.failed { color: var(--fail); }
dl.run, details dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.id { color: var(--muted); font-family: ui-monospace, monospace; font-size: 0.85em; }
.legend { list-style: none; padding: 0; margin: 0 0 0.8em; display: flex; flex-wrap: wrap; gap: 0.3em 1.4em; color: var(--muted); }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em; vertical-align: -0.1em; border-radius: 2px; }
.swatch.passed, .chart .passed .bar { background: var(--pass); }
.swatch.skipped, .chart .skipped .bar { background: repeating-linear-gradient(135deg, var(--skip) 0 3px, transparent 3px 6px); border: 1px solid var(--skip); }
.swatch.failed, .chart .failed .bar { background: var(--fail); }
.swatch.line { width: 0; border-left: 2px dashed var(--line); border-radius: 0; }
.chart { display: grid; grid-template-columns: minmax(4em, max-content) minmax(10em, 1fr) max-content; column-gap: 0.6em; align-items: stretch; }
.chart .row, .chart .axis { display: contents; }
.chart .row[hidden], .chart .module[hidden] { display: none; }
.chart .label { max-width: 24em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; text-align: right; padding: 2px 0; }
.chart .module { grid-column: 1 / -1; font-weight: 600; margin-top: 0.5em; overflow-wrap: anywhere; }
.chart .track { position: relative; min-height: 1.5em; background-image: linear-gradient(to right, var(--grid) 1px, transparent 1px); background-size: calc(100% / var(--ticks)) 100%; border-right: 1px solid var(--grid); }
.chart .bar { position: absolute; left: 0; top: 0.2em; bottom: 0.2em; min-width: 2px; border-radius: 0 2px 2px 0; }
.chart .baseline { position: absolute; top: -2px; bottom: -2px; width: 0; border-left: 3px solid var(--text, #222); }
.chart .limit { position: absolute; top: 0; bottom: 0; width: 0; border-left: 2px dashed var(--line); }
.chart .value { white-space: nowrap; font-variant-numeric: tabular-nums; padding: 2px 0; }
.chart .value a { color: inherit; text-decoration: none; }
.chart .value .status, .chart .failed .label { color: var(--fail); font-weight: 600; }
.chart .skipped .value .status { color: var(--muted); }
.chart .axis .ticks { position: relative; height: 1.3em; color: var(--muted); font-size: 0.8em; }
.chart .axis .ticks span { position: absolute; transform: translateX(-50%); }
.chart .axis .value { color: var(--muted); font-size: 0.8em; padding: 0 0 0 0.8em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.5em 1.2em; align-items: center; margin-bottom: 0.6em; }
.controls input, .controls select { font: inherit; padding: 0.2em 0.4em; }
#shown { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid var(--grid); text-align: left; vertical-align: top; }
th { white-space: nowrap; }
th.duration, th.peak, th.limit, td.duration, td.peak, td.limit { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reason { min-width: 16em; } td.tests { white-space: nowrap; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \25B2"; } th[aria-sort="descending"] button::after { content: " \25BC"; }
.status { font-weight: 600; }
tr.passed .status, details.passed > summary .status { color: var(--pass); }
tr.skipped .status, details.skipped > summary .status { color: var(--muted); }
tr.failed .status, details.failed > summary .status { color: var(--fail); }
#results-table tr[hidden], details[hidden] { display: none; }
details { border: 1px solid var(--grid); border-left: 4px solid var(--pass); border-radius: 4px; padding: 0.4em 0.8em; margin: 0.5em 0; }
details.skipped { border-left-color: var(--skip); } details.failed { border-left-color: var(--fail); }
summary { cursor: pointer; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
pre.stream { background: color-mix(in srgb, var(--grid) 40%, transparent); padding: 0.5em; border-radius: 4px; max-height: 28em; overflow: auto; }
@media (max-width: 640px) {
  body { padding: 0.8em; font-size: 14px; }
  .chart.modules { grid-template-columns: minmax(6em, 1fr) max-content; }
  .chart.modules .label { grid-column: 1 / -1; text-align: left; max-width: none; padding: 0.3em 0 0; }
  .chart.modules .axis .label { display: none; }
  .chart.variants .label { max-width: 7em; }
  dl.run, details dl { grid-template-columns: 1fr; } dd { margin-bottom: 0.3em; }
  #results-table, #results-table thead, #results-table tbody { display: block; }
  #results-table thead tr { display: flex; flex-wrap: wrap; gap: 0.2em 0.9em; padding-bottom: 0.4em; border-bottom: 2px solid var(--grid); }
  #results-table thead tr::before { content: "Sort by"; color: var(--muted); }
  #results-table th { border: 0; padding: 0; font-size: 0.9em; }
  #results-table tbody tr { display: flex; flex-wrap: wrap; gap: 0 0.9em; padding: 0.4em 0; border-bottom: 1px solid var(--grid); }
  #results-table tbody tr[hidden] { display: none; }
  #results-table td { border: 0; padding: 0; min-width: 0; }
  #results-table td.module { flex-basis: 100%; font-weight: 600; overflow-wrap: anywhere; }
  #results-table td.reason { flex-basis: 100%; min-width: 0; color: var(--muted); }
  #results-table td:empty { display: none; }
  #results-table td.python::before { content: "Python "; }
  #results-table td.peak::before { content: "peak "; color: var(--muted); }
  #results-table td.limit::before { content: "limit "; color: var(--muted); }
}
"#;

const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById("results-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var tally = document.getElementById("tally");
  var shown = document.getElementById("shown");
  var each = function (selector, action) { Array.prototype.forEach.call(document.querySelectorAll(selector), action); };
  function apply() {
    var text = filter.value.trim().toLowerCase();
    var visible = {};
    var count = 0;
    rows.forEach(function (row) {
      var keep = (!tally.value || row.dataset.tally === tally.value) &&
        (!text || row.textContent.toLowerCase().indexOf(text) !== -1);
      row.hidden = !keep;
      if (keep) { visible[row.dataset.index] = true; count += 1; }
    });
    var modules = {};
    each(".chart .row, #details details", function (item) {
      item.hidden = !visible[item.dataset.index];
      if (!item.hidden) { modules[item.dataset.module] = true; }
    });
    each(".chart .module", function (heading) { heading.hidden = !modules[heading.dataset.module]; });
    shown.textContent = count + " of " + rows.length + " shown";
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
"#;

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
    fn bars_are_coloured_by_how_the_status_counts_and_say_it_when_not_a_pass() {
        let page = render(
            &outcome(vec![
                result("test_a.py", Execution::Passed, Some(10)),
                result("test_b.py", Execution::Skipped { why: None }, Some(8)),
                result(
                    "test_c.py",
                    Execution::OomKilled { container_peak: None, process_peak: None },
                    Some(63),
                ),
            ]),
            "t",
        );
        let all = elements(&page);
        let rows: Vec<String> =
            with_class(&all, "row").iter().map(|a| attribute(a, "class").to_string()).collect();
        assert_eq!(rows, ["row passed", "row skipped", "row failed"]);
        assert_eq!(with_class(&all, "bar").len(), 3);
        assert!(page.contains("63.0 MiB</a> <span class=\"status\">oom</span>"), "{page}");
        assert!(page.contains("8.0 MiB</a> <span class=\"status\">skip</span>"));
        assert!(!page.contains("10.0 MiB</a> <span"), "a pass needs no word");
    }

    #[test]
    fn the_axis_is_in_mib_with_a_gridline_per_tick_and_the_limit_on_it() {
        let page = render(&outcome(vec![result("test_a.py", Execution::Passed, Some(40))]), "t");
        // 40 MiB and a 64 MiB limit: steps of 20 MiB up to 80.
        assert!(page.contains("style=\"--ticks: 4\""), "{page}");
        for (tick, at) in [("0", "0.00"), ("20", "25.00"), ("80", "100.00")] {
            assert!(page.contains(&format!("<span style=\"left: {at}%\">{tick}</span>")), "{tick}");
        }
        assert!(page.contains("<div class=\"value\">MiB</div>"));
        assert!(page.contains("<div class=\"bar\" style=\"width: 50.00%\"></div>"));
        assert!(page
            .contains("<div class=\"limit\" style=\"left: 80.00%\" title=\"memory limit 64.0 MiB\"></div>"));
        // A limit far past every peak stays off the scale, named in the legend.
        let mut small = result("test_a.py", Execution::Passed, Some(7));
        small.memory_limit_bytes = Some(1 << 30);
        let page = render(&outcome(vec![small]), "t");
        assert!(!page.contains("<div class=\"limit\""));
        assert!(page.contains("memory limit 1.0 GiB (beyond the scale)"));
    }

    #[test]
    fn variants_are_labels_under_their_module_not_colours() {
        let mut a = result("test_a.py", Execution::Passed, Some(10));
        a.job.variant = Variant { python_malloc: Some(PythonMalloc::Malloc), python: None };
        let mut b = result("test_a.py", Execution::Passed, Some(12));
        b.job.variant = Variant { python_malloc: Some(PythonMalloc::Pymalloc), python: None };
        let page = render(&outcome(vec![a, b]), "t");
        assert_eq!(
            page.matches("<div class=\"module\" data-module=\"test_a.py\">test_a.py</div>").count(),
            1
        );
        assert!(page.contains(">malloc</div>") && page.contains(">pymalloc</div>"), "{page}");
        assert_eq!(page.matches("class=\"row passed\"").count(), 2, "the same colour for both");
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

    #[test]
    fn scales_end_on_a_whole_step() {
        for (peak_mib, ticks, end_mib) in [(7.3, 4, 8.0), (40.0, 4, 40.0), (1000.0, 5, 1000.0), (0.2, 2, 1.0)]
        {
            let mut r = result("test_a.py", Execution::Passed, None);
            r.peak_rss_bytes = Some((peak_mib * MIB) as u64);
            r.memory_limit_bytes = None;
            let scale = Scale::of(&[r]);
            assert_eq!((scale.ticks(), scale.end / MIB), (ticks, end_mib), "{peak_mib}");
        }
    }
}
