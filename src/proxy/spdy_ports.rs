//! The ports of a port-forward, where kubectl names them: not in the URL
//! but in each forwarded connection's SPDY/3.1 streams, whose SYN_STREAM
//! headers carry `port` (an error and a data stream per connection), over
//! a raw `SPDY/3.1` upgrade or tunneled in WebSocket binary messages
//! (`SPDY/3.1+portforward.k8s.io`). The proxy still splices the bytes
//! untouched: a [`PortWatch`] is shown a copy of what the client sent and
//! only reads it, to name the ports in the stream's `finished` record.
//!
//! Bounded: DATA payloads are skipped unbuffered; a control frame and a
//! decompressed header block may each be at most [`MAX_BLOCK`], a
//! tunnel's WebSocket message [`MAX_MESSAGE`]; at most [`MAX_STREAMS`] streams and [`MAX_PORTS`] ports
//! are looked at. On anything it cannot parse, or past a bound, it stops
//! (the ports seen so far stay).
//!
//! SPDY framing as moby/spdystream writes it (`spdy/write.go`): 8-byte
//! big-endian headers, 24-bit lengths; header blocks zlib-compressed with
//! the SPDY/3 dictionary, one zlib stream per direction, so every block
//! (SYN_STREAM, SYN_REPLY, HEADERS) is inflated in order.

use super::spdy_dictionary::DICTIONARY;
use flate2::{Decompress, FlushDecompress};
use http::{HeaderMap, header};
use std::io::{Read, Write};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, protocol::WebSocketContext};

pub const MAX_BLOCK: usize = 64 * 1024;
/// client-go sends each write as one message (a frame header, a DATA
/// payload of at most 32 KiB); anything far larger is not kubectl.
pub const MAX_MESSAGE: usize = 1024 * 1024;
pub const MAX_STREAMS: usize = 4096;
pub const MAX_PORTS: usize = 64;

/// The WebSocket subprotocol of kubectl's tunnel (client-go
/// `tools/portforward/tunneling_dialer.go`).
pub const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Spdy,
    WebSocket,
}

/// How the apiserver's 101 says the client's bytes are framed; `None`
/// for anything else (e.g. the legacy WebSocket `portforward.k8s.io`,
/// whose ports are in the query).
pub fn framing(response: &HeaderMap) -> Option<Framing> {
    let value = |name| {
        response
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
    };
    if value(header::UPGRADE).eq_ignore_ascii_case("SPDY/3.1") {
        Some(Framing::Spdy)
    } else if value(header::SEC_WEBSOCKET_PROTOCOL) == TUNNEL {
        Some(Framing::WebSocket)
    } else {
        None
    }
}

/// Stop observing (a parse error or a bound reached).
struct Stop;

/// Watches one port-forward's client-to-server bytes.
pub struct PortWatch {
    spdy: Scan,
    tunnel: Option<Tunnel>,
    stopped: bool,
}

impl PortWatch {
    pub fn new(framing: Framing) -> PortWatch {
        PortWatch {
            spdy: Scan::default(),
            tunnel: (framing == Framing::WebSocket).then(Tunnel::new),
            stopped: false,
        }
    }

    /// The next bytes the client sent.
    pub fn observe(&mut self, bytes: &[u8]) {
        if self.stopped {
            return;
        }
        let seen = match &mut self.tunnel {
            Some(t) => t.feed(bytes, &mut self.spdy),
            None => self.spdy.feed(bytes),
        };
        if seen.is_err() {
            self.stopped = true;
            self.tunnel = None;
            self.spdy.buf = Vec::new();
        }
    }

    /// Each port named, in first-seen order.
    pub fn ports(&self) -> Vec<String> {
        self.spdy.ports.clone()
    }
}

/// SPDY frames in, the `port` of each SYN_STREAM out.
struct Scan {
    /// The control frame (or frame header) being read.
    buf: Vec<u8>,
    /// DATA payload bytes still to pass over.
    skip: usize,
    inflate: Decompress,
    streams: usize,
    ports: Vec<String>,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            buf: Vec::new(),
            skip: 0,
            inflate: Decompress::new(true),
            streams: 0,
            ports: Vec::new(),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The 24-bit length of the frame whose 8-byte header `h` is.
fn frame_len(h: &[u8]) -> usize {
    u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize
}

impl Scan {
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let want = if self.buf.len() < 8 {
                8
            } else {
                8 + frame_len(&self.buf)
            };
            let n = (want - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() < want {
                continue;
            }
            if want == 8 {
                let len = frame_len(&self.buf);
                if self.buf[0] & 0x80 == 0 {
                    self.skip = len;
                    self.buf.clear();
                } else if len > MAX_BLOCK {
                    return Err(Stop);
                } else if len == 0 {
                    self.control()?;
                }
                continue;
            }
            self.control()?;
        }
        Ok(())
    }

    /// One whole control frame is in `buf`.
    fn control(&mut self) -> Result<(), Stop> {
        let frame = std::mem::take(&mut self.buf);
        if (be32(&frame) >> 16) & 0x7fff != 3 {
            return Err(Stop);
        }
        // SYN_STREAM: stream id, associated id, priority, slot (10 bytes);
        // SYN_REPLY and HEADERS: stream id (4).
        let block_at = match be32(&frame) & 0xffff {
            1 => 18,
            2 | 8 => 12,
            _ => return Ok(()),
        };
        let block = frame.get(block_at..).ok_or(Stop)?;
        let headers = self.inflate(block)?;
        if block_at != 18 {
            return Ok(());
        }
        self.streams += 1;
        for port in ports_in(&headers)? {
            if !self.ports.contains(&port) {
                if self.ports.len() == MAX_PORTS {
                    return Err(Stop);
                }
                self.ports.push(port);
            }
        }
        if self.streams >= MAX_STREAMS {
            return Err(Stop);
        }
        Ok(())
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, Stop> {
        let mut out = Vec::with_capacity(1024);
        loop {
            out.reserve(1024);
            let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.inflate.total_in() - before_in) as usize..];
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(DICTIONARY).map_err(|_| Stop)?;
                    continue;
                }
                Err(_) => return Err(Stop),
                Ok(_) => {}
            }
            if out.len() > MAX_BLOCK {
                return Err(Stop);
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if self.inflate.total_in() == before_in && self.inflate.total_out() == before_out {
                return Err(Stop);
            }
        }
    }
}

fn take<'a>(block: &mut &'a [u8], n: usize) -> Result<&'a [u8], Stop> {
    if block.len() < n {
        return Err(Stop);
    }
    let (head, rest) = block.split_at(n);
    *block = rest;
    Ok(head)
}

/// The `port` values of a name/value block (each a port number).
fn ports_in(mut block: &[u8]) -> Result<Vec<String>, Stop> {
    let b = &mut block;
    let count = be32(take(b, 4)?);
    let mut ports = Vec::new();
    for _ in 0..count {
        let n = be32(take(b, 4)?) as usize;
        let is_port = take(b, n)?.eq_ignore_ascii_case(b"port");
        let n = be32(take(b, 4)?) as usize;
        let value = take(b, n)?;
        if is_port {
            for v in value.split(|b| *b == 0) {
                let v = std::str::from_utf8(v).map_err(|_| Stop)?;
                v.parse::<u16>().map_err(|_| Stop)?;
                ports.push(v.to_string());
            }
        }
    }
    Ok(ports)
}

/// The client's WebSocket frames, unmasked by tungstenite as the
/// apiserver would; each binary message's bytes go on to the [`Scan`].
struct Tunnel {
    ws: WebSocketContext,
    input: Feed,
}

/// What tungstenite reads from: the bytes seen so far; its writes
/// (pongs, close replies) go nowhere, never to either side.
#[derive(Default)]
struct Feed {
    data: Vec<u8>,
    at: usize,
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let left = &self.data[self.at..];
        if left.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(out.len());
        out[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Feed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Tunnel {
    fn new() -> Tunnel {
        let config = WebSocketConfig {
            max_message_size: Some(MAX_MESSAGE),
            max_frame_size: Some(MAX_MESSAGE),
            ..WebSocketConfig::default()
        };
        Tunnel {
            ws: WebSocketContext::new(Role::Server, Some(config)),
            input: Feed::default(),
        }
    }

    fn feed(&mut self, bytes: &[u8], spdy: &mut Scan) -> Result<(), Stop> {
        self.input.data.drain(..self.input.at);
        self.input.at = 0;
        self.input.data.extend_from_slice(bytes);
        loop {
            match self.ws.read(&mut self.input) {
                Ok(Message::Binary(data)) => spdy.feed(&data)?,
                Ok(Message::Close(_)) => return Err(Stop),
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(_) => return Err(Stop),
            }
        }
    }
}

#[cfg(test)]
#[path = "spdy_ports_tests.rs"]
mod tests;
