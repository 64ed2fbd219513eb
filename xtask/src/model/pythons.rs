//! The Python versions the runner offers: one row per `--python` value, with
//! the Debian suite its offline base comes from, the interpreter the modules
//! run with, and what that interpreter supports.
//!
//! Release rows use Debian's `python3.X` (the same name exists in the
//! registry's `python:X.Y-slim`). Debug rows use Debian's `python3.X-dbg`:
//! CPython built with `--with-pydebug` (`sys.gettotalrefcount()`, debug
//! allocator hooks on by default), installed as `/usr/bin/python3.Xd`. No
//! registry image carries a debug build, so those rows always use the offline
//! base. Everything below was checked in the bases themselves (see the README):
//! - `python3.X-dbg` depends on `libpython3.X-dbg` (listed anyway, to say so);
//!   both suites' binaries are `/usr/bin/python3.Xd` (`python3.X-dbg` links to it);
//! - `python3-memray` exists in trixie and forky only; its extension (release
//!   ABI) loads in the debug interpreters too, so the `-dbg` rows get it;
//! - `PYTHONMALLOC=mimalloc` (and `mimalloc_debug`) works on 3.13 and 3.14,
//!   debug builds included; 3.9 and 3.11 stop at start-up ("unknown allocator");
//! - bullseye's 3.9 ships `distutils` apart (`python3-distutils`), and uv
//!   cannot use a 3.9 interpreter without it: a project's environment needs it;
//! - forky's `python3` is 3.14 today; `python3.14` is named so the row keeps
//!   its interpreter when testing's default moves on.

use xxhash_rust::xxh3::Xxh3;

/// One supported Python.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Python {
    /// What users type after `--python`: `3.11`, `3.11-dbg`.
    pub name: &'static str,
    /// The `X.Y` version.
    pub version: &'static str,
    /// The Debian suite whose archive carries this interpreter.
    pub suite: &'static str,
    /// The interpreter's command inside the image.
    pub interpreter: &'static str,
    /// Debian packages of its offline base (their dependencies come along).
    pub packages: &'static [&'static str],
    /// A CPython debug build (`sys.gettotalrefcount` exists).
    pub debug_build: bool,
    /// `python3-memray` is installed and `-m memray` works with this interpreter.
    pub memray: bool,
    /// `PYTHONMALLOC=mimalloc` is accepted (CPython 3.13 and later).
    pub mimalloc: bool,
}

/// Every supported Python, release builds first, in version order.
pub const PYTHONS: [Python; 8] = [
    Python {
        name: "3.9",
        version: "3.9",
        suite: "bullseye",
        interpreter: "python3.9",
        packages: &["python3", "python3-pytest", "python3-distutils"],
        debug_build: false,
        memray: false,
        mimalloc: false,
    },
    Python {
        name: "3.11",
        version: "3.11",
        suite: "bookworm",
        interpreter: "python3.11",
        packages: &["python3", "python3-pytest"],
        debug_build: false,
        memray: false,
        mimalloc: false,
    },
    Python {
        name: "3.13",
        version: "3.13",
        suite: "trixie",
        interpreter: "python3.13",
        packages: &["python3", "python3-pytest", "python3-memray"],
        debug_build: false,
        memray: true,
        mimalloc: true,
    },
    Python {
        name: "3.14",
        version: "3.14",
        suite: "forky",
        interpreter: "python3.14",
        packages: &["python3", "python3.14", "python3-pytest", "python3-memray"],
        debug_build: false,
        memray: true,
        mimalloc: true,
    },
    Python {
        name: "3.9-dbg",
        version: "3.9",
        suite: "bullseye",
        interpreter: "python3.9d",
        packages: &["python3", "python3-pytest", "python3-distutils", "python3.9-dbg", "libpython3.9-dbg"],
        debug_build: true,
        memray: false,
        mimalloc: false,
    },
    Python {
        name: "3.11-dbg",
        version: "3.11",
        suite: "bookworm",
        interpreter: "python3.11d",
        packages: &["python3", "python3-pytest", "python3.11-dbg", "libpython3.11-dbg"],
        debug_build: true,
        memray: false,
        mimalloc: false,
    },
    Python {
        name: "3.13-dbg",
        version: "3.13",
        suite: "trixie",
        interpreter: "python3.13d",
        packages: &["python3", "python3-pytest", "python3-memray", "python3.13-dbg", "libpython3.13-dbg"],
        debug_build: true,
        memray: true,
        mimalloc: true,
    },
    Python {
        name: "3.14-dbg",
        version: "3.14",
        suite: "forky",
        interpreter: "python3.14d",
        packages: &["python3", "python3-pytest", "python3-memray", "python3.14-dbg", "libpython3.14-dbg"],
        debug_build: true,
        memray: true,
        mimalloc: true,
    },
];

/// The row for a name users type (`3.11`, `3.11-dbg`).
pub fn find(name: &str) -> Option<&'static Python> {
    PYTHONS.iter().find(|p| p.name == name)
}

/// Every name `--python` accepts, comma separated.
pub fn names() -> String {
    PYTHONS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// One line for `--help`: each release version with its suite, then the debug variants.
pub fn help_summary() -> String {
    let releases: Vec<String> = PYTHONS
        .iter()
        .filter(|p| !p.debug_build)
        .map(|p| format!("{}: Debian {}", p.name, p.suite))
        .collect();
    format!("{}; each also as X.Y-dbg, Debian's debug build", releases.join(", "))
}

impl Python {
    /// `pymaccounter-base:python-3.11-<hash>`: the hash covers the suite and the
    /// package list, so changing the recipe gives a new reference and an old base
    /// (say, one without pytest) is never reused.
    pub fn offline_base(&self) -> String {
        let mut hasher = Xxh3::new();
        for part in std::iter::once(self.suite).chain(self.packages.iter().copied()) {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        format!("pymaccounter-base:python-{}-{:08x}", self.name, hasher.digest() as u32)
    }

    /// The registry image for this version: `python:X.Y-slim`. No registry
    /// image has a debug build, so a debug row names its offline base instead.
    pub fn registry_base(&self) -> String {
        if self.debug_build {
            self.offline_base()
        } else {
            format!("python:{}-slim", self.version)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rows_are_consistent() {
        for (i, p) in PYTHONS.iter().enumerate() {
            assert!(PYTHONS[i + 1..].iter().all(|q| q.name != p.name), "{} twice", p.name);
            assert!(p.name.starts_with(p.version));
            assert_eq!(p.debug_build, p.name.ends_with("-dbg"), "{}", p.name);
            assert_eq!(p.debug_build, p.interpreter.ends_with('d'), "{}", p.name);
            for needed in ["python3", "python3-pytest"] {
                assert!(p.packages.contains(&needed), "{} lacks {needed}", p.name);
            }
            if p.debug_build {
                assert!(p.packages.contains(&format!("python{}-dbg", p.version).as_str()), "{}", p.name);
            }
            assert_eq!(p.memray, p.packages.contains(&"python3-memray"), "{}", p.name);
            if p.suite == "bullseye" {
                assert!(
                    p.packages.contains(&"python3-distutils"),
                    "uv needs it for {}'s environments",
                    p.name
                );
            }
        }
    }

    #[test]
    fn the_offline_base_follows_the_recipe() {
        let p = find("3.11").unwrap();
        let reference = p.offline_base();
        assert!(reference.starts_with("pymaccounter-base:python-3.11-"), "{reference}");
        assert_eq!(reference, p.offline_base());
        let changed = Python { packages: &["python3"], ..*p };
        assert_ne!(changed.offline_base(), reference);
        let dbg = find("3.11-dbg").unwrap();
        assert!(dbg.offline_base().starts_with("pymaccounter-base:python-3.11-dbg-"));
        assert_eq!(dbg.registry_base(), dbg.offline_base());
        assert_eq!(p.registry_base(), "python:3.11-slim");
    }
}
