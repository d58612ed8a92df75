//! One session's timeline for `kaccess audit show`: its exchanges, every
//! request with its outcome, every stream opened and closed (numbered
//! 1.. in the order of their `started` records, as `audit play --stream N`
//! counts), refusals and its revocation. Entries come out in chain order;
//! a request's entry comes with its `finished` record. Only requests still
//! open are held, so memory follows concurrency, not the records.

use super::View;
use super::view::Recording;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub time: String,
    /// `session`, `credential`, `exchange`, `request`, `stream`, `revoke`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u64>,
    pub what: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<Recording>,
}

#[derive(Debug, Default)]
pub struct Timeline {
    started: bool,
    streams: u64,
    /// Request id → its stream number (0: not a stream), while open.
    open: HashMap<String, (u64, String, String)>,
}

/// `get pods payments/web`, with exec's command and port-forward's ports.
fn describe(r: &View) -> String {
    let Some(q) = &r.request else {
        return String::new();
    };
    let mut what = format!("{} {}", q.verb, r.target());
    if let Some(c) = q.container {
        what.push_str(&format!(" container {c}"));
    }
    if let Some(cmd) = &q.command {
        what.push_str(&format!(" command {cmd:?}"));
    }
    if let Some(p) = &q.ports {
        what.push_str(&format!(" ports {}", p.join(",")));
    }
    what
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// The entry (if any) for one record of the session.
    pub fn add(&mut self, r: &View) -> Option<Entry> {
        let base = Entry {
            time: r.time.to_string(),
            request_id: r.request.as_ref().map(|q| q.id.to_string()),
            status: r.status,
            ..Entry::default()
        };
        let refusal = || {
            let mut s = "refused".to_string();
            if let Some(st) = r.status {
                s.push_str(&format!(" {st}"));
            }
            if let Some(e) = r.error {
                s.push_str(&format!(" {e}"));
            }
            if let Some(c) = r.cause {
                s.push_str(&format!(": {c}"));
            }
            s
        };
        match (r.event, r.outcome) {
            ("exchange", "issued") => {
                let first = !self.started;
                self.started = true;
                let mut what = if first {
                    "session started".to_string()
                } else {
                    "credential renewed".to_string()
                };
                if r.break_glass {
                    what.push_str(" (BREAK GLASS)");
                }
                if let Some(g) = r.grant {
                    what.push_str(&format!(", grant {g}"));
                }
                if let Some(id) = r.request_id {
                    what.push_str(&format!(", access request {id}"));
                }
                Some(Entry {
                    kind: if first { "session" } else { "credential" },
                    what,
                    outcome: format!("issued until {}", r.expires_at.unwrap_or("?")),
                    ..base
                })
            }
            ("exchange", _) => Some(Entry {
                kind: "exchange",
                what: format!("exchange by {}", r.who()),
                outcome: refusal(),
                ..base
            }),
            ("revoke", outcome) => Some(Entry {
                kind: "revoke",
                what: format!("revoke by {}", r.who()),
                outcome: match outcome {
                    "refused" => refusal(),
                    o => format!(
                        "{o}{}",
                        r.cause.map(|c| format!(": {c}")).unwrap_or_default()
                    ),
                },
                ..base
            }),
            ("proxy", "started") => {
                let id = base.request_id.clone().unwrap_or_default();
                let what = describe(r);
                if r.stream() {
                    self.streams += 1;
                    let n = self.streams;
                    self.open.insert(id, (n, what.clone(), r.time.to_string()));
                    Some(Entry {
                        kind: "stream",
                        stream: Some(n),
                        what,
                        outcome: "opened".into(),
                        status: None,
                        ..base
                    })
                } else {
                    self.open.insert(id, (0, what, r.time.to_string()));
                    None
                }
            }
            ("proxy", "finished") => {
                let id = base.request_id.clone().unwrap_or_default();
                let (n, what, start) = self
                    .open
                    .remove(&id)
                    .unwrap_or_else(|| (0, describe(r), r.time.to_string()));
                let res = r.result.clone().unwrap_or_default();
                let mut what = what;
                let asked = r.request.as_ref().is_some_and(|q| q.ports.is_some());
                if let Some(ports) = res.ports.as_ref().filter(|_| !asked) {
                    what.push_str(&format!(" ports {}", ports.join(",")));
                }
                let status = r.status.map_or("?".to_string(), |s| s.to_string());
                let outcome = match res.ended {
                    Some(how) => format!("{status}, {how}"),
                    None => status,
                };
                let stream = (n > 0).then_some(n);
                Some(Entry {
                    time: if stream.is_some() {
                        base.time.clone()
                    } else {
                        start
                    },
                    kind: if stream.is_some() {
                        "stream"
                    } else {
                        "request"
                    },
                    stream,
                    what,
                    outcome,
                    duration_ms: Some(res.duration_ms),
                    bytes_in: Some(res.bytes_in),
                    bytes_out: Some(res.bytes_out),
                    recording: res.recording,
                    ..base
                })
            }
            ("proxy", _) => Some(Entry {
                kind: "request",
                what: describe(r),
                outcome: refusal(),
                ..base
            }),
            _ => None,
        }
    }

    /// Requests that started and never finished in what was read: still
    /// running, or the broker stopped before it could say.
    pub fn finish(self) -> Vec<Entry> {
        let mut left: Vec<_> = self.open.into_iter().collect();
        left.sort_by(|a, b| (&a.1.2, &a.0).cmp(&(&b.1.2, &b.0)));
        left.into_iter()
            .map(|(id, (n, what, start))| Entry {
                time: start,
                kind: if n > 0 { "stream" } else { "request" },
                stream: (n > 0).then_some(n),
                what,
                outcome: "no finished record (still running, or the broker stopped)".into(),
                request_id: Some(id),
                ..Entry::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::query::fixture::*;
    use serde_json::Value;

    fn entries(records: &[Value]) -> Vec<Entry> {
        let mut t = Timeline::new();
        let mut out: Vec<Entry> = records.iter().filter_map(|v| t.add(&View::of(v))).collect();
        out.extend(t.finish());
        out
    }

    #[test]
    fn streams_are_numbered_in_the_order_they_started_and_requests_pair_up() {
        let a = proxied("s", "alice", "ra", "started", "create", Some("exec"));
        let b = proxied("s", "alice", "rb", "started", "get", Some("portforward"));
        let get = proxied("s", "alice", "rg", "started", "get", None);
        let b_done = finished(b.clone(), 101, Some("upstream closed"));
        let got = entries(&[
            value(issued("s", "alice", 0, 30), 0),
            value(a.clone(), 1),
            value(b.clone(), 2),
            value(get.clone(), 3),
            value(finished(get, 200, None), 3),
            // b ends before a: it keeps number 2.
            {
                let mut v = value(b_done, 4);
                v["result"]["recording"] =
                    serde_json::json!({"file": "rb.cast", "sha256": "ff", "size": 12});
                // Over SPDY the ports are seen in the streams, not the request.
                v["result"]["ports"] = serde_json::json!(["8080", "9090"]);
                v
            },
            value(finished(a, 101, Some("client closed")), 5),
            value(issued("s", "alice", 6, 30), 6),
        ]);
        let kinds: Vec<(&str, Option<u64>, &str)> = got
            .iter()
            .map(|e| (e.kind, e.stream, e.outcome.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("session", None, "issued until 2026-05-01T10:05:00Z"),
                ("stream", Some(1), "opened"),
                ("stream", Some(2), "opened"),
                ("request", None, "200"),
                ("stream", Some(2), "101, upstream closed"),
                ("stream", Some(1), "101, client closed"),
                ("credential", None, "issued until 2026-05-01T10:11:00Z"),
            ]
        );
        assert_eq!(got[3].what, "get pods payments/web");
        assert_eq!(got[4].recording.as_ref().unwrap().file, "rb.cast");
        assert_eq!(
            got[4].what,
            "get pods/portforward payments/web ports 8080,9090"
        );
        assert_eq!(
            got[2].what, "get pods/portforward payments/web",
            "not known when it opened"
        );
        assert!(got[5].recording.is_none());
    }

    #[test]
    fn a_request_that_never_finished_is_listed_not_dropped() {
        let del = proxied("s", "alice", "rd", "started", "delete", None);
        let refused = proxied("s", "alice", "rx", "refused", "get", None);
        let mut refused = value(refused, 2);
        refused["cause"] = "session revoked".into();
        refused["status"] = 401.into();
        let got = entries(&[value(del, 1), refused]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].outcome, "refused 401: session revoked");
        assert_eq!(got[1].what, "delete pods payments/web");
        assert!(
            got[1].outcome.starts_with("no finished record"),
            "{:?}",
            got[1]
        );
    }
}
