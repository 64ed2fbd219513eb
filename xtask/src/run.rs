//! `cargo xtask run` and `run-all-tests`: check the input, get the images,
//! hand the jobs to the runner, let the reporters render what it emits.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::capture;
use crate::cli::RunOptions;
use crate::engine::Engine;
use crate::error::{usage, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED};
use crate::image::{self, LocalImages, Recipe};
use crate::matrix::{self, PythonVersion};
use crate::modules::{parse_selection, validate_selection, TestDir};
use crate::report::{github, html, human::Human, json, junit};
use crate::runner::{self, Plan};
use crate::signals::Interrupt;

/// Set (by the benchmark) to print the runner's own peak RSS at the end.
pub const REPORT_PEAK_VARIABLE: &str = "PYMACCOUNTER_REPORT_RUNNER_PEAK";

/// Runs the named modules, or every module when `tests` is `None`.
pub fn run(tests: Option<&[String]>, options: &RunOptions) -> Result<i32> {
    // Everything the user typed is checked before anything starts.
    let dir = TestDir::resolve(options.test_dir.as_deref())?;
    let modules = match tests {
        Some(args) => {
            let names = parse_selection(args)?;
            validate_selection(&names, &dir)?;
            names
        }
        None => {
            for name in dir.non_utf8_modules()? {
                let path = format!("{}/{name}", dir.display);
                eprintln!(
                    "warning: {}: not run, its file name is not valid UTF-8 (rename it)",
                    crate::report::sanitize::terminal_line(&path)
                );
            }
            dir.test_modules()?
        }
    };
    let modules = match options.partition {
        Some(partition) => partition.select(&modules),
        None => modules,
    };
    if modules.is_empty() && options.partition.is_some() {
        println!("0 passed, 0 failed");
        eprintln!("note: partition {:?} holds no module", options.partition);
        return Ok(EXIT_PASSED);
    }
    if modules.is_empty() {
        return Err(usage(format!("no test_*.py modules in {}", dir.display)));
    }
    if options.base_image.is_some() && options.python.len() > 1 {
        return Err(usage("--base-image names one image: it cannot serve a --python matrix"));
    }
    for path in [&options.report_json, &options.junit, &options.report_html].into_iter().flatten() {
        check_writable(path)?;
    }

    let engine = Engine::find(&options.engine)?;
    let recipe = Recipe::load(&dir)?;
    let local = LocalImages::read(&engine)?;
    let versions: Vec<Option<PythonVersion>> = if options.python.is_empty() {
        vec![None]
    } else {
        options.python.iter().copied().map(Some).collect()
    };
    let mut images = Vec::new();
    for version in versions {
        let python = version.unwrap_or(PythonVersion::DEFAULT);
        images
            .push((version, image::ensure(&engine, &recipe, &local, options.base_image.as_deref(), python)?));
    }
    let jobs = matrix::expand(&modules, &options.python_malloc, &images);

    // From here on Ctrl-C and SIGTERM stop the run in order (containers
    // removed, summary printed); before, they simply end the runner and the
    // image build with it.
    let interrupt = Interrupt::install()?;
    let run_id = new_run_id();
    let runs_dir = crate::project_root().join(capture::RUNS_DIR);
    if let Err(error) = capture::prune_runs(&runs_dir, capture::KEEP_RUNS, |_| false) {
        eprintln!("warning: {error:#}");
    }
    let host_dirs = tempfile::Builder::new().prefix("pymaccounter-run-").tempdir()?;
    let plan = Plan {
        parallelism: options.jobs.map_or_else(available_cpus, usize::from),
        timeout: Duration::from_secs(options.timeout),
        memory_bytes: options.memory.0.clone(),
        network: options.network.clone(),
        fail_fast: options.fail_fast,
        spill_dir: runs_dir.join(&run_id),
        live_stderr: options.engine.debug,
        host_dirs: host_dirs.path().to_path_buf(),
        run_id,
        jobs,
    };
    if options.engine.debug {
        eprintln!("run {}: {} job(s), {} at a time", plan.run_id, plan.jobs.len(), plan.parallelism);
    }
    let mut human = Human::new(&dir.display, options.engine.debug, plan.jobs.len());
    let outcome = runner::execute(&engine, &plan, &interrupt, |event| human.event(&event));
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        for line in github::annotations(&outcome, &dir.display) {
            println!("{line}");
        }
    }
    // The closing line stays the last line of stdout.
    human.summary(&outcome);
    write_reports(&outcome, options, &dir)?;
    if std::env::var_os(REPORT_PEAK_VARIABLE).is_some() {
        eprintln!("runner peak RSS bytes: {}", own_peak_rss().unwrap_or(0));
    }
    if let Some(error) = outcome.engine_error {
        return Err(error);
    }
    Ok(exit_code(&outcome))
}

/// 0 when everything ran and passed or skipped, 130 when interrupted, else 1.
fn exit_code(outcome: &runner::Outcome) -> i32 {
    if outcome.interrupted {
        EXIT_INTERRUPTED
    } else if outcome.not_run.is_empty() && outcome.results.iter().all(|r| r.status.passed()) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

/// Every file and CI report asked for; each is written even when the run failed.
fn write_reports(outcome: &runner::Outcome, options: &RunOptions, dir: &TestDir) -> Result<()> {
    let title = format!("pymaccounter: {}", dir.display);
    if let Some(path) = &options.report_json {
        json::write(outcome, path)?;
    }
    if let Some(path) = &options.junit {
        junit::write(outcome, "pymaccounter", path)?;
    }
    if let Some(path) = &options.report_html {
        html::write(outcome, &title, path)?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        github::append_step_summary(outcome, &dir.display, Path::new(&path))?;
    }
    Ok(())
}

/// Creates a report's directory up front, so a bad path fails before anything runs.
fn check_writable(path: &Path) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if parent.exists() && !parent.is_dir() {
        return Err(usage(format!(
            "cannot write a report to {}: {} is not a directory",
            path.display(),
            parent.display()
        )));
    }
    std::fs::create_dir_all(parent)
        .map_err(|e| usage(format!("cannot write a report to {}: {e}", path.display())))
}

/// This process's peak RSS (VmHWM), in bytes.
fn own_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Short, unique per run on this host (two runs at once never share names).
fn new_run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:05x}", std::process::id(), nanos >> 12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Captured;
    use crate::matrix::Job;
    use crate::outcome::{ModuleResult, Status};

    fn outcome(statuses: &[Status], not_run: usize, interrupted: bool) -> runner::Outcome {
        let job = |i: usize| Job {
            index: i,
            module: format!("test_{i}.py"),
            python_malloc: None,
            python: None,
            image: "i".into(),
        };
        runner::Outcome {
            results: statuses
                .iter()
                .enumerate()
                .map(|(i, status)| ModuleResult {
                    job: job(i),
                    status: *status,
                    exit_code: None,
                    signal: None,
                    duration: Duration::ZERO,
                    peak_rss_bytes: None,
                    stdout: Captured::default(),
                    stderr: Captured::default(),
                    reason: None,
                })
                .collect(),
            not_run: (0..not_run).map(job).collect(),
            interrupted,
            fail_fast_tripped: false,
            engine_error: None,
        }
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(exit_code(&outcome(&[Status::Pass, Status::Skip], 0, false)), EXIT_PASSED);
        assert_eq!(exit_code(&outcome(&[Status::Skip], 0, false)), EXIT_PASSED);
        for failed in [Status::Fail, Status::Timeout, Status::Oom, Status::Crash] {
            assert_eq!(exit_code(&outcome(&[Status::Pass, failed], 0, false)), EXIT_FAILED);
        }
        assert_eq!(exit_code(&outcome(&[Status::Pass], 2, false)), EXIT_FAILED, "fail-fast left modules");
        assert_eq!(exit_code(&outcome(&[Status::Pass], 1, true)), EXIT_INTERRUPTED);
    }
}
