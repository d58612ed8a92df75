//! Plain-text tables for listings on stdout: a header row, columns padded
//! to their widest cell, the last column left as it is (free text).

pub fn render<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i + 1 == N {
                    cell.clone()
                } else {
                    format!("{cell:w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let rows = [
            ["ID".to_string(), "WHO".into(), "WHY".into()],
            ["1".into(), "alice@example.com".into(), "INC-1 db".into()],
        ];
        assert_eq!(
            super::render(&rows),
            "ID  WHO                WHY\n1   alice@example.com  INC-1 db\n"
        );
    }
}
