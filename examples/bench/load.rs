//! The load generator: keep-alive HTTPS/1.1 connections to 127.0.0.1, one
//! blocking thread each, with a hand-written request and just enough
//! response parsing (status, `Content-Length`) to stay cheap: it shares the
//! machine's cores with the broker it measures. Every run is bounded by a
//! request count *and* a deadline.

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
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).unwrap_or_default();
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
        while self.buf.len() < head_end + len {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok((status, self.buf[head_end..head_end + len].to_vec()))
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
    /// Every client sends its next request as soon as the last is answered.
    Closed,
    /// Together the clients start requests at this many per second; latency
    /// counts from when a request was due, so a stalled server is not hidden
    /// by clients that wait for it (coordinated omission).
    Open(f64),
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
    let request: Arc<[u8]> = request.into();
    let issued = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut threads = Vec::new();
    for i in 0..clients {
        let (target, request, issued, barrier) = (
            target.clone(),
            request.clone(),
            issued.clone(),
            barrier.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut conn = target.connect();
            // Handshake and first request outside the measured window.
            let _ = conn.send(&get(kaccess::protocol::HEALTHZ_PATH));
            barrier.wait();
            let start = Instant::now();
            let period = match pace {
                Pace::Open(rate) => Some(Duration::from_secs_f64(clients as f64 / rate)),
                Pace::Closed => None,
            };
            let mut due =
                start + period.map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / clients as f64));
            let (mut lat, mut good, mut bad) = (Vec::new(), 0, 0);
            while issued.fetch_add(1, Ordering::Relaxed) < count && start.elapsed() < deadline {
                let from = match period {
                    Some(p) => {
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let d = due;
                        due += p;
                        d
                    }
                    None => Instant::now(),
                };
                match conn.send(&request) {
                    Ok((status, body)) if ok(status, &body) => {
                        good += 1;
                        lat.push(from.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    Ok(_) => bad += 1,
                    Err(_) => {
                        bad += 1;
                        conn = target.connect();
                    }
                }
            }
            (lat, good, bad, start.elapsed())
        }));
    }
    barrier.wait();
    let mut load = Load {
        ok: 0,
        failed: 0,
        wall: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in threads {
        let (lat, good, bad, wall) = t.join().expect("load thread");
        load.latencies.extend(lat);
        load.ok += good;
        load.failed += bad;
        load.wall = load.wall.max(wall);
    }
    load.latencies.sort_unstable();
    load
}
