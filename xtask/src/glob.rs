//! Shell-style patterns: `glob_matches` for names (fnmatch, as pytest
//! matches `python_files` and `norecursedirs`), `path_matches` for module
//! paths, where `*` stays within a folder and `**` crosses folders.

/// Whether a name is a shell-style pattern rather than a plain name: it has
/// a `*`, a `?` or a `[` closed by a `]` (an unclosed `[` stands for itself).
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?']) || name.find('[').is_some_and(|open| name[open + 1..].contains(']'))
}

/// Shell-style matching of a whole name: `*` matches any run of characters,
/// `?` any one, `[abc]` / `[a-z]` one of a set, `[!abc]` (or `[^abc]`) one not
/// in it; a `[` that is never closed stands for itself. (fnmatch's rules, as
/// pytest applies them to file and folder names: `*` also matches `/`.)
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where to resume after the latest `*`: the pattern after it, and the
    // name position it has swallowed up to.
    let mut resume: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                resume = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match char_class(&pattern[p..], name[n]) {
                Some((matched, length)) => matched.then_some(length),
                None => (name[n] == '[').then_some(1),
            },
            Some(&literal) => (literal == name[n]).then_some(1),
            None => None,
        };
        match (step, resume) {
            (Some(length), _) => {
                p += length;
                n += 1;
            }
            // Let the latest `*` swallow one more character and try again.
            (None, Some((after_star, swallowed))) => {
                resume = Some((after_star, swallowed + 1));
                p = after_star;
                n = swallowed + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class that opens `pattern` (`[` ...): whether it
/// matched and the class's length, or `None` when no `]` closes it.
fn char_class(pattern: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &start = pattern.get(i)?;
        if start == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        match (pattern.get(i + 1), pattern.get(i + 2)) {
            (Some('-'), Some(&end)) if end != ']' => {
                matched |= start <= c && c <= end;
                i += 3;
            }
            _ => {
                matched |= start == c;
                i += 1;
            }
        }
    }
}

/// Whether a module path (`property/test_x.py`) matches a pattern: each
/// `/`-separated part of the pattern matches one folder or file name, and a
/// `**` part matches any number of them (none included).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    parts_match(&pattern, &path)
}

fn parts_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            parts_match(rest, path) || path.split_first().is_some_and(|(_, tail)| parts_match(pattern, tail))
        }
        (Some((first, rest)), Some((name, tail))) => glob_matches(first, name) && parts_match(rest, tail),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching_follows_the_shell() {
        let cases = [
            ("test_gc*", "test_gc_cycles.py", true),
            ("test_gc*", "test_refcount.py", false),
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abcab", false),
            ("*a*b", "xxaxxbxxb", true),
            ("*.py", "test.py.bak", false),
            ("test_?.py", "test_a.py", true),
            ("test_?.py", "test_ab.py", false),
            ("?", "é", true),
            ("test_[ab].py", "test_b.py", true),
            ("test_[ab].py", "test_c.py", false),
            ("test_[a-c].py", "test_b.py", true),
            ("test_[a-c].py", "test_d.py", false),
            ("test_[!a-c].py", "test_d.py", true),
            ("test_[^a-c].py", "test_a.py", false),
            ("test_[]].py", "test_].py", true),
            ("test_[a-].py", "test_-.py", true),
            ("test_[.py", "test_[.py", true),
            ("test_[.py", "test_a.py", false),
            ("**x", "abx", true),
            ("test_*_*.py", "test_gc_a.py", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_matches(pattern, name), expected, "{pattern:?} vs {name:?}");
        }
        assert!(is_glob("test_*") && is_glob("t?") && is_glob("[ab]") && !is_glob("test_a.py"));
        assert!(!is_glob("test_[2J.py") && !is_glob("test_]x[.py"));
    }

    #[test]
    fn star_stays_in_a_folder_and_double_star_crosses_them() {
        assert!(path_matches("test_gc*", "test_gc_cycles.py"));
        assert!(!path_matches("test_gc*", "sub/test_gc_cycles.py"));
        assert!(path_matches("sub/test_*.py", "sub/test_a.py"));
        assert!(!path_matches("sub/test_*.py", "sub/deeper/test_a.py"));
        assert!(path_matches("**/test_a.py", "test_a.py"));
        assert!(path_matches("**/test_a.py", "x/y/test_a.py"));
        assert!(path_matches("sub/**", "sub/x/test_a.py"));
        assert!(path_matches("a/**/b/*.py", "a/b/c.py") && path_matches("a/**/b/*.py", "a/x/y/b/c.py"));
        assert!(!path_matches("a/**/b/*.py", "a/x/c.py"));
    }
}
