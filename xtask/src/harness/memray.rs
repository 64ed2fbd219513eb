//! `--memray`: memray records each module into a capture file mounted in its
//! container (`LAUNCHER` runs the module under memray's tracker); once the
//! module's process tree ended and the wrapper killed what it left, the
//! wrapper summarises the capture in the same container
//! (`xtask/container/memray_summary.py`) and copies the summary into a
//! mounted file (`SUMMARY_FILE`) behind a nonce-carrying header, read back
//! here; the flame graph is drawn on the host from the summary's stacks
//! (`report/flamegraph.rs`).
//!
//! What the module can write is bounded: the capture folder it sees is not
//! writable for it (no symlink, FIFO or extra file can appear there), and
//! its writable files, the capture and the summary file, are capped by the
//! container's file size limit. The capture is the module's data, so the
//! summary is too: read as untrusted (`taken::read_regular`, the header,
//! bounded JSON), and it can only say things of the module's own memory.
//! Both go once the reports have what they need.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::taken::read_regular;
use crate::engine::container::Mount;
use crate::model::memray::{MemraySummary, Stack};
use crate::scratch::TempFile;
use serde::Deserialize;

/// The capture folder inside the module's container.
pub const FOLDER: &str = "/memray";
/// memray's capture file (its non-aggregated format survives an OOM kill).
pub const CAPTURE: &str = "/memray/capture.bin";
/// Runs the module under memray's tracker (in the test image).
pub const LAUNCHER: &str = "/opt/pymaccounter/memray_run.py";
/// The descriptor the wrapper gives the launcher for memray's start-up notes.
const NOTES_FD: &str = "9";
/// Where the wrapper copies the summary, inside the container: one host file
/// mounted alone, as the verdict file is (see ARCHITECTURE.md).
pub const SUMMARY_FILE: &str = "/.pymaccounter-memray";
const SUMMARY_NAME: &str = "memray-summary";
/// The summariser's own deadline inside the container (`timeout` in the wrapper).
pub const SUMMARY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// The largest capture a module may write (its container's file size
/// limit): a module cannot fill the host's disk through memray's folder.
pub const CAPTURE_CAP: u64 = 1 << 30;
/// The most of the summary file read: 2,000 stacks of 64 frames fit.
const SUMMARY_CAP: u64 = 32 << 20;
/// Bounds on what the summary may hold, applied again here.
const MAX_STACKS: usize = 2000;
const MAX_DEPTH: usize = 64;
const MAX_TEXT: usize = 300;
const MAX_NOTES: usize = 32;
/// Owns the capture folder when the module runs as root: a user other than
/// the module's, so that the module (with no capabilities) cannot write there.
const NOBODY: u32 = crate::engine::container::NOBODY;

/// Where pytest-memray keeps each test's capture when it records alone
/// (`Recording::Tests`): in the container's `/tmp` (a tmpfs its memory limit
/// bounds, never the host's disk), read there by the summary.
pub const TESTS_FOLDER: &str = "/tmp/.pymaccounter-memray-tests";

/// What memray's tracker records of a module under `--memray`. memray runs
/// one tracker at a time, so a pytest file whose tests carry pytest-memray's
/// markers (checked by pytest-memray's own tracker, one per test) cannot
/// also be recorded whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Our tracker records the whole module into `CAPTURE`.
    Module,
    /// No tracker of ours: pytest-memray records every test (`--memray`),
    /// checks the markers, and keeps each test's capture in `TESTS_FOLDER`;
    /// the summary merges them (the figures say `per_test_captures`).
    Tests,
}

impl Recording {
    /// How a module is recorded: per test when it uses pytest-memray's
    /// markers and its environment holds pytest-memray.
    pub fn of(markers: bool, pytest_memray: bool) -> Recording {
        if markers && pytest_memray {
            Recording::Tests
        } else {
            Recording::Module
        }
    }
}

/// The launcher's words in the container command, before the module's path
/// (`-` for no tracker of ours).
pub fn launcher(recording: Recording) -> [&'static str; 3] {
    match recording {
        Recording::Module => [LAUNCHER, CAPTURE, NOTES_FD],
        Recording::Tests => [LAUNCHER, "-", NOTES_FD],
    }
}

/// An attempt's capture folder on the host.
#[derive(Debug, Clone)]
pub struct Folders {
    /// Mounted in the module's container: the capture alone is writable.
    pub capture: PathBuf,
    pub recording: Recording,
}

impl Folders {
    pub fn of(work: &Path, tag: &str, recording: Recording) -> Folders {
        Folders { capture: work.join(tag), recording }
    }

    /// Removes it: what the module wrote stays no longer than the reports
    /// need it (the flame graph is drawn from the summary, never from here).
    pub fn remove(&self) {
        // Made writable again first: a non-root runner owns the folder.
        let _ = fs::set_permissions(&self.capture, fs::Permissions::from_mode(0o700));
        let _ = fs::remove_dir_all(&self.capture);
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

/// Whether the module left a capture worth summarising (a non-empty regular
/// file; memray may not have started, e.g. under an early OOM kill). Per
/// test, the captures are in the container: the summary says how many.
pub fn has_capture(folders: &Folders) -> bool {
    folders.recording == Recording::Tests
        || fs::symlink_metadata(folders.capture.join("capture.bin"))
            .is_ok_and(|m| m.file_type().is_file() && m.len() > 0)
}

/// Creates an attempt's empty summary file in its host folder and returns
/// its mount (the wrapper summarises when it sees it). Writable by anyone
/// inside, as the verdict file is; only the wrapper's header makes it count.
pub fn summary_mount(host_dir: &Path) -> Result<Mount> {
    let source = host_dir.join(SUMMARY_NAME);
    fs::write(&source, b"")?;
    fs::set_permissions(&source, fs::Permissions::from_mode(0o666))?;
    Ok(Mount::Output { source, target: SUMMARY_FILE.to_string() })
}

/// `<folder>/<tag>-<job label>.svg`, with only safe characters.
pub fn flamegraph_path(folder: &Path, label: &str, tag: &str) -> PathBuf {
    let name: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(80)
        .collect();
    folder.join(format!("{tag}-{name}.svg"))
}

/// What the summary gave: the figures, the flame graph's stacks, memray's
/// own log lines (its start-up warnings: for `--debug`, not the module's output).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub summary: MemraySummary,
    pub stacks: Vec<Stack>,
    /// Bytes of the stacks left out (the smallest, past `MAX_STACKS`).
    pub omitted_bytes: u64,
    pub notes: Vec<String>,
}

/// The summary as `memray_summary.py` writes it.
#[derive(Deserialize)]
struct Written {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(flatten)]
    summary: Option<MemraySummary>,
    #[serde(default)]
    stacks: Vec<Stack>,
    #[serde(default)]
    omitted_bytes: u64,
}

/// The summary the wrapper copied into the attempt's summary file, then the
/// file removed. Trusted only behind the wrapper's header (this container's
/// nonce, the summariser's exit status, the length); an error is a sentence
/// saying why the recording cannot be used, `None` that nothing was recorded.
pub fn read_summary(host_dir: &Path, nonce: &str) -> Result<Option<Recorded>, String> {
    let path = host_dir.join(SUMMARY_NAME);
    let bytes = read_regular(&path, SUMMARY_CAP);
    let _ = fs::remove_file(&path);
    parse_summary(&bytes?, nonce)
}

fn parse_summary(bytes: &[u8], nonce: &str) -> Result<Option<Recorded>, String> {
    let header = format!("@@pymaccounter-{nonce} memray ");
    let rest = bytes.strip_prefix(header.as_bytes()).ok_or("memray's summary was never written")?;
    let end = rest.iter().position(|&b| b == b'\n').ok_or("memray's summary header is cut")?;
    let line = std::str::from_utf8(&rest[..end]).map_err(|_| "memray's summary header is not text")?;
    let (status, size) = line.split_once(' ').ok_or("memray's summary header is malformed")?;
    let (status, size) = match (status.parse::<i32>(), size.parse::<usize>()) {
        (Ok(status), Ok(size)) => (status, size),
        _ => return Err("memray's summary header is malformed".into()),
    };
    let body = rest[end + 1..].get(..size).ok_or("memray's summary is shorter than its header says")?;
    let said = || {
        let text = String::from_utf8_lossy(body);
        let last = text.trim_end().lines().last().unwrap_or("").to_string();
        truncate(last)
    };
    match status {
        0 => {}
        124 => {
            return Err(format!("memray could not read the capture within {} s", SUMMARY_DEADLINE.as_secs()))
        }
        137 => {
            return Err("memray's summary was killed (the container's memory limit, or its deadline)".into())
        }
        _ => return Err(format!("memray could not read the capture (exit {status}): {}", said())),
    }
    let written: Written =
        serde_json::from_slice(body).map_err(|e| format!("memray's summary is not JSON: {e}"))?;
    if let Some(error) = written.error {
        return Err(format!("memray could not read the capture: {}", truncate(error)));
    }
    let mut summary = written.summary.ok_or("memray's summary has no figures")?;
    if summary.per_test_captures == Some(0) {
        // Per test, and no test ran (all skipped, or none collected): nothing recorded.
        return Ok(None);
    }
    summary.flamegraph_path = None;
    summary.python_allocator = summary.python_allocator.map(truncate);
    summary.flamegraph = truncate(summary.flamegraph);
    summary.top_allocations_by_size.truncate(5);
    for site in &mut summary.top_allocations_by_size {
        site.location = site.location.take().map(truncate);
    }
    let mut stacks = written.stacks;
    stacks.truncate(MAX_STACKS);
    for stack in &mut stacks {
        stack.frames.truncate(MAX_DEPTH);
        for frame in &mut stack.frames {
            frame.0 = truncate(std::mem::take(&mut frame.0));
            frame.1 = truncate(std::mem::take(&mut frame.1));
        }
    }
    let notes = written.notes.into_iter().take(MAX_NOTES).map(truncate).collect();
    Ok(Some(Recorded { summary, stacks, omitted_bytes: written.omitted_bytes, notes }))
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut at = MAX_TEXT;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

/// Saves a flame graph drawn on the host.
pub fn save_flamegraph(path: &Path, svg: &str) -> Result<(), String> {
    write_new(path, svg.as_bytes()).map_err(|e| format!("cannot save the flame graph: {e}"))
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
    use crate::model::memray::Frame;

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    fn file(status: i32, body: &str) -> Vec<u8> {
        format!("@@pymaccounter-{NONCE} memray {status} {}\n{body}", body.len()).into_bytes()
    }

    const SUMMARY: &str = r#"{"peak_memory_bytes": 5, "total_allocations": 1, "total_bytes_allocated": 5,
        "python_allocator": "pymalloc", "flamegraph": "allocations", "profiler_rss_bytes": 7,
        "stacks": [{"frames": [["<module>", "/t/test_a.py", 3]], "bytes": 5, "allocations": 1}],
        "notes": ["Memray WARNING: Correcting symbol for malloc"]}"#;

    #[test]
    fn the_summary_is_trusted_only_behind_the_wrappers_header_and_bounded() {
        let read = parse_summary(&file(0, SUMMARY), NONCE).unwrap().unwrap();
        assert_eq!(read.summary.peak_memory_bytes, Some(5));
        assert_eq!(read.summary.profiler_rss_bytes, Some(7));
        assert_eq!(read.stacks[0].frames[0], Frame("<module>".into(), "/t/test_a.py".into(), 3));
        assert_eq!(read.notes.len(), 1);
        // What the module left past the length is not read.
        let mut trailing = file(0, SUMMARY);
        trailing.extend_from_slice(b"{\"junk\"");
        assert_eq!(parse_summary(&trailing, NONCE).unwrap().unwrap(), read);
        let other = "ffffffffffffffffffffffffffffffff";
        let forged = format!("@@pymaccounter-{other} memray 0 {}\n{SUMMARY}", SUMMARY.len());
        assert!(parse_summary(forged.as_bytes(), NONCE).unwrap_err().contains("never written"));
        assert!(parse_summary(SUMMARY.as_bytes(), NONCE).is_err());
        let long = format!("@@pymaccounter-{NONCE} memray 0 {}\n{SUMMARY}", SUMMARY.len() + 9);
        assert!(parse_summary(long.as_bytes(), NONCE).unwrap_err().contains("shorter"));
        let failed = parse_summary(&file(1, "Traceback\nOSError: bad capture\n"), NONCE).unwrap_err();
        assert!(
            failed.contains("memray could not read the capture (exit 1): OSError: bad capture"),
            "{failed}"
        );
        assert!(parse_summary(&file(124, ""), NONCE).unwrap_err().contains("within 60 s"));
        assert!(parse_summary(&file(137, ""), NONCE).unwrap_err().contains("memory limit"));
        let error = parse_summary(&file(0, r#"{"error": "OSError: not a capture", "notes": []}"#), NONCE);
        assert!(error.unwrap_err().contains("memray could not read the capture: OSError"));
        assert!(parse_summary(&file(0, "[1,2]"), NONCE).is_err());
        // Every text is cut, every list bounded.
        let huge = format!(
            r#"{{"flamegraph": "{}", "stacks": [{}], "notes": []}}"#,
            "x".repeat(5000),
            vec![format!(r#"{{"frames": [{}], "bytes": 1}}"#, vec![r#"["f", "g", 1]"#; 100].join(",")); 2500]
                .join(",")
        );
        let bounded = parse_summary(&file(0, &huge), NONCE).unwrap().unwrap();
        assert_eq!(bounded.summary.flamegraph.len(), MAX_TEXT);
        assert_eq!(bounded.stacks.len(), MAX_STACKS);
        assert_eq!(bounded.stacks[0].frames.len(), MAX_DEPTH);
        // pytest-memray's per-test captures merged: said; none merged is nothing recorded.
        let tests = r#"{"peak_memory_bytes": 5, "total_allocations": 1, "total_bytes_allocated": null,
            "python_allocator": "pymalloc", "flamegraph": "tests", "per_test_captures": 3, "stacks": [], "notes": []}"#;
        let merged = parse_summary(&file(0, tests), NONCE).unwrap().unwrap();
        assert_eq!((merged.summary.per_test_captures, merged.summary.total_bytes_allocated), (Some(3), None));
        let none = tests.replace("\"per_test_captures\": 3", "\"per_test_captures\": 0");
        assert_eq!(parse_summary(&file(0, &none), NONCE), Ok(None));
        assert_eq!(read.summary.per_test_captures, None, "the whole module");
    }

    #[test]
    fn the_summary_file_is_read_as_a_regular_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let mount = summary_mount(dir.path()).unwrap();
        assert_eq!(
            mount,
            Mount::Output { source: dir.path().join(SUMMARY_NAME), target: SUMMARY_FILE.into() }
        );
        assert!(read_summary(dir.path(), NONCE).unwrap_err().contains("never written"));
        assert!(!dir.path().join(SUMMARY_NAME).exists(), "read once, then removed");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join(SUMMARY_NAME)).unwrap();
        assert!(read_summary(dir.path(), NONCE).unwrap_err().contains("symbolic link"));
        fs::write(dir.path().join(SUMMARY_NAME), file(0, SUMMARY)).unwrap();
        assert_eq!(read_summary(dir.path(), NONCE).unwrap().unwrap().summary.total_allocations, Some(1));
    }

    #[test]
    fn the_wrapper_summarises_with_these_paths_and_deadline() {
        let wrapper = super::super::WRAPPER;
        for needle in [SUMMARY_FILE, CAPTURE, TESTS_FOLDER, "/opt/pymaccounter/memray_summary.py"] {
            assert!(wrapper.contains(needle), "{needle}");
        }
        assert!(wrapper.contains(&format!("timeout -k 2 {} ", SUMMARY_DEADLINE.as_secs())));
        assert!(wrapper.contains(&format!("exec {NOTES_FD}<>")));
    }

    #[test]
    fn the_capture_folder_holds_one_empty_file_and_is_not_writable() {
        let work = tempfile::tempdir().unwrap();
        let folders = Folders::of(work.path(), "3", Recording::Module);
        let mount = capture_mount(&folders, "1000:1000").unwrap();
        assert_eq!(mount, Mount::Output { source: folders.capture.clone(), target: FOLDER.into() });
        let mode = fs::metadata(&folders.capture).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o555);
        assert!(!has_capture(&folders), "empty: memray never wrote");
        let per_test = Folders::of(work.path(), "3", Recording::Tests);
        assert!(has_capture(&per_test), "per test, the summary says what was recorded");
        folders.remove();
        assert!(!folders.capture.exists());
    }

    #[test]
    fn flame_graphs_are_saved_without_following_a_link() {
        let work = tempfile::tempdir().unwrap();
        let target = work.path().join("report/0-x.svg");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/nonexistent-pymaccounter", &target).unwrap();
        save_flamegraph(&target, "<svg/>").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "<svg/>");
        assert!(!fs::symlink_metadata(&target).unwrap().file_type().is_symlink());
    }
}
