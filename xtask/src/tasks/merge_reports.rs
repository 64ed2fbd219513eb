//! `cargo xtask merge-reports A.json B.json ...`: the JSON reports of
//! `--partition` shards become one report set (JSON, JUnit, HTML, step
//! summary, through the same writers as a run), with the closing line and
//! the exit code of the whole. A set with a partition missing is not the
//! whole run: it exits 1 unless `--allow-partial`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::error::{usage, EXIT_FAILED, EXIT_PASSED};
use crate::model::compare::{key_of, label, Key};
use crate::model::result::{ModuleResult, Outcome};
use crate::model::schema::{JobRecord, Report, ResultRecord, RunOption, RunRecord};
use crate::model::skim::{record_from, Leave};
use crate::report::human::{Human, Showing};
use crate::report::{Parts, ReportContext, ReportPaths, Wholes};
use crate::tasks::run::{check_report_targets, check_reports, write_reports};

pub fn merge_reports(
    paths: &[PathBuf],
    force: bool,
    allow_partial: bool,
    reports: &ReportPaths,
) -> Result<i32> {
    check_reports(reports)?;
    check_report_targets(reports, None, None)?;
    // Nor may a merged report overwrite a shard it is made of.
    for (report, path) in crate::report::requested(reports) {
        let target = std::fs::canonicalize(path).ok();
        if target.is_some() && paths.iter().any(|shard| std::fs::canonicalize(shard).ok() == target) {
            return Err(crate::error::usage(format!(
                "--{} {}: is one of the shards being merged: write the merged report elsewhere",
                report.flag,
                path.display()
            )));
        }
    }
    // The messages quote module names and file names: one line each, controls visible.
    let refuse = |message: String| usage(crate::sanitize::terminal_line(&message));
    let (shards, merging) = read_shards(paths, |path, each| Report::read_slimmed(path, each))?;
    let run = agreed_run(&shards, force).map_err(refuse)?;
    let missing = check_partitions(&shards).map_err(refuse)?;
    let (outcome, wholes) = merging.finish(&shards, paths).map_err(refuse)?;
    let test_dirs = run.as_ref().map(|r| r.test_dirs.join(", ")).filter(|dirs| !dirs.is_empty());
    let test_dir = test_dirs.unwrap_or_else(|| "merged reports".to_string());
    say!(
        "merged {} shard(s): {} result(s), {} not run",
        shards.len(),
        outcome.results.len(),
        outcome.not_run.len()
    );
    let partial = !missing.is_empty();
    for missing in &missing {
        let (what, advice) =
            if allow_partial { ("note", "") } else { ("error", " (--allow-partial accepts a partial set)") };
        say!("{what}: no shard of partition {missing}: the merged report is not the whole run{advice}");
    }
    Human::new(&test_dir, Showing::plain(), 0).summary(&outcome);
    let context = ReportContext { test_dir: &test_dir, run: run.as_ref(), wholes: Some(&wholes) };
    write_reports(&outcome, reports, &context)?;
    let code = outcome.exit_code();
    // A partial set is no passed gate; an interruption keeps its own code.
    Ok(if partial && !allow_partial && code == EXIT_PASSED { EXIT_FAILED } else { code })
}

struct Shard {
    name: String,
    report: Report,
}

/// A shard's reader: its results to `each` one at a time, with their spans
/// in the file (`Report::read_slimmed`).
type Each<'a> = &'a mut dyn FnMut(ResultRecord, Option<Range<u64>>) -> Result<(), String>;

/// Every shard read, its results into one `Merging`.
fn read_shards(
    paths: &[PathBuf],
    read: impl Fn(&std::path::Path, Each) -> Result<Report>,
) -> Result<(Vec<Shard>, Merging)> {
    let refuse = |message: String| usage(crate::sanitize::terminal_line(&message));
    let mut shards = Vec::new();
    let mut merging = Merging::default();
    for (number, path) in paths.iter().enumerate() {
        let name = path.display().to_string();
        let folder = shard_folder(path);
        let report = read(path, &mut |mut record, span| {
            rebase(&mut record, &folder);
            merging
                .add(number, &name, record, span)
                .map_err(|e| crate::sanitize::terminal_line(&e).into_owned())
        })?;
        merging.add_not_run(number, &name, &report.not_run).map_err(refuse)?;
        shards.push(Shard { name, report });
    }
    Ok((shards, merging))
}

/// The folder a shard report's relative paths are relative to.
fn shard_folder(path: &std::path::Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).to_path_buf()
}

/// A shard's flame graph path is relative to the shard's report: named from
/// here instead (each merged report's writer names it from its own folder:
/// the JSON report's, the HTML page's).
fn rebase(record: &mut ResultRecord, folder: &std::path::Path) {
    if let Some(path) = record.memray.as_mut().and_then(|m| m.flamegraph_path.as_mut()) {
        if path.is_relative() {
            *path = folder.join(&*path);
        }
    }
}

/// Options that only choose which cells of the matrix run, like
/// `--partition`: CI may split a run along them too (one job per Python
/// version), so shards may differ in them; the merged run holds them all.
const SELECTION_OPTIONS: [RunOption; 2] = [RunOption::Python, RunOption::PythonMalloc];

/// The run options every shard shares. Shards that differ in any other than
/// the partition and `SELECTION_OPTIONS`, or that record none, are refused
/// unless `force`.
fn agreed_run(shards: &[Shard], force: bool) -> Result<Option<RunRecord>, String> {
    let hint = "(--force merges them anyway)";
    let mut first: Option<(&str, &RunRecord)> = None;
    for shard in shards {
        let Some(run) = &shard.report.run else {
            if force {
                continue;
            }
            return Err(format!("{} records no run options (an older runner wrote it) {hint}", shard.name));
        };
        let Some((first_name, first_run)) = first else {
            first = Some((&shard.name, run));
            continue;
        };
        if let Some(difference) = difference(&first_run.options, &run.options) {
            if !force {
                return Err(format!(
                    "{first_name} and {} come from runs with different options: {difference} {hint}",
                    shard.name
                ));
            }
        }
    }
    Ok(first.map(|(_, run)| {
        let mut options = run.options.clone();
        for key in SELECTION_OPTIONS {
            options.insert(key, union(shards, key));
        }
        let mut test_dirs: Vec<String> = Vec::new();
        for dir in shards.iter().filter_map(|s| s.report.run.as_ref()).flat_map(RunRecord::test_dirs) {
            if !test_dirs.contains(&dir) {
                test_dirs.push(dir);
            }
        }
        RunRecord { partition: None, options, test_dirs, ..run.clone() }
    }))
}

/// Every value the shards gave a list option, in order (`["3.9", "3.11"]`).
fn union(shards: &[Shard], key: RunOption) -> Value {
    let mut values: Vec<Value> = Vec::new();
    for run in shards.iter().filter_map(|s| s.report.run.as_ref()) {
        let given = run.options.get(&key).and_then(Value::as_array).cloned().unwrap_or_default();
        for value in given {
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    Value::Array(values)
}

/// The first option two runs disagree on, in words (selection options aside).
fn difference(a: &BTreeMap<RunOption, Value>, b: &BTreeMap<RunOption, Value>) -> Option<String> {
    let keys: std::collections::BTreeSet<&RunOption> = a.keys().chain(b.keys()).collect();
    let differs = |k: &&RunOption| !SELECTION_OPTIONS.contains(k) && a.get(*k) != b.get(*k);
    keys.into_iter().find(differs).map(|k| {
        let show = |v: Option<&Value>| match v.map(plain) {
            None => "(not recorded)".to_string(),
            Some(text) if text.is_empty() => "(unset)".to_string(),
            Some(text) => text,
        };
        let name =
            serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        format!("--{name} {} vs {}", show(a.get(k)), show(b.get(k)))
    })
}

/// An option's value as given on a command line (`3.9,3.11`); empty when unset.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Two shards of one cell of the split (same partition and selection) are
/// refused; the partitions missing from a set are returned (`2/3 (of 3.11)`).
fn check_partitions(shards: &[Shard]) -> Result<Vec<String>, String> {
    // (selection, partition) → shard; selection → (part, parts) seen.
    let mut seen: BTreeMap<(Vec<String>, String), &str> = BTreeMap::new();
    let mut parts: BTreeMap<Vec<String>, Vec<(usize, usize)>> = BTreeMap::new();
    for shard in shards {
        let Some(run) = &shard.report.run else { continue };
        let Some(partition) = run.partition.as_deref() else { continue };
        let selection: Vec<String> =
            SELECTION_OPTIONS.iter().map(|k| run.options.get(k).map_or(String::new(), plain)).collect();
        if let Some(other) = seen.insert((selection.clone(), partition.to_string()), &shard.name) {
            return Err(format!("{other} and {} are both partition {partition} of the same run", shard.name));
        }
        if let Some((k, n)) =
            partition.split_once('/').and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)))
        {
            parts.entry(selection).or_default().push((k, n));
        }
    }
    let mut missing_sets = Vec::new();
    for (selection, parts) in parts {
        let n = parts[0].1;
        if parts.iter().any(|&(_, other)| other != n) {
            continue;
        }
        let missing: Vec<String> =
            (1..=n).filter(|k| !parts.iter().any(|&(p, _)| p == *k)).map(|k| format!("{k}/{n}")).collect();
        if !missing.is_empty() {
            let of = selection.iter().filter(|v| !v.is_empty()).cloned().collect::<Vec<_>>().join(" ");
            let of = if of.is_empty() { String::new() } else { format!(" (of {of})") };
            missing_sets.push(format!("{}{of}", missing.join(", ")));
        }
    }
    Ok(missing_sets)
}

/// The shards' results as they are read: each one slimmed (outputs and
/// tests' lists dropped: `ResultRecord::slim`; the scanner of `model/skim.rs`
/// leaves them unparsed) for the summary and the reports' overviews, with
/// where its whole record lies in its shard's file, which the report writers
/// read back one at a time. A result in two shards is refused.
#[derive(Default)]
struct Merging {
    /// Each result's cell, and the number of the shard that holds it.
    seen: BTreeMap<Key, usize>,
    names: Vec<String>,
    results: Vec<ModuleResult>,
    places: Vec<Place>,
    not_run: Vec<(String, JobRecord)>,
}

/// Where a result's whole record is.
enum Place {
    /// Bytes `span` of shard `shard`'s file.
    InFile { shard: usize, span: Range<u64> },
    /// Held whole (an older report's, upgraded in memory).
    Held(Box<ResultRecord>),
}

impl Merging {
    fn add(
        &mut self,
        shard: usize,
        name: &str,
        record: ResultRecord,
        span: Option<Range<u64>>,
    ) -> Result<(), String> {
        self.claim(&record.job, shard, name)?;
        let place = match span {
            Some(span) => Place::InFile { shard, span },
            None => Place::Held(Box::new(record.clone())),
        };
        let mut slim = record;
        slim.slim();
        let result = slim.result(0).map_err(|e| format!("{name}: {e}"))?;
        self.results.push(result);
        self.places.push(place);
        Ok(())
    }

    fn add_not_run(&mut self, shard: usize, name: &str, jobs: &[JobRecord]) -> Result<(), String> {
        for job in jobs {
            self.claim(job, shard, name)?;
            self.not_run.push((name.to_string(), job.clone()));
        }
        Ok(())
    }

    fn claim(&mut self, job: &JobRecord, shard: usize, name: &str) -> Result<(), String> {
        if self.names.len() <= shard {
            self.names.resize(shard + 1, String::new());
            self.names[shard] = name.to_string();
        }
        match self.seen.insert(key_of(job), shard) {
            Some(other) => Err(format!("{} is in both {} and {name}", label(job), self.names[other])),
            None => Ok(()),
        }
    }

    /// One outcome of every shard's results, sorted by module (as an
    /// unpartitioned run of the same modules lists them), and where each is whole.
    fn finish(mut self, shards: &[Shard], paths: &[PathBuf]) -> Result<(Outcome, Spread), String> {
        // Stable: a module's results keep their shards' order. Moved in
        // place (no second copy of 160,000 results at once).
        let mut order: Vec<usize> = (0..self.results.len()).collect();
        order.sort_by(|&a, &b| self.results[a].job.module.cmp(&self.results[b].job.module));
        permute(&mut self.results, &mut self.places, order);
        self.not_run.sort_by(|a, b| a.1.module.cmp(&b.1.module));
        let mut outcome =
            Outcome::empty(shards.iter().map(|s| s.report.run_id.as_str()).collect::<Vec<_>>().join("+"));
        for (index, result) in self.results.iter_mut().enumerate() {
            result.job.index = index;
        }
        outcome.results = self.results;
        let places = self.places;
        let first = outcome.results.len();
        for (index, (name, job)) in self.not_run.into_iter().enumerate() {
            outcome.not_run.push(job.job(first + index).map_err(|e| format!("{name}: {e}"))?);
        }
        outcome.interrupted = shards.iter().any(|s| s.report.interrupted);
        let files = paths
            .iter()
            .map(|p| std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display())))
            .collect::<Result<_, _>>()?;
        Ok((outcome, Spread { files, paths: paths.to_vec(), places }))
    }
}

/// Puts `order[i]`-th elements of both lists at `i`, in place (following
/// each cycle of the permutation, swapping).
fn permute<T, U>(a: &mut [T], b: &mut [U], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            a.swap(at, from);
            b.swap(at, from);
            at = from;
        }
    }
}

/// The merged results' whole records, spread over the shards' files.
struct Spread {
    files: Vec<std::fs::File>,
    paths: Vec<PathBuf>,
    places: Vec<Place>,
}

impl Wholes for Spread {
    fn whole(&self, index: usize, parts: Parts) -> anyhow::Result<ModuleResult> {
        let record = match &self.places[index] {
            Place::Held(record) => record.result(index),
            Place::InFile { shard, span } => {
                let mut bytes = Vec::with_capacity((span.end - span.start) as usize + 1);
                bytes.resize((span.end - span.start) as usize, 0);
                self.files[*shard].read_exact_at(&mut bytes, span.start)?;
                let changed = |e: String| {
                    anyhow::anyhow!("{} changed while it was merged: {e}", self.paths[*shard].display())
                };
                // What the writer leaves out is left unparsed.
                let mut record = match parts {
                    Parts::All => {
                        crate::model::schema::record_at(&bytes).map_err(|e| changed(e.to_string()))?
                    }
                    Parts::NoSeries => record_from(bytes, Leave::no_series()).map_err(changed)?,
                    Parts::NoSeriesNorOutputs => {
                        record_from(bytes, Leave::no_series_nor_outputs()).map_err(changed)?
                    }
                };
                rebase(&mut record, &shard_folder(&self.paths[*shard]));
                record.result(index)
            }
        };
        record.map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::Summary;

    /// Shards held in memory, merged.
    fn merge(shards: &[Shard]) -> Result<Outcome, String> {
        let mut merging = Merging::default();
        for (number, shard) in shards.iter().enumerate() {
            for record in &shard.report.results {
                merging.add(number, &shard.name, record.clone(), None)?;
            }
            merging.add_not_run(number, &shard.name, &shard.report.not_run)?;
        }
        merging.finish(shards, &[]).map(|(outcome, _)| outcome)
    }

    #[test]
    fn flame_graph_paths_are_named_from_the_merged_report_s_folder() {
        use crate::model::memray::MemraySummary;
        use crate::model::status::Execution;
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (shard, module) in [("a", "test_a.py"), ("b", "test_b.py")] {
            let folder = dir.path().join("shards").join(shard);
            std::fs::create_dir_all(&folder).unwrap();
            let mut result = ModuleResult::sample(module, Execution::Passed, "", "");
            result.memray = Some(MemraySummary {
                flamegraph_path: Some(folder.join(format!("memray/{module}.svg"))),
                ..MemraySummary::with_peak(1 << 20)
            });
            let mut outcome = Outcome::empty(shard.into());
            outcome.results.push(result);
            let path = folder.join("r.json");
            let context = ReportContext { test_dir: "t", run: None, wholes: None };
            crate::report::json::write(&outcome, &context, &path).unwrap();
            let written = std::fs::read_to_string(&path).unwrap();
            assert!(written.contains(&format!("\"flamegraph_path\": \"memray/{module}.svg\"")), "{written}");
            paths.push(path);
        }
        let merged = dir.path().join("merged/all/r.json");
        std::fs::create_dir_all(merged.parent().unwrap()).unwrap();
        let reports = ReportPaths { json: Some(merged.clone()), ..ReportPaths::default() };
        merge_reports(&paths, true, true, &reports).unwrap();
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
        let named: Vec<&str> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["memray"]["flamegraph_path"].as_str().unwrap())
            .collect();
        assert_eq!(named, ["../../shards/a/memray/test_a.py.svg", "../../shards/b/memray/test_b.py.svg"]);
        // Beside the shards, the same files keep their names.
        let beside = dir.path().join("shards/a/merged.json");
        let reports = ReportPaths { json: Some(beside.clone()), ..ReportPaths::default() };
        merge_reports(&paths[..1], true, true, &reports).unwrap();
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&beside).unwrap()).unwrap();
        assert_eq!(report["results"][0]["memray"]["flamegraph_path"], "memray/test_a.py.svg");
    }

    #[test]
    fn merged_results_are_held_slim_and_read_back_whole_from_their_shards() {
        use crate::model::status::Execution;
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, modules) in [("a", ["test_b.py", "test_d.py"]), ("b", ["test_a.py", "test_c.py"])] {
            let mut outcome = Outcome::empty(name.into());
            for module in modules {
                let stdout = format!("{module} says {}\n", "x".repeat(5000));
                let mut result = ModuleResult::sample(module, Execution::Passed, &stdout, "err,]}\n");
                result.job.index = outcome.results.len();
                outcome.results.push(result);
            }
            let path = dir.path().join(format!("{name}.json"));
            let context = ReportContext { test_dir: "t", run: None, wholes: None };
            crate::report::json::write(&outcome, &context, &path).unwrap();
            paths.push(path);
        }
        let (shards, merging) = read_shards(&paths, |path, each| {
            Report::read_slimmed(path, |record, span| {
                assert!(span.is_some(), "a current report's records have their place in the file");
                each(record, span)
            })
        })
        .unwrap();
        let (outcome, wholes) = merging.finish(&shards, &paths).unwrap();
        let modules: Vec<&str> = outcome.results.iter().map(|r| r.job.module.as_str()).collect();
        assert_eq!(modules, ["test_a.py", "test_b.py", "test_c.py", "test_d.py"]);
        for (index, result) in outcome.results.iter().enumerate() {
            assert_eq!(result.stdout.text(), "", "held slim");
            assert_eq!(
                result.stdout.total_bytes as usize,
                result.job.module.len() + 7 + 5000,
                "its size stays"
            );
            let whole = wholes.whole(index, Parts::All).unwrap();
            assert_eq!(whole.job.module, result.job.module);
            assert_eq!(whole.stdout.text(), format!("{} says {}\n", result.job.module, "x".repeat(5000)));
            assert_eq!(whole.stderr.text(), "err,]}\n");
        }
    }

    /// The scanner's reading (`read_slimmed`) merges into the same reports,
    /// byte for byte, as serde's reading of each whole record (`read_each`,
    /// what merge-reports read with before): results of every ending, with
    /// attempts, a baseline, memray figures, series, and generated pytest runs.
    #[test]
    fn the_scanner_merges_the_same_reports_as_the_whole_records() {
        use crate::tasks::bench::shards::synthetic_result;
        let dir = tempfile::tempdir().unwrap();
        let sample = crate::model::schema::sample_outcome();
        let mut parts =
            vec![Outcome::empty("a".into()), Outcome::empty("b".into()), Outcome::empty("c".into())];
        for (index, result) in sample.results.iter().enumerate() {
            parts[index % 2].results.push(result.clone());
        }
        for module in 0..40 {
            let index = parts[2].results.len();
            parts[2].results.push(synthetic_result(index, module, ["3.9", "3.13"][module % 2], "mimalloc"));
        }
        let mut paths = Vec::new();
        for (number, mut outcome) in parts.into_iter().enumerate() {
            for (index, result) in outcome.results.iter_mut().enumerate() {
                result.job.index = index;
            }
            let path = dir.path().join(format!("shard-{number}.json"));
            let context = ReportContext { test_dir: "t", run: None, wholes: None };
            crate::report::json::write(&outcome, &context, &path).unwrap();
            paths.push(path);
        }
        let written = |name: &str, read: &dyn Fn(&std::path::Path, Each) -> Result<Report>| {
            let (shards, merging) = read_shards(&paths, read).unwrap();
            let (mut outcome, wholes) = merging.finish(&shards, &paths).unwrap();
            // The merge's own clock aside.
            outcome.started_at = std::time::UNIX_EPOCH;
            let out = dir.path().join(name);
            let reports = ReportPaths {
                json: Some(out.join("r.json")),
                junit: Some(out.join("r.xml")),
                html: Some(out.join("r.html")),
            };
            let context = ReportContext { test_dir: "t", run: None, wholes: Some(&wholes) };
            write_reports(&outcome, &reports, &context).unwrap();
            ["r.json", "r.xml", "r.html"].map(|file| std::fs::read(out.join(file)).unwrap())
        };
        let scanned = written("scanned", &|path, each| Report::read_slimmed(path, each));
        let parsed = written("parsed", &|path, each| Report::read_each(path, each));
        for (file, (scanned, parsed)) in ["json", "xml", "html"].iter().zip(scanned.iter().zip(&parsed)) {
            assert!(scanned == parsed, "the merged {file} reports differ");
        }
        let json = String::from_utf8(scanned[0].clone()).unwrap();
        assert!(
            json.contains("\"attempts\"") && json.contains("attempt 2\\n") && json.contains("\"baseline\"")
        );
        assert!(json.contains("test_feature_00039.py") && json.contains("\"memory_series\""));
    }

    fn shard(name: &str, partition: Option<&str>, modules: &[&str], python: &str) -> Shard {
        let results = modules
            .iter()
            .map(|m| {
                let job = JobRecord { module: m.to_string(), python_malloc: None, python: None };
                ResultRecord::passed(job, 1.0, 1 << 20)
            })
            .collect();
        let options = [(RunOption::Python, serde_json::json!([python]))].into_iter().collect();
        Shard {
            name: name.into(),
            report: Report {
                module_args: Vec::new(),
                env: Vec::new(),
                schema_version: 3,
                run_id: name.into(),
                results,
                not_run: Vec::new(),
                interrupted: false,
                summary: Summary { passed: modules.len(), failed: 0, skipped: 0, not_run: 0, deselected: 0 },
                run: Some(RunRecord {
                    partition: partition.map(str::to_string),
                    options,
                    ..RunRecord::default()
                }),
            },
        }
    }

    #[test]
    fn shards_merge_sorted_by_module() {
        let shards = [
            shard("a", Some("1/2"), &["test_a.py", "test_c.py"], "3.11"),
            shard("b", Some("2/2"), &["test_b.py"], "3.11"),
        ];
        let run = agreed_run(&shards, false).unwrap().unwrap();
        assert_eq!(run.partition, None);
        let outcome = merge(&shards).unwrap();
        let modules: Vec<&str> = outcome.results.iter().map(|r| r.job.module.as_str()).collect();
        assert_eq!(modules, ["test_a.py", "test_b.py", "test_c.py"]);
        assert_eq!(outcome.results.iter().map(|r| r.job.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(outcome.run_id, "a+b");
    }

    #[test]
    fn shards_may_split_the_matrix_but_not_differ_in_how_they_ran() {
        let shards = [
            shard("a", Some("1/2"), &["test_a.py"], "3.11"),
            shard("b", Some("2/2"), &["test_b.py"], "3.13"),
        ];
        let run = agreed_run(&shards, false).unwrap().unwrap();
        assert_eq!(run.options[&RunOption::Python], serde_json::json!(["3.11", "3.13"]));
        let mut slow = shard("c", Some("2/2"), &["test_b.py"], "3.11");
        slow.report.run.as_mut().unwrap().options.insert(RunOption::Timeout, serde_json::json!(9));
        let shards = [shard("a", Some("1/2"), &["test_a.py"], "3.11"), slow];
        let error = agreed_run(&shards, false).unwrap_err();
        assert!(error.contains("different options: --timeout (not recorded) vs 9"), "{error}");
        assert!(agreed_run(&shards, true).is_ok());
        let mut old = shard("c", None, &["test_c.py"], "3.11");
        old.report.run = None;
        assert!(agreed_run(&[old], false).unwrap_err().contains("records no run options"));
    }

    #[test]
    fn duplicates_are_refused_even_when_forced() {
        let shards = [
            shard("a", Some("1/2"), &["test_a.py"], "3.11"),
            shard("b", Some("1/2"), &["test_b.py"], "3.11"),
        ];
        assert!(check_partitions(&shards).unwrap_err().contains("both partition 1/2"));
        let other_python = [
            shard("a", Some("1/2"), &["test_a.py"], "3.11"),
            shard("b", Some("1/2"), &["test_a.py"], "3.13"),
        ];
        assert!(agreed_run(&other_python, false).is_ok(), "a matrix split is not a duplicate");
        assert!(check_partitions(&other_python).is_ok(), "a matrix split is not a duplicate");
        let twice = [shard("a", None, &["test_a.py"], "3.11"), shard("b", None, &["test_a.py"], "3.11")];
        let Err(error) = merge(&twice) else { panic!("a duplicate was merged") };
        assert!(error.contains("test_a.py is in both a and b"), "{error}");
    }

    #[test]
    fn missing_partitions_are_named_per_cell_of_the_matrix() {
        let whole = [
            shard("a", Some("1/2"), &["test_a.py"], "3.11"),
            shard("b", Some("2/2"), &["test_b.py"], "3.11"),
        ];
        assert_eq!(check_partitions(&whole).unwrap(), Vec::<String>::new());
        let partial = [
            shard("a", Some("1/3"), &["test_a.py"], "3.11"),
            shard("b", Some("1/3"), &["test_a.py"], "3.13"),
            shard("c", Some("3/3"), &["test_c.py"], "3.13"),
        ];
        assert_eq!(check_partitions(&partial).unwrap(), ["2/3, 3/3 (of 3.11)", "2/3 (of 3.13)"]);
        let unpartitioned = [shard("a", None, &["test_a.py"], "3.11")];
        assert_eq!(check_partitions(&unpartitioned).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_permutation_is_applied_in_place_to_both_lists() {
        for order in [vec![2, 0, 1, 4, 3], vec![0, 1, 2, 3, 4], vec![4, 3, 2, 1, 0], vec![1, 2, 3, 4, 0]] {
            let mut a: Vec<usize> = (10..15).collect();
            let mut b: Vec<String> = (0..5).map(|i| i.to_string()).collect();
            permute(&mut a, &mut b, order.clone());
            assert_eq!(a, order.iter().map(|i| i + 10).collect::<Vec<_>>(), "{order:?}");
            assert_eq!(b, order.iter().map(|i| i.to_string()).collect::<Vec<_>>(), "{order:?}");
        }
    }
}
