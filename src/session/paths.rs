//! Where each file of a session lives inside the runtime dir, and the check
//! that keeps a cluster name from ever becoming a path of its own.

use crate::error::Failure;
use std::path::{Path, PathBuf};

/// Longest cluster name accepted (a DNS label is 63; leave room for names
/// like `eu-west-1.prod`).
pub const MAX_CLUSTER_NAME: usize = 100;

/// Cluster names are `[a-z0-9][a-z0-9._-]*`: safe as file names, with no
/// `/`, no `..` component, no NUL.
pub fn check_cluster_name(name: &str) -> Result<(), Failure> {
    let shown: String = name
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string();
    let bad = |why: &str| {
        Failure::usage(format!("`{shown}` is not a valid cluster name: {why}"))
            .help("cluster names are lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit; run `kaccess config check` to list them")
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_CLUSTER_NAME {
        return Err(bad(&format!(
            "it is longer than {MAX_CLUSTER_NAME} characters"
        )));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('-');
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(bad("it must start with a lowercase letter or a digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(&format!("it contains `{}`", c.escape_debug())));
    }
    if name.contains("..") {
        return Err(bad("it contains `..`"));
    }
    Ok(())
}

/// The files of sessions under one runtime dir.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// The session record (JSON) with the cached credential.
    pub fn record(&self, cluster: &str) -> PathBuf {
        self.sessions_dir().join(format!("{cluster}.json"))
    }
    /// The session kubeconfig users point `KUBECONFIG` at.
    pub fn kubeconfig(&self, cluster: &str) -> PathBuf {
        self.sessions_dir().join(format!("{cluster}.kubeconfig"))
    }
    /// A private copy for one `kaccess exec` child.
    pub fn exec_kubeconfig(&self, cluster: &str, pid: u32) -> PathBuf {
        self.sessions_dir()
            .join(format!("{cluster}.exec-{pid}.kubeconfig"))
    }
    pub fn lock(&self, cluster: &str) -> PathBuf {
        self.locks_dir().join(format!("{cluster}.lock"))
    }
    /// True when `path` is one of `cluster`'s exec copies.
    pub fn is_exec_copy_of(path: &Path, cluster: &str) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(cluster))
            .and_then(|rest| rest.strip_prefix(".exec-"))
            .is_some_and(|rest| rest.ends_with(".kubeconfig"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_cluster_names_are_refused_before_they_touch_a_path() {
        for bad in [
            "",
            "../etc",
            "a/b",
            "a\0b",
            "Prod",
            "-x",
            ".x",
            "a..b",
            &"a".repeat(300),
            "ü",
        ] {
            let err = check_cluster_name(bad).unwrap_err();
            assert_eq!(err.exit, crate::error::Exit::Usage, "{bad:?}");
            assert!(
                err.message.contains("not a valid cluster name"),
                "{}",
                err.message
            );
        }
        for good in ["prod", "eu-west-1.prod", "a_b", "0"] {
            assert!(check_cluster_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn exec_copies_are_recognised_per_cluster() {
        let l = Layout::new("/r");
        let p = l.exec_kubeconfig("prod", 42);
        assert!(Layout::is_exec_copy_of(&p, "prod"));
        assert!(!Layout::is_exec_copy_of(&p, "pro"));
        assert!(!Layout::is_exec_copy_of(&l.kubeconfig("prod"), "prod"));
    }
}
