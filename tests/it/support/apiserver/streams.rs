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
//!   The WebSocket codec is tokio-tungstenite's.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::resources::status;

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

pub(super) async fn exec(
    Path((_ns, pod)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    mut req: Request,
) -> Response {
    let command: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.into_owned())
        .collect();
    let attach = req.uri().path().ends_with("/attach");
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
            "the stand-in serves exec and attach over WebSocket v5.channel.k8s.io only",
        );
    };
    if !super::resources::PODS.iter().any(|p| p.0 == pod) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    }
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
        run_exec(ws, attach || command == ["cat"]).await;
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

async fn run_exec<S>(mut ws: WebSocketStream<S>, echo: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Binary(data) = msg else { continue };
        match data.first() {
            Some(0) if echo => {
                let mut out = vec![1u8];
                out.extend_from_slice(&data[1..]);
                if ws.send(Message::Binary(out)).await.is_err() {
                    return;
                }
            }
            // Close of stdin: the command ends.
            Some(255) if data.get(1) == Some(&0) => break,
            _ => {}
        }
    }
    let mut done = vec![3u8];
    done.extend_from_slice(
        json!({"metadata": {}, "status": "Success"})
            .to_string()
            .as_bytes(),
    );
    let _ = ws.send(Message::Binary(done)).await;
    // A normal close (1000): client-go reads it as the end of every stream.
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await;
}
