//! The measures results are compared on, as plain facts: which measure,
//! its unit, a gate's threshold, and a regression found against a
//! baseline. How they are read from a result and judged is
//! `model/compare.rs`; how they read in words, `report/words.rs`.

use serde::{Deserialize, Serialize};

/// What a measure counts, and so how its values read and parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Seconds,
}

/// Each measure, by name. In a report it is the result field that holds it
/// (also its key in `baseline` and `spread`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MeasureId {
    #[serde(rename = "peak_rss_bytes")]
    Rss,
    #[serde(rename = "container_peak_bytes")]
    Container,
    #[serde(rename = "memray_peak_memory_bytes")]
    Heap,
    #[serde(rename = "duration_s")]
    Duration,
}

impl MeasureId {
    /// Its name in `--threshold` and `--min-delta` (`rss=5%`).
    pub fn key(self) -> &'static str {
        match self {
            MeasureId::Rss => "rss",
            MeasureId::Container => "container",
            MeasureId::Heap => "heap",
            MeasureId::Duration => "duration",
        }
    }
}

/// What a measured value is of. Most are of the module's whole run; memray's
/// heap peak of a pytest file recorded per test (pytest-memray's captures,
/// `per_test_captures`) is its largest test's. Two values of different
/// scopes measure different things: they are shown, never judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    #[default]
    Module,
    LargestTest,
}

impl Scope {
    pub fn is_module(&self) -> bool {
        *self == Scope::Module
    }
}

/// How much a measure may grow before it is a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Threshold {
    Percent(f64),
    /// Shown, never a regression.
    Off,
}

/// A measure a result grew in beyond its gate against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub measure: MeasureId,
    pub before: f64,
    pub after: f64,
    /// The gate it went past: growth over `threshold` and by more than `floor`.
    pub threshold: Threshold,
    pub floor: f64,
}
