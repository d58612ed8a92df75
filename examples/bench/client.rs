//! The client side: `kaccess login` overhead from its own tracing spans
//! (figure 4) and the exec plugin's cache hit against a do-nothing binary
//! (figure 1).

use crate::stats::{median, ms, timed_run};
use crate::support::world::{World, run, text};
use crate::{Row, Settings};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Figure 4: from the IdP's token response to the session files on disk.
pub fn login(world: &World, runtime: &Path, s: &Settings) -> Vec<Row> {
    let mut totals = Vec::new();
    let mut spans_of_median = BTreeMap::new();
    let mut walls = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..s.logins {
        let mut cmd = world.kaccess(&[
            "login",
            "demo",
            "--flow",
            "device",
            "--token-store",
            "file",
            "--reason",
            "BENCH-1",
        ]);
        cmd.env("KACCESS_RUNTIME_DIR", runtime)
            .env("KACCESS_TRACE_TIMINGS", "1");
        let t = Instant::now();
        let out = run(cmd);
        let wall = t.elapsed();
        let err = text(&out.stderr);
        assert!(out.status.success(), "login failed:\n{err}");
        let spans: BTreeMap<String, u64> = err
            .lines()
            .filter_map(|l| l.strip_prefix("kaccess: timing "))
            .filter_map(|l| {
                let (name, us) = l.rsplit_once(' ')?;
                Some((name.to_string(), us.parse().ok()?))
            })
            .collect();
        let total = spans.get("login.accept_token").copied().unwrap_or(0)
            + spans
                .get("session.start")
                .copied()
                .expect("a session.start span");
        totals.push(total);
        walls.push(wall);
        runs.push((total, spans));
    }
    runs.sort_by_key(|r| r.0);
    if let Some((_, spans)) = runs.get(runs.len() / 2) {
        spans_of_median = spans.clone();
    }
    totals.sort_unstable();
    walls.sort_unstable();
    let overhead = Duration::from_micros(totals[totals.len() / 2]);
    let wall = walls[walls.len() / 2];
    let parts: Vec<String> = [
        "login.accept_token",
        "session.keygen",
        "session.exchange",
        "session.write",
        "session.reaper",
    ]
    .iter()
    .filter_map(|n| {
        spans_of_median
            .get(*n)
            .map(|us| format!("{n} {:.1}", *us as f64 / 1e3))
    })
    .collect();
    eprintln!(
        "bench: login spans (ms) of the median run: {}",
        parts.join(", ")
    );
    vec![Row {
        figure: format!("4 login overhead (median of {})", s.logins),
        measured: format!("{} token response → files", ms(overhead)),
        baseline: format!("whole login {} (device flow)", ms(wall)),
        ratio: overhead.as_secs_f64() / wall.as_secs_f64(),
        ratio_means: "share of login",
        target: "≤ 100 ms".into(),
        met: Some(overhead <= Duration::from_millis(100)),
        detail: parts.join(", ") + " (ms)",
    }]
}

/// Figure 1: `kaccess credential demo` on a cache hit, side by side with a
/// do-nothing binary from the same profile, runs interleaved.
pub fn credential(world: &World, runtime: &Path, label: &str, s: &Settings) -> Vec<Row> {
    let exe_dir = std::env::current_exe()
        .expect("current exe")
        .parent()
        .expect("examples dir")
        .to_path_buf();
    let noop = exe_dir.join("noop");
    assert!(noop.exists(), "build the `noop` example first");
    // client-go starts a new process per kubectl command; each sees its
    // first hand-out. Our pid stays the same, so forget our count.
    let counter = runtime
        .join("handouts")
        .join(format!("demo.{}", std::process::id()));
    let plugin = |extra: &[&str]| {
        let mut cmd = world.kaccess(&["credential", "demo"]);
        cmd.args(extra);
        cmd.env("KACCESS_RUNTIME_DIR", runtime)
            .env(
                "KUBERNETES_EXEC_INFO",
                r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    // It must be a hit: it answers, and the broker hears nothing.
    let _ = std::fs::remove_file(&counter);
    let first = run(plugin(&[]));
    assert!(
        first.status.success() && text(&first.stdout).contains("clientCertificateData"),
        "the plugin did not answer from its cache:\n{}",
        text(&first.stderr)
    );
    let audit_before = world.broker.audit().len();
    // With a flag the whole clap command tree is built: the plugin as it
    // was before the bare call got its own parse (issue 6).
    let full_parse = ["--lock-timeout", "30s"];
    let (mut k, mut n, mut f) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..s.plugin_runs {
        let (wall, code) = timed_run(Command::new(&noop).stdout(Stdio::null()));
        assert_eq!(code, 0);
        n.push(wall.as_micros() as u32);
        for (extra, into) in [(&[][..], &mut k), (&full_parse[..], &mut f)] {
            let _ = std::fs::remove_file(&counter);
            let (wall, code) = timed_run(&mut plugin(extra));
            assert_eq!(code, 0, "`kaccess credential demo` failed");
            into.push(wall.as_micros() as u32);
        }
    }
    let rss_k = peak_rss(&mut plugin(&[]), &counter);
    let rss_n = peak_rss(Command::new(&noop).stdout(Stdio::null()), &counter);
    let _ = std::fs::remove_file(&counter);
    assert_eq!(
        world.broker.audit().len(),
        audit_before,
        "a plugin run went to the broker: not a cache hit"
    );
    k.sort_unstable();
    n.sort_unstable();
    f.sort_unstable();
    let (mk, mn, mf) = (median(&k), median(&n), median(&f));
    let ratio = mk.as_secs_f64() / mn.as_secs_f64();
    let rss_mb = rss_k.unwrap_or(0) as f64 / 1024.0;
    let shown =
        |kb: Option<u64>| kb.map_or("n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    vec![Row {
        figure: format!(
            "1 credential cache hit, {label} (median of {})",
            s.plugin_runs
        ),
        measured: format!("{}, peak RSS {}", ms(mk), shown(rss_k)),
        baseline: format!("noop {}, RSS {}", ms(mn), shown(rss_n)),
        ratio,
        ratio_means: "× noop",
        target: "≤ 2.0×, ≤ 10 MB".into(),
        met: Some(ratio <= 2.0 && rss_k.is_some() && rss_mb <= 10.0),
        detail: format!(
            "with the full clap parse (as before): {} = {:.2} × noop; p10 {} vs noop {}; p90 {} vs {}",
            ms(mf),
            mf.as_secs_f64() / mn.as_secs_f64(),
            ms(crate::stats::percentile(&k, 10.0)),
            ms(crate::stats::percentile(&n, 10.0)),
            ms(crate::stats::percentile(&k, 90.0)),
            ms(crate::stats::percentile(&n, 90.0)),
        ),
    }]
}

/// Peak RSS (KiB) of `cmd` over a few runs, from GNU time: a child's
/// `ru_maxrss` seen by this process would include this process's own size
/// at the fork, so the measuring parent must be small.
fn peak_rss(cmd: &mut Command, counter: &Path) -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let out_file = std::env::temp_dir().join(format!("kaccess-bench-rss-{}", std::process::id()));
    let mut peak = 0;
    for _ in 0..20 {
        let _ = std::fs::remove_file(counter);
        let mut t = Command::new(time);
        t.arg("-f").arg("%M").arg("-o").arg(&out_file);
        t.arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => t.env(k, v),
                None => t.env_remove(k),
            };
        }
        let status = t
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        assert!(
            status.success(),
            "{:?} failed under /usr/bin/time",
            cmd.get_program()
        );
        let kb: u64 = std::fs::read_to_string(&out_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        peak = peak.max(kb);
    }
    let _ = std::fs::remove_file(&out_file);
    Some(peak)
}
