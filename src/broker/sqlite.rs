//! The sqlite side of the broker's state: the schema, loading live rows
//! into memory at start, and the writer thread that commits queued
//! changes one transaction per batch (group commit) and answers each
//! caller after the commit.

use super::state::{Mem, SESSION_GRACE, Session, TokenEntry};
use super::tokens::TokenHash;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::mpsc;
use time::OffsetDateTime;

pub(super) enum Op {
    Session(Session),
    Token(TokenHash, TokenEntry),
    Revoke(String, OffsetDateTime),
    Prune(OffsetDateTime),
}

pub(super) type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, cluster TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
    username TEXT NOT NULL, email TEXT, reason TEXT,
    started_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS tokens (
    hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL, uid TEXT NOT NULL,
    groups TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens(expires_at);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
";

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}
fn from_ts(s: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(super) fn load(conn: &Connection, now: OffsetDateTime) -> rusqlite::Result<Mem> {
    let mut mem = Mem::default();
    let mut st = conn.prepare(
        "SELECT id, cluster, issuer, subject, username, email, reason, started_at, expires_at, revoked_at
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
        })
    })?;
    for s in rows {
        let s = s?;
        mem.sessions.insert(s.id.clone(), s);
    }
    let mut st = conn.prepare(
        "SELECT hash, session_id, username, uid, groups, expires_at FROM tokens WHERE expires_at > ?1",
    )?;
    let rows = st.query_map(params![ts(now)], |r| {
        let hash: Vec<u8> = r.get(0)?;
        let groups: String = r.get(4)?;
        Ok((
            hash,
            TokenEntry {
                session_id: r.get(1)?,
                username: r.get(2)?,
                uid: r.get(3)?,
                groups: serde_json::from_str(&groups).unwrap_or_default(),
                expires_at: from_ts(r.get(5)?)?,
            },
        ))
    })?;
    for row in rows {
        let (hash, entry) = row?;
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            mem.tokens.insert(TokenHash(h), entry);
        }
    }
    // Touch the one-row check so a file that is not a database fails here.
    let _: Option<i64> = conn
        .query_row("SELECT 1 FROM sessions LIMIT 1", [], |r| r.get(0))
        .optional()?;
    Ok(mem)
}

fn apply(tx: &rusqlite::Transaction<'_>, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::Session(s) => {
            tx.execute(
                "INSERT INTO sessions (id, cluster, issuer, subject, username, email, reason, started_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    s.id, s.cluster, s.issuer, s.subject, s.username, s.email, s.reason,
                    ts(s.started_at), ts(s.expires_at), s.revoked_at.map(ts)
                ],
            )?;
        }
        Op::Token(h, t) => {
            tx.execute(
                "INSERT INTO tokens (hash, session_id, username, uid, groups, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    h.0.as_slice(), t.session_id, t.username, t.uid,
                    serde_json::to_string(&t.groups).unwrap_or_else(|_| "[]".into()),
                    ts(t.expires_at)
                ],
            )?;
        }
        Op::Revoke(id, at) => {
            tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, ts(*at)],
            )?;
        }
        Op::Prune(now) => {
            tx.execute(
                "DELETE FROM tokens WHERE expires_at <= ?1",
                params![ts(*now)],
            )?;
            tx.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                params![ts(*now - SESSION_GRACE)],
            )?;
        }
    }
    Ok(())
}

/// The writer thread: batch, one transaction, one commit, answer all.
pub(super) fn writer(mut conn: Connection, rx: mpsc::Receiver<(Vec<Op>, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for op in batch.iter().flat_map(|(ops, _)| ops) {
                apply(&tx, op)?;
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
            }
            // One bad write must not sink the others: retry them one by one.
            Err(_) => {
                for (ops, reply) in batch {
                    let one = conn.transaction().and_then(|tx| {
                        for op in &ops {
                            apply(&tx, op)?;
                        }
                        tx.commit()
                    });
                    let _ = reply.send(one.map_err(|e| e.to_string()));
                }
            }
        }
    }
}
