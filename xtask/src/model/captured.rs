//! What was kept of one output stream of a module: its head, its tail when
//! it was cut, where the rest went, and its last bytes (where the trailers
//! are). Capturing it is the runner's job (`runner/capture.rs`).

use std::fs;
use std::path::PathBuf;

/// The last bytes of every stream, kept apart from the head/tail cut.
pub const END_WINDOW: usize = 32 * 1024;

/// What was captured of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes (everything, when nothing was cut).
    pub head: Vec<u8>,
    /// The last bytes, when the stream was cut; empty otherwise.
    pub tail: Vec<u8>,
    /// Everything the stream carried.
    pub total_bytes: u64,
    /// The file holding the stream's first `spilled_bytes` bytes, when it was cut.
    pub spill_path: Option<PathBuf>,
    pub spilled_bytes: u64,
    /// Why the spill file could not be written (its first `spilled_bytes` may be there).
    pub spill_error: Option<String>,
    /// The stream's last bytes (at most `END_WINDOW`), whether or not it was cut.
    pub(crate) end: Vec<u8>,
    /// `head` is a report's text, already saying what was cut: shown as it is.
    pub(crate) from_report: bool,
}

impl Captured {
    /// Text kept whole (a test's, or a report's read back).
    pub fn from_text(text: &str) -> Captured {
        let bytes = text.as_bytes();
        Captured {
            head: bytes.to_vec(),
            total_bytes: bytes.len() as u64,
            end: bytes[bytes.len().saturating_sub(END_WINDOW)..].to_vec(),
            ..Captured::default()
        }
    }

    /// Output as a report holds it: `text`, of a stream that carried `total_bytes`.
    pub fn from_report(text: &str, total_bytes: u64) -> Captured {
        Captured { total_bytes, from_report: true, ..Captured::from_text(text) }
    }

    /// Whether bytes between the head and the tail are not in memory.
    pub fn was_cut(&self) -> bool {
        self.total_bytes > (self.head.len() + self.tail.len()) as u64
    }

    /// Bytes neither in memory nor in the spill file.
    pub fn dropped_bytes(&self) -> u64 {
        let before_tail = self.total_bytes - self.tail.len() as u64;
        before_tail.saturating_sub(self.spilled_bytes.max(self.head.len() as u64))
    }

    /// The text a person sees: everything, or the head, a note saying what
    /// was cut and where it is, and the tail.
    pub fn text(&self) -> String {
        let head = String::from_utf8_lossy(&self.head);
        if !self.was_cut() || self.from_report {
            return head.into_owned();
        }
        let cut = self.total_bytes - (self.head.len() + self.tail.len()) as u64;
        let newline = if head.is_empty() || head.ends_with('\n') { "" } else { "\n" };
        let mut note = format!("{newline}[... {cut} bytes cut");
        match (&self.spill_path, &self.spill_error) {
            (_, Some(error)) => note.push_str(&format!("; the full output was not saved: {error}")),
            (Some(path), None) if self.dropped_bytes() == 0 => {
                note.push_str(&format!("; full output in {}", path.display()))
            }
            (Some(path), None) => note.push_str(&format!(
                "; the first {} bytes are in {} (the spill limit), the {} bytes after them were dropped",
                self.spilled_bytes,
                path.display(),
                self.dropped_bytes()
            )),
            (None, None) => {}
        }
        note.push_str(" ...]\n");
        format!("{head}{note}{}", String::from_utf8_lossy(&self.tail))
    }

    /// The stream's last bytes (at most `END_WINDOW`), kept whatever was cut.
    pub fn end(&self) -> &[u8] {
        &self.end
    }

    /// Removes the stream's last `len` bytes (a trailer the measurement added),
    /// from what is kept and from a spill file that holds them. `len` is at
    /// most `end().len()`.
    pub fn truncate_end(&mut self, len: usize) {
        let len = len.min(self.end.len());
        self.end.truncate(self.end.len() - len);
        self.total_bytes -= len as u64;
        // The tail ends where the stream did: it loses the removed bytes (all
        // of it when they were more). The head loses what now lies past the end
        // (a trailer longer than the tail may reach into it).
        self.tail.truncate(self.tail.len().saturating_sub(len));
        if self.head.len() as u64 > self.total_bytes {
            self.head.truncate(self.total_bytes as usize);
            self.tail.clear();
        }
        if self.spilled_bytes > self.total_bytes {
            self.spilled_bytes = self.total_bytes;
            if let (Some(path), None) = (&self.spill_path, &self.spill_error) {
                let resized =
                    fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(self.total_bytes));
                if let Err(e) = resized {
                    self.spill_error = Some(format!("cannot shorten {}: {e}", path.display()));
                }
            }
        }
    }
}
