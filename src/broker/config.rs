//! `broker.yaml`: the broker's configuration, read once at start. Unknown
//! keys are refused and every error names the key path
//! (`clusters.prod.grants[0].kube-groups`), because a typo in a security
//! policy must not be silently ignored. Relative file paths are resolved
//! against the config file's directory.

use crate::error::Failure;
use crate::store::postgres::PostgresConfig;
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod alerts;
mod elevation;
pub use alerts::{AlertMatch, AlertRule};
pub use elevation::{Approval, BreakGlass, NotifyTarget};

/// Where the state lives when `state:` is left out.
pub const DEFAULT_STATE_DB: &str = "/var/lib/kaccess/state.db";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    /// Plain HTTP; only honoured when `listen` is a loopback address.
    #[serde(default)]
    pub insecure_http: bool,
    #[serde(default)]
    pub tls: Option<KeyPairFiles>,
    #[serde(default)]
    pub state: StateConfig,
    /// Required with SQLite state (`audit.file`); optional with
    /// PostgreSQL, where the chain is kept in the database.
    #[serde(default)]
    pub audit: AuditConfig,
    pub issuers: Vec<IssuerConfig>,
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// IdP groups whose members may list every live session and revoke
    /// anyone's (with a reason and a fresh MFA login). Empty: nobody.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// IdP groups whose members may read the audit trail through the
    /// broker (session recordings, the live feed), with a fresh MFA
    /// login. Empty: nobody but `admin-groups` (the feed only).
    #[serde(default)]
    pub auditor_groups: Vec<String>,
    /// Webhooks told of every access request, decision, lapse and break
    /// glass, and of every alert.
    #[serde(default)]
    pub notify: Vec<NotifyTarget>,
    /// Rules matched against every audit record this broker writes.
    #[serde(default)]
    pub alerts: Vec<AlertRule>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyPairFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Exactly one of `sqlite: PATH` (one broker) or `postgres: {...}` (any
/// number of replicas on one database).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "StateKeys")]
pub enum StateConfig {
    Sqlite(PathBuf),
    Postgres(PostgresConfig),
}

/// `state:` as written (a YAML map, where serde_yaml wants `!tags` for
/// an enum).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StateKeys {
    sqlite: Option<PathBuf>,
    postgres: Option<PostgresConfig>,
}

impl TryFrom<StateKeys> for StateConfig {
    type Error = String;
    fn try_from(keys: StateKeys) -> Result<StateConfig, String> {
        match (keys.sqlite, keys.postgres) {
            (Some(path), None) => Ok(StateConfig::Sqlite(path)),
            (None, Some(pg)) => Ok(StateConfig::Postgres(pg)),
            _ => Err("give exactly one of `sqlite: PATH` or `postgres: {url: ...}`".into()),
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig::Sqlite(PathBuf::from(DEFAULT_STATE_DB))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuditConfig {
    /// The JSON-lines file (SQLite state only).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Also print each record on stdout (for log shippers).
    #[serde(default)]
    pub stdout: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IssuerConfig {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default)]
    pub mfa: MfaConfig,
    /// A new session needs an MFA login at most this old.
    #[serde(default, with = "crate::units::serde_opt_duration")]
    pub max_auth_age: Option<Duration>,
}

fn default_username_claim() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// Which `amr`/`acr` values count as MFA. With both lists empty no token
/// passes: the broker never issues without MFA.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MfaConfig {
    #[serde(default)]
    pub amr_any: Vec<String>,
    #[serde(default)]
    pub acr_any: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    pub ca: KeyPairFiles,
    /// Lifetime cap of one certificate or token.
    #[serde(with = "crate::units::serde_duration")]
    pub credential_ttl: Duration,
    /// No credential after session start + this.
    #[serde(with = "crate::units::serde_duration")]
    pub max_session: Duration,
    #[serde(default)]
    pub require_reason: bool,
    /// First match wins; no match means denied.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Serve this cluster's API through the access proxy.
    #[serde(default)]
    pub proxy: Option<crate::proxy::config::ProxyConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Grant {
    /// Required for `approval` and `break-glass`: users ask for a grant by
    /// name. Unique per cluster.
    #[serde(default)]
    pub name: Option<String>,
    pub idp_groups: Vec<String>,
    pub kube_groups: Vec<String>,
    /// `["*"]` means cluster-wide (a ClusterRoleBinding).
    pub namespaces: Vec<String>,
    pub cluster_role: String,
    /// Never matched by a plain login: only through an approved request.
    #[serde(default)]
    pub approval: Option<Approval>,
    /// Taken without approval by its members, with `--break-glass` and a
    /// reason; audited as such and notified at once.
    #[serde(default)]
    pub break_glass: Option<BreakGlass>,
}

impl Grant {
    pub fn cluster_wide(&self) -> bool {
        self.namespaces.iter().any(|n| n == "*")
    }
}

/// True for names Kubernetes reserves (`system:masters` above all): the
/// broker never puts these into a credential.
pub fn is_reserved_group(group: &str) -> bool {
    group.trim().to_ascii_lowercase().starts_with("system:")
}

/// Cluster names end up in URLs, file names and audit records on the
/// client side: keep them boring.
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
        && !name.starts_with('.')
}

impl BrokerConfig {
    /// Reads, parses, resolves paths, validates. Every error is a usage
    /// failure (exit 2) naming the file and key.
    pub fn load(path: &Path) -> Result<BrokerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read broker configuration `{}`: {e}",
                path.display()
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| {
            anyhow::Error::new(
                Failure::usage(format!(
                    "invalid broker configuration `{}`: {e}",
                    path.display()
                ))
                .help(format!(
                    "fix the key named above, then check with `kaccess serve --config {} --check`",
                    path.display()
                )),
            )
        })
    }

    /// Parses YAML text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<BrokerConfig, String> {
        crate::config::yaml_limits::check_yaml_shape(text)?;
        let de = serde_yaml::Deserializer::from_str(text);
        let mut cfg: BrokerConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." || path.is_empty() {
                e.into_inner().to_string()
            } else {
                format!("`{path}`: {}", e.into_inner())
            }
        })?;
        cfg.resolve_paths(base);
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert_file);
            fix(&mut tls.key_file);
        }
        match &mut self.state {
            StateConfig::Sqlite(path) => fix(path),
            StateConfig::Postgres(pg) => {
                pg.url_file.as_mut().map(fix);
                pg.password_file.as_mut().map(fix);
                pg.ca_file.as_mut().map(fix);
            }
        }
        if let Some(file) = &mut self.audit.file {
            fix(file);
        }
        for c in self.clusters.values_mut() {
            fix(&mut c.ca.cert_file);
            fix(&mut c.ca.key_file);
            if let Some(p) = &mut c.proxy {
                p.resolve_paths(&fix);
            }
        }
        for t in &mut self.notify {
            t.ca_file.iter_mut().for_each(fix);
            t.token_file.iter_mut().for_each(fix);
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.insecure_http && !self.listen.ip().is_loopback() {
            return Err(format!(
                "`insecure-http`: plain HTTP is only allowed on a loopback address, not `{}`",
                self.listen
            ));
        }
        if !self.insecure_http && self.tls.is_none() {
            return Err("`tls`: missing; HTTPS needs `tls: {cert-file, key-file}` \
                 (plain HTTP only with `insecure-http: true` on a loopback `listen`)"
                .into());
        }
        self.validate_state()?;
        if self.issuers.is_empty() {
            return Err("`issuers`: at least one issuer is needed".into());
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            let at = format!("issuers[{i}]");
            url::Url::parse(&iss.issuer)
                .map_err(|e| format!("`{at}.issuer`: `{}` is not a URL: {e}", iss.issuer))?;
            if iss.audiences.is_empty() {
                return Err(format!("`{at}.audiences`: at least one audience is needed"));
            }
            if iss.mfa.amr_any.is_empty() && iss.mfa.acr_any.is_empty() {
                return Err(format!(
                    "`{at}.mfa`: list the `amr-any` and/or `acr-any` values that prove MFA; \
                     the broker never issues without MFA"
                ));
            }
        }
        if self.clusters.is_empty() {
            return Err("`clusters`: at least one cluster is needed".into());
        }
        let mut listens = vec![("listen".to_string(), self.listen)];
        for (name, c) in &self.clusters {
            if let Some(p) = &c.proxy {
                let at = format!("clusters.{name}.proxy");
                p.validate(&at, self.tls.is_some() && !self.insecure_http)?;
                if p.record == crate::proxy::config::RecordPolicy::Required
                    && self.audit.file.is_none()
                {
                    return Err(format!(
                        "`{at}.record`: `required` needs somewhere to keep recordings, and they \
                         go beside `audit.file`, which PostgreSQL state has none of; set \
                         `record: optional` (streams run unrecorded) or `record: off`"
                    ));
                }
                if let Some((other, _)) = listens
                    .iter()
                    .find(|(_, a)| *a == p.listen && a.port() != 0)
                {
                    return Err(format!(
                        "`{at}.listen`: `{}` is already taken by `{other}`",
                        p.listen
                    ));
                }
                listens.push((format!("{at}.listen"), p.listen));
            }
        }
        for (name, c) in &self.clusters {
            if !valid_cluster_name(name) {
                return Err(format!(
                    "`clusters.{name}`: cluster names use only a-z, 0-9, `-`, `_`, `.` (at most 63)"
                ));
            }
            if c.credential_ttl.is_zero() || c.max_session.is_zero() {
                return Err(format!(
                    "`clusters.{name}`: `credential-ttl` and `max-session` must be above zero"
                ));
            }
            for (i, g) in c.grants.iter().enumerate() {
                let at = format!("clusters.{name}.grants[{i}]");
                if g.idp_groups.is_empty() || g.kube_groups.is_empty() {
                    return Err(format!(
                        "`{at}`: `idp-groups` and `kube-groups` must not be empty"
                    ));
                }
                if let Some(bad) = g.kube_groups.iter().find(|k| is_reserved_group(k)) {
                    return Err(format!(
                        "`{at}.kube-groups`: `{bad}` is a reserved Kubernetes group; \
                         the broker never issues `system:` groups"
                    ));
                }
                if g.namespaces.is_empty() {
                    return Err(format!(
                        "`{at}.namespaces`: list namespaces, or `[\"*\"]` for cluster-wide"
                    ));
                }
                if g.cluster_wide() && g.namespaces.len() > 1 {
                    return Err(format!(
                        "`{at}.namespaces`: `*` means cluster-wide and stands alone"
                    ));
                }
                if g.cluster_role.is_empty() {
                    return Err(format!("`{at}.cluster-role`: must not be empty"));
                }
            }
            elevation::validate_grants(name, &c.grants)?;
        }
        elevation::validate_notify(&self.notify)?;
        alerts::validate_alerts(&self.alerts)?;
        Ok(())
    }

    fn validate_state(&self) -> Result<(), String> {
        if let StateConfig::Postgres(pg) = &self.state {
            pg.validate("state.postgres")?;
        }
        match (&self.state, &self.audit.file) {
            (StateConfig::Sqlite(_), None) => Err(
                "`audit.file`: missing; with `state: {sqlite: ...}` the audit chain is a \
                 file (`audit: {file: /var/lib/kaccess/audit.jsonl}`)"
                    .into(),
            ),
            // Refused rather than mirrored: each replica's file would hold
            // only its own records, a chain no verifier could follow.
            (StateConfig::Postgres(_), Some(_)) => Err(
                "`audit.file`: with `state: {postgres: ...}` the audit chain is kept in \
                 the database, one chain for every replica; remove `audit.file` (use \
                 `audit.stdout: true` to ship the records, `kaccess audit export` to read them)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    pub fn issuer(&self, issuer: &str) -> Option<&IssuerConfig> {
        self.issuers.iter().find(|i| i.issuer == issuer)
    }
}

#[cfg(test)]
pub(crate) mod tests;
