//! `kaccess audit report`: what a reviewer asks of a period. Who accessed
//! which cluster, when and why (one row per session); elevated sessions
//! (approved grants, break glass); access requests and their decisions;
//! admin actions; every mutating request; every interactive stream;
//! failed logins and MFA refusals; denials. Rows stream into one spool per
//! section while the chain is read; [`super::render`] prints them after
//! the per-session table.

use super::View;
use super::sessions::{Filter, Sessions, Summary};
use super::spool::Spool;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Elevated,
    Requests,
    Admin,
    Mutations,
    Streams,
    FailedLogins,
    Denials,
}

pub const SECTIONS: [Section; 7] = [
    Section::Elevated,
    Section::Requests,
    Section::Admin,
    Section::Mutations,
    Section::Streams,
    Section::FailedLogins,
    Section::Denials,
];

impl Section {
    /// The JSON key and the CSV `section` value.
    pub fn key(self) -> &'static str {
        match self {
            Section::Elevated => "elevated_sessions",
            Section::Requests => "access_requests",
            Section::Admin => "admin_actions",
            Section::Mutations => "mutations",
            Section::Streams => "streams",
            Section::FailedLogins => "failed_logins",
            Section::Denials => "denials",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Elevated => "Privileged access: elevated sessions and break glass",
            Section::Requests => "Privileged access: access requests and approvals",
            Section::Admin => "Privileged access: admin actions",
            Section::Mutations => "Mutating requests",
            Section::Streams => "Interactive streams (exec, attach, port-forward)",
            Section::FailedLogins => "Failed logins and MFA refusals",
            Section::Denials => "Denials",
        }
    }

    pub fn intro(self) -> &'static str {
        match self {
            Section::Elevated => {
                "Sessions started with a named grant: approved elevations and break glass."
            }
            Section::Requests => {
                "Every access request filed, approved, denied, cancelled or lapsed, and every refused attempt to decide one."
            }
            Section::Admin => {
                "Sessions revoked by someone other than their owner, and configuration reloads."
            }
            Section::Mutations => {
                "Every create, update, patch and delete sent through the access proxy, with the API server's answer."
            }
            Section::Streams => {
                "Numbered per session as `kaccess audit play SESSION --stream N` takes them."
            }
            Section::FailedLogins => {
                "Exchanges the broker refused: bad or expired ID tokens, missing MFA (`mfa_required`), no grant, ended sessions."
            }
            Section::Denials => {
                "Requests refused by the access proxy or forbidden by the API server, and refused token reviews and admin calls."
            }
        }
    }
}

/// One row of a streamed section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub time: String,
    pub cluster: String,
    pub who: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Totals for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub sessions: u64,
    pub people: u64,
    pub clusters: u64,
    pub break_glass: u64,
    pub mfa_refusals: u64,
    #[serde(flatten)]
    pub rows: std::collections::BTreeMap<&'static str, u64>,
}

pub struct Report {
    pub format: Format,
    filter: Filter,
    sessions: Sessions,
    spools: Vec<Spool>,
    elevated: HashSet<String>,
    break_glass: u64,
    mfa_refusals: u64,
    /// Session → streams started so far (numbers count every stream read,
    /// inside the window or not, so they match `show` and `play`).
    streams: HashMap<String, u64>,
    /// Request id → (stream number, the row so far), until it finishes.
    open: HashMap<String, (u64, Row)>,
}

fn s(o: Option<&str>) -> String {
    o.unwrap_or_default().to_string()
}

fn refusal(r: &View) -> String {
    let mut out = "refused".to_string();
    if let Some(st) = r.status {
        out.push_str(&format!(" {st}"));
    }
    if let Some(e) = r.error {
        out.push_str(&format!(" {e}"));
    }
    out
}

impl Report {
    pub fn new(format: Format, filter: Filter) -> Report {
        Report {
            format,
            sessions: Sessions::new(filter.clone()),
            filter,
            spools: SECTIONS.iter().map(|_| Spool::new()).collect(),
            elevated: HashSet::new(),
            break_glass: 0,
            mfa_refusals: 0,
            streams: HashMap::new(),
            open: HashMap::new(),
        }
    }

    fn base(r: &View) -> Row {
        Row {
            time: r.time.to_string(),
            cluster: s(r.cluster),
            who: r.who().to_string(),
            session: s(r.session_id),
            reason: s(r.reason),
            ..Row::default()
        }
    }

    pub fn add(&mut self, r: &View) -> io::Result<()> {
        self.sessions.add(r);
        if self
            .filter
            .cluster
            .as_deref()
            .is_some_and(|c| r.cluster != Some(c))
        {
            return Ok(());
        }
        let inside = self.filter.window.contains(r.at);
        if r.event == "proxy" {
            return self.proxied(r, inside);
        }
        if !inside {
            return Ok(());
        }
        let mut row = Self::base(r);
        let section = match (r.event, r.outcome) {
            ("exchange", "issued") => {
                let Some(id) = r.session_id else {
                    return Ok(());
                };
                if !(r.grant.is_some() || r.break_glass) || !self.elevated.insert(id.to_string()) {
                    return Ok(());
                }
                self.break_glass += u64::from(r.break_glass);
                row.action = if r.break_glass {
                    "BREAK GLASS".into()
                } else if r.request_id.is_some() {
                    "approved grant".into()
                } else {
                    "grant".into()
                };
                row.target = s(r.grant);
                row.outcome = format!(
                    "issued, session until {}",
                    r.session_expires_at.or(r.expires_at).unwrap_or("?")
                );
                row.detail = r
                    .request_id
                    .map(|q| format!("access request {q}"))
                    .unwrap_or_default();
                Section::Elevated
            }
            ("exchange", _) => {
                self.mfa_refusals += u64::from(r.error == Some("mfa_required"));
                row.action = if r.session_id.is_some() {
                    "renew"
                } else {
                    "login"
                }
                .into();
                row.outcome = refusal(r);
                row.detail = s(r.cause);
                Section::FailedLogins
            }
            ("request", outcome) => {
                row.action = outcome.to_string();
                row.target = format!("{} ({})", s(r.request_id), s(r.grant));
                row.outcome = match outcome {
                    "refused" => refusal(r),
                    o => o.to_string(),
                };
                row.detail = s(r.cause);
                if let (Some(actor), Some(owner)) = (r.actor, r.username)
                    && actor != owner
                {
                    row.detail = format!("requested by {owner}; {}", row.detail);
                }
                Section::Requests
            }
            ("revoke", "revoked") if r.actor.is_some_and(|a| Some(a) != r.username) => {
                row.action = "revoke session".into();
                row.target = format!("session of {}", s(r.username));
                row.outcome = "revoked".into();
                row.detail = s(r.cause);
                Section::Admin
            }
            ("config", outcome) => {
                row.who = "broker (SIGHUP)".into();
                row.action = "reload configuration".into();
                row.outcome = outcome.to_string();
                row.detail = s(r.cause);
                Section::Admin
            }
            (event, "refused") => {
                row.action = event.to_string();
                row.target = s(r.session_id.or(r.request_id));
                row.outcome = refusal(r);
                row.detail = s(r.cause);
                Section::Denials
            }
            _ => return Ok(()),
        };
        self.emit(section, &row)
    }

    fn proxied(&mut self, r: &View, inside: bool) -> io::Result<()> {
        let rid = r.request.as_ref().map(|q| q.id).unwrap_or_default();
        let mut row = Self::base(r);
        row.action = r
            .request
            .as_ref()
            .map(|q| q.verb.to_string())
            .unwrap_or_default();
        row.target = r.target();
        match r.outcome {
            "started" => {
                let mut n = 0;
                if r.stream() {
                    let c = self.streams.entry(s(r.session_id)).or_default();
                    *c += 1;
                    n = *c;
                }
                if inside && (n > 0 || r.mutation()) {
                    if let Some(q) = &r.request {
                        let mut detail = Vec::new();
                        if let Some(c) = q.container {
                            detail.push(format!("container {c}"));
                        }
                        if let Some(cmd) = &q.command {
                            detail.push(format!("command {cmd:?}"));
                        }
                        if let Some(p) = &q.ports {
                            detail.push(format!("ports {}", p.join(",")));
                        }
                        row.detail = detail.join("; ");
                    }
                    if n > 0 {
                        row.action = format!(
                            "{} #{n}",
                            r.request
                                .as_ref()
                                .and_then(|q| q.subresource)
                                .unwrap_or("stream")
                        );
                    }
                    row.outcome =
                        "no finished record (still running, or the broker stopped)".into();
                    self.open.insert(rid.to_string(), (n, row));
                }
                Ok(())
            }
            "finished" => {
                let res = r.result.clone().unwrap_or_default();
                let status = r.status.map_or("?".to_string(), |s| s.to_string());
                let denied = matches!(r.status, Some(401 | 403));
                if let Some((n, mut row)) = self.open.remove(rid) {
                    // Over SPDY a port-forward's ports are seen in its
                    // streams, so only its `finished` record has them.
                    let asked = r.request.as_ref().is_some_and(|q| q.ports.is_some());
                    if let Some(ports) = res.ports.as_ref().filter(|_| !asked) {
                        let seen = format!("ports {}", ports.join(","));
                        row.detail = [row.detail.as_str(), &seen]
                            .iter()
                            .filter(|d| !d.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join("; ");
                    }
                    row.outcome = match res.ended {
                        Some(how) => format!("{status}, {how}, {} ms", res.duration_ms),
                        None => status.clone(),
                    };
                    if let Some(rec) = &res.recording {
                        row.detail = format!(
                            "{}; recording {} ({} bytes, sha256 {})",
                            row.detail, rec.file, rec.size, rec.sha256
                        )
                        .trim_start_matches("; ")
                        .to_string();
                    }
                    self.emit(
                        if n > 0 {
                            Section::Streams
                        } else {
                            Section::Mutations
                        },
                        &row,
                    )?;
                }
                if inside && denied {
                    row.outcome = format!("forbidden by the API server ({status})");
                    self.emit(Section::Denials, &row)?;
                }
                Ok(())
            }
            _ if inside => {
                row.outcome = refusal(r);
                row.detail = s(r.cause);
                self.emit(Section::Denials, &row)
            }
            _ => Ok(()),
        }
    }

    fn emit(&mut self, section: Section, row: &Row) -> io::Result<()> {
        let i = SECTIONS
            .iter()
            .position(|x| *x == section)
            .expect("a section");
        let spool = &mut self.spools[i];
        match self.format {
            Format::Markdown => super::render::md_row(spool, row)?,
            Format::Csv => super::render::csv_row(spool, section, row)?,
            Format::Json => {
                if spool.rows() > 0 {
                    spool.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut *spool, row)?;
            }
        }
        spool.row();
        Ok(())
    }

    /// Ends the read: requests still open go to their section, sessions
    /// are summed up.
    pub fn finish(mut self, now: time::OffsetDateTime) -> io::Result<Finished> {
        let mut left: Vec<(u64, Row)> = std::mem::take(&mut self.open).into_values().collect();
        left.sort_by(|a, b| a.1.time.cmp(&b.1.time));
        for (n, row) in left {
            self.emit(
                if n > 0 {
                    Section::Streams
                } else {
                    Section::Mutations
                },
                &row,
            )?;
        }
        let sessions = self.sessions.finish(now);
        let people: HashSet<&str> = sessions.iter().map(|s| s.person.as_str()).collect();
        let clusters: HashSet<&str> = sessions.iter().map(|s| s.cluster.as_str()).collect();
        let totals = Totals {
            sessions: sessions.len() as u64,
            people: people.len() as u64,
            clusters: clusters.len() as u64,
            break_glass: self.break_glass,
            mfa_refusals: self.mfa_refusals,
            rows: SECTIONS
                .iter()
                .zip(&self.spools)
                .map(|(s, sp)| (s.key(), sp.rows()))
                .collect(),
        };
        Ok(Finished {
            format: self.format,
            filter: self.filter,
            sessions,
            totals,
            spools: self.spools,
        })
    }
}

/// A report read to its end, ready to print.
pub struct Finished {
    pub format: Format,
    pub filter: Filter,
    pub sessions: Vec<Summary>,
    pub totals: Totals,
    pub spools: Vec<Spool>,
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
