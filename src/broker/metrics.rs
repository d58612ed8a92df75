//! Prometheus text exposition for `GET /metrics`: exchanges by outcome,
//! exchange latency histogram, TokenReviews by result, revocations, SIGHUP
//! reloads (so a refused one can raise an alert), and active sessions. Counters are atomics or a small locked map; nothing
//! here may slow the TokenReview path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A latency histogram over [`BUCKETS`].
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum of latencies in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// `NAME_bucket`, `NAME_sum`, `NAME_count` lines.
    pub fn render(&self, out: &mut String, name: &str) {
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{le}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    exchanges: Mutex<BTreeMap<String, u64>>,
    exchange_latency: Histogram,
    /// The access proxies' (one set for all clusters).
    pub proxy: std::sync::Arc<crate::proxy::metrics::ProxyMetrics>,
    reviews_ok: AtomicU64,
    reviews_refused: AtomicU64,
    revocations: Mutex<BTreeMap<String, u64>>,
    /// (what, outcome) → count.
    reloads: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    notify_delivered: AtomicU64,
    notify_failed: AtomicU64,
    /// Alert rule name → alerts raised.
    alerts: Mutex<BTreeMap<String, u64>>,
    /// Records the alert rules never saw (they fell behind the feed).
    alerts_missed: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// One exchange answered with `outcome` (`issued` or an error code).
    pub fn exchange(&self, outcome: &str, took: Duration) {
        if let Ok(mut m) = self.exchanges.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
        self.exchange_latency.observe(took);
    }

    pub fn review(&self, authenticated: bool) {
        let c = if authenticated {
            &self.reviews_ok
        } else {
            &self.reviews_refused
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn revocation(&self, outcome: &str) {
        if let Ok(mut m) = self.revocations.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// One SIGHUP step: `what` is `config`, `audit` or `tls`; `outcome` is
    /// `applied`, `unchanged` or `refused`.
    pub fn reload(&self, what: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.reloads.lock() {
            *m.entry((what, outcome)).or_default() += 1;
        }
    }

    /// One webhook delivery that finally succeeded, or gave up.
    pub fn notification(&self, delivered: bool) {
        let c = if delivered {
            &self.notify_delivered
        } else {
            &self.notify_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The rule `name` raised an alert.
    pub fn alert(&self, name: &str) {
        if let Ok(mut m) = self.alerts.lock() {
            *m.entry(name.to_string()).or_default() += 1;
        }
    }

    /// The alert rules fell `n` records behind the feed.
    pub fn alerts_missed(&self, n: u64) {
        self.alerts_missed.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, active_sessions: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP kaccess_exchanges_total Exchanges answered, by outcome (issued or error code).\n");
        out.push_str("# TYPE kaccess_exchanges_total counter\n");
        if let Ok(m) = self.exchanges.lock() {
            for (k, v) in m.iter() {
                let _ = writeln!(out, "kaccess_exchanges_total{{outcome=\"{k}\"}} {v}");
            }
        }
        out.push_str("# HELP kaccess_exchange_duration_seconds Time to answer an exchange, audit write included.\n");
        out.push_str("# TYPE kaccess_exchange_duration_seconds histogram\n");
        self.exchange_latency
            .render(&mut out, "kaccess_exchange_duration_seconds");
        out.push_str("# HELP kaccess_tokenreviews_total TokenReviews answered, by result.\n");
        out.push_str("# TYPE kaccess_tokenreviews_total counter\n");
        let _ = writeln!(
            out,
            "kaccess_tokenreviews_total{{result=\"authenticated\"}} {}",
            self.reviews_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "kaccess_tokenreviews_total{{result=\"refused\"}} {}",
            self.reviews_refused.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kaccess_revocations_total Revocation requests, by outcome.\n");
        out.push_str("# TYPE kaccess_revocations_total counter\n");
        if let Ok(m) = self.revocations.lock() {
            for (k, v) in m.iter() {
                let _ = writeln!(out, "kaccess_revocations_total{{outcome=\"{k}\"}} {v}");
            }
        }
        out.push_str(
            "# HELP kaccess_reloads_total SIGHUP steps (config, audit file, tls), by outcome.\n",
        );
        out.push_str("# TYPE kaccess_reloads_total counter\n");
        if let Ok(m) = self.reloads.lock() {
            for ((what, outcome), v) in m.iter() {
                let _ = writeln!(
                    out,
                    "kaccess_reloads_total{{what=\"{what}\",outcome=\"{outcome}\"}} {v}"
                );
            }
        }
        out.push_str(
            "# HELP kaccess_notifications_total Webhook deliveries, by outcome (failed: every retry failed).\n",
        );
        out.push_str("# TYPE kaccess_notifications_total counter\n");
        for (outcome, c) in [
            ("delivered", &self.notify_delivered),
            ("failed", &self.notify_failed),
        ] {
            let v = c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "kaccess_notifications_total{{outcome=\"{outcome}\"}} {v}"
            );
        }
        out.push_str(
            "# HELP kaccess_alerts_total Alerts raised, by rule (`alerts:` in broker.yaml).\n",
        );
        out.push_str("# TYPE kaccess_alerts_total counter\n");
        if let Ok(m) = self.alerts.lock() {
            for (k, v) in m.iter() {
                let _ = writeln!(out, "kaccess_alerts_total{{alert=\"{k}\"}} {v}");
            }
        }
        out.push_str("# HELP kaccess_alerts_unevaluated_total Audit records the alert rules fell too far behind to evaluate.\n");
        out.push_str("# TYPE kaccess_alerts_unevaluated_total counter\n");
        let _ = writeln!(
            out,
            "kaccess_alerts_unevaluated_total {}",
            self.alerts_missed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kaccess_active_sessions Sessions neither expired nor revoked.\n");
        out.push_str("# TYPE kaccess_active_sessions gauge\n");
        let _ = writeln!(out, "kaccess_active_sessions {active_sessions}");
        self.proxy.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.exchange("issued", Duration::from_millis(3));
        m.exchange("issued", Duration::from_millis(30));
        m.exchange("forbidden", Duration::from_millis(1));
        m.review(true);
        m.reload("config", "refused");
        m.alert("deletes-in-prod");
        m.alert("deletes-in-prod");
        let text = m.render(7);
        assert!(
            text.contains("kaccess_alerts_total{alert=\"deletes-in-prod\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kaccess_exchanges_total{outcome=\"issued\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("kaccess_exchanges_total{outcome=\"forbidden\"} 1\n"));
        assert!(text.contains("kaccess_exchange_duration_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("kaccess_exchange_duration_seconds_bucket{le=\"0.05\"} 3\n"));
        assert!(text.contains("kaccess_exchange_duration_seconds_count 3\n"));
        assert!(text.contains("kaccess_tokenreviews_total{result=\"authenticated\"} 1\n"));
        assert!(text.contains("kaccess_active_sessions 7\n"));
        assert!(text.contains("kaccess_reloads_total{what=\"config\",outcome=\"refused\"} 1\n"));
    }
}
