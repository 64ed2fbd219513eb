//! `cargo xtask watch`: the local loop. Runs the selection as `run` does,
//! then, after every batch of saves in the test dir, runs again the modules
//! whose files changed, or every selected module when another file changed
//! (a helper, a data file, a package in a subfolder); until Ctrl-C. With a
//! project, the files above the test dir that decide what the tests run
//! against count too: its dependency files (the environment's key, so the
//! next round rebuilds the environment), pytest's configuration and conftest
//! files, and the package's source (which rebuilds nothing: it is mounted).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use crate::cli::RunArgs;
use crate::error::EXIT_INTERRUPTED;
use crate::model::status::Tally;
use crate::modules::TestDir;
use crate::project::environment;
use crate::report;
use crate::signals::Interrupt;
use crate::tasks::run::{
    check_engine, check_options, check_test_dir_path, prepare, run_selected, select_modules,
};

/// Quiet time after the last change before a round starts: one save by an
/// editor (write a temp file, rename it, set its mode) is several events.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// How often the wait for changes looks at the interrupt flag.
const TICK: Duration = Duration::from_millis(50);

type Events = mpsc::Receiver<notify::Result<notify::Event>>;

/// Watches until Ctrl-C (or SIGTERM), which ends it with exit code 130.
pub fn watch(tests: &[String], options: &RunArgs, clear_screen: bool) -> Result<i32> {
    let tests = (!tests.is_empty()).then_some(tests);
    // Bad input is refused before anything starts, as for `run`.
    let dir = TestDir::resolve(options.dir.test_dir.as_deref())?;
    check_test_dir_path(&dir)?;
    let selected = select_modules(tests, &dir, &options.selection)?;
    selected.print_notes();
    check_options(options, &dir)?;
    // The first round's modules are read now: a bad one is exit 2, as for `run`.
    let mut first = match selected.modules.is_empty() {
        true => None,
        false => Some(prepare(selected.modules.clone(), &dir, options)?),
    };
    // One flag for the whole loop: an image build and the runner stop a
    // round on it, and the wait between rounds ends on it.
    let interrupt = Interrupt::install()?;
    let engine = crate::tasks::engine(&options.engine)?;
    check_engine(&engine, options)?;
    let scope = Scope::of(&dir, options)?;
    let (sender, events) = mpsc::channel();
    // Watching starts before the first round: a save during a round counts.
    let mut watcher = notify::recommended_watcher(sender).context("cannot watch for file changes")?;
    scope.watch(&mut watcher, &dir.display)?;
    let announce = || {
        match &scope.project {
        None => say!("watching {} for changes (Ctrl-C to stop)", dir.display),
        Some(project) => say!(
            "watching {} and the project {} (dependency files, configuration, source) for changes (Ctrl-C to stop)",
            dir.display,
            project.root.display()
        ),
    }
    };

    let mut modules = selected.modules;
    if modules.is_empty() {
        say!("note: this partition holds no module; waiting for one");
    }
    let mut any_round_ran = false;
    // How each job counted in its latest round: a partial rerun keeps the others' word.
    let mut standing: std::collections::BTreeMap<String, Tally> = Default::default();
    loop {
        if !modules.is_empty() {
            // Read again each round: an edit may change a module's harness or declarations.
            let prepared = match first.take() {
                Some(prepared) => Ok(prepared),
                None => prepare(modules.clone(), &dir, options),
            };
            if any_round_ran && clear_screen {
                out!("\x1b[2J\x1b[H");
            }
            let round = prepared.and_then(|p| run_selected(&engine, &dir, p, options, &interrupt));
            match round {
                // The first round failing (no engine, no image) ends watch
                // as it ends `run`: waiting for saves would not mend it.
                Err(error) if !any_round_ran => return Err(error),
                // Later, an error is one round's (a module being edited, the
                // engine restarting): say it and keep watching.
                Err(error) => say!("error: {error:#}"),
                Ok(round) => {
                    let partial = any_round_ran && round.tallies.len() < standing.len();
                    standing.extend(round.tallies);
                    if partial {
                        say!("{}", standing_line(&standing));
                    }
                }
            }
            any_round_ran = true;
        }
        if interrupt.is_set() {
            return Ok(EXIT_INTERRUPTED);
        }
        announce();
        modules = Vec::new();
        while modules.is_empty() {
            let Some(changed) = wait_for_changes(&events, &interrupt, &scope, &outputs(options))? else {
                return Ok(EXIT_INTERRUPTED);
            };
            // Chosen again: a new module a glob matches joins, a deleted one leaves.
            match select_modules(tests, &dir, &options.selection) {
                Ok(selected) => modules = to_rerun(&changed, &selected.modules, &dir.test_modules()?),
                Err(error) => {
                    say!("error: {error:#}");
                    announce();
                    continue;
                }
            }
            if !modules.is_empty() {
                say!("changed: {}; running {} module(s)", describe(&changed), modules.len());
            }
        }
    }
}

/// `watch: 2 still failing: test_b.py, test_c.py (16 passing)`, after a
/// round that ran only some of the jobs.
fn standing_line(standing: &std::collections::BTreeMap<String, Tally>) -> String {
    let failing: Vec<&str> =
        standing.iter().filter(|(_, t)| **t == Tally::Failed).map(|(label, _)| label.as_str()).collect();
    let others = standing.len() - failing.len();
    match failing.as_slice() {
        [] => format!("watch: everything passes now ({others} job(s))"),
        _ => format!(
            "watch: {} still failing: {} ({others} passing or skipped)",
            failing.len(),
            crate::sanitize::terminal_line(&failing.join(", "))
        ),
    }
}

/// What a watch looks at: every file of the test dir, and with a project the
/// files above it that decide what its tests run against.
struct Scope {
    /// The test dir, canonical.
    tests: PathBuf,
    project: Option<ProjectScope>,
}

struct ProjectScope {
    root: PathBuf,
    /// The folders from the test dir's parent up to the project root: their
    /// dependency files, pytest's configuration, conftest and other `.py` files.
    above: Vec<PathBuf>,
    /// The package's source trees (`src/`, or a flat layout's package
    /// folders at the root): every file in them.
    sources: Vec<PathBuf>,
    /// The `--requirements` files.
    requirements: Vec<PathBuf>,
}

/// Besides the dependency files, what in a folder above the test dir changes what pytest does.
const CONFIGURATION_FILES: [&str; 3] = ["pytest.ini", "tox.ini", "conftest.py"];

impl Scope {
    fn of(dir: &TestDir, options: &RunArgs) -> Result<Scope> {
        let tests = dir.path.canonicalize()?;
        // Only where the project is: what it would install does not matter here.
        let plan = super::project::plan(dir, options, false)?;
        let project = plan.map(|plan| {
            let root = plan.project.root;
            let mut above: Vec<PathBuf> = match tests.strip_prefix(&root) {
                Ok(_) => tests
                    .ancestors()
                    .skip(1)
                    .take_while(|a| a.starts_with(&root))
                    .map(Path::to_path_buf)
                    .collect(),
                Err(_) => vec![root.clone()],
            };
            above.dedup();
            let mut sources: Vec<PathBuf> = Vec::new();
            if root.join("src").is_dir() {
                sources.push(root.join("src"));
            }
            // A flat layout's packages: folders at the root holding an `__init__.py`.
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_noise(&name)
                    && path.join("__init__.py").is_file()
                    && entry.file_type().is_ok_and(|t| t.is_dir())
                {
                    sources.push(path);
                }
            }
            sources.sort();
            let requirements = crate::project::locks::requirement_files(&plan.wanted.requirements);
            ProjectScope { root, above, sources, requirements }
        });
        Ok(Scope { tests, project })
    }

    /// Only the test dir (no project).
    #[cfg(test)]
    fn tests_only(tests: &Path) -> Scope {
        Scope { tests: tests.to_path_buf(), project: None }
    }

    fn watch(&self, watcher: &mut impl Watcher, shown: &str) -> Result<()> {
        watcher
            .watch(&self.tests, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {shown} for changes"))?;
        let Some(project) = &self.project else { return Ok(()) };
        let folders = project.above.iter().map(|d| (d.as_path(), RecursiveMode::NonRecursive));
        let sources = project.sources.iter().map(|d| (d.as_path(), RecursiveMode::Recursive));
        let requirements =
            project.requirements.iter().filter_map(|f| f.parent()).map(|d| (d, RecursiveMode::NonRecursive));
        for (folder, mode) in folders.chain(sources).chain(requirements) {
            // The test dir is what must be watched; the project's files are a help.
            if let Err(error) = watcher.watch(folder, mode) {
                say!("warning: cannot watch {} for changes: {error}", folder.display());
            }
        }
        Ok(())
    }

    /// A changed path that counts: relative to the test dir when in it,
    /// else, for a project's file, the whole path; `None` for noise (hidden
    /// files and folders, editors' backup, swap and temporary files, Python's
    /// bytecode caches) and for files outside what is watched.
    fn relevant(&self, path: &Path) -> Option<PathBuf> {
        let clean = |relative: &Path| {
            !relative.components().any(|part| is_noise(&part.as_os_str().to_string_lossy()))
        };
        if let Ok(relative) = path.strip_prefix(&self.tests) {
            return clean(relative).then(|| relative.to_path_buf());
        }
        let project = self.project.as_ref()?;
        if project.requirements.iter().any(|file| file == path) {
            return Some(path.to_path_buf());
        }
        for source in &project.sources {
            if let Ok(relative) = path.strip_prefix(source) {
                return (clean(relative) && !relative.as_os_str().is_empty()).then(|| path.to_path_buf());
            }
        }
        let name = path.file_name()?.to_str()?;
        let counts = environment::DEPENDENCY_FILES.contains(&name)
            || CONFIGURATION_FILES.contains(&name)
            || (name.ends_with(".py") && !is_noise(name));
        (counts && path.parent().is_some_and(|parent| project.above.iter().any(|a| a == parent)))
            .then(|| path.to_path_buf())
    }
}

/// Waits for changes in the scope, then for a quiet `DEBOUNCE`; returns the
/// changed paths (relative to the test dir; a project's file whole), or
/// `None` when interrupted.
fn wait_for_changes(
    events: &Events,
    interrupt: &Interrupt,
    scope: &Scope,
    ignored: &[PathBuf],
) -> Result<Option<BTreeSet<PathBuf>>> {
    let root = scope.tests.as_path();
    let mut changed = BTreeSet::new();
    let mut last_change = Instant::now();
    loop {
        if interrupt.is_set() {
            return Ok(None);
        }
        match events.recv_timeout(TICK) {
            Ok(Ok(event)) => {
                // Events were lost (the kernel's queue overflowed): anything may have changed.
                let paths = if event.need_rescan() { vec![root.to_path_buf()] } else { event.paths };
                if is_change(&event.kind) || event.attrs.flag().is_some() {
                    // What the run itself writes (reports, flame graphs, and the
                    // folders it made to hold them) is no change.
                    let written = |p: &PathBuf| {
                        ignored.iter().any(|i| p.starts_with(i) || (i.starts_with(p) && p.as_path() != root))
                    };
                    for path in paths.iter().filter(|p| !written(p)) {
                        if let Some(relative) = scope.relevant(path) {
                            changed.insert(relative);
                            last_change = Instant::now();
                        }
                    }
                }
            }
            Ok(Err(error)) => say!("warning: while watching {}: {error}", root.display()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(anyhow!("the file watcher stopped")),
        }
        if !changed.is_empty() && last_change.elapsed() >= DEBOUNCE {
            return Ok(Some(changed));
        }
    }
}

/// Whether an event says a file's content, name or mode changed. Reads are
/// not changes: the containers open the modules on every round.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// A file or folder name that is noise: hidden, editors' backup, swap and
/// temporary files (vim also probes with a file named 4913; `sed -i` writes
/// `sedXXXXXX`, Emacs `#file#`, JetBrains `file___jb_tmp___`), Python's
/// bytecode caches.
fn is_noise(name: &str) -> bool {
    let sed_temporary =
        name.len() == 9 && name.starts_with("sed") && name[3..].chars().all(|c| c.is_ascii_alphanumeric());
    name.starts_with('.')
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || sed_temporary
        || name == "__pycache__"
        || name == "4913"
        || [".swp", ".swx", ".pyc", ".tmp", "___jb_tmp___", "___jb_old___"]
            .iter()
            .any(|end| name.ends_with(end))
}

/// The modules to run for these changes: each selected module whose own file
/// changed; every selected module when anything else in the dir changed.
/// A module that is not selected changing runs nothing.
fn to_rerun(changed: &BTreeSet<PathBuf>, selection: &[String], modules: &[String]) -> Vec<String> {
    let mut own = Vec::new();
    for path in changed {
        match path.to_str() {
            Some(name) if selection.iter().any(|m| m == name) => own.push(name),
            Some(name) if modules.iter().any(|m| m == name) => {}
            _ => return selection.to_vec(),
        }
    }
    selection.iter().filter(|m| own.contains(&m.as_str())).cloned().collect()
}

/// What a round writes (its report files, the step summary, `--memray`'s
/// flame graph folder): when it is in the test dir, writing it must not
/// start the next round. Each as the watcher names it (folders resolved).
fn outputs(options: &RunArgs) -> Vec<PathBuf> {
    let mut written: Vec<PathBuf> =
        report::requested(&options.reports.paths()).into_iter().map(|(_, path)| path.to_path_buf()).collect();
    written.extend(std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from));
    if options.harness.memray {
        written.extend(crate::tasks::run::flamegraph_folder(options));
    }
    written
        .into_iter()
        .filter_map(|path| {
            let absolute = std::path::absolute(path).ok()?;
            let parent = absolute.parent()?.canonicalize().ok()?;
            Some(parent.join(absolute.file_name()?))
        })
        .collect()
}

/// The changed paths for the one line announcing a round.
fn describe(changed: &BTreeSet<PathBuf>) -> String {
    const SHOWN: usize = 4;
    let mut names: Vec<String> = changed
        .iter()
        .take(SHOWN)
        .map(|p| if p.as_os_str().is_empty() { ".".to_string() } else { p.display().to_string() })
        .collect();
    if changed.len() > SHOWN {
        names.push(format!("and {} more", changed.len() - SHOWN));
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(paths: &[&str]) -> BTreeSet<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    fn selection() -> Vec<String> {
        ["test_a.py", "test_b.py", "test_c.py"].iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn a_changed_module_runs_alone() {
        assert_eq!(to_rerun(&changes(&["test_b.py"]), &selection(), &all()), ["test_b.py"]);
        assert_eq!(
            to_rerun(&changes(&["test_c.py", "test_a.py"]), &selection(), &all()),
            ["test_a.py", "test_c.py"]
        );
    }

    #[test]
    fn any_other_file_runs_every_selected_module() {
        for other in ["helper.py", "data.txt", "pkg/__init__.py", "pkg", "data/test_x.py", ""] {
            assert_eq!(
                to_rerun(&changes(&["test_a.py", other]), &selection(), &all()),
                selection(),
                "{other:?}"
            );
        }
    }

    #[test]
    fn a_module_outside_the_selection_runs_nothing() {
        assert!(to_rerun(&changes(&["test_unselected.py"]), &selection(), &all()).is_empty());
    }

    /// Every test module of the dir, selected or not.
    fn all() -> Vec<String> {
        [selection(), vec!["test_unselected.py".to_string(), "sub/test_nested.py".to_string()]].concat()
    }

    #[test]
    fn the_standing_says_what_still_fails_after_a_partial_round() {
        let mut standing: std::collections::BTreeMap<String, Tally> = Default::default();
        standing.insert("test_a.py".into(), Tally::Passed);
        standing.insert("test_b.py".into(), Tally::Failed);
        standing.insert("test_c.py".into(), Tally::Failed);
        assert_eq!(
            standing_line(&standing),
            "watch: 2 still failing: test_b.py, test_c.py (1 passing or skipped)"
        );
        standing.insert("test_b.py".into(), Tally::Passed);
        standing.insert("test_c.py".into(), Tally::Skipped);
        assert_eq!(standing_line(&standing), "watch: everything passes now (3 job(s))");
    }

    #[test]
    fn editor_and_python_noise_is_not_a_change() {
        let root = Path::new("/w/tests");
        let scope = Scope::tests_only(root);
        for noise in [
            "/w/tests/.test_a.py.swp",
            "/w/tests/sedAb12Zq",
            "/w/tests/#test_a.py#",
            "/w/tests/test_a.py___jb_tmp___",
            "/w/tests/test_a.py~",
            "/w/tests/4913",
            "/w/tests/__pycache__/helper.cpython-311.pyc",
            "/w/tests/.git/index",
            "/w/tests/pkg/mod.pyc",
            "/elsewhere/test_a.py",
        ] {
            assert_eq!(scope.relevant(Path::new(noise)), None, "{noise}");
        }
        assert_eq!(scope.relevant(Path::new("/w/tests/test_a.py")), Some(PathBuf::from("test_a.py")));
        assert_eq!(scope.relevant(Path::new("/w/tests/pkg/util.py")), Some(PathBuf::from("pkg/util.py")));
        assert_eq!(scope.relevant(root), Some(PathBuf::new()));
    }

    #[test]
    fn a_projects_dependency_files_configuration_and_source_count_and_nothing_else_above() {
        let scope = Scope {
            tests: PathBuf::from("/p/pkg/tests"),
            project: Some(ProjectScope {
                root: PathBuf::from("/p"),
                above: vec![PathBuf::from("/p/pkg"), PathBuf::from("/p")],
                sources: vec![PathBuf::from("/p/src"), PathBuf::from("/p/pkg")],
                requirements: vec![PathBuf::from("/elsewhere/req.txt")],
            }),
        };
        for counts in [
            "/p/pyproject.toml",
            "/p/uv.lock",
            "/p/pylock.toml",
            "/p/setup.cfg",
            "/p/setup.py",
            "/p/conftest.py",
            "/p/pytest.ini",
            "/p/tox.ini",
            "/p/single_module.py",
            "/p/src/demo/core.py",
            "/p/src/demo/data/table.csv",
            "/p/pkg/module.py",
            "/elsewhere/req.txt",
        ] {
            assert_eq!(scope.relevant(Path::new(counts)), Some(PathBuf::from(counts)), "{counts}");
        }
        for ignored in [
            "/p/README.md",
            "/p/report.json",
            "/p/.pyproject.toml.swp",
            "/p/src/demo/__pycache__/core.cpython-311.pyc",
            "/p/src/.hidden/x.py",
            "/p/src",
            "/p/docs/conf.py",
            "/elsewhere/other.txt",
        ] {
            assert_eq!(scope.relevant(Path::new(ignored)), None, "{ignored}");
        }
        assert_eq!(scope.relevant(Path::new("/p/pkg/tests/test_a.py")), Some(PathBuf::from("test_a.py")));
        // A project's file is no module: it runs every selected one.
        let changed = [PathBuf::from("/p/pyproject.toml")].into_iter().collect();
        assert_eq!(to_rerun(&changed, &selection(), &all()), selection());
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(DataChange::Content))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
        assert!(is_change(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
    }

    #[test]
    fn a_burst_of_events_is_one_batch_after_a_quiet_spell() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().canonicalize().unwrap();
        let (sender, events) = mpsc::channel();
        let interrupt = Interrupt::for_tests();
        let writer = {
            let root = root.clone();
            std::thread::spawn(move || {
                for (i, name) in ["test_a.py", "helper.py", "test_a.py", ".test_a.py.swp"].iter().enumerate()
                {
                    let kind = EventKind::Modify(notify::event::ModifyKind::Any);
                    let event = notify::Event::new(kind).add_path(root.join(name));
                    sender.send(Ok(event)).unwrap();
                    std::thread::sleep(Duration::from_millis(20 * i as u64));
                }
                sender
            })
        };
        let started = Instant::now();
        let changed = wait_for_changes(&events, &interrupt, &Scope::tests_only(&root), &[]).unwrap().unwrap();
        assert!(started.elapsed() >= DEBOUNCE, "returned before a quiet spell");
        assert_eq!(changed, changes(&["helper.py", "test_a.py"]));
        let _sender = writer.join().unwrap();
        interrupt.raise();
        assert_eq!(wait_for_changes(&events, &interrupt, &Scope::tests_only(&root), &[]).unwrap(), None);
    }

    #[test]
    fn writing_a_report_into_the_test_dir_is_not_a_change() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_str().unwrap();
        let report = format!("{dir}/sub/../r.json");
        let args = ["watch", "--test-dir", dir, "--report-json", &report];
        let crate::cli::Task::Watch { options, .. } = crate::cli::try_parse_from(&args).unwrap() else {
            panic!()
        };
        assert!(outputs(&options).is_empty(), "no such folder yet");
        std::fs::create_dir(temp.path().join("sub")).unwrap();
        assert_eq!(outputs(&options), [temp.path().canonicalize().unwrap().join("r.json")]);
        let memray = ["watch", "--test-dir", dir, "--memray", "--report-html", &report];
        let crate::cli::Task::Watch { options, .. } = crate::cli::try_parse_from(&memray).unwrap() else {
            panic!()
        };
        let root = temp.path().canonicalize().unwrap();
        assert_eq!(
            outputs(&options),
            [root.join("r.json"), root.join("memray")],
            "the flame graphs' folder too"
        );
    }

    #[test]
    fn the_announcement_names_a_few_changes() {
        assert_eq!(describe(&changes(&["test_a.py", "data.txt"])), "data.txt, test_a.py");
        assert_eq!(describe(&changes(&["a", "b", "c", "d", "e", "f"])), "a, b, c, d, and 2 more");
    }
}
