//! The one place that knows concurrency: a pool of workers, one fresh
//! container per job, deadlines, fail-fast and interruption. It emits events;
//! it never formats anything for a person.

pub mod capture;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::engine::container::{ContainerSpec, ContainerTemplate, Mount};
use crate::engine::kinds::CANNOT_START_EXITS;
use crate::engine::Engine;
use crate::error::environment;
use crate::harness::memray;
use crate::harness::{
    classify, container_command, judge, nonce, oom_killed, read_verdict, summary, take_measurement,
    verdict_mount, ModuleSetup, VerdictChannel, ATTEMPT_VARIABLE, VERDICT_WRITE_CAP,
};
use crate::image::known::ImageCheck;
use crate::model::captured::Captured;
use crate::model::compare::Baseline;
use crate::model::event::Event;
use crate::model::inner::{Harness, InnerReport};
use crate::model::job::Job;
use crate::model::memray::MemraySummary;
use crate::model::repeat;
use crate::model::result::Attempt;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::series::MemorySeries;
use crate::model::status::{Execution, FailureCause, Tally};
use crate::report::flamegraph;
use crate::runner::capture::{capture, spill_path};
use crate::signals::Interrupt;

/// Everything the runner needs to know, decided before it starts.
pub struct Plan {
    pub jobs: Vec<Job>,
    pub parallelism: usize,
    pub timeout: Duration,
    /// After this many jobs failed no new one starts (`--fail-fast`, `--max-fail`).
    pub max_failures: Option<usize>,
    /// What every container of the run shares (its run id among it).
    pub container: ContainerTemplate,
    /// Where the test dir is inside the containers.
    pub tests_in_container: PathBuf,
    /// How each module runs (by module name).
    pub setups: HashMap<String, ModuleSetup>,
    /// Arguments given to every module (after `--`).
    pub module_args: Vec<String>,
    /// Most of each output stream kept in its spill file (`--max-output`).
    pub spill_cap: u64,
    /// With `--memray`: where recordings and flame graphs go.
    pub memray: Option<MemrayPlan>,
    /// How harnessed modules' verdicts leave their containers: a mounted
    /// file (every test) with a local engine, stderr with a remote one.
    pub verdict: VerdictChannel,
    /// Where outputs too long to keep in memory are written.
    pub spill_dir: PathBuf,
    /// Where each job's engine CLI runs (a fresh, temporary directory).
    pub host_dirs: PathBuf,
    /// Stream module stderr as it arrives.
    pub live_stderr: bool,
    /// Its stdout too (`-s`).
    pub live_stdout: bool,
    /// Each result is judged against it as it finishes (`--baseline`).
    pub baseline: Option<Baseline>,
    /// Runs of each job, each in a fresh container (`--repeat`).
    pub repeat: usize,
    /// Further attempts of a run that did not pass (`--retries`).
    pub retries: usize,
    /// A flaky result counts as passed (`--flaky-result pass`).
    pub tolerate_flaky: bool,
    /// The project's environment of each test image (by reference), when it has one.
    pub environments: HashMap<String, JobEnvironment>,
    /// The test images were guessed (the ones the last such run used): no
    /// module starts before the engine confirms them; when it does not, the
    /// run stops with nothing run, and is made again.
    pub image_check: Option<ImageCheck>,
}

/// A Python environment the jobs of one image run in: its interpreter
/// replaces the image's, its folder is mounted, its variables set.
#[derive(Debug, Clone)]
pub struct JobEnvironment {
    pub interpreter: String,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, String)>,
    /// Only the pytest-harness modules run in it (the runner's tools of a
    /// run without a project, no `--memray`): the others keep the image's interpreter.
    pub pytest_only: bool,
    /// It holds pytest-memray (a project's, for a run whose modules use its
    /// markers; a tools-only environment never does).
    pub pytest_memray: bool,
}

/// Where `--memray` puts things.
pub struct MemrayPlan {
    /// Each attempt's recording, in a subfolder named after it.
    pub work: PathBuf,
    /// The flame graphs, one file per job.
    pub flamegraphs: PathBuf,
}

enum Message {
    Started(usize),
    Stderr(usize, Vec<u8>),
    Stdout(usize, Vec<u8>),
    Finished(Box<ModuleResult>),
    EngineError(anyhow::Error),
}

/// Messages from workers the main thread has not handled yet, at most.
const MESSAGES_IN_FLIGHT: usize = 64;

/// How long past a module's deadline the runner waits for its container to
/// end by itself (which it does at the deadline) before removing it.
const ENGINE_GRACE: Duration = Duration::from_secs(30);

/// How often a waiting worker looks at the stop flags.
const POLL: Duration = Duration::from_millis(200);

struct Shared<'a> {
    engine: &'a Engine,
    plan: &'a Plan,
    interrupt: &'a Interrupt,
    next_job: AtomicUsize,
    /// No new job starts once set (fail-fast, engine error).
    no_new_jobs: AtomicBool,
    /// Jobs that failed so far.
    failures: AtomicUsize,
    /// Running jobs stop too (engine error).
    abort: AtomicBool,
    /// Containers started whose engine CLI has not ended by itself: each is
    /// started with `--rm`, so one whose CLI ended is gone; the rest are
    /// removed by name when the run ends.
    running: Mutex<Vec<String>>,
}

impl Shared<'_> {
    fn stopping(&self) -> bool {
        self.interrupt.is_set() || self.abort.load(Ordering::SeqCst)
    }
}

pub fn execute(
    engine: &Engine,
    plan: &Plan,
    interrupt: &Interrupt,
    mut on_event: impl FnMut(Event),
) -> Outcome {
    let shared = Shared {
        engine,
        plan,
        interrupt,
        next_job: AtomicUsize::new(0),
        no_new_jobs: AtomicBool::new(false),
        failures: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
        running: Mutex::new(Vec::new()),
    };
    let (started_at, started) = (SystemTime::now(), Instant::now());
    let mut progress = Progress { finished: vec![None; plan.jobs.len()], ..Progress::default() };
    thread::scope(|scope| {
        // Bounded: a module flooding its stderr under --debug waits for the
        // terminal instead of piling up in the runner's memory.
        let (sender, receiver) = mpsc::sync_channel(MESSAGES_IN_FLIGHT);
        for _ in 0..plan.parallelism.min(plan.jobs.len()).max(1) {
            let sender = sender.clone();
            let shared = &shared;
            scope.spawn(move || work(shared, &sender));
        }
        drop(sender);
        collect(&shared, &receiver, &mut on_event, &mut progress);
    });
    let left = shared.running.into_inner().unwrap_or_else(|e| e.into_inner());
    let Progress { finished, mut engine_error, .. } = progress;
    if let Err(error) = remove_leftovers(engine, plan, &left, interrupt.is_set()) {
        engine_error = Some(match engine_error.take() {
            // The first error stays the cause; what is left is said with it.
            Some(first) => first.context(format!("{error:#}")),
            None => error,
        });
    }
    let mut results = Vec::new();
    let mut not_run = Vec::new();
    for (job, result) in plan.jobs.iter().zip(finished) {
        match result {
            Some(result) => results.push(result),
            None => not_run.push(job.clone()),
        }
    }
    Outcome {
        run_id: plan.container.run_id.clone(),
        interrupted: interrupt.is_set(),
        fail_fast_tripped: plan
            .max_failures
            .is_some_and(|most| results.iter().filter(|r| r.tally() == Tally::Failed).count() >= most),
        results,
        not_run,
        engine_error,
        module_args: plan.module_args.clone(),
        env: plan.container.env.clone(),
        started_at,
        wall_time: started.elapsed(),
        run: Default::default(),
    }
}

/// What the workers have told the main thread so far.
#[derive(Default)]
struct Progress {
    finished: Vec<Option<ModuleResult>>,
    engine_error: Option<anyhow::Error>,
    announced_interrupt: bool,
}

/// Hands the workers' messages on as events until every worker is done;
/// an engine error stops the run.
fn collect(
    shared: &Shared,
    receiver: &mpsc::Receiver<Message>,
    on_event: &mut impl FnMut(Event),
    progress: &mut Progress,
) {
    let plan = shared.plan;
    loop {
        let message = match receiver.recv_timeout(POLL) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if shared.interrupt.is_set() && !progress.announced_interrupt {
                    progress.announced_interrupt = true;
                    on_event(Event::Interrupting);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        match message {
            Message::Started(index) => on_event(Event::Started(&plan.jobs[index])),
            Message::Stderr(index, chunk) => on_event(Event::Stderr(&plan.jobs[index], &chunk)),
            Message::Stdout(index, chunk) => on_event(Event::Stdout(&plan.jobs[index], &chunk)),
            Message::Finished(result) => {
                on_event(Event::Finished(&result));
                let index = result.job.index;
                progress.finished[index] = Some(*result);
            }
            Message::EngineError(error) => {
                shared.no_new_jobs.store(true, Ordering::SeqCst);
                shared.abort.store(true, Ordering::SeqCst);
                progress.engine_error.get_or_insert(error);
            }
        }
    }
}

/// Removes the containers whose engine CLI did not end by itself (jobs
/// stopped by a deadline, an interruption or an engine error), and after an
/// interruption also any container with the run's label, in case one was
/// being created as we stopped.
fn remove_leftovers(engine: &Engine, plan: &Plan, created: &[String], interrupted: bool) -> Result<()> {
    if !created.is_empty() {
        // Named when the engine cannot remove them: the user can, later.
        engine
            .remove_containers(created)
            .with_context(|| format!("containers left: {}", created.join(", ")))?;
    }
    if interrupted {
        let label = format!("{}={}", crate::engine::RUN_LABEL, plan.container.run_id);
        let left = engine.containers_with_label(&label)?;
        if !left.is_empty() {
            engine.remove_containers(&left)?;
        }
    }
    Ok(())
}

fn work(shared: &Shared, sender: &mpsc::SyncSender<Message>) {
    loop {
        if shared.stopping() || shared.no_new_jobs.load(Ordering::SeqCst) {
            return;
        }
        let index = shared.next_job.fetch_add(1, Ordering::SeqCst);
        let Some(job) = shared.plan.jobs.get(index) else {
            return;
        };
        let _ = sender.send(Message::Started(index));
        match run_attempts(shared, job, sender) {
            Ok(Some(mut result)) => {
                if let Some(baseline) = &shared.plan.baseline {
                    baseline.judge(&mut result);
                }
                // Set here, before this worker looks for its next job.
                if result.tally() == Tally::Failed {
                    let failures = shared.failures.fetch_add(1, Ordering::SeqCst) + 1;
                    if shared.plan.max_failures.is_some_and(|most| failures >= most) {
                        shared.no_new_jobs.store(true, Ordering::SeqCst);
                    }
                }
                let _ = sender.send(Message::Finished(Box::new(result)));
            }
            Ok(None) => {}
            Err(error) => {
                let _ = sender.send(Message::EngineError(error));
                return;
            }
        }
    }
}

/// Runs a job `repeat` times, each run retried up to `retries` times while
/// it does not pass, one fresh container per attempt, and makes one result
/// of the attempts. `None` when the run was stopped before the job ended.
fn run_attempts(
    shared: &Shared,
    job: &Job,
    sender: &mpsc::SyncSender<Message>,
) -> Result<Option<ModuleResult>> {
    let plan = shared.plan;
    let mut attempts = Vec::new();
    for _ in 0..plan.repeat.max(1) {
        for _ in 0..=plan.retries {
            if !attempts.is_empty() && shared.stopping() {
                return Ok(None);
            }
            let Some(attempt) = run_job(shared, job, attempts.len() + 1, sender)? else {
                return Ok(None);
            };
            let again = attempt.wants_retry();
            attempts.push(attempt);
            if !again {
                break;
            }
        }
    }
    Ok(Some(repeat::combine(job.clone(), attempts, plan.tolerate_flaky)))
}

/// Runs one attempt of a job in its own container. `None` when it was
/// stopped before it ended.
fn run_job(
    shared: &Shared,
    job: &Job,
    attempt: usize,
    sender: &mpsc::SyncSender<Message>,
) -> Result<Option<Attempt>> {
    let plan = shared.plan;
    // The first attempt keeps the plain name; later ones add their number.
    let tag = if attempt == 1 { job.index.to_string() } else { format!("{}-{attempt}", job.index) };
    let setup = &plan.setups[&job.module];
    let timeout = setup.declarations.timeout_under(plan.timeout);
    let (spec, memray_folders) = job_container(plan, job, attempt, &tag, timeout)?;
    // The container ends itself at its deadline (and its memray summary at
    // its own); the runner's own is a backstop for an engine that does not
    // deliver that end.
    let summary = if memray_folders.is_some() { memray::SUMMARY_DEADLINE } else { Duration::ZERO };
    let Some(mut ran) = run_container(shared, job, &spec, &tag, timeout + summary + ENGINE_GRACE, sender)?
    else {
        return Ok(None);
    };
    let mut ending = ending(shared, job, setup, &spec, &mut ran, timeout)?;
    let memray = match &memray_folders {
        Some(folders) => {
            let recorded = memray_of(shared, job, &tag, folders, &spec, sender);
            folders.remove();
            match recorded {
                Ok(summary) => summary,
                Err(why) => {
                    // memray's output is the module's: bad content fails this module alone.
                    if ending.execution.tally() != Tally::Failed {
                        let why = Some(FailureCause::MemrayUnusable { problem: why });
                        ending.execution = Execution::Failed { exit_code: 0, why };
                    }
                    None
                }
            }
        }
        None => None,
    };
    Ok(Some(Attempt {
        number: attempt,
        execution: ending.execution,
        started_at: ran.started_at,
        duration: ran.duration,
        peak_rss_bytes: ending.peak_rss_bytes,
        container_peak_bytes: ending.container_peak_bytes,
        memory_limit_bytes: spec.memory.unwrap_or(plan.container.memory).bytes(),
        stdout: ran.stdout,
        stderr: ran.stderr,
        inner: ending.inner,
        memray,
        memory_series: ending.memory_series,
    }))
}

/// An attempt's container, and its memray folders with `--memray`.
fn job_container<'a>(
    plan: &'a Plan,
    job: &Job,
    attempt: usize,
    tag: &str,
    timeout: Duration,
) -> Result<(ContainerSpec<'a>, Option<memray::Folders>)> {
    let setup = &plan.setups[&job.module];
    let mut env = vec![(ATTEMPT_VARIABLE.to_string(), attempt.to_string())];
    env.extend(job.variant.python_malloc.map(|m| ("PYTHONMALLOC".to_string(), m.as_str().to_string())));
    let module_path = plan.tests_in_container.join(&job.module);
    // Without a --python matrix the image's own `python3` runs it.
    let interpreter = job.variant.python.map_or("python3", |p| p.interpreter());
    let environment =
        plan.environments.get(&job.image).filter(|e| !e.pytest_only || setup.harness == Harness::Pytest);
    let interpreter = environment.map_or(interpreter, |e| e.interpreter.as_str());
    if let Some(environment) = environment {
        env.splice(0..0, environment.env.iter().cloned());
    }
    // memray runs one tracker at a time: pytest-memray's, per test, for a file using its markers.
    let recording = plan
        .memray
        .as_ref()
        .map(|_| memray::Recording::of(setup.memray_markers, environment.is_some_and(|e| e.pytest_memray)));
    let mut spec = plan.container.container(
        format!("pymaccounter-{}-{tag}", plan.container.run_id),
        job.image.clone(),
        env,
        container_command(
            interpreter,
            &module_path,
            setup,
            &plan.module_args,
            recording,
            timeout,
            plan.verdict,
        ),
        plan.host_dirs.join(tag),
    );
    std::fs::create_dir_all(&spec.host_dir)?;
    if setup.uses_harness() && plan.verdict == VerdictChannel::File {
        spec.mounts.push(verdict_mount(&spec.host_dir)?);
        spec.max_file_bytes = Some(VERDICT_WRITE_CAP);
    }
    let memray_folders =
        plan.memray.as_ref().zip(recording).map(|(memray, r)| memray::Folders::of(&memray.work, tag, r));
    if let Some(folders) = &memray_folders {
        spec.mounts.push(memray::capture_mount(folders, &plan.container.user)?);
        spec.mounts.push(memray::summary_mount(&spec.host_dir)?);
        spec.max_file_bytes = Some(memray::CAPTURE_CAP);
    }
    spec.mounts.extend(environment.iter().flat_map(|e| e.mounts.iter().cloned()));
    spec.memory = Some(setup.declarations.memory_under(plan.container.memory));
    spec.input = Some(nonce()?);
    Ok((spec, memray_folders))
}

/// What a container printed and how its engine CLI ended.
struct Ran {
    stdout: Captured,
    stderr: Captured,
    status: std::process::ExitStatus,
    timed_out: bool,
    started_at: SystemTime,
    duration: Duration,
}

/// Runs a container to its end (or its deadline), capturing its output.
/// `None` when the run was stopped meanwhile.
fn run_container(
    shared: &Shared,
    job: &Job,
    spec: &ContainerSpec,
    tag: &str,
    timeout: Duration,
    sender: &mpsc::SyncSender<Message>,
) -> Result<Option<Ran>> {
    let plan = shared.plan;
    let (stdout_reader, stdout_writer) = std::io::pipe()?;
    let (stderr_reader, stderr_writer) = std::io::pipe()?;
    // The wrapper waits for its nonce before it starts the module: written
    // once the container is on its way and the images are confirmed.
    let (stdin_reader, mut stdin_writer) = match &spec.input {
        Some(_) => std::io::pipe().map(|(reader, writer)| (Some(reader), Some(writer)))?,
        None => (None, None),
    };
    let spill = |stream: &str| spill_path(&plan.spill_dir, tag, &job.module, stream);
    let (started_at, started) = (SystemTime::now(), Instant::now());
    let running = || shared.running.lock().unwrap_or_else(|e| e.into_inner());
    running().push(spec.name.clone());
    let handle = {
        // The expression owns the pipes' write ends: drop it once started so
        // the readers see the end of the streams when the container ends.
        let expression = shared
            .engine
            .run_command(spec, stdin_reader)
            .stdout_file(stdout_writer)
            .stderr_file(stderr_writer);
        expression.start().with_context(|| format!("cannot start `{}`", shared.engine.name()))?
    };
    let go = match &plan.image_check {
        Some(check) => check.holds(shared.engine),
        None => Ok(true),
    };
    match (&go, stdin_writer.as_mut(), &spec.input) {
        (Ok(true), Some(writer), Some(nonce)) => {
            // A wrapper that already ended (the engine failed) is told by its exit code.
            let _ = writeln!(writer, "{nonce}");
        }
        (Ok(true), ..) => {}
        _ => {
            // No nonce: the wrapper ends at once (125), the module never ran.
            shared.no_new_jobs.store(true, Ordering::SeqCst);
            shared.abort.store(true, Ordering::SeqCst);
        }
    }
    drop(stdin_writer);
    let (stdout, stderr, status, timed_out) = thread::scope(|scope| {
        let stdout_spill = spill("stdout");
        let live_stdout = plan.live_stdout;
        let stdout = scope.spawn(move || {
            capture(stdout_reader, stdout_spill, plan.spill_cap, |chunk| {
                if live_stdout {
                    let _ = sender.send(Message::Stdout(job.index, chunk.to_vec()));
                }
            })
        });
        let stderr_spill = spill("stderr");
        let live = plan.live_stderr;
        let stderr = scope.spawn(move || {
            capture(stderr_reader, stderr_spill, plan.spill_cap, |chunk| {
                if live {
                    let _ = sender.send(Message::Stderr(job.index, chunk.to_vec()));
                }
            })
        });
        let waited = wait_with_deadline(shared, &handle, &spec.name, started + timeout);
        if waited.is_err() {
            // The readers end only when the client does: stop it, or the
            // scope waits for a container nobody could remove.
            let _ = handle.kill();
        }
        let (status, timed_out, removed_by_us) = waited?;
        let engine_failed = status.code().is_some_and(|code| CANNOT_START_EXITS.contains(&code));
        if !removed_by_us && !engine_failed {
            // Ended by itself: `--rm` has removed it (the CLI waits for that);
            // one the engine could not start may be left created.
            running().retain(|name| name != &spec.name);
        }
        drop(handle);
        let stdout = stdout.join().expect("stdout reader panicked")?;
        let stderr = stderr.join().expect("stderr reader panicked")?;
        anyhow::Ok((stdout, stderr, status, timed_out))
    })?;
    go?;
    if shared.stopping() && !timed_out {
        return Ok(None);
    }
    Ok(Some(Ran { stdout, stderr, status, timed_out, started_at, duration: started.elapsed() }))
}

/// How an attempt ended, judged, and what it measured.
struct Ending {
    execution: Execution,
    peak_rss_bytes: Option<u64>,
    container_peak_bytes: Option<u64>,
    inner: Option<InnerReport>,
    /// Never judged: what the module's sampler said, untrusted, for the reports.
    memory_series: Option<MemorySeries>,
}

/// Reads the trailers off stderr (cgroup, the monitor, harness) and judges the
/// ending: facts first, then the module's harness and declarations.
fn ending(
    shared: &Shared,
    job: &Job,
    setup: &ModuleSetup,
    spec: &ContainerSpec,
    ran: &mut Ran,
    timeout: Duration,
) -> Result<Ending> {
    let exit_code = ran.status.code();
    let code = exit_code.unwrap_or(-1);
    let nonce = spec.input.as_deref().unwrap_or_default();
    let mut measurement = take_measurement(&mut ran.stderr, nonce, exit_code);
    if setup.uses_harness() && shared.plan.verdict == VerdictChannel::File {
        // Only the file counts (a verdict-like line on stderr is the
        // module's), and only when the wrapper reported: it writes the file
        // after everything else in the container was killed.
        let read = read_verdict(&spec.host_dir, nonce);
        measurement.inner = if measurement.ran { read.ok().flatten() } else { None };
    }
    let container_peak_bytes = measurement.container_peak_bytes;
    // The module's own time, from its start: a slow engine is not the module's.
    if let Some(elapsed) = measurement.elapsed {
        ran.duration = elapsed;
    }
    let timed_out = ran.timed_out || measurement.timed_out;
    let execution = if timed_out {
        Execution::TimedOut { after_secs: timeout.as_secs() }
    } else if CANNOT_START_EXITS.contains(&code) && !measurement.ran {
        // Only a container the wrapper never reported from is the engine's
        // failure: the first start stops the run (every other would fail alike).
        let said = ran.stderr.text();
        let runtime = ["OCI runtime", "oci runtime", "crun", "runc"].iter().any(|w| said.contains(w));
        let fix = if runtime {
            format!(
                "; the engine's OCI runtime cannot start containers here: see `{} info` for the runtime \
                 in use, and choose one that works on this machine (crun refuses cgroups v1 hybrid mode: runc does not)",
                shared.engine.name()
            )
        } else {
            String::new()
        };
        return Err(environment(format!("the engine could not run {}: {}{fix}", job.label(), said.trim())));
    } else {
        let oom_killed = oom_killed(code, &measurement, shared.engine.left_oom_marker(&spec.host_dir));
        classify(code, &measurement, oom_killed, container_peak_bytes)
    };
    let mut inner = measurement.inner.take();
    // The harness resets the high-water mark before each test (per-test
    // peaks), which lowers what the monitor reads at exit; it kept the mark
    // from before each reset. Their larger is the module's peak (a module
    // can only raise its own figure this way).
    let kept_by_harness = inner.as_mut().and_then(|i| i.peak_rss_bytes.take());
    measurement.peak_rss_bytes = measurement.peak_rss_bytes.map(|p| p.max(kept_by_harness.unwrap_or(0)));
    let blocks_counted = job.variant.python_malloc.is_none_or(|m| m.counts_blocks());
    // Judged on the larger peak: a module can lower its own high-water mark
    // (/proc/self/clear_refs), not its cgroup's.
    let judged_peak =
        measurement.peak_rss_bytes.map(|process| process.max(container_peak_bytes.unwrap_or(0)));
    let execution = judge(execution, setup, inner.as_ref(), judged_peak, blocks_counted);
    // Judged first: a harness that reported nothing is not excused by a summary line.
    let inner = inner.or_else(|| summary::read(&ran.stdout, &ran.stderr));
    let peak_rss_bytes = if timed_out { None } else { measurement.peak_rss_bytes };
    let memory_series = measurement.memory_series.take();
    Ok(Ending { execution, peak_rss_bytes, container_peak_bytes, inner, memory_series })
}

/// memray's summary of an attempt (made in its own container once the module
/// ended) and its flame graph, drawn here. `None` when memray recorded
/// nothing; an error is why this module's recording cannot be used.
fn memray_of(
    shared: &Shared,
    job: &Job,
    tag: &str,
    folders: &memray::Folders,
    spec: &ContainerSpec,
    sender: &mpsc::SyncSender<Message>,
) -> Result<Option<MemraySummary>, String> {
    let plan = shared.plan;
    let nonce = spec.input.as_deref().unwrap_or_default();
    let read = memray::read_summary(&spec.host_dir, nonce);
    if !memray::has_capture(folders) {
        return Ok(None);
    }
    let Some(recorded) = read? else { return Ok(None) };
    if plan.live_stderr && !recorded.notes.is_empty() {
        // memray's own words (its start-up warnings): for --debug, not the module's output.
        let notes: String = recorded.notes.iter().map(|n| format!("{n}\n")).collect();
        let _ = sender.send(Message::Stderr(job.index, notes.into_bytes()));
    }
    let mut summary = recorded.summary;
    let folder = plan.memray.as_ref().map(|m| &m.flamegraphs).expect("memray_of runs with --memray");
    let path = memray::flamegraph_path(folder, &job.label(), tag);
    let title =
        crate::report::words::flamegraph_title(&summary.flamegraph, &job.label(), summary.peak_memory_bytes);
    let own = plan.tests_in_container.join(&job.module);
    let page = flamegraph::svg(&title, &recorded.stacks, recorded.omitted_bytes, &own.to_string_lossy());
    memray::save_flamegraph(&path, &page)?;
    summary.flamegraph_path = Some(path);
    Ok(Some(summary))
}

/// Waits for the engine CLI to end; past the deadline, or when the run is
/// stopping, removes the container, which ends it. Returns (status, timed
/// out, whether it was removed from here).
fn wait_with_deadline(
    shared: &Shared,
    handle: &duct::Handle,
    container: &str,
    deadline: Instant,
) -> Result<(std::process::ExitStatus, bool, bool)> {
    let mut timed_out = false;
    let mut last_removal: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let slice =
            if last_removal.is_some() { POLL } else { deadline.saturating_duration_since(now).min(POLL) };
        if let Some(output) = handle.wait_timeout(slice)? {
            return Ok((output.status, timed_out, last_removal.is_some()));
        }
        let now = Instant::now();
        let must_stop = shared.stopping() || now >= deadline;
        // Asked again every second: a container still being created when the
        // first removal ran would otherwise be missed.
        let due = last_removal.is_none_or(|at| now - at >= Duration::from_secs(1));
        if must_stop && due {
            timed_out |= now >= deadline && !shared.stopping();
            shared.engine.remove_containers(&[container.to_string()])?;
            last_removal = Some(now);
        }
    }
}
