//! The session record: one JSON file per cluster holding who the session is
//! for, until when, and the cached credential the exec plugin prints. It is
//! written atomically and read with ownership/mode checks; the same module
//! removes a session's files and sweeps expired ones.

use super::paths::Layout;
use crate::fsutil::{self, check_private};
use crate::protocol::CredentialKind;
use crate::secret::Secret;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const RECORD_VERSION: u32 = 1;

/// A credential as the broker issued it, cached until it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedCredential {
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    /// The private key made on this machine; it never leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pem: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

/// The last verified ID token, reused for exchanges while it is valid so a
/// credential refresh does not need the IdP every time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedIdToken {
    pub token: Secret,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub version: u32,
    pub cluster: String,
    pub session_id: String,
    pub broker_url: String,
    /// Extra trust root for the broker, from the client config at login.
    #[serde(default)]
    pub broker_ca_file: Option<PathBuf>,
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub groups: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
    pub credential_kind: CredentialKind,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub session_expires_at: OffsetDateTime,
    /// The kubeconfig holds the credential itself (`login --embed`), so it
    /// must go when that credential expires.
    #[serde(default)]
    pub embedded: bool,
    pub kubeconfig: PathBuf,
    /// `keyring`, `file` or `none`: where the refresh token went.
    pub token_store: String,
    #[serde(default)]
    pub reaper_pid: Option<u32>,
    pub credential: CachedCredential,
    #[serde(default)]
    pub id_token: Option<CachedIdToken>,
}

/// An ID token with less than this left is refreshed before a broker call,
/// so it cannot expire on the way.
pub const ID_TOKEN_MARGIN: time::Duration = time::Duration::seconds(60);

impl SessionRecord {
    /// The cached ID token, while it has [`ID_TOKEN_MARGIN`] left.
    pub fn usable_id_token(&self, now: OffsetDateTime) -> Option<&CachedIdToken> {
        self.id_token
            .as_ref()
            .filter(|t| t.expires_at - ID_TOKEN_MARGIN > now)
    }

    /// Where login kept the refresh token; `None` when it kept none.
    pub fn token_store(&self, root: &Path) -> Option<crate::tokenstore::TokenStore> {
        use crate::cli::TokenStore as Choice;
        let choice = match self.token_store.as_str() {
            "keyring" => Choice::Keyring,
            "file" => Choice::File,
            _ => return None,
        };
        Some(crate::tokenstore::TokenStore::new(choice, root))
    }

    /// When the session's files must be gone.
    pub fn delete_at(&self) -> OffsetDateTime {
        if self.embedded {
            self.credential.expires_at.min(self.session_expires_at)
        } else {
            self.session_expires_at
        }
    }
}

/// Why a record could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no session for `{0}`")]
    Missing(String),
    #[error("the session file `{path}` is damaged ({why})")]
    Damaged { path: String, why: String },
    #[error(transparent)]
    Unsafe(#[from] fsutil::Unsafe),
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Reads `cluster`'s record, refusing a file that is a symlink, not ours, or
/// readable by others. This is the exec plugin's hot path: one lstat, one
/// read, one parse.
pub fn read(layout: &Layout, cluster: &str) -> Result<SessionRecord, RecordError> {
    let path = layout.record(cluster);
    check_private(&path, false)?;
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::Missing(cluster.to_owned()));
        }
        Err(source) => {
            return Err(RecordError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let record: SessionRecord =
        serde_json::from_slice(&bytes).map_err(|e| RecordError::Damaged {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
    if record.version != RECORD_VERSION || record.cluster != cluster {
        return Err(RecordError::Damaged {
            path: path.display().to_string(),
            why: format!(
                "version {} for cluster `{}`, expected version {RECORD_VERSION} for `{cluster}`",
                record.version, record.cluster
            ),
        });
    }
    Ok(record)
}

/// Writes the record atomically with mode 0600.
pub fn write(layout: &Layout, record: &SessionRecord) -> Result<()> {
    fsutil::ensure_private_dir(&layout.sessions_dir())?;
    let bytes = serde_json::to_vec_pretty(record).context("cannot encode the session record")?;
    fsutil::write_atomic(&layout.record(&record.cluster), &bytes, 0o600)
}

/// Removes every file of `cluster`'s session: kubeconfig first (so nobody
/// starts using it), then exec copies, then the record. Returns what was
/// removed. Missing files are fine: two reapers may race.
pub fn remove(layout: &Layout, cluster: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut rm = |p: PathBuf| {
        if fs::remove_file(&p).is_ok() {
            removed.push(p);
        }
    };
    rm(layout.kubeconfig(cluster));
    if let Ok(entries) = fs::read_dir(layout.sessions_dir()) {
        for e in entries.flatten() {
            if Layout::is_exec_copy_of(&e.path(), cluster) {
                rm(e.path());
            }
        }
    }
    rm(layout.record(cluster));
    // The lock file only matters while someone holds it; a holder keeps its
    // open descriptor working even after the name is gone.
    rm(layout.lock(cluster));
    removed
}

/// Every session record in the runtime dir, readable or not.
pub fn list(layout: &Layout) -> Vec<(String, Result<SessionRecord, RecordError>)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(layout.sessions_dir()) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(cluster) = name.strip_suffix(".json")
            && !cluster.starts_with('.')
            && super::paths::check_cluster_name(cluster).is_ok()
        {
            out.push((cluster.to_owned(), read(layout, cluster)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Deletes sessions that have ended, damaged records, and temp files left by
/// a killed writer. Every kaccess command runs this, so expiry holds even if
/// a reaper died. Returns the clusters whose sessions were removed.
pub fn sweep(layout: &Layout, now: OffsetDateTime) -> Vec<String> {
    let mut gone = Vec::new();
    for (cluster, rec) in list(layout) {
        let expired = match &rec {
            Ok(r) => r.delete_at() <= now,
            Err(RecordError::Damaged { .. }) => true,
            Err(_) => false,
        };
        if expired {
            remove(layout, &cluster);
            gone.push(cluster);
        }
    }
    remove_stale_temp_files(&layout.sessions_dir());
    super::handout::sweep(layout);
    // A kubeconfig whose record is gone is an orphan from a killed login
    // (login writes the kubeconfig, then the record). Young ones may belong
    // to a login in progress.
    if let Ok(entries) = fs::read_dir(layout.sessions_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(cluster) = name
                .strip_suffix(".kubeconfig")
                .map(|c| c.split(".exec-").next().unwrap_or(c))
                && !layout.record(cluster).exists()
                && older_than(&e, ORPHAN_GRACE)
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    gone
}

/// How long a file without its record (or a temp file) may be part of a
/// write still in progress.
pub const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

fn older_than(e: &fs::DirEntry, age: std::time::Duration) -> bool {
    e.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|a| a > age)
}

/// Temp files (`.NAME.tmp.PID.RAND`) past the grace period belong to a
/// writer that died before its rename.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp.") && older_than(&e, ORPHAN_GRACE) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(cluster: &str, layout: &Layout, ends_in: time::Duration) -> SessionRecord {
        let now = OffsetDateTime::now_utc();
        SessionRecord {
            version: RECORD_VERSION,
            cluster: cluster.into(),
            session_id: "s-1".into(),
            broker_url: "https://127.0.0.1:1".into(),
            broker_ca_file: None,
            issuer: "https://idp".into(),
            client_id: "kaccess".into(),
            subject: "alice".into(),
            username: "alice@example.com".into(),
            email: None,
            groups: vec!["kaccess:prod:sre".into()],
            namespaces: vec!["payments".into()],
            reason: Some("INC-1".into()),
            credential_kind: CredentialKind::Token,
            started_at: now,
            session_expires_at: now + ends_in,
            embedded: false,
            kubeconfig: layout.kubeconfig(cluster),
            token_store: "none".into(),
            reaper_pid: None,
            credential: CachedCredential {
                expires_at: now + time::Duration::minutes(10),
                certificate_pem: None,
                key_pem: None,
                token: Some(Secret::new("tok")),
            },
            id_token: None,
        }
    }

    #[test]
    fn record_round_trips_with_mode_0600() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("rt"));
        write(&l, &sample("prod", &l, time::Duration::hours(1))).unwrap();
        let r = read(&l, "prod").unwrap();
        assert_eq!(r.session_id, "s-1");
        assert_eq!(
            fs::metadata(l.record("prod")).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn truncated_record_is_damaged_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("rt"));
        write(&l, &sample("prod", &l, time::Duration::hours(1))).unwrap();
        let bytes = fs::read(l.record("prod")).unwrap();
        fs::write(l.record("prod"), &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(read(&l, "prod"), Err(RecordError::Damaged { .. })));
    }

    #[test]
    fn sweep_removes_ended_sessions_and_their_kubeconfig_only() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path().join("rt"));
        write(&l, &sample("old", &l, time::Duration::seconds(-1))).unwrap();
        write(&l, &sample("live", &l, time::Duration::hours(1))).unwrap();
        fs::write(l.kubeconfig("old"), "x").unwrap();
        fs::write(l.kubeconfig("live"), "x").unwrap();
        fs::write(l.kubeconfig("orphan"), "x").unwrap();
        fs::write(l.kubeconfig("young"), "x").unwrap();
        let old = std::time::SystemTime::now() - 2 * ORPHAN_GRACE;
        fs::File::options()
            .write(true)
            .open(l.kubeconfig("orphan"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let gone = sweep(&l, OffsetDateTime::now_utc());
        assert_eq!(gone, ["old"]);
        assert!(!l.kubeconfig("old").exists() && !l.record("old").exists());
        assert!(l.kubeconfig("live").exists() && l.record("live").exists());
        assert!(!l.kubeconfig("orphan").exists());
        assert!(
            l.kubeconfig("young").exists(),
            "a login in progress keeps its kubeconfig"
        );
    }
}
