//! `kaccess serve --migrate-state`: copies what is live in another
//! backend (a snapshot: sessions, revoked ones included, unexpired
//! credentials, and access requests) into this database in one transaction, so one replica can
//! become three without logging anyone out. It refuses a database that
//! already holds sessions: merging two brokers' state is not a migration.

use super::super::model::{Change, Snapshot};
use super::{Connector, PostgresConfig, migrate, rows};
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
/// holds the sessions table locked, so no broker writes meanwhile.
pub async fn import(cfg: &PostgresConfig, snapshot: Snapshot) -> Result<Imported> {
    let connector = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || Connector::new(&cfg)).await??
    };
    let mut client = connector.connect().await?;
    migrate::migrate(&mut client).await?;
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE sessions, tokens, certificates IN EXCLUSIVE MODE")
        .await
        .context("cannot lock the state tables")?;
    let sessions: i64 = tx
        .query_one("SELECT count(*) FROM sessions", &[])
        .await?
        .get(0);
    if sessions > 0 {
        return Err(NotEmpty {
            database: connector.describe,
            sessions,
        }
        .into());
    }
    let done = Imported {
        sessions: snapshot.sessions.len(),
        credentials: snapshot.credentials.len(),
    };
    for s in snapshot.sessions {
        rows::apply(&tx, &Change::Session(s)).await?;
    }
    for r in snapshot.requests {
        rows::apply(&tx, &Change::Request(r)).await?;
    }
    for (key, entry) in snapshot.credentials {
        rows::apply(&tx, &Change::Credential(key, entry)).await?;
    }
    tx.commit()
        .await
        .context("cannot commit the copied state")?;
    Ok(done)
}
