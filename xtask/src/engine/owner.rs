//! Who owns a run: its id, and a label naming the process behind it, so that
//! `clean` can tell a live run's containers (left alone) from a dead one's.

use std::time::{SystemTime, UNIX_EPOCH};

/// Short, unique per run on this host (two runs at once never share one):
/// the process id, a dash, and sub-second time.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{:x}-{:05x}", std::process::id(), nanos >> 12)
}

/// A run's temporary folder (each job's engine CLI works in it) is
/// `<temp dir>/pymaccounter-run-<run id>-<random>`, so that `clean` can find
/// what a killed run left there.
pub const TEMP_PREFIX: &str = "pymaccounter-run-";

/// The run id in a temporary folder's name, when it is one of ours.
pub fn run_of_temp_folder(name: &str) -> Option<&str> {
    let (run, random) = name.strip_prefix(TEMP_PREFIX)?.rsplit_once('-')?;
    (!run.is_empty() && !random.is_empty()).then_some(run)
}

/// The volume a run copies the test dir into for a remote engine.
pub fn test_dir_volume(run_id: &str) -> String {
    run_volume(run_id, "tests")
}

/// A volume of a run for a remote engine (the test dir, the project root,
/// an environment, an install's folders): `pymaccounter-<run id>-<what>`.
pub fn run_volume(run_id: &str, what: &str) -> String {
    format!("pymaccounter-{run_id}-{what}")
}

/// The run a volume of `run_volume` belongs to (a run id is `PID-TIME`).
pub fn run_of_volume(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("pymaccounter-")?;
    let first = rest.find('-')?;
    let end = rest[first + 1..].find('-').map(|i| first + 1 + i)?;
    (first > 0 && end > first + 1 && end + 1 < rest.len()).then_some(&rest[..end])
}

/// This process, as `HOST:PID:START` (START, the kernel's start time of the
/// process, tells a live owner from a later process that got its pid).
pub fn this_process() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", host_name(), start_time(pid).unwrap_or(0))
}

/// Whether the process an owner label names still runs (always `true` for
/// another host's: it cannot be asked, so its containers are left alone).
pub fn is_alive(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != host_name() {
        return true;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    start_time(pid) == Some(start)
}

/// Whether the run with this id (see `new_run_id`) is going on on this host.
pub fn run_is_alive(run_id: &str) -> bool {
    let Some(pid) = run_id.split('-').next().and_then(|hex| u32::from_str_radix(hex, 16).ok()) else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| cmdline.contains("xtask"))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_folders_name_their_run() {
        let id = new_run_id();
        assert_eq!(run_of_temp_folder(&format!("{TEMP_PREFIX}{id}-a1B2c3")), Some(id.as_str()));
        assert_eq!(run_of_temp_folder("pymaccounter-run-"), None);
        assert_eq!(run_of_temp_folder("other-1-2"), None);
    }

    #[test]
    fn every_volume_of_a_run_names_its_run() {
        let id = new_run_id();
        for what in ["tests", "project", "env-3.11-dbg", "build-1"] {
            assert_eq!(run_of_volume(&run_volume(&id, what)), Some(id.as_str()), "{what}");
        }
        assert_eq!(run_of_volume(&test_dir_volume(&id)), Some(id.as_str()));
        for other in ["pymaccounter-1a-2b", "pymaccounter-1a-", "other-1a-2b-tests", "pymaccounter--2b-tests"]
        {
            assert_eq!(run_of_volume(other), None, "{other}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        assert!(is_alive(&this_process()));
        let me = this_process();
        let (rest, start) = me.rsplit_once(':').unwrap();
        assert!(!is_alive(&format!("{rest}:{}", start.parse::<u64>().unwrap() + 1)), "a reused pid");
        assert!(!is_alive(&format!("{}:4194304:1", host_name())), "no such pid");
        assert!(is_alive("some-other-host:1:1"), "another host's runs are left alone");
        assert!(!is_alive("garbage"));
    }

    #[test]
    fn run_ids_are_unique_and_name_their_process() {
        let id = new_run_id();
        assert!(id.starts_with(&format!("{:x}-", std::process::id())));
        assert!(
            run_is_alive(&id) == std::fs::read_to_string("/proc/self/cmdline").unwrap().contains("xtask")
        );
        assert!(!run_is_alive("zz-1"));
    }
}
