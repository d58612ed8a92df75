//! Bodies on their way through: counted, streamed frame by frame (a watch
//! is never buffered), and, for responses, cut off when the session's
//! token is cancelled. Returning an error makes hyper reset the stream
//! (HTTP/2) or close the connection (HTTP/1.1), which is what a client
//! must see when its session ends mid-stream.

use super::cutoff::Lease;
use super::record::Finish;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio_util::sync::WaitForCancellationFutureOwned;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Metered<B> {
    inner: B,
    count: Arc<AtomicU64>,
    cut: Option<(Pin<Box<WaitForCancellationFutureOwned>>, Lease)>,
    finish: Option<Finish>,
}

impl<B> Metered<B> {
    /// Counts into `count`; nothing else.
    pub fn counted(inner: B, count: Arc<AtomicU64>) -> Metered<B> {
        Metered {
            inner,
            count,
            cut: None,
            finish: None,
        }
    }

    /// A response body: counts into `finish.bytes_out`, ends when `lease`
    /// is cancelled, and writes `finish` when done.
    pub fn response(inner: B, lease: Lease, finish: Finish) -> Metered<B> {
        Metered {
            inner,
            count: finish.bytes_out.clone(),
            cut: Some((Box::pin(lease.token.clone().cancelled_owned()), lease)),
            finish: Some(finish),
        }
    }

    fn end(&mut self, how: &'static str) {
        if let Some(mut f) = self.finish.take() {
            f.ended(how);
        }
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some((cancelled, lease)) = &mut this.cut
            && cancelled.as_mut().poll(cx).is_ready()
        {
            let how = lease.cause().map_or("revoked", |c| c.as_str());
            this.cut = None;
            this.end(how);
            return Poll::Ready(Some(Err(
                format!("kaccess proxy: stream closed: {how}").into()
            )));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.end("upstream closed");
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.end("upstream closed");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
