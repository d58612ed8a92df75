//! A session's streams as the chain tells them: its upgraded requests
//! (`exec`, `attach`, `portforward`), numbered 1.. in the order of their
//! `proxy`/`started` records, each with its `finished` record's recording
//! (or why there is none). `kaccess audit play --stream N` uses this
//! numbering.

use super::record::{AuditRecord, Recording};
use anyhow::{Context, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Subresources whose requests are upgraded streams.
pub const STREAMING: [&str; 3] = ["exec", "attach", "portforward"];

#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// 1-based, in the session.
    pub number: usize,
    pub request_id: String,
    pub started: AuditRecord,
    pub finished: Option<AuditRecord>,
    /// The directory of the file holding the `finished` record, where its
    /// recording's path starts.
    pub dir: PathBuf,
}

impl Stream {
    pub fn recording(&self) -> Option<&Recording> {
        self.finished.as_ref()?.result.as_ref()?.recording.as_ref()
    }

    /// Why there is no recording, in words.
    pub fn unrecorded(&self) -> String {
        let sub = self
            .started
            .request
            .as_ref()
            .and_then(|r| r.subresource.as_deref())
            .unwrap_or_default();
        match &self.finished {
            None => "it has no `finished` record (still open, or the log ends first)".into(),
            Some(_) if sub == "portforward" => "port-forward streams are not recorded".into(),
            Some(f) => match f.result.as_ref().and_then(|r| r.unrecorded.as_deref()) {
                Some(why) => format!("it ran unrecorded: {why}"),
                None => "its record names no recording (`record: off`, or it never began)".into(),
            },
        }
    }

    /// `exec default/web -- sh`.
    pub fn describe(&self) -> String {
        let Some(r) = &self.started.request else {
            return "stream".into();
        };
        let mut s = format!(
            "{} {}/{}",
            r.subresource.as_deref().unwrap_or("stream"),
            r.namespace.as_deref().unwrap_or("-"),
            r.name.as_deref().unwrap_or("-")
        );
        if let Some(c) = &r.command {
            s.push_str(&format!(" -- {}", c.join(" ")));
        }
        s
    }
}

fn is_stream(rec: &AuditRecord) -> bool {
    rec.event == "proxy"
        && rec
            .request
            .as_ref()
            .and_then(|r| r.subresource.as_deref())
            .is_some_and(|s| STREAMING.contains(&s))
}

/// The streams of `session` in `files` (oldest first). Lines that are not
/// records are skipped: verify the chain first.
pub fn of_session(files: &[PathBuf], session: &str) -> Result<Vec<Stream>> {
    let mut streams: Vec<Stream> = Vec::new();
    for path in files {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the audit log `{}`", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line =
                line.with_context(|| format!("cannot read the audit log `{}`", path.display()))?;
            // Cheap filter before parsing every record.
            if !line.contains(session) {
                continue;
            }
            let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) else {
                continue;
            };
            if rec.session_id.as_deref() != Some(session) || !is_stream(&rec) {
                continue;
            }
            let id = rec
                .request
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_default();
            match rec.outcome.as_str() {
                "started" => streams.push(Stream {
                    number: streams.len() + 1,
                    request_id: id,
                    started: rec,
                    finished: None,
                    dir: dir.clone(),
                }),
                "finished" => {
                    if let Some(s) = streams.iter_mut().find(|s| s.request_id == id) {
                        s.finished = Some(rec);
                        s.dir = dir.clone();
                    }
                }
                _ => {}
            }
        }
    }
    Ok(streams)
}
