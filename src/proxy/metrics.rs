//! The proxies' metrics, registered in the broker's registry and served
//! with its own on `/metrics`: proxied requests by verb and code, open
//! streams, cut-offs by cause, and upstream latency (time to the API
//! server's response headers).
//!
//! These are updated on every proxied request: each is an atomic, found
//! in a family under a read lock. Label values are bounded so that no
//! client can grow the series: verbs from Kubernetes' fixed set (else
//! `other`), HTTP status codes (three digits), cut-off causes from
//! [`Cause`]. Never a username, a session, a namespace or a path.

use super::cutoff::Cause;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// Kubernetes' verbs, and the HTTP methods a non-resource request is
/// named by.
const VERBS: [&str; 14] = [
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

/// Upper bounds of the upstream latency buckets, in seconds: the broker's
/// buckets, then up to kube-apiserver's 60 s request timeout (a large
/// list is slow).
const UPSTREAM_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CutoffLabels {
    cause: &'static str,
}

#[derive(Debug)]
pub struct ProxyMetrics {
    requests: Family<RequestLabels, Counter>,
    open_streams: Gauge,
    cut_offs: Family<CutoffLabels, Counter>,
    upstream: Histogram,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        let m = ProxyMetrics {
            requests: Family::default(),
            open_streams: Gauge::default(),
            cut_offs: Family::default(),
            upstream: Histogram::new(UPSTREAM_BUCKETS),
        };
        for cause in [Cause::Revoked, Cause::SessionEnded] {
            m.cut_offs.get_or_create_owned(&CutoffLabels {
                cause: cause_label(cause),
            });
        }
        m
    }
}

/// Counts one open stream until dropped.
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A verb as a label value: anything outside [`VERBS`] is `other`.
fn verb_label(verb: &str) -> &'static str {
    VERBS
        .iter()
        .find(|known| **known == verb)
        .copied()
        .unwrap_or("other")
}

fn cause_label(cause: Cause) -> &'static str {
    match cause {
        Cause::Revoked => "revoked",
        Cause::SessionEnded => "session_ended",
    }
}

impl ProxyMetrics {
    /// Adds these families to the broker's registry.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "kaccess_proxy_requests",
            "Requests answered by the access proxy, by verb and code",
            self.requests.clone(),
        );
        r.register(
            "kaccess_proxy_open_streams",
            "Watches, logs and upgraded connections open now",
            self.open_streams.clone(),
        );
        r.register(
            "kaccess_proxy_cutoffs",
            "Sessions whose open requests were closed, by cause (revoked or session_ended)",
            self.cut_offs.clone(),
        );
        r.register_with_unit(
            "kaccess_proxy_upstream_duration",
            "Time to the API server's response headers",
            Unit::Seconds,
            self.upstream.clone(),
        );
    }

    /// One request answered with `code`. A non-resource request's verb is
    /// its method, which a client chooses: anything outside Kubernetes'
    /// verbs counts as `other`, so no client can grow the label set.
    pub fn request(&self, verb: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb_label(verb),
                code,
            })
            .inc();
    }

    pub fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    pub fn cut_off(&self, cause: Cause) {
        self.cut_offs
            .get_or_create(&CutoffLabels {
                cause: cause_label(cause),
            })
            .inc();
    }

    pub fn upstream_latency(&self, took: Duration) {
        self.upstream.observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn render(m: &ProxyMetrics) -> String {
        let mut r = Registry::default();
        m.register(&mut r);
        let mut text = String::new();
        encode(&mut text, &r).unwrap();
        text
    }

    #[test]
    fn requests_streams_cutoffs_and_latency_are_rendered_with_their_labels() {
        let m = ProxyMetrics::default();
        m.request("watch", 200);
        m.request("watch", 200);
        m.request("get", 401);
        let open = m.stream_opened();
        m.cut_off(Cause::Revoked);
        m.upstream_latency(Duration::from_millis(2));
        m.upstream_latency(Duration::from_secs(20));
        let text = render(&m);
        for line in [
            "# TYPE kaccess_proxy_requests counter\n",
            "kaccess_proxy_requests_total{verb=\"watch\",code=\"200\"} 2\n",
            "kaccess_proxy_requests_total{verb=\"get\",code=\"401\"} 1\n",
            "# TYPE kaccess_proxy_open_streams gauge\n",
            "kaccess_proxy_open_streams 1\n",
            "# TYPE kaccess_proxy_cutoffs counter\n",
            "kaccess_proxy_cutoffs_total{cause=\"revoked\"} 1\n",
            "kaccess_proxy_cutoffs_total{cause=\"session_ended\"} 0\n",
            "# TYPE kaccess_proxy_upstream_duration_seconds histogram\n",
            "# UNIT kaccess_proxy_upstream_duration_seconds seconds\n",
            "kaccess_proxy_upstream_duration_seconds_bucket{le=\"0.0025\"} 1\n",
            "kaccess_proxy_upstream_duration_seconds_bucket{le=\"10.0\"} 1\n",
            "kaccess_proxy_upstream_duration_seconds_bucket{le=\"30.0\"} 2\n",
            "kaccess_proxy_upstream_duration_seconds_count 2\n",
        ] {
            assert!(text.contains(line), "no `{line}` in\n{text}");
        }
        drop(open);
        assert!(render(&m).contains("kaccess_proxy_open_streams 0\n"));
    }

    #[test]
    fn a_verb_outside_kubernetes_verbs_is_counted_as_other() {
        let m = ProxyMetrics::default();
        m.request("frobnicate", 200);
        m.request("GET", 200);
        m.request("x".repeat(4096).as_str(), 200);
        for verb in VERBS {
            assert_eq!(verb_label(verb), verb);
        }
        let text = render(&m);
        assert!(
            text.contains("kaccess_proxy_requests_total{verb=\"other\",code=\"200\"} 3\n"),
            "{text}"
        );
        let series = text
            .lines()
            .filter(|l| l.starts_with("kaccess_proxy_requests_total"))
            .count();
        assert_eq!(series, 1, "{text}");
    }
}
