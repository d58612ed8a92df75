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
