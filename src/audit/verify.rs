//! `kaccess audit verify FILE...`: walks the hash chain of an audit log
//! and names the first line that does not hold: not JSON, a `hash` that
//! does not match the record, or a `prev` that is not the line before's
//! `hash` (a line removed, inserted or reordered).
//!
//! A rotated log is several files, oldest first: each file after the first
//! must start where the one before it ended. A file may start mid-chain
//! only with the broker's `audit`/`rotated` record; any other first line
//! that does not start a chain means lines were cut from its head.
//!
//! A stream's `finished` record may name its session recording
//! (`result.recording`): once the chain holds, each such file, relative
//! to the log's directory, must have exactly the recorded size and
//! SHA-256.

use super::record::Recording;
use super::{GENESIS, record_hash};
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What a check of one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Lines checked (up to and including the broken one).
    pub lines: usize,
    /// The first broken line: (1-based number, what is wrong).
    pub broken: Option<(usize, String)>,
    /// `hash` of the last good line (`prev` of the first when empty).
    pub head: String,
    /// The file starts with a rotation record that continues an earlier
    /// file: that file's last hash. Checked only when the earlier file is
    /// named first.
    pub continues: Option<String>,
    /// Session recordings the chain names: (line, reference).
    pub recordings: Vec<(usize, Recording)>,
    /// The first recording that does not match its record: (line, what
    /// is wrong). Set by [`verify_files`], which knows the directory.
    pub bad_recording: Option<(usize, String)>,
}

/// Checks one whole file. I/O errors are errors; a broken chain is a
/// [`Report`] with `broken` set.
pub fn verify_file(path: &Path) -> Result<Report> {
    Ok(verify_files(&[path.to_path_buf()])?
        .pop()
        .map(|(_, r)| r)
        .expect("one file, one report"))
}

/// Checks files that continue one another, oldest first. Stops after the
/// first broken file; the reports are in the order given.
pub fn verify_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Report)>> {
    let mut reports: Vec<(PathBuf, Report)> = Vec::new();
    for path in paths {
        let after = reports.last().map(|(_, r)| r.head.clone());
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the audit log `{}`", path.display()))?;
        let mut report = check(BufReader::new(file), after.as_deref())
            .with_context(|| format!("cannot read the audit log `{}`", path.display()))?;
        if report.broken.is_none() {
            let dir = path.parent().unwrap_or(Path::new("."));
            report.bad_recording = report.recordings.iter().find_map(|(line, r)| {
                crate::proxy::recording::check(dir, r)
                    .err()
                    .map(|why| (*line, why))
            });
        }
        let broken = report.broken.is_some() || report.bad_recording.is_some();
        reports.push((path.clone(), report));
        if broken {
            break;
        }
    }
    Ok(reports)
}

/// Checks one file on its own: it must start a chain or continue one with
/// a rotation record.
pub fn verify_reader(reader: impl BufRead) -> std::io::Result<Report> {
    check(reader, None)
}

/// `after`: the hash the file's first line must link to; `None` for the
/// first file given.
fn check(reader: impl BufRead, after: Option<&str>) -> std::io::Result<Report> {
    let mut prev = after.map_or_else(|| GENESIS.to_string(), str::to_string);
    let mut continues = None;
    let mut recordings = Vec::new();
    let mut lines = 0;
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        lines = i + 1;
        if i == 0
            && after.is_none()
            && let Some(start) = rotated_from(&line)
        {
            prev = start.clone();
            continues = Some(start);
        }
        if let Err(why) = check_line(&line, &prev) {
            let why = if i == 0 && after.is_none() && why.starts_with("`prev`") {
                format!(
                    "the first line does not start a chain and is not a rotation record: \
                     lines before it were removed, or the file continues another one \
                     (name that file first); {why}"
                )
            } else {
                why
            };
            return Ok(Report {
                lines,
                broken: Some((lines, why)),
                head: prev,
                continues,
                recordings,
                bad_recording: None,
            });
        }
        // check_line proved `hash` is there and right.
        let v: Value = serde_json::from_slice(&line).unwrap_or_default();
        prev = v["hash"].as_str().unwrap_or_default().to_string();
        if let Some(r) = v.pointer("/result/recording")
            && let Ok(r) = serde_json::from_value::<Recording>(r.clone())
        {
            recordings.push((lines, r));
        }
    }
    Ok(Report {
        lines,
        broken: None,
        head: prev,
        continues,
        recordings,
        bad_recording: None,
    })
}

/// The `prev` of the broker's rotation record, when `line` is one that
/// continues an earlier file.
fn rotated_from(line: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let prev = v.get("prev")?.as_str()?;
    (v.get("event")? == "audit" && v.get("outcome")? == "rotated" && prev != GENESIS)
        .then(|| prev.to_string())
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
    use crate::audit::canonical_json;

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

    /// `lines` re-chained from `prev`, the first one a rotation record.
    fn rotated_segment(prev: &str, n: usize) -> Vec<String> {
        let mut prev = prev.to_string();
        (0..n)
            .map(|i| {
                let (event, outcome) = if i == 0 {
                    ("audit", "rotated")
                } else {
                    ("exchange", "issued")
                };
                let mut v = serde_json::json!({"event": event, "outcome": outcome, "prev": prev});
                let h = record_hash(&v);
                v["hash"] = Value::String(h.clone());
                prev = h;
                canonical_json(&v)
            })
            .collect()
    }

    fn files(dir: &Path, segments: &[Vec<String>]) -> Vec<PathBuf> {
        segments
            .iter()
            .enumerate()
            .map(|(i, lines)| {
                let p = dir.join(format!("audit.{i}"));
                std::fs::write(
                    &p,
                    lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
                )
                .unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn rotated_files_verify_as_one_chain_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = chain(3);
        let head: Value = serde_json::from_str(old.last().unwrap()).unwrap();
        let new = rotated_segment(head["hash"].as_str().unwrap(), 2);
        let paths = files(dir.path(), &[old, new]);
        let reports = verify_files(&paths).unwrap();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|(_, r)| r.broken.is_none()));
        // Named first, the new file links to the old one, not beyond.
        assert_eq!(reports[1].1.continues, None);

        // On its own the new file verifies, saying where it continues from.
        let alone = verify_file(&paths[1]).unwrap();
        assert_eq!(alone.broken, None);
        assert_eq!(alone.continues.as_deref(), head["hash"].as_str());

        // In the wrong order, the link does not hold.
        let reversed = verify_files(&[paths[1].clone(), paths[0].clone()]).unwrap();
        assert!(reversed[1].1.broken.is_some(), "{reversed:?}");
    }

    #[test]
    fn a_file_whose_head_was_cut_is_broken_at_line_one() {
        let mut lines = chain(4);
        lines.drain(..2);
        let (n, why) = check(&lines).broken.unwrap();
        assert_eq!(n, 1);
        assert!(why.contains("lines before it were removed"), "{why}");
    }

    #[test]
    fn a_later_file_that_does_not_continue_the_one_before_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let paths = files(
            dir.path(),
            &[chain(2), rotated_segment(&"ab".repeat(32), 2)],
        );
        let reports = verify_files(&paths).unwrap();
        let (n, why) = reports[1].1.broken.clone().unwrap();
        assert_eq!(n, 1);
        assert!(why.contains("`prev`"), "{why}");
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
