//! The stand-in's streams, as kube-apiserver serves them:
//! - a watch on pods (`?watch=true`): chunked JSON, one `{"type","object"}`
//!   event per line (the object a one-row Table when kubectl asks for
//!   tables), open until the client goes away;
//! - `pods/exec` and `pods/attach` over WebSocket `v5.channel.k8s.io`
//!   (kubectl 1.30+'s default): every binary message is `[channel] +
//!   payload` (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize, 255
//!   close); the command `cat`, and every attached container, echo stdin
//!   to stdout, and on stdin's close the status `Success` is sent on
//!   channel 3 and the connection closed.
//!   The WebSocket codec is tokio-tungstenite's. The same over SPDY/3.1
//!   is [`spdy_streams`](super::spdy_streams)'s.
//! - what the container runs ([`Program`]): `cat` and attach echo, `tar`
//!   (as `kubectl cp` runs it) reads stdin to its end and counts it,
//!   `test` exits 1 (so `kubectl cp` takes its target as a file), anything
//!   else ends with stdin; an exec without stdin ends at once.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::App;
use super::resources::status;
use super::spdy_streams::{self, Wanted};

pub const V5: &str = "v5.channel.k8s.io";

/// Sends its events, then stays open (never ends by itself).
struct Events(VecDeque<Bytes>);

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.0.pop_front() {
            Some(event) => Poll::Ready(Some(Ok(http_body::Frame::data(event)))),
            None => Poll::Pending,
        }
    }
}

/// The watch answer for `objects` (pods or one-row tables).
pub(super) fn watch(objects: Vec<Value>) -> Response {
    let events = objects
        .into_iter()
        .map(|o| Bytes::from(format!("{}\n", json!({"type": "ADDED", "object": o}))))
        .collect();
    let mut resp = Response::new(Body::new(Events(events)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn offers_v5(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == V5)
}

/// What the container runs for one exec or attach.
pub enum Program {
    Echo,
    /// `tar`: stdin counted into the stand-in's total.
    Drain(Arc<AtomicU64>),
    /// `test`: exits 1.
    Fails,
    Quiet,
}

impl Program {
    fn of(attach: bool, command: &[String], drained: &Arc<AtomicU64>) -> Program {
        match command.first().map(String::as_str) {
            _ if attach => Program::Echo,
            Some("cat") if command.len() == 1 => Program::Echo,
            Some("tar") => Program::Drain(drained.clone()),
            Some("test") => Program::Fails,
            _ => Program::Quiet,
        }
    }

    /// Takes stdin data; what goes to stdout.
    pub fn input(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Program::Echo if !data.is_empty() => Some(data.to_vec()),
            Program::Drain(total) => {
                total.fetch_add(data.len() as u64, Ordering::SeqCst);
                None
            }
            _ => None,
        }
    }

    /// The `metav1.Status` sent on the error channel at the end.
    pub fn status(&self) -> Value {
        match self {
            Program::Fails => json!({
                "metadata": {}, "status": "Failure",
                "message": "command terminated with non-zero exit code: exit status 1",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "1"}]},
            }),
            _ => json!({"metadata": {}, "status": "Success"}),
        }
    }
}

pub(super) async fn exec(
    State(app): State<App>,
    Path((_ns, pod)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    mut req: Request,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let flag = |name: &str| pairs.iter().any(|(k, v)| k == name && v == "true");
    let wanted = Wanted {
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: flag("tty"),
    };
    let attach = req.uri().path().ends_with("/attach");
    let program = Program::of(attach, &command, &app.record.drained);
    if !super::resources::PODS.iter().any(|p| p.0 == pod) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    }
    if spdy_streams::is_spdy(req.headers()) {
        return spdy_streams::exec(req, program, wanted);
    }
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (Some(key), true, true) = (key, is_ws, offers_v5(req.headers())) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the stand-in serves exec and attach over WebSocket v5.channel.k8s.io or SPDY/3.1 only",
        );
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "not an upgradable connection",
        );
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        run_exec(ws, program, wanted.stdin).await;
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, "websocket".to_string()),
            (header::CONNECTION, "Upgrade".to_string()),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
            (header::SEC_WEBSOCKET_PROTOCOL, V5.to_string()),
        ],
    )
        .into_response()
}

async fn run_exec<S>(mut ws: WebSocketStream<S>, mut program: Program, stdin: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while stdin && let Some(Ok(msg)) = ws.next().await {
        let Message::Binary(data) = msg else { continue };
        match data.first() {
            Some(0) => {
                if let Some(echo) = program.input(&data[1..]) {
                    let mut out = vec![1u8];
                    out.extend_from_slice(&echo);
                    if ws.send(Message::Binary(out)).await.is_err() {
                        return;
                    }
                }
            }
            // Close of stdin: the command ends.
            Some(255) if data.get(1) == Some(&0) => break,
            _ => {}
        }
    }
    let mut done = vec![3u8];
    done.extend_from_slice(program.status().to_string().as_bytes());
    let _ = ws.send(Message::Binary(done)).await;
    // A normal close (1000): client-go reads it as the end of every stream.
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await;
}
