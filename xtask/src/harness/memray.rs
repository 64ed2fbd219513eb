//! `--memray`: memray records each module into an output folder mounted in
//! its container; afterwards a second container of the same image (which has
//! memray) turns the capture into a summary and a flame graph
//! (`xtask/container/memray_collect.py`), read back here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Result;

use crate::engine::container::Mount;
use crate::engine::Engine;
use crate::model::job::Job;
use crate::model::memray::MemraySummary;

/// The output folder inside the module's container.
pub const FOLDER: &str = "/memray";
/// memray's capture file (its non-aggregated format survives an OOM kill).
pub const CAPTURE: &str = "/memray/capture.bin";
const COLLECTOR: &str = "/opt/pymaccounter/memray_collect.py";

/// The job's output folder on the host, created writable for the module's user.
pub fn output_mount(folder: &Path) -> Result<Mount> {
    fs::create_dir_all(folder)?;
    fs::set_permissions(folder, fs::Permissions::from_mode(0o777))?;
    Ok(Mount::Output { source: folder.to_path_buf(), target: FOLDER.to_string() })
}

/// `<folder>/<tag>-<job label>.html`, with only safe characters.
pub fn flamegraph_path(folder: &Path, job: &Job, tag: &str) -> std::path::PathBuf {
    let name: String = job
        .label()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(80)
        .collect();
    folder.join(format!("{tag}-{name}.html"))
}

/// The summary of what memray recorded, when it recorded anything; `leaks`
/// asks for the leaks flame graph (meaningful when pymalloc was off).
pub fn collect(
    engine: &Engine,
    image: &str,
    user: &str,
    folder: &Path,
    leaks: bool,
    flamegraph_to: Option<&Path>,
    environment: Option<(&str, &[Mount])>,
) -> Result<Option<MemraySummary>> {
    if !folder.join("capture.bin").is_file() {
        return Ok(None);
    }
    let mut mounts = vec![Mount::Output { source: folder.to_path_buf(), target: FOLDER.to_string() }];
    // With a project's environment memray is there (from the index), not in the base.
    let python = environment.map_or("python3", |(python, _)| python);
    mounts.extend(environment.into_iter().flat_map(|(_, extra)| extra.iter().cloned()));
    let mut command = vec![python, COLLECTOR, CAPTURE];
    if leaks {
        command.push("--leaks");
    }
    if !engine.run_helper(image, user, &mounts, &command)? {
        return Ok(None);
    }
    let text = fs::read_to_string(folder.join("summary.json"))?;
    let mut summary: MemraySummary = serde_json::from_str(&text)?;
    let flamegraph = folder.join("flamegraph.html");
    summary.flamegraph_path = match flamegraph_to.filter(|_| flamegraph.is_file()) {
        Some(target) => {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::copy(&flamegraph, target)?;
            Some(target.to_path_buf())
        }
        None => flamegraph.is_file().then_some(flamegraph),
    };
    Ok(Some(summary))
}
