//! The broker side: exchanges against a crypto-only loop (figure 2),
//! TokenReview against the bare HTTPS floor (figure 3), and both again
//! with 10, 1,000 and 100,000 sessions in the store (figure 5).

use crate::load::{self, Conn, Load, Pace, Target};
use crate::stats::{cpu_time, ms, percentile, steal_time};
use crate::support::idp::{Mint, get};
use crate::support::world::{self, World};
use crate::{Row, Settings};
use kaccess::broker::ca::{ClusterCa, check_csr};
use kaccess::broker::tokens::{new_session_id, new_token};
use kaccess::oidc::verify::{NonceCheck, verify_id_token};
use kaccess::store::{CredentialEntry, CredentialKey, Session, Store};
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// What every broker figure needs: an ID token, a CSR, where to send them.
pub struct Fixture {
    pub id_token: String,
    pub csr: String,
    pub target: Target,
    pub issuer: String,
}

impl Fixture {
    pub fn new(world: &World) -> Fixture {
        Fixture {
            id_token: world.idp.mint_id_token(json!({}), Mint::Rs256),
            csr: kaccess::session::keys::generate("alice")
                .expect("key and CSR")
                .csr_pem,
            target: Target::new(&world.broker.url, &world.broker.serving_ca_pem),
            issuer: world.idp.issuer(),
        }
    }

    fn exchange(&self, body: Value) -> Vec<u8> {
        load::post(
            kaccess::protocol::EXCHANGE_PATH,
            Some(&self.id_token),
            &body.to_string(),
        )
    }

    pub fn new_session(&self, credential: &str) -> Vec<u8> {
        let mut body = json!({"cluster": "demo", "credential": credential, "reason": "BENCH-1"});
        if credential == "certificate" {
            body["csr"] = json!(self.csr);
        }
        self.exchange(body)
    }

    pub fn continue_session(&self, id: &str) -> Vec<u8> {
        self.exchange(json!({"cluster": "demo", "credential": "certificate", "csr": self.csr, "session_id": id}))
    }
}

pub fn review_request(token: &str) -> Vec<u8> {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token}
    });
    load::post("/v1/tokenreview/demo", None, &body.to_string())
}

pub fn ok_200(status: u16, _: &[u8]) -> bool {
    status == 200
}

pub fn authenticated(status: u16, body: &[u8]) -> bool {
    status == 200 && find(body, b"\"authenticated\":true")
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub fn json_of(conn: &mut Conn, req: &[u8]) -> Value {
    let (status, body) = conn.send(req).expect("broker answers");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(status, 200, "broker said {status}: {v}");
    v
}

/// Single-threaded verify-one-ID-token + check-and-sign-one-CSR rate, with
/// the broker's own keys and the same token and CSR the load sends.
fn crypto_rate(world: &World, fx: &Fixture, for_how_long: Duration) -> f64 {
    let meta = get(&format!("{}/.well-known/openid-configuration", fx.issuer)).json();
    let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&get(jwks_uri).text()).expect("JWKS");
    let ca = ClusterCa::load(
        &world.root().join("cluster-ca.crt"),
        &world.root().join("cluster-ca.key"),
    )
    .expect("cluster CA");
    let aud = ["kaccess".to_string()];
    let groups = ["kaccess:demo:sre".to_string()];
    // Counted per CPU second of this thread, not per wall second: the
    // machine is shared, and the broker's side is counted in CPU too.
    let start = crate::stats::thread_cpu();
    let mut n = 0u64;
    while crate::stats::thread_cpu() - start < for_how_long {
        let now = OffsetDateTime::now_utc();
        let t = verify_id_token(
            &fx.id_token,
            &fx.issuer,
            &aud,
            &jwks,
            NonceCheck::Ignore,
            now,
        )
        .expect("the ID token verifies");
        let csr = check_csr(&fx.csr).expect("the CSR checks");
        let cert = ca
            .sign(
                &csr,
                &t.subject,
                &groups,
                now,
                now + time::Duration::minutes(10),
            )
            .expect("signs");
        std::hint::black_box(cert);
        n += 1;
    }
    n as f64 / (crate::stats::thread_cpu() - start).as_secs_f64()
}

/// Figure 2: certificate exchanges, new and continued sessions.
pub fn exchanges(world: &World, fx: &Fixture, s: &Settings) -> Vec<Row> {
    let per_core = crypto_rate(world, fx, Duration::from_millis(1500));
    eprintln!("bench: crypto-only loop {per_core:.0} per CPU second");
    let mut conn = fx.target.connect();
    let first = json_of(&mut conn, &fx.new_session("certificate"));
    let session = first["session_id"]
        .as_str()
        .expect("session_id")
        .to_string();
    let mut rows = Vec::new();
    for (label, req) in [
        ("new session", fx.new_session("certificate")),
        ("continued", fx.continue_session(&session)),
    ] {
        let pid = world.broker.pid();
        let cpu0 = cpu_time(pid);
        let l = load::run(
            &fx.target,
            s.clients,
            s.exchanges,
            s.deadline,
            Pace::Closed,
            &req,
            ok_200,
        );
        let cores = (cpu_time(pid) - cpu0).as_secs_f64() / l.wall.as_secs_f64();
        let ratio = l.rate() / (per_core * cores);
        rows.push(Row {
            figure: format!("2 exchange, certificate, {label} ({} clients)", s.clients),
            measured: format!(
                "{:.0}/s, p50 {}, p99 {} ({} ok, {} failed)",
                l.rate(),
                ms(l.pct(50.0)),
                ms(l.pct(99.0)),
                l.ok,
                l.failed
            ),
            baseline: format!("crypto-only {per_core:.0}/CPU-s × {cores:.2} broker cores"),
            ratio,
            ratio_means: "of crypto bound",
            target: "≥ 0.6".into(),
            met: Some(ratio >= 0.6 && l.failed == 0),
            detail: format!("broker CPU {cores:.2} cores"),
        });
    }
    rows
}

/// Figure 3: TokenReview throughput and latency, and revocation.
pub fn reviews(world: &World, fx: &Fixture, s: &Settings) -> Vec<Row> {
    let mut conn = fx.target.connect();
    let issued = json_of(&mut conn, &fx.new_session("token"));
    let token = issued["token"].as_str().expect("token").to_string();
    let session = issued["session_id"]
        .as_str()
        .expect("session_id")
        .to_string();
    let review = review_request(&token);
    let healthz = load::get(kaccess::protocol::HEALTHZ_PATH);
    let run = |req: &[u8], pace, count, ok| -> Load {
        load::run(&fx.target, s.clients, count, s.deadline, pace, req, ok)
    };
    let floor = run(&healthz, Pace::Closed, s.reviews, ok_200);
    let pid = world.broker.pid();
    let cpu0 = cpu_time(pid);
    let closed = run(&review, Pace::Closed, s.reviews, authenticated);
    let cores = (cpu_time(pid) - cpu0).as_secs_f64() / closed.wall.as_secs_f64();
    // The webhook's latency target is the broker's. The test IdP shares
    // this machine's 2 cores only because the bench has one machine, and
    // reviews never call it; but its garbage collector wakes every ~0.6 s
    // after use and takes both cores for 4-8 ms (perf sched, see
    // docs/performance.md). So the figure is measured with the IdP
    // paused, and once more with it running, for the record.
    let with_idp = run(&review, Pace::Open(20_000.0), s.reviews, authenticated);
    let steal0 = steal_time();
    let paced = {
        let _paused = Paused::new(world.idp.pid());
        run(&review, Pace::Open(20_000.0), s.reviews, authenticated)
    };
    let stolen = steal_time().saturating_sub(steal0);
    // What kube-apiserver really sends: it caches each webhook answer for
    // --authentication-token-webhook-cache-ttl (default 2 min), so it asks
    // once per token per 2 minutes, plus each new token's first request.
    // 10,000 live tokens come to about 100 reviews/s; 1,000/s is an
    // apiserver restarting with a cold cache under that many users.
    let realistic: Vec<(f64, Load)> = [100.0, 1_000.0]
        .into_iter()
        .map(|rate| {
            let _paused = Paused::new(world.idp.pid());
            let count = ((rate * 3.0) as usize).min(s.reviews);
            (rate, run(&review, Pace::Open(rate), count, authenticated))
        })
        .collect();

    // Revocation: review, revoke, and the very next review must fail. On
    // a new connection: the broker closes one that idles for 30 s
    // (`header_read_timeout`), and the loads above take longer than that.
    let mut conn = fx.target.connect();
    let before = json_of(&mut conn, &review);
    let revoke = load::post(
        &kaccess::protocol::revoke_path(&session),
        Some(&fx.id_token),
        "{}",
    );
    json_of(&mut conn, &revoke);
    let after = json_of(&mut conn, &review);
    let revoked_ok = before["status"]["authenticated"] == json!(true)
        && after["status"]["authenticated"] != json!(true);

    let p99 = paced.pct(99.0);
    let rate = closed.rate();
    vec![
        Row {
            figure: format!("3 TokenReview, max rate ({} clients)", s.clients),
            measured: format!(
                "{rate:.0}/s, p50 {}, p99 {}",
                ms(closed.pct(50.0)),
                ms(closed.pct(99.0))
            ),
            baseline: format!(
                "GET /healthz {:.0}/s, p99 {}",
                floor.rate(),
                ms(floor.pct(99.0))
            ),
            ratio: rate / floor.rate(),
            ratio_means: "of HTTPS floor",
            target: "≥ 20,000/s".into(),
            met: Some(rate >= 20_000.0 && closed.failed == 0),
            detail: format!("broker CPU {cores:.2} cores; {} failed", closed.failed),
        },
        Row {
            figure: format!("3 TokenReview at 20,000/s offered ({} clients)", s.clients),
            measured: format!(
                "{:.0}/s served, p50 {}, p99 {}",
                paced.rate(),
                ms(paced.pct(50.0)),
                ms(p99)
            ),
            baseline: format!("healthz p50 {}", ms(floor.pct(50.0))),
            ratio: paced.pct(50.0).as_secs_f64() / floor.pct(50.0).as_secs_f64().max(1e-6),
            ratio_means: "p50 × healthz p50",
            target: "p99 < 2 ms".into(),
            met: Some(p99 < Duration::from_millis(2) && paced.rate() >= 19_000.0),
            detail: format!(
                "latency counted from when each request was due; test IdP paused; p99.9 {}; \
                 the hypervisor took {} of vCPU time (steal) during the run; \
                 with the test IdP running on the same cores: p99 {}, p99.9 {}",
                ms(paced.pct(99.9)),
                ms(stolen),
                ms(with_idp.pct(99.0)),
                ms(with_idp.pct(99.9)),
            ),
        },
        Row {
            figure: "3 TokenReview at kube-apiserver's rates (100/s, 1,000/s offered)".into(),
            measured: realistic
                .iter()
                .map(|(rate, l)| {
                    format!(
                        "{rate:.0}/s: p50 {}, p99 {}",
                        ms(l.pct(50.0)),
                        ms(l.pct(99.0))
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            baseline: format!("healthz p50 {}", ms(floor.pct(50.0))),
            ratio: realistic[1].1.pct(99.0).as_secs_f64() / floor.pct(50.0).as_secs_f64().max(1e-6),
            ratio_means: "p99 at 1,000/s × healthz p50",
            target: "p99 < 2 ms".into(),
            met: Some(
                realistic
                    .iter()
                    .all(|(_, l)| l.pct(99.0) < Duration::from_millis(2) && l.failed == 0),
            ),
            detail: "webhook answers cached by kube-apiserver for 2 min (its default): about \
                     100/s for 10,000 live tokens, 1,000/s when an apiserver restarts cold; \
                     3 s of each, test IdP paused"
                .into(),
        },
        Row {
            figure: "3 revoked token, very next review".into(),
            measured: format!(
                "before: authenticated {}, after: {}",
                before["status"]["authenticated"], after["status"]["authenticated"]
            ),
            baseline: "-".into(),
            ratio: f64::NAN,
            ratio_means: "",
            target: "refused".into(),
            met: Some(revoked_ok),
            detail: format!("error: {}", after["status"]["error"]),
        },
    ]
}

/// Stops a process (SIGSTOP) until dropped (SIGCONT).
pub struct Paused(libc::pid_t);

impl Paused {
    pub fn new(pid: u32) -> Paused {
        let pid = pid as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// Sessions (with a token each) for `alice` at `demo`, stored the way the
/// broker stores them; returns a sample of session ids and tokens.
fn seed(db: &Path, issuer: &str, n: usize) -> (Vec<String>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::open_sqlite(db).expect("state database");
        let now = kaccess::store::now_secs();
        let (mut ids, mut tokens) = (Vec::new(), Vec::new());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let s = Session {
                id: new_session_id(),
                cluster: "demo".into(),
                issuer: issuer.into(),
                subject: "alice".into(),
                username: "alice@example.com".into(),
                email: Some("alice@example.com".into()),
                reason: Some("BENCH-1".into()),
                started_at: now,
                expires_at: now + time::Duration::hours(8),
                revoked_at: None,
                revoked_by: None,
                elevation: None,
            };
            let (token, hash) = new_token();
            let entry = CredentialEntry {
                session_id: s.id.clone(),
                username: s.username.clone(),
                uid: s.subject.clone(),
                groups: vec!["kaccess:demo:sre".into()],
                expires_at: now + time::Duration::minutes(30),
            };
            if i % (n / 100).max(1) == 0 {
                ids.push(s.id.clone());
                tokens.push(token.expose().to_string());
            }
            let store = store.clone();
            tasks.spawn(async move {
                store
                    .add(Some(s), Some((CredentialKey::Token(hash), entry)))
                    .await
            });
            // Bounded in flight: the writer commits up to 1024 per batch.
            while tasks.len() >= 4096 {
                tasks
                    .join_next()
                    .await
                    .expect("task")
                    .expect("join")
                    .expect("stored");
            }
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("join").expect("stored");
        }
        (ids, tokens)
    })
}

/// One request after another on one connection per store size, the sizes
/// taking turns so disk and CPU noise from the shared machine falls on
/// all of them alike. Returns sorted latencies per size.
fn interleaved(
    targets: &[Target],
    reqs: &[Vec<Vec<u8>>],
    count: usize,
    ok: fn(u16, &[u8]) -> bool,
) -> Vec<Vec<u32>> {
    let mut conns: Vec<Conn> = targets.iter().map(Target::connect).collect();
    let mut lat = vec![Vec::with_capacity(count); targets.len()];
    for (c, r) in conns.iter_mut().zip(reqs) {
        let _ = c.send(&r[0]);
    }
    let sizes = conns.len();
    for i in 0..count {
        // Rotate who goes first: the first of a round runs on warmer caches.
        for j in 0..sizes {
            let k = (i + j) % sizes;
            let conn = &mut conns[k];
            let req = &reqs[k][i % reqs[k].len()];
            let t = Instant::now();
            let (status, body) = conn.send(req).expect("answer");
            assert!(
                ok(status, &body),
                "refused: {status} {}",
                String::from_utf8_lossy(&body)
            );
            lat[k].push(t.elapsed().as_micros() as u32);
        }
    }
    for l in &mut lat {
        l.sort_unstable();
    }
    lat
}

/// Figure 5: the same requests with 10, 1,000 and 100,000 sessions stored,
/// one broker per size, all running at once.
pub fn growth(world: &World, fx: &Fixture, s: &Settings) -> Vec<Row> {
    let yaml = std::fs::read_to_string(world.root().join("broker.yaml")).expect("broker.yaml");
    let mut brokers = Vec::new();
    let mut targets = Vec::new();
    let (mut cont, mut news, mut reviews, mut starts) = (vec![], vec![], vec![], vec![]);
    for &n in &s.growth {
        let dir = world.root().join(format!("growth-{n}"));
        std::fs::create_dir_all(&dir).expect("growth dir");
        let t = Instant::now();
        let (ids, tokens) = seed(&dir.join("state.db"), &fx.issuer, n);
        let seeded = t.elapsed();
        let config = world.root().join(format!("broker-growth-{n}.yaml"));
        let audit = dir.join("audit.jsonl");
        std::fs::write(
            &config,
            yaml.replace("sqlite: state.db", &format!("sqlite: growth-{n}/state.db"))
                .replace(
                    "file: audit.jsonl",
                    &format!("file: growth-{n}/audit.jsonl"),
                ),
        )
        .expect("config");
        let t = Instant::now();
        let broker = world::Broker::start(
            &crate::support::kaccess_bin(),
            &config,
            &audit,
            &world.broker.serving_ca_pem,
        );
        let started = t.elapsed();
        eprintln!(
            "bench: {n} sessions seeded in {}, broker started in {}",
            ms(seeded),
            ms(started)
        );
        starts.push(format!("{n}: {}", ms(started)));
        targets.push(Target::new(&broker.url, &broker.serving_ca_pem));
        cont.push(
            ids.iter()
                .map(|id| fx.continue_session(id))
                .collect::<Vec<_>>(),
        );
        news.push(vec![fx.new_session("certificate")]);
        reviews.push(tokens.iter().map(|t| review_request(t)).collect::<Vec<_>>());
        brokers.push(broker);
    }
    let c = interleaved(&targets, &cont, s.growth_exchanges, ok_200);
    let nw = interleaved(&targets, &news, s.growth_exchanges, ok_200);
    let r = interleaved(&targets, &reviews, s.growth_reviews, authenticated);
    for mut b in brokers {
        b.stop();
    }
    let figures: [(&str, &Vec<Vec<u32>>, f64); 4] = [
        ("exchange, continued p50", &c, 50.0),
        ("exchange, new session p50", &nw, 50.0),
        ("TokenReview p50", &r, 50.0),
        ("TokenReview p99", &r, 99.0),
    ];
    figures
        .iter()
        .enumerate()
        .map(|(i, (name, lat, p))| {
            let v: Vec<Duration> = lat.iter().map(|l| percentile(l, *p)).collect();
            let cols: Vec<String> = s
                .growth
                .iter()
                .zip(&v)
                .map(|(n, d)| format!("{n}: {}", ms(*d)))
                .collect();
            let ratio = v[v.len() - 1].as_secs_f64() / v[0].as_secs_f64().max(1e-6);
            Row {
                figure: format!("5 growth, {name} (1 client per size, taking turns)"),
                measured: cols.join(", "),
                baseline: format!("{} sessions", s.growth[0]),
                ratio,
                ratio_means: "largest ÷ smallest",
                target: "flat (≤ 1.5×)".into(),
                met: Some(ratio <= 1.5),
                // Said once, under the first growth row.
                detail: if i == 0 {
                    format!("broker start with N sessions stored: {}", starts.join(", "))
                } else {
                    String::new()
                },
            }
        })
        .collect()
}
