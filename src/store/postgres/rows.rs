//! The model's values as rows: reading what is live (a snapshot, one
//! session, one credential) and writing one [`Change`].

use super::super::model::{
    Change, CredentialEntry, CredentialKey, SESSION_GRACE, Session, Snapshot, TokenHash,
};
use super::super::requests::AccessRequest;
use super::super::revocation::RevokedBy;
use anyhow::{Context, Result};
use time::OffsetDateTime;
use tokio_postgres::{GenericClient, Row};

const SESSION_COLUMNS: &str = "id, cluster, issuer, subject, username, email, reason, \
     started_at, expires_at, revoked_at, elevation, revoked_by";

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn from_ts(s: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).context("a stored time is out of range")
}

fn session(r: &Row) -> Result<Session> {
    Ok(Session {
        id: r.try_get(0)?,
        cluster: r.try_get(1)?,
        issuer: r.try_get(2)?,
        subject: r.try_get(3)?,
        username: r.try_get(4)?,
        email: r.try_get(5)?,
        reason: r.try_get(6)?,
        started_at: from_ts(r.try_get(7)?)?,
        expires_at: from_ts(r.try_get(8)?)?,
        revoked_at: r.try_get::<_, Option<i64>>(9)?.map(from_ts).transpose()?,
        elevation: r
            .try_get::<_, Option<String>>(10)?
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .context("a stored elevation is not JSON")?,
        revoked_by: r
            .try_get::<_, Option<String>>(11)?
            .and_then(|b| RevokedBy::from_stored(&b)),
    })
}

fn request(r: &Row) -> Result<AccessRequest> {
    serde_json::from_str(&r.try_get::<_, String>(0)?).context("a stored access request is not JSON")
}

pub async fn fetch_request(c: &impl GenericClient, id: &str) -> Result<Option<AccessRequest>> {
    c.query_opt("SELECT body FROM requests WHERE id = $1", &[&id])
        .await?
        .map(|r| request(&r))
        .transpose()
}

/// Columns 1..=5: session_id, username, uid, groups, expires_at.
fn entry(r: &Row) -> Result<CredentialEntry> {
    let groups: String = r.try_get(4)?;
    Ok(CredentialEntry {
        session_id: r.try_get(1)?,
        username: r.try_get(2)?,
        uid: r.try_get(3)?,
        groups: serde_json::from_str(&groups).context("stored groups are not a JSON list")?,
        expires_at: from_ts(r.try_get(5)?)?,
    })
}

fn token_key(r: &Row) -> Result<CredentialKey> {
    let hash: Vec<u8> = r.try_get(0)?;
    let hash = <[u8; 32]>::try_from(hash.as_slice())
        .map_err(|_| anyhow::anyhow!("a stored token hash is not 32 bytes"))?;
    Ok(CredentialKey::Token(TokenHash(hash)))
}

/// Everything live now. Run in a REPEATABLE READ transaction by callers
/// that need one consistent view.
pub async fn snapshot(c: &impl GenericClient, now: OffsetDateTime) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE expires_at > $1");
    for r in c.query(&q, &[&ts(now - SESSION_GRACE)]).await? {
        snap.sessions.push(session(&r)?);
    }
    let q = "SELECT hash, session_id, username, uid, groups, expires_at FROM tokens WHERE expires_at > $1";
    for r in c.query(q, &[&ts(now)]).await? {
        snap.credentials.push((token_key(&r)?, entry(&r)?));
    }
    let q = "SELECT serial, session_id, username, uid, groups, expires_at FROM certificates WHERE expires_at > $1";
    for r in c.query(q, &[&ts(now)]).await? {
        snap.credentials
            .push((CredentialKey::Certificate(r.try_get(0)?), entry(&r)?));
    }
    let q = "SELECT body FROM requests WHERE expires_at > $1";
    for r in c.query(q, &[&ts(now - SESSION_GRACE)]).await? {
        snap.requests.push(request(&r)?);
    }
    Ok(snap)
}

pub async fn fetch_session(c: &impl GenericClient, id: &str) -> Result<Option<Session>> {
    let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    c.query_opt(&q, &[&id])
        .await?
        .map(|r| session(&r))
        .transpose()
}

pub async fn fetch_credential(
    c: &impl GenericClient,
    key: &CredentialKey,
) -> Result<Option<CredentialEntry>> {
    let row = match key {
        CredentialKey::Token(h) => {
            c.query_opt(
                "SELECT hash, session_id, username, uid, groups, expires_at FROM tokens WHERE hash = $1",
                &[&h.0.as_slice()],
            )
            .await?
        }
        CredentialKey::Certificate(serial) => {
            c.query_opt(
                "SELECT serial, session_id, username, uid, groups, expires_at FROM certificates WHERE serial = $1",
                &[serial],
            )
            .await?
        }
    };
    row.map(|r| entry(&r)).transpose()
}

/// Writes one change. Inserts of a row another replica already wrote (a
/// retry) change nothing.
pub async fn apply(c: &impl GenericClient, change: &Change) -> Result<()> {
    match change {
        Change::Session(s) => {
            c.execute(
                "INSERT INTO sessions (id, cluster, issuer, subject, username, email, reason, started_at, expires_at, revoked_at, elevation, revoked_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
                &[
                    &s.id, &s.cluster, &s.issuer, &s.subject, &s.username, &s.email, &s.reason,
                    &ts(s.started_at), &ts(s.expires_at), &s.revoked_at.map(ts),
                    &s.elevation.as_ref().map(serde_json::to_string).transpose()?,
                    &s.revoked_by.as_ref().map(RevokedBy::stored),
                ],
            )
            .await?;
        }
        Change::Credential(key, t) => {
            let groups = serde_json::to_string(&t.groups)?;
            let values = (
                &t.session_id,
                &t.username,
                &t.uid,
                &groups,
                ts(t.expires_at),
            );
            match key {
                CredentialKey::Token(h) => {
                    c.execute(
                        "INSERT INTO tokens (hash, session_id, username, uid, groups, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
                        &[
                            &h.0.as_slice(),
                            values.0,
                            values.1,
                            values.2,
                            values.3,
                            &values.4,
                        ],
                    )
                    .await?;
                }
                CredentialKey::Certificate(serial) => {
                    c.execute(
                        "INSERT INTO certificates (serial, session_id, username, uid, groups, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (serial) DO NOTHING",
                        &[serial, values.0, values.1, values.2, values.3, &values.4],
                    )
                    .await?;
                }
            }
        }
        Change::Request(r) => {
            let body = serde_json::to_string(r)?;
            let version = r.version as i64;
            // A new id starts at 1; an update must follow the stored
            // version, whichever replica wrote it.
            let stored = if r.version == 1 {
                c.execute(
                    "INSERT INTO requests (id, version, body, expires_at) VALUES ($1, 1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                    &[&r.id, &body, &ts(r.expires_at)],
                )
                .await?
            } else {
                c.execute(
                    "UPDATE requests SET version = $2::BIGINT, body = $3, expires_at = $4
                     WHERE id = $1 AND version = $2::BIGINT - 1",
                    &[&r.id, &version, &body, &ts(r.expires_at)],
                )
                .await?
            };
            if stored != 1 {
                anyhow::bail!("stale request version {} for `{}`", r.version, r.id);
            }
        }
        Change::Revoke { session_id, at, by } => {
            c.execute(
                "UPDATE sessions SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
                &[session_id, &ts(*at), &by.as_ref().map(RevokedBy::stored)],
            )
            .await?;
        }
        Change::Prune(now) => {
            c.execute("DELETE FROM tokens WHERE expires_at <= $1", &[&ts(*now)])
                .await?;
            c.execute(
                "DELETE FROM certificates WHERE expires_at <= $1",
                &[&ts(*now)],
            )
            .await?;
            c.execute(
                "DELETE FROM sessions WHERE expires_at <= $1",
                &[&ts(*now - SESSION_GRACE)],
            )
            .await?;
            c.execute(
                "DELETE FROM requests WHERE expires_at <= $1",
                &[&ts(*now - SESSION_GRACE)],
            )
            .await?;
        }
    }
    Ok(())
}
