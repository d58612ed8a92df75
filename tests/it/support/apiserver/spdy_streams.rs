//! `exec`, `attach` and `portforward` over SPDY/3.1 ([`spdy`](super::spdy)),
//! answered as the kubelet answers them
//! (kubernetes `pkg/kubelet/cri/streaming/{remotecommand,portforward}/httpstream.go`):
//! - the upgrade: `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version`,
//!   answered 101 with the version chosen (`v4.channel.k8s.io` for exec
//!   and attach, `portforward.k8s.io`);
//! - exec/attach: one SPDY stream per `streamtype` header (error, stdin,
//!   stdout, stderr, resize), as many as the query asks for; the program
//!   ([`Program`]) runs once all are open, its status (a `metav1.Status`)
//!   goes on the error stream, then every stream ends with FIN;
//! - port-forward: each forwarded connection is an error stream and a
//!   data stream with the same `requestid`, for the `port` in their
//!   headers. The pod listens on [`ECHO_PORT`] only, echoing what it gets
//!   and ending its side when the client ends its; any other port gets the
//!   kubelet's message on the error stream. Port-forward also comes as
//!   WebSocket `SPDY/3.1+portforward.k8s.io`: the same SPDY bytes inside
//!   binary messages (client-go `tools/portforward/tunneling_connection.go`).

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::resources::status;
use super::spdy::{Conn, Event};
use super::streams::Program;

pub const EXEC_PROTOCOL: &str = "v4.channel.k8s.io";
pub const PORTFORWARD_PROTOCOL: &str = "portforward.k8s.io";
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The one port the stand-in's pods listen on.
pub const ECHO_PORT: u16 = 8080;

fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// `Upgrade: SPDY/3.1`.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    values(headers, header::UPGRADE.as_str()).any(|v| v.eq_ignore_ascii_case("SPDY/3.1"))
}

fn upgraded(req: &mut Request) -> Result<hyper::upgrade::OnUpgrade, Box<Response>> {
    req.extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| {
            Box::new(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "not an upgradable connection",
            ))
        })
}

/// httpstream.Handshake: the client must offer `protocol`.
fn spdy_upgrade(
    mut req: Request,
    protocol: &'static str,
) -> Result<(hyper::upgrade::OnUpgrade, Response), Box<Response>> {
    if !values(req.headers(), "x-stream-protocol-version").any(|p| p == protocol) {
        return Err(Box::new(status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("unable to upgrade: unable to negotiate protocol: server supports {protocol}"),
        )));
    }
    let on_upgrade = upgraded(&mut req)?;
    let resp = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "SPDY/3.1"),
            (
                header::HeaderName::from_static("x-stream-protocol-version"),
                protocol,
            ),
        ],
    )
        .into_response();
    Ok((on_upgrade, resp))
}

/// The streams an exec or attach asks for, by its query.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Wanted {
    fn count(self) -> usize {
        1 + [self.stdin, self.stdout, self.stderr, self.tty]
            .iter()
            .filter(|b| **b)
            .count()
    }
}

/// An exec or attach over SPDY.
pub fn exec(req: Request, program: Program, wanted: Wanted) -> Response {
    match spdy_upgrade(req, EXEC_PROTOCOL) {
        Ok((on_upgrade, resp)) => {
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let _ = run_exec(Conn::new(TokioIo::new(upgraded)), program, wanted).await;
                }
            });
            resp
        }
        Err(refusal) => *refusal,
    }
}

async fn run_exec<S: AsyncRead + AsyncWrite>(
    mut conn: Conn<S>,
    mut program: Program,
    wanted: Wanted,
) -> std::io::Result<()> {
    let mut streams: HashMap<String, u32> = HashMap::new();
    let stream = |streams: &HashMap<String, u32>, kind: &str| streams.get(kind).copied();
    loop {
        if streams.len() >= wanted.count() && !wanted.stdin {
            break;
        }
        let Some(event) = conn.next().await? else {
            return Ok(());
        };
        match event {
            Event::Opened { id, headers, .. } => {
                let kind = headers.get("streamtype").unwrap_or_default().to_string();
                streams.insert(kind, id);
            }
            Event::Data { id, data, fin } if Some(id) == stream(&streams, "stdin") => {
                if let (Some(echo), Some(out)) = (program.input(&data), stream(&streams, "stdout"))
                {
                    conn.send(out, &echo, false).await?;
                }
                if fin {
                    break;
                }
            }
            Event::Reset { id } if Some(id) == stream(&streams, "stdin") => break,
            _ => {}
        }
    }
    if let Some(error) = stream(&streams, "error") {
        conn.send(error, program.status().to_string().as_bytes(), true)
            .await?;
    }
    for kind in ["stdout", "stderr"] {
        if let Some(id) = stream(&streams, kind) {
            conn.send(id, &[], true).await?;
        }
    }
    // The client closes once it has read every stream to its end.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(_)) = conn.next().await {}
    })
    .await;
    Ok(())
}

/// `pods/portforward`, raw SPDY or tunneled in WebSocket.
pub async fn portforward(mut req: Request) -> Response {
    let pod = req
        .uri()
        .path()
        .rsplit('/')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    if !super::resources::PODS.iter().any(|p| p.0 == pod) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    }
    if is_spdy(req.headers()) {
        return match spdy_upgrade(req, PORTFORWARD_PROTOCOL) {
            Ok((on_upgrade, resp)) => {
                tokio::spawn(async move {
                    if let Ok(upgraded) = on_upgrade.await {
                        let _ = run_portforward(Conn::new(TokioIo::new(upgraded)), &pod).await;
                    }
                });
                resp
            }
            Err(refusal) => *refusal,
        };
    }
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let tunnel = values(req.headers(), header::SEC_WEBSOCKET_PROTOCOL.as_str())
        .any(|p| p == TUNNEL_PROTOCOL);
    let (Some(key), true) = (key, tunnel) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the stand-in forwards ports over SPDY/3.1 or WebSocket SPDY/3.1+portforward.k8s.io only",
        );
    };
    let on_upgrade = match upgraded(&mut req) {
        Ok(u) => u,
        Err(refusal) => return *refusal,
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let (outer, inner) = tokio::io::duplex(64 * 1024);
        tokio::select! {
            _ = tunnel_pump(ws, outer) => {}
            _ = run_portforward(Conn::new(inner), &pod) => {}
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, "websocket".to_string()),
            (header::CONNECTION, "Upgrade".to_string()),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
            (header::SEC_WEBSOCKET_PROTOCOL, TUNNEL_PROTOCOL.to_string()),
        ],
    )
        .into_response()
}

/// Binary messages in, SPDY bytes out to `spdy`, and back: every write
/// one message, as client-go's TunnelingConnection does.
async fn tunnel_pump<S>(ws: WebSocketStream<S>, spdy: tokio::io::DuplexStream)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut messages) = ws.split();
    let (mut from_spdy, mut to_spdy) = tokio::io::split(spdy);
    let inbound = async {
        while let Some(Ok(msg)) = messages.next().await {
            match msg {
                Message::Binary(b) if to_spdy.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let outbound = async {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = from_spdy.read(&mut buf).await {
            if sink.send(Message::Binary(buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    };
    tokio::select! {
        _ = inbound => {}
        _ = outbound => {}
    }
}

/// One forwarded connection: its two streams and port.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
}

async fn run_portforward<S: AsyncRead + AsyncWrite>(
    mut conn: Conn<S>,
    pod: &str,
) -> std::io::Result<()> {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(event) = conn.next().await? {
        match event {
            Event::Opened { id, headers, .. } => {
                let request = headers.get("requestid").unwrap_or_default().to_string();
                let pair = pairs.entry(request.clone()).or_default();
                pair.port = headers
                    .get("port")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                match headers.get("streamtype") {
                    Some("error") => pair.error = Some(id),
                    Some("data") => pair.data = Some(id),
                    _ => {}
                }
                if let (Some(error), Some(data)) = (pair.error, pair.data)
                    && pair.port != ECHO_PORT
                {
                    let port = pair.port;
                    pairs.remove(&request);
                    let msg = format!(
                        "error forwarding port {port} to pod {pod}, uid : failed to connect to localhost:{port} inside namespace \"{pod}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused"
                    );
                    conn.send(error, msg.as_bytes(), true).await?;
                    conn.send(data, &[], true).await?;
                }
            }
            Event::Data { id, data, fin } => {
                let Some((request, pair)) = pairs.iter().find(|(_, p)| p.data == Some(id)) else {
                    continue;
                };
                if !data.is_empty() {
                    conn.send(id, &data, false).await?;
                }
                if fin {
                    let (request, error) = (request.clone(), pair.error);
                    conn.send(id, &[], true).await?;
                    if let Some(error) = error {
                        conn.send(error, &[], true).await?;
                    }
                    pairs.remove(&request);
                }
            }
            Event::Reset { id } => pairs.retain(|_, p| p.data != Some(id) && p.error != Some(id)),
        }
    }
    Ok(())
}
