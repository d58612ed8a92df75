//! Getting replicas onto PostgreSQL: TLS to the database verified against
//! `ca-file` whatever `sslmode` short of `disable` says,
//! `kaccess serve --migrate-state` moving a SQLite broker's live state, and
//! a database of the previous schema migrated in place.

use crate::support::broker::{Broker, BrokerOptions};
use crate::support::idp::{Idp, IdpOptions, Mint};
use crate::support::postgres::Postgres;
use crate::support::replicas::*;
use serde_json::json;

/// A broker configuration on `pg` with `url-file` and `ca-file`, for
/// `kaccess serve --check` (which connects like the broker).
fn check_config(dir: &std::path::Path, pg: &Postgres, url: &str, ca: &str) -> String {
    std::fs::write(dir.join("db-ca.crt"), ca).unwrap();
    // The URL from a file, as the `ha` overlay mounts it from a Secret.
    std::fs::write(dir.join("db-url"), format!("{url}\n")).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(dir.join("ca.crt"), params.self_signed(&key).unwrap().pem()).unwrap();
    std::fs::write(dir.join("ca.key"), key.serialize_pem()).unwrap();
    let yaml = format!(
        r#"listen: 127.0.0.1:0
insecure-http: true
state: {{postgres: {{url-file: db-url, password-file: "{pw}", ca-file: db-ca.crt}}}}
issuers:
  - issuer: https://idp.example.com
    audiences: [kaccess]
    mfa: {{amr-any: [otp]}}
clusters:
  prod:
    ca: {{cert-file: ca.crt, key-file: ca.key}}
    credential-ttl: 10m
    max-session: 1h
"#,
        pw = pg.password_file().display()
    );
    let path = dir.join("broker.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

#[test]
fn tls_to_the_database_is_verified_against_the_ca_file() {
    use crate::support::pki::TestCa;
    let ca = TestCa::new("database CA");
    let pg = Postgres::start_tls(&ca.issue_server());
    let dir = tempfile::tempdir().unwrap();
    // The right CA: connects (password from the file), reads the schema.
    let config = check_config(dir.path(), &pg, &pg.url("verify-full"), &ca.cert_pem());
    let out = kaccess(&["serve", "--config", &config, "--check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("empty; the broker creates schema version"),
        "{stderr}"
    );
    // Another CA: refused, whatever sslmode short of disable says.
    let other = TestCa::new("impostor CA").cert_pem();
    for mode in ["require", "verify-ca", "verify-full"] {
        let config = check_config(dir.path(), &pg, &pg.url(mode), &other);
        let out = kaccess(&["serve", "--config", &config, "--check"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode}: {stderr}");
        assert!(stderr.contains("state database"), "{mode}: {stderr}");
        assert!(
            stderr.to_lowercase().contains("certificate"),
            "{mode}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_state_copies_live_sessions_and_revocations_from_sqlite_and_refuses_a_second_run() {
    let idp = Idp::start(IdpOptions::default());
    let id_token = idp.mint_id_token(json!({}), Mint::Rs256);
    let mut old = Broker::start(BrokerOptions::new(&idp.issuer()));
    let (_, kept) = token_session(&old, &id_token).await;
    let (gone, revoked) = token_session(&old, &id_token).await;
    let (status, body) = post(
        &old,
        &format!("/v1/sessions/{gone}/revoke"),
        Some(&id_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    old.stop();

    let pg = Postgres::start();
    let mut new = Broker::start(options(&idp, &pg));
    let config = new.config_path().to_str().unwrap().to_string();
    let from = format!("sqlite:{}", old.dir().join("state.db").display());
    let out = kaccess(&[
        "serve",
        "--migrate-state",
        "--from",
        &from,
        "--config",
        &config,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("copied 2 session(s) and 2 credential(s)"),
        "{stderr}"
    );
    new.restart();
    assert!(
        accepted(&new, &kept).await,
        "a live session's token works after the move"
    );
    assert!(
        !accepted(&new, &revoked).await,
        "a revocation survives the move"
    );
    assert_eq!(
        pg.psql(&format!(
            "SELECT revoked_by FROM sessions WHERE id = '{gone}'"
        )),
        "owner",
        "who revoked it moves too"
    );

    let again = kaccess(&[
        "serve",
        "--migrate-state",
        "--from",
        &from,
        "--config",
        &config,
    ]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "{stderr}");
    assert!(stderr.contains("already holds 2 session(s)"), "{stderr}");
}

/// A writer that locks the state tables in the other order (as a broker's
/// commit may) meets `--migrate-state` in a deadlock; PostgreSQL aborts the
/// copy, which waited first, and the copy runs again rather than failing the
/// move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_state_runs_again_when_postgres_aborts_it_to_break_a_deadlock() {
    let idp = Idp::start(IdpOptions::default());
    let id_token = idp.mint_id_token(json!({}), Mint::Rs256);
    let mut old = Broker::start(BrokerOptions::new(&idp.issuer()));
    token_session(&old, &id_token).await;
    old.stop();

    let pg = Postgres::start();
    // A broker creates the schema, then stops: only the test's writer is left.
    let mut new = Broker::start(options(&idp, &pg));
    new.stop();
    let config = new.config_path().to_str().unwrap().to_string();
    let from = format!("sqlite:{}", old.dir().join("state.db").display());

    let mut writer = pg.client().await;
    let watcher = pg.client().await;
    let tx = writer.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE requests IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let copy = tokio::task::spawn_blocking(move || {
        kaccess(&[
            "serve",
            "--migrate-state",
            "--from",
            &from,
            "--config",
            &config,
        ])
    });
    // Wait until the copy holds the tokens table and waits for requests.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = 'requests' AND NOT l.granted",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Now close the cycle; PostgreSQL aborts one side (the copy) about a
    // second later, after which this lock is granted.
    tx.batch_execute("LOCK TABLE tokens IN ROW EXCLUSIVE MODE")
        .await
        .expect("the writer wins the deadlock");
    tx.rollback().await.unwrap();

    let out = copy.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        pg.log().contains("deadlock detected"),
        "the scenario needs a deadlock: {}",
        pg.log()
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("copied 1 session(s) and 1 credential(s)"),
        "{stderr}"
    );
    let sessions = pg.psql("SELECT count(*) FROM sessions");
    assert_eq!(sessions, "1");
}

/// Schema 3 adds `sessions.revoked_by`. A database the previous release
/// left at schema 2 is migrated when this broker starts, keeping its rows:
/// a revocation from before still refuses (saying only when), and the
/// next one records who.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_database_gains_revoked_by_in_place_and_keeps_its_revocations() {
    let mut r = replicas(1);
    let id_token = r.id_token();
    let (old, old_token) = token_session(&r.brokers[0], &id_token).await;
    let (live, live_token) = token_session(&r.brokers[0], &id_token).await;
    let revoke = |id: &str| format!("/v1/sessions/{id}/revoke");
    let (status, body) = post(&r.brokers[0], &revoke(&old), Some(&id_token), json!({})).await;
    assert_eq!(status, 200, "{body}");
    r.brokers[0].stop();
    r.pg.psql(
        "ALTER TABLE sessions DROP COLUMN revoked_by; DELETE FROM kaccess_schema WHERE version = 3",
    );
    r.brokers[0].restart();
    let b = &r.brokers[0];
    assert_eq!(r.pg.psql("SELECT max(version) FROM kaccess_schema"), "3");
    assert_eq!(
        r.pg.psql(&format!(
            "SELECT revoked_at IS NOT NULL, revoked_by IS NULL FROM sessions WHERE id = '{old}'"
        )),
        "t|t"
    );
    assert!(!accepted(b, &old_token).await, "the old revocation holds");
    assert!(
        accepted(b, &live_token).await,
        "the live session still works"
    );
    let again = json!({"cluster": "prod", "credential": "token", "session_id": old});
    let (status, body) = post(b, "/v1/exchange", Some(&id_token), again).await;
    assert_eq!(status, 403, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("session `{old}` revoked at ")) && !message.contains(" by "),
        "{message}"
    );
    let (status, body) = post(b, &revoke(&live), Some(&id_token), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        r.pg.psql(&format!(
            "SELECT revoked_by FROM sessions WHERE id = '{live}'"
        )),
        "owner"
    );
}
