//! Markdown text that renders as the chain holds it: table cells cannot
//! end the cell or the row (`|`, newlines), cannot become links, HTML,
//! emphasis or code, and hidden characters are written out.

use std::io::{self, Write};

/// One table cell (or inline text): every Markdown punctuation character
/// that could format is backslash-escaped, `<` and `>` as entities (some
/// renderers pass HTML through).
pub fn text(s: &str) -> String {
    let s = crate::text::escape_deceptive(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|'
            | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A table's header and its separator line.
pub fn header(out: &mut dyn Write, columns: &[&str]) -> io::Result<()> {
    writeln!(out, "| {} |", columns.join(" | "))?;
    let rule: Vec<&str> = columns.iter().map(|_| "---").collect();
    writeln!(out, "|{}|", rule.join("|"))
}

/// One table row; cells are escaped here.
pub fn row<S: AsRef<str>>(out: &mut dyn Write, cells: &[S]) -> io::Result<()> {
    let cells: Vec<String> = cells
        .iter()
        .map(|c| {
            let t = text(c.as_ref());
            if t.is_empty() { " ".into() } else { t }
        })
        .collect();
    writeln!(out, "| {} |", cells.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_cannot_break_the_table_or_format() {
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("[x](http://evil)"), "\\[x\\]\\(http://evil\\)");
        assert_eq!(text("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(text("*bold* `code`"), "\\*bold\\* \\`code\\`");
        assert_eq!(text("line\nbreak"), "line\\\\u\\{000A\\}break");
        assert_eq!(text("INC-1\u{202E}evil"), "INC-1\\\\u\\{202E\\}evil");
        assert_eq!(text("INC-42 db down"), "INC-42 db down");
    }

    #[test]
    fn rows_line_up_with_their_header() {
        let mut out = Vec::new();
        header(&mut out, &["A", "B"]).unwrap();
        row(&mut out, &["x|y", ""]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| A | B |\n|---|---|\n| x\\|y |   |\n"
        );
    }
}
