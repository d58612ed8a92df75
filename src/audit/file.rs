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

use super::sink::BoxFuture;
use super::{AuditError, AuditRecord, AuditSink, GENESIS, Reopened, Tap, now_rfc3339, seal};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    tx: Mutex<mpsc::Sender<Msg>>,
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
            tx: Mutex::new(tx),
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
        let sent = self
            .tx
            .lock()
            .map_err(|_| AuditError::Closed)
            .and_then(|tx| {
                let (done, wait) = tokio::sync::oneshot::channel();
                tx.send(Msg::Record(Box::new(record), done, durability))
                    .map_err(|_| AuditError::Closed)?;
                Ok(wait)
            });
        Box::pin(async move { sent?.await.map_err(|_| AuditError::Closed)? })
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
        let sent = self
            .tx
            .lock()
            .map_err(|_| AuditError::Closed)
            .and_then(|tx| {
                let (done, wait) = tokio::sync::oneshot::channel();
                tx.send(Msg::Reopen(done)).map_err(|_| AuditError::Closed)?;
                Ok(wait)
            });
        Box::pin(async move { sent?.await.map_err(|_| AuditError::Closed)? })
    }

    fn shutdown(&self) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Msg::Stop);
        }
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

struct Writer {
    file: File,
    regular: bool,
    /// Length of the file up to its last synced record: a failed write
    /// cuts the file back to here.
    good_len: u64,
    /// Hash of the last record written (synced or not): the next `prev`.
    prev: String,
    /// Hash of the last synced record: `prev` again after a cut-back.
    synced_prev: String,
    path: PathBuf,
    stdout: bool,
    poisoned: Option<String>,
    tap: Tap,
    /// Longest a `soon` record waits for a sync to ride.
    soon: Duration,
    unsynced: Unsynced,
}

type Ack = tokio::sync::oneshot::Sender<Result<(), AuditError>>;

/// `soon` records written but not yet synced. They are acked, published
/// on the feed and echoed to stdout with the next sync, whoever asks
/// for it; a failed sync takes them back with it.
#[derive(Default)]
struct Unsynced {
    acks: Vec<Ack>,
    /// For the feed, only while someone follows it.
    sealed: Vec<(AuditRecord, String)>,
    /// For the stdout echo, only when it is on.
    lines: Vec<u8>,
    len: u64,
    /// When the oldest of them was written.
    since: Option<Instant>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut stop = false;
        while !stop {
            let first = match self.unsynced.since {
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
                Some(since) => {
                    let left = self.soon.saturating_sub(since.elapsed());
                    match rx.recv_timeout(left) {
                        Ok(m) => m,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            let _ = self.write_batch(Vec::new(), Vec::new(), true);
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut records: Vec<AuditRecord> = Vec::new();
            let mut acks = Vec::new();
            let mut now = false;
            let mut reopen = None;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                match m {
                    Msg::Record(r, a, durability) => {
                        now |= durability == Durability::Now;
                        records.push(*r);
                        acks.push(a);
                    }
                    // Ends the batch: what came before goes to the old file.
                    Msg::Reopen(a) => reopen = Some(a),
                    Msg::Stop => stop = true,
                }
                if !stop && reopen.is_none() && records.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // Before a rotation or a stop, everything written is synced.
            let sync = now
                || stop
                || reopen.is_some()
                || self.unsynced.acks.len() + records.len() >= MAX_BATCH;
            if !records.is_empty() || (sync && self.unsynced.since.is_some()) {
                let _ = self.write_batch(records, acks, sync);
            }
            if let Some(ack) = reopen {
                let _ = ack.send(self.reopen());
            }
        }
        let _ = self.write_batch(Vec::new(), Vec::new(), true);
        let _ = self.file.sync_data();
    }

    /// Seals and writes `records`; with `sync`, syncs them and every
    /// `soon` record before them, and acks them all. Without, they join
    /// the unsynced ones.
    fn write_batch(
        &mut self,
        mut records: Vec<AuditRecord>,
        acks: Vec<Ack>,
        sync: bool,
    ) -> Result<(), AuditError> {
        if let Some(cause) = &self.poisoned {
            let err = AuditError::Poisoned {
                path: self.path.clone(),
                cause: cause.clone(),
            };
            return Err(self.refuse(acks, err));
        }
        let mut buf = Vec::new();
        let mut prev = self.prev.clone();
        let now = now_rfc3339();
        // Copies for the live feed, only while someone follows it.
        let mut sealed = Vec::new();
        let wanted = self.tap.wanted();
        for rec in records.iter_mut() {
            let line = match seal(rec, &prev, &now) {
                Ok(line) => line,
                Err(e) => {
                    let err = self.fail(e.to_string());
                    return Err(self.refuse(acks, err));
                }
            };
            buf.extend(line.as_bytes());
            buf.push(b'\n');
            prev = rec.hash.clone();
            if wanted {
                sealed.push((std::mem::take(rec), line));
            }
        }
        if let Err(e) = self.file.write_all(&buf) {
            // Only this batch is cut: `soon` records before it were written
            // whole and wait for their sync as before.
            let err = self.cut_back(self.good_len + self.unsynced.len, &e);
            return Err(self.refuse(acks, err));
        }
        self.prev = prev;
        let u = &mut self.unsynced;
        u.len += buf.len() as u64;
        u.acks.extend(acks);
        u.sealed.extend(sealed);
        if self.stdout {
            u.lines.extend_from_slice(&buf);
        }
        if !sync {
            u.since.get_or_insert_with(Instant::now);
            return Ok(());
        }
        if let Err(e) = self.file.sync_data() {
            // After a failed sync nothing since the last good one is
            // known to be on disk: all of it is cut and refused.
            let err = self.cut_back(self.good_len, &e);
            self.prev = self.synced_prev.clone();
            let u = std::mem::take(&mut self.unsynced);
            return Err(self.refuse(u.acks, err));
        }
        let u = std::mem::take(&mut self.unsynced);
        self.good_len += u.len;
        self.synced_prev = self.prev.clone();
        for (rec, line) in u.sealed {
            self.tap.publish(rec, line, true);
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&u.lines).and_then(|()| out.flush());
        }
        for ack in u.acks {
            let _ = ack.send(Ok(()));
        }
        Ok(())
    }

    /// Cuts the file back to `len` after a failed write or sync so the
    /// chain stays intact; if even that fails, stops writing at all.
    fn cut_back(&mut self, len: u64, e: &std::io::Error) -> AuditError {
        let err = self.fail(e.to_string());
        if self.regular
            && let Err(cut) = self.file.set_len(len)
        {
            self.poisoned = Some(format!("{e}; cutting back failed: {cut}"));
        }
        tracing::error!(error = %err, "audit write failed; refusing to issue");
        err
    }

    /// Answers every one of `acks` with `err`, and gives it back.
    fn refuse(&self, acks: Vec<Ack>, err: AuditError) -> AuditError {
        for ack in acks {
            let _ = ack.send(Err(err.clone()));
        }
        err
    }

    fn reopen(&mut self) -> Result<Reopened, AuditError> {
        use std::os::unix::fs::MetadataExt;
        if !self.regular {
            return Ok(Reopened::Unchanged);
        }
        let open = self.file.metadata().map_err(|e| self.fail(e.to_string()))?;
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == open.dev() && m.ino() == open.ino() => {
                return Ok(Reopened::Unchanged);
            }
            Ok(m) if m.len() > 0 => {
                // Not ours: continuing its chain would splice two logs.
                return Err(self.fail(
                    "after rotation the path names another file that is not empty; \
                     still writing to the renamed file"
                        .into(),
                ));
            }
            _ => {}
        }
        self.file
            .sync_data()
            .map_err(|e| self.fail(e.to_string()))?;
        let created = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(&self.path)
            .and_then(|f| {
                crate::fsutil::sync_parent(&self.path)?;
                Ok(f)
            })
            .map_err(|e| self.fail(e.to_string()))?;
        // The rotation record goes into the new file before it is used;
        // if it cannot be written, the writer stays on the old file.
        let old_file = std::mem::replace(&mut self.file, created);
        let old_len = std::mem::replace(&mut self.good_len, 0);
        let record = AuditRecord {
            outcome: "rotated".into(),
            cause: Some(
                "the log was rotated (SIGHUP); `prev` is the last hash of the previous file".into(),
            ),
            ..AuditRecord::new("audit")
        };
        match self.write_batch(vec![record], Vec::new(), true) {
            Ok(()) => Ok(Reopened::Rotated),
            Err(e) => {
                self.file = old_file;
                self.good_len = old_len;
                let _ = std::fs::remove_file(&self.path);
                Err(e)
            }
        }
    }

    fn fail(&self, cause: String) -> AuditError {
        AuditError::Write {
            path: self.path.clone(),
            cause,
        }
    }
}
