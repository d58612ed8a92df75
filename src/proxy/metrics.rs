//! The proxies' metrics, rendered with the broker's on `/metrics`:
//! proxied requests by verb and code, open streams, cut-offs, and upstream
//! latency (time to the apiserver's response headers).

use crate::broker::metrics::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct ProxyMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    open_streams: Arc<AtomicI64>,
    cut_offs: AtomicU64,
    upstream: Histogram,
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyMetrics").finish_non_exhaustive()
    }
}

/// Counts one open stream until dropped.
pub struct OpenStream(Arc<AtomicI64>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ProxyMetrics {
    /// One request answered with `code`. A non-resource request's verb is
    /// its method, which a client chooses: anything outside Kubernetes'
    /// verbs counts as `other`, so no client can grow the label set.
    pub fn request(&self, verb: &str, code: u16) {
        const KNOWN: [&str; 14] = [
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
            "proxy",
            "head",
            "post",
            "put",
            "options",
            "connect",
        ];
        let verb = if KNOWN.contains(&verb) { verb } else { "other" };
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((verb.to_string(), code)).or_default() += 1;
        }
    }

    pub fn stream_opened(&self) -> OpenStream {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        OpenStream(self.open_streams.clone())
    }

    pub fn cut_off(&self) {
        self.cut_offs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_latency(&self, took: Duration) {
        self.upstream.observe(took);
    }

    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP kaccess_proxy_requests_total Requests answered by the access proxy, by verb and code.\n");
        out.push_str("# TYPE kaccess_proxy_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((verb, code), v) in m.iter() {
                let _ = writeln!(
                    out,
                    "kaccess_proxy_requests_total{{verb=\"{verb}\",code=\"{code}\"}} {v}"
                );
            }
        }
        out.push_str(
            "# HELP kaccess_proxy_open_streams Watches, logs and upgraded connections open now.\n",
        );
        out.push_str("# TYPE kaccess_proxy_open_streams gauge\n");
        let _ = writeln!(
            out,
            "kaccess_proxy_open_streams {}",
            self.open_streams.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kaccess_proxy_cutoffs_total Sessions whose open requests were closed (revoked or ended).\n");
        out.push_str("# TYPE kaccess_proxy_cutoffs_total counter\n");
        let _ = writeln!(
            out,
            "kaccess_proxy_cutoffs_total {}",
            self.cut_offs.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kaccess_proxy_upstream_duration_seconds Time to the API server's response headers.\n");
        out.push_str("# TYPE kaccess_proxy_upstream_duration_seconds histogram\n");
        self.upstream
            .render(out, "kaccess_proxy_upstream_duration_seconds");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_streams_and_cutoffs_are_rendered() {
        let m = ProxyMetrics::default();
        m.request("watch", 200);
        m.request("watch", 200);
        m.request("get", 401);
        m.request("frobnicate", 200);
        let open = m.stream_opened();
        m.cut_off();
        m.upstream_latency(Duration::from_millis(2));
        let mut text = String::new();
        m.render(&mut text);
        assert!(
            text.contains("kaccess_proxy_requests_total{verb=\"watch\",code=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("kaccess_proxy_requests_total{verb=\"get\",code=\"401\"} 1\n"));
        assert!(text.contains("kaccess_proxy_requests_total{verb=\"other\",code=\"200\"} 1\n"));
        assert!(text.contains("kaccess_proxy_open_streams 1\n"));
        assert!(text.contains("kaccess_proxy_cutoffs_total 1\n"));
        assert!(text.contains("kaccess_proxy_upstream_duration_seconds_count 1\n"));
        drop(open);
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("kaccess_proxy_open_streams 0\n"));
    }
}
