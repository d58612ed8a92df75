//! The audit log as a JSON-lines file. A record is written and fdatasync'ed before the
//! response that it records is sent, so no credential leaves the broker
//! unrecorded.
//!
//! One writer thread does all file I/O. It takes every record waiting in
//! its queue, writes them with one `write`, syncs once, and then acks them
//! all (group commit): under load one sync covers many requests, and no
//! request waits for more than one sync after its own. If writing fails the
//! whole batch is refused, the file is cut back to its last good length,
//! and the broker answers `503 audit_unavailable` — it fails closed.
//!
//! A record that nothing is held back for (`append_soon`: the end of a
//! proxied request, whose answer is already sent) is written at once but
//! not synced on its own: it rides the next sync someone waits on, or is
//! synced [`SOON`] later. Until then it is acked to no one and kept off
//! the feed. A later record's failed write leaves it be; a failed sync
//! takes back everything written since the last good one.
//!
//! Rotation: the operator renames the file and sends `SIGHUP`; the writer
//! then creates a new file at the configured path whose first line is an
//! `audit`/`rotated` record chained to the old file's last hash, so the
//! chain runs on across files (`kaccess audit verify OLD NEW`) and a
//! restart continues it from the new file.

mod writer;

use super::sink::BoxFuture;
use super::{AuditError, AuditRecord, AuditSink, GENESIS, Reopened, Tap};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;
use writer::{Ack, Unsynced, Writer};

/// Most records one sync covers; bounds the memory of a batch.
const MAX_BATCH: usize = 4096;

/// Longest a record appended with [`AuditSink::append_soon`] waits for
/// another record's sync to ride before it is synced on its own.
pub const SOON: Duration = Duration::from_millis(10);

/// Whether a record's sync may wait for company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Now,
    Soon,
}

enum Msg {
    Record(Box<AuditRecord>, Ack, Durability),
    Reopen(tokio::sync::oneshot::Sender<Result<Reopened, AuditError>>),
    Stop,
}

/// Handle to the writer thread.
pub struct FileSink {
    /// `Sender` is `Sync`: every handler sends on it without a lock.
    tx: mpsc::Sender<Msg>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .finish()
    }
}

impl FileSink {
    /// Opens (or creates, mode 0600) the log and continues its chain. A torn
    /// last line from a crash is cut off: its response was never sent.
    /// Each record is published on `tap` once it is synced.
    pub fn open(path: &Path, also_stdout: bool, tap: Tap) -> anyhow::Result<FileSink> {
        FileSink::open_with(path, also_stdout, tap, SOON)
    }

    /// `open`, with `soon` records synced alone after `soon` (tests).
    pub(super) fn open_with(
        path: &Path,
        also_stdout: bool,
        tap: Tap,
        soon: Duration,
    ) -> anyhow::Result<FileSink> {
        use anyhow::Context;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open the audit log `{}`", path.display()))?;
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        let (prev, good_len) = if regular {
            continue_chain(&mut file)
                .with_context(|| format!("cannot continue the audit log `{}`", path.display()))?
        } else {
            (GENESIS.to_string(), 0)
        };
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            file,
            regular,
            good_len,
            synced_prev: prev.clone(),
            prev,
            path: path.to_path_buf(),
            stdout: also_stdout,
            poisoned: None,
            tap,
            soon,
            unsynced: Unsynced::default(),
        };
        let thread = std::thread::Builder::new()
            .name("kaccess-audit".into())
            .spawn(move || writer.run(rx))
            .context("cannot start the audit writer thread")?;
        Ok(FileSink {
            tx,
            thread: Mutex::new(Some(thread)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FileSink {
    fn send(
        &self,
        record: AuditRecord,
        durability: Durability,
    ) -> BoxFuture<'_, Result<(), AuditError>> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .send(Msg::Record(Box::new(record), done, durability))
            .map_err(|_| AuditError::Closed);
        Box::pin(async move {
            sent?;
            wait.await.map_err(|_| AuditError::Closed)?
        })
    }
}

impl AuditSink for FileSink {
    fn append(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), AuditError>> {
        self.send(record, Durability::Now)
    }

    /// Written at once, synced with the next record that is waited on,
    /// or [`SOON`] after it at the latest.
    fn append_soon(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), AuditError>> {
        self.send(record, Durability::Soon)
    }

    /// After the operator renamed the log: starts a new file at the
    /// configured path, chained to the old one. Records queued before this
    /// call go to the old file.
    fn reopen(&self) -> BoxFuture<'_, Result<Reopened, AuditError>> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .send(Msg::Reopen(done))
            .map_err(|_| AuditError::Closed);
        Box::pin(async move {
            sent?;
            wait.await.map_err(|_| AuditError::Closed)?
        })
    }

    fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Reads the hash of the last complete line and cuts a torn tail.
fn continue_chain(file: &mut File) -> anyhow::Result<(String, u64)> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((GENESIS.to_string(), 0));
    }
    const TAIL: u64 = 1 << 20;
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let Some(last_nl) = tail.iter().rposition(|b| *b == b'\n') else {
        anyhow::bail!("the last line is torn or longer than 1 MiB");
    };
    let good_len = start + last_nl as u64 + 1;
    if good_len < len {
        tracing::warn!(
            bytes = len - good_len,
            "cutting a torn last audit line (a crash during a write; its response was never sent)"
        );
        file.set_len(good_len)?;
    }
    let body = &tail[..last_nl];
    let line_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    if line_start == 0 && start > 0 {
        anyhow::bail!("the last line is longer than 1 MiB");
    }
    let line = &body[line_start..];
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        anyhow::anyhow!("the last line is not JSON ({e}); run `kaccess audit verify`")
    })?;
    let hash = v
        .get("hash")
        .and_then(Value::as_str)
        .filter(|h| h.len() == 64)
        .ok_or_else(|| {
            anyhow::anyhow!("the last line has no `hash`; run `kaccess audit verify`")
        })?;
    Ok((hash.to_string(), good_len))
}
