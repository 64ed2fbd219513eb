//! `cargo xtask clean`: removes what runs left behind (a runner killed with
//! SIGKILL cannot clean up after itself) and the images this project built.

use anyhow::Result;

use crate::engine::{Engine, KIND_LABEL, PROJECT_LABEL, RUN_LABEL};
use crate::error::EXIT_PASSED;
use crate::runner::capture;

pub fn clean(engine: &Engine, run: Option<&str>, containers_only: bool, keep_base: bool) -> Result<i32> {
    let label = match run {
        Some(id) => format!("{RUN_LABEL}={id}"),
        None => PROJECT_LABEL.to_string(),
    };
    let containers = engine.containers_with_label(&label)?;
    engine.remove_containers(&containers)?;
    println!("removed {} container(s)", containers.len());
    // Test dirs copied for a remote engine.
    engine.remove_volumes(&engine.volumes_with_label(&label)?)?;
    if containers_only {
        return Ok(EXIT_PASSED);
    }
    let runs_dir = crate::project_root().join(capture::RUNS_DIR);
    let folders = capture::remove_runs(&runs_dir, |id| run.is_some_and(|wanted| wanted != id))?;
    println!("removed {} output folder(s) of past runs", folders.len());
    if run.is_some() {
        return Ok(EXIT_PASSED);
    }
    let mut images = engine.images_with_label(&format!("{KIND_LABEL}=test"))?;
    if !keep_base {
        images.extend(engine.images_with_label(&format!("{KIND_LABEL}=base"))?);
    }
    engine.remove_images(&images)?;
    println!("removed {} image(s)", images.len());
    Ok(EXIT_PASSED)
}
