//! The run matrix: which allocators and Python versions each module runs under.

use std::fmt;
use std::str::FromStr;

use crate::model::pythons::{self, Python};

/// A `PYTHONMALLOC` value (https://docs.python.org/3/using/cmdline.html#envvar-PYTHONMALLOC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PythonMalloc {
    Default,
    Pymalloc,
    Malloc,
    Debug,
    PymallocDebug,
    MallocDebug,
    Mimalloc,
    MimallocDebug,
}

const PYTHON_MALLOCS: [(PythonMalloc, &str); 8] = [
    (PythonMalloc::Default, "default"),
    (PythonMalloc::Pymalloc, "pymalloc"),
    (PythonMalloc::Malloc, "malloc"),
    (PythonMalloc::Debug, "debug"),
    (PythonMalloc::PymallocDebug, "pymalloc_debug"),
    (PythonMalloc::MallocDebug, "malloc_debug"),
    (PythonMalloc::Mimalloc, "mimalloc"),
    (PythonMalloc::MimallocDebug, "mimalloc_debug"),
];

/// Every value `--python-malloc` accepts.
pub fn python_malloc_values() -> [&'static str; 8] {
    PYTHON_MALLOCS.map(|(_, name)| name)
}

impl PythonMalloc {
    /// Whether `sys.getallocatedblocks()` counts anything under it: it counts
    /// pymalloc's (and mimalloc's) blocks, and stays 0 with plain malloc.
    pub fn counts_blocks(self) -> bool {
        !matches!(self, PythonMalloc::Malloc | PythonMalloc::MallocDebug)
    }

    /// Only CPython 3.13 and later have mimalloc.
    pub fn needs_mimalloc(self) -> bool {
        matches!(self, PythonMalloc::Mimalloc | PythonMalloc::MimallocDebug)
    }

    pub fn as_str(self) -> &'static str {
        PYTHON_MALLOCS.iter().find(|(m, _)| *m == self).map(|(_, name)| *name).unwrap()
    }
}

impl FromStr for PythonMalloc {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PYTHON_MALLOCS.iter().find(|(_, name)| *name == text).map(|(m, _)| *m).ok_or_else(|| {
            format!("unknown PYTHONMALLOC value; use one of {}", python_malloc_values().join(", "))
        })
    }
}

/// Part K of N of the modules (`--partition K/N`), for splitting a run over CI jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// 1-based.
    pub part: usize,
    pub parts: usize,
}

impl Partition {
    /// The modules of this part: every N-th of the name-sorted list, starting at the K-th,
    /// so the parts are disjoint, cover everything and stay balanced.
    pub fn select(self, modules: &[String]) -> Vec<String> {
        let mut sorted = modules.to_vec();
        sorted.sort();
        sorted
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.parts == self.part - 1)
            .map(|(_, m)| m)
            .collect()
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.part, self.parts)
    }
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("expected K/N with 1 <= K <= N (e.g. 1/2), got {text:?}");
        let (part, parts) = text.split_once('/').ok_or_else(invalid)?;
        let part: usize = part.trim().parse().map_err(|_| invalid())?;
        let parts: usize = parts.trim().parse().map_err(|_| invalid())?;
        if part == 0 || parts == 0 || part > parts {
            return Err(invalid());
        }
        Ok(Partition { part, parts })
    }
}

/// A Python version: a row of [`crate::model::pythons::PYTHONS`] (`X.Y`,
/// `X.Y-dbg`), or another `X.Y` that a `--base-image X.Y=IMAGE` provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PythonVersion {
    Table(&'static Python),
    Other(&'static str),
}

impl PythonVersion {
    pub const DEFAULT: PythonVersion = PythonVersion::Table(&pythons::PYTHONS[1]);

    /// Its row of the version table; `None` for a version only a given base provides.
    pub fn row(self) -> Option<&'static Python> {
        match self {
            PythonVersion::Table(row) => Some(row),
            PythonVersion::Other(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PythonVersion::Table(row) => row.name,
            PythonVersion::Other(name) => name,
        }
    }

    /// The command that runs a module under this version (`python3.11`, `python3.11d`);
    /// a given base's own `python3` for a version outside the table.
    pub fn interpreter(self) -> &'static str {
        self.row().map_or("python3", |row| row.interpreter)
    }
}

impl FromStr for PythonVersion {
    type Err = String;

    /// A version of the table, or any other `X.Y` (refused later unless its base is given).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(row) = pythons::find(text) {
            return Ok(PythonVersion::Table(row));
        }
        let other = text.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.len() <= 2
                && minor.len() <= 3
                && major.bytes().chain(minor.bytes()).all(|b| b.is_ascii_digit())
        });
        if other {
            // Parsed once per flag value: leaking it keeps the type `Copy`.
            return Ok(PythonVersion::Other(Box::leak(text.to_string().into_boxed_str())));
        }
        Err(format!("expected X.Y or X.Y-dbg; supported: {}", pythons::names()))
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which interpreter and allocator a job runs under; `None` when the user
/// did not ask for that axis of the matrix (then the image's default runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Variant {
    pub python_malloc: Option<PythonMalloc>,
    pub python: Option<PythonVersion>,
}

impl Variant {
    /// The allocator column: `default` when none was asked for.
    pub fn allocator(&self) -> &'static str {
        self.python_malloc.map_or("default", PythonMalloc::as_str)
    }

    /// The Python column: empty when no version was asked for.
    pub fn python_version(&self) -> &'static str {
        self.python.map_or("", PythonVersion::as_str)
    }

    /// `malloc, 3.13`: what tells a module's rows apart; `None` without a matrix.
    pub fn short(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .python_malloc
            .map(PythonMalloc::as_str)
            .into_iter()
            .chain(self.python.map(PythonVersion::as_str))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// `PYTHONMALLOC=malloc, Python 3.13`: the long form, for headings.
    pub fn long(&self) -> Option<String> {
        let parts: Vec<String> = self
            .python_malloc
            .map(|m| format!("PYTHONMALLOC={}", m.as_str()))
            .into_iter()
            .chain(self.python.map(|p| format!("Python {p}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One cell of the matrix: a module under one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Position in the run, in the order the user asked for (for stable output).
    pub index: usize,
    pub module: String,
    pub variant: Variant,
    /// The test image this job runs in.
    pub image: String,
}

impl Job {
    /// How this job is named to a person: `test_x.py`, `test_x.py [malloc, 3.13]`.
    pub fn label(&self) -> String {
        match self.variant.short() {
            Some(variant) => format!("{} [{variant}]", self.module),
            None => self.module.clone(),
        }
    }
}

/// Every (module, allocator, version) cell, modules outermost so a module's variants stay together.
pub fn expand(
    modules: &[String],
    mallocs: &[PythonMalloc],
    images: &[(Option<PythonVersion>, String)],
) -> Vec<Job> {
    let mallocs: Vec<Option<PythonMalloc>> =
        if mallocs.is_empty() { vec![None] } else { mallocs.iter().copied().map(Some).collect() };
    let mut jobs = Vec::new();
    for module in modules {
        for (python, image) in images {
            for malloc in &mallocs {
                jobs.push(Job {
                    index: jobs.len(),
                    module: module.clone(),
                    variant: Variant { python_malloc: *malloc, python: *python },
                    image: image.clone(),
                });
            }
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_debian_suites() {
        let v: PythonVersion = "3.13".parse().unwrap();
        assert_eq!(v.row().unwrap().suite, "trixie");
        assert_eq!(v.row().unwrap().registry_base(), "python:3.13-slim");
        assert_eq!(v.interpreter(), "python3.13");
        let dbg: PythonVersion = "3.11-dbg".parse().unwrap();
        assert_eq!((dbg.row().unwrap().suite, dbg.interpreter()), ("bookworm", "python3.11d"));
        assert_eq!("3.14".parse::<PythonVersion>().unwrap().row().unwrap().suite, "forky");
        assert_eq!(PythonVersion::DEFAULT.as_str(), "3.11");
    }

    #[test]
    fn a_version_outside_the_table_parses_for_a_given_base() {
        let other: PythonVersion = "3.12".parse().unwrap();
        assert_eq!((other.row(), other.as_str(), other.interpreter()), (None, "3.12", "python3"));
        for bad in ["2", "three", "3.x", "3.12-dbg", "", "3.", ".1"] {
            let error = bad.parse::<PythonVersion>().unwrap_err();
            assert!(error.contains("supported: 3.9, 3.11, 3.13, 3.14, 3.9-dbg"), "{bad}: {error}");
        }
    }

    #[test]
    fn matrix_keeps_a_modules_variants_together() {
        let modules = vec!["a.py".to_string(), "b.py".to_string()];
        let images = vec![(None, "img".to_string())];
        let jobs = expand(&modules, &[PythonMalloc::Pymalloc, PythonMalloc::Malloc], &images);
        let labels: Vec<String> = jobs.iter().map(Job::label).collect();
        assert_eq!(labels, ["a.py [pymalloc]", "a.py [malloc]", "b.py [pymalloc]", "b.py [malloc]"]);
        assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn partitions_are_disjoint_and_cover_every_module() {
        let modules: Vec<String> = (0..11).map(|i| format!("test_{i:02}.py")).collect();
        let mut seen: Vec<String> = Vec::new();
        for part in 1..=3 {
            let partition: Partition = format!("{part}/3").parse().unwrap();
            let chosen = partition.select(&modules);
            assert!(chosen.iter().all(|m| !seen.contains(m)), "part {part} repeats a module");
            seen.extend(chosen);
        }
        seen.sort();
        assert_eq!(seen, modules);
        for bad in ["0/2", "3/2", "x/y", "1", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mallocs_round_trip_through_their_names() {
        for name in python_malloc_values() {
            assert_eq!(name.parse::<PythonMalloc>().unwrap().as_str(), name);
        }
        assert!("jemalloc".parse::<PythonMalloc>().is_err());
    }

    #[test]
    fn no_matrix_means_one_job_per_module() {
        let modules = vec!["a.py".to_string()];
        let jobs = expand(&modules, &[], &[(None, "img".to_string())]);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].label(), "a.py");
    }
}
