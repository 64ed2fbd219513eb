//! `cargo xtask clean`: removes what runs left behind (a runner killed with
//! SIGKILL cannot clean up after itself) and the images this project built.
//! What a live run owns stays, unless `--force`: removing it would break that run.

use anyhow::Result;

use crate::engine::owner;
use crate::engine::{Engine, KIND_LABEL, PROJECT_LABEL, RUN_LABEL};
use crate::error::EXIT_PASSED;
use crate::runner::capture;

pub struct CleanOptions<'a> {
    pub run: Option<&'a str>,
    pub containers_only: bool,
    pub keep_base: bool,
    pub force: bool,
}

pub fn clean(engine: &Engine, options: &CleanOptions) -> Result<i32> {
    let label = match options.run {
        Some(id) => format!("{RUN_LABEL}={id}"),
        None => PROJECT_LABEL.to_string(),
    };
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
    // Test dirs copied for a remote engine.
    let volume_is_live =
        |name: &str| !options.force && owner::run_of_test_dir_volume(name).is_some_and(owner::run_is_alive);
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
        out!("kept the images: runs still going use them");
        return Ok(EXIT_PASSED);
    }
    let mut images = engine.images_with_label(&format!("{KIND_LABEL}=test"))?;
    if !options.keep_base {
        images.extend(engine.images_with_label(&format!("{KIND_LABEL}=base"))?);
    }
    engine.remove_images(&images)?;
    out!("removed {} image(s)", images.len());
    let cache = crate::project::environment::cache_dir(None);
    let environments = crate::project::environment::clean(&cache)?;
    out!("removed {environments} cached environment(s) from {}", cache.display());
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
