//! The other replicas' audit records on this replica's live feed. Each
//! append transaction NOTIFYs [`CHANNEL`] with the writing replica and the
//! sequence numbers it added (delivered only once it commits). Every
//! replica LISTENs on a connection of its own and, while someone here
//! watches the feed, reads those rows and publishes them as not local, so
//! `kaccess admin watch` at any replica sees every replica's records, and
//! alert rules still fire once (on the replica that wrote the record).
//!
//! Best effort, as a feed is: records committed while this connection is
//! down are not relayed (the chain holds them; `kaccess audit verify`
//! reads them all), and the loss is logged.

use super::Connector;
use crate::audit::{AuditRecord, Tap};
use anyhow::{Context, Result};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// The channel the audit writers NOTIFY.
pub const CHANNEL: &str = "kaccess_audit";
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// `REPLICA FIRST LAST`: the rows one commit added.
pub fn payload(replica: &str, first: i64, last: i64) -> String {
    format!("{replica} {first} {last}")
}

fn parse(payload: &str) -> Option<(&str, i64, i64)> {
    let mut parts = payload.split(' ');
    let replica = parts.next()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    (parts.next().is_none() && first <= last).then_some((replica, first, last))
}

/// Relays for ever, reconnecting with backoff.
pub async fn run(connector: Connector, replica: String, tap: Tap) {
    let mut wait = Duration::from_millis(100);
    loop {
        if let Err(e) = follow(&connector, &replica, &tap, &mut wait).await {
            tracing::warn!(
                database = %connector.describe,
                error = format!("{e:#}"),
                "the other replicas' audit records are not relayed to this replica's live feed until the database answers again"
            );
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(BACKOFF_MAX);
    }
}

async fn follow(
    connector: &Connector,
    replica: &str,
    tap: &Tap,
    wait: &mut Duration,
) -> Result<()> {
    let (client, mut connection) = connector.raw().await?;
    let (tx, mut notices) = mpsc::unbounded_channel::<Result<String, String>>();
    tokio::spawn(async move {
        loop {
            let msg = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
            let out = match msg {
                Some(Ok(AsyncMessage::Notification(n))) => Ok(n.payload().to_string()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(e.to_string()),
                None => Err("the server closed the connection".into()),
            };
            let closed = out.is_err();
            if tx.send(out).is_err() || closed {
                return;
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .context("cannot LISTEN for the other replicas' audit records")?;
    *wait = Duration::from_millis(100);
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            notice = notices.recv() => {
                let payload = match notice {
                    Some(Ok(p)) => p,
                    Some(Err(why)) => anyhow::bail!("{why}"),
                    None => anyhow::bail!("the connection's driver stopped"),
                };
                let Some((from, first, last)) = parse(&payload) else { continue };
                if from == replica || !tap.watched() {
                    continue;
                }
                let rows = client
                    .query(
                        "SELECT line FROM audit_chain WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
                        &[&first, &last],
                    )
                    .await?;
                for row in rows {
                    let line: String = row.get(0);
                    if let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) {
                        tap.publish(rec, line, false);
                    }
                }
            }
            _ = beat.tick() => {
                tokio::time::timeout(HEARTBEAT_TIMEOUT, client.simple_query("SELECT 1"))
                    .await
                    .map_err(|_| anyhow::anyhow!("the database stopped answering"))??;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_names_the_replica_and_the_rows_and_nothing_else_is_read() {
        assert_eq!(parse(&payload("ab12", 7, 9)), Some(("ab12", 7, 9)));
        assert_eq!(parse("ab12 9 7"), None);
        assert_eq!(parse("ab12 7"), None);
        assert_eq!(parse("ab12 7 9 extra"), None);
        assert_eq!(parse("{\"r\":\"x\"}"), None);
    }
}
