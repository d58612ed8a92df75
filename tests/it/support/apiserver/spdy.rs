//! The server side of SPDY/3.1, as kubectl's fallback for `exec`,
//! `attach`, `cp` and `port-forward` (and, tunneled in WebSocket binary
//! messages, port-forward's default) speaks it. It exists because no
//! maintained Rust crate serves SPDY/3.1 (spdy-mux is a client with a
//! private codec); it is the stand-in's, never the proxy's, which splices
//! the bytes untouched.
//!
//! Framing copied from moby/spdystream (`spdy/read.go`, `spdy/write.go`,
//! `spdy/types.go`), the library client-go uses: 8-byte headers,
//! big-endian, 24-bit lengths; name/value blocks with 32-bit counts and
//! lengths, values joined by NUL, compressed with zlib and the SPDY/3
//! dictionary, one zlib stream per direction for the whole connection,
//! each block ended by a sync flush. zlib is flate2's (zlib-rs backend),
//! the dictionary the proxy's (`kaccess::proxy::spdy_dictionary`).
//!
//! [`Conn`] answers what spdystream expects of a peer: a SYN_REPLY for
//! every SYN_STREAM, each PING echoed; GOAWAY ends the connection.
//! spdystream keeps no flow-control windows (it ignores WINDOW_UPDATE and
//! SETTINGS and sends neither), so none are kept here.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use kaccess::proxy::spdy_dictionary::DICTIONARY;

const VERSION: u32 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;
const FLAG_FIN: u8 = 0x01;

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// A decoded name/value block: lower-case names, one entry per value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The uncompressed name/value block of `headers`.
pub fn encode_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_be_bytes().to_vec();
    for (name, value) in headers {
        for part in [name.to_ascii_lowercase().as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn take<'a>(block: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if block.len() < n {
        return Err(invalid("a header block ends early"));
    }
    let (head, rest) = block.split_at(n);
    *block = rest;
    Ok(head)
}

fn take_u32(block: &mut &[u8]) -> io::Result<u32> {
    let b = take(block, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses an uncompressed name/value block.
pub fn decode_block(mut block: &[u8]) -> io::Result<Headers> {
    let count = take_u32(&mut block)?;
    let mut headers = Vec::new();
    for _ in 0..count {
        let n = take_u32(&mut block)? as usize;
        let name = String::from_utf8_lossy(take(&mut block, n)?).to_ascii_lowercase();
        let n = take_u32(&mut block)? as usize;
        let value = String::from_utf8_lossy(take(&mut block, n)?).into_owned();
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_string()));
        }
    }
    Ok(Headers(headers))
}

/// One direction's header compressor.
pub struct Deflater(Compress);

impl Default for Deflater {
    fn default() -> Self {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(DICTIONARY)
            .expect("zlib takes the SPDY dictionary");
        Deflater(z)
    }
}

impl Deflater {
    /// `block` compressed and sync-flushed: a frame's whole header payload.
    pub fn compress(&mut self, block: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block;
        loop {
            out.reserve(256);
            let before = self.0.total_in();
            self.0
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| invalid(e.to_string()))?;
            input = &input[(self.0.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// One direction's header decompressor: the dictionary is given when the
/// zlib stream asks for it (its first block).
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Inflater(Decompress::new(true))
    }
}

impl Inflater {
    pub fn decompress(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            out.reserve(1024);
            let (before_in, before_out) = (self.0.total_in(), self.0.total_out());
            let result = self
                .0
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.0.total_in() - before_in) as usize..];
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| invalid(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(invalid(e.to_string())),
                Ok(_) => {}
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if self.0.total_in() == before_in && self.0.total_out() == before_out {
                return Err(invalid("a compressed header block makes no progress"));
            }
        }
    }
}

#[derive(Debug)]
pub enum Frame {
    SynStream {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    Headers {
        id: u32,
        fin: bool,
    },
    Data {
        id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    RstStream {
        id: u32,
    },
    Ping(u32),
    GoAway,
    /// SETTINGS, WINDOW_UPDATE, SYN_REPLY: nothing a server acts on.
    Ignored,
}

fn stream_id(body: &[u8]) -> io::Result<u32> {
    let mut b = body;
    Ok(take_u32(&mut b)? & 0x7fff_ffff)
}

/// Reads frames; `Ok(None)` at the end of the connection.
pub struct FrameReader<R> {
    io: R,
    inflate: Inflater,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            inflate: Inflater::default(),
        }
    }

    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 8];
        match self.io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        let fin = flags & FLAG_FIN != 0;
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let mut body = vec![0u8; len];
        self.io.read_exact(&mut body).await?;
        if first & 0x8000_0000 == 0 {
            let id = first & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                id,
                fin,
                data: body,
            }));
        }
        if (first >> 16) & 0x7fff != VERSION {
            return Err(invalid(format!("SPDY version {}", (first >> 16) & 0x7fff)));
        }
        Ok(Some(match first as u16 {
            SYN_STREAM => {
                // Stream id, associated id, priority and slot: 10 bytes.
                let block = body.get(10..).ok_or_else(|| invalid("short SYN_STREAM"))?;
                let headers = decode_block(&self.inflate.decompress(block)?)?;
                Frame::SynStream {
                    id: stream_id(&body)?,
                    fin,
                    headers,
                }
            }
            kind @ (HEADERS | SYN_REPLY) => {
                // Inflated to keep the zlib stream in step; not read.
                let block = body.get(4..).ok_or_else(|| invalid("short HEADERS"))?;
                decode_block(&self.inflate.decompress(block)?)?;
                let id = stream_id(&body)?;
                if kind == HEADERS {
                    Frame::Headers { id, fin }
                } else {
                    Frame::Ignored
                }
            }
            RST_STREAM => Frame::RstStream {
                id: stream_id(&body)?,
            },
            PING => Frame::Ping(take_u32(&mut &body[..])?),
            GOAWAY => Frame::GoAway,
            SETTINGS | WINDOW_UPDATE => Frame::Ignored,
            other => return Err(invalid(format!("unknown control frame type {other}"))),
        }))
    }
}

/// Writes frames; every frame is flushed as it goes.
pub struct FrameWriter<W> {
    io: W,
    deflate: Deflater,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W) -> Self {
        FrameWriter {
            io,
            deflate: Deflater::default(),
        }
    }

    async fn control(&mut self, kind: u16, flags: u8, body: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(8 + body.len());
        frame.extend_from_slice(&(0x8000u16 | VERSION as u16).to_be_bytes());
        frame.extend_from_slice(&kind.to_be_bytes());
        frame.extend_from_slice(&((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
        frame.extend_from_slice(body);
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }

    pub async fn reply(&mut self, id: u32, headers: &[(&str, &str)]) -> io::Result<()> {
        let mut body = id.to_be_bytes().to_vec();
        body.extend(self.deflate.compress(&encode_block(headers))?);
        self.control(SYN_REPLY, 0, &body).await
    }

    pub async fn ping(&mut self, id: u32) -> io::Result<()> {
        self.control(PING, 0, &id.to_be_bytes()).await
    }

    pub async fn data(&mut self, id: u32, data: &[u8], fin: bool) -> io::Result<()> {
        // spdystream's MaxDataLength: the 24-bit length field.
        for (i, chunk) in data.chunks((1 << 24) - 1).enumerate() {
            let last = (i + 1) * ((1 << 24) - 1) >= data.len();
            self.frame(id, chunk, fin && last).await?;
        }
        if data.is_empty() {
            self.frame(id, &[], fin).await?;
        }
        Ok(())
    }

    async fn frame(&mut self, id: u32, chunk: &[u8], fin: bool) -> io::Result<()> {
        let mut frame = Vec::with_capacity(8 + chunk.len());
        frame.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
        let flags = if fin { FLAG_FIN } else { 0 };
        frame.extend_from_slice(&((u32::from(flags) << 24) | chunk.len() as u32).to_be_bytes());
        frame.extend_from_slice(chunk);
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }
}

/// What a stream's peer did, as the pod's side sees it.
#[derive(Debug)]
pub enum Event {
    /// A new stream (already answered with SYN_REPLY).
    Opened {
        id: u32,
        headers: Headers,
        fin: bool,
    },
    Data {
        id: u32,
        data: Vec<u8>,
        fin: bool,
    },
    Reset {
        id: u32,
    },
}

/// A server-side SPDY/3.1 connection over an upgraded connection.
pub struct Conn<S> {
    reader: FrameReader<ReadHalf<S>>,
    pub writer: FrameWriter<WriteHalf<S>>,
}

impl<S: AsyncRead + AsyncWrite> Conn<S> {
    pub fn new(io: S) -> Self {
        let (r, w) = tokio::io::split(io);
        Conn {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w),
        }
    }

    /// The next stream event; `None` once the client closed or went away.
    pub async fn next(&mut self) -> io::Result<Option<Event>> {
        loop {
            match self.reader.next().await? {
                None | Some(Frame::GoAway) => return Ok(None),
                Some(Frame::SynStream { id, fin, headers }) => {
                    self.writer.reply(id, &[]).await?;
                    return Ok(Some(Event::Opened { id, headers, fin }));
                }
                Some(Frame::Data { id, fin, data }) => {
                    return Ok(Some(Event::Data { id, data, fin }));
                }
                Some(Frame::Headers { id, fin: true }) => {
                    return Ok(Some(Event::Data {
                        id,
                        data: Vec::new(),
                        fin: true,
                    }));
                }
                Some(Frame::RstStream { id }) => return Ok(Some(Event::Reset { id })),
                Some(Frame::Ping(id)) => self.writer.ping(id).await?,
                Some(Frame::Headers { .. } | Frame::Ignored) => {}
            }
        }
    }

    pub async fn send(&mut self, id: u32, data: &[u8], fin: bool) -> io::Result<()> {
        self.writer.data(id, data, fin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_round_trip_through_one_zlib_stream_per_direction() {
        let (mut out, mut inp) = (Deflater::default(), Inflater::default());
        for headers in [
            vec![("streamtype", "error"), ("port", "8080")],
            vec![("streamtype", "data"), ("port", "8080"), ("requestid", "0")],
            vec![],
        ] {
            let block = out.compress(&encode_block(&headers)).unwrap();
            let back = decode_block(&inp.decompress(&block).unwrap()).unwrap();
            let want: Vec<_> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(back.0, want);
        }
        assert_eq!(DICTIONARY.len(), 1423, "spdystream's headerDictionary");
    }
}
