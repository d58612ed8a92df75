//! CSV cells that a spreadsheet shows as the chain holds them (RFC 4180
//! quoting) and never runs: a cell starting with `=`, `+`, `-`, `@`, a tab
//! or a carriage return is a formula to Excel, LibreOffice and Sheets, so
//! it gets a leading `'` (OWASP's advice), and hidden characters are
//! written out (`\u{202E}`) so the cell cannot display as something else.

use std::io::{self, Write};

/// One cell, quoted when it must be, defused when it could run.
pub fn cell(text: &str) -> String {
    let text = crate::text::escape_deceptive(text);
    let risky = text
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    let text = if risky { format!("'{text}") } else { text };
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One record line, CRLF-terminated as RFC 4180 asks.
pub fn write_row<S: AsRef<str>>(out: &mut dyn Write, cells: &[S]) -> io::Result<()> {
    let line: Vec<String> = cells.iter().map(|c| cell(c.as_ref())).collect();
    out.write_all(line.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_prefixes_are_defused() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        // Tab and CR are hidden characters: written out, and no longer first.
        assert_eq!(cell("\tcmd"), "\\u{0009}cmd");
        assert_eq!(cell("\r=1"), "\\u{000D}=1");
        assert_eq!(cell("a=b"), "a=b");
    }

    #[test]
    fn separators_quotes_and_edges_are_quoted() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell(" padded "), "\" padded \"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn hidden_characters_cannot_reorder_a_cell() {
        assert_eq!(cell("INC-1\u{202E}evil"), "INC-1\\u{202E}evil");
    }

    #[test]
    fn a_row_ends_with_crlf() {
        let mut out = Vec::new();
        write_row(&mut out, &["a", "b,c", "=x"]).unwrap();
        assert_eq!(out, b"a,\"b,c\",'=x\r\n");
    }
}
