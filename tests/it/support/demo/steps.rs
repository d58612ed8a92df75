//! The demo's steps: each says in one line what it shows, runs the real
//! commands, shows their output as the evidence, and fails (in CI mode, the
//! test) when the evidence is not there.

use super::super::world::{self, World, text};
use super::narrator::{Narrator, audit_line, clock};
use super::tools::{checked, wait_until};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const REASON: &str = "DEMO-1";

/// `kaccess login demo` with the device flow and `extra` arguments.
fn login_args<'a>(reason: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "login",
        "demo",
        "--flow",
        "device",
        "--reason",
        reason,
        "--token-store",
        "file",
    ];
    args.extend_from_slice(extra);
    args
}

pub fn show_config(n: &Narrator, w: &World) -> Result<()> {
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
    Ok(())
}

/// bob has only a password: kaccess itself refuses his ID token (exit 4)
/// before anything reaches the broker. Returns the error and exit code.
pub fn login_without_mfa(n: &Narrator, w: &World) -> Result<(String, Option<i32>)> {
    n.step("A login whose ID token lacks MFA: bob signs in with a password only (amr [pwd])");
    w.idp.set(json!({
        "subject": "bob", "email": "bob@example.com", "amr": ["pwd"], "acr": null
    }));
    let args = login_args(REASON, &[]);
    n.command(&format!("kaccess {}", args.join(" ")));
    let out = world::run(w.kaccess(&args));
    let err = text(&out.stderr);
    // The device code it printed first is the same as in the next step.
    let refusal = err
        .find("kaccess: error:")
        .map_or(err.as_str(), |at| &err[at..]);
    n.output(refusal);
    ensure!(
        out.status.code() == Some(4),
        "the login without MFA was not refused with exit 4 ({}):\n{err}",
        out.status
    );
    ensure!(
        w.broker.audit().is_empty(),
        "the refused ID token reached the broker"
    );
    n.detail("exit 4 (denied); the broker never saw the token: its audit log is still empty");
    w.idp.set(json!({
        "subject": "alice", "email": "alice@example.com",
        "amr": ["pwd", "otp"], "acr": "urn:example:mfa"
    }));
    Ok((err, out.status.code()))
}

/// A login that succeeds: on a terminal kaccess talks to the person
/// directly; in CI its output is captured and shown. Returns that output.
fn login(n: &Narrator, w: &World, args: &[&str], ci: bool) -> Result<String> {
    n.command(&format!("kaccess {}", args.join(" ")));
    let mut login = w.kaccess(args);
    if !ci {
        let status = login.status().context("run `kaccess login`")?;
        ensure!(status.success(), "`kaccess login` failed ({status})");
        return Ok(String::new());
    }
    let out = world::run(login);
    let err = text(&out.stderr);
    n.output(&err);
    ensure!(
        out.status.success(),
        "`kaccess login` failed ({})",
        out.status
    );
    Ok(err)
}

pub fn login_with_mfa(n: &Narrator, w: &World, approve_after_ms: u64, ci: bool) -> Result<String> {
    n.step(&format!(
        "alice logs in with a password and a one-time code (the demo IdP approves after {:.1}s)",
        approve_after_ms as f64 / 1000.0
    ));
    let out = login(n, w, &login_args(REASON, &[]), ci)?;
    ensure!(
        !ci || out.lines().any(|l| l == "MFA verified: amr [pwd, otp]"),
        "the login does not say that MFA was verified:\n{out}"
    );
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
    Ok(out)
}

/// `kubectl ARGS` with `KUBECONFIG` set as a user would, in the world's home.
fn kubectl(w: &World, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", w.root().join("home"))
        .env("KUBECACHEDIR", w.root().join("kube-cache"))
        .stdin(Stdio::null());
    cmd
}

/// Runs kubectl, which must succeed; shows and returns its stdout.
fn kubectl_ok(n: &Narrator, w: &World, kubeconfig: &Path, args: &[&str]) -> Result<String> {
    let line = format!("kubectl {}", args.join(" "));
    n.command(&line);
    let out = checked(kubectl(w, kubeconfig, args), &line)?;
    let stdout = text(&out.stdout);
    n.output(&stdout);
    Ok(stdout)
}

pub fn use_kubectl(n: &Narrator, w: &World, kubeconfig: &Path) -> Result<(String, String)> {
    n.step("Using the cluster with plain kubectl (KUBECONFIG is the session kubeconfig)");
    let pods = kubectl_ok(n, w, kubeconfig, &["get", "pods"])?;
    let whoami = kubectl_ok(n, w, kubeconfig, &["auth", "whoami"])?;
    Ok((pods, whoami))
}

/// `kaccess status`; returns its output and when the session ends.
pub fn show_status(n: &Narrator, w: &World) -> Result<(String, OffsetDateTime)> {
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
    Ok((status_text, ends))
}

/// Waits for the session's end; returns how long after it the reaper had
/// deleted the kubeconfig.
pub fn session_ends(
    n: &Narrator,
    w: &World,
    kubeconfig: &Path,
    ends: OffsetDateTime,
) -> Result<Duration> {
    n.step(&format!(
        "Waiting for the session to end at {}; no kaccess command runs meanwhile",
        clock(ends)
    ));
    let cap = Duration::from_secs(30);
    let gone = countdown(n, kubeconfig, ends, cap);
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
    Ok(removed_after_end)
}

/// A token session, used by kubectl, revoked at the broker as an incident
/// responder would: kubectl's next request is refused. Returns kubectl's
/// stderr after the revocation.
pub fn revoke_while_in_use(n: &Narrator, w: &World, ci: bool) -> Result<String> {
    n.step("Revocation while kubectl is in use: a new session with a revocable token");
    let args = login_args("DEMO-2", &["--credential", "token"]);
    let out = login(n, w, &args, ci)?;
    ensure!(
        !ci || out.contains("credential:    token"),
        "the second login did not get a token:\n{out}"
    );
    let kubeconfig = w.runtime.join("sessions").join("demo.kubeconfig");
    kubectl_ok(n, w, &kubeconfig, &["get", "pods"])?;
    let revoke = [
        "admin",
        "revoke",
        "demo",
        "--user",
        "alice@example.com",
        "--reason",
        "DEMO-3 laptop lost",
    ];
    n.command("kaccess admin revoke demo --user alice@example.com --reason \"DEMO-3 laptop lost\"");
    let revoked = checked(w.kaccess(&revoke), "kaccess admin revoke")?;
    n.output(&text(&revoked.stderr));
    n.command("kubectl get pods");
    let after = world::run(kubectl(w, &kubeconfig, &["get", "pods"]));
    let err = text(&after.stderr);
    n.output(&err);
    ensure!(
        !after.status.success(),
        "kubectl still worked after the revocation:\n{}",
        text(&after.stdout)
    );
    n.detail(
        "refused at the next request: the API server asked the broker, which knows the session is revoked",
    );
    Ok(err)
}

/// The audit records and `kaccess audit verify`'s verdict.
pub fn audit_log(n: &Narrator, w: &World) -> Result<(Vec<Value>, String)> {
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
    Ok((audit, audit_verify))
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
