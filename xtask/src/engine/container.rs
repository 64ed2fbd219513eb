//! One module's container: what every container of a run shares (the
//! template, decided once from the options) and what each job adds, turned
//! into the engine's `run` arguments. Hardened by default; every relaxation
//! is an explicit field.

use std::path::PathBuf;

use crate::engine::kinds::Conventions;
use crate::engine::{KIND_LABEL, OWNER_LABEL, PROJECT_LABEL, RUN_LABEL};
use crate::model::limits::MemoryLimit;

/// A non-root user and group that exist in every Debian-based image (`nobody`).
pub const NOBODY: u32 = 65534;
/// Enough processes for a module that spawns helpers, too few for a fork bomb.
pub const PIDS_LIMIT: u32 = 128;
/// Every container's descriptor and process limits, given explicitly:
/// Podman's defaults exceed what an unprivileged engine (itself in a
/// container) may set, and then no container starts at all; a module, a
/// helper or the environment's installer needs few.
pub const ULIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];
/// Writable, executable scratch space, fresh in every container: tmpfs, so
/// what a module writes there counts toward its memory limit.
pub const TMPFS_OPTIONS: &str = "rw,exec,nosuid,nodev,mode=1777";

/// Something the containers see at `target`: read-only, except an output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host directory (a local engine sees the host's files).
    Bind { source: PathBuf, target: String },
    /// An engine volume (filled once per run, for engines that cannot see the host).
    Volume { name: String, target: String },
    /// A host directory the container writes results into (memray's capture).
    Output { source: PathBuf, target: String },
    /// An engine volume the container writes into (a remote engine's install).
    VolumeOutput { name: String, target: String },
}

/// What every container of a run shares.
#[derive(Debug, Clone)]
pub struct ContainerTemplate {
    pub run_id: String,
    /// The process that owns the run (`engine::owner::this_process`).
    pub owner: String,
    pub network: String,
    pub memory: MemoryLimit,
    /// `UID:GID` the module runs as: the test dir's owner (root included: every capability is dropped).
    pub user: String,
    /// Read-only mounts (the test dir).
    pub mounts: Vec<Mount>,
    /// Writable tmpfs directories; the first is the working directory.
    pub scratch_dirs: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// One job's container.
#[derive(Debug, Clone)]
pub struct ContainerSpec<'a> {
    pub template: &'a ContainerTemplate,
    pub name: String,
    pub image: String,
    /// Variables of this job (the allocator), after the template's.
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
    /// This job's memory limit, when it differs from the run's.
    pub memory: Option<MemoryLimit>,
    /// Mounts of this job alone (its output folder).
    pub mounts: Vec<Mount>,
    /// The largest file a process may write (set with a writable host mount,
    /// whose disk no memory limit bounds).
    pub max_file_bytes: Option<u64>,
    /// Written to the container's stdin (the wrapper's nonce), which is then closed.
    pub input: Option<String>,
    /// Where the engine CLI runs on the host: podman's conmon leaves its
    /// `oom` marker in its working directory, so each container gets its own.
    pub host_dir: PathBuf,
}

impl ContainerTemplate {
    pub fn container(
        &self,
        name: String,
        image: String,
        env: Vec<(String, String)>,
        command: Vec<String>,
        host_dir: PathBuf,
    ) -> ContainerSpec<'_> {
        ContainerSpec {
            template: self,
            name,
            image,
            env,
            command,
            memory: None,
            mounts: Vec::new(),
            max_file_bytes: None,
            input: None,
            host_dir,
        }
    }
}

/// The `run` arguments (without the program), attached, and removed by the
/// engine when it ends (`--rm`: the CLI returns once it is gone, so no
/// removal call follows each module). What the runner needs to know of its
/// end comes from the wrapper's line, the memory limit's kills included.
pub fn run_args(spec: &ContainerSpec, conventions: &Conventions) -> Vec<String> {
    let template = spec.template;
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        // Test images are built here, never fetched: a missing one (a guess
        // that went stale, see `image::known`) is an error, not a pull of
        // whatever a registry holds under that name.
        "--pull".into(),
        "never".into(),
        "--name".into(),
        spec.name.clone(),
        "--label".into(),
        format!("{PROJECT_LABEL}=1"),
        "--label".into(),
        format!("{KIND_LABEL}=module"),
        "--label".into(),
        format!("{RUN_LABEL}={}", template.run_id),
        "--label".into(),
        format!("{OWNER_LABEL}={}", template.owner),
        "--label".into(),
        crate::engine::user_label(),
        "--network".into(),
        template.network.clone(),
        "--read-only".into(),
        "--cap-drop".into(),
        "ALL".into(),
        "--security-opt".into(),
        "no-new-privileges".into(),
        "--pids-limit".into(),
        PIDS_LIMIT.to_string(),
        "--user".into(),
        template.user.clone(),
        // The runner captures the output itself: the engine keeps no copy
        // (a json-file log grows with the output, unbounded by default).
        "--log-driver".into(),
        "none".into(),
    ];
    args.extend(ULIMITS.map(String::from));
    if spec.input.is_some() {
        args.push("--interactive".into());
    }
    if let Some(bytes) = spec.max_file_bytes {
        args.extend(["--ulimit".into(), format!("fsize={bytes}:{bytes}")]);
    }
    for (position, dir) in template.scratch_dirs.iter().enumerate() {
        let mut options = TMPFS_OPTIONS.to_string();
        if position == 0 && conventions.workdir_tmpfs_needs_owner {
            // The working directory's tmpfs goes to the module's user.
            let (uid, gid) = template.user.split_once(':').unwrap_or((&template.user, &template.user));
            options.push_str(&format!(",uid={uid},gid={gid}"));
        }
        args.extend(["--tmpfs".into(), format!("{dir}:{options}")]);
    }
    if let Some(workdir) = template.scratch_dirs.first() {
        args.extend(["--workdir".into(), workdir.clone()]);
    }
    if let Some(bytes) = spec.memory.unwrap_or(template.memory).bytes() {
        // Same value for swap: the limit is on memory, not on memory plus swap.
        args.extend(["--memory".into(), bytes.to_string(), "--memory-swap".into(), bytes.to_string()]);
    }
    for mount in template.mounts.iter().chain(&spec.mounts) {
        args.extend(["--mount".into(), mount_arg(mount)]);
    }
    for (key, value) in template.env.iter().chain(&spec.env) {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    args.push(spec.image.clone());
    args.extend(spec.command.iter().cloned());
    args
}

/// `--mount` takes CSV: a field holding a comma or a quote is quoted.
pub fn mount_arg(mount: &Mount) -> String {
    // Podman 4.3 refuses `readonly` on a volume ("invalid mount option");
    // both engines take `ro` there.
    let (kind, source, target, access) = match mount {
        Mount::Bind { source, target } => {
            ("bind", source.to_string_lossy().into_owned(), target, ",readonly")
        }
        Mount::Volume { name, target } => ("volume", name.clone(), target, ",ro"),
        Mount::Output { source, target } => ("bind", source.to_string_lossy().into_owned(), target, ""),
        Mount::VolumeOutput { name, target } => ("volume", name.clone(), target, ""),
    };
    let field = |key: &str, value: &str| {
        let pair = format!("{key}={value}");
        if pair.contains([',', '"']) {
            format!("\"{}\"", pair.replace('"', "\"\""))
        } else {
            pair
        }
    };
    format!("type={kind},{},{}{access}", field("source", &source), field("target", target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> ContainerTemplate {
        ContainerTemplate {
            run_id: "r1".into(),
            owner: "host:1:2".into(),
            network: "none".into(),
            memory: MemoryLimit::Bytes(1 << 30),
            user: format!("{NOBODY}:{NOBODY}"),
            mounts: vec![Mount::Bind { source: "/home/u/tests".into(), target: "/home/u/tests".into() }],
            scratch_dirs: vec!["/scratch".into(), "/tmp".into()],
            env: vec![("A".into(), "1".into())],
        }
    }

    fn args_for(template: &ContainerTemplate) -> Vec<String> {
        let spec = template.container(
            "pymaccounter-r1-0".into(),
            "pymaccounter-tests:abc".into(),
            vec![("PYTHONMALLOC".into(), "malloc".into())],
            vec!["python3".into(), "test_$(rm -rf x).py".into()],
            PathBuf::from("/tmp"),
        );
        run_args(&spec, crate::engine::EngineKind::Docker.conventions())
    }

    fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
        args.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn containers_are_hardened_by_default() {
        let args = args_for(&template());
        assert!(has_pair(&args, "--network", "none"));
        assert!(args.contains(&"--read-only".to_string()));
        assert!(has_pair(&args, "--cap-drop", "ALL"));
        assert!(has_pair(&args, "--security-opt", "no-new-privileges"));
        assert!(has_pair(&args, "--pids-limit", "128"));
        assert!(has_pair(&args, "--user", "65534:65534"));
        assert!(has_pair(&args, "--memory", "1073741824"));
        assert!(has_pair(&args, "--memory-swap", "1073741824"));
        assert!(has_pair(&args, "--label", "pymaccounter.run=r1"));
        assert!(has_pair(&args, "--label", "pymaccounter.owner=host:1:2"));
        assert!(args.contains(&"--rm".to_string()), "the engine removes it as it ends");
        assert!(has_pair(&args, "--pull", "never"), "a test image is never fetched");
        assert!(has_pair(&args, "--log-driver", "none"), "the engine keeps no copy of the output");
        assert!(!args.iter().any(|a| a.starts_with("fsize=")));
        let template = template();
        let mut spec = template.container("n".into(), "i".into(), vec![], vec![], "/tmp".into());
        spec.max_file_bytes = Some(1 << 30);
        let args = run_args(&spec, crate::engine::EngineKind::Docker.conventions());
        assert!(has_pair(&args, "--ulimit", "fsize=1073741824:1073741824"));
    }

    #[test]
    fn scratch_is_writable_executable_and_the_working_directory() {
        let args = args_for(&template());
        assert!(has_pair(&args, "--tmpfs", "/scratch:rw,exec,nosuid,nodev,mode=1777,uid=65534,gid=65534"));
        assert!(has_pair(&args, "--tmpfs", "/tmp:rw,exec,nosuid,nodev,mode=1777"));
        assert!(has_pair(&args, "--workdir", "/scratch"));
        let template = template();
        let spec = template.container("n".into(), "i".into(), vec![], vec![], "/tmp".into());
        let podman = run_args(&spec, crate::engine::EngineKind::Podman.conventions());
        assert!(
            has_pair(&podman, "--tmpfs", "/scratch:rw,exec,nosuid,nodev,mode=1777"),
            "podman refuses uid="
        );
    }

    #[test]
    fn the_test_dir_is_mounted_read_only() {
        let args = args_for(&template());
        assert!(has_pair(&args, "--mount", "type=bind,source=/home/u/tests,target=/home/u/tests,readonly"));
        let odd = Mount::Bind { source: "/a,b\"c".into(), target: "/t".into() };
        assert_eq!(mount_arg(&odd), "type=bind,\"source=/a,b\"\"c\",target=/t,readonly");
        let output = Mount::Output { source: "/runs/1".into(), target: "/memray".into() };
        assert_eq!(
            mount_arg(&output),
            "type=bind,source=/runs/1,target=/memray",
            "an output folder is writable"
        );
        let volume = Mount::Volume { name: "v".into(), target: "/home/u/tests".into() };
        assert_eq!(mount_arg(&volume), "type=volume,source=v,target=/home/u/tests,ro");
        let written = Mount::VolumeOutput { name: "v".into(), target: "/opt/env".into() };
        assert_eq!(
            mount_arg(&written),
            "type=volume,source=v,target=/opt/env",
            "an install's volume is writable"
        );
    }

    #[test]
    fn the_runs_variables_come_before_the_jobs() {
        let args = args_for(&template());
        let a = args.iter().position(|a| a == "A=1").unwrap();
        let malloc = args.iter().position(|a| a == "PYTHONMALLOC=malloc").unwrap();
        assert!(a < malloc);
    }

    #[test]
    fn module_name_is_one_argument_after_the_image() {
        let args = args_for(&template());
        let image_at = args.iter().position(|a| a == "pymaccounter-tests:abc").unwrap();
        assert_eq!(&args[image_at + 1..], ["python3", "test_$(rm -rf x).py"]);
    }

    #[test]
    fn no_memory_limit_means_no_memory_flags() {
        let args = args_for(&ContainerTemplate { memory: MemoryLimit::Unlimited, ..template() });
        assert!(!args.iter().any(|a| a.starts_with("--memory")));
    }

    #[test]
    fn relaxed_network_is_passed_through() {
        let args = args_for(&ContainerTemplate { network: "bridge".into(), ..template() });
        assert!(has_pair(&args, "--network", "bridge"));
    }
}
