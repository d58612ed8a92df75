//! `kaccess exec CLUSTER -- CMD ARGS...`: run one command with access.
//! Uses the live session (or logs in when a person is at the terminal),
//! gives the child `KUBECONFIG` pointing at a private copy of the session
//! kubeconfig, passes on the child's exit code, and removes the copy when
//! the child exits, whatever the way.

use crate::cli::ExecArgs;
use crate::cmd::sessions::swept_layout;
use crate::error::Failure;
use crate::session::paths::check_cluster_name;
use crate::session::record::{self, RecordError};
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's pid, for the signal handler to forward to.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

pub fn run(args: ExecArgs) -> Result<ExitCode> {
    check_cluster_name(&args.cluster)?;
    let layout = swept_layout()?;
    let cluster = &args.cluster;
    let rec = match record::read(&layout, cluster) {
        Ok(r) => r,
        Err(RecordError::Missing(_)) => {
            if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
                return Err(Failure::login_required(format!(
                    "no live session for `{cluster}`, and no terminal to log in from"
                ))
                .help(format!(
                    "{} --reason \"...\"",
                    crate::config::login_help(args.client.config.as_deref(), cluster)
                ))
                .into());
            }
            crate::cmd::login::login_for_exec(cluster, args.reason.clone(), &args.client)?
        }
        Err(e) => return Err(e.into()),
    };
    let copy = layout.exec_kubeconfig(cluster, std::process::id());
    let bytes = std::fs::read(&rec.kubeconfig).with_context(|| {
        format!(
            "cannot read the session kubeconfig `{}`",
            rec.kubeconfig.display()
        )
    })?;
    crate::fsutil::write_atomic(&copy, &bytes, 0o600)?;
    let result = run_child(&args.command, &copy);
    let _ = std::fs::remove_file(&copy);
    result
}

fn run_child(command: &[String], kubeconfig: &std::path::Path) -> Result<ExitCode> {
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| Failure::usage("no command given after `--`"))?;
    let mut child = match std::process::Command::new(program)
        .args(rest)
        .env("KUBECONFIG", kubeconfig)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let why = Failure::error(format!("cannot run `{program}`")).help(format!(
                "check the command after `--`: `{program}` must be on PATH or a path to an executable"
            ));
            crate::error::report(&anyhow::Error::new(e).context(why), "kaccess exec");
            return Ok(ExitCode::from(code));
        }
    };
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    // SAFETY: installs a handler that only calls kill(2). The child keeps
    // default dispositions (handlers are reset by exec), so Ctrl-C reaches
    // it as usual while we stay alive to clean up.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
        }
    }
    let status = child.wait().context("waiting for the command failed")?;
    CHILD.store(0, Ordering::SeqCst);
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
