//! Walking a chain line by line while checking it, for the commands that
//! read the chain to answer questions (`kaccess audit sessions`, `show`,
//! `report`): each line is checked and parsed once, and the reader goes on
//! past a broken record, so a reviewer still sees what the chain holds and
//! is told where it stopped holding. `verify` stops at the first break; this
//! walker keeps the first and counts the rest.

use super::GENESIS;
use serde_json::Value;

/// Where a record sits: the file (or database) and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub source: String,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` line {}", self.source, self.line)
    }
}

/// What the walk found about the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub sources: usize,
    pub records: usize,
    /// The first record that broke the chain, and why.
    pub first_broken: Option<(Place, String)>,
    /// Records that broke it, the first included.
    pub broken: usize,
    /// Lines that are not JSON objects: they hold no record to read.
    pub unreadable: usize,
    /// `hash` of the last record.
    pub head: String,
    /// The first source starts with a rotation record continuing an
    /// earlier file that was not read: that file's last hash.
    pub continues: Option<String>,
}

impl Status {
    pub fn intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Checks lines in chain order across sources (oldest first).
#[derive(Debug)]
pub struct Walker {
    prev: String,
    source: String,
    line: usize,
    status: Status,
}

impl Default for Walker {
    fn default() -> Self {
        Walker {
            prev: GENESIS.to_string(),
            source: String::new(),
            line: 0,
            status: Status::default(),
        }
    }
}

impl Walker {
    pub fn new() -> Walker {
        Walker::default()
    }

    /// The next file (or the database); the chain runs on into it.
    pub fn start_source(&mut self, name: &str) {
        self.source = name.to_string();
        self.line = 0;
        self.status.sources += 1;
    }

    pub fn place(&self) -> Place {
        Place {
            source: self.source.clone(),
            line: self.line,
        }
    }

    /// Checks one line (no newline) against the one before and returns
    /// its record, broken or not; `None` when it is not a JSON object.
    pub fn line(&mut self, bytes: &[u8]) -> Option<Value> {
        self.line += 1;
        self.status.records += 1;
        let first_line_read = self.status.records == 1;
        // `Value::from_str` is compiled in serde_json itself, so a debug
        // build of kaccess still parses at serde_json's optimisation level
        // (a chain is read in tests 100,000 records at a time).
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| format!("not UTF-8 ({e})"))
            .and_then(|text| text.parse::<Value>().map_err(|e| e.to_string()));
        let mut v: Value = match parsed {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                self.status.unreadable += 1;
                self.broke("not a JSON object".into());
                return None;
            }
            Err(e) => {
                self.status.unreadable += 1;
                self.broke(format!("not a JSON record ({e})"));
                return None;
            }
        };
        let map = v.as_object_mut().expect("an object");
        let hash = match map.remove("hash") {
            Some(Value::String(h)) => h,
            _ => {
                self.broke("no `hash` field".into());
                return Some(v);
            }
        };
        let prev = map.get("prev").and_then(Value::as_str).map(str::to_string);
        if first_line_read
            && let Some(p) = &prev
            && p != GENESIS
            && map.get("event").and_then(Value::as_str) == Some("audit")
            && map.get("outcome").and_then(Value::as_str) == Some("rotated")
        {
            self.prev = p.clone();
            self.status.continues = Some(p.clone());
        }
        // Lines the broker wrote are canonical already: hashing the line's
        // own bytes without its `hash` member is the same check, without
        // rendering the record again. Anything else is rendered.
        let fast = hash_of_line(bytes).is_some_and(|h| h == hash);
        let want = if fast {
            hash.clone()
        } else {
            super::record::hash_of_object(&v)
        };
        let map = v.as_object_mut().expect("an object");
        match prev {
            None => self.broke("no `prev` field".into()),
            Some(p) if p != self.prev => self.broke(format!(
                "`prev` is {p} but the record before has hash {} (a record was removed, \
                 inserted or reordered{})",
                self.prev,
                if self.line == 1 && self.status.sources > 1 {
                    ", or the files are not named oldest first"
                } else {
                    ""
                }
            )),
            Some(_) if want != hash => self.broke(format!(
                "`hash` is {hash} but the record hashes to {want} (the record was changed)"
            )),
            Some(_) => {}
        }
        // Resynchronise on the stored hash, so one edited record is one
        // break, not a break of everything after it.
        self.prev = hash.clone();
        self.status.head = hash.clone();
        map.insert("hash".into(), Value::String(hash));
        Some(v)
    }

    fn broke(&mut self, why: String) {
        self.status.broken += 1;
        if self.status.first_broken.is_none() {
            self.status.first_broken = Some((self.place(), why));
        }
    }

    pub fn finish(self) -> Status {
        self.status
    }
}

/// SHA-256 (hex) of `line` with its `"hash":"<64 hex>"` member cut out;
/// `None` when it has none. Equal to the record's hash only when the line is canonical, and
/// a SHA-256 match means these are the very bytes that were sealed.
fn hash_of_line(line: &[u8]) -> Option<String> {
    use sha2::{Digest, Sha256};
    const KEY: &[u8] = b"\"hash\":\"";
    // The first match is the top-level member in a canonical line (keys
    // sorted, and none before `hash` holds an object). Should it be a
    // nested one, the cut bytes still hold the top-level member, whose
    // value their SHA-256 cannot equal: the check fails and the record is
    // rendered instead.
    let at = (0..line.len()).find(|&i| line[i] == b'"' && line[i..].starts_with(KEY))?;
    let value_end = at + KEY.len() + 64;
    let hex = line.get(at + KEY.len()..value_end)?;
    if !hex.iter().all(|b| b.is_ascii_hexdigit()) || line.get(value_end) != Some(&b'"') {
        return None;
    }
    let member_end = value_end + 1;
    let (cut_from, cut_to) = match (at.checked_sub(1).map(|i| line[i]), line.get(member_end)) {
        (Some(b','), Some(b',' | b'}')) => (at - 1, member_end),
        (Some(b'{'), Some(b',')) => (at, member_end + 1),
        (Some(b'{'), Some(b'}')) => (at, member_end),
        _ => return None,
    };
    let mut h = Sha256::new();
    h.update(&line[..cut_from]);
    h.update(&line[cut_to..]);
    Some(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, seal};

    fn chain(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let mut r = AuditRecord::new("exchange");
                r.username = Some(format!("u{i}"));
                let line = seal(&mut r, &prev, "2026-01-01T00:00:00Z").unwrap();
                prev = r.hash;
                line
            })
            .collect()
    }

    fn walk(lines: &[String]) -> (Status, Vec<Value>) {
        let mut w = Walker::new();
        w.start_source("audit.jsonl");
        let got = lines.iter().filter_map(|l| w.line(l.as_bytes())).collect();
        (w.finish(), got)
    }

    #[test]
    fn an_intact_chain_walks_to_its_end_and_keeps_every_record() {
        let lines = chain(5);
        let (s, got) = walk(&lines);
        assert!(s.intact(), "{s:?}");
        assert_eq!((s.records, got.len()), (5, 5));
        assert_eq!(got[4]["username"], "u4");
        let last: Value = serde_json::from_str(&lines[4]).unwrap();
        assert_eq!(s.head, last["hash"].as_str().unwrap());
    }

    #[test]
    fn an_edited_record_is_the_only_break_and_the_walk_goes_on() {
        let mut lines = chain(5);
        lines[1] = lines[1].replace("\"u1\"", "\"mallory\"");
        let (s, got) = walk(&lines);
        let (place, why) = s.first_broken.clone().unwrap();
        assert_eq!(place.line, 2);
        assert!(why.contains("changed"), "{why}");
        assert_eq!((s.broken, got.len()), (1, 5));
    }

    #[test]
    fn a_removed_record_and_garbage_are_counted_not_skipped() {
        let mut lines = chain(5);
        lines.remove(2);
        lines.push("not json".into());
        let (s, got) = walk(&lines);
        assert_eq!(s.first_broken.unwrap().0.line, 3);
        assert_eq!((s.broken, s.unreadable, got.len()), (2, 1, 4));
    }

    #[test]
    fn a_canonical_line_hashes_as_its_record_and_an_edit_does_not() {
        let lines = chain(2);
        let v: Value = serde_json::from_str(&lines[1]).unwrap();
        let h = hash_of_line(lines[1].as_bytes()).unwrap();
        assert_eq!(h, v["hash"].as_str().unwrap());
        let edited = lines[1].replace("\"u1\"", "\"u9\"");
        assert_ne!(hash_of_line(edited.as_bytes()).unwrap(), h);
        // Not canonical (spaces), so the walker renders it, and it still holds.
        let spaced = serde_json::to_string_pretty(&v).unwrap().replace('\n', "");
        assert_ne!(hash_of_line(spaced.as_bytes()), Some(h));
        let (s, _) = walk(&[lines[0].clone(), spaced]);
        assert!(s.intact(), "{s:?}");
    }

    #[test]
    fn a_second_source_must_continue_the_first() {
        let lines = chain(4);
        let mut w = Walker::new();
        w.start_source("old");
        w.line(lines[0].as_bytes());
        w.line(lines[1].as_bytes());
        w.start_source("new");
        w.line(lines[2].as_bytes());
        w.line(lines[3].as_bytes());
        assert!(w.finish().intact());

        let mut w = Walker::new();
        w.start_source("new");
        w.line(lines[2].as_bytes());
        let s = w.finish();
        let (place, why) = s.first_broken.unwrap();
        assert_eq!(place.to_string(), "`new` line 1");
        assert!(why.contains("removed"), "{why}");
    }
}
