//! Reading `config.yaml`: the file as written (every key optional, unknown
//! keys refused), `defaults` merged under each cluster, and the checks that
//! need more than a type (URLs, names, required keys). Every error names the
//! file and the key path so the fix is one edit away.

use super::schema::{
    BrokerConfig, ClusterConfig, CredentialKind, DEFAULT_AMR_ANY, DEFAULT_SCOPES, MfaConfig,
    OidcConfig,
};
use super::yaml_limits::check_yaml_shape;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file at `{}`", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}`: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("`{}`: `{key}`: {message}", path.display())]
    Key {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("`{}`: `{key}` is missing; {expected}", path.display())]
    Missing {
        path: PathBuf,
        key: String,
        expected: String,
    },
    #[error("{}", super::placeholders::describe(path, found))]
    Placeholders {
        path: PathBuf,
        found: Vec<super::placeholders::Placeholder>,
    },
}

/// The file as written: everything optional so `defaults` can supply it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Option<RawCluster>,
    #[serde(default)]
    clusters: Option<BTreeMap<String, RawCluster>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawCluster {
    server: Option<String>,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<PathBuf>,
    namespace: Option<String>,
    oidc: Option<RawOidc>,
    broker: Option<RawBroker>,
    credential: Option<CredentialKind>,
    #[serde(default, with = "crate::units::serde_opt_duration")]
    session_ttl: Option<Duration>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawOidc {
    issuer: Option<String>,
    client_id: Option<String>,
    scopes: Option<Vec<String>>,
    acr_values: Option<Vec<String>>,
    #[serde(default, with = "crate::units::serde_opt_duration")]
    max_auth_age: Option<Duration>,
    mfa: Option<RawMfa>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawMfa {
    required: Option<bool>,
    amr_any: Option<Vec<String>>,
    acr_any: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawBroker {
    url: Option<String>,
    ca_file: Option<PathBuf>,
}

/// Parses and checks `text` (read from `path`, which is only used in
/// messages and to resolve relative file paths).
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, ClusterConfig>, ConfigError> {
    check_yaml_shape(text).map_err(|message| ConfigError::Syntax {
        path: path.into(),
        message,
    })?;
    let raw: RawFile = if text.trim().is_empty() {
        RawFile::default()
    } else {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let mut message = e.into_inner().to_string();
            // serde_yaml starts with its own (shorter) path; ours is better.
            if let Some((head, rest)) = message.split_once(": ")
                && !head.contains(char::is_whitespace)
            {
                message = rest.to_owned();
            }
            if key == "." || key.is_empty() {
                ConfigError::Syntax {
                    path: path.into(),
                    message,
                }
            } else {
                ConfigError::Key {
                    path: path.into(),
                    key,
                    message,
                }
            }
        })?
    };
    let ctx = Ctx { path };
    let defaults = raw.defaults.unwrap_or_default();
    ctx.check_values("defaults", &defaults)?;
    let clusters = raw.clusters.unwrap_or_default();
    if clusters.is_empty() {
        return Err(ConfigError::Missing {
            path: path.into(),
            key: "clusters".into(),
            expected: "add at least one cluster under `clusters:` (see `kaccess config init`)"
                .into(),
        });
    }
    let mut out = BTreeMap::new();
    for (name, cluster) in clusters {
        let at = format!("clusters.{name}");
        if !valid_cluster_name(&name) {
            return Err(ctx.key(
                &at,
                format!("`{name}` is not a valid cluster name; expected lowercase letters, digits, `.`, `_`, `-`, starting with a letter or digit"),
            ));
        }
        ctx.check_values(&at, &cluster)?;
        let merged = merge(cluster, &defaults);
        out.insert(name.clone(), ctx.resolve(&name, merged)?);
    }
    Ok(out)
}

/// `[a-z0-9][a-z0-9._-]*`: safe as a file name and a kubeconfig context.
pub fn valid_cluster_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// `cluster` wins key by key; `defaults` fills the gaps, nested tables too.
fn merge(cluster: RawCluster, defaults: &RawCluster) -> RawCluster {
    let d = defaults.clone();
    RawCluster {
        server: cluster.server.or(d.server),
        certificate_authority_data: cluster
            .certificate_authority_data
            .or(d.certificate_authority_data),
        certificate_authority: cluster.certificate_authority.or(d.certificate_authority),
        namespace: cluster.namespace.or(d.namespace),
        oidc: match (cluster.oidc, d.oidc) {
            (Some(c), Some(d)) => Some(RawOidc {
                issuer: c.issuer.or(d.issuer),
                client_id: c.client_id.or(d.client_id),
                scopes: c.scopes.or(d.scopes),
                acr_values: c.acr_values.or(d.acr_values),
                max_auth_age: c.max_auth_age.or(d.max_auth_age),
                mfa: match (c.mfa, d.mfa) {
                    (Some(c), Some(d)) => Some(RawMfa {
                        required: c.required.or(d.required),
                        amr_any: c.amr_any.or(d.amr_any),
                        acr_any: c.acr_any.or(d.acr_any),
                    }),
                    (c, d) => c.or(d),
                },
                ca_file: c.ca_file.or(d.ca_file),
            }),
            (c, d) => c.or(d),
        },
        broker: match (cluster.broker, d.broker) {
            (Some(c), Some(d)) => Some(RawBroker {
                url: c.url.or(d.url),
                ca_file: c.ca_file.or(d.ca_file),
            }),
            (c, d) => c.or(d),
        },
        credential: cluster.credential.or(d.credential),
        session_ttl: cluster.session_ttl.or(d.session_ttl),
    }
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn key(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn missing(&self, name: &str, key: &str) -> ConfigError {
        let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
        let in_defaults = if table.is_empty() {
            "defaults".to_string()
        } else {
            format!("defaults.{table}")
        };
        ConfigError::Missing {
            path: self.path.into(),
            key: format!("clusters.{name}.{key}"),
            expected: format!(
                "set `{leaf}` under `clusters.{name}{}` or under `{in_defaults}`",
                if table.is_empty() {
                    String::new()
                } else {
                    format!(".{table}")
                }
            ),
        }
    }

    /// Checks the values present in one table (`defaults` or a cluster), at
    /// their own key path, before merging hides where they came from.
    fn check_values(&self, at: &str, c: &RawCluster) -> Result<(), ConfigError> {
        if let Some(s) = &c.server {
            check_url(s).map_err(|m| self.key(&format!("{at}.server"), m))?;
        }
        if let Some(data) = &c.certificate_authority_data {
            check_ca_data(data)
                .map_err(|m| self.key(&format!("{at}.certificate-authority-data"), m))?;
        }
        if c.certificate_authority_data.is_some() && c.certificate_authority.is_some() {
            return Err(self.key(
                &format!("{at}.certificate-authority"),
                "set either `certificate-authority` or `certificate-authority-data`, not both",
            ));
        }
        if c.namespace.as_deref() == Some("") {
            return Err(self.key(
                &format!("{at}.namespace"),
                "expected a namespace name, found an empty string",
            ));
        }
        if let Some(o) = &c.oidc {
            if let Some(i) = &o.issuer {
                check_url(i).map_err(|m| self.key(&format!("{at}.oidc.issuer"), m))?;
            }
            if o.client_id
                .as_deref()
                .is_some_and(|id| id.trim().is_empty())
            {
                return Err(self.key(
                    &format!("{at}.oidc.client-id"),
                    "expected the OIDC client id, found an empty string",
                ));
            }
            if o.scopes
                .as_ref()
                .is_some_and(|scopes| !scopes.iter().any(|s| s == "openid"))
            {
                return Err(self.key(&format!("{at}.oidc.scopes"), "must include `openid`"));
            }
        }
        if let Some(u) = c.broker.as_ref().and_then(|b| b.url.as_ref()) {
            check_url(u).map_err(|m| self.key(&format!("{at}.broker.url"), m))?;
        }
        if let Some(ttl) = c.session_ttl {
            crate::protocol::check_session_length(ttl)
                .map_err(|m| self.key(&format!("{at}.session-ttl"), m))?;
        }
        Ok(())
    }

    /// Turns a merged table into the effective config, filling defaults and
    /// refusing what is still missing.
    fn resolve(&self, name: &str, c: RawCluster) -> Result<ClusterConfig, ConfigError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let rel = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
        let oidc = c.oidc.unwrap_or_default();
        let mfa = oidc.mfa.unwrap_or_default();
        let broker = c.broker.unwrap_or_default();
        let required = mfa.required.unwrap_or(true);
        let amr_any = mfa
            .amr_any
            .unwrap_or_else(|| DEFAULT_AMR_ANY.iter().map(|s| s.to_string()).collect());
        let acr_any = mfa.acr_any.unwrap_or_default();
        if required && amr_any.is_empty() && acr_any.is_empty() {
            return Err(self.key(
                &format!("clusters.{name}.oidc.mfa"),
                "`amr-any` and `acr-any` are both empty, so no login could pass; list what counts as MFA or set `required: false`",
            ));
        }
        Ok(ClusterConfig {
            name: name.into(),
            server: c.server.ok_or_else(|| self.missing(name, "server"))?,
            certificate_authority_data: c.certificate_authority_data,
            certificate_authority: c.certificate_authority.map(rel),
            namespace: c.namespace,
            oidc: OidcConfig {
                issuer: oidc
                    .issuer
                    .ok_or_else(|| self.missing(name, "oidc.issuer"))?,
                client_id: oidc
                    .client_id
                    .ok_or_else(|| self.missing(name, "oidc.client-id"))?,
                scopes: oidc
                    .scopes
                    .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()),
                acr_values: oidc.acr_values.unwrap_or_default(),
                max_auth_age: oidc.max_auth_age,
                mfa: MfaConfig {
                    required,
                    amr_any,
                    acr_any,
                },
                ca_file: oidc.ca_file.map(rel),
            },
            broker: BrokerConfig {
                url: broker.url.ok_or_else(|| self.missing(name, "broker.url"))?,
                ca_file: broker.ca_file.map(rel),
            },
            credential: c.credential.unwrap_or_default(),
            session_ttl: c.session_ttl,
        })
    }
}

/// https, or plain http on a loopback host only (test IdPs and brokers).
pub fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| {
        format!("`{text}` is not a URL ({e}); expected e.g. `https://login.example.com`")
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}` has a query or fragment; expected a plain https URL"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err(format!(
                "`{text}` uses plain http; expected an https URL (http is allowed only for 127.0.0.1, localhost and ::1)"
            )),
        },
        other => Err(format!(
            "`{text}` has scheme `{other}`; expected an https URL"
        )),
    }
}

fn check_ca_data(data: &str) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| {
            format!("expected base64 of a PEM certificate bundle, but it is not base64 ({e})")
        })?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("expected base64 of a PEM certificate bundle, but the decoded data holds no `BEGIN CERTIFICATE`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
