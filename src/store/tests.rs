use super::*;
use crate::broker::tokens::{new_session_id, new_token};
use crate::store::CredentialEntry as TokenEntry;
use std::sync::Mutex;
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
        revoked_by: None,
        elevation: None,
    }
}

/// The refusal of a credential of `s`, revoked at `at` by `by`.
fn revoked_error(s: &Session, at: OffsetDateTime, by: Option<RevokedBy>) -> ReviewError {
    ReviewError::Revoked(Box::new(Revocation {
        at,
        by,
        username: s.username.clone(),
    }))
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
    let store = Store::open_sqlite(&dir.path().join("state.db")).unwrap();
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
    store.revoke(&gone.id, now, RevokedBy::Owner).await.unwrap();

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
        let store = Store::open_sqlite(&path).unwrap();
        store.add_session(kept.clone()).await.unwrap();
        store.add_session(revoked.clone()).await.unwrap();
        store.add_token(h1, entry(&kept, now)).await.unwrap();
        store.add_token(h2, entry(&revoked, now)).await.unwrap();
        let admin = RevokedBy::Admin("bob@example.com".into());
        assert!(store.revoke(&revoked.id, now, admin).await.unwrap());
        assert!(
            !store
                .revoke(&revoked.id, now, RevokedBy::Owner)
                .await
                .unwrap()
        );
    }
    let store = Store::open_sqlite(&path).unwrap();
    assert_eq!(store.session(&kept.id).await.unwrap().unwrap(), kept);
    assert!(
        store
            .session(&revoked.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let ok = store
        .review(&TokenHash::of(t1.expose()), now)
        .await
        .unwrap();
    assert_eq!(ok.token.username, "alice@example.com");
    assert_eq!(ok.reason.as_deref(), Some("INC-1"));
    assert_eq!(
        store.review(&h2, now).await.unwrap_err(),
        revoked_error(
            &revoked,
            now,
            Some(RevokedBy::Admin("bob@example.com".into()))
        ),
        "who revoked survives the reopen; the replay did not overwrite it"
    );
    assert_eq!(store.active_sessions(now), 1);
    let mode = std::fs::metadata(&path).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.mode() & 0o777, 0o600);
}

#[tokio::test]
async fn review_refuses_unknown_expired_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
    let now = OffsetDateTime::now_utc();
    let s = session(now);
    store.add_session(s.clone()).await.unwrap();
    let (_t, h) = new_token();
    store.add_token(h, entry(&s, now)).await.unwrap();
    assert!(store.review(&h, now).await.is_ok());
    assert_eq!(
        store
            .review(&h, now + Duration::minutes(11))
            .await
            .unwrap_err(),
        ReviewError::Expired
    );
    assert_eq!(
        store.review(&new_token().1, now).await.unwrap_err(),
        ReviewError::Unknown
    );
    store.revoke(&s.id, now, RevokedBy::Owner).await.unwrap();
    assert_eq!(
        store.review(&h, now).await.unwrap_err(),
        revoked_error(&s, now, Some(RevokedBy::Owner))
    );
    assert!(store.revoke("nope", now, RevokedBy::Owner).await.is_err());
}

#[tokio::test]
async fn prune_drops_expired_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let now = OffsetDateTime::now_utc();
    let s = session(now);
    let (_t, h) = new_token();
    {
        let store = Store::open_sqlite(&path).unwrap();
        store.add_session(s.clone()).await.unwrap();
        store.add_token(h, entry(&s, now)).await.unwrap();
        store.prune(now + Duration::minutes(20)).await.unwrap();
        assert_eq!(
            store.review(&h, now).await.unwrap_err(),
            ReviewError::Unknown
        );
    }
    let store = Store::open_sqlite(&path).unwrap();
    assert_eq!(
        store.review(&h, now).await.unwrap_err(),
        ReviewError::Unknown
    );
    assert!(store.session(&s.id).await.unwrap().is_some());
}

#[test]
fn a_corrupted_database_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = format!("{:#}", Store::open_sqlite(&path).unwrap_err());
    assert!(err.contains("s.db") && err.contains("unusable"), "{err}");
}

#[tokio::test]
async fn certificates_are_found_by_serial_across_reopen_and_fail_once_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = now_secs();
    let s = session(now);
    let serial = "4a1b2c3d4e5f60718293a4b5c6d7e8f9".to_string();
    {
        let store = Store::open_sqlite(&path).unwrap();
        let cert = CredentialKey::Certificate(serial.clone());
        store
            .add(Some(s.clone()), Some((cert, entry(&s, now))))
            .await
            .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let ok = store.certificate(&serial, now).await.unwrap();
    assert_eq!(
        (ok.cluster.as_str(), ok.token.session_id.as_str()),
        ("prod", s.id.as_str())
    );
    assert_eq!(
        store.certificate("00ff", now).await.unwrap_err(),
        ReviewError::Unknown
    );
    let mut revoked = store.revocations();
    assert!(store.revoke(&s.id, now, RevokedBy::Logout).await.unwrap());
    assert_eq!(
        revoked.try_recv().unwrap(),
        s.id,
        "a revocation is announced"
    );
    assert!(!store.revoke(&s.id, now, RevokedBy::Logout).await.unwrap());
    assert!(
        revoked.try_recv().is_err(),
        "a replayed revocation is not announced again"
    );
    assert_eq!(
        store.certificate(&serial, now).await.unwrap_err(),
        revoked_error(&s, now, Some(RevokedBy::Logout))
    );
}

/// A backend another replica writes to: what "the database" holds, and the
/// feed the store follows.
#[derive(Default)]
struct Replicated {
    sessions: Mutex<Vec<Session>>,
    credentials: Mutex<Vec<(CredentialKey, TokenEntry)>>,
    feed: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<FeedEvent>>>,
}

impl Backend for Replicated {
    fn describe(&self) -> String {
        "test:replicated".into()
    }
    fn commit(&self, _changes: Vec<Change>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn shared(&self) -> bool {
        true
    }
    fn fetch_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Session>>> {
        let found = self
            .sessions
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.id == id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }
    fn fetch_credential<'a>(
        &'a self,
        key: &'a CredentialKey,
    ) -> BoxFuture<'a, Result<Option<TokenEntry>>> {
        let found = self
            .credentials
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e.clone());
        Box::pin(async move { Ok(found) })
    }
    fn take_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<FeedEvent>> {
        self.feed.lock().unwrap().take()
    }
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_shared_store_finds_other_replicas_writes_and_follows_their_revocations() {
    let now = now_secs();
    let s = session(now);
    let (t, h) = new_token();
    let (feed, rx) = tokio::sync::mpsc::unbounded_channel();
    let backend = Arc::new(Replicated::default());
    *backend.feed.lock().unwrap() = Some(rx);
    // Written at another replica; this one has not heard of it yet.
    backend.sessions.lock().unwrap().push(s.clone());
    backend
        .credentials
        .lock()
        .unwrap()
        .push((CredentialKey::Token(h), entry(&s, now)));
    let store = Store::new(
        backend,
        Snapshot::default(),
        Duration::seconds(5).unsigned_abs(),
    );

    let ok = store.review(&TokenHash::of(t.expose()), now).await.unwrap();
    assert_eq!(ok.token.session_id, s.id, "a miss is asked of the database");

    let mut revoked = store.revocations();
    feed.send(FeedEvent::Applied(vec![Change::Revoke {
        session_id: s.id.clone(),
        at: now,
        by: Some(RevokedBy::Admin("bob".into())),
    }]))
    .unwrap();
    settle().await;
    assert_eq!(
        store.review(&h, now).await.unwrap_err(),
        revoked_error(&s, now, Some(RevokedBy::Admin("bob".into()))),
        "who revoked comes with another replica's revocation"
    );
    assert_eq!(
        revoked.try_recv().unwrap(),
        s.id,
        "another replica's revocation is announced"
    );
}

#[tokio::test]
async fn a_shared_store_without_its_feed_stops_issuing_at_once_and_reviewing_after_the_bound() {
    let now = now_secs();
    let s = session(now);
    let (_t, h) = new_token();
    let (feed, rx) = tokio::sync::mpsc::unbounded_channel();
    let backend = Arc::new(Replicated::default());
    *backend.feed.lock().unwrap() = Some(rx);
    let snapshot = Snapshot {
        sessions: vec![s.clone()],
        credentials: vec![(CredentialKey::Token(h), entry(&s, now))],
        requests: Vec::new(),
    };
    let store = Store::new(backend, snapshot, std::time::Duration::from_millis(300));
    assert_eq!(store.health(), Health::Ready);

    feed.send(FeedEvent::Lost).unwrap();
    settle().await;
    assert!(matches!(store.health(), Health::Degraded { .. }));
    let refused = store.add_session(session(now)).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("unreachable"),
        "{refused:#}"
    );
    assert!(
        store.review(&h, now).await.is_ok(),
        "within the bound, memory answers"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        store.review(&h, now).await.unwrap_err(),
        ReviewError::Unavailable,
        "past the bound, a review fails closed"
    );

    // Back, with a revocation committed during the gap.
    let mut revoked = store.revocations();
    let gone = Session {
        revoked_at: Some(now),
        revoked_by: Some(RevokedBy::Logout),
        ..s.clone()
    };
    feed.send(FeedEvent::Resumed(Snapshot {
        sessions: vec![gone],
        credentials: vec![(CredentialKey::Token(h), entry(&s, now))],
        requests: Vec::new(),
    }))
    .unwrap();
    settle().await;
    assert_eq!(store.health(), Health::Ready);
    assert_eq!(
        store.review(&h, now).await.unwrap_err(),
        revoked_error(&s, now, Some(RevokedBy::Logout)),
        "who revoked comes with the resynchronised snapshot"
    );
    assert_eq!(
        revoked.try_recv().unwrap(),
        s.id,
        "a revocation missed in the gap is announced"
    );
}

fn request(now: OffsetDateTime) -> AccessRequest {
    AccessRequest {
        id: "prod:0123456789abcdef".into(),
        version: 1,
        cluster: "prod".into(),
        grant: "prod-admin".into(),
        requester: "alice@example.com".into(),
        issuer: "https://idp".into(),
        subject: "alice".into(),
        reason: "INC-1".into(),
        duration_seconds: 1800,
        state: RequestState::Pending,
        created_at: now,
        expires_at: now + Duration::minutes(30),
        approvals: Vec::new(),
        denial: None,
        session_id: None,
    }
}

#[tokio::test]
async fn a_request_moves_one_version_at_a_time_and_a_stale_update_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = now_secs();
    let filed = request(now);
    {
        let store = Store::open_sqlite(&path).unwrap();
        store.put_request(filed.clone()).await.unwrap();
        let approved = filed.next(|r| r.state = RequestState::Approved);
        let denied = filed.next(|r| r.state = RequestState::Denied);
        store.put_request(approved).await.unwrap();
        let stale = store.put_request(denied).await.unwrap_err();
        assert!(
            matches!(
                stale.downcast_ref::<RequestConflict>(),
                Some(RequestConflict::Stale(_))
            ),
            "{stale:#}"
        );
        let again = store.put_request(filed.clone()).await.unwrap_err();
        assert!(
            again.downcast_ref::<RequestConflict>().is_some(),
            "{again:#}"
        );
    }
    let store = Store::open_sqlite(&path).unwrap();
    let kept = store.request(&filed.id).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.state), (2, RequestState::Approved));
    let (pending, _) = store.requests(|r| r.state == RequestState::Pending, 10);
    assert!(pending.is_empty());
}

#[tokio::test]
async fn an_elevated_session_keeps_its_grant_and_request_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = now_secs();
    let s = Session {
        elevation: Some(Elevation {
            grant: "prod-admin".into(),
            request_id: Some("prod:0123456789abcdef".into()),
            break_glass: false,
        }),
        ..session(now)
    };
    Store::open_sqlite(&path)
        .unwrap()
        .add_session(s.clone())
        .await
        .unwrap();
    let store = Store::open_sqlite(&path).unwrap();
    assert_eq!(store.session(&s.id).await.unwrap().unwrap(), s);
}
