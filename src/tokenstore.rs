//! Where refresh tokens are kept between logins: the OS keyring (Secret
//! Service on Linux), else a 0600 file in the runtime dir, with one warning
//! line saying so. Entries are keyed by issuer + client id + subject, so
//! two accounts or two IdPs never overwrite each other.

use crate::cli::TokenStore as Choice;
use crate::fsutil;
use crate::secret::Secret;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Keyring service name of every kaccess entry.
pub const SERVICE: &str = "kaccess";

/// A locked keyring may pop up an unlock prompt nobody answers; give up
/// after this long and fall back to the file.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose refresh token this is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenKey {
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
}

impl TokenKey {
    /// The keyring `username` attribute: all three parts, unambiguous
    /// because issuer URLs contain no spaces.
    fn account(&self) -> String {
        format!("{} {} {}", self.issuer, self.client_id, self.subject)
    }

    fn file_name(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.issuer, &self.client_id, &self.subject] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        format!("{}.json", hex::encode(&h.finalize()[..16]))
    }
}

/// Where a refresh token ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Keyring,
    File(PathBuf),
    /// `--token-store none`, or the IdP gave no refresh token.
    Nowhere,
}

impl Stored {
    pub fn describe(&self) -> String {
        match self {
            Stored::Keyring => "keyring".into(),
            Stored::File(p) => format!("file {}", p.display()),
            Stored::Nowhere => "none".into(),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Stored::Keyring => "keyring",
            Stored::File(_) => "file",
            Stored::Nowhere => "none",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    #[serde(flatten)]
    key: TokenKey,
    refresh_token: Secret,
}

/// The refresh-token store chosen by `--token-store`.
#[derive(Debug, Clone)]
pub struct TokenStore {
    choice: Choice,
    dir: PathBuf,
}

impl TokenStore {
    /// `runtime_dir` holds the file fallback (under `tokens/`).
    pub fn new(choice: Choice, runtime_dir: &Path) -> Self {
        TokenStore {
            choice,
            dir: runtime_dir.join("tokens"),
        }
    }

    /// Stores `token` for `key`. With the keyring choice and no working
    /// keyring, writes the file and prints one warning line on stderr.
    pub fn save(&self, key: &TokenKey, token: &Secret) -> Result<Stored> {
        match self.choice {
            Choice::None => {
                self.delete(key)?;
                Ok(Stored::Nowhere)
            }
            Choice::File => self.save_file(key, token),
            Choice::Keyring => match keyring::set(key, token) {
                Ok(()) => {
                    // A token left in the file by an earlier fallback is stale now.
                    self.delete_file(key)?;
                    Ok(Stored::Keyring)
                }
                Err(why) => {
                    let stored = self.save_file(key, token)?;
                    if let Stored::File(path) = &stored {
                        eprintln!(
                            "kaccess: warning: no OS keyring available ({why}); the refresh token is kept in `{}` (mode 0600)",
                            path.display()
                        );
                    }
                    Ok(stored)
                }
            },
        }
    }

    /// The stored refresh token for `key`, if any: keyring first, then file.
    pub fn load(&self, key: &TokenKey) -> Result<Option<Secret>> {
        match self.choice {
            Choice::None => Ok(None),
            Choice::File => self.load_file(key),
            Choice::Keyring => match keyring::get(key) {
                Ok(Some(t)) => Ok(Some(t)),
                Ok(None) | Err(_) => self.load_file(key),
            },
        }
    }

    /// Removes `key`'s token everywhere it may be (logout, a failed refresh).
    pub fn delete(&self, key: &TokenKey) -> Result<()> {
        if keyring::available().is_ok() {
            // Best effort: an unreachable keyring has nothing we can delete.
            let _ = keyring::delete(key);
        }
        self.delete_file(key)
    }

    fn file_path(&self, key: &TokenKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    fn save_file(&self, key: &TokenKey, token: &Secret) -> Result<Stored> {
        fsutil::ensure_private_dir(&self.dir)?;
        let path = self.file_path(key);
        let entry = FileEntry {
            key: key.clone(),
            refresh_token: token.clone(),
        };
        let bytes = serde_json::to_vec(&entry)?;
        fsutil::write_atomic(&path, &bytes, 0o600)?;
        Ok(Stored::File(path))
    }

    fn load_file(&self, key: &TokenKey) -> Result<Option<Secret>> {
        let path = self.file_path(key);
        fsutil::check_private(&self.dir, true)?;
        fsutil::check_private(&path, false)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        let entry: FileEntry = serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}` is not a kaccess token file", path.display()))?;
        Ok((entry.key == *key).then_some(entry.refresh_token))
    }

    fn delete_file(&self, key: &TokenKey) -> Result<()> {
        let path = self.file_path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove `{}`", path.display())),
        }
    }
}

/// The OS keyring, each call bounded by [`KEYRING_TIMEOUT`]. Errors are
/// one-line reasons for the fallback warning.
mod keyring {
    use super::*;
    use keyring_core::api::CredentialStoreApi;

    /// Why no keyring can be used here, checked before touching D-Bus so a
    /// machine without a session bus never tries to autolaunch one.
    pub fn available() -> Result<(), String> {
        if !cfg!(target_os = "linux") {
            return Err("only the Secret Service keyring is supported on this platform".into());
        }
        match std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
            Some(v) if !v.is_empty() => Ok(()),
            _ => Err("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set".into()),
        }
    }

    fn with_entry<T: Send + 'static>(
        key: &TokenKey,
        op: impl FnOnce(keyring_core::Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        available()?;
        let account = key.account();
        let label = format!(
            "kaccess refresh token for {} at {}",
            key.subject, key.issuer
        );
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let result = (|| {
                let store = dbus_secret_service_keyring_store::Store::new()?;
                let mods = std::collections::HashMap::from([("label", label.as_str())]);
                let entry = store.build(SERVICE, &account, Some(&mods))?;
                op(entry)
            })();
            let _ = tx.send(result);
        });
        match rx.recv_timeout(KEYRING_TIMEOUT) {
            Ok(r) => r.map_err(|e| format!("Secret Service: {e}")),
            Err(_) => Err(format!(
                "the Secret Service keyring did not answer within {}s (locked?)",
                KEYRING_TIMEOUT.as_secs()
            )),
        }
    }

    pub fn set(key: &TokenKey, token: &Secret) -> Result<(), String> {
        let value = token.expose().to_owned();
        with_entry(key, move |e| e.set_password(&value))
    }

    pub fn get(key: &TokenKey) -> Result<Option<Secret>, String> {
        with_entry(key, |e| match e.get_password() {
            Ok(p) => Ok(Some(Secret::new(p))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
    }

    pub fn delete(key: &TokenKey) -> Result<(), String> {
        with_entry(key, |e| match e.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key(sub: &str) -> TokenKey {
        TokenKey {
            issuer: "https://login.example.com".into(),
            client_id: "kaccess".into(),
            subject: sub.into(),
        }
    }

    #[test]
    fn file_store_round_trips_per_subject_with_mode_0600() {
        let d = tempfile::tempdir().unwrap();
        let store = TokenStore::new(Choice::File, d.path());
        let stored = store.save(&key("alice"), &Secret::new("rt-a")).unwrap();
        store.save(&key("bob"), &Secret::new("rt-b")).unwrap();
        let Stored::File(path) = stored else {
            panic!("stored as {stored:?}")
        };
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(store.load(&key("alice")).unwrap().unwrap().expose(), "rt-a");
        assert_eq!(store.load(&key("bob")).unwrap().unwrap().expose(), "rt-b");
        store.delete(&key("alice")).unwrap();
        assert!(store.load(&key("alice")).unwrap().is_none());
    }

    #[test]
    fn none_store_keeps_nothing() {
        let d = tempfile::tempdir().unwrap();
        let store = TokenStore::new(Choice::None, d.path());
        assert_eq!(
            store.save(&key("alice"), &Secret::new("x")).unwrap(),
            Stored::Nowhere
        );
        assert!(store.load(&key("alice")).unwrap().is_none());
        assert!(!d.path().join("tokens").exists());
    }
}
