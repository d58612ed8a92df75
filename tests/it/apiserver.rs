//! Real kubectl against the API stand-in: client certificates and bearer
//! tokens (direct and from an exec plugin) authenticate the way
//! kube-apiserver does, and the stand-in records who called.

use crate::support::apiserver::{ApiServer, ApiServerOptions, Via, Webhook};
use crate::support::pki::TestCa;
use crate::support::serve::{TlsServer, tls_config};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

const GOOD_TOKEN: &str = "kaccess-test-good-token";

/// A TokenReview webhook that knows one token (bob, in `oncall`) and keeps
/// every review it was sent.
struct FakeReviewer {
    ca_pem: String,
    server: TlsServer,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl FakeReviewer {
    fn start() -> FakeReviewer {
        let ca = TestCa::new("fake reviewer CA");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TlsServer::start(tls_config(&ca.issue_server(), None), move |_| {
            Router::new().route(
                "/v1/tokenreview",
                post(move |Json(review): Json<Value>| async move {
                    log.lock().unwrap().push(review.clone());
                    let status = if review["spec"]["token"] == GOOD_TOKEN {
                        json!({
                            "authenticated": true,
                            "user": {
                                "username": "bob",
                                "uid": "bob-uid",
                                "groups": ["oncall"],
                                "extra": {"kaccess.io/session-id": ["s-123"]},
                            },
                        })
                    } else {
                        json!({"authenticated": false, "error": "unknown token"})
                    };
                    Json(json!({
                        "apiVersion": "authentication.k8s.io/v1",
                        "kind": "TokenReview",
                        "status": status,
                    }))
                }),
            )
        });
        FakeReviewer {
            ca_pem: ca.cert_pem(),
            server,
            seen,
        }
    }

    fn webhook(&self) -> Webhook {
        Webhook {
            url: format!("{}/v1/tokenreview", self.server.url()),
            ca_pem: self.ca_pem.clone(),
        }
    }

    fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Writes a kubeconfig (JSON is YAML) for `server` with `user` as the
/// user stanza, context namespace `payments`.
pub(crate) fn kubeconfig(dir: &Path, server: &ApiServer, user: Value) -> PathBuf {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {
            "server": server.url(),
            "certificate-authority-data": b64(&server.ca_pem()),
        }}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "standin", "context": {
            "cluster": "standin", "user": "u", "namespace": "payments",
        }}],
        "current-context": "standin",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// Runs real kubectl with only this test's kubeconfig, cache and HOME.
pub(crate) fn kubectl(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--request-timeout=20s")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .expect("run kubectl (is it installed?)")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cert_user(ca: &TestCa, cn: &str, orgs: &[&str]) -> Value {
    let issued = ca.issue_client(cn, orgs);
    json!({
        "client-certificate-data": b64(&issued.cert_pem),
        "client-key-data": b64(&issued.key_pem),
    })
}

#[test]
fn kubectl_with_a_client_certificate_is_the_cn_in_the_o_groups() {
    let dir = TempDir::new().unwrap();
    let client_ca = TestCa::new("cluster CA");
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: Some(client_ca.cert_pem()),
        token_webhook: None,
        ..Default::default()
    });
    let kc = kubeconfig(
        dir.path(),
        &server,
        cert_user(&client_ca, "alice", &["sre", "dev"]),
    );

    let out = kubectl(dir.path(), &kc, &["auth", "whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "whoami failed: {stderr}");
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines.contains(&vec!["Username", "alice"]), "{stdout}");
    assert!(
        lines.contains(&vec!["Groups", "[sre", "dev", "system:authenticated]"]),
        "{stdout}"
    );

    let out = kubectl(dir.path(), &kc, &["get", "pods", "-n", "payments"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "get pods failed: {stderr}");
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(stdout.contains("web-7d4b9c6f5-x2kqp"), "{stdout}");
    assert!(stdout.contains("worker-5f6c8d7b9-m4ntz"), "{stdout}");

    let calls = server.calls();
    assert!(calls.iter().all(|c| c.username == "alice"
        && c.groups == ["sre", "dev", "system:authenticated"]
        && c.via == Via::Cert));
    for (method, path) in [
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
        ("GET", "/api/v1/namespaces/payments/pods"),
    ] {
        assert!(
            calls.iter().any(|c| c.method == method && c.path == path),
            "no {method} {path} in {calls:#?}"
        );
    }
    assert_eq!(server.refused(), 0);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let dir = TempDir::new().unwrap();
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: Some(TestCa::new("cluster CA").cert_pem()),
        token_webhook: None,
        ..Default::default()
    });
    let rogue = TestCa::new("rogue CA");
    let kc = kubeconfig(
        dir.path(),
        &server,
        cert_user(&rogue, "alice", &["system:masters"]),
    );

    let out = kubectl(dir.path(), &kc, &["auth", "whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "rogue cert accepted: {stdout}");
    assert!(!stdout.contains("alice"), "{stdout}");
    // A 401 like kube-apiserver's, not a TLS failure.
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    assert!(server.calls().is_empty(), "{:#?}", server.calls());
    assert!(server.refused() > 0);
}

#[test]
fn bearer_tokens_are_accepted_or_refused_by_the_tokenreview_webhook() {
    let dir = TempDir::new().unwrap();
    let reviewer = FakeReviewer::start();
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: Some(TestCa::new("cluster CA").cert_pem()),
        token_webhook: Some(reviewer.webhook()),
        ..Default::default()
    });

    let kc = kubeconfig(dir.path(), &server, json!({"token": GOOD_TOKEN}));
    let out = kubectl(dir.path(), &kc, &["auth", "whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "whoami failed: {stderr}");
    assert!(stdout.contains("bob"), "{stdout}");
    assert!(stdout.contains("[oncall system:authenticated]"), "{stdout}");
    assert!(stdout.contains("[s-123]"), "{stdout}");
    let calls = server.calls();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c.username == "bob"
        && c.groups == ["oncall", "system:authenticated"]
        && c.extra["kaccess.io/session-id"] == ["s-123"]
        && c.via == Via::Token));
    // The webhook saw kube-apiserver's exact request shape.
    let review = &reviewer.seen()[0];
    assert_eq!(
        review,
        &json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"token": GOOD_TOKEN},
            "status": {"user": {}},
        })
    );

    let before = server.calls().len();
    let kc = kubeconfig(dir.path(), &server, json!({"token": "forged"}));
    let out = kubectl(dir.path(), &kc, &["get", "pods"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "forged token accepted: {stdout}");
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    assert_eq!(server.calls().len(), before);
    assert!(server.refused() > 0);
    assert!(
        reviewer
            .seen()
            .iter()
            .any(|r| r["spec"]["token"] == "forged")
    );
}

/// kube-apiserver's union authenticator: x509 is asked first and wins; a
/// refused certificate does not stop the token from being tried.
#[test]
fn a_good_client_certificate_wins_over_a_token_and_a_bad_one_falls_through() {
    let dir = TempDir::new().unwrap();
    let reviewer = FakeReviewer::start();
    let cluster_ca = TestCa::new("cluster CA");
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: Some(cluster_ca.cert_pem()),
        token_webhook: Some(reviewer.webhook()),
        ..Default::default()
    });
    let with_token = |mut user: Value, token: &str| {
        user["token"] = json!(token);
        user
    };

    let user = with_token(cert_user(&cluster_ca, "alice", &["sre"]), "forged");
    let kc = kubeconfig(dir.path(), &server, user);
    let out = kubectl(dir.path(), &kc, &["auth", "whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "whoami failed: {stderr}");
    assert!(stdout.contains("alice"), "{stdout}");
    assert_eq!(server.token_reviews(), 0);
    assert!(reviewer.seen().is_empty());

    let rogue = TestCa::new("rogue CA");
    let user = with_token(
        cert_user(&rogue, "mallory", &["system:masters"]),
        GOOD_TOKEN,
    );
    let kc = kubeconfig(dir.path(), &server, user);
    let out = kubectl(dir.path(), &kc, &["auth", "whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "whoami failed: {stderr}");
    assert!(stdout.contains("bob"), "{stdout}");
    assert!(!stdout.contains("mallory"), "{stdout}");
    let calls = server.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.username == "alice" && c.via == Via::Cert)
    );
    assert!(
        calls
            .iter()
            .any(|c| c.username == "bob" && c.via == Via::Token)
    );
    assert!(calls.iter().all(|c| c.username != "mallory"));
}

#[test]
fn requests_without_credentials_get_a_401_status() {
    kaccess::http::install_crypto_provider();
    let server = ApiServer::start(ApiServerOptions::default());
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (code, body) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let resp = client
            .get(format!("{}/api/v1/namespaces/payments/pods", server.url()))
            .bearer_auth("anything")
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    });
    assert_eq!(code, 401);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    assert!(server.calls().is_empty());
}

/// A plugin script that logs each run and prints an ExecCredential with
/// `token`.
fn exec_plugin(dir: &Path, token: &str) -> (PathBuf, PathBuf) {
    let script = dir.join("plugin.sh");
    let runs = dir.join("plugin-runs");
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token},
    });
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{}'\ncat <<'EOF'\n{credential}\nEOF\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, runs)
}

fn exec_user(script: &Path) -> Value {
    json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": script,
        "interactiveMode": "Never",
    }})
}

fn runs(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |s| s.lines().count())
}

#[test]
fn an_exec_plugin_token_reaches_the_stand_in_through_the_webhook() {
    let dir = TempDir::new().unwrap();
    let reviewer = FakeReviewer::start();
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: None,
        token_webhook: Some(reviewer.webhook()),
        ..Default::default()
    });
    let (script, log) = exec_plugin(dir.path(), GOOD_TOKEN);
    let kc = kubeconfig(dir.path(), &server, exec_user(&script));

    let out = kubectl(dir.path(), &kc, &["get", "pods"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "get pods failed: {stderr}");
    assert!(stdout.contains("web-7d4b9c6f5-x2kqp"), "{stdout}");
    assert!(runs(&log) >= 1);
    let calls = server.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.path == "/api/v1/namespaces/payments/pods"
                && c.username == "bob"
                && c.via == Via::Token),
        "{calls:#?}"
    );
}

#[test]
fn a_refused_exec_plugin_token_makes_kubectl_run_the_plugin_again() {
    let dir = TempDir::new().unwrap();
    let reviewer = FakeReviewer::start();
    let server = ApiServer::start(ApiServerOptions {
        client_ca_pem: None,
        token_webhook: Some(reviewer.webhook()),
        ..Default::default()
    });
    let (script, log) = exec_plugin(dir.path(), "expired");
    let kc = kubeconfig(dir.path(), &server, exec_user(&script));

    let out = kubectl(dir.path(), &kc, &["get", "pods"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "expired token accepted: {stdout}");
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    // With a good token `get pods` runs the plugin once; each 401 makes
    // client-go drop the credential and run the plugin again (a 403 would
    // not).
    assert!(runs(&log) > 2, "plugin ran {} times", runs(&log));
    assert!(server.calls().is_empty());
}

/// The bench's watch event throughput (figure 6) relies on this: the
/// ConfigMaps watch sends exactly the events asked for, each a whole
/// `ADDED` line of the same length in order, and then the response ends.
#[test]
fn a_configmaps_watch_sends_the_events_asked_for_and_then_ends() {
    use crate::support::apiserver::events::EVENT_BYTES;
    kaccess::http::install_crypto_provider();
    let server = ApiServer::start(ApiServerOptions {
        static_tokens: vec![("bench-token".into(), "bench".into())],
        ..Default::default()
    });
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "{}/api/v1/namespaces/bench/configmaps?watch=true&events=250",
        server.url()
    );
    let (code, body) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let resp = client
            .get(url)
            .bearer_auth("bench-token")
            .send()
            .await
            .unwrap();
        let code = resp.status();
        // An open-ended watch would hold this past the limit.
        let body = tokio::time::timeout(std::time::Duration::from_secs(10), resp.text())
            .await
            .expect("the watch ended by itself")
            .unwrap();
        (code, body)
    });
    assert_eq!(code, 200);
    assert_eq!(body.len(), 250 * EVENT_BYTES);
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 250);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["type"], "ADDED");
        assert_eq!(e["object"]["kind"], "ConfigMap");
        assert_eq!(e["object"]["metadata"]["namespace"], "bench");
        assert_eq!(
            e["object"]["metadata"]["resourceVersion"],
            format!("{:08}", i + 1)
        );
    }
    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/api/v1/namespaces/bench/configmaps");
    assert_eq!(calls[0].username, "bench");
}
