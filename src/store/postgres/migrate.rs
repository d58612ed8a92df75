//! The schema, created and migrated by the broker at start. Migrations are
//! numbered; each runs in its own transaction together with its row in
//! `kaccess_schema`, so a crash leaves either all of it or none. All of
//! this happens under one session-level advisory lock, so N replicas
//! starting at once take turns: the first migrates, the others find the
//! work done. A broker older than the schema refuses to start: it would
//! not know what the newer columns mean.

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// `pg_advisory_lock` key for migrations ("kaccess" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x006b_6163_6365_7373;

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, credentials, the audit chain.
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY, cluster TEXT NOT NULL, issuer TEXT NOT NULL,
        subject TEXT NOT NULL, username TEXT NOT NULL, email TEXT, reason TEXT,
        started_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT);
     CREATE INDEX sessions_expiry ON sessions(expires_at);
     CREATE TABLE tokens (
        hash BYTEA PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL,
        uid TEXT NOT NULL, groups TEXT NOT NULL, expires_at BIGINT NOT NULL);
     CREATE INDEX tokens_expiry ON tokens(expires_at);
     CREATE TABLE certificates (
        serial TEXT PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL,
        uid TEXT NOT NULL, groups TEXT NOT NULL, expires_at BIGINT NOT NULL);
     CREATE INDEX certificates_expiry ON certificates(expires_at);
     CREATE TABLE audit_chain (
        seq BIGINT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, prev TEXT NOT NULL,
        line TEXT NOT NULL);",
    // 2: access requests (versioned whole records) and sessions' elevation.
    "ALTER TABLE sessions ADD COLUMN elevation TEXT;
     CREATE TABLE requests (
        id TEXT PRIMARY KEY, version BIGINT NOT NULL, body TEXT NOT NULL,
        expires_at BIGINT NOT NULL);
     CREATE INDEX requests_expiry ON requests(expires_at);",
    // 3: who revoked a session (`logout`, `owner` or `admin:NAME`).
    "ALTER TABLE sessions ADD COLUMN revoked_by TEXT;",
];

/// The schema version this broker writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Why the schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the state database's schema is version {found}, newer than this broker's version \
         {known}: a newer kaccess migrated it; run that version (or newer) of `kaccess serve`"
    )]
    Newer { found: i32, known: i32 },
}

/// Brings the schema to [`SCHEMA_VERSION`], under the migration lock.
/// Returns the version found before.
pub async fn migrate(client: &mut Client) -> Result<i32> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    let result = migrate_locked(client).await;
    // The lock is the session's: released at disconnect in any case.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn migrate_locked(client: &mut Client) -> Result<i32> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS kaccess_schema (
                version INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .context(
            "cannot create the `kaccess_schema` table: the broker's database user needs \
             CREATE on the schema at first start (or a schema created beforehand)",
        )?;
    let found = current_version(client).await?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer {
            found,
            known: SCHEMA_VERSION,
        }
        .into());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i32 + 1;
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("schema migration {version} failed"))?;
        tx.execute(
            "INSERT INTO kaccess_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit()
            .await
            .with_context(|| format!("cannot commit schema migration {version}"))?;
        tracing::info!(version, "migrated the state database's schema");
    }
    Ok(found)
}

/// The highest migration applied (0 for an empty database).
pub async fn current_version(client: &Client) -> Result<i32> {
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM kaccess_schema", &[])
        .await
        .context("cannot read the schema version")?;
    Ok(row.get(0))
}

/// For `kaccess serve --check`: the version, and whether this broker can
/// use it (without migrating).
pub async fn check_version(client: &Client) -> Result<i32> {
    let exists: bool = client
        .query_one("SELECT to_regclass('kaccess_schema') IS NOT NULL", &[])
        .await
        .context("cannot read the schema version")?
        .get(0);
    let found = if exists {
        current_version(client).await?
    } else {
        0
    };
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer {
            found,
            known: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(found)
}
