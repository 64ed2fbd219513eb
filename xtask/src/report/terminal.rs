//! Terminal habits: a one-line progress display on stderr and colours on
//! stdout, only when they go to a terminal, and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

use crate::model::choice::Choice;
use crate::model::status::{Status, Tally};

/// A status line redrawn in place on stderr (nothing when stderr is not a terminal).
pub struct StatusLine {
    enabled: bool,
    width: usize,
}

impl StatusLine {
    pub fn new() -> StatusLine {
        let stderr = std::io::stderr();
        let enabled = stderr.is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let width = columns_of(libc::STDERR_FILENO).unwrap_or(80);
        StatusLine { enabled, width }
    }

    #[cfg(test)]
    pub fn disabled() -> StatusLine {
        StatusLine { enabled: false, width: 80 }
    }

    pub fn show(&self, text: &str) {
        if self.enabled {
            let text: String = text.chars().take(self.width.saturating_sub(1)).collect();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K{text}");
            let _ = stderr.flush();
        }
    }

    pub fn clear(&self) {
        if self.enabled {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
        }
    }
}

/// The terminal's width, or 80 when stdout is not a terminal (what every
/// table fits).
pub fn terminal_width() -> usize {
    if !std::io::stdout().is_terminal() {
        return 80;
    }
    columns_of(libc::STDOUT_FILENO).map_or(80, |width| width.clamp(20, 400))
}

/// The column count of the terminal open on `fd`, when it is one and says.
fn columns_of(fd: libc::c_int) -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given.
    let answered = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    (answered && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Whether the locale's characters are UTF-8 (`LC_ALL`, else `LC_CTYPE`,
/// else `LANG`, the first one set, as the C library reads them).
pub fn utf8_locale() -> bool {
    let locale =
        ["LC_ALL", "LC_CTYPE", "LANG"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    locale.is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

/// `--color`: colour when stdout is a terminal, always, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl Choice for ColourChoice {
    const ALL: &'static [ColourChoice] = &[ColourChoice::Auto, ColourChoice::Always, ColourChoice::Never];

    fn name(self) -> &'static str {
        match self {
            ColourChoice::Auto => "auto",
            ColourChoice::Always => "always",
            ColourChoice::Never => "never",
        }
    }

    fn help(self) -> &'static str {
        match self {
            ColourChoice::Auto => "When stdout is a terminal (NO_COLOR turns it off, FORCE_COLOR on)",
            ColourChoice::Always => "Also into files and CI logs",
            ColourChoice::Never => "Plain text",
        }
    }
}

static COLOUR_CHOICE: std::sync::OnceLock<ColourChoice> = std::sync::OnceLock::new();

/// The process's `--color`, set once by the command line.
pub fn choose_colour(choice: ColourChoice) {
    let _ = COLOUR_CHOICE.set(choice);
}

/// Whether stdout gets colours: `--color`, else `NO_COLOR` and `FORCE_COLOR`
/// (as cargo, pytest and most CLIs read them), else whether it is a terminal.
pub fn colour_stdout() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match COLOUR_CHOICE.get().copied().unwrap_or_default() {
        ColourChoice::Always => true,
        ColourChoice::Never => false,
        ColourChoice::Auto if set("NO_COLOR") => false,
        ColourChoice::Auto if set("FORCE_COLOR") => true,
        ColourChoice::Auto => std::io::stdout().is_terminal(),
    }
}

/// A whole line in the colour of how the run went.
pub fn paint_tally(tally: Tally, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let colour = match tally {
        Tally::Passed => AnsiColor::Green,
        Tally::Skipped => AnsiColor::Yellow,
        Tally::Failed => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into())).bold();
    format!("{style}{text}{style:#}")
}

/// A status word, coloured when `colour` is on.
pub fn paint_status(status: Status, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let colour = match status.tally() {
        Tally::Passed => AnsiColor::Green,
        Tally::Skipped => AnsiColor::Yellow,
        Tally::Failed => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into())).bold();
    format!("{style}{text}{style:#}")
}
