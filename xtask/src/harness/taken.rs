//! Files the runner takes from a container: whatever a module could reach
//! is untrusted, so such a file is read only when it is a regular file (no
//! symlink followed, no FIFO or device opened) and no larger than a cap.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file's bytes, or why it was not read (a sentence naming the file).
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
    let file = File::options()
        .read(true)
        // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP) => format!("{name} is a symbolic link, not a file"),
            Some(libc::ENOENT) => format!("{name} is missing"),
            _ => format!("{name} cannot be opened: {error}"),
        })?;
    let metadata = file.metadata().map_err(|e| format!("{name}: {e}"))?;
    if !metadata.file_type().is_file() {
        return Err(format!("{name} is not a regular file"));
    }
    if metadata.len() > cap {
        return Err(format!("{name} is {} bytes, more than the {cap} taken", metadata.len()));
    }
    let mut bytes = Vec::new();
    // Capped again while reading: the file may still be growing.
    file.take(cap + 1).read_to_end(&mut bytes).map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("{name} grew past the {cap} bytes taken"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_under_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("summary.json");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read_regular(&file, 2).unwrap(), b"{}");
        assert!(read_regular(&file, 1).unwrap_err().contains("more than the 1"));
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_regular(&link, 100).unwrap_err().contains("symbolic link"));
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("/nonexistent", &dangling).unwrap();
        assert!(read_regular(&dangling, 100).unwrap_err().contains("symbolic link"));
        assert!(read_regular(Path::new("/dev/zero"), 100).unwrap_err().contains("not a regular file"));
        assert!(read_regular(dir.path(), 100).unwrap_err().contains("not a regular file"));
        assert!(read_regular(&dir.path().join("gone"), 100).unwrap_err().contains("missing"));
        let fifo = dir.path().join("stats.json");
        let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        assert!(read_regular(&fifo, 100).unwrap_err().contains("not a regular file"), "a FIFO never blocks");
    }
}
