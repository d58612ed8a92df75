//! The load generator: keep-alive HTTPS/1.1 connections to 127.0.0.1 with a
//! hand-written request and just enough response parsing (status,
//! `Content-Length`) to stay cheap. Loads run all their connections on one
//! event loop per generator thread (`run`): the generator shares the
//! machine's 2 cores with the broker it measures, and 64 blocking client
//! threads made the scheduler, not the broker, set the latency tail (see
//! docs/performance.md). `Conn` is the blocking client for one-off calls.
//! Every run is bounded by a request count *and* a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Where the broker listens and the CA its certificate chains to.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// `url` is `https://127.0.0.1:PORT`.
    pub fn new(url: &str, ca_pem: &str) -> Target {
        kaccess::http::install_crypto_provider();
        let host = url.strip_prefix("https://").expect("an https:// URL");
        let addr: SocketAddr = host.trim_end_matches('/').parse().expect("IP:PORT");
        assert!(addr.ip().is_loopback(), "load only ever goes to 127.0.0.1");
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA cert");
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Target {
            addr,
            tls: Arc::new(tls),
        }
    }

    pub fn connect(&self) -> Conn {
        let tcp = TcpStream::connect(self.addr).expect("connect to the broker");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let tls = rustls::ClientConnection::new(self.tls.clone(), name).expect("TLS client");
        Conn {
            stream: rustls::StreamOwned::new(tls, tcp),
            buf: Vec::with_capacity(8192),
        }
    }
}

/// One keep-alive connection.
pub struct Conn {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

/// A request rendered once and sent many times.
pub fn post(path: &str, bearer: Option<&str>, body: &str) -> Vec<u8> {
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

impl Conn {
    /// Sends `request`, returns the status and body.
    pub fn send(&mut self, request: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request)?;
        self.stream.flush()?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(answer) = parse_response(&self.buf) {
                return Ok(answer);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Conn {
    /// Sends `request` for a response that streams (a watch): returns its
    /// status once the head has arrived, and leaves the body unread.
    pub fn open_stream(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request)?;
        self.stream.flush()?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]);
                return Ok(head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads and drops what a stream sends until the server closes it, or
    /// `limit` passes; returns when it closed.
    pub fn wait_closed(&mut self, limit: Duration) -> Option<Instant> {
        let until = Instant::now() + limit;
        let mut chunk = [0u8; 16 * 1024];
        while Instant::now() < until {
            let left = until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.stream.sock.set_read_timeout(Some(left)).ok()?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(Instant::now()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // A reset or a TLS close without notify: closed all the same.
                Err(_) => return Some(Instant::now()),
            }
        }
        None
    }
}

/// A GET with extra header lines (each ending in CRLF).
pub fn get_with(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n").into_bytes()
}

/// The status and body once `buf` holds a whole response, else `None`.
fn parse_response(buf: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if chunked {
        return dechunk(&buf[head_end..]).map(|body| (status, body));
    }
    (buf.len() >= head_end + len).then(|| (status, buf[head_end..head_end + len].to_vec()))
}

/// A whole chunked body (the proxy streams what it forwards), once the
/// last chunk and the trailer's end are in `buf`.
fn dechunk(mut buf: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = find(buf, b"\r\n")?;
        let size_text = std::str::from_utf8(&buf[..line]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        buf = &buf[line + 2..];
        if size == 0 {
            // No trailers are sent: the body ends with an empty line.
            return buf.starts_with(b"\r\n").then_some(body);
        }
        if buf.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[..size]);
        buf = &buf[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What one load run saw.
#[derive(Debug, Clone)]
pub struct Load {
    pub ok: usize,
    pub failed: usize,
    pub wall: Duration,
    /// Sorted, microseconds.
    pub latencies: Vec<u32>,
}

impl Load {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64()
    }
    pub fn pct(&self, p: f64) -> Duration {
        crate::stats::percentile(&self.latencies, p)
    }
}

/// How a run is driven.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Every connection sends its next request as soon as the last is
    /// answered.
    Closed,
    /// Together the connections start requests at this many per second;
    /// latency counts from when a request was due, so a stalled server is
    /// not hidden by connections that wait for it (coordinated omission).
    Open(f64),
}

impl Pace {
    /// Generator threads: one event loop paces an open run precisely and
    /// leaves the broker the most CPU; a closed run wants the highest rate,
    /// and one thread of client-side TLS would cap it below the broker's.
    fn threads(self) -> usize {
        match self {
            Pace::Open(_) => 1,
            Pace::Closed => 2,
        }
    }
}

/// Sends `request` `count` times (or until `deadline`) over `clients`
/// keep-alive connections. `ok(status, body)` says whether an answer counts
/// as served.
pub fn run(
    target: &Target,
    clients: usize,
    count: usize,
    deadline: Duration,
    pace: Pace,
    request: &[u8],
    ok: fn(u16, &[u8]) -> bool,
) -> Load {
    let threads = pace.threads().min(clients).max(1);
    let request: Arc<[u8]> = request.into();
    let issued = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(threads));
    let shards: Vec<_> = (0..threads)
        .map(|shard| {
            let job = Shard {
                target: target.clone(),
                // Connections split as evenly as they go.
                conns: clients / threads + usize::from(shard < clients % threads),
                count,
                deadline,
                pace: match pace {
                    Pace::Open(rate) => Pace::Open(rate / threads as f64),
                    Pace::Closed => Pace::Closed,
                },
                offset: shard as f64 / threads as f64,
                request: request.clone(),
                ok,
                issued: issued.clone(),
                barrier: barrier.clone(),
            };
            std::thread::spawn(move || job.run())
        })
        .collect();
    let mut load = Load {
        ok: 0,
        failed: 0,
        wall: Duration::ZERO,
        latencies: Vec::new(),
    };
    for s in shards {
        let part = s.join().expect("load generator thread");
        load.latencies.extend(part.latencies);
        load.ok += part.ok;
        load.failed += part.failed;
        load.wall = load.wall.max(part.wall);
    }
    load.latencies.sort_unstable();
    load
}

/// One generator thread's share of a run: its connections on one
/// single-threaded event loop.
struct Shard {
    target: Target,
    conns: usize,
    count: usize,
    deadline: Duration,
    pace: Pace,
    /// Where in one pacing period this shard's schedule starts (0..1).
    offset: f64,
    request: Arc<[u8]>,
    ok: fn(u16, &[u8]) -> bool,
    /// Requests started by all shards: the run stops at `count`.
    issued: Arc<AtomicUsize>,
    barrier: Arc<Barrier>,
}

/// How long after a run's deadline unanswered requests are given up on.
const WATCHDOG: Duration = Duration::from_secs(10);

type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// What one connection saw: latencies (µs), served, failed.
type Seen = (Vec<u32>, usize, usize);

impl Shard {
    fn run(self) -> Load {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            // Only for the watchdog: pacing uses `Timer`.
            .enable_time()
            .build()
            .expect("generator event loop");
        let connector = tokio_rustls::TlsConnector::from(self.target.tls.clone());
        let addr = self.target.addr;
        // Handshakes and a first request happen outside the measured window.
        let streams: Vec<Stream> = rt.block_on(async {
            let mut streams = Vec::new();
            for _ in 0..self.conns {
                let mut s = connect(&connector, addr)
                    .await
                    .expect("connect to the broker");
                exchange(
                    &mut s,
                    &get(kaccess::protocol::HEALTHZ_PATH),
                    &mut Vec::new(),
                )
                .await
                .expect("first request");
                streams.push(s);
            }
            streams
        });
        self.barrier.wait();
        rt.block_on(self.measure(streams, connector))
    }

    async fn measure(self, streams: Vec<Stream>, connector: tokio_rustls::TlsConnector) -> Load {
        let start = Instant::now();
        let pace = self.pace;
        let started = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let mut queues = Vec::new();
        for stream in streams {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            queues.push(tx);
            let conn = Connection {
                stream,
                connector: connector.clone(),
                addr: self.target.addr,
                request: self.request.clone(),
                ok: self.ok,
                buf: Vec::with_capacity(8192),
                started: started.clone(),
            };
            let (issued, count, deadline) = (self.issued.clone(), self.count, self.deadline);
            tasks.spawn(async move {
                match pace {
                    Pace::Closed => conn.closed(&issued, count, start + deadline).await,
                    Pace::Open(_) => conn.open(rx).await,
                }
            });
        }
        // Requests handed to connections (open pace only).
        let mut dispatched = 0usize;
        if let Pace::Open(rate) = self.pace {
            let period = Duration::from_secs_f64(1.0 / rate);
            let timer = Timer::new().expect("timerfd");
            let mut due = start + period.mul_f64(self.offset);
            let end = start + self.deadline;
            while due < end && self.issued.fetch_add(1, Ordering::Relaxed) < self.count {
                timer.sleep_until(due).await;
                // Round robin: a busy connection queues its due times, and
                // their latency counts from when they were due.
                let _ = queues[dispatched % queues.len()].send(due);
                dispatched += 1;
                due += period;
            }
        }
        drop(queues);
        let (mut latencies, mut ok, mut failed) = (Vec::new(), 0, 0);
        // A broker that stops answering must not hang the bench: this long
        // after the deadline, unfinished connections are dropped and
        // everything they began counts as failed.
        let watchdog = tokio::time::Instant::from_std(start + self.deadline + WATCHDOG);
        loop {
            match tokio::time::timeout_at(watchdog, tasks.join_next()).await {
                Ok(Some(seen)) => {
                    let (lat, good, bad) = seen.expect("connection task");
                    latencies.extend(lat);
                    ok += good;
                    failed += bad;
                }
                Ok(None) => break,
                Err(_) => {
                    tasks.abort_all();
                    failed = started.load(Ordering::Relaxed).max(dispatched) - ok;
                    break;
                }
            }
        }
        Load {
            ok,
            failed,
            wall: start.elapsed(),
            latencies,
        }
    }
}

async fn connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<Stream> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    connector.connect(name, tcp).await
}

/// Writes `request` and reads one whole response.
async fn exchange(
    stream: &mut Stream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await?;
    stream.flush().await?;
    buf.clear();
    loop {
        if let Some(answer) = parse_response(buf) {
            return Ok(answer);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// One keep-alive connection of a load run.
struct Connection {
    stream: Stream,
    connector: tokio_rustls::TlsConnector,
    addr: SocketAddr,
    request: Arc<[u8]>,
    ok: fn(u16, &[u8]) -> bool,
    buf: Vec<u8>,
    /// Requests this shard's connections have begun.
    started: Arc<AtomicUsize>,
}

impl Connection {
    /// Sends once, counting latency from `from`.
    async fn once(&mut self, from: Instant, seen: &mut Seen) {
        self.started.fetch_add(1, Ordering::Relaxed);
        match exchange(&mut self.stream, &self.request, &mut self.buf).await {
            Ok((status, body)) if (self.ok)(status, &body) => {
                seen.0
                    .push(from.elapsed().as_micros().min(u32::MAX as u128) as u32);
                seen.1 += 1;
            }
            Ok(_) => seen.2 += 1,
            Err(_) => {
                seen.2 += 1;
                if let Ok(s) = connect(&self.connector, self.addr).await {
                    self.stream = s;
                }
            }
        }
    }

    async fn closed(mut self, issued: &AtomicUsize, count: usize, end: Instant) -> Seen {
        let mut seen = (Vec::new(), 0, 0);
        while Instant::now() < end && issued.fetch_add(1, Ordering::Relaxed) < count {
            self.once(Instant::now(), &mut seen).await;
        }
        seen
    }

    async fn open(mut self, mut due: tokio::sync::mpsc::UnboundedReceiver<Instant>) -> Seen {
        let mut seen = (Vec::new(), 0, 0);
        while let Some(from) = due.recv().await {
            self.once(from, &mut seen).await;
        }
        seen
    }
}

/// A sleep with the kernel's timer precision. Tokio's timer wheel ticks
/// in whole milliseconds, which would add up to 1 ms of the generator's own
/// lateness to latencies counted from when each request was due; a
/// `timerfd` wakes the event loop within microseconds.
struct Timer(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>);

impl Timer {
    fn new() -> std::io::Result<Timer> {
        use std::os::fd::FromRawFd;
        // SAFETY: timerfd_create has no preconditions; a non-negative
        // return is a new fd that we own.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is valid and owned by nothing else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd stays in the AsyncFd, unreplaced, until both
        // are dropped together.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)?
        };
        Ok(Timer(registered))
    }

    async fn sleep_until(&self, due: Instant) {
        use std::os::fd::AsRawFd;
        let now = Instant::now();
        // Closer than this, the wakeup would cost more than it saves.
        if due <= now + Duration::from_micros(20) {
            return;
        }
        let wait = due - now;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        let fd = self.0.get_ref().as_raw_fd();
        // SAFETY: fd is our timerfd; spec is a valid itimerspec.
        let armed = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
        if armed != 0 {
            std::thread::sleep(wait);
            return;
        }
        loop {
            let Ok(mut ready) = self.0.readable().await else {
                return;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer.
            let n = unsafe { libc::read(fd, expirations.as_mut_ptr().cast(), 8) };
            if n == 8 {
                return;
            }
            ready.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_answer_is_whole_only_after_its_last_chunk() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut buf = head.clone();
        buf.extend_from_slice(b"5\r\nhello\r\n");
        assert_eq!(parse_response(&buf), None);
        buf.extend_from_slice(b"6\r\n world\r\n0\r\n\r\n");
        assert_eq!(parse_response(&buf), Some((200, b"hello world".to_vec())));
    }

    #[test]
    fn a_content_length_answer_waits_for_its_body() {
        let buf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nno";
        assert_eq!(parse_response(buf), None);
        let buf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
        assert_eq!(parse_response(buf), Some((404, b"nope".to_vec())));
    }
}
