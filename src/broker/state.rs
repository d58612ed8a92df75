//! Sessions, revocations and token hashes. Everything lives in memory for
//! the hot paths (TokenReview, session lookups: one hash-map probe, no
//! scans) and in sqlite behind it so a restart keeps them. sqlite runs on
//! its own thread: writes queue there, are committed in one transaction
//! per batch (group commit), and the caller is answered after the commit.
//! A revocation takes effect in memory first, so a revoked token fails
//! review on the very next request even while the commit is in flight.

use super::sqlite::{Op, Reply, SCHEMA, load, writer};
use super::tokens::TokenHash;
use anyhow::{Context, Result};
use rusqlite::Connection;
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, RwLock, mpsc};
use time::OffsetDateTime;

/// One session: a login at a cluster, up to `max-session` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub cluster: String,
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub email: Option<String>,
    pub reason: Option<String>,
    pub started_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub session_id: String,
    pub username: String,
    /// The IdP subject, as TokenReview's `uid`.
    pub uid: String,
    pub groups: Vec<String>,
    pub expires_at: OffsetDateTime,
}

/// Why a token failed review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("unknown token")]
    Unknown,
    #[error("token expired")]
    Expired,
    #[error("session revoked")]
    Revoked,
    #[error("session expired")]
    SessionExpired,
}

/// A token that passed review.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub token: TokenEntry,
    pub reason: Option<String>,
    /// The cluster the token was issued for.
    pub cluster: String,
}

#[derive(Default)]
pub(super) struct Mem {
    pub(super) sessions: HashMap<String, Session>,
    pub(super) tokens: HashMap<TokenHash, TokenEntry>,
}

pub struct Store {
    mem: RwLock<Mem>,
    tx: std::sync::Mutex<mpsc::Sender<(Vec<Op>, Reply)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Keep expired sessions this long so a late continue hears "expired",
/// not "unknown".
pub(super) const SESSION_GRACE: time::Duration = time::Duration::days(1);

/// Now, in whole seconds: the precision the database keeps, so a session
/// reads the same before and after a restart.
pub fn now_secs() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

impl Store {
    /// Opens (creating, mode 0600) the database, loads live state into
    /// memory and starts the writer thread. Blocking: call before serving.
    pub fn open(path: &Path) -> Result<Arc<Store>> {
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(path)
                .with_context(|| {
                    format!("cannot create the state database `{}`", path.display())
                })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the state database `{}`", path.display()))?;
        let setup = || -> rusqlite::Result<Mem> {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.execute_batch(SCHEMA)?;
            load(&conn, OffsetDateTime::now_utc())
        };
        let mem = setup().with_context(|| {
            format!(
                "the state database `{}` is unusable (corrupted or not a kaccess database)",
                path.display()
            )
        })?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kaccess-state".into())
            .spawn(move || writer(conn, rx))
            .context("cannot start the state writer thread")?;
        Ok(Arc::new(Store {
            mem: RwLock::new(mem),
            tx: std::sync::Mutex::new(tx),
        }))
    }

    /// Commits `ops` in one transaction.
    async fn write(&self, ops: Vec<Op>) -> Result<()> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.tx
            .lock()
            .map_err(|_| anyhow::anyhow!("state writer lock poisoned"))?
            .send((ops, reply))
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the state writer has stopped"))?
            .map_err(|e| anyhow::anyhow!("cannot write the state database: {e}"))
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        self.mem.read().ok()?.sessions.get(id).cloned()
    }

    /// Stores a new session and/or a token in one commit; they exist once
    /// this returns.
    pub async fn add(
        &self,
        session: Option<Session>,
        token: Option<(TokenHash, TokenEntry)>,
    ) -> Result<()> {
        let mut ops = Vec::new();
        ops.extend(session.clone().map(Op::Session));
        ops.extend(token.clone().map(|(h, e)| Op::Token(h, e)));
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops).await?;
        if let Ok(mut m) = self.mem.write() {
            if let Some(s) = session {
                m.sessions.insert(s.id.clone(), s);
            }
            if let Some((h, e)) = token {
                m.tokens.insert(h, e);
            }
        }
        Ok(())
    }

    pub async fn add_session(&self, s: Session) -> Result<()> {
        self.add(Some(s), None).await
    }

    pub async fn add_token(&self, hash: TokenHash, entry: TokenEntry) -> Result<()> {
        self.add(None, Some((hash, entry))).await
    }

    /// Forgets a token that was stored but never handed out.
    pub fn drop_token(&self, hash: &TokenHash) {
        if let Ok(mut m) = self.mem.write() {
            m.tokens.remove(hash);
        }
    }

    /// Revokes a session. `Ok(false)` when it already was (a replay).
    /// Memory first: its tokens fail review from this instant.
    pub async fn revoke(&self, id: &str, at: OffsetDateTime) -> Result<bool> {
        let fresh = {
            let mut m = self
                .mem
                .write()
                .map_err(|_| anyhow::anyhow!("state lock poisoned"))?;
            match m.sessions.get_mut(id) {
                Some(s) if s.revoked_at.is_none() => {
                    s.revoked_at = Some(at);
                    true
                }
                Some(_) => false,
                None => anyhow::bail!("unknown session `{id}`"),
            }
        };
        if fresh {
            self.write(vec![Op::Revoke(id.to_string(), at)]).await?;
        }
        Ok(fresh)
    }

    /// The TokenReview decision: memory only, two hash lookups.
    pub fn review(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<Reviewed, ReviewError> {
        let m = self.mem.read().map_err(|_| ReviewError::Unknown)?;
        let entry = m.tokens.get(hash).ok_or(ReviewError::Unknown)?;
        let session = m
            .sessions
            .get(&entry.session_id)
            .ok_or(ReviewError::Unknown)?;
        if session.revoked_at.is_some() {
            return Err(ReviewError::Revoked);
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
        })
    }

    /// Live sessions (for the metrics gauge; a scan, but not on a hot path).
    pub fn active_sessions(&self, now: OffsetDateTime) -> usize {
        self.mem.read().map_or(0, |m| {
            m.sessions
                .values()
                .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
                .count()
        })
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
        let Ok(m) = self.mem.read() else {
            return (Vec::new(), false);
        };
        let mut found: Vec<Session> = m
            .sessions
            .values()
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now && keep(s))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// Drops expired tokens, and sessions a day past their end.
    pub async fn prune(&self, now: OffsetDateTime) -> Result<()> {
        if let Ok(mut m) = self.mem.write() {
            m.tokens.retain(|_, t| t.expires_at > now);
            m.sessions.retain(|_, s| s.expires_at + SESSION_GRACE > now);
        }
        self.write(vec![Op::Prune(now)]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tokens::{new_session_id, new_token};
    use time::Duration;

    fn session(now: OffsetDateTime) -> Session {
        Session {
            id: new_session_id(),
            cluster: "prod".into(),
            issuer: "https://idp".into(),
            subject: "alice".into(),
            username: "alice@example.com".into(),
            email: Some("alice@example.com".into()),
            reason: Some("INC-1".into()),
            started_at: now,
            expires_at: now + Duration::hours(8),
            revoked_at: None,
        }
    }

    fn entry(s: &Session, now: OffsetDateTime) -> TokenEntry {
        TokenEntry {
            session_id: s.id.clone(),
            username: s.username.clone(),
            uid: s.subject.clone(),
            groups: vec!["kaccess:prod:sre".into()],
            expires_at: now + Duration::minutes(10),
        }
    }

    #[tokio::test]
    async fn live_sessions_are_newest_first_filtered_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let now = now_secs();
        let mut ids = Vec::new();
        for minutes_ago in [30, 10, 20] {
            let s = Session {
                started_at: now - Duration::minutes(minutes_ago),
                ..session(now)
            };
            ids.push(s.id.clone());
            store.add_session(s).await.unwrap();
        }
        let ended = Session {
            expires_at: now - Duration::seconds(1),
            ..session(now - Duration::hours(9))
        };
        store.add_session(ended).await.unwrap();
        let gone = session(now);
        store.add_session(gone.clone()).await.unwrap();
        store.revoke(&gone.id, now).await.unwrap();

        let (all, more) = store.live_sessions(now, |_| true, 10);
        let got: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            got,
            [&ids[1], &ids[2], &ids[0]],
            "newest first, ended and revoked left out"
        );
        assert!(!more);
        let (two, more) = store.live_sessions(now, |_| true, 2);
        assert_eq!((two.len(), more), (2, true));
        let (none, _) = store.live_sessions(now, |s| s.cluster == "dev", 10);
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn sessions_tokens_and_revocations_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let now = now_secs();
        let (kept, revoked) = (session(now), session(now));
        let (t1, h1) = new_token();
        let (_t2, h2) = new_token();
        {
            let store = Store::open(&path).unwrap();
            store.add_session(kept.clone()).await.unwrap();
            store.add_session(revoked.clone()).await.unwrap();
            store.add_token(h1, entry(&kept, now)).await.unwrap();
            store.add_token(h2, entry(&revoked, now)).await.unwrap();
            assert!(store.revoke(&revoked.id, now).await.unwrap());
            assert!(!store.revoke(&revoked.id, now).await.unwrap());
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.session(&kept.id).unwrap(), kept);
        assert!(store.session(&revoked.id).unwrap().revoked_at.is_some());
        let ok = store.review(&TokenHash::of(t1.expose()), now).unwrap();
        assert_eq!(ok.token.username, "alice@example.com");
        assert_eq!(ok.reason.as_deref(), Some("INC-1"));
        assert_eq!(store.review(&h2, now).unwrap_err(), ReviewError::Revoked);
        assert_eq!(store.active_sessions(now), 1);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[tokio::test]
    async fn review_refuses_unknown_expired_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = OffsetDateTime::now_utc();
        let s = session(now);
        store.add_session(s.clone()).await.unwrap();
        let (_t, h) = new_token();
        store.add_token(h, entry(&s, now)).await.unwrap();
        assert!(store.review(&h, now).is_ok());
        assert_eq!(
            store.review(&h, now + Duration::minutes(11)).unwrap_err(),
            ReviewError::Expired
        );
        assert_eq!(
            store.review(&new_token().1, now).unwrap_err(),
            ReviewError::Unknown
        );
        store.revoke(&s.id, now).await.unwrap();
        assert_eq!(store.review(&h, now).unwrap_err(), ReviewError::Revoked);
        assert!(store.revoke("nope", now).await.is_err());
    }

    #[tokio::test]
    async fn prune_drops_expired_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let now = OffsetDateTime::now_utc();
        let s = session(now);
        let (_t, h) = new_token();
        {
            let store = Store::open(&path).unwrap();
            store.add_session(s.clone()).await.unwrap();
            store.add_token(h, entry(&s, now)).await.unwrap();
            store.prune(now + Duration::minutes(20)).await.unwrap();
            assert_eq!(store.review(&h, now).unwrap_err(), ReviewError::Unknown);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.review(&h, now).unwrap_err(), ReviewError::Unknown);
        assert!(store.session(&s.id).is_some());
    }

    #[test]
    fn a_corrupted_database_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = format!("{:#}", Store::open(&path).unwrap_err());
        assert!(err.contains("s.db") && err.contains("unusable"), "{err}");
    }
}
