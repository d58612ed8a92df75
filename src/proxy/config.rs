//! A cluster's `proxy:` block in `broker.yaml`: where the access proxy
//! listens, its serving pair, and how it reaches and authenticates to the
//! real kube-apiserver. Parsed with the rest of the broker's config (same
//! unknown-key and key-path rules); [`ProxyConfig::validate`] adds what
//! serde cannot say, including that every named file exists, so a typo is
//! an exit 2 at start (and at `kaccess serve --check`), not a 502 later.

use crate::broker::config::KeyPairFiles;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// The proxy's serving pair; the broker's `tls` when left out.
    #[serde(default)]
    pub tls: Option<KeyPairFiles>,
    pub upstream: UpstreamConfig,
    /// Session recordings of `exec` and `attach` (see `proxy::recording`).
    #[serde(default)]
    pub record: RecordPolicy,
}

/// `record:` in a cluster's `proxy:` block: whether interactive streams
/// (`exec`, `attach`) are recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordPolicy {
    /// Nothing is recorded.
    Off,
    /// Recorded when the stream can be; otherwise it runs, and its record
    /// says why it was not recorded.
    #[default]
    Optional,
    /// A stream that cannot be recorded is refused before it is forwarded.
    Required,
}

impl RecordPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordPolicy::Off => "off",
            RecordPolicy::Optional => "optional",
            RecordPolicy::Required => "required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamConfig {
    /// kube-apiserver, `https://HOST:PORT`.
    pub server: String,
    /// The only CA trusted for the apiserver's serving certificate.
    pub certificate_authority: PathBuf,
    /// The proxy's own bearer token (re-read when the file changes, as a
    /// projected service-account token is rotated).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// Who the proxy is at the apiserver, so `kaccess rbac render` can
    /// bind its impersonation role.
    #[serde(default)]
    pub identity: Option<ProxyIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawIdentity")]
pub enum ProxyIdentity {
    /// `NAMESPACE/NAME`
    Serviceaccount(String),
    User(String),
}

/// `{serviceaccount: NS/NAME}` or `{user: NAME}` as YAML writes it (a
/// serde enum would want a YAML tag).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    serviceaccount: Option<String>,
    user: Option<String>,
}

impl TryFrom<RawIdentity> for ProxyIdentity {
    type Error = String;
    fn try_from(raw: RawIdentity) -> Result<Self, String> {
        match (raw.serviceaccount, raw.user) {
            (Some(sa), None) => Ok(ProxyIdentity::Serviceaccount(sa)),
            (None, Some(user)) => Ok(ProxyIdentity::User(user)),
            _ => Err("give exactly one of `serviceaccount: NAMESPACE/NAME` or `user: NAME`".into()),
        }
    }
}

/// How the proxy proves itself to the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCredential<'a> {
    TokenFile(&'a Path),
    ClientCert { cert: &'a Path, key: &'a Path },
}

impl UpstreamConfig {
    /// Valid once [`ProxyConfig::validate`] passed.
    pub fn credential(&self) -> Option<UpstreamCredential<'_>> {
        match (
            &self.token_file,
            &self.client_cert_file,
            &self.client_key_file,
        ) {
            (Some(t), None, None) => Some(UpstreamCredential::TokenFile(t)),
            (None, Some(cert), Some(key)) => Some(UpstreamCredential::ClientCert { cert, key }),
            _ => None,
        }
    }
}

impl ProxyIdentity {
    /// The RBAC subject of a binding to the proxy's role.
    pub fn subject(&self) -> serde_json::Value {
        match self {
            ProxyIdentity::Serviceaccount(sa) => {
                let (ns, name) = sa.split_once('/').unwrap_or(("", sa));
                serde_json::json!({"kind": "ServiceAccount", "namespace": ns, "name": name})
            }
            ProxyIdentity::User(name) => serde_json::json!({
                "kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name
            }),
        }
    }
}

impl ProxyConfig {
    pub fn resolve_paths(&mut self, fix: &impl Fn(&mut PathBuf)) {
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert_file);
            fix(&mut tls.key_file);
        }
        let u = &mut self.upstream;
        fix(&mut u.certificate_authority);
        for p in [
            &mut u.token_file,
            &mut u.client_cert_file,
            &mut u.client_key_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }

    /// `at` is the key path of this block (`clusters.prod.proxy`);
    /// `broker_tls` whether the broker has a serving pair to lend.
    pub fn validate(&self, at: &str, broker_tls: bool) -> Result<(), String> {
        if self.tls.is_none() && !broker_tls {
            return Err(format!(
                "`{at}.tls`: missing; the proxy serves HTTPS only, and the broker has no `tls` to lend it"
            ));
        }
        let u = &self.upstream;
        let url = url::Url::parse(&u.server).map_err(|e| {
            format!(
                "`{at}.upstream.server`: `{}` is not a URL ({e}); expected e.g. `https://10.0.0.1:6443`",
                u.server
            )
        })?;
        if url.scheme() != "https"
            || url.host().is_none()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(format!(
                "`{at}.upstream.server`: `{}` must be a plain `https://HOST:PORT` (no path, query or credentials)",
                u.server
            ));
        }
        if u.credential().is_none() {
            return Err(format!(
                "`{at}.upstream`: give either `token-file`, or both `client-cert-file` and `client-key-file`"
            ));
        }
        if let Some(ProxyIdentity::Serviceaccount(sa)) = &u.identity {
            let ok = sa.split_once('/').is_some_and(|(ns, name)| {
                !ns.is_empty() && !name.is_empty() && !name.contains('/')
            });
            if !ok {
                return Err(format!(
                    "`{at}.upstream.identity.serviceaccount`: `{sa}` must be `NAMESPACE/NAME`"
                ));
            }
        }
        if let Some(ProxyIdentity::User(name)) = &u.identity
            && name.trim().is_empty()
        {
            return Err(format!("`{at}.upstream.identity.user`: must not be empty"));
        }
        let mut files = vec![("upstream.certificate-authority", &u.certificate_authority)];
        files.extend(u.token_file.iter().map(|p| ("upstream.token-file", p)));
        files.extend(
            u.client_cert_file
                .iter()
                .map(|p| ("upstream.client-cert-file", p)),
        );
        files.extend(
            u.client_key_file
                .iter()
                .map(|p| ("upstream.client-key-file", p)),
        );
        if let Some(tls) = &self.tls {
            files.push(("tls.cert-file", &tls.cert_file));
            files.push(("tls.key-file", &tls.key_file));
        }
        for (key, path) in files {
            if !path.is_file() {
                return Err(format!(
                    "`{at}.{key}`: `{}` does not exist or is not a file",
                    path.display()
                ));
            }
        }
        Ok(())
    }
}
