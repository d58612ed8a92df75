//! `GET /v1/audit/watch`: the live audit feed for `kaccess admin watch`.
//! Members of `auditor-groups` or `admin-groups` with a fresh MFA login
//! follow every record as it becomes durable, narrowed by cluster, user
//! and verb, as newline-delimited JSON (`protocol::WatchFrame`). Watching
//! is itself audited: a `watch`/`started` record (who, with what filter)
//! is durable before the first line is sent, and a `watch`/`ended` record
//! says how many records were delivered and missed.
//!
//! The feed never slows the writer: a watcher that falls behind is told
//! how many records it missed (`{"missed": N}`) and goes on from the
//! newest. A keep-alive line every `WATCH_KEEPALIVE` lets the client tell
//! a quiet broker from a dead one; at shutdown every feed ends with an
//! `{"ended": ...}` line instead of holding the drain.

use super::admin::require_auditor;
use super::caller::verify_caller;
use super::error::{AppError, audited};
use super::request::{Caller, MAX_AUDIT_TEXT, bearer};
use super::server::Shared;
use crate::audit::fields::{Filter, Key};
use crate::audit::{AuditLog, AuditRecord, Tapped};
use crate::protocol::{WATCH_KEEPALIVE, WatchFrame, WatchQuery};
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

pub async fn handle(
    State(st): State<Shared>,
    query: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let mut rec = Caller::of(&parts).record("watch");
    // Subscribed before the check: nothing written between the `started`
    // record and the first line is lost.
    let feed = st.audit.subscribe();
    let result = async {
        let Query(q) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
        check_filter(&q)?;
        rec.cluster = q.cluster.clone();
        rec.cause = Some(describe(&q));
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let who = require_auditor(&live, issuer, &token, "follow the audit feed")?;
        rec.actor = Some(who.username);
        Ok::<_, AppError>(q)
    }
    .await;
    let q = match result {
        Ok(q) => q,
        Err(err) => {
            err.describe(&mut rec);
            return audited(&st.audit, rec, err.into_response()).await;
        }
    };
    rec.outcome = "started".into();
    rec.status = Some(200);
    if let Err(e) = st.audit.append(rec.clone()).await {
        return AppError::audit_unavailable(e).into_response();
    }
    let filter = Filter::default()
        .with(Key::Cluster, q.cluster.map(|c| vec![c]))
        .with(Key::User, q.user.map(|u| vec![u]))
        .with(Key::Verb, q.verb.map(|v| vec![v]));
    let follow = Follow {
        feed,
        _watching: st.audit.tap().watching(),
        filter,
        keepalive: tokio::time::interval(WATCH_KEEPALIVE),
        stopping: st.stopping.subscribe(),
        end: EndRecord {
            audit: st.audit.clone(),
            rec: Some(rec),
            delivered: 0,
            missed: 0,
        },
        done: false,
    };
    // A bounded queue between the follower and the connection: a client
    // that stops reading holds up only its own follower, which then lags.
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(follow.run(tx));
    let body = Body::new(Lines(rx));
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The filter's values reach the chain: one line of plain text each.
fn check_filter(q: &WatchQuery) -> Result<(), AppError> {
    for (name, value) in [
        ("cluster", &q.cluster),
        ("user", &q.user),
        ("verb", &q.verb),
    ] {
        if let Some(v) = value {
            if v.is_empty() || v.len() > MAX_AUDIT_TEXT {
                return Err(AppError::bad_request(format!(
                    "`{name}` must be 1 to {MAX_AUDIT_TEXT} bytes"
                )));
            }
            crate::text::check_free_text(&format!("`{name}`"), v).map_err(AppError::bad_request)?;
        }
    }
    Ok(())
}

/// `filter: cluster=prod user=* verb=delete`, for the record.
fn describe(q: &WatchQuery) -> String {
    let v = |o: &Option<String>| o.clone().unwrap_or_else(|| "*".into());
    format!(
        "live audit feed; filter: cluster={} user={} verb={}",
        v(&q.cluster),
        v(&q.user),
        v(&q.verb)
    )
}

struct Follow {
    feed: broadcast::Receiver<Arc<Tapped>>,
    /// Other replicas' records are relayed while someone watches.
    _watching: crate::audit::tap::Watching,
    filter: Filter,
    keepalive: tokio::time::Interval,
    stopping: tokio::sync::watch::Receiver<bool>,
    end: EndRecord,
    done: bool,
}

enum Step {
    Got(Result<Arc<Tapped>, RecvError>),
    KeepAlive,
    Ended(&'static str),
}

fn frame(f: &WatchFrame) -> Bytes {
    let mut line = serde_json::to_vec(f).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    Bytes::from(line)
}

impl Follow {
    /// Sends lines until the feed ends or the client goes away.
    async fn run(mut self, tx: mpsc::Sender<Bytes>) {
        while !self.done {
            let step = tokio::select! {
                got = self.feed.recv() => Step::Got(got),
                _ = self.keepalive.tick() => Step::KeepAlive,
                _ = self.stopping.wait_for(|s| *s) => Step::Ended("the broker is shutting down"),
                _ = tx.closed() => break,
            };
            let line = match step {
                Step::Got(Ok(t)) if self.filter.matches(&t.record) => {
                    self.end.delivered += 1;
                    // The chain's own line, so the watcher can check its hash.
                    Bytes::from(format!("{{\"record\":{}}}\n", t.line))
                }
                Step::Got(Ok(_)) => continue,
                Step::Got(Err(RecvError::Lagged(n))) => {
                    self.end.missed += n;
                    frame(&WatchFrame {
                        missed: Some(n),
                        ..Default::default()
                    })
                }
                Step::Got(Err(RecvError::Closed)) => self.finish("the audit log closed"),
                Step::KeepAlive => frame(&WatchFrame::default()),
                Step::Ended(why) => {
                    // Durable before the last line: a stopping broker
                    // drains this connection before it closes the log.
                    self.end.write().await;
                    self.finish(why)
                }
            };
            if tx.send(line).await.is_err() {
                break;
            }
        }
        self.end.write().await;
    }

    fn finish(&mut self, why: &str) -> Bytes {
        self.done = true;
        frame(&WatchFrame {
            ended: Some(why.into()),
            ..Default::default()
        })
    }
}

/// The response body: the follower's lines as they come.
struct Lines(mpsc::Receiver<Bytes>);

impl http_body::Body for Lines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// The `watch`/`ended` record: written when the feed ends, or (if the
/// follower was cut short) spawned when dropped.
struct EndRecord {
    audit: Arc<AuditLog>,
    rec: Option<AuditRecord>,
    delivered: u64,
    missed: u64,
}

impl EndRecord {
    fn take(&mut self) -> Option<AuditRecord> {
        let mut rec = self.rec.take()?;
        rec.outcome = "ended".into();
        rec.cause = Some(format!(
            "{}; delivered {}, missed {}",
            rec.cause.unwrap_or_default(),
            crate::units::count(self.delivered as usize, "record"),
            self.missed
        ));
        Some(rec)
    }

    async fn write(&mut self) {
        if let Some(rec) = self.take() {
            append_end(&self.audit, rec).await;
        }
    }
}

async fn append_end(audit: &AuditLog, rec: AuditRecord) {
    if let Err(e) = audit.append(rec).await {
        tracing::error!(error = %e, "cannot audit the end of a live audit feed");
    }
}

impl Drop for EndRecord {
    fn drop(&mut self) {
        let Some(rec) = self.take() else { return };
        let audit = self.audit.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { append_end(&audit, rec).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watcher_that_fell_behind_is_told_how_many_it_missed_then_gets_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(&dir.path().join("audit.jsonl"), false).unwrap();
        let tap = audit.tap().clone();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let follow = Follow {
            feed: audit.subscribe(),
            _watching: tap.watching(),
            filter: Filter::default().with(Key::Cluster, Some(vec!["prod".into()])),
            keepalive: tokio::time::interval(std::time::Duration::from_secs(3600)),
            stopping,
            end: EndRecord {
                audit: audit.clone(),
                rec: Some(AuditRecord::new("watch")),
                delivered: 0,
                missed: 0,
            },
            done: false,
        };
        let extra = 5;
        for n in 0..crate::audit::tap::CAPACITY + extra {
            let rec = AuditRecord {
                cluster: Some(if n % 2 == 0 { "prod" } else { "dev" }.into()),
                ..AuditRecord::new("exchange")
            };
            tap.publish(rec, format!("{{\"n\":{n}}}"), true);
        }
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(follow.run(tx));
        let text = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
        // Keep-alives may come between any two lines.
        let mut lines = Vec::new();
        while lines.len() < 2 {
            let line = text(rx.recv().await.unwrap());
            if line != "{}\n" {
                lines.push(line);
            }
        }
        assert_eq!(lines[0], format!("{{\"missed\":{extra}}}\n"));
        // The oldest left is the first after those missed; `dev` ones are filtered out.
        let first = lines[1].clone();
        assert_eq!(first, format!("{{\"record\":{{\"n\":{}}}}}\n", extra + 1));
        stop.send_replace(true);
        let mut last = String::new();
        while let Some(line) = rx.recv().await {
            last = text(line);
        }
        assert_eq!(last, "{\"ended\":\"the broker is shutting down\"}\n");
        task.await.unwrap();
        audit.shutdown();
        let chain = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        assert!(chain.contains("\"outcome\":\"ended\""), "{chain}");
        assert!(chain.contains(&format!("missed {extra}")), "{chain}");
    }

    #[test]
    fn the_filter_is_described_for_the_record_and_checked_as_free_text() {
        let q = WatchQuery {
            cluster: Some("prod".into()),
            user: None,
            verb: Some("delete".into()),
        };
        assert_eq!(
            describe(&q),
            "live audit feed; filter: cluster=prod user=* verb=delete"
        );
        assert!(check_filter(&q).is_ok());
        let bad = WatchQuery {
            user: Some("alice\u{202E}".into()),
            ..q
        };
        let e = check_filter(&bad).unwrap_err();
        assert!(e.message.contains("U+202E"), "{}", e.message);
    }
}
