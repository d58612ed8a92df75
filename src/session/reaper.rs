//! Deletion on expiry when kaccess is not running. `login` starts a detached
//! reaper (own session and process group, no terminal, stdio closed) that
//! sleeps until the session's end and removes its files. It wakes at least
//! every 30 s so suspend/resume or clock jumps cannot make it oversleep, and
//! it exits as soon as its session is gone or replaced by a newer one.
//! `kaccess` commands also sweep expired sessions, so a killed reaper only
//! delays deletion until the next command.

use super::paths::Layout;
use super::record::{self, RecordError};
use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use time::OffsetDateTime;

/// Longest single sleep.
const MAX_NAP: Duration = Duration::from_secs(30);

/// Starts the reaper for `cluster`'s session `session_id`; returns its pid.
pub fn spawn(runtime_dir: &Path, cluster: &str, session_id: &str) -> Result<u32> {
    let exe = std::env::current_exe().context("cannot find the kaccess executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("__reap")
        .arg(cluster)
        .arg("--session-id")
        .arg(session_id)
        .arg("--runtime-dir")
        .arg(runtime_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: setsid is async-signal-safe and is the only call made between
    // fork and exec. It detaches the reaper from the terminal and from the
    // caller's process group, so Ctrl-C or closing the shell does not kill it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("cannot start the session reaper")?;
    // Not waited on: the reaper outlives us and is re-parented to init.
    Ok(child.id())
}

/// The reaper's loop (`kaccess __reap`).
pub fn run(layout: &Layout, cluster: &str, session_id: &str) -> Result<()> {
    let mut damaged_reads = 0;
    loop {
        let now = OffsetDateTime::now_utc();
        let rec = match record::read(layout, cluster) {
            Ok(r) => r,
            // Gone already (logout, sweep) or not ours to judge: done.
            Err(RecordError::Missing(_)) | Err(RecordError::Unsafe(_)) => return Ok(()),
            // kaccess writes records atomically, so a damaged one is either
            // someone else's half-done write (look again shortly) or real
            // damage (then the session cannot be used: remove it).
            Err(RecordError::Damaged { .. }) if damaged_reads < 3 => {
                damaged_reads += 1;
                std::thread::sleep(Duration::from_millis(300));
                continue;
            }
            Err(RecordError::Damaged { .. }) => {
                record::remove(layout, cluster);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        damaged_reads = 0;
        if rec.session_id != session_id {
            return Ok(()); // a newer login has its own reaper
        }
        let left = rec.delete_at() - now;
        if left <= time::Duration::ZERO {
            record::remove(layout, cluster);
            return Ok(());
        }
        let nap = Duration::try_from(left).unwrap_or(MAX_NAP).min(MAX_NAP);
        // Wake a little after the deadline rather than a little before it.
        std::thread::sleep(nap + Duration::from_millis(50));
    }
}

/// Stops a session's reaper (logout). Only signals the pid if it still is a
/// `kaccess __reap` for this cluster, so a recycled pid is never hit.
pub fn stop(pid: u32, cluster: &str) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args.contains(&&b"__reap"[..]) && args.contains(&cluster.as_bytes());
    if ours {
        // SAFETY: plain kill(2) on a pid we just identified as our reaper.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}
