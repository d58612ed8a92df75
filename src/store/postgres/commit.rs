//! Group commit: one task takes every batch of changes queued while the
//! last transaction ran, writes them and their NOTIFYs in one transaction,
//! and answers each caller after the commit. NOTIFY is transactional, so
//! the other replicas hear of a change exactly when it is durable, in
//! commit order.

use super::super::model::Change;
use super::{rows, transient, wire};
use anyhow::{Context, Result};
use deadpool_postgres::Pool;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most callers' batches one transaction covers.
const MAX_BATCH: usize = 256;
/// A database that accepts the connection but never answers must not hold
/// requests for ever.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<(), String>>;

pub struct Committer {
    tx: mpsc::UnboundedSender<(Vec<Change>, Reply)>,
}

impl Committer {
    /// Starts the commit task on the current runtime.
    pub fn spawn(pool: Pool, replica: String) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, replica, rx));
        Committer { tx }
    }

    /// Durable (and announced) once this returns `Ok`.
    pub async fn commit(&self, changes: Vec<Change>) -> Result<()> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((changes, reply))
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?
            .map_err(|e| anyhow::anyhow!("cannot write the state database: {e}"))
    }
}

async fn run(pool: Pool, replica: String, mut rx: mpsc::UnboundedReceiver<(Vec<Change>, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let all = batch.iter().flat_map(|(changes, _)| changes);
        match write(&pool, &replica, all).await {
            Ok(()) => {
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch
                    .pop()
                    .map(|(_, reply)| reply.send(Err(format!("{e:#}"))));
            }
            // One bad write must not sink the others: retry them one by one.
            Err(_) => {
                for (changes, reply) in batch {
                    let one = write(&pool, &replica, changes.iter()).await;
                    let _ = reply.send(one.map_err(|e| format!("{e:#}")));
                }
            }
        }
    }
}

/// Writes `changes` in one transaction, again when PostgreSQL aborted it
/// to break a deadlock (with the expiry sweep, or with `--migrate-state`
/// on another host): the caller should not see the database's scheduling.
async fn write<'a>(
    pool: &Pool,
    replica: &str,
    changes: impl Iterator<Item = &'a Change>,
) -> Result<()> {
    let changes: Vec<&Change> = changes.collect();
    let mut attempt = 0;
    loop {
        match write_once(pool, replica, &changes).await {
            Err(e) if attempt + 1 < transient::ATTEMPTS && transient::is_transient(&e) => {
                tokio::time::sleep(transient::backoff(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn write_once(pool: &Pool, replica: &str, changes: &[&Change]) -> Result<()> {
    let work = async {
        let mut client = pool
            .get()
            .await
            .context("no connection to the state database")?;
        let tx = client.transaction().await?;
        for &change in changes {
            rows::apply(&*tx, change).await?;
            if let Some(payload) = wire::encode(replica, change) {
                tx.execute("SELECT pg_notify($1, $2)", &[&wire::CHANNEL, &payload])
                    .await?;
            }
        }
        tx.commit().await?;
        anyhow::Ok(())
    };
    tokio::time::timeout(COMMIT_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("the commit took longer than {COMMIT_TIMEOUT:?}"))?
}
