//! Client configuration (`config.yaml`): where it lives, how it is loaded,
//! and the effective per-cluster settings the rest of kaccess reads.
//!
//! - `schema`: the effective types (`ClusterConfig`, ...), serializable
//! - `file`: parsing, `defaults` merging and validation with key paths
//! - `example`: the commented example `kaccess config init` writes
//! - `placeholders`: the example's values that must be replaced
//! - `yaml_limits`: size and nesting bounds on any YAML configuration

pub mod example;
pub mod file;
pub mod placeholders;
pub mod schema;
pub mod yaml_limits;

pub use file::ConfigError;
pub use schema::{BrokerConfig, ClusterConfig, CredentialKind, MfaConfig, OidcConfig};

use crate::error::Failure;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A loaded, fully checked configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub clusters: BTreeMap<String, ClusterConfig>,
}

/// `--config`/`$KACCESS_CONFIG` (clap fills both into one option), else
/// `<XDG config dir>/kaccess/config.yaml`.
pub fn path(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let dir = dirs::config_dir().ok_or_else(|| {
        Failure::usage("cannot find your configuration directory (is $HOME set?)")
            .help("pass `--config FILE` or set `KACCESS_CONFIG`")
    })?;
    Ok(dir.join("kaccess").join("config.yaml"))
}

/// The next step towards a session for `cluster`: `kaccess login`, or
/// first `kaccess config init` when there is no configuration file, where
/// the login would only fail.
pub fn login_help(explicit: Option<&Path>, cluster: &str) -> String {
    match path(explicit) {
        Ok(file) if !file.exists() => format!(
            "there is no configuration yet: run `kaccess config init`, put your cluster in `{}`, then run: kaccess login {cluster}",
            file.display()
        ),
        _ => format!("run: kaccess login {cluster}"),
    }
}

impl Config {
    /// Loads and checks the whole file. Every failure is exit 2 and names
    /// the file and the key path; so does a placeholder left from the
    /// example, checked first because it explains the other errors it
    /// causes (`<base64 PEM>` is not base64).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(failure(ConfigError::NotFound { path: path.into() }));
            }
            Err(source) => {
                return Err(failure(ConfigError::Read {
                    path: path.into(),
                    source,
                }));
            }
        };
        let found = placeholders::find(&text);
        if !found.is_empty() {
            return Err(failure(ConfigError::Placeholders {
                path: path.into(),
                found,
            }));
        }
        let clusters = file::parse(path, &text).map_err(failure)?;
        Ok(Config {
            path: path.into(),
            clusters,
        })
    }

    /// Loads the configuration named by the command line (or the default).
    pub fn load_from(explicit: Option<&Path>) -> anyhow::Result<Config> {
        Self::load(&path(explicit)?)
    }

    /// One cluster by name; an unknown name lists the known ones.
    pub fn cluster(&self, name: &str) -> anyhow::Result<&ClusterConfig> {
        self.clusters.get(name).ok_or_else(|| {
            let known: Vec<String> = self.clusters.keys().map(|k| format!("`{k}`")).collect();
            Failure::usage(format!(
                "no cluster `{name}` in `{}`; known clusters: {}",
                self.path.display(),
                known.join(", ")
            ))
            .help(format!(
                "add it under `clusters:` in `{}`",
                self.path.display()
            ))
            .into()
        })
    }
}

fn failure(e: ConfigError) -> anyhow::Error {
    let help = match &e {
        ConfigError::NotFound { .. } => {
            "create one with `kaccess config init`, or point `--config`/`KACCESS_CONFIG` at yours"
        }
        ConfigError::Placeholders { .. } => {
            "replace each value with your own (your identity provider, API server and broker), then run `kaccess config check`"
        }
        _ => "fix the file, then run `kaccess config check`",
    };
    Failure::usage(e.to_string()).help(help).into()
}
