//! File writes that are never half-done and never readable by others.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// created with `mode`, fsynced, then renamed over `path`. A reader (or a
/// crash) sees the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("`{}` has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("`{}` has no file name", path.display()))?
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create `{}`", tmp.display()))?;
        // The umask may have narrowed the mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync `{}`", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| {
            format!(
                "cannot move `{}` into place at `{}`",
                tmp.display(),
                path.display()
            )
        })?;
        let _ = sync_parent(path);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Syncs the directory holding `path`, so a file just created or renamed
/// there survives a crash.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Why a path is not safe to keep secrets in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unsafe {
    #[error("`{0}` is a symbolic link")]
    Symlink(String),
    #[error("`{path}` is owned by uid {owner}, not by you (uid {me})")]
    NotOwned { path: String, owner: u32, me: u32 },
    #[error("`{path}` has mode {mode:o}; group and others must have no access")]
    TooOpen { path: String, mode: u32 },
    #[error("`{0}` is not a directory")]
    NotDir(String),
    #[error("`{0}` is not a regular file")]
    NotFile(String),
}

/// The current user's uid.
pub fn my_uid() -> u32 {
    // SAFETY: getuid cannot fail and has no preconditions.
    unsafe { libc::getuid() }
}

/// Checks that `path` (not followed if a link) is ours, private, and of the
/// expected kind. Used for the runtime dir and every session file.
pub fn check_private(path: &Path, want_dir: bool) -> Result<(), Unsafe> {
    let shown = path.display().to_string();
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()), // absent: the caller creates it privately
    };
    if meta.file_type().is_symlink() {
        return Err(Unsafe::Symlink(shown));
    }
    if want_dir && !meta.is_dir() {
        return Err(Unsafe::NotDir(shown));
    }
    if !want_dir && !meta.is_file() {
        return Err(Unsafe::NotFile(shown));
    }
    let me = my_uid();
    if meta.uid() != me {
        return Err(Unsafe::NotOwned {
            path: shown,
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Unsafe::TooOpen { path: shown, mode });
    }
    Ok(())
}

/// Creates `dir` (and parents) if missing, with mode 0700 for the last
/// component, then checks it with [`check_private`].
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    check_private(dir, true)?;
    if !dir.exists() {
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create `{}`", dir.display()));
            }
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        check_private(dir, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_file_with_exact_mode_and_no_temp_left() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn private_check_refuses_symlink_and_open_modes() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        ensure_private_dir(&real).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            check_private(&link, true),
            Err(Unsafe::Symlink(_))
        ));
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            check_private(&real, true),
            Err(Unsafe::TooOpen { mode: 0o755, .. })
        ));
        assert!(ensure_private_dir(&real).is_err());
    }
}
