//! Checked ranges of the numeric options: a value outside them is a usage
//! error naming the range, never a panic or an engine error later.

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

/// Docker's size syntax (`512m`, `1g`), or `none`.
pub fn parse_memory(text: &str) -> Result<MemoryLimit, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit::Unlimited);
    }
    parse_size(text, MIN_MEMORY_BYTES).map(MemoryLimit::Bytes).map_err(|e| format!("{e}; or none"))
}

/// Docker's size syntax (`512m`, `1g`, `65536`): bytes from `min` to 1 TiB.
pub fn parse_size(text: &str, min: u64) -> Result<u64, String> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(format!("unknown unit {unit:?}: use b, k, m or g (e.g. 512m, 1g)")),
    };
    let lowest = if min >= 1 << 20 { format!("{}m", min >> 20) } else { min.to_string() };
    let range = format!("a size from {lowest} to 1024g");
    let number: u64 = digits.parse().map_err(|_| format!("expected a size like 512m or 1g: {range}"))?;
    match number.checked_mul(multiplier) {
        Some(bytes) if (min..=MAX_MEMORY_BYTES).contains(&bytes) => Ok(bytes),
        _ => Err(format!("out of range: {range}")),
    }
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
        for bad in ["", "lots", "1t", "-1g", "1.5g", "1k", "1025g", "99999999999999g", "18446744073709551615"]
        {
            assert!(parse_memory(bad).is_err(), "{bad} should be refused");
        }
    }
}
