//! Figure 9 (issue 12): the broker on PostgreSQL state against the broker
//! on SQLite, in one run. A private PostgreSQL cluster
//! (`tests/it/support/postgres.rs`, fsync on) and three fresh brokers of
//! the world's configuration but for `state:` and `audit:`: one on SQLite
//! (audit file), replicas A and B on the database (audit chain in it).
//! Every broker is pinned to the broker's CPUs; the database server runs
//! on the load generator's, as it would run on a machine of its own.
//! - Exchanges/s, figure 2's load (64 clients, closed loop), at the SQLite
//!   broker and at A in turn; target ≥ 0.5 of SQLite.
//! - TokenReview at 1,000/s offered (figure 3's cold-apiserver rate), open
//!   loop, test IdP paused, the two brokers taking turns in 1 s slices (10 each);
//!   target p99 within 1.2× of SQLite.
//! - Revocation between replicas: a token session issued at A and known
//!   at B, revoked at A while B is asked about it every millisecond;
//!   the time from the revoke's send to B's first refusal; target ≤ 1 s.

use crate::broker::{Fixture, Paused, authenticated, json_of, ok_200, review_request};
use crate::load::{self, Conn, Load, Pace, Target};
use crate::stats::{Propagation, merge, ms, percentile};
use crate::support::postgres::Postgres;
use crate::support::world::{self, World};
use crate::{Row, Settings};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `yaml` (the world's `broker.yaml`) with its top-level `state:` and
/// `audit:` lines replaced by `state_and_audit`, everything else kept.
pub fn with_state(yaml: &str, state_and_audit: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + state_and_audit.len());
    let mut replaced = false;
    for line in yaml.lines() {
        if line.starts_with("state:") || line.starts_with("audit:") {
            if !replaced {
                out.push_str(state_and_audit.trim_end());
                out.push('\n');
                replaced = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(replaced, "broker.yaml has no `state:` line:\n{yaml}");
    out
}

struct Brokers {
    sqlite: world::Broker,
    a: world::Broker,
    b: world::Broker,
}

fn start_brokers(world: &World, pg: &Postgres) -> Brokers {
    let yaml = std::fs::read_to_string(world.root().join("broker.yaml")).expect("broker.yaml");
    let dir = world.root().join("pg-bench");
    std::fs::create_dir_all(&dir).expect("pg-bench dir");
    let audit = dir.join("audit.jsonl");
    let write = |name: &str, state: &str| -> PathBuf {
        let path = world.root().join(name);
        std::fs::write(&path, with_state(&yaml, state)).expect("broker config");
        path
    };
    let sqlite = write(
        "broker-bench-sqlite.yaml",
        &format!(
            "state: {{sqlite: pg-bench/state.db}}\naudit: {{file: {}}}",
            audit.display()
        ),
    );
    let state = pg.state_yaml();
    let (a, b) = (
        write("broker-bench-pg-a.yaml", &state),
        write("broker-bench-pg-b.yaml", &state),
    );
    let start = |config: &Path| {
        let b = world::Broker::start(
            &crate::support::kaccess_bin(),
            config,
            &audit,
            &world.broker.serving_ca_pem,
        );
        crate::pin::pin_process(b.pid(), crate::pin::cpus());
        b
    };
    Brokers {
        sqlite: start(&sqlite),
        a: start(&a),
        b: start(&b),
    }
}

fn target(b: &world::Broker) -> Target {
    Target::new(&b.url, &b.serving_ca_pem)
}

pub fn state(world: &World, s: &Settings) -> Vec<Row> {
    let pg = Postgres::start_durable();
    let brokers = start_brokers(world, &pg);
    let fx = Fixture::new(world);
    let (lite, a, b) = (
        target(&brokers.sqlite),
        target(&brokers.a),
        target(&brokers.b),
    );
    let mut rows = exchanges(&fx, &lite, &a, s);
    rows.push(reviews(world, &fx, &lite, &a, s));
    rows.push(revocation(
        &fx,
        &a,
        &b,
        if s.reviews >= 100_000 { 50 } else { 20 },
    ));
    drop(brokers);
    drop(pg);
    rows
}

fn exchanges(fx: &Fixture, lite: &Target, pg: &Target, s: &Settings) -> Vec<Row> {
    let session_at = |t: &Target| {
        let first = json_of(&mut t.connect(), &fx.new_session("certificate"));
        first["session_id"]
            .as_str()
            .expect("session_id")
            .to_string()
    };
    let (lite_session, pg_session) = (session_at(lite), session_at(pg));
    let run = |t: &Target, req: &[u8]| {
        load::run(
            t,
            s.clients,
            s.exchanges,
            s.deadline,
            Pace::Closed,
            req,
            ok_200,
        )
    };
    let new = fx.new_session("certificate");
    let kinds = [
        ("new session", new.clone(), new),
        (
            "continued",
            fx.continue_session(&lite_session),
            fx.continue_session(&pg_session),
        ),
    ];
    kinds
        .into_iter()
        .map(|(label, on_lite, on_pg)| {
            let l = run(lite, &on_lite);
            let p = run(pg, &on_pg);
            let ratio = p.rate() / l.rate();
            let shown = |x: &Load| {
                format!(
                    "{:.0}/s, p50 {}, p99 {} ({} failed)",
                    x.rate(),
                    ms(x.pct(50.0)),
                    ms(x.pct(99.0)),
                    x.failed
                )
            };
            Row {
                figure: format!(
                    "9 PostgreSQL state, exchange, certificate, {label} ({} clients)",
                    s.clients
                ),
                measured: shown(&p),
                baseline: format!("SQLite {}", shown(&l)),
                ratio,
                ratio_means: "of SQLite",
                target: "≥ 0.5 of SQLite".into(),
                met: Some(ratio >= 0.5 && p.failed == 0 && l.failed == 0),
                detail: format!("{} exchanges each, SQLite first", s.exchanges),
            }
        })
        .collect()
}

fn reviews(world: &World, fx: &Fixture, lite: &Target, pg: &Target, s: &Settings) -> Row {
    let review_at = |t: &Target| {
        let issued = json_of(&mut t.connect(), &fx.new_session("token"));
        review_request(issued["token"].as_str().expect("token"))
    };
    let (on_lite, on_pg) = (review_at(lite), review_at(pg));
    const RATE: f64 = 1_000.0;
    let (mut lites, mut pgs) = (Vec::new(), Vec::new());
    {
        let _paused = Paused::new(world.idp.pid());
        for _ in 0..s.review_slices {
            let slice = |t: &Target, req: &[u8]| {
                load::run(
                    t,
                    s.clients,
                    RATE as usize,
                    s.deadline,
                    Pace::Open(RATE),
                    req,
                    authenticated,
                )
            };
            lites.push(slice(lite, &on_lite));
            pgs.push(slice(pg, &on_pg));
        }
    }
    let (l, p) = (merge(lites), merge(pgs));
    // The closed loop's rate, for the record: a full load queues on the
    // broker's core, so its p99 is not the figure.
    let max = |t: &Target, req: &[u8]| {
        load::run(
            t,
            s.clients,
            s.reviews,
            s.deadline,
            Pace::Closed,
            req,
            authenticated,
        )
    };
    let (lm, pm) = (max(lite, &on_lite), max(pg, &on_pg));
    let ratio = p.pct(99.0).as_secs_f64() / l.pct(99.0).as_secs_f64().max(1e-6);
    Row {
        figure: "9 PostgreSQL state, TokenReview at 1,000/s offered".into(),
        measured: format!("p50 {}, p99 {}", ms(p.pct(50.0)), ms(p.pct(99.0))),
        baseline: format!("SQLite p50 {}, p99 {}", ms(l.pct(50.0)), ms(l.pct(99.0))),
        ratio,
        ratio_means: "p99 × SQLite",
        target: "p99 ≤ 1.2× SQLite".into(),
        met: Some(ratio <= 1.2 && p.failed == 0 && l.failed == 0),
        detail: format!(
            "{} × 1 s slices each, in turns, test IdP paused, latency from when each review was due; \
             max rate ({} clients, closed loop): PostgreSQL {:.0}/s p99 {}, SQLite {:.0}/s p99 {}",
            s.review_slices,
            s.clients,
            pm.rate(),
            ms(pm.pct(99.0)),
            lm.rate(),
            ms(lm.pct(99.0))
        ),
    }
}

/// Polls `review` at `conn` every millisecond until the answer is
/// `want` (authenticated or not), or `limit` passes since `from`.
fn until(
    conn: &mut Conn,
    review: &[u8],
    want: bool,
    from: Instant,
    limit: Duration,
) -> Option<Duration> {
    loop {
        let v = json_of(conn, review);
        if (v["status"]["authenticated"] == true) == want {
            return Some(from.elapsed());
        }
        if from.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn revocation(fx: &Fixture, a: &Target, b: &Target, n: usize) -> Row {
    let limit = Duration::from_secs(5);
    let (mut at_a, mut revoker, mut at_b) = (a.connect(), a.connect(), b.connect());
    let mut times = Vec::with_capacity(n);
    let mut answered = Vec::with_capacity(n);
    for _ in 0..n {
        let issued = json_of(&mut at_a, &fx.new_session("token"));
        let review = review_request(issued["token"].as_str().expect("token"));
        let session = issued["session_id"].as_str().expect("session_id");
        until(&mut at_b, &review, true, Instant::now(), limit)
            .expect("replica B accepts a token issued at A");
        let revoke = load::post(
            &kaccess::protocol::revoke_path(session),
            Some(&fx.id_token),
            "{}",
        );
        let sent = Instant::now();
        // The revoke on a thread of its own: B is asked while A is still
        // answering, so the time is B's, not A's round trip plus B's.
        let (seen, took) = std::thread::scope(|scope| {
            let revoking = scope.spawn(|| {
                let v = json_of(&mut revoker, &revoke);
                assert_eq!(v["revoked"], true, "the revoke at A: {v}");
                sent.elapsed()
            });
            let seen = until(&mut at_b, &review, false, sent, limit);
            (seen, revoking.join().expect("the revoke"))
        });
        times.push(seen);
        answered.push(took.as_micros().min(u32::MAX as u128) as u32);
    }
    answered.sort_unstable();
    let p = Propagation::new(&times);
    Row {
        figure: format!("9 PostgreSQL state, revocation between replicas ({n} revokes)"),
        measured: format!("p50 {}, max {}", ms(p.p50()), ms(p.max())),
        baseline: "-".into(),
        ratio: f64::NAN,
        ratio_means: "",
        target: "≤ 1 s (max)".into(),
        met: Some(p.within(Duration::from_secs(1))),
        detail: format!(
            "from the revoke's send at A to B's first refusing review, B asked every 1 ms; \
             {} of {} seen within 5 s; A answered the revoke in p50 {}, max {}",
            p.count() - p.missed,
            p.count(),
            ms(percentile(&answered, 50.0)),
            ms(percentile(&answered, 100.0))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_state_and_audit_lines_are_replaced() {
        let yaml = "listen: 127.0.0.1:0\nstate: {sqlite: state.db}\naudit: {file: /x/audit.jsonl}\nadmin-groups: []\nclusters:\n  demo:\n    ca: {cert-file: c}\n";
        let got = with_state(
            yaml,
            "state: {postgres: {url: u}}\naudit: {stdout: false}\n",
        );
        assert_eq!(
            got,
            "listen: 127.0.0.1:0\nstate: {postgres: {url: u}}\naudit: {stdout: false}\nadmin-groups: []\nclusters:\n  demo:\n    ca: {cert-file: c}\n"
        );
    }

    #[test]
    #[should_panic(expected = "no `state:` line")]
    fn a_config_without_state_is_refused_rather_than_left_on_sqlite() {
        with_state("listen: 127.0.0.1:0\n", "state: {postgres: {url: u}}");
    }
}
