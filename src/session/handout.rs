//! Noticing that kubectl's API server rejected a cached credential.
//!
//! client-go calls the exec plugin once per process and caches the result;
//! it calls again only when the API server answers 401 (revoked token, a
//! certificate the cluster no longer trusts). The plugin cannot see that
//! 401, but it can see the repeat: the same kubectl process asking again
//! for the same credential within seconds. The v1.32 dispatcher in front of
//! kubectl legitimately asks twice, so the third hand-out of one credential
//! to one parent process is treated as a rejection and the plugin goes to
//! the broker instead — which is how a revoked session turns into "log in
//! again" on the very next kubectl command rather than after the cache
//! expires.

use super::paths::Layout;
use super::record::SessionRecord;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

/// Hand-outs of one credential to one process before the next one is
/// taken as a rejection.
pub const ALLOWED_REPEATS: u32 = 1;
/// A repeat counts only this soon after the previous hand-out.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Names one cached credential: a short hash of the certificate or token
/// itself (two exchanges in the same second share an expiry, never a
/// certificate serial or a token).
pub fn fingerprint(rec: &SessionRecord) -> String {
    use sha2::{Digest, Sha256};
    let c = &rec.credential;
    let mut h = Sha256::new();
    h.update(rec.session_id.as_bytes());
    h.update(c.certificate_pem.as_deref().unwrap_or_default().as_bytes());
    h.update(
        c.token
            .as_ref()
            .map(|t| t.expose())
            .unwrap_or_default()
            .as_bytes(),
    );
    hex::encode(&h.finalize()[..12])
}

fn parent_pid() -> u32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// One more hand-out of a credential to our parent, read but not yet
/// counted. The small `kaccess-credential` binary reads it, and on a
/// rejection hands over to `kaccess credential` without touching the count,
/// which then reads the same count and comes to the same answer.
pub struct Handout {
    dir: PathBuf,
    path: PathBuf,
    fingerprint: String,
    count: u32,
}

impl Handout {
    /// How often `rec`'s credential already went to our parent within
    /// [`WINDOW`], plus this time.
    pub fn next(layout: &Layout, rec: &SessionRecord) -> Handout {
        let dir = layout.root.join("handouts");
        let path = dir.join(format!("{}.{}", rec.cluster, parent_pid()));
        let fingerprint = fingerprint(rec);
        let previous = fs::read_to_string(&path).ok().and_then(|text| {
            let recent = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < WINDOW);
            let (seen_fp, count) = text.trim().rsplit_once(' ')?;
            (recent && seen_fp == fingerprint)
                .then(|| count.parse::<u32>().ok())
                .flatten()
        });
        Handout {
            dir,
            path,
            fingerprint,
            count: previous.unwrap_or(0) + 1,
        }
    }

    /// True when the parent has been handed this credential too often: the
    /// API server rejected it.
    pub fn is_rejection(&self) -> bool {
        self.count > ALLOWED_REPEATS
    }

    /// Counts this hand-out. Best effort: losing a count only delays
    /// noticing a rejection. The directory is made only when missing,
    /// keeping a syscall off the hot path.
    pub fn count(self) {
        let open = || {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&self.path)
        };
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = fs::DirBuilder::new().mode(0o700).create(&self.dir);
                open()
            }
            other => other,
        };
        if let Ok(mut f) = file {
            // One write (`write!` on a file makes one per piece).
            let _ = f.write_all(format!("{} {}", self.fingerprint, self.count).as_bytes());
        }
    }

    /// Starts the count again after a rejection.
    pub fn forget(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Records one more hand-out of `rec`'s credential to our parent and says
/// whether the parent has been handed it too often (it was rejected).
pub fn record_and_check(layout: &Layout, rec: &SessionRecord) -> bool {
    let handout = Handout::next(layout, rec);
    if handout.is_rejection() {
        handout.forget();
        return true;
    }
    handout.count();
    false
}

/// Removes hand-out counters older than [`WINDOW`] (sweep).
pub fn sweep(layout: &Layout) {
    let Ok(entries) = fs::read_dir(layout.root.join("handouts")) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age > WINDOW);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::tests::sample;

    #[test]
    fn second_handout_of_one_credential_to_one_process_is_a_rejection() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        let mut rec = sample("prod", &l, time::Duration::hours(1));
        assert!(!record_and_check(&l, &rec));
        assert!(record_and_check(&l, &rec));
        // The count starts again after a rejection, and for a new credential.
        assert!(!record_and_check(&l, &rec));
        rec.credential.token = Some(crate::secret::Secret::new("another"));
        assert!(!record_and_check(&l, &rec));
    }

    #[test]
    fn reading_a_handout_counts_nothing_until_it_is_counted() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        let rec = sample("prod", &l, time::Duration::hours(1));
        assert!(!Handout::next(&l, &rec).is_rejection());
        assert!(!Handout::next(&l, &rec).is_rejection(), "only read");
        Handout::next(&l, &rec).count();
        let repeat = Handout::next(&l, &rec);
        assert!(repeat.is_rejection());
        // Left for `kaccess credential`, which sees the same rejection.
        assert!(record_and_check(&l, &rec));
        assert!(!Handout::next(&l, &rec).is_rejection());
    }
}
