//! Whether a daemonless engine's image store is as it was, told by its files
//! alone (`StoreSeen`). A run whose remembered test images the engine's list
//! confirmed, in a store unchanged since, need not ask again: for Podman that
//! question is a second CLI start (about 30 ms of CPU) beside the first
//! container's, which a single module's run feels.
//!
//! Podman's CLI reads its store itself. Each change of the store's names
//! (build, pull, load, tag, untag, rmi) rewrites the names file whole and
//! renews the write token in the lock file beside it (containers/storage);
//! the stamp holds both. Where the store is, and whether the CLI is a client
//! of another host, its settings files and a few variables decide: `info`
//! is asked once (it is slow: it gathers everything about the host) and its
//! answer kept with a stamp of those settings, and asked again when they
//! change. Both stamps are taken before the list they vouch for, so that a
//! change made meanwhile shows the next time.

use std::hash::Hasher;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::engine::kinds::LocalStore;
use crate::engine::Engine;

/// The most entries of settings folders stamped: past it, no stamp (the
/// store is then asked every run).
const MAX_SETTINGS_ENTRIES: usize = 512;
/// The most of the lock file read (containers/storage's is 64 bytes).
const MAX_LOCK_BYTES: u64 = 4096;

/// An image store as seen right before the engine's list was read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreSeen {
    /// Stamp of the settings that say where the store is.
    settings: String,
    /// The folder of the store's names, as `info` gave it under those settings.
    folder: PathBuf,
    /// Stamp of the names file and the lock file.
    names: String,
}

impl StoreSeen {
    /// The store now, to be taken before its list is read; `remembered`'s
    /// folder is reused while the settings are those it was found under, so
    /// a store unchanged since costs no engine call and equals `remembered`.
    /// `None` for an engine without a local store, or one that cannot be read.
    pub fn take(engine: &Engine, remembered: Option<&StoreSeen>) -> Option<StoreSeen> {
        let store = engine.local_store()?;
        let settings = settings_stamp(engine.program(), store)?;
        let folder = match remembered.filter(|seen| seen.settings == settings) {
            Some(seen) => seen.folder.clone(),
            None => engine.image_names_folder()?,
        };
        let names = names_stamp(&folder, store)?;
        Some(StoreSeen { settings, folder, names })
    }
}

/// The names file's identity and times, and the lock file's write token.
fn names_stamp(folder: &Path, store: &LocalStore) -> Option<String> {
    let mut hasher = Xxh3::new();
    let names = std::fs::metadata(folder.join(store.names_file)).ok()?;
    if !names.is_file() {
        return None;
    }
    add_metadata(&mut hasher, &names);
    let mut token = Vec::new();
    std::fs::File::open(folder.join(store.lock_file))
        .ok()?
        .take(MAX_LOCK_BYTES)
        .read_to_end(&mut token)
        .ok()?;
    hasher.write(&token);
    Some(format!("{:032x}", hasher.digest128()))
}

/// The engine program, the user, the variables that move the settings, and
/// every entry of the settings folders (and of their subfolders, the
/// drop-in `*.d` ones): a file added, removed, replaced or edited changes it.
fn settings_stamp(program: &Path, store: &LocalStore) -> Option<String> {
    let mut hasher = Xxh3::new();
    let mut text = |text: &[u8]| {
        hasher.write_u64(text.len() as u64);
        hasher.write(text);
    };
    text(program.as_os_str().as_encoded_bytes());
    // SAFETY: geteuid has no preconditions and cannot fail.
    text(&unsafe { libc::geteuid() }.to_le_bytes());
    let mut folders: Vec<PathBuf> = store.settings_folders.iter().map(PathBuf::from).collect();
    let user_config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")));
    folders.extend(user_config.map(|config| config.join(store.user_settings_folder)));
    let mut files = vec![program.to_path_buf()];
    for variable in store.settings_variables {
        let value = std::env::var_os(variable);
        text(variable.as_bytes());
        text(value.as_ref().map_or(b"\0unset".as_slice(), |v| v.as_encoded_bytes()));
        // Those that name a settings file: the file itself too.
        if variable.starts_with("CONTAINERS_") {
            files.extend(value.map(PathBuf::from));
        }
    }
    let mut entries = 0;
    for folder in &folders {
        stamp_folder(&mut hasher, folder, 1, &mut entries)?;
    }
    for file in files {
        stamp_path(&mut hasher, &file);
    }
    Some(format!("{:032x}", hasher.digest128()))
}

/// A folder's own metadata and each entry's, by name, `depth` levels down.
fn stamp_folder(hasher: &mut Xxh3, folder: &Path, depth: usize, entries: &mut usize) -> Option<()> {
    stamp_path(hasher, folder);
    let Ok(listing) = std::fs::read_dir(folder) else { return Some(()) };
    let mut names: Vec<_> = listing.filter_map(|entry| entry.ok().map(|e| e.file_name())).collect();
    names.sort();
    for name in names {
        *entries += 1;
        if *entries > MAX_SETTINGS_ENTRIES {
            return None;
        }
        let path = folder.join(&name);
        hasher.write(name.as_encoded_bytes());
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() && depth > 0 => {
                stamp_folder(hasher, &path, depth - 1, entries)?
            }
            _ => stamp_path(hasher, &path),
        }
    }
    Some(())
}

/// A path's metadata (followed through links), or that it is not there.
fn stamp_path(hasher: &mut Xxh3, path: &Path) {
    hasher.write(path.as_os_str().as_encoded_bytes());
    match std::fs::metadata(path) {
        Ok(metadata) => add_metadata(hasher, &metadata),
        Err(_) => hasher.write(b"\0absent"),
    }
}

fn add_metadata(hasher: &mut Xxh3, metadata: &std::fs::Metadata) {
    for number in [
        metadata.dev(),
        metadata.ino(),
        metadata.size(),
        u64::from(metadata.mode()),
        metadata.mtime() as u64,
        metadata.mtime_nsec() as u64,
        metadata.ctime() as u64,
        metadata.ctime_nsec() as u64,
    ] {
        hasher.write_u64(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(folder: &Path) -> LocalStore {
        let settings: &'static str =
            Box::leak(folder.join("settings").display().to_string().into_boxed_str());
        LocalStore {
            info_format: "",
            names_file: "images.json",
            lock_file: "images.lock",
            settings_folders: Box::leak(vec![settings].into_boxed_slice()),
            user_settings_folder: "pymaccounter-test-no-such-folder",
            settings_variables: &["PYMACCOUNTER_TEST_NO_SUCH_VARIABLE"],
        }
    }

    #[test]
    fn the_names_stamp_changes_with_each_write_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(names_stamp(dir.path(), &store), None, "no store files: no stamp");
        std::fs::write(dir.path().join("images.json"), "[]").unwrap();
        assert_eq!(names_stamp(dir.path(), &store), None, "no lock file: no stamp");
        std::fs::write(dir.path().join("images.lock"), b"token-1").unwrap();
        let first = names_stamp(dir.path(), &store).unwrap();
        assert_eq!(names_stamp(dir.path(), &store), Some(first.clone()), "read twice, the same");
        // A writer renews the token even when the names come out the same.
        std::fs::write(dir.path().join("images.lock"), b"token-2").unwrap();
        let second = names_stamp(dir.path(), &store).unwrap();
        assert_ne!(first, second);
        // The names file replaced by one of the same size.
        std::fs::write(dir.path().join("new.json"), "{}").unwrap();
        std::fs::rename(dir.path().join("new.json"), dir.path().join("images.json")).unwrap();
        assert_ne!(names_stamp(dir.path(), &store).unwrap(), second);
    }

    #[test]
    fn the_settings_stamp_changes_when_a_settings_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let settings = dir.path().join("settings");
        let program = Path::new("/bin/sh");
        let stamp = || settings_stamp(program, &store).unwrap();
        let absent = stamp();
        std::fs::create_dir_all(settings.join("storage.conf.d")).unwrap();
        let empty = stamp();
        assert_ne!(absent, empty, "a settings folder appeared");
        std::fs::write(settings.join("storage.conf"), "[storage]\n").unwrap();
        let one = stamp();
        assert_ne!(one, empty, "a file added");
        assert_eq!(stamp(), one, "nothing changed");
        // Edited in place to the same size: its change time moves.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(settings.join("storage.conf"), "[STORAGE]\n").unwrap();
        let edited = stamp();
        assert_ne!(edited, one, "a file edited");
        std::fs::write(settings.join("storage.conf.d/x.conf"), "").unwrap();
        assert_ne!(stamp(), edited, "a drop-in file added");
        assert_ne!(settings_stamp(Path::new("/bin/true"), &store).unwrap(), stamp(), "another program");
    }

    #[test]
    fn too_many_settings_entries_give_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let settings = dir.path().join("settings");
        std::fs::create_dir_all(&settings).unwrap();
        for n in 0..=MAX_SETTINGS_ENTRIES {
            std::fs::write(settings.join(format!("{n}.conf")), "").unwrap();
        }
        assert_eq!(settings_stamp(Path::new("/bin/sh"), &store), None);
    }
}
