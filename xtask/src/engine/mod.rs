//! The one place that knows the container engine's command-line syntax.
//!
//! Short commands go through `xshell` (they read like the shell line they
//! run); long-running ones (`run`, `build`, `import`) through `duct`, which
//! streams their pipes and lets the runner wait with a deadline.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::cli::{EngineArgs, EngineKind};
use crate::error::environment;

/// Label on every container and image this project creates (for `clean`).
pub const PROJECT_LABEL: &str = "pymaccounter";
/// Label carrying the id of the run that created a container.
pub const RUN_LABEL: &str = "pymaccounter.run";
/// Label telling test images from offline base images.
pub const KIND_LABEL: &str = "pymaccounter.kind";

pub struct Engine {
    program: PathBuf,
    kind: EngineKind,
    debug: bool,
}

/// Everything that makes one module's container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub run_id: String,
    pub network: String,
    /// Memory limit in bytes; `None` for no limit.
    pub memory_bytes: Option<String>,
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
    /// Where the engine CLI runs on the host: podman's conmon leaves its
    /// `oom` marker in its working directory, so each container gets its own.
    pub host_dir: PathBuf,
}

/// A non-root user that exists in every Debian-based image.
const UNPRIVILEGED_USER: &str = "65534:65534";
/// Enough processes for a module that spawns helpers, too few for a fork bomb.
const PIDS_LIMIT: &str = "128";

impl Engine {
    /// Finds the engine binary on PATH.
    pub fn find(args: &EngineArgs) -> Result<Engine> {
        let name = match args.engine {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        };
        let program = which::which(name).map_err(|_| {
            environment(format!(
                "`{name}` was not found on PATH: install it (Docker: https://docs.docker.com/engine/install/, \
                 Debian: apt-get install docker.io) or choose another with --engine docker|podman"
            ))
        })?;
        Ok(Engine { program, kind: args.engine, debug: args.debug })
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Runs a short engine command to its end, capturing its output.
    fn short(&self, args: &[&str]) -> Result<std::process::Output> {
        // A shell per call keeps `Engine` shareable between worker threads.
        let shell = Shell::new()?;
        let program = &self.program;
        let command = cmd!(shell, "{program} {args...}").quiet().ignore_status();
        if self.debug {
            eprintln!("$ {command}");
        }
        Ok(command.output()?)
    }

    fn short_ok(&self, args: &[&str]) -> Result<String> {
        let output = self.short(args)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(self.failure(args, &String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// An engine error that says what to do about it.
    pub fn failure(&self, args: &[&str], stderr: &str) -> anyhow::Error {
        let stderr = stderr.trim();
        let unreachable =
            ["Cannot connect to the Docker daemon", "Is the docker daemon running", "connection refused"]
                .iter()
                .any(|s| stderr.contains(s));
        if unreachable {
            return environment(format!(
                "the {} engine is not answering: start it (systemctl start docker, or run `dockerd &` as root), \
                 or point DOCKER_HOST at a running engine.\n{stderr}",
                self.name()
            ));
        }
        if stderr.contains("permission denied") {
            return environment(format!(
                "no permission to use the {} engine: add yourself to the `docker` group or run as root.\n{stderr}",
                self.name()
            ));
        }
        environment(format!("`{} {}` failed:\n{stderr}", self.name(), args.join(" ")))
    }

    /// The tags present locally for an image repository (one call for many cache checks).
    pub fn local_tags(&self, repository: &str) -> Result<Vec<String>> {
        let output = self.short_ok(&["images", "--format", "{{.Tag}}", repository])?;
        Ok(output.lines().map(str::to_string).collect())
    }

    /// Whether an image is present locally; an unreachable engine is an error, not a "no".
    pub fn image_exists(&self, image: &str) -> Result<bool> {
        let args = ["image", "inspect", "--format", "{{.Id}}", image];
        let output = self.short(&args)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            Ok(true)
        } else if stderr.to_ascii_lowercase().contains("no such image") || stderr.contains("image not known")
        {
            Ok(false)
        } else {
            Err(self.failure(&args, &stderr))
        }
    }

    /// Tries to pull an image; `false` when the registry cannot be reached or has no such image.
    pub fn pull(&self, image: &str) -> Result<bool> {
        let output = self.short(&["pull", "--quiet", image])?;
        Ok(output.status.success())
    }

    /// The `build` command line for a prepared context directory.
    pub fn build_command(&self, context: &Path, tag: &str, base_image: &str) -> duct::Expression {
        let args: Vec<OsString> = [
            "build",
            "--build-arg",
            &format!("BASE_IMAGE={base_image}"),
            "--label",
            &format!("{PROJECT_LABEL}=1"),
            "--label",
            &format!("{KIND_LABEL}=test"),
            "--tag",
            tag,
        ]
        .iter()
        .map(OsString::from)
        .chain([context.as_os_str().to_owned()])
        .collect();
        self.long(args)
    }

    /// Imports a root filesystem directory as an image (`tar | engine import`).
    pub fn import_command(&self, rootfs: &Path, image: &str, changes: &[String]) -> duct::Expression {
        let mut args: Vec<OsString> = vec!["import".into()];
        for change in changes {
            args.push("--change".into());
            args.push(change.into());
        }
        args.extend(["-".into(), image.into()]);
        let tar =
            duct::cmd("tar", [OsString::from("-C"), rootfs.as_os_str().to_owned(), ".".into(), "-c".into()]);
        if self.debug {
            eprintln!("$ tar -C {} -c . | {} {}", rootfs.display(), self.name(), display_args(&args));
        }
        tar.pipe(duct::cmd(&self.program, args))
    }

    /// The `run` command for one module's container, attached, not removed on exit
    /// (the runner asks how it ended before removing it).
    pub fn run_command(&self, spec: &ContainerSpec) -> duct::Expression {
        self.long(run_args(spec).into_iter().map(OsString::from).collect())
            .dir(&spec.host_dir)
            // Own process group: Ctrl-C reaches the runner alone, which then
            // removes the containers itself instead of racing the engine CLI
            // (which would forward the signal into the module).
            .before_spawn(|command| {
                command.process_group(0);
                Ok(())
            })
    }

    fn long(&self, args: Vec<OsString>) -> duct::Expression {
        if self.debug {
            eprintln!("$ {} {}", self.name(), display_args(&args));
        }
        // In the runner's process group: Ctrl-C during a build stops both.
        duct::cmd(&self.program, args).stdin_null().unchecked()
    }

    /// The engine server's version (for benchmark records).
    pub fn server_version(&self) -> Result<String> {
        Ok(self.short_ok(&["version", "--format", "{{.Server.Version}}"])?.trim().to_string())
    }

    /// The benchmark's baseline: module names on stdin, `jobs` plain
    /// `run --rm` calls at a time, no runner in between.
    pub fn baseline_loop(&self, image: &str, jobs: usize) -> duct::Expression {
        let program = self.program.as_os_str().to_owned();
        let args: Vec<OsString> = vec![
            "-P".into(),
            jobs.to_string().into(),
            "-I{}".into(),
            program,
            "run".into(),
            "--rm".into(),
            "--network".into(),
            "none".into(),
            image.into(),
            "python3".into(),
            "{}".into(),
        ];
        duct::cmd("xargs", args)
    }

    /// Whether the engine saw the container's memory limit kill it.
    ///
    /// The engine records the kernel's OOM event asynchronously, so on a busy
    /// machine it can land just after the container's exit: ask a few times.
    /// Podman 4.3 never sets OOMKilled; its conmon writes an `oom` file in
    /// its working directory instead, which is the container's `host_dir`.
    pub fn was_oom_killed(&self, container: &str, host_dir: &Path) -> Result<bool> {
        if self.kind == EngineKind::Podman && host_dir.join("oom").exists() {
            return Ok(true);
        }
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let output =
                self.short_ok(&["container", "inspect", "--format", "{{.State.OOMKilled}}", container])?;
            if output.trim() == "true" {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Force-removes containers (running ones are killed); already-gone ones are fine.
    pub fn remove_containers(&self, names: &[String]) -> Result<()> {
        for chunk in names.chunks(100) {
            let mut args = vec!["rm", "--force", "--volumes"];
            if self.kind == EngineKind::Podman {
                // Without it podman 4.3 removes nothing when one name is already gone.
                args.push("--ignore");
            }
            args.extend(chunk.iter().map(String::as_str));
            let output = self.short(&args)?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let real_errors: Vec<&str> = stderr
                .lines()
                .filter(|l| {
                    !l.is_empty() && !l.contains("No such container") && !l.contains("no such container")
                })
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
        let output = self.short_ok(&["ps", "--all", "--quiet", "--no-trunc", "--filter", &filter])?;
        Ok(output.lines().map(str::to_string).collect())
    }

    /// References (`repo:tag`) of images carrying a label.
    pub fn images_with_label(&self, label: &str) -> Result<Vec<String>> {
        let filter = format!("label={label}");
        let output =
            self.short_ok(&["images", "--filter", &filter, "--format", "{{.Repository}}:{{.Tag}}"])?;
        Ok(output.lines().filter(|l| !l.contains("<none>")).map(str::to_string).collect())
    }

    pub fn remove_images(&self, images: &[String]) -> Result<()> {
        if images.is_empty() {
            return Ok(());
        }
        let mut args = vec!["rmi", "--force"];
        args.extend(images.iter().map(String::as_str));
        self.short_ok(&args).map(drop)
    }
}

/// The `run` arguments: hardened by default, every relaxation explicit.
pub fn run_args(spec: &ContainerSpec) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--name".into(),
        spec.name.clone(),
        "--label".into(),
        format!("{PROJECT_LABEL}=1"),
        "--label".into(),
        format!("{RUN_LABEL}={}", spec.run_id),
        "--network".into(),
        spec.network.clone(),
        "--read-only".into(),
        "--tmpfs".into(),
        "/tmp:rw,nosuid,nodev,mode=1777".into(),
        "--cap-drop".into(),
        "ALL".into(),
        "--security-opt".into(),
        "no-new-privileges".into(),
        "--pids-limit".into(),
        PIDS_LIMIT.into(),
        "--user".into(),
        UNPRIVILEGED_USER.into(),
        // Explicit limits: podman's defaults exceed what an unprivileged
        // engine (itself in a container) may set, and a module needs few.
        "--ulimit".into(),
        "nofile=1024:1024".into(),
        "--ulimit".into(),
        "nproc=4096:4096".into(),
    ];
    if let Some(bytes) = &spec.memory_bytes {
        // Same value for swap: the limit is on memory, not on memory plus swap.
        args.extend(["--memory".into(), bytes.clone(), "--memory-swap".into(), bytes.clone()]);
    }
    for (key, value) in &spec.env {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    args.push(spec.image.clone());
    args.extend(spec.command.iter().cloned());
    args
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "pymaccounter-r1-0".into(),
            image: "pymaccounter-tests:abc".into(),
            run_id: "r1".into(),
            network: "none".into(),
            memory_bytes: Some("1073741824".into()),
            env: vec![("PYTHONMALLOC".into(), "malloc".into())],
            command: vec!["python3".into(), "test_$(rm -rf x).py".into()],
            host_dir: PathBuf::from("/tmp"),
        }
    }

    fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
        args.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn containers_are_hardened_by_default() {
        let args = run_args(&spec());
        assert!(has_pair(&args, "--network", "none"));
        assert!(args.contains(&"--read-only".to_string()));
        assert!(has_pair(&args, "--cap-drop", "ALL"));
        assert!(has_pair(&args, "--security-opt", "no-new-privileges"));
        assert!(has_pair(&args, "--pids-limit", PIDS_LIMIT));
        assert!(has_pair(&args, "--user", UNPRIVILEGED_USER));
        assert!(has_pair(&args, "--memory", "1073741824"));
        assert!(has_pair(&args, "--label", "pymaccounter.run=r1"));
        assert!(has_pair(&args, "--env", "PYTHONMALLOC=malloc"));
        assert!(!args.contains(&"--rm".to_string()), "the runner inspects before removing");
    }

    #[test]
    fn module_name_is_one_argument_after_the_image() {
        let args = run_args(&spec());
        let image_at = args.iter().position(|a| a == "pymaccounter-tests:abc").unwrap();
        assert_eq!(&args[image_at + 1..], ["python3", "test_$(rm -rf x).py"]);
    }

    #[test]
    fn no_memory_limit_means_no_memory_flags() {
        let args = run_args(&ContainerSpec { memory_bytes: None, ..spec() });
        assert!(!args.iter().any(|a| a.starts_with("--memory")));
    }

    #[test]
    fn relaxed_network_is_passed_through() {
        let args = run_args(&ContainerSpec { network: "bridge".into(), ..spec() });
        assert!(has_pair(&args, "--network", "bridge"));
    }
}
