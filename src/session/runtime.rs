//! Where kaccess keeps per-user state that must not outlive the machine's
//! uptime or be readable by others: sessions, cached credentials and the
//! refresh-token file fallback.

use crate::error::Failure;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// The runtime dir, created 0700 if missing and refused if it is a symlink,
/// not ours, or open to group/others:
/// `$KACCESS_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/kaccess`, else
/// `<cache dir>/kaccess` (a tmpfs is preferred, the cache dir is the fallback
/// on systems without one).
pub fn runtime_dir() -> Result<PathBuf> {
    let dir = runtime_dir_path()?;
    crate::fsutil::ensure_private_dir(&dir)
        .map_err(|e| {
            anyhow::Error::new(
                Failure::error(format!(
                    "the runtime dir `{}` is not safe to keep sessions in: {e:#}",
                    dir.display()
                ))
                .help("remove it or fix it (`chmod 700`, owned by you, not a symlink), or set `KACCESS_RUNTIME_DIR`"),
            )
        })?;
    Ok(dir)
}

/// The runtime dir's path, without creating or checking it.
pub fn runtime_dir_path() -> Result<PathBuf> {
    if let Some(d) = non_empty_env("KACCESS_RUNTIME_DIR") {
        return Ok(d);
    }
    if let Some(d) = non_empty_env("XDG_RUNTIME_DIR") {
        return Ok(d.join("kaccess"));
    }
    let cache = dirs::cache_dir()
        .context("cannot find a runtime or cache directory; set `KACCESS_RUNTIME_DIR`")?;
    Ok(cache.join("kaccess"))
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
