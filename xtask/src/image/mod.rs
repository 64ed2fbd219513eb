//! The test image: the base plus what runs modules (GNU time, the harness),
//! never the modules themselves (the test dir is mounted into each container
//! as it is on disk, so editing a module builds nothing).
//!
//! The tag is a hash of the Dockerfile, the files under `xtask/container/`
//! and the base image's name: an unchanged recipe finds its image with one
//! cheap engine call.

pub mod base;
pub mod lock;
pub mod logged;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::engine::{BuildLayers, Engine};
use crate::error::environment;
use crate::model::event::Notice;
use crate::model::job::PythonVersion;

pub const TEST_REPOSITORY: &str = "pymaccounter-tests";

/// Everything that goes into a test image.
pub struct Recipe {
    dockerfile: Vec<u8>,
    /// Files copied into the image (relative path, content), sorted.
    files: Vec<(String, Vec<u8>)>,
}

impl Recipe {
    pub fn load() -> Result<Recipe> {
        let root = crate::project_root();
        let dockerfile_path = root.join("Dockerfile");
        let dockerfile = fs::read(&dockerfile_path)
            .with_context(|| format!("cannot read {}", dockerfile_path.display()))?;
        let dir = root.join("xtask/container");
        let mut files = Vec::new();
        for path in files_under(&dir)? {
            let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let name = path.strip_prefix(&dir).unwrap_or(&path).to_string_lossy().into_owned();
            files.push((name, bytes));
        }
        files.sort();
        Ok(Recipe { dockerfile, files })
    }

    /// `pymaccounter-tests:<hash>` for this content on this base.
    pub fn reference(&self, base_image: &str) -> String {
        let mut hasher = Xxh3::new();
        for part in [self.dockerfile.as_slice(), base_image.as_bytes()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        for (name, bytes) in &self.files {
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        format!("{TEST_REPOSITORY}:{:032x}", hasher.digest128())
    }

    /// Writes the build context: the Dockerfile and `container/`.
    fn write_context(&self, context: &Path) -> Result<()> {
        fs::write(context.join("Dockerfile"), &self.dockerfile)?;
        let container = context.join("container");
        fs::create_dir(&container)?;
        for (name, bytes) in &self.files {
            let path = container.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(path, bytes)?;
        }
        Ok(())
    }
}

/// Regular files under a directory, recursively (Python caches left out).
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if entry.file_name() == "__pycache__" {
            continue;
        }
        if kind.is_dir() {
            files.extend(files_under(&path)?);
        } else if kind.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// Test images present locally, read once per run.
pub struct LocalImages {
    tags: Vec<String>,
}

impl LocalImages {
    pub fn read(engine: &Engine) -> Result<LocalImages> {
        Ok(LocalImages { tags: engine.local_tags(TEST_REPOSITORY)? })
    }

    fn has(&self, reference: &str) -> bool {
        let tag = reference.rsplit(':').next().unwrap_or_default();
        self.tags.iter().any(|t| t == tag)
    }
}

/// A test image and the base it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestImage {
    pub reference: String,
    pub base: String,
}

impl TestImage {
    fn new(reference: String, base: &str) -> TestImage {
        TestImage { reference, base: base.to_string() }
    }

    /// Whether its base is one of our offline bases (which have pytest).
    pub fn on_offline_base(&self) -> bool {
        base::is_offline(&self.base)
    }
}

/// The test image for one Python version, built only when missing.
///
/// With no explicit base, the registry's `python:X.Y-slim` is preferred; when
/// it cannot be pulled, the offline Debian base is used (and built if needed).
pub fn ensure(
    engine: &Engine,
    recipe: &Recipe,
    local: &LocalImages,
    explicit_base: Option<&str>,
    python: PythonVersion,
) -> Result<TestImage> {
    if let Some(base) = explicit_base {
        let reference = recipe.reference(base);
        if !local.has(&reference) {
            build(engine, recipe, base, &reference)?;
        }
        return Ok(TestImage::new(reference, base));
    }
    let Some(row) = python.row() else {
        return Err(crate::error::usage(format!(
            "Python {python} has no offline base: give its base with --base-image {python}=IMAGE"
        )));
    };
    let online_base = row.registry_base();
    let offline_base = base::reference(row);
    let online = recipe.reference(&online_base);
    let offline = recipe.reference(&offline_base);
    if local.has(&online) {
        return Ok(TestImage::new(online, &online_base));
    }
    // A debug build is in no registry: its "registry base" is the offline one.
    let in_registry = online_base != offline_base;
    let fallback = || {
        engine.notices().send(Notice::OfflineFallback {
            wanted: online_base.clone(),
            offline: offline_base.clone(),
            suite: row.suite.to_string(),
        })
    };
    if local.has(&offline) {
        if in_registry {
            fallback();
        }
        return Ok(TestImage::new(offline, &offline_base));
    }
    if in_registry && (engine.image_exists(&online_base)? || engine.pull(&online_base)?) {
        build(engine, recipe, &online_base, &online)?;
        return Ok(TestImage::new(online, &online_base));
    }
    if in_registry {
        fallback();
    }
    base::build(engine, row, false)?;
    build(engine, recipe, &offline_base, &offline)?;
    Ok(TestImage::new(offline, &offline_base))
}

fn build(engine: &Engine, recipe: &Recipe, base: &str, reference: &str) -> Result<()> {
    let _lock = lock::host_lock(reference)?;
    // Another run may have built it while we waited for the lock.
    if engine.image_exists(reference)? {
        return Ok(());
    }
    engine.notices().send(Notice::BuildingImage { reference: reference.to_string(), base: base.to_string() });
    let context = tempfile::Builder::new().prefix("pymaccounter-build-").tempdir()?;
    recipe.write_context(context.path())?;
    let command = engine.build_command(context.path(), reference, base, base::is_offline(base));
    let mut layers = BuildLayers::default();
    let built = logged::run_logged(
        command,
        engine.debug(),
        engine.notices(),
        "building",
        |line| layers.observe(line),
        |tail| {
            environment(format!(
                "building the test image from {base} failed (run with --debug for the whole log):\n{tail}"
            ))
        },
    );
    if built.is_err() {
        // Layers this build made (not ones it found cached) would be left as
        // dangling images: remove them, newest first.
        let mut created = layers.created;
        created.reverse();
        if let Err(error) = engine.remove_layers(&created) {
            engine.notices().send(Notice::LayersLeft { error: format!("{error:#}") });
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(files: &[(&str, &str)]) -> Recipe {
        Recipe {
            dockerfile: b"FROM x".to_vec(),
            files: files.iter().map(|(n, b)| (n.to_string(), b.as_bytes().to_vec())).collect(),
        }
    }

    #[test]
    fn the_tag_follows_the_content() {
        let a = recipe(&[("harness.py", "print(1)")]);
        assert_eq!(a.reference("base"), recipe(&[("harness.py", "print(1)")]).reference("base"));
        assert_ne!(a.reference("base"), recipe(&[("harness.py", "print(2)")]).reference("base"));
        assert_ne!(a.reference("base"), recipe(&[("other.py", "print(1)")]).reference("base"));
        assert_ne!(a.reference("base"), a.reference("other-base"));
        assert!(a.reference("base").starts_with("pymaccounter-tests:"));
    }

    #[test]
    fn file_boundaries_count() {
        let joined = recipe(&[("test_a.py", "xy")]);
        let split = recipe(&[("test_a.py", "x"), ("y", "")]);
        assert_ne!(joined.reference("b"), split.reference("b"));
    }
}
