//! Host-wide locks: two runs (of any user) needing the same image build it
//! once. The lock folder is shared by every user of the machine, so it is
//! world-writable and sticky like /tmp, and a lock file someone else created
//! is locked through a read-only handle.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::Result;

use crate::error::environment;

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("pymaccounter-locks")
}

/// An exclusive lock named `name`, held until the returned file is dropped.
pub fn host_lock(name: &str) -> Result<File> {
    let (file, path) = open(name)?;
    file.lock().map_err(|e| environment(format!("cannot lock {}: {e}", path.display())))?;
    Ok(file)
}

/// The lock named `name` when no one holds it now (`None` when someone does), without waiting.
pub fn try_host_lock(name: &str) -> Result<Option<File>> {
    let (file, path) = open(name)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(environment(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// The lock file named `name`, created when missing.
fn open(name: &str) -> Result<(File, PathBuf)> {
    let dir = lock_dir();
    let problem = |what: &str, path: &std::path::Path, error: std::io::Error| {
        environment(format!("cannot {what} {}: {error}", path.display()))
    };
    if !dir.is_dir() {
        fs::create_dir_all(&dir).map_err(|e| problem("create the lock folder", &dir, e))?;
        // Only its creator can do this; anyone else finds it done already.
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777));
    }
    let file_name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let path = dir.join(file_name);
    let file = match OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path) {
        Ok(file) => {
            let _ = file.set_permissions(fs::Permissions::from_mode(0o666));
            file
        }
        // Another user's lock file: a read-only handle locks just as well.
        Err(_) => File::open(&path).map_err(|e| problem("open the lock file", &path, e))?,
    };
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let name = format!("unit-test-{}", std::process::id());
        let held = host_lock(&name).unwrap();
        let path = lock_dir().join(&name);
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err(), "a second lock must wait");
        assert!(try_host_lock(&name).unwrap().is_none(), "held elsewhere");
        drop(held);
        assert!(try_host_lock(&name).unwrap().is_some());
        assert!(other.try_lock().is_ok());
        let _ = fs::remove_file(path);
    }
}
