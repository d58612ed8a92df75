//! `kaccess serve --migrate-state`: copies what is live in another
//! backend (a snapshot: sessions, revoked ones included, unexpired
//! credentials, and access requests) into this database in one transaction, so one replica can
//! become three without logging anyone out. It refuses a database that
//! already holds sessions: merging two brokers' state is not a migration.

use super::super::model::{Change, Snapshot};
use super::{Connector, PostgresConfig, migrate, rows, transient};
use anyhow::{Context, Result};

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub sessions: usize,
    pub credentials: usize,
}

/// Why nothing was copied.
#[derive(Debug, thiserror::Error)]
#[error(
    "the state database `{database}` already holds {sessions} session(s); --migrate-state \
     copies into an empty one only"
)]
pub struct NotEmpty {
    pub database: String,
    pub sessions: i64,
}

/// Migrates the schema, then copies `snapshot` in one transaction that
/// holds the state tables locked, so no broker writes meanwhile. A broker
/// already running on the database may be sweeping expired rows; if
/// PostgreSQL breaks a deadlock with it by aborting the copy, the copy runs
/// again (nothing of an aborted transaction stays).
pub async fn import(cfg: &PostgresConfig, snapshot: Snapshot) -> Result<Imported> {
    let connector = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || Connector::new(&cfg)).await??
    };
    let mut client = connector.connect().await?;
    migrate::migrate(&mut client).await?;
    let mut attempt = 0;
    loop {
        match copy(&mut client, &connector.describe, &snapshot).await {
            Err(e) if attempt + 1 < transient::ATTEMPTS && transient::is_transient(&e) => {
                tokio::time::sleep(transient::backoff(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn copy(
    client: &mut tokio_postgres::Client,
    database: &str,
    snapshot: &Snapshot,
) -> Result<Imported> {
    let tx = client.transaction().await?;
    // The order the expiry sweep deletes in, so the two rarely meet.
    tx.batch_execute("LOCK TABLE tokens, certificates, sessions, requests IN EXCLUSIVE MODE")
        .await
        .context("cannot lock the state tables")?;
    let sessions: i64 = tx
        .query_one("SELECT count(*) FROM sessions", &[])
        .await?
        .get(0);
    if sessions > 0 {
        return Err(NotEmpty {
            database: database.to_string(),
            sessions,
        }
        .into());
    }
    for s in &snapshot.sessions {
        rows::apply(&tx, &Change::Session(s.clone())).await?;
    }
    for r in &snapshot.requests {
        rows::apply(&tx, &Change::Request(r.clone())).await?;
    }
    for (key, entry) in &snapshot.credentials {
        rows::apply(&tx, &Change::Credential(key.clone(), entry.clone())).await?;
    }
    tx.commit()
        .await
        .context("cannot commit the copied state")?;
    Ok(Imported {
        sessions: snapshot.sessions.len(),
        credentials: snapshot.credentials.len(),
    })
}
