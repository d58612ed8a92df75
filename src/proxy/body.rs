//! Bodies on their way through: counted, streamed as they arrive (a watch
//! is never held back waiting for more), and, for responses, cut off when
//! the session's token is cancelled. A response passes on, as one frame,
//! every data frame upstream has ready at that moment (up to
//! [`COALESCE`]): a fast watch sends one event per chunk, and one
//! downstream frame, TLS record and wake-up per event made the proxy's
//! core the limit of watch throughput. Returning an error makes hyper reset the stream
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

/// At most this many bytes of ready data frames go out as one frame.
const COALESCE: usize = 64 * 1024;

pub struct Metered<B> {
    inner: B,
    count: Arc<AtomicU64>,
    cut: Option<(Pin<Box<WaitForCancellationFutureOwned>>, Lease)>,
    finish: Option<Finish>,
    /// Responses only: ready data frames are joined.
    coalesce: bool,
    /// What upstream gave after the data just joined (the end, an error
    /// or trailers), passed on at the next poll.
    held: Option<Option<Result<Frame<Bytes>, BoxError>>>,
}

impl<B> Metered<B> {
    /// Counts into `count`; nothing else.
    pub fn counted(inner: B, count: Arc<AtomicU64>) -> Metered<B> {
        Metered {
            inner,
            count,
            cut: None,
            finish: None,
            coalesce: false,
            held: None,
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
            coalesce: true,
            held: None,
        }
    }

    fn end(&mut self, how: &'static str) {
        if let Some(mut f) = self.finish.take() {
            f.ended(how);
        }
    }
}

impl<B> Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// `first` and the data frames upstream has ready after it, up to
    /// [`COALESCE`] bytes. Anything else it has ready is held for the next
    /// poll; `Pending` leaves upstream's waker registered, as it must be.
    fn join_ready(&mut self, first: Bytes, cx: &mut Context<'_>) -> Bytes {
        let mut joined: Option<bytes::BytesMut> = None;
        let mut len = first.len();
        while len < COALESCE {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(more) => {
                        len += more.len();
                        joined
                            .get_or_insert_with(|| bytes::BytesMut::from(&first[..]))
                            .extend_from_slice(&more);
                    }
                    Err(trailers) => {
                        self.held = Some(Some(Ok(trailers)));
                        break;
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    self.held = Some(Some(Err(e.into())));
                    break;
                }
                Poll::Ready(None) => {
                    self.held = Some(None);
                    break;
                }
                Poll::Pending => break,
            }
        }
        joined.map_or(first, bytes::BytesMut::freeze)
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
        let next = match this.held.take() {
            Some(held) => Poll::Ready(held),
            None => Pin::new(&mut this.inner)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
        };
        match next {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let data = if this.coalesce {
                        this.join_ready(data, cx)
                    } else {
                        data
                    };
                    this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(trailers) => Poll::Ready(Some(Ok(trailers))),
            },
            Poll::Ready(Some(Err(e))) => {
                this.end("upstream closed");
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.end("upstream closed");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.held {
            Some(None) => true,
            Some(Some(_)) => false,
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;

    /// One poll's answer from upstream.
    type Step = Poll<Option<Result<Frame<Bytes>, Infallible>>>;

    /// Upstream as a script: each poll takes the next step.
    struct Script(VecDeque<Step>);

    impl Body for Script {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Step {
            self.0.pop_front().unwrap_or(Poll::Pending)
        }
    }

    fn data(s: &'static str) -> Step {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
    }

    fn joining(steps: Vec<Step>) -> Metered<Script> {
        let mut m = Metered::counted(Script(steps.into()), Arc::new(AtomicU64::new(0)));
        m.coalesce = true;
        m
    }

    fn poll(m: &mut Metered<Script>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(m).poll_frame(&mut cx)
    }

    fn text(p: Poll<Option<Result<Frame<Bytes>, BoxError>>>) -> String {
        match p {
            Poll::Ready(Some(Ok(f))) => String::from_utf8(f.into_data().unwrap().to_vec()).unwrap(),
            other => panic!(
                "expected data, got {:?}",
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        }
    }

    #[test]
    fn ready_watch_events_go_out_as_one_frame_and_a_waiting_upstream_is_not_waited_for() {
        let mut m = joining(vec![
            data("{\"a\"}\n"),
            data("{\"b\"}\n"),
            data("{\"c\"}\n"),
            // Seen by the join (it stops there), then by the next poll.
            Poll::Pending,
            Poll::Pending,
            data("{\"d\"}\n"),
            Poll::Ready(None),
        ]);
        assert_eq!(text(poll(&mut m)), "{\"a\"}\n{\"b\"}\n{\"c\"}\n");
        assert!(
            poll(&mut m).is_pending(),
            "nothing ready: nothing held back"
        );
        // The end arrives right behind `d`: `d` first, then the end.
        assert_eq!(text(poll(&mut m)), "{\"d\"}\n");
        assert!(m.is_end_stream());
        assert!(matches!(poll(&mut m), Poll::Ready(None)));
        assert_eq!(
            m.count.load(Ordering::Relaxed),
            24,
            "every byte counted once"
        );
    }

    #[test]
    fn joining_stops_at_the_limit_and_trailers_follow_the_data_they_came_after() {
        let big: &'static str = Box::leak("x".repeat(COALESCE).into_boxed_str());
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let mut m = joining(vec![
            data(big),
            data("next"),
            data("one"),
            Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
        ]);
        assert_eq!(
            text(poll(&mut m)).len(),
            COALESCE,
            "a full frame is not joined further"
        );
        assert_eq!(text(poll(&mut m)), "nextone");
        match poll(&mut m) {
            Poll::Ready(Some(Ok(f))) => assert!(f.is_trailers()),
            _ => panic!("the trailers come next"),
        }
    }

    #[test]
    fn request_bodies_pass_frame_by_frame() {
        let mut m = Metered::counted(
            Script(vec![data("a"), data("b")].into()),
            Arc::new(AtomicU64::new(0)),
        );
        assert_eq!(text(poll(&mut m)), "a");
        assert_eq!(text(poll(&mut m)), "b");
    }
}
