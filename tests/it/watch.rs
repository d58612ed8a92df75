//! `kaccess admin watch` end to end: a real broker with the access proxy,
//! real kubectl making the request, and the watcher a real `kaccess`
//! process following the broker's live audit feed; and the feed across
//! two replicas on one PostgreSQL.

use crate::support::world::{World, WorldOptions, run, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

const AUDITORS: &str = "auditor-groups: [compliance]\n";

fn login(w: &World, runtime: &Path) -> PathBuf {
    let out = run(w
        .kaccess(&[
            "login",
            "demo",
            "--flow",
            "device",
            "--token-store",
            "file",
            "--reason",
            "INC-1",
        ])
        .env("KACCESS_RUNTIME_DIR", runtime));
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    runtime.join("sessions").join("demo.kubeconfig")
}

/// A running `kaccess admin watch`: stdout lines with the moment each
/// arrived, stderr kept.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<(SystemTime, String)>,
    stderr: Arc<Mutex<String>>,
}

impl Watcher {
    fn start(w: &World, runtime: &Path, args: &[&str]) -> Watcher {
        let mut all = vec!["admin", "watch"];
        all.extend_from_slice(args);
        let mut cmd = w.kaccess(&all);
        cmd.env("KACCESS_RUNTIME_DIR", runtime)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kaccess admin watch");
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((SystemTime::now(), line));
            }
        });
        Watcher {
            child,
            lines,
            stderr,
        }
    }

    /// The first line `pick` accepts, with when it arrived.
    fn line(&self, what: &str, pick: impl Fn(&str) -> bool) -> (SystemTime, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if pick(&line) => return (at, line),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "the watcher printed no {what}; stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    fn record(&self, what: &str, pick: impl Fn(&Value) -> bool) -> (SystemTime, String, Value) {
        let (at, line) = self.line(what, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| pick(&v))
        });
        let v = serde_json::from_str(&line).unwrap();
        (at, line, v)
    }

    /// Waits at most `limit` for the exit code.
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn written_at(rec: &Value) -> SystemTime {
    let t = time::OffsetDateTime::parse(
        rec["time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_nanos(t.unix_timestamp_nanos() as u64)
}

fn wait_for_audit(w: &World, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = w.broker.audit().into_iter().find(|r| pick(r)) {
            return r;
        }
        assert!(Instant::now() < deadline, "no {what} in the audit log");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_watch_shows_a_proxied_request_within_a_second_and_ends_on_ctrl_c_or_a_stopping_broker() {
    let mut w = World::start(WorldOptions {
        proxied: true,
        auditor_groups: vec!["compliance"],
        ..WorldOptions::default()
    });
    let alice = w.root().join("run-alice");
    let kubeconfig = login(&w, &alice);
    w.idp.set(
        json!({"subject": "carol", "email": "carol@example.com", "groups": ["sre", "compliance"]}),
    );
    let carol = w.root().join("run-carol");
    login(&w, &carol);

    let json_feed = Watcher::start(&w, &carol, &["demo", "-o", "json"]);
    let text_feed = Watcher::start(&w, &carol, &["demo", "--user", "alice@example.com"]);
    // Each feed is live once its own `watch` record comes through.
    json_feed.record("watch record", |r| r["event"] == "watch");
    // The text feed shows only what alice does: wait until the broker has
    // its `started` record instead.
    wait_for_audit(&w, "second watch", |r| {
        r["event"] == "watch"
            && r["outcome"] == "started"
            && r["cause"]
                .as_str()
                .unwrap()
                .contains("user=alice@example.com")
    });

    let pods = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(pods.status.code(), Some(0), "{}", text(&pods.stderr));
    let (arrived, line, rec) = json_feed.record("finished `get pods`", |r| {
        r["event"] == "proxy"
            && r["outcome"] == "finished"
            && r["request"]["resource"] == "pods"
            && r["username"] == "alice@example.com"
    });
    let lag = arrived
        .duration_since(written_at(&rec))
        .unwrap_or(Duration::ZERO);
    assert!(
        lag < Duration::from_secs(1),
        "seen {lag:?} after it was written"
    );
    // `-o json` prints the chain's own line.
    let file = std::fs::read_to_string(&w.broker.audit_path).unwrap();
    assert!(file.lines().any(|l| l == line), "{line}");

    let (_, shown) = text_feed.line("text line for `get pods`", |l| {
        l.contains("pods") && l.contains("finished")
    });
    assert!(
        shown.contains("  alice@example.com  demo  list pods in payments  finished 200"),
        "{shown}"
    );

    // Ctrl-C ends a watch cleanly, and its end is audited.
    let mut json_feed = json_feed;
    json_feed.signal(libc::SIGINT);
    assert_eq!(
        json_feed.exit_within(Duration::from_secs(10)),
        Some(0),
        "{}",
        json_feed.stderr()
    );
    // The JSON feed's (the two feeds started in either order).
    let started = wait_for_audit(&w, "watch start", |r| {
        r["event"] == "watch"
            && r["outcome"] == "started"
            && r["cause"].as_str().unwrap().contains("user=*")
    });
    assert_eq!(started["actor"], "carol@example.com");
    assert_eq!(started["cluster"], "demo");
    assert!(
        started["cause"]
            .as_str()
            .unwrap()
            .contains("cluster=demo user=* verb=*"),
        "{started}"
    );
    wait_for_audit(&w, "watch end", |r| {
        r["event"] == "watch"
            && r["outcome"] == "ended"
            && r["cause"].as_str().unwrap().contains("user=*")
    });

    // A broker that stops ends the feed with an error.
    let mut text_feed = text_feed;
    w.broker.stop();
    assert_eq!(
        text_feed.exit_within(Duration::from_secs(30)),
        Some(5),
        "{}",
        text_feed.stderr()
    );
    assert!(
        text_feed.stderr().contains("the broker is shutting down"),
        "{}",
        text_feed.stderr()
    );
    let ended = w
        .broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "watch" && r["outcome"] == "ended")
        .count();
    assert_eq!(ended, 2, "both watches' ends are in the chain");
    let out = run(w.kaccess(&["audit", "verify"]).arg(&w.broker.audit_path));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn someone_outside_auditor_and_admin_groups_may_not_watch_and_the_refusal_is_audited() {
    let w = World::start(WorldOptions {
        auditor_groups: vec!["compliance"],
        ..WorldOptions::default()
    });
    let alice = w.root().join("run-alice");
    login(&w, &alice);
    let out = run(w
        .kaccess(&["admin", "watch", "demo"])
        .env("KACCESS_RUNTIME_DIR", &alice));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("may not follow the audit feed"), "{err}");
    assert!(
        err.contains("help: ") && err.contains("auditor-groups"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Without CLUSTER: the broker of the only cluster configured.
    let out = run(w
        .kaccess(&["admin", "watch"])
        .env("KACCESS_RUNTIME_DIR", &alice));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let refused = w
        .broker
        .audit()
        .into_iter()
        .find(|r| r["event"] == "watch")
        .expect("the refusal is audited");
    assert_eq!(
        w.broker
            .audit()
            .iter()
            .filter(|r| r["event"] == "watch")
            .count(),
        2
    );
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["email"], "alice@example.com");
}

/// The lines of a feed as they arrive, read by a task of the test's runtime.
type Feed = Arc<Mutex<Vec<(Instant, Value)>>>;

async fn open_feed(b: &crate::support::broker::Broker, bearer: &str) -> (u16, Feed) {
    let mut resp = b
        .client()
        .get(b.url("/v1/audit/watch"))
        .query(&[("cluster", "prod")])
        .bearer_auth(bearer)
        .send()
        .await
        .expect("the broker answers");
    let status = resp.status().as_u16();
    let feed: Feed = Arc::default();
    let sink = feed.clone();
    tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let v = serde_json::from_slice(&line).unwrap_or(Value::Null);
                sink.lock().unwrap().push((Instant::now(), v));
            }
        }
    });
    (status, feed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_at_one_replica_sees_what_another_wrote_and_an_alert_fires_once_for_all() {
    use crate::support::broker::Broker;
    use crate::support::idp::{Idp, IdpOptions, Mint};
    use crate::support::postgres::Postgres;
    use crate::support::replicas::{options, token_session};

    let (hook, got) = crate::support::webhook::receiver().await;
    let idp = Idp::start(IdpOptions::default());
    let pg = Postgres::start();
    let mut opts = options(&idp, &pg);
    opts.top_level = format!(
        "{AUDITORS}notify:\n  - url: {hook}\nalerts:\n  - name: every-login\n    match: {{event: exchange, outcome: issued}}\n"
    );
    let (a, b) = (Broker::start(opts.clone()), Broker::start(opts));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let auditor = |auth_time: i64| {
        idp.mint_id_token(
            json!({"sub": "carol", "email": "carol@example.com", "groups": ["compliance"],
                   "auth_time": auth_time}),
            Mint::Rs256,
        )
    };

    // Fresh MFA is needed, as for admin actions.
    let (status, stale) = open_feed(&b, &auditor(now - 1200)).await;
    assert_eq!(status, 403, "an MFA login 20 minutes old is refused");
    drop(stale);

    let (status, feed) = open_feed(&b, &auditor(now)).await;
    assert_eq!(status, 200);
    let (session, _) = token_session(&a, &idp.mint_id_token(json!({}), Mint::Rs256)).await;
    let written = Instant::now();
    let deadline = written + Duration::from_secs(5);
    let seen = loop {
        let found = feed.lock().unwrap().iter().find_map(|(at, v)| {
            (v["record"]["session_id"] == session.as_str() && v["record"]["event"] == "exchange")
                .then_some(*at)
        });
        if let Some(at) = found {
            break at;
        }
        assert!(Instant::now() < deadline, "{:?}", feed.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let lag = seen.saturating_duration_since(written);
    assert!(
        lag < Duration::from_secs(1),
        "seen at the other replica after {lag:?}"
    );

    // Both replicas have the rule; the one that wrote the record alerts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no alert");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alerts = got.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["record"]["session_id"], session.as_str());
}
