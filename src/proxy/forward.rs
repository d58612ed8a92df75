//! The way to kube-apiserver: pooled TLS clients over HTTP/1.1 (one for
//! requests, one unpooled for upgrades), the request rewritten for
//! upstream (URI, hop-by-hop headers, the proxy's own credential).
//!
//! Why HTTP/1.1, whatever the client spoke: over one HTTP/2 connection
//! every client's requests share a fixed number of concurrent streams (Go's
//! default 250; hyper's 200), and hyper's pool queues the next request
//! rather than open a second connection, so idle watches would fill them and
//! stall everyone's next `get`. A connection per concurrent request has no
//! such limit, and it is cheaper for the proxy too: at 64 connections the
//! proxy served 0.41 of direct over HTTP/1.1 upstream against 0.32 over
//! HTTP/2 (docs/performance.md, stop 20). Upgrades are HTTP/1.1 anyway, the
//! only version kube-apiserver upgrades on.

use super::body::Metered;
use super::config::{UpstreamConfig, UpstreamCredential};
use super::credential::TokenFile;
use anyhow::{Context, Result};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Request, Response, Uri, Version, header};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub type UpstreamBody = Metered<Incoming>;
type HttpsClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

pub struct Upstream {
    authority: Authority,
    /// Pooled: one connection per concurrent request or open watch.
    pooled: HttpsClient,
    upgrades: HttpsClient,
    token: Option<TokenFile>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// Idle upstream connections kept for reuse; more concurrent requests
/// than this open and then close their own (a TLS handshake each).
const MAX_IDLE: usize = 256;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers, and those `Connection` names. An upgrade
/// keeps `Connection: Upgrade` and `Upgrade`: they are the request.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let keep = |n: &str| upgrade && (n == "upgrade" || n == "connection");
    for n in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
        if !keep(n) {
            headers.remove(n);
        }
    }
    if !upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// `Connection: Upgrade` with an `Upgrade` header, on HTTP/1.1 (h2c is not
/// an upgrade kube-apiserver takes).
pub fn wants_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

impl Upstream {
    /// Blocking (reads the CA, the client pair or the token).
    pub fn new(cfg: &UpstreamConfig) -> Result<Upstream> {
        let uri: Uri = cfg
            .server
            .parse()
            .with_context(|| format!("`upstream.server` `{}` is not a URI", cfg.server))?;
        let authority = uri
            .authority()
            .cloned()
            .context("`upstream.server` has no host")?;
        let tls = super::tls::upstream_config(cfg)?;
        let token = match cfg.credential() {
            Some(UpstreamCredential::TokenFile(path)) => Some(TokenFile::open(path)?),
            _ => None,
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let h1 = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Ok(Upstream {
            authority,
            pooled: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(MAX_IDLE)
                .build(h1.clone()),
            // Upgraded connections leave the pool: nothing to keep.
            upgrades: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(h1),
            token,
        })
    }

    /// Sends `req` (headers already impersonating) upstream: its URI and
    /// framing rewritten, the proxy's credential added.
    pub async fn send(
        &self,
        mut req: Request<UpstreamBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let path = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTPS);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        *req.version_mut() = Version::HTTP_11;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers, upgrade);
        headers.remove(header::HOST);
        if let Some(token) = &self.token {
            headers.insert(header::AUTHORIZATION, token.header());
        }
        if upgrade {
            self.upgrades.request(req).await
        } else {
            self.pooled.request(req).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop_headers_stay_behind_unless_they_are_the_upgrade() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade, X-Secret"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        assert!(plain.is_empty(), "{plain:?}");
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert!(h.contains_key(header::CONNECTION));
        assert!(!h.contains_key("x-secret") && !h.contains_key(header::TE));
    }
}
