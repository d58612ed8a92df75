//! The proxy's audit records, in the broker's hash chain. Before a request
//! is forwarded, a `proxy`/`started` record must be durable (else 503, not
//! forwarded); when it ends, a `proxy`/`finished` record with status,
//! bytes each way, duration and, for streams, how it ended. Each repeats
//! who and what, so neither needs the other to be read.

use super::authn::{Authenticated, Presented};
use super::request_info::RequestInfo;
use crate::audit::record::{ProxiedRequest, ProxiedResult, Recording};
use crate::audit::{AuditLog, AuditRecord};
use crate::broker::request::{MAX_AUDIT_TEXT, clip};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub const EVENT: &str = "proxy";

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| clip(s, MAX_AUDIT_TEXT))
}

/// The record's who-less base: cluster, client, what.
pub fn base(
    cluster: &str,
    id: &str,
    method: &str,
    info: &RequestInfo,
    client: SocketAddr,
    user_agent: Option<&[u8]>,
) -> AuditRecord {
    let mut rec = AuditRecord::new(EVENT);
    rec.cluster = Some(cluster.to_string());
    rec.client_addr = Some(client.to_string());
    rec.user_agent = user_agent.map(|u| {
        clip(
            &crate::text::escape_deceptive(&String::from_utf8_lossy(u)),
            MAX_AUDIT_TEXT,
        )
    });
    rec.request = Some(ProxiedRequest {
        id: id.to_string(),
        method: method.to_string(),
        path: clip(&info.path, MAX_AUDIT_TEXT * 4),
        verb: info.verb.clone(),
        api_group: info.is_resource_request.then(|| info.api_group.clone()),
        api_version: opt(&info.api_version),
        resource: opt(&info.resource),
        subresource: opt(&info.subresource),
        namespace: opt(&info.namespace),
        name: opt(&info.name),
        container: info.container.as_deref().and_then(opt),
        command: (!info.command.is_empty()).then(|| {
            info.command
                .iter()
                .map(|c| clip(c, MAX_AUDIT_TEXT))
                .collect()
        }),
        ports: (!info.ports.is_empty()).then(|| info.ports.clone()),
    });
    rec
}

/// Adds who: the person, the groups, the session and its reason (the
/// credential was recorded by [`presented`]).
pub fn who(rec: &mut AuditRecord, auth: &Authenticated) {
    let r = &auth.reviewed;
    rec.username = Some(r.token.username.clone());
    rec.subject = Some(r.token.uid.clone());
    rec.kube_groups = Some(r.token.groups.clone());
    rec.session_id = Some(r.token.session_id.clone());
    rec.reason = r.reason.clone();
}

/// Adds the credential presented, by serial or token-hash prefix.
pub fn presented(rec: &mut AuditRecord, presented: &Presented) {
    match presented {
        Presented::Certificate(serial) => {
            rec.credential = Some("certificate".into());
            rec.serial = Some(serial.clone());
        }
        Presented::Token(hash) => {
            rec.credential = Some("token".into());
            rec.token_hash_prefix = Some(hash.prefix());
        }
    }
}

/// Writes the `finished` record when dropped: when the response body
/// ended, the client went away, or the stream was cut.
pub struct Finish {
    audit: Arc<AuditLog>,
    rec: Option<AuditRecord>,
    started: Instant,
    pub bytes_in: Arc<AtomicU64>,
    pub bytes_out: Arc<AtomicU64>,
    /// Streams say how they ended; `None` for other requests.
    long_running: bool,
    ended: Option<&'static str>,
    on_finish: Vec<Box<dyn FnOnce(u16) + Send>>,
    /// The recording's writer: awaited, so the record holds its final
    /// digest.
    recording: Option<tokio::task::JoinHandle<Result<Recording, String>>>,
    unrecorded: Option<String>,
    ports: Vec<String>,
}

impl Finish {
    pub fn new(
        audit: Arc<AuditLog>,
        mut rec: AuditRecord,
        status: u16,
        long_running: bool,
    ) -> Finish {
        rec.outcome = "finished".into();
        rec.status = Some(status);
        Finish {
            audit,
            rec: Some(rec),
            started: Instant::now(),
            bytes_in: Default::default(),
            bytes_out: Default::default(),
            long_running,
            ended: None,
            on_finish: Vec::new(),
            recording: None,
            unrecorded: None,
            ports: Vec::new(),
        }
    }

    /// The record waits for this recording to be complete on disk.
    pub fn recording(&mut self, done: tokio::task::JoinHandle<Result<Recording, String>>) {
        self.recording = Some(done);
    }

    /// The stream was not recorded, and why.
    pub fn unrecorded(&mut self, why: impl Into<String>) {
        self.unrecorded = Some(clip(&why.into(), MAX_AUDIT_TEXT));
    }

    /// The ports a port-forward's streams named.
    pub fn ports(&mut self, ports: Vec<String>) {
        self.ports = ports;
    }

    pub fn set_status(&mut self, status: u16) {
        if let Some(r) = &mut self.rec {
            r.status = Some(status);
        }
    }

    /// The first reason given is the one recorded.
    pub fn ended(&mut self, how: &'static str) {
        self.ended.get_or_insert(how);
    }

    /// Runs `f` once with the final status (metrics), after any added
    /// before.
    pub fn on_finish(&mut self, f: impl FnOnce(u16) + Send + 'static) {
        self.on_finish.push(Box::new(f));
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        let Some(mut rec) = self.rec.take() else {
            return;
        };
        rec.result = Some(ProxiedResult {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            duration_ms: self.started.elapsed().as_millis() as u64,
            ended: self
                .long_running
                .then(|| self.ended.unwrap_or("client closed").to_string()),
            recording: None,
            unrecorded: self.unrecorded.take(),
            ports: (!self.ports.is_empty()).then(|| std::mem::take(&mut self.ports)),
        });
        for f in self.on_finish.drain(..) {
            f(rec.status.unwrap_or_default());
        }
        let audit = self.audit.clone();
        let recording = self.recording.take();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(done) = recording
                    && let Some(result) = &mut rec.result
                {
                    match done.await {
                        Ok(Ok(r)) => result.recording = Some(r),
                        Ok(Err(why)) => result.unrecorded = Some(clip(&why, MAX_AUDIT_TEXT)),
                        Err(e) => {
                            result.unrecorded = Some(format!("the recording's writer failed: {e}"))
                        }
                    }
                }
                // The answer is already sent: nothing waits on this sync.
                if let Err(e) = audit.append_soon(rec).await {
                    tracing::error!(error = %e, "proxy: cannot audit the end of a request");
                }
            });
        }
    }
}
