//! The offline base image: Debian's python3 from the Debian archive, for
//! machines that reach Debian's mirror but no image registry.

use std::path::Path;

use anyhow::Result;

use crate::engine::{Engine, KIND_LABEL, PROJECT_LABEL};
use crate::error::environment;
use crate::model::event::Notice;
use crate::model::pythons::Python;
use crate::scratch::TempDir;

const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// debootstrap's script for every Debian suite (its per-suite scripts are links
/// to it); naming it lets a debootstrap older than the suite (forky) build it.
const DEBOOTSTRAP_SCRIPT: &str = "sid";

/// Whether an image is one of our offline bases (it has all the Dockerfile
/// needs, so the test image builds without a network).
pub fn is_offline(image: &str) -> bool {
    image.starts_with("pymaccounter-base:")
}

/// `pymaccounter-base:python-X.Y-<hash of suite and packages>`; see [`crate::model::pythons`].
pub fn reference(python: &Python) -> String {
    python.offline_base()
}

/// Builds the offline base for a Python version with debootstrap and `import`,
/// unless it exists (checked under the host lock, so two runs build it once).
/// Returns whether it built it.
pub fn build(engine: &Engine, python: &Python, force: bool) -> Result<bool> {
    let image = reference(python);
    let suite = python.suite;
    let packages = python.packages.join(",");
    let _lock = crate::image::lock::host_lock(&image)?;
    if !force && engine.image_exists(&image)? {
        return Ok(false);
    }
    let debootstrap = which::which("debootstrap").map_err(|_| {
        environment(format!(
            "building the offline base {image} needs debootstrap: install it (apt-get install debootstrap) \
             and run as root, or pass --base-image IMAGE with an image that has python3"
        ))
    })?;
    let mirror = std::env::var("PYMACCOUNTER_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.to_string());
    engine.notices().send(Notice::BuildingBase {
        image: image.clone(),
        suite: suite.to_string(),
        mirror: mirror.clone(),
        packages: packages.clone(),
    });
    let workdir = TempDir::new("pymaccounter-rootfs-")?;
    let rootfs = workdir.path().join("rootfs");
    let command = duct::cmd!(
        debootstrap,
        "--variant=minbase",
        format!("--include={packages}"),
        suite,
        &rootfs,
        &mirror,
        DEBOOTSTRAP_SCRIPT
    );
    engine.notices().send(Notice::Command(format!("{command:?}")));
    crate::image::logged::run_logged(
        command,
        engine.debug(),
        engine.notices(),
        "debootstrap",
        |_| {},
        |tail| {
            environment(format!(
                "debootstrap of Debian {suite} failed (it needs root and access to {mirror}; \
             set PYMACCOUNTER_DEBIAN_MIRROR for another mirror):\n{tail}"
            ))
        },
    )?;
    prune(&rootfs);
    let changes = [
        "ENV LANG=C.UTF-8".to_string(),
        format!("LABEL {PROJECT_LABEL}=1 {KIND_LABEL}=base {}", crate::engine::user_label()),
        format!("CMD [\"{}\"]", python.interpreter),
    ];
    engine.import(&rootfs, &image, &changes)?;
    engine.notices().send(Notice::BuiltBase { image: image.clone() });
    Ok(true)
}

/// Drops what a test container never reads (package caches, docs), halving the image.
fn prune(rootfs: &Path) {
    for dir in
        ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"]
    {
        let path = rootfs.join(dir);
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ =
                    if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
        }
    }
}
