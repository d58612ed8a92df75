//! Cut-off: every request and stream holds a child of its session's
//! cancellation token. The session's token is cancelled when the store
//! announces its revocation (made here or, with a shared backend, at any
//! replica) and when the session reaches its end; every stream of that
//! session then closes. A lagging announcement receiver re-checks every
//! session it holds, so no revocation is missed.

use crate::store::{Session, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Why a session's streams were closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Revoked,
    SessionEnded,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Revoked => "revoked",
            Cause::SessionEnded => "session ended",
        }
    }
}

struct Entry {
    token: CancellationToken,
    cause: Arc<OnceLock<Cause>>,
}

/// One request's hold on its session.
#[derive(Clone)]
pub struct Lease {
    pub token: CancellationToken,
    cause: Arc<OnceLock<Cause>>,
}

impl Lease {
    /// Why the token was cancelled, once it was.
    pub fn cause(&self) -> Option<Cause> {
        self.cause.get().copied()
    }
}

pub struct Registry {
    store: Arc<Store>,
    sessions: Mutex<HashMap<String, Entry>>,
    metrics: Arc<super::metrics::ProxyMetrics>,
}

impl Registry {
    /// Starts following the store's revocations (needs a Tokio runtime).
    pub fn start(store: Arc<Store>, metrics: Arc<super::metrics::ProxyMetrics>) -> Arc<Registry> {
        let registry = Arc::new(Registry {
            sessions: Mutex::new(HashMap::new()),
            metrics,
            store: store.clone(),
        });
        tokio::spawn(follow(Arc::downgrade(&registry), store.revocations()));
        registry
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hold on `session` for one request. Checks the session again after
    /// registering, so a revocation that landed between the request's
    /// authentication and now is not missed.
    pub async fn lease(self: &Arc<Self>, session: &Session) -> Lease {
        let lease = {
            let mut map = self.map();
            let entry = map.entry(session.id.clone()).or_insert_with(|| {
                let token = CancellationToken::new();
                tokio::spawn(end_at(
                    Arc::downgrade(self),
                    session.id.clone(),
                    session.expires_at,
                    token.clone(),
                ));
                Entry {
                    token,
                    cause: Arc::new(OnceLock::new()),
                }
            });
            Lease {
                token: entry.token.child_token(),
                cause: entry.cause.clone(),
            }
        };
        self.recheck(&session.id).await;
        lease
    }

    /// Cancels every stream of `id`.
    pub fn cut(&self, id: &str, cause: Cause) {
        let entry = self.map().remove(id);
        if let Some(e) = entry {
            let _ = e.cause.set(cause);
            e.token.cancel();
            self.metrics.cut_off(cause);
            tracing::info!(
                session = id,
                cause = cause.as_str(),
                "proxy: closed the session's streams"
            );
        }
    }

    async fn recheck(&self, id: &str) {
        let now = OffsetDateTime::now_utc();
        match self.store.session(id).await {
            Ok(Some(s)) if s.revoked_at.is_some() => self.cut(id, Cause::Revoked),
            Ok(Some(s)) if now >= s.expires_at => self.cut(id, Cause::SessionEnded),
            // Forgotten (pruned) sessions are over.
            Ok(None) => self.cut(id, Cause::SessionEnded),
            Ok(Some(_)) => {}
            Err(e) => tracing::warn!(
                session = id,
                error = format!("{e:#}"),
                "proxy: cannot re-check a session"
            ),
        }
    }

    fn held(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// Sessions with open requests or streams.
    pub fn open_sessions(&self) -> usize {
        self.map().len()
    }
}

async fn follow(
    registry: Weak<Registry>,
    mut revocations: tokio::sync::broadcast::Receiver<String>,
) {
    loop {
        let next = revocations.recv().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        match next {
            Ok(id) => registry.cut(&id, Cause::Revoked),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "proxy: missed revocation announcements; re-checking every open session"
                );
                for id in registry.held() {
                    registry.recheck(&id).await;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Cuts `id` at `end`, unless it was cut before.
async fn end_at(
    registry: Weak<Registry>,
    id: String,
    end: OffsetDateTime,
    token: CancellationToken,
) {
    let left = end - OffsetDateTime::now_utc();
    let left = std::time::Duration::try_from(left).unwrap_or_default();
    tokio::select! {
        _ = tokio::time::sleep(left) => {
            if let Some(r) = registry.upgrade() {
                r.cut(&id, Cause::SessionEnded);
            }
        }
        _ = token.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::now_secs;

    use crate::proxy::test_session as session;

    #[tokio::test]
    async fn a_revocation_cancels_every_lease_of_that_session_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("state.db")).unwrap();
        let registry = Registry::start(store.clone(), Default::default());
        let (a, b) = (session(), session());
        store.add_session(a.clone()).await.unwrap();
        store.add_session(b.clone()).await.unwrap();
        let (a1, a2, b1) = (
            registry.lease(&a).await,
            registry.lease(&a).await,
            registry.lease(&b).await,
        );
        store
            .revoke(&a.id, now_secs(), crate::store::RevokedBy::Owner)
            .await
            .unwrap();
        a1.token.cancelled().await;
        a2.token.cancelled().await;
        assert_eq!(a1.cause(), Some(Cause::Revoked));
        assert!(!b1.token.is_cancelled());
        assert_eq!(registry.open_sessions(), 1);
    }

    #[tokio::test]
    async fn a_lease_taken_after_the_revocation_is_cut_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("state.db")).unwrap();
        let registry = Registry::start(store.clone(), Default::default());
        let s = session();
        store.add_session(s.clone()).await.unwrap();
        store
            .revoke(&s.id, now_secs(), crate::store::RevokedBy::Owner)
            .await
            .unwrap();
        let late = registry.lease(&s).await;
        assert!(late.token.is_cancelled());
        assert_eq!(late.cause(), Some(Cause::Revoked));
    }
}
