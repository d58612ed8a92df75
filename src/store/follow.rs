//! A shared backend's feed, applied to the store's memory: the other
//! replicas' changes, the loss of the feed (from which reviews are answered
//! only within the bounded staleness) and its return (a fresh snapshot that
//! never un-revokes what this replica revoked meanwhile).

use super::cache::Cache;
use super::{FeedEvent, Store};
use std::sync::atomic::Ordering;

/// Follows a shared backend's feed until the store is dropped.
pub(super) async fn follow(
    store: std::sync::Weak<Store>,
    mut feed: tokio::sync::mpsc::UnboundedReceiver<FeedEvent>,
) {
    while let Some(event) = feed.recv().await {
        let Some(store) = store.upgrade() else { return };
        match event {
            FeedEvent::Applied(changes) => store.apply(&changes),
            FeedEvent::Lost => {
                let at = store.epoch.elapsed().as_millis() as u64 + 1;
                let _ = store
                    .lost_at
                    .compare_exchange(0, at, Ordering::AcqRel, Ordering::Acquire);
                tracing::error!(
                    backend = %store.backend.describe(),
                    "lost the state database's change feed; refusing to issue until it is back"
                );
            }
            FeedEvent::Resumed(snapshot) => {
                let mut fresh = Cache::from_snapshot(snapshot);
                let newly_revoked: Vec<String> = {
                    let mut c = store.write_cache();
                    // Never un-revoke: a revocation this replica took in
                    // memory while its commit failed (the database was
                    // down) stays in force here.
                    for (id, s) in fresh.sessions.iter_mut() {
                        if s.revoked_at.is_none()
                            && let Some(old) = c.sessions.get(id)
                        {
                            s.revoked_at = old.revoked_at;
                            s.revoked_by = old.revoked_by.clone();
                        }
                    }
                    let revoked = fresh
                        .sessions
                        .values()
                        .filter(|s| {
                            s.revoked_at.is_some()
                                && c.sessions
                                    .get(&s.id)
                                    .is_some_and(|o| o.revoked_at.is_none())
                        })
                        .map(|s| s.id.clone())
                        .collect();
                    *c = fresh;
                    revoked
                };
                store.lost_at.store(0, Ordering::Release);
                for id in newly_revoked {
                    let _ = store.revocations.send(id);
                }
                tracing::info!(
                    backend = %store.backend.describe(),
                    "the state database's change feed is back; state resynchronised"
                );
            }
        }
    }
}
