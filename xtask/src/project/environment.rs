//! A project's Python environment for one Python version: resolved and
//! downloaded on the host (which reaches the index), installed inside a
//! `--network none` container of the test image (so that source archives,
//! the project's own among them, are built by the interpreter that will run
//! them), cached under a key of everything that decides it, and mounted
//! read-only into every module's container.
//!
//! The steps, all with uv:
//! 1. on the host, one `uv pip install --target --no-build` for the
//!    target's Python version and platform of the project (or its lock's
//!    pins), the groups, extras, requirements files, `--with` specs and the
//!    runner's tools (pytest, memray): one resolution (the project's own pins
//!    win) whose downloads run in parallel with it, into uv's cache under the
//!    runner's; beside it, the project's build backends the same way;
//! 2. in the container: `uv venv` (no system site-packages: a Debian copy
//!    can never shadow a pin), `uv pip install --offline` of exactly those
//!    pins from that cache, then the project editable from a temporary copy
//!    mounted at the project's own path, so that the installed paths point at
//!    the mounted source and the user's tree is never written.
//!
//! When the one pass cannot do it alone (a package with no wheel for the
//! target, whose source the container must build; a project whose
//! dependencies only its build tells), the longer way: `uv pip compile`,
//! `pip download` of the hashed pins and of the build backends into a
//! folder, and the container installs from that folder alone.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use xxhash_rust::xxh3::Xxh3;

use super::{Project, Wanted};
use crate::engine::container::Mount;
use crate::engine::{Engine, Fill};
use crate::error::{environment, usage};
use crate::model::event::{Notice, Notices};
use crate::scratch::TempDir;

/// Changes whenever what an environment holds or how it is laid out changes.
const FORMAT: &str = "pymaccounter-env-1";
/// Where environments appear inside containers.
pub const CONTAINER_ROOT: &str = crate::model::inner::ENVIRONMENTS_IN_CONTAINER;
/// Where the installer (uv's folder) appears inside the install container.
const TOOLS_IN_CONTAINER: &str = "/opt/pymaccounter-tools";
/// Where the build's `Gates` appear inside the install container.
const GATES_IN_CONTAINER: &str = "/opt/pymaccounter-gates";
/// Where uv's cache (`Tools::downloads`) appears inside the install container.
const DOWNLOADS_IN_CONTAINER: &str = "/opt/pymaccounter-downloads";
/// The project root's files that decide its environment (with the
/// `--requirements` files): part of the key, and what `watch` rebuilds it for.
pub const DEPENDENCY_FILES: [&str; 6] =
    ["pyproject.toml", "setup.cfg", "setup.py", "uv.lock", "pylock.toml", "uv.toml"];
/// Environments unused this long are pruned.
const KEEP_UNUSED: Duration = Duration::from_secs(30 * 24 * 3600);
/// Set in the index settings' part of the key and passed to both uv and pip.
const INDEX_VARIABLES: [&str; 6] = [
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
];

/// The interpreter and image one environment is for.
#[derive(Debug, Clone)]
pub struct Target {
    /// `X.Y`.
    pub version: String,
    /// As `--python` names it (`3.11`, `3.11-dbg`).
    pub name: String,
    /// The interpreter command in the image.
    pub interpreter: String,
    /// The test image the installer runs in.
    pub image: String,
    /// The base image's id: a rebuilt base gets a new environment.
    pub base_id: String,
}

/// An installed environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// On the host.
    pub dir: PathBuf,
    /// The same folder inside containers.
    pub in_container: String,
    /// Name and version of every installed distribution, sorted.
    pub packages: Vec<(String, String)>,
}

impl Installed {
    /// The environment's interpreter, inside a container.
    pub fn python(&self) -> String {
        format!("{}/venv/bin/python", self.in_container)
    }

    pub fn mount(&self) -> Mount {
        Mount::Bind { source: self.dir.clone(), target: self.in_container.clone() }
    }

    /// Variables that make the environment the one a module's subprocesses find too.
    pub fn variables(&self) -> Vec<(String, String)> {
        let bin = format!("{}/venv/bin", self.in_container);
        vec![
            ("VIRTUAL_ENV".into(), format!("{}/venv", self.in_container)),
            ("PATH".into(), format!("{bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")),
        ]
    }
}

/// The per-user cache: `--cache-dir`, else `$XDG_CACHE_HOME/pymaccounter`, else `~/.cache/pymaccounter`.
pub fn cache_dir(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        // Absolute: the installer runs in other folders.
        return std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = || std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"));
    xdg.or_else(home).unwrap_or_else(std::env::temp_dir).join("pymaccounter")
}

/// The environment for `target`, from the cache when nothing that decides
/// it changed (no installer call), else built.
///
/// `project` is `None` for a run without a project: then the environment
/// holds the runner's tools alone (pytest, and memray under `--memray`), in
/// a venv that sees the base's own packages behind them (`Kind::ToolsOnly`).
pub fn ensure(
    engine: &Engine,
    project: Option<&Project>,
    wanted: &Wanted,
    target: &Target,
    cache: &Path,
) -> Result<Installed> {
    let (installed, key) = location(project, wanted, target, cache)?;
    if let Some(packages) = read_ready(&installed.dir) {
        return Ok(Installed { packages, ..installed });
    }
    let dir = installed.dir.clone();
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _lock = crate::image::lock::host_lock(&format!("env-{id}"))?;
    if let Some(packages) = read_ready(&dir) {
        return Ok(Installed { packages, ..installed });
    }
    engine.notices().send(match project {
        Some(project) => Notice::BuildingEnvironment {
            project: project.root.display().to_string(),
            python: target.name.clone(),
        },
        None => Notice::GettingTools { tools: tool_names(wanted).join(", "), python: target.name.clone() },
    });
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let built = build(engine, project, wanted, target, cache, &installed);
    match built {
        Ok(packages) => {
            let listed: String = packages.iter().map(|(n, v)| format!("{n}=={v}\n")).collect();
            fs::write(dir.join("installed.txt"), listed)?;
            fs::write(dir.join("ready"), &key)?;
            Ok(Installed { packages, ..installed })
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&dir);
            Err(error)
        }
    }
}

/// The environment `ensure` would use, without building it: its folder
/// (named after the Python and the key) and where containers see it, and the key.
fn location(
    project: Option<&Project>,
    wanted: &Wanted,
    target: &Target,
    cache: &Path,
) -> Result<(Installed, String)> {
    let key = key(project, wanted, target)?;
    let id = match project {
        Some(_) => format!("{}-{key}", target.name),
        None => format!("{}{}{key}", target.name, crate::model::inner::TOOLS_ONLY_MARK),
    };
    let (dir, in_container) = (cache.join("envs").join(&id), format!("{CONTAINER_ROOT}/{id}"));
    Ok((Installed { dir, in_container, packages: vec![] }, key))
}

/// Whether the environment `ensure` would use is built already (nothing
/// asked of the engine or the installer: files read).
pub fn is_ready(project: Option<&Project>, wanted: &Wanted, target: &Target, cache: &Path) -> bool {
    location(project, wanted, target, cache).is_ok_and(|(installed, _)| installed.dir.join("ready").is_file())
}

/// The runner's tools an environment holds besides what a project declares.
fn tool_names(wanted: &Wanted) -> Vec<&'static str> {
    let mut tools = vec!["pytest"];
    if wanted.memray {
        tools.push("memray");
    }
    if wanted.pytest_memray {
        tools.push("pytest-memray");
    }
    tools
}

/// The packages of a finished environment (and marks it used, for pruning).
fn read_ready(dir: &Path) -> Option<Vec<(String, String)>> {
    let ready = dir.join("ready");
    if !ready.is_file() {
        return None;
    }
    let _ = fs::File::options().append(true).open(&ready).and_then(|f| f.set_modified(SystemTime::now()));
    let text = fs::read_to_string(dir.join("installed.txt")).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once("=="))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

/// Everything that decides an environment, hashed: the project's declared
/// dependencies and lock, the choices, the Python and its platform, the
/// base's id, the index settings. Not the project's source (it is mounted).
fn key(project: Option<&Project>, wanted: &Wanted, target: &Target) -> Result<String> {
    let mut hasher = Xxh3::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(FORMAT.as_bytes());
    match project {
        Some(project) => {
            part(project.root.as_os_str().as_encoded_bytes());
            for file in DEPENDENCY_FILES {
                part(file.as_bytes());
                part(&fs::read(project.root.join(file)).unwrap_or_default());
            }
        }
        None => part(b"tools-only"),
    }
    for file in &wanted.requirements {
        part(file.as_os_str().as_encoded_bytes());
        part(&fs::read(file).with_context(|| format!("cannot read {}", file.display()))?);
    }
    // What they include (a missing one is the installer's to report).
    for file in super::locks::requirement_files(&wanted.requirements) {
        part(file.as_os_str().as_encoded_bytes());
        part(&fs::read(&file).unwrap_or_default());
    }
    for list in [&wanted.groups, &wanted.extras, &wanted.with] {
        part(list.join("\n").as_bytes());
    }
    part(&[u8::from(wanted.memray)]);
    // Only when asked: environments made before this choice existed keep their key.
    if wanted.pytest_memray {
        part(b"pytest-memray");
    }
    for value in [&target.version, &target.name, &target.interpreter, &target.base_id, &platform()] {
        part(value.as_bytes());
    }
    for variable in INDEX_VARIABLES {
        part(std::env::var(variable).unwrap_or_default().as_bytes());
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// uv's name of the containers' platform (the engine's machine is taken to be this one).
fn platform() -> String {
    format!("{}-manylinux_2_28", std::env::consts::ARCH)
}

/// pip's platform tags for the same: every manylinux glibc up to 2.28.
fn pip_platforms() -> Vec<String> {
    let arch = std::env::consts::ARCH;
    let mut tags: Vec<String> = (5..=28).map(|minor| format!("manylinux_2_{minor}_{arch}")).collect();
    tags.extend(["manylinux2014", "manylinux2010", "manylinux1"].map(|t| format!("{t}_{arch}")));
    tags
}

fn build(
    engine: &Engine,
    project: Option<&Project>,
    wanted: &Wanted,
    target: &Target,
    cache: &Path,
    installed: &Installed,
) -> Result<Vec<(String, String)>> {
    let tools = Tools::ensure(cache, engine.notices())?;
    let work = TempDir::new_in(cache, "build-")?;
    // The project's copy; without a project an empty folder (uv's working one).
    let copy = work.path().join("project");
    match project {
        Some(project) => copy_project(&project.root, &copy)?,
        None => fs::create_dir(&copy)?,
    }
    let (inputs, locked) = inputs(&tools, project, wanted, &copy, work.path())?;
    // Whether the index answers at all, asked briefly before the passes'
    // generous retries and timeouts (which a machine offline would wait out).
    tools.probe(target, &copy, work.path())?;
    let backends = build_backends(project);
    let pinned = installed.dir.join("requirements.txt");
    if engine.is_remote()? {
        // The one pass leaves the files in uv's cache on this machine, which a
        // remote engine cannot mount: the longer way's folder goes there instead.
        return build_from_folder(
            engine,
            project,
            target,
            &tools,
            (&inputs, locked.as_deref()),
            &copy,
            installed,
        )
        .and_then(|packages| packages.context("the install from downloaded files asked for the network"));
    }
    // The project's build backends, resolved for the target into uv's cache
    // while the set is: the container's build finds them there.
    let backends_fetch = match backends.is_empty() {
        true => None,
        false => {
            let backends_in = work.path().join("backends.in");
            fs::write(&backends_in, backends.join("\n") + "\n")?;
            let backends_args = [OsString::from("-r"), backends_in.into_os_string()];
            Some(tools.fetch(&backends_args, target, &copy, &work.path().join("backends"))?)
        }
    };
    let set = tools.fetch(&inputs.for_install(), target, &copy, &work.path().join("site"))?;
    // The install container starts now, beside the host's passes: it makes
    // the venv, then waits at a gate for the backends (to install the project
    // editable) and at another for the pins (to install and compile them).
    let gates = Gates::new(work.path().join("gates"))?;
    let source = Source::Cache { gates: gates.dir.clone() };
    let from_cache = std::thread::scope(|scope| {
        let container = scope.spawn(|| install(engine, project, target, &tools, &copy, &source, installed));
        // Both passes waited for before either is judged: neither outlives the build.
        let backends_ok = match backends_fetch {
            Some(fetch) => {
                fetch.wait_with_output().context("cannot run uv").and_then(|f| judge_fetch(f, target))
            }
            None => Ok(true),
        };
        // A backend with no wheel for the target takes the longer way too.
        let opened = gates.open(Gate::Backends, matches!(backends_ok, Ok(true)));
        let set_ok = set.wait_with_output().context("cannot run uv").and_then(|f| judge_fetch(f, target));
        let fetched = (|| {
            opened?;
            let whole = backends_ok? & set_ok?;
            if whole {
                let name = project.and_then(|p| p.metadata.name.as_deref());
                fs::write(&pinned, pins_in(&work.path().join("site"), name)?)?;
            }
            gates.open(Gate::Pins, whole)?;
            Ok::<_, anyhow::Error>(whole)
        })();
        // On every way out: a gate not opened stops the container.
        gates.stop_rest();
        let installed_from_cache =
            container.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the installer's thread failed")));
        // The container's result counts only when the host's passes got the whole set.
        Ok::<_, anyhow::Error>(if fetched? { Some(installed_from_cache?) } else { None })
    })?;
    if let Some(Some(packages)) = from_cache {
        return Ok(packages);
    }
    // The container's uv found something missing from the cache (an index
    // only the project's own uv settings name, a backend chosen otherwise
    // for the real interpreter), or the host's passes did not get the whole
    // set (the container was stopped): the longer way, in a new venv.
    let venv = installed.dir.join("venv");
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("cannot remove {}", venv.display()))?;
    }
    // Something in the set has no wheel for the target, or the project's
    // dependencies are known only by building it: the longer way.
    let installed =
        build_from_folder(engine, project, target, &tools, (&inputs, locked.as_deref()), &copy, installed)?;
    installed.context("the install from downloaded files asked for the network")
}

/// The longer way: the pins compiled for the target, their files and the
/// build backends downloaded into a folder beside the copy, installed from it alone.
fn build_from_folder(
    engine: &Engine,
    project: Option<&Project>,
    target: &Target,
    tools: &Tools,
    (inputs, locked): (&Inputs, Option<&str>),
    copy: &Path,
    installed: &Installed,
) -> Result<Option<Vec<(String, String)>>> {
    let pinned = installed.dir.join("requirements.txt");
    compile(tools, inputs, locked, target, copy, &pinned)?;
    let dist = copy.with_file_name("dist");
    fs::create_dir(&dist)?;
    download_with_backends(tools, project, target, copy, &pinned, &dist, build_backends(project))?;
    install(engine, project, target, tools, copy, &Source::Folder(dist), installed)
}

/// What building the project takes (its backends, and what an editable
/// install of it needs); nothing without a project.
fn build_backends(project: Option<&Project>) -> Vec<String> {
    let Some(project) = project else { return Vec::new() };
    let mut backends = project.metadata.build_requires.clone();
    backends.extend(["wheel".to_string(), "editables".to_string()]);
    backends
}

/// Where the install container finds the files.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// uv's cache, filled on the host for the target (`--offline`), while
    /// the container waits at the `Gates` in this folder.
    Cache { gates: PathBuf },
    /// A folder of downloaded files (`--no-index --find-links`).
    Folder(PathBuf),
}

/// The steps of the install container that wait for the host's passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// The project's build backends are in uv's cache: install the project editable.
    Backends,
    /// The pins are written and their files in uv's cache: install them.
    Pins,
}

impl Gate {
    const ALL: [Gate; 2] = [Gate::Backends, Gate::Pins];

    /// Its file's name, as the install script names it.
    fn file(self) -> &'static str {
        match self {
            Gate::Backends => "backends",
            Gate::Pins => "pins",
        }
    }
}

/// A folder the install container reads (mounted read-only): one file per
/// gate, `go` or `stop`, written whole (renamed into place) by the host.
struct Gates {
    dir: PathBuf,
}

impl Gates {
    fn new(dir: PathBuf) -> Result<Gates> {
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Gates { dir })
    }

    /// Lets the container through `gate` (`go`), or stops it there.
    fn open(&self, gate: Gate, go: bool) -> Result<()> {
        let (path, partial) = (self.dir.join(gate.file()), self.dir.join(format!(".{}", gate.file())));
        fs::write(&partial, if go { "go" } else { "stop" })?;
        fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Stops the container at every gate not yet opened.
    fn stop_rest(&self) {
        for gate in Gate::ALL {
            if !self.dir.join(gate.file()).exists() {
                let _ = self.open(gate, false);
            }
        }
    }
}

/// `name==version` of every distribution uv installed into `site` (the
/// project itself left out: it is installed from its source).
fn pins_in(site: &Path, project: Option<&str>) -> Result<String> {
    let project = project.map(super::normalize);
    let mut pins = Vec::new();
    for entry in fs::read_dir(site).with_context(|| format!("cannot read {}", site.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some((name, version)) = name.strip_suffix(".dist-info").and_then(|n| n.rsplit_once('-')) else {
            continue;
        };
        if project.as_deref() != Some(super::normalize(name).as_str()) {
            pins.push(format!("{name}=={version}\n"));
        }
    }
    pins.sort();
    Ok(pins.concat())
}

/// The set's files by the longer way: pip downloads exactly the pins
/// (hashed) for the target's platform, then the build backends the project
/// and the source archives among them need.
fn download_with_backends(
    tools: &Tools,
    project: Option<&Project>,
    target: &Target,
    copy: &Path,
    pinned: &Path,
    dist: &Path,
    mut backends: Vec<String>,
) -> Result<()> {
    tools.download(pinned, &target.version, dist).map_err(|error| {
        let mismatch = format!("{error}").contains("DO NOT MATCH THE HASHES");
        let lock = project.and_then(|p| Some((p, p.metadata.lock_file()?))).filter(|_| mismatch);
        match lock {
            Some((project, lock)) => usage(format!(
                "the index serves files without the hashes {} records for them (a lock made for other \
                 files, or an index serving other ones):\n{error}",
                project.root.join(lock).display()
            )),
            None => error,
        }
    })?;
    for sdist in sdists(dist)? {
        backends.extend(super::build_requires_of(sdist_pyproject(&sdist).as_deref()));
    }
    backends.sort();
    backends.dedup();
    let work = dist.parent().unwrap_or(dist);
    let build_in = work.join("build.in");
    fs::write(&build_in, backends.join("\n") + "\n")?;
    let build_txt = work.join("build.txt");
    let build_inputs = Inputs { files: vec![build_in.into_os_string()], ..Inputs::default() };
    tools.compile(&build_inputs, target, copy, &build_txt, false)?;
    tools.download(&build_txt, &target.version, dist)
}

/// The installer's own environment under the cache (`pip install uv`): uv,
/// and pip for the one thing uv has no command for (downloading files).
struct Tools {
    uv: PathBuf,
    pip: PathBuf,
    /// uv's cache (`<cache>/uv`): filled on the host, read by the install container.
    downloads: PathBuf,
    /// `--index-url` both get when only the other's setting names one.
    index: Vec<String>,
    /// Where the installer's command lines go (shown under `--debug`).
    notices: Notices,
}

impl Tools {
    /// The installer, installed first when the cache has none: the index is
    /// asked briefly (`probe`) before `pip install uv` and its retries, so a
    /// machine that reaches no index learns it in a second or so. The venv
    /// stays when no index answered (pip in it asks next time, no new venv);
    /// another failure removes it, so the next run starts it afresh.
    fn ensure(cache: &Path, notices: &Notices) -> Result<Tools> {
        let venv = cache.join("tools");
        let (uv, pip) = (venv.join("bin/uv"), venv.join("bin/pip"));
        if !(uv.is_file() && pip.is_file()) {
            let _lock = crate::image::lock::host_lock(&tools_lock(cache))?;
            if !(uv.is_file() && pip.is_file()) {
                let fix = "install Python 3 with venv and pip on this machine (Debian: apt-get install \
                           python3-venv), or check that pip can reach its index";
                if !pip.is_file() {
                    let mut create = Command::new("python3");
                    create.arg("-m").arg("venv").arg(&venv);
                    check_ran(logged(notices, &mut create).output(), "python3 -m venv", fix)?;
                }
                probe(notices, pip_probe(&pip))?;
                notices.send(Notice::InstallingInstaller { folder: venv.display().to_string() });
                let mut install = Command::new(&pip);
                install.args(["install", "--quiet", "uv"]);
                let installed = logged(notices, &mut install).output();
                if let Some(output) = installed.as_ref().ok().filter(|o| !o.status.success()) {
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    if unreachable(&stderr) {
                        return Err(index_unreachable(&stderr));
                    }
                }
                if !installed.as_ref().is_ok_and(|o| o.status.success()) {
                    let _ = fs::remove_dir_all(&venv);
                }
                check_ran(installed, "pip install uv", fix)?;
            }
        }
        let index = index_url().into_iter().collect();
        Ok(Tools { uv, pip, downloads: cache.join("uv"), index, notices: notices.clone() })
    }

    /// Asks the index once, briefly, whether it answers, the way the passes
    /// that follow will ask it (uv in the project's copy, its settings and
    /// the runner's index): one request for pytest (in every environment),
    /// revalidated rather than read from uv's cache, no retries, a short
    /// connect timeout. Only a connection that fails is `IndexUnreachable`;
    /// an index that answers slowly is left to the passes' own timeouts.
    fn probe(&self, target: &Target, dir: &Path, work: &Path) -> Result<()> {
        let wanted = work.join("probe.in");
        fs::write(&wanted, "pytest\n")?;
        let mut command = self.uv_for(
            &["pip", "compile", "--quiet", "--no-deps", "--no-header", "--refresh-package", "pytest"],
            target,
            dir,
        );
        command.arg(&wanted).env("UV_HTTP_RETRIES", "0");
        command.env("UV_HTTP_CONNECT_TIMEOUT", PROBE_CONNECT.as_secs().to_string());
        command.env("UV_HTTP_TIMEOUT", PROBE_READ.as_secs().to_string());
        probe(&self.notices, command)
    }

    /// `command` as the debug output shows it, sent before it runs.
    fn log<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        logged(&self.notices, command)
    }

    /// uv, with uv's cache under the runner's, for the target's Python and
    /// platform, in `dir` (the project's copy: its `uv.toml` counts).
    fn uv_for(&self, subcommand: &[&str], target: &Target, dir: &Path) -> Command {
        let mut command = Command::new(&self.uv);
        command.current_dir(dir).args(subcommand).env("UV_CACHE_DIR", &self.downloads);
        command.args(["--python-version", &target.version, "--python-platform", &platform()]);
        if let Some(url) = self.index.first().filter(|_| std::env::var_os("UV_INDEX_URL").is_none()) {
            command.args(["--index-url", url]);
        }
        command
    }

    /// `uv pip compile INPUTS` for the target, into `output`.
    fn compile(
        &self,
        inputs: &Inputs,
        target: &Target,
        dir: &Path,
        output: &Path,
        hashes: bool,
    ) -> Result<()> {
        let mut command =
            self.uv_for(&["pip", "compile", "--quiet", "--no-header", "--no-annotate"], target, dir);
        command.arg("--output-file").arg(output).args(inputs.for_compile());
        if hashes {
            command.arg("--generate-hashes");
        }
        let result = self.log(&mut command).output().context("cannot run uv")?;
        judge_resolution(result, target)
    }

    /// Started: uv resolves `args` for the target and downloads the files
    /// into its cache, in one pass and in parallel, as `uv pip install`
    /// does; what it installs into `site` (links into the cache, for the
    /// target's platform, never run) tells what was chosen. Nothing is
    /// built on this machine (`--no-build`: a source archive is built by the
    /// interpreter that runs it, in the container).
    fn fetch(
        &self,
        args: &[OsString],
        target: &Target,
        dir: &Path,
        site: &Path,
    ) -> Result<std::process::Child> {
        let mut command = self.uv_for(&["pip", "install", "--quiet", "--link-mode", "symlink"], target, dir);
        command.arg("--target").arg(site).arg("--no-build").args(args);
        command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        command.stderr(std::process::Stdio::piped());
        self.log(&mut command).spawn().context("cannot run uv")
    }

    /// `pip download --no-deps` of pinned requirements for the target's
    /// platform. pip fetches one file after another; the pins are split
    /// over a few pip processes at once (each pin with its hashes), which
    /// took a 29-pin download from 5.3 s to about 2 s.
    fn download(&self, pinned: &Path, version: &str, dest: &Path) -> Result<()> {
        let text = fs::read_to_string(pinned).with_context(|| format!("cannot read {}", pinned.display()))?;
        let chunks = split_requirements(&text, DOWNLOADS_AT_ONCE);
        let mut children = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let part = pinned.with_extension(format!("part{index}.txt"));
            fs::write(&part, chunk)?;
            let mut command = self.download_command(&part, version, dest);
            let child = self.log(&mut command).spawn().context("cannot run pip")?;
            children.push((part, child));
        }
        let mut failure = None;
        for (part, child) in children {
            let result = child.wait_with_output().context("cannot run pip");
            let _ = fs::remove_file(&part);
            let result = result?;
            if !result.status.success() && failure.is_none() {
                failure = Some(String::from_utf8_lossy(&result.stderr).into_owned());
            }
        }
        let Some(stderr) = failure else {
            return Ok(());
        };
        if unreachable(&stderr) {
            return Err(index_unreachable(&stderr));
        }
        Err(usage(format!("downloading the pinned packages failed:\n{}", tail(&stderr, 15))))
    }

    fn download_command(&self, pinned: &Path, version: &str, dest: &Path) -> Command {
        let abi = format!("cp{}", version.replace('.', ""));
        let mut command = Command::new(&self.pip);
        command.args([
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ]);
        command.args(["--python-version", version, "--implementation", "cp", "--abi", &abi]);
        for tag in pip_platforms() {
            command.args(["--platform", &tag]);
        }
        command.arg("--dest").arg(dest).arg("--requirement").arg(pinned);
        if let Ok(url) = std::env::var("UV_INDEX_URL").or_else(|_| std::env::var("UV_DEFAULT_INDEX")) {
            if std::env::var_os("PIP_INDEX_URL").is_none() {
                command.args(["--index-url", &url]);
            }
        }
        command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        command
    }
}

/// pip processes downloading at the same time.
const DOWNLOADS_AT_ONCE: usize = 4;

/// A requirements file as at most `parts` files: each requirement whole
/// (its `\`-continued hash lines with it), option lines (`--…`) in every part.
fn split_requirements(text: &str, parts: usize) -> Vec<String> {
    let (mut options, mut entries): (String, Vec<String>) = (String::new(), Vec::new());
    let mut continuing = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if continuing {
            entries.last_mut().expect("a continued line follows its entry").push_str(&format!("{line}\n"));
        } else if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        } else if trimmed.starts_with('-') {
            options.push_str(&format!("{line}\n"));
        } else {
            entries.push(format!("{line}\n"));
        }
        continuing = trimmed.ends_with('\\');
    }
    let parts = parts.clamp(1, entries.len().max(1));
    let mut chunks = vec![options; parts];
    for (index, entry) in entries.into_iter().enumerate() {
        chunks[index % parts].push_str(&entry);
    }
    chunks
}

/// The lock held while a cache's installer is installed (or removed): one per cache.
fn tools_lock(cache: &Path) -> String {
    format!("env-tools-{:016x}", xxhash_rust::xxh3::xxh3_64(cache.as_os_str().as_encoded_bytes()))
}

/// The index URL set for one installer only (pip's config, or uv's
/// variables), so the other asks the same index.
fn index_url() -> Option<String> {
    for variable in ["UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"] {
        if let Ok(url) = std::env::var(variable) {
            if !url.is_empty() {
                return Some(url);
            }
        }
    }
    index_url_in(&pip_config_files())
}

/// The files `pip config get` reads, in pip's order (a later one wins):
/// the machine's, the user's (unless `PIP_CONFIG_FILE` names one that
/// exists), the site's (`python3`'s prefix), `PIP_CONFIG_FILE`'s; none when
/// that is `/dev/null`. Read here rather than asked of pip, whose start
/// took 0.4 to 4 s of every cold build.
fn pip_config_files() -> Vec<PathBuf> {
    let named = std::env::var_os("PIP_CONFIG_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
    if named.as_deref() == Some(Path::new("/dev/null")) {
        return Vec::new();
    }
    let variable = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = variable("HOME");
    let mut files: Vec<PathBuf> = std::env::var("XDG_CONFIG_DIRS")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/etc/xdg".into())
        .split(':')
        .map(|dir| Path::new(dir).join("pip/pip.conf"))
        .collect();
    files.push("/etc/pip.conf".into());
    if !named.as_ref().is_some_and(|file| file.exists()) {
        files.extend(home.as_ref().map(|h| h.join(".pip/pip.conf")));
        let config = variable("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        files.extend(config.map(|c| c.join("pip/pip.conf")));
    }
    if let Some(prefix) = which::which("python3").ok().and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
    {
        files.push(prefix.join("pip.conf"));
    }
    files.extend(named);
    files
}

/// `index-url` of the `[global]` section of the last of `files` that sets it.
fn index_url_in(files: &[PathBuf]) -> Option<String> {
    files
        .iter()
        .rev()
        .filter_map(|file| fs::read_to_string(file).ok())
        .find_map(|text| ini_value(&text, "global", "index-url"))
        .filter(|url| !url.is_empty())
}

/// One value of an INI file as Python's configparser reads pip's: `key =
/// value` or `key: value`, names with `_` and `-` alike and in any case,
/// `#` and `;` comment lines, indented lines continuing a value; the last
/// one set wins.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let (mut in_section, mut found, mut current) = (false, None::<String>, false);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if current && !trimmed.is_empty() && line.starts_with([' ', '\t']) {
            if let Some(value) = found.as_mut() {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        current = false;
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            in_section = name.trim() == section;
        } else if let Some(at) = trimmed.find(['=', ':']).filter(|_| in_section) {
            let name = trimmed[..at].trim().to_lowercase().replace('_', "-");
            if name == key {
                found = Some(trimmed[at + 1..].trim().to_string());
                current = true;
            }
        }
    }
    found.map(|value| value.trim().to_string())
}

fn check_ran(result: std::io::Result<Output>, what: &str, fix: &str) -> Result<()> {
    match result {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(environment(format!(
            "`{what}` failed ({fix}):\n{}",
            tail(&String::from_utf8_lossy(&output.stderr), 10)
        ))),
        Err(error) => Err(environment(format!("cannot run `{what}`: {error} ({fix})"))),
    }
}

/// What uv's resolution said: an index it cannot reach is exit 3, anything
/// else it refused (no such package, no version for this Python, an unknown
/// group) is the user's input, exit 2.
fn judge_resolution(result: Output, target: &Target) -> Result<()> {
    if result.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&result.stderr);
    if unreachable(&stderr) {
        return Err(index_unreachable(&stderr));
    }
    Err(usage(format!(
        "the project's dependencies cannot be resolved for Python {} ({}):\n{}",
        target.name,
        platform(),
        tail(&stderr, 20)
    )))
}

/// Whether the one-pass fetch got the whole set: an index it cannot reach
/// is exit 3; anything else it refused (a package with no wheel for the
/// target, a project whose dependencies only a build tells) is left to the
/// longer way, whose resolution says what is wrong in the user's terms.
fn judge_fetch(result: Output, target: &Target) -> Result<bool> {
    let stderr = String::from_utf8_lossy(&result.stderr);
    if !result.status.success() && unreachable(&stderr) {
        return judge_resolution(result, target).map(|()| false);
    }
    Ok(result.status.success())
}

fn unreachable(stderr: &str) -> bool {
    [
        "error sending request",
        "dns error",
        "Connection refused",
        "connection error",
        "NewConnectionError",
        "Failed to establish",
        "Network is unreachable",
        "timed out",
        "Max retries exceeded",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

/// The probe's connect timeout: a TCP connection to an index anywhere takes
/// well under a second, and two lost SYNs are resent within it.
const PROBE_CONNECT: Duration = Duration::from_secs(5);
/// uv's read timeout in the probe: a probe that fails this late got past
/// connecting (uv says "timed out" for both), so the index answered, slowly.
const PROBE_READ: Duration = Duration::from_secs(60);

/// pip's probe, before uv is installed: `pip index versions uv` (one page),
/// no retries, a short timeout, verbose enough to say why a fetch failed.
fn pip_probe(pip: &Path) -> Command {
    let mut command = Command::new(pip);
    command.args(["index", "versions", "uv", "-vv", "--disable-pip-version-check", "--retries", "0"]);
    command.args(["--timeout", &PROBE_CONNECT.as_secs().to_string()]);
    command
}

/// Runs a probe: `IndexUnreachable` when its connection failed (refused,
/// no route, no name, no answer to connect); anything else (an answer, a
/// slow one, an installer that cannot ask) is left to the passes that follow.
fn probe(notices: &Notices, mut command: Command) -> Result<()> {
    command.stdin(std::process::Stdio::null());
    let started = std::time::Instant::now();
    let Ok(output) = logged(notices, &mut command).output() else {
        return Ok(());
    };
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    if !probe_unreachable(&text, started.elapsed()) {
        return Ok(());
    }
    // pip's verbose output: only its lines that say why; uv's, whole.
    let why: Vec<&str> = match text.contains("Could not fetch URL") {
        true => text.lines().filter(|line| unreachable(line)).collect(),
        false => text.lines().collect(),
    };
    Err(index_unreachable(&why.join("\n")))
}

/// Whether a failed probe's output says no connection was made: pip names
/// its read timeout; uv says "timed out" for both, but a connect timeout
/// fires long before `PROBE_READ`.
fn probe_unreachable(text: &str, took: Duration) -> bool {
    unreachable(text) && !text.contains("Read timed out") && took < PROBE_READ
}

/// `command`, its line sent to `notices` first (shown under `--debug`),
/// without the credentials of an index URL in it.
fn logged<'a>(notices: &Notices, command: &'a mut Command) -> &'a mut Command {
    notices.send(Notice::Command(without_credentials(&format!("{command:?}"))));
    command
}

/// `line` with the user and password of every URL in it (`://user:pass@host`) as `***`.
fn without_credentials(line: &str) -> String {
    let mut shown = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        shown.push_str(head);
        let authority = tail.find(['/', ' ', '"', '\'']).unwrap_or(tail.len());
        match tail[..authority].rfind('@') {
            Some(user_end) => {
                shown.push_str("***");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    shown.push_str(rest);
    shown
}

/// No package index answered (exit 3): a run without a project may then
/// fall back on the base image's own tools (`tasks/project.rs`).
#[derive(Debug, Clone)]
pub struct IndexUnreachable(pub String);

impl std::fmt::Display for IndexUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IndexUnreachable {}

fn index_unreachable(stderr: &str) -> anyhow::Error {
    IndexUnreachable(format!(
        "the package index cannot be reached from this machine: set UV_INDEX_URL and PIP_INDEX_URL to a \
         reachable mirror (or its pip.conf / uv.toml), or run once where it can be reached (environments \
         are cached):\n{}",
        tail(stderr, 8)
    ))
    .into()
}

/// The last `lines` lines of a message, without blank ones.
fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// What uv resolves for an environment: files (requirements, a lock's
/// pins, the project's own declaration) and the extras and groups of it.
#[derive(Debug, Default)]
struct Inputs {
    files: Vec<OsString>,
    extras: Vec<String>,
    groups: Vec<String>,
}

impl Inputs {
    /// As `uv pip compile` takes them (files are positional).
    fn for_compile(&self) -> Vec<OsString> {
        let mut args = self.files.clone();
        args.extend(self.flags());
        args
    }

    /// As `uv pip install` takes them (`-r FILE`).
    fn for_install(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.files.iter().flat_map(|f| ["-r".into(), f.clone()]).collect();
        args.extend(self.flags());
        args
    }

    fn flags(&self) -> Vec<OsString> {
        let extras = self.extras.iter().flat_map(|e| ["--extra".into(), e.into()]);
        let groups =
            self.groups.iter().flat_map(|g| ["--group".into(), format!("pyproject.toml:{g}").into()]);
        extras.chain(groups).collect()
    }
}

/// Resolves `inputs` into `pinned` (hashed), with the hashes a lock
/// records (`locked`, as requirements) in place of the index's.
fn compile(
    tools: &Tools,
    inputs: &Inputs,
    locked: Option<&str>,
    target: &Target,
    copy: &Path,
    pinned: &Path,
) -> Result<()> {
    tools.compile(inputs, target, copy, pinned, true)?;
    if let Some(locked) = locked {
        // uv writes the index's hashes; pip must get exactly the files the lock names.
        let compiled = fs::read_to_string(pinned)?;
        fs::write(pinned, super::locks::keep_locked_hashes(&compiled, locked))?;
    }
    Ok(())
}

/// What decides the environment, as uv's inputs, and what a lock pins (as
/// requirements, whose hashes are kept through a resolution).
fn inputs(
    tools: &Tools,
    project: Option<&Project>,
    wanted: &Wanted,
    copy: &Path,
    work: &Path,
) -> Result<(Inputs, Option<String>)> {
    let mut inputs = Inputs::default();
    // What a lock pins, as requirements: its hashes are kept through the resolution.
    let mut locked_text: Option<String> = None;
    let Some(project) = project else {
        // The runner's tools alone: the newest releases for the target.
        let tools_file = work.join("tools.in");
        fs::write(&tools_file, tool_names(wanted).join("\n") + "\n")?;
        inputs.files.push(tools_file.into());
        return Ok((inputs, None));
    };
    if project.metadata.uv_lock {
        // The lock decides: exported for exactly what was asked, then compiled
        // for this Python (which keeps its pins and evaluates its markers).
        let locked = work.join("locked.txt");
        let mut export = Command::new(&tools.uv);
        export.current_dir(copy).args(["export", "--quiet", "--frozen", "--no-emit-project", "--no-header"]);
        export
            .args(["--format", "requirements-txt", "--no-default-groups"])
            .arg("--output-file")
            .arg(&locked);
        for group in &wanted.groups {
            export.args(["--group", group]);
        }
        for extra in &wanted.extras {
            export.args(["--extra", extra]);
        }
        let result = tools.log(&mut export).output().context("cannot run uv")?;
        if !result.status.success() {
            return Err(usage(format!(
                "uv.lock of {} cannot be read:\n{}",
                project.root.display(),
                tail(&String::from_utf8_lossy(&result.stderr), 10)
            )));
        }
        locked_text = fs::read_to_string(&locked).ok();
        inputs.files.push(locked.into());
    } else {
        if project.metadata.pylock {
            // The lock's pins are requirements of the resolution (`==`: they win),
            // beside the project and what was asked of it.
            let shown = project.root.join("pylock.toml").display().to_string();
            let text = fs::read_to_string(copy.join("pylock.toml"))
                .map_err(|e| usage(format!("{shown}: cannot be read: {e}")))?;
            let lines = super::locks::pylock_requirements(&text, &shown, project.metadata.name.as_deref())?;
            let locked = work.join("locked.txt");
            fs::write(&locked, &lines)?;
            inputs.files.push(locked.into());
            locked_text = Some(lines);
        }
        let source =
            super::PROJECT_FILES.iter().find(|f| copy.join(f).is_file()).copied().unwrap_or("pyproject.toml");
        inputs.files.push(source.into());
        inputs.extras.clone_from(&wanted.extras);
        inputs.groups.clone_from(&wanted.groups);
    }
    for file in &wanted.requirements {
        inputs.files.push(file.into());
    }
    // The runner's tools, in the same resolution: a pin of the project wins.
    let mut tools_in: Vec<String> = tool_names(wanted).into_iter().map(String::from).collect();
    tools_in.extend(wanted.with.iter().cloned());
    let tools_file = work.join("tools.in");
    fs::write(&tools_file, tools_in.join("\n") + "\n")?;
    inputs.files.push(tools_file.into());
    Ok((inputs, locked_text))
}

/// Source archives among the downloads.
fn sdists(dist: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dist)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".tar.gz") || name.ends_with(".zip") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The top-level `pyproject.toml` of an sdist (`tar` reads it; a zip is left to PEP 517's default).
fn sdist_pyproject(sdist: &Path) -> Option<String> {
    if !sdist.to_string_lossy().ends_with(".tar.gz") {
        return None;
    }
    let output = Command::new("tar")
        .args(["-xzOf"])
        .arg(sdist)
        .args(["--wildcards", "--no-wildcards-match-slash", "*/pyproject.toml"])
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Copies the project for building, without what never belongs to a build
/// (version control, virtual environments, caches, earlier build output).
pub fn copy_project(from: &Path, to: &Path) -> Result<()> {
    const LEFT_OUT: [&str; 12] = [
        ".git",
        ".hg",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "target",
        "node_modules",
        "__pycache__",
        "build",
        ".pytest_cache",
        ".mypy_cache",
    ];
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if LEFT_OUT.contains(&name_str.as_ref()) || name_str.ends_with(".egg-info") {
            continue;
        }
        let (source, dest) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &dest)?;
        } else if kind.is_dir() {
            copy_project(&source, &dest)?;
        } else if kind.is_file() {
            fs::copy(&source, &dest)?;
        }
    }
    Ok(())
}

/// The container's part: a venv of the target interpreter, the pinned
/// packages from `source` alone, the project editable; what got installed,
/// or `None` when uv's cache lacked something the install asked for.
fn install(
    engine: &Engine,
    project: Option<&Project>,
    target: &Target,
    tools: &Tools,
    copy: &Path,
    source: &Source,
    installed: &Installed,
) -> Result<Option<Vec<(String, String)>>> {
    // Empty without a project: nothing editable to install.
    let root = project.map(|p| p.root.to_string_lossy().into_owned()).unwrap_or_default();
    let uv_dir = tools.uv.parent().unwrap_or(Path::new("/")).to_path_buf();
    fs::create_dir_all(&tools.downloads)
        .with_context(|| format!("cannot create {}", tools.downloads.display()))?;
    let remote = engine.is_remote()?;
    let mut mounts = match remote {
        false => vec![
            Mount::Bind { source: uv_dir, target: TOOLS_IN_CONTAINER.into() },
            // Written: uv keeps what it builds there (source archives' wheels, build environments).
            Mount::Output { source: tools.downloads.clone(), target: DOWNLOADS_IN_CONTAINER.into() },
        ],
        // The installer alone (its folder holds this machine's Python too);
        // uv's cache stays here: the files come from the downloaded folder.
        true => {
            vec![Mount::Bind { source: installer_alone(&tools.uv, copy)?, target: TOOLS_IN_CONTAINER.into() }]
        }
    };
    mounts.push(Mount::Output { source: installed.dir.clone(), target: installed.in_container.clone() });
    if project.is_some() {
        mounts.push(Mount::Output { source: copy.to_path_buf(), target: root.clone() });
    }
    let uv_cache = match remote {
        false => DOWNLOADS_IN_CONTAINER,
        true => "/tmp/uv-cache",
    };
    // From the cache, exactly the files chosen on the host: the same index
    // (the cache is per index) and the same platform; or from the folder alone.
    let platform = platform();
    let from: [String; 3] = match source {
        Source::Cache { gates } => {
            mounts.push(Mount::Bind { source: gates.clone(), target: GATES_IN_CONTAINER.into() });
            ["--offline".into(), "--python-platform".into(), platform]
        }
        Source::Folder(dist) => {
            let dist_in = dist.to_string_lossy().into_owned();
            mounts.push(Mount::Bind { source: dist.clone(), target: dist_in.clone() });
            ["--no-index".into(), "--find-links".into(), dist_in]
        }
    };
    let env_dir = &installed.in_container;
    let mut variables: Vec<(String, String)> = [
        ("HOME", "/tmp"),
        ("UV_CACHE_DIR", uv_cache),
        ("UV_NO_CONFIG", "1"),
        ("UV_PYTHON_DOWNLOADS", "never"),
        ("ENV_DIR", env_dir),
        ("GATES", if matches!(source, Source::Cache { .. }) { GATES_IN_CONTAINER } else { "" }),
        ("PROJECT", &root),
        ("PY", &target.interpreter),
        // Without a project the modules keep what the base gives them (a
        // --base-image's own packages), behind the tools (the venv's
        // site-packages come first on sys.path: a Debian copy never wins).
        ("SYSTEM_SITE", if project.is_none() { "1" } else { "" }),
        ("FROM1", &from[0]),
        ("FROM2", &from[1]),
        ("FROM3", &from[2]),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    for variable in INDEX_VARIABLES.iter().filter(|v| v.starts_with("UV_")) {
        if let Ok(value) = std::env::var(variable) {
            variables.push((variable.to_string(), value));
        }
    }
    if let Some(url) = tools.index.first().filter(|_| std::env::var_os("UV_INDEX_URL").is_none()) {
        variables.push(("UV_INDEX_URL".into(), url.clone()));
    }
    if let Some((project, name)) = project.and_then(|p| Some((p, p.metadata.name.as_ref()?))) {
        if !project.root.join("PKG-INFO").is_file() {
            // A checkout's version comes from version control, which the copy leaves out.
            let variable = name.to_uppercase().replace(['-', '.'], "_");
            variables.push((
                format!("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{variable}"),
                "0.0.0+pymaccounter".into(),
            ));
        }
    }
    // The steps in the order their inputs arrive from the host: the venv at
    // once, the project (editable) when its backends are in the cache, the
    // pins (bytecode compiled: the modules mount the environment read-only)
    // when the host's pass chose and fetched them (from a folder: no
    // gates, everything is there). A gate waits at most
    // about as long as the engine call may take.
    let script = r#"set -e
uv=/opt/pymaccounter-tools/uv
gate() {
  [ -n "$GATES" ] || return 0
  waited=0
  while [ ! -e "$GATES/$1" ]; do
    waited=$((waited + 1))
    [ "$waited" -lt 36000 ] || { echo "@@stopped" >&2; exit 1; }
    sleep 0.05
  done
  [ "$(cat "$GATES/$1")" = go ] || { echo "@@stopped" >&2; exit 1; }
}
"$uv" venv --quiet ${SYSTEM_SITE:+--system-site-packages} --python "$PY" "$ENV_DIR/venv"
py="$ENV_DIR/venv/bin/python"
gate backends
if [ -n "$PROJECT" ]; then
  echo "@@project" >&2
  "$uv" pip install --quiet --python "$py" "$FROM1" "$FROM2" "$FROM3" --no-deps -e "$PROJECT"
fi
gate pins
echo "@@pins" >&2
"$uv" pip install --quiet --python "$py" "$FROM1" "$FROM2" "$FROM3" --no-deps --compile-bytecode -r "$ENV_DIR/requirements.txt"
# The pins hold the project itself when the host could not tell its name
# (metadata only a build gives): they then replaced the editable install.
if [ -n "$PROJECT" ] && ! grep -qsF "$PROJECT" "$ENV_DIR"/venv/lib/python*/site-packages/*.pth; then
  "$uv" pip install --quiet --python "$py" "$FROM1" "$FROM2" "$FROM3" --no-deps -e "$PROJECT"
fi
"$uv" pip list --quiet --python "$py" --format json > "$ENV_DIR/installed.json"
"#;
    let command: Vec<String> = ["/bin/sh", "-c", script].map(str::to_string).to_vec();
    let output = match remote {
        false => {
            let owner = fs::metadata(&installed.dir)?;
            let user = format!("{}:{}", owner.uid(), owner.gid());
            engine.run_tool(&target.image, &user, &mounts, &variables, &command)?
        }
        true => run_in_volumes(engine, target, &mounts, &variables, &command)?,
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if matches!(source, Source::Cache { .. }) && stderr.contains("Network connectivity is disabled") {
            return Ok(None);
        }
        return Err(install_failure(&stderr, project, target));
    }
    let built = match project {
        Some(project) => compiled_in_copy(copy, &project.root, Path::new(""))?,
        None => Vec::new(),
    };
    if let Some(project) = project.filter(|_| !built.is_empty()) {
        let shown: Vec<String> = built.iter().take(3).map(|p| p.display().to_string()).collect();
        return Err(usage(format!(
            "the project {} builds compiled modules ({}{}): its editable install points at the source folder \
             that every module's container mounts, and the build ran in a copy (your tree is never written), \
             so they would not be found. Not supported yet: build them in place for Python {} yourself \
             (e.g. `python{} setup.py build_ext --inplace`), so that the mounted source holds them",
            project.root.display(),
            shown.join(", "),
            if built.len() > 3 { ", …" } else { "" },
            target.name,
            target.version,
        )));
    }
    let listed = fs::read_to_string(installed.dir.join("installed.json"))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed).context("uv pip list's output")?;
    let mut packages: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| Some((r.get("name")?.as_str()?.to_string(), r.get("version")?.as_str()?.to_string())))
        .collect();
    packages.sort();
    Ok(Some(packages))
}

/// A folder beside the copy holding the installer's binary alone (linked, else copied).
fn installer_alone(uv: &Path, copy: &Path) -> Result<PathBuf> {
    let folder = copy.with_file_name("installer");
    fs::create_dir_all(&folder)?;
    let alone = folder.join("uv");
    if !alone.exists() && fs::hard_link(uv, &alone).is_err() {
        fs::copy(uv, &alone).with_context(|| format!("cannot copy {}", uv.display()))?;
    }
    Ok(folder)
}

/// The install container on an engine that cannot see this machine's
/// folders: each folder it would mount is copied into a volume of the run
/// (so `clean --run` finds one left behind); those it writes (the
/// environment, the project's copy) are copied back here once it ended, so
/// the environment is cached on this machine as with a local engine; the
/// volumes go whatever happened. It runs as root there: a volume's top
/// folder is root's, and with every capability dropped root writes only
/// what it owns, so the copies it writes into are made root's.
fn run_in_volumes(
    engine: &Engine,
    target: &Target,
    mounts: &[Mount],
    variables: &[(String, String)],
    command: &[String],
) -> Result<Output> {
    let run = engine.run_id().unwrap_or_else(crate::engine::owner::new_run_id);
    let labels = engine.volume_labels();
    let mut volumes: Vec<(String, Option<&Path>)> = Vec::new();
    let mut in_volumes = Vec::new();
    let mut result = Ok(());
    for (index, mount) in mounts.iter().enumerate() {
        let name = crate::engine::owner::run_volume(&run, &format!("install-{}-{index}", target.name));
        let filled = match mount {
            Mount::Bind { source, target: at } => engine
                .volume_filled(&name, Fill::Whole(source), &target.image, &labels)
                .map(|()| (None, Mount::Volume { name: name.clone(), target: at.clone() })),
            Mount::Output { source, target: at } => {
                engine.volume_filled(&name, Fill::WholeAsRoot(source), &target.image, &labels).map(|()| {
                    (Some(source.as_path()), Mount::VolumeOutput { name: name.clone(), target: at.clone() })
                })
            }
            Mount::Volume { .. } | Mount::VolumeOutput { .. } => Ok((None, mount.clone())),
        };
        match filled {
            Ok((back, mount)) => {
                volumes.push((name, back));
                in_volumes.push(mount);
            }
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    let output = result.and_then(|()| engine.run_tool(&target.image, "0:0", &in_volumes, variables, command));
    let copied_back = match &output {
        Ok(_) => volumes
            .iter()
            .filter_map(|(name, back)| Some((name, (*back)?)))
            .try_for_each(|(name, back)| engine.copy_out_of_volume(name, back, &target.image, &labels)),
        Err(_) => Ok(()),
    };
    let names: Vec<String> = volumes.into_iter().map(|(name, _)| name).collect();
    let removed = engine.remove_volumes(&names);
    let output = output?;
    copied_back?;
    removed?;
    Ok(output)
}

/// Compiled extension modules (`*.so`) the project's build left in its copy
/// that the project's own tree does not hold at the same place (relative paths).
fn compiled_in_copy(copy: &Path, root: &Path, below: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(copy.join(below))? {
        let entry = entry?;
        let relative = below.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            found.extend(compiled_in_copy(copy, root, &relative)?);
        } else if kind.is_file()
            && relative.extension().is_some_and(|e| e == "so")
            && !root.join(&relative).exists()
        {
            found.push(relative);
        }
    }
    found.sort();
    Ok(found)
}

/// Why the install in the container failed, in the user's terms: a package
/// without a wheel for this Python whose source needs a compiler the test
/// image lacks (named), the project's own code needing one, a package or the
/// project that does not build (the backend's words, trimmed), or the
/// installer's own words.
fn install_failure(stderr: &str, project: Option<&Project>, target: &Target) -> anyhow::Error {
    // The project's step runs between these two markers.
    let project_step = stderr.contains("@@project") && !stderr.contains("@@pins");
    let failed_build = stderr.lines().find_map(|line| {
        let at = line.find("Failed to build `")?;
        let rest = &line[at + "Failed to build `".len()..];
        Some(rest[..rest.find('`')?].to_string())
    });
    let trimmed = tail(&stderr.replace("@@project\n", "").replace("@@pins\n", ""), 20);
    let python = &target.name;
    let base = format!(
        "a --base-image with {} and Python's headers (e.g. `python:{}` rather than `-slim`; Debian: \
         build-essential and python3-dev)",
        "{compiler}", target.version
    );
    match (failed_build, project_step, missing_compiler(stderr)) {
        (Some(package), false, Some(compiler)) => usage(format!(
            "{package} has no wheel for Python {python} ({}), and building it from its source needs {compiler}, \
             which the test image has not: pin a version of it with a wheel for this Python, leave {python} \
             out of --python, or name {}",
            platform(),
            base.replace("{compiler}", compiler)
        )),
        (Some(package), false, None) => usage(format!("building {package} for Python {python} failed:\n{trimmed}")),
        (_, true, Some(compiler)) => usage(format!(
            "the project {} has code to compile, which needs {compiler}, and the test image has none (the \
             project is built inside the image its modules run in, for Python {python}): name {}",
            project.map_or_else(String::new, |p| {
                p.metadata.name.clone().unwrap_or_else(|| p.root.display().to_string())
            }),
            base.replace("{compiler}", compiler)
        )),
        (_, true, None) => usage(format!("the project does not build for Python {python}:\n{trimmed}")),
        (None, false, _) => {
            environment(format!("installing the environment for Python {python} failed:\n{trimmed}"))
        }
    }
}

/// The compiler a failed build looked for and did not find, as setuptools
/// (`No such file or directory: 'x86_64-linux-gnu-gcc'`, `unable to execute`),
/// a shell (`gcc: not found`), meson (`Unknown compiler(s)`), CMake
/// (`No CMAKE_C_COMPILER could be found`) and setuptools-rust or maturin say it.
fn missing_compiler(stderr: &str) -> Option<&'static str> {
    let missing =
        |line: &str| ["No such file", "not found", "unable to execute"].iter().any(|m| line.contains(m));
    let c_compiler =
        |line: &str| ["gcc", "cc'", "cc:", "g++", "c++", "clang"].iter().any(|c| line.contains(c));
    let mut found = None;
    for line in stderr.lines() {
        if line.contains("can't find Rust compiler") || (missing(line) && line.contains("cargo")) {
            found = found.or(Some("a Rust compiler (cargo)"));
        }
        let build_tool = ["Unknown compiler", "CMAKE_C_COMPILER", "CMAKE_CXX_COMPILER"];
        if (missing(line) && c_compiler(line)) || build_tool.iter().any(|t| line.contains(t)) {
            return Some("a C compiler");
        }
    }
    found
}

/// Removes environments unused for a month (never one being built: those hold a lock).
pub fn prune(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache.join("envs")) else { return };
    for entry in entries.flatten() {
        let ready = entry.path().join("ready");
        let unused = fs::metadata(&ready)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP_UNUSED);
        if unused {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// What `clean` finds in a cache: each environment's folder, and the
/// installer's (`tools`), which goes only when no environment is being built.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cached {
    pub environments: Vec<PathBuf>,
    pub installer: Option<PathBuf>,
}

/// The environments (and the installer) cached in `cache`, sorted.
pub fn cached(cache: &Path) -> Cached {
    let mut environments: Vec<PathBuf> = fs::read_dir(cache.join("envs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    environments.sort();
    let tools = cache.join("tools");
    Cached { environments, installer: tools.is_dir().then_some(tools) }
}

/// What `clean` did to a cache: the environments it removed (and the
/// installer, when it went), and those it left because a run is building them now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub removed: Vec<PathBuf>,
    pub installer: Option<PathBuf>,
    pub being_built: Vec<PathBuf>,
}

/// Removes every environment cached in `cache`, and the installer, except
/// what a run is building now (it holds that environment's lock).
pub fn clean(cache: &Path) -> Result<Cleaned> {
    let found = cached(cache);
    let mut cleaned = Cleaned::default();
    for dir in found.environments {
        let id = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        // Held while removing: a run that wants it now waits, then builds it afresh.
        let Some(_lock) = crate::image::lock::try_host_lock(&format!("env-{id}"))? else {
            cleaned.being_built.push(dir);
            continue;
        };
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        cleaned.removed.push(dir);
    }
    if let Some(tools) = found.installer.filter(|_| cleaned.being_built.is_empty()) {
        if let Some(_lock) = crate::image::lock::try_host_lock(&tools_lock(cache))? {
            // uv's cache goes with uv: both are made again by the next build.
            for dir in [&tools, &cache.join("uv")].into_iter().filter(|d| d.is_dir()) {
                fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            }
            cleaned.installer = Some(tools);
        }
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target for Python `version` (`X.Y`) on the base `i` of id `b`.
    fn target_for(version: &str) -> Target {
        Target {
            version: version.into(),
            name: version.into(),
            interpreter: format!("python{version}"),
            image: "i".into(),
            base_id: "b".into(),
        }
    }

    #[test]
    fn requirements_split_whole_with_their_hashes_and_options_in_every_part() {
        let text = "--index-url https://example.org/simple\n\
                    a==1 \\\n    --hash=sha256:aa\n\
                    # a comment\n\
                    b==2 \\\n    --hash=sha256:bb \\\n    --hash=sha256:bc\n\
                    c==3\n";
        let parts = split_requirements(text, 2);
        assert_eq!(
            parts,
            [
                "--index-url https://example.org/simple\na==1 \\\n    --hash=sha256:aa\nc==3\n",
                "--index-url https://example.org/simple\nb==2 \\\n    --hash=sha256:bb \\\n    --hash=sha256:bc\n",
            ]
        );
        assert_eq!(split_requirements("only==1\n", 4), ["only==1\n"]);
        assert_eq!(split_requirements("", 4), [""], "an empty file stays one (empty) part");
    }

    #[test]
    fn the_copy_leaves_out_what_never_belongs_to_a_build() {
        let temp = tempfile::tempdir().unwrap();
        let from = temp.path().join("p");
        for dir in ["src/pkg/__pycache__", ".git", ".venv", "pkg.egg-info", "tests"] {
            fs::create_dir_all(from.join(dir)).unwrap();
        }
        fs::write(from.join("src/pkg/__init__.py"), "x = 1").unwrap();
        fs::write(from.join("pyproject.toml"), "").unwrap();
        copy_project(&from, &temp.path().join("c")).unwrap();
        let copy = temp.path().join("c");
        assert!(copy.join("src/pkg/__init__.py").is_file() && copy.join("pyproject.toml").is_file());
        for gone in ["src/pkg/__pycache__", ".git", ".venv", "pkg.egg-info"] {
            assert!(!copy.join(gone).exists(), "{gone}");
        }
        assert!(copy.join("tests").is_dir());
    }

    #[test]
    fn clean_removes_every_environment_and_the_installer_but_not_one_being_built() {
        let temp = tempfile::tempdir().unwrap();
        let cache = temp.path();
        let names = [format!("3.11-{}a", std::process::id()), format!("3.13-{}b", std::process::id())];
        for name in &names {
            fs::create_dir_all(cache.join("envs").join(name).join("venv/bin")).unwrap();
            fs::write(cache.join("envs").join(name).join("ready"), "k").unwrap();
        }
        fs::create_dir_all(cache.join("tools/bin")).unwrap();
        fs::create_dir_all(cache.join("uv/archive-v0")).unwrap();
        let found = cached(cache);
        assert_eq!(found.environments, names.iter().map(|n| cache.join("envs").join(n)).collect::<Vec<_>>());
        assert_eq!(found.installer, Some(cache.join("tools")));

        // One is being built: it stays, and so does the installer it uses.
        let building = crate::image::lock::host_lock(&format!("env-{}", names[1])).unwrap();
        let cleaned = clean(cache).unwrap();
        assert_eq!(cleaned.removed, [cache.join("envs").join(&names[0])]);
        assert_eq!(cleaned.being_built, [cache.join("envs").join(&names[1])]);
        assert_eq!(cleaned.installer, None);
        assert!(cache.join("tools").is_dir());
        drop(building);
        let cleaned = clean(cache).unwrap();
        assert_eq!(cleaned.removed, [cache.join("envs").join(&names[1])]);
        assert_eq!(cleaned.installer, Some(cache.join("tools")));
        assert!(!cache.join("uv").exists(), "uv's cache goes with the installer");
        assert_eq!(cached(cache), Cached::default());
        assert_eq!(
            clean(&cache.join("nothing-here")).unwrap(),
            Cleaned::default(),
            "no cache, nothing to do"
        );
    }

    #[test]
    fn compiled_modules_the_build_left_in_the_copy_are_found() {
        let temp = tempfile::tempdir().unwrap();
        let (root, copy) = (temp.path().join("p"), temp.path().join("c"));
        for dir in [&root, &copy] {
            fs::create_dir_all(dir.join("pkg/sub")).unwrap();
            fs::write(dir.join("pkg/__init__.py"), "").unwrap();
            fs::write(dir.join("pkg/shipped.cpython-311-x86_64-linux-gnu.so"), "").unwrap();
        }
        assert!(compiled_in_copy(&copy, &root, Path::new("")).unwrap().is_empty());
        fs::write(copy.join("pkg/sub/_speed.cpython-311-x86_64-linux-gnu.so"), "").unwrap();
        fs::write(copy.join("pkg/sub/notes.txt"), "").unwrap();
        assert_eq!(
            compiled_in_copy(&copy, &root, Path::new("")).unwrap(),
            [PathBuf::from("pkg/sub/_speed.cpython-311-x86_64-linux-gnu.so")]
        );
    }

    #[test]
    fn installer_lines_show_no_index_credentials() {
        let line = r#""uv" "--index-url" "https://me:t0k3n@mirror.example/simple" "x@y" "http://plain/a@b""#;
        assert_eq!(
            without_credentials(line),
            r#""uv" "--index-url" "https://***@mirror.example/simple" "x@y" "http://plain/a@b""#
        );
    }

    #[test]
    fn a_probe_is_unreachable_only_when_no_connection_was_made() {
        let quick = Duration::from_millis(300);
        // pip 23.2's lines under -vv (refused, connect timeout, read timeout).
        let pip = |why: &str| {
            format!(
                "Could not fetch URL http://127.0.0.1:9/simple/uv/: connection error: \
                 HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /simple/uv/ \
                 (Caused by {why}) - skipping\nERROR: No matching distribution found for uv"
            )
        };
        let refused = pip("NewConnectionError('...: Failed to establish a new connection: [Errno 111] \
                           Connection refused')");
        assert!(probe_unreachable(&refused, quick));
        let connect =
            pip("ConnectTimeoutError(..., 'Connection to 127.0.0.1 timed out. (connect timeout=5)')");
        assert!(probe_unreachable(&connect, PROBE_CONNECT));
        let slow = pip("ReadTimeoutError(\"HTTPConnectionPool(...): Read timed out. (read timeout=5)\")");
        assert!(!probe_unreachable(&slow, PROBE_CONNECT), "a slow index answered");
        // uv 0.13's (refused; a connect timeout; a read timeout, told by when it came).
        let uv = |cause: &str| {
            format!(
                "error: Failed to fetch: http://127.0.0.1:9/simple/pytest/\n  cause: error sending request \
                 for url (http://127.0.0.1:9/simple/pytest/)\n  cause: {cause}"
            )
        };
        assert!(probe_unreachable(&uv("Connection refused (os error 111)"), quick));
        assert!(probe_unreachable(&uv("deadline has elapsed"), PROBE_CONNECT));
        assert!(!probe_unreachable(&uv("operation timed out"), PROBE_READ), "a slow index answered");
        // Answers that are not about the connection: the passes that follow tell them.
        assert!(!probe_unreachable("ERROR: unknown command \"index\"", quick));
        assert!(!probe_unreachable("error: No solution found when resolving dependencies", quick));
    }

    #[test]
    fn resolution_errors_are_told_apart() {
        assert!(unreachable(
            "error: Failed to fetch: `https://x/simple/numpy/`\n  Caused by: error sending request"
        ));
        assert!(!unreachable("No solution found when resolving dependencies"));
        let target = target_for("3.11");
        let project = Project {
            root: PathBuf::from("/p"),
            metadata: super::super::Metadata { name: Some("cext".into()), ..Default::default() },
        };
        let error = install_failure(
            "@@x\n  × Failed to build `cfoo==1.0`\n  error: command 'x86_64-linux-gnu-gcc' failed: No such file",
            Some(&project),
            &target,
        );
        let said = error.to_string();
        assert!(said.starts_with("cfoo==1.0 has no wheel for Python 3.11"), "{said}");
        assert!(
            said.contains("needs a C compiler") && said.contains("`python:3.11` rather than `-slim`"),
            "{said}"
        );
        assert!(error.downcast_ref::<crate::error::Usage>().is_some());
        let own = install_failure(
            "@@project\n  running build_ext\n  error: [Errno 2] No such file or directory: 'x86_64-linux-gnu-gcc'",
            Some(&project),
            &target,
        );
        assert!(
            own.to_string().starts_with("the project cext has code to compile, which needs a C compiler"),
            "{own}"
        );
        for (words, compiler) in [
            ("/bin/sh: 1: cc: not found", Some("a C compiler")),
            ("unable to execute 'gcc': No such file or directory", Some("a C compiler")),
            ("../meson.build:1:0: ERROR: Unknown compiler(s): [['cc'], ['gcc']]", Some("a C compiler")),
            ("CMake Error: No CMAKE_CXX_COMPILER could be found.", Some("a C compiler")),
            ("error: can't find Rust compiler", Some("a Rust compiler (cargo)")),
            ("src/x.c:3:10: error: 'y' undeclared (first use in this function)", None),
            ("ModuleNotFoundError: No module named 'numpy'", None),
        ] {
            assert_eq!(missing_compiler(words), compiler, "{words}");
        }
    }

    #[test]
    fn pips_index_url_is_read_from_its_files_the_last_one_winning() {
        let temp = tempfile::tempdir().unwrap();
        let (machine, user, other) =
            (temp.path().join("pip.conf"), temp.path().join("user.conf"), temp.path().join("none.conf"));
        fs::write(&machine, "[global]\ncert = /x.pem\nindex-url = https://machine/simple\n").unwrap();
        fs::write(
            &user,
            "# a comment\n[install]\nindex-url = https://install-only/simple\n[global]\n; another\n\
             Index_URL: https://user/simple\n",
        )
        .unwrap();
        fs::write(&other, "[global]\ntimeout = 60\n").unwrap();
        let files = [machine.clone(), user.clone(), other.clone(), temp.path().join("missing.conf")];
        assert_eq!(index_url_in(&files).as_deref(), Some("https://user/simple"));
        assert_eq!(index_url_in(&files[..1]).as_deref(), Some("https://machine/simple"));
        assert_eq!(index_url_in(&files[2..]), None, "no file sets it");
        assert_eq!(
            ini_value("[global]\nindex-url =\n    https://continued/simple\n", "global", "index-url")
                .as_deref(),
            Some("https://continued/simple")
        );
    }

    #[test]
    fn changing_a_file_a_requirements_file_includes_changes_the_key() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_path_buf();
        fs::write(root.join("pyproject.toml"), "[project]\nname = \"p\"\n").unwrap();
        fs::write(root.join("test.txt"), "-r base.txt\n-c pins.txt\n").unwrap();
        fs::write(root.join("base.txt"), "hypothesis\n").unwrap();
        fs::write(root.join("pins.txt"), "hypothesis==6.100.0\n").unwrap();
        let project = Project { root: root.clone(), metadata: super::super::Metadata::default() };
        let wanted = Wanted { requirements: vec![root.join("test.txt")], ..Wanted::default() };
        let target = target_for("3.11");
        let first = key(Some(&project), &wanted, &target).unwrap();
        assert_eq!(key(Some(&project), &wanted, &target).unwrap(), first, "nothing changed");
        fs::write(root.join("base.txt"), "hypothesis\nnumpy\n").unwrap();
        let second = key(Some(&project), &wanted, &target).unwrap();
        assert_ne!(second, first, "an included requirements file");
        fs::write(root.join("pins.txt"), "hypothesis==6.101.0\n").unwrap();
        assert_ne!(key(Some(&project), &wanted, &target).unwrap(), second, "an included constraints file");
    }

    #[test]
    fn a_tools_only_environment_is_keyed_by_the_tools_and_the_base() {
        let target = Target { base_id: "sha256:1".into(), ..target_for("3.9") };
        let cache = Path::new("/c");
        let pytest = Wanted::default();
        let memray = Wanted { memray: true, ..Wanted::default() };
        let (installed, first) = location(None, &pytest, &target, cache).unwrap();
        assert_eq!(installed.dir, cache.join(format!("envs/3.9-tools-{first}")));
        assert_eq!(installed.in_container, format!("{CONTAINER_ROOT}/3.9-tools-{first}"));
        assert_eq!(key(None, &pytest, &target).unwrap(), first, "nothing changed");
        assert_ne!(key(None, &memray, &target).unwrap(), first, "memray too");
        let rebuilt = Target { base_id: "sha256:2".into(), ..target.clone() };
        assert_ne!(key(None, &pytest, &rebuilt).unwrap(), first, "a rebuilt base");
        assert_eq!(tool_names(&memray), ["pytest", "memray"]);
        assert!(!is_ready(None, &pytest, &target, cache));
    }
}
