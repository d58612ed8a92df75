//! The cache hit on its own, for `kaccess-credential` (src/bin/): the small
//! binary the session kubeconfig's exec stanza runs. kubectl starts the
//! plugin before every command, and most of a cache hit's time went into
//! starting the 18 MB `kaccess` (dynamic relocations, page faults), not into
//! the hit (issue 16, docs/performance.md "Start-up"). This binary links
//! only the hit path: no clap, tokio, reqwest or keyring.
//!
//! It answers only a plain hit, exactly as `kaccess credential` would, and
//! hands everything else over by exec'ing `kaccess` beside it with the same
//! arguments, environment, pid and parent: a miss, a credential due for a
//! refresh, a hand-out the API server rejected, any flag or error. So exit
//! codes, messages, prompting and hand-out counting stay `kaccess`'s own.

use super::{exec_info_from, is_fresh, render};
use crate::error::{self, Failure};
use crate::session::handout::Handout;
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The full binary, found beside this one.
pub const FULL_BIN: &str = "kaccess";
/// How errors of the hit name the command (`error::usage::command_path`
/// of `kaccess credential CLUSTER`).
pub const COMMAND_PATH: &str = "kaccess credential";

/// What the small binary does with one call.
#[derive(Debug)]
pub enum Outcome {
    /// The cached credential was handed out and counted; `Err` when stdout
    /// would not take it.
    Answered(anyhow::Result<()>),
    /// Anything but a plain cache hit: `kaccess credential` decides.
    HandOver,
}

/// `args` as `kaccess` would get them: only `[_, "credential", CLUSTER]`
/// is answered here.
pub fn answer(args: &[OsString]) -> Outcome {
    let [_, sub, cluster] = args else {
        return Outcome::HandOver;
    };
    let Some(cluster) = cluster.to_str().filter(|_| sub == "credential") else {
        return Outcome::HandOver;
    };
    // A shell asking `kaccess` for completions (`COMPLETE=bash`).
    if check_cluster_name(cluster).is_err() || std::env::var_os("COMPLETE").is_some() {
        return Outcome::HandOver;
    }
    let Ok(info) = exec_info_from(std::env::var_os("KUBERNETES_EXEC_INFO")) else {
        return Outcome::HandOver;
    };
    if crate::session::runtime::needs_passwd_lookup() {
        return Outcome::HandOver;
    }
    let Ok(root) = crate::session::runtime::runtime_dir() else {
        return Outcome::HandOver;
    };
    let layout = Layout::new(root);
    let Ok(rec) = record::read(&layout, cluster) else {
        return Outcome::HandOver;
    };
    if !is_fresh(&rec, OffsetDateTime::now_utc()) {
        return Outcome::HandOver;
    }
    // A rejection is left uncounted: `kaccess credential` reads the same
    // count, sees the same rejection, and goes to the broker.
    let handout = Handout::next(&layout, &rec);
    if handout.is_rejection() {
        return Outcome::HandOver;
    }
    let Ok(json) = render(&info.api_version, &rec) else {
        return Outcome::HandOver;
    };
    handout.count();
    Outcome::Answered(super::print(&json))
}

/// Runs one call, the hit here and the rest in `kaccess`, and returns the
/// exit code. Called from a C `main`, without Rust's runtime set-up
/// (src/bin/kaccess-credential.rs), so it does the two parts of that
/// set-up the hit relies on itself: SIGPIPE ignored (a closed pipe is an
/// error `kaccess` reports, not a kill) and fds 0–2 open (else a file
/// opened here could become stdout; `kaccess` deals with that).
pub fn main() -> u8 {
    // SAFETY: sets a signal's disposition, as Rust's runtime does.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let args: Vec<OsString> = std::env::args_os().collect();
    let run = || match std_fds_open().then(|| answer(&args)) {
        Some(Outcome::Answered(Ok(()))) => 0,
        Some(Outcome::Answered(Err(e))) => report(&e),
        Some(Outcome::HandOver) | None => report(&hand_over(&args)),
    };
    // A panic must not unwind into C: exit as Rust's runtime would.
    std::panic::catch_unwind(run).unwrap_or(101)
}

fn std_fds_open() -> bool {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    n >= 0 && fds.iter().all(|f| f.revents & libc::POLLNVAL == 0)
}

fn report(e: &anyhow::Error) -> u8 {
    let _ = error::report(e, COMMAND_PATH);
    if error::is_broken_pipe(e) {
        0
    } else {
        error::exit_of(e).code()
    }
}

/// Replaces this process with `kaccess` beside it, same arguments; returns
/// only when that fails.
fn hand_over(args: &[OsString]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let full = match full_binary() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let e = std::process::Command::new(&full)
        .args(args.iter().skip(1))
        .exec();
    cannot_start(&full, &e.to_string())
}

/// `kaccess` beside the running `kaccess-credential`, refusing one that is
/// this binary again (a link), which would exec itself forever.
fn full_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()
        .map_err(|e| cannot_start(Path::new(FULL_BIN), &format!("cannot find myself: {e}")))?;
    let full = me.with_file_name(FULL_BIN);
    let same = std::fs::canonicalize(&full)
        .ok()
        .is_some_and(|f| std::fs::canonicalize(&me).is_ok_and(|m| m == f));
    if same {
        return Err(cannot_start(&full, "it is kaccess-credential itself"));
    }
    Ok(full)
}

fn cannot_start(full: &Path, why: &str) -> anyhow::Error {
    Failure::error(format!(
        "kaccess-credential answers only cache hits, and cannot start `{}` for the rest: {why}",
        full.display()
    ))
    .help(
        "install kaccess and kaccess-credential side by side (./install.sh), then run: kaccess login <cluster>",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(Into::into).collect()
    }

    #[test]
    fn errors_of_the_hit_name_the_command_as_kaccess_does() {
        let path = error::usage::command_path(
            &crate::cli::command(),
            &os(&["kaccess", "credential", "prod"]),
        );
        assert_eq!(path, COMMAND_PATH);
    }

    #[test]
    fn anything_but_a_bare_credential_call_is_handed_over_before_any_file_is_read() {
        for args in [
            &["kaccess-credential"][..],
            &["kaccess-credential", "credential"],
            &["kaccess-credential", "credential", "--help"],
            &["kaccess-credential", "credential", "-h"],
            &["kaccess-credential", "credential", "../etc"],
            &[
                "kaccess-credential",
                "credential",
                "prod",
                "--lock-timeout",
                "1s",
            ],
            &["kaccess-credential", "status", "prod"],
            &["kaccess-credential", "--version"],
        ] {
            assert!(matches!(answer(&os(args)), Outcome::HandOver), "{args:?}");
        }
    }
}
