//! The client side: `kaccess login` overhead from its own tracing spans
//! (figure 4) and the exec plugin's cache hit against `/bin/true`
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

/// The session kubeconfig's exec stanza: what kubectl runs, with its
/// arguments and environment.
fn exec_stanza(runtime: &Path) -> Command {
    let path = runtime.join("sessions").join("demo.kubeconfig");
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("the session kubeconfig"))
            .expect("kubeconfig YAML");
    let exec = &yaml["users"][0]["user"]["exec"];
    let mut cmd = Command::new(exec["command"].as_str().expect("exec command"));
    for arg in exec["args"].as_sequence().into_iter().flatten() {
        cmd.arg(arg.as_str().expect("exec arg"));
    }
    for var in exec["env"].as_sequence().into_iter().flatten() {
        cmd.env(
            var["name"].as_str().expect("env name"),
            var["value"].as_str().expect("env value"),
        );
    }
    cmd
}

/// Figure 1: the exec plugin on a cache hit, run exactly as the session
/// kubeconfig's exec stanza says (the small `kaccess-credential` when it is
/// installed beside `kaccess`), side by side with `/bin/true`, a do-nothing
/// C binary; runs interleaved. `kaccess credential demo` itself and the
/// `noop` example (a do-nothing Rust binary, same profile) are measured in
/// the same loop for the detail line.
pub fn credential(world: &World, runtime: &Path, label: &str, s: &Settings) -> Vec<Row> {
    let exe_dir = std::env::current_exe()
        .expect("current exe")
        .parent()
        .expect("examples dir")
        .to_path_buf();
    let noop = exe_dir.join("noop");
    assert!(noop.exists(), "build the `noop` example first");
    let true_bin = Path::new("/bin/true");
    assert!(true_bin.exists(), "the baseline is /bin/true");
    // client-go starts a new process per kubectl command; each sees its
    // first hand-out. Our pid stays the same, so forget our count.
    let counter = runtime
        .join("handouts")
        .join(format!("demo.{}", std::process::id()));
    let info = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#;
    let quiet = |mut cmd: Command| {
        cmd.env("KUBERNETES_EXEC_INFO", info)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let stanza = || quiet(exec_stanza(runtime));
    let full = || {
        let mut cmd = world.kaccess(&["credential", "demo"]);
        cmd.env("KACCESS_RUNTIME_DIR", runtime);
        quiet(cmd)
    };
    let runs = stanza();
    let runs = Path::new(runs.get_program())
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // It must be a hit: it answers, and the broker hears nothing.
    let _ = std::fs::remove_file(&counter);
    let first = run(stanza().stdout(Stdio::piped()));
    assert!(
        first.status.success() && text(&first.stdout).contains("clientCertificateData"),
        "the plugin did not answer from its cache:\n{}",
        text(&first.stderr)
    );
    let audit_before = world.broker.audit().len();
    let (mut k, mut t, mut f, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..s.plugin_runs {
        for (cmd, into) in [
            (Command::new(true_bin), &mut t),
            (stanza(), &mut k),
            (full(), &mut f),
            (Command::new(&noop), &mut n),
        ] {
            let mut cmd = cmd;
            let _ = std::fs::remove_file(&counter);
            let (wall, code) = timed_run(cmd.stdout(Stdio::null()));
            assert_eq!(code, 0, "{:?} failed", cmd.get_program());
            into.push(wall.as_micros() as u32);
        }
    }
    let rss_k = peak_rss(&mut stanza(), &counter);
    let rss_f = peak_rss(&mut full(), &counter);
    let rss_t = peak_rss(Command::new(true_bin).stdout(Stdio::null()), &counter);
    let _ = std::fs::remove_file(&counter);
    assert_eq!(
        world.broker.audit().len(),
        audit_before,
        "a plugin run went to the broker: not a cache hit"
    );
    for v in [&mut k, &mut t, &mut f, &mut n] {
        v.sort_unstable();
    }
    let (mk, mt, mf, mn) = (median(&k), median(&t), median(&f), median(&n));
    let ratio = mk.as_secs_f64() / mt.as_secs_f64();
    let rss_mb = rss_k.unwrap_or(0) as f64 / 1024.0;
    let shown =
        |kb: Option<u64>| kb.map_or("n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    vec![Row {
        figure: format!(
            "1 credential cache hit (`{runs}`, as the kubeconfig runs it), {label} (median of {})",
            s.plugin_runs
        ),
        measured: format!("{}, peak RSS {}", ms(mk), shown(rss_k)),
        baseline: format!("/bin/true {}, RSS {}", ms(mt), shown(rss_t)),
        ratio,
        ratio_means: "× /bin/true",
        target: "≤ 1.5×, ≤ 5 MB".into(),
        met: Some(ratio <= 1.5 && rss_k.is_some() && rss_mb <= 5.0),
        detail: format!(
            "`kaccess credential demo` {} = {:.2} × /bin/true, RSS {}; noop (Rust, same profile) {} = {:.2} ×; p10 {} vs /bin/true {}; p90 {} vs {}",
            ms(mf),
            mf.as_secs_f64() / mt.as_secs_f64(),
            shown(rss_f),
            ms(mn),
            mn.as_secs_f64() / mt.as_secs_f64(),
            ms(crate::stats::percentile(&k, 10.0)),
            ms(crate::stats::percentile(&t, 10.0)),
            ms(crate::stats::percentile(&k, 90.0)),
            ms(crate::stats::percentile(&t, 90.0)),
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
