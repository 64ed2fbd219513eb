//! `--memray`: memray records each module into a capture file mounted in its
//! container; afterwards a second container of the same image (which has
//! memray) turns the capture into a summary and a flame graph
//! (`xtask/container/memray_collect.py`), read back here.
//!
//! What the module can write is bounded: the folder it sees is not writable
//! for it (no symlink, FIFO or extra file can appear there), and its one
//! writable file, the capture, is capped by the container's file size limit.
//! The collector writes into a second folder the module never saw, and what
//! it wrote is read as untrusted anyway (`taken::read_regular`). Both
//! folders go once the reports have what they need.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::taken::read_regular;
use crate::engine::container::Mount;
use crate::model::memray::MemraySummary;
use crate::scratch::TempFile;

/// The capture folder inside the module's container.
pub const FOLDER: &str = "/memray";
/// memray's capture file (its non-aggregated format survives an OOM kill).
pub const CAPTURE: &str = "/memray/capture.bin";
/// Where the collector writes, in its own container.
const OUT: &str = "/memray-out";
const COLLECTOR: &str = "/opt/pymaccounter/memray_collect.py";
/// The largest capture a module may write (its container's file size
/// limit): a module cannot fill the host's disk through memray's folder.
pub const CAPTURE_CAP: u64 = 1 << 30;
const SUMMARY_CAP: u64 = 1 << 20;
const FLAMEGRAPH_CAP: u64 = 64 << 20;
/// Owns the capture folder when the module runs as root: a user other than
/// the module's, so that the module (with no capabilities) cannot write there.
const NOBODY: u32 = crate::engine::container::NOBODY;

/// An attempt's two folders on the host.
#[derive(Debug, Clone)]
pub struct Folders {
    /// Mounted in the module's container: the capture alone is writable.
    pub capture: PathBuf,
    /// Mounted in the collector's container only.
    pub out: PathBuf,
}

impl Folders {
    pub fn of(work: &Path, tag: &str) -> Folders {
        Folders { capture: work.join(tag), out: work.join(format!("{tag}-out")) }
    }

    /// Removes both: what the module and the collector wrote stays no longer
    /// than the reports need it (the flame graph is copied out first).
    pub fn remove(&self) {
        for folder in [&self.capture, &self.out] {
            // Made writable again first: a non-root runner owns the folder.
            let _ = fs::set_permissions(folder, fs::Permissions::from_mode(0o700));
            let _ = fs::remove_dir_all(folder);
        }
    }
}

/// Creates the capture folder for a module running as `user` (`UID:GID`):
/// an empty capture file the module owns, in a folder it cannot write.
pub fn capture_mount(folders: &Folders, user: &str) -> Result<Mount> {
    let folder = &folders.capture;
    fs::create_dir_all(folder)?;
    let capture = folder.join("capture.bin");
    fs::write(&capture, b"")?;
    fs::set_permissions(&capture, fs::Permissions::from_mode(0o644))?;
    let (uid, gid) = parse_user(user);
    // Only root can give files away; otherwise the module is the runner's own
    // user, which owns the folder and could make it writable again: the file
    // size limit still bounds the capture.
    if is_root() {
        std::os::unix::fs::chown(&capture, Some(uid), Some(gid))?;
        let keeper = if uid == NOBODY { 0 } else { NOBODY };
        std::os::unix::fs::chown(folder, Some(keeper), Some(keeper))?;
    }
    fs::set_permissions(folder, fs::Permissions::from_mode(0o555))?;
    Ok(Mount::Output { source: folder.clone(), target: FOLDER.to_string() })
}

/// Whether the module left a capture worth collecting (a non-empty regular
/// file; memray may not have started, e.g. under an early OOM kill).
pub fn has_capture(folders: &Folders) -> bool {
    fs::symlink_metadata(folders.capture.join("capture.bin"))
        .is_ok_and(|m| m.file_type().is_file() && m.len() > 0)
}

/// The collector's mounts and command: the capture read-only, a fresh folder
/// to write into. `leaks` asks for the leaks flame graph (meaningful when
/// pymalloc was off).
pub fn collector(
    folders: &Folders,
    user: &str,
    leaks: bool,
    python: &str,
) -> Result<(Vec<Mount>, Vec<String>)> {
    fs::create_dir_all(&folders.out)?;
    if is_root() {
        let (uid, gid) = parse_user(user);
        std::os::unix::fs::chown(&folders.out, Some(uid), Some(gid))?;
    }
    fs::set_permissions(&folders.out, fs::Permissions::from_mode(0o700))?;
    let mounts = vec![
        Mount::Bind { source: folders.capture.clone(), target: FOLDER.to_string() },
        Mount::Output { source: folders.out.clone(), target: OUT.to_string() },
    ];
    let mut command: Vec<String> = [python, COLLECTOR, CAPTURE, OUT].map(str::to_string).to_vec();
    if leaks {
        command.push("--leaks".into());
    }
    Ok((mounts, command))
}

/// `<folder>/<tag>-<job label>.html`, with only safe characters.
pub fn flamegraph_path(folder: &Path, label: &str, tag: &str) -> PathBuf {
    let name: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(80)
        .collect();
    folder.join(format!("{tag}-{name}.html"))
}

/// What the collector wrote: the summary, and the flame graph copied to
/// `flamegraph_to`. An error is a sentence saying what was wrong with it.
pub fn read_outputs(folders: &Folders, flamegraph_to: &Path) -> Result<MemraySummary, String> {
    let text = read_regular(&folders.out.join("summary.json"), SUMMARY_CAP)?;
    let mut summary: MemraySummary =
        serde_json::from_slice(&text).map_err(|e| format!("summary.json is not memray's summary: {e}"))?;
    summary.flamegraph_path = match read_regular(&folders.out.join("flamegraph.html"), FLAMEGRAPH_CAP) {
        Ok(page) => {
            write_new(flamegraph_to, &page).map_err(|e| format!("cannot save the flame graph: {e}"))?;
            Some(flamegraph_to.to_path_buf())
        }
        Err(why) => return Err(why),
    };
    Ok(summary)
}

/// Writes a file through a temporary one in the same folder, never through
/// a link that stands at the path.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let mut temporary = TempFile::new_in(parent, ".pymaccounter-")?;
    std::io::Write::write_all(&mut temporary, bytes)?;
    temporary.persist(path)?;
    Ok(())
}

fn parse_user(user: &str) -> (u32, u32) {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    (uid.parse().unwrap_or(NOBODY), gid.parse().unwrap_or(NOBODY))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_are_not_plain_files_fail_with_the_reason() {
        let work = tempfile::tempdir().unwrap();
        let folders = Folders::of(work.path(), "0");
        fs::create_dir_all(&folders.out).unwrap();
        let target = work.path().join("report/0-x.html");
        assert!(read_outputs(&folders, &target).unwrap_err().contains("summary.json is missing"));
        std::os::unix::fs::symlink("/etc/shadow", folders.out.join("summary.json")).unwrap();
        assert!(read_outputs(&folders, &target).unwrap_err().contains("symbolic link"));
        fs::remove_file(folders.out.join("summary.json")).unwrap();
        fs::write(folders.out.join("summary.json"), b"[1,2]").unwrap();
        assert!(read_outputs(&folders, &target).unwrap_err().contains("not memray's summary"));
        fs::write(
            folders.out.join("summary.json"),
            br#"{"peak_memory_bytes": 5, "total_allocations": 1, "total_bytes_allocated": 5,
              "python_allocator": "pymalloc", "flamegraph": "allocations"}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", folders.out.join("flamegraph.html")).unwrap();
        assert!(read_outputs(&folders, &target).unwrap_err().contains("flamegraph.html is a symbolic link"));
        assert!(!target.exists(), "nothing is copied from a link");
        fs::remove_file(folders.out.join("flamegraph.html")).unwrap();
        fs::write(folders.out.join("flamegraph.html"), b"<html>").unwrap();
        let summary = read_outputs(&folders, &target).unwrap();
        assert_eq!(summary.flamegraph_path.as_deref(), Some(target.as_path()));
        assert_eq!(fs::read(&target).unwrap(), b"<html>");
        folders.remove();
        assert!(!folders.out.exists() && !folders.capture.exists());
    }

    #[test]
    fn the_capture_folder_holds_one_empty_file_and_is_not_writable() {
        let work = tempfile::tempdir().unwrap();
        let folders = Folders::of(work.path(), "3");
        let mount = capture_mount(&folders, "1000:1000").unwrap();
        assert_eq!(mount, Mount::Output { source: folders.capture.clone(), target: FOLDER.into() });
        let mode = fs::metadata(&folders.capture).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o555);
        assert!(!has_capture(&folders), "empty: memray never wrote");
        folders.remove();
        assert!(!folders.capture.exists());
    }
}
