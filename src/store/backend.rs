//! The interface every state backend implements (SQLite for one broker,
//! PostgreSQL for many). A backend only makes [`Change`]s durable and, when
//! it is shared, says what the other replicas changed; the in-memory index
//! that answers the hot paths lives in [`super::Store`], above it.

use super::model::{Change, CredentialEntry, CredentialKey, Session, Snapshot};
use super::requests::AccessRequest;
use anyhow::Result;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How many callers have said a commit of theirs is on its way
/// ([`super::Store::expect_commit`]). A backend that group-commits may
/// hold a batch a moment for them rather than sync once per caller.
#[derive(Debug, Clone, Default)]
pub struct Expected(Arc<AtomicUsize>);

impl Expected {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    pub fn announce(&self) -> Announced {
        self.0.fetch_add(1, Ordering::Relaxed);
        Announced(self.0.clone())
    }
}

/// One expected commit; drop it once the commit landed or will not come.
#[derive(Debug)]
pub struct Announced(Arc<AtomicUsize>);

impl Drop for Announced {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

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

    /// Where callers announce commits to come, for a backend that waits
    /// for them; `None` for one that does not.
    fn expected(&self) -> Option<&Expected> {
        None
    }

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
