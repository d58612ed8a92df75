//! The other replicas' changes: one dedicated connection (not from the
//! pool: a pooled connection's driver drops notifications) LISTENs on
//! [`wire::CHANNEL`], its driver polling `poll_message` and handing each
//! notification over. A heartbeat on it notices a database that stopped
//! answering without closing the socket. When the connection is lost the
//! store hears [`FeedEvent::Lost`]; the feed reconnects with backoff,
//! LISTENs again, and only then reads a snapshot, so nothing committed in
//! the gap is missed, and sends [`FeedEvent::Resumed`].

use super::super::backend::FeedEvent;
use super::super::model::{Change, Snapshot, now_secs};
use super::wire::{self, Notice};
use super::{Connector, rows};
use anyhow::{Context, Result};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

/// How often the LISTEN connection is asked to answer.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Longest wait for that answer before the feed counts as lost.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the connection's driver passes on.
enum Driver {
    Payload(String),
    Closed(String),
}

/// A LISTENing connection.
pub struct Listener {
    client: Client,
    messages: mpsc::UnboundedReceiver<Driver>,
}

impl Listener {
    /// Connects, LISTENs, and reads a snapshot after that.
    pub async fn start(connector: &Connector) -> Result<(Listener, Snapshot)> {
        let (client, mut connection) = connector.raw().await?;
        let (tx, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let msg = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                let out = match msg {
                    Some(Ok(AsyncMessage::Notification(n))) => Driver::Payload(n.payload().into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => Driver::Closed(e.to_string()),
                    None => Driver::Closed("the server closed the connection".into()),
                };
                let closed = matches!(out, Driver::Closed(_));
                if tx.send(out).is_err() || closed {
                    return;
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {}", wire::CHANNEL))
            .await
            .context("cannot LISTEN for the other replicas' changes")?;
        let mut listener = Listener { client, messages };
        let snapshot = listener.snapshot().await?;
        Ok((listener, snapshot))
    }

    /// One consistent view of what is live.
    async fn snapshot(&mut self) -> Result<Snapshot> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let snapshot = rows::snapshot(&tx, now_secs()).await?;
        tx.commit().await?;
        Ok(snapshot)
    }

    /// Passes notifications on until the connection is lost (`Err`) or
    /// the store is gone (`Ok`).
    async fn follow(
        &mut self,
        replica: &str,
        out: &mpsc::UnboundedSender<FeedEvent>,
    ) -> Result<()> {
        let mut beat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                msg = self.messages.recv() => {
                    let mut changes = Vec::new();
                    let mut next = msg;
                    while let Some(m) = next.take() {
                        match m {
                            Driver::Payload(p) => {
                                if !self.read(replica, &p, &mut changes).await? {
                                    // A payload this broker cannot read: start over from a
                                    // snapshot rather than miss what it said.
                                    let snapshot = self.snapshot().await?;
                                    if out.send(FeedEvent::Resumed(snapshot)).is_err() {
                                        return Ok(());
                                    }
                                    changes.clear();
                                }
                            }
                            Driver::Closed(why) => anyhow::bail!("{why}"),
                        }
                        next = self.messages.try_recv().ok();
                    }
                    if !changes.is_empty() && out.send(FeedEvent::Applied(changes)).is_err() {
                        return Ok(());
                    }
                }
                _ = beat.tick() => {
                    tokio::time::timeout(HEARTBEAT_TIMEOUT, self.client.simple_query("SELECT 1"))
                        .await
                        .map_err(|_| anyhow::anyhow!("the database stopped answering"))??;
                    if out.is_closed() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Adds what `payload` announces to `changes`; `false` when it cannot
    /// be read.
    async fn read(&self, replica: &str, payload: &str, changes: &mut Vec<Change>) -> Result<bool> {
        let Some((from, notice)) = wire::decode(payload) else {
            return Ok(false);
        };
        if from == replica {
            return Ok(true);
        }
        match notice {
            Notice::Change(c) => changes.push(*c),
            Notice::Session(id) => {
                if let Some(s) = rows::fetch_session(&self.client, &id).await? {
                    changes.push(Change::Session(s));
                }
            }
            Notice::Credential(key) => {
                if let Some(e) = rows::fetch_credential(&self.client, &key).await? {
                    changes.push(Change::Credential(key, e));
                }
            }
            Notice::Request(id) => {
                if let Some(r) = rows::fetch_request(&self.client, &id).await? {
                    changes.push(Change::Request(r));
                }
            }
        }
        Ok(true)
    }
}

/// Follows the feed for ever: on loss, reports it, reconnects with
/// backoff, resynchronises. Ends when the store drops its receiver.
pub async fn run(
    mut listener: Listener,
    connector: Connector,
    replica: String,
    out: mpsc::UnboundedSender<FeedEvent>,
) {
    loop {
        match listener.follow(&replica, &out).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(
                    database = %connector.describe,
                    error = format!("{e:#}"),
                    "lost the connection to the state database"
                );
            }
        }
        drop(listener);
        if out.send(FeedEvent::Lost).is_err() {
            return;
        }
        let mut wait = Duration::from_millis(100);
        listener = loop {
            tokio::time::sleep(wait).await;
            if out.is_closed() {
                return;
            }
            match Listener::start(&connector).await {
                Ok((l, snapshot)) => {
                    if out.send(FeedEvent::Resumed(snapshot)).is_err() {
                        return;
                    }
                    break l;
                }
                Err(e) => {
                    tracing::warn!(
                        database = %connector.describe,
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot reconnect to the state database yet"
                    );
                    wait = (wait * 2).min(BACKOFF_MAX);
                }
            }
        };
    }
}
