//! `cargo xtask build-image` and `base-image`: the image steps of a run, on their own.

use anyhow::Result;

use crate::engine::Engine;
use crate::error::EXIT_PASSED;
use crate::image::{self, base, LocalImages, Recipe};
use crate::model::job::PythonVersion;

/// Builds (or finds) the test image for a version and prints its reference.
pub fn build_image(engine: &Engine, explicit_base: Option<&str>, python: PythonVersion) -> Result<i32> {
    let recipe = Recipe::load()?;
    let local = LocalImages::read(engine)?;
    let reference = image::ensure(engine, &recipe, &local, explicit_base, python)?;
    out!("{}", reference.reference);
    Ok(EXIT_PASSED)
}

/// Builds the offline base for a version (unless it exists) and prints its reference.
pub fn base_image(engine: &Engine, python: PythonVersion, force: bool) -> Result<i32> {
    let row = python.row().ok_or_else(|| {
        crate::error::usage(format!(
            "no offline base is known for Python {python}; offline bases exist for {}",
            crate::model::pythons::names()
        ))
    })?;
    let reference = base::reference(row);
    if !base::build(engine, row, force)? {
        say!("{reference} exists already (use --force to build it again)");
    }
    out!("{reference}");
    Ok(EXIT_PASSED)
}
