//! The audit file's writer thread: batches, seals, writes and syncs
//! records, acks them once durable, cuts back what a failed write left,
//! and starts a chained file on rotation.

use super::{Durability, MAX_BATCH, Msg};
use crate::audit::{AuditError, AuditRecord, Reopened, Tap, now_rfc3339, seal};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(super) struct Writer {
    pub(super) file: File,
    pub(super) regular: bool,
    /// Length of the file up to its last synced record: a failed write
    /// cuts the file back to here.
    pub(super) good_len: u64,
    /// Hash of the last record written (synced or not): the next `prev`.
    pub(super) prev: String,
    /// Hash of the last synced record: `prev` again after a cut-back.
    pub(super) synced_prev: String,
    pub(super) path: PathBuf,
    pub(super) stdout: bool,
    pub(super) poisoned: Option<String>,
    pub(super) tap: Tap,
    /// Longest a `soon` record waits for a sync to ride.
    pub(super) soon: Duration,
    pub(super) unsynced: Unsynced,
}

pub(super) type Ack = tokio::sync::oneshot::Sender<Result<(), AuditError>>;

/// `soon` records written but not yet synced. They are acked, published
/// on the feed and echoed to stdout with the next sync, whoever asks
/// for it; a failed sync takes them back with it.
#[derive(Default)]
pub(super) struct Unsynced {
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
    pub(super) fn run(mut self, rx: mpsc::Receiver<Msg>) {
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
            // The file's state is unknown: what waits for a sync never gets one.
            let unsynced = std::mem::take(&mut self.unsynced);
            self.refuse(unsynced.acks, err.clone());
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
