//! The command line: every task and option, declared once (clap derive: a
//! field, its flag, its help and its check are one declaration), and nothing
//! else. Values clap can check alone are checked here, so a bad flag exits 2
//! before any work starts; tasks receive typed values.

use crate::report::terminal::ColourChoice;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::EngineKind;
use crate::harness::declarations::{HarnessChoice, HuntLeaks};
use crate::model::compare::{FloorItem, Gate, ThresholdItem};
use crate::model::job::{Partition, PythonMalloc, PythonVersion};
use crate::model::limits::{parse_memory, MemoryLimit, MAX_JOBS, MAX_REPEAT, MAX_RETRIES, MAX_TIMEOUT_SECS};
use crate::report::human::SuccessOutput;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Run pymaccounter's Python memory demonstrations, each in its own fresh container.",
    after_help = examples(&["run-all-tests", "run '[\"test_baseline.py\"]' --debug", "list"]),
    arg_required_else_help = true,
    version
)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
    /// Colour the output: auto (a terminal, NO_COLOR and FORCE_COLOR as usual), always or never
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value = "auto")]
    pub color: ColourChoice,
}

#[derive(Debug, Subcommand)]
pub enum Task {
    /// Run the named test modules, each in its own fresh container
    #[command(after_help = examples(&[
        "run '[\"test_baseline.py\"]' --debug",
        "run test_baseline.py test_refcount.py --jobs 2",
        "run 'test_gc*' --skip test_gc_generations.py",
        "run test_rss_release.py --python-malloc pymalloc,malloc",
    ]))]
    Run {
        /// Module names or shell-style globs ('test_gc*'), plain or as one JSON list ('["test_baseline.py"]')
        #[arg(value_name = "TESTS", required = true, num_args = 1..)]
        tests: Vec<String>,
        #[command(flatten)]
        options: RunArgs,
    },
    /// Run every test_*.py module of the test dir, sorted by name
    #[command(after_help = examples(&[
        "run-all-tests",
        "run-all-tests --python-malloc pymalloc,malloc,debug --report-json report.json",
        "run-all-tests --python 3.9,3.11,3.13",
        "run-all-tests --test-dir ~/my_tests --jobs 4",
        "run-all-tests --skip 'test_rss*' --skip test_tracemalloc.py",
    ]))]
    RunAllTests {
        #[command(flatten)]
        options: RunArgs,
    },
    /// Run the modules, then again each time a file of the test dir is saved, until Ctrl-C
    #[command(after_help = format!(
        "Runs the modules whose files changed, or every selected module when another file \
         changed (a helper, a data file). Without TESTS, every test_*.py module.\n\n{}",
        examples(&["watch", "watch 'test_gc*' -v", "watch test_refcount.py --debug"])
    ))]
    Watch {
        /// Module names or shell-style globs, as for `run` [default: every module]
        #[arg(value_name = "TESTS")]
        tests: Vec<String>,
        /// Clear the screen before each round after the first (cargo watch's -c)
        #[arg(short = 'c', long)]
        clear: bool,
        #[command(flatten)]
        options: RunArgs,
    },
    /// List the test modules with the first line of each one's docstring
    #[command(after_help = examples(&["list", "list --json"]))]
    List {
        /// Module paths or globs, as `run` takes them (every module without)
        #[arg(value_name = "TESTS")]
        tests: Vec<String>,
        #[command(flatten)]
        dir: TestDirArg,
        #[command(flatten)]
        selection: SelectionArgs,
        /// Print a JSON list of {"module", "summary", "harness", "declarations"} objects
        #[arg(long)]
        json: bool,
    },
    /// Build the test image (or reuse it when nothing changed) and print its reference
    #[command(after_help = examples(&["build-image", "build-image --python 3.13 --debug"]))]
    BuildImage {
        #[command(flatten)]
        base: BaseImageArg,
        #[command(flatten)]
        python: PythonArg,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Build an offline base image (Debian + python3) for machines with no registry
    #[command(after_help = format!(
        "Needs root and debootstrap (apt-get install debootstrap).\n\n{}",
        examples(&["base-image", "base-image --python 3.13"])
    ))]
    BaseImage {
        #[command(flatten)]
        python: PythonArg,
        /// Build it again even when it exists
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Remove containers and images this project created (e.g. after a killed run)
    #[command(after_help = examples(&["clean", "clean --keep-base", "clean --cache-dir ci-cache --dry-run"]))]
    Clean {
        /// Only the containers of this run (the id every run prints)
        #[arg(long = "run", value_name = "RUN_ID")]
        run: Option<String>,
        /// Keep the images: remove containers only
        #[arg(long)]
        containers_only: bool,
        /// Keep the offline base images (they take a minute to rebuild)
        #[arg(long)]
        keep_base: bool,
        /// Also remove what runs still going own (they will fail)
        #[arg(long)]
        force: bool,
        /// Every user's containers and images, not only yours (on an engine others share)
        #[arg(long)]
        all_users: bool,
        /// Say what would be removed, and remove nothing
        #[arg(long)]
        dry_run: bool,
        /// Also empty this cache of environments (what a run's --cache-dir named; repeatable);
        /// the per-user one is always emptied
        #[arg(long, value_name = "DIR")]
        cache_dir: Vec<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Measure the runner against a raw parallel `docker run` loop; writes BENCHMARKS.md
    #[command(after_help = examples(&["bench", "bench --quick --rounds 3"]))]
    Bench {
        /// Interleaved rounds per comparison
        #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u16).range(1..=1000))]
        rounds: u16,
        /// Modules at a time, for both sides
        #[arg(short = 'j', long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS))]
        jobs: u16,
        /// Skip the 96- and 200-module runs and the cold build
        #[arg(long)]
        quick: bool,
        /// Run these sections only, and print them without writing BENCHMARKS.md
        #[arg(long, value_delimiter = ',', value_name = "SECTIONS")]
        only: Vec<BenchSection>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Compare two JSON reports: per result, each measure before → after; exit 1 on a regression
    #[command(after_help = format!(
        "A change is a regression when it is beyond both its threshold and its floor, or when a \
         result that passed no longer does. Exit codes: 0 no regression, 1 a regression, 2 bad input \
         or nothing paired (0 compared).\n\n{}",
        examples(&[
            "compare main.json report.json",
            "compare main.json report.json --threshold rss=5%,duration=off --format markdown",
            "compare main.json report.json --min-delta 4MiB",
        ])
    ))]
    Compare {
        /// The baseline report (--report-json of an earlier run)
        #[arg(value_name = "BASE.json")]
        base: PathBuf,
        /// The report to judge
        #[arg(value_name = "NEW.json")]
        new: PathBuf,
        #[command(flatten)]
        gate: GateArgs,
        /// How to print the comparison
        #[arg(long, value_enum, default_value = "text")]
        format: CompareFormat,
    },
    /// Merge the JSON reports of --partition shards into one report set
    #[command(after_help = format!(
        "Shards must come from runs with the same options (all but --partition) and hold no result \
         twice. Exit codes: 0 every result passed or skipped, 1 otherwise or a partition is missing \
         (unless --allow-partial), 2 bad input.\n\n{}",
        examples(&["merge-reports shard-1/report.json shard-2/report.json --report-html all.html --junit all.xml"])
    ))]
    MergeReports {
        /// The shards' --report-json files
        #[arg(value_name = "SHARD.json", required = true, num_args = 1..)]
        shards: Vec<PathBuf>,
        /// Merge shards even when their runs' options differ
        #[arg(long)]
        force: bool,
        /// Accept a set with a partition missing (a shard's job died): exit by the merged results
        /// instead of 1
        #[arg(long)]
        allow_partial: bool,
        #[command(flatten)]
        reports: ReportArgs,
    },
    /// Print a shell completion script
    #[command(after_help = examples(&[
        "completions bash > ~/.local/share/bash-completion/completions/cargo-xtask",
    ]))]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Options of `run` and `run-all-tests`, grouped as `--help` shows them.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub dir: TestDirArg,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub execution: ExecutionArgs,
    #[command(flatten)]
    pub isolation: IsolationArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub harness: HarnessArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Arguments given to every module run (after `--`): to the script, or to unittest or pytest
    #[arg(last = true, value_name = "ARGS", allow_hyphen_values = true)]
    pub module_args: Vec<String>,
}

/// The project under test and its Python environment (issue 20).
#[derive(Debug, Args)]
#[command(next_help_heading = "Project")]
pub struct ProjectArgs {
    /// The project root [default: the nearest folder above the test dir declaring a package
    /// (setup.py, pyproject.toml's [project] or [build-system], setup.cfg's [metadata]), up to a
    /// repository's top]
    #[arg(long, value_name = "DIR", conflicts_with = "no_project")]
    pub project: Option<PathBuf>,
    /// Run the test dir alone: no project, no environment (the image's own Python and pytest)
    #[arg(long)]
    pub no_project: bool,
    /// Install this dependency group of the project (PEP 735, repeatable) [default: `dev` when it has one]
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
    /// Install the project with this extra (optional dependencies, repeatable)
    #[arg(long, value_name = "NAME")]
    pub extra: Vec<String>,
    /// Install the requirements of this file too (repeatable)
    #[arg(long, value_name = "FILE")]
    pub requirements: Vec<PathBuf>,
    /// Install this requirement too, e.g. --with 'numpy<2' (repeatable)
    #[arg(long = "with", value_name = "SPEC")]
    pub with: Vec<String>,
    /// Where environments are cached [default: $XDG_CACHE_HOME/pymaccounter, else ~/.cache/pymaccounter]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Harness")]
pub struct HarnessArgs {
    /// How modules run: as scripts, under unittest or pytest, or chosen per module from its source
    #[arg(long, value_enum, default_value = "auto")]
    pub harness: HarnessChoice,
    /// Profile each module with memray (peak heap, allocations, top sites, a flame graph);
    /// memray comes from the package index (Python 3.9 to 3.14, any base); needs a local engine
    #[arg(long)]
    pub memray: bool,
    /// Run each script, or each test of a unittest or pytest file, WARMUPS+RUNS times in one
    /// interpreter and report reference, memory block and file descriptor leaks (CPython's
    /// regrtest rule; references need a -dbg Python)
    #[arg(long, value_name = "WARMUPS:RUNS", num_args = 0..=1, default_missing_value = "3:3")]
    pub hunt_leaks: Option<HuntLeaks>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Selection")]
pub struct TestDirArg {
    /// Directory holding the test modules [default: python_tests of this repository]
    #[arg(long = "test-dir", alias = "test_dir", value_name = "DIR")]
    pub test_dir: Option<PathBuf>,
    /// Read option defaults from this file ([tool.pymaccounter] of a pyproject.toml, or a
    /// pymaccounter.toml) [default: found from the test dir, or the current directory, upward]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use the configuration's [tool.pymaccounter.profile.NAME] over its plain keys
    #[arg(long, value_name = "NAME", env = "PYMACCOUNTER_PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Selection")]
pub struct SelectionArgs {
    /// Leave out the modules this name or glob matches (repeatable), e.g. --skip 'test_rss*'
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Run only part K of N of the modules (by sorted name), e.g. for CI jobs
    #[arg(long, value_name = "K/N")]
    pub partition: Option<Partition>,
    /// Run only the modules that did not pass in this test dir's last run (all when none
    /// failed), as pytest's --lf
    #[arg(long, visible_alias = "lf")]
    pub last_failed: bool,
    /// Only the tests whose names match EXPR, as pytest's -k: substrings of a test's file,
    /// folder, class or function name, joined by and/or/not, e.g. -k 'gc and not slow'
    #[arg(short = 'k', value_name = "EXPR", value_parser = parse_keyword)]
    pub keyword: Option<String>,
}

fn parse_keyword(text: &str) -> Result<String, String> {
    crate::keyword::Expression::parse(text).map(|_| text.to_string())
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Execution")]
pub struct ExecutionArgs {
    /// Start no new module after the first one that did not pass (pytest's -x, --exitfirst)
    #[arg(long, short = 'x', visible_alias = "exitfirst", overrides_with = "no_fail_fast")]
    pub fail_fast: bool,
    /// Start no new module after N did not pass (pytest's --maxfail)
    #[arg(long, value_name = "N", visible_alias = "maxfail", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_fail: Option<u32>,
    /// Run every module whatever fails (the default; undoes --fail-fast and --max-fail)
    #[arg(long, overrides_with = "fail_fast")]
    pub no_fail_fast: bool,
    /// Modules run at the same time [default: available CPUs]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS))]
    pub jobs: Option<u16>,
    /// Run each job N times, each in a fresh container: its result holds the median and range
    /// of each measure, and the worst status (a mix of pass and fail is `flaky`)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_REPEAT))]
    pub repeat: u16,
    /// Run a job that did not pass up to N more times; a later pass makes it `flaky`
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=MAX_RETRIES))]
    pub retries: u16,
    /// How a flaky result counts
    #[arg(long, value_name = "fail|pass", value_enum, default_value = "fail")]
    pub flaky_result: FlakyResult,
}

/// The values of the enums below `tasks/` that flags take, for clap: each
/// enum names its values once (`model::choice::Choice`).
macro_rules! value_enum_from_choice {
    ($($choice:ty),*) => {$(
        impl clap::ValueEnum for $choice {
            fn value_variants<'a>() -> &'a [Self] {
                <$choice as crate::model::choice::Choice>::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                use crate::model::choice::Choice as _;
                let value = clap::builder::PossibleValue::new(self.name());
                Some(if self.help().is_empty() { value } else { value.help(self.help()) })
            }
        }
    )*};
}

value_enum_from_choice!(EngineKind, SuccessOutput, ColourChoice, crate::harness::declarations::HarnessChoice);

/// `--flaky-result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlakyResult {
    /// A flaky result counts as failed
    Fail,
    /// A flaky result counts as passed (still shown as flaky)
    Pass,
}

impl FlakyResult {
    pub fn name(self) -> &'static str {
        match self {
            FlakyResult::Fail => "fail",
            FlakyResult::Pass => "pass",
        }
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Isolation")]
pub struct IsolationArgs {
    /// Seconds a module may run before it is killed and reported as timeout
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout: u64,
    /// Memory limit per container, docker syntax (512m, 1g), or `none`
    #[arg(long, value_name = "SIZE", default_value = "1g", value_parser = parse_memory)]
    pub memory: MemoryLimit,
    /// Container network mode (the default cuts the module off the network)
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse_network)]
    pub network: String,
    /// Set an environment variable in every container (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    #[command(flatten)]
    pub base: BaseImageArg,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Isolation")]
pub struct BaseImageArg {
    /// Base image for the test image, or for one version of a matrix as X.Y=IMAGE (repeatable)
    /// [default: python:X.Y-slim, or the offline base]
    #[arg(long = "base-image", value_name = "[X.Y=]IMAGE", value_parser = parse_base_image)]
    pub base_image: Vec<BaseImage>,
}

/// A `--base-image`: for every version, or for one (`3.11=IMAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub version: Option<PythonVersion>,
    pub image: String,
}

impl BaseImageArg {
    /// The base given for a version, if any.
    pub fn for_version(&self, version: PythonVersion) -> Option<&str> {
        let exact = self.base_image.iter().find(|b| b.version == Some(version));
        exact.or_else(|| self.base_image.iter().find(|b| b.version.is_none())).map(|b| b.image.as_str())
    }

    /// As given on the command line, for records.
    pub fn describe(&self) -> String {
        let given: Vec<String> = self
            .base_image
            .iter()
            .map(|b| match b.version {
                Some(version) => format!("{version}={}", b.image),
                None => b.image.clone(),
            })
            .collect();
        given.join(",")
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Matrix")]
pub struct MatrixArgs {
    /// Comma list of PYTHONMALLOC values; each module runs once per value
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub python_malloc: Vec<PythonMalloc>,
    /// Comma list of Python versions; each module runs once per version
    #[arg(long, value_name = "LIST", value_delimiter = ',', long_help = format!(
        "Comma list of Python versions; each module runs once per version ({})", crate::model::pythons::help_summary()
    ))]
    pub python: Vec<PythonVersion>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Python")]
pub struct PythonArg {
    /// Python version
    #[arg(long, value_name = "X.Y", default_value_t = PythonVersion::DEFAULT, long_help = format!(
        "Python version ({})", crate::model::pythons::help_summary()
    ))]
    pub python: PythonVersion,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Reports")]
pub struct ReportArgs {
    /// Write a JSON report here (also when the run fails or is interrupted)
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
    /// Write a JUnit XML report here (also when the run fails or is interrupted)
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML page with a peak-memory chart here
    #[arg(long, value_name = "PATH")]
    pub report_html: Option<PathBuf>,
}

/// What a run keeps and shows of each module's output (not merge-reports:
/// its shards' output is already what it is).
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// When a passing (or skipped) module's output shows, as nextest's flag (a failing one's
    /// always shows, in its block)
    #[arg(long, value_name = "WHEN", value_enum, default_value = "immediate")]
    pub success_output: SuccessOutput,
    /// Quieter: a passing module's block is its heading only (pytest's -q)
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Louder: a passing module's block shows its stderr after its stdout (pytest's -v)
    #[arg(short, long)]
    pub verbose: bool,
    /// Stream every module's stdout and stderr as they come, prefixed by its name (pytest's -s)
    #[arg(short = 's', long)]
    pub no_capture: bool,
    /// Most of each output stream of a module kept on disk (its spill file under
    /// target/pymaccounter/runs/) once it outgrows the 64 KiB kept in memory; past it the
    /// stream is still read, its tail kept, and the cut says how much was dropped
    #[arg(long, value_name = "SIZE", default_value = "64m", value_parser = parse_output_cap)]
    pub max_output: u64,
}

impl OutputArgs {
    /// How the run shows modules' output; `debug` streams stderr too.
    pub fn showing(&self, debug: bool) -> crate::report::human::Showing {
        use crate::report::human::{Showing, Shown};
        let shown = match (self.quiet, self.verbose) {
            (true, _) => Shown::None,
            (false, true) => Shown::Both,
            (false, false) => Shown::Stdout,
        };
        Showing {
            shown,
            when: self.success_output,
            live_stderr: debug || self.no_capture,
            live_stdout: self.no_capture,
        }
    }
}

impl ExecutionArgs {
    /// After how many failures no new module starts; `None`: never.
    pub fn max_failures(&self) -> Option<usize> {
        match (self.no_fail_fast, self.max_fail, self.fail_fast) {
            (true, _, _) => None,
            (false, Some(n), _) => Some(n as usize),
            (false, None, true) => Some(1),
            (false, None, false) => None,
        }
    }
}

impl ReportArgs {
    pub fn paths(&self) -> crate::report::ReportPaths {
        crate::report::ReportPaths {
            json: self.report_json.clone(),
            junit: self.junit.clone(),
            html: self.report_html.clone(),
        }
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Baseline")]
pub struct BaselineArgs {
    /// Judge each result against this earlier --report-json: a pass that grew beyond
    /// --threshold and --min-delta becomes `regressed`
    #[arg(long, value_name = "BASE.json")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// When a measure's change is a regression (`compare`, `run --baseline`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Baseline")]
pub struct GateArgs {
    /// Growth allowed before a change is a regression: 10% for every measure, or per measure
    /// (rss=5%,duration=50%; `off` shows a measure without judging it) [default: 10%]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub threshold: Vec<ThresholdItem>,
    /// Changes smaller than this are noise, whatever their ratio: per measure (rss=2MiB,duration=1s)
    /// or a size or time for every measure in that unit [default: rss=1MiB,container=4MiB,heap=1MiB,duration=0.5s]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub min_delta: Vec<FloorItem>,
}

impl GateArgs {
    pub fn gate(&self) -> Gate {
        Gate::new(&self.threshold, &self.min_delta)
    }
}

/// `compare --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    /// Aligned columns for a terminal
    Text,
    /// A table for a pull-request comment or a step summary
    Markdown,
    /// For tools (carries a schema_version)
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Engine")]
pub struct EngineArgs {
    /// Container engine CLI to use
    #[arg(long = "engine", env = "PYMACCOUNTER_ENGINE", default_value = "docker", value_enum)]
    pub kind: EngineKind,
    /// Show each engine command line and the full log of image builds (and, for runs, module
    /// stderr as it comes)
    #[arg(long)]
    pub debug: bool,
}

/// `KEY=VALUE`, with a key the shell would accept.
fn parse_env(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{key:?} is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `IMAGE` or `X.Y=IMAGE` (an image reference has no `=`).
fn parse_base_image(text: &str) -> Result<BaseImage, String> {
    let (version, image) = match text.split_once('=') {
        Some((version, image)) => (Some(version.parse::<PythonVersion>()?), image),
        None => (None, text),
    };
    crate::engine::check_image_reference(image)?;
    Ok(BaseImage { version, image: image.to_string() })
}

/// `64m`, `1g`, `0` (keep nothing on disk): bytes, at most 1 TiB.
fn parse_output_cap(text: &str) -> Result<u64, String> {
    crate::model::units::parse_size(text, 0, crate::model::limits::MAX_MEMORY_BYTES)
}

/// A network mode: `none`, `bridge`, `host`, or a network's name.
fn parse_network(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if valid {
        Ok(text.to_string())
    } else {
        Err("expected none, bridge, host or a network's name".into())
    }
}

fn examples(lines: &[&str]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| format!("  cargo xtask {l}")).collect();
    format!("Examples:\n{}", lines.join("\n"))
}

/// The command definition (for completions and tests).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parses the process's arguments; clap prints help or a usage error (exit 2) itself.
pub fn parse() -> Task {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match with_config(Cli::command(), &args) {
        Ok(command) => command,
        Err(error) => {
            say!("error: {error}");
            std::process::exit(crate::error::EXIT_USAGE);
        }
    };
    let matches = command.get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    crate::report::terminal::choose_colour(cli.color);
    cli.task
}

/// The tasks a committed configuration sets defaults for.
const CONFIGURED_TASKS: [&str; 4] = ["run", "run-all-tests", "watch", "list"];

/// The command with the configuration's values as its defaults (so the
/// command line and the environment still win), for the task `args` name.
/// An error names the file, the line and the key.
fn with_config(command: clap::Command, args: &[std::ffi::OsString]) -> Result<clap::Command, String> {
    use crate::config::{Config, Search, Takes};
    // A first look at the command line: which task, which test dir and
    // configuration. A bad command line is left for the real parse to report.
    // `--help` would end the first look before the task's options are read.
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let looked: Vec<&std::ffi::OsString> =
        args[..end].iter().filter(|a| *a != "--help" && *a != "-h").chain(&args[end..]).collect();
    let Ok(matches) = command.clone().ignore_errors(true).try_get_matches_from(looked) else {
        return Ok(command);
    };
    let Some((task, given)) = matches.subcommand().filter(|(task, _)| CONFIGURED_TASKS.contains(task)) else {
        return Ok(command);
    };
    let path = |id: &str| given.try_get_one::<PathBuf>(id).ok().flatten().cloned();
    let (test_dir, named) = (path("test_dir"), path("config"));
    let profile = given.try_get_one::<String>("profile").ok().flatten().cloned();
    let subcommand = command.find_subcommand(task).expect("a task of the command").clone();
    let run = command.find_subcommand("run").expect("run is a task").clone();
    let takes = |key: &str| {
        if ["config", "profile", "help"].contains(&key) {
            return None;
        }
        let flag = |of: &clap::Command| of.get_arguments().find(|a| a.get_long() == Some(key)).cloned();
        let Some(arg) = flag(&subcommand) else {
            // A run option `list` has no use for is no error.
            return flag(&run).map(|_| Takes::NotHere);
        };
        Some(match arg.get_action() {
            clap::ArgAction::SetTrue | clap::ArgAction::SetFalse => Takes::Switch,
            clap::ArgAction::Append => Takes::Several,
            _ if arg.get_value_delimiter().is_some() => Takes::Several,
            _ => Takes::One,
        })
    };
    let search =
        Search { named: named.as_deref(), test_dir: test_dir.as_deref(), profile: profile.as_deref() };
    let config = Config::find(&search, &takes)?;
    let Some(file) = config.file.clone() else {
        return Ok(command);
    };
    let from = match &config.profile {
        Some(profile) => format!("{} (profile {profile})", file.display()),
        None => file.display().to_string(),
    };
    let given: Vec<String> =
        config.values.iter().map(|(key, values)| format!("{key} = {}", values.join(","))).collect();
    Ok(command.mut_subcommand(task, |mut sub| {
        for (key, values) in &config.values {
            let id =
                sub.get_arguments().find(|a| a.get_long() == Some(key.as_str())).map(|a| a.get_id().clone());
            if let Some(id) = id {
                // clap's defaults are 'static: the few values of a config live as long as the process.
                let values: Vec<&'static str> =
                    values.iter().map(|v| &*Box::leak(v.clone().into_boxed_str())).collect();
                sub = sub.mut_arg(id, |arg| arg.default_values(values));
            }
        }
        let after = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
        sub.after_help(format!("Defaults from {from}: {}\n\n{after}", given.join("; ")))
    }))
}

#[cfg(test)]
pub fn try_parse_from(args: &[&str]) -> Result<Task, clap::Error> {
    use clap::Parser as _;
    Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).map(|cli| cli.task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_report_flag_is_declared_on_the_command_line() {
        let run = command().find_subcommand("run").unwrap().clone();
        for report in &crate::report::FILE_REPORTS {
            assert!(
                run.get_arguments().any(|a| a.get_long() == Some(report.flag)),
                "--{} is not a flag of `run`",
                report.flag
            );
        }
    }

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
    fn run_takes_a_json_list_and_the_debug_flag() {
        match try_parse_from(&["run", r#"["test_baseline.py"]"#, "--debug"]).unwrap() {
            Task::Run { tests, options } => {
                assert_eq!(tests, vec![r#"["test_baseline.py"]"#.to_string()]);
                assert!(options.engine.debug);
                assert_eq!(options.engine.kind, EngineKind::Docker);
                assert_eq!(options.isolation.timeout, 300);
                assert_eq!(options.isolation.memory, MemoryLimit::Bytes(1 << 30));
                assert_eq!(options.isolation.network, "none");
                assert_eq!(options.output.success_output, SuccessOutput::Immediate);
                assert!(!options.output.quiet && !options.output.verbose);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn watch_takes_optional_tests_and_the_run_options() {
        let Task::Watch { tests, options, .. } = try_parse_from(&["watch"]).unwrap() else { panic!() };
        assert!(tests.is_empty());
        assert!(options.selection.skip.is_empty());
        let args =
            ["watch", "test_gc*", "test_a.py", "--skip", "test_gc_b.py", "-v", "--success-output", "final"];
        let Task::Watch { tests, options, .. } = try_parse_from(&args).unwrap() else { panic!() };
        assert_eq!(tests, ["test_gc*", "test_a.py"]);
        assert_eq!(options.selection.skip, ["test_gc_b.py"]);
        assert_eq!(options.output.success_output, SuccessOutput::Final);
        assert_eq!(options.output.showing(false).shown, crate::report::human::Shown::Both);
    }

    #[test]
    fn test_dir_has_an_underscore_alias() {
        for flag in ["--test-dir", "--test_dir"] {
            let Task::RunAllTests { options } = try_parse_from(&["run-all-tests", flag, "/tmp/x"]).unwrap()
            else {
                panic!()
            };
            assert_eq!(options.dir.test_dir, Some(PathBuf::from("/tmp/x")));
        }
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        for args in [
            &["run-all-tests", "--jobs", "0"][..],
            &["run-all-tests", "--timeout", "0"],
            &["run-all-tests", "--timeout", "-5"],
            &["run-all-tests", "--timeout", "18446744073709551615"],
            &["run-all-tests", "--memory", "lots"],
            &["run-all-tests", "--memory", "99999999999999g"],
            &["run-all-tests", "--python-malloc", "jemalloc"],
            &["run-all-tests", "--python", "2.x"],
            &["run-all-tests", "--base-image", "3.11=Bad:Image"],
            &["run-all-tests", "--engine", "lxc"],
            &["run-all-tests", "--partition", "0/2"],
            &["run-all-tests", "--partition", "3/2"],
            &["run-all-tests", "--partition", "x/y"],
            &["run-all-tests", "--success-output", "stderr"],
            &["run-all-tests", "--repeat", "0"],
            &["run-all-tests", "--retries", "-1"],
            &["run-all-tests", "--flaky-result", "maybe"],
            &["completions", "tcsh"],
            &["run"],
        ] {
            let error = try_parse_from(args).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn a_base_image_can_be_given_per_version() {
        let args = ["run-all-tests", "--python", "3.11,3.12", "--base-image", "3.12=my/py:3.12"];
        let Task::RunAllTests { options } = try_parse_from(&args).unwrap() else { panic!() };
        let base = &options.isolation.base;
        assert_eq!(base.for_version("3.12".parse().unwrap()), Some("my/py:3.12"));
        assert_eq!(base.for_version("3.11".parse().unwrap()), None);
        assert_eq!(base.describe(), "3.12=my/py:3.12");
    }

    #[test]
    fn the_output_cap_defaults_to_captures_own() {
        let Task::RunAllTests { options } = try_parse_from(&["run-all-tests"]).unwrap() else { panic!() };
        assert_eq!(options.output.max_output, crate::runner::capture::DEFAULT_SPILL_CAP);
        let Task::RunAllTests { options } = try_parse_from(&["run-all-tests", "--max-output", "0"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.output.max_output, 0);
        assert!(try_parse_from(&["run-all-tests", "--max-output", "2t"]).is_err());
    }

    #[test]
    fn matrices_are_comma_lists() {
        let args = ["run-all-tests", "--python-malloc", "pymalloc,malloc_debug", "--python", "3.9,3.13"];
        let Task::RunAllTests { options } = try_parse_from(&args).unwrap() else { panic!() };
        assert_eq!(options.matrix.python_malloc, vec![PythonMalloc::Pymalloc, PythonMalloc::MallocDebug]);
        assert_eq!(options.matrix.python.iter().map(|v| v.as_str()).collect::<Vec<_>>(), ["3.9", "3.13"]);
    }

    #[test]
    fn arguments_after_a_double_dash_go_to_every_module() {
        let Task::Run { tests, options } =
            try_parse_from(&["run", "test_gc.py", "--env", "A=1", "--", "-v", "-k", "name"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(tests, ["test_gc.py"]);
        assert_eq!(options.module_args, ["-v", "-k", "name"]);
        assert_eq!(options.isolation.env, [("A".to_string(), "1".to_string())]);
        let Task::RunAllTests { options } = try_parse_from(&["run-all-tests", "--", "-x"]).unwrap() else {
            panic!()
        };
        assert_eq!(options.module_args, ["-x"]);
    }

    #[test]
    fn hunt_leaks_defaults_to_regrtests_3_3() {
        let Task::RunAllTests { options } = try_parse_from(&["run-all-tests", "--hunt-leaks"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.harness.hunt_leaks, Some(HuntLeaks::DEFAULT));
        for bad in [
            &["run-all-tests", "--hunt-leaks", "x"][..],
            &["run-all-tests", "--env", "1A=b"],
            &["run-all-tests", "--network", ""],
        ] {
            assert!(try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn compare_takes_two_reports_and_gate_lists() {
        let args = ["compare", "a.json", "b.json", "--threshold", "rss=5%,20%", "--min-delta", "2MiB"];
        let Task::Compare { base, new, gate, format } = try_parse_from(&args).unwrap() else { panic!() };
        assert_eq!((base, new), (PathBuf::from("a.json"), PathBuf::from("b.json")));
        assert_eq!(format, CompareFormat::Text);
        assert_eq!(gate.threshold.len(), 2);
        assert_eq!(gate.min_delta.len(), 1);
        for bad in [
            &["compare", "a.json"][..],
            &["compare", "a.json", "b.json", "--threshold", "10"],
            &["compare", "a.json", "b.json", "--threshold", "flux=5%"],
            &["compare", "a.json", "b.json", "--min-delta", "3"],
            &["compare", "a.json", "b.json", "--format", "html"],
        ] {
            let error = try_parse_from(bad).expect_err(&format!("{bad:?} should be refused"));
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn run_takes_repeats_retries_and_a_baseline() {
        let args = [
            "run-all-tests",
            "--repeat",
            "3",
            "--retries",
            "1",
            "--flaky-result",
            "pass",
            "--baseline",
            "b.json",
        ];
        let Task::RunAllTests { options } = try_parse_from(&args).unwrap() else { panic!() };
        assert_eq!((options.execution.repeat, options.execution.retries), (3, 1));
        assert_eq!(options.execution.flaky_result, FlakyResult::Pass);
        assert_eq!(options.baseline.baseline, Some(PathBuf::from("b.json")));
        let Task::MergeReports { shards, force, allow_partial, reports } =
            try_parse_from(&["merge-reports", "a.json", "b.json", "--junit", "all.xml"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((shards.len(), force, reports.junit), (2, false, Some(PathBuf::from("all.xml"))));
        assert!(!allow_partial);
        let partial = try_parse_from(&["merge-reports", "a.json", "--allow-partial"]).unwrap();
        assert!(matches!(partial, Task::MergeReports { allow_partial: true, .. }));
        assert_eq!(try_parse_from(&["merge-reports"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn the_engine_comes_from_its_flag_or_the_environment() {
        let Task::Clean { engine, .. } = try_parse_from(&["clean", "--engine", "podman"]).unwrap() else {
            panic!()
        };
        assert_eq!(engine.kind, EngineKind::Podman);
        // Setting the variable here would race the other tests' parses: the
        // declaration is what clap reads it from (tests/runner_logic.rs runs it).
        for task in ["run", "run-all-tests", "watch", "clean", "build-image", "base-image", "bench"] {
            let task = command().find_subcommand(task).unwrap().clone();
            let flag = task.get_arguments().find(|a| a.get_long() == Some("engine")).unwrap();
            assert_eq!(
                flag.get_env().and_then(|e| e.to_str()),
                Some("PYMACCOUNTER_ENGINE"),
                "{}",
                task.get_name()
            );
        }
    }
}

/// A part of `bench`, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSection {
    Raw,
    Scaling,
    Edit,
    Memray,
    /// `--memray` against a raw `docker run … python3 -m memray run` of the same modules.
    MemrayRaw,
    Project,
    Costs,
    /// merge-reports, compare and the HTML page on 256 synthetic shards (no engine needed)
    Shards,
    /// the memory sampler's cost (modules with and without it)
    Series,
    /// per-test peaks on and off on one file of 10,000 trivial tests
    TestPeaks,
}
