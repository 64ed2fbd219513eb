//! The run matrix: which allocators and Python versions each module runs under.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;

/// A `PYTHONMALLOC` value (https://docs.python.org/3/using/cmdline.html#envvar-PYTHONMALLOC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PythonMalloc {
    Default,
    Pymalloc,
    Malloc,
    Debug,
    #[value(name = "pymalloc_debug")]
    PymallocDebug,
    #[value(name = "malloc_debug")]
    MallocDebug,
}

impl PythonMalloc {
    pub fn as_str(self) -> &'static str {
        match self {
            PythonMalloc::Default => "default",
            PythonMalloc::Pymalloc => "pymalloc",
            PythonMalloc::Malloc => "malloc",
            PythonMalloc::Debug => "debug",
            PythonMalloc::PymallocDebug => "pymalloc_debug",
            PythonMalloc::MallocDebug => "malloc_debug",
        }
    }
}

/// Python versions we can provide offline, with the Debian suite that carries each.
pub const SUPPORTED_PYTHONS: [(&str, &str); 3] = [
    ("3.9", "bullseye"),
    ("3.11", "bookworm"),
    ("3.13", "trixie"),
];

/// A supported Python version (`X.Y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PythonVersion(&'static str);

impl PythonVersion {
    pub const DEFAULT: PythonVersion = PythonVersion("3.11");

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The Debian suite whose `python3` is this version.
    pub fn debian_suite(self) -> &'static str {
        SUPPORTED_PYTHONS
            .iter()
            .find(|(v, _)| *v == self.0)
            .map(|(_, s)| *s)
            .unwrap()
    }

    /// The image a normal machine pulls for this version.
    pub fn registry_base(self) -> String {
        format!("python:{}-slim", self.0)
    }
}

impl FromStr for PythonVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SUPPORTED_PYTHONS
            .iter()
            .find(|(version, _)| *version == text.trim())
            .map(|(version, _)| PythonVersion(version))
            .ok_or_else(|| {
                let supported: Vec<_> = SUPPORTED_PYTHONS.iter().map(|(v, _)| *v).collect();
                format!(
                    "unsupported Python version; supported: {}",
                    supported.join(", ")
                )
            })
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One cell of the matrix: a module under one allocator and one Python version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Position in the run, in the order the user asked for (for stable output).
    pub index: usize,
    pub module: String,
    pub python_malloc: Option<PythonMalloc>,
    /// Set when the user asked for a Python matrix.
    pub python: Option<PythonVersion>,
    /// The test image this job runs in.
    pub image: String,
}

impl Job {
    /// How this job is named to a person: `test_x.py`, `test_x.py [malloc, 3.13]`.
    pub fn label(&self) -> String {
        let variant: Vec<&str> = self
            .python_malloc
            .map(PythonMalloc::as_str)
            .into_iter()
            .chain(self.python.map(PythonVersion::as_str))
            .collect();
        if variant.is_empty() {
            self.module.clone()
        } else {
            format!("{} [{}]", self.module, variant.join(", "))
        }
    }
}

/// Every (module, allocator, version) cell, modules outermost so a module's variants stay together.
pub fn expand(
    modules: &[String],
    mallocs: &[PythonMalloc],
    images: &[(Option<PythonVersion>, String)],
) -> Vec<Job> {
    let mallocs: Vec<Option<PythonMalloc>> = if mallocs.is_empty() {
        vec![None]
    } else {
        mallocs.iter().copied().map(Some).collect()
    };
    let mut jobs = Vec::new();
    for module in modules {
        for (python, image) in images {
            for malloc in &mallocs {
                jobs.push(Job {
                    index: jobs.len(),
                    module: module.clone(),
                    python_malloc: *malloc,
                    python: *python,
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
        assert_eq!(v.debian_suite(), "trixie");
        assert_eq!(v.registry_base(), "python:3.13-slim");
        let error = "3.12".parse::<PythonVersion>().unwrap_err();
        assert!(error.contains("3.9, 3.11, 3.13"), "{error}");
    }

    #[test]
    fn matrix_keeps_a_modules_variants_together() {
        let modules = vec!["a.py".to_string(), "b.py".to_string()];
        let images = vec![(None, "img".to_string())];
        let jobs = expand(
            &modules,
            &[PythonMalloc::Pymalloc, PythonMalloc::Malloc],
            &images,
        );
        let labels: Vec<String> = jobs.iter().map(Job::label).collect();
        assert_eq!(
            labels,
            [
                "a.py [pymalloc]",
                "a.py [malloc]",
                "b.py [pymalloc]",
                "b.py [malloc]"
            ]
        );
        assert_eq!(
            jobs.iter().map(|j| j.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn no_matrix_means_one_job_per_module() {
        let modules = vec!["a.py".to_string()];
        let jobs = expand(&modules, &[], &[(None, "img".to_string())]);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].label(), "a.py");
    }
}
