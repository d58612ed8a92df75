use super::*;
use flate2::{Compress, Compression, FlushCompress};
use http::HeaderValue;

/// The client side of a connection, as spdystream writes it.
struct Client(Compress);

impl Client {
    fn new() -> Client {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(DICTIONARY).unwrap();
        Client(z)
    }

    fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            for part in [n.as_bytes(), v.as_bytes()] {
                raw.extend((part.len() as u32).to_be_bytes());
                raw.extend(part);
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 1024);
        self.0
            .compress_vec(&raw, &mut out, FlushCompress::Sync)
            .unwrap();
        out
    }

    fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80, 3];
        f.extend(kind.to_be_bytes());
        f.extend(((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
        f.extend(body);
        f
    }

    fn syn_stream(&mut self, id: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut body = id.to_be_bytes().to_vec();
        body.extend([0, 0, 0, 0, 0, 0]);
        body.extend(self.block(headers));
        Client::control(1, 0, &body)
    }

    fn data(id: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = id.to_be_bytes().to_vec();
        f.extend(((u32::from(fin as u8) << 24) | payload.len() as u32).to_be_bytes());
        f.extend(payload);
        f
    }
}

/// Two forwarded connections to 8080, one to 9090, with data and pings
/// between: what kubectl sends.
fn conversation() -> Vec<u8> {
    let mut c = Client::new();
    let mut bytes = Vec::new();
    for (id, port, kind, request) in [
        (1, "8080", "error", "0"),
        (3, "8080", "data", "0"),
        (5, "8080", "error", "1"),
        (7, "8080", "data", "1"),
        (9, "9090", "error", "2"),
    ] {
        bytes.extend(c.syn_stream(
            id,
            &[("streamtype", kind), ("port", port), ("requestid", request)],
        ));
        if kind == "error" {
            bytes.extend(Client::data(id, true, b""));
        } else {
            bytes.extend(Client::data(id, false, &vec![0x80; 100_000]));
        }
        bytes.extend(Client::control(6, 0, &(id + 10).to_be_bytes()));
    }
    bytes
}

#[test]
fn the_ports_of_every_syn_stream_are_read_however_the_bytes_are_split_and_data_is_not_kept() {
    let bytes = conversation();
    for chunk in [1, 7, 4096, bytes.len()] {
        let mut w = PortWatch::new(Framing::Spdy);
        for part in bytes.chunks(chunk) {
            w.observe(part);
        }
        assert_eq!(w.ports(), ["8080", "9090"], "chunks of {chunk}");
        assert!(!w.stopped);
        assert!(
            w.spdy.buf.is_empty() && w.spdy.skip == 0,
            "it ends on the last frame's boundary"
        );
    }
}

#[test]
fn in_the_websocket_tunnel_the_client_messages_are_unmasked_before_the_frames_are_read() {
    let bytes = conversation();
    // client-go writes each SPDY write as one masked binary message; any
    // split must do.
    let mut client = WebSocketContext::new(Role::Client, None);
    let mut wire = std::io::Cursor::new(Vec::new());
    for part in bytes.chunks(1000) {
        client
            .write(&mut wire, Message::Binary(part.to_vec()))
            .unwrap();
    }
    client.flush(&mut wire).unwrap();
    let wire = wire.into_inner();
    assert!(
        !wire.windows(4).any(|w| w == b"port"),
        "the frames are masked"
    );
    for chunk in [3, 1500, wire.len()] {
        let mut w = PortWatch::new(Framing::WebSocket);
        for part in wire.chunks(chunk) {
            w.observe(part);
        }
        assert_eq!(w.ports(), ["8080", "9090"], "chunks of {chunk}");
    }
}

#[test]
fn anything_unparsable_stops_the_watch_keeping_the_ports_seen() {
    let mut c = Client::new();
    let mut w = PortWatch::new(Framing::Spdy);
    w.observe(&c.syn_stream(1, &[("port", "8080")]));
    // A SPDY/2 control frame: not what kubectl speaks.
    w.observe(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
    w.observe(&c.syn_stream(3, &[("port", "9090")]));
    assert!(w.stopped);
    assert_eq!(w.ports(), ["8080"]);

    let mut w = PortWatch::new(Framing::Spdy);
    w.observe(&c.syn_stream(1, &[("port", "not-a-port")]));
    assert!(w.stopped && w.ports().is_empty());

    // A control frame longer than the bound is not buffered.
    let mut w = PortWatch::new(Framing::Spdy);
    let mut head = vec![0x80, 3, 0, 1, 0];
    head.extend(&((MAX_BLOCK + 1) as u32).to_be_bytes()[1..]);
    w.observe(&head);
    assert!(w.stopped);

    // A block that inflates past the bound (a zip bomb) stops it too.
    let mut c = Client::new();
    let mut w = PortWatch::new(Framing::Spdy);
    let huge = "0".repeat(MAX_BLOCK * 2);
    w.observe(&c.syn_stream(1, &[("x", &huge), ("port", "8080")]));
    assert!(w.stopped && w.ports().is_empty());
}

#[test]
fn the_framing_is_told_by_the_apiservers_101() {
    let mut h = HeaderMap::new();
    h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    assert_eq!(framing(&h), Some(Framing::Spdy));
    let mut h = HeaderMap::new();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(TUNNEL),
    );
    assert_eq!(framing(&h), Some(Framing::WebSocket));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("portforward.k8s.io"),
    );
    assert_eq!(
        framing(&h),
        None,
        "the legacy protocol has its ports in the query"
    );
}
