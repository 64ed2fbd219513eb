//! Bounded capture of a module's output: a stream up to `KEEP_WHOLE` bytes is
//! kept whole in memory; a longer one keeps its head and its tail (cut at line
//! boundaries) and goes to a spill file on disk, up to a cap per stream. The
//! last `END_WINDOW` bytes are always kept apart, so the measurement trailer at
//! the end of stderr is read whole whatever the module printed.
//!
//! Memory stays bounded (about `KEEP_HEAD + 2 * KEEP_TAIL` per stream) and so
//! does the disk (the cap), while the stream is always read to its end, so the
//! module never blocks on a full pipe. A spill file that cannot be written
//! costs that stream its file, nothing more: the note in the text says why.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use crate::model::captured::{Captured, END_WINDOW};

/// A stream up to this size is kept whole: no cut, no spill file. That is
/// 64 KiB of a module's own output plus room for the measurement trailer, so
/// removing the trailer never leaves a cut in 64 KiB of stderr.
pub const KEEP_WHOLE: usize = 68 * 1024;
/// Bytes kept from the start, and from the end, of a longer stream.
pub const KEEP_HEAD: usize = 32 * 1024;
pub const KEEP_TAIL: usize = 32 * 1024;
/// How far a cut may move to land just after a newline.
pub const LINE_SLACK: usize = 4 * 1024;
/// The cap `--max-output` defaults to (64 MiB; the CLI owns the default): past
/// it a stream is still read to its end and its tail kept.
#[cfg(test)]
pub const DEFAULT_SPILL_CAP: u64 = 64 * 1024 * 1024;
/// Where each run's spill files go, `<RUNS_DIR>/<run id>/`, under the project root.
pub const RUNS_DIR: &str = "target/pymaccounter/runs";
/// Spill folders of this many recent runs are kept by `prune_runs`.
pub const KEEP_RUNS: usize = 5;

/// The spill file of one stream of one attempt: safe for any module name (only
/// `[A-Za-z0-9._-]`, at most 60 characters of it, prefixed by the attempt's
/// tag, `<job index>[-<attempt>]`, which keeps names unique).
pub fn spill_path(dir: &Path, tag: &str, module: &str, stream: &str) -> PathBuf {
    let safe: String = module
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(60)
        .collect();
    dir.join(format!("{tag}-{safe}.{stream}.log"))
}

/// The spill file while it is being written.
struct Spill {
    path: PathBuf,
    cap: u64,
    file: Option<File>,
    written: u64,
    error: Option<String>,
}

impl Spill {
    fn open(path: PathBuf, cap: u64) -> Spill {
        let mut spill = Spill { path, cap, file: None, written: 0, error: None };
        let opened = match spill.path.parent() {
            Some(dir) => fs::create_dir_all(dir).and_then(|()| File::create(&spill.path)),
            None => File::create(&spill.path),
        };
        match opened {
            Ok(file) => spill.file = Some(file),
            Err(e) => spill.error = Some(format!("cannot create {}: {e}", spill.path.display())),
        }
        spill
    }

    /// Writes what fits under the cap; after an error, writes nothing more.
    fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else {
            return;
        };
        let room = self.cap.saturating_sub(self.written).min(bytes.len() as u64) as usize;
        if room == 0 {
            return;
        }
        match file.write_all(&bytes[..room]) {
            Ok(()) => self.written += room as u64,
            Err(e) => {
                self.error = Some(format!("cannot write {}: {e}", self.path.display()));
                self.file = None;
            }
        }
    }
}

/// Reads a stream to its end keeping at most about `KEEP_HEAD + 2 * KEEP_TAIL`
/// bytes in memory; once it outgrows `KEEP_WHOLE`, its first `spill_cap` bytes
/// go to `spill_path` (created only then). `on_chunk` sees every chunk as it
/// arrives (for `--debug` streaming). Only a read error is an error.
pub fn capture(
    mut source: impl Read,
    spill_path: PathBuf,
    spill_cap: u64,
    mut on_chunk: impl FnMut(&[u8]),
) -> io::Result<Captured> {
    let mut total: u64 = 0;
    // Everything until the stream outgrows KEEP_WHOLE; then the head.
    let mut head: Vec<u8> = Vec::new();
    // Once cut: the last bytes, between KEEP_TAIL and 2 * KEEP_TAIL of them.
    let mut ring: Vec<u8> = Vec::new();
    let mut spill: Option<Spill> = None;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..read];
        on_chunk(chunk);
        total += read as u64;
        match &mut spill {
            None if head.len() + chunk.len() <= KEEP_WHOLE => head.extend_from_slice(chunk),
            None => {
                let mut file = Spill::open(spill_path.clone(), spill_cap);
                file.write(&head);
                file.write(chunk);
                spill = Some(file);
                ring = head.split_off(KEEP_HEAD.min(head.len()));
                ring.extend_from_slice(chunk);
            }
            Some(file) => {
                file.write(chunk);
                ring.extend_from_slice(chunk);
            }
        }
        // Trim in large steps so the cost stays linear in the stream.
        if ring.len() > 2 * KEEP_TAIL {
            ring.drain(..ring.len() - KEEP_TAIL);
        }
    }
    let Some(spill) = spill else {
        let end = head[head.len().saturating_sub(END_WINDOW)..].to_vec();
        return Ok(Captured { head, total_bytes: total, end, ..Captured::default() });
    };
    // The head may still be short of KEEP_HEAD when one chunk crossed KEEP_WHOLE.
    if head.len() < KEEP_HEAD {
        let fill = (KEEP_HEAD - head.len()).min(ring.len().saturating_sub(KEEP_TAIL));
        head.extend(ring.drain(..fill));
    }
    let end = ring[ring.len().saturating_sub(END_WINDOW)..].to_vec();
    let tail_start = ring.len().saturating_sub(KEEP_TAIL);
    let tail = ring.split_off(tail_start);
    head.truncate(head_cut(&head));
    let tail = tail[tail_cut(&tail)..].to_vec();
    Ok(Captured {
        head,
        tail,
        total_bytes: total,
        spill_path: (spill.written > 0 || spill.error.is_none()).then_some(spill.path),
        spilled_bytes: spill.written,
        spill_error: spill.error,
        end,
        ..Captured::default()
    })
}

/// Where the head ends: just after its last newline when one is within
/// `LINE_SLACK` of its end, else at a UTF-8 character boundary.
fn head_cut(head: &[u8]) -> usize {
    let window = head.len().saturating_sub(LINE_SLACK);
    match head[window..].iter().rposition(|&b| b == b'\n') {
        Some(at) => window + at + 1,
        None => complete_utf8(head),
    }
}

/// The length of `bytes` without an incomplete UTF-8 sequence at its end.
fn complete_utf8(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(4) {
        let at = bytes.len() - back;
        if !is_continuation(bytes[at]) {
            let needed = match bytes[at] {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            return if needed > back { at } else { bytes.len() };
        }
    }
    bytes.len()
}

/// Where the tail starts: just after its first newline when one is within
/// `LINE_SLACK` of its start, else at a UTF-8 character boundary.
fn tail_cut(tail: &[u8]) -> usize {
    let window = &tail[..LINE_SLACK.min(tail.len())];
    match window.iter().position(|&b| b == b'\n') {
        Some(at) if at + 1 < tail.len() => at + 1,
        _ => tail.iter().take(4).position(|&b| !is_continuation(b)).unwrap_or(0),
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

/// Removes the spill folders (`<runs_dir>/<run id>/`) of all but the `keep`
/// most recent runs, never one `spare` names (a run still going). Returns what was
/// removed; a folder that cannot be removed is named in the error, after the
/// others were tried. A missing `runs_dir` holds nothing.
pub fn prune_runs(
    runs_dir: &Path,
    keep: usize,
    spare: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut runs = run_folders(runs_dir)?;
    // Most recent first; the name breaks ties so the order is stable.
    runs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let old = runs.into_iter().skip(keep).map(|(path, _)| path);
    remove_folders(old.collect(), spare)
}

/// Removes every run's spill folder except those `spare` names (runs still going; for `clean`).
pub fn remove_runs(runs_dir: &Path, spare: impl Fn(&str) -> bool) -> anyhow::Result<Vec<PathBuf>> {
    let runs = run_folders(runs_dir)?;
    remove_folders(runs.into_iter().map(|(path, _)| path).collect(), spare)
}

fn run_folders(runs_dir: &Path) -> anyhow::Result<Vec<(PathBuf, SystemTime)>> {
    use anyhow::Context;
    let entries = match fs::read_dir(runs_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", runs_dir.display())),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", runs_dir.display()))?;
        let Ok(metadata) = entry.metadata() else { continue };
        if metadata.is_dir() {
            runs.push((entry.path(), metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        }
    }
    Ok(runs)
}

fn remove_folders(folders: Vec<PathBuf>, spare: impl Fn(&str) -> bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for folder in folders {
        let id = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if spare(&id) {
            continue;
        }
        match fs::remove_dir_all(&folder) {
            Ok(()) => removed.push(folder),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{}: {e}", folder.display())),
        }
    }
    if failed.is_empty() {
        Ok(removed)
    } else {
        anyhow::bail!("cannot remove old output folders ({} removed): {}", removed.len(), failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its data in chunks of the given sizes, in turn.
    struct Chunked<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        turn: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()].min(buffer.len()).min(self.data.len());
            self.turn += 1;
            buffer[..size].copy_from_slice(&self.data[..size]);
            self.data = &self.data[size..];
            Ok(size)
        }
    }

    fn capture_in(data: &[u8], sizes: &[usize], dir: &Path, cap: u64) -> Captured {
        let source = Chunked { data, sizes, turn: 0 };
        capture(source, dir.join("out.log"), cap, |_| {}).unwrap()
    }

    fn lines(count: usize) -> Vec<u8> {
        (0..count).flat_map(|i| format!("line {i}\n").into_bytes()).collect()
    }

    #[test]
    fn short_output_is_kept_whole_and_nothing_spills() {
        let temp = tempfile::tempdir().unwrap();
        let captured = capture_in(b"hello\n", &[16384], temp.path(), DEFAULT_SPILL_CAP);
        assert_eq!(captured.text(), "hello\n");
        assert_eq!(captured.end(), b"hello\n");
        assert!(!temp.path().join("out.log").exists());
    }

    #[test]
    fn up_to_keep_whole_bytes_there_is_no_cut_no_marker_and_no_file() {
        let temp = tempfile::tempdir().unwrap();
        for size in [KEEP_HEAD - 1, KEEP_HEAD + 1, 48 * 1024, KEEP_WHOLE] {
            let data: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            for chunks in [&[16384][..], &[1000, 7]] {
                let captured = capture_in(&data, chunks, temp.path(), DEFAULT_SPILL_CAP);
                assert!(!captured.was_cut(), "{size}");
                assert_eq!(captured.text().as_bytes(), &data[..], "{size}");
                assert!(!captured.text().contains("bytes cut"));
                assert!(!temp.path().join("out.log").exists(), "{size}");
            }
        }
    }

    #[test]
    fn long_output_keeps_head_and_tail_at_line_boundaries_and_spills_everything() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("out.log");
        let data = lines(200_000);
        let mut seen = 0;
        let source = Chunked { data: &data, sizes: &[16384, 3, 5000], turn: 0 };
        let captured = capture(source, path.clone(), DEFAULT_SPILL_CAP, |c| seen += c.len()).unwrap();
        assert_eq!(seen, data.len());
        assert_eq!(captured.total_bytes, data.len() as u64);
        assert!(captured.head.len() <= KEEP_HEAD && captured.head.len() > KEEP_HEAD - LINE_SLACK);
        assert!(captured.tail.len() <= KEEP_TAIL && captured.tail.len() > KEEP_TAIL - LINE_SLACK);
        assert!(data.starts_with(&captured.head) && data.ends_with(&captured.tail));
        assert!(captured.head.ends_with(b"\n") && captured.tail.starts_with(b"line "));
        assert_eq!(fs::read(&path).unwrap(), data);
        let text = captured.text();
        let note = text.lines().find(|l| l.starts_with("[... ")).expect("a note on its own line");
        let cut = data.len() - captured.head.len() - captured.tail.len();
        assert_eq!(note, format!("[... {cut} bytes cut; full output in {} ...]", path.display()));
        assert!(text.ends_with("line 199999\n"));
        assert_eq!(captured.end(), &data[data.len() - END_WINDOW..]);
    }

    #[test]
    fn the_end_window_is_whole_at_every_size_around_the_boundaries() {
        let temp = tempfile::tempdir().unwrap();
        for size in
            [KEEP_HEAD - 50, KEEP_HEAD + 50, KEEP_WHOLE - 50, KEEP_WHOLE + 1, KEEP_WHOLE + 50, 100_000]
        {
            let data: Vec<u8> = (0..size).map(|i| if i % 97 == 0 { b'\n' } else { b'x' }).collect();
            for chunks in [&[16384][..], &[1], &[4095, 4097]] {
                let captured = capture_in(&data, chunks, temp.path(), DEFAULT_SPILL_CAP);
                assert_eq!(captured.end(), &data[size.saturating_sub(END_WINDOW)..], "{size} {chunks:?}");
                assert_eq!(captured.total_bytes, size as u64);
                assert_eq!(captured.was_cut(), size > KEEP_WHOLE);
            }
        }
    }

    #[test]
    fn without_a_nearby_newline_cuts_fall_on_character_boundaries() {
        let temp = tempfile::tempdir().unwrap();
        let data = "é".repeat(100_000).into_bytes();
        let captured = capture_in(&data, &[16384, 1], temp.path(), DEFAULT_SPILL_CAP);
        assert!(std::str::from_utf8(&captured.head).is_ok());
        assert!(std::str::from_utf8(&captured.tail).is_ok());
        assert!(!captured.text().contains('\u{fffd}'));
    }

    #[test]
    fn past_the_cap_the_stream_is_read_to_its_end_and_the_note_says_what_was_dropped() {
        let temp = tempfile::tempdir().unwrap();
        let data = lines(100_000);
        let cap = 200_000;
        let captured = capture_in(&data, &[16384], temp.path(), cap);
        assert_eq!(fs::metadata(temp.path().join("out.log")).unwrap().len(), cap);
        assert_eq!(captured.spilled_bytes, cap);
        assert_eq!(captured.total_bytes, data.len() as u64);
        assert!(data.ends_with(&captured.tail));
        let dropped = data.len() as u64 - captured.tail.len() as u64 - cap;
        assert_eq!(captured.dropped_bytes(), dropped);
        let text = captured.text();
        assert!(
            text.contains(&format!("the first {cap} bytes are in ")),
            "{}",
            &text[KEEP_HEAD - 100..KEEP_HEAD + 300]
        );
        assert!(text.contains(&format!("the {dropped} bytes after them were dropped")));
    }

    #[test]
    fn a_spill_file_that_cannot_be_created_costs_the_file_only() {
        let temp = tempfile::tempdir().unwrap();
        let blocker = temp.path().join("not-a-dir");
        fs::write(&blocker, "").unwrap();
        let data = lines(50_000);
        let source = Chunked { data: &data, sizes: &[16384], turn: 0 };
        let captured = capture(source, blocker.join("out.log"), DEFAULT_SPILL_CAP, |_| {}).unwrap();
        assert_eq!(captured.total_bytes, data.len() as u64);
        assert!(data.ends_with(&captured.tail) && data.starts_with(&captured.head));
        assert_eq!(captured.spill_path, None);
        let text = captured.text();
        assert!(text.contains("bytes cut; the full output was not saved: cannot create "), "{text:.200}");
    }

    #[test]
    fn a_spill_file_that_fails_mid_stream_keeps_what_it_has() {
        let temp = tempfile::tempdir().unwrap();
        let data = lines(50_000);
        let source = Chunked { data: &data, sizes: &[16384], turn: 0 };
        // /dev/full accepts the open and fails every write.
        let captured = capture(source, PathBuf::from("/dev/full"), DEFAULT_SPILL_CAP, |_| {}).unwrap();
        assert_eq!(captured.total_bytes, data.len() as u64);
        assert!(captured.spill_error.as_deref().unwrap().starts_with("cannot write /dev/full"));
        assert!(captured.text().contains("the full output was not saved"));
        drop(temp);
    }

    #[test]
    fn truncate_end_drops_a_trailer_from_memory_and_from_the_spill_file() {
        let mut captured = Captured::from_text("boom\ntrailer\n");
        captured.truncate_end("trailer\n".len());
        assert_eq!(captured.text(), "boom\n");
        assert_eq!(captured.end(), b"boom\n");

        let temp = tempfile::tempdir().unwrap();
        let mut data = lines(20_000);
        data.extend_from_slice(b"trailer\n");
        let mut captured = capture_in(&data, &[16384], temp.path(), DEFAULT_SPILL_CAP);
        captured.truncate_end("trailer\n".len());
        assert!(captured.text().ends_with("line 19999\n"));
        assert_eq!(fs::read(temp.path().join("out.log")).unwrap(), &data[..data.len() - 8]);
        assert!(captured.text().contains("; full output in "));
    }

    #[test]
    fn spill_names_are_short_and_plain_for_any_module_name() {
        let dir = Path::new("/runs/r1");
        let long = format!("test_{}.py", "é/\n|x".repeat(100));
        let path = spill_path(dir, "7", &long, "stderr");
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(path.parent().unwrap(), dir);
        assert!(name.starts_with("7-test_") && name.ends_with(".stderr.log"), "{name}");
        assert!(name.len() <= 80, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{name}");
        assert_eq!(spill_path(dir, "0", "test_a.py", "stdout"), dir.join("0-test_a.py.stdout.log"));
        assert_ne!(path, spill_path(dir, "7-2", &long, "stderr"), "a later attempt has its own file");
    }

    #[test]
    fn pruning_keeps_the_most_recent_runs_and_live_ones() {
        let temp = tempfile::tempdir().unwrap();
        let runs = temp.path().join("runs");
        for (i, id) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            let dir = runs.join(id);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("0-x.stdout.log"), "x").unwrap();
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            File::open(&dir).unwrap().set_modified(at).unwrap();
        }
        let removed = prune_runs(&runs, 3, |id| id == "a").unwrap();
        let mut removed: Vec<String> =
            removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        removed.sort();
        assert_eq!(removed, ["b", "c", "d"]);
        let mut left: Vec<String> = fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a", "e", "f", "g"]);
        assert_eq!(remove_runs(&runs, |id| id == "g").unwrap().len(), 3);
        assert_eq!(fs::read_dir(&runs).unwrap().count(), 1);
        assert!(prune_runs(&temp.path().join("missing"), 5, |_| false).unwrap().is_empty());
    }
}
