//! Enough of PEP 440's version specifiers to judge `requires-python` for an
//! `X.Y` interpreter before anything starts (the installer judges every
//! other specifier). The interpreter's patch release is unknown here, so a
//! clause naming one is judged on `X.Y` alone, in the project's favour.

/// Whether Python `version` (`X.Y`) satisfies every clause of `spec`.
pub fn allows(spec: &str, version: &str) -> Result<bool, String> {
    let have = numbers(version).ok_or_else(|| format!("not a version: {version}"))?;
    for clause in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let split =
            clause.find(|c: char| c.is_ascii_digit()).ok_or_else(|| format!("bad clause {clause}"))?;
        let (op, want) = (clause[..split].trim(), clause[split..].trim());
        let wildcard = want.ends_with(".*");
        let want = numbers(want.trim_end_matches(".*")).ok_or_else(|| format!("bad clause {clause}"))?;
        // Compared on as many parts as both sides name, at most X.Y.
        let len = want.len().min(2);
        let (a, b) = (&have[..len.min(have.len())], &want[..len]);
        let ok = match op {
            "==" | "===" if wildcard => a == b,
            "==" | "===" => a == b,
            "!=" if wildcard => a != b,
            "!=" => want.len() > 2 || a != b,
            ">=" => a >= b,
            "<=" => a <= b,
            ">" => a > b || (want.len() > 2 && a == b),
            "<" => a < b,
            "~=" => {
                // ~=X.Y means >=X.Y, ==X.*; ~=X.Y.Z means >=X.Y.Z, ==X.Y.*.
                let prefix = &want[..want.len().saturating_sub(1).max(1)];
                a >= b && have.starts_with(prefix)
            }
            _ => return Err(format!("unknown operator in {clause}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn numbers(text: &str) -> Option<Vec<u64>> {
    text.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::allows;

    #[test]
    fn requires_python_clauses() {
        let cases = [
            (">=3.9", "3.9", true),
            (">=3.10", "3.9", false),
            (">=3.8, <4", "3.14", true),
            (">=3.8,<3.12", "3.13", false),
            ("!=3.10.*", "3.10", false),
            ("!=3.10.*", "3.11", true),
            ("~=3.9", "3.13", true),
            ("~=3.9", "4.0", false),
            (">=3.9.2", "3.9", true),
            ("==3.11.*", "3.11", true),
            ("==3.11.*", "3.13", false),
            (">3.9", "3.9", false),
            ("<3.14", "3.14", false),
        ];
        for (spec, version, expected) in cases {
            assert_eq!(allows(spec, version), Ok(expected), "{spec} for {version}");
        }
        assert!(allows("bogus", "3.11").is_err());
    }
}
