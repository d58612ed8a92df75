//! The listener and the per-request chain: authenticate (401), refuse
//! client impersonation (403), take a lease on the session, make the
//! `started` record durable (503 if it cannot be), impersonate, forward,
//! and stream the answer back (or splice an upgrade) until it ends or the
//! session is cut.

use super::authn::{self, Authenticated};
use super::body::Metered;
use super::cutoff::{Lease, Registry};
use super::forward::{Upstream, strip_hop_by_hop, wants_upgrade};
use super::impersonate::{self, Person};
use super::metrics::ProxyMetrics;
use super::record::{self, Finish};
use super::recording::plan::{self, Plan};
use super::request_info::{self, is_long_running};
use super::spdy_ports;
use super::status::Refusal;
use super::upgrade::{Tap, splice};
use crate::audit::{AuditLog, AuditRecord};
use crate::store::Store;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use rand::RngCore;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub type ProxyBody = Either<Full<Bytes>, Metered<Incoming>>;

/// One cluster's proxy: everything a request needs.
pub struct Proxy {
    pub cluster: String,
    pub store: Arc<Store>,
    pub audit: Arc<AuditLog>,
    pub upstream: Upstream,
    pub registry: Arc<Registry>,
    pub metrics: Arc<ProxyMetrics>,
    pub record: super::config::RecordPolicy,
    /// The audit log's directory, where recordings go; `None` when the
    /// chain is in the database.
    pub audit_dir: Option<std::path::PathBuf>,
}

/// Longest TLS handshake a client may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` for ever.
pub async fn run(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await else {
                return;
            };
            // Verified against the cluster CA in the handshake.
            let serial = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| authn::serial_of(c));
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                let serial = serial.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req, peer, serial.as_deref()).await) }
            });
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            let _ = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

/// A recording not (yet) handed to a stream: its file is removed when
/// this drops.
struct Discard(Option<super::recording::Recorder>);

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.discard();
        }
    }
}

fn request_id() -> String {
    let mut id = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut id);
    hex::encode(id)
}

fn full(resp: Response<Full<Bytes>>) -> Response<ProxyBody> {
    resp.map(Either::Left)
}

impl Proxy {
    async fn handle(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        serial: Option<&str>,
    ) -> Response<ProxyBody> {
        let info = request_info::parse(req.method().as_str(), req.uri().path(), req.uri().query());
        let mut rec = record::base(
            &self.cluster,
            &request_id(),
            req.method().as_str(),
            &info,
            peer,
            req.headers().get(header::USER_AGENT).map(|v| v.as_bytes()),
        );
        let verb = info.verb.clone();
        let presented = match authn::presented(serial, req.headers(), &self.cluster) {
            Ok(p) => p,
            Err(refusal) => return self.refuse(rec, &verb, refusal).await,
        };
        // A refused credential is recorded too: probing shows in the log.
        record::presented(&mut rec, &presented);
        let now = OffsetDateTime::now_utc();
        let auth = match authn::authenticate(&self.store, presented, &self.cluster, now).await {
            Ok(a) => a,
            Err(refusal) => return self.refuse(rec, &verb, refusal).await,
        };
        record::who(&mut rec, &auth);
        if let Some(name) = impersonate::requested(req.headers()) {
            let refusal = Refusal::forbidden(format!(
                "kaccess proxy: the `{name}` header is refused: through kaccess you act only as yourself (drop `--as`, `--as-group`, `--as-uid`)"
            ));
            return self.refuse(rec, &verb, refusal).await;
        }
        let upgrade = wants_upgrade(&req);
        let plan = match plan::decide(
            self.record,
            self.audit_dir.as_deref(),
            &self.cluster,
            &info,
            req.headers_mut(),
            upgrade,
        ) {
            Ok(p) => p,
            Err(message) => return self.refuse(rec, &verb, Refusal::forbidden(message)).await,
        };
        let lease = match self.lease(&auth).await {
            Ok(l) => l,
            Err(refusal) => return self.refuse(rec, &verb, refusal).await,
        };
        let required = self.record == super::config::RecordPolicy::Required;
        let (recorder, unrecorded) = match (&plan, &self.audit_dir) {
            (Plan::Record, Some(dir)) => {
                let request = rec.request.as_ref().map_or("", |r| r.id.as_str());
                match plan::open(dir, &auth.reviewed.token.session_id, request, &info) {
                    Ok(r) => (Some(r), None),
                    Err(why) if required => {
                        tracing::error!(error = %why, "proxy: cannot record a stream; not forwarding it");
                        return self
                            .refuse(rec, &verb, Refusal::unavailable(format!(
                                "kaccess proxy: cluster `{}` requires every stream to be recorded, and the recording cannot be written ({why}); retry later or ask the broker's operator",
                                self.cluster
                            )))
                            .await;
                    }
                    Err(why) => (None, Some(why)),
                }
            }
            (Plan::Unrecorded(why), _) => (None, Some(why.clone())),
            _ => (None, None),
        };
        // Until the stream is spliced, a recording is thrown away on any
        // early return (no stream, nothing to record).
        let mut recorder = Discard(recorder);

        let mut started = rec.clone();
        started.outcome = "started".into();
        if let Err(e) = self.audit.append(started).await {
            tracing::error!(error = %e, "proxy: cannot audit a request; not forwarding it");
            self.metrics.request(&verb, 503);
            return full(
                Refusal::unavailable(format!(
                    "kaccess proxy: the request was not forwarded because its audit record cannot be written ({e}); retry later or ask the broker's operator"
                ))
                .response(),
            );
        }

        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let r = &auth.reviewed;
        let person = Person {
            username: &r.token.username,
            groups: &r.token.groups,
            session_id: &r.token.session_id,
            reason: r.reason.as_deref(),
            request_id: r.elevation.as_ref().and_then(|e| e.request_id.as_deref()),
        };
        let mut finish = Finish::new(self.audit.clone(), rec, 0, is_long_running(&info));
        {
            let metrics = self.metrics.clone();
            let verb = verb.clone();
            finish.on_finish(move |code| metrics.request(&verb, code));
        }
        if let Some(why) = unrecorded {
            finish.unrecorded(why);
        }
        if impersonate::apply(&mut parts.headers, &person).is_none() {
            finish.set_status(500);
            return full(
                Refusal {
                    code: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "kaccess proxy: the session's identity cannot be sent as headers"
                        .into(),
                }
                .response(),
            );
        }
        let body = Metered::counted(body, finish.bytes_in.clone());
        let sent = Instant::now();
        let answer = tokio::select! {
            r = self.upstream.send(Request::from_parts(parts, body), upgrade) => r,
            _ = lease.token.cancelled() => {
                let how = lease.cause().map_or("revoked", |c| c.as_str());
                finish.set_status(401);
                finish.ended(how);
                return full(Refusal::unauthorized(format!(
                    "session {how}: run `kaccess login {}`", self.cluster
                )).response());
            }
        };
        self.metrics.upstream_latency(sent.elapsed());
        let mut resp = match answer {
            Ok(resp) => resp,
            Err(e) => {
                tracing::warn!(error = %e, "proxy: upstream request failed");
                finish.set_status(502);
                finish.ended("upstream closed");
                return full(
                    Refusal::bad_gateway(format!(
                        "kaccess proxy: cannot reach the cluster's API server: {e}"
                    ))
                    .response(),
                );
            }
        };
        finish.set_status(resp.status().as_u16());
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client) = client_upgrade
        {
            let mut tap = None;
            if let Some(r) = recorder.0.take() {
                match super::recording::channel::negotiated(resp.headers()) {
                    Ok(_) => {
                        tap = Some(Tap {
                            recorder: r,
                            required,
                        })
                    }
                    Err(why) => {
                        r.discard();
                        if required {
                            finish.set_status(502);
                            finish.ended("not recordable");
                            return full(Refusal::bad_gateway(format!(
                                "kaccess proxy: cluster `{}` requires every stream to be recorded, and this one cannot be: {why}; ask the broker's operator",
                                self.cluster
                            )).response());
                        }
                        finish.unrecorded(why);
                    }
                }
            }
            let watch = (info.subresource == "portforward")
                .then(|| spdy_ports::framing(resp.headers()))
                .flatten()
                .map(spdy_ports::PortWatch::new);
            let upstream = hyper::upgrade::on(&mut resp);
            let stream = self.metrics.stream_opened();
            finish.on_finish(move |_| drop(stream));
            splice(client, upstream, lease, finish, tap, watch);
            return resp.map(|_| Either::Left(Full::new(Bytes::new())));
        }
        strip_hop_by_hop(resp.headers_mut(), false);
        let long_running = is_long_running(&info);
        if long_running {
            let stream = self.metrics.stream_opened();
            finish.on_finish(move |_| drop(stream));
        }
        resp.map(|b| {
            let body = Metered::response(b, lease, finish);
            Either::Right(if long_running { body.streaming() } else { body })
        })
    }

    async fn lease(&self, auth: &Authenticated) -> Result<Lease, Refusal> {
        let login = format!("run `kaccess login {}`", self.cluster);
        let session = self
            .store
            .session(&auth.reviewed.token.session_id)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Refusal::unauthorized(format!("session ended: {login}")))?;
        let lease = self.registry.lease(&session).await;
        match lease.cause() {
            Some(cause) => Err(Refusal::unauthorized(format!(
                "session {}: {login}",
                cause.as_str()
            ))),
            None => Ok(lease),
        }
    }

    /// Audits a refusal, then sends it; 503 if it cannot be audited.
    async fn refuse(
        &self,
        mut rec: AuditRecord,
        verb: &str,
        refusal: Refusal,
    ) -> Response<ProxyBody> {
        rec.outcome = "refused".into();
        rec.status = Some(refusal.code.as_u16());
        rec.cause = Some(refusal.message.clone());
        tracing::info!(code = refusal.code.as_u16(), cause = %refusal.message, "proxy: refused");
        if let Err(e) = self.audit.append(rec).await {
            tracing::error!(error = %e, "proxy: cannot audit a refusal");
            self.metrics.request(verb, 503);
            return full(
                Refusal::unavailable(format!(
                    "kaccess proxy: the audit log cannot be written ({e}); retry later"
                ))
                .response(),
            );
        }
        self.metrics.request(verb, refusal.code.as_u16());
        full(refusal.response())
    }
}
