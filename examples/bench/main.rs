//! The bench driver behind `scripts/bench` (issue 6). It starts a whole
//! kaccess world on 127.0.0.1 (the real OIDC provider, `kaccess serve`, the
//! API stand-in), measures every figure of issue 6 side by side with its
//! baseline in this same run, and prints one table on stdout (progress and
//! detail on stderr). Build it with `kaccess`, `kaccess-credential` and the
//! `noop` example in the same profile: `cargo build --release --bin kaccess
//! --bin kaccess-credential --example noop --example bench`.
//!
//! `--quick` shrinks counts (and the largest store) for a smoke run.
//! `--only 1,3` measures only those figures (the table says so).
//! `--runs N` measures each figure N times (default 3; see `repeat`).

#[path = "../../tests/it/support/mod.rs"]
mod support;

mod audit;
mod broker;
mod client;
mod load;
mod pin;
mod postgres;
mod proxy;
mod recording;
mod repeat;
mod stats;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::world::{World, WorldOptions};

/// Counts and bounds of one run.
pub struct Settings {
    pub clients: usize,
    pub logins: usize,
    pub plugin_runs: usize,
    pub exchanges: usize,
    pub reviews: usize,
    pub deadline: Duration,
    pub growth: Vec<usize>,
    pub growth_exchanges: usize,
    pub growth_reviews: usize,
    /// MiB echoed through one exec stream (figure 8).
    pub stream_mib: usize,
    /// Chain sizes for figure 7, smallest first.
    pub audit_records: Vec<usize>,
    /// Events in one watch (figure 6's watch event throughput).
    pub watch_events: usize,
    /// 1 s open-loop slices per broker for figure 9's TokenReview p99:
    /// the p99 of 3,000 reviews is their 30th worst, which a few stalls
    /// of the shared machine decide (runs of 1.03–1.63× at stop 18).
    pub review_slices: usize,
}

impl Settings {
    fn full() -> Settings {
        Settings {
            clients: 64,
            logins: 5,
            plugin_runs: 300,
            exchanges: 3_000,
            reviews: 100_000,
            deadline: Duration::from_secs(30),
            growth: vec![10, 1_000, 100_000],
            growth_exchanges: 200,
            growth_reviews: 3_000,
            stream_mib: 64,
            audit_records: vec![100_000, 1_000_000],
            watch_events: 100_000,
            review_slices: 10,
        }
    }

    fn quick() -> Settings {
        Settings {
            logins: 2,
            plugin_runs: 200,
            exchanges: 500,
            reviews: 10_000,
            deadline: Duration::from_secs(10),
            growth: vec![10, 1_000, 10_000],
            growth_exchanges: 50,
            growth_reviews: 500,
            stream_mib: 8,
            audit_records: vec![10_000, 100_000],
            watch_events: 20_000,
            review_slices: 3,
            ..Settings::full()
        }
    }
}

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub baseline: String,
    pub ratio: f64,
    pub ratio_means: &'static str,
    pub target: String,
    pub met: Option<bool>,
    pub detail: String,
}

/// A private runtime dir on tmpfs when there is one, as
/// `$XDG_RUNTIME_DIR/kaccess` is on a desktop; removed on drop.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn new(tmpfs: bool, fallback: PathBuf) -> RuntimeDir {
        use std::os::unix::fs::DirBuilderExt;
        let shm = PathBuf::from("/dev/shm");
        let dir = if tmpfs && shm.is_dir() {
            shm.join(format!("kaccess-bench-{}", std::process::id()))
        } else {
            fallback
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .expect("runtime dir");
        RuntimeDir(dir)
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        support::world::stop_reapers(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only = figures_wanted();
    let runs = runs_wanted();
    let wants = |figure: u8| only.as_ref().is_none_or(|f| f.contains(&figure));
    let s = if quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    let cpus = pin::cpus();
    // Before any thread or child: they inherit the load generator's CPUs.
    let pinned_self = pin::pin_self(cpus);
    let started = Instant::now();
    let load_before = stats::load_average();
    eprintln!("bench: starting the IdP, the broker and the API stand-in on 127.0.0.1");
    let world = World::start(WorldOptions::default());
    let pinned = pinned_self && pin::pin_process(world.broker.pid(), cpus);
    let pinning = pin::describe(cpus, pinned);
    eprintln!("bench: {pinning}");
    let tmpfs = RuntimeDir::new(true, world.runtime.clone());
    let disk = RuntimeDir::new(false, world.root().join("run-disk"));
    let mut all_runs = Vec::new();
    for run in 1..=runs {
        eprintln!("bench: run {run} of {runs}");
        // A fresh ID token each run: the broker wants an MFA login at most
        // 10 minutes old for a new session, and three runs take longer.
        let fx = broker::Fixture::new(&world);
        all_runs.push(measure(&world, &fx, &tmpfs, &disk, &s, &wants, run == 1));
    }
    let rows = repeat::combine(all_runs);

    let load = format!("{load_before} → {}", stats::load_average());
    let mut scope = format!(", {runs} run(s) of each figure; {pinning}");
    if quick {
        scope.push_str(", QUICK counts");
    }
    if let Some(f) = &only {
        let f: Vec<String> = f.iter().map(u8::to_string).collect();
        scope.push_str(&format!(", only figures {}", f.join(",")));
    }
    print_table(&rows, started.elapsed(), &scope, &load);
    drop(disk);
    drop(tmpfs);
    drop(world);
    if rows.iter().any(|r| r.verdict == repeat::Verdict::Missed) {
        std::process::exit(1);
    }
}

/// One run of every wanted figure. The first run also makes the sessions
/// the cache-hit figure hits.
fn measure(
    world: &World,
    fx: &broker::Fixture,
    tmpfs: &RuntimeDir,
    disk: &RuntimeDir,
    s: &Settings,
    wants: &dyn Fn(u8) -> bool,
    first: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let one = Settings {
        logins: 1,
        ..Settings::quick()
    };
    if wants(4) {
        eprintln!("bench: 4 login overhead");
        rows.extend(client::login(world, &tmpfs.0, s));
    }
    if wants(1) {
        eprintln!("bench: 1 credential cache hit");
        if !wants(4) && first {
            let _ = client::login(world, &tmpfs.0, &one);
        }
        rows.extend(client::credential(
            world,
            &tmpfs.0,
            "runtime dir on tmpfs",
            s,
        ));
        // The same on disk: where the runtime dir lives without XDG_RUNTIME_DIR.
        if disk.0 != tmpfs.0 {
            if first {
                let _ = client::login(world, &disk.0, &one);
            }
            rows.extend(client::credential(world, &disk.0, "runtime dir on disk", s));
        }
    }
    if wants(2) {
        eprintln!("bench: 2 exchanges");
        rows.extend(broker::exchanges(world, fx, s));
    }
    if wants(3) {
        eprintln!("bench: 3 TokenReview");
        rows.extend(broker::reviews(world, fx, s));
    }
    if wants(5) {
        eprintln!("bench: 5 growth");
        rows.extend(broker::growth(world, fx, s));
    }
    if wants(6) {
        eprintln!("bench: 6 access proxy");
        rows.extend(proxy::proxy(s));
    }
    if wants(7) {
        eprintln!("bench: 7 audit report");
        rows.extend(audit::report(s));
    }
    if wants(8) {
        eprintln!("bench: 8 recording overhead on an exec stream");
        rows.extend(recording::overhead(s));
    }
    if wants(9) {
        eprintln!("bench: 9 PostgreSQL state against SQLite");
        rows.extend(postgres::state(world, s));
    }
    rows
}

/// `--runs N`: how many times each figure is measured (default 3).
fn runs_wanted() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let Some(value) = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--runs=")
            .map(str::to_string)
            .or_else(|| (a == "--runs").then(|| args.get(i + 1).cloned().unwrap_or_default()))
    }) else {
        return 3;
    };
    match value.parse::<usize>() {
        Ok(n @ 1..=20) => n,
        _ => {
            eprintln!("bench: error: `--runs {value}`: a number of runs from 1 to 20");
            eprintln!("help: scripts/bench --runs 3");
            std::process::exit(2);
        }
    }
}

/// `--only 1,3` (or `--only=3`): the figures to measure; all when absent.
fn figures_wanted() -> Option<Vec<u8>> {
    let args: Vec<String> = std::env::args().collect();
    let list = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--only=")
            .map(str::to_string)
            .or_else(|| (a == "--only").then(|| args.get(i + 1).cloned().unwrap_or_default()))
    })?;
    let figures: Vec<u8> = list
        .split(',')
        .map(|f| match f.trim().parse::<u8>() {
            Ok(n @ 1..=9) => n,
            _ => {
                eprintln!(
                    "bench: error: `--only {list}`: figures are numbers 1 to 9, comma-separated"
                );
                eprintln!("help: scripts/bench --only 3");
                std::process::exit(2);
            }
        })
        .collect();
    Some(figures)
}

fn print_table(rows: &[repeat::Combined], took: Duration, scope: &str, load: &str) {
    let cores = pin::cpus();
    // target/<profile>/examples/bench
    let profile = std::env::current_exe()
        .ok()
        .and_then(|e| {
            Some(
                e.parent()?
                    .parent()?
                    .file_name()?
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .unwrap_or_default();
    let build = std::env::var("KACCESS_BENCH_BUILD_SECS")
        .map(|b| format!(" after a {b} s build"))
        .unwrap_or_default();
    println!(
        "kaccess bench: {cores} cores (1-min load average {load}), `{profile}` build, everything on 127.0.0.1{}; measured in {:.0} s{build}",
        scope,
        took.as_secs_f64()
    );
    println!();
    println!(
        "| figure | measured (median run) | baseline (same run) | ratio: median (min–max) | target | met |\n|---|---|---|---|---|---|"
    );
    for c in rows {
        let r = &c.row;
        let ratio = if r.ratio.is_nan() {
            "-".to_string()
        } else if c.runs > 1 {
            format!(
                "{:.2} ({:.2}–{:.2}) {}",
                r.ratio, c.min, c.max, r.ratio_means
            )
        } else {
            format!("{:.2} {}", r.ratio, r.ratio_means)
        };
        let met = match c.verdict {
            repeat::Verdict::Met => "yes",
            repeat::Verdict::Missed => "**no**",
            repeat::Verdict::Noisy => "noisy",
            repeat::Verdict::Untargeted => "-",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.measured, r.baseline, ratio, r.target, met
        );
    }
    println!();
    for c in rows {
        if !c.row.detail.is_empty() {
            println!("- {}: {}", c.row.figure, c.row.detail);
        }
    }
}
