//! The broker's state: sessions, revocations and the credentials issued
//! in them, used by the broker and the access proxy alike.
//!
//! [`Store`] answers the hot paths (TokenReview, the proxy's per-request
//! check, session lookups) from memory and makes every change durable in a
//! [`Backend`] before it reports success. A revocation takes effect in
//! memory first, so a revoked credential fails on the very next request
//! even while the commit is in flight. With a shared backend (several
//! replicas on one database) the other replicas' changes arrive through the
//! backend's feed; while that feed is lost the store answers from memory
//! only within a bounded staleness, then refuses (fail closed).
//!
//! - `model`: the values stored; `cache`: the in-memory index; `follow`:
//!   a shared backend's feed applied to it
//! - `backend`: the interface beneath; `sqlite`: the embedded backend;
//!   `postgres`: the shared one, for many replicas

mod backend;
mod cache;
mod follow;
pub mod model;
pub mod postgres;
pub mod requests;
pub mod revocation;
pub mod sqlite;

pub use backend::{Announced, Backend, BoxFuture, Expected, FeedEvent};
pub use model::{
    Change, CredentialEntry, CredentialKey, Elevation, ReviewError, Reviewed, SESSION_GRACE,
    Session, Snapshot, TokenHash, now_secs,
};
pub use requests::{AccessRequest, Decision, RequestConflict, RequestState};
pub use revocation::{Revocation, RevokedBy};

use anyhow::Result;
use cache::Cache;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// How long a replica whose shared backend is unreachable keeps answering
/// reviews from memory, unless configured otherwise.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(5);

pub struct Store {
    cache: RwLock<Cache>,
    backend: Arc<dyn Backend>,
    revocations: broadcast::Sender<String>,
    /// Milliseconds since `epoch` at which the feed was lost, plus one;
    /// 0 while it is up (one atomic load on the review path).
    lost_at: AtomicU64,
    epoch: Instant,
    max_staleness: Duration,
    /// Serialises this replica's request updates between the version check
    /// and the commit (the backend checks across replicas).
    request_updates: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.describe())
            .finish_non_exhaustive()
    }
}

/// Whether this replica's state can be trusted to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// The shared backend's feed is lost: nothing is issued, and reviews
    /// are answered only until the staleness bound passes.
    Degraded {
        since: Duration,
    },
}

impl Store {
    /// The embedded default: a SQLite file (created 0600). Blocking: call
    /// before serving.
    pub fn open_sqlite(path: &Path) -> Result<Arc<Store>> {
        let (backend, snapshot) = sqlite::SqliteBackend::open(path)?;
        Ok(Store::new(
            Arc::new(backend),
            snapshot,
            DEFAULT_MAX_STALENESS,
        ))
    }

    /// A store over `backend`, filled from `snapshot` (what the backend
    /// holds now). Follows the backend's feed when it has one, which needs
    /// a Tokio runtime.
    pub fn new(
        backend: Arc<dyn Backend>,
        snapshot: Snapshot,
        max_staleness: Duration,
    ) -> Arc<Store> {
        let (revocations, _) = broadcast::channel(1024);
        let store = Arc::new(Store {
            cache: RwLock::new(Cache::from_snapshot(snapshot)),
            backend: backend.clone(),
            revocations,
            lost_at: AtomicU64::new(0),
            epoch: Instant::now(),
            max_staleness,
            request_updates: tokio::sync::Mutex::new(()),
        });
        if let Some(feed) = backend.take_feed() {
            tokio::spawn(follow::follow(Arc::downgrade(&store), feed));
        }
        store
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Session ids as they are revoked, here or (with a shared backend) at
    /// any replica: the proxy closes their streams. A lagging receiver
    /// must re-check every session it holds.
    pub fn revocations(&self) -> broadcast::Receiver<String> {
        self.revocations.subscribe()
    }

    pub fn health(&self) -> Health {
        match self.lost_at.load(Ordering::Acquire) {
            0 => Health::Ready,
            at => Health::Degraded {
                since: self
                    .epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            },
        }
    }

    /// Refuses when the state may be staler than allowed.
    fn fresh_enough(&self) -> Result<(), ReviewError> {
        match self.health() {
            Health::Ready => Ok(()),
            Health::Degraded { since } if since <= self.max_staleness => Ok(()),
            Health::Degraded { .. } => Err(ReviewError::Unavailable),
        }
    }

    /// Refuses new writes while a shared backend is unreachable.
    fn writable(&self) -> Result<()> {
        match self.health() {
            Health::Ready => Ok(()),
            Health::Degraded { since } => anyhow::bail!(
                "the state database `{}` has been unreachable for {}s",
                self.backend.describe(),
                since.as_secs()
            ),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies changes to memory and announces revocations.
    fn apply(&self, changes: &[Change]) {
        let revoked: Vec<String> = {
            let mut c = self.write_cache();
            changes.iter().filter_map(|ch| c.apply(ch)).collect()
        };
        for id in revoked {
            let _ = self.revocations.send(id);
        }
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>> {
        if let Some(s) = self.read().sessions.get(id).cloned() {
            return Ok(Some(s));
        }
        if !self.backend.shared() {
            return Ok(None);
        }
        let found = self.backend.fetch_session(id).await?;
        if let Some(s) = &found {
            self.apply(&[Change::Session(s.clone())]);
        }
        Ok(found)
    }

    /// Says that this caller will soon commit (an exchange, from its
    /// start): the backend may then wait a moment to sync it with others
    /// rather than alone. Hold it until the commit returned.
    pub fn expect_commit(&self) -> Option<Announced> {
        self.backend.expected().map(Expected::announce)
    }

    /// Stores a new session and/or a credential in one commit; they exist
    /// once this returns.
    pub async fn add(
        &self,
        session: Option<Session>,
        credential: Option<(CredentialKey, CredentialEntry)>,
    ) -> Result<()> {
        let mut changes = Vec::new();
        changes.extend(session.map(Change::Session));
        changes.extend(credential.map(|(k, e)| Change::Credential(k, e)));
        if changes.is_empty() {
            return Ok(());
        }
        self.writable()?;
        self.backend.commit(changes.clone()).await?;
        self.apply(&changes);
        Ok(())
    }

    pub async fn add_session(&self, s: Session) -> Result<()> {
        self.add(Some(s), None).await
    }

    pub async fn add_token(&self, hash: TokenHash, entry: CredentialEntry) -> Result<()> {
        self.add(None, Some((CredentialKey::Token(hash), entry)))
            .await
    }

    /// Forgets a credential that was stored but never handed out.
    pub fn drop_credential(&self, key: &CredentialKey) {
        self.write_cache().remove_credential(key);
    }

    /// Revokes a session, `by` its owner or an admin. `Ok(false)` when
    /// it already was (a replay; the first revocation's who and when
    /// stand). Memory first: its credentials fail from this instant.
    pub async fn revoke(&self, id: &str, at: OffsetDateTime, by: RevokedBy) -> Result<bool> {
        if self.session(id).await?.is_none() {
            anyhow::bail!("unknown session `{id}`");
        }
        let change = Change::Revoke {
            session_id: id.to_string(),
            at,
            by: Some(by),
        };
        let fresh = self.write_cache().apply(&change).is_some();
        if fresh {
            let _ = self.revocations.send(id.to_string());
            self.backend.commit(vec![change]).await?;
        }
        Ok(fresh)
    }

    /// The TokenReview decision: from memory, two hash lookups; a shared
    /// backend is asked only about a token this replica has not seen yet.
    pub async fn review(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Reviewed, ReviewError> {
        self.check(&CredentialKey::Token(*hash), now).await
    }

    /// The proxy's decision for a client certificate, by its serial.
    pub async fn certificate(
        &self,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<Reviewed, ReviewError> {
        self.check(&CredentialKey::Certificate(serial.to_string()), now)
            .await
    }

    async fn check(
        &self,
        key: &CredentialKey,
        now: OffsetDateTime,
    ) -> Result<Reviewed, ReviewError> {
        self.fresh_enough()?;
        match self.decide(key, now) {
            Err(ReviewError::Unknown) if self.backend.shared() => {}
            decided => return decided,
        }
        let entry = self
            .backend
            .fetch_credential(key)
            .await
            .map_err(|_| ReviewError::Unavailable)?
            .ok_or(ReviewError::Unknown)?;
        let known = self.read().sessions.contains_key(&entry.session_id);
        if !known {
            self.session(&entry.session_id)
                .await
                .map_err(|_| ReviewError::Unavailable)?;
        }
        self.apply(&[Change::Credential(key.clone(), entry)]);
        self.decide(key, now)
    }

    fn decide(&self, key: &CredentialKey, now: OffsetDateTime) -> Result<Reviewed, ReviewError> {
        let c = self.read();
        let entry = c.credential(key).ok_or(ReviewError::Unknown)?;
        let session = c
            .sessions
            .get(&entry.session_id)
            .ok_or(ReviewError::Unknown)?;
        if let Some(revocation) = Revocation::of(session) {
            return Err(ReviewError::Revoked(Box::new(revocation)));
        }
        if now >= entry.expires_at {
            return Err(ReviewError::Expired);
        }
        if now >= session.expires_at {
            return Err(ReviewError::SessionExpired);
        }
        Ok(Reviewed {
            token: entry.clone(),
            reason: session.reason.clone(),
            cluster: session.cluster.clone(),
            elevation: session.elevation.clone(),
        })
    }

    pub async fn request(&self, id: &str) -> Result<Option<AccessRequest>> {
        if let Some(r) = self.read().requests.get(id).cloned() {
            return Ok(Some(r));
        }
        if !self.backend.shared() {
            return Ok(None);
        }
        let found = self.backend.fetch_request(id).await?;
        if let Some(r) = &found {
            self.apply(&[Change::Request(r.clone())]);
        }
        Ok(found)
    }

    /// Requests that `keep` accepts, newest first, at most `limit`; the
    /// flag says whether more matched. A scan, not a hot path.
    pub fn requests(
        &self,
        keep: impl Fn(&AccessRequest) -> bool,
        limit: usize,
    ) -> (Vec<AccessRequest>, bool) {
        let mut found: Vec<AccessRequest> = self
            .read()
            .requests
            .values()
            .filter(|r| keep(r))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// Stores a new request (`version` 1) or the next version of a stored
    /// one. A version that does not follow the stored one is refused with
    /// [`RequestConflict::Stale`]: someone decided meanwhile.
    pub async fn put_request(&self, next: AccessRequest) -> Result<()> {
        self.writable()?;
        let _one_at_a_time = self.request_updates.lock().await;
        let stored = self.request(&next.id).await?.map(|r| r.version);
        match (stored, next.version) {
            (None, 1) => {}
            (Some(v), n) if n == v + 1 => {}
            (None, _) => return Err(RequestConflict::Unknown(next.id.clone()).into()),
            _ => return Err(RequestConflict::Stale(next.id.clone()).into()),
        }
        let change = Change::Request(next);
        self.backend
            .commit(vec![change.clone()])
            .await
            .map_err(|e| {
                if format!("{e:#}").contains("stale request version") {
                    anyhow::Error::new(RequestConflict::Stale(match &change {
                        Change::Request(r) => r.id.clone(),
                        _ => String::new(),
                    }))
                } else {
                    e
                }
            })?;
        self.apply(&[change]);
        Ok(())
    }

    /// Live sessions (for the metrics gauge; a scan, but not on a hot path).
    pub fn active_sessions(&self, now: OffsetDateTime) -> usize {
        self.read()
            .sessions
            .values()
            .filter(|s| s.live_at(now))
            .count()
    }

    /// Live sessions that `keep` accepts, newest first, at most `limit`;
    /// the flag says whether more matched. A scan: for admins, not a hot
    /// path.
    pub fn live_sessions(
        &self,
        now: OffsetDateTime,
        keep: impl Fn(&Session) -> bool,
        limit: usize,
    ) -> (Vec<Session>, bool) {
        let mut found: Vec<Session> = self
            .read()
            .sessions
            .values()
            .filter(|s| s.live_at(now) && keep(s))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// Drops expired credentials, and sessions a day past their end.
    pub async fn prune(&self, now: OffsetDateTime) -> Result<()> {
        let change = Change::Prune(now);
        self.write_cache().apply(&change);
        self.backend.commit(vec![change]).await
    }
}

#[cfg(test)]
mod tests;
