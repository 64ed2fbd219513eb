//! Text from modules (their output, their file names) made safe for each
//! place it is shown: a terminal or plain log, XML, HTML, a Markdown table.
//!
//! Characters that would act instead of being shown (ESC sequences that set
//! the window title or clear the screen, `\r` that lets a line be overwritten,
//! BEL, backspace, C1 controls, DEL, bidirectional overrides) become visible
//! escapes: `\r`, `\x1b`, `\u{202e}`. A backslash is left as it is (Python
//! tracebacks and Windows paths stay readable), so an escape is for the eye,
//! not a reversible encoding. Our own colour codes are added after this step.

use std::borrow::Cow;
use std::fmt::Write as _;

/// For a terminal or a plain log: every control character except newline and tab is escaped.
pub fn terminal(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && c != '\t' && acts_on_a_terminal(c))
}

/// For one line of a terminal (a table cell, a status line): newline and tab escaped too.
pub fn terminal_line(text: &str) -> Cow<'_, str> {
    escape_where(text, acts_on_a_terminal)
}

/// For XML 1.0 text and attribute values, before the markup characters are
/// escaped by the writer: the characters XML 1.0 does not allow (C0 controls
/// other than tab, newline and carriage return; U+FFFE; U+FFFF) become visible
/// escapes. Everything else is allowed, so the result is always well-formed.
pub fn xml(text: &str) -> Cow<'_, str> {
    // Most text has none of them: looked for a byte at a time, without
    // decoding characters (a merged JUnit report is a GiB of text). The
    // UTF-8 of U+FFFE and U+FFFF starts with 0xEF; other characters that do
    // are then looked at one by one.
    let suspect = |b: &u8| (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || *b == 0xEF;
    if !text.as_bytes().iter().any(suspect) {
        return Cow::Borrowed(text);
    }
    escape_where(text, |c| !allowed_in_xml(c))
}

/// A relative file path as an HTML link target (`href`): every byte but
/// letters, digits, `-._~` and the separator `/` percent-encoded, so that a
/// folder named `a #1` or `50%` stays part of the path, not a fragment or an
/// escape, and nothing in it can end the attribute.
pub fn href(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// For HTML text and attribute values: markup characters become entities,
/// and control characters (except newline and tab) and noncharacters become
/// visible escapes, since HTML forbids them too.
pub fn html(text: &str) -> String {
    // What a terminal would act on covers what XML forbids.
    let visible = terminal(text);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// For a Markdown table cell as plain text: no line breaks (a newline ends the
/// row), `|` escaped (it would start a new cell), controls visible, and
/// characters Markdown would read as markup escaped with a backslash.
pub fn markdown_cell(text: &str) -> String {
    let visible = terminal_line(text);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        if matches!(c, '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '~' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// For a Markdown table cell shown as code: a code span whose fence is longer
/// than any run of backticks inside, `|` escaped (GitHub's tables split on it
/// even inside code), controls and line breaks visible.
pub fn markdown_code_cell(text: &str) -> String {
    let visible = terminal_line(text).replace('|', "\\|");
    let longest_run = visible.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // A space on each side keeps a leading or trailing backtick out of the fence.
    let pad = if visible.starts_with('`') || visible.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{visible}{pad}{fence}")
}

/// GitHub workflow command data (after `::`): `%`, CR and LF are percent-encoded,
/// as GitHub's runner decodes them; other controls are made visible first.
pub fn workflow_data(text: &str) -> String {
    let visible = escape_where(text, |c| c != '\n' && c != '\r' && acts_on_a_terminal(c));
    visible.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub workflow command property values (`file=`, `title=`): also `:` and `,`.
pub fn workflow_property(text: &str) -> String {
    workflow_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Characters that do something on a terminal instead of being shown.
fn acts_on_a_terminal(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || !allowed_in_xml(c)
}

/// XML 1.0, production [2] `Char` (a Rust `char` is never a surrogate).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{fffd}' | '\u{10000}'..)
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character a module could use to act on a terminal or break a format.
    const HOSTILE: &str = "a\x1b]0;title\x07b\x1b[2Jc\rd\x08e\x7ff\u{9b}g\u{fffe}h\u{ffff}i\0j\u{202e}k\x0cl";

    #[test]
    fn a_link_target_keeps_the_path_s_separators_and_encodes_the_rest() {
        use std::path::Path;
        assert_eq!(href(Path::new("../shards/a/memray/x-1_y.z~.svg")), "../shards/a/memray/x-1_y.z~.svg");
        assert_eq!(href(Path::new("a #1/50%?\"<é.svg")), "a%20%231/50%25%3F%22%3C%C3%A9.svg");
    }

    #[test]
    fn terminal_keeps_newline_and_tab_and_shows_every_other_control() {
        let text = format!("{HOSTILE}\n\tend");
        let shown = terminal(&text);
        assert_eq!(
            shown,
            "a\\x1b]0;title\\x07b\\x1b[2Jc\\rd\\x08e\\x7ff\\x9bg\\u{fffe}h\\u{ffff}i\\x00j\\u{202e}k\\x0cl\n\tend"
        );
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "Traceback (most recent call last):\n\tC:\\path ünïcode ✓\n";
        assert!(matches!(terminal(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(xml(text), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_line_also_escapes_line_breaks() {
        assert_eq!(terminal_line("test_a\nb\t.py"), "test_a\\nb\\t.py");
    }

    #[test]
    fn xml_replaces_exactly_what_xml_1_0_forbids() {
        for c in (0u32..0x11_0000).filter_map(char::from_u32) {
            let allowed = matches!(c, '\t' | '\n' | '\r')
                || (' '..='\u{d7ff}').contains(&c)
                || ('\u{e000}'..='\u{fffd}').contains(&c)
                || c >= '\u{10000}';
            let text = c.to_string();
            assert_eq!(xml(&text) == text, allowed, "U+{:04X}", c as u32);
        }
        assert_eq!(xml("a\x1b[31mb\u{fffe}\u{ffff}\x7f\r\n"), "a\\x1b[31mb\\u{fffe}\\u{ffff}\x7f\r\n");
    }

    #[test]
    fn html_escapes_markup_and_controls() {
        assert_eq!(
            html("<b a=\"1\" b='2'>&\x1b[0m\u{ffff}"),
            "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;\\x1b[0m\\u{ffff}"
        );
        assert_eq!(html("line\n\tnext"), "line\n\tnext");
    }

    #[test]
    fn markdown_cells_stay_one_cell_on_one_line() {
        let cell = markdown_cell("a|b\nc\r*d*");
        assert_eq!(cell, "a\\|b\\\\nc\\\\r\\*d\\*");
        assert!(!cell.contains('\n'));
        // Every `|` left is preceded by a backslash.
        assert!(cell.match_indices('|').all(|(i, _)| cell[..i].ends_with('\\')));
    }

    #[test]
    fn markdown_code_cells_survive_pipes_backticks_and_newlines() {
        assert_eq!(markdown_code_cell("test_a.py"), "`test_a.py`");
        assert_eq!(markdown_code_cell("test_|x|.py"), "`test_\\|x\\|.py`");
        assert_eq!(markdown_code_cell("a`b``c"), "```a`b``c```");
        assert_eq!(markdown_code_cell("`edge"), "`` `edge ``");
        assert_eq!(markdown_code_cell("a\nb"), "`a\\nb`");
    }

    #[test]
    fn workflow_commands_are_escaped_as_github_decodes_them() {
        assert_eq!(workflow_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(workflow_data("x::stop\x1b[0m"), "x::stop\\x1b[0m");
        assert_eq!(workflow_property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
    }
}
