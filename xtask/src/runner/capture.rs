//! Bounded capture of a module's output: a human gets the head and the tail,
//! the full text goes to a file once it outgrows memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Bytes kept from the start, and from the end, of each stream.
pub const KEEP_HEAD: usize = 32 * 1024;
pub const KEEP_TAIL: usize = 32 * 1024;

/// What was captured of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes (everything, when short).
    pub head: Vec<u8>,
    /// The last bytes, when the stream outgrew `head`; empty otherwise.
    pub tail: Vec<u8>,
    /// Everything the stream carried.
    pub total_bytes: u64,
    /// The whole stream, when it was too long to keep.
    pub spill_path: Option<PathBuf>,
}

impl Captured {
    /// Text kept whole (a test's, or a report's read back).
    pub fn from_text(text: &str) -> Captured {
        Captured { head: text.as_bytes().to_vec(), total_bytes: text.len() as u64, ..Captured::default() }
    }

    fn kept(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64
    }

    /// The text a person sees, with a note where bytes were cut.
    pub fn text(&self) -> String {
        let head = String::from_utf8_lossy(&self.head);
        if self.tail.is_empty() {
            return head.into_owned();
        }
        let cut = self.total_bytes - self.kept();
        let mut note = format!("\n[... {cut} bytes cut");
        if let Some(path) = &self.spill_path {
            note.push_str(&format!("; full output in {}", path.display()));
        }
        note.push_str(" ...]\n");
        format!("{head}{note}{}", String::from_utf8_lossy(&self.tail))
    }

    /// Removes the last `len` bytes (a trailer the measurement added).
    pub fn truncate_end(&mut self, len: usize) {
        let buffer = if self.tail.is_empty() { &mut self.head } else { &mut self.tail };
        let keep = buffer.len().saturating_sub(len);
        buffer.truncate(keep);
        self.total_bytes = self.total_bytes.saturating_sub(len as u64);
    }

    /// The last bytes of the stream, wherever they are kept.
    pub fn end(&self) -> &[u8] {
        if self.tail.is_empty() {
            &self.head
        } else {
            &self.tail
        }
    }
}

/// Reads a stream to its end keeping at most `KEEP_HEAD + KEEP_TAIL` bytes in
/// memory; the rest is written to `spill_path` (created only when needed).
/// `on_chunk` sees every chunk as it arrives (for `--debug` streaming).
pub fn capture(
    mut source: impl Read,
    spill_path: PathBuf,
    mut on_chunk: impl FnMut(&[u8]),
) -> io::Result<Captured> {
    let mut captured = Captured::default();
    let mut spill: Option<File> = None;
    let mut ring: Vec<u8> = Vec::new();
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
        captured.total_bytes += read as u64;
        let room = KEEP_HEAD - captured.head.len();
        if spill.is_none() && chunk.len() <= room {
            captured.head.extend_from_slice(chunk);
            continue;
        }
        let file = match &mut spill {
            Some(file) => file,
            None => {
                if let Some(dir) = spill_path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = File::create(&spill_path)?;
                file.write_all(&captured.head)?;
                captured.head.extend_from_slice(&chunk[..room]);
                file.write_all(&chunk[..room])?;
                ring.extend_from_slice(&chunk[room..]);
                file.write_all(&chunk[room..])?;
                spill = Some(file);
                continue;
            }
        };
        file.write_all(chunk)?;
        ring.extend_from_slice(chunk);
        // Trim in large steps so the cost stays linear in the stream.
        if ring.len() > 2 * KEEP_TAIL {
            ring.drain(..ring.len() - KEEP_TAIL);
        }
    }
    if spill.is_some() {
        if ring.len() > KEEP_TAIL {
            ring.drain(..ring.len() - KEEP_TAIL);
        }
        captured.tail = ring;
        captured.spill_path = Some(spill_path);
    }
    Ok(captured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole_and_nothing_spills() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("out.log");
        let captured = capture(&b"hello\n"[..], path.clone(), |_| {}).unwrap();
        assert_eq!(captured.text(), "hello\n");
        assert!(!path.exists());
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_spills_everything() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("out.log");
        let data: Vec<u8> = (0..1_000_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let mut seen = 0;
        let captured = capture(&data[..], path.clone(), |c| seen += c.len()).unwrap();
        assert_eq!(seen, data.len());
        assert_eq!(captured.total_bytes, data.len() as u64);
        assert_eq!(captured.head, &data[..KEEP_HEAD]);
        assert_eq!(captured.tail, &data[data.len() - KEEP_TAIL..]);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let text = captured.text();
        assert!(text.contains("bytes cut; full output in"), "{}", &text[KEEP_HEAD..KEEP_HEAD + 200]);
        assert!(text.ends_with("999999\n"));
    }

    #[test]
    fn truncate_end_drops_a_trailer() {
        let mut captured = Captured::from_text("boom\ntrailer\n");
        captured.truncate_end("trailer\n".len());
        assert_eq!(captured.text(), "boom\n");
    }
}
