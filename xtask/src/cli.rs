//! The command line: every task, flag and default, and nothing else.
//!
//! Values that clap can check alone (numbers, choices, sizes) are checked
//! here, so that a bad flag exits 2 before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::matrix::{PythonMalloc, PythonVersion};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Run pymaccounter's Python memory demonstrations, each in its own fresh container.",
    after_help = "Examples:\n  cargo xtask run-all-tests\n  cargo xtask run '[\"test_baseline.py\"]' --debug\n  cargo xtask list"
)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Debug, Subcommand)]
pub enum Task {
    /// Run the named test modules, each in its own fresh container.
    #[command(
        after_help = "Examples:\n  cargo xtask run '[\"test_baseline.py\"]' --debug\n  \
        cargo xtask run test_baseline.py test_refcount.py --jobs 2\n  \
        cargo xtask run test_rss_release.py --python-malloc pymalloc,malloc"
    )]
    Run {
        /// One JSON list of module names ('["test_baseline.py"]') or plain names.
        #[arg(required = true, value_name = "TESTS")]
        tests: Vec<String>,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run every test_*.py module of the test dir, sorted by name.
    #[command(after_help = "Examples:\n  cargo xtask run-all-tests\n  \
        cargo xtask run-all-tests --python-malloc pymalloc,malloc,debug --report-json report.json\n  \
        cargo xtask run-all-tests --test-dir ~/my_tests --jobs 4")]
    RunAllTests {
        #[command(flatten)]
        options: RunOptions,
    },
    /// List the test modules with the first line of each one's docstring.
    #[command(after_help = "Examples:\n  cargo xtask list\n  cargo xtask list --json")]
    List {
        #[command(flatten)]
        test_dir: TestDirArg,
        /// Print a JSON list of {"module", "summary"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Build the test image (or reuse it when nothing changed) and print its reference.
    #[command(
        after_help = "Examples:\n  cargo xtask build-image\n  cargo xtask build-image --python 3.13 --debug"
    )]
    BuildImage {
        #[command(flatten)]
        test_dir: TestDirArg,
        #[command(flatten)]
        image: ImageArgs,
        /// Python version of the image.
        #[arg(long, default_value = "3.11", value_name = "X.Y")]
        python: PythonVersion,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Build an offline base image (Debian + python3) for machines with no registry.
    #[command(
        after_help = "Needs root and debootstrap (apt-get install debootstrap).\n\n\
        Examples:\n  cargo xtask base-image\n  cargo xtask base-image --python 3.13"
    )]
    BaseImage {
        /// Python version of the base (3.9: bullseye, 3.11: bookworm, 3.13: trixie).
        #[arg(long, default_value = "3.11", value_name = "X.Y")]
        python: PythonVersion,
        /// Build it again even when it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Remove containers and images this project created (e.g. after a killed run).
    #[command(after_help = "Examples:\n  cargo xtask clean\n  cargo xtask clean --keep-base")]
    Clean {
        /// Only the containers of this run id (see `--debug` output).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Keep the images: remove containers only.
        #[arg(long)]
        containers_only: bool,
        /// Keep the offline base images (they take a minute to rebuild).
        #[arg(long)]
        keep_base: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

#[derive(Debug, Args)]
pub struct TestDirArg {
    /// Directory holding the test modules [default: python_tests of this repository].
    #[arg(long = "test-dir", alias = "test_dir", value_name = "DIR")]
    pub test_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Container engine CLI to use.
    #[arg(long, env = "PYMACCOUNTER_ENGINE", default_value = "docker")]
    pub engine: EngineKind,
    /// Show each engine command line, the full build log and module stderr as it comes.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    Docker,
    Podman,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Base image for the test image [default: python:X.Y-slim, or the offline base].
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunOptions {
    #[command(flatten)]
    pub test_dir: TestDirArg,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Modules run at the same time [default: available CPUs].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Seconds a module may run before it is killed and reported as timeout.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Memory limit per container, docker syntax (512m, 1g), or `none`.
    #[arg(long, value_name = "SIZE", default_value = "1g", value_parser = parse_memory)]
    pub memory: MemoryLimit,
    /// Comma list of PYTHONMALLOC values; each module runs once per value.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub python_malloc: Vec<PythonMalloc>,
    /// Comma list of Python versions (3.9, 3.11, 3.13); each module runs once per version.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub python: Vec<PythonVersion>,
    /// Container network mode (the default cuts the module off the network).
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub network: String,
    /// Start no new module after the first one that did not pass.
    #[arg(long)]
    pub fail_fast: bool,
    /// Write a JSON report here (also when the run fails or is interrupted).
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
}

/// A per-container memory limit: `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit(pub Option<String>);

/// The engine refuses limits under 6 MiB; a module needs more than that anyway.
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

fn parse_memory(text: &str) -> Result<MemoryLimit, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "none" {
        return Ok(MemoryLimit(None));
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: use b, k, m or g (e.g. 512m, 1g) or none"
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| "expected a size like 512m or 1g, or none".to_string())?;
    let bytes = number.saturating_mul(multiplier);
    if bytes < MIN_MEMORY_BYTES {
        return Err("the smallest limit the engine accepts is 6m".to_string());
    }
    Ok(MemoryLimit(Some(format!("{bytes}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn memory_sizes_follow_docker_syntax() {
        assert_eq!(
            parse_memory("1g").unwrap(),
            MemoryLimit(Some("1073741824".into()))
        );
        assert_eq!(
            parse_memory("512M").unwrap(),
            MemoryLimit(Some("536870912".into()))
        );
        assert_eq!(parse_memory("none").unwrap(), MemoryLimit(None));
        for bad in ["", "lots", "1t", "-1g", "1.5g", "1k"] {
            assert!(parse_memory(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn run_takes_a_json_list_and_the_debug_flag() {
        let cli = parse(&["run", r#"["test_baseline.py"]"#, "--debug"]).unwrap();
        match cli.task {
            Task::Run { tests, options } => {
                assert_eq!(tests, vec![r#"["test_baseline.py"]"#.to_string()]);
                assert!(options.engine.debug);
                assert_eq!(options.timeout, 300);
                assert_eq!(options.memory, MemoryLimit(Some("1073741824".into())));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn test_dir_has_an_underscore_alias() {
        for flag in ["--test-dir", "--test_dir"] {
            let cli = parse(&["run-all-tests", flag, "/tmp/x"]).unwrap();
            let Task::RunAllTests { options } = cli.task else {
                panic!()
            };
            assert_eq!(options.test_dir.test_dir, Some(PathBuf::from("/tmp/x")));
        }
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        for args in [
            &["run-all-tests", "--jobs", "0"][..],
            &["run-all-tests", "--timeout", "0"],
            &["run-all-tests", "--timeout", "-5"],
            &["run-all-tests", "--memory", "lots"],
            &["run-all-tests", "--python-malloc", "jemalloc"],
            &["run-all-tests", "--python", "2.7"],
            &["run-all-tests", "--engine", "lxc"],
            &["run"],
        ] {
            let error = parse(args).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn matrices_are_comma_lists() {
        let cli = parse(&[
            "run-all-tests",
            "--python-malloc",
            "pymalloc,malloc",
            "--python",
            "3.9,3.13",
        ])
        .unwrap();
        let Task::RunAllTests { options } = cli.task else {
            panic!()
        };
        assert_eq!(
            options.python_malloc,
            vec![PythonMalloc::Pymalloc, PythonMalloc::Malloc]
        );
        assert_eq!(
            options
                .python
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
            ["3.9", "3.13"]
        );
    }
}
