//! The run's project and its environments: options → `project::Choice` and
//! `Wanted` (checked before anything starts), then one environment per test
//! image, turned into what the runner mounts and runs.

use std::collections::HashMap;

use anyhow::Result;

use crate::cli::RunArgs;
use crate::engine::container::Mount;
use crate::engine::{owner, Engine, Fill};
use crate::image::TestImage;
use crate::model::event::Notice;
use crate::model::job::PythonVersion;
use crate::modules::TestDir;
use crate::project::environment::{self, Installed, Target};
use crate::project::{shipped, Choice, Project, Wanted};
use crate::runner::JobEnvironment;

/// The project of a run and what to install with it.
pub struct ProjectPlan {
    pub project: Project,
    pub wanted: Wanted,
    pub cache: std::path::PathBuf,
}

/// Finds the project and checks the choices against it (bad ones → exit 2).
/// `memray_markers`: a module to run uses pytest-memray's markers.
pub fn plan(dir: &TestDir, options: &RunArgs, memray_markers: bool) -> Result<Option<ProjectPlan>> {
    let args = &options.project;
    let choice = match (&args.project, args.no_project) {
        (_, true) => Choice::Nothing,
        (Some(dir), false) => Choice::At(dir.clone()),
        (None, false) => Choice::Find,
    };
    let asked = !args.group.is_empty() || !args.extra.is_empty() || !args.requirements.is_empty();
    let Some(project) = Project::find(&dir.path, &choice)? else {
        if asked || !args.with.is_empty() {
            return Err(crate::error::usage(format!(
                "--group, --extra, --requirements and --with install into a project's environment, and no \
                 project was found above {} (name it with --project DIR)",
                dir.display
            )));
        }
        return Ok(None);
    };
    let wanted = project.check(Wanted {
        groups: args.group.clone(),
        extras: args.extra.clone(),
        requirements: args.requirements.clone(),
        with: args.with.clone(),
        memray: options.harness.memray,
        pytest_memray: memray_markers,
    })?;
    let cache = environment::cache_dir(args.cache_dir.as_deref());
    Ok(Some(ProjectPlan { project, wanted, cache }))
}

/// The environments of a run, by test image reference.
#[derive(Default)]
pub struct Environments {
    /// What the jobs of each image run in, and what it installed (for the report).
    pub ready: HashMap<String, (JobEnvironment, Installed)>,
    /// Images whose Python the project's `requires-python` (the value) leaves out.
    pub refused: HashMap<String, String>,
    /// The volumes a remote engine got the environments in (the run removes them).
    pub volumes: Vec<String>,
}

/// The environment of every test image of the run whose Python the project
/// supports; a remote engine gets each, as cached here, in a volume of the run.
pub fn environments(
    engine: &Engine,
    plan: &ProjectPlan,
    images: &[(Option<PythonVersion>, TestImage)],
) -> Result<Environments> {
    environment::prune(&plan.cache);
    let remote = engine.is_remote()?;
    // The run helper containers are labelled with (`Engine::attach_run`).
    let run_id = engine.run_id().unwrap_or_else(owner::new_run_id);
    let mut environments = Environments::default();
    let made = environments_into(engine, plan, images, &run_id, remote, &mut environments);
    if made.is_err() {
        let _ = engine.remove_volumes(&environments.volumes);
    }
    made.map(|()| environments)
}

fn environments_into(
    engine: &Engine,
    plan: &ProjectPlan,
    images: &[(Option<PythonVersion>, TestImage)],
    run_id: &str,
    remote: bool,
    environments: &mut Environments,
) -> Result<()> {
    for (version, image) in images {
        let python = version.unwrap_or(PythonVersion::DEFAULT);
        let xy = python.row().map_or_else(|| python.to_string(), |r| r.version.to_string());
        if let Some(reason) = plan.project.refuses_python(&xy) {
            environments.refused.insert(image.reference.clone(), reason);
            continue;
        }
        let target = target(*version, image);
        let installed = environment::ensure(engine, Some(&plan.project), &plan.wanted, &target, &plan.cache)?;
        let mount = match remote {
            false => installed.mount(),
            true => {
                let volume = owner::run_volume(run_id, &format!("env-{}", target.name));
                say!("note: the engine is remote; copying the environment for Python {} into the volume {volume}", target.name);
                engine.volume_filled(
                    &volume,
                    Fill::Whole(&installed.dir),
                    &image.reference,
                    &engine.volume_labels(),
                )?;
                environments.volumes.push(volume.clone());
                Mount::Volume { name: volume, target: installed.in_container.clone() }
            }
        };
        let job = JobEnvironment {
            interpreter: installed.python(),
            mounts: vec![mount],
            env: installed.variables(),
            pytest_only: false,
            pytest_memray: plan.wanted.pytest_memray,
        };
        environments.ready.insert(image.reference.clone(), (job, installed));
    }
    Ok(())
}

/// The environment's target of a test image (`version`: what `--python` named).
fn target(version: Option<PythonVersion>, image: &TestImage) -> Target {
    let python = version.unwrap_or(PythonVersion::DEFAULT);
    let xy = python.row().map_or_else(|| python.to_string(), |r| r.version.to_string());
    let (name, interpreter) = match version {
        Some(version) => (version.to_string(), version.interpreter().to_string()),
        None => (python.to_string(), "python3".to_string()),
    };
    Target {
        version: xy,
        name,
        interpreter,
        image: image.reference.clone(),
        base_id: image.base_id.clone().unwrap_or_default(),
    }
}

/// A run without a project that needs one of the runner's tools: pytest
/// for its pytest-harness modules, memray for `--memray`. Both come from
/// the index into a tools-only environment per test image (never the
/// base's Debian copy), made the way a project's is and cached the same way.
pub struct ToolsPlan {
    pub wanted: Wanted,
    pub cache: std::path::PathBuf,
    /// Only the pytest-harness modules run in it (no `--memray`): scripts
    /// and unittest modules keep the image's own interpreter, as before.
    pub pytest_only: bool,
    /// The run has pytest-harness modules (pytest is needed, not only installed).
    pub pytest_modules: bool,
}

/// The tools plan of a run without a project; `None` when it needs no
/// tool (only scripts and unittest modules, no `--memray`): such a run gets
/// nothing new. pytest-memray is not among them: without a project its
/// markers stay unchecked, as the harness says (nothing the test dir did not
/// ask for is added to what its modules import).
pub fn tools_plan(options: &RunArgs, pytest_modules: bool) -> Option<ToolsPlan> {
    let memray = options.harness.memray;
    if !(memray || pytest_modules) {
        return None;
    }
    let wanted = Wanted { memray, ..Wanted::default() };
    let cache = environment::cache_dir(options.project.cache_dir.as_deref());
    Some(ToolsPlan { wanted, cache, pytest_only: !memray, pytest_modules })
}

/// Whether every image's tools environment is built already (files read,
/// nothing asked): a run may then keep the images it guessed.
pub fn tools_ready(plan: &ToolsPlan, images: &[(Option<PythonVersion>, TestImage)]) -> bool {
    images.iter().all(|(version, image)| {
        environment::is_ready(None, &plan.wanted, &target(*version, image), &plan.cache)
    })
}

/// The tools environment of every test image. When no index answers (and
/// none was built before), a Python whose base has the tools runs them
/// (said in a notice; the summary says which pytest ran); one whose base
/// lacks one is the index's error, exit 3, naming what was missing.
/// `has_pytest` asks whether an image has its own pytest.
pub fn tools_environments(
    engine: &Engine,
    plan: &ToolsPlan,
    images: &[(Option<PythonVersion>, TestImage)],
    has_pytest: impl Fn(&TestImage) -> Result<bool>,
) -> Result<Environments> {
    let mut environments = Environments::default();
    // The index's silence, learnt once: later Pythons with nothing built
    // fall back at once (one built already is still used).
    let mut silent: Option<environment::IndexUnreachable> = None;
    for (version, image) in images {
        let target = target(*version, image);
        let ensured = match &silent {
            Some(known) if !environment::is_ready(None, &plan.wanted, &target, &plan.cache) => {
                Err(anyhow::Error::new(known.clone()))
            }
            _ => environment::ensure(engine, None, &plan.wanted, &target, &plan.cache),
        };
        let installed = match ensured {
            Ok(installed) => installed,
            Err(error) if error.downcast_ref::<environment::IndexUnreachable>().is_some() => {
                silent = error.downcast_ref::<environment::IndexUnreachable>().cloned();
                let python = version.unwrap_or(PythonVersion::DEFAULT);
                let base_memray = image.on_offline_base() && python.row().is_some_and(|r| r.memray);
                let missing = if plan.wanted.memray && !base_memray {
                    Some("memray")
                } else if plan.pytest_modules && !has_pytest(image)? {
                    Some("pytest")
                } else {
                    None
                };
                if let Some(tool) = missing {
                    return Err(error.context(format!(
                        "{tool} comes from the package index for Python {} (its base image {} has none)",
                        target.name, image.base
                    )));
                }
                engine.notices().send(Notice::ToolsFromBase { python: target.name.clone() });
                continue;
            }
            Err(error) => return Err(error),
        };
        let job = JobEnvironment {
            interpreter: installed.python(),
            mounts: vec![installed.mount()],
            env: installed.variables(),
            pytest_only: plan.pytest_only,
            pytest_memray: false,
        };
        environments.ready.insert(image.reference.clone(), (job, installed));
    }
    Ok(environments)
}

/// The project root, read-only at its own path: conftest files and pytest's
/// configuration above the test dir are found, and its rootdir is the
/// project's. A remote engine gets it in a volume of the run, without what
/// `project::shipped` leaves out (version control, virtual environments,
/// `target/`, what `.gitignore` excludes), filled through a container of `image`.
pub fn root_mount(engine: &Engine, plan: &ProjectPlan, run_id: &str, image: &str) -> Result<Mount> {
    let root = plan.project.root.clone();
    let target = root.to_string_lossy().into_owned();
    if !engine.is_remote()? {
        return Ok(Mount::Bind { source: root, target });
    }
    let entries = shipped::entries(&root)?;
    let volume = owner::run_volume(run_id, "project");
    say!("note: the engine is remote; copying the project root {} into the volume {volume}", root.display());
    engine.volume_filled(&volume, Fill::Listed(&root, &entries), image, &engine.volume_labels())?;
    Ok(Mount::Volume { name: volume, target })
}
