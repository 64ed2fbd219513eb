//! The test image: what goes into it, its content-derived tag, and when to build it.
//!
//! The tag is a hash of the Dockerfile, the base image's name and every `.py`
//! file of the test dir, so an unchanged tree finds its image with one cheap
//! engine call and an edited module always gets a fresh build.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::base_image;
use crate::engine::Engine;
use crate::error::environment;
use crate::matrix::PythonVersion;
use crate::modules::TestDir;

pub const TEST_REPOSITORY: &str = "pymaccounter-tests";

/// Everything that goes into a test image.
pub struct Recipe {
    dockerfile: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
}

impl Recipe {
    pub fn load(dir: &TestDir) -> Result<Recipe> {
        let dockerfile_path = crate::project_root().join("Dockerfile");
        let dockerfile = fs::read(&dockerfile_path)
            .with_context(|| format!("cannot read {}", dockerfile_path.display()))?;
        let files = dir
            .python_files()?
            .into_iter()
            .map(|name| {
                let bytes = fs::read(dir.path.join(&name))
                    .with_context(|| format!("cannot read {}/{name}", dir.display))?;
                Ok((name, bytes))
            })
            .collect::<Result<_>>()?;
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

    /// Writes the build context: the Dockerfile and `tests/` with the modules.
    fn write_context(&self, context: &Path) -> Result<()> {
        fs::write(context.join("Dockerfile"), &self.dockerfile)?;
        let tests = context.join("tests");
        fs::create_dir(&tests)?;
        for (name, bytes) in &self.files {
            fs::write(tests.join(name), bytes)?;
        }
        Ok(())
    }
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
) -> Result<String> {
    if let Some(base) = explicit_base {
        let reference = recipe.reference(base);
        if !local.has(&reference) {
            build(engine, recipe, base, &reference)?;
        }
        return Ok(reference);
    }
    let online_base = python.registry_base();
    let offline_base = base_image::reference(python);
    let online = recipe.reference(&online_base);
    let offline = recipe.reference(&offline_base);
    if local.has(&online) {
        return Ok(online);
    }
    // A debug build is in no registry: its "registry base" is the offline one.
    let in_registry = online_base != offline_base;
    let fallback_note = format!(
        "note: {online_base} is not available here (no registry?); using the offline base {offline_base} (Debian {})",
        python.debian_suite()
    );
    if local.has(&offline) {
        if in_registry {
            eprintln!("{fallback_note}");
        }
        return Ok(offline);
    }
    if in_registry && (engine.image_exists(&online_base)? || engine.pull(&online_base)?) {
        build(engine, recipe, &online_base, &online)?;
        return Ok(online);
    }
    if in_registry {
        eprintln!("{fallback_note}");
    }
    base_image::build(engine, python, false)?;
    build(engine, recipe, &offline_base, &offline)?;
    Ok(offline)
}

fn build(engine: &Engine, recipe: &Recipe, base: &str, reference: &str) -> Result<()> {
    let _lock = host_lock(reference)?;
    // Another run may have built it while we waited for the lock.
    if engine.image_exists(reference)? {
        return Ok(());
    }
    eprintln!("Building test image {reference} from {base} ...");
    let context = tempfile::Builder::new().prefix("pymaccounter-build-").tempdir()?;
    recipe.write_context(context.path())?;
    let command = engine.build_command(context.path(), reference, base);
    let log_tail = crate::logged::run_logged(command, engine.debug(), "building")?;
    log_tail.map_err(|tail| {
        environment(format!(
            "building the test image from {base} failed (run with --debug for the whole log):\n{tail}"
        ))
    })
}

/// An exclusive lock shared by every run on this host, so that two runs
/// needing the same image build it once; released when dropped.
pub fn host_lock(name: &str) -> Result<fs::File> {
    let dir = std::env::temp_dir().join("pymaccounter-locks");
    fs::create_dir_all(&dir)?;
    let file_name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let file = fs::File::create(dir.join(file_name))?;
    file.lock()?;
    Ok(file)
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
        let a = recipe(&[("test_a.py", "print(1)")]);
        assert_eq!(a.reference("base"), recipe(&[("test_a.py", "print(1)")]).reference("base"));
        assert_ne!(a.reference("base"), recipe(&[("test_a.py", "print(2)")]).reference("base"));
        assert_ne!(a.reference("base"), recipe(&[("test_b.py", "print(1)")]).reference("base"));
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
