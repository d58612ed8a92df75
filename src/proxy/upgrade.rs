//! Upgraded connections (`kubectl exec`, `attach`, `cp`, `port-forward`:
//! WebSocket `v5.channel.k8s.io` or SPDY/3.1) pass through byte for byte:
//! once both sides have switched protocols, the two connections are
//! joined, each direction counted, until either side closes or the
//! session's token is cancelled. Nothing is parsed, so every subprotocol
//! works alike, except a recorded `exec`/`attach`, whose WebSocket
//! messages go through [`relay`](super::recording::relay) instead, and a
//! SPDY port-forward, whose client bytes a [`PortWatch`] also reads (a
//! copy, after they are read) to name the ports.

use super::cutoff::Lease;
use super::record::Finish;
use super::recording::Recorder;
use super::recording::relay::{End, relay};
use super::spdy_ports::PortWatch;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const CLIENT: u8 = 1;
const UPSTREAM: u8 = 2;

/// Counts what is read from one side and notes which side reached EOF
/// first.
struct Counted<T> {
    io: T,
    count: Arc<AtomicU64>,
    side: u8,
    first_eof: Arc<AtomicU8>,
    watch: Option<PortWatch>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(result) = &polled {
            let n = buf.filled().len() - before;
            if n > 0 {
                self.count.fetch_add(n as u64, Ordering::Relaxed);
                let me = &mut *self;
                if let Some(watch) = &mut me.watch {
                    watch.observe(&buf.filled()[before..]);
                }
            } else if result.is_err() || buf.remaining() > 0 {
                let _ = self.first_eof.compare_exchange(
                    0,
                    self.side,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A stream to record: where, and whether it must stop when the
/// recording cannot be written.
pub struct Tap {
    pub recorder: Recorder,
    pub required: bool,
}

/// Joins the two upgraded connections in a task of its own; `finish` is
/// written when it ends (with the ports `watch` saw).
pub fn splice(
    client: OnUpgrade,
    upstream: OnUpgrade,
    lease: Lease,
    mut finish: Finish,
    tap: Option<Tap>,
    watch: Option<PortWatch>,
) {
    tokio::spawn(async move {
        let (c, u) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "proxy: an upgrade did not complete");
                finish.ended("client closed");
                if let Some(tap) = tap {
                    tap.recorder.discard();
                }
                return;
            }
        };
        if let Some(Tap { recorder, required }) = tap {
            let (c, u) = (TokioIo::new(c), TokioIo::new(u));
            let ended = tokio::select! {
                end = relay(c, u, &recorder, required, &finish.bytes_in, &finish.bytes_out) => {
                    match end {
                        End::ClientClosed => "client closed",
                        End::UpstreamClosed => "upstream closed",
                        End::RecordingFailed => "recording failed",
                    }
                }
                _ = lease.token.cancelled() => lease.cause().map_or("revoked", |c| c.as_str()),
            };
            finish.ended(ended);
            finish.recording(recorder.close());
            return;
        }
        let first_eof = Arc::new(AtomicU8::new(0));
        let mut c = Counted {
            io: TokioIo::new(c),
            count: finish.bytes_in.clone(),
            side: CLIENT,
            first_eof: first_eof.clone(),
            watch,
        };
        let mut u = Counted {
            io: TokioIo::new(u),
            count: finish.bytes_out.clone(),
            side: UPSTREAM,
            first_eof: first_eof.clone(),
            watch: None,
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut c, &mut u) => {
                finish.ended(match first_eof.load(Ordering::Acquire) {
                    UPSTREAM => "upstream closed",
                    _ => "client closed",
                });
            }
            _ = lease.token.cancelled() => {
                finish.ended(lease.cause().map_or("revoked", |c| c.as_str()));
            }
        }
        if let Some(watch) = c.watch.take() {
            finish.ports(watch.ports());
        }
        // Both connections drop here: the client sees its stream close.
    });
}
