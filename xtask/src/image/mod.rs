//! The test image: the base plus what runs modules (the monitor, the harness),
//! never the modules themselves (the test dir is mounted into each container
//! as it is on disk, so editing a module builds nothing).
//!
//! The tag is a hash of the Dockerfile, the files under `xtask/container/`
//! and the base image's id (its name when the engine has no id for it): an
//! unchanged recipe finds its image with one cheap engine call.

pub mod base;
pub mod known;
pub mod lock;
pub mod logged;
pub mod store;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::engine::{BuildLayers, Engine};
use crate::error::environment;
use crate::model::event::Notice;
use crate::model::job::PythonVersion;
use crate::scratch::TempDir;

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

    /// `pymaccounter-tests:<hash>` for this content on this base (its id, so a rebuilt base counts).
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
    /// `REPOSITORY:TAG` and image id of every local image.
    images: Vec<(String, String)>,
}

impl LocalImages {
    pub fn read(engine: &Engine) -> Result<LocalImages> {
        Ok(LocalImages::of(engine.local_images()?))
    }

    /// Podman lists an image built or loaded without a registry as
    /// `localhost/NAME:TAG`, which it also answers to as `NAME:TAG`: both
    /// names are kept, so that a present image costs no `inspect` or `pull`.
    fn of(listed: Vec<(String, String)>) -> LocalImages {
        let mut images = Vec::with_capacity(listed.len());
        for (reference, id) in listed {
            if let Some(short) = reference.strip_prefix("localhost/") {
                images.push((short.to_string(), id.clone()));
            }
            images.push((reference, id));
        }
        LocalImages { images }
    }

    fn has(&self, reference: &str) -> bool {
        self.images.iter().any(|(r, _)| r == reference)
    }

    /// The id of a local image (a name without a tag means `:latest`).
    fn id_of(&self, image: &str) -> Option<String> {
        let tagged = match image.rsplit_once(':') {
            Some((_, tag)) if !tag.contains('/') => image.to_string(),
            _ => format!("{image}:latest"),
        };
        self.images.iter().find(|(r, _)| *r == tagged).map(|(_, id)| id.clone())
    }
}

/// A test image and the base it was built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestImage {
    pub reference: String,
    pub base: String,
    /// The base's image id, when the engine has it.
    pub base_id: Option<String>,
}

impl TestImage {
    fn new(reference: String, base: &str, base_id: Option<String>) -> TestImage {
        TestImage { reference, base: base.to_string(), base_id }
    }

    /// Whether its base is one of our offline bases (which have pytest).
    pub fn on_offline_base(&self) -> bool {
        base::is_offline(&self.base)
    }
}

/// The test image `ensure` would pick from what the engine has, without
/// asking it anything more, pulling or building: `None` when it would.
pub fn decide(
    recipe: &Recipe,
    local: &LocalImages,
    explicit_base: Option<&str>,
    python: PythonVersion,
) -> Option<TestImage> {
    let built_on = |base: &str| {
        let id = local.id_of(base)?;
        let reference = recipe.reference(&id);
        local.has(&reference).then(|| TestImage::new(reference, base, Some(id)))
    };
    if let Some(base) = explicit_base {
        return built_on(base);
    }
    let row = python.row()?;
    built_on(&row.registry_base()).or_else(|| built_on(&base::reference(row)))
}

/// Says that the registry's base was not there and the offline one is used
/// instead, when `image` is on the offline base of a version that has a
/// registry base and none was named.
pub fn announce_fallback(
    engine: &Engine,
    explicit_base: Option<&str>,
    python: PythonVersion,
    image: &TestImage,
) {
    let Some(row) = python.row().filter(|_| explicit_base.is_none()) else { return };
    let (online_base, offline_base) = (row.registry_base(), base::reference(row));
    // A debug build is in no registry: its "registry base" is the offline one.
    if online_base != offline_base && image.base == offline_base {
        engine.notices().send(Notice::OfflineFallback {
            wanted: online_base,
            offline: offline_base,
            suite: row.suite.to_string(),
        });
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
    if let Some(image) = decide(recipe, local, explicit_base, python) {
        announce_fallback(engine, explicit_base, python, &image);
        return Ok(image);
    }
    // The tag hashes the base's id, not its name: a base rebuilt under the
    // same name gets a new test image.
    let id_of = |base: &str| -> Result<Option<String>> {
        match local.id_of(base) {
            Some(id) => Ok(Some(id)),
            None => engine.image_id(base),
        }
    };
    if let Some(base) = explicit_base {
        let mut id = id_of(base)?;
        if id.is_none() && engine.pull(base)? {
            id = engine.image_id(base)?;
        }
        let reference = recipe.reference(id.as_deref().unwrap_or(base));
        if !local.has(&reference) {
            build(engine, recipe, base, &reference)?;
        }
        return Ok(TestImage::new(reference, base, id));
    }
    let Some(row) = python.row() else {
        return Err(crate::error::usage(format!(
            "Python {python} has no offline base: give its base with --base-image {python}=IMAGE"
        )));
    };
    let online_base = row.registry_base();
    let offline_base = base::reference(row);
    let online_id = local.id_of(&online_base);
    let offline_id = local.id_of(&offline_base);
    // A debug build is in no registry: its "registry base" is the offline one.
    let in_registry = online_base != offline_base;
    if in_registry && (online_id.is_some() || engine.pull(&online_base)?) {
        if let Some(id) = engine.image_id(&online_base)? {
            let online = recipe.reference(&id);
            build(engine, recipe, &online_base, &online)?;
            return Ok(TestImage::new(online, &online_base, Some(id)));
        }
    }
    if offline_id.is_none() {
        base::build(engine, row, false)?;
    }
    let id = engine.image_id(&offline_base)?;
    let offline = recipe.reference(id.as_deref().unwrap_or(&offline_base));
    let image = TestImage::new(offline, &offline_base, id);
    announce_fallback(engine, None, python, &image);
    build(engine, recipe, &offline_base, &image.reference)?;
    Ok(image)
}

fn build(engine: &Engine, recipe: &Recipe, base: &str, reference: &str) -> Result<()> {
    let _lock = lock::host_lock(reference)?;
    // Another run may have built it while we waited for the lock.
    if engine.image_exists(reference)? {
        return Ok(());
    }
    engine.notices().send(Notice::BuildingImage { reference: reference.to_string(), base: base.to_string() });
    let context = TempDir::new("pymaccounter-build-")?;
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

    #[test]
    fn podmans_localhost_names_are_known_by_their_own_names_too() {
        let local = LocalImages::of(vec![
            ("localhost/pymaccounter-base:python-3.11-abc".into(), "sha256:1".into()),
            ("docker.io/library/python:3.11-slim".into(), "sha256:2".into()),
        ]);
        assert_eq!(local.id_of("pymaccounter-base:python-3.11-abc").as_deref(), Some("sha256:1"));
        assert!(local.has("localhost/pymaccounter-base:python-3.11-abc"));
        assert_eq!(local.id_of("python:3.11-slim"), None, "only localhost/ is the engine's own");
    }

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
