//! The one-command local demo (`./install.sh --demo`, `scripts/demo`):
//! a whole kaccess world on 127.0.0.1 — the real OIDC provider with one
//! MFA user, `kaccess serve` with a fresh CA, the API stand-in — then the
//! product as a newcomer would use it: device login, kubectl through the
//! session kubeconfig, `status`, the session ending on its own, the audit
//! log and its verification. Narrated on stderr; everything it starts is
//! stopped and checked gone. `examples/demo.rs` is a thin main over `run`,
//! and `tests/it/demo.rs` runs the same function in CI mode.

mod narrator;
mod tools;

use super::idp::IdpOptions;
use super::world::{self, World, WorldOptions, text};
use anyhow::{Context, Result, ensure};
use narrator::{Narrator, audit_line, clock};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tools::{check_tools, checked, install_idp, processes_mentioning, reapers, wait_until};

pub struct DemoOptions {
    /// The `kaccess` to run (the installed one, in the real demo).
    pub kaccess: PathBuf,
    /// Non-interactive: short pauses and session, all output captured and
    /// echoed (so a test harness sees it), every failure an error.
    pub ci: bool,
}

/// What happened, for the test to check.
#[derive(Debug)]
pub struct Report {
    /// stderr of `kaccess login` (empty when it went straight to the terminal).
    pub login: String,
    pub pods: String,
    pub whoami: String,
    pub status: String,
    pub kubeconfig: PathBuf,
    /// From the session's end until the reaper had deleted the kubeconfig
    /// (zero if it went a little early: the reaper may round down).
    pub removed_after_end: Duration,
    pub audit: Vec<Value>,
    pub audit_verify: String,
    /// Processes still running after the demo stopped everything.
    pub leftovers: Vec<String>,
    pub elapsed: Duration,
}

/// How fast the demo goes: slow enough to read, or as fast as CI allows.
struct Pace {
    approve_after_ms: u64,
    max_session: &'static str,
    pause: Duration,
}

const REASON: &str = "DEMO-1";

pub fn run(opts: &DemoOptions) -> Result<Report> {
    let started = Instant::now();
    let pace = if opts.ci {
        Pace {
            approve_after_ms: 300,
            max_session: "10s",
            pause: Duration::ZERO,
        }
    } else {
        Pace {
            approve_after_ms: 3000,
            max_session: "20s",
            pause: Duration::from_millis(1200),
        }
    };
    let narrator = Narrator {
        color: !opts.ci && std::io::stderr().is_terminal(),
    };
    let n = &narrator;

    check_tools()?;
    install_idp(n)?;

    n.step("Starting a local kaccess world on 127.0.0.1 (nothing leaves this machine)");
    let w = World::start(WorldOptions {
        idp: IdpOptions {
            device_auto_approve_ms: Some(pace.approve_after_ms),
            ..IdpOptions::default()
        },
        max_session: pace.max_session,
        kaccess: opts.kaccess.clone(),
        ..WorldOptions::default()
    });
    n.detail(&format!(
        "identity provider  {}  (oidc-provider; user alice@example.com, group sre, MFA: pwd+otp)",
        w.idp.issuer()
    ));
    n.detail(&format!(
        "kaccess broker     {}  (`kaccess serve`, fresh cluster CA, sessions capped at {})",
        w.broker.url, pace.max_session
    ));
    n.detail(&format!(
        "API server         {}  (stand-in that authenticates like kube-apiserver)",
        w.api.url()
    ));
    let pids = [w.idp.pid(), w.broker.pid()];
    let report = use_the_world(n, &w, &pace, opts.ci);
    let root = w.root().to_owned();
    let runtime = w.runtime.clone();

    n.step("Stopping everything the demo started");
    let reaper_gone = wait_until(Duration::from_secs(3), || reapers(&runtime).is_empty());
    drop(w);
    let mut leftovers: Vec<String> = pids
        .iter()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .map(|pid| format!("pid {pid} (identity provider or broker)"))
        .collect();
    leftovers.extend(processes_mentioning(&root));
    if !reaper_gone {
        leftovers.push("a `kaccess __reap` that outlived its session".to_owned());
    }
    let mut report = report?;
    report.leftovers = leftovers;
    report.elapsed = started.elapsed();
    ensure!(
        report.leftovers.is_empty(),
        "still running after the demo: {:?}",
        report.leftovers
    );
    n.detail("identity provider, broker and API server stopped; nothing left running");
    n.step(&format!(
        "Done in {}s. Next: `man kaccess`, and README.md for a real cluster",
        report.elapsed.as_secs()
    ));
    Ok(report)
}

fn use_the_world(n: &Narrator, w: &World, pace: &Pace, ci: bool) -> Result<Report> {
    n.step("Client configuration (what `kaccess config init` would have you write)");
    let config = std::fs::read_to_string(&w.config).context("read the client config")?;
    n.detail(&format!("# {}", w.config.display()));
    for line in config.lines() {
        match line.split_once("certificate-authority-data:") {
            Some((indent, _)) => n.detail(&format!(
                "{indent}certificate-authority-data: <the API server's CA, base64>"
            )),
            None => n.detail(line),
        }
    }
    n.pause(pace.pause);

    n.step(&format!(
        "Logging in with the device flow; the demo IdP approves by itself after {:.1}s",
        pace.approve_after_ms as f64 / 1000.0
    ));
    let login_args = [
        "login",
        "demo",
        "--flow",
        "device",
        "--reason",
        REASON,
        "--token-store",
        "file",
    ];
    n.command(&format!("kaccess {}", login_args.join(" ")));
    let mut login = w.kaccess(&login_args);
    let login_stderr = if ci {
        let out = world::run(login);
        n.output(&text(&out.stderr));
        ensure!(
            out.status.success(),
            "`kaccess login` failed ({})",
            out.status
        );
        text(&out.stderr)
    } else {
        let status = login.status().context("run `kaccess login`")?;
        ensure!(status.success(), "`kaccess login` failed ({status})");
        String::new()
    };
    let kubeconfig = w.runtime.join("sessions").join("demo.kubeconfig");
    ensure!(
        kubeconfig.exists(),
        "login succeeded but wrote no `{}`",
        kubeconfig.display()
    );
    n.detail(&format!(
        "session kubeconfig: {} (certificate from a key made on this machine)",
        kubeconfig.display()
    ));
    n.pause(pace.pause);

    n.step("Using the cluster with plain kubectl (KUBECONFIG is the session kubeconfig)");
    let pods = kubectl(n, w, &kubeconfig, &["get", "pods"])?;
    let whoami = kubectl(n, w, &kubeconfig, &["auth", "whoami"])?;
    n.pause(pace.pause);

    n.step("What kaccess knows about the session");
    n.command("kaccess status");
    let status = checked(w.kaccess(&["status"]), "kaccess status")?;
    let status_text = text(&status.stdout);
    n.output(&status_text);
    let json = checked(
        w.kaccess(&["status", "demo", "-o", "json"]),
        "kaccess status",
    )?;
    let ends = serde_json::from_slice::<Value>(&json.stdout)?["sessions"][0]["session_expires_at"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .context("`kaccess status -o json` names no session end")?;

    n.step(&format!(
        "Waiting for the session to end at {}; no kaccess command runs meanwhile",
        clock(ends)
    ));
    let cap = Duration::from_secs(30);
    let gone = countdown(n, &kubeconfig, ends, cap);
    ensure!(
        gone,
        "the session kubeconfig `{}` was still there {}s after the session ended",
        kubeconfig.display(),
        cap.as_secs()
    );
    let now = OffsetDateTime::now_utc();
    let removed_after_end = Duration::try_from(now - ends).unwrap_or(Duration::ZERO);
    n.detail(&format!(
        "{} the session ended; {}s later the reaper had deleted its kubeconfig and credential",
        clock(ends),
        removed_after_end.as_secs()
    ));
    n.command("ls sessions/");
    let left: Vec<String> = std::fs::read_dir(w.runtime.join("sessions"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ensure!(left.is_empty(), "session files left behind: {left:?}");
    n.detail("(empty)");
    n.command("kaccess status");
    let after = checked(w.kaccess(&["status"]), "kaccess status")?;
    n.output(&text(&after.stdout));
    n.pause(pace.pause);

    n.step("The broker's audit log (hash-chained JSON lines)");
    let audit = w.broker.audit();
    ensure!(!audit.is_empty(), "the audit log is empty");
    for rec in &audit {
        n.detail(&audit_line(rec));
    }
    let audit_path = w.broker.audit_path.display().to_string();
    n.command(&format!("kaccess audit verify {audit_path}"));
    let verify = checked(
        w.kaccess(&["audit", "verify", &audit_path]),
        "kaccess audit verify",
    )?;
    let audit_verify = text(&verify.stderr);
    n.output(&audit_verify);

    Ok(Report {
        login: login_stderr,
        pods,
        whoami,
        status: status_text,
        kubeconfig,
        removed_after_end,
        audit,
        audit_verify,
        leftovers: Vec::new(),
        elapsed: Duration::ZERO,
    })
}

/// `kubectl ARGS` with `KUBECONFIG` set as a user would, in the world's home.
fn kubectl(n: &Narrator, w: &World, kubeconfig: &Path, args: &[&str]) -> Result<String> {
    n.command(&format!("kubectl {}", args.join(" ")));
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", w.root().join("home"))
        .env("KUBECACHEDIR", w.root().join("kube-cache"))
        .stdin(Stdio::null());
    let out = checked(cmd, &format!("kubectl {}", args.join(" ")))?;
    let stdout = text(&out.stdout);
    n.output(&stdout);
    Ok(stdout)
}

/// Waits until `kubeconfig` is gone, counting down to the session end on
/// a terminal; false if it is still there `grace` after the end.
fn countdown(n: &Narrator, kubeconfig: &Path, ends: OffsetDateTime, grace: Duration) -> bool {
    let live = n.color;
    let left = ends - OffsetDateTime::now_utc();
    let cap = Duration::try_from(left).unwrap_or(Duration::ZERO) + grace;
    let gone = wait_until(cap, || {
        if live {
            let left = (ends - OffsetDateTime::now_utc()).whole_seconds().max(0);
            eprint!("\r    session ends in {left:>2}s ");
            let _ = std::io::stderr().flush();
        }
        !kubeconfig.exists()
    });
    if live {
        eprintln!();
    }
    gone
}
