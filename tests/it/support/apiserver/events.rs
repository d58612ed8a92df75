//! A watch that streams many events fast, for the bench's watch event
//! throughput (figure 6, issue 11). The pod watch (`streams`) sends only a
//! watch's initial events and then stays open; this one, on ConfigMaps
//! (which no test otherwise touches), sends `?events=N` `ADDED` events
//! (default [`DEFAULT_EVENTS`]) as fast as the client reads them, then ends
//! the response, as kube-apiserver ends a watch at its `timeoutSeconds`.
//! `events` is the stand-in's own parameter, not the Kubernetes API's.
//!
//! Every event is one line of the same length ([`EVENT_BYTES`]): a
//! ConfigMap with about 1 KiB of data, the size of a small object, and
//! each its own body frame, as kube-apiserver writes one event per write.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::resources::status;

/// Events sent when the request does not say.
pub const DEFAULT_EVENTS: u64 = 1_000;
/// The most one watch may ask for (a bound on a stuck client's cost).
pub const MAX_EVENTS: u64 = 10_000_000;
/// Bytes of every event line, newline included.
pub const EVENT_BYTES: usize = 1_280;

/// The data of every ConfigMap, sized so that each event is
/// [`EVENT_BYTES`] long.
fn payload(ns: &str) -> String {
    let without = event_line(ns, 0, "").len();
    "kaccess-bench-"
        .chars()
        .cycle()
        .take(EVENT_BYTES.saturating_sub(without))
        .collect()
}

/// Event `n` in the namespace `ns`, a JSON string (quoted and escaped);
/// names and versions zero-padded, so every line is as long.
fn event_line(ns: &str, n: u64, payload: &str) -> String {
    format!(
        "{{\"type\":\"ADDED\",\"object\":{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\
         \"metadata\":{{\"name\":\"bench-{n:08}\",\"namespace\":{ns},\
         \"uid\":\"00000000-0000-4000-8000-{n:012x}\",\"resourceVersion\":\"{n:08}\",\
         \"creationTimestamp\":\"2025-01-01T00:00:00Z\"}},\"data\":{{\"payload\":\"{payload}\"}}}}}}\n"
    )
}

/// `count` events, made as they are asked for, then the end.
struct Burst {
    ns: String,
    payload: String,
    sent: u64,
    count: u64,
}

impl http_body::Body for Burst {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.sent == self.count {
            return Poll::Ready(None);
        }
        self.sent += 1;
        let line = event_line(&self.ns, self.sent, &self.payload);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(line)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.count
    }
}

/// `GET /api/v1/namespaces/{ns}/configmaps?watch=true[&events=N]`.
pub(super) async fn watch_configmaps(
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let watching = query
        .get("watch")
        .is_some_and(|w| !matches!(w.to_ascii_lowercase().as_str(), "false" | "0"));
    if !watching {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the stand-in serves configmaps only as a watch (?watch=true&events=N)",
        );
    }
    let count = match query.get("events").map(|n| n.parse::<u64>()) {
        None => DEFAULT_EVENTS,
        Some(Ok(n)) if n <= MAX_EVENTS => n,
        Some(_) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("events: a number of events from 0 to {MAX_EVENTS}"),
            );
        }
    };
    let ns = serde_json::Value::String(ns).to_string();
    let body = Burst {
        payload: payload(&ns),
        ns,
        sent: 0,
        count,
    };
    let mut resp = Response::new(Body::new(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_one_json_line_of_the_same_length() {
        let ns = "\"bench\"";
        let p = payload(ns);
        for n in [1, 99_999_999] {
            let line = event_line(ns, n, &p);
            assert_eq!(line.len(), EVENT_BYTES);
            let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
            assert_eq!(v["object"]["metadata"]["namespace"], "bench");
        }
    }
}
