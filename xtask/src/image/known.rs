//! The test images a run used last, remembered per user, so that the next
//! run can start its first containers while the engine is still being asked
//! whether they are still the right ones (`ImageCheck`). What is remembered
//! is only a guess: no module starts before the engine's own list confirms
//! it (or, for a daemonless engine, before its store's files show it
//! unchanged since its list last did: `store.rs`), and a wrong guess costs a
//! restart, never a wrong image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;
use xxhash_rust::xxh3::Xxh3;

use super::store::StoreSeen;
use super::{decide, LocalImages, Recipe, TestImage};
use crate::engine::Engine;
use crate::model::job::PythonVersion;
use crate::scratch::TempFile;

/// The file in the per-user cache.
const FILE: &str = "test-images.json";
/// Entries kept (one per engine, endpoint, recipe and set of versions).
const KEEP: usize = 32;
/// The most of the file read: it holds a few dozen short entries.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// What a run asks for: each Python version with the base named for it.
pub type Wanted = Vec<(PythonVersion, Option<String>)>;

/// What is remembered for one kind of run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remembered {
    /// One per wanted version.
    pub images: Vec<TestImage>,
    /// The engine's store when its list last confirmed them, if it can be watched.
    pub store: Option<StoreSeen>,
}

/// Where the test images of one kind of run are remembered.
pub struct KnownImages {
    file: PathBuf,
    key: String,
}

impl KnownImages {
    /// The entry for this engine (and the address it talks to), this recipe
    /// and these versions and bases.
    pub fn new(cache: &Path, engine: &Engine, recipe: &Recipe, wanted: &Wanted) -> KnownImages {
        let mut hasher = Xxh3::new();
        let mut part = |text: &str| {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        };
        part(engine.name());
        part(&engine.program().to_string_lossy());
        for variable in ["DOCKER_HOST", "DOCKER_CONTEXT", "CONTAINER_HOST", "CONTAINER_CONNECTION"] {
            part(&std::env::var(variable).unwrap_or_default());
        }
        part(&recipe.reference(""));
        for (python, base) in wanted {
            part(&python.to_string());
            part(base.as_deref().unwrap_or(""));
        }
        KnownImages { file: cache.join(FILE), key: format!("{:032x}", hasher.digest128()) }
    }

    /// What is remembered for this entry, with one image per wanted version.
    pub fn load(&self, wanted: &Wanted) -> Option<Remembered> {
        let remembered = read(&self.file).remove(&self.key)?;
        (remembered.images.len() == wanted.len()).then_some(remembered)
    }

    /// Remembers `images`, and the store its list showed them in (a failure
    /// to write is only a slower next run).
    pub fn store(&self, images: &[TestImage], store: Option<StoreSeen>) {
        let mut entries = read(&self.file);
        entries.remove(&self.key);
        while entries.len() >= KEEP {
            let Some(first) = entries.keys().next().cloned() else { break };
            entries.remove(&first);
        }
        entries.insert(self.key.clone(), Remembered { images: images.to_vec(), store });
        let _ = write(&self.file, &entries);
    }

    /// Forgets this entry (its guess was wrong).
    pub fn forget(&self) {
        let mut entries = read(&self.file);
        if entries.remove(&self.key).is_some() {
            let _ = write(&self.file, &entries);
        }
    }
}

/// The entries of the file; an unreadable or odd file is no entries.
fn read(file: &Path) -> BTreeMap<String, Remembered> {
    let Ok(handle) = std::fs::File::open(file) else { return BTreeMap::new() };
    let mut bytes = Vec::new();
    if std::io::Read::read_to_end(&mut std::io::Read::take(handle, MAX_FILE_BYTES), &mut bytes).is_err() {
        return BTreeMap::new();
    }
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Written whole (a temporary file renamed over it): runs at once each see a complete file.
fn write(file: &Path, entries: &BTreeMap<String, Remembered>) -> Result<()> {
    let folder = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    let mut temporary = TempFile::new_in(folder, ".test-images-")?;
    std::io::Write::write_all(&mut temporary, &serde_json::to_vec(entries)?)?;
    temporary.persist(file)?;
    Ok(())
}

/// Whether the images a run guessed are those `ensure` would pick now,
/// asked of the engine once, by whichever job needs the answer first (the
/// others wait for it); its containers start meanwhile, and their modules
/// only once it is yes.
pub struct ImageCheck {
    recipe: Recipe,
    wanted: Wanted,
    guessed: Remembered,
    /// Where the guess came from: forgotten when it was wrong.
    known: KnownImages,
    answer: OnceLock<Result<bool, String>>,
}

impl ImageCheck {
    pub fn new(recipe: Recipe, wanted: Wanted, guessed: Remembered, known: KnownImages) -> ImageCheck {
        ImageCheck { recipe, wanted, guessed, known, answer: OnceLock::new() }
    }

    /// Whether the guess holds; an engine that does not answer is an error.
    /// A store unchanged since the engine's list confirmed the guess holds
    /// it without a word to the engine.
    pub fn holds(&self, engine: &Engine) -> Result<bool> {
        let answer = self.answer.get_or_init(|| {
            let remembered = self.guessed.store.as_ref();
            let seen = StoreSeen::take(engine, remembered);
            if seen.is_some() && seen.as_ref() == remembered {
                return Ok(true);
            }
            let local = LocalImages::read(engine).map_err(|e| format!("{e:#}"))?;
            let holds = self.wanted.iter().zip(&self.guessed.images).all(|((python, base), guessed)| {
                decide(&self.recipe, &local, base.as_deref(), *python).as_ref() == Some(guessed)
            });
            if !holds {
                self.known.forget();
            } else if seen.is_some() && seen.as_ref() != remembered {
                self.known.store(&self.guessed.images, seen);
            }
            Ok(holds)
        });
        answer.clone().map_err(anyhow::Error::msg)
    }

    /// The guess was asked about and was wrong: the run must start again.
    pub fn failed(&self) -> bool {
        matches!(self.answer.get(), Some(Ok(false)))
    }
}
