//! Helpers for tests of several broker replicas on one PostgreSQL
//! (`tests/it/replicas*.rs`): starting them, and the few calls they make.
//! A proxied [`World`] on PostgreSQL gains replicas with
//! [`another_replica`].

use super::broker::{Broker, BrokerOptions};
use super::idp::{Idp, IdpOptions, Mint};
use super::postgres::Postgres;
use super::world::{self, World};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub struct Replicas {
    pub idp: Idp,
    pub pg: Postgres,
    pub brokers: Vec<Broker>,
}

pub fn options(idp: &Idp, pg: &Postgres) -> BrokerOptions {
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.state_yaml = Some(pg.state_yaml());
    opts
}

/// `n` replicas on one new database, started one after the other.
pub fn replicas(n: usize) -> Replicas {
    let idp = Idp::start(IdpOptions::default());
    let pg = Postgres::start();
    let brokers = (0..n).map(|_| Broker::start(options(&idp, &pg))).collect();
    Replicas { idp, pg, brokers }
}

/// One more `kaccess serve` on `w`'s configuration and state (a world
/// started with `state_yaml` on PostgreSQL) but without the access proxy:
/// `w`'s own broker stays the only one serving the cluster's API.
pub fn another_replica(w: &World) -> world::Broker {
    let yaml = std::fs::read_to_string(&w.broker.config_path).unwrap();
    assert!(
        yaml.contains("postgres:"),
        "replicas share a PostgreSQL state"
    );
    // The proxy block is the config's tail (`WorldOptions::proxied`).
    let yaml = yaml
        .split_once("    proxy:\n")
        .map_or(yaml.as_str(), |(head, _)| head);
    let config = w.root().join("replica.yaml");
    std::fs::write(&config, yaml).unwrap();
    world::Broker::start(
        &w.kaccess_bin,
        &config,
        &w.broker.audit_path,
        &w.broker.serving_ca_pem,
    )
}

impl Replicas {
    pub fn id_token(&self) -> String {
        self.idp.mint_id_token(json!({}), Mint::Rs256)
    }
}

pub async fn post(b: &Broker, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = b
        .client()
        .post(b.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the broker answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A new token session; (session id, bearer token).
pub async fn token_session(b: &Broker, id_token: &str) -> (String, String) {
    let (status, body) = post(
        b,
        "/v1/exchange",
        Some(id_token),
        json!({"cluster": "prod", "credential": "token", "reason": "INC-7"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["session_id"].as_str().unwrap().into(),
        body["token"].as_str().unwrap().into(),
    )
}

/// Whether `b` accepts `token` in a TokenReview for `prod`.
pub async fn accepted(b: &Broker, token: &str) -> bool {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}
    });
    let (status, v) = post(b, "/v1/tokenreview/prod", None, body).await;
    assert_eq!(status, 200, "{v}");
    v["status"]["authenticated"] == true
}

pub async fn healthz(b: &Broker) -> u16 {
    b.client()
        .get(b.url("/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Polls `check` every 20 ms until it holds; panics after `limit`.
pub async fn within<F: AsyncFnMut() -> bool>(
    limit: Duration,
    what: &str,
    mut check: F,
) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn kaccess(args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::support::kaccess_bin())
        .args(args)
        .output()
        .expect("run kaccess")
}

/// `kaccess audit export --config` of `b`: the parsed records.
pub fn exported(b: &Broker) -> (String, Vec<Value>) {
    let out = kaccess(&[
        "audit",
        "export",
        "--config",
        b.config_path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, records)
}

/// Exports `b`'s chain into a file and checks it with
/// `kaccess audit verify FILE`; returns the records.
pub fn export_verifies(b: &Broker) -> Vec<Value> {
    let (text, records) = exported(b);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = kaccess(&["audit", "verify", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    records
}
