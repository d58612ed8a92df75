//! The access proxy on shared state (issues 11 and 12): two `kaccess serve`
//! replicas on one private PostgreSQL, B serving the cluster's API through
//! its proxy, A without one. A session revoked at A loses its open watch
//! and exec at B's proxy within a second, B refuses its next request
//! saying who revoked it and when, and the one chain in the database
//! verifies and holds how the streams ended.

use crate::support::postgres::Postgres;
use crate::support::proxied::{
    Embedded, Running, assert_refusal_names, call, embedded, revoke_as_admin, session_id,
};
use crate::support::replicas::{another_replica, kaccess};
use crate::support::world::{World, WorldOptions, run, text};
use serde_json::Value;
use std::time::{Duration, Instant};

const POD: &str = "web-7d4b9c6f5-x2kqp";
const CUT_OFF: Duration = Duration::from_secs(1);

/// The chain in the database, through `kaccess audit export --config`.
fn chain(config: &str) -> Vec<Value> {
    let out = kaccess(&["audit", "export", "--config", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (`watch` or the subresource, `result.ended`) of the proxy's records of
/// streams that ended.
fn ended_streams(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r["event"] == "proxy" && r["outcome"] == "finished")
        .filter_map(|r| {
            let ended = r["result"]["ended"].as_str()?;
            let what = r["request"]["subresource"]
                .as_str()
                .or(r["request"]["verb"].as_str())?;
            Some((what.to_string(), ended.to_string()))
        })
        .collect()
}

#[test]
fn a_session_revoked_at_replica_a_loses_its_streams_at_replica_bs_proxy_within_a_second() {
    let pg = Postgres::start();
    let b = World::start(WorldOptions {
        proxied: true,
        admin_groups: vec!["secops"],
        state_yaml: Some(pg.state_yaml()),
        ..WorldOptions::default()
    });
    let a = another_replica(&b);
    let kubeconfig = b.login(&["--embed"]);
    let session = session_id(&b);
    let mut watch = Running::start(&b, &kubeconfig, &["get", "pods", "-w"]);
    watch.expect_line(POD);
    let mut exec = Running::start(&b, &kubeconfig, &["exec", "-i", POD, "--", "cat"]);
    exec.send("through replica B\n");
    exec.expect_line("through replica B");

    let revoked_at = Instant::now();
    let answer = revoke_as_admin(&b, &a, &session, "carol");
    assert_eq!(answer["revoked"], true, "{answer}");
    let watch_closed = watch.exited_within(CUT_OFF);
    let exec_closed = exec.exited_within(CUT_OFF.saturating_sub(revoked_at.elapsed()));
    let both = revoked_at.elapsed();
    eprintln!(
        "revoked at replica A → closed at replica B's proxy: watch {watch_closed:?} and exec \
         {exec_closed:?} after the revoke returned; both {both:?} after it was sent"
    );
    assert!(
        watch_closed.is_some() && exec_closed.is_some(),
        "a stream outlived the revocation at another replica by a second: watch \
         {watch_closed:?}, exec {exec_closed:?}"
    );
    assert!(both < CUT_OFF, "closed {both:?} after the revoke was sent");

    // B's proxy refuses the next request, naming the admin at A.
    let refused = run(b.kubectl(&kubeconfig, &["get", "pods"]));
    assert_ne!(refused.status.code(), Some(0));
    let err = text(&refused.stderr);
    assert_refusal_names(&err, "session revoked by carol@example.com", "demo");
    let Embedded::Certificate { cert_pem, key_pem } = embedded(&kubeconfig) else {
        panic!("a certificate session")
    };
    let pods = "/api/v1/namespaces/payments/pods";
    let (status, body) = call(&b, pods, Some((cert_pem.as_str(), key_pem.as_str())), &[]);
    assert_eq!((status, &body["kind"]), (401, &"Status".into()), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("session revoked by carol@example.com at "),
        "{message}"
    );

    // One chain, written by both replicas: it verifies, and holds A's
    // revocation and B's records of how the streams ended.
    let config = b.broker.config_path.to_str().unwrap().to_string();
    let mut records = chain(&config);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ended_streams(&records).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        records = chain(&config);
    }
    let out = kaccess(&["audit", "verify", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Recordings live beside an audit file, which this broker has none of.
    let play = kaccess(&["audit", "play", &session, "--config", &config]);
    assert_eq!(play.status.code(), Some(1), "{}", text(&play.stderr));
    assert!(play.stdout.is_empty());
    assert!(
        text(&play.stderr).contains("keeps its audit chain in PostgreSQL and has no `audit.file`"),
        "{}",
        text(&play.stderr)
    );
    let ended = ended_streams(&records);
    for stream in ["watch", "exec"] {
        assert!(
            ended.contains(&(stream.into(), "revoked".into())),
            "{stream}: {ended:?}"
        );
    }
    let revoke = records
        .iter()
        .find(|r| r["event"] == "revoke" && r["outcome"] == "revoked")
        .expect("A's revocation is in the chain");
    assert_eq!(revoke["actor"], "carol@example.com", "{revoke}");
    assert_eq!(revoke["session_id"], session.as_str());
    let refusal = records
        .iter()
        .rfind(|r| r["event"] == "proxy" && r["outcome"] == "refused")
        .expect("B's refusal is in the chain");
    assert_eq!(refusal["status"], 401, "{refusal}");
}
