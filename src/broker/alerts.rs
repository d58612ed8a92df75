//! The alert rules (`alerts:` in `broker.yaml`) at work: one task follows
//! the live audit feed, off the request path, and matches each record this
//! broker wrote against the rules in force. A match is recorded in the
//! chain (event `alert`, with the matching records' hashes), counted
//! (`kaccess_alerts_total{alert=...}`) and posted to the `notify:`
//! webhooks with a `text` for chat.
//!
//! Records of event `alert` are never matched, so no rule can feed on its
//! own alerts. A rule with `at-least`/`within` counts matches per user
//! (who acted) in a sliding window and fires once when the count is
//! reached; after firing it stays quiet for that user for one `within`,
//! and counts from zero again.

use super::config::AlertRule;
use super::notify;
use super::server::Shared;
use crate::audit::fields::user_of;
use crate::audit::record::AlertFired;
use crate::audit::{AuditRecord, Tapped, display};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError};

pub const EVENT: &str = "alert";

/// Starts the evaluator; it ends when the audit log closes.
pub fn start(st: Shared) -> tokio::task::JoinHandle<()> {
    // Subscribed before the first request can be recorded.
    let first = (!st.live().config.alerts.is_empty()).then(|| st.audit.subscribe());
    tokio::spawn(run(st, first))
}

/// Follows the feed only while some rule is in force: with none, the
/// audit writer keeps no copy of its records for it and wakes nobody.
/// Rules that a reload adds apply to the records made durable after it.
async fn run(st: Shared, mut first: Option<broadcast::Receiver<std::sync::Arc<Tapped>>>) {
    let mut windows = Windows::default();
    let mut reloads = st.reloads();
    loop {
        if let Some(feed) = first.take() {
            if follow(&st, feed, &mut windows).await.is_break() {
                return;
            }
            continue;
        }
        if st.live().config.alerts.is_empty() {
            if reloads.changed().await.is_err() {
                return;
            }
            continue;
        }
        let feed = st.audit.subscribe();
        // Re-checked once subscribed: a reload in between is not missed.
        if st.live().config.alerts.is_empty() {
            continue;
        }
        if follow(&st, feed, &mut windows).await.is_break() {
            return;
        }
    }
}

/// Evaluates records until the feed closes (`Break`) or no rule is left
/// (`Continue`).
async fn follow(
    st: &Shared,
    mut feed: broadcast::Receiver<std::sync::Arc<Tapped>>,
    windows: &mut Windows,
) -> std::ops::ControlFlow<()> {
    loop {
        match feed.recv().await {
            Ok(t) => {
                if !t.local || t.record.event == EVENT {
                    continue;
                }
                let live = st.live();
                if live.config.alerts.is_empty() {
                    return std::ops::ControlFlow::Continue(());
                }
                for fired in windows.evaluate(&live.config.alerts, &t.record, Instant::now()) {
                    raise(st, fired, &t.line).await;
                }
            }
            Err(RecvError::Lagged(n)) => {
                st.metrics.alerts_missed(n);
                tracing::warn!(
                    missed = n,
                    "alert rules fell behind the audit feed; these records were not evaluated"
                );
            }
            Err(RecvError::Closed) => return std::ops::ControlFlow::Break(()),
        }
    }
}

/// One alert to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: String,
    pub count: u32,
    pub within: Option<Duration>,
    /// The hashes of the matching records, oldest first.
    pub records: Vec<String>,
    /// The last matching record.
    pub record: AuditRecord,
}

#[derive(Debug, Default)]
struct Window {
    hits: VecDeque<(Instant, String)>,
    last_fired: Option<Instant>,
}

/// The counting rules' state: (rule, user) → recent matches.
#[derive(Debug, Default)]
pub struct Windows {
    state: HashMap<(String, String), Window>,
    seen: u64,
}

impl Windows {
    /// The alerts `rec` raises at `now`.
    pub fn evaluate(&mut self, rules: &[AlertRule], rec: &AuditRecord, now: Instant) -> Vec<Fired> {
        let mut fired = Vec::new();
        for rule in rules {
            if !rule.matches.filter().matches(rec) {
                continue;
            }
            let Some((at_least, within)) = rule.window() else {
                fired.push(Fired {
                    rule: rule.name.clone(),
                    count: 1,
                    within: None,
                    records: vec![rec.hash.clone()],
                    record: rec.clone(),
                });
                continue;
            };
            let user = user_of(rec).unwrap_or("-").to_string();
            let w = self.state.entry((rule.name.clone(), user)).or_default();
            while w
                .hits
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= within)
            {
                w.hits.pop_front();
            }
            w.hits.push_back((now, rec.hash.clone()));
            let quiet = w.last_fired.is_none_or(|t| now.duration_since(t) >= within);
            if quiet && w.hits.len() >= at_least as usize {
                w.last_fired = Some(now);
                let records = w.hits.drain(..).map(|(_, h)| h).collect();
                fired.push(Fired {
                    rule: rule.name.clone(),
                    count: at_least,
                    within: Some(within),
                    records,
                    record: rec.clone(),
                });
            }
        }
        self.seen += 1;
        if self.seen.is_multiple_of(1024) {
            self.forget(rules, now);
        }
        fired
    }

    /// Drops windows with nothing left to count, and those of rules no
    /// longer configured, so memory follows the active users.
    fn forget(&mut self, rules: &[AlertRule], now: Instant) {
        self.state.retain(|(name, _), w| {
            let Some((_, within)) = rules
                .iter()
                .find(|r| &r.name == name)
                .and_then(AlertRule::window)
            else {
                return false;
            };
            let recent = |t: &Instant| now.duration_since(*t) < within;
            w.hits.back().is_some_and(|(t, _)| recent(t))
                || w.last_fired.as_ref().is_some_and(recent)
        });
    }
}

/// `kaccess alert `deletes-in-prod`: alice delete pods payments/web on `prod` (finished 200)`.
pub fn text(f: &Fired) -> String {
    let rec = &f.record;
    let user = user_of(rec).map_or_else(|| "-".into(), crate::text::escape_deceptive);
    let cluster = rec
        .cluster
        .as_deref()
        .map(|c| format!(" on `{}`", crate::text::escape_deceptive(c)))
        .unwrap_or_default();
    let done = format!(
        "{}{cluster} ({})",
        display::what(rec),
        display::outcome(rec)
    );
    match f.within {
        None => format!("kaccess alert `{}`: {user} {done}", f.rule),
        Some(within) => format!(
            "kaccess alert `{}`: {user}: {} matching events within {}; the last: {done}",
            f.rule,
            f.count,
            crate::units::format_duration(within)
        ),
    }
}

/// Records the alert, counts it, and posts it.
async fn raise(st: &Shared, f: Fired, line: &str) {
    st.metrics.alert(&f.rule);
    let text = text(&f);
    tracing::warn!(alert = %f.rule, text = %text, "alert");
    let rec = AuditRecord {
        outcome: "fired".into(),
        cluster: f.record.cluster.clone(),
        username: user_of(&f.record).map(str::to_owned),
        cause: Some(text.clone()),
        alert: Some(AlertFired {
            rule: f.rule.clone(),
            count: f.count,
            records: f.records.clone(),
        }),
        ..AuditRecord::new(EVENT)
    };
    if let Err(e) = st.audit.append(rec).await {
        tracing::error!(error = %e, alert = %f.rule, "cannot record an alert in the audit log");
    }
    notify::send_alert(
        st,
        notify::Alert {
            event: EVENT,
            alert: f.rule,
            cluster: f.record.cluster.clone(),
            user: user_of(&f.record).map(str::to_owned),
            count: f.count,
            text,
            record: serde_json::from_str(line).unwrap_or(serde_json::Value::Null),
        },
    );
}

#[cfg(test)]
mod tests;
