//! Terminal habits: a one-line progress display on stderr and colours on
//! stdout, only when they go to a terminal, and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

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
        let width = terminal_size::terminal_size_of(&stderr).map_or(80, |(w, _)| usize::from(w.0));
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

/// Whether stdout gets colours.
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
