//! `GET /metrics`: the broker's and the access proxies' metrics in one
//! `prometheus-client` registry, served as OpenMetrics text: exchanges by
//! outcome, exchange latency, TokenReviews by result, revocations, SIGHUP
//! reloads (so a refused one can raise an alert), webhook deliveries,
//! alerts, and active sessions; the proxies' own are in
//! `crate::proxy::metrics`.
//!
//! Counters and gauges are atomics behind the crate's labelled families
//! (a read lock on a small map); nothing here may slow the TokenReview
//! path. Every label value comes from a bounded set: error codes, fixed
//! outcomes, alert rule names from `broker.yaml`; never a username, a
//! session or a path, which would grow the series without bound.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Duration;

/// What `GET /metrics` answers with: the OpenMetrics text format that
/// `prometheus-client` writes (Prometheus scrapes it natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the exchange latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// `issued` or the error code an exchange was refused with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaticOutcomeLabels {
    outcome: &'static str,
}

/// Field order is the label order on the wire: `{what=..,outcome=..}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    what: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    alert: String,
}

pub struct Metrics {
    registry: Registry,
    exchanges: Family<OutcomeLabels, Counter>,
    exchange_latency: Histogram,
    /// The access proxies' (one set for all clusters).
    pub proxy: Arc<crate::proxy::metrics::ProxyMetrics>,
    reviews: Family<ResultLabels, Counter>,
    revocations: Family<OutcomeLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    notifications: Family<StaticOutcomeLabels, Counter>,
    /// By rule name: bounded by the `alerts:` in `broker.yaml`.
    alerts: Family<AlertLabels, Counter>,
    /// Records the alert rules never saw (they fell behind the feed).
    alerts_missed: Counter,
    /// Set from the store at each scrape.
    active_sessions: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            exchanges: Family::default(),
            exchange_latency: Histogram::new(LATENCY_BUCKETS),
            proxy: Arc::default(),
            reviews: Family::default(),
            revocations: Family::default(),
            reloads: Family::default(),
            notifications: Family::default(),
            alerts: Family::default(),
            alerts_missed: Counter::default(),
            active_sessions: Gauge::default(),
        };
        // The series that existed before any event keep showing 0, so a
        // rate() over them starts at the broker's start, not at the first
        // refusal.
        for result in ["authenticated", "refused"] {
            m.reviews.get_or_create_owned(&ResultLabels { result });
        }
        for outcome in ["delivered", "failed"] {
            m.notifications
                .get_or_create_owned(&StaticOutcomeLabels { outcome });
        }
        m.register()
    }
}

impl Metrics {
    /// Registers every family once; the registry holds clones of the same
    /// atomics the handlers update.
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        // The crate appends `_total` to counters and the unit to
        // histograms: these names are the exposed ones without them.
        r.register(
            "kaccess_exchanges",
            "Exchanges answered, by outcome (issued or error code)",
            self.exchanges.clone(),
        );
        r.register_with_unit(
            "kaccess_exchange_duration",
            "Time to answer an exchange, audit write included",
            Unit::Seconds,
            self.exchange_latency.clone(),
        );
        r.register(
            "kaccess_tokenreviews",
            "TokenReviews answered, by result",
            self.reviews.clone(),
        );
        r.register(
            "kaccess_revocations",
            "Revocation requests, by outcome",
            self.revocations.clone(),
        );
        r.register(
            "kaccess_reloads",
            "SIGHUP steps (config, audit file, tls), by outcome",
            self.reloads.clone(),
        );
        r.register(
            "kaccess_notifications",
            "Webhook deliveries, by outcome (failed: every retry failed)",
            self.notifications.clone(),
        );
        r.register(
            "kaccess_alerts",
            "Alerts raised, by rule (`alerts:` in broker.yaml)",
            self.alerts.clone(),
        );
        r.register(
            "kaccess_alerts_unevaluated",
            "Audit records the alert rules fell too far behind to evaluate",
            self.alerts_missed.clone(),
        );
        r.register(
            "kaccess_active_sessions",
            "Sessions neither expired nor revoked",
            self.active_sessions.clone(),
        );
        self.proxy.register(r);
        self
    }

    /// One exchange answered with `outcome` (`issued` or an error code).
    pub fn exchange(&self, outcome: &str, took: Duration) {
        self.exchanges
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
        self.exchange_latency.observe(took.as_secs_f64());
    }

    pub fn review(&self, authenticated: bool) {
        let result = if authenticated {
            "authenticated"
        } else {
            "refused"
        };
        self.reviews.get_or_create(&ResultLabels { result }).inc();
    }

    /// `outcome`: `revoked`, `replay` or `refused`.
    pub fn revocation(&self, outcome: &str) {
        self.revocations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// One SIGHUP step: `what` is `config`, `audit` or `tls`; `outcome` is
    /// `applied`, `unchanged` or `refused`.
    pub fn reload(&self, what: &'static str, outcome: &'static str) {
        self.reloads
            .get_or_create(&ReloadLabels { what, outcome })
            .inc();
    }

    /// One webhook delivery that finally succeeded, or gave up.
    pub fn notification(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.notifications
            .get_or_create(&StaticOutcomeLabels { outcome })
            .inc();
    }

    /// The rule `name` raised an alert.
    pub fn alert(&self, name: &str) {
        self.alerts
            .get_or_create(&AlertLabels {
                alert: name.to_string(),
            })
            .inc();
    }

    /// The alert rules fell `n` records behind the feed.
    pub fn alerts_missed(&self, n: u64) {
        self.alerts_missed.inc_by(n);
    }

    /// The exposition text, ending with `# EOF`.
    pub fn render(&self, active_sessions: usize) -> String {
        self.active_sessions
            .set(i64::try_from(active_sessions).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail, nor can any label value here;
        // should the crate ever refuse one, the scrape still answers.
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics: cannot encode the registry");
        }
        out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
