//! Reading a current report's results skimmed, for `compare` and
//! `--baseline`, in the debug build users run: a byte scanner walks the file
//! a chunk at a time (glibc's `strcspn` finds the next byte that matters, so
//! the bulk of a record costs no per-byte work of ours or serde's), skips a
//! record's bulky fields unparsed (`SKIPPED`: the outputs, the tests' list,
//! the attempts, the baseline it carried, and the memory series unless
//! `series_of` wants its module's) and hands serde the rest of each record.
//! Memory: a chunk plus one skimmed record, whatever the file's size.
//! merge-reports reads its shards the same way, each record as
//! `ResultRecord::slim` leaves it with the span that holds it whole
//! (`Report::read_slimmed`), and its writers read each back from its span
//! without what they do not write (`record_from`).
//!
//! Anything that is not a current report as far as it was read stops it
//! before a record is delivered: `Report::read_skimmed` then reads the file
//! the slow way (`Report::read_each`), which upgrades an older version or
//! says what is wrong.

use std::ffi::CStr;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use anyhow::Result;

use super::schema::{Report, ResultRecord, MAX_REPORT_BYTES, SCHEMA_VERSION};
use crate::error::usage;

const CHUNK: usize = 1 << 20;

/// A record's field left unparsed: its key, the first byte its value must
/// have (else it is kept, for serde to refuse) and what stands in for it.
type Skipped = (&'static [u8], u8, &'static [u8]);

/// `compare` and `--baseline`: the bulk of a record and what they do not read.
const SKIPPED: [Skipped; 6] = [
    (b"\"stdout\"", b'"', b"\"\""),
    (b"\"stderr\"", b'"', b"\"\""),
    (b"\"tests\"", b'[', b"[]"),
    (b"\"attempts\"", b'[', b"[]"),
    (b"\"baseline\"", b'{', b"null"),
    (b"\"memory_series\"", b'{', b"null"),
];

/// merge-reports' overview: what `ResultRecord::slim` drops (the attempts
/// kept, each without what `ATTEMPT_SLIMMED` names).
const SLIMMED: [Skipped; 4] = [
    (b"\"stdout\"", b'"', b"\"\""),
    (b"\"stderr\"", b'"', b"\"\""),
    (b"\"tests\"", b'[', b"[]"),
    (b"\"memory_series\"", b'{', b"null"),
];

/// An attempt's fields that `ResultRecord::slim` drops.
const ATTEMPT_SLIMMED: [Skipped; 3] =
    [(b"\"stdout\"", b'"', b"\"\""), (b"\"stderr\"", b'"', b"\"\""), (b"\"memory_series\"", b'{', b"null")];

/// A record's memory series.
const SERIES: [Skipped; 1] = [(b"\"memory_series\"", b'{', b"null")];

/// What a skim leaves out of each record.
#[derive(Clone, Copy)]
pub struct Leave<'a> {
    skipped: &'a [Skipped],
    /// Each attempt skimmed too, leaving these out (else the attempts are
    /// kept whole, or skipped when `skipped` names them).
    in_attempts: Option<&'a [Skipped]>,
    /// The modules whose memory series is kept though `skipped` names it
    /// (none when `None`).
    series_of: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Leave<'a> {
    /// What `compare` and `--baseline` leave: `SKIPPED`, the series kept of the modules `series_of` wants.
    pub fn skimmed(series_of: &'a dyn Fn(&str) -> bool) -> Leave<'a> {
        Leave { skipped: &SKIPPED, in_attempts: None, series_of: Some(series_of) }
    }

    /// What `ResultRecord::slim` leaves (merge-reports).
    pub fn slimmed() -> Leave<'static> {
        Leave { skipped: &SLIMMED, in_attempts: Some(&ATTEMPT_SLIMMED), series_of: None }
    }

    /// Everything but the memory series (its own and its attempts').
    pub fn no_series() -> Leave<'static> {
        Leave { skipped: &SERIES, in_attempts: Some(&SERIES), series_of: None }
    }

    /// Everything but the memory series and the outputs (its own and its attempts').
    pub fn no_series_nor_outputs() -> Leave<'static> {
        Leave { skipped: &ATTEMPT_SLIMMED, in_attempts: Some(&ATTEMPT_SLIMMED), series_of: None }
    }
}

/// One record from the bytes that hold it (a span `read_slimmed` gave,
/// perhaps after a comma and blanks), without what `leave` leaves out.
pub fn record_from(mut bytes: Vec<u8>, leave: Leave) -> Result<ResultRecord, String> {
    bytes.push(0);
    let mut s = Scanner::of_bytes(bytes);
    let mut record = Vec::new();
    let skimmed = s.skip_ws().and_then(|b| match b {
        b',' => {
            s.pos += 1;
            s.skip_ws()
        }
        b => Ok(b),
    });
    let skimmed = skimmed.and_then(|b| skim_record(&mut s, b, &mut record, leave));
    let rest = skimmed.and_then(|()| s.skip_ws_to_end());
    match rest {
        Ok(false) => serde_json::from_slice(&record).map_err(|e| without_position(&e)),
        Ok(true) => Err(format!("more than a record: {}", s.malformed("its end").words())),
        Err(walk) => Err(walk.words()),
    }
}

impl Report {
    /// A report's results skimmed, gathered (tests; the tasks take them one at a time).
    #[cfg(test)]
    pub fn read_slim(path: &Path) -> Result<Report> {
        let mut results = Vec::new();
        let mut report = Report::read_skimmed(path, &|_| false, |record| {
            results.push(record);
            Ok(())
        })?;
        report.results = results;
        Ok(report)
    }

    /// Reads a report of this version or of version 2 (upgraded on the way),
    /// refusing others with a clear message, handing `each` its results
    /// skimmed: without their outputs, tests' list, attempts and baseline,
    /// and without their memory series unless `series_of` wants their
    /// module's: what `compare` and `--baseline` need. A current report is
    /// read by the scanner, which leaves those fields unparsed (fast in a
    /// debug build too, memory in proportion to one record); others by
    /// `read_each`, each record slimmed the same way.
    pub fn read_skimmed(
        path: &Path,
        series_of: &dyn Fn(&str) -> bool,
        mut each: impl FnMut(ResultRecord) -> Result<(), String>,
    ) -> Result<Report> {
        let leave = Leave::skimmed(series_of);
        if let Some(report) = skim_file(path, leave, &mut |record, _| each(record))? {
            return Ok(report);
        }
        Report::read_each(path, |mut record, _| {
            let series = record.memory_series.take();
            record.slim();
            record.attempts.clear();
            record.baseline = None;
            record.memory_series = series.filter(|_| series_of(&record.job.module));
            each(record)
        })
    }

    /// Reads a report of this version or of version 2 (upgraded on the
    /// way), refusing others with a clear message, handing `each` its
    /// results one at a time, each with the span of the file that holds it
    /// whole (for `record_at`) and slimmed as `ResultRecord::slim` leaves it:
    /// what merge-reports holds. A current report is read by the scanner,
    /// whose records are parsed from slices without what `slim` drops;
    /// others by `read_each`. A record without a span (an older report's,
    /// upgraded in memory) comes whole: there is no file to read it back from.
    pub fn read_slimmed(
        path: &Path,
        mut each: impl FnMut(ResultRecord, Option<Range<u64>>) -> Result<(), String>,
    ) -> Result<Report> {
        if let Some(report) = skim_file(path, Leave::slimmed(), &mut |record, span| each(record, Some(span)))?
        {
            return Ok(report);
        }
        Report::read_each(path, |mut record, span| {
            if span.is_some() {
                record.slim();
            }
            each(record, span)
        })
    }
}

/// A report read by the scanner, or `None` when it is not a current report
/// as far as was read before any record was delivered (read it the slow way).
fn skim_file(
    path: &Path,
    leave: Leave,
    each: &mut dyn FnMut(ResultRecord, Range<u64>) -> Result<(), String>,
) -> Result<Option<Report>> {
    let cannot = |e: std::io::Error| usage(format!("cannot read the report {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    if size > MAX_REPORT_BYTES {
        // `read_each` says why.
        return Ok(None);
    }
    match read(file, leave, each) {
        Ok(report) => Ok(Some(report)),
        Err(Stop::NotCurrent) => Ok(None),
        Err(Stop::Bad(words)) => {
            Err(usage(format!("{} does not follow the report schema: {words}", path.display())))
        }
        Err(Stop::Refused(words)) => Err(usage(words)),
        Err(Stop::Io(e)) => Err(cannot(e)),
    }
}

/// Why skimming stopped.
#[derive(Debug)]
pub enum Stop {
    /// Before any record was delivered: read the file the slow way.
    NotCurrent,
    /// After some were: the file does not follow the schema (the words say where).
    Bad(String),
    /// The callback refused a record.
    Refused(String),
    Io(std::io::Error),
}

/// Reads a report from `source`, handing each record skimmed to `each` with
/// the span of `source` that holds it; the report returned has no results.
pub fn read(
    source: impl Read,
    leave: Leave,
    each: &mut dyn FnMut(ResultRecord, Range<u64>) -> Result<(), String>,
) -> Result<Report, Stop> {
    let mut delivered = 0usize;
    let outcome = walk(&mut Scanner::new(source), leave, &mut delivered, each);
    match outcome {
        Err(Walk::Malformed(_)) if delivered == 0 => Err(Stop::NotCurrent),
        Err(Walk::Malformed(words)) => Err(Stop::Bad(words)),
        Err(Walk::NotCurrent) => Err(Stop::NotCurrent),
        Err(Walk::Refused(words)) => Err(Stop::Refused(words)),
        Err(Walk::Io(e)) => Err(Stop::Io(e)),
        Ok(report) => Ok(report),
    }
}

enum Walk {
    NotCurrent,
    Malformed(String),
    Refused(String),
    Io(std::io::Error),
}

fn walk(
    s: &mut Scanner<impl Read>,
    leave: Leave,
    delivered: &mut usize,
    each: &mut dyn FnMut(ResultRecord, Range<u64>) -> Result<(), String>,
) -> Result<Report, Walk> {
    // The report without its results, parsed last: what serde checks of it.
    let mut head = b"{".to_vec();
    let mut current = false;
    if s.skip_ws()? != b'{' {
        return Err(Walk::NotCurrent);
    }
    s.pos += 1;
    let mut record = Vec::new();
    loop {
        let mut b = s.skip_ws()?;
        if b == b'}' {
            s.pos += 1;
            break;
        }
        if head.len() > 1 {
            s.expect(b',')?;
            b = s.skip_ws()?;
        }
        if b != b'"' {
            return Err(s.malformed("a key"));
        }
        let mut key = Vec::new();
        s.string(Some(&mut key))?;
        s.skip_ws()?;
        s.expect(b':')?;
        s.skip_ws()?;
        if head.len() > 1 {
            head.push(b',');
        }
        head.extend_from_slice(&key);
        head.push(b':');
        if key == b"\"results\"" {
            // The version decides how results read: it must come first.
            if !current {
                return Err(Walk::NotCurrent);
            }
            s.expect(b'[')?;
            loop {
                let mut b = s.skip_ws()?;
                if b == b']' {
                    s.pos += 1;
                    break;
                }
                if *delivered > 0 {
                    s.expect(b',')?;
                    b = s.skip_ws()?;
                }
                let at = s.at();
                record.clear();
                skim_record(s, b, &mut record, leave)?;
                let parsed = serde_json::from_slice::<ResultRecord>(&record).map_err(|e| {
                    Walk::Malformed(format!("results[{delivered}] (at byte {at}): {}", without_position(&e)))
                })?;
                each(parsed, at..s.at()).map_err(Walk::Refused)?;
                *delivered += 1;
            }
            head.extend_from_slice(b"[]");
        } else {
            let start = head.len();
            s.value(Some(&mut head))?;
            if key == b"\"schema_version\"" {
                current = serde_json::from_slice::<u32>(&head[start..]).is_ok_and(|v| v == SCHEMA_VERSION);
                if !current {
                    return Err(Walk::NotCurrent);
                }
            }
        }
    }
    if s.skip_ws_to_end()? {
        return Err(s.malformed("the end of the file after the report"));
    }
    head.push(b'}');
    super::schema::head_at(&head).map_err(|e| Walk::Malformed(without_position(&e)))
}

/// One record, the fields `leave` names replaced by their stand-ins, onto
/// `out`; its series kept when `leave.series_of` wants its module's (or it
/// comes before the module's name).
fn skim_record(s: &mut Scanner<impl Read>, first: u8, out: &mut Vec<u8>, leave: Leave) -> Result<(), Walk> {
    if first != b'{' {
        // Not an object: serde says so.
        return s.value(Some(out));
    }
    s.pos += 1;
    out.push(b'{');
    let mut module = None;
    let mut fields = 0usize;
    loop {
        let mut b = s.skip_ws()?;
        if b == b'}' {
            s.pos += 1;
            out.push(b'}');
            return Ok(());
        }
        if fields > 0 {
            s.expect(b',')?;
            out.push(b',');
            b = s.skip_ws()?;
        }
        fields += 1;
        if b != b'"' {
            return Err(s.malformed("a key"));
        }
        let key_start = out.len();
        s.string(Some(out))?;
        s.skip_ws()?;
        s.expect(b':')?;
        let first = s.skip_ws()?;
        let wanted = |key: &[u8]| {
            let Some(series_of) = leave.series_of else { return false };
            key == b"\"memory_series\""
                && module.is_none_or(|(start, end)| {
                    serde_json::from_slice::<String>(&out[start..end]).map_or(true, |m| series_of(&m))
                })
        };
        let skipped = leave
            .skipped
            .iter()
            .find(|(key, starts, _)| *key == &out[key_start..] && *starts == first && !wanted(key));
        let is_module = &out[key_start..] == b"\"module\"";
        let attempts =
            (&out[key_start..] == b"\"attempts\"" && first == b'[').then_some(leave.in_attempts).flatten();
        out.push(b':');
        match (skipped, attempts) {
            (Some((_, _, stand_in)), _) => {
                out.extend_from_slice(stand_in);
                s.value(None)?;
            }
            (None, Some(inner)) => {
                let inner = Leave { skipped: inner, in_attempts: None, series_of: None };
                skim_list(s, out, inner)?;
            }
            (None, None) => {
                let start = out.len();
                s.value(Some(out))?;
                if is_module {
                    module = Some((start, out.len()));
                }
            }
        }
    }
}

/// A list of records (at its `[`), each skimmed as `leave` says, onto `out`.
fn skim_list(s: &mut Scanner<impl Read>, out: &mut Vec<u8>, leave: Leave) -> Result<(), Walk> {
    s.expect(b'[')?;
    out.push(b'[');
    let mut items = 0usize;
    loop {
        let mut b = s.skip_ws()?;
        if b == b']' {
            s.pos += 1;
            out.push(b']');
            return Ok(());
        }
        if items > 0 {
            s.expect(b',')?;
            out.push(b',');
            b = s.skip_ws()?;
        }
        items += 1;
        skim_record(s, b, out, leave)?;
    }
}

/// serde's words without its line and column (those of the skimmed record, not the file's).
fn without_position(e: &serde_json::Error) -> String {
    let words = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    words.strip_suffix(&tail).map_or(words.clone(), str::to_string)
}

impl Walk {
    fn words(self) -> String {
        match self {
            Walk::NotCurrent => "not a current report".into(),
            Walk::Malformed(words) | Walk::Refused(words) => words,
            Walk::Io(e) => e.to_string(),
        }
    }
}

impl From<std::io::Error> for Walk {
    fn from(e: std::io::Error) -> Walk {
        Walk::Io(e)
    }
}

/// The file a chunk at a time, a NUL after the last byte read so that
/// `strcspn` stops there (a NUL inside a JSON text is not JSON).
struct Scanner<R> {
    source: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Bytes of the file before `buf[0]`.
    offset: u64,
}

const IN_STRING: &CStr = c"\"\\";
const IN_NESTED: &CStr = c"\"{}[]";
const AFTER_SCALAR: &CStr = c",}] \t\r\n";

impl Scanner<std::io::Empty> {
    /// Bytes already read, a NUL after them.
    fn of_bytes(buf: Vec<u8>) -> Self {
        let filled = buf.len() - 1;
        Scanner { source: std::io::empty(), buf, pos: 0, filled, offset: 0 }
    }
}

impl<R: Read> Scanner<R> {
    fn new(source: R) -> Scanner<R> {
        Scanner { source, buf: vec![0; CHUNK + 1], pos: 0, filled: 0, offset: 0 }
    }

    /// The next chunk; false at the end of the file.
    fn refill(&mut self) -> Result<bool, Walk> {
        self.offset += self.filled as u64;
        let room = self.buf.len() - 1;
        let n = loop {
            match self.source.read(&mut self.buf[..room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Walk::Io(e)),
            }
        };
        self.pos = 0;
        self.filled = n;
        self.buf[n] = 0;
        Ok(n > 0)
    }

    fn at(&self) -> u64 {
        self.offset + self.pos as u64
    }

    fn malformed(&self, expected: &str) -> Walk {
        Walk::Malformed(format!("expected {expected} at byte {}", self.at()))
    }

    fn end(&self) -> Walk {
        Walk::Malformed(format!("the file ends at byte {} inside the report", self.at()))
    }

    /// The next byte that is not blank, not taken.
    fn skip_ws(&mut self) -> Result<u8, Walk> {
        loop {
            while self.pos < self.filled {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    b => return Ok(b),
                }
            }
            if !self.refill()? {
                return Err(self.end());
            }
        }
    }

    /// Whether anything but blanks follows.
    fn skip_ws_to_end(&mut self) -> Result<bool, Walk> {
        match self.skip_ws() {
            Ok(_) => Ok(true),
            Err(Walk::Malformed(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Walk> {
        if self.skip_ws()? != byte {
            return Err(self.malformed(&format!("{:?}", byte as char)));
        }
        self.pos += 1;
        Ok(())
    }

    /// The next byte, taken (into `keep` too).
    fn take(&mut self, keep: &mut Option<&mut Vec<u8>>) -> Result<u8, Walk> {
        if self.pos == self.filled && !self.refill()? {
            return Err(self.end());
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        if let Some(keep) = keep {
            keep.push(b);
        }
        Ok(b)
    }

    /// Up to the next byte of `set` (not taken), the bytes passed kept in `keep`.
    fn until(&mut self, set: &CStr, keep: &mut Option<&mut Vec<u8>>) -> Result<u8, Walk> {
        loop {
            // SAFETY: `buf[filled]` is a NUL, so the scan stops within `buf`.
            let n = unsafe { libc::strcspn(self.buf.as_ptr().add(self.pos).cast(), set.as_ptr()) };
            if let Some(keep) = keep {
                keep.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            }
            self.pos += n;
            if self.pos < self.filled {
                return match self.buf[self.pos] {
                    0 => Err(self.malformed("no NUL byte")),
                    b => Ok(b),
                };
            }
            if !self.refill()? {
                return Err(self.end());
            }
        }
    }

    /// A string, its quotes included (at its opening quote).
    fn string(&mut self, mut keep: Option<&mut Vec<u8>>) -> Result<(), Walk> {
        self.take(&mut keep)?;
        loop {
            self.until(IN_STRING, &mut keep)?;
            if self.take(&mut keep)? == b'"' {
                return Ok(());
            }
            // The escaped byte (`\u` is followed by plain hex digits).
            self.take(&mut keep)?;
        }
    }

    /// One value (at its first byte): its structure is followed, its
    /// scalars left for serde to check when kept.
    fn value(&mut self, mut keep: Option<&mut Vec<u8>>) -> Result<(), Walk> {
        match self.skip_ws()? {
            b'"' => self.string(keep),
            b'{' | b'[' => {
                let mut open = vec![self.take(&mut keep)?];
                while let Some(&innermost) = open.last() {
                    match self.until(IN_NESTED, &mut keep)? {
                        b'"' => self.string(keep.as_deref_mut())?,
                        b @ (b'{' | b'[') => {
                            self.take(&mut keep)?;
                            open.push(b);
                        }
                        b => {
                            if (innermost, b) != (b'{', b'}') && (innermost, b) != (b'[', b']') {
                                return Err(self.malformed(&format!("the end of a {}", innermost as char)));
                            }
                            self.take(&mut keep)?;
                            open.pop();
                        }
                    }
                }
                Ok(())
            }
            _ => self.until(AFTER_SCALAR, &mut keep).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skimmed(text: &str, keep_series: bool) -> Result<(Report, Vec<ResultRecord>), Stop> {
        let mut records = Vec::new();
        let report = read(text.as_bytes(), Leave::skimmed(&|_| keep_series), &mut |r, _| {
            records.push(r);
            Ok(())
        })?;
        Ok((report, records))
    }

    #[test]
    fn bulky_fields_are_skipped_and_the_rest_is_the_record() {
        let whole = Report::of(&crate::model::schema::sample_outcome());
        let text = serde_json::to_string_pretty(&whole).unwrap();
        let (head, records) = skimmed(&text, true).unwrap();
        assert_eq!(head, Report { results: Vec::new(), ..whole.clone() });
        assert_eq!(records.len(), whole.results.len());
        for (skim, full) in records.iter().zip(&whole.results) {
            let mut expected = full.clone();
            expected.stdout.clear();
            expected.stderr.clear();
            expected.tests.clear();
            expected.attempts.clear();
            expected.baseline = None;
            assert_eq!(skim, &expected);
        }
        // Compact JSON reads the same; the series goes unless asked for.
        let (_, compact) = skimmed(&serde_json::to_string(&whole).unwrap(), false).unwrap();
        assert!(compact.iter().all(|r| r.memory_series.is_none()));
        assert_eq!(compact.len(), records.len());
        // Only the series of the modules asked for (`--baseline`: those the run runs).
        let wanted = whole.results[4].job.module.clone();
        let mut some = Vec::new();
        read(text.as_bytes(), Leave::skimmed(&|module| module == wanted), &mut |r, _| {
            some.push(r);
            Ok(())
        })
        .unwrap();
        let kept: Vec<&str> =
            some.iter().filter(|r| r.memory_series.is_some()).map(|r| r.job.module.as_str()).collect();
        assert_eq!(kept, [wanted.as_str()]);
    }

    #[test]
    fn slimmed_records_are_what_slim_leaves_and_their_spans_hold_them_whole() {
        let whole = Report::of(&crate::model::schema::sample_outcome());
        for text in [serde_json::to_string_pretty(&whole).unwrap(), serde_json::to_string(&whole).unwrap()] {
            let mut records = Vec::new();
            let head = read(text.as_bytes(), Leave::slimmed(), &mut |r, span| {
                records.push((r, span));
                Ok(())
            })
            .unwrap();
            assert_eq!(head, Report { results: Vec::new(), ..whole.clone() });
            assert_eq!(records.len(), whole.results.len());
            for ((slim, span), full) in records.iter().zip(&whole.results) {
                let mut expected = full.clone();
                expected.slim();
                assert_eq!(slim, &expected);
                let again =
                    super::super::schema::record_at(&text.as_bytes()[span.start as usize..span.end as usize]);
                assert_eq!(&again.unwrap(), full);
            }
            assert!(records
                .iter()
                .any(|(r, _)| r.attempts.len() == 2 && r.attempts[0].execution != r.attempts[1].execution));
            assert!(records.iter().any(|(r, _)| r.baseline.is_some()), "the baseline stays");
        }
    }

    #[test]
    fn a_record_comes_back_from_its_span_without_what_is_left_out() {
        let whole = Report::of(&crate::model::schema::sample_outcome());
        let with_attempts = whole.results.iter().find(|r| !r.attempts.is_empty()).unwrap();
        let text = format!(",\n  {}\n", serde_json::to_string_pretty(with_attempts).unwrap());
        let mut expected = with_attempts.clone();
        assert_eq!(
            record_from(
                text.clone().into_bytes(),
                Leave { skipped: &[], in_attempts: None, series_of: None }
            )
            .unwrap(),
            expected
        );
        expected.memory_series = None;
        expected.attempts.iter_mut().for_each(|a| a.memory_series = None);
        assert_eq!(record_from(text.clone().into_bytes(), Leave::no_series()).unwrap(), expected);
        expected.stdout.clear();
        expected.stderr.clear();
        expected.attempts.iter_mut().for_each(|a| a.stdout.clear());
        assert_eq!(record_from(text.clone().into_bytes(), Leave::no_series_nor_outputs()).unwrap(), expected);
        let error = record_from(format!("{text} {{}}").into_bytes(), Leave::no_series()).unwrap_err();
        assert!(error.starts_with("more than a record"), "{error}");
        assert!(record_from(text.as_bytes()[..text.len() / 2].to_vec(), Leave::no_series()).is_err());
    }

    #[test]
    fn what_is_not_a_current_report_is_left_to_the_slow_reader() {
        for text in [
            "<html>",
            "[]",
            r#"{"results": [], "schema_version": 3}"#,
            r#"{"schema_version": 2, "results": []}"#,
            r#"{"schema_version": 3, "results": [{"module": "a"}]}"#,
            r#"{"schema_version": 3, "results": ["#,
        ] {
            assert!(matches!(skimmed(text, false), Err(Stop::NotCurrent)), "{text}");
        }
    }

    #[test]
    fn a_bad_record_after_good_ones_is_named_by_its_place() {
        let mut report = Report::of(&crate::model::schema::sample_outcome());
        let count = report.results.len();
        let mut last = report.results[0].clone();
        last.job.module = "dir/melted.py".into();
        report.results.push(last);
        // The version first, as the runner writes it; the last record's status none of them.
        let text = serde_json::to_string(&report).unwrap();
        let (before, after) = text.split_at(text.find("dir/melted.py").unwrap());
        let status = format!(r#""status":"{}""#, report.results[0].status);
        let text = format!("{before}{}", after.replacen(&status, r#""status":"melted""#, 1));
        let Err(Stop::Bad(words)) = skimmed(&text, false) else { panic!() };
        assert!(words.starts_with(&format!("results[{count}] (at byte ")), "{words}");
        assert!(words.contains("melted") && !words.contains("line 1"), "{words}");
        // A string that never ends, and a bracket that closes a brace.
        let good = serde_json::to_string(&report.results[0]).unwrap();
        for tail in [r#", {"module": "x"#, r#", {"a": [1}]"#] {
            let text = format!(r#"{{"schema_version": 3, "results": [{good}{tail}"#);
            assert!(matches!(skimmed(&text, false), Err(Stop::Bad(_))), "{text}");
        }
    }
}
