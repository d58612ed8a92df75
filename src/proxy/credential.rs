//! The proxy's own bearer token for kube-apiserver, from `token-file`.
//! Projected service-account tokens are rotated in place by the kubelet,
//! so the file is looked at again (one `stat`) at most once a second and
//! re-read when its modification time or length changed.

use anyhow::{Context, Result};
use http::HeaderValue;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

const RECHECK: Duration = Duration::from_secs(1);

pub struct TokenFile {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    checked: Instant,
    stamp: (Option<SystemTime>, u64),
    header: HeaderValue,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Result<(Option<SystemTime>, u64)> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read `upstream.token-file` `{}`", path.display()))?;
    Ok((meta.modified().ok(), meta.len()))
}

fn read(path: &Path) -> Result<HeaderValue> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `upstream.token-file` `{}`", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("`upstream.token-file` `{}` is empty", path.display());
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).with_context(|| {
        format!(
            "`upstream.token-file` `{}` does not hold a token",
            path.display()
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl TokenFile {
    /// Reads the token now: a missing or empty file stops the start.
    pub fn open(path: &Path) -> Result<TokenFile> {
        let stamp = stamp(path)?;
        let header = read(path)?;
        Ok(TokenFile {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                checked: Instant::now(),
                stamp,
                header,
            }),
        })
    }

    /// The `Authorization` value to send. A file that became unreadable
    /// keeps the last good token (the apiserver judges it), and says so.
    pub fn header(&self) -> HeaderValue {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.checked.elapsed() >= RECHECK {
            st.checked = Instant::now();
            match stamp(&self.path) {
                Ok(now) if now != st.stamp => match read(&self.path) {
                    Ok(header) => {
                        st.stamp = now;
                        st.header = header;
                        tracing::info!(path = %self.path.display(), "proxy: re-read the upstream token");
                    }
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "proxy: keeping the last upstream token"
                    ),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "proxy: keeping the last upstream token"
                ),
            }
        }
        st.header.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_token_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = TokenFile::open(&path).unwrap();
        assert_eq!(file.header(), "Bearer first");
        std::fs::write(&path, "second-token\n").unwrap();
        // Let the recheck interval pass without sleeping in the test.
        file.state.lock().unwrap().checked -= RECHECK;
        assert_eq!(file.header(), "Bearer second-token");
    }

    #[test]
    fn an_empty_token_file_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "\n").unwrap();
        let err = TokenFile::open(&path).unwrap_err();
        assert!(format!("{err:#}").contains("is empty"), "{err:#}");
    }
}
