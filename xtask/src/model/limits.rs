//! Checked ranges of the numeric options: a value outside them is a usage
//! error naming the range, never a panic or an engine error later.

use crate::model::units::parse_size;

/// Most modules at a time (`--jobs`).
pub const MAX_JOBS: i64 = 1024;
/// Most runs of a job (`--repeat`).
pub const MAX_REPEAT: i64 = 100;
/// Most further attempts of a failed run (`--retries`).
pub const MAX_RETRIES: i64 = 10;
/// Longest `--timeout`: a week.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// The engine refuses memory limits under 6 MiB.
pub const MIN_MEMORY_BYTES: u64 = 6 << 20;
/// Larger limits than this are typing mistakes (1 TiB).
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// A per-container memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    Unlimited,
    Bytes(u64),
}

impl MemoryLimit {
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryLimit::Unlimited => None,
            MemoryLimit::Bytes(bytes) => Some(bytes),
        }
    }
}

/// A size (`512m`, `1.5g`, see `units.rs`), or `none`.
pub fn parse_memory(text: &str) -> Result<MemoryLimit, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit::Unlimited);
    }
    parse_size(text, MIN_MEMORY_BYTES, MAX_MEMORY_BYTES)
        .map(MemoryLimit::Bytes)
        .map_err(|e| format!("{e}; or none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_follow_docker_syntax() {
        assert_eq!(parse_memory("1g").unwrap(), MemoryLimit::Bytes(1 << 30));
        assert_eq!(parse_memory("512M").unwrap(), MemoryLimit::Bytes(512 << 20));
        assert_eq!(parse_memory("1024g").unwrap(), MemoryLimit::Bytes(1 << 40));
        assert_eq!(parse_memory("none").unwrap(), MemoryLimit::Unlimited);
        assert_eq!(parse_memory("1.5g").unwrap(), MemoryLimit::Bytes(3 << 29));
        for bad in ["", "lots", "-1g", "1k", "1025g", "99999999999999g", "18446744073709551615"] {
            assert!(parse_memory(bad).is_err(), "{bad} should be refused");
        }
    }
}
