//! The access proxy end to end: real kubectl → `kaccess serve`'s proxy →
//! the API stand-in, which trusts neither the kaccess CA nor the webhook,
//! only the proxy's service-account token, and honours impersonation as
//! kube-apiserver does.

use crate::support::proxied::{
    Embedded, Running, assert_refusal_names, call, embedded, revoke_as_admin, session_id,
};
use crate::support::world::{PROXY_USER, World, WorldOptions, run, text};
use std::time::{Duration, Instant};

const POD: &str = "web-7d4b9c6f5-x2kqp";

fn proxied(opts: WorldOptions) -> World {
    World::start(WorldOptions {
        proxied: true,
        ..opts
    })
}

fn proxy_records(w: &World) -> Vec<serde_json::Value> {
    w.broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "proxy")
        .collect()
}

fn verify_chain(w: &World) {
    let out = run(w.kaccess(&["audit", "verify"]).arg(&w.broker.audit_path));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn kubectl_whoami_and_get_pods_through_the_proxy_are_the_person_with_groups_session_and_reason() {
    for credential in ["certificate", "token"] {
        let w = proxied(WorldOptions {
            credential,
            ..WorldOptions::default()
        });
        let kubeconfig = w.login(&[]);
        let whoami = run(w.kubectl(&kubeconfig, &["auth", "whoami", "-o", "json"]));
        assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami.stderr));
        let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
        let info = &review["status"]["userInfo"];
        assert_eq!(info["username"], "alice@example.com", "{review}");
        let groups: Vec<&str> = info["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g.as_str())
            .collect();
        assert_eq!(groups, ["kaccess:demo:sre", "system:authenticated"]);
        assert_eq!(
            info["extra"]["kaccess.io/session-id"][0],
            session_id(&w).as_str()
        );
        assert_eq!(info["extra"]["kaccess.io/reason"][0], "INC-1");

        let pods = run(w.kubectl(&kubeconfig, &["get", "pods"]));
        assert_eq!(pods.status.code(), Some(0), "{}", text(&pods.stderr));
        assert!(text(&pods.stdout).contains(POD));
        let calls = w.api.calls();
        assert!(!calls.is_empty());
        for c in &calls {
            assert_eq!(c.impersonator.as_deref(), Some(PROXY_USER), "{c:?}");
            assert_eq!(c.username, "alice@example.com");
        }
        assert_eq!(w.api.token_reviews(), 0, "no webhook hop");

        let records = proxy_records(&w);
        let list: Vec<_> = records
            .iter()
            .filter(|r| r["request"]["verb"] == "list" && r["request"]["resource"] == "pods")
            .collect();
        assert_eq!(list.len(), 2, "{records:?}");
        assert_eq!(list[0]["outcome"], "started");
        assert_eq!(list[1]["outcome"], "finished");
        for r in &list {
            assert_eq!(r["request"]["namespace"], "payments");
            assert_eq!(r["username"], "alice@example.com");
            assert_eq!(r["session_id"], session_id(&w).as_str());
            assert_eq!(r["reason"], "INC-1");
            assert_eq!(r["credential"], credential);
            assert_eq!(r["request"]["id"], list[0]["request"]["id"]);
        }
        assert_eq!(list[1]["status"], 200);
        assert!(list[1]["result"]["bytes_out"].as_u64().unwrap() > 0);
        verify_chain(&w);
    }
}

#[test]
fn a_revoked_certificate_session_is_refused_on_its_next_request() {
    let w = proxied(WorldOptions::default());
    let kubeconfig = w.login(&["--embed"]);
    let ok = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let forwarded = w.api.calls().len();
    assert_eq!(w.revoke_at_broker()["revoked"], true);
    let refused = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_ne!(refused.status.code(), Some(0));
    let err = text(&refused.stderr);
    let said = err
        .split_once("session revoked by you (alice@example.com) at ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{err}"));
    assert!(said.contains(" UTC: run `kaccess login demo`"), "{err}");
    assert_eq!(
        w.api.calls().len(),
        forwarded,
        "nothing forwarded after the revocation"
    );
    let last = proxy_records(&w).pop().unwrap();
    assert_eq!(last["outcome"], "refused");
    assert_eq!(last["status"], 401);
    assert!(last["serial"].is_string(), "{last}");
}

/// The message says who to ask: kubectl shows the proxy's `Status`.
#[test]
fn kubectl_through_the_proxy_after_an_admin_revoke_says_revoked_by_the_admin_and_when() {
    let w = proxied(WorldOptions {
        admin_groups: vec!["secops"],
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&["--embed"]);
    let ok = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let answer = revoke_as_admin(&w, &w.broker, &session_id(&w), "carol");
    assert_eq!(answer["revoked"], true, "{answer}");
    let refused = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_ne!(refused.status.code(), Some(0));
    let err = text(&refused.stderr);
    assert_refusal_names(&err, "session revoked by carol@example.com", "demo");
}

/// After `kaccess logout`, a copy of the embedded kubeconfig is refused
/// saying it was a logout, not an unknown revocation.
#[test]
fn a_logged_out_session_is_refused_through_the_proxy_saying_its_owner_logged_out() {
    let w = proxied(WorldOptions::default());
    let kubeconfig = w.login(&["--embed"]);
    // kubectl shows a refusal's message only past discovery: fill its cache.
    let ok = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let copy = w.root().join("kept.kubeconfig");
    std::fs::copy(&kubeconfig, &copy).unwrap();
    let out = run(w.kaccess(&["logout", "demo"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let refused = run(w.kubectl(&copy, &["get", "pods"]));
    assert_ne!(refused.status.code(), Some(0));
    let err = text(&refused.stderr);
    assert_refusal_names(
        &err,
        "session ended when you (alice@example.com) logged out",
        "demo",
    );
}

#[test]
fn client_impersonation_and_a_token_alongside_a_certificate_are_refused_and_never_forwarded() {
    let w = proxied(WorldOptions::default());
    let token_kubeconfig = w.login(&["--embed", "--credential", "token"]);
    let Embedded::Token(other_token) = embedded(&token_kubeconfig) else {
        panic!("a token session")
    };
    let kubeconfig = w.login(&["--embed"]);
    let Embedded::Certificate { cert_pem, key_pem } = embedded(&kubeconfig) else {
        panic!("a certificate session")
    };
    let cert = Some((cert_pem.as_str(), key_pem.as_str()));
    let path = "/api/v1/namespaces/payments/pods";
    assert_eq!(call(&w, path, cert, &[]).0, 200);
    let forwarded = w.api.calls().len();

    for args in [
        vec!["--as", "admin", "get", "pods"],
        vec![
            "--as",
            "alice@example.com",
            "--as-group",
            "system:masters",
            "get",
            "pods",
        ],
    ] {
        // kubectl's discovery client shows a 403 Status as "unknown"; the
        // message is checked on the direct call below and in the records.
        let out = run(w.kubectl(&kubeconfig, &args));
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(
            text(&out.stderr).contains("Forbidden"),
            "{}",
            text(&out.stderr)
        );
    }
    let (status, body) = call(&w, path, cert, &[("Impersonate-Group", "system:masters")]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (&body["kind"], &body["reason"]),
        (&"Status".into(), &"Forbidden".into())
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("`impersonate-group` header is refused"),
        "{message}"
    );

    let bearer = format!("Bearer {other_token}");
    let (status, body) = call(&w, path, cert, &[("Authorization", &bearer)]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["reason"], "Unauthorized");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("together are refused"),
        "{body}"
    );
    let (status, _) = call(&w, path, None, &[]);
    assert_eq!(status, 401, "anonymous");

    assert_eq!(
        w.api.calls().len(),
        forwarded,
        "no refused request reached the API server"
    );
    let refused: Vec<_> = proxy_records(&w)
        .into_iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    let forbidden: Vec<_> = refused.iter().filter(|r| r["status"] == 403).collect();
    assert!(
        forbidden
            .iter()
            .any(|r| r["cause"].as_str().unwrap().contains("impersonate-user"))
    );
    assert!(
        forbidden
            .iter()
            .any(|r| r["cause"].as_str().unwrap().contains("impersonate-group"))
    );
    for r in &forbidden {
        assert_eq!(
            r["username"], "alice@example.com",
            "who tried is recorded: {r}"
        );
    }
    let both = refused
        .iter()
        .find(|r| r["status"] == 401 && r["cause"].as_str().unwrap().contains("together"))
        .expect("the certificate-and-token refusal is audited");
    assert!(
        both["serial"].is_null() && both["username"].is_null(),
        "neither is chosen: {both}"
    );
    verify_chain(&w);
}

/// A watch and an exec of one session, open through the proxy.
fn open_streams(w: &World, kubeconfig: &std::path::Path) -> (Running, Running) {
    let watch = Running::start(w, kubeconfig, &["get", "pods", "-w"]);
    watch.expect_line(POD);
    let mut exec = Running::start(w, kubeconfig, &["exec", "-i", POD, "--", "cat"]);
    exec.send("ping through the proxy\n");
    exec.expect_line("ping through the proxy");
    (watch, exec)
}

#[test]
fn kubectl_attach_through_the_proxy_carries_stdin_and_is_audited_with_its_container() {
    let w = proxied(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    let mut attach = Running::start(&w, &kubeconfig, &["attach", "-i", POD]);
    attach.send("attached line\n");
    attach.expect_line("attached line");
    drop(attach.stdin.take());
    assert!(
        attach.exited_within(Duration::from_secs(10)).is_some(),
        "attach ends with stdin"
    );
    std::thread::sleep(Duration::from_millis(200));
    let rec = proxy_records(&w)
        .into_iter()
        .find(|r| r["request"]["subresource"] == "attach" && r["outcome"] == "finished")
        .expect("a finished attach record");
    assert_eq!(rec["request"]["container"], "app");
    assert_eq!(rec["status"], 101);
    assert!(rec["result"]["bytes_in"].as_u64().unwrap() > 0);
    assert!(rec["result"]["bytes_out"].as_u64().unwrap() > 0);
    assert!(rec["result"]["ended"].is_string(), "{rec}");
    verify_chain(&w);
}

fn ended_streams(w: &World) -> Vec<(String, String)> {
    proxy_records(w)
        .into_iter()
        .filter(|r| r["outcome"] == "finished" && r["result"]["ended"].is_string())
        .map(|r| {
            let what = match r["request"]["subresource"].as_str() {
                Some(sub) => sub.to_string(),
                None => r["request"]["verb"].as_str().unwrap().to_string(),
            };
            (what, r["result"]["ended"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn an_open_watch_and_exec_are_cut_within_a_second_of_revocation() {
    let w = proxied(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    let (mut watch, mut exec) = open_streams(&w, &kubeconfig);
    let revoked_at = Instant::now();
    assert_eq!(w.revoke_at_broker()["revoked"], true);
    let watch_closed = watch.exited_within(Duration::from_secs(1));
    let exec_closed =
        exec.exited_within(Duration::from_secs(1).saturating_sub(revoked_at.elapsed()));
    eprintln!(
        "revocation → kubectl exited: watch {watch_closed:?}, exec within {:?}",
        revoked_at.elapsed()
    );
    assert!(
        watch_closed.is_some(),
        "the watch outlived the revocation by a second"
    );
    assert!(
        exec_closed.is_some(),
        "the exec outlived the revocation by a second"
    );
    // The finished records are written as the streams close.
    std::thread::sleep(Duration::from_millis(200));
    let ended = ended_streams(&w);
    assert!(
        ended.contains(&("watch".into(), "revoked".into())),
        "{ended:?}"
    );
    assert!(
        ended.contains(&("exec".into(), "revoked".into())),
        "{ended:?}"
    );
    let exec_rec = proxy_records(&w)
        .into_iter()
        .find(|r| r["request"]["subresource"] == "exec" && r["outcome"] == "finished")
        .unwrap();
    assert_eq!(exec_rec["request"]["command"], serde_json::json!(["cat"]));
    assert!(exec_rec["result"]["bytes_in"].as_u64().unwrap() > 0);
    verify_chain(&w);
    assert_cut_off_in_metrics(&w, "revoked");
}

/// `/metrics` counted the session's one cut-off under `cause`, both its
/// streams are closed, and the watch was counted by verb and code.
fn assert_cut_off_in_metrics(w: &World, cause: &str) {
    let metrics = w.broker_metrics();
    for line in [
        format!("kaccess_proxy_cutoffs_total{{cause=\"{cause}\"}} 1\n"),
        "kaccess_proxy_open_streams 0\n".to_string(),
        "kaccess_proxy_requests_total{verb=\"watch\",code=\"200\"} 1\n".to_string(),
    ] {
        assert!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    let latency = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kaccess_proxy_upstream_duration_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no upstream latency in\n{metrics}"));
    assert!(latency >= 2, "{metrics}");
}

#[test]
fn an_open_watch_and_exec_are_cut_when_the_session_ends() {
    let w = proxied(WorldOptions {
        max_session: "12s",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.runtime.join("sessions").join("demo.json")).unwrap(),
    )
    .unwrap();
    let end = time::OffsetDateTime::parse(
        rec["session_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let (mut watch, mut exec) = open_streams(&w, &kubeconfig);
    let left = Duration::try_from(end - time::OffsetDateTime::now_utc()).unwrap();
    assert!(
        watch.exited_within(left + Duration::from_secs(1)).is_some(),
        "watch"
    );
    assert!(exec.exited_within(Duration::from_secs(1)).is_some(), "exec");
    let late = time::OffsetDateTime::now_utc() - end;
    assert!(
        late < time::Duration::milliseconds(1500),
        "closed {late} after the end"
    );
    std::thread::sleep(Duration::from_millis(200));
    let ended = ended_streams(&w);
    assert!(
        ended.contains(&("watch".into(), "session ended".into())),
        "{ended:?}"
    );
    assert!(
        ended.contains(&("exec".into(), "session ended".into())),
        "{ended:?}"
    );
    assert_cut_off_in_metrics(&w, "session_ended");
}

#[test]
fn a_request_whose_audit_record_cannot_be_written_is_not_forwarded() {
    let Some(disk) = crate::faults::TinyDisk::mount("64k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let w = proxied(WorldOptions {
        audit_file: Some(disk.path().join("audit.jsonl")),
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&["--embed", "--credential", "token"]);
    let Embedded::Token(token) = embedded(&kubeconfig) else {
        panic!("a token session")
    };
    let bearer = format!("Bearer {token}");
    let path = "/api/v1/namespaces/payments/pods";
    assert_eq!(call(&w, path, None, &[("Authorization", &bearer)]).0, 200);
    let filler = disk.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    // The audit file's last page may still take a few records.
    let (status, body) = (0..40)
        .map(|_| call(&w, path, None, &[("Authorization", &bearer)]))
        .find(|(s, _)| *s != 200)
        .expect("the proxy refused once the audit disk was full");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["kind"], "Status");
    assert!(
        body["message"].as_str().unwrap().contains("not forwarded"),
        "{body}"
    );
    let before = w.api.calls().len();
    assert_eq!(call(&w, path, None, &[("Authorization", &bearer)]).0, 503);
    assert_eq!(
        w.api.calls().len(),
        before,
        "nothing forwarded without its record"
    );
    // Every forwarded request has its `started` record.
    std::fs::remove_file(&filler).unwrap();
    let started = proxy_records(&w)
        .iter()
        .filter(|r| r["outcome"] == "started")
        .count();
    assert_eq!(started, before, "one durable record per forwarded request");
}

/// More idle watches than one HTTP/2 connection upstream carries streams
/// (hyper's 200, Go's 250): the proxy's next plain request still goes
/// through at once, and every watch is open.
#[test]
fn hundreds_of_idle_watches_do_not_stall_the_next_request_through_the_proxy() {
    const WATCHES: usize = 260;
    let w = proxied(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&["--embed"]);
    let crate::support::proxied::Embedded::Token(token) = embedded(&kubeconfig) else {
        panic!("a token session");
    };
    let base = w.proxy_url.clone().unwrap();
    kaccess::http::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = reqwest::Certificate::from_pem(w.broker.serving_ca_pem.as_bytes()).unwrap();
        // HTTP/1.1 to the proxy: one client connection per watch, so only
        // the proxy's own upstream connection could be the bottleneck.
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .http1_only()
            .build()
            .unwrap();
        let pods = format!("{base}/api/v1/namespaces/payments/pods");
        let mut open = Vec::new();
        for _ in 0..WATCHES {
            let resp = tokio::time::timeout(
                Duration::from_secs(10),
                client
                    .get(format!("{pods}?watch=true"))
                    .bearer_auth(&token)
                    .send(),
            )
            .await
            .unwrap_or_else(|_| panic!("watch {} of {WATCHES} never started", open.len() + 1))
            .unwrap();
            assert_eq!(resp.status(), 200);
            open.push(resp);
        }
        let started = Instant::now();
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            client.get(&pods).bearer_auth(&token).send(),
        )
        .await
        .expect("a plain GET is not queued behind the idle watches")
        .unwrap();
        assert_eq!(resp.status(), 200);
        eprintln!(
            "with {} watches open, a GET took {:?}",
            open.len(),
            started.elapsed()
        );
        drop(open);
    });
}
