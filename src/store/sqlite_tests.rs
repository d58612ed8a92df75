use super::*;
use crate::store::{ReviewError, Revocation, RevokedBy, Store, now_secs};

/// The `sessions` table as the first release wrote it: neither
/// `elevation` nor `revoked_by`.
const FIRST_SCHEMA: &str = "
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, cluster TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
    username TEXT NOT NULL, email TEXT, reason TEXT,
    started_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE tokens (
    hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, username TEXT NOT NULL, uid TEXT NOT NULL,
    groups TEXT NOT NULL, expires_at INTEGER NOT NULL);
";

#[tokio::test]
async fn an_older_database_file_gains_revoked_by_in_place_and_keeps_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = now_secs();
    let (live, token) = ("s-live", [7u8; 32]);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(FIRST_SCHEMA).unwrap();
        let row = |id: &str, revoked: Option<i64>| {
            conn.execute(
                "INSERT INTO sessions VALUES (?1, 'prod', 'https://idp', 'alice', 'alice@example.com',
                 NULL, 'INC-1', ?2, ?3, ?4)",
                params![id, ts(now), ts(now + time::Duration::hours(8)), revoked],
            )
            .unwrap();
        };
        row(live, None);
        row("s-old-revoked", Some(ts(now)));
        conn.execute(
            "INSERT INTO tokens VALUES (?1, ?2, 'alice@example.com', 'alice', '[]', ?3)",
            params![token.to_vec(), live, ts(now + time::Duration::minutes(10))],
        )
        .unwrap();
    }

    let store = Store::open_sqlite(&path).unwrap();
    let old = store.session("s-old-revoked").await.unwrap().unwrap();
    assert_eq!(
        (old.revoked_at, old.revoked_by, old.reason.as_deref()),
        (Some(now), None, Some("INC-1")),
        "a revocation from before keeps its time and says nothing of who"
    );
    let hash = TokenHash(token);
    assert_eq!(
        store.review(&hash, now).await.unwrap().token.session_id,
        live
    );
    let admin = RevokedBy::Admin("bob@example.com".into());
    assert!(store.revoke(live, now, admin.clone()).await.unwrap());
    drop(store);

    let store = Store::open_sqlite(&path).unwrap();
    let revoked = store.session(live).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_by, Some(admin.clone()));
    assert_eq!(
        store.review(&hash, now).await.unwrap_err(),
        ReviewError::Revoked(Box::new(Revocation {
            at: now,
            by: Some(admin),
            username: "alice@example.com".into(),
        }))
    );
    let conn = Connection::open(&path).unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('sessions')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        columns.ends_with(&["elevation".to_string(), "revoked_by".to_string()]),
        "{columns:?}"
    );
}

#[tokio::test]
async fn a_replayed_revocation_keeps_the_first_revokers_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = now_secs();
    let s = crate::proxy::test_session();
    {
        let store = Store::open_sqlite(&path).unwrap();
        store.add_session(s.clone()).await.unwrap();
        assert!(store.revoke(&s.id, now, RevokedBy::Logout).await.unwrap());
        let later = now + time::Duration::minutes(5);
        let admin = RevokedBy::Admin("bob".into());
        assert!(!store.revoke(&s.id, later, admin).await.unwrap());
    }
    let store = Store::open_sqlite(&path).unwrap();
    let kept = store.session(&s.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.revoked_at, kept.revoked_by),
        (Some(now), Some(RevokedBy::Logout))
    );
}

fn session_named(id: &str) -> Session {
    Session {
        id: id.into(),
        ..crate::proxy::test_session()
    }
}

/// A store on a backend that holds batches for up to `gather`.
fn gathering(path: &Path, gather: Duration) -> (Arc<Store>, Arc<SqliteBackend>) {
    let (backend, snapshot) = SqliteBackend::open_with(path, gather).unwrap();
    let backend = Arc::new(backend);
    let store = Store::new(
        backend.clone(),
        snapshot,
        crate::store::DEFAULT_MAX_STALENESS,
    );
    (store, backend)
}

#[tokio::test]
async fn a_commit_announced_by_another_caller_is_waited_for_and_both_land_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    // Far longer than the test: only the second commit can end the wait.
    let (store, backend) = gathering(&dir.path().join("state.db"), Duration::from_secs(3600));
    let (a, b) = (
        store.expect_commit().unwrap(),
        store.expect_commit().unwrap(),
    );
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            store.add_session(session_named("s-first")).await.unwrap();
            drop(a);
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!first.is_finished(), "held for the announced second commit");
    store.add_session(session_named("s-second")).await.unwrap();
    drop(b);
    first.await.unwrap();
    assert_eq!(backend.commits(), 1);
    for id in ["s-first", "s-second"] {
        assert!(store.session(id).await.unwrap().is_some(), "{id}");
    }
}

#[tokio::test]
async fn a_lone_commit_with_nobody_else_announced_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let (store, backend) = gathering(&dir.path().join("state.db"), Duration::from_secs(3600));
    let mine = store.expect_commit().unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        store.add_session(session_named("s-alone")),
    )
    .await
    .expect("committed without waiting for the gather bound")
    .unwrap();
    drop(mine);
    // Unannounced writers (a revocation) are not held either.
    tokio::time::timeout(
        Duration::from_secs(30),
        store.revoke("s-alone", now_secs(), RevokedBy::Logout),
    )
    .await
    .expect("a revocation is not held")
    .unwrap();
    assert_eq!(backend.commits(), 2);
}

#[tokio::test]
async fn a_caller_announced_but_never_committing_holds_a_batch_only_until_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (store, backend) = gathering(&dir.path().join("state.db"), Duration::from_millis(50));
    let _never = store.expect_commit().unwrap();
    let _mine = store.expect_commit().unwrap();
    store.add_session(session_named("s-late")).await.unwrap();
    assert_eq!(backend.commits(), 1);
}
