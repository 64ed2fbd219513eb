//! Tables that fit the terminal: each column as wide as its widest cell,
//! and when the whole is wider than the terminal, the flexible columns
//! (names, reasons, deltas) narrow and their cells wrap onto more lines of
//! the same row. A row never wraps into the next one, and a cell is never
//! cut: every character of a module's name is still there to read.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
    /// May narrow (its cells wrap) when the table is too wide.
    pub flexible: bool,
    /// Narrows before the other flexible columns (a name that wraps at its
    /// spaces keeps the figures beside it whole).
    pub narrows_first: bool,
}

/// Space between two columns.
const GAP: usize = 2;
/// A flexible column never narrows below this.
const NARROWEST: usize = 10;

impl Column {
    pub fn left(header: &'static str) -> Column {
        Column { header, align: Align::Left, flexible: false, narrows_first: false }
    }

    pub fn right(header: &'static str) -> Column {
        Column { header, align: Align::Right, flexible: false, narrows_first: false }
    }

    pub fn flexible(header: &'static str) -> Column {
        Column { header, align: Align::Left, flexible: true, narrows_first: false }
    }

    /// A flexible column that narrows first.
    pub fn first_to_narrow(header: &'static str) -> Column {
        Column { narrows_first: true, ..Column::flexible(header) }
    }
}

/// The table as lines of at most `width` characters (when its fixed
/// columns fit). `paint(row, column, padded)` may colour a cell once it is
/// padded (row `None` is the header).
#[cfg(test)]
pub fn render(
    columns: &[Column],
    rows: &[Vec<String>],
    width: usize,
    paint: &dyn Fn(Option<usize>, usize, String) -> String,
) -> String {
    lay_out(columns, rows, width, paint).concat().concat()
}

/// Whether columns of these `widths` (`fit_widest`) fit `width`.
pub fn within(widths: &[usize], width: usize) -> bool {
    widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1) <= width
}

/// The header's lines, then each row's lines (each line ends in `\n`).
#[cfg(test)]
pub fn lay_out(
    columns: &[Column],
    rows: &[Vec<String>],
    width: usize,
    paint: &dyn Fn(Option<usize>, usize, String) -> String,
) -> Vec<Vec<String>> {
    let widths = fit(columns, rows, width);
    let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    std::iter::once((None, &header))
        .chain(rows.iter().enumerate().map(|(i, r)| (Some(i), r)))
        .map(|(index, row)| row_lines(columns, &widths, row, index, paint))
        .collect()
}

/// One row's lines (row `None` is the header) in the columns' `widths`
/// (`fit_widest`): a table written a row at a time, as `lay_out` lays it.
pub fn row_lines(
    columns: &[Column],
    widths: &[usize],
    row: &[String],
    index: Option<usize>,
    paint: &dyn Fn(Option<usize>, usize, String) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    let pieces: Vec<Vec<String>> = row.iter().zip(widths).map(|(cell, width)| wrap(cell, *width)).collect();
    let height = pieces.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..height {
        let mut text = String::new();
        for (column, (cell, width)) in pieces.iter().zip(widths).enumerate() {
            if column > 0 {
                text.push_str(&" ".repeat(GAP));
            }
            let piece = cell.get(line).map_or("", String::as_str);
            let padded = pad(piece, *width, columns[column].align);
            text.push_str(&if line == 0 { paint(index, column, padded) } else { padded });
        }
        out.push(format!("{}\n", text.trim_end()));
    }
    out
}

/// Each column's widest cell so far: its header's, then `widen` by each row.
pub fn widest(columns: &[Column]) -> Vec<usize> {
    columns.iter().map(|c| chars(c.header)).collect()
}

pub fn widen(widest: &mut [usize], row: &[String]) {
    for (most, cell) in widest.iter_mut().zip(row) {
        *most = (*most).max(chars(cell));
    }
}

/// Each column's width: its widest cell, narrowed (flexible columns first,
/// the widest of them each time) until the table fits `width`.
#[cfg(test)]
fn fit(columns: &[Column], rows: &[Vec<String>], width: usize) -> Vec<usize> {
    let mut most = widest(columns);
    for row in rows {
        widen(&mut most, row);
    }
    fit_widest(columns, most, width)
}

/// The widths of columns whose widest cells are `widest` (`widen`).
pub fn fit_widest(columns: &[Column], mut widths: Vec<usize>, width: usize) -> Vec<usize> {
    let total = |widths: &[usize]| widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
    while total(&widths) > width {
        let widest = (0..columns.len())
            .filter(|&i| columns[i].flexible && widths[i] > NARROWEST.max(chars(columns[i].header)))
            .max_by_key(|&i| (columns[i].narrows_first, widths[i]));
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
    widths
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn pad(text: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(chars(text)));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// A cell in lines of at most `width` characters, broken at a space where
/// one is near, else after a separator of names (`/`, `_`, `.`, `-`, `,`),
/// else anywhere.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > width {
        let window = &rest[..width];
        let near = |found: Option<usize>| found.filter(|&i| i + 1 >= width / 2).map(|i| i + 1);
        let at = near(window.iter().rposition(|c| *c == ' '))
            .or_else(|| near(window.iter().rposition(|c| matches!(c, '/' | '_' | '.' | '-' | ','))))
            .unwrap_or(width);
        let line: String = rest[..at].iter().collect();
        lines.push(line.trim_end().to_string());
        rest = rest[at..].iter().copied().skip_while(|c| *c == ' ').collect();
    }
    lines.push(rest.into_iter().collect());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_table_narrows_its_flexible_columns_and_wraps_their_cells() {
        let columns = [Column::flexible("module"), Column::left("status"), Column::right("peak")];
        let long = "property/deeply/nested/test_a_module_with_a_long_name.py";
        let rows = vec![vec![long.to_string(), "pass".into(), "8.0 MiB".into()]];
        let text = render(&columns, &rows, 40, &|_, _, cell| cell);
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        let module: String = text.lines().skip(1).map(|l| l.get(..23).unwrap_or(l).trim_end()).collect();
        assert_eq!(module.replace(' ', ""), long, "every character is kept:\n{text}");
        assert!(text.lines().nth(1).unwrap().contains("pass"), "{text}");
    }

    #[test]
    fn a_table_that_fits_is_left_as_it_is() {
        let columns = [Column::left("a"), Column::right("b")];
        let rows = vec![vec!["x".into(), "1".into()], vec!["yy".into(), "22".into()]];
        assert_eq!(render(&columns, &rows, 80, &|_, _, c| c), "a    b\nx    1\nyy  22\n");
        assert_eq!(wrap("abc def", 4), ["abc", "def"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
    }
}
