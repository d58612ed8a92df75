//! Figure 6: the access proxy against the same API stand-in reached
//! directly, in one run. "Direct" sends exactly what the proxy forwards:
//! the proxy's own service-account token with the person impersonated, so
//! the difference is the proxy (TLS termination, authentication in the
//! store, two audit records, forwarding).

use crate::broker::{Fixture, json_of};
use crate::load::{self, Conn, Pace, Target};
use crate::stats::{cpu_time, ms};
use crate::support::apiserver::events::EVENT_BYTES;
use crate::support::world::{PROXY_TOKEN, World, WorldOptions};
use crate::watch::{self, Watcher};
use crate::{Row, Settings};
use std::time::{Duration, Instant};

const PODS: &str = "/api/v1/namespaces/payments/pods";
/// The stand-in's fast watch (`tests/it/support/apiserver/events.rs`).
const CONFIGMAPS: &str = "/api/v1/namespaces/bench/configmaps";

fn ok_200(status: u16, _body: &[u8]) -> bool {
    status == 200
}

/// Resident set of `pid`, from /proc, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Lets this process hold `n` more sockets (soft limit up to the hard one).
fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The same for the broker, which holds one socket per client stream.
fn raise_nofile_of(pid: u32) {
    // SAFETY: prlimit on another process of ours; a refusal leaves it as is.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut lim,
        ) == 0
        {
            lim.rlim_cur = lim.rlim_max;
            libc::prlimit(
                pid as libc::pid_t,
                libc::RLIMIT_NOFILE,
                &lim,
                std::ptr::null_mut(),
            );
        }
    }
}

/// The two ways to the same stand-in and the same small GET for each:
/// through the proxy with the session's token, and direct with what the
/// proxy forwards (its own token, the person impersonated).
struct Legs {
    proxied: Target,
    direct: Target,
    through: Vec<u8>,
    straight: Vec<u8>,
}

impl Legs {
    fn of(world: &World, token: &str) -> Legs {
        Legs {
            proxied: Target::new(
                world.proxy_url.as_deref().expect("a proxied world"),
                &world.broker.serving_ca_pem,
            ),
            direct: Target::new(&world.api.url(), &world.api.ca_pem()),
            through: load::get_with(PODS, &format!("Authorization: Bearer {token}\r\n")),
            straight: load::get_with(
                PODS,
                &format!(
                    "Authorization: Bearer {PROXY_TOKEN}\r\nImpersonate-User: alice@example.com\r\n\
                     Impersonate-Group: kaccess:demo:sre\r\nImpersonate-Extra-Reason: BENCH-1\r\n"
                ),
            ),
        }
    }
}

/// What a lone proxied request must wait for before it is forwarded, by
/// itself: appending one record-sized line to a file beside the audit log
/// and `fdatasync`ing it, as the audit writer does with nothing to
/// group-commit with. (p50, p99).
fn sync_floor(dir: &std::path::Path, count: usize) -> (Duration, Duration) {
    use std::io::Write;
    let path = dir.join("sync-floor.jsonl");
    let mut f = std::fs::File::create(&path).expect("a file beside the audit log");
    let line = [b'x'; 399];
    let mut took: Vec<Duration> = (0..count)
        .map(|_| {
            let t = Instant::now();
            f.write_all(&line)
                .and_then(|()| f.write_all(b"\n"))
                .expect("append");
            f.sync_data().expect("fdatasync");
            t.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    took.sort();
    let at = |p: f64| took[((took.len() - 1) as f64 * p / 100.0) as usize];
    (at(50.0), at(99.0))
}

/// The same added latency with the audit log on tmpfs, where
/// `fdatasync` returns at once: what the proxy's own code adds, apart
/// from the wait for the `started` record to be durable. Not a target
/// (durability is the point of that wait), so `met` stays empty.
fn latency_with_audit_on_tmpfs(s: &Settings, count: usize) -> Row {
    let shm = std::path::Path::new("/dev/shm");
    let dir = tempfile::tempdir_in(if shm.is_dir() {
        shm
    } else {
        std::path::Path::new("/tmp")
    })
    .expect("a temp dir for the audit log");
    let world = World::start(WorldOptions {
        proxied: true,
        audit_file: Some(dir.path().join("audit.jsonl")),
        ..WorldOptions::default()
    });
    crate::pin::pin_process(world.broker.pid(), crate::pin::cpus());
    let fx = Fixture::new(&world);
    let issued = json_of(&mut fx.target.connect(), &fx.new_session("token"));
    let token = issued["token"].as_str().expect("token");
    let Legs {
        proxied,
        direct,
        through,
        straight,
    } = Legs::of(&world, token);
    let one = |t: &Target, r: &[u8]| load::run(t, 1, count, s.deadline, Pace::Closed, r, ok_200);
    eprintln!("bench: 6 latency with the audit log on tmpfs, {count} GETs each way");
    let lat_direct = one(&direct, &straight);
    let lat_proxied = one(&proxied, &through);
    let added = |p: f64| lat_proxied.pct(p).saturating_sub(lat_direct.pct(p));
    let tmpfs = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains("tmpfs"));
    Row {
        figure: "6 proxy, added latency of a small GET, audit log on tmpfs (no sync wait)".into(),
        measured: format!("p50 +{}, p99 +{}", ms(added(50.0)), ms(added(99.0))),
        baseline: format!(
            "direct p50 {}, p99 {}",
            ms(lat_direct.pct(50.0)),
            ms(lat_direct.pct(99.0))
        ),
        ratio: lat_proxied.pct(50.0).as_secs_f64() / lat_direct.pct(50.0).as_secs_f64().max(1e-6),
        ratio_means: "p50 × direct",
        target: "- (the proxy's own share of the row above)".into(),
        met: None,
        detail: format!(
            "audit log in {}{}; {} failed",
            dir.path().display(),
            if tmpfs {
                " (tmpfs)"
            } else {
                " (not tmpfs: the figure includes a real sync)"
            },
            lat_proxied.failed
        ),
    }
}

pub fn proxy(s: &Settings) -> Vec<Row> {
    let world = World::start(WorldOptions {
        proxied: true,
        ..WorldOptions::default()
    });
    crate::pin::pin_process(world.broker.pid(), crate::pin::cpus());
    let fx = Fixture::new(&world);
    let mut broker = fx.target.connect();
    let issued = json_of(&mut broker, &fx.new_session("token"));
    let token = issued["token"].as_str().expect("token").to_string();
    let Legs {
        proxied,
        direct,
        through,
        straight,
    } = Legs::of(&world, &token);
    for (name, target, req) in [
        ("proxied", &proxied, &through),
        ("direct", &direct, &straight),
    ] {
        let (status, body) = target.connect().send(req).expect("an answer");
        assert_eq!(
            status,
            200,
            "{name} GET {PODS}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // Added latency: one connection, one request at a time, each way.
    let count = s.reviews / 10;
    let one = |t: &Target, r: &[u8]| load::run(t, 1, count, s.deadline, Pace::Closed, r, ok_200);
    eprintln!("bench: 6 latency, {count} GETs each way");
    let lat_direct = one(&direct, &straight);
    let lat_proxied = one(&proxied, &through);
    let added = |p: f64| lat_proxied.pct(p).saturating_sub(lat_direct.pct(p));
    let on_tmpfs = latency_with_audit_on_tmpfs(s, count);
    let floor = sync_floor(
        world
            .broker
            .audit_path
            .parent()
            .expect("the audit log's dir"),
        count,
    );

    // Throughput at 64 connections.
    let many = |t: &Target, r: &[u8]| {
        load::run(
            t,
            s.clients,
            s.reviews / 2,
            s.deadline,
            Pace::Closed,
            r,
            ok_200,
        )
    };
    eprintln!("bench: 6 throughput");
    let rate_direct = many(&direct, &straight);
    let rate_proxied = many(&proxied, &through);
    let share = rate_proxied.rate() / rate_direct.rate();

    // Watch event throughput: one watch of N events at a time, each way
    // in turn, so a burst of noise falls on both.
    eprintln!(
        "bench: 6 watch event throughput, {} events each way, 3 rounds",
        s.watch_events
    );
    let events_path = format!("{CONFIGMAPS}?watch=true&events={}", s.watch_events);
    let bearer = format!("Bearer {token}");
    let watch_proxied = Watcher::new(
        world.proxy_url.as_deref().expect("a proxied world"),
        &world.broker.serving_ca_pem,
        &[("authorization", bearer.as_str())],
    );
    let proxy_bearer = format!("Bearer {PROXY_TOKEN}");
    let watch_direct = Watcher::new(
        &world.api.url(),
        &world.api.ca_pem(),
        &[
            ("authorization", proxy_bearer.as_str()),
            ("impersonate-user", "alice@example.com"),
            ("impersonate-group", "kaccess:demo:sre"),
            ("impersonate-extra-reason", "BENCH-1"),
        ],
    );
    let (mut through_rounds, mut direct_rounds) = (Vec::new(), Vec::new());
    // The proxy's CPU while it streams: near one core, it is the limit.
    let (mut proxy_cpu, mut proxy_wall) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        direct_rounds.push(watch_direct.drain(&events_path, s.deadline));
        let cpu0 = cpu_time(world.broker.pid());
        let round = watch_proxied.drain(&events_path, s.deadline);
        proxy_cpu += cpu_time(world.broker.pid()).saturating_sub(cpu0);
        proxy_wall += round.wall;
        through_rounds.push(round);
    }
    let proxy_cores = proxy_cpu.as_secs_f64() / proxy_wall.as_secs_f64().max(1e-9);
    let every_event = direct_rounds
        .iter()
        .chain(&through_rounds)
        .all(|d| d.events == s.watch_events as u64);
    let rates = |rounds: &[watch::Drained]| {
        rounds
            .iter()
            .map(|d| format!("{:.0}", d.events_per_s()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail_rounds = format!(
        "events/s by round: proxied {}, direct {}",
        rates(&through_rounds),
        rates(&direct_rounds)
    );
    let events_through = watch::median(through_rounds);
    let events_direct = watch::median(direct_rounds);
    let events_share = events_through.events_per_s() / events_direct.events_per_s();

    // Idle watches held open through the proxy: the broker's RSS per stream.
    eprintln!("bench: 6 idle watches and revocation");
    raise_nofile();
    let pid = world.broker.pid();
    raise_nofile_of(pid);
    let watches = if s.reviews >= 100_000 { 1_000 } else { 300 };
    let watch = load::get_with(
        &format!("{PODS}?watch=true"),
        &format!("Authorization: Bearer {token}\r\n"),
    );
    let before = rss_kib(pid);
    let mut held: Vec<Conn> = Vec::with_capacity(watches);
    for _ in 0..watches {
        let mut c = proxied.connect();
        match c.open_stream(&watch) {
            Ok(200) => held.push(c),
            other => {
                eprintln!("bench: 6 a watch through the proxy failed: {other:?}");
                break;
            }
        }
    }
    eprintln!("bench: 6 {} of {watches} watches open", held.len());
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    let per_stream = after.saturating_sub(before) as f64 / held.len().max(1) as f64;

    // Revocation to stream closed: the held watches, cut by one revoke.
    let revoke = load::post(
        &kaccess::protocol::revoke_path(issued["session_id"].as_str().expect("session_id")),
        Some(&fx.id_token),
        "{}",
    );
    // A new connection: the broker closed the first one while it idled.
    let mut broker = fx.target.connect();
    let revoked_at = Instant::now();
    json_of(&mut broker, &revoke);
    let mut closed: Vec<Duration> = held
        .iter_mut()
        .map(|c| {
            c.wait_closed(Duration::from_secs(5))
                .map_or(Duration::MAX, |t| t.duration_since(revoked_at))
        })
        .collect();
    closed.sort();
    let all_closed = closed.last().is_some_and(|d| *d <= Duration::from_secs(1));
    let last = closed.last().copied().unwrap_or(Duration::MAX);

    let p50 = added(50.0);
    let p99 = added(99.0);
    vec![
        Row {
            figure: "6 proxy, added latency of a small GET (1 connection)".into(),
            measured: format!("p50 +{}, p99 +{}", ms(p50), ms(p99)),
            baseline: format!(
                "direct p50 {}, p99 {}",
                ms(lat_direct.pct(50.0)),
                ms(lat_direct.pct(99.0))
            ),
            ratio: lat_proxied.pct(50.0).as_secs_f64()
                / lat_direct.pct(50.0).as_secs_f64().max(1e-6),
            ratio_means: "p50 × direct",
            target: "p50 ≤ 0.5 ms, p99 ≤ 2 ms added".into(),
            met: Some(
                p50 <= Duration::from_micros(500)
                    && p99 <= Duration::from_millis(2)
                    && lat_proxied.failed == 0,
            ),
            detail: format!(
                "{count} GETs each way; proxied p50 {}, p99 {}; two audit records per proxied request; \
                 the `started` record's wait alone, one 400-byte append and `fdatasync` on the audit log's \
                 filesystem, {count} times: p50 {}, p99 {}",
                ms(lat_proxied.pct(50.0)),
                ms(lat_proxied.pct(99.0)),
                ms(floor.0),
                ms(floor.1),
            ),
        },
        on_tmpfs,
        Row {
            figure: format!("6 proxy, requests/s ({} connections)", s.clients),
            measured: format!("{:.0}/s", rate_proxied.rate()),
            baseline: format!("direct {:.0}/s", rate_direct.rate()),
            ratio: share,
            ratio_means: "of direct",
            target: "≥ 0.5 of direct".into(),
            met: Some(share >= 0.5 && rate_proxied.failed == 0),
            detail: format!(
                "{} failed proxied, {} direct",
                rate_proxied.failed, rate_direct.failed
            ),
        },
        Row {
            figure: format!(
                "6 proxy, watch event throughput (one watch of {} events, {EVENT_BYTES} B each)",
                s.watch_events
            ),
            measured: format!(
                "{:.0} events/s, {:.0} MB/s",
                events_through.events_per_s(),
                events_through.mb_per_s()
            ),
            baseline: format!(
                "direct {:.0} events/s, {:.0} MB/s",
                events_direct.events_per_s(),
                events_direct.mb_per_s()
            ),
            ratio: events_share,
            ratio_means: "of direct",
            target: "≥ 0.9 of direct".into(),
            met: Some(events_share >= 0.9 && every_event),
            detail: format!(
                "median of 3 rounds each way, in turns; {} to the proxy, {} direct; \
                 broker (proxy) CPU {proxy_cores:.2} cores while proxying; {detail_rounds}{}",
                events_through.version,
                events_direct.version,
                if every_event {
                    String::new()
                } else {
                    "; SOME WATCHES ENDED SHORT".into()
                }
            ),
        },
        Row {
            figure: "6 proxy, idle watches held".into(),
            measured: format!(
                "{} of {watches} held, {per_stream:.1} KiB broker RSS each",
                held.len()
            ),
            baseline: format!("broker RSS {} MiB before", before / 1024),
            ratio: f64::NAN,
            ratio_means: "",
            target: format!("all {watches} held"),
            met: Some(held.len() == watches),
            detail: format!("broker RSS {} MiB with them open", after / 1024),
        },
        Row {
            figure: "6 proxy, revocation to stream closed".into(),
            measured: if last == Duration::MAX {
                "some streams never closed (5 s)".into()
            } else {
                format!(
                    "median {}, last of {} {}",
                    ms(closed[closed.len() / 2]),
                    closed.len(),
                    ms(last)
                )
            },
            baseline: "-".into(),
            ratio: f64::NAN,
            ratio_means: "",
            target: "≤ 1 s".into(),
            met: Some(all_closed),
            detail: "counted from the revoke request's send; every held watch".into(),
        },
    ]
}
