//! The run's project and its environments: options → `project::Choice` and
//! `Wanted` (checked before anything starts), then one environment per test
//! image, turned into what the runner mounts and runs.

use std::collections::HashMap;

use anyhow::Result;

use crate::cli::RunArgs;
use crate::engine::container::Mount;
use crate::engine::{owner, Engine};
use crate::image::TestImage;
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
        let (name, interpreter) = match version {
            Some(version) => (version.to_string(), version.interpreter().to_string()),
            None => (python.to_string(), "python3".to_string()),
        };
        let target = Target {
            version: xy,
            name,
            interpreter,
            image: image.reference.clone(),
            base_id: image.base_id.clone().unwrap_or_default(),
        };
        let installed = environment::ensure(engine, &plan.project, &plan.wanted, &target, &plan.cache)?;
        let mount = match remote {
            false => installed.mount(),
            true => {
                let volume = owner::run_volume(run_id, &format!("env-{}", target.name));
                say!("note: the engine is remote; copying the environment for Python {} into the volume {volume}", target.name);
                engine.volume_with_copy_of(
                    &volume,
                    &installed.dir,
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
        };
        environments.ready.insert(image.reference.clone(), (job, installed));
    }
    Ok(())
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
    engine.volume_with_entries_of(&volume, &root, &entries, image, &engine.volume_labels())?;
    Ok(Mount::Volume { name: volume, target })
}
