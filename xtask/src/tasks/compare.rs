//! `cargo xtask compare BASE.json NEW.json`: pairs two reports' results and
//! prints their deltas; exit 1 when something regressed, 2 when nothing
//! paired (a gate that compared nothing must not pass).

use std::path::Path;

use anyhow::Result;

use crate::cli::{CompareFormat, GateArgs};
use crate::error::{usage, EXIT_FAILED, EXIT_PASSED};
use crate::model::compare::{self, Measured};
use crate::model::compare::{Comparison, Gate};
use crate::model::schema::Report;
use crate::report::compare::{write_json, write_markdown, write_text, Sides};

pub fn compare(base: &Path, new: &Path, gate: &GateArgs, format: CompareFormat) -> Result<i32> {
    // Each result kept as a small record: a merged report of 160,000
    // results holds gigabytes of outputs, tests and series.
    let base_results = read(base)?;
    let new_results = read(new)?;
    for (path, results) in [(base, &base_results), (new, &new_results)] {
        compare::check_ranges(results)
            .map_err(|e| usage(crate::sanitize::terminal_line(&format!("{}: {e}", path.display()))))?;
    }
    let gate = gate.gate();
    let comparison = compare::compare(&base_results, &new_results, &gate)
        .map_err(|e| usage(crate::sanitize::terminal_line(&e)))?;
    let (base_name, new_name) = (base.display().to_string(), new.display().to_string());
    let sides = Sides { base: &base_name, new: &new_name };
    let width = crate::report::terminal::terminal_width();
    // Written as it is made; like every printout, a closed stdout is not an error.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = write(&mut out, format, &comparison, &gate, &sides, width).and_then(|()| {
        use std::io::Write;
        out.flush()
    });
    if comparison.pairs.is_empty() {
        return Err(usage(format!(
            "nothing to compare: no result of {new_name} pairs with one of {base_name} (results pair by \
             module, Python version and allocator: were both made with the same --python and \
             --python-malloc?)"
        )));
    }
    Ok(if comparison.regressions() > 0 { EXIT_FAILED } else { EXIT_PASSED })
}

/// The comparison in `format`, written to `out` a row at a time.
fn write(
    out: &mut dyn std::io::Write,
    format: CompareFormat,
    comparison: &Comparison,
    gate: &Gate,
    sides: &Sides,
    width: usize,
) -> std::io::Result<()> {
    match format {
        CompareFormat::Text => write_text(out, comparison, gate, sides, width),
        CompareFormat::Markdown => write_markdown(out, comparison, gate, sides),
        CompareFormat::Json => write_json(out, comparison, gate, sides),
    }
}

/// A report's results, each as the small record pairing needs.
fn read(path: &Path) -> Result<Vec<Measured>> {
    let mut results = Vec::new();
    Report::read_skimmed(path, &|_| false, |record| {
        results.push(Measured::from(record));
        Ok(())
    })?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::inner::{InnerTest, TestOutcome};
    use crate::model::schema::{JobRecord, ResultRecord};
    use crate::model::series::{MemorySeries, MAX_POINTS};

    /// The live heap this thread allocated: the test binary's allocator
    /// counts each thread's own, so tests running beside it do not count.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static LIVE: Cell<isize> = const { Cell::new(0) };
            static PEAK: Cell<isize> = const { Cell::new(0) };
        }

        struct Counting;

        #[global_allocator]
        static COUNTING: Counting = Counting;

        fn add(bytes: isize) {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + bytes);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }

        // SAFETY: each call is System's, with the caller's own contract.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                add(layout.size() as isize);
                unsafe { System.alloc(layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                add(layout.size() as isize);
                unsafe { System.alloc_zeroed(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                add(-(layout.size() as isize));
                unsafe { System.dealloc(ptr, layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                add(new_size as isize - layout.size() as isize);
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }

        /// What `f` returns, and the most heap it held at once beyond what was live before.
        pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
            let start = LIVE.with(Cell::get);
            PEAK.with(|peak| peak.set(start));
            let value = f();
            (value, (PEAK.with(Cell::get) - start).max(0) as usize)
        }
    }

    const RESULTS: usize = 1000;
    const STDOUT: usize = 16 << 10;

    /// `RESULTS` results, each with 16 KiB of stdout, 50 tests and a full memory series.
    fn bulky_report(path: &Path) {
        let mut report = Report::of(&crate::model::result::Outcome::empty("r".into()));
        for index in 0..RESULTS {
            let job = JobRecord {
                module: format!("pkg/test_module_{index:05}.py"),
                python_malloc: Some(["malloc", "pymalloc"][index % 2].into()),
                python: Some("3.13".into()),
            };
            let mut result =
                ResultRecord::passed(job, 1.0 + index as f64 / 1000.0, (20 + index as u64) << 20);
            result.stdout = "allocated a block of 4096 bytes\n".repeat(STDOUT / 32);
            result.stdout_bytes = result.stdout.len() as u64;
            result.tests = (0..50)
                .map(|t| InnerTest {
                    name: format!("{}::test_behaviour_{t}", result.job.module),
                    outcome: TestOutcome::Passed,
                    message: None,
                    traceback: None,
                    duration_s: 0.01,
                    hunt_leaks: None,
                    peak_bytes: Some(1 << 20),
                })
                .collect();
            let points = MAX_POINTS as u64;
            result.memory_series = Some(MemorySeries {
                t_ms: (1..=points).map(|i| i as u32 * 50).collect(),
                rss_bytes: (0..points).map(|i| (8 + i) << 20).collect(),
                cgroup_bytes: (0..points).map(|i| Some((12 + i) << 20)).collect(),
            });
            report.results.push(result);
        }
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        serde_json::to_writer_pretty(file, &report).unwrap();
    }

    /// The bound `compare` holds at any size, on a report whose records are
    /// mostly outputs, tests and series: reading keeps a small record per
    /// result (far less than one result's stdout), and the output is
    /// written a row at a time (writing holds no more than a few rows,
    /// however many pairs there are). Counted in bytes, so it cannot flake.
    #[test]
    fn compare_keeps_a_small_record_per_result_and_writes_as_it_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        bulky_report(&path);
        let (results, reading) = counting::peak_of(|| read(&path).unwrap());
        assert_eq!(results.len(), RESULTS);
        assert!(results.iter().all(|r| r.memory_series.is_none() && r.values[0].is_some()));
        // A chunk of the file (1 MiB) and a few hundred bytes a result.
        let most = (1 << 20) + RESULTS * 512 + (256 << 10);
        assert!(reading < most, "{reading} bytes held reading {RESULTS} results (at most {most})");
        assert!(reading < RESULTS * STDOUT / 4, "{reading} bytes: outputs are not kept");

        let gate = crate::model::compare::Gate::default();
        let comparison = compare::compare(&results, &results, &gate).unwrap();
        let sides = Sides { base: "a.json", new: "b.json" };
        for format in [CompareFormat::Text, CompareFormat::Markdown, CompareFormat::Json] {
            let mut out = std::io::sink();
            let ((), writing) =
                counting::peak_of(|| write(&mut out, format, &comparison, &gate, &sides, 80).unwrap());
            assert!(writing < 64 << 10, "{format:?}: {writing} bytes held writing {RESULTS} pairs");
            let mut whole = Vec::new();
            write(&mut whole, format, &comparison, &gate, &sides, 80).unwrap();
            assert!(whole.len() > RESULTS * 40, "{format:?}: every pair is written ({} bytes)", whole.len());
        }
    }
}
