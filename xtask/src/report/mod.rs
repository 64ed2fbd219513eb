//! Presentation: reporters render the runner's events and outcome; nothing
//! else in the runner formats for people or files.
//!
//! `Row` is the one presentation model of a result (the summary table, the
//! step summary and the HTML table all show it); `FILE_REPORTS` lists the
//! report files, so a new format is a module plus one line here (a path
//! field in `ReportPaths`, and its flag on the command line).

pub mod compare;
pub mod flamegraph;
pub mod github;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod table;
pub mod terminal;
pub mod timeline;
pub mod words;

pub use words::human_bytes;

use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::model::compare::changes;
use crate::model::result::{ModuleResult, Outcome};
use crate::model::schema::{ResultRecord, RunRecord};
use crate::model::status::{Status, Tally};
use crate::scratch::TempFile;

/// What a report file needs besides the outcome.
pub struct ReportContext<'a> {
    /// The test dir as the user spelled it.
    pub test_dir: &'a str,
    /// How the run was asked for (written into the JSON report).
    pub run: Option<&'a RunRecord>,
    /// Where the whole results are when the outcome holds them slimmed
    /// (merge-reports); `None`: the outcome's results are whole.
    pub wholes: Option<&'a dyn Wholes>,
}

/// The whole results of an outcome that holds them slimmed (outputs and
/// tests' lists dropped, `ResultRecord::slim`), read back one at a time as a
/// writer needs them: merge-reports keeps 160,000 results' outputs on disk,
/// not in memory.
pub trait Wholes {
    /// The `index`-th result of the outcome, with `parts` of it at least.
    fn whole(&self, index: usize, parts: Parts) -> Result<ModuleResult>;
}

/// What of a whole result a writer reads: what it leaves out may be left
/// unparsed when read back (it may come all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    All,
    /// All but the memory series (its own and its attempts').
    NoSeries,
    /// All but the series and the outputs (its own and its attempts'): the tests' list, the figures.
    NoSeriesNorOutputs,
}

impl ReportContext<'_> {
    /// The `index`-th result whole: the outcome's own, or read back.
    pub fn whole<'o>(&self, outcome: &'o Outcome, index: usize) -> Result<Cow<'o, ModuleResult>> {
        self.whole_but(outcome, index, Parts::All)
    }

    /// The `index`-th result with `parts` of it at least.
    pub fn whole_but<'o>(
        &self,
        outcome: &'o Outcome,
        index: usize,
        parts: Parts,
    ) -> Result<Cow<'o, ModuleResult>> {
        match self.wholes {
            None => Ok(Cow::Borrowed(&outcome.results[index])),
            Some(wholes) => wholes.whole(index, parts).map(Cow::Owned),
        }
    }

    /// Every result with `parts` of it at least, in order, one at a time.
    pub fn each_whole(
        &self,
        outcome: &Outcome,
        parts: Parts,
        mut each: impl FnMut(&ModuleResult) -> Result<()>,
    ) -> Result<()> {
        for index in 0..outcome.results.len() {
            let whole = self.whole_but(outcome, index, parts)?;
            each(&whole)?;
        }
        Ok(())
    }
}

/// Where each report file asked for goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPaths {
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// A report file format: the flag that asks for it and how it is written.
pub struct FileReport {
    pub flag: &'static str,
    pub path: fn(&ReportPaths) -> Option<&Path>,
    pub write: fn(&Outcome, &ReportContext, &Path) -> Result<()>,
}

/// Every report file format.
pub const FILE_REPORTS: [FileReport; 3] = [json::REPORT, junit::REPORT, html::REPORT];

/// Writes a report whole or not at all: into a temporary file in the same
/// folder, then renamed over the path (a full disk leaves the old report, not
/// a truncated one). A link at the path (only one within its own folder is
/// allowed, see `tasks::run`) is written through, never replaced.
/// `path` named from `folder` (both as given, or relative to the working
/// folder), `..` where it lies outside: what a report names a flame graph
/// by, so that the report's folder and the files beside it move together.
/// Lexical: `.` and `..` are resolved without asking the disk.
pub fn relative_to(path: &Path, folder: &Path) -> PathBuf {
    use std::path::Component;
    let plain = |p: &Path| -> Option<Vec<std::ffi::OsString>> {
        let mut parts: Vec<std::ffi::OsString> = Vec::new();
        for component in std::path::absolute(p).ok()?.components() {
            match component {
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(part) => parts.push(part.to_os_string()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        Some(parts)
    };
    let (Some(to), Some(from)) = (plain(path), plain(folder)) else {
        return path.to_path_buf();
    };
    let shared = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = from[shared..].iter().map(|_| "..").collect();
    relative.extend(&to[shared..]);
    relative
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// `write_atomically`, the content streamed by `write` (buffered).
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let path = match std::fs::read_link(path) {
        Ok(target) if target.components().count() == 1 => path.with_file_name(target),
        _ => path.to_path_buf(),
    };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temporary = TempFile::new_in(folder, ".pymaccounter-report-")?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut temporary);
    write(&mut buffered)?;
    buffered.flush()?;
    drop(buffered);
    temporary.as_file().sync_all()?;
    // Readable as a report written in place would be (a temporary file is 0600).
    let mode = std::fs::metadata(&path).map(|m| m.permissions()).unwrap_or_else(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o644)
    });
    temporary.as_file().set_permissions(mode)?;
    temporary.persist(&path)?;
    Ok(())
}

/// The report files asked for, with their paths.
pub fn requested(args: &ReportPaths) -> Vec<(&'static FileReport, &Path)> {
    FILE_REPORTS.iter().filter_map(|report| (report.path)(args).map(|path| (report, path))).collect()
}

/// One result as every table shows it.
pub struct Row<'a> {
    pub module: &'a str,
    pub allocator: &'static str,
    pub python: &'static str,
    pub status: Status,
    /// How it counts (a flaky result may count as passed).
    pub tally: Tally,
    pub duration: String,
    pub peak: String,
    pub reason: Option<String>,
    /// The counts of the tests a framework ran (`3 passed, 1 failed`), for
    /// unittest and pytest modules and scripts that printed their summary.
    pub tests: Option<String>,
    /// How each measure moved from the baseline (`rss +12.0%, duration -3.1%`), with `--baseline`.
    pub vs_baseline: Option<String>,
}

impl<'a> Row<'a> {
    pub fn of(result: &'a ModuleResult) -> Row<'a> {
        Row {
            module: &result.job.module,
            allocator: result.job.variant.allocator(),
            python: result.job.variant.python_version(),
            status: result.status(),
            tally: result.tally(),
            duration: format!("{:.2}s", result.duration.as_secs_f64()),
            peak: result.peak_rss_bytes.map_or("-".to_string(), human_bytes),
            reason: words::reason(&result.execution),
            tests: words::tests_cell(&result.execution, result.test_counts()),
            vs_baseline: result.baseline.as_ref().map(|baseline| {
                let changes = changes(baseline, &ResultRecord::of(result));
                let parts: Vec<String> = changes
                    .iter()
                    .map(|d| format!("{} {}", d.measure.id.key(), words::change_text(d)))
                    .collect();
                parts.join(", ")
            }),
        }
    }
}

/// memray's headline: peak heap, allocations, the allocator that ran.
pub fn memray_figures(memray: &crate::model::memray::MemraySummary) -> String {
    let bytes = |b: Option<u64>| b.map_or("-".to_string(), human_bytes);
    if let Some(tests) = memray.per_test_captures {
        return format!(
            "per test (pytest-memray's captures of {tests} tests): largest peak heap {}, {} allocations, allocator {}",
            bytes(memray.peak_memory_bytes),
            memray.total_allocations.map_or("-".to_string(), |n| n.to_string()),
            memray.python_allocator.as_deref().unwrap_or("-"),
        );
    }
    format!(
        "peak heap {}, {} allocations of {} in all, allocator {}",
        bytes(memray.peak_memory_bytes),
        memray.total_allocations.map_or("-".to_string(), |n| n.to_string()),
        bytes(memray.total_bytes_allocated),
        memray.python_allocator.as_deref().unwrap_or("-"),
    )
}

/// Test peaks shown, at most (the terminal block, the HTML details).
pub const PEAKS_SHOWN: usize = 5;

/// The tests with the highest peaks, highest first (each test's rise over
/// its start; tests that rose by nothing are left out).
pub fn highest_peaks(tests: &[crate::model::inner::InnerTest]) -> Vec<(&str, u64)> {
    let mut peaks: Vec<(&str, u64)> =
        tests.iter().filter_map(|t| t.peak_bytes.filter(|p| *p > 0).map(|p| (t.name.as_str(), p))).collect();
    peaks.sort_by_key(|(_, peak)| std::cmp::Reverse(*peak));
    peaks.truncate(PEAKS_SHOWN);
    peaks
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_path_is_named_from_a_folder_with_dots_where_it_lies_outside() {
        use std::path::Path;
        let rel = |path: &str, folder: &str| super::relative_to(Path::new(path), Path::new(folder));
        assert_eq!(rel("out/memray/x.svg", "out"), Path::new("memray/x.svg"));
        assert_eq!(rel("shards/a/memray/x.svg", "merged"), Path::new("../shards/a/memray/x.svg"));
        assert_eq!(
            rel("/r/shards/a/../a/memray/x.svg", "/r/merged/./deep"),
            Path::new("../../shards/a/memray/x.svg")
        );
        assert_eq!(rel("memray/x.svg", "."), Path::new("memray/x.svg"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(super::relative_to(&cwd.join("a/x.svg"), Path::new("a")), Path::new("x.svg"));
    }

    use super::*;

    #[test]
    fn a_row_says_how_each_measure_moved_from_the_baseline() {
        use crate::model::measure::MeasureId;
        use crate::model::result::BaselineRecord;
        use crate::model::status::{Execution, Status};
        let result = ModuleResult {
            duration: std::time::Duration::from_millis(1500),
            peak_rss_bytes: Some(30 << 20),
            baseline: Some(BaselineRecord {
                status: Status::Pass,
                values: [(MeasureId::Rss, (20u64 << 20) as f64), (MeasureId::Duration, 2.0)]
                    .into_iter()
                    .collect(),
                scopes: Default::default(),
                memory_series: None,
            }),
            ..ModuleResult::sample("test_a.py", Execution::Passed, "", "")
        };
        assert_eq!(Row::of(&result).vs_baseline.as_deref(), Some("rss +50.0%, duration -25.0%"));

        // A baseline's per-test heap peak beside this whole module's: not a change.
        let mut result = result;
        let baseline = result.baseline.as_mut().unwrap();
        baseline.values.insert(MeasureId::Heap, (4u64 << 20) as f64);
        baseline.scopes.insert(MeasureId::Heap, crate::model::measure::Scope::LargestTest);
        result.memray = Some(crate::model::memray::MemraySummary::with_peak(50 << 20));
        assert_eq!(
            Row::of(&result).vs_baseline.as_deref(),
            Some("rss +50.0%, heap not comparable: largest test vs whole module, duration -25.0%")
        );
    }

    #[test]
    fn reports_are_replaced_whole_and_links_in_their_folder_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let link = dir.path().join("latest.json");
        std::os::unix::fs::symlink("report.json", &link).unwrap();
        write_atomically(&link, b"three").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }
}
