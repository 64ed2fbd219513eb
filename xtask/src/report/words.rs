//! The one place that turns facts into words: why a result did not pass,
//! what leaked, how a measure moved, what a gate allows, sizes and times.
//! Every renderer (the terminal, the JSON report's `reason`, JUnit, HTML,
//! the step summary, `compare`) asks here, so a fact reads the same
//! everywhere and is said once.

use crate::model::compare::{measure_of, Delta, Gate, Verdict, MEASURES};
use crate::model::inner::{
    InnerCounts, InnerTest, LeakHunt, LeakKind, LeakingTests, PytestRan, PytestSource, TestDeltas,
};
use crate::model::measure::{MeasureId, Regression, Scope, Threshold, Unit};
use crate::model::repeat;
use crate::model::result::Attempt;
use crate::model::schema::ResultRecord;
use crate::model::status::{Execution, FailureCause, FrameworkStop, SkipCause};

/// `8.1 MiB`: binary units, one decimal.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
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

/// What a memory series shows in one line: its RSS peak and when, and where
/// it ended (`RSS peak 207.3 MiB at 1.28 s, 7.6 MiB at 3.55 s`).
pub fn memory_series(series: &crate::model::series::MemorySeries) -> String {
    let seconds = |ms: u32| format!("{:.2} s", f64::from(ms) / 1000.0);
    let peak = series.rss_bytes.iter().enumerate().max_by_key(|(i, b)| (**b, std::cmp::Reverse(*i)));
    match (peak, series.rss_bytes.last(), series.t_ms.last()) {
        (Some((at, &peak)), Some(&last), Some(&end)) => format!(
            "RSS peak {} at {}, {} at {}",
            human_bytes(peak),
            seconds(series.t_ms[at]),
            human_bytes(last),
            seconds(end)
        ),
        _ => "no samples".into(),
    }
}

/// The flame graph's root frame, the frame of the stacks the summary left
/// out, and its search button.
pub const FLAMEGRAPH_ROOT: &str = "all";
pub const FLAMEGRAPH_OMITTED: &str = "(smaller stacks)";
pub const FLAMEGRAPH_SEARCH: &str = "Search";

/// What a flame graph shows (`kind` is the summary's `flamegraph`), of which job.
pub fn flamegraph_title(kind: &str, job: &str, heap_peak: Option<u64>) -> String {
    match kind {
        "leaks" => format!("{job}: memory never freed, by where it was allocated (memray, malloc)"),
        "tests" => format!(
            "{job}: memory held at each test's own peak (the largest {}), summed over the tests, \
             by where it was allocated (pytest-memray's per-test captures)",
            heap_peak.map_or("-".to_string(), human_bytes)
        ),
        _ => format!(
            "{job}: memory held at the heap's peak{}, by where it was allocated (memray)",
            heap_peak.map_or(String::new(), |b| format!(" ({})", human_bytes(b)))
        ),
    }
}

/// The module's heap beside its RSS, and what RSS under `--memray` holds.
pub fn heap_beside_rss(memray: &crate::model::memray::MemraySummary, rss: Option<u64>) -> String {
    let heap = memray.peak_memory_bytes.map_or("-".to_string(), human_bytes);
    let rss = rss.map_or("-".to_string(), human_bytes);
    if let Some(tests) = memray.per_test_captures {
        return format!(
            "heap peak {heap} (the largest test's own, from pytest-memray's captures of {tests} tests: \
             its trackers check the markers, and memray runs one at a time) beside peak RSS {rss}"
        );
    }
    let profiler = memray
        .profiler_rss_bytes
        .map_or(String::new(), |b| format!(" (about {} at its start, more as it tracks)", human_bytes(b)));
    format!("heap peak {heap} (the module's, memray) beside peak RSS {rss}, which includes memray itself{profiler}")
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// Why it did not pass, in words; `None` for a pass (and a skip the module itself chose).
/// The tests cell of a result: its counts (`3 passed, 1 failed`), or what
/// left the whole module unrun when that was the selection.
pub fn tests_cell(execution: &Execution, counts: Option<InnerCounts>) -> Option<String> {
    match (execution, counts) {
        (Execution::Skipped { why: Some(SkipCause::Deselected { .. }) }, None) => Some("deselected".into()),
        (Execution::Skipped { why: Some(SkipCause::NotCollected) }, _) => Some("not collected".into()),
        (_, counts) => counts.map(|c| c.summary()),
    }
}

pub fn reason(execution: &Execution) -> Option<String> {
    match execution {
        Execution::Passed => None,
        Execution::Skipped { why } => why.as_ref().map(skip_cause),
        Execution::Failed { exit_code, why: None } => Some(format!("exit code {exit_code}")),
        Execution::Failed { exit_code, why: Some(why) } => Some(failure_cause(why, *exit_code)),
        Execution::TimedOut { after_secs } => Some(format!("killed after the timeout ({after_secs} s)")),
        Execution::OomKilled { container_peak, process_peak } => {
            let mut reason = "killed by the container's memory limit".to_string();
            if let Some(container) = container_peak {
                reason.push_str(&format!(", which the container reached at {}", human_bytes(*container)));
            }
            if let Some(process) = process_peak {
                reason.push_str(&format!("; the module's own peak RSS was {}", human_bytes(*process)));
            }
            reason.push_str(" (files written to /tmp and /scratch count toward the limit too)");
            Some(reason)
        }
        Execution::Crashed { signal } => {
            Some(format!("killed by signal {} ({signal})", signal_name(*signal)))
        }
        Execution::Leaked { hunt, tests: None } => Some(format!("leaks under --hunt-leaks: {}", leaks(hunt))),
        Execution::Leaked { hunt, tests: Some(tests) } => Some(leaking_tests(hunt, tests)),
        Execution::OverBudget { peak_bytes, budget_bytes } => Some(format!(
            "peak RSS {} is over the module's max-peak-rss of {}",
            human_bytes(*peak_bytes),
            human_bytes(*budget_bytes)
        )),
        Execution::Regressed { measures } => Some(regressions(measures)),
        Execution::Flaky { passed, attempts, first_failure, .. } => {
            let why = reason(&first_failure.execution)
                .unwrap_or_else(|| first_failure.execution.status().to_string());
            Some(format!("passed {passed} of {attempts} attempts; attempt {}: {why}", first_failure.attempt))
        }
    }
}

fn skip_cause(cause: &SkipCause) -> String {
    match cause {
        SkipCause::LeakInvisibleHere => "declares `expect = leak`, which this interpreter cannot show: a release \
                                         build counts no references (nor can a debug build where release-built \
                                         extension modules are loaded) and PYTHONMALLOC=malloc no memory blocks \
                                         (use a -dbg Python or pymalloc)"
            .to_string(),
        SkipCause::PythonNotSupported { requires_python } => {
            format!("the project requires Python {requires_python}")
        }
        SkipCause::Deselected { expression } => {
            format!("-k '{expression}' deselects it: none of its tests (a script: its path) match")
        }
        SkipCause::NotCollected => "pytest does not collect it on this Python: the project's conftest \
                                    (collect_ignore, pytest_ignore_collect) leaves it out"
            .to_string(),
    }
}

fn failure_cause(cause: &FailureCause, exit_code: i32) -> String {
    match cause {
        FailureCause::TestsFailed { failed, total, names } => {
            let mut text = format!("{failed} of {total} tests failed");
            if !names.is_empty() {
                text.push_str(&format!(": {}", names.join(", ")));
                let unnamed = failed.saturating_sub(names.len() as u64);
                if unnamed > 0 {
                    text.push_str(&format!(" and {unnamed} more"));
                }
            }
            text
        }
        FailureCause::FrameworkStopped { framework, stop, error } => {
            let what = match stop {
                FrameworkStop::Interrupted => format!("{} was interrupted", framework.name()),
                FrameworkStop::InternalError => format!("{} hit an internal error", framework.name()),
                FrameworkStop::UsageError => format!("{} reported a usage error", framework.name()),
                FrameworkStop::NoTestsCollected => "no tests ran: the framework collected none".to_string(),
            };
            let detail = error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            format!("{what} (exit code {exit_code}){detail}")
        }
        FailureCause::HarnessError { error } => format!("{error} (exit code {exit_code})"),
        FailureCause::NoHarnessReport => {
            "the harness reported nothing: did the module end the interpreter itself (os._exit)?".to_string()
        }
        FailureCause::TestsNotRun { framework } => {
            let name = framework.name();
            format!("defines {name} tests but ran none as a script: run it with --harness {name} (or --harness auto)")
        }
        FailureCause::LeakHuntRunFailed { run } => {
            format!("failed on run {run} of the leak hunt (exit code {exit_code})")
        }
        FailureCause::ExpectedLeakNotFound => {
            "declares `expect = leak`, and --hunt-leaks found no leak".to_string()
        }
        FailureCause::PeakNotMeasured => {
            "declares max-peak-rss, and no peak was measured: the budget cannot be checked".to_string()
        }
        FailureCause::MemrayUnusable { problem } => format!("--memray: {problem}"),
    }
}

/// `references [1, 1, 1], memory blocks [2, 2, 2] over 3 runs after 3 warm-ups`.
pub fn leaks(hunt: &LeakHunt) -> String {
    let mut text =
        format!("{} over {} runs after {} warm-ups", kinds(&hunt.leaks()), hunt.runs, hunt.warmups);
    if let (Some(refs), Some(why)) = (&hunt.refs, untrusted_refs(hunt)) {
        text.push_str(&format!("; references {refs:?} not judged: {why}"));
    }
    text
}

/// `references [1, 1, 1], memory blocks [2, 2, 2]`.
fn kinds(found: &[(LeakKind, &[i64])]) -> String {
    let found: Vec<String> = found
        .iter()
        .map(|(kind, deltas)| {
            let what = match kind {
                LeakKind::References => "references",
                LeakKind::MemoryBlocks => "memory blocks",
                LeakKind::FileDescriptors => "file descriptors",
            };
            format!("{what} {deltas:?}")
        })
        .collect();
    found.join(", ")
}

/// What one test of a per-test hunt leaked (`references [1, 1, 1]`), when it did.
pub fn test_leak(hunt: &LeakHunt, deltas: &TestDeltas) -> Option<String> {
    let found = hunt.test_leaks(deltas);
    (!found.is_empty()).then(|| kinds(&found))
}

/// `1 of 8 tests leaks under --hunt-leaks (each test 3 runs after 3 warm-ups):
/// test_a (references [1, 1, 1])`.
pub fn leaking_tests(hunt: &LeakHunt, tests: &LeakingTests) -> String {
    let verb = if tests.leaked == 1 { "leaks" } else { "leak" };
    let named: Vec<String> = tests
        .named
        .iter()
        .map(|t| format!("{} ({})", t.name, test_leak(hunt, &t.deltas).unwrap_or_default()))
        .collect();
    let mut text = format!(
        "{} of {} tests {verb} under --hunt-leaks (each test {} runs after {} warm-ups): {}",
        tests.leaked,
        tests.hunted,
        hunt.runs,
        hunt.warmups,
        named.join(", ")
    );
    let unnamed = tests.leaked.saturating_sub(tests.named.len() as u64);
    if unnamed > 0 {
        text.push_str(&format!(" and {unnamed} more"));
    }
    if let Some(why) = untrusted_refs(hunt) {
        text.push_str(&format!("; references not judged: {why}"));
    }
    text
}

/// Why a hunt's reference deltas are not trusted, when they are not:
/// `2 release-built extension modules are loaded (numpy._core._multiarray_umath,
/// numpy.linalg._umath_linalg), whose references a debug build does not count`.
pub fn untrusted_refs(hunt: &LeakHunt) -> Option<String> {
    let extensions = hunt.release_extensions.as_ref().filter(|_| hunt.refs_untrusted())?;
    let count = extensions.count as usize;
    let (what, are) = match count {
        1 => ("extension module", "is"),
        _ => ("extension modules", "are"),
    };
    let mut names = extensions.names.join(", ");
    let unnamed = count.saturating_sub(extensions.names.len());
    if unnamed > 0 {
        names.push_str(&format!(" and {unnamed} more"));
    }
    let named = if names.is_empty() { String::new() } else { format!(" ({names})") };
    Some(format!(
        "{count} release-built {what} {are} loaded{named}, whose references a debug build does not count"
    ))
}

/// `2 of 8 tests leak`, `none of 8 tests leaks`, and why references were
/// not judged when they were not: a per-test hunt's line above its
/// `LEAKED` lines.
pub fn per_test_tally(hunt: &LeakHunt, tests: &[InnerTest]) -> String {
    let leaking = hunt.leaking_tests(tests).unwrap_or_default();
    let mut text = match leaking.leaked {
        0 => format!("none of {} tests leaks by CPython's rule", leaking.hunted),
        1 => format!("1 of {} tests leaks", leaking.hunted),
        n => format!("{n} of {} tests leak", leaking.hunted),
    };
    if let Some(why) = untrusted_refs(hunt) {
        text.push_str(&format!("; references not judged: {why}"));
    }
    text
}

/// CPython's verdict on a finished hunt: what leaked, or that nothing did
/// (on which measures, when references were left out).
pub fn hunt_verdict(hunt: &LeakHunt, tests: &[InnerTest]) -> String {
    if let Some(leaking) = hunt.leaking_tests(tests).filter(|t| t.leaked > 0) {
        return leaking_tests(hunt, &leaking);
    }
    if hunt.leaked() {
        return leaks(hunt);
    }
    match untrusted_refs(hunt) {
        Some(why) => format!(
            "no leak by CPython's rule on memory blocks and file descriptors; references not judged: {why}"
        ),
        None => "no leak by CPython's rule".to_string(),
    }
}

/// `regressed against the baseline: peak RSS 10.0 MiB → 20.0 MiB (+100.0%, over +10% and 1.0 MiB)`.
pub fn regressions(measures: &[Regression]) -> String {
    let over: Vec<String> = measures
        .iter()
        .map(|r| {
            let measure = measure_of(r.measure);
            let delta = Delta {
                measure,
                before: r.before,
                after: r.after,
                verdict: Verdict::Regressed,
                scopes: [Scope::Module; 2],
            };
            format!(
                "{} {} ({}, over {} and {})",
                measure_label(r.measure),
                values_text(&delta),
                percent_text(&delta),
                threshold_text(r.threshold),
                format_value(measure.unit, r.floor)
            )
        })
        .collect();
    format!("regressed against the baseline: {}", over.join("; "))
}

fn threshold_text(threshold: Threshold) -> String {
    match threshold {
        Threshold::Percent(p) => format!("+{}%", trim_float(p)),
        Threshold::Off => "off".to_string(),
    }
}

/// How a person calls a measure.
pub fn measure_label(id: MeasureId) -> &'static str {
    match id {
        MeasureId::Rss => "peak RSS",
        MeasureId::Container => "container peak",
        MeasureId::Heap => "memray peak heap",
        MeasureId::Duration => "duration",
    }
}

/// `8.1 MiB`, `1.23 s`.
pub fn format_value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Bytes => human_bytes(value.max(0.0).round() as u64),
        Unit::Seconds => format!("{value:.2} s"),
    }
}

/// A signed change: `+1.0 MiB`, `-0.25 s`.
pub fn format_change(unit: Unit, change: f64) -> String {
    let sign = if change < 0.0 { "-" } else { "+" };
    format!("{sign}{}", format_value(unit, change.abs()))
}

/// `×2.00`, `×0.95`, `from 0`.
pub fn ratio_text(delta: &Delta) -> String {
    let ratio = delta.ratio();
    if ratio.is_infinite() {
        "from 0".to_string()
    } else {
        format!("×{ratio:.2}")
    }
}

/// `10.0 MiB → 20.0 MiB`.
pub fn values_text(delta: &Delta) -> String {
    let unit = delta.measure.unit;
    format!("{} → {}", format_value(unit, delta.before), format_value(unit, delta.after))
}

/// What a value is of, where a comparison must say it.
fn scope_text(scope: Scope) -> &'static str {
    match scope {
        Scope::Module => "whole module",
        Scope::LargestTest => "largest test",
    }
}

/// `not comparable: largest test vs whole module`, for two values of
/// different scopes (a per-test heap peak and a module's); `None` when comparable.
pub fn not_comparable(delta: &Delta) -> Option<String> {
    let [before, after] = delta.scopes;
    (before != after).then(|| format!("not comparable: {} vs {}", scope_text(before), scope_text(after)))
}

/// `+12.5%`, or why the two values are not comparable (`percent_text`).
pub fn change_text(delta: &Delta) -> String {
    not_comparable(delta).unwrap_or_else(|| percent_text(delta))
}

/// `+12.5%` (or `+1.0 MiB` when the baseline was 0).
pub fn percent_text(delta: &Delta) -> String {
    let ratio = delta.ratio();
    if ratio.is_infinite() {
        format_change(delta.measure.unit, delta.after - delta.before)
    } else {
        format!("{:+.1}%", (ratio - 1.0) * 100.0)
    }
}

/// `rss: +10% and 1.0 MiB; duration: off`, for report headings.
pub fn gate(gate: &Gate) -> String {
    let parts: Vec<String> = MEASURES
        .iter()
        .map(|m| match gate.threshold(m) {
            Threshold::Off => format!("{}: off", m.id.key()),
            Threshold::Percent(p) => {
                format!("{}: +{}% and {}", m.id.key(), trim_float(p), format_value(m.unit, gate.floor(m)))
            }
        })
        .collect();
    parts.join("; ")
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `3 attempts: pass, fail, pass; peak RSS 8.0 MiB–8.2 MiB; duration 0.41 s–0.52 s`.
pub fn attempts(attempts: &[Attempt]) -> String {
    let statuses: Vec<String> = attempts.iter().map(|a| a.execution.status().to_string()).collect();
    let mut text = format!("{} attempts: {}", attempts.len(), statuses.join(", "));
    let spread = repeat::spread(attempts);
    for measure in &MEASURES {
        if let Some(range) = spread.get(&measure.id) {
            let (min, max) = (format_value(measure.unit, range.min), format_value(measure.unit, range.max));
            text.push_str(&format!("; {} {min}–{max}", measure_label(measure.id)));
        }
    }
    text
}

/// Where a pytest came from, in words.
pub fn pytest_source(ran: &PytestRan) -> String {
    match ran.source() {
        PytestSource::Environment if ran.tools_only() => {
            "from the package index (the runner's tools: no project)".into()
        }
        PytestSource::Environment => {
            "from the project's environment (resolved from the package index)".into()
        }
        PytestSource::Debian => "Debian's python3-pytest in the base image".into(),
        PytestSource::Image => format!("the base image's own, in {}", ran.path),
    }
}

/// `pytest 8.4.2, from the project's environment (…)`: which pytest the run's
/// pytest modules ran under. `ran` holds one entry per Python version (its
/// label, `None` when the run named none); the same pytest on several is said once.
pub fn pytest_ran(ran: &[(Option<String>, PytestRan)]) -> Option<String> {
    // (version, where from) → the Pythons that ran it.
    let mut said: Vec<(&str, String, Vec<&str>)> = Vec::new();
    for (python, pytest) in ran {
        let from = pytest_source(pytest);
        match said.iter_mut().find(|(version, source, _)| *version == pytest.version && *source == from) {
            Some((_, _, pythons)) => pythons.extend(python.as_deref()),
            None => said.push((&pytest.version, from, python.as_deref().into_iter().collect())),
        }
    }
    let parts: Vec<String> = said
        .iter()
        .map(|(version, from, pythons)| {
            let on = if said.len() > 1 && !pythons.is_empty() {
                format!(" (Python {})", pythons.join(", "))
            } else {
                String::new()
            };
            format!("pytest {version}{on}, {from}")
        })
        .collect();
    // One line each: two would not fit 80 columns on one.
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// The report's `reason` fields, said from each record's facts.
/// What a report page shows of each part, out of how many: `(shown, all)`.
pub struct ShownOfAll {
    pub failures: (usize, usize),
    pub modules: (usize, usize),
    pub rows: (usize, usize),
    /// Results the page's filter can find.
    pub searchable: usize,
    pub details: (usize, usize),
}

/// What a page left out past its caps and where the rest is; `None` when it shows everything.
pub fn left_out(shown: &ShownOfAll) -> Option<String> {
    let part =
        |(shown, all): (usize, usize), what: &str| (shown < all).then(|| format!("{shown} of {all} {what}"));
    let mut parts: Vec<String> = [
        part(shown.failures, "failures (the first by module)"),
        part(shown.modules, "modules in the matrix (those with a failure first, then the largest peaks)"),
        part(shown.rows, "results as rows of the table (failures first, then the largest peaks)"),
        part(shown.details, "results with details (the failures and the largest peaks)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return None;
    }
    let (_, all) = shown.rows;
    let search = if shown.searchable < all {
        format!("the filter finds any of the first {} results (failures first)", shown.searchable)
    } else {
        "the filter finds any result".to_string()
    };
    let last = parts.pop().unwrap_or_default();
    let list = if parts.is_empty() { last } else { format!("{} and {last}", parts.join(", ")) };
    Some(format!(
        "{all} results: this page shows {list}; {search}; every output and test is in the JSON report."
    ))
}

/// Under a table cut short: how many results it does not list, and where they are.
pub fn more_results(count: usize) -> String {
    format!("… and {count} more results, not listed here (failures are listed first): the JSON and HTML reports hold every one.")
}

/// A module across its variants: `4 passed`, `1 failed of 4`, `2 skipped of 4`.
pub fn roll_up(passed: usize, failed: usize, all: usize) -> String {
    match (passed, failed) {
        (p, 0) if p == all => format!("{all} passed"),
        (p, 0) => format!("{} skipped of {all}", all - p),
        (_, f) => format!("{f} failed of {all}"),
    }
}

#[cfg(test)]
pub fn fill_reasons(report: &mut crate::model::schema::Report) {
    for result in &mut report.results {
        fill_reason(result);
    }
}

/// A record's `reason`, and its attempts', in words.
pub fn fill_reason(result: &mut ResultRecord) {
    result.reason = reason(&result.execution);
    for attempt in &mut result.attempts {
        attempt.reason = reason(&attempt.execution);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compare::measure;
    use crate::model::inner::Framework;
    use crate::model::status::AttemptEnding;

    const MIB: f64 = 1024.0 * 1024.0;

    #[test]
    fn memrays_figures_say_when_they_merge_pytest_memrays_per_test_captures() {
        let mut memray = crate::model::memray::MemraySummary {
            peak_memory_bytes: Some(50 << 20),
            total_allocations: Some(3),
            total_bytes_allocated: None,
            profiler_rss_bytes: Some(18 << 20),
            python_allocator: Some("pymalloc".into()),
            top_allocations_by_size: Vec::new(),
            flamegraph: "allocations".into(),
            flamegraph_path: None,
            per_test_captures: None,
        };
        let whole = heap_beside_rss(&memray, Some(90 << 20));
        assert!(
            whole.contains("(the module's, memray)") && whole.contains("includes memray itself"),
            "{whole}"
        );
        memray.per_test_captures = Some(3);
        let per_test = heap_beside_rss(&memray, Some(90 << 20));
        assert_eq!(
            per_test,
            "heap peak 50.0 MiB (the largest test's own, from pytest-memray's captures of 3 tests: its trackers \
             check the markers, and memray runs one at a time) beside peak RSS 90.0 MiB"
        );
        assert!(super::super::memray_figures(&memray)
            .starts_with("per test (pytest-memray's captures of 3 tests)"));
        let title = flamegraph_title("tests", "test_a.py", Some(50 << 20));
        assert!(
            title.contains("each test's own peak (the largest 50.0 MiB), summed over the tests"),
            "{title}"
        );
    }

    #[test]
    fn which_pytest_ran_is_said_once_per_pytest() {
        let ran = |version: &str, path: &str| PytestRan { version: version.into(), path: path.into() };
        let env = ran("8.4.2", "/opt/pymaccounter-env/3.11-abc/venv/lib/python3.11/site-packages/pytest");
        let debian = ran("6.2.5", "/usr/lib/python3/dist-packages/pytest");
        let own = ran("8.0.0", "/usr/local/lib/python3.12/site-packages/pytest");
        assert_eq!(
            pytest_ran(&[(None, env.clone())]).unwrap(),
            "pytest 8.4.2, from the project's environment (resolved from the package index)"
        );
        let other_env =
            ran("8.4.2", "/opt/pymaccounter-env/3.13-def/venv/lib/python3.13/site-packages/pytest");
        assert_eq!(
            pytest_ran(&[(Some("3.11".into()), env.clone()), (Some("3.13".into()), other_env)]).unwrap(),
            "pytest 8.4.2, from the project's environment (resolved from the package index)",
            "the same pytest on two Pythons"
        );
        assert_eq!(
            pytest_ran(&[(Some("3.9".into()), debian), (Some("3.12".into()), own)]).unwrap(),
            "pytest 6.2.5 (Python 3.9), Debian's python3-pytest in the base image\n\
             pytest 8.0.0 (Python 3.12), the base image's own, in /usr/local/lib/python3.12/site-packages/pytest"
        );
        let tools =
            ran("8.4.2", "/opt/pymaccounter-env/3.9-tools-0123/venv/lib/python3.9/site-packages/pytest");
        assert_eq!(
            pytest_ran(&[(None, tools)]).unwrap(),
            "pytest 8.4.2, from the package index (the runner's tools: no project)"
        );
        assert_eq!(pytest_ran(&[]), None, "no module ran under pytest");
    }

    #[test]
    fn bytes_read_as_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8 * 1024 * 1024 + 100 * 1024), "8.1 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn the_reason_names_the_measure_both_values_and_the_gate() {
        let regression = Regression {
            measure: MeasureId::Rss,
            before: 10.0 * MIB,
            after: 20.0 * MIB,
            threshold: Threshold::Percent(10.0),
            floor: MIB,
        };
        assert_eq!(
            reason(&Execution::Regressed { measures: vec![regression] }).unwrap(),
            "regressed against the baseline: peak RSS 10.0 MiB → 20.0 MiB (+100.0%, over +10% and 1.0 MiB)"
        );
    }

    #[test]
    fn ratios_and_changes_read_well() {
        let rss = measure("rss").unwrap();
        let scopes = [Scope::Module; 2];
        let delta =
            Delta { measure: rss, before: 0.0, after: 2.0 * MIB, verdict: Verdict::Regressed, scopes };
        assert!(delta.ratio().is_infinite());
        assert_eq!(percent_text(&delta), "+2.0 MiB");
        let delta =
            Delta { measure: rss, before: 4.0 * MIB, after: 3.0 * MIB, verdict: Verdict::Within, scopes };
        assert_eq!((ratio_text(&delta), percent_text(&delta)), ("×0.75".to_string(), "-25.0%".to_string()));
        assert_eq!(change_text(&delta), "-25.0%");
        let heap = measure("heap").unwrap();
        let apart = Delta {
            measure: heap,
            before: 4.0 * MIB,
            after: 50.0 * MIB,
            verdict: Verdict::NotComparable,
            scopes: [Scope::LargestTest, Scope::Module],
        };
        assert_eq!(change_text(&apart), "not comparable: largest test vs whole module");
        assert_eq!(
            gate(&Gate::default()),
            "rss: +10% and 1.0 MiB; container: +10% and 4.0 MiB; heap: +10% and 1.0 MiB; duration: +10% and 0.50 s"
        );
    }

    #[test]
    fn each_fact_of_a_framework_failure_is_said_once() {
        let stopped = |error: Option<&str>| Execution::Failed {
            exit_code: 2,
            why: Some(FailureCause::FrameworkStopped {
                framework: Framework::Pytest,
                stop: FrameworkStop::Interrupted,
                error: error.map(str::to_string),
            }),
        };
        assert_eq!(reason(&stopped(None)).unwrap(), "pytest was interrupted (exit code 2)");
        let with_error = reason(&stopped(Some("ImportError: no module named x (test_a.py)"))).unwrap();
        assert_eq!(
            with_error,
            "pytest was interrupted (exit code 2): ImportError: no module named x (test_a.py)"
        );
        for text in [reason(&stopped(None)).unwrap(), with_error] {
            assert_eq!(text.matches("interrupted").count(), 1, "{text}");
            assert_eq!(text.matches("exit code").count(), 1, "{text}");
        }
        let failed = Execution::Failed {
            exit_code: 1,
            why: Some(FailureCause::TestsFailed { failed: 3, total: 9, names: vec!["test_a".into()] }),
        };
        assert_eq!(reason(&failed).unwrap(), "3 of 9 tests failed: test_a and 2 more");
    }

    #[test]
    fn a_flaky_result_names_its_first_failure() {
        let flaky = Execution::Flaky {
            passed: 1,
            attempts: 2,
            first_failure: Box::new(AttemptEnding { attempt: 1, execution: Execution::from_exit_code(1) }),
            tolerated: false,
        };
        assert_eq!(reason(&flaky).unwrap(), "passed 1 of 2 attempts; attempt 1: exit code 1");
        assert!(reason(&Execution::Crashed { signal: 11 }).unwrap().contains("SIGSEGV"));
        assert_eq!(reason(&Execution::Passed), None);
    }

    #[test]
    fn a_module_rolls_up_across_its_variants() {
        assert_eq!(roll_up(4, 0, 4), "4 passed");
        assert_eq!(roll_up(2, 0, 4), "2 skipped of 4");
        assert_eq!(roll_up(0, 0, 4), "4 skipped of 4");
        assert_eq!(roll_up(2, 1, 4), "1 failed of 4");
    }

    #[test]
    fn the_left_out_notice_names_each_capped_part_and_where_the_rest_is() {
        let everything = ShownOfAll {
            failures: (3, 3),
            modules: (5, 5),
            rows: (20, 20),
            searchable: 20,
            details: (20, 20),
        };
        assert_eq!(left_out(&everything), None);
        let capped = ShownOfAll {
            failures: (200, 950),
            modules: (200, 8000),
            rows: (2000, 300_000),
            searchable: 250_000,
            details: (210, 300_000),
        };
        assert_eq!(
            left_out(&capped).unwrap(),
            "300000 results: this page shows 200 of 950 failures (the first by module), 200 of 8000 modules in the \
             matrix (those with a failure first, then the largest peaks), 2000 of 300000 results as rows of the table \
             (failures first, then the largest peaks) and 210 of 300000 results with details (the failures and the \
             largest peaks); the filter finds any of the first 250000 results (failures first); every output and test \
             is in the JSON report."
        );
    }
}
