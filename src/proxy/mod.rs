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

pub mod authn;
pub mod body;
pub mod config;
pub mod credential;
pub mod cutoff;
pub mod forward;
pub mod impersonate;
pub mod metrics;
pub mod record;
pub mod recording;
pub mod request_info;
pub mod server;
pub mod spdy_dictionary;
pub mod spdy_ports;
pub mod status;
pub mod tls;
pub mod upgrade;

use crate::audit::AuditLog;
use crate::broker::ca::ClusterCa;
use crate::broker::config::BrokerConfig;
use crate::store::Store;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Starts a proxy for every cluster that has a `proxy:` block, each on
/// its own listener, and prints
/// `kaccess: proxy for cluster `NAME` listening on https://ADDR` for each.
/// The configuration is read once: a SIGHUP does not move a proxy.
pub async fn start_all(
    cfg: &BrokerConfig,
    cas: &HashMap<String, ClusterCa>,
    store: Arc<Store>,
    audit: Arc<AuditLog>,
    metrics: Arc<metrics::ProxyMetrics>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for (name, cluster) in &cfg.clusters {
        let Some(p) = &cluster.proxy else { continue };
        let at = format!("clusters.{name}.proxy");
        let ca = cas
            .get(name)
            .with_context(|| format!("no CA loaded for cluster `{name}`"))?;
        let serving =
            p.tls.as_ref().or(cfg.tls.as_ref()).with_context(|| {
                format!("`{at}.tls`: missing, and the broker has no `tls` to lend")
            })?;
        let tls = tls::server_config(serving, ca.cert_pem())
            .with_context(|| format!("`{at}.tls`: the serving pair"))?;
        let upstream =
            forward::Upstream::new(&p.upstream).with_context(|| format!("`{at}.upstream`"))?;
        let listener = tokio::net::TcpListener::bind(p.listen)
            .await
            .with_context(|| format!("`{at}.listen`: cannot listen on `{}`", p.listen))?;
        let bound = listener.local_addr()?;
        let proxy = Arc::new(server::Proxy {
            cluster: name.clone(),
            store: store.clone(),
            audit: audit.clone(),
            upstream,
            registry: cutoff::Registry::start(store.clone(), metrics.clone()),
            metrics: metrics.clone(),
            record: p.record,
            audit_dir: cfg.audit.file.as_ref().map(|f| {
                f.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            }),
        });
        eprintln!("kaccess: proxy for cluster `{name}` listening on https://{bound}");
        tracing::info!(cluster = %name, %bound, upstream = %p.upstream.server, "access proxy listening");
        tasks.push(tokio::spawn(server::run(proxy, listener, Arc::new(tls))));
    }
    Ok(tasks)
}

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
        tls::upstream_config(&p.upstream).with_context(|| format!("`{at}.upstream`"))?;
        if let Some(path) = &p.upstream.token_file {
            credential::TokenFile::open(path).with_context(|| format!("`{at}.upstream`"))?;
        }
    }
    Ok(())
}

/// A live one-hour session of alice at `prod`, for the proxy's unit tests.
#[cfg(test)]
pub(crate) fn test_session() -> crate::store::Session {
    let now = crate::store::now_secs();
    crate::store::Session {
        id: crate::broker::tokens::new_session_id(),
        cluster: "prod".into(),
        issuer: "https://idp".into(),
        subject: "alice".into(),
        username: "alice@example.com".into(),
        email: None,
        reason: Some("INC-1".into()),
        started_at: now,
        expires_at: now + time::Duration::hours(1),
        revoked_at: None,
        revoked_by: None,
        elevation: None,
    }
}
