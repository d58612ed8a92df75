//! The one-command local demo (`./install.sh --demo`, `scripts/demo`):
//! a whole kaccess world on 127.0.0.1 — the real OIDC provider, `kaccess
//! serve` with a fresh CA, the API stand-in — then the product as a
//! newcomer would use it: a login without MFA refused, the MFA login,
//! kubectl through the session kubeconfig, `status`, the session ending on
//! its own, a revocation that stops kubectl, the audit log and its
//! verification. Narrated on stderr, one line per step and its evidence;
//! everything it starts is stopped and checked gone. `examples/demo.rs` is
//! a thin main over `run`, and `tests/it/demo.rs` runs the same function
//! in CI mode.

mod narrator;
mod steps;
mod tools;

use super::idp::IdpOptions;
use super::world::{World, WorldOptions, reaper_pids};
use anyhow::{Result, ensure};
use narrator::Narrator;
use serde_json::Value;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tools::{check_tools, install_idp, processes_mentioning, wait_until};

pub struct DemoOptions {
    /// The `kaccess` to run (the installed one, in the real demo).
    pub kaccess: PathBuf,
    /// Non-interactive: short pauses and session, all output captured and
    /// echoed (so a test harness sees it), every failure an error.
    pub ci: bool,
}

/// What happened, for the test to check.
#[derive(Debug, Default)]
pub struct Report {
    /// stderr of the login without MFA, which kaccess refused.
    pub refused: String,
    /// Its exit code.
    pub refused_code: Option<i32>,
    /// stderr of `kaccess login` (empty when it went straight to the terminal).
    pub login: String,
    pub pods: String,
    pub whoami: String,
    pub status: String,
    pub kubeconfig: PathBuf,
    /// From the session's end until the reaper had deleted the kubeconfig
    /// (zero if it went a little early: the reaper may round down).
    pub removed_after_end: Duration,
    /// kubectl's stderr after the session was revoked at the broker.
    pub after_revoke: String,
    pub audit: Vec<Value>,
    pub audit_verify: String,
    /// Everything the demo printed (without colour).
    pub transcript: String,
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
    let n = &Narrator::new(!opts.ci && std::io::stderr().is_terminal());

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
        "identity provider  {}  (oidc-provider; alice@example.com signs in with MFA: pwd+otp)",
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
    let reaper_gone = wait_until(Duration::from_secs(3), || reaper_pids(&runtime).is_empty());
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
    report.transcript = n.transcript();
    Ok(report)
}

/// The steps, in the order a newcomer meets them.
fn use_the_world(n: &Narrator, w: &World, pace: &Pace, ci: bool) -> Result<Report> {
    let mut r = Report::default();
    steps::show_config(n, w)?;
    n.pause(pace.pause);
    (r.refused, r.refused_code) = steps::login_without_mfa(n, w)?;
    n.pause(pace.pause);
    r.login = steps::login_with_mfa(n, w, pace.approve_after_ms, ci)?;
    r.kubeconfig = w.runtime.join("sessions").join("demo.kubeconfig");
    n.pause(pace.pause);
    (r.pods, r.whoami) = steps::use_kubectl(n, w, &r.kubeconfig)?;
    n.pause(pace.pause);
    let ends;
    (r.status, ends) = steps::show_status(n, w)?;
    r.removed_after_end = steps::session_ends(n, w, &r.kubeconfig, ends)?;
    n.pause(pace.pause);
    r.after_revoke = steps::revoke_while_in_use(n, w, ci)?;
    n.pause(pace.pause);
    (r.audit, r.audit_verify) = steps::audit_log(n, w)?;
    Ok(r)
}
