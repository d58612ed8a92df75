//! `state: {postgres: {...}}` in `broker.yaml`, and what it turns into:
//! a tokio-postgres configuration with the password read from its file and
//! the TLS mode decided from the URL's `sslmode`.
//!
//! `sslmode` is read here rather than by tokio-postgres, which knows only
//! `disable`/`prefer`/`require` and would never verify. Ours always
//! verifies when TLS is used (`require` included: a broker that issues
//! cluster credentials must not talk to an impostor database), and plain
//! TCP is allowed only to a loopback address or a Unix socket.

use serde::Deserialize;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

/// Connections in the pool of one replica, unless configured otherwise
/// (the LISTEN connection comes on top).
pub const DEFAULT_POOL_SIZE: usize = 8;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PostgresConfig {
    /// `postgresql://user@host:5432/kaccess?sslmode=verify-full`, no
    /// password (that goes in `password-file`).
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the URL instead (a Kubernetes Secret): read, and
    /// checked, at start.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PEM roots that sign the database's certificate; without it the
    /// system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long reviews are still answered from memory after the database
    /// was lost; then they are refused.
    #[serde(
        default = "default_max_staleness",
        with = "crate::units::serde_duration"
    )]
    pub max_staleness: Duration,
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

fn default_max_staleness() -> Duration {
    super::super::DEFAULT_MAX_STALENESS
}
fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}

/// How the connection is secured, from `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (loopback or Unix socket only).
    Disable,
    /// TLS if the server offers it, verified; plain otherwise (loopback or
    /// Unix socket only; elsewhere `prefer` means `verify-full`).
    Prefer,
    /// TLS, the chain verified but not the host name.
    VerifyCa,
    /// TLS, chain and host name verified (`require` too).
    VerifyFull,
}

/// The parsed URL: what to connect to, and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub pg: tokio_postgres::Config,
    pub tls: TlsMode,
    /// The URL without secrets, for logs and errors.
    pub describe: String,
}

impl PostgresConfig {
    /// Checks what can be checked without reading files: the URL, its
    /// `sslmode`, and the pool size. Errors name the key.
    pub fn validate(&self, at: &str) -> Result<(), String> {
        match (&self.url, &self.url_file) {
            (Some(url), None) => {
                parse_url(url).map_err(|e| format!("`{at}.url`: {e}"))?;
            }
            (None, Some(_)) => {}
            _ => return Err(format!("`{at}`: give exactly one of `url` or `url-file`")),
        }
        if self.pool_size == 0 || self.pool_size > 1000 {
            return Err(format!(
                "`{at}.pool-size`: must be between 1 and 1000, not {}",
                self.pool_size
            ));
        }
        if self.max_staleness > Duration::from_secs(3600) {
            return Err(format!("`{at}.max-staleness`: at most 1h"));
        }
        Ok(())
    }

    /// The connection settings with the password read from its file.
    /// Blocking (reads the file).
    pub fn target(&self) -> anyhow::Result<Target> {
        let mut target = match (&self.url, &self.url_file) {
            (Some(url), _) => parse_url(url).map_err(anyhow::Error::msg)?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the database URL file `{}`: {e}",
                        path.display()
                    )
                })?;
                parse_url(text.trim())
                    .map_err(|e| anyhow::anyhow!("the database URL in `{}`: {e}", path.display()))?
            }
            (None, None) => anyhow::bail!("`state.postgres`: no `url` or `url-file`"),
        };
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the database password file `{}`: {e}",
                    path.display()
                )
            })?;
            target.pg.password(text.trim_end_matches(['\n', '\r']));
        }
        Ok(target)
    }
}

/// `postgresql://` or `postgres://` URL → [`Target`]. Refuses a password
/// in the URL (it would end up in logs and `ps`; use `password-file`) and
/// plain TCP to anything but loopback.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "postgresql" | "postgres") {
        return Err(format!(
            "`{}` is not a `postgresql://` URL",
            parsed.scheme()
        ));
    }
    if parsed.password().is_some() {
        return Err(
            "the URL holds a password; put it in `password-file` instead, so it \
                    stays out of the configuration and the logs"
                .into(),
        );
    }
    let mut mode = None;
    let rest: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, v)| {
            if k == "sslmode" {
                mode = Some(v.to_string());
                false
            } else {
                true
            }
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    let mut pg = tokio_postgres::Config::from_str(parsed.as_str())
        .map_err(|e| format!("not a PostgreSQL connection URL ({e})"))?;
    let local = is_local(&pg);
    let tls = match mode.as_deref() {
        None | Some("prefer") | Some("allow") if local => TlsMode::Prefer,
        None | Some("prefer") | Some("allow") | Some("require") | Some("verify-full") => {
            TlsMode::VerifyFull
        }
        Some("verify-ca") => TlsMode::VerifyCa,
        Some("disable") if local => TlsMode::Disable,
        Some("disable") => {
            return Err(format!(
                "`sslmode=disable` sends credentials and sessions in the clear; plain \
                 TCP is allowed only to a loopback address or a Unix socket, not `{}`",
                host_list(&pg)
            ));
        }
        Some(other) => {
            return Err(format!(
                "`sslmode={other}` is not one of disable, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    pg.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    pg.connect_timeout(Duration::from_secs(5));
    // Notice a dead peer without waiting for the kernel's two hours.
    pg.keepalives_idle(Duration::from_secs(10));
    pg.tcp_user_timeout(Duration::from_secs(10));
    if pg.get_application_name().is_none() {
        pg.application_name("kaccess");
    }
    let mut shown = parsed.clone();
    let _ = shown.set_password(None);
    Ok(Target {
        pg,
        tls,
        describe: shown.to_string(),
    })
}

/// Every host is a loopback address or a Unix socket.
fn is_local(pg: &tokio_postgres::Config) -> bool {
    let hosts = pg.get_hosts();
    let addrs = pg.get_hostaddrs();
    let host_ok = hosts.iter().all(|h| match h {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    });
    (!hosts.is_empty() || !addrs.is_empty()) && host_ok && addrs.iter().all(|a| a.is_loopback())
}

fn host_list(pg: &tokio_postgres::Config) -> String {
    pg.get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> Result<TlsMode, String> {
        parse_url(url).map(|t| t.tls)
    }

    #[test]
    fn sslmode_decides_tls_and_plain_tcp_is_only_for_loopback() {
        let remote = "postgresql://kaccess@db.example.com:5432/kaccess";
        assert_eq!(mode(remote), Ok(TlsMode::VerifyFull));
        for m in ["prefer", "require", "verify-full"] {
            assert_eq!(
                mode(&format!("{remote}?sslmode={m}")),
                Ok(TlsMode::VerifyFull)
            );
        }
        assert_eq!(
            mode(&format!("{remote}?sslmode=verify-ca")),
            Ok(TlsMode::VerifyCa)
        );
        let err = mode(&format!("{remote}?sslmode=disable")).unwrap_err();
        assert!(
            err.contains("loopback") && err.contains("db.example.com"),
            "{err}"
        );
        let local = "postgresql://kaccess@127.0.0.1:5432/kaccess";
        assert_eq!(
            mode(&format!("{local}?sslmode=disable")),
            Ok(TlsMode::Disable)
        );
        assert_eq!(mode(local), Ok(TlsMode::Prefer));
        assert_eq!(
            mode(&format!("{local}?sslmode=verify-full")),
            Ok(TlsMode::VerifyFull)
        );
        let err = mode(&format!("{local}?sslmode=sometimes")).unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_shown() {
        let err = mode("postgresql://kaccess:hunter2@127.0.0.1/kaccess").unwrap_err();
        assert!(err.contains("password-file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn other_url_options_pass_through_and_the_description_has_no_sslmode() {
        let t = parse_url(
            "postgresql://kaccess@127.0.0.1:6432/state?sslmode=disable&application_name=ha",
        )
        .unwrap();
        assert_eq!(t.pg.get_dbname(), Some("state"));
        assert_eq!(t.pg.get_ports(), &[6432]);
        assert_eq!(t.pg.get_application_name(), Some("ha"));
        assert_eq!(
            t.describe,
            "postgresql://kaccess@127.0.0.1:6432/state?application_name=ha"
        );
        assert!(parse_url("mysql://x@127.0.0.1/db").is_err());
    }
}
