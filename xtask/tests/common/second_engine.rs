//! A second `dockerd` a test starts itself, with its own data root, exec
//! root, pid file, socket, bridge and an empty config file, so that the
//! machine's own engine is untouched (remote engines, engine faults).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// The base the main engine's test image is built on (the offline one here,
/// where no registry answers), read from `build-image`'s note.
pub fn offline_base_of_the_main_engine() -> String {
    let built = xtask(&["build-image"]);
    assert_eq!(built.code, 0, "{}", built.dump());
    built
        .stderr
        .lines()
        .find_map(|l| l.split("using the offline base ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("python:3.11-slim")
        .to_string()
}

/// A second `dockerd`, stopped and removed with everything it made when
/// dropped, whatever happened in between.
pub struct SecondEngine {
    root: PathBuf,
    bridge: String,
    pub host: String,
    daemon: Option<Child>,
}

impl SecondEngine {
    pub fn start() -> SecondEngine {
        let dockerd = which("dockerd").unwrap_or_else(|| {
            panic!(
                "dockerd is not installed: this test starts a second Docker engine of its own \
                 (install docker.io, or set {SKIP_VARIABLE}=1 to skip the engine tests)"
            )
        });
        // Short paths: containerd's socket lives under the exec root.
        let root = tempfile::Builder::new().prefix("pmr-").tempdir_in("/tmp").unwrap().keep();
        // Several tests of one process may each start one at the same time.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = std::process::id();
        let mut engine =
            SecondEngine { root, bridge: format!("pmr{id}x{n}"), host: String::new(), daemon: None };
        // Its own bridge: `--bridge none` would remove the main daemon's docker0.
        let subnet = format!("10.231.{}.1/24", (id + n * 67) % 200 + 20);
        sh(&["ip", "link", "add", &engine.bridge, "type", "bridge"]);
        sh(&["ip", "addr", "add", &subnet, "dev", &engine.bridge]);
        sh(&["ip", "link", "set", &engine.bridge, "up"]);
        // The machine's /etc/docker/daemon.json names the main data root.
        std::fs::write(engine.root.join("daemon.json"), "{}\n").unwrap();

        // fuse-overlayfs where the main engine uses it (here), overlay2 where
        // the kernel allows it (GitHub's runners), vfs anywhere (slow: full copies).
        let mut drivers = Vec::new();
        if Path::new("/dev/fuse").exists() && which("fuse-overlayfs").is_some() {
            drivers.push("fuse-overlayfs");
        }
        drivers.extend(["overlay2", "vfs"]);
        let mut failures = String::new();
        for driver in drivers {
            match engine.start_daemon(&dockerd, driver) {
                Ok(()) => return engine,
                Err(log) => failures.push_str(&format!("--- with {driver} ---\n{log}\n")),
            }
        }
        panic!("the second dockerd did not start:\n{failures}");
    }

    /// Starts the daemon with a storage driver; its log's tail if it never answers.
    fn start_daemon(&mut self, dockerd: &Path, driver: &str) -> Result<(), String> {
        let port = free_port();
        self.host = format!("tcp://127.0.0.1:{port}");
        let data = self.root.join(format!("data-{driver}"));
        let exec = self.root.join(format!("exec-{driver}"));
        let log_path = self.root.join(format!("dockerd-{driver}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = Command::new(dockerd);
        command
            .arg("--config-file")
            .arg(self.root.join("daemon.json"))
            .args(["-H", &self.host])
            .arg("--data-root")
            .arg(&data)
            .arg("--exec-root")
            .arg(&exec)
            .arg("--pidfile")
            .arg(self.root.join(format!("dockerd-{driver}.pid")))
            .args(["--bridge", &self.bridge, "--storage-driver", driver])
            // The main daemon owns the firewall rules and the forwarding sysctl.
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: Ctrl-C on the test run reaches it only through Drop.
            .process_group(0);
        self.daemon = Some(command.spawn().expect("dockerd starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.daemon.as_mut().unwrap().try_wait().unwrap().is_some() {
                break;
            }
            let version = self.docker(&["version", "--format", "{{.Server.Version}}"]);
            if version.status.success() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.stop_daemon();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker").args(["-H", &self.host]).args(args).output().expect("docker runs")
    }

    /// Copies an image from the main engine (no registry here).
    pub fn load(&self, image: &str) {
        let script = format!("docker save '{image}' | docker -H '{}' load", self.host);
        let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// `xtask run MODULES` on this engine, with `--debug` to see the mounts.
    pub fn xtask(&self, dir: &tempfile::TempDir, modules: &[&str]) -> Finished {
        let mut args = vec!["run"];
        args.extend(modules);
        args.extend(["--debug", "--test-dir", path_str(dir.path())]);
        let mut command = xtask_command(&args);
        command
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("PYMACCOUNTER_REMOTE_ENGINE");
        Finished::from_command(&mut command)
    }

    /// No container and no volume: the engine is this test's alone, so
    /// anything there was left by a run.
    pub fn assert_nothing_left(&self, when: &str) {
        for args in [["ps", "--all", "--quiet"], ["volume", "ls", "--quiet"]] {
            let output = self.docker(&args);
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let left = String::from_utf8_lossy(&output.stdout);
            assert!(left.trim().is_empty(), "`docker {}` {when}:\n{left}", args.join(" "));
        }
    }

    /// SIGTERM (the daemon stops its containerd and unmounts), then SIGKILL
    /// to its process group if it does not stop in time.
    /// The daemon's process id (to pause it with SIGSTOP, say).
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("the daemon runs").id()
    }

    fn stop_daemon(&mut self) {
        let Some(mut daemon) = self.daemon.take() else { return };
        let pid = daemon.id().to_string();
        // A paused daemon (SIGSTOP) would never act on SIGTERM.
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(daemon.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        let _ = daemon.wait();
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop_daemon();
        // Whatever the daemon left mounted under its folders, deepest first.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| Path::new(p).starts_with(&self.root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// These tests chown a test dir to another user, and one starts a daemon
/// and a bridge: root only.
pub fn require_root() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "the remote-engine tests need root (a second dockerd, a bridge, a test dir owned by another user): \
         run them as root (sudo -E), or set {SKIP_VARIABLE}=1 to skip the engine tests"
    );
}

pub fn sh(args: &[&str]) {
    let output = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(output.status.success(), "{}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A port nobody listens on now (the daemon takes it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
