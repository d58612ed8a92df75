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

/// Whether [`runtime_dir_path`] would have to ask the password database
/// (`getpwuid_r`, through NSS) for the home directory: none of
/// `KACCESS_RUNTIME_DIR`, `XDG_RUNTIME_DIR`, an absolute `XDG_CACHE_HOME`
/// or `HOME` is set, as `dirs::cache_dir` reads them. The static
/// `kaccess-credential` hands such a call to `kaccess`: static glibc would
/// load NSS modules at run time, which must match the glibc it was built
/// with.
pub fn needs_passwd_lookup() -> bool {
    needs_passwd_lookup_in(|name| std::env::var_os(name))
}

fn needs_passwd_lookup_in(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let from_env = set("KACCESS_RUNTIME_DIR").is_some()
        || set("XDG_RUNTIME_DIR").is_some()
        || set("XDG_CACHE_HOME").is_some_and(|d| d.is_absolute())
        || set("HOME").is_some();
    !from_env
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::needs_passwd_lookup_in;
    use std::ffi::OsString;

    fn needs(vars: &[(&str, &str)]) -> bool {
        needs_passwd_lookup_in(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn only_a_call_without_any_runtime_or_home_variable_needs_the_password_database() {
        assert!(needs(&[]));
        assert!(
            needs(&[("HOME", ""), ("XDG_RUNTIME_DIR", "")]),
            "empty is unset"
        );
        assert!(
            needs(&[("XDG_CACHE_HOME", "relative/cache")]),
            "dirs ignores a relative XDG_CACHE_HOME and asks for the home dir"
        );
        for var in ["KACCESS_RUNTIME_DIR", "XDG_RUNTIME_DIR", "HOME"] {
            assert!(!needs(&[(var, "/some/where")]), "{var}");
        }
        assert!(!needs(&[("XDG_CACHE_HOME", "/home/a/.cache")]));
    }
}
