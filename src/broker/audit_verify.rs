//! `kaccess audit verify FILE`: walks the hash chain of an audit log and
//! names the first line that does not hold: not JSON, a `hash` that does
//! not match the record, or a `prev` that is not the line before's `hash`
//! (a line removed, inserted or reordered).

use super::audit::{GENESIS, record_hash};
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Lines checked (up to and including the broken one).
    pub lines: usize,
    /// The first broken line: (1-based number, what is wrong).
    pub broken: Option<(usize, String)>,
    /// `hash` of the last good line.
    pub head: String,
}

/// Checks the whole file. I/O errors are errors; a broken chain is a
/// [`Report`] with `broken` set.
pub fn verify_file(path: &Path) -> Result<Report> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the audit log `{}`", path.display()))?;
    verify_reader(BufReader::new(file))
        .with_context(|| format!("cannot read the audit log `{}`", path.display()))
}

pub fn verify_reader(reader: impl BufRead) -> std::io::Result<Report> {
    let mut prev = GENESIS.to_string();
    let mut lines = 0;
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        lines = i + 1;
        if let Err(why) = check_line(&line, &prev) {
            return Ok(Report {
                lines,
                broken: Some((lines, why)),
                head: prev,
            });
        }
        // check_line proved `hash` is there and right.
        let v: Value = serde_json::from_slice(&line).unwrap_or_default();
        prev = v["hash"].as_str().unwrap_or_default().to_string();
    }
    Ok(Report {
        lines,
        broken: None,
        head: prev,
    })
}

fn check_line(line: &[u8], prev: &str) -> Result<(), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not a JSON record ({e})"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let hash = v
        .get("hash")
        .and_then(Value::as_str)
        .ok_or("no `hash` field")?;
    let got_prev = v
        .get("prev")
        .and_then(Value::as_str)
        .ok_or("no `prev` field")?;
    if got_prev != prev {
        return Err(format!(
            "`prev` is {got_prev} but the line before has hash {prev} \
             (a line was removed, inserted or reordered)"
        ));
    }
    let want = record_hash(&v);
    if hash != want {
        return Err(format!(
            "`hash` is {hash} but the record hashes to {want} (the line was changed)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::audit::canonical_json;

    fn chain(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let mut v = serde_json::json!({"event": "exchange", "outcome": "issued", "username": format!("u{i}"), "prev": prev});
                let h = record_hash(&v);
                v["hash"] = Value::String(h.clone());
                prev = h;
                canonical_json(&v)
            })
            .collect()
    }

    fn check(lines: &[String]) -> Report {
        verify_reader(lines.join("\n").as_bytes()).unwrap()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let r = check(&chain(5));
        assert_eq!((r.lines, r.broken), (5, None));
        assert_eq!(check(&[]).broken, None);
    }

    #[test]
    fn an_edited_line_is_named() {
        let mut lines = chain(5);
        lines[2] = lines[2].replace("\"u2\"", "\"mallory\"");
        let r = check(&lines);
        let (n, why) = r.broken.unwrap();
        assert_eq!(n, 3);
        assert!(why.contains("changed"), "{why}");
    }

    #[test]
    fn a_removed_line_breaks_the_next_one() {
        let mut lines = chain(5);
        lines.remove(1);
        let (n, why) = check(&lines).broken.unwrap();
        assert_eq!(n, 2);
        assert!(why.contains("removed"), "{why}");
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_chain() {
        let mut lines = chain(4);
        let mut v: Value = serde_json::from_str(&lines[1]).unwrap();
        v["username"] = "mallory".into();
        v["hash"] = Value::String(record_hash(&v));
        lines[1] = canonical_json(&v);
        let (n, _) = check(&lines).broken.unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn garbage_lines_are_named() {
        let mut lines = chain(2);
        lines.push("not json".into());
        let (n, why) = check(&lines).broken.unwrap();
        assert_eq!(n, 3);
        assert!(why.contains("not a JSON record"), "{why}");
    }
}
