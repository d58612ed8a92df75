//! The interface every state backend implements (SQLite for one broker,
//! PostgreSQL for many). A backend only makes [`Change`]s durable and, when
//! it is shared, says what the other replicas changed; the in-memory index
//! that answers the hot paths lives in [`super::Store`], above it.

use super::model::{Change, CredentialEntry, CredentialKey, Session, Snapshot};
use super::requests::AccessRequest;
use anyhow::Result;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a shared backend reports about the other replicas' writes.
#[derive(Debug)]
pub enum FeedEvent {
    /// Changes another replica committed, in commit order.
    Applied(Vec<Change>),
    /// The feed is gone (database unreachable): from now on the cache may
    /// miss revocations, so it may answer only within the staleness bound.
    Lost,
    /// The feed is back; the snapshot was read after it resumed, so
    /// nothing committed during the gap is missed.
    Resumed(Snapshot),
}

pub trait Backend: Send + Sync {
    /// For logs and errors: `sqlite:/var/lib/kaccess/state.db`.
    fn describe(&self) -> String;

    /// Commits `changes` in one transaction; they are durable once this
    /// returns `Ok`. Backends may group several callers' batches into one
    /// commit. A [`Change::Request`] whose `version` is not one above the
    /// stored one (or 1 for a new id) fails the commit: that is how two
    /// replicas' decisions on one request cannot both land.
    fn commit(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<()>>;

    /// True when other brokers write to the same state: then a cache miss
    /// is asked of [`Backend::fetch_session`] and
    /// [`Backend::fetch_credential`] (another replica may have just written
    /// it), and [`Backend::take_feed`] is followed.
    fn shared(&self) -> bool {
        false
    }

    /// A session the cache does not know (shared backends only).
    fn fetch_session<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Option<Session>>> {
        Box::pin(async { Ok(None) })
    }

    /// A credential the cache does not know (shared backends only).
    fn fetch_credential<'a>(
        &'a self,
        _key: &'a CredentialKey,
    ) -> BoxFuture<'a, Result<Option<CredentialEntry>>> {
        Box::pin(async { Ok(None) })
    }

    /// An access request the cache does not know (shared backends only).
    fn fetch_request<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Option<AccessRequest>>> {
        Box::pin(async { Ok(None) })
    }

    /// The other replicas' changes, once: the store takes it at start.
    fn take_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<FeedEvent>> {
        None
    }
}
