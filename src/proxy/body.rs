//! Bodies on their way through: counted, streamed as they arrive, and, for
//! responses, cut off when the session's token is cancelled. A response
//! passes on, as one frame, the data frames upstream gives in a row (up to
//! [`COALESCE`]). hyper's HTTP/1.1 client hands a body over one chunk at a
//! time (its channel holds one), so for a stream (a watch, `logs -f`) the
//! joined data waits, when upstream has nothing ready, for one turn of the
//! scheduler, in which hyper decodes the next chunk it has already read;
//! it goes out when a turn brings nothing. Frame by frame, every event of
//! a fast watch cost a TLS record and a `writev` to the client (stop 19's
//! profile: 1.3 KB per write, the writes 46 % of the proxy's CPU); a lone
//! event now waits one scheduler turn, microseconds. Returning an error
//! makes hyper reset the stream (HTTP/2) or close the connection
//! (HTTP/1.1), which is what a client must see when its session ends
//! mid-stream.

use super::cutoff::Lease;
use super::record::Finish;
use bytes::{Bytes, BytesMut};
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
    /// Responses only: data frames in a row are joined.
    coalesce: bool,
    /// Data joined and not yet passed on.
    joined: Option<BytesMut>,
    /// Long-running responses only (a watch, `logs -f`): joined data waits
    /// one scheduler turn for more. A plain response's next chunk is
    /// usually its end, which is not worth a turn.
    turns: bool,
    /// Whether the scheduler was given a turn since data was last joined.
    yielded: bool,
    /// What upstream gave after the data joined (the end, an error or
    /// trailers), passed on at the next poll.
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
            joined: None,
            turns: false,
            yielded: false,
            held: None,
        }
    }

    /// A response body: counts into `finish.bytes_out`, ends when `lease`
    /// is cancelled, and writes `finish` when done.
    pub fn response(inner: B, lease: Lease, finish: Finish) -> Metered<B> {
        let count = finish.bytes_out.clone();
        Metered {
            coalesce: true,
            cut: Some((Box::pin(lease.token.clone().cancelled_owned()), lease)),
            finish: Some(finish),
            ..Metered::counted(inner, count)
        }
    }

    /// A stream's response: joined data waits a turn for more.
    pub fn streaming(mut self) -> Metered<B> {
        self.turns = true;
        self
    }

    fn end(&mut self, how: &'static str) {
        if let Some(mut f) = self.finish.take() {
            f.ended(how);
        }
    }

    /// The joined data as one frame, counted.
    fn pass_joined(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let data = self.joined.take().map(BytesMut::freeze).unwrap_or_default();
        self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(data))))
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
            this.joined = None;
            this.end(how);
            return Poll::Ready(Some(Err(
                format!("kaccess proxy: stream closed: {how}").into()
            )));
        }
        loop {
            let next = match this.held.take() {
                Some(held) => Poll::Ready(held),
                None => Pin::new(&mut this.inner)
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(Into::into))),
            };
            let joined = this.joined.is_some();
            match next {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if this.coalesce => {
                        this.yielded = false;
                        let buf = this.joined.get_or_insert_with(BytesMut::new);
                        buf.extend_from_slice(&data);
                        if buf.len() >= COALESCE {
                            return this.pass_joined();
                        }
                    }
                    Ok(data) => {
                        this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Err(trailers) if joined => {
                        this.held = Some(Some(Ok(trailers)));
                        return this.pass_joined();
                    }
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                Poll::Ready(end) if joined => {
                    this.held = Some(end);
                    return this.pass_joined();
                }
                Poll::Ready(Some(Err(e))) => {
                    this.end("upstream closed");
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.end("upstream closed");
                    return Poll::Ready(None);
                }
                Poll::Pending if !joined => return Poll::Pending,
                Poll::Pending if this.yielded || !this.turns => return this.pass_joined(),
                Poll::Pending => {
                    // One turn for the tasks already woken (hyper's
                    // connection task among them): tokio wakes a deferred
                    // waker only after them. Outside tokio it wakes at once.
                    this.yielded = true;
                    let turn = std::pin::pin!(tokio::task::yield_now());
                    let _ = turn.poll(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.joined.is_some() {
            return false;
        }
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
    type Step<E = Infallible> = Poll<Option<Result<Frame<Bytes>, E>>>;

    /// Upstream as a script: each poll takes the next step.
    struct Script<E = Infallible>(VecDeque<Step<E>>);

    impl<E: Unpin> Body for Script<E> {
        type Data = Bytes;
        type Error = E;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Step<E> {
            self.0.pop_front().unwrap_or(Poll::Pending)
        }
    }

    fn data(s: &'static str) -> Step {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
    }

    fn joining(steps: Vec<Step>) -> Metered<Script> {
        let mut m = Metered::counted(Script(steps.into()), Arc::new(AtomicU64::new(0))).streaming();
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
    fn watch_events_in_a_row_go_out_as_one_frame_after_one_turn_with_nothing_new() {
        let mut m = joining(vec![
            data("{\"a\"}\n"),
            data("{\"b\"}\n"),
            data("{\"c\"}\n"),
            // The turn given to the scheduler.
            Poll::Pending,
            // Nothing came in that turn: the three go.
            Poll::Pending,
            // Nothing joined: nothing to wait for.
            Poll::Pending,
            data("{\"d\"}\n"),
            Poll::Ready(None),
        ]);
        assert!(poll(&mut m).is_pending(), "one turn for the next chunk");
        assert!(!m.is_end_stream(), "joined data is still to come");
        assert_eq!(text(poll(&mut m)), "{\"a\"}\n{\"b\"}\n{\"c\"}\n");
        assert!(poll(&mut m).is_pending(), "nothing ready, nothing held");
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
    fn a_chunk_that_arrives_during_the_turn_is_joined_and_earns_another_turn() {
        let mut m = joining(vec![
            data("a"),
            Poll::Pending,
            data("b"),
            Poll::Pending,
            Poll::Pending,
        ]);
        assert!(poll(&mut m).is_pending());
        assert!(poll(&mut m).is_pending(), "`b` came: one more turn");
        assert_eq!(text(poll(&mut m)), "ab");
    }

    #[test]
    fn an_upstream_error_after_joined_data_follows_the_data() {
        let mut m = Metered::counted(
            Script::<&'static str>(
                vec![
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x"))))),
                    Poll::Ready(Some(Err("reset"))),
                ]
                .into(),
            ),
            Arc::new(AtomicU64::new(0)),
        );
        m.coalesce = true;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut m).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => assert_eq!(f.into_data().unwrap(), "x"),
            _ => panic!("the data first"),
        }
        assert!(matches!(
            Pin::new(&mut m).poll_frame(&mut cx),
            Poll::Ready(Some(Err(_)))
        ));
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
    fn a_plain_response_passes_what_is_ready_without_waiting_a_turn() {
        let mut m = Metered::counted(
            Script(vec![data("a"), data("b"), Poll::Pending, data("c")].into()),
            Arc::new(AtomicU64::new(0)),
        );
        m.coalesce = true;
        assert_eq!(text(poll(&mut m)), "ab");
        assert_eq!(text(poll(&mut m)), "c");
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
