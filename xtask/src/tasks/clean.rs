//! `cargo xtask clean`: removes what runs left behind (a runner killed with
//! SIGKILL cannot clean up after itself) and the images this project built.
//! What a live run owns stays, unless `--force`: removing it would break that run.

use anyhow::Result;

use crate::engine::owner;
use crate::engine::{Engine, KIND_LABEL, PROJECT_LABEL, RUN_LABEL};
use crate::error::EXIT_PASSED;
use crate::project::environment;
use crate::runner::capture;

pub struct CleanOptions<'a> {
    pub run: Option<&'a str>,
    pub containers_only: bool,
    pub keep_base: bool,
    pub force: bool,
    /// Every user's, not only this user's (on an engine others share).
    pub all_users: bool,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
    /// Caches of environments besides the per-user one (run's `--cache-dir`).
    pub cache_dirs: &'a [std::path::PathBuf],
}

pub fn clean(engine: &Engine, options: &CleanOptions) -> Result<i32> {
    let label = match (options.run, options.all_users) {
        (Some(id), _) => format!("{RUN_LABEL}={id}"),
        (None, true) => PROJECT_LABEL.to_string(),
        (None, false) => crate::engine::user_label(),
    };
    if options.dry_run {
        return dry_run(engine, options, &label);
    }
    let (live, dead): (Vec<_>, Vec<_>) = engine
        .containers_and_owners(&label)?
        .into_iter()
        .partition(|(_, process)| !options.force && !process.is_empty() && owner::is_alive(process));
    let dead: Vec<String> = dead.into_iter().map(|(id, _)| id).collect();
    engine.remove_containers(&dead)?;
    out!("removed {} container(s)", dead.len());
    if !live.is_empty() {
        out!("left {} container(s) of runs still going (--force removes them too)", live.len());
    }
    // Test dirs, project roots and environments copied for a remote engine.
    let volume_is_live =
        |name: &str| !options.force && owner::run_of_volume(name).is_some_and(owner::run_is_alive);
    let volumes: Vec<String> =
        engine.volumes_with_label(&label)?.into_iter().filter(|v| !volume_is_live(v)).collect();
    engine.remove_volumes(&volumes)?;
    if options.containers_only {
        return Ok(EXIT_PASSED);
    }
    let runs_dir = crate::project_root().join(capture::RUNS_DIR);
    let spare = |id: &str| {
        options.run.is_some_and(|wanted| wanted != id) || (!options.force && owner::run_is_alive(id))
    };
    let folders = capture::remove_runs(&runs_dir, spare)?;
    out!("removed {} output folder(s) of past runs", folders.len());
    let temporary = remove_temp_folders(&spare);
    out!("removed {temporary} temporary folder(s) of past runs");
    if options.run.is_some() {
        return Ok(EXIT_PASSED);
    }
    if !live.is_empty() {
        out!("kept the images and the cached environments: runs still going use them");
        return Ok(EXIT_PASSED);
    }
    let images = images_to_remove(engine, options)?;
    engine.remove_images(&images)?;
    out!("removed {} image(s)", images.len());
    for cache in caches(options) {
        let cleaned = environment::clean(&cache)?;
        let installer = if cleaned.installer.is_some() { " and the installer" } else { "" };
        out!("removed {} cached environment(s){installer} from {}", cleaned.removed.len(), cache.display());
        if !cleaned.being_built.is_empty() {
            out!("left {} environment(s) that runs are building now", cleaned.being_built.len());
        }
    }
    Ok(EXIT_PASSED)
}

/// The caches of environments `clean` empties: the per-user one, and each
/// `--cache-dir` (once each).
fn caches(options: &CleanOptions) -> Vec<std::path::PathBuf> {
    let mut caches = vec![environment::cache_dir(None)];
    for dir in options.cache_dirs {
        let cache = environment::cache_dir(Some(dir));
        if !caches.contains(&cache) {
            caches.push(cache);
        }
    }
    caches
}

/// The images `clean` removes: test images (and the offline bases unless
/// `--keep-base`), this user's only unless `--all-users`.
fn images_to_remove(engine: &Engine, options: &CleanOptions) -> Result<Vec<String>> {
    let mut images = engine.images_with_label(&format!("{KIND_LABEL}=test"))?;
    if !options.keep_base {
        images.extend(engine.images_with_label(&format!("{KIND_LABEL}=base"))?);
    }
    if !options.all_users {
        let mine = engine.images_with_label(&crate::engine::user_label())?;
        images.retain(|image| mine.contains(image));
    }
    Ok(images)
}

/// What `clean` would remove, removing nothing.
fn dry_run(engine: &Engine, options: &CleanOptions, label: &str) -> Result<i32> {
    let (live, dead): (Vec<_>, Vec<_>) = engine
        .containers_and_owners(label)?
        .into_iter()
        .partition(|(_, process)| !options.force && !process.is_empty() && owner::is_alive(process));
    for (container, _) in &dead {
        out!("would remove container {container}");
    }
    for volume in engine.volumes_with_label(label)? {
        out!("would remove volume {volume}");
    }
    if !live.is_empty() {
        out!("would leave {} container(s) of runs still going", live.len());
    }
    if options.containers_only || options.run.is_some() {
        return Ok(EXIT_PASSED);
    }
    let runs_dir = crate::project_root().join(capture::RUNS_DIR);
    out!("would remove the output folders of past runs in {}", runs_dir.display());
    if !live.is_empty() {
        out!("would keep the images and the cached environments: runs still going use them");
        return Ok(EXIT_PASSED);
    }
    for image in images_to_remove(engine, options)? {
        out!("would remove image {image}");
    }
    for cache in caches(options) {
        let found = environment::cached(&cache);
        for dir in &found.environments {
            out!("would remove environment {}", dir.display());
        }
        if let Some(tools) = &found.installer {
            out!("would remove the installer {}", tools.display());
        }
    }
    Ok(EXIT_PASSED)
}

/// Removes the temporary folders of runs that are over (a run killed with
/// SIGKILL leaves its own behind); the number removed.
fn remove_temp_folders(spare: &impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(run) = name.to_str().and_then(owner::run_of_temp_folder) else { continue };
        // Only folders (never a link someone planted under that name).
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_folder && !spare(run) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
