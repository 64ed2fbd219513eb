//! `bench --only shards`: the reports at CI scale. 256 shard reports of 625
//! results each (160,000 results: 8,000 modules × 4 Pythons × 5 allocators,
//! split by Python and `--partition k/64`), each result as a real run writes
//! it (the JSON writer itself writes the shards), then `merge-reports` with
//! the JSON report alone and with JSON, JUnit and HTML, and `compare` of the
//! merged report with itself: wall time and peak RSS (read from `/proc` from
//! outside), the HTML page's size, and how long headless Chromium takes to
//! load it when one is installed. Needs no engine.
//! `PYMACCOUNTER_BENCH_SHARD_PARTITIONS=N` (1 to 64) makes a smaller set of
//! the same shards: 4 × N of them, N × 125 modules (the section says its scale).
//!
//! A result is made by `synthetic_result`: a new per-result field is one
//! more line there (its size then counts in every figure).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

use crate::model::captured::Captured;
use crate::model::inner::{Harness, InnerCounts, InnerReport, InnerTest, PytestRan, TestOutcome};
use crate::model::job::{Job, PythonMalloc, PythonVersion, Variant};
use crate::model::memray::{AllocationSite, MemraySummary};
use crate::model::result::{ModuleResult, Outcome};
use crate::model::schema::{RunOption, RunRecord};
use crate::model::series::{MemorySeries, MAX_POINTS};
use crate::model::status::{Execution, FailureCause};
use crate::report::ReportContext;

const PYTHONS: [&str; 4] = ["3.9", "3.11", "3.13", "3.14"];
const MALLOCS: [&str; 5] = ["default", "pymalloc", "malloc", "mimalloc", "malloc_debug"];
const PARTITIONS: usize = 64;
/// 125 modules a partition, × 5 allocators = 625 results a shard (8,000 modules at 64 partitions).
const MODULES_PER_PARTITION: usize = 125;
/// Fewer partitions (a smaller set with shards of the same size: 4 × N of
/// them), for a machine or a deadline that cannot take the whole section.
const PARTITIONS_VAR: &str = "PYMACCOUNTER_BENCH_SHARD_PARTITIONS";

/// The partitions each Python's run is split into: 64, or fewer as `PARTITIONS_VAR` says.
fn partitions() -> usize {
    std::env::var(PARTITIONS_VAR)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=PARTITIONS).contains(n))
        .unwrap_or(PARTITIONS)
}
/// Goals (issue 24): all three reports at most 3× the JSON alone, under 500 MB, a page under 25 MB.
const GOAL_RATIO: f64 = 3.0;
const GOAL_PEAK: u64 = 500_000_000;
const GOAL_PAGE: u64 = 25_000_000;

/// The shards and what is made of them stay in `target/bench-shards` (written
/// afresh each time) for a person to open.
pub fn section(runner: &Path) -> Result<String> {
    let dir = crate::project_root().join("target/bench-shards");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let shards = write_shards(&dir)?;
    let generated = started.elapsed();
    let modules = partitions() * MODULES_PER_PARTITION;
    let shard_bytes: u64 = shards.iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    let mut report = format!(
        "\n## Reports at CI scale\n\n`cargo xtask bench --only shards`: {} shard reports ({} in all, written by the \
         JSON report writer in {:.1} s), {} results ({modules} modules × {} Pythons × {} allocators), each with \
         stdout and stderr of a pytest run, its tests (a file of 12 to 30), a failure's traceback, memray \
         figures on one in ten. The default (debug) build; a shared machine.\n\n\
         | command | wall time | CPU time | peak RSS | output | goal |\n|---|---:|---:|---:|---:|---|\n",
        shards.len(),
        crate::report::human_bytes(shard_bytes),
        generated.as_secs_f64(),
        modules * PYTHONS.len() * MALLOCS.len(),
        PYTHONS.len(),
        MALLOCS.len(),
    );
    let merged = dir.join("merged.json");
    let json_only =
        measure(Command::new(runner).arg("merge-reports").args(&shards).arg("--report-json").arg(&merged))?;
    row(&mut report, "merge-reports --report-json", &json_only, size(&merged), "")?;
    let (junit, html) = (dir.join("merged.xml"), dir.join("merged.html"));
    let all = measure(
        Command::new(runner)
            .arg("merge-reports")
            .args(&shards)
            .arg("--report-json")
            .arg(&merged)
            .arg("--junit")
            .arg(&junit)
            .arg("--report-html")
            .arg(&html),
    )?;
    // CPU time: on a shared machine the wall time's ratio is mostly the neighbours'.
    let ratio = all.cpu.as_secs_f64() / json_only.cpu.as_secs_f64();
    let goal = format!(
        "×{ratio:.2} the JSON alone's CPU time (≤ ×{GOAL_RATIO}: {}); peak ≤ 500 MB: {}",
        met(ratio <= GOAL_RATIO),
        met(all.peak.is_some_and(|p| p <= GOAL_PEAK))
    );
    let outputs = format!("JUnit {}, HTML {}", size(&junit), size(&html));
    row(&mut report, "merge-reports, JSON + JUnit + HTML", &all, outputs, &goal)?;
    let page = std::fs::metadata(&html).map_or(0, |m| m.len());
    let compared = measure(Command::new(runner).arg("compare").arg(&merged).arg(&merged))?;
    row(&mut report, "compare merged.json merged.json", &compared, String::new(), "bounded memory")?;
    // Printed as well (`--only` writes no BENCHMARKS.md).
    report.push('\n');
    let page_line = format!(
        "The HTML page is {} (goal under 25 MB: {}).",
        crate::report::human_bytes(page),
        met(page <= GOAL_PAGE)
    );
    super::emit(&mut report, &page_line);
    match chromium_load(&html) {
        Some(load) => super::emit(
            &mut report,
            &format!("Headless Chromium loads it and runs its script in {load:.1} s."),
        ),
        None => super::emit(&mut report, "Headless Chromium did not load it (none installed, or it failed)."),
    }
    Ok(report)
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "**not met**"
    }
}

fn size(path: &Path) -> String {
    std::fs::metadata(path).map_or("-".into(), |m| crate::report::human_bytes(m.len()))
}

fn row(report: &mut String, name: &str, run: &Measured, output: String, goal: &str) -> Result<()> {
    let line = format!(
        "| `{name}` | {:.1} s | {:.1} s | {} | {output} | {goal} |",
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        run.peak.map_or("-".into(), |p| format!("{:.0} MB", p as f64 / 1e6)),
    );
    super::emit(report, &line);
    Ok(())
}

struct Measured {
    wall: Duration,
    /// User and system time: on a shared machine a steadier figure than the wall's.
    cpu: Duration,
    peak: Option<u64>,
}

/// CPU time of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let time =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs a command to its end (exit 0 or 1: merged shards hold failures),
/// reading its high-water mark from `/proc` meanwhile.
fn measure(command: &mut Command) -> Result<Measured> {
    let cpu_before = children_cpu();
    let watched = super::watch(command, Duration::from_millis(20), true)?;
    let cpu = children_cpu().saturating_sub(cpu_before);
    if !matches!(watched.status.code(), Some(0 | 1)) {
        bail!("{command:?} failed:\n{}", watched.stderr);
    }
    Ok(Measured { wall: watched.elapsed, cpu, peak: watched.peak })
}

/// Seconds headless Chromium takes to load the page and run its script, when one is installed.
fn chromium_load(page: &Path) -> Option<f64> {
    let chromium =
        ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|n| which::which(n).ok())?;
    let started = Instant::now();
    let status = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| started.elapsed().as_secs_f64())
}

/// Every shard, each through the JSON report writer as a run writes it.
pub fn write_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for python in PYTHONS {
        for part in 1..=partitions() {
            let path = dir.join(format!("shard-{python}-{part:02}.json"));
            let outcome = shard_outcome(python, part);
            let run = shard_run(python, part);
            let context = ReportContext { test_dir: "tests", run: Some(&run), wholes: None };
            crate::report::json::write(&outcome, &context, &path)?;
            paths.push(path);
        }
    }
    Ok(paths)
}

fn shard_run(python: &str, part: usize) -> RunRecord {
    let options = [
        (RunOption::TestDir, serde_json::json!("tests")),
        (RunOption::Python, serde_json::json!([python])),
        (RunOption::PythonMalloc, serde_json::json!(MALLOCS)),
        (RunOption::Timeout, serde_json::json!(300)),
        (RunOption::Memory, serde_json::json!(512u64 << 20)),
    ];
    RunRecord {
        partition: Some(format!("{part}/{}", partitions())),
        options: options.into_iter().collect(),
        ..RunRecord::default()
    }
}

fn shard_outcome(python: &str, part: usize) -> Outcome {
    let mut outcome = Outcome::empty(format!("shard-{python}-{part}"));
    outcome.started_at = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    outcome.wall_time = Duration::from_secs(900);
    let modules = (0..partitions() * MODULES_PER_PARTITION).filter(|m| m % partitions() == part - 1);
    for module in modules {
        for malloc in MALLOCS {
            let index = outcome.results.len();
            outcome.results.push(synthetic_result(index, module, python, malloc));
        }
    }
    outcome
}

/// A small deterministic hash, so every figure differs and the set is the same each time.
fn mix(a: usize, b: usize) -> u64 {
    let mut x =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// One result as a real pytest-run module's: its output, its tests, its ending and figures.
pub fn synthetic_result(index: usize, module: usize, python: &str, malloc: &str) -> ModuleResult {
    let seed = mix(module, index ^ python.len() ^ (malloc.len() * 31));
    let name = format!("pkg{:02}/sub{:02}/test_feature_{module:05}.py", module % 40, module % 13);
    let variant = Variant {
        python_malloc: Some(malloc.parse::<PythonMalloc>().expect("an allocator")),
        python: Some(python.parse::<PythonVersion>().expect("a version")),
    };
    // A module's tests are the same under every variant.
    let test_count = 12 + (mix(module, 0) % 19) as usize;
    // About 1 % of results fail a test of their own, and 0.5 % of modules one
    // test under every variant; 0.2 % time out, 0.2 % are OOM-killed, 1 % skip.
    let roll = seed % 1000;
    let everywhere = (mix(module, 1) % 1000 < 5).then_some(module % test_count);
    let failing = everywhere.or((roll < 10).then_some(seed as usize % test_count));
    let peak = (24u64 << 20) + (seed >> 8) % (180 << 20);
    let tests: Vec<InnerTest> =
        (0..test_count).map(|t| synthetic_test(&name, t, failing == Some(t))).collect();
    let passed = tests.iter().filter(|t| t.outcome == TestOutcome::Passed).count() as u64;
    let counts = InnerCounts { passed, failed: test_count as u64 - passed, ..InnerCounts::default() };
    let timed_out = failing.is_none() && (20..=21).contains(&roll);
    let execution = match (roll, failing) {
        (_, Some(t)) => Execution::Failed {
            exit_code: 1,
            why: Some(FailureCause::TestsFailed {
                failed: 1,
                total: test_count as u64,
                names: vec![tests[t].name.clone()],
            }),
        },
        (20..=21, _) => Execution::TimedOut { after_secs: 300 },
        (22..=23, _) => Execution::OomKilled { container_peak: Some(512 << 20), process_peak: Some(peak) },
        (24..=33, _) => Execution::Skipped { why: None },
        _ => Execution::Passed,
    };
    let stdout = synthetic_stdout(&name, &tests, seed);
    let stderr = if failing.is_some() { synthetic_traceback(&name, 0) } else { String::new() };
    ModuleResult {
        job: Job { index, module: name, variant, image: format!("pymaccounter-tests:{python}") },
        execution,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_790_000_000_000 + seed % 900_000),
        duration: Duration::from_millis(300 + seed % 9_000),
        // The monitor is cut short by a timeout: its container's peak is all there is.
        peak_rss_bytes: (!timed_out).then_some(peak),
        container_peak_bytes: Some(peak + (6 << 20) + seed % (4 << 20)),
        memory_limit_bytes: Some(512 << 20),
        stdout: Captured::from_text(&stdout),
        stderr: Captured::from_text(&stderr),
        inner: Some(InnerReport {
            harness: Harness::Pytest,
            tests,
            counts,
            pytest: Some(PytestRan {
                version: "8.3.4".into(),
                path: format!("/usr/lib/python{python}/site-packages/pytest"),
            }),
            ..InnerReport::default()
        }),
        memray: seed.is_multiple_of(10).then(|| synthetic_memray(peak, seed)),
        memory_series: Some(synthetic_series(peak, seed)),
        baseline: None,
        attempts: Vec::new(),
    }
}

/// A full series (the sampler's most buckets): a rise to the peak, a plateau, a fall.
fn synthetic_series(peak: u64, seed: u64) -> MemorySeries {
    let n = MAX_POINTS as u64;
    let at = |i: u64| match i * 3 / n {
        0 => (8 << 20) + (peak - (8 << 20)) * i * 3 / n,
        1 => peak - (seed >> 3) % (1 << 20),
        _ => (12 << 20) + (peak - (12 << 20)) * (n - i) / n,
    };
    MemorySeries {
        t_ms: (1..=n).map(|i| (i * (40 + seed % 60)) as u32).collect(),
        rss_bytes: (0..n).map(at).collect(),
        cgroup_bytes: (0..n).map(|i| Some(at(i) + (6 << 20))).collect(),
    }
}

fn synthetic_test(file: &str, index: usize, fails: bool) -> InnerTest {
    let name = format!("{file}::TestFeature::test_behaviour_{index:02}[case-{}]", index % 4);
    InnerTest {
        outcome: if fails { TestOutcome::Failed } else { TestOutcome::Passed },
        message: fails.then(|| "AssertionError: assert 4096 == 8192".to_string()),
        traceback: fails.then(|| synthetic_traceback(file, index)),
        duration_s: 0.001 * (index % 50) as f64,
        // Each test's own peak, as every harnessed file now reports.
        peak_bytes: Some(((index as u64 * 7919) % 64 + 1) << 16),
        hunt_leaks: None,
        name,
    }
}

/// About 1.5 KiB: what pytest prints under the harness, and a module's own lines.
fn synthetic_stdout(file: &str, tests: &[InnerTest], seed: u64) -> String {
    let mut out = format!(
        "============================= test session starts ==============================\n\
         platform linux -- Python 3.x, pytest-8.3.4, pluggy-1.5.0\nrootdir: /work/tests\ncollected {} items\n\n{file} ",
        tests.len()
    );
    for test in tests {
        out.push(if test.failed() { 'F' } else { '.' });
    }
    out.push_str(" [100%]\n\n");
    for line in 0..24 {
        let _ =
            writeln!(out, "allocated block {line}: {} bytes in {} objects", seed % 99_991 * line, seed % 997);
    }
    let _ = writeln!(
        out,
        "========================= {} passed in {:.2}s =========================",
        tests.len(),
        0.5
    );
    out
}

/// About 1.2 KiB: a failing test's traceback.
fn synthetic_traceback(file: &str, index: usize) -> String {
    let mut out = String::from("Traceback (most recent call last):\n");
    for frame in 0..6 {
        let _ = writeln!(
            out,
            "  File \"/work/tests/{file}\", line {}, in helper_{frame}\n    result = compute_allocation(size=4096, rounds={index})",
            40 + frame * 7
        );
    }
    out.push_str("AssertionError: assert 4096 == 8192\n +  where 4096 = compute_allocation(size=4096)\n");
    out
}

fn synthetic_memray(peak: u64, seed: u64) -> MemraySummary {
    MemraySummary {
        peak_memory_bytes: Some(peak / 2),
        total_allocations: Some(10_000 + seed % 90_000),
        total_bytes_allocated: Some(peak * 3),
        profiler_rss_bytes: Some(37 << 20),
        python_allocator: Some("pymalloc".into()),
        top_allocations_by_size: (0..5)
            .map(|i| AllocationSite {
                location: Some(format!("build_buffer:/work/tests/helpers.py:{}", 10 + i)),
                size_bytes: Some(peak >> (i + 2)),
            })
            .collect(),
        flamegraph: "allocations".into(),
        flamegraph_path: None,
        per_test_captures: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome of `count` generated results across every variant, as a merged report holds them.
    fn generated(count: usize) -> Outcome {
        let mut outcome = Outcome::empty("generated".into());
        let variants = PYTHONS.iter().flat_map(|p| MALLOCS.iter().map(move |m| (*p, *m)));
        let variants: Vec<(&str, &str)> = variants.collect();
        for index in 0..count {
            let (python, malloc) = variants[index % variants.len()];
            outcome.results.push(synthetic_result(index, index / variants.len(), python, malloc));
        }
        outcome
    }

    /// The page's size bound at any scale: everything but the embedded
    /// data is capped (failures, matrix modules, table rows, details), and the
    /// data holds a row of a few tens of bytes per result, at most
    /// `DATA_ROWS` of them. Checked on 16,000 generated results (fast).
    #[test]
    fn the_html_page_stays_under_25_mb_however_many_results() {
        let outcome = generated(16_000);
        let context = ReportContext { test_dir: "tests", run: None, wholes: None };
        let page =
            crate::report::html::render_with(&outcome, &context, "t", std::path::Path::new(".")).unwrap();
        let data = page.split("var DATA = ").nth(1).unwrap().split(";\n").next().unwrap();
        let rows = serde_json::from_str::<serde_json::Value>(data).unwrap()["rows"].as_array().unwrap().len();
        assert_eq!(rows, 16_000, "every result is searchable");
        let per_row = data.len() as f64 / rows as f64;
        let capped = page.len() - data.len();
        assert!(per_row < 64.0, "{per_row:.1} bytes of data per result");
        assert!(capped < 12 << 20, "{capped} bytes besides the data");
        let most = capped as f64 + per_row * 250_000.0;
        assert!(most < GOAL_PAGE as f64, "{most:.0} bytes at the data's cap");
        assert!(page.contains("16000 results: this page shows"), "it says what it left out");
    }

    #[test]
    fn a_generated_result_is_what_a_pytest_run_writes() {
        let result = synthetic_result(3, 17, "3.13", "malloc");
        assert_eq!(result.job.label(), "pkg17/sub04/test_feature_00017.py [malloc, 3.13]");
        let inner = result.inner.as_ref().unwrap();
        assert!((12..=30).contains(&inner.tests.len()));
        assert_eq!(inner.counts.total() as usize, inner.tests.len());
        assert!(result.stdout.total_bytes > 1000, "a pytest session's output: {}", result.stdout.total_bytes);
        let record = crate::model::schema::ResultRecord::of(&result);
        let size = serde_json::to_string_pretty(&record).unwrap().len();
        assert!((3_000..12_000).contains(&size), "{size} bytes");
    }
}
