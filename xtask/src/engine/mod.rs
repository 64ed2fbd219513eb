//! The one place that knows the container engine's command-line syntax.
//!
//! Short commands go through `xshell` (they read like the shell line they
//! run); long-running ones (`run`, `build`, `import`) through `duct`, which
//! streams their pipes and lets the runner wait with a deadline. What differs
//! between engines is a table in `kinds.rs`; the `run` arguments of a module's
//! container are built in `container.rs`.

pub mod container;
pub mod kinds;
pub mod owner;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::error::{environment, Abandoned};
use crate::model::event::{Notice, Notices};
use container::{run_args, ContainerSpec};
pub use kinds::EngineKind;
use kinds::{mentions, Conventions, LocalStore};

/// Label on every container and image this project creates (for `clean`).
pub const PROJECT_LABEL: &str = "pymaccounter";
/// Label carrying the id of the run that created a container.
pub const RUN_LABEL: &str = "pymaccounter.run";
/// Label naming the process that owns a container: `HOST:PID:START`.
pub const OWNER_LABEL: &str = "pymaccounter.owner";
/// Label telling test images from offline base images and module containers.
pub const KIND_LABEL: &str = "pymaccounter.kind";
/// Label naming the user (uid) whose command made a container or an image:
/// `clean` removes only its own user's, on an engine others share.
pub const USER_LABEL: &str = "pymaccounter.user";

/// `pymaccounter.user=<uid>` of this process.
pub fn user_label() -> String {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    format!("{USER_LABEL}={uid}")
}

/// Set to 1 when the engine cannot see this host's files although its
/// address looks local (the test dir is then copied into a volume).
pub const REMOTE_VARIABLE: &str = "PYMACCOUNTER_REMOTE_ENGINE";

/// Replaces the engine program (a path): how tests drive the runner with a
/// scripted fake engine, and how a wrapper script can be slipped in.
pub const PROGRAM_VARIABLE: &str = "PYMACCOUNTER_ENGINE_PROGRAM";

/// What the benchmark's raw loop runs per module, under `sh -c`.
pub const RAW_MODULE_COMMAND: &str = r#"python3 "$1" || [ $? -eq 77 ]"#;

/// An image id as `sha256:HEX` whichever way the engine spells it (Podman's
/// `inspect` leaves the algorithm out where its `images` list has it; the
/// test image's tag hashes the id, so one spelling keeps it found).
fn with_digest_algorithm(id: &str) -> String {
    match id.contains(':') || id.is_empty() {
        true => id.to_string(),
        false => format!("sha256:{id}"),
    }
}

pub struct Engine {
    program: PathBuf,
    kind: EngineKind,
    debug: bool,
    notices: Notices,
    /// A call got no answer in time: later calls fail at once instead of
    /// each waiting as long again.
    unanswering: AtomicBool,
    /// The run going on (`attach_run`): the helper containers it starts carry
    /// its label too, so `clean --run ID` finds them like its modules'.
    run: std::sync::Mutex<Option<String>>,
}

/// The longest a short engine call (inspect, rm, ps, images) may take.
const CALL_DEADLINE: Duration = Duration::from_secs(120);
/// The longest a tool's container (an environment's install: builds and the
/// bytecode compile, on a loaded machine) may take.
const TOOL_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Once Ctrl-C or SIGTERM asked the run to stop: the cleanup of an engine
/// that hangs ends soon, naming what is left.
const CALL_DEADLINE_STOPPING: Duration = Duration::from_secs(10);
/// A throwaway helper container (asking an image something) is hardened and
/// limited like a module's: it runs the image's code, and nothing of it is logged.
const HELPER_HARDENING: [&str; 19] = [
    // Only test images are asked: built here, never fetched.
    "--pull",
    "never",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "128",
    "--memory",
    "536870912",
    "--memory-swap",
    "536870912",
    "--log-driver",
    "none",
    "--label",
    "pymaccounter.kind=helper",
];

/// What fills a volume: a folder's whole content, or the listed entries of one.
pub enum Fill<'a> {
    /// A copy of the folder, owners kept: for an engine that cannot see it.
    Whole(&'a Path),
    /// A copy of the folder whose every file is root's (the holder's user):
    /// for a container that runs as root with every capability dropped, which
    /// can write only what root owns (a volume's top folder is root's anyway).
    WholeAsRoot(&'a Path),
    /// The listed entries of the folder alone (paths relative to it, folders
    /// before what they hold, `.` for the folder itself), with their owners
    /// and modes: what of a project root a remote engine gets.
    Listed(&'a Path, &'a [PathBuf]),
}

/// A call whose work grows with its input: a pull, a copy of the test dir.
const LONG_CALL_DEADLINE: Duration = Duration::from_secs(3600);

impl Engine {
    /// Finds the engine program on PATH (or takes the one named by `PYMACCOUNTER_ENGINE_PROGRAM`).
    /// `debug` asks for the whole log of long commands (see `image/logged.rs`);
    /// command lines go to `notices` either way, for the renderer to show or not.
    pub fn find(kind: EngineKind, debug: bool, notices: Notices) -> Result<Engine> {
        let conventions = kind.conventions();
        let program = match std::env::var_os(PROGRAM_VARIABLE).filter(|p| !p.is_empty()) {
            Some(program) => PathBuf::from(program),
            None => which::which(conventions.program).map_err(|_| {
                environment(format!(
                    "`{}` was not found on PATH: {}, or choose another with --engine docker|podman",
                    conventions.program, conventions.install
                ))
            })?,
        };
        let (unanswering, run) = (AtomicBool::new(false), std::sync::Mutex::new(None));
        Ok(Engine { program, kind, debug, notices, unanswering, run })
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The engine's CLI program (two programs are two engines, even of one kind).
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// From now on helper containers belong to this run (each round of `watch` is one).
    pub fn attach_run(&self, run_id: &str) {
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run_id.to_string());
    }

    /// The labels of a helper container (image probes, the environment's
    /// installer): the project's, its owner process, and the run's when one is going.
    fn helper_labels(&self) -> Vec<String> {
        let mut labels = vec![PROJECT_LABEL.to_string(), owner_label()];
        if let Some(run) = self.run.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            labels.push(format!("{RUN_LABEL}={run}"));
        }
        labels.into_iter().flat_map(|label| ["--label".to_string(), label]).collect()
    }

    fn conventions(&self) -> &'static Conventions {
        self.kind.conventions()
    }

    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Where this engine's command lines, and the image builds' notes, go.
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Runs a short engine command to its end and returns what it printed,
    /// whether it succeeded or not.
    fn output_of(&self, args: &[&str]) -> Result<std::process::Output> {
        self.output_within(args, CALL_DEADLINE)
    }

    /// `output_of` for a call that may take up to `limit` (a pull, a copy).
    fn output_within(&self, args: &[&str], limit: Duration) -> Result<std::process::Output> {
        // A shell per call keeps `Engine` shareable between worker threads.
        let shell = Shell::new()?;
        let program = &self.program;
        let command = cmd!(shell, "{program} {args...}").quiet().ignore_status();
        let line = command.to_string();
        self.notices.send(Notice::Command(line.clone()));
        if self.unanswering.load(Ordering::SeqCst) {
            return Err(self.no_answer(&line, None));
        }
        let mut command = std::process::Command::from(command);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group: Ctrl-C reaches the runner alone, which decides.
        command.process_group(0);
        let mut child = command.spawn()?;
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let mut deadline = started + limit;
        let mut interrupted = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            let now = Instant::now();
            if !interrupted && crate::signals::Interrupt::requested() {
                // Stopping: a call the engine does not answer must not hold the run.
                interrupted = true;
                deadline = deadline.min(now + CALL_DEADLINE_STOPPING);
            }
            if now >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.unanswering.store(true, Ordering::SeqCst);
                return Err(self.no_answer(&line, Some(now - started)));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        Ok(std::process::Output { status, stdout, stderr })
    }

    /// The error of a call the engine did not answer in time (`after`), or of
    /// one not made because an earlier call got no answer.
    fn no_answer(&self, line: &str, after: Option<Duration>) -> anyhow::Error {
        let waited = match after {
            Some(after) => format!("got no answer in {} s", after.as_secs()),
            None => "was not made: an earlier call got no answer".to_string(),
        };
        let message = format!("`{line}` {waited}: the {} engine hangs", self.name());
        match crate::signals::Interrupt::requested() {
            true => Abandoned(message).into(),
            false => environment(message),
        }
    }

    /// Runs a short engine command that must succeed; its stdout.
    fn stdout_of(&self, args: &[&str]) -> Result<String> {
        self.stdout_within(args, CALL_DEADLINE)
    }

    /// `stdout_of` for a call that may take up to `deadline`.
    fn stdout_within(&self, args: &[&str], deadline: Duration) -> Result<String> {
        let output = self.output_within(args, deadline)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(self.failure(args, &String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// An engine error that says what to do about it.
    pub fn failure(&self, args: &[&str], stderr: &str) -> anyhow::Error {
        let stderr = stderr.trim();
        let conventions = self.conventions();
        if mentions(stderr, conventions.unreachable) {
            return environment(format!(
                "the {} engine is not answering: {}.\n{stderr}",
                self.name(),
                conventions.start
            ));
        }
        if mentions(stderr, conventions.no_permission) {
            return environment(format!(
                "no permission to use the {} engine: add yourself to the `{}` group or run as root.\n{stderr}",
                self.name(),
                self.name()
            ));
        }
        environment(format!("`{} {}` failed:\n{stderr}", self.name(), args.join(" ")))
    }

    /// Whether the engine runs elsewhere and so cannot mount this host's
    /// folders: its host variable names a non-unix address, the docker
    /// context in use does, or `PYMACCOUNTER_REMOTE_ENGINE=1` says so.
    pub fn is_remote(&self) -> Result<bool> {
        if std::env::var(REMOTE_VARIABLE).as_deref() == Ok("1") {
            return Ok(true);
        }
        let remote = |address: &str| !address.is_empty() && !address.starts_with("unix://");
        if let Ok(host) = std::env::var(self.conventions().host_variable) {
            return Ok(remote(&host));
        }
        if self.kind == EngineKind::Docker && uses_a_docker_context() {
            let host = self.stdout_of(&["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"])?;
            return Ok(remote(host.trim()));
        }
        Ok(false)
    }

    /// Whether the engine would run a container with `--memory` and not
    /// limit it: rootless Podman on cgroups v1 (it only warns, on the
    /// container's stderr).
    pub fn ignores_memory_limits(&self) -> Result<bool> {
        if self.kind != EngineKind::Podman {
            return Ok(false);
        }
        if !self.is_remote()? {
            // What `podman info` would say, read off this machine: it takes
            // 0.75 s here (it gathers everything about the host), more than
            // the module's own container. A local Podman run by a user other
            // than root is rootless; no unified hierarchy is cgroups v1.
            // SAFETY: geteuid has no preconditions and cannot fail.
            let rootless = unsafe { libc::geteuid() } != 0;
            let cgroups_v1 = !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            return Ok(rootless && cgroups_v1);
        }
        let info =
            self.stdout_of(&["info", "--format", "{{.Host.CgroupsVersion}} {{.Host.Security.Rootless}}"])?;
        Ok(info.trim() == "v1 true")
    }

    /// A volume holding what `fill` names, filled through a created (never
    /// started) container of `image`; when the copy fails, the volume goes too.
    pub fn volume_filled(&self, volume: &str, fill: Fill, image: &str, labels: &[String]) -> Result<()> {
        let mut args = vec!["volume", "create"];
        for label in labels {
            args.extend(["--label", label]);
        }
        args.push(volume);
        self.stdout_of(&args)?;
        let filled = self.fill_volume(volume, fill, image, labels);
        if filled.is_err() {
            let _ = self.remove_volumes(&[volume.to_string()]);
        }
        filled
    }

    /// Creates a container of `image` (never started) holding `volume` at
    /// `/fill`, for `cp` to reach it; its name, which the caller removes
    /// whether the creation succeeded or not.
    fn volume_holder(&self, volume: &str, image: &str, labels: &[String]) -> (String, Result<()>) {
        let holder = format!("{volume}-fill");
        let mount = format!("type=volume,source={volume},target=/fill");
        let owner = owner_label();
        let mut create = vec!["create", "--name", &holder, "--label", &owner, "--mount", &mount];
        for label in labels {
            create.extend(["--label", label]);
        }
        create.extend([image, "true"]);
        let created = self.stdout_of(&create).map(drop);
        (holder, created)
    }

    fn fill_volume(&self, volume: &str, fill: Fill, image: &str, labels: &[String]) -> Result<()> {
        let (holder, created) = self.volume_holder(volume, image, labels);
        let target = format!("{holder}:/fill");
        let mut copy = vec!["cp"];
        if !matches!(fill, Fill::WholeAsRoot(_)) {
            copy.extend(self.conventions().copy_keeping_owners);
        }
        let whole = match fill {
            Fill::Whole(dir) | Fill::WholeAsRoot(dir) => format!("{}/.", dir.display()),
            Fill::Listed(..) => String::new(),
        };
        let copied = created.and_then(|_| match fill {
            Fill::Whole(_) | Fill::WholeAsRoot(_) => {
                copy.extend([whole.as_str(), &target]);
                self.stdout_within(&copy, LONG_CALL_DEADLINE).map(drop)
            }
            Fill::Listed(dir, entries) => {
                copy.extend(["-", &target]);
                self.tar_into(dir, entries, &copy)
            }
        });
        self.remove_containers(&[holder])?;
        copied
    }

    /// `tar` of `entries` of `dir` (no recursion: the list is the whole
    /// content, numeric owners kept) piped into the engine's `args` (a `cp -`).
    fn tar_into(&self, dir: &Path, entries: &[PathBuf], args: &[&str]) -> Result<()> {
        let mut list = Vec::new();
        for entry in entries {
            // `./` first: a name starting with `-` read from the list is an option to tar.
            let entry = if entry == Path::new(".") { entry.clone() } else { Path::new(".").join(entry) };
            list.extend_from_slice(entry.as_os_str().as_encoded_bytes());
            list.push(0);
        }
        let tar_args: Vec<OsString> = vec![
            "--create".into(),
            "--file=-".into(),
            "--directory".into(),
            dir.as_os_str().to_owned(),
            "--no-recursion".into(),
            "--numeric-owner".into(),
            "--null".into(),
            "--files-from=-".into(),
        ];
        self.notices.send(Notice::Command(format!(
            "tar --create --directory {} --no-recursion --files-from=- ({} entries) | {} {}",
            dir.display(),
            entries.len(),
            self.name(),
            args.join(" ")
        )));
        let tar = duct::cmd("tar", &tar_args).stdin_bytes(list);
        let output =
            tar.pipe(duct::cmd(&self.program, args)).unchecked().stdout_capture().stderr_capture().run()?;
        if output.status.success() {
            return Ok(());
        }
        Err(self.failure(args, &String::from_utf8_lossy(&output.stderr)))
    }

    /// Copies what `volume` holds into the folder `dest` on this machine
    /// (the environment a remote engine's install made), through a created
    /// container of `image`.
    pub fn copy_out_of_volume(
        &self,
        volume: &str,
        dest: &Path,
        image: &str,
        labels: &[String],
    ) -> Result<()> {
        let (holder, created) = self.volume_holder(volume, image, labels);
        let source = format!("{holder}:/fill/.");
        let dest = dest.to_string_lossy();
        let copied = created.and_then(|_| self.stdout_within(&["cp", &source, &dest], LONG_CALL_DEADLINE));
        self.remove_containers(&[holder])?;
        copied.map(drop)
    }

    /// The run helper containers are labelled with now (`attach_run`), if any.
    pub fn run_id(&self) -> Option<String> {
        self.run.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The labels of a volume made for the run going on: `clean --run`
    /// finds it, and a plain `clean` of its user does.
    pub fn volume_labels(&self) -> Vec<String> {
        let run = self.run_id().map(|run| format!("{RUN_LABEL}={run}"));
        [format!("{PROJECT_LABEL}=1"), user_label()].into_iter().chain(run).collect()
    }

    /// Removes volumes; already-gone ones are fine.
    pub fn remove_volumes(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["volume", "rm", "--force"];
        args.extend(names.iter().map(String::as_str));
        self.stdout_of(&args).map(drop)
    }

    /// Names of volumes carrying a label.
    pub fn volumes_with_label(&self, label: &str) -> Result<Vec<String>> {
        let filter = format!("label={label}");
        let output = self.stdout_of(&["volume", "ls", "--quiet", "--filter", &filter])?;
        Ok(output.lines().map(str::to_string).collect())
    }

    /// Every local image's `REPOSITORY:TAG` and id, in one call (untagged ones left out).
    pub fn local_images(&self) -> Result<Vec<(String, String)>> {
        let output =
            self.stdout_of(&["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])?;
        Ok(output
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(reference, _)| !reference.contains("<none>"))
            .map(|(reference, id)| (reference.to_string(), with_digest_algorithm(id.trim())))
            .collect())
    }

    /// How this engine's CLI reads its own image store, when it does (Podman).
    pub fn local_store(&self) -> Option<&'static LocalStore> {
        self.conventions().local_store.as_ref()
    }

    /// The folder of the image store's names, as the engine's `info` gives
    /// it: `None` for an engine with no local store, a remote client, or
    /// any answer but a clear one (the store is then asked every run).
    pub fn image_names_folder(&self) -> Option<PathBuf> {
        let store = self.local_store()?;
        let info = self.stdout_of(&["info", "--format", store.info_format]).ok()?;
        match info.trim_end_matches('\n').split('\t').collect::<Vec<_>>()[..] {
            [root, driver, "false"]
                if Path::new(root).is_absolute() && !driver.is_empty() && !driver.contains('/') =>
            {
                Some(Path::new(root).join(format!("{driver}-images")))
            }
            _ => None,
        }
    }

    /// Whether an image is present locally; an unreachable engine is an error, not a "no".
    pub fn image_exists(&self, image: &str) -> Result<bool> {
        Ok(self.image_id(image)?.is_some())
    }

    /// Tries to pull an image; `false` when the registry cannot be reached or has no such image.
    pub fn pull(&self, image: &str) -> Result<bool> {
        let output = self.output_within(&["pull", "--quiet", image], LONG_CALL_DEADLINE)?;
        Ok(output.status.success())
    }

    /// The `build` command line for a prepared context directory. `offline`
    /// builds without a network: the base has all the Dockerfile needs.
    pub fn build_command(
        &self,
        context: &Path,
        tag: &str,
        base_image: &str,
        offline: bool,
    ) -> duct::Expression {
        let mut args: Vec<OsString> = [
            "build",
            "--build-arg",
            &format!("BASE_IMAGE={base_image}"),
            "--label",
            &format!("{PROJECT_LABEL}=1"),
            "--label",
            &format!("{KIND_LABEL}=test"),
            "--label",
            &user_label(),
            // Intermediate containers go even when a step fails.
            "--force-rm",
            "--tag",
            tag,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if offline {
            args.extend(["--network".into(), "none".into()]);
        }
        args.push(context.as_os_str().to_owned());
        self.streaming(args)
    }

    /// Imports a root filesystem directory as an image (`tar | engine import`).
    pub fn import(&self, rootfs: &Path, image: &str, changes: &[String]) -> Result<()> {
        let mut args: Vec<OsString> = vec!["import".into()];
        for change in changes {
            args.push("--change".into());
            args.push(change.into());
        }
        args.extend(["-".into(), image.into()]);
        let tar =
            duct::cmd("tar", [OsString::from("-C"), rootfs.as_os_str().to_owned(), ".".into(), "-c".into()]);
        self.notices.send(Notice::Command(format!(
            "tar -C {} -c . | {} {}",
            rootfs.display(),
            self.name(),
            display_args(&args)
        )));
        let output =
            tar.pipe(duct::cmd(&self.program, &args)).unchecked().stdout_capture().stderr_capture().run()?;
        if output.status.success() {
            return Ok(());
        }
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Err(self.failure(&args, &String::from_utf8_lossy(&output.stderr)))
    }

    /// The `run` command for one module's container, attached and removed
    /// when it ends. Its stdin is `stdin` (the runner writes the wrapper's
    /// nonce there when the module may start), else nothing.
    pub fn run_command(&self, spec: &ContainerSpec, stdin: Option<std::io::PipeReader>) -> duct::Expression {
        let args = run_args(spec, self.conventions()).into_iter().map(OsString::from).collect();
        let command = self.streaming_without_stdin(args);
        match stdin {
            Some(stdin) => command.stdin_file(stdin),
            None => command.stdin_null(),
        }
        .dir(&spec.host_dir)
        // Own process group: Ctrl-C reaches the runner alone, which then
        // removes the containers itself instead of racing the engine CLI
        // (which would forward the signal into the module).
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        })
    }

    /// A long-running engine command, its pipes left to the caller.
    fn streaming(&self, args: Vec<OsString>) -> duct::Expression {
        self.streaming_without_stdin(args).stdin_null()
    }

    /// A long-running engine command; the caller sets its stdin (duct's
    /// innermost redirection would win over the caller's).
    fn streaming_without_stdin(&self, args: Vec<OsString>) -> duct::Expression {
        self.notices.send(Notice::Command(format!("{} {}", self.name(), display_args(&args))));
        // In the runner's process group: Ctrl-C during a build stops both.
        duct::cmd(&self.program, args).unchecked()
    }

    /// Runs `command` in a throwaway helper container of `image`: hardened,
    /// named, removed when it ends, and removed by name when the call's
    /// deadline passes (killing the CLI alone would leave it running).
    fn run_throwaway(&self, image: &str, command: &[&str]) -> Result<(Vec<String>, std::process::Output)> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name =
            format!("pymaccounter-helper-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let labels = self.helper_labels();
        let mut args = vec!["run", "--rm", "--name", &name, "--network", "none"];
        args.extend(labels.iter().map(String::as_str));
        args.extend(HELPER_HARDENING);
        args.extend(container::ULIMITS);
        args.push(image);
        args.extend(command);
        let output = self.output_of(&args);
        if output.is_err() {
            let _ = self.remove_containers(std::slice::from_ref(&name));
        }
        Ok((args.iter().map(|a| a.to_string()).collect(), output?))
    }

    /// Runs a tool (the environment's installer) in a throwaway, hardened
    /// container of `image`: no network, no capabilities, a read-only root
    /// with a tmpfs `/tmp`, as `user`, with `mounts`. Its output, whatever its
    /// exit; an engine that does not answer within `TOOL_DEADLINE` is an error.
    pub fn run_tool(
        &self,
        image: &str,
        user: &str,
        mounts: &[container::Mount],
        env: &[(String, String)],
        command: &[String],
    ) -> Result<std::process::Output> {
        let mut args: Vec<String> = [
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--tmpfs",
            "/tmp:rw,exec,nosuid,nodev,mode=1777",
            "--workdir",
            "/tmp",
            "--user",
            user,
        ]
        .map(str::to_string)
        .to_vec();
        args.extend(container::ULIMITS.map(String::from));
        args.extend(self.helper_labels());
        for mount in mounts {
            args.extend(["--mount".into(), container::mount_arg(mount)]);
        }
        for (key, value) in env {
            args.extend(["--env".into(), format!("{key}={value}")]);
        }
        args.push(image.to_string());
        args.extend(command.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.output_within(&args, TOOL_DEADLINE)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && mentions(&stderr, self.conventions().unreachable) {
            return Err(self.failure(&args, &stderr));
        }
        Ok(output)
    }

    /// Whether a command succeeds in a throwaway container of `image` (no network).
    pub fn image_runs(&self, image: &str, command: &[&str]) -> Result<bool> {
        let (args, output) = self.run_throwaway(image, command)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && mentions(&stderr, self.conventions().unreachable) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return Err(self.failure(&args, &stderr));
        }
        Ok(output.status.success())
    }

    /// The engine server's version (for benchmark records and report headers).
    pub fn server_version(&self) -> Result<String> {
        Ok(self.stdout_of(&["version", "--format", "{{.Server.Version}}"])?.trim().to_string())
    }

    /// An image's id (`sha256:…`), or `None` when the engine has no such image.
    pub fn image_id(&self, image: &str) -> Result<Option<String>> {
        let args = ["image", "inspect", "--format", "{{.Id}}", image];
        let output = self.output_of(&args)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            Ok(Some(with_digest_algorithm(String::from_utf8_lossy(&output.stdout).trim())))
        } else if mentions(&stderr, self.conventions().no_such_image) {
            Ok(None)
        } else {
            Err(self.failure(&args, &stderr))
        }
    }

    /// The `X.Y` version of `python3` in an image, asked in a throwaway
    /// container (no network); `None` when it printed no such version.
    pub fn python_version(&self, image: &str) -> Result<Option<String>> {
        let script = "import sys;print('%d.%d' % sys.version_info[:2])";
        let (args, output) = self.run_throwaway(image, &["python3", "-c", script])?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && mentions(&stderr, self.conventions().unreachable) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return Err(self.failure(&args, &stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let version = stdout.trim();
        let is_version = version.split_once('.').is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        });
        Ok((output.status.success() && is_version).then(|| version.to_string()))
    }

    /// The benchmark's baseline, no runner in between: `xargs -P JOBS` of one
    /// bare `run --rm --network none` per line of its input: the container runs `sh -c SCRIPT sh LINE`, with `mounts` and
    /// the same ulimits for every engine (Podman's defaults exceed what this
    /// kind of machine allows).
    pub fn raw_loop(
        &self,
        image: &str,
        mounts: &[container::Mount],
        workdir: &str,
        jobs: usize,
        script: &str,
    ) -> duct::Expression {
        let mut args: Vec<OsString> = vec![
            "-P".into(),
            jobs.to_string().into(),
            "-I{}".into(),
            self.program.as_os_str().to_owned(),
            "run".into(),
            "--rm".into(),
            "--network".into(),
            "none".into(),
        ];
        args.extend(container::ULIMITS.map(OsString::from));
        for mount in mounts {
            args.extend(["--mount".into(), container::mount_arg(mount).into()]);
        }
        args.extend(["--workdir".into(), workdir.into(), image.into()]);
        args.extend(["sh", "-c", script, "sh", "{}"].map(OsString::from));
        duct::cmd("xargs", args)
    }

    /// Whether the engine's monitor left its word that the memory limit
    /// killed the container (podman's conmon writes an `oom` file in its
    /// working directory); engines without one leave it to the wrapper's
    /// count of the cgroup's OOM kills.
    pub fn left_oom_marker(&self, host_dir: &Path) -> bool {
        self.conventions().oom_marker_file.is_some_and(|marker| host_dir.join(marker).exists())
    }

    /// Force-removes containers (running ones are killed); already-gone ones are fine.
    pub fn remove_containers(&self, names: &[String]) -> Result<()> {
        let conventions = self.conventions();
        for chunk in names.chunks(100) {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(conventions.remove_flags);
            args.extend(chunk.iter().map(String::as_str));
            let output = self.output_of(&args)?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let real_errors: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.is_empty() && !mentions(l, conventions.no_such_container))
                .collect();
            if !output.status.success() && !real_errors.is_empty() {
                return Err(self.failure(&args, &real_errors.join("\n")));
            }
        }
        Ok(())
    }

    /// Ids of containers (running or not) carrying a label (`key` or `key=value`).
    pub fn containers_with_label(&self, label: &str) -> Result<Vec<String>> {
        let filter = format!("label={label}");
        let output = self.stdout_of(&["ps", "--all", "--quiet", "--no-trunc", "--filter", &filter])?;
        Ok(output.lines().map(str::to_string).collect())
    }

    /// Containers carrying a label, each with the value of its owner label.
    pub fn containers_and_owners(&self, label: &str) -> Result<Vec<(String, String)>> {
        let filter = format!("label={label}");
        let format = format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
        let output =
            self.stdout_of(&["ps", "--all", "--no-trunc", "--filter", &filter, "--format", &format])?;
        Ok(output
            .lines()
            .filter_map(|line| {
                let (id, owner) = line.split_once(' ').unwrap_or((line, ""));
                (!id.is_empty()).then(|| (id.to_string(), owner.trim().to_string()))
            })
            .collect())
    }

    /// References (`repo:tag`) of images carrying a label.
    pub fn images_with_label(&self, label: &str) -> Result<Vec<String>> {
        let filter = format!("label={label}");
        let output =
            self.stdout_of(&["images", "--filter", &filter, "--format", "{{.Repository}}:{{.Tag}}"])?;
        Ok(output.lines().filter(|l| !l.contains("<none>")).map(str::to_string).collect())
    }

    /// Removes image layers by id, unless something still uses them.
    pub fn remove_layers(&self, ids: &[String]) -> Result<()> {
        for id in ids {
            self.output_of(&["rmi", id])?;
        }
        Ok(())
    }

    pub fn remove_images(&self, images: &[String]) -> Result<()> {
        if images.is_empty() {
            return Ok(());
        }
        let mut args = vec!["rmi", "--force"];
        args.extend(images.iter().map(String::as_str));
        self.stdout_of(&args).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_containers_carry_the_runs_label_once_a_run_is_attached() {
        let engine = Engine {
            program: PathBuf::from("docker"),
            kind: EngineKind::Docker,
            debug: false,
            notices: Notices::to(|_| {}),
            unanswering: AtomicBool::new(false),
            run: std::sync::Mutex::new(None),
        };
        let run_labels = |engine: &Engine| -> Vec<String> {
            engine.helper_labels().into_iter().filter(|l| l.starts_with(RUN_LABEL)).collect()
        };
        assert!(engine.helper_labels().contains(&PROJECT_LABEL.to_string()));
        assert_eq!(run_labels(&engine), Vec::<String>::new(), "no run yet (build-image, list)");
        engine.attach_run("1a2b-00001");
        assert_eq!(run_labels(&engine), vec![format!("{RUN_LABEL}=1a2b-00001")]);
        // Each round of `watch` is a run of its own.
        engine.attach_run("1a2b-00002");
        assert_eq!(run_labels(&engine), vec![format!("{RUN_LABEL}=1a2b-00002")]);
    }

    #[test]
    fn image_references_follow_the_engines_grammar() {
        for good in [
            "python:3.11-slim",
            "pymaccounter-base:python-3.11-2830843d",
            "localhost:5000/team/py:1",
            "ghcr.io/o/p@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "ubuntu",
        ] {
            assert!(check_image_reference(good).is_ok(), "{good}");
        }
        for bad in ["", "Python:3.11", "python:", "python:3.11 slim", "-x", "a//b", "x@sha256:zz", "a:b:c"] {
            assert!(check_image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_build_log_names_the_layers_it_made_and_not_the_cached_ones() {
        let mut layers = BuildLayers::default();
        for line in [
            "Step 1/4 : FROM base",
            " ---> 0123456789ab",
            "Step 2/4 : RUN true",
            " ---> Using cache",
            " ---> 1111111111ab",
            "Step 3/4 : ENV A=1",
            " ---> Running in 2222222222ab",
            " ---> 3333333333ab",
            "--> 4444444444ab4444",
            "--> Using cache 5555555555ab",
        ] {
            layers.observe(line);
        }
        assert_eq!(layers.created, ["3333333333ab", "4444444444ab4444"]);
    }
}

/// Checks an image reference against the engines' grammar
/// (`[host[:port]/]path[:tag][@digest]`, lower-case path), so a typo is a
/// usage error before any build.
pub fn check_image_reference(text: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("{text:?} is not an image reference ({why}); e.g. python:3.11-slim"));
    if text.is_empty() || text.len() > 255 {
        return bad("empty or too long");
    }
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let valid = digest.split_once(':').is_some_and(|(algorithm, hex)| {
            !algorithm.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !valid {
            return bad("bad digest");
        }
    }
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(at) => (&name[..last_slash + at], Some(&name[last_slash + at + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return bad("bad tag");
        }
    }
    let mut components: Vec<&str> = path.split('/').collect();
    // A first component with a '.' or ':' (or `localhost`) is a registry host.
    if components.len() > 1 && (components[0].contains(['.', ':']) || components[0] == "localhost") {
        let host = components.remove(0);
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')) {
            return bad("bad registry host");
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
    };
    if components.iter().all(|c| component_ok(c)) {
        Ok(())
    } else {
        bad("names are lower-case letters, digits and . _ - between them")
    }
}

/// The layers a `build` made, read from its log as it goes (docker's legacy
/// builder prints ` ---> ID` after each step, podman `--> ID`; a step found in
/// the cache says so first, and its layer is not ours to remove).
#[derive(Debug, Default)]
pub struct BuildLayers {
    pub created: Vec<String>,
    cached: bool,
}

impl BuildLayers {
    pub fn observe(&mut self, line: &str) {
        let line = line.trim();
        let step = line.to_ascii_lowercase();
        if step.starts_with("step ") && step.contains(": from ") {
            // The FROM step names the base: never ours.
            self.cached = true;
            return;
        }
        let Some(rest) = line.strip_prefix("--->").or_else(|| line.strip_prefix("-->")) else {
            return;
        };
        let rest = rest.trim();
        if rest.starts_with("Using cache") {
            self.cached = true;
            return;
        }
        let id = rest.split_whitespace().next().unwrap_or("");
        let is_id = id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit());
        if is_id && !std::mem::take(&mut self.cached) {
            self.created.push(id.to_string());
        }
    }
}

/// `pymaccounter.owner=HOST:PID:START` for this process: `clean` leaves the
/// containers of a process that still runs alone, helpers' too.
fn owner_label() -> String {
    format!("{OWNER_LABEL}={}", crate::engine::owner::this_process())
}

/// Whether docker's CLI may be using a context other than the default one.
fn uses_a_docker_context() -> bool {
    if std::env::var_os("DOCKER_CONTEXT").is_some() {
        return true;
    }
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")));
    let Some(file) = config.map(|dir| dir.join("config.json")) else { return false };
    std::fs::read_to_string(file).is_ok_and(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("currentContext").and_then(|c| c.as_str()).map(|c| c != "default"))
            == Some(true)
    })
}

fn display_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains([' ', '"', '\'', '{', '[']) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
