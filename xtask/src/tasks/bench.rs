//! `cargo xtask bench`: what the runner costs on top of the raw engine.
//!
//! Runner and a hand-written parallel `docker run --rm` loop take turns
//! (A B A B ...) on the same image, modules and parallelism, so that drift on
//! a shared machine hits both alike; medians and the median of the pairwise
//! ratios are reported, then scaling, the edit loop (a run right after an
//! edit vs one with nothing changed, one version and a matrix), memory, the
//! cache check and the cold build. A benchmark, not a test: nothing fails on its figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub(crate) mod shards;

use super::project::ProjectPlan;
use crate::cli::BenchSection;
use crate::engine::container::Mount;
use crate::engine::{Engine, EngineKind, RAW_MODULE_COMMAND};
use crate::image::{self, LocalImages, Recipe};
use crate::model::choice::Choice;
use crate::model::job::PythonVersion;
use crate::project::{Choice as ProjectChoice, Project, Wanted};

/// How the bench tells the runner it starts which engine to use.
const ENGINE_VARIABLE: &str = "PYMACCOUNTER_ENGINE";
use crate::error::EXIT_PASSED;
use crate::modules::TestDir;
use crate::scratch::TempDir;

pub struct BenchOptions {
    pub rounds: usize,
    pub jobs: usize,
    /// Skip the slow parts (scaling to 200 modules, the cold build).
    pub quick: bool,
    /// These sections only (all when empty), and BENCHMARKS.md left as it is.
    pub only: Vec<BenchSection>,
}

pub fn bench(engine: &Engine, options: &BenchOptions) -> Result<i32> {
    let runner = std::env::current_exe()?;
    let scratch = TempDir::new("pymaccounter-bench-")?;
    let mut report = String::new();
    let _ = writeln!(report, "# Benchmarks\n");
    let command = if options.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
    let _ = writeln!(report, "Produced by `{command}` on {}.\n", machine_summary(engine));
    // Every engine that answers, each against its own raw loop.
    let engines: Vec<Engine> = EngineKind::ALL
        .iter()
        .filter_map(|kind| Engine::find(*kind, false, crate::report::human::notices(false)).ok())
        .filter(|e| e.server_version().is_ok())
        .collect();
    let wanted = |section: BenchSection| options.only.is_empty() || options.only.contains(&section);
    let mut sections = Vec::new();
    if wanted(BenchSection::Raw) {
        sections.push(runner_vs_raw(&engines, &runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::Scaling) {
        sections.push(scaling(engine, &runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::Edit) {
        sections.push(edit_loops(&runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::Memray) {
        sections.push(memray_cost(&runner, scratch.path(), options.rounds.min(5))?);
    }
    if wanted(BenchSection::MemrayRaw) {
        sections.push(memray_vs_raw(engine, &runner, options.rounds)?);
    }
    if wanted(BenchSection::Project) {
        sections.push(project_costs(engine, &runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::Series) {
        sections.push(series_cost(engine, &runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::TestPeaks) {
        sections.push(test_peaks_cost(&runner, scratch.path(), options.rounds.max(1))?);
    }
    if wanted(BenchSection::Costs) {
        sections.push(costs(engine, &runner, scratch.path(), options)?);
    }
    if wanted(BenchSection::Shards) {
        sections.push(shards::section(&runner)?);
    }
    if !options.only.is_empty() {
        return Ok(EXIT_PASSED);
    }
    for section in sections {
        report.push_str(&section);
    }
    let _ = writeln!(
        report,
        "\nReproduce with `cargo xtask bench` (add `--quick` to skip the 96/200-module runs and the cold build)."
    );
    let path = crate::project_root().join("BENCHMARKS.md");
    std::fs::write(&path, report)?;
    say!("wrote {}", path.display());
    Ok(EXIT_PASSED)
}

/// Appends a line to a section and shows it as it comes.
fn emit(section: &mut String, line: &str) {
    out!("{line}");
    section.push_str(line);
    section.push('\n');
}

fn runner_vs_raw(
    engines: &[Engine],
    runner: &Path,
    scratch: &Path,
    options: &BenchOptions,
) -> Result<String> {
    let trivial = generate_trivial(scratch, "trivial24", 24)?;
    let single = generate_trivial(scratch, "single", 1)?;
    let own = TestDir::resolve(None)?;
    let names: Vec<&str> = engines.iter().map(Engine::name).collect();
    let mut report = format!(
        "## Runner vs raw engine\n\nEach engine that answers ({}), against its own raw loop. {} rounds, interleaved, \
         who goes first alternating; raw = `ls | xargs -P {jobs} -I{{}} ENGINE run --rm --network none \
         --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --mount type=bind,src=DIR,dst=DIR -w DIR IMAGE sh -c '{}' sh {{}}` \
         (every raw run must exit 0, or the bench stops); runner = `xtask run-all-tests -j {jobs}` (the built binary, \
         without cargo's start). The single module is one container each way, {SINGLE_RUNS} in a row per round and \
         their mean taken (one container's time varies more than the goal's margin).\n\n\
         | engine | modules | runner median | raw median | median ratio | ratios seen | goal |\n|---|---|---:|---:|---:|---:|---:|\n",
        names.join(", "),
        options.rounds,
        RAW_MODULE_COMMAND,
        jobs = options.jobs,
    );
    let many = generate_many_tests(scratch, TRIVIAL_TESTS)?;
    let many_name = format!("(d) {TRIVIAL_TESTS} trivial pytest tests in one file");
    for engine in engines {
        for (name, dir, goal, script, runs) in [
            ("(a) 24 trivial", &trivial, 1.10, RAW_MODULE_COMMAND, 1),
            ("(b) the project's own", &own.path, 1.10, RAW_MODULE_COMMAND, 1),
            ("(c) a single module", &single, 1.15, RAW_MODULE_COMMAND, SINGLE_RUNS),
            (many_name.as_str(), &many, 1.10, RAW_PYTEST_COMMAND, 1),
        ] {
            let row = compare(engine, runner, dir, options, (name, goal, runs), script)?;
            emit(&mut report, &format!("| {} {row}", engine.name()));
        }
    }
    let _ = writeln!(report, "\nThe raw side of (d) runs `{RAW_PYTEST_COMMAND}`.");
    Ok(report)
}

fn scaling(engine: &Engine, runner: &Path, scratch: &Path, options: &BenchOptions) -> Result<String> {
    let mut report = format!(
        "\n## Scaling (runner alone, `-j {}`)\n\n| modules | wall time | per module | runner peak RSS |\n|---:|---:|---:|---:|\n",
        options.jobs
    );
    let sizes: &[usize] = if options.quick { &[24] } else { &[24, 96, 200] };
    build_image(runner, engine)?;
    for &count in sizes {
        let dir = generate_trivial(scratch, &format!("trivial{count}"), count)?;
        let (elapsed, peak) = run_runner(runner, engine, &dir, options.jobs, true)?;
        let row = format!(
            "| {count} | {:.2} s | {:.0} ms | {} |",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / count as f64,
            peak.map_or("-".into(), crate::report::human_bytes),
        );
        emit(&mut report, &row);
    }
    Ok(report)
}

fn edit_loops(runner: &Path, scratch: &Path, options: &BenchOptions) -> Result<String> {
    let mut report = String::new();
    let own = TestDir::resolve(None)?;
    let _ = writeln!(
        report,
        "\n## Edit → result\n\n`xtask run test_edited.py` (the built binary; a copy of `test_baseline.py` in a temp dir), \
         {} rounds: each round one run with nothing changed and one right after appending a comment line to the module, \
         their order alternating; ratio = after the edit / nothing changed, per round.\n",
        options.rounds
    );
    let _ = writeln!(
        report,
        "| versions | nothing changed (median) | after an edit (median) | median ratio | ratios seen | goal |\n|---|---:|---:|---:|---:|---:|"
    );
    let module = own.path.join("test_baseline.py");
    for python in ["3.11", "3.9,3.11,3.13"] {
        let line = edit_loop(runner, scratch, &module, python, options.rounds)?;
        emit(&mut report, &line);
    }

    Ok(report)
}

/// The runner's own costs: memory under a flood, the cache check, cargo's start, the cold build.
fn costs(engine: &Engine, runner: &Path, scratch: &Path, options: &BenchOptions) -> Result<String> {
    let mut report = String::new();
    let flood = scratch.join("flood");
    std::fs::create_dir_all(&flood)?;
    std::fs::write(
        flood.join("test_flood.py"),
        "import sys\nfor _ in range(1_000_000):\n    sys.stdout.write('x' * 99 + '\\n')\n",
    )?;
    build_image(runner, engine)?;
    let (_, flood_peak) = run_runner(runner, engine, &flood, 1, true)?;
    let line = format!(
        "\n## The runner's own costs\n\nRunner peak RSS while one module prints 100 MB: **{}** (goal: under 64 MiB).",
        flood_peak.map_or("-".into(), crate::report::human_bytes)
    );
    emit(&mut report, &line);

    let cache = crate::model::repeat::median_of(
        &(0..5).map(|_| time(|| build_image(runner, engine).map(drop))).collect::<Result<Vec<_>>>()?,
    );
    let line = format!(
        "\nCache check, nothing changed (`xtask build-image`, whole process, median of 5): **{:.0} ms** (goal: under 100 ms; no `build` call).",
        cache * 1000.0
    );
    emit(&mut report, &line);

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let via_cargo = crate::model::repeat::median_of(
        &(0..5)
            .map(|_| time(|| quiet_status(Command::new(&cargo).args(["xtask", "list"]))))
            .collect::<Result<Vec<_>>>()?,
    );
    let direct = crate::model::repeat::median_of(
        &(0..5)
            .map(|_| time(|| quiet_status(Command::new(runner).arg("list"))))
            .collect::<Result<Vec<_>>>()?,
    );
    let line = format!(
        "\ncargo's own start (`cargo xtask list` minus the binary alone, medians of 5): **{:.0} ms** per command.",
        (via_cargo - direct) * 1000.0
    );
    emit(&mut report, &line);

    if !options.quick {
        let seconds = cold_build(scratch)?;
        let line = format!("\nCold build, `cargo build -p xtask` into an empty target dir: **{seconds:.1} s** (goal: under 25 s).");
        emit(&mut report, &line);
    }
    Ok(report)
}

/// How many times in a row the single-module row runs each side per round.
const SINGLE_RUNS: usize = 5;

/// Interleaved rounds of runner and raw loop on one directory; a table row.
/// `row`: its name, its goal, and how many runs in a row make each side's
/// time in a round (their mean).
fn compare(
    engine: &Engine,
    runner: &Path,
    dir: &Path,
    options: &BenchOptions,
    (name, goal, runs): (&str, f64, usize),
    script: &str,
) -> Result<String> {
    let image = build_image(runner, engine)?;
    let modules = TestDir::resolve(Some(dir))?.test_modules()?;
    let dir = &dir.canonicalize()?;
    let mean_of = |run: &dyn Fn() -> Result<Duration>| -> Result<f64> {
        let mut total = 0.0;
        for _ in 0..runs {
            total += run()?.as_secs_f64();
        }
        Ok(total / runs as f64)
    };
    let time_runner =
        || mean_of(&|| run_runner(runner, engine, dir, options.jobs, false).map(|(took, _)| took));
    let time_raw = || mean_of(&|| run_raw(engine, &image, dir, &modules, options.jobs, script));
    // One untimed pass of each warms the engine's caches.
    time_runner()?;
    time_raw()?;
    let paired = Paired::run(name, ("runner", "raw"), options.rounds, time_runner, time_raw)?;
    let (ours, raw, ratio) = paired.medians();
    let (lowest, highest) = paired.range();
    Ok(format!(
        "| {name} ({} modules) | {ours:.2} s | {raw:.2} s | **{ratio:.3}** | {lowest:.2}–{highest:.2} | ≤ {goal:.2} |",
        modules.len(),
    ))
}

/// Interleaved rounds of `xtask run` on one module, unchanged and just
/// edited (a comment line appended); a table row. `python` is the
/// `--python` value (one version or a matrix).
fn edit_loop(runner: &Path, root: &Path, template: &Path, python: &str, rounds: usize) -> Result<String> {
    let dir = root.join(format!("edit-{}", python.replace(',', "-")));
    std::fs::create_dir_all(&dir)?;
    let module = dir.join("test_edited.py");
    let source = std::fs::read(template).unwrap_or_else(|_| b"print('ok')\n".to_vec());
    std::fs::write(&module, source)?;
    let run = || {
        time(|| {
            let mut command = Command::new(runner);
            command.args(["run", "test_edited.py", "--python", python, "--test-dir"]).arg(&dir);
            let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
            if !output.status.success() {
                bail!(
                    "`xtask run` failed on {}:\n{}",
                    dir.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(())
        })
    };
    let mut edits = 0;
    let edited = || {
        edits += 1;
        let mut file = std::fs::OpenOptions::new().append(true).open(&module)?;
        std::io::Write::write_all(&mut file, format!("# edit {edits}\n").as_bytes())?;
        drop(file);
        run()
    };
    // Untimed: builds whatever the versions need (test images, bases).
    run()?;
    let label = format!("edit loop {python}");
    let paired = Paired::run(&label, ("edited", "unchanged"), rounds, edited, run)?;
    let (after_edit, unchanged, ratio) = paired.medians();
    let (lowest, highest) = paired.range();
    Ok(format!(
        "| `--python {python}` | {unchanged:.2} s | {after_edit:.2} s | **{ratio:.2}** | {lowest:.2}–{highest:.2} | ≤ 1.30 |"
    ))
}

/// What `--memray` costs per module: the project's own modules on 3.13 with
/// and without it, `-j 1`, alternating; per-module difference and ratio.
fn memray_cost(runner: &Path, root: &Path, rounds: usize) -> Result<String> {
    let own = TestDir::resolve(None)?;
    let modules = own.test_modules()?.len();
    let out = root.join("memray-reports");
    let run = |memray: bool| {
        time(|| {
            let mut command = Command::new(runner);
            command
                .args(["run-all-tests", "-j", "1", "--python", "3.13", "--report-json"])
                .arg(out.join("r.json"));
            if memray {
                command.arg("--memray");
            }
            let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
            // Modules may skip or leak on purpose; only the runner's own failure counts here.
            if output.status.code().is_none_or(|c| c > 1) {
                bail!("the memray benchmark failed:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        })
    };
    run(false)?;
    run(true)?;
    let (mut plain, mut profiled) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        if round % 2 == 0 {
            plain.push(run(false)?);
            profiled.push(run(true)?);
        } else {
            profiled.push(run(true)?);
            plain.push(run(false)?);
        }
    }
    let (plain, profiled) =
        (crate::model::repeat::median_of(&plain), crate::model::repeat::median_of(&profiled));
    Ok(format!(
        "\n## `--memray`\n\nThe project's {modules} modules on Python 3.13, `-j 1`, {} rounds alternating: \
         **{:.2} s** per module with `--memray` against {:.2} s without (**+{:.2} s**, ×{:.2}): memray's \
         recording, its summary in the module's own container once the module ended, the flame graph drawn by the runner.\n",
        rounds.max(1),
        profiled / modules as f64,
        plain / modules as f64,
        (profiled - plain) / modules as f64,
        profiled / plain
    ))
}

/// What sampling memory over time costs: the same modules with the sampler
/// and without (`--env PYMACCOUNTER_MEMORY_SERIES=off`), alternating who goes
/// first. Three figures per module, read by the module itself as it ends:
/// the sampler's own CPU time so far (its `schedstat`), the CPU time of
/// everything in its container (its cgroup's; the engine's own CPU per
/// container, which the sampler does not change, is not in it), with and
/// without; and the whole run's wall time, paired.
fn series_cost(engine: &Engine, runner: &Path, root: &Path, options: &BenchOptions) -> Result<String> {
    let dir = root.join("series-cost");
    std::fs::create_dir_all(&dir)?;
    for (name, body) in SERIES_MODULES {
        std::fs::write(dir.join(name), format!("\"\"\"A bench module.\"\"\"\n{body}\n{CPU_FIGURES}"))?;
    }
    let out = root.join("series-reports");
    std::fs::create_dir_all(&out)?;
    // One run: its wall time, the machine's CPU time meanwhile (s), and per
    // module (container CPU ms, sampler CPU ms).
    type Figures = (f64, f64, Vec<(String, f64, f64)>);
    let run = |sampling: bool| -> Result<Figures> {
        let report = out.join(if sampling { "on.json" } else { "off.json" });
        let mut command = Command::new(runner);
        command.args(["run-all-tests", "-j", &options.jobs.to_string(), "--test-dir"]).arg(&dir);
        command.arg("--report-json").arg(&report).env(ENGINE_VARIABLE, engine.name());
        if !sampling {
            command.args(["--env", "PYMACCOUNTER_MEMORY_SERIES=off"]);
        }
        let (started, busy) = (Instant::now(), machine_busy_seconds()?);
        let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
        let (took, cpu) = (started.elapsed().as_secs_f64(), machine_busy_seconds()? - busy);
        if !output.status.success() {
            bail!("the series benchmark failed:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
        let mut figures = Vec::new();
        for result in json["results"].as_array().into_iter().flatten() {
            let module = result["module"].as_str().unwrap_or_default().to_string();
            if result["memory_series"].is_null() == sampling {
                bail!("{module}: a series {}expected", if sampling { "" } else { "un" });
            }
            let stdout = result["stdout"].as_str().unwrap_or_default();
            let figure = |key: &str| {
                let found = stdout.lines().find_map(|l| l.strip_prefix(key)?.trim().parse::<f64>().ok());
                found.map(|ns| ns / 1e6).with_context(|| format!("no {key} from {module}"))
            };
            figures.push((module.clone(), figure("cgroup_cpu_ns=")?, figure("monitor_cpu_ns=")?));
        }
        Ok((took, cpu, figures))
    };
    run(true)?;
    run(false)?;
    let rounds = options.rounds.max(3);
    let (mut walls, mut machine) = (Vec::new(), Vec::new());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Per module: container CPU with, without, and the sampler's own.
    let mut cpus = std::collections::BTreeMap::<String, [Vec<f64>; 3]>::new();
    for round in 0..rounds {
        let (on, off) = if round % 2 == 0 {
            let on = run(true)?;
            (on, run(false)?)
        } else {
            let off = run(false)?;
            (run(true)?, off)
        };
        say!(
            "series round {}: with {:.2} s ({:.2} s of CPU), without {:.2} s ({:.2} s)",
            round + 1,
            on.0,
            on.1,
            off.0,
            off.1
        );
        walls.push((on.0, off.0));
        machine.push((on.1, off.1));
        for (module, container, sampler) in on.2 {
            let entry = cpus.entry(module).or_default();
            entry[0].push(container);
            entry[2].push(sampler);
        }
        for (module, container, _) in off.2 {
            cpus.entry(module).or_default()[1].push(container);
        }
    }
    let median = crate::model::repeat::median_of;
    let mut report = format!(
        "\n## Memory over time (the sampler)\n\n{} modules, `-j {}`, {rounds} rounds alternating, with samples \
         and with `--env PYMACCOUNTER_MEMORY_SERIES=off` (the monitor then still runs the module, takes none); medians. \
         The monitor's own CPU time with samples (its `schedstat`, read as the module ends: its start, its fork and \
         its samples), and the CPU time of everything in the module's container (its cgroup's: the module, \
         the wrapper, the monitor; not the engine's own CPU per container, about 0.3 s here, \
         which sampling does not change).\n\n\
         | module | monitor's own CPU | container CPU without | with | difference |\n|---|---:|---:|---:|---:|\n",
        SERIES_MODULES.len(),
        options.jobs
    );
    let (mut own_sum, mut added_sum) = (0.0, 0.0);
    for (module, [on, off, sampler]) in &cpus {
        let (on, off, sampler) = (median(on), median(off), median(sampler));
        (own_sum, added_sum) = (own_sum + sampler, added_sum + on - off);
        emit(
            &mut report,
            &format!("| `{module}` | {sampler:.1} ms | {off:.1} ms | {on:.1} ms | {:+.1} ms |", on - off),
        );
    }
    for (what, pairs) in
        [("wall time", &walls), ("the machine's CPU time (all processes, `/proc/stat`)", &machine)]
    {
        let ratios: Vec<f64> = pairs.iter().map(|(on, off)| on / off).collect();
        let (lowest, highest) =
            ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        emit(
            &mut report,
            &format!(
                "\nWhole run, {what}: **{:.2} s** with samples against {:.2} s without, median of the paired \
                 ratios **{:.3}** (seen {lowest:.3}–{highest:.3}; goal ≤ 1.03).",
                median(&pairs.iter().map(|w| w.0).collect::<Vec<_>>()),
                median(&pairs.iter().map(|w| w.1).collect::<Vec<_>>()),
                median(&ratios)
            ),
        );
    }
    let without = median(&machine.iter().map(|m| m.1).collect::<Vec<_>>()) * 1000.0;
    emit(
        &mut report,
        &format!(
            "\nThe monitor's own CPU time with samples (its start, its fork, its samples; it runs without them too), \
             summed over the modules: **{own_sum:.1} ms**, {:.2} % of the machine's CPU time for the run without \
             samples; the container's CPU time sampling adds, summed: {added_sum:.1} ms, {:.2} % (goal ≤ 3 %).",
            100.0 * own_sum / without,
            100.0 * added_sum / without
        ),
    );
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(", ");
    emit(
        &mut report,
        &format!(
            "\nLoad average when the section began: {load}. The machine's CPU time counts every process, the \
             engine's included, so it says what sampling costs a run only on an otherwise idle machine; the \
             monitor's own CPU is exact whatever the load."
        ),
    );
    Ok(report)
}

/// The CPU time every process of the machine has used since it booted, in
/// seconds (`/proc/stat`'s first line without idle, iowait and steal; in
/// USER_HZ, 100 a second on Linux).
fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("/proc/stat has no cpu line")?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq (then steal: the hypervisor's; guest time is within user).
    let busy: u64 =
        fields.iter().take(7).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Ok(busy as f64 / 100.0)
}

/// The series benchmark's modules: short, sleeping, busy, allocating.
const SERIES_MODULES: [(&str, &str); 4] = [
    ("test_trivial.py", "print('ok')"),
    ("test_sleeps.py", "import time\ntime.sleep(1)"),
    ("test_busy.py", "total = 0\nfor i in range(6_000_000):\n    total += i"),
    (
        "test_allocates.py",
        "import mmap, time\nb = mmap.mmap(-1, 200 << 20)\nfor o in range(0, 200 << 20, 4096):\n    b[o] = 1\n\
         time.sleep(0.5)\nb.close()\ntime.sleep(0.5)",
    ),
];
/// How each bench module ends: printing its container's CPU time so far
/// (cgroup v1 or v2) and its monitor's (0 when none runs).
const CPU_FIGURES: &str = r#"
import os


def _container_ns():
    try:
        return int(open("/sys/fs/cgroup/cpuacct/cpuacct.usage").read())
    except OSError:
        for line in open("/sys/fs/cgroup/cpu.stat"):
            if line.startswith("usage_usec"):
                return int(line.split()[1]) * 1000


def _monitor_ns():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            # An argument, not a substring: PID 1's `sh -c` script names it too.
            args = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            if any(a.startswith(b"/opt/pymaccounter/monitor.pl") for a in args):
                return int(open("/proc/%s/schedstat" % pid).read().split()[0])
        except OSError:
            pass
    return 0


print("monitor_cpu_ns=%d" % _monitor_ns())
print("cgroup_cpu_ns=%d" % _container_ns())
"#;

/// What the raw side of `memray-raw` runs per module: memray's own CLI, as
/// a user would call it in a container (its exit status aside: memray's CLI
/// makes three of the project's modules fail, which is why the runner has its own launcher).
const RAW_MEMRAY_COMMAND: &str =
    r#"python3 -m memray run --quiet --force -o /tmp/capture.bin "$1" >/dev/null 2>&1; true"#;

/// `--memray` against a raw loop of `docker run --rm … python3 -m memray run`
/// of the same modules on the same Python 3.13 test image, both one module
/// at a time, in paired rounds whose order alternates.
fn memray_vs_raw(engine: &Engine, runner: &Path, rounds: usize) -> Result<String> {
    let output = Command::new(runner)
        .args(["build-image", "--python", "3.13"])
        .env(ENGINE_VARIABLE, engine.name())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("build-image --python 3.13 failed");
    }
    let image = String::from_utf8_lossy(&output.stdout).trim().lines().last().unwrap_or_default().to_string();
    let own = TestDir::resolve(None)?;
    let modules = own.test_modules()?;
    let dir = own.path.canonicalize()?;
    let time_runner = || {
        time(|| {
            let mut command = Command::new(runner);
            command
                .args(["run-all-tests", "-j", "1", "--python", "3.13", "--memray", "--test-dir"])
                .arg(&dir);
            let output = command
                .env(ENGINE_VARIABLE, engine.name())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()?;
            if !output.status.success() {
                bail!("`run-all-tests --memray` failed:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        })
    };
    let time_raw = || run_raw(engine, &image, &dir, &modules, 1, RAW_MEMRAY_COMMAND).map(|t| t.as_secs_f64());
    time_runner()?;
    time_raw()?;
    let paired = Paired::run("memray-raw", ("runner", "raw"), rounds.max(1), time_runner, time_raw)?;
    let (ours, raw, ratio) = paired.medians();
    let (lowest, highest) = paired.range();
    let per = |total: f64| total / modules.len() as f64;
    let mut section = String::new();
    emit(&mut section, &format!(
        "\n## `--memray` vs raw memray\n\nThe project's {} modules on Python 3.13, one at a time, {} paired rounds \
         (order alternating): `xtask run-all-tests -j 1 --memray` (recording, the summary in the module's own container, \
         the flame graph drawn by the runner) against `ENGINE run --rm … IMAGE sh -c '{RAW_MEMRAY_COMMAND}'` per module. \
         **{:.2} s** per module against {:.2} s; median ratio **{:.3}** (seen {lowest:.2}–{highest:.2}; goal ≤ 1.30).\n",
        modules.len(),
        rounds.max(1),
        per(ours),
        per(raw),
        ratio
    ));
    Ok(section)
}

/// What per-test peaks cost (`PeakMeter` in the harness: a write to
/// `/proc/self/clear_refs` and a read of `/proc/self/status` per test): one
/// file of 10,000 trivial pytest tests, `-j 1`, with them and with
/// `PYMACCOUNTER_TEST_PEAKS=off`, alternating.
fn test_peaks_cost(runner: &Path, root: &Path, rounds: usize) -> Result<String> {
    let many = generate_many_tests(root, TRIVIAL_TESTS)?;
    let run = |peaks: bool| {
        time(|| {
            let mut command = Command::new(runner);
            command.args(["run-all-tests", "-j", "1", "--test-dir"]).arg(&many);
            if !peaks {
                command.args(["--env", "PYMACCOUNTER_TEST_PEAKS=off"]);
            }
            let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
            if !output.status.success() {
                bail!("the per-test peaks benchmark failed:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        })
    };
    run(false)?;
    run(true)?;
    let paired = Paired::run("test peaks", ("on", "off"), rounds, || run(true), || run(false))?;
    let (on, off, ratio) = paired.medians();
    let (lowest, highest) = paired.range();
    let report = format!(
        "\n## Per-test peaks\n\nOne file of {TRIVIAL_TESTS} trivial pytest tests, `-j 1`, {rounds} rounds \
         alternating, each test's peak taken (the default) and not (`--env PYMACCOUNTER_TEST_PEAKS=off`): \
         **{on:.2} s** against {off:.2} s, median ratio **×{ratio:.3}** (seen {lowest:.3}–{highest:.3}; goal ≤ 1.10).\n"
    );
    out!("{}", report.trim());
    Ok(report)
}

/// Two timed sides measured in paired rounds, who goes first alternating
/// (A B, B A, ...): a machine that slowly speeds up or slows down then favours
/// neither. Each round is said as it ends; ratios are A / B.
struct Paired {
    a: Vec<f64>,
    b: Vec<f64>,
    ratios: Vec<f64>,
}

impl Paired {
    fn run(
        label: &str,
        sides: (&str, &str),
        rounds: usize,
        mut a: impl FnMut() -> Result<f64>,
        mut b: impl FnMut() -> Result<f64>,
    ) -> Result<Paired> {
        let mut paired = Paired { a: Vec::new(), b: Vec::new(), ratios: Vec::new() };
        for round in 0..rounds {
            let (x, y) = if round % 2 == 0 {
                let x = a()?;
                (x, b()?)
            } else {
                let y = b()?;
                (a()?, y)
            };
            say!(
                "{label} round {}: {} {x:.2} s, {} {y:.2} s, ratio {:.3}",
                round + 1,
                sides.0,
                sides.1,
                x / y
            );
            paired.a.push(x);
            paired.b.push(y);
            paired.ratios.push(x / y);
        }
        Ok(paired)
    }

    fn medians(&self) -> (f64, f64, f64) {
        let median = crate::model::repeat::median_of;
        (median(&self.a), median(&self.b), median(&self.ratios))
    }

    /// The lowest and highest ratio seen.
    fn range(&self) -> (f64, f64) {
        self.ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)))
    }
}

/// How many tests the one-file row holds.
const TRIVIAL_TESTS: usize = 10_000;
/// The raw side of that row: pytest as a user would call it in a container.
const RAW_PYTEST_COMMAND: &str = r#"python3 -m pytest -q -p no:cacheprovider "$1""#;

/// One pytest file of `count` trivial parametrized tests.
fn generate_many_tests(root: &Path, count: usize) -> Result<PathBuf> {
    let dir = root.join("many-tests");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("test_many.py"),
        format!(
            "\"\"\"{count} tests that pass at once.\"\"\"\nimport pytest\n\n\n\
             @pytest.mark.parametrize('i', range({count}))\ndef test_trivial(i):\n    pass\n"
        ),
    )?;
    Ok(dir)
}

fn generate_trivial(root: &Path, name: &str, count: usize) -> Result<PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    for i in 0..count {
        std::fs::write(
            dir.join(format!("test_trivial_{i:03}.py")),
            "\"\"\"Does nothing.\"\"\"\nprint('ok')\n",
        )?;
    }
    Ok(dir)
}

/// `xtask build-image`; the test image's reference.
fn build_image(runner: &Path, engine: &Engine) -> Result<String> {
    let output = Command::new(runner)
        .arg("build-image")
        .env(ENGINE_VARIABLE, engine.name())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("build-image failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().lines().last().unwrap_or_default().to_string())
}

/// One `run-all-tests`; its wall time and, when asked, the runner's own peak RSS.
fn run_runner(
    runner: &Path,
    engine: &Engine,
    dir: &Path,
    jobs: usize,
    measure: bool,
) -> Result<(Duration, Option<u64>)> {
    let mut command = Command::new(runner);
    command.args(["run-all-tests", "-j", &jobs.to_string(), "--test-dir"]).arg(dir);
    command.env(ENGINE_VARIABLE, engine.name());
    let watched = watch(&mut command, Duration::from_millis(5), measure)?;
    if !watched.status.success() {
        bail!("the runner failed on {}:\n{}", dir.display(), watched.stderr);
    }
    Ok((watched.elapsed, watched.peak))
}

/// How a watched command ended: its status, wall time, peak RSS (when
/// asked) and stderr.
pub struct Watched {
    pub status: std::process::ExitStatus,
    pub elapsed: Duration,
    pub peak: Option<u64>,
    pub stderr: String,
}

/// Runs a command to its end, stdout dropped and stderr kept, reading its
/// high-water mark from outside every `poll` when `measure` (the kernel's
/// mark only rises: the last reading before it exits is its peak, and the
/// command has no hook to lower it).
pub fn watch(command: &mut Command, poll: Duration, measure: bool) -> Result<Watched> {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn()?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text
    });
    let mut peak = None;
    let status = loop {
        if measure {
            peak = high_water_mark(child.id()).or(peak);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(poll);
    };
    let elapsed = started.elapsed();
    Ok(Watched { status, elapsed, peak, stderr: reader.join().unwrap_or_default() })
}

/// A process's peak RSS (VmHWM), in bytes, while it runs.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

fn run_raw(
    engine: &Engine,
    image: &str,
    dir: &Path,
    modules: &[String],
    jobs: usize,
    script: &str,
) -> Result<Duration> {
    let started = Instant::now();
    let mount = Mount::Bind { source: dir.to_path_buf(), target: dir.display().to_string() };
    let workdir = dir.display().to_string();
    let loop_ = engine.raw_loop(image, &[mount], &workdir, jobs, script);
    let output = loop_.stdin_bytes(modules.join("\n")).stdout_null().run()?;
    if !output.status.success() {
        bail!("the raw loop failed");
    }
    Ok(started.elapsed())
}

fn cold_build(scratch: &Path) -> Result<f64> {
    let target = scratch.join("cold-target");
    time(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "-p", "xtask", "--target-dir"])
            .arg(&target)
            .current_dir(crate::project_root())
            .status()
            .context("cannot start cargo")?;
        if !status.success() {
            bail!("cold build failed");
        }
        Ok(())
    })
}

fn quiet_status(command: &mut Command) -> Result<()> {
    let status =
        command.current_dir(crate::project_root()).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if !status.success() {
        bail!("{command:?} failed");
    }
    Ok(())
}

fn time(mut work: impl FnMut() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64())
}

fn machine_summary(engine: &Engine) -> String {
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0))
        })
        .map_or("?".into(), |kib| crate::report::human_bytes(kib * 1024));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{date}, {cpus} CPUs, {memory} memory, Linux {}, {} engine {}",
        kernel.trim(),
        engine.name(),
        engine.server_version().unwrap_or_else(|_| "?".into())
    )
}

/// The real project the bench installs and runs: a pure-Python suite from
/// its source archive (src layout, a root conftest, its `tests` extra).
const REAL_PROJECT: (&str, &str, &str) = ("attrs==24.2.0", "attrs-24.2.0", "tests");

/// A real project's environment and suite: the environment's cold build
/// against uv installing the same set on the host, the check a run makes
/// when nothing changed, and the suite under the runner against a raw loop
/// of the same pytest call per file.
fn project_costs(engine: &Engine, runner: &Path, scratch: &Path, options: &BenchOptions) -> Result<String> {
    let (requirement, folder, extra) = REAL_PROJECT;
    let root = fetch_sdist(scratch, requirement, folder)?;
    let tests = root.join("tests");
    let mut report = format!(
        "\n## A project's environment and suite\n\n`{requirement}` from its source archive, `--extra {extra}`, \
         Python {}, on {}.\n\n",
        PythonVersion::DEFAULT,
        engine.name()
    );
    // One full run warms the installer's own venv (kept for every round) and the images.
    let warm = scratch.join("env-warm");
    let suite = |cache: &Path| -> Result<f64> {
        time(|| {
            let mut command = Command::new(runner);
            command.args(["run-all-tests", "-j", &options.jobs.to_string(), "--extra", extra, "--test-dir"]);
            command.arg(&tests).arg("--cache-dir").arg(cache).env(ENGINE_VARIABLE, engine.name());
            let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
            // The suite's own failures are its business; the runner's are not.
            if output.status.code().is_none_or(|c| c > 1) {
                bail!(
                    "the runner failed on {}:\n{}",
                    tests.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(())
        })
    };
    suite(&warm)?;

    let project =
        Project::find(&tests, &ProjectChoice::At(root.clone()))?.context("the project is not found")?;
    let wanted = project.check(Wanted { extras: vec![extra.into()], ..Wanted::default() })?;
    let image =
        image::ensure(engine, &Recipe::load()?, &LocalImages::read(engine)?, None, PythonVersion::DEFAULT)?;
    let images = [(None, image)];
    let plan_in = |cache: PathBuf| ProjectPlan { project: project.clone(), wanted: wanted.clone(), cache };

    // Cold: empty caches on every side (uv's own cache in the round's
    // folder, pip's off), the installer's venv shared. The reference is uv
    // installing the same set on the host with its bytecode compiled, as the
    // runner's is (its environment is mounted read-only: nothing compiled
    // there would be compiled again by every module's import); uv without
    // the compile is measured too, and shown beside it.
    let rounds = options.rounds.clamp(1, 3);
    let (mut ours, mut uv, mut plain, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let cache = scratch.join(format!("env-cold-{round}"));
        std::fs::create_dir_all(&cache)?;
        std::os::unix::fs::symlink(warm.join("tools"), cache.join("tools"))?;
        let ours_once = || {
            with_cold_caches(&cache.join("uv-cache"), || {
                time(|| super::project::environments(engine, &plan_in(cache.clone()), &images).map(drop))
            })
        };
        let uv_once = |compile: bool| {
            let name = if compile { "host" } else { "host-plain" };
            with_cold_caches(&cache.join(format!("uv-cache-{name}")), || {
                time(|| {
                    let venv = cache.join(format!("{name}-venv"));
                    uv_install_on_host(&warm.join("tools/bin/uv"), &root, extra, &venv, compile)
                })
            })
        };
        // Who goes first turns with the rounds.
        let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
        for step in 0..3 {
            match (step + round) % 3 {
                0 => a = ours_once()?,
                1 => b = uv_once(true)?,
                _ => c = uv_once(false)?,
            }
        }
        say!(
            "environment round {}: runner {a:.2} s, uv on the host {b:.2} s ({c:.2} s without the compile)",
            round + 1
        );
        ours.push(a);
        uv.push(b);
        plain.push(c);
        ratios.push(a / b);
    }
    let median = crate::model::repeat::median_of;
    let line = format!(
        "Environment, cold (resolve, download, install, compile; empty caches): **{:.2} s** against {:.2} s for \
         `uv venv && uv pip install --compile-bytecode -e .[{extra}] pytest` on the host, median of {rounds}: \
         **×{:.2}** (goal: ≤ 1.2×); uv without `--compile-bytecode` took {:.2} s. The runner resolves and \
         downloads for the container's Python in one uv pass on the host while its `--network none` install \
         container of the test image starts, makes the venv and installs the project editable; then it installs \
         the pins from uv's cache, bytecode compiled (the modules mount the environment read-only).",
        median(&ours),
        median(&uv),
        median(&ratios),
        median(&plain)
    );
    emit(&mut report, &line);

    let cache = scratch.join("env-cold-0");
    let checks = (0..5)
        .map(|_| time(|| super::project::environments(engine, &plan_in(cache.clone()), &images).map(drop)))
        .collect::<Result<Vec<_>>>()?;
    let line = format!(
        "\nEnvironment, warm (nothing changed; what every run checks, median of 5): **{:.1} ms** (goal: under 100 ms; \
         no installer call).",
        median(&checks) * 1000.0
    );
    emit(&mut report, &line);

    let row =
        suite_vs_raw(engine, &tests, &root, &plan_in(cache.clone()), &images, options, || suite(&cache))?;
    emit(&mut report, &row);
    Ok(report)
}

/// The suite under the runner against `xargs -P N docker run --rm` of the
/// same pytest call per test file, with the same environment mounted.
fn suite_vs_raw(
    engine: &Engine,
    tests: &Path,
    root: &Path,
    plan: &ProjectPlan,
    images: &[(Option<PythonVersion>, crate::image::TestImage)],
    options: &BenchOptions,
    runner: impl Fn() -> Result<f64>,
) -> Result<String> {
    let environments = super::project::environments(engine, plan, images)?;
    let (job, _) = environments.ready.values().next().context("no environment")?;
    let modules = TestDir::resolve(Some(tests))?.test_modules()?;
    let root_text = root.display().to_string();
    let mut mounts = job.mounts.clone();
    mounts.push(Mount::Bind { source: root.to_path_buf(), target: root_text.clone() });
    // pytest's exit 1 is failed tests and 5 none collected: the suite's business.
    let script = format!(
        "cd /tmp && {} -m pytest -p no:cacheprovider -q {}/\"$1\"; code=$?; [ $code -le 1 ] || [ $code -eq 5 ]",
        job.interpreter,
        tests.display()
    );
    let image = &images[0].1.reference;
    let raw = || {
        time(|| {
            let output = engine
                .raw_loop(image, &mounts, &root_text, options.jobs, &script)
                .stdin_bytes(modules.join("\n"))
                .stdout_null()
                .stderr_capture()
                .unchecked()
                .run()?;
            if !output.status.success() {
                bail!("the raw pytest loop failed:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        })
    };
    raw()?;
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..options.rounds.clamp(1, 5) {
        let (a, b) = if round % 2 == 0 {
            let a = runner()?;
            (a, raw()?)
        } else {
            let b = raw()?;
            (runner()?, b)
        };
        say!("project suite round {}: runner {a:.2} s, raw {b:.2} s", round + 1);
        ours.push(a);
        theirs.push(b);
        ratios.push(a / b);
    }
    let median = crate::model::repeat::median_of;
    Ok(format!(
        "\nIts suite ({} test files, `-j {}`), runner against a raw loop of `python -m pytest -p no:cacheprovider -q FILE` \
         per file (same image, environment and project mounted), medians of {}: **{:.2} s** against {:.2} s, \
         **×{:.3}** (goal: ≤ 1.15×).",
        modules.len(),
        options.jobs,
        ours.len(),
        median(&ours),
        median(&theirs),
        median(&ratios)
    ))
}

/// `work` with uv's cache in `uv_cache` (a fresh folder) and pip's off.
fn with_cold_caches<T>(uv_cache: &Path, work: impl FnOnce() -> Result<T>) -> Result<T> {
    // The bench is one thread here; the variables go back as they were.
    let saved: Vec<_> = ["UV_CACHE_DIR", "PIP_NO_CACHE_DIR"].map(|v| (v, std::env::var_os(v))).into();
    std::env::set_var("UV_CACHE_DIR", uv_cache);
    std::env::set_var("PIP_NO_CACHE_DIR", "1");
    let result = work();
    for (variable, value) in saved {
        match value {
            Some(value) => std::env::set_var(variable, value),
            None => std::env::remove_var(variable),
        }
    }
    result
}

/// What a user of uv would run for the same set, on the host's Python
/// (`compile`: with the bytecode compiled, as for a read-only or shared environment).
fn uv_install_on_host(uv: &Path, root: &Path, extra: &str, venv: &Path, compile: bool) -> Result<()> {
    let created = Command::new(uv).args(["venv", "--quiet", "--python", "python3"]).arg(venv).output()?;
    if !created.status.success() {
        bail!("uv venv failed:\n{}", String::from_utf8_lossy(&created.stderr));
    }
    let installed = Command::new(uv)
        .args(["pip", "install", "--quiet", "--python"])
        .arg(venv.join("bin/python"))
        .args(compile.then_some("--compile-bytecode"))
        .arg("-e")
        .arg(format!("{}[{extra}]", root.display()))
        .arg("pytest")
        .output()?;
    if !installed.status.success() {
        bail!("uv pip install failed:\n{}", String::from_utf8_lossy(&installed.stderr));
    }
    Ok(())
}

/// A project's source archive from the index, unpacked under `scratch`.
fn fetch_sdist(scratch: &Path, requirement: &str, folder: &str) -> Result<PathBuf> {
    let dest = scratch.join("sdists");
    let fetched = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            requirement,
            "--dest",
        ])
        .arg(&dest)
        .output()
        .context("cannot run python3 -m pip")?;
    if !fetched.status.success() {
        bail!("pip download {requirement} failed:\n{}", String::from_utf8_lossy(&fetched.stderr));
    }
    let archive = dest.join(format!("{folder}.tar.gz"));
    let unpacked = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(scratch).status()?;
    if !unpacked.success() {
        bail!("cannot unpack {}", archive.display());
    }
    let root = scratch.join(folder);
    // The modules' user in the containers is not this one.
    let opened = Command::new("chmod").args(["-R", "a+rX"]).arg(scratch).status()?;
    if !opened.success() {
        bail!("cannot open {} to other users", scratch.display());
    }
    Ok(root)
}

#[cfg(test)]
mod tests {}
