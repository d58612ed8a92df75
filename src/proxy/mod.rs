//! The access proxy: a cluster with a `proxy:` block has its Kubernetes API
//! served by `kaccess serve` on its own TLS listener. Every request is
//! authenticated against the broker's store (the session's client
//! certificate by serial, or its bearer token), refused unless the session
//! is live, recorded durably in the audit chain, and only then forwarded to
//! kube-apiserver as the proxy's own identity impersonating the person
//! (user, groups, session id and reason as extra). Open streams are cut the
//! moment their session is revoked or ends.
//!
//! - `config`: the `proxy:` block; `tls`: both TLS ends; `credential`: the
//!   proxy's own upstream token
//! - `authn`: who is asking; `request_info`: what they ask (a port of
//!   kube-apiserver's RequestInfo); `impersonate`: the headers sent on
//! - `forward`: the upstream client and the streaming body; `upgrade`:
//!   byte-for-byte passthrough of exec/attach/port-forward
//! - `cutoff`: session → cancellation; `record`: the audit records;
//!   `status`: Kubernetes `Status` refusals; `server`: listener and handler

pub mod config;
pub mod credential;
pub mod tls;

use crate::broker::config::BrokerConfig;
use anyhow::{Context, Result};

/// `kaccess serve --check`: every file a proxy would load at start, loaded
/// and thrown away.
pub fn check(cfg: &BrokerConfig) -> Result<()> {
    for (name, cluster) in &cfg.clusters {
        let Some(p) = &cluster.proxy else { continue };
        let at = format!("clusters.{name}.proxy");
        let ca_pem = std::fs::read_to_string(&cluster.ca.cert_file)
            .with_context(|| format!("cannot read the CA of cluster `{name}`"))?;
        let serving =
            p.tls.as_ref().or(cfg.tls.as_ref()).with_context(|| {
                format!("`{at}.tls`: missing, and the broker has no `tls` to lend")
            })?;
        tls::server_config(serving, &ca_pem)
            .with_context(|| format!("`{at}.tls`: the serving pair"))?;
        tls::upstream_config(&p.upstream, &[b"http/1.1"])
            .with_context(|| format!("`{at}.upstream`"))?;
        if let Some(path) = &p.upstream.token_file {
            credential::TokenFile::open(path).with_context(|| format!("`{at}.upstream`"))?;
        }
    }
    Ok(())
}
