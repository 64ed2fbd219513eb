//! The command line: every task, flag, default and example, and nothing else.
//!
//! Built with clap's builder API (no proc-macro: the first build users wait
//! for stays short). Values clap can check alone are checked here, so a bad
//! flag exits 2 before any work starts; `parse` hands typed values to the tasks.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use crate::matrix::{python_malloc_values, Partition, PythonMalloc, PythonVersion};
use crate::pythons;

#[derive(Debug)]
pub enum Task {
    Run {
        tests: Vec<String>,
        options: RunOptions,
    },
    RunAllTests {
        options: RunOptions,
    },
    List {
        test_dir: Option<PathBuf>,
        json: bool,
    },
    BuildImage {
        test_dir: Option<PathBuf>,
        base_image: Option<String>,
        python: PythonVersion,
        engine: EngineArgs,
    },
    BaseImage {
        python: PythonVersion,
        force: bool,
        engine: EngineArgs,
    },
    Clean {
        run: Option<String>,
        containers_only: bool,
        keep_base: bool,
        engine: EngineArgs,
    },
    Completions {
        shell: clap_complete::Shell,
    },
    Bench {
        rounds: usize,
        jobs: usize,
        quick: bool,
        engine: EngineArgs,
    },
}

#[derive(Debug, Clone)]
pub struct EngineArgs {
    pub engine: EngineKind,
    pub debug: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

#[derive(Debug)]
pub struct RunOptions {
    pub test_dir: Option<PathBuf>,
    pub engine: EngineArgs,
    pub base_image: Option<String>,
    pub jobs: Option<u16>,
    pub timeout: u64,
    pub memory: MemoryLimit,
    pub python_malloc: Vec<PythonMalloc>,
    pub python: Vec<PythonVersion>,
    pub network: String,
    pub fail_fast: bool,
    pub partition: Option<Partition>,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub report_html: Option<PathBuf>,
}

/// A per-container memory limit in bytes: `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit(pub Option<String>);

pub fn command() -> Command {
    Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .about("Run pymaccounter's Python memory demonstrations, each in its own fresh container.")
        .after_help(examples(&["run-all-tests", "run '[\"test_baseline.py\"]' --debug", "list"]))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("run")
                .about("Run the named test modules, each in its own fresh container")
                .arg(
                    Arg::new("tests")
                        .value_name("TESTS")
                        .required(true)
                        .num_args(1..)
                        .help("One JSON list of module names ('[\"test_baseline.py\"]') or plain names"),
                )
                .args(run_args())
                .after_help(examples(&[
                    "run '[\"test_baseline.py\"]' --debug",
                    "run test_baseline.py test_refcount.py --jobs 2",
                    "run test_rss_release.py --python-malloc pymalloc,malloc",
                ])),
        )
        .subcommand(
            Command::new("run-all-tests")
                .about("Run every test_*.py module of the test dir, sorted by name")
                .args(run_args())
                .after_help(examples(&[
                    "run-all-tests",
                    "run-all-tests --python-malloc pymalloc,malloc,debug --report-json report.json",
                    "run-all-tests --python 3.9,3.11,3.13,3.14",
                    "run-all-tests --python 3.11-dbg --python-malloc pymalloc,debug",
                    "run-all-tests --test-dir ~/my_tests --jobs 4",
                ])),
        )
        .subcommand(
            Command::new("list")
                .about("List the test modules with the first line of each one's docstring")
                .arg(test_dir_arg())
                .arg(flag("json", "Print a JSON list of {\"module\", \"summary\"} objects"))
                .after_help(examples(&["list", "list --json"])),
        )
        .subcommand(
            Command::new("build-image")
                .about("Build the test image (or reuse it when nothing changed) and print its reference")
                .arg(test_dir_arg())
                .arg(base_image_arg())
                .arg(python_arg())
                .args(engine_args())
                .after_help(examples(&["build-image", "build-image --python 3.13 --debug"])),
        )
        .subcommand(
            Command::new("base-image")
                .about("Build an offline base image (Debian + python3) for machines with no registry")
                .arg(python_arg())
                .arg(flag("force", "Build it again even when it exists"))
                .args(engine_args())
                .after_help(format!(
                    "Needs root and debootstrap (apt-get install debootstrap).\n\n{}",
                    examples(&["base-image", "base-image --python 3.13", "base-image --python 3.11-dbg"])
                )),
        )
        .subcommand(
            Command::new("clean")
                .about("Remove containers and images this project created (e.g. after a killed run)")
                .arg(
                    Arg::new("run")
                        .long("run")
                        .value_name("RUN_ID")
                        .help("Only the containers of this run (see --debug)"),
                )
                .arg(flag("containers-only", "Keep the images: remove containers only"))
                .arg(flag("keep-base", "Keep the offline base images (they take a minute to rebuild)"))
                .args(engine_args())
                .after_help(examples(&["clean", "clean --keep-base"])),
        )
        .subcommand(
            Command::new("bench")
                .about("Measure the runner against a raw parallel `docker run` loop; writes BENCHMARKS.md")
                .arg(
                    Arg::new("rounds")
                        .long("rounds")
                        .default_value("11")
                        .value_parser(value_parser!(u16).range(1..))
                        .help("Interleaved rounds per comparison"),
                )
                .arg(
                    Arg::new("jobs")
                        .short('j')
                        .long("jobs")
                        .default_value("2")
                        .value_parser(value_parser!(u16).range(1..))
                        .help("Modules at a time, for both sides"),
                )
                .arg(flag("quick", "Skip the 96- and 200-module runs and the cold build"))
                .args(engine_args())
                .after_help(examples(&["bench", "bench --quick --rounds 3"])),
        )
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script")
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(value_parser!(clap_complete::Shell))
                        .help("bash, zsh, fish, elvish or powershell"),
                )
                .after_help(examples(&[
                    "completions bash > ~/.local/share/bash-completion/completions/cargo-xtask",
                ])),
        )
}

fn examples(lines: &[&str]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| format!("  cargo xtask {l}")).collect();
    format!("Examples:\n{}", lines.join("\n"))
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
}

fn test_dir_arg() -> Arg {
    Arg::new("test-dir")
        .long("test-dir")
        .alias("test_dir")
        .value_name("DIR")
        .value_parser(value_parser!(PathBuf))
        .help("Directory holding the test modules [default: python_tests of this repository]")
}

fn base_image_arg() -> Arg {
    Arg::new("base-image")
        .long("base-image")
        .value_name("IMAGE")
        .help("Base image for the test image [default: python:X.Y-slim, or the offline base]")
}

fn python_arg() -> Arg {
    Arg::new("python")
        .long("python")
        .value_name("X.Y")
        .default_value("3.11")
        .value_parser(parse_python)
        .help(format!("Python version ({})", pythons::help_summary()))
}

fn engine_args() -> [Arg; 2] {
    [
        Arg::new("engine")
            .long("engine")
            .env("PYMACCOUNTER_ENGINE")
            .default_value("docker")
            .value_parser(["docker", "podman"])
            .help("Container engine CLI to use"),
        flag("debug", "Show each engine command line, the full build log and module stderr as it comes"),
    ]
}

fn run_args() -> Vec<Arg> {
    let mut args = vec![test_dir_arg()];
    args.extend(engine_args());
    args.extend([
        base_image_arg(),
        Arg::new("jobs")
            .short('j')
            .long("jobs")
            .value_name("N")
            .value_parser(value_parser!(u16).range(1..))
            .help("Modules run at the same time [default: available CPUs]"),
        Arg::new("timeout")
            .long("timeout")
            .value_name("SECS")
            .default_value("300")
            .value_parser(value_parser!(u64).range(1..))
            .help("Seconds a module may run before it is killed and reported as timeout"),
        Arg::new("memory")
            .long("memory")
            .value_name("SIZE")
            .default_value("1g")
            .value_parser(parse_memory)
            .help("Memory limit per container, docker syntax (512m, 1g), or `none`"),
        Arg::new("python-malloc")
            .long("python-malloc")
            .value_name("LIST")
            .value_delimiter(',')
            .value_parser(
                PossibleValuesParser::new(python_malloc_values()).map(|v| v.parse::<PythonMalloc>().unwrap()),
            )
            .help("Comma list of PYTHONMALLOC values; each module runs once per value"),
        Arg::new("python")
            .long("python")
            .value_name("LIST")
            .value_delimiter(',')
            .value_parser(parse_python)
            .help(format!(
                "Comma list of Python versions ({}); each module runs once per version",
                pythons::names()
            )),
        Arg::new("network")
            .long("network")
            .value_name("MODE")
            .default_value("none")
            .help("Container network mode (the default cuts the module off the network)"),
        flag("fail-fast", "Start no new module after the first one that did not pass"),
        Arg::new("partition")
            .long("partition")
            .value_name("K/N")
            .value_parser(|s: &str| s.parse::<Partition>())
            .help("Run only part K of N of the modules (by sorted name), e.g. for CI jobs"),
        Arg::new("report-json")
            .long("report-json")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write a JSON report here (also when the run fails or is interrupted)"),
        Arg::new("junit")
            .long("junit")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write a JUnit XML report here (also when the run fails or is interrupted)"),
        Arg::new("report-html")
            .long("report-html")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write a self-contained HTML page with a peak-memory chart here"),
    ]);
    args
}

fn parse_python(text: &str) -> Result<PythonVersion, String> {
    text.parse()
}

/// The engine refuses limits under 6 MiB; a module needs more than that anyway.
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

fn parse_memory(text: &str) -> Result<MemoryLimit, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "none" {
        return Ok(MemoryLimit(None));
    }
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(format!("unknown unit {unit:?}: use b, k, m or g (e.g. 512m, 1g) or none")),
    };
    let number: u64 = digits.parse().map_err(|_| "expected a size like 512m or 1g, or none".to_string())?;
    let bytes = number.saturating_mul(multiplier);
    if bytes < MIN_MEMORY_BYTES {
        return Err("the smallest limit the engine accepts is 6m".to_string());
    }
    Ok(MemoryLimit(Some(format!("{bytes}"))))
}

/// Parses the process's arguments; clap prints help or a usage error (exit 2) itself.
pub fn parse() -> Task {
    task(command().get_matches())
}

#[cfg(test)]
pub fn try_parse_from(args: &[&str]) -> Result<Task, clap::Error> {
    let matches =
        command().try_get_matches_from(std::iter::once("cargo xtask").chain(args.iter().copied()))?;
    Ok(task(matches))
}

fn task(matches: ArgMatches) -> Task {
    let (name, m) = matches.subcommand().expect("a subcommand is required");
    match name {
        "run" => Task::Run {
            tests: m.get_many::<String>("tests").unwrap().cloned().collect(),
            options: run_options(m),
        },
        "run-all-tests" => Task::RunAllTests { options: run_options(m) },
        "list" => Task::List { test_dir: m.get_one("test-dir").cloned(), json: m.get_flag("json") },
        "build-image" => Task::BuildImage {
            test_dir: m.get_one("test-dir").cloned(),
            base_image: m.get_one("base-image").cloned(),
            python: *m.get_one("python").unwrap(),
            engine: engine(m),
        },
        "base-image" => Task::BaseImage {
            python: *m.get_one("python").unwrap(),
            force: m.get_flag("force"),
            engine: engine(m),
        },
        "clean" => Task::Clean {
            run: m.get_one("run").cloned(),
            containers_only: m.get_flag("containers-only"),
            keep_base: m.get_flag("keep-base"),
            engine: engine(m),
        },
        "bench" => Task::Bench {
            rounds: usize::from(*m.get_one::<u16>("rounds").unwrap()),
            jobs: usize::from(*m.get_one::<u16>("jobs").unwrap()),
            quick: m.get_flag("quick"),
            engine: engine(m),
        },
        "completions" => Task::Completions { shell: *m.get_one("shell").unwrap() },
        other => unreachable!("subcommand {other} is defined above"),
    }
}

fn engine(m: &ArgMatches) -> EngineArgs {
    let engine = match m.get_one::<String>("engine").map(String::as_str) {
        Some("podman") => EngineKind::Podman,
        _ => EngineKind::Docker,
    };
    EngineArgs { engine, debug: m.get_flag("debug") }
}

fn run_options(m: &ArgMatches) -> RunOptions {
    RunOptions {
        test_dir: m.get_one("test-dir").cloned(),
        engine: engine(m),
        base_image: m.get_one("base-image").cloned(),
        jobs: m.get_one("jobs").copied(),
        timeout: *m.get_one("timeout").unwrap(),
        memory: m.get_one::<MemoryLimit>("memory").unwrap().clone(),
        python_malloc: m.get_many("python-malloc").map(|v| v.copied().collect()).unwrap_or_default(),
        python: m.get_many("python").map(|v| v.copied().collect()).unwrap_or_default(),
        network: m.get_one::<String>("network").unwrap().clone(),
        fail_fast: m.get_flag("fail-fast"),
        partition: m.get_one("partition").copied(),
        report_json: m.get_one("report-json").cloned(),
        junit: m.get_one("junit").cloned(),
        report_html: m.get_one("report-html").cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_task_shows_an_example() {
        for sub in command().get_subcommands() {
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains("cargo xtask "), "{} has no example", sub.get_name());
        }
    }

    #[test]
    fn memory_sizes_follow_docker_syntax() {
        assert_eq!(parse_memory("1g").unwrap(), MemoryLimit(Some("1073741824".into())));
        assert_eq!(parse_memory("512M").unwrap(), MemoryLimit(Some("536870912".into())));
        assert_eq!(parse_memory("none").unwrap(), MemoryLimit(None));
        for bad in ["", "lots", "1t", "-1g", "1.5g", "1k"] {
            assert!(parse_memory(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn run_takes_a_json_list_and_the_debug_flag() {
        match try_parse_from(&["run", r#"["test_baseline.py"]"#, "--debug"]).unwrap() {
            Task::Run { tests, options } => {
                assert_eq!(tests, vec![r#"["test_baseline.py"]"#.to_string()]);
                assert!(options.engine.debug);
                assert_eq!(options.engine.engine, EngineKind::Docker);
                assert_eq!(options.timeout, 300);
                assert_eq!(options.memory, MemoryLimit(Some("1073741824".into())));
                assert_eq!(options.network, "none");
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn test_dir_has_an_underscore_alias() {
        for flag in ["--test-dir", "--test_dir"] {
            let Task::RunAllTests { options } = try_parse_from(&["run-all-tests", flag, "/tmp/x"]).unwrap()
            else {
                panic!()
            };
            assert_eq!(options.test_dir, Some(PathBuf::from("/tmp/x")));
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
            &["run-all-tests", "--partition", "0/2"],
            &["run-all-tests", "--partition", "3/2"],
            &["run-all-tests", "--partition", "x/y"],
            &["completions", "tcsh"],
            &["run"],
        ] {
            let error = try_parse_from(args).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn matrices_are_comma_lists() {
        let args = ["run-all-tests", "--python-malloc", "pymalloc,malloc_debug", "--python", "3.9,3.13"];
        let Task::RunAllTests { options } = try_parse_from(&args).unwrap() else { panic!() };
        assert_eq!(options.python_malloc, vec![PythonMalloc::Pymalloc, PythonMalloc::MallocDebug]);
        assert_eq!(options.python.iter().map(|v| v.as_str()).collect::<Vec<_>>(), ["3.9", "3.13"]);
    }
}
