//! The per-cluster refresh lock. Twenty kubectl processes hitting an expired
//! credential at once must cause one refresh, not twenty: the first takes
//! the lock and refreshes, the rest wait (bounded), then find the fresh
//! credential in the cache. An OS file lock (flock) dies with its holder, so
//! `kill -9` never leaves a lock that the next command waits on.

use crate::error::Failure;
use crate::fsutil;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the lock at `path`, waiting at most `timeout`. On timeout the error
/// names the holder's pid so the user can see who is stuck.
pub fn acquire(path: &Path, cluster: &str, timeout: Duration) -> Result<ClusterLock> {
    if let Some(dir) = path.parent() {
        fsutil::ensure_private_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the lock file `{}`", path.display()))?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    let holder = read_holder(&mut file);
                    let who = holder
                        .map(|p| format!("pid {p}"))
                        .unwrap_or_else(|| "another process".into());
                    return Err(Failure::error(format!(
                        "timed out after {} waiting for the lock on `{cluster}` held by {who}",
                        crate::units::format_duration(timeout)
                    ))
                    .help(format!(
                        "another kaccess is refreshing `{cluster}`; if it is stuck, stop it (kill {}) and try again",
                        holder.map(|p| p.to_string()).unwrap_or_else(|| "<pid>".into())
                    ))
                    .into());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock `{}`", path.display()));
            }
        }
    }
    // Record who holds it, for the timeout message of the next waiter.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(ClusterLock {
        _file: file,
        path: path.to_owned(),
    })
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_times_out_naming_the_holder_pid() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks").join("prod.lock");
        let held = acquire(&p, "prod", Duration::from_secs(1)).unwrap();
        let err = acquire(&p, "prod", Duration::from_millis(100)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        acquire(&p, "prod", Duration::from_millis(100)).unwrap();
    }
}
