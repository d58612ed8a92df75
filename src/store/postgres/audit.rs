//! The audit chain in the database: one chain for all replicas. A batch
//! of records is appended in one transaction that first takes a
//! transaction-level advisory lock, so appends from every replica are
//! serialized: each reads the last record's hash and sequence number under
//! the lock, seals its records after it (the same `seal` the file writer
//! uses, so the rows hold the file's lines), and inserts them with the
//! next sequence numbers. An append returns once its transaction has
//! committed; an error means the record is not there, and the broker
//! refuses (fail closed).

use crate::audit::{AuditError, AuditRecord, AuditSink, GENESIS, Tap, now_rfc3339, seal};
use deadpool_postgres::Pool;
use std::io::Write;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// `pg_advisory_xact_lock` key of the chain ("kaudit").
const CHAIN_LOCK: i64 = 0x6b61_7564_6974;
const MAX_BATCH: usize = 1024;
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

type Ack = oneshot::Sender<Result<(), AuditError>>;

enum Msg {
    Record(Box<AuditRecord>, Ack),
    Stop(std::sync::mpsc::Sender<()>),
}

pub struct PgAuditSink {
    tx: mpsc::UnboundedSender<Msg>,
}

impl PgAuditSink {
    /// Starts the writer on the current runtime. `also_stdout` prints
    /// every committed line (for log shippers). Each record is published
    /// on `tap` once its transaction has committed.
    /// `replica` names this broker in the NOTIFY each commit sends
    /// (`audit_feed`).
    pub fn start(pool: Pool, also_stdout: bool, tap: Tap, replica: String) -> PgAuditSink {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, also_stdout, tap, replica, rx));
        PgAuditSink { tx }
    }
}

impl AuditSink for PgAuditSink {
    fn append(&self, record: AuditRecord) -> crate::store::BoxFuture<'_, Result<(), AuditError>> {
        let (ack, wait) = oneshot::channel();
        let sent = self.tx.send(Msg::Record(Box::new(record), ack));
        Box::pin(async move {
            sent.map_err(|_| AuditError::Closed)?;
            wait.await.map_err(|_| AuditError::Closed)?
        })
    }

    fn shutdown(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(Msg::Stop(done)).is_ok() {
            let _ = wait.recv_timeout(APPEND_TIMEOUT * 2);
        }
    }

    fn describe(&self) -> String {
        "postgresql (table audit_chain)".into()
    }
}

async fn run(
    pool: Pool,
    stdout: bool,
    tap: Tap,
    replica: String,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch: Vec<(Box<AuditRecord>, Ack)> = Vec::new();
        let mut stop = None;
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Record(r, a) => batch.push((r, a)),
                Msg::Stop(done) => stop = Some(done),
            }
            if stop.is_none() && batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let mut records: Vec<&mut AuditRecord> =
                batch.iter_mut().map(|(r, _)| &mut **r).collect();
            let result =
                match tokio::time::timeout(APPEND_TIMEOUT, append(&pool, &replica, &mut records))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {APPEND_TIMEOUT:?}")),
                };
            let result = match result {
                Ok(lines) => {
                    if stdout {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(lines.as_bytes()).and_then(|()| out.flush());
                    }
                    if tap.wanted() {
                        for ((rec, _), line) in batch.iter().zip(lines.lines()) {
                            tap.publish((**rec).clone(), line.to_string(), true);
                        }
                    }
                    Ok(())
                }
                Err(cause) => {
                    tracing::error!(error = %cause, "audit append to the database failed; refusing to issue");
                    Err(AuditError::Database(cause))
                }
            };
            for (_, ack) in batch {
                let _ = ack.send(result.clone());
            }
        }
        if let Some(done) = stop {
            rx.close();
            let _ = done.send(());
            return;
        }
    }
}

/// Seals and inserts `records` after the chain's head in one transaction;
/// returns their lines (newline-terminated) once committed.
async fn append(
    pool: &Pool,
    replica: &str,
    records: &mut [&mut AuditRecord],
) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let mut client = pool.get().await.map_err(|e| fail(&e))?;
    let tx = client.transaction().await.map_err(|e| fail(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
        .await
        .map_err(|e| fail(&e))?;
    let head = tx
        .query_opt(
            "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(|e| fail(&e))?;
    let (mut seq, mut prev): (i64, String) = match head {
        Some(row) => (row.get(0), row.get(1)),
        None => (0, GENESIS.to_string()),
    };
    let now = now_rfc3339();
    let (mut seqs, mut hashes, mut prevs, mut lines) = (vec![], vec![], vec![], vec![]);
    for rec in records.iter_mut() {
        let line = seal(rec, &prev, &now).map_err(|e| fail(&e))?;
        seq += 1;
        seqs.push(seq);
        prevs.push(std::mem::replace(&mut prev, rec.hash.clone()));
        hashes.push(rec.hash.clone());
        lines.push(line);
    }
    tx.execute(
        "INSERT INTO audit_chain (seq, hash, prev, line)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])",
        &[&seqs, &hashes, &prevs, &lines],
    )
    .await
    .map_err(|e| fail(&e))?;
    // Delivered to the other replicas' relays only once this commits.
    if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
        let notice = super::audit_feed::payload(replica, *first, *last);
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::audit_feed::CHANNEL, &notice],
        )
        .await
        .map_err(|e| fail(&e))?;
    }
    tx.commit().await.map_err(|e| fail(&e))?;
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}
