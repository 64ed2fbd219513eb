//! One table of conventions per engine: everything that differs between
//! Docker's and Podman's CLI lives here, and only here.

use crate::model::choice::Choice;

/// The engine CLIs the runner can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl Choice for EngineKind {
    const ALL: &'static [EngineKind] = &[EngineKind::Docker, EngineKind::Podman];

    fn name(self) -> &'static str {
        self.conventions().program
    }
}

/// What the runner needs to know about one engine's CLI.
pub struct Conventions {
    /// The program looked up on PATH.
    pub program: &'static str,
    /// How to install it, for "not found" errors.
    pub install: &'static str,
    /// How to get its server answering, for "not answering" errors.
    pub start: &'static str,
    /// Extra `rm --force` flags. Podman 4.3 removes nothing when one of the
    /// names is already gone, unless told to ignore it.
    pub remove_flags: &'static [&'static str],
    /// A file the engine's monitor leaves in its working directory when the
    /// memory limit killed the container. Podman 4.3 never sets
    /// `State.OOMKilled`; its conmon writes `oom` instead.
    pub oom_marker_file: Option<&'static str>,
    /// Docker 20.10 drops `mode` on a tmpfs that is also the working
    /// directory; its owner must be set (`uid=`/`gid=`), which Podman refuses.
    pub workdir_tmpfs_needs_owner: bool,
    /// `cp` flags that keep the copied files' owners and modes, so a copy of
    /// the test dir reads as the bind mount would. The engines' defaults are
    /// opposite: Podman chowns to the container's user unless told not to.
    pub copy_keeping_owners: &'static [&'static str],
    /// The variable that points the CLI at another engine host.
    pub host_variable: &'static str,
    /// Words of its error output, lower-cased, for each kind of trouble.
    pub unreachable: &'static [&'static str],
    pub no_permission: &'static [&'static str],
    pub no_such_image: &'static [&'static str],
    pub no_such_container: &'static [&'static str],
    /// Where the CLI reads its image store itself (no daemon between), so
    /// that the runner can tell the store is unchanged by its files alone.
    pub local_store: Option<LocalStore>,
}

/// How a daemonless engine's image store is found and watched: see `image/store.rs`.
pub struct LocalStore {
    /// The `info --format` template that prints the store's folder, its
    /// storage driver and whether the CLI is a client of another host's
    /// service, separated by tabs.
    pub info_format: &'static str,
    /// The files in the store's driver folder that each change of its
    /// names rewrites: the names and ids, written whole and renamed, and
    /// the lock whose write token every writer renews.
    pub names_file: &'static str,
    pub lock_file: &'static str,
    /// The folders of the settings that say where the store is and whether
    /// the CLI is local (system-wide, then under the user's config folder).
    pub settings_folders: &'static [&'static str],
    pub user_settings_folder: &'static str,
    /// Variables that point the CLI at other settings, stores or hosts.
    pub settings_variables: &'static [&'static str],
}

/// `run`'s exit code when the engine itself failed to create or start the
/// container (both engines document it). A module's own 125 is told apart by
/// the measurement trailer: only a module that ran has one.
pub const RUN_FAILED_EXIT: i32 = 125;

/// Exit codes of a container that never started: the engine's own failure
/// (125), or its OCI runtime's (126: cannot execute, 127: not found), as
/// docker and podman report them. With no word from the wrapper (which is
/// PID 1 of every container), such a code is the engine's, never a module's.
pub const CANNOT_START_EXITS: [i32; 3] = [RUN_FAILED_EXIT, 126, 127];

/// The exit code the engine reports for a container whose first process was
/// killed by a signal: 128 + the signal, as shells do.
pub fn killed_by_signal_exit(signal: i32) -> i32 {
    128 + signal
}

const DOCKER: Conventions = Conventions {
    program: "docker",
    install: "install Docker (https://docs.docker.com/engine/install/; Debian: apt-get install docker.io)",
    start: "start it (systemctl start docker, or run `dockerd &` as root), or point DOCKER_HOST at a running engine",
    remove_flags: &[],
    oom_marker_file: None,
    workdir_tmpfs_needs_owner: true,
    copy_keeping_owners: &["--archive"],
    host_variable: "DOCKER_HOST",
    unreachable: &["cannot connect to the docker daemon", "is the docker daemon running", "connection refused"],
    no_permission: &["permission denied"],
    no_such_image: &["no such image"],
    // Another caller (a `--rm`, a run's reaper) got there first.
    no_such_container: &["no such container", "already in progress"],
    local_store: None,
};

const PODMAN: Conventions = Conventions {
    program: "podman",
    install: "install Podman (https://podman.io/docs/installation; Debian: apt-get install podman)",
    start: "check `podman info`; for a remote Podman set CONTAINER_HOST or use `podman system connection`",
    remove_flags: &["--ignore"],
    oom_marker_file: Some("oom"),
    workdir_tmpfs_needs_owner: false,
    copy_keeping_owners: &["--archive=false"],
    host_variable: "CONTAINER_HOST",
    unreachable: &["cannot connect to podman", "unable to connect to podman", "connection refused"],
    no_permission: &["permission denied"],
    no_such_image: &["image not known", "no such image"],
    no_such_container: &["no such container", "already in progress"],
    // containers/storage: `GRAPHROOT/DRIVER-images/images.json` and `images.lock`.
    local_store: Some(LocalStore {
        info_format: "{{.Store.GraphRoot}}\t{{.Store.GraphDriverName}}\t{{.Host.ServiceIsRemote}}",
        names_file: "images.json",
        lock_file: "images.lock",
        settings_folders: &["/usr/share/containers", "/etc/containers"],
        user_settings_folder: "containers",
        settings_variables: &[
            "CONTAINERS_CONF",
            "CONTAINERS_CONF_OVERRIDE",
            "CONTAINERS_STORAGE_CONF",
            "CONTAINER_HOST",
            "CONTAINER_CONNECTION",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_RUNTIME_DIR",
            "HOME",
        ],
    }),
};

impl EngineKind {
    pub fn conventions(self) -> &'static Conventions {
        match self {
            EngineKind::Docker => &DOCKER,
            EngineKind::Podman => &PODMAN,
        }
    }

    pub fn name(self) -> &'static str {
        self.conventions().program
    }
}

/// Whether any of `words` appears in `text`, ignoring case.
pub fn mentions(text: &str, words: &[&str]) -> bool {
    let text = text.to_ascii_lowercase();
    words.iter().any(|w| text.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_errors_point_at_podman() {
        let podman = EngineKind::Podman.conventions();
        assert!(podman.install.contains("podman") && !podman.install.contains("docker.io"));
        assert!(!EngineKind::Docker.conventions().install.contains("podman"));
    }

    #[test]
    fn trouble_is_recognised_whatever_the_case() {
        let docker = EngineKind::Docker.conventions();
        assert!(mentions("Cannot connect to the Docker daemon at unix:///x", docker.unreachable));
        assert!(mentions("Error: No such image: x", docker.no_such_image));
        assert!(mentions("Error: x: image not known", EngineKind::Podman.conventions().no_such_image));
        assert!(!mentions("all good", docker.unreachable));
    }

    #[test]
    fn a_signal_death_reads_as_shells_report_it() {
        assert_eq!(killed_by_signal_exit(9), 137);
    }
}
