//! One summary per session, built as records stream past: who, with which
//! groups and why, when it started and ended and how, and what it did.
//!
//! - Start: its first issued exchange. A session seen only through later
//!   records (its start is in an older file not read) starts at its first
//!   record, marked `start_seen: false`.
//! - End: a revocation (by its owner: `logged out`; by someone else:
//!   `revoked by NAME`), else its planned end (`session_expires_at` of its
//!   exchanges; older records only carry the last credential's expiry):
//!   `expired` once passed, `still open` before.
//! - Counts, of records inside the time window: requests (proxied, refused
//!   ones included), mutations (forwarded create/update/patch/delete),
//!   denials (refused by the proxy, or 401/403 from the API server) and
//!   streams (exec, attach, port-forward).

use super::View;
use super::window::Window;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Filters of `kaccess audit sessions` and `report`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub window: Window,
}

impl Filter {
    /// Whether a record can concern the sessions asked for.
    pub fn admits(&self, r: &View) -> bool {
        self.cluster.as_deref().is_none_or(|c| r.cluster == Some(c))
            && self
                .user
                .as_deref()
                .is_none_or(|u| r.username == Some(u) || r.email == Some(u))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub mutations: u64,
    pub denials: u64,
    pub streams: u64,
}

impl Counts {
    /// Counts one proxied record.
    pub fn add(&mut self, r: &View) {
        match r.outcome {
            "started" => {
                self.requests += 1;
                self.mutations += u64::from(r.mutation());
                self.streams += u64::from(r.stream());
            }
            "refused" => {
                self.requests += 1;
                self.denials += 1;
            }
            "finished" if matches!(r.status, Some(401 | 403)) => self.denials += 1,
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct Acc {
    cluster: String,
    username: String,
    email: Option<String>,
    groups: Vec<String>,
    reason: Option<String>,
    grant: Option<String>,
    request_id: Option<String>,
    break_glass: bool,
    start: Option<OffsetDateTime>,
    first_seen: Option<OffsetDateTime>,
    last_seen: Option<OffsetDateTime>,
    credentials: u64,
    credential_until: Option<OffsetDateTime>,
    session_until: Option<OffsetDateTime>,
    revoked: Option<(Option<OffsetDateTime>, Option<String>, Option<String>)>,
    counts: Counts,
}

/// What `sessions` prints for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub session: String,
    pub cluster: String,
    pub person: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub break_glass: bool,
    pub start: String,
    /// False when the session's first exchange is not in what was read.
    pub start_seen: bool,
    pub end: Option<String>,
    /// `expired`, `logged out`, `revoked by NAME`, `still open`, `unknown`.
    pub ended: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_cause: Option<String>,
    pub last_activity: Option<String>,
    pub credentials: u64,
    #[serde(flatten)]
    pub counts: Counts,
    #[serde(skip)]
    pub start_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub end_at: Option<OffsetDateTime>,
}

/// The aggregation: one [`Acc`] per session id.
#[derive(Debug, Default)]
pub struct Sessions {
    filter: Filter,
    by_id: HashMap<String, Acc>,
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

impl Sessions {
    pub fn new(filter: Filter) -> Sessions {
        Sessions {
            filter,
            by_id: HashMap::new(),
        }
    }

    pub fn add(&mut self, r: &View) {
        let Some(id) = r.session_id else { return };
        let issued = r.event == "exchange" && r.outcome == "issued";
        let revoked = r.event == "revoke" && r.outcome == "revoked";
        let proxied = r.event == "proxy";
        if !(issued || revoked || proxied) || !self.filter.admits(r) {
            return;
        }
        // The proxy may log a refusal naming a session it did not accept;
        // only an exchange or a forwarded request proves the session exists.
        if r.event == "proxy" && r.outcome == "refused" && !self.by_id.contains_key(id) {
            return;
        }
        let inside = self.filter.window.contains(r.at);
        let a = self.by_id.entry(id.to_string()).or_default();
        if a.cluster.is_empty() {
            a.cluster = r.cluster.unwrap_or_default().to_string();
        }
        if a.username.is_empty() {
            a.username = r.username.unwrap_or_default().to_string();
        }
        if a.email.is_none() {
            a.email = owned(r.email);
        }
        if a.groups.is_empty() && !r.kube_groups.is_empty() {
            a.groups = r.kube_groups.iter().map(|g| g.to_string()).collect();
        }
        if a.reason.is_none() {
            a.reason = owned(r.reason);
        }
        if let Some(t) = r.at {
            a.first_seen = Some(a.first_seen.map_or(t, |f| f.min(t)));
            a.last_seen = Some(a.last_seen.map_or(t, |l| l.max(t)));
        }
        if issued {
            if a.start.is_none() {
                a.start = r.at;
                a.grant = owned(r.grant);
                a.request_id = owned(r.request_id);
                a.break_glass = r.break_glass;
                if !r.kube_groups.is_empty() {
                    a.groups = r.kube_groups.iter().map(|g| g.to_string()).collect();
                }
            }
            a.credentials += u64::from(inside);
            let later = |old: Option<OffsetDateTime>, new: Option<&str>| match (
                old,
                new.and_then(super::parse_time),
            ) {
                (Some(o), Some(n)) => Some(o.max(n)),
                (o, n) => n.or(o),
            };
            a.credential_until = later(a.credential_until, r.expires_at);
            a.session_until = later(a.session_until, r.session_expires_at);
        } else if revoked {
            if a.revoked.is_none() {
                a.revoked = Some((r.at, owned(r.actor), owned(r.cause)));
            }
        } else if inside {
            a.counts.add(r);
        }
    }

    /// The sessions that were open at some time in the window, oldest
    /// start first.
    pub fn finish(self, now: OffsetDateTime) -> Vec<Summary> {
        let window = self.filter.window;
        let mut out: Vec<Summary> = self
            .by_id
            .into_iter()
            .filter_map(|(id, a)| {
                let s = summarise(id, a, now);
                let start = s.start_at?;
                let open_end = if s.ended == "still open" || s.ended == "unknown" {
                    None
                } else {
                    s.end_at
                };
                window.overlaps(start, open_end).then_some(s)
            })
            .collect();
        out.sort_by(|a, b| (a.start_at, &a.session).cmp(&(b.start_at, &b.session)));
        out
    }
}

fn summarise(id: String, a: Acc, now: OffsetDateTime) -> Summary {
    let start_at = a.start.or(a.first_seen);
    let planned = a.session_until.or(a.credential_until);
    let (end_at, ended, revoke_cause) = match a.revoked {
        Some((at, actor, cause)) if planned.is_none_or(|p| at.is_none_or(|t| t < p)) => {
            let how = match actor {
                Some(admin) if admin != a.username => format!("revoked by {admin}"),
                _ => "logged out".to_string(),
            };
            (at, how, cause)
        }
        _ => match planned {
            Some(p) if p <= now => (Some(p), "expired".to_string(), None),
            Some(p) => (Some(p), "still open".to_string(), None),
            None => (None, "unknown".to_string(), None),
        },
    };
    Summary {
        session: id,
        cluster: a.cluster,
        person: a.username,
        email: a.email,
        groups: a.groups,
        reason: a.reason,
        grant: a.grant,
        request_id: a.request_id,
        break_glass: a.break_glass,
        start: start_at.map(super::format_time).unwrap_or_default(),
        start_seen: a.start.is_some(),
        end: end_at.map(super::format_time),
        ended,
        revoke_cause,
        last_activity: a.last_seen.map(super::format_time),
        credentials: a.credentials,
        counts: a.counts,
        start_at,
        end_at,
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
