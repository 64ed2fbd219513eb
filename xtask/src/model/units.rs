//! The one grammar for sizes and the one for durations, read the same way by
//! flags (`--memory`, `--max-output`), module declarations (`max-peak-rss`,
//! `memory`, `timeout`) and gates (`--min-delta`).
//!
//! Sizes use binary multiples whatever the spelling (`k`, `KB` and `KiB` are
//! all 1024, as docker and pytest-memray read them), may have a fraction
//! (`1.5g`) and a space before the unit (`64 MiB`). Durations are seconds,
//! or a number with `ms`, `s`, `min` or `h`.

/// Bytes in a size's unit, for `b`, `k`/`kb`/`kib`, `m`…, `g`…, `t`… (any case).
fn size_multiplier(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    })
}

/// Seconds in a duration's unit.
fn duration_multiplier(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        // Not `m`: in a size it is MiB, and `--min-delta` takes both.
        "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}

/// A number and what follows it: `1.5g` → (1.5, "g"). The number is plain
/// decimal (digits, at most one point), never negative or in exponent form.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

/// A size in bytes within `min..=max`, rounded down to a whole byte.
pub fn parse_size(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let range = || format!("a size from {} to {}", size_text(min), size_text(max));
    let (number, unit) =
        split_number(text).ok_or_else(|| format!("expected a size like 512m or 1.5GiB: {}", range()))?;
    let multiplier = size_multiplier(unit)
        .ok_or_else(|| format!("unknown unit {unit:?}: use b, k, m, g or t (KiB, MiB… mean the same)"))?;
    let bytes = number * multiplier as f64;
    if bytes.is_finite() && bytes >= min as f64 && bytes <= max as f64 {
        Ok(bytes as u64)
    } else {
        Err(format!("out of range: {}", range()))
    }
}

/// A duration in seconds within `min..=max`.
pub fn parse_duration(text: &str, min: f64, max: f64) -> Result<f64, String> {
    let range = || format!("a time from {} to {}", duration_text(min), duration_text(max));
    let (number, unit) =
        split_number(text).ok_or_else(|| format!("expected a time like 30, 0.5s or 200ms: {}", range()))?;
    let multiplier =
        duration_multiplier(unit).ok_or_else(|| format!("unknown unit {unit:?}: use ms, s, min or h"))?;
    let seconds = number * multiplier;
    if seconds >= min && seconds <= max {
        Ok(seconds)
    } else {
        Err(format!("out of range: {}", range()))
    }
}

/// Whether `text` ends in a size unit (and not a duration's): how a gate's
/// `--min-delta 2MiB` tells a size from a time.
pub fn has_size_unit(text: &str) -> bool {
    split_number(text).is_some_and(|(_, unit)| !unit.is_empty() && size_multiplier(unit).is_some())
}

pub fn has_duration_unit(text: &str) -> bool {
    split_number(text).is_some_and(|(_, unit)| !unit.is_empty() && duration_multiplier(unit).is_some())
}

/// `6m`, `1024g`, `0`: a bound written as the grammar reads it.
fn size_text(bytes: u64) -> String {
    for (unit, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

fn duration_text(seconds: f64) -> String {
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIB: u64 = 1 << 40;

    #[test]
    fn every_spelling_of_a_unit_is_binary() {
        for (text, bytes) in [
            ("1.5g", 3 << 29),
            ("1.5 GiB", 3 << 29),
            ("1.5GB", 3 << 29),
            ("512m", 512 << 20),
            ("512 MiB", 512 << 20),
            ("64k", 64 << 10),
            ("64KB", 64 << 10),
            ("65536", 65536),
            ("1t", TIB),
            ("0", 0),
        ] {
            assert_eq!(parse_size(text, 0, TIB), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_the_range() {
        for bad in ["", "lots", "-1g", "1e3", ".5g", "1..5g", "1x", "2t", "99999999999999g"] {
            let error = parse_size(bad, 6 << 20, TIB).unwrap_err();
            assert!(error.contains("unit") || error.contains("6m to 1t"), "{bad}: {error}");
        }
        assert!(parse_size("1k", 6 << 20, TIB).unwrap_err().contains("from 6m to 1t"));
    }

    #[test]
    fn durations_are_seconds_unless_a_unit_says_otherwise() {
        assert_eq!(parse_duration("30", 0.0, 600.0), Ok(30.0));
        assert_eq!(parse_duration("0.5s", 0.0, 600.0), Ok(0.5));
        assert_eq!(parse_duration("200ms", 0.0, 600.0), Ok(0.2));
        assert_eq!(parse_duration("2min", 0.0, 600.0), Ok(120.0));
        assert!(parse_duration("1h", 0.0, 600.0).unwrap_err().contains("out of range"));
        assert!(parse_duration("-1", 0.0, 600.0).is_err());
        assert!(has_size_unit("2MiB") && !has_size_unit("2s") && !has_size_unit("2"));
        assert!(has_duration_unit("2s") && has_duration_unit("200ms") && !has_duration_unit("2MiB"));
    }
}
