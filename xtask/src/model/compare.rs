//! Comparing results with a baseline, as pure logic shared by `compare` and
//! `run --baseline`: which results pair up (module × Python × allocator), how
//! each measure changed, and whether a change is a regression, that is beyond
//! both its threshold (relative) and its floor (absolute, below which a
//! difference is noise).
//!
//! The measures are one table, `MEASURES`: a new one (a container's peak, an
//! inner test count) is one line there, and every comparison, report and
//! option (`--threshold KEY=…`, `--min-delta KEY=…`) picks it up.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use crate::model::limits::{MAX_MEMORY_BYTES, MAX_TIMEOUT_SECS};
use crate::model::measure::{MeasureId, Regression, Scope, Threshold, Unit};
use crate::model::result::BaselineRecord;
use crate::model::result::ModuleResult;
use crate::model::schema::{JobRecord, ResultRecord};
use crate::model::series::MemorySeries;
use crate::model::status::{Execution, Status, Tally};
use crate::model::units;

/// One measure of a result, lower being better.
pub struct Measure {
    pub id: MeasureId,
    pub unit: Unit,
    /// Changes smaller than this are noise unless `--min-delta` says otherwise.
    pub default_floor: f64,
    pub value: fn(&ResultRecord) -> Option<f64>,
    /// What its value is of (`Scope`): values of different scopes are not compared.
    pub scope: fn(&ResultRecord) -> Scope,
}

fn whole_module(_: &ResultRecord) -> Scope {
    Scope::Module
}

const MIB: f64 = 1024.0 * 1024.0;

/// Every measure results are compared on, in the order reports show them.
pub const MEASURES: [Measure; 4] = [
    Measure {
        id: MeasureId::Rss,
        unit: Unit::Bytes,
        default_floor: MIB,
        value: |r| r.peak_rss_bytes.map(|b| b as f64),
        scope: whole_module,
    },
    Measure {
        id: MeasureId::Container,
        unit: Unit::Bytes,
        // The cgroup also counts page cache, which moves by a few MiB.
        default_floor: 4.0 * MIB,
        value: |r| r.container_peak_bytes.map(|b| b as f64),
        scope: whole_module,
    },
    Measure {
        id: MeasureId::Heap,
        unit: Unit::Bytes,
        default_floor: MIB,
        value: |r| r.memray.as_ref().and_then(|m| m.peak_memory_bytes).map(|b| b as f64),
        // A file recorded per test: the largest test's peak, not the module's.
        scope: |r| match r.memray.as_ref().and_then(|m| m.per_test_captures) {
            Some(_) => Scope::LargestTest,
            None => Scope::Module,
        },
    },
    Measure {
        id: MeasureId::Duration,
        unit: Unit::Seconds,
        default_floor: 0.5,
        value: |r| Some(r.duration_s),
        scope: whole_module,
    },
];

/// The largest value of a unit the runner itself can record: a size up to the
/// largest memory limit, a duration up to the longest timeout (plus the
/// minute a container may take to end). Anything beyond was not measured.
fn largest(unit: Unit) -> f64 {
    match unit {
        Unit::Bytes => MAX_MEMORY_BYTES as f64,
        Unit::Seconds => (MAX_TIMEOUT_SECS + 60) as f64,
    }
}

/// What comparing reads of a result: a report's record as written
/// (`ResultRecord`), or what `compare` and `--baseline` keep of it (`Measured`).
pub trait Measurable {
    fn job(&self) -> &JobRecord;
    fn status(&self) -> Status;
    /// How it counts: its status's tally, except a `flaky` under `--flaky-result pass`.
    fn counted_as(&self) -> Tally;
    fn value(&self, measure: &Measure) -> Option<f64>;
    fn scope(&self, measure: &Measure) -> Scope;
}

impl Measurable for ResultRecord {
    fn job(&self) -> &JobRecord {
        &self.job
    }

    fn status(&self) -> Status {
        self.status
    }

    fn counted_as(&self) -> Tally {
        self.counted_as
    }

    fn value(&self, measure: &Measure) -> Option<f64> {
        (measure.value)(self)
    }

    fn scope(&self, measure: &Measure) -> Scope {
        (measure.scope)(self)
    }
}

/// What pairing keeps of a result read from a report: its cell, its status,
/// its measures (in `MEASURES` order) and, for `--baseline` to draw, its
/// memory series. A few hundred bytes, whatever the result held: memory
/// follows the number of results, not their outputs or tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub job: JobRecord,
    pub status: Status,
    pub counted_as: Tally,
    pub values: [Option<f64>; MEASURES.len()],
    pub scopes: [Scope; MEASURES.len()],
    pub memory_series: Option<Box<MemorySeries>>,
}

impl From<ResultRecord> for Measured {
    fn from(record: ResultRecord) -> Measured {
        Measured {
            values: MEASURES.each_ref().map(|m| (m.value)(&record)),
            scopes: MEASURES.each_ref().map(|m| (m.scope)(&record)),
            status: record.status,
            counted_as: record.counted_as,
            memory_series: record.memory_series.map(Box::new),
            job: record.job,
        }
    }
}

impl Measurable for Measured {
    fn job(&self) -> &JobRecord {
        &self.job
    }

    fn status(&self) -> Status {
        self.status
    }

    fn counted_as(&self) -> Tally {
        self.counted_as
    }

    fn value(&self, measure: &Measure) -> Option<f64> {
        self.values[Gate::index(measure)]
    }

    fn scope(&self, measure: &Measure) -> Scope {
        self.scopes[Gate::index(measure)]
    }
}

/// Every measured value of a report's results lies where the runner's own
/// would: a value outside is named (result and field), never compared.
pub fn check_ranges<R: Measurable>(records: &[R]) -> Result<(), String> {
    for (index, record) in records.iter().enumerate() {
        for measure in &MEASURES {
            let Some(value) = record.value(measure) else { continue };
            let most = largest(measure.unit);
            if !(value.is_finite() && (0.0..=most).contains(&value)) {
                let field = serde_json::to_value(measure.id).ok().and_then(|v| v.as_str().map(String::from));
                let shown = if value.abs() < 1e15 { value.to_string() } else { format!("{value:e}") };
                return Err(format!(
                    "results[{index}] ({}): {} = {shown} is outside what the runner records (0 to {most})",
                    label(record.job()),
                    field.unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

/// The threshold every measure has unless `--threshold` says otherwise.
pub const DEFAULT_THRESHOLD_PERCENT: f64 = 10.0;

/// The row of `MEASURES` of a measure.
pub fn measure_of(id: MeasureId) -> &'static Measure {
    MEASURES.iter().find(|m| m.id == id).expect("every measure is in MEASURES")
}

pub fn measure(key: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.id.key() == key)
}

fn measure_keys() -> String {
    MEASURES.iter().map(|m| m.id.key()).collect::<Vec<_>>().join(", ")
}

impl Unit {
    /// A value with its unit's suffix (`1MiB`, `512k`, `0.5s`, `200ms`), read
    /// by the grammar of `units.rs`. `None` when the suffix is not this unit's.
    fn parse(self, text: &str) -> Option<Result<f64, String>> {
        match self {
            Unit::Bytes => units::has_size_unit(text)
                .then(|| units::parse_size(text, 0, MAX_MEMORY_BYTES).map(|b| b as f64)),
            Unit::Seconds => units::has_duration_unit(text)
                .then(|| units::parse_duration(text, 0.0, MAX_TIMEOUT_SECS as f64)),
        }
    }

    fn example(self) -> &'static str {
        match self {
            Unit::Bytes => "a size such as 1MiB or 512KiB",
            Unit::Seconds => "a time such as 0.5s or 200ms",
        }
    }
}

/// One item of `--threshold`: `10%` (every measure) or `rss=5%`, `duration=off`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdItem {
    pub measure: Option<MeasureId>,
    pub threshold: Threshold,
}

impl FromStr for ThresholdItem {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (measure, value) = split_item(text)?;
        let value = value.trim();
        let threshold = if value.eq_ignore_ascii_case("off") {
            Threshold::Off
        } else {
            let number = value
                .strip_suffix('%')
                .ok_or_else(|| format!("{value:?}: write a threshold as a percentage (10%) or off"))?;
            match number.trim().parse::<f64>() {
                Ok(percent) if percent.is_finite() && percent >= 0.0 => Threshold::Percent(percent),
                _ => return Err(format!("{value:?}: a threshold is a percentage of 0% or more, or off")),
            }
        };
        Ok(ThresholdItem { measure: measure.map(|m| m.id), threshold })
    }
}

/// One item of `--min-delta`: `rss=2MiB`, or a value with a unit
/// (`2MiB`, `1s`) for every measure of that unit.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorItem {
    pub measure: Option<MeasureId>,
    pub unit: Unit,
    pub value: f64,
}

impl FromStr for FloorItem {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (measure, value) = split_item(text)?;
        if let Some(measure) = measure {
            let parsed = measure.unit.parse(value).unwrap_or_else(|| {
                Err(format!("{value:?}: the floor of {} is {}", measure.id.key(), measure.unit.example()))
            })?;
            return Ok(FloorItem { measure: Some(measure.id), unit: measure.unit, value: parsed });
        }
        for unit in [Unit::Bytes, Unit::Seconds] {
            if let Some(parsed) = unit.parse(value) {
                return Ok(FloorItem { measure: None, unit, value: parsed? });
            }
        }
        Err(format!(
            "{value:?}: give a size (1MiB) or a time (0.5s), or name the measure (rss=1MiB); measures: {}",
            measure_keys()
        ))
    }
}

/// `key=value` or `value`, with the key checked against the measures.
fn split_item(text: &str) -> Result<(Option<&'static Measure>, &str), String> {
    match text.split_once('=') {
        None => Ok((None, text)),
        Some((key, value)) => {
            let measure = measure(key.trim())
                .ok_or_else(|| format!("unknown measure {:?}; measures: {}", key.trim(), measure_keys()))?;
            Ok((Some(measure), value))
        }
    }
}

/// The thresholds and floors of every measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    thresholds: Vec<Threshold>,
    floors: Vec<f64>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new(&[], &[])
    }
}

impl Gate {
    /// Defaults, then the items that name no measure, then those that do.
    pub fn new(thresholds: &[ThresholdItem], floors: &[FloorItem]) -> Gate {
        let mut gate = Gate {
            thresholds: vec![Threshold::Percent(DEFAULT_THRESHOLD_PERCENT); MEASURES.len()],
            floors: MEASURES.iter().map(|m| m.default_floor).collect(),
        };
        for named in [false, true] {
            for item in thresholds.iter().filter(|i| i.measure.is_some() == named) {
                for (i, m) in MEASURES.iter().enumerate() {
                    if item.measure.is_none_or(|id| id == m.id) {
                        gate.thresholds[i] = item.threshold;
                    }
                }
            }
            for item in floors.iter().filter(|i| i.measure.is_some() == named) {
                for (i, m) in MEASURES.iter().enumerate() {
                    if item.measure.is_none_or(|id| id == m.id) && item.unit == m.unit {
                        gate.floors[i] = item.value;
                    }
                }
            }
        }
        gate
    }

    fn index(measure: &Measure) -> usize {
        MEASURES.iter().position(|m| m.id == measure.id).expect("a measure of MEASURES")
    }

    pub fn threshold(&self, measure: &Measure) -> Threshold {
        self.thresholds[Gate::index(measure)]
    }

    pub fn floor(&self, measure: &Measure) -> f64 {
        self.floors[Gate::index(measure)]
    }

    /// How a change from `before` to `after` counts.
    pub fn judge(&self, measure: &Measure, before: f64, after: f64) -> Verdict {
        let Threshold::Percent(percent) = self.threshold(measure) else {
            return Verdict::Within;
        };
        let factor = 1.0 + percent / 100.0;
        let floor = self.floor(measure);
        if after - before > floor && after > before * factor {
            Verdict::Regressed
        } else if before - after > floor && after * factor < before {
            Verdict::Improved
        } else {
            Verdict::Within
        }
    }
}

/// How one measure's change counts against the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Regressed,
    Improved,
    Within,
    /// The two values are of different scopes (`Delta::scopes`): shown, never judged.
    NotComparable,
}

/// One measure of a pair, before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub measure: &'static Measure,
    pub before: f64,
    pub after: f64,
    pub verdict: Verdict,
    /// What each value is of, before and after.
    pub scopes: [Scope; 2],
}

impl std::fmt::Debug for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id.key())
    }
}

impl PartialEq for Measure {
    fn eq(&self, other: &Measure) -> bool {
        self.id == other.id
    }
}

impl Delta {
    /// After over before; infinite when something grew from nothing.
    pub fn ratio(&self) -> f64 {
        if self.before == 0.0 {
            if self.after == 0.0 {
                1.0
            } else {
                f64::INFINITY
            }
        } else {
            self.after / self.before
        }
    }
}

/// Which cell of the matrix a result is: module × Python × allocator.
pub type Key = (String, Option<String>, Option<String>);

pub fn key_of(job: &JobRecord) -> Key {
    (job.module.clone(), job.python.clone(), job.python_malloc.clone())
}

/// A `Key`, borrowed (pairing and sorting copy no names); they order alike.
type Cell<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

fn cell_of(job: &JobRecord) -> Cell<'_> {
    (&job.module, job.python.as_deref(), job.python_malloc.as_deref())
}

/// A result and its baseline.
#[derive(Debug, Clone)]
pub struct Pair<'a, R = Measured> {
    pub base: &'a R,
    pub new: &'a R,
    /// Every measure both sides have.
    pub deltas: Vec<Delta>,
}

impl<R: Measurable> Pair<'_, R> {
    pub fn status_changed(&self) -> bool {
        self.base.status() != self.new.status()
    }

    /// It counted as passed (or skipped) and no longer does.
    pub fn status_regressed(&self) -> bool {
        self.base.counted_as() != Tally::Failed && self.new.counted_as() == Tally::Failed
    }

    pub fn regressed(&self) -> bool {
        self.status_regressed() || self.deltas.iter().any(|d| d.verdict == Verdict::Regressed)
    }

    pub fn improved(&self) -> bool {
        !self.regressed() && self.deltas.iter().any(|d| d.verdict == Verdict::Improved)
    }

    /// The largest ratio of its comparable measures (for sorting).
    fn largest_ratio(&self) -> f64 {
        self.deltas
            .iter()
            .filter(|d| d.verdict != Verdict::NotComparable)
            .map(Delta::ratio)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Two sets of results, paired.
#[derive(Debug, Clone)]
pub struct Comparison<'a, R = Measured> {
    /// Status changes first, then regressions, then by largest ratio.
    pub pairs: Vec<Pair<'a, R>>,
    pub only_base: Vec<&'a R>,
    pub only_new: Vec<&'a R>,
    regressions: usize,
    improvements: usize,
}

impl<R> Comparison<'_, R> {
    pub fn regressions(&self) -> usize {
        self.regressions
    }

    pub fn improvements(&self) -> usize {
        self.improvements
    }
}

/// The deltas of every measure both records have. Measures are compared only
/// when both results ran to their end (a timeout's duration or a crash's peak
/// says little); a status change is the finding then. Values of different
/// scopes (a per-test heap peak and a whole module's) are not comparable.
pub fn deltas(base: &impl Measurable, new: &impl Measurable, gate: &Gate) -> Vec<Delta> {
    let judged = base.status().ran_to_its_end() && new.status().ran_to_its_end();
    MEASURES
        .iter()
        .filter_map(|measure| {
            let before = base.value(measure)?;
            let after = new.value(measure)?;
            let scopes = [base.scope(measure), new.scope(measure)];
            let verdict = if scopes[0] != scopes[1] {
                Verdict::NotComparable
            } else if judged {
                gate.judge(measure, before, after)
            } else {
                Verdict::Within
            };
            Some(Delta { measure, before, after, verdict, scopes })
        })
        .collect()
}

/// Results indexed by their cell; a second result for one cell is an error.
fn index<'a, R: Measurable>(results: &'a [R], side: &str) -> Result<BTreeMap<Cell<'a>, &'a R>, String> {
    let mut index = BTreeMap::new();
    for record in results {
        if index.insert(cell_of(record.job()), record).is_some() {
            return Err(twice(side, record.job()));
        }
    }
    Ok(index)
}

fn twice(side: &str, job: &JobRecord) -> String {
    format!("{side} holds two results for {}", label(job))
}

/// `test_x.py [malloc, 3.11]`, as a job's label reads.
pub fn label(job: &JobRecord) -> String {
    let parts: Vec<&str> = job.python_malloc.iter().chain(job.python.iter()).map(String::as_str).collect();
    if parts.is_empty() {
        job.module.clone()
    } else {
        format!("{} [{}]", job.module, parts.join(", "))
    }
}

/// Pairs `new` with `base` and sorts the pairs for reading (each pair holds
/// references and its deltas; the renderers write a row at a time).
pub fn compare<'a, R: Measurable>(
    base: &'a [R],
    new: &'a [R],
    gate: &Gate,
) -> Result<Comparison<'a, R>, String> {
    let base_index = index(base, "the baseline")?;
    let new_index = index(new, "the new report")?;
    let mut pairs = Vec::new();
    let mut only_new = Vec::new();
    for record in new {
        match base_index.get(&cell_of(record.job())) {
            Some(base) => pairs.push(Pair { base: *base, new: record, deltas: deltas(*base, record, gate) }),
            None => only_new.push(record),
        }
    }
    let only_base = base.iter().filter(|r| !new_index.contains_key(&cell_of(r.job()))).collect();
    drop((base_index, new_index));
    // Each pair's sort key once, not at every comparison.
    let mut keyed: Vec<(bool, bool, f64, Pair<'a, R>)> =
        pairs.into_iter().map(|p| (p.status_changed(), p.regressed(), p.largest_ratio(), p)).collect();
    keyed.sort_by(|a, b| {
        (b.0.cmp(&a.0))
            .then(b.1.cmp(&a.1))
            .then(b.2.partial_cmp(&a.2).unwrap_or(Ordering::Equal))
            .then_with(|| cell_of(a.3.new.job()).cmp(&cell_of(b.3.new.job())))
    });
    let pairs: Vec<Pair<'a, R>> = keyed.into_iter().map(|k| k.3).collect();
    let regressions = pairs.iter().filter(|p| p.regressed()).count();
    let improvements = pairs.iter().filter(|p| p.improved()).count();
    Ok(Comparison { pairs, only_base, only_new, regressions, improvements })
}

/// Each measure beyond its gate, with both values and the gate.
pub fn regressions(deltas: &[Delta], gate: &Gate) -> Vec<Regression> {
    deltas
        .iter()
        .filter(|d| d.verdict == Verdict::Regressed)
        .map(|d| Regression {
            measure: d.measure.id,
            before: d.before,
            after: d.after,
            threshold: gate.threshold(d.measure),
            floor: gate.floor(d.measure),
        })
        .collect()
}

/// A baseline report, read before a run, and the gate its results are judged by.
pub struct Baseline {
    results: BTreeMap<Key, Measured>,
    gate: Gate,
}

impl Baseline {
    /// Refuses a report with two results for one cell.
    pub fn new(
        results: impl IntoIterator<Item = impl Into<Measured>>,
        gate: Gate,
    ) -> Result<Baseline, String> {
        let mut index = BTreeMap::new();
        for result in results {
            let result: Measured = result.into();
            if let Some(earlier) = index.insert(key_of(&result.job), result) {
                return Err(twice("the baseline", &earlier.job));
            }
        }
        Ok(Baseline { results: index, gate })
    }

    pub fn has(&self, job: &JobRecord) -> bool {
        self.find(job).is_some()
    }

    /// The baseline's result for a job. A job that asked for no Python
    /// version (its report names the one its image ran) matches the one
    /// result of its module and allocator.
    fn find(&self, job: &JobRecord) -> Option<&Measured> {
        if let Some(exact) = self.results.get(&key_of(job)) {
            return Some(exact);
        }
        if job.python.is_some() {
            return None;
        }
        // The module's results are one range of the map (keys start with the module).
        let mut same = self
            .results
            .range((job.module.clone(), None, None)..)
            .map(|(_, r)| r)
            .take_while(|r| r.job.module == job.module)
            .filter(|r| r.job.python_malloc == job.python_malloc);
        match (same.next(), same.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Attaches the baseline's values to a result, and makes a pass that grew
    /// beyond the gate `regressed`, saying which measure and both values.
    pub fn judge(&self, result: &mut ModuleResult) {
        let record = ResultRecord::of(result);
        let Some(base) = self.find(&record.job) else {
            return;
        };
        result.baseline = Some(BaselineRecord::of(base));
        if result.status() != Status::Pass {
            return;
        }
        let measures = regressions(&deltas(base, &record, &self.gate), &self.gate);
        if !measures.is_empty() {
            result.execution = Execution::Regressed { measures };
        }
    }
}

impl BaselineRecord {
    /// The status and the measures of a baseline's result.
    pub fn of(record: &Measured) -> BaselineRecord {
        let values = MEASURES.iter().filter_map(|m| record.value(m).map(|v| (m.id, v))).collect();
        let scopes = MEASURES
            .iter()
            .filter(|m| record.value(m).is_some() && !record.scope(m).is_module())
            .map(|m| (m.id, record.scope(m)))
            .collect();
        BaselineRecord {
            status: record.status,
            values,
            scopes,
            memory_series: record.memory_series.as_deref().cloned(),
        }
    }
}

/// How each measure of `new` moved from its baseline, for display (unjudged;
/// values of different scopes `NotComparable`).
pub fn changes(baseline: &BaselineRecord, new: &ResultRecord) -> Vec<Delta> {
    MEASURES
        .iter()
        .filter_map(|measure| {
            let before = *baseline.values.get(&measure.id)?;
            let after = (measure.value)(new)?;
            let scopes =
                [baseline.scopes.get(&measure.id).copied().unwrap_or_default(), (measure.scope)(new)];
            let verdict = if scopes[0] == scopes[1] { Verdict::Within } else { Verdict::NotComparable };
            Some(Delta { measure, before, after, verdict, scopes })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::JobRecord;

    fn record(module: &str, malloc: Option<&str>, status: Status, peak_mib: f64, secs: f64) -> ResultRecord {
        let job = JobRecord {
            module: module.into(),
            python_malloc: malloc.map(str::to_string),
            python: Some("3.11".into()),
        };
        ResultRecord {
            status,
            counted_as: status.tally(),
            ..ResultRecord::passed(job, secs, (peak_mib * MIB) as u64)
        }
    }

    #[test]
    fn results_pair_by_module_python_and_allocator() {
        let base = [
            record("test_a.py", Some("malloc"), Status::Pass, 10.0, 1.0),
            record("test_a.py", Some("pymalloc"), Status::Pass, 10.0, 1.0),
            record("test_gone.py", None, Status::Pass, 10.0, 1.0),
        ];
        let mut other_python = record("test_a.py", Some("malloc"), Status::Pass, 10.0, 1.0);
        other_python.job.python = Some("3.13".into());
        let new = [
            record("test_a.py", Some("pymalloc"), Status::Pass, 10.0, 1.0),
            record("test_a.py", Some("malloc"), Status::Pass, 10.0, 1.0),
            other_python,
        ];
        let comparison = compare(&base, &new, &Gate::default()).unwrap();
        assert_eq!(comparison.pairs.len(), 2);
        for pair in &comparison.pairs {
            assert_eq!(pair.base.job, pair.new.job);
        }
        assert_eq!(comparison.only_base.len(), 1);
        assert_eq!(comparison.only_base[0].job.module, "test_gone.py");
        assert_eq!(comparison.only_new.len(), 1);
        assert_eq!(comparison.only_new[0].job.python.as_deref(), Some("3.13"));
    }

    #[test]
    fn a_change_is_a_regression_only_beyond_threshold_and_floor() {
        let gate = Gate::default();
        let rss = measure("rss").unwrap();
        // Doubling from 10 MiB: beyond 10% and beyond 1 MiB.
        assert_eq!(gate.judge(rss, 10.0 * MIB, 20.0 * MIB), Verdict::Regressed);
        // +50% of 1 MiB: beyond 10%, under the 1 MiB floor.
        assert_eq!(gate.judge(rss, MIB, 1.5 * MIB), Verdict::Within);
        // +5 MiB of 100 MiB: beyond the floor, under 10%.
        assert_eq!(gate.judge(rss, 100.0 * MIB, 105.0 * MIB), Verdict::Within);
        assert_eq!(gate.judge(rss, 20.0 * MIB, 10.0 * MIB), Verdict::Improved);
        let duration = measure("duration").unwrap();
        assert_eq!(gate.judge(duration, 1.0, 1.4), Verdict::Within, "under 0.5 s");
        assert_eq!(gate.judge(duration, 1.0, 1.6), Verdict::Regressed);
    }

    #[test]
    fn thresholds_apply_globally_then_per_measure() {
        let items: Vec<ThresholdItem> = ["rss=5%", "50%"].iter().map(|t| t.parse().unwrap()).collect();
        let gate = Gate::new(&items, &[]);
        assert_eq!(gate.threshold(measure("rss").unwrap()), Threshold::Percent(5.0), "named wins");
        assert_eq!(gate.threshold(measure("duration").unwrap()), Threshold::Percent(50.0));
        let off = Gate::new(&["duration=off".parse().unwrap()], &[]);
        assert_eq!(off.judge(measure("duration").unwrap(), 1.0, 100.0), Verdict::Within);
        for bad in ["10", "x=5%", "rss=", "rss=-1%", "rss=five%"] {
            assert!(bad.parse::<ThresholdItem>().is_err(), "{bad}");
        }
    }

    #[test]
    fn floors_take_units_and_apply_to_measures_of_that_unit() {
        let items: Vec<FloorItem> = ["4MiB", "duration=200ms"].iter().map(|t| t.parse().unwrap()).collect();
        let gate = Gate::new(&[], &items);
        assert_eq!(gate.floor(measure("rss").unwrap()), 4.0 * MIB);
        assert!((gate.floor(measure("duration").unwrap()) - 0.2).abs() < 1e-9);
        let k: FloorItem = "rss=512k".parse().unwrap();
        assert_eq!(k.value, 512.0 * 1024.0);
        for bad in ["3", "rss=1s", "duration=1MiB", "nope=1s", "1.2.3MiB"] {
            assert!(bad.parse::<FloorItem>().is_err(), "{bad}");
        }
        // The floor hides a change the threshold alone would flag.
        let rss = measure("rss").unwrap();
        assert_eq!(gate.judge(rss, 10.0 * MIB, 13.0 * MIB), Verdict::Within);
        assert_eq!(Gate::default().judge(rss, 10.0 * MIB, 13.0 * MIB), Verdict::Regressed);
    }

    #[test]
    fn status_changes_come_first_then_the_largest_ratios() {
        let base = [
            record("test_a.py", None, Status::Pass, 10.0, 1.0),
            record("test_b.py", None, Status::Pass, 10.0, 1.0),
            record("test_c.py", None, Status::Pass, 10.0, 1.0),
            record("test_d.py", None, Status::Pass, 10.0, 1.0),
        ];
        let mut failed = record("test_d.py", None, Status::Fail, 10.0, 1.0);
        failed.exit_code = Some(1);
        let new = [
            record("test_a.py", None, Status::Pass, 10.5, 1.0),
            record("test_b.py", None, Status::Pass, 30.0, 1.0),
            record("test_c.py", None, Status::Pass, 5.0, 1.0),
            failed,
        ];
        let comparison = compare(&base, &new, &Gate::default()).unwrap();
        let order: Vec<&str> = comparison.pairs.iter().map(|p| p.new.job.module.as_str()).collect();
        assert_eq!(order, ["test_d.py", "test_b.py", "test_a.py", "test_c.py"]);
        assert!(comparison.pairs[0].status_regressed());
        assert_eq!(comparison.regressions(), 2);
        assert_eq!(comparison.improvements(), 1);
    }

    #[test]
    fn measures_of_results_that_did_not_run_to_their_end_are_shown_not_judged() {
        let base = record("test_a.py", None, Status::Pass, 10.0, 1.0);
        let mut crashed = record("test_a.py", None, Status::Crash, 50.0, 1.0);
        crashed.exit_code = None;
        let deltas = deltas(&base, &crashed, &Gate::default());
        assert_eq!(deltas.len(), 2);
        assert!(deltas.iter().all(|d| d.verdict == Verdict::Within));
    }

    #[test]
    fn a_measure_missing_on_one_side_is_left_out() {
        let base = record("test_a.py", None, Status::Pass, 10.0, 1.0);
        let mut new = base.clone();
        new.peak_rss_bytes = None;
        let deltas = deltas(&base, &new, &Gate::default());
        assert_eq!(deltas.iter().map(|d| d.measure.id).collect::<Vec<_>>(), [MeasureId::Duration]);
    }

    /// A pass whose memray heap peak is `heap_mib`, of the whole module or,
    /// with `per_test`, the largest of pytest-memray's per-test captures.
    fn with_heap(heap_mib: f64, per_test: bool) -> ResultRecord {
        use crate::model::memray::MemraySummary;
        let mut record = record("test_a.py", None, Status::Pass, 100.0, 1.0);
        record.memray = Some(MemraySummary {
            per_test_captures: per_test.then_some(3),
            ..MemraySummary::with_peak((heap_mib * MIB) as u64)
        });
        record
    }

    #[test]
    fn a_per_test_heap_peak_and_a_whole_module_s_are_not_compared() {
        let gate = Gate::default();
        let heap =
            |deltas: &[Delta]| deltas.iter().find(|d| d.measure.id == MeasureId::Heap).unwrap().clone();
        for (before, after) in [((4.0, true), (50.0, false)), ((50.0, false), (4.0, true))] {
            let base = [with_heap(before.0, before.1)];
            let new = [with_heap(after.0, after.1)];
            let comparison = compare(&base, &new, &gate).unwrap();
            let pair = &comparison.pairs[0];
            let delta = heap(&pair.deltas);
            assert_eq!(delta.verdict, Verdict::NotComparable, "{delta:?}");
            assert_eq!(delta.scopes[0] == Scope::LargestTest, before.1);
            assert!(!pair.regressed() && !pair.improved());
            assert_eq!((comparison.regressions(), comparison.improvements()), (0, 0));
        }
        // The same scope on both sides is judged as ever.
        let per_test = deltas(&with_heap(4.0, true), &with_heap(50.0, true), &gate);
        assert_eq!(heap(&per_test).verdict, Verdict::Regressed);
        let whole = deltas(&with_heap(50.0, false), &with_heap(4.0, false), &gate);
        assert_eq!(heap(&whole).verdict, Verdict::Improved);

        // --baseline: a pass is not made `regressed` by it, and the baseline's
        // record keeps what its heap peak was of, for the change shown.
        let baseline = Baseline::new(vec![with_heap(4.0, true)], gate.clone()).unwrap();
        let mut result = module_result(100.0);
        result.memray = with_heap(50.0, false).memray;
        baseline.judge(&mut result);
        assert_eq!(result.status(), Status::Pass, "{:?}", result.execution);
        let kept = result.baseline.as_ref().unwrap();
        assert_eq!(kept.scopes.get(&MeasureId::Heap), Some(&Scope::LargestTest));
        let shown = changes(kept, &ResultRecord::of(&result));
        assert_eq!(heap(&shown).verdict, Verdict::NotComparable);
        assert_eq!(shown.iter().filter(|d| d.verdict == Verdict::NotComparable).count(), 1, "RSS compares");
        let baseline = Baseline::new(vec![with_heap(4.0, false)], gate).unwrap();
        let mut grown = module_result(100.0);
        grown.memray = with_heap(50.0, false).memray;
        baseline.judge(&mut grown);
        assert_eq!(grown.status(), Status::Regressed, "whole module against whole module is judged");
    }

    #[test]
    fn two_results_for_one_cell_are_refused() {
        let twice = [
            record("test_a.py", None, Status::Pass, 1.0, 1.0),
            record("test_a.py", None, Status::Pass, 1.0, 1.0),
        ];
        let error = compare(&twice, &[], &Gate::default()).unwrap_err();
        assert!(error.contains("two results for test_a.py [3.11]"), "{error}");
    }

    #[test]
    fn a_regression_holds_the_measure_both_values_and_the_gate() {
        let gate = Gate::default();
        let base = record("test_a.py", None, Status::Pass, 10.0, 1.0);
        let new = record("test_a.py", None, Status::Pass, 20.0, 1.0);
        let found = regressions(&deltas(&base, &new, &gate), &gate);
        let expected = Regression {
            measure: MeasureId::Rss,
            before: 10.0 * MIB,
            after: 20.0 * MIB,
            threshold: Threshold::Percent(10.0),
            floor: MIB,
        };
        assert_eq!(found, [expected]);
        assert!(regressions(&deltas(&base, &base, &gate), &gate).is_empty());
    }

    fn module_result(peak_mib: f64) -> ModuleResult {
        use crate::model::job::{Job, Variant};
        let python = "3.11".parse().ok();
        ModuleResult {
            started_at: std::time::UNIX_EPOCH,
            job: Job {
                index: 0,
                module: "test_a.py".into(),
                variant: Variant { python_malloc: None, python },
                image: "i".into(),
            },
            duration: std::time::Duration::from_secs(1),
            peak_rss_bytes: Some((peak_mib * MIB) as u64),
            ..ModuleResult::sample("test_a.py", Execution::Passed, "", "")
        }
    }

    #[test]
    fn a_baseline_marks_a_grown_pass_regressed_and_keeps_its_values() {
        let base = vec![record("test_a.py", None, Status::Pass, 10.0, 1.0)];
        let baseline = Baseline::new(base, Gate::default()).unwrap();
        let mut doubled = module_result(20.0);
        baseline.judge(&mut doubled);
        assert_eq!(doubled.status(), Status::Regressed);
        let Execution::Regressed { measures } = &doubled.execution else { panic!("{:?}", doubled.execution) };
        assert_eq!(
            (measures[0].measure, measures[0].before, measures[0].after),
            (MeasureId::Rss, 10.0 * MIB, 20.0 * MIB)
        );
        assert_eq!(doubled.baseline.as_ref().unwrap().values[&MeasureId::Rss], 10.0 * MIB);

        let mut same = module_result(10.2);
        baseline.judge(&mut same);
        assert_eq!(same.status(), Status::Pass);
        assert!(same.baseline.is_some());

        let tolerant = Baseline::new(
            vec![record("test_a.py", None, Status::Pass, 10.0, 1.0)],
            Gate::new(&["rss=150%".parse().unwrap()], &[]),
        )
        .unwrap();
        let mut doubled = module_result(20.0);
        tolerant.judge(&mut doubled);
        assert_eq!(doubled.status(), Status::Pass);
    }

    #[test]
    fn a_failure_stays_a_failure_and_a_new_job_has_no_baseline() {
        let baseline =
            Baseline::new(vec![record("test_b.py", None, Status::Pass, 1.0, 1.0)], Gate::default()).unwrap();
        let mut unknown = module_result(50.0);
        baseline.judge(&mut unknown);
        assert_eq!((unknown.status(), unknown.baseline.is_none()), (Status::Pass, true));
        let baseline =
            Baseline::new(vec![record("test_a.py", None, Status::Pass, 1.0, 1.0)], Gate::default()).unwrap();
        let mut failed = module_result(50.0);
        failed.execution = Execution::Failed { exit_code: 1, why: None };
        baseline.judge(&mut failed);
        assert_eq!(failed.status(), Status::Fail);
    }
}
