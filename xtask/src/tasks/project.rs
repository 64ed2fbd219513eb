//! The run's project and its environments: options → `project::Choice` and
//! `Wanted` (checked before anything starts), then one environment per test
//! image, turned into what the runner mounts and runs.

use std::collections::HashMap;

use anyhow::Result;

use crate::cli::RunArgs;
use crate::engine::container::Mount;
use crate::engine::Engine;
use crate::image::TestImage;
use crate::model::job::PythonVersion;
use crate::modules::TestDir;
use crate::project::environment::{self, Installed, Target};
use crate::project::{Choice, Project, Wanted};
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
}

/// The environment of every test image of the run whose Python the project supports.
pub fn environments(
    engine: &Engine,
    plan: &ProjectPlan,
    images: &[(Option<PythonVersion>, TestImage)],
) -> Result<Environments> {
    if engine.is_remote()? {
        // The environment and the project are bind-mounted from this machine's disk.
        return Err(crate::error::usage(
            "a project's environment needs a local engine for now: with a remote engine, use --no-project",
        ));
    }
    environment::prune(&plan.cache);
    let mut environments = Environments::default();
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
        let job = JobEnvironment {
            interpreter: installed.python(),
            mounts: vec![installed.mount()],
            env: installed.variables(),
        };
        environments.ready.insert(image.reference.clone(), (job, installed));
    }
    Ok(environments)
}

/// The project root, read-only at its own path: conftest files and pytest's
/// configuration above the test dir are found, and its rootdir is the project's.
pub fn root_mount(plan: &ProjectPlan) -> Mount {
    let root = plan.project.root.clone();
    let target = root.to_string_lossy().into_owned();
    Mount::Bind { source: root, target }
}
