//! The fields the queries read from one record, borrowed from its parsed
//! JSON. Parsed tolerantly: unknown fields are ignored (newer brokers add
//! some), and a field of the wrong type reads as absent rather than losing
//! the whole record, because a reviewer must still see a record that a
//! tamperer mangled.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct View<'a> {
    pub time: &'a str,
    pub at: Option<time::OffsetDateTime>,
    pub event: &'a str,
    pub outcome: &'a str,
    pub username: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub email: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    pub session_expires_at: Option<&'a str>,
    pub break_glass: bool,
    pub status: Option<u16>,
    pub kube_groups: Vec<&'a str>,
    pub request: Option<Request<'a>>,
    pub result: Option<Outcome<'a>>,
}

/// A proxied request (`request`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Request<'a> {
    #[serde(borrow)]
    pub id: &'a str,
    #[serde(borrow)]
    pub method: &'a str,
    #[serde(borrow)]
    pub path: &'a str,
    #[serde(borrow)]
    pub verb: &'a str,
    #[serde(borrow)]
    pub resource: Option<&'a str>,
    #[serde(borrow)]
    pub subresource: Option<&'a str>,
    #[serde(borrow)]
    pub namespace: Option<&'a str>,
    #[serde(borrow)]
    pub name: Option<&'a str>,
    #[serde(borrow)]
    pub container: Option<&'a str>,
    #[serde(borrow)]
    pub command: Option<Vec<&'a str>>,
    #[serde(borrow)]
    pub ports: Option<Vec<&'a str>>,
}

/// How a proxied request ended (`result`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Outcome<'a> {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: u64,
    #[serde(borrow)]
    pub ended: Option<&'a str>,
    #[serde(skip)]
    pub recording: Option<Recording>,
    /// `portforward` over SPDY: the ports its streams named (the request
    /// carries none; they travel in the SPDY streams' headers).
    #[serde(borrow)]
    pub ports: Option<Vec<&'a str>>,
}

/// A stream's recording (`result.recording`), when the proxy kept one.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Recording {
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub size: u64,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl<'a> View<'a> {
    pub fn of(v: &'a Value) -> View<'a> {
        let time = text(v, "time").unwrap_or_default();
        View {
            time,
            at: super::parse_time(time),
            event: text(v, "event").unwrap_or_default(),
            outcome: text(v, "outcome").unwrap_or_default(),
            username: text(v, "username"),
            subject: text(v, "subject"),
            email: text(v, "email"),
            actor: text(v, "actor"),
            cluster: text(v, "cluster"),
            reason: text(v, "reason"),
            session_id: text(v, "session_id"),
            error: text(v, "error"),
            cause: text(v, "cause"),
            grant: text(v, "grant"),
            request_id: text(v, "request_id"),
            client_addr: text(v, "client_addr"),
            expires_at: text(v, "expires_at"),
            session_expires_at: text(v, "session_expires_at"),
            break_glass: v.get("break_glass").and_then(Value::as_bool) == Some(true),
            status: v
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok()),
            kube_groups: v
                .get("kube_groups")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
            request: v.get("request").and_then(|r| Request::deserialize(r).ok()),
            result: v.get("result").and_then(|r| {
                let mut o = Outcome::deserialize(r).ok()?;
                o.recording = r
                    .get("recording")
                    .and_then(|x| Recording::deserialize(x).ok());
                Some(o)
            }),
        }
    }

    /// Who acted: the admin or approver when there is one, else the
    /// session's owner.
    pub fn who(&self) -> &'a str {
        self.actor
            .or(self.username)
            .or(self.email)
            .or(self.subject)
            .unwrap_or("")
    }

    pub fn stream(&self) -> bool {
        self.request
            .as_ref()
            .is_some_and(|r| super::is_stream(r.subresource))
    }

    pub fn mutation(&self) -> bool {
        self.request
            .as_ref()
            .is_some_and(|r| super::is_mutation(r.verb, r.subresource))
    }

    /// What a proxied request touched: `pods/exec payments/web`.
    pub fn target(&self) -> String {
        let Some(r) = &self.request else {
            return String::new();
        };
        let mut what = r.resource.unwrap_or("").to_string();
        if let Some(s) = r.subresource {
            what.push('/');
            what.push_str(s);
        }
        if what.is_empty() {
            return r.path.to_string();
        }
        match (r.namespace, r.name) {
            (Some(ns), Some(n)) => format!("{what} {ns}/{n}"),
            (Some(ns), None) => format!("{what} in {ns}"),
            (None, Some(n)) => format!("{what} {n}"),
            (None, None) => what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxied_record_reads_with_its_request_and_recording() {
        let v: Value = serde_json::json!({
            "time": "2026-01-01T00:00:00Z", "event": "proxy", "outcome": "finished",
            "status": 101, "kube_groups": ["a", "b"], "future_field": {"x": 1},
            "request": {"id": "r1", "method": "GET", "path": "/x", "verb": "get",
                        "resource": "pods", "subresource": "exec", "namespace": "ns", "name": "web"},
            "result": {"bytes_in": 1, "bytes_out": 2, "duration_ms": 3, "ended": "client closed",
                       "recording": {"file": "r1.cast", "sha256": "ab", "size": 9}}
        });
        let r = View::of(&v);
        assert_eq!(
            (r.event, r.outcome, r.status),
            ("proxy", "finished", Some(101))
        );
        assert_eq!(r.kube_groups, ["a", "b"]);
        assert!(r.stream() && !r.mutation());
        assert_eq!(r.target(), "pods/exec ns/web");
        let rec = r.result.unwrap().recording.unwrap();
        assert_eq!((rec.file.as_str(), rec.size), ("r1.cast", 9));
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent_not_as_a_lost_record() {
        let v: Value = serde_json::json!({
            "event": "proxy", "outcome": "started", "status": "teapot", "username": 7,
            "request": "not an object", "result": {"recording": "nope"}
        });
        let r = View::of(&v);
        assert_eq!((r.event, r.status, r.username), ("proxy", None, None));
        assert!(r.request.is_none());
        assert!(r.result.unwrap().recording.is_none());
    }
}
