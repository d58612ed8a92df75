//! Several `kaccess serve` replicas on one real PostgreSQL (issue 12): a
//! private cluster per test (`support::postgres`), the real IdP, real
//! broker processes. Revocation reaches every replica within a second; a
//! database outage makes them refuse and report not-ready, then they
//! recover by themselves; the chain in the database is one chain.

use crate::support::broker::Broker;
use crate::support::idp::{Idp, IdpOptions};
use crate::support::postgres::Postgres;
use crate::support::replicas::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn two_replicas_starting_at_once_on_an_empty_database_both_come_up() {
    let idp = Idp::start(IdpOptions::default());
    let pg = Postgres::start();
    let (a, b) = (options(&idp, &pg), options(&idp, &pg));
    let starts = [a, b].map(|o| std::thread::spawn(move || Broker::start(o)));
    let brokers: Vec<Broker> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(brokers.len(), 2);
    // One migration ran, once.
    assert_eq!(
        pg.psql("SELECT count(*), max(version) FROM kaccess_schema"),
        "3|3"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for b in &brokers {
            assert_eq!(healthz(b).await, 200);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_at_one_replica_is_seen_at_every_replica_within_a_second() {
    let r = replicas(3);
    let [a, b, c] = [&r.brokers[0], &r.brokers[1], &r.brokers[2]];
    let id_token = r.id_token();
    let (session, token) = token_session(a, &id_token).await;
    // Issued at A, known at B and C at once (B and C heard the NOTIFY or
    // look the token up).
    assert!(accepted(b, &token).await);
    assert!(accepted(c, &token).await);
    // A second session whose token B and C have only heard of.
    let (_, other) = token_session(a, &id_token).await;
    let revoked_at = Instant::now();
    let (status, body) = post(
        c,
        &format!("/v1/sessions/{session}/revoke"),
        Some(&id_token),
        json!({}),
    )
    .await;
    assert_eq!((status, &body["revoked"]), (200, &json!(true)), "{body}");
    let mut seen = Vec::new();
    for (name, replica) in [("A", a), ("B", b), ("C", c)] {
        within(
            Duration::from_secs(1),
            &format!("replica {name} refuses"),
            async || !accepted(replica, &token).await,
        )
        .await;
        seen.push((name, revoked_at.elapsed()));
    }
    eprintln!("revocation seen (since the revoke was sent): {seen:?}");
    assert!(
        seen.iter().all(|(_, t)| *t <= Duration::from_secs(1)),
        "{seen:?}"
    );
    // Continuing the revoked session is refused at a replica that did not
    // revoke it; the other session is untouched everywhere.
    let (status, body) = post(
        b,
        "/v1/exchange",
        Some(&id_token),
        json!({"cluster": "prod", "credential": "token", "session_id": session}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("session_revoked")),
        "{body}"
    );
    for replica in [a, b, c] {
        assert!(accepted(replica, &other).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_makes_replicas_refuse_and_not_ready_then_they_recover_by_themselves() {
    let mut r = replicas(2);
    let id_token = r.id_token();
    let (_, token) = token_session(&r.brokers[0], &id_token).await;
    r.pg.stop();
    for b in &r.brokers {
        within(
            Duration::from_secs(10),
            "/healthz turns not-ready",
            async || healthz(b).await == 503,
        )
        .await;
        let (status, body) = post(
            b,
            "/v1/exchange",
            Some(&id_token),
            json!({"cluster": "prod", "credential": "token", "reason": "INC-8"}),
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert!(
            matches!(
                body["error"].as_str(),
                Some("state_unavailable" | "audit_unavailable")
            ),
            "{body}"
        );
    }
    // Past the staleness bound (2 s here) reviews are refused, not
    // answered from a cache that may have missed a revocation.
    for b in &r.brokers {
        within(Duration::from_secs(5), "reviews are refused", async || {
            !accepted(b, &token).await
        })
        .await;
    }
    r.pg.start_again();
    for b in &r.brokers {
        within(
            Duration::from_secs(15),
            "/healthz is ready again",
            async || healthz(b).await == 200,
        )
        .await;
    }
    for b in &r.brokers {
        assert!(accepted(b, &token).await);
        token_session(b, &id_token).await;
    }
    // Nothing was issued unaudited: exactly the three successful
    // exchanges are in the chain.
    let (_, records) = exported(&r.brokers[1]);
    let issued = records
        .iter()
        .filter(|r| r["event"] == "exchange" && r["outcome"] == "issued");
    assert_eq!(issued.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_chain_of_all_replicas_verifies_and_a_tampered_record_is_named() {
    let r = replicas(2);
    let id_token = r.id_token();
    // Interleaved appends from both replicas, some at once.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let b = &r.brokers[i % 2];
        tasks.push(token_session(b, &id_token));
    }
    for t in tasks {
        t.await;
    }
    assert_eq!(export_verifies(&r.brokers[0]).len(), 10);
    let config = r.brokers[1].config_path().to_str().unwrap().to_string();
    let out = kaccess(&["audit", "verify", "--config", &config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("10 records, chain intact"), "{stderr}");

    r.pg.psql("UPDATE audit_chain SET line = replace(line, 'INC-7', 'INC-9') WHERE seq = 4");
    let out = kaccess(&["audit", "verify", "--config", &config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("broken at record 4"), "{stderr}");
}

#[test]
fn a_broker_refuses_a_schema_newer_than_its_own_naming_both_versions() {
    let r = replicas(1);
    let config = r.brokers[0].config_path().to_str().unwrap().to_string();
    r.pg.psql("INSERT INTO kaccess_schema (version) VALUES (99)");
    let check = kaccess(&["serve", "--config", &config, "--check"]);
    let start = kaccess(&["serve", "--config", &config]);
    for out in [check, start] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("version 99") && stderr.contains("newer than this broker's version"),
            "{stderr}"
        );
    }
}

/// Issue 13 on shared state: filed at one replica, approved at another,
/// used at a third; two decisions racing at two replicas cannot both land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_request_filed_at_one_replica_is_approved_at_another_and_used_at_a_third() {
    let idp = Idp::start(IdpOptions::default());
    let pg = Postgres::start();
    let start = || {
        let mut o = options(&idp, &pg);
        o.prod_grants = "      - name: prod-admin\n        idp-groups: [sre]\n        kube-groups: [\"kaccess:prod:admin\"]\n        namespaces: [\"*\"]\n        cluster-role: admin\n        approval: {approver-groups: [sre-leads], max-duration: 1h, request-ttl: 30m}\n".into();
        Broker::start(o)
    };
    let (a, b, c) = (start(), start(), start());
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let mint = |who: &str, groups: &[&str]| {
        idp.mint_id_token(
            json!({"sub": who, "email": format!("{who}@example.com"), "groups": groups, "auth_time": t}),
            crate::support::idp::Mint::Rs256,
        )
    };
    let (alice, bob, dave) = (
        mint("alice", &["sre"]),
        mint("bob", &["sre-leads"]),
        mint("dave", &["sre-leads"]),
    );
    let file = json!({"cluster": "prod", "grant": "prod-admin", "reason": "INC-5"});
    let (status, filed) = post(&a, "/v1/requests", Some(&alice), file.clone()).await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_str().unwrap().to_string();
    let (status, body) = post(
        &b,
        &format!("/v1/requests/{id}/approve"),
        Some(&bob),
        json!({"reason": "ok"}),
    )
    .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    let elevated =
        json!({"cluster": "prod", "credential": "token", "reason": "INC-5", "grant": "prod-admin"});
    let mut issued = None;
    within(
        Duration::from_secs(1),
        "replica C sees the approval",
        async || {
            let (status, body) = post(&c, "/v1/exchange", Some(&alice), elevated.clone()).await;
            issued = (status == 200).then_some(body);
            issued.is_some()
        },
    )
    .await;
    assert_eq!(issued.unwrap()["request_id"], id.as_str());
    let (status, _) = post(&a, "/v1/exchange", Some(&alice), elevated.clone()).await;
    assert_eq!(status, 403, "used once, at any replica");

    // A second request: bob approves at A while dave denies at B.
    let (_, filed) = post(&a, "/v1/requests", Some(&alice), file).await;
    let id = filed["id"].as_str().unwrap().to_string();
    let (yes, no) = (
        format!("/v1/requests/{id}/approve"),
        format!("/v1/requests/{id}/deny"),
    );
    let (approve, deny) = tokio::join!(
        post(&a, &yes, Some(&bob), json!({"reason": "yes"})),
        post(&b, &no, Some(&dave), json!({"reason": "no"})),
    );
    let landed = [approve.0, deny.0].iter().filter(|s| **s == 200).count();
    assert_eq!(
        landed, 1,
        "exactly one decision lands: {approve:?} {deny:?}"
    );
    assert!([approve.0, deny.0].contains(&409), "{approve:?} {deny:?}");
}
