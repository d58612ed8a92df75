//! The embedded backend: one SQLite file, one broker. The schema, loading
//! live rows at start, and the writer thread that commits queued changes
//! one transaction per batch (group commit) and answers each caller after
//! the commit; while callers that announced a commit are still on their
//! way, it holds the batch for them a moment ([`GATHER`]). Nobody else writes the file, so the store's cache is
//! complete and a miss is never asked of the database.

use super::backend::{Backend, BoxFuture, Expected};
use super::model::{
    Change, CredentialEntry, CredentialKey, SESSION_GRACE, Session, Snapshot, TokenHash,
};
use super::revocation::RevokedBy;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

pub struct SqliteBackend {
    /// `Sender` is `Sync`: callers send without a lock.
    tx: mpsc::Sender<(Vec<Change>, Reply)>,
    path: PathBuf,
    expected: Expected,
    /// Transactions committed (tests: how the writer batched).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

/// Longest the writer holds a batch for commits that callers announced
/// ([`Expected`]) before it syncs what it has. Under load one sync then
/// covers several sessions instead of one; a lone caller, with nobody
/// else announced, never waits.
pub const GATHER: Duration = Duration::from_millis(3);

impl SqliteBackend {
    /// Opens (creating, mode 0600) the database, reads what is live and
    /// starts the writer thread. Blocking.
    pub fn open(path: &Path) -> Result<(SqliteBackend, Snapshot)> {
        SqliteBackend::open_with(path, GATHER)
    }

    /// `open`, holding batches for at most `gather` (tests).
    pub(super) fn open_with(path: &Path, gather: Duration) -> Result<(SqliteBackend, Snapshot)> {
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(path)
                .with_context(|| {
                    format!("cannot create the state database `{}`", path.display())
                })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the state database `{}`", path.display()))?;
        let setup = || -> rusqlite::Result<Snapshot> {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.execute_batch(SCHEMA)?;
            add_missing_columns(&conn)?;
            load(&conn, OffsetDateTime::now_utc())
        };
        let snapshot = setup().with_context(|| {
            format!(
                "the state database `{}` is unusable (corrupted or not a kaccess database)",
                path.display()
            )
        })?;
        let (tx, rx) = mpsc::channel();
        let expected = Expected::default();
        let commits = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            conn,
            rx,
            expected: expected.clone(),
            gather,
            commits: commits.clone(),
        };
        std::thread::Builder::new()
            .name("kaccess-state".into())
            .spawn(move || writer.run())
            .context("cannot start the state writer thread")?;
        let backend = SqliteBackend {
            tx,
            path: path.to_path_buf(),
            expected,
            commits,
        };
        Ok((backend, snapshot))
    }
}

impl SqliteBackend {
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn expected(&self) -> Option<&Expected> {
        Some(&self.expected)
    }

    fn commit(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<()>> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .send((changes, reply))
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"));
        Box::pin(async move {
            sent?;
            wait.await
                .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?
                .map_err(|e| anyhow::anyhow!("cannot write the state database: {e}"))
        })
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, cluster TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
    username TEXT NOT NULL, email TEXT, reason TEXT,
    started_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER, elevation TEXT,
    revoked_by TEXT);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL, uid TEXT NOT NULL,
    groups TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens(expires_at);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL, uid TEXT NOT NULL,
    groups TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS certificates_expiry ON certificates(expires_at);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
";

/// Columns later versions added to `sessions`, in the order they came:
/// `CREATE TABLE IF NOT EXISTS` leaves an older file's table as it was,
/// so each missing one is added in place (existing rows read NULL).
const ADDED_SESSION_COLUMNS: &[(&str, &str)] = &[("elevation", "TEXT"), ("revoked_by", "TEXT")];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (name, kind) in ADDED_SESSION_COLUMNS {
        let present = conn
            .prepare("SELECT 1 FROM pragma_table_info('sessions') WHERE name = ?1")?
            .exists([name])?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE sessions ADD COLUMN {name} {kind}"))?;
        }
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}
fn from_ts(s: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn load(conn: &Connection, now: OffsetDateTime) -> rusqlite::Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    let mut st = conn.prepare(
        "SELECT id, cluster, issuer, subject, username, email, reason, started_at, expires_at, revoked_at,
                elevation, revoked_by
         FROM sessions WHERE expires_at > ?1",
    )?;
    let rows = st.query_map(params![ts(now - SESSION_GRACE)], |r| {
        Ok(Session {
            id: r.get(0)?,
            cluster: r.get(1)?,
            issuer: r.get(2)?,
            subject: r.get(3)?,
            username: r.get(4)?,
            email: r.get(5)?,
            reason: r.get(6)?,
            started_at: from_ts(r.get(7)?)?,
            expires_at: from_ts(r.get(8)?)?,
            revoked_at: r.get::<_, Option<i64>>(9)?.map(from_ts).transpose()?,
            elevation: r
                .get::<_, Option<String>>(10)?
                .map(|e| serde_json::from_str(&e))
                .transpose()
                .map_err(json_err)?,
            revoked_by: r
                .get::<_, Option<String>>(11)?
                .and_then(|b| RevokedBy::from_stored(&b)),
        })
    })?;
    for s in rows {
        snapshot.sessions.push(s?);
    }
    let mut st = conn.prepare("SELECT body FROM requests WHERE expires_at > ?1")?;
    let rows = st.query_map(params![ts(now - SESSION_GRACE)], |r| {
        serde_json::from_str(&r.get::<_, String>(0)?).map_err(json_err)
    })?;
    for r in rows {
        snapshot.requests.push(r?);
    }
    let entry = |r: &rusqlite::Row<'_>| -> rusqlite::Result<CredentialEntry> {
        let groups: String = r.get(4)?;
        Ok(CredentialEntry {
            session_id: r.get(1)?,
            username: r.get(2)?,
            uid: r.get(3)?,
            groups: serde_json::from_str(&groups).unwrap_or_default(),
            expires_at: from_ts(r.get(5)?)?,
        })
    };
    let mut st = conn.prepare(
        "SELECT hash, session_id, username, uid, groups, expires_at FROM tokens WHERE expires_at > ?1",
    )?;
    let rows = st.query_map(params![ts(now)], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, entry(r)?))
    })?;
    for row in rows {
        let (hash, entry) = row?;
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            snapshot
                .credentials
                .push((CredentialKey::Token(TokenHash(h)), entry));
        }
    }
    let mut st = conn.prepare(
        "SELECT serial, session_id, username, uid, groups, expires_at FROM certificates WHERE expires_at > ?1",
    )?;
    let rows = st.query_map(params![ts(now)], |r| {
        Ok((r.get::<_, String>(0)?, entry(r)?))
    })?;
    for row in rows {
        let (serial, entry) = row?;
        snapshot
            .credentials
            .push((CredentialKey::Certificate(serial), entry));
    }
    // Touch the one-row check so a file that is not a database fails here.
    let _: Option<i64> = conn
        .query_row("SELECT 1 FROM sessions LIMIT 1", [], |r| r.get(0))
        .optional()?;
    Ok(snapshot)
}

fn apply(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::Session(s) => {
            tx.prepare_cached("INSERT INTO sessions (id, cluster, issuer, subject, username, email, reason, started_at, expires_at, revoked_at, elevation, revoked_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?
                .execute(params![
                    s.id, s.cluster, s.issuer, s.subject, s.username, s.email, s.reason,
                    ts(s.started_at), ts(s.expires_at), s.revoked_at.map(ts),
                    s.elevation.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default()),
                    s.revoked_by.as_ref().map(RevokedBy::stored)
                ],
            )?;
        }
        Change::Request(r) => {
            let body = serde_json::to_string(r).map_err(json_err)?;
            // A new id starts at version 1 (a second insert of it fails on
            // the key); an update must follow the stored version.
            let stored = if r.version == 1 {
                tx.prepare_cached(
                    "INSERT INTO requests (id, version, body, expires_at) VALUES (?1, 1, ?2, ?3)",
                )?
                .execute(params![r.id, body, ts(r.expires_at)])?
            } else {
                tx.prepare_cached(
                    "UPDATE requests SET version = ?2, body = ?3, expires_at = ?4
                     WHERE id = ?1 AND version = ?2 - 1",
                )?
                .execute(params![
                    r.id,
                    r.version as i64,
                    body,
                    ts(r.expires_at)
                ])?
            };
            if stored != 1 {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("stale request version {} for `{}`", r.version, r.id).into(),
                ));
            }
        }
        Change::Credential(key, t) => {
            use rusqlite::types::Value;
            let (table, column, key) = match key {
                CredentialKey::Token(h) => ("tokens", "hash", Value::Blob(h.0.to_vec())),
                CredentialKey::Certificate(serial) => {
                    ("certificates", "serial", Value::Text(serial.clone()))
                }
            };
            tx.prepare_cached(&format!(
                "INSERT INTO {table} ({column}, session_id, username, uid, groups, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                key,
                t.session_id,
                t.username,
                t.uid,
                serde_json::to_string(&t.groups).unwrap_or_else(|_| "[]".into()),
                ts(t.expires_at)
            ])?;
        }
        Change::Revoke { session_id, at, by } => {
            tx.prepare_cached("UPDATE sessions SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL")?
                .execute(params![session_id, ts(*at), by.as_ref().map(RevokedBy::stored)],
            )?;
        }
        Change::Prune(now) => {
            tx.prepare_cached("DELETE FROM tokens WHERE expires_at <= ?1")?
                .execute(params![ts(*now)])?;
            tx.prepare_cached("DELETE FROM certificates WHERE expires_at <= ?1")?
                .execute(params![ts(*now)])?;
            tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute(params![ts(*now - SESSION_GRACE)])?;
            tx.prepare_cached("DELETE FROM requests WHERE expires_at <= ?1")?
                .execute(params![ts(*now - SESSION_GRACE)])?;
        }
    }
    Ok(())
}

/// The writer thread: batch, one transaction, one commit, answer all.
/// Each statement is prepared once per connection (`prepare_cached`), not
/// parsed again for every change.
struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<(Vec<Change>, Reply)>,
    expected: Expected,
    gather: Duration,
    commits: Arc<AtomicU64>,
}

/// Most callers one transaction covers.
const MAX_BATCH: usize = 1024;

impl Writer {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let batch = self.gather(first);
            let result = self.transaction(batch.iter().flat_map(|(ops, _)| ops));
            match result {
                Ok(()) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Ok(()));
                    }
                }
                // One bad write must not sink the others: retry them one by one.
                Err(_) => {
                    for (ops, reply) in batch {
                        let one = self.transaction(ops.iter());
                        let _ = reply.send(one.map_err(|e| e.to_string()));
                    }
                }
            }
        }
    }

    /// What is queued after `first`, and, while callers that announced a
    /// commit have not all sent it, what arrives within `gather`.
    fn gather(&self, first: (Vec<Change>, Reply)) -> Vec<(Vec<Change>, Reply)> {
        let mut batch = vec![first];
        let deadline = Instant::now() + self.gather;
        loop {
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            // Announced callers in this batch still hold their claim.
            if batch.len() >= self.expected.count().min(MAX_BATCH) {
                return batch;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(item) => batch.push(item),
                Err(_) => return batch,
            }
        }
    }

    fn transaction<'a>(&mut self, ops: impl Iterator<Item = &'a Change>) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for op in ops {
            apply(&tx, op)?;
        }
        tx.commit()?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
