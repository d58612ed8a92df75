//! Alert rules (`alerts:` in broker.yaml) against a real broker and a
//! webhook receiver on 127.0.0.1: each match is posted once and recorded
//! in the chain, a counting rule fires once per window, and bad rules are
//! refused by `kaccess serve --check` with their key and a help line.

use crate::support::broker::{Broker, BrokerOptions};
use crate::support::idp::{Idp, IdpOptions, Mint};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::webhook::{Received, receiver};

fn alerts_named(got: &Received, name: &str) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|v| v["event"] == "alert" && v["alert"] == name)
        .cloned()
        .collect()
}

/// Waits until `n` alerts of `name` arrived, then a little longer to be
/// sure no more follow; returns them.
async fn exactly(got: &Received, name: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerts_named(got, name).len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} `{name}` alerts expected: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = alerts_named(got, name);
    assert_eq!(all.len(), n, "{all:?}");
    all
}

const RULES: &str = "alerts:
  - name: every-login
    match: {cluster: prod, event: exchange, outcome: issued}
  - name: denials
    match: {outcome: denied}
    at-least: 2
    within: 3s
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_rule_posts_each_match_once_and_a_counting_rule_once_per_window() {
    let (hook, got) = receiver().await;
    let idp = Idp::start(IdpOptions::default());
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.top_level = format!("notify:\n  - url: {hook}\n{RULES}");
    let broker = Broker::start(opts);
    let client = broker.client();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let alice = idp.mint_id_token(
        json!({"sub": "alice", "email": "alice@example.com", "groups": ["sre"], "auth_time": now}),
        Mint::Rs256,
    );
    let exchange = |bearer: String| {
        let client = client.clone();
        let url = broker.url("/v1/exchange");
        async move {
            client
                .post(url)
                .bearer_auth(bearer)
                .json(&json!({"cluster": "prod", "credential": "token", "reason": "INC-7"}))
                .send()
                .await
                .expect("broker answers")
                .status()
                .as_u16()
        }
    };

    // Two logins: two alerts, one each.
    assert_eq!(exchange(alice.clone()).await, 200);
    assert_eq!(exchange(alice.clone()).await, 200);
    let logins = exactly(&got, "every-login", 2).await;
    for a in &logins {
        assert_eq!(a["cluster"], "prod");
        assert_eq!(a["user"], "alice@example.com");
        assert_eq!(a["count"], 1);
        assert_eq!(a["record"]["event"], "exchange");
        let text = a["text"].as_str().unwrap();
        assert!(
            text.starts_with("kaccess alert `every-login`: alice@example.com exchange on `prod`"),
            "{text}"
        );
    }
    assert_ne!(logins[0]["record"]["hash"], logins[1]["record"]["hash"]);

    // Three refusals at once: one alert (the third falls in its window).
    for _ in 0..3 {
        assert_eq!(exchange("not-a-token".into()).await, 401);
    }
    exactly(&got, "denials", 1).await;
    // A window later, two more: a second alert.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    for _ in 0..2 {
        assert_eq!(exchange("not-a-token".into()).await, 401);
    }
    let denials = exactly(&got, "denials", 2).await;
    assert_eq!(denials[1]["count"], 2);
    assert!(
        denials[1]["text"]
            .as_str()
            .unwrap()
            .contains("2 matching events within 3s"),
        "{}",
        denials[1]["text"]
    );

    // Each alert is in the chain, naming the records that matched.
    let trail = broker.audit_lines();
    let fired: Vec<&Value> = trail.iter().filter(|r| r["event"] == "alert").collect();
    assert_eq!(fired.len(), 4, "{fired:?}");
    let hashes: Vec<&Value> = trail.iter().map(|r| &r["hash"]).collect();
    for f in &fired {
        assert_eq!(f["outcome"], "fired");
        for h in f["alert"]["records"].as_array().unwrap() {
            assert!(hashes.contains(&h), "{f}");
        }
    }
    assert_eq!(
        fired
            .iter()
            .filter(|f| f["alert"]["rule"] == "denials")
            .count(),
        2
    );

    let metrics = client
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kaccess_alerts_total{alert=\"every-login\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kaccess_alerts_total{alert=\"denials\"} 2\n"),
        "{metrics}"
    );

    let verify = std::process::Command::new(crate::support::kaccess_bin())
        .args(["audit", "verify"])
        .arg(broker.audit_path())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// With no rule in force the evaluator does not follow the feed (so the
/// audit writer keeps no copies for it); rules that a reload adds apply
/// to what is recorded after it, and removing them again stops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_added_by_a_reload_apply_from_then_on_and_removed_ones_stop() {
    let (hook, got) = receiver().await;
    let idp = Idp::start(IdpOptions::default());
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.top_level = format!("notify:\n  - url: {hook}\n");
    let broker = Broker::start(opts);
    let client = broker.client();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let alice = idp.mint_id_token(
        json!({"sub": "alice", "email": "alice@example.com", "groups": ["sre"], "auth_time": now}),
        Mint::Rs256,
    );
    let login = || {
        let client = client.clone();
        let url = broker.url("/v1/exchange");
        let bearer = alice.clone();
        async move {
            let status = client
                .post(url)
                .bearer_auth(bearer)
                .json(&json!({"cluster": "prod", "credential": "token", "reason": "INC-7"}))
                .send()
                .await
                .expect("broker answers")
                .status();
            assert_eq!(status, 200);
        }
    };
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    let reload = |text: String, times: usize| {
        std::fs::write(broker.config_path(), text).unwrap();
        broker.signal(libc::SIGHUP);
        broker.wait_for_log("SIGHUP: reloaded the configuration", times);
    };

    login().await;
    exactly(&got, "every-login", 0).await;
    reload(format!("{config}{RULES}"), 1);
    login().await;
    let fired = exactly(&got, "every-login", 1).await;
    assert_eq!(fired[0]["user"], "alice@example.com");
    reload(config.clone(), 2);
    login().await;
    exactly(&got, "every-login", 1).await;
}

#[test]
fn serve_check_refuses_bad_alert_rules_naming_the_key_with_a_help_line() {
    let broker = Broker::start(BrokerOptions::new("http://127.0.0.1:9"));
    let good = std::fs::read_to_string(broker.config_path()).unwrap();
    let bad = broker.dir().join("bad.yaml");
    for (rules, key, words) in [
        (
            "alerts:\n  - name: a\n    match: {clustr: prod}\n",
            "alerts[0].match.clustr",
            "unknown field `clustr`",
        ),
        (
            "alerts:\n  - name: ''\n    match: {cluster: prod}\n",
            "alerts[0].name",
            "must not be empty",
        ),
        (
            "alerts:\n  - name: a\n    match: {cluster: prod}\n  - name: a\n    match: {verb: delete}\n",
            "alerts[1].name",
            "unique",
        ),
        (
            "alerts:\n  - name: a\n    match: {outcome: denied}\n    at-least: 3\n",
            "alerts[0].within",
            "missing",
        ),
        (
            "alerts:\n  - name: a\n    match: {outcome: denied}\n    within: 1m\n",
            "alerts[0].at-least",
            "missing",
        ),
    ] {
        std::fs::write(&bad, format!("{good}{rules}")).unwrap();
        let out = std::process::Command::new(crate::support::kaccess_bin())
            .args(["serve", "--check", "--config"])
            .arg(&bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rules}: {err}");
        assert!(
            err.contains(&format!("`{key}`")) && err.contains(words),
            "{err}"
        );
        assert!(err.contains("help: ") && err.contains("--check"), "{err}");
    }
    std::fs::write(&bad, format!("{good}auditor-groups: [compliance]\n{RULES}")).unwrap();
    let out = std::process::Command::new(crate::support::kaccess_bin())
        .args(["serve", "--check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("alerts:       every-login, denials (posted to 0 webhooks)"),
        "{err}"
    );
    assert!(err.contains("only recorded in the audit chain"), "{err}");
}
