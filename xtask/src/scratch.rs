//! Temporary folders and files that remove themselves when dropped.
//!
//! Each is created exclusively (an existing path or a link standing at the
//! name is never used), private to this user (0700 folders, 0600 files), and
//! named from a per-process random key, the process id and a counter. The
//! `tempfile` crate does the same with `rustix` and `getrandom` under it; the
//! runner needs only these few calls, and its cold build is measured.

use std::collections::hash_map::RandomState;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Names already taken are tried again with the next name this many times.
const ATTEMPTS: u32 = 64;

/// A folder removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new folder in the system's temporary folder.
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        TempDir::new_in(&std::env::temp_dir(), prefix)
    }

    /// A new folder inside `parent`.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<TempDir> {
        let path = create_unique(parent, prefix, |path| DirBuilder::new().mode(0o700).create(path))?.0;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A file removed when dropped, unless `persist` renamed it into place.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    /// A new empty file inside `parent` (same folder as where it will be
    /// persisted, so the rename is atomic).
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<TempFile> {
        let (path, file) = create_unique(parent, prefix, |path| {
            OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path)
        })?;
        Ok(TempFile { path, file, persisted: false })
    }

    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// Renames the file over `path` (a link standing there is replaced, not followed).
    pub fn persist(mut self, path: &Path) -> io::Result<()> {
        fs::rename(&self.path, path)?;
        self.persisted = true;
        Ok(())
    }
}

impl io::Write for TempFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn create_unique<T>(
    parent: &Path,
    prefix: &str,
    create: impl Fn(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    for _ in 0..ATTEMPTS {
        let path = parent.join(format!("{prefix}{}", unique_name()));
        match create(&path) {
            Ok(made) => return Ok((path, made)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name in {}", parent.display()),
    ))
}

/// Twelve hex digits no other process is likely to pick: std's per-process
/// random hash key over the process id and a counter.
fn unique_name() -> String {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = KEY.get_or_init(RandomState::new).build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_folder_is_private_and_goes_away_with_its_contents() {
        let dir = TempDir::new("scratch-test-").unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("scratch-test-"));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        fs::write(path.join("inside"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn names_do_not_repeat_and_a_link_at_a_name_is_never_used() {
        let parent = TempDir::new("scratch-parent-").unwrap();
        let a = TempDir::new_in(parent.path(), "d-").unwrap();
        let b = TempDir::new_in(parent.path(), "d-").unwrap();
        assert_ne!(a.path(), b.path());
        // A file made exclusively refuses what stands there, a link included.
        let target = parent.path().join("target");
        std::os::unix::fs::symlink(&target, parent.path().join("taken")).unwrap();
        let error = create_unique(parent.path(), "taken", |path| {
            OpenOptions::new().write(true).create_new(true).open(path.with_file_name("taken"))
        })
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert!(!target.exists());
    }

    #[test]
    fn a_file_is_removed_unless_persisted_and_persisting_replaces_a_link() {
        let parent = TempDir::new("scratch-files-").unwrap();
        let dropped = TempFile::new_in(parent.path(), ".t-").unwrap();
        let dropped_path = dropped.path.clone();
        assert_eq!(fs::metadata(&dropped_path).unwrap().permissions().mode() & 0o777, 0o600);
        drop(dropped);
        assert!(!dropped_path.exists());

        let elsewhere = parent.path().join("elsewhere");
        fs::write(&elsewhere, "keep").unwrap();
        let destination = parent.path().join("report");
        std::os::unix::fs::symlink(&elsewhere, &destination).unwrap();
        let mut kept = TempFile::new_in(parent.path(), ".t-").unwrap();
        kept.write_all(b"new").unwrap();
        kept.persist(&destination).unwrap();
        assert_eq!(fs::read_to_string(&destination).unwrap(), "new");
        assert!(fs::symlink_metadata(&destination).unwrap().is_file());
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "keep");
        assert_eq!(fs::read_dir(parent.path()).unwrap().count(), 2);
    }
}
