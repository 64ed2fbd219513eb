//! `cargo xtask run` and `run-all-tests`: check the input, get the images,
//! hand the jobs to the runner, let the reporters render what it emits.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cli::{BaselineArgs, FlakyResult, RunArgs, SelectionArgs};
use crate::engine::container::{ContainerTemplate, Mount};
use crate::engine::owner;
use crate::engine::{Engine, Fill};
use crate::error::{environment, usage, Interrupted};
use crate::harness::detect::Harness;
use crate::harness::{ModuleSetup, VerdictChannel, SCRATCH_DIR, TMP_DIR};
use crate::image::known::{self, ImageCheck, KnownImages};
use crate::image::{self, LocalImages, Recipe, TestImage};
use crate::keyword::Expression;
use crate::model::choice::Choice;
use crate::model::compare::{Baseline, Measured, MEASURES};
use crate::model::job::{self, Job, PythonVersion};
use crate::model::result::{ImageInfo, ModuleResult, Outcome, RunInfo};
use crate::model::schema::{JobRecord, Report, RunOption, RunRecord};
use crate::model::status::{Execution, SkipCause, Tally};
use crate::modules::{apply_skip, expand_selection, parse_selection, TestDir};
use crate::report::{self, github, human::Human, ReportContext, ReportPaths};
use crate::runner::capture;
use crate::runner::{self, MemrayPlan, Plan};
use crate::scratch::{TempDir, TempFile};
use crate::signals::Interrupt;

/// Runs the named modules, or every module when `tests` is `None`.
pub fn run(tests: Option<&[String]>, options: &RunArgs) -> Result<i32> {
    // Everything the user typed is checked before anything starts.
    let dir = TestDir::resolve(options.dir.test_dir.as_deref())?;
    check_test_dir_path(&dir)?;
    let selected = select_modules(tests, &dir, &options.selection)?;
    selected.print_notes();
    check_options(options, &dir)?;
    let prepared = prepare(selected.modules, &dir, options)?;
    if prepared.modules.is_empty() {
        // Only a partition can be empty (an empty test dir is refused above).
        let partition = options.selection.partition.map(|p| p.to_string()).unwrap_or_default();
        say!("note: partition {partition} holds no module");
        let mut outcome = Outcome::empty(owner::new_run_id());
        outcome.run = RunInfo { args: given_args(), host_cpus: available_cpus(), ..RunInfo::default() };
        let human = Human::new(&dir.display, options.output.showing(false), 0);
        return finish(&outcome, options, &dir, &human);
    }

    // From here on Ctrl-C and SIGTERM stop the task in order: an image build
    // is stopped and its layers removed (exit 130); a run's containers are
    // removed and its summary printed.
    let interrupt = Interrupt::install()?;
    let engine = crate::tasks::engine(&options.engine)?;
    check_engine(&engine, options)?;
    run_selected(&engine, &dir, prepared, options, &interrupt).map(|round| round.code)
}

/// A run's modules with what was read from them before anything starts:
/// whom they run as, each one's harness and declarations, the baseline.
pub struct Prepared {
    modules: Vec<String>,
    user: ContainerUser,
    setups: HashMap<String, ModuleSetup>,
    baseline: Option<Baseline>,
    project: Option<super::project::ProjectPlan>,
}

/// Reads the modules' sources and the baseline (bad ones → usage errors naming them).
pub fn prepare(modules: Vec<String>, dir: &TestDir, options: &RunArgs) -> Result<Prepared> {
    let user = ContainerUser::for_test_dir(dir)?;
    let setups = module_setups(&modules, dir, &user, options)?;
    let baseline = read_baseline(&options.baseline, &modules)?;
    let markers = setups.values().any(|s| s.memray_markers);
    let project = super::project::plan(dir, options, markers)?;
    Ok(Prepared { modules, user, setups, baseline, project })
}

/// What can only be checked once the engine is known.
pub fn check_engine(engine: &Engine, options: &RunArgs) -> Result<()> {
    if options.harness.memray && engine.is_remote()? {
        return Err(usage(
            "--memray writes memray's recording to this machine's disk: it needs a local engine",
        ));
    }
    Ok(())
}

/// One run of prepared modules, as `run` makes it and `watch` makes it every
/// round: the images, the runner, each module's block as it finishes, the
/// summary and the reports; returns the exit code. An engine error comes
/// back as the error, after the summary.
/// What one run (a round of `watch`) ended with: its exit code, and how
/// each job counted, by its label.
pub struct Round {
    pub code: i32,
    pub tallies: Vec<(String, Tally)>,
}

pub fn run_selected(
    engine: &Engine,
    dir: &TestDir,
    prepared: Prepared,
    options: &RunArgs,
    interrupt: &Interrupt,
) -> Result<Round> {
    let modules = prepared.modules.clone();
    match run_prepared(engine, dir, prepared, options, interrupt, true)? {
        Some(round) => Ok(round),
        // The images remembered were not the right ones any more (no module
        // started): once more, asking the engine first.
        None => {
            let prepared = prepare(modules, dir, options)?;
            let round = run_prepared(engine, dir, prepared, options, interrupt, false)?;
            Ok(round.expect("a run that asks the engine first guesses nothing"))
        }
    }
}

/// `run_selected`, guessing the images when `guess`: `None` when the guess
/// was wrong and nothing ran.
fn run_prepared(
    engine: &Engine,
    dir: &TestDir,
    prepared: Prepared,
    options: &RunArgs,
    interrupt: &Interrupt,
    guess: bool,
) -> Result<Option<Round>> {
    let Prepared { modules, user, setups, baseline, project } = prepared;
    check_memory_is_limited(engine, options, &setups)?;
    let run_id = owner::new_run_id();
    engine.attach_run(&run_id);
    // Without a project, the runner's tools (pytest, memray) come from the
    // index when the run needs one; a remote engine cannot mount them, and
    // keeps the base's own.
    let tools = match project.is_none() && !engine.is_remote()? {
        true => {
            let pytest_modules = setups.values().any(|s| s.harness == Harness::Pytest);
            super::project::tools_plan(options, pytest_modules)
        }
        false => None,
    };
    // Guessed only where nothing else is made from the images before the
    // modules start (a project's environment, a remote engine's copy); a
    // tools environment only when it is built already (read from disk).
    let guess = guess && project.is_none() && !engine.is_remote()?;
    let (mut jobs, mut images, mut image_check) = jobs_with_images(engine, &modules, options, guess)?;
    if image_check.is_some() && tools.as_ref().is_some_and(|t| !super::project::tools_ready(t, &images)) {
        // Building it needs the images the engine confirms: asked first.
        (jobs, images, image_check) = jobs_with_images(engine, &modules, options, false)?;
    }
    // The project's environments bring pytest from the index; without one
    // the tools environment does; else the image must have it.
    let environments = match (&project, &tools) {
        (Some(project), _) => super::project::environments(engine, project, &images)?,
        (None, Some(tools)) => {
            let has_pytest = |image: &TestImage| -> Result<bool> {
                Ok(image.on_offline_base()
                    || engine.image_runs(&image.reference, &["python3", "-c", "import pytest"])?)
            };
            super::project::tools_environments(engine, tools, &images, has_pytest)?
        }
        (None, None) => {
            check_images_have_pytest(engine, &jobs, &images, &setups)?;
            super::project::Environments::default()
        }
    };
    // A remote engine's volumes of the run go when it ends, however it ends.
    let mut volumes = RunVolumes { engine, names: environments.volumes.clone() };
    // Jobs of a Python the project does not support are skipped, not run;
    // so are scripts whose path -k does not select (they have no tests to pass it to).
    let keyword = options.selection.keyword.as_deref().map(Expression::parse).transpose().map_err(usage)?;
    let deselected = |job: &Job| setups[&job.module].deselected_by(keyword.as_ref(), &job.module);
    let (mut skipped, mut jobs): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|j| environments.refused.contains_key(&j.image) || deselected(j));
    // The runner indexes its jobs from 0: those that run first, then the skipped.
    for (index, job) in jobs.iter_mut().chain(skipped.iter_mut()).enumerate() {
        job.index = index;
    }
    if jobs.is_empty() && skipped.iter().all(|j| environments.refused.contains_key(&j.image)) {
        return Err(usage("the project's requires-python leaves out every Python of the run"));
    }
    if jobs.is_empty() {
        return Err(usage("-k selects no module: nothing would run"));
    }
    // Report headers cost engine calls: asked only when a report file will show them.
    let mut info = match report::requested(&options.reports.paths()).is_empty() {
        true => RunInfo::default(),
        false => run_info(engine, &images, !options.isolation.base.base_image.is_empty()),
    };
    for image in &mut info.images {
        if let Some((_, installed)) = environments.ready.get(&image.reference) {
            image.packages = installed.packages.clone();
        }
    }
    if interrupt.is_set() {
        return Err(Interrupted("getting the test images".into()).into());
    }
    let runs_dir = crate::project_root().join(capture::RUNS_DIR);
    if let Err(error) = capture::prune_runs(&runs_dir, capture::KEEP_RUNS, owner::run_is_alive) {
        say!("warning: {error:#}");
    }
    let host_dirs = TempDir::new(&format!("{}{run_id}-", owner::TEMP_PREFIX))?;
    let tests = tests_mount(engine, dir, &run_id, &jobs[0].image)?;
    if let Mount::Volume { name, .. } = &tests {
        volumes.names.push(name.clone());
    }
    let root = match &project {
        Some(plan) => Some(super::project::root_mount(engine, plan, &run_id, &jobs[0].image)?),
        None => None,
    };
    if let Some(Mount::Volume { name, .. }) = &root {
        volumes.names.push(name.clone());
    }
    if let Some(baseline) = &baseline {
        let new = jobs.iter().filter(|j| !baseline.has(&JobRecord::of(j))).count();
        if new > 0 {
            say!("note: {new} of {} job(s) have no result in the baseline", jobs.len());
        }
    }
    let names = user.account_files(host_dirs.path(), engine.is_remote()?)?;
    let placement =
        Placement { tests: tests.clone(), project: root, user, host_dirs: host_dirs.path().to_path_buf() };
    let mut plan = plan(jobs, setups, placement, options, run_id, baseline);
    plan.container.mounts.extend(names);
    plan.environments = environments.ready.into_iter().map(|(image, (job, _))| (image, job)).collect();
    plan.image_check = image_check;
    say!("run {}: {} job(s), {} at a time", plan.container.run_id, plan.jobs.len(), plan.parallelism);
    let mut human = Human::new(&dir.display, options.output.showing(options.engine.debug), plan.jobs.len());
    let mut outcome = runner::execute(engine, &plan, interrupt, |event| human.event(&event));
    if plan.image_check.as_ref().is_some_and(ImageCheck::failed) {
        return Ok(None);
    }
    outcome.run = info;
    for job in skipped {
        let why = match environments.refused.get(&job.image) {
            Some(requires_python) => {
                SkipCause::PythonNotSupported { requires_python: requires_python.clone() }
            }
            None => {
                SkipCause::Deselected { expression: options.selection.keyword.clone().unwrap_or_default() }
            }
        };
        outcome.results.push(ModuleResult::not_run(job, Execution::Skipped { why: Some(why) }));
    }
    let names = std::mem::take(&mut volumes.names);
    // Said with the run's other engine trouble, after its reports are written.
    if let Err(error) = engine.remove_volumes(&names) {
        let names = names.join(", ");
        let left = format!("volume left: {names}: {error:#}");
        outcome.engine_error = Some(match outcome.engine_error.take() {
            Some(first) => first.context(left),
            None => error.context(format!("volume left: {names}")),
        });
    }
    let code = finish(&outcome, options, dir, &human)?;
    match outcome.engine_error {
        Some(error) if outcome.interrupted => {
            let id = &outcome.run_id;
            // Exit 130 whatever the engine did: the user asked to stop, and was answered.
            Err(crate::error::Abandoned(format!(
                "run {id} interrupted while the engine did not answer: {error:#}; once it answers, \
                 `cargo xtask clean --run {id}` removes what the run left"
            ))
            .into())
        }
        Some(error) => {
            let id = &outcome.run_id;
            Err(error.context(format!(
                "run {id} stopped: the engine failed; once it answers again, `cargo xtask clean --run {id}` \
                 removes what the run left"
            )))
        }
        None => {
            let tallies = outcome.results.iter().map(|r| (r.job.label(), r.tally())).collect();
            Ok(Some(Round { code, tallies }))
        }
    }
}

/// A memory limit the engine would not enforce is an environment failure,
/// before anything starts: the module would run unbounded on the host.
fn check_memory_is_limited(
    engine: &Engine,
    options: &RunArgs,
    setups: &HashMap<String, ModuleSetup>,
) -> Result<()> {
    let mut declared: Vec<&str> = setups
        .iter()
        .filter(|(_, s)| s.declarations.memory.is_some_and(|m| m.bytes().is_some()))
        .map(|(module, _)| module.as_str())
        .collect();
    declared.sort_unstable();
    if (options.isolation.memory.bytes().is_none() && declared.is_empty())
        || !engine.ignores_memory_limits()?
    {
        return Ok(());
    }
    let mut ways = Vec::new();
    if options.isolation.memory.bytes().is_some() {
        ways.push("with --memory none".to_string());
    }
    if !declared.is_empty() {
        ways.push(format!("without the `memory` declaration of {}", declared.join(", ")));
    }
    let unless = format!("{} to run without a limit", ways.join(" and "));
    Err(environment(format!(
        "{} cannot limit a container's memory here (rootless, on cgroups v1): run as root, on a \
         cgroups v2 host, with --engine docker, or {unless}",
        engine.name()
    )))
}

/// The options no flag parser can check alone, checked before anything starts.
pub fn check_options(options: &RunArgs, dir: &TestDir) -> Result<()> {
    let reports = options.reports.paths();
    check_reports(&reports)?;
    check_report_targets(&reports, Some(&dir.path), options.baseline.baseline.as_deref())?;
    check_matrix(options)
}

/// The test dir is mounted at its own path in each container: a newline in
/// it cannot be said to the engine, and a dir the containers' own scratch
/// folders would cover (`/tmp`, `/scratch`, or a folder holding them) would
/// be hidden there.
pub fn check_test_dir_path(dir: &TestDir) -> Result<()> {
    let path = std::fs::canonicalize(&dir.path).unwrap_or_else(|_| dir.path.clone());
    let shown = crate::sanitize::terminal_line(&dir.display).into_owned();
    if path.to_string_lossy().contains(['\n', '\r']) {
        return Err(usage(format!("test dir {shown}: its path holds a line break, which the engine's mount syntax cannot carry: rename it")));
    }
    if let Some(covered) =
        [SCRATCH_DIR, TMP_DIR].into_iter().find(|scratch| Path::new(scratch).starts_with(&path))
    {
        return Err(usage(format!(
            "test dir {shown}: the containers' own {covered} (fresh scratch space) would hide it: \
             put the tests in a folder of their own (e.g. `mktemp -d`)"
        )));
    }
    Ok(())
}

/// The matrix must name each version and allocator once, and a single
/// `--base-image` can serve one version only.
fn check_matrix(options: &RunArgs) -> Result<()> {
    let matrix = &options.matrix;
    for (position, python) in matrix.python.iter().enumerate() {
        if matrix.python[..position].contains(python) {
            return Err(usage(format!("--python names {python} twice")));
        }
    }
    for (position, malloc) in matrix.python_malloc.iter().enumerate() {
        if matrix.python_malloc[..position].contains(malloc) {
            return Err(usage(format!("--python-malloc names {} twice", malloc.as_str())));
        }
    }
    let bases = &options.isolation.base;
    let plain_bases = bases.base_image.iter().filter(|b| b.version.is_none()).count();
    if plain_bases > 1 || (plain_bases == 1 && matrix.python.len() > 1) {
        return Err(usage(
            "a --base-image without a version serves one Python: for a matrix, give one per version \
             (--base-image 3.11=IMAGE --base-image 3.13=IMAGE2)",
        ));
    }
    for base in bases.base_image.iter().filter_map(|b| b.version) {
        let runs =
            matrix.python.contains(&base) || (matrix.python.is_empty() && base == PythonVersion::DEFAULT);
        if !runs {
            return Err(usage(format!("--base-image {base}=…: Python {base} is not in --python")));
        }
    }
    let versions: Vec<PythonVersion> =
        if matrix.python.is_empty() { vec![PythonVersion::DEFAULT] } else { matrix.python.clone() };
    let with = |has: fn(&crate::model::pythons::Python) -> bool| -> Vec<&str> {
        crate::model::pythons::PYTHONS.iter().filter(|p| has(p)).map(|p| p.name).collect()
    };
    for version in &versions {
        if version.row().is_none() && bases.for_version(*version).is_none() {
            return Err(usage(format!(
                "Python {version} has no offline base here ({} do): give its base with --base-image {version}=IMAGE",
                crate::model::pythons::names()
            )));
        }
        if let Some(malloc) = matrix
            .python_malloc
            .iter()
            .find(|m| m.needs_mimalloc() && !version.row().is_some_and(|r| r.mimalloc))
        {
            return Err(usage(format!(
                "--python-malloc {}: Python {version} has no mimalloc (CPython 3.13 and later do: {})",
                malloc.as_str(),
                with(|p| p.mimalloc).join(", ")
            )));
        }
    }
    Ok(())
}

/// The modules a run takes, and what the user should hear about the choice.
pub struct Selected {
    pub modules: Vec<String>,
    /// Warnings (a `--skip` that matched nothing, names that are not UTF-8) and notes, one line each.
    pub notes: Vec<String>,
}

impl Selected {
    pub fn print_notes(&self) {
        for note in &self.notes {
            say!("{note}");
        }
    }
}

/// The modules to run: those named (checked, globs expanded) or all, less
/// those `--skip` matches, then the partition's share.
pub fn select_modules(
    tests: Option<&[String]>,
    dir: &TestDir,
    selection: &SelectionArgs,
) -> Result<Selected> {
    let mut notes = Vec::new();
    let modules = match tests {
        Some(args) => expand_selection(&parse_selection(args)?, dir)?,
        None => {
            for name in dir.non_utf8_modules()? {
                let path = dir.shown(&name);
                notes.push(format!(
                    "warning: {}: not run, its file name is not valid UTF-8 (rename it)",
                    crate::sanitize::terminal_line(&path)
                ));
            }
            for name in dir.outside_links()? {
                notes.push(format!(
                    "warning: {}: not run, it links to a file outside the test dir, which the containers \
                     do not see (copy the file in)",
                    crate::sanitize::terminal_line(&dir.shown(&name))
                ));
            }
            dir.test_modules()?
        }
    };
    if modules.is_empty() {
        return Err(usage(format!("no test_*.py modules in {}", dir.display)));
    }
    let before = modules.len();
    let (modules, warnings) = apply_skip(modules, &selection.skip);
    notes.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
    if modules.is_empty() {
        return Err(usage("--skip leaves no module to run"));
    }
    if modules.len() < before {
        notes.push(format!("note: --skip leaves out {} module(s)", before - modules.len()));
    }
    let modules = match selection.last_failed {
        true => last_failed(dir, modules, &mut notes),
        false => modules,
    };
    let modules = match selection.partition {
        Some(partition) => partition.select(&modules),
        None => modules,
    };
    Ok(Selected { modules, notes })
}

/// Where a test dir's last run left the modules that did not pass.
fn last_failed_file(dir: &TestDir) -> Option<std::path::PathBuf> {
    let canonical = dir.path.canonicalize().ok()?;
    let key = xxhash_rust::xxh3::xxh3_64(canonical.as_os_str().as_encoded_bytes());
    Some(crate::project_root().join(format!("target/pymaccounter/last-failed/{key:016x}.json")))
}

/// `--last-failed`: the modules of `modules` that did not pass last time, or
/// all of them (saying so) when none failed or no run was remembered.
fn last_failed(dir: &TestDir, modules: Vec<String>, notes: &mut Vec<String>) -> Vec<String> {
    let remembered: Vec<String> = last_failed_file(dir)
        .and_then(|file| std::fs::read(file).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let failed: Vec<String> = modules.iter().filter(|m| remembered.contains(m)).cloned().collect();
    if failed.is_empty() {
        notes.push("note: --last-failed: nothing failed last time; running every selected module".into());
        return modules;
    }
    notes.push(format!("note: --last-failed: {} module(s) did not pass last time", failed.len()));
    failed
}

/// Remembers which modules of a run did not pass, for the next `--last-failed`:
/// a module that passed now is forgotten, one that did not run is kept.
fn remember_failures(dir: &TestDir, outcome: &Outcome) {
    let Some(file) = last_failed_file(dir) else { return };
    let mut failed: Vec<String> =
        std::fs::read(&file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    for result in &outcome.results {
        failed.retain(|m| *m != result.job.module);
    }
    for result in outcome.results.iter().filter(|r| r.tally() == Tally::Failed) {
        failed.push(result.job.module.clone());
    }
    failed.extend(outcome.not_run.iter().map(|j| j.module.clone()));
    failed.sort();
    failed.dedup();
    if let Some(folder) = file.parent() {
        let _ = std::fs::create_dir_all(folder);
    }
    let _ = std::fs::write(&file, serde_json::to_vec(&failed).unwrap_or_default());
}

/// nobody's uid, which every image names.
const NOBODY_UID: u32 = 65534;

/// Who the modules run as: the owner of the test dir, as if they ran their
/// own tests, root included (with every capability dropped, root is bound by
/// file modes like any user: a dir `mktemp -d` made for root just runs).
struct ContainerUser {
    uid: u32,
    gid: u32,
}

impl ContainerUser {
    fn for_test_dir(dir: &TestDir) -> Result<ContainerUser> {
        let metadata = std::fs::metadata(&dir.path)?;
        let user = ContainerUser { uid: metadata.uid(), gid: metadata.gid() };
        user.check_can_read(&dir.path, &dir.display, 0o5)?;
        Ok(user)
    }

    fn id(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    /// `/etc/passwd` and `/etc/group` naming this user, mounted over the
    /// image's when the image cannot know it (any uid but root's and
    /// nobody's): a module calling `pwd.getpwuid(os.getuid())`, as
    /// CPython's own tests do, finds its user as it would on its host. None
    /// for a remote engine, which cannot see these files.
    fn account_files(&self, folder: &Path, remote: bool) -> Result<Vec<Mount>> {
        if remote || [0, NOBODY_UID].contains(&self.uid) {
            return Ok(Vec::new());
        }
        let (uid, gid) = (self.uid, self.gid);
        let passwd = format!(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
             tester:x:{uid}:{gid}:the test dir's owner:/tmp:/bin/sh\n"
        );
        let mut group = "root:x:0:\nnogroup:x:65534:\n".to_string();
        if ![0, NOBODY_UID].contains(&gid) {
            group.push_str(&format!("tester:x:{gid}:\n"));
        }
        let mut mounts = Vec::new();
        for (name, text) in [("passwd", passwd), ("group", group)] {
            let source = folder.join(format!("etc-{name}"));
            std::fs::write(&source, text)?;
            std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o644))?;
            mounts.push(Mount::Bind { source, target: format!("/etc/{name}") });
        }
        Ok(mounts)
    }

    /// The permission bits (`r` = 4, `x` = 1) this user needs on `path`, or a usage error naming it.
    fn check_can_read(&self, path: &Path, shown: &str, needed: u32) -> Result<()> {
        let metadata = std::fs::metadata(path).map_err(|e| usage(format!("cannot read {shown}: {e}")))?;
        let mode = metadata.permissions().mode();
        let granted = if metadata.uid() == self.uid {
            mode >> 6
        } else if metadata.gid() == self.gid {
            mode >> 3
        } else {
            mode
        } & 0o7;
        if granted & needed == needed {
            return Ok(());
        }
        let what = if needed & 0o1 != 0 { "o+rx" } else { "o+r" };
        Err(usage(format!(
            "{shown} cannot be read by the containers' user {} (modules run as the test dir's owner, \
             with no capabilities): chmod {what} it",
            self.id()
        )))
    }
}

/// How each module runs: its harness and declarations, read from its source
/// (never run on the host). A module the container's user cannot read, or a
/// bad declaration, is a usage error naming the file.
fn module_setups(
    modules: &[String],
    dir: &TestDir,
    user: &ContainerUser,
    options: &RunArgs,
) -> Result<HashMap<String, ModuleSetup>> {
    let mut setups = HashMap::new();
    let pytest_project = dir.rules()?.pytest_project;
    for module in modules {
        let shown = dir.shown(module);
        let source = dir.read_module(module)?;
        user.check_can_read(&dir.path.join(module), &shown, 0o4)?;
        let (harness, hunt) = (options.harness.harness, options.harness.hunt_leaks);
        let mut setup = ModuleSetup::of(&source, &shown, harness, hunt, pytest_project)?;
        setup.keyword = options.selection.keyword.clone();
        setups.insert(module.clone(), setup);
    }
    Ok(setups)
}

/// pytest modules need pytest in their image: the offline bases have it
/// (Debian's python3-pytest); any other base is asked once, before the run.
fn check_images_have_pytest(
    engine: &Engine,
    jobs: &[Job],
    images: &[VersionImage],
    setups: &HashMap<String, ModuleSetup>,
) -> Result<()> {
    let offline =
        |reference: &str| images.iter().any(|(_, i)| i.reference == reference && i.on_offline_base());
    let mut asked: Vec<&str> = Vec::new();
    for job in jobs.iter().filter(|j| setups[&j.module].harness == Harness::Pytest) {
        if asked.contains(&job.image.as_str()) || offline(&job.image) {
            continue;
        }
        asked.push(&job.image);
        if !engine.image_runs(&job.image, &["python3", "-c", "import pytest"])? {
            return Err(crate::error::environment(format!(
                "{} runs under pytest, and the test image {} has no pytest: use an offline base \
                 (it has Debian's python3-pytest; `cargo xtask base-image`), or a --base-image with pytest \
                 installed, or --harness script",
                job.module, job.image
            )));
        }
    }
    Ok(())
}

/// A test image and the version `--python` asked of it (`None`: no `--python`).
type VersionImage = (Option<PythonVersion>, TestImage);

/// The test image of every Python version asked for, and the jobs running in them.
///
/// With `guess`, the images the last such run used are taken at once (when
/// remembered) and checked while the first containers start: the `ImageCheck`
/// that comes back holds the modules until the engine confirms them.
fn jobs_with_images(
    engine: &Engine,
    modules: &[String],
    options: &RunArgs,
    guess: bool,
) -> Result<(Vec<Job>, Vec<VersionImage>, Option<ImageCheck>)> {
    let recipe = Recipe::load()?;
    let versions: Vec<Option<PythonVersion>> = if options.matrix.python.is_empty() {
        vec![None]
    } else {
        options.matrix.python.iter().copied().map(Some).collect()
    };
    let wanted: known::Wanted = versions
        .iter()
        .map(|v| {
            let python = v.unwrap_or(PythonVersion::DEFAULT);
            (python, options.isolation.base.for_version(python).map(str::to_string))
        })
        .collect();
    let cache = crate::project::environment::cache_dir(options.project.cache_dir.as_deref());
    let known = KnownImages::new(&cache, engine, &recipe, &wanted);
    let (images, check) = match known.load(&wanted).filter(|_| guess) {
        Some(remembered) => {
            for ((python, base), image) in wanted.iter().zip(&remembered.images) {
                image::announce_fallback(engine, base.as_deref(), *python, image);
            }
            let images = remembered.images.clone();
            (images, Some(ImageCheck::new(recipe, wanted, remembered, known)))
        }
        None => {
            let local = LocalImages::read(engine)?;
            let mut images = Vec::new();
            for (python, base) in &wanted {
                images.push(image::ensure(engine, &recipe, &local, base.as_deref(), *python)?);
            }
            // Remembered only when the engine's list already shows them (not
            // just built or pulled): a guess the next check could not confirm is none.
            let listed = wanted.iter().zip(&images).all(|((python, base), image)| {
                image::decide(&recipe, &local, base.as_deref(), *python).as_ref() == Some(image)
            });
            if listed {
                known.store(&images, None);
            }
            (images, None)
        }
    };
    let by_version: Vec<(Option<PythonVersion>, String)> =
        versions.iter().zip(&images).map(|(v, image)| (*v, image.reference.clone())).collect();
    let jobs = job::expand(modules, &options.matrix.python_malloc, &by_version);
    Ok((jobs, versions.into_iter().zip(images).collect(), check))
}

/// What the reports' headers say about the run: the arguments as given, the
/// engine and its version, each test image with its base's id and the Python
/// version it runs, the host's CPUs. The version is the one `--python` named,
/// else the default version our bases are built for; only a `--base-image`
/// without `--python` is asked (`python3` in a throwaway container, once per
/// run). A question the engine does not answer leaves its field empty: the
/// header never stops a run.
fn run_info(engine: &Engine, images: &[VersionImage], explicit_base: bool) -> RunInfo {
    let images = images
        .iter()
        .map(|(version, image)| {
            let python = match (version, explicit_base) {
                (Some(version), _) => Some(version.to_string()),
                (None, false) => Some(PythonVersion::DEFAULT.to_string()),
                (None, true) => engine.python_version(&image.reference).ok().flatten(),
            };
            ImageInfo {
                python,
                reference: image.reference.clone(),
                base: image.base.clone(),
                base_id: engine.image_id(&image.base).ok().flatten(),
                packages: Vec::new(),
            }
        })
        .collect();
    RunInfo {
        args: given_args(),
        engine: engine.name().to_string(),
        engine_version: engine.server_version().ok().filter(|v| !v.is_empty()),
        images,
        host_cpus: available_cpus(),
    }
}

/// The command line after the program's name, as typed (cargo's alias adds nothing).
fn given_args() -> Vec<String> {
    std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect()
}

/// The volumes a run made for a remote engine, removed when dropped (a run
/// that stops before its end); its end takes them and says what stayed.
struct RunVolumes<'a> {
    engine: &'a Engine,
    names: Vec<String>,
}

impl Drop for RunVolumes<'_> {
    fn drop(&mut self) {
        let _ = self.engine.remove_volumes(&self.names);
    }
}

/// How the test dir reaches the containers: mounted where it is on the host
/// (so absolute symlinks inside it and paths in tracebacks read as there),
/// or, for an engine that cannot see this host, copied once into a volume.
fn tests_mount(engine: &Engine, dir: &TestDir, run_id: &str, image: &str) -> Result<Mount> {
    let tests = dir.path.canonicalize()?;
    let target = tests.to_string_lossy().into_owned();
    if !engine.is_remote()? {
        return Ok(Mount::Bind { source: tests, target });
    }
    let name = owner::test_dir_volume(run_id);
    let labels = engine.volume_labels();
    say!("note: the engine is remote; copying {} into the volume {name}", dir.display);
    engine.volume_filled(&name, Fill::Whole(&tests), image, &labels)?;
    Ok(Mount::Volume { name, target })
}

fn mount_target(mount: &Mount) -> &str {
    match mount {
        Mount::Bind { target, .. }
        | Mount::Volume { target, .. }
        | Mount::Output { target, .. }
        | Mount::VolumeOutput { target, .. } => target,
    }
}

/// The project root's mount, then the test dir's; the root's alone when the
/// test dir is the project root (a flat project with its test files at the
/// top), which the engine would refuse as a duplicate mount point.
fn tree_mounts(project: Option<Mount>, tests: Mount) -> Vec<Mount> {
    match project {
        Some(root) if mount_target(&root) == mount_target(&tests) => vec![root],
        root => root.into_iter().chain([tests]).collect(),
    }
}

/// Where and as whom the modules run.
struct Placement {
    tests: Mount,
    /// The project root, when there is one.
    project: Option<Mount>,
    user: ContainerUser,
    host_dirs: PathBuf,
}

fn plan(
    jobs: Vec<Job>,
    setups: HashMap<String, ModuleSetup>,
    placement: Placement,
    options: &RunArgs,
    run_id: String,
    baseline: Option<Baseline>,
) -> Plan {
    let Placement { tests, project, user, host_dirs } = placement;
    let tests_in_container = PathBuf::from(mount_target(&tests));
    // The tests are in a volume exactly when the engine is remote, which
    // cannot mount a host file either.
    let verdict = match &tests {
        Mount::Bind { .. } | Mount::Output { .. } => VerdictChannel::File,
        Mount::Volume { .. } | Mount::VolumeOutput { .. } => VerdictChannel::Stderr,
    };
    let container = ContainerTemplate {
        network: options.isolation.network.clone(),
        memory: options.isolation.memory,
        user: user.id(),
        mounts: tree_mounts(project, tests),
        scratch_dirs: vec![SCRATCH_DIR.to_string(), TMP_DIR.to_string()],
        env: options.isolation.env.clone(),
        owner: owner::this_process(),
        run_id,
    };
    let run_dir = crate::project_root().join(capture::RUNS_DIR).join(&container.run_id);
    let memray_work = run_dir.join("memray");
    Plan {
        parallelism: options.execution.jobs.map_or_else(available_cpus, usize::from),
        timeout: Duration::from_secs(options.isolation.timeout),
        max_failures: options.execution.max_failures(),
        spill_dir: run_dir,
        live_stderr: options.engine.debug || options.output.no_capture,
        live_stdout: options.output.no_capture,
        host_dirs,
        tests_in_container,
        setups,
        module_args: options.module_args.clone(),
        spill_cap: options.output.max_output,
        verdict,
        memray: options.harness.memray.then(|| MemrayPlan {
            // Next to the reports (where the HTML report links them), else in the run's folder.
            flamegraphs: flamegraph_folder(options).unwrap_or_else(|| memray_work.clone()),
            work: memray_work,
        }),
        container,
        jobs,
        baseline,
        repeat: options.execution.repeat.into(),
        retries: options.execution.retries.into(),
        tolerate_flaky: options.execution.flaky_result == FlakyResult::Pass,
        environments: HashMap::new(),
        image_check: None,
    }
}

/// Where `--memray`'s flame graphs go when a report is asked for: `memray/`
/// next to the first report (the HTML report links them there).
pub fn flamegraph_folder(options: &RunArgs) -> Option<PathBuf> {
    report::requested(&options.reports.paths()).first().map(|(_, path)| {
        path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("memray")
    })
}

/// The `--baseline` report, read before anything starts (bad input → exit 2).
fn read_baseline(args: &BaselineArgs, modules: &[String]) -> Result<Option<Baseline>> {
    let Some(path) = &args.baseline else {
        if !args.gate.threshold.is_empty() || !args.gate.min_delta.is_empty() {
            return Err(usage(
                "--threshold and --min-delta judge against a baseline: add --baseline BASE.json",
            ));
        }
        return Ok(None);
    };
    // Each result kept as a small record, as compare reads it; the series
    // only of the modules this run runs (the baseline's curve is drawn
    // beside theirs), so a baseline of 160,000 results costs little.
    let running: std::collections::HashSet<&str> = modules.iter().map(String::as_str).collect();
    let mut results = Vec::new();
    Report::read_skimmed(path, &|module| running.contains(module), |record| {
        results.push(Measured::from(record));
        Ok(())
    })?;
    crate::model::compare::check_ranges(&results)
        .map_err(|e| usage(format!("--baseline {}: {e}", path.display())))?;
    let baseline = Baseline::new(results, args.gate.gate())
        .map_err(|e| usage(format!("--baseline {}: {e}", path.display())))?;
    Ok(Some(baseline))
}

/// Annotations, the summary (its closing line last on stdout), the report files; the exit code.
fn finish(outcome: &Outcome, options: &RunArgs, dir: &TestDir, human: &Human) -> Result<i32> {
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        for line in github::annotations(outcome, &dir.display) {
            out!("{line}");
        }
    }
    human.summary(outcome);
    remember_failures(dir, outcome);
    let run = run_record(options, dir);
    let context = ReportContext { test_dir: &dir.display, run: Some(&run), wholes: None };
    write_reports(outcome, &options.reports.paths(), &context)?;
    if outcome.selected_nothing() {
        let expression = options.selection.keyword.as_deref().unwrap_or_default();
        say!("error: -k '{expression}' selects no test of any module");
    }
    Ok(outcome.exit_code())
}

/// The options that decide what ran and how it was judged, as given with
/// defaults filled in (not -j, --fail-fast, --debug, the engine or report
/// paths), and the partition: shards of one run agree on all but the partition.
fn run_record(options: &RunArgs, dir: &TestDir) -> RunRecord {
    use serde_json::{json, Value};
    fn names<T: ToString>(values: &[T]) -> Value {
        json!(values.iter().map(T::to_string).collect::<Vec<_>>())
    }
    let isolation = &options.isolation;
    let mut given: Vec<(RunOption, Value)> = vec![
        (RunOption::TestDir, json!(dir.display)),
        (
            RunOption::PythonMalloc,
            json!(options.matrix.python_malloc.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
        ),
        (RunOption::Python, names(&options.matrix.python)),
        (RunOption::Timeout, json!(isolation.timeout)),
        (RunOption::Memory, json!(isolation.memory.bytes())),
        (RunOption::Network, json!(isolation.network)),
        (RunOption::BaseImage, json!(isolation.base.describe())),
        (RunOption::Repeat, json!(options.execution.repeat)),
        (RunOption::Retries, json!(options.execution.retries)),
        (RunOption::FlakyResult, json!(options.execution.flaky_result.name())),
        (RunOption::Skip, names(&options.selection.skip)),
        (RunOption::Harness, json!(options.harness.harness.name())),
        (RunOption::HuntLeaks, json!(options.harness.hunt_leaks.map(|h| h.to_string()))),
        (RunOption::Memray, json!(options.harness.memray)),
        (RunOption::Keyword, json!(options.selection.keyword)),
    ];
    if let Some(baseline) = &options.baseline.baseline {
        let gate = options.baseline.gate.gate();
        let measures: serde_json::Map<String, Value> = MEASURES
            .iter()
            .map(|m| {
                (m.id.key().to_string(), json!({"threshold": gate.threshold(m), "floor": gate.floor(m)}))
            })
            .collect();
        given.push((RunOption::Baseline, json!(baseline.display().to_string())));
        given.push((RunOption::Gate, Value::Object(measures)));
    }
    RunRecord {
        partition: options.selection.partition.map(|p| p.to_string()),
        options: given.into_iter().collect(),
        ..RunRecord::default()
    }
}

/// Every file and CI report asked for; each is written even when the run failed.
pub fn write_reports(outcome: &Outcome, reports: &ReportPaths, context: &ReportContext) -> Result<()> {
    let mut failures = Vec::new();
    for (report, path) in report::requested(reports) {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let written = parent.map_or(Ok(()), std::fs::create_dir_all).map_err(anyhow::Error::from);
        // One report that cannot be written does not stop the others.
        if let Err(error) = written.and_then(|()| (report.write)(outcome, context, path)) {
            failures.push(format!("--{} {}: {error:#}", report.flag, path.display()));
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        if let Err(error) = github::append_step_summary(outcome, context.test_dir, Path::new(&path)) {
            failures.push(format!("step summary: {error:#}"));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => {
            Err(crate::error::environment(format!("some reports were not written:\n{}", failures.join("\n"))))
        }
    }
}

/// Checks, before anything runs, that each report can be written where asked.
pub fn check_reports(reports: &ReportPaths) -> Result<()> {
    for (report, path) in report::requested(reports) {
        check_writable(report.flag, path)?;
    }
    Ok(())
}

/// Where a report path really writes: its folder made absolute and links in
/// it resolved, so that two spellings of one file compare equal.
fn report_target(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    match std::fs::read_link(path) {
        // A link within its own folder (the only kind check_writable lets through).
        Ok(target) => folder.join(target.file_name().map(PathBuf::from).unwrap_or(name)),
        Err(_) => folder.join(name),
    }
}

/// No report overwrites a module of the test dir, another report, or the
/// baseline it is judged against: each is refused before anything starts.
pub fn check_report_targets(
    reports: &ReportPaths,
    test_dir: Option<&Path>,
    baseline: Option<&Path>,
) -> Result<()> {
    let test_dir = test_dir.and_then(|dir| std::fs::canonicalize(dir).ok());
    let baseline = baseline.map(report_target);
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for (report, path) in report::requested(reports) {
        let refuse = |why: String| usage(format!("--{} {}: {why}", report.flag, path.display()));
        let target = report_target(path);
        if let Some((other, _)) = seen.iter().find(|(_, t)| *t == target) {
            return Err(refuse(format!("--{other} writes the same file: give each report its own path")));
        }
        if baseline.as_ref() == Some(&target) {
            return Err(refuse(
                "is the --baseline file the run is judged against: write the report elsewhere".into(),
            ));
        }
        let in_test_dir = test_dir.as_ref().is_some_and(|dir| target.starts_with(dir));
        if in_test_dir && target.extension().is_some_and(|e| e == "py") {
            return Err(refuse("is a module of the test dir, which a run never edits".into()));
        }
        seen.push((report.flag, target));
    }
    Ok(())
}

/// A report path must name a file in a directory that exists or can be made,
/// and not be a link out of that directory (the report would land elsewhere).
fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let refuse = |why: String| usage(format!("--{flag} {}: {why}", path.display()));
    if let Ok(target) = std::fs::read_link(path) {
        let within = target.components().count() == 1 && target.file_name().is_some();
        if !within {
            return Err(refuse(format!(
                "is a symbolic link to {}: a report is written only in its own folder",
                target.display()
            )));
        }
    }
    if path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir() {
        return Err(refuse("is a directory; name a file".into()));
    }
    let parent: PathBuf = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("."),
    };
    // The nearest folder that exists decides: it must be a writable directory.
    let mut existing = parent.as_path();
    while !existing.exists() {
        existing = match existing.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(up) => up,
            None => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(refuse(format!("{} is not a directory", existing.display())));
    }
    let probe = TempFile::new_in(existing, ".pymaccounter-probe-");
    if let Err(error) = probe {
        return Err(refuse(format!("cannot write in {}: {error}", existing.display())));
    }
    if path.exists() && std::fs::OpenOptions::new().append(true).open(path).is_err() {
        return Err(refuse("exists and cannot be written".into()));
    }
    Ok(())
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED};
    use crate::model::job::Variant;
    use crate::model::result::ModuleResult;
    use crate::model::status::Execution;

    fn outcome(endings: &[Execution], not_run: usize, interrupted: bool) -> Outcome {
        let job = |i: usize| Job {
            index: i,
            module: format!("test_{i}.py"),
            variant: Variant::default(),
            image: "i".into(),
        };
        Outcome {
            run_id: "r".into(),
            results: endings
                .iter()
                .enumerate()
                .map(|(i, execution)| ModuleResult {
                    job: job(i),
                    ..ModuleResult::sample("m", execution.clone(), "", "")
                })
                .collect(),
            not_run: (0..not_run).map(job).collect(),
            interrupted,
            fail_fast_tripped: false,
            engine_error: None,
            ..Outcome::empty("r".into())
        }
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        use Execution::*;
        assert_eq!(outcome(&[Passed, Skipped { why: None }], 0, false).exit_code(), EXIT_PASSED);
        assert_eq!(outcome(&[Skipped { why: None }], 0, false).exit_code(), EXIT_PASSED);
        let failures = [
            Failed { exit_code: 1, why: None },
            TimedOut { after_secs: 1 },
            OomKilled { container_peak: None, process_peak: None },
            Crashed { signal: 11 },
        ];
        for failed in failures {
            assert_eq!(outcome(&[Passed, failed], 0, false).exit_code(), EXIT_FAILED);
        }
        assert_eq!(outcome(&[Passed], 2, false).exit_code(), EXIT_FAILED, "fail-fast left modules");
        assert_eq!(outcome(&[Passed], 1, true).exit_code(), EXIT_INTERRUPTED);
    }

    #[test]
    fn a_test_dir_that_is_the_project_root_is_mounted_once() {
        let bind = |path: &str| Mount::Bind { source: PathBuf::from(path), target: path.to_string() };
        let targets =
            |mounts: Vec<Mount>| mounts.iter().map(|m| mount_target(m).to_string()).collect::<Vec<_>>();
        assert_eq!(targets(tree_mounts(Some(bind("/p")), bind("/p"))), ["/p"]);
        assert_eq!(targets(tree_mounts(Some(bind("/p")), bind("/p/tests"))), ["/p", "/p/tests"]);
        assert_eq!(targets(tree_mounts(None, bind("/t"))), ["/t"]);
    }

    #[test]
    fn report_paths_are_checked_before_anything_runs() {
        let temp = tempfile::tempdir().unwrap();
        assert!(check_writable("junit", &temp.path().join("new/dir/r.xml")).is_ok());
        assert!(!temp.path().join("new").exists(), "checking creates nothing");
        for bad in [temp.path().to_path_buf(), temp.path().join("x/"), PathBuf::from("/proc/x.json")] {
            let error = check_writable("report-json", &bad).unwrap_err();
            assert!(error.downcast_ref::<crate::error::Usage>().is_some(), "{bad:?}: {error}");
        }
        std::fs::write(temp.path().join("file"), "").unwrap();
        assert!(check_writable("junit", &temp.path().join("file/r.xml")).is_err());
    }
}
