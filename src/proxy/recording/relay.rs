//! The WebSocket relay of a recorded stream: each side's frames decoded
//! by tungstenite (the client's as a server, the apiserver's as a
//! client), every message passed on unchanged and its channel data
//! handed to the [`Recorder`]. Each leg answers its own pings, so pongs
//! are not passed on (the other side would get two).

use super::Recorder;
use super::channel::{self, Channel};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How a relayed stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    ClientClosed,
    UpstreamClosed,
    /// The recording could not be written, under `record: required`.
    RecordingFailed,
}

/// After one side closed, how long the other has to finish its close.
const GRACE: Duration = Duration::from_secs(5);

/// The channels each direction carries.
fn wanted(from_client: bool, ch: Channel) -> bool {
    match ch {
        Channel::Stdin | Channel::Resize => from_client,
        Channel::Stdout | Channel::Stderr | Channel::Status => !from_client,
    }
}

/// One direction: `src`'s messages to `dst`, counted and recorded.
/// `Err` when the recording failed and it must not go on.
async fn pump<S, D>(
    mut src: S,
    mut dst: D,
    count: &AtomicU64,
    recorder: &Recorder,
    from_client: bool,
    required: bool,
    first_close: &std::sync::OnceLock<bool>,
) -> Result<(), ()>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
    D: Sink<Message, Error = WsError> + Unpin,
{
    let mut recording = true;
    while let Some(Ok(msg)) = src.next().await {
        match &msg {
            Message::Pong(_) | Message::Frame(_) => continue,
            Message::Binary(data) => {
                count.fetch_add(data.len() as u64, Ordering::Relaxed);
                if recording
                    && let Some((ch, payload)) = channel::parse(data)
                    && wanted(from_client, ch)
                    && !recorder.record(ch, payload).await
                {
                    if required {
                        let _ = dst.close().await;
                        return Err(());
                    }
                    recording = false;
                }
            }
            Message::Text(t) => {
                count.fetch_add(t.len() as u64, Ordering::Relaxed);
            }
            // Who closed first decides how the stream ended: the other
            // side's answering close can finish its pump sooner.
            Message::Close(_) => {
                let _ = first_close.set(from_client);
            }
            Message::Ping(_) => {}
        }
        if dst.send(msg).await.is_err() {
            break;
        }
    }
    let _ = dst.close().await;
    Ok(())
}

/// Relays `client` ⇄ `upstream` (both already switched to WebSocket)
/// until both sides closed, or one closed and the other did not follow
/// within [`GRACE`].
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    recorder: &Recorder,
    required: bool,
    bytes_in: &AtomicU64,
    bytes_out: &AtomicU64,
) -> End
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let c = WebSocketStream::from_raw_socket(client, Role::Server, None).await;
    let u = WebSocketStream::from_raw_socket(upstream, Role::Client, None).await;
    let (c_tx, c_rx) = c.split();
    let (u_tx, u_rx) = u.split();
    recorder.begin();
    let first_close = std::sync::OnceLock::new();
    let up = pump(c_rx, u_tx, bytes_in, recorder, true, required, &first_close);
    let down = pump(
        u_rx,
        c_tx,
        bytes_out,
        recorder,
        false,
        required,
        &first_close,
    );
    tokio::pin!(up, down);
    let (end, result) = tokio::select! {
        r = &mut up => {
            let end = (End::ClientClosed, r);
            if end.1.is_ok() {
                let _ = tokio::time::timeout(GRACE, &mut down).await;
            }
            end
        }
        r = &mut down => {
            let end = (End::UpstreamClosed, r);
            if end.1.is_ok() {
                let _ = tokio::time::timeout(GRACE, &mut up).await;
            }
            end
        }
    };
    match (result, first_close.get()) {
        (Err(()), _) => End::RecordingFailed,
        (Ok(()), Some(true)) => End::ClientClosed,
        (Ok(()), Some(false)) => End::UpstreamClosed,
        (Ok(()), None) => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::recording::asciicast::Header;

    /// A client and an apiserver talking through the relay over
    /// in-memory pipes; what the recording holds afterwards.
    #[tokio::test]
    async fn messages_pass_unchanged_and_their_channels_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(dir.path(), "abcd", "01", Header::default()).unwrap();
        let (client_end, proxy_client) = tokio::io::duplex(4096);
        let (proxy_upstream, server_end) = tokio::io::duplex(4096);
        let (bytes_in, bytes_out) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay = relay(
            proxy_client,
            proxy_upstream,
            &recorder,
            true,
            &bytes_in,
            &bytes_out,
        );
        let server = async {
            let mut ws = WebSocketStream::from_raw_socket(server_end, Role::Server, None).await;
            while let Some(Ok(Message::Binary(data))) = ws.next().await {
                if data[0] == 0 {
                    let mut out = vec![1u8];
                    out.extend_from_slice(&data[1..]);
                    ws.send(Message::Binary(out)).await.unwrap();
                } else if data == [255, 0] {
                    break;
                }
            }
            ws.send(Message::Binary(b"\x03{\"status\":\"Success\"}".to_vec()))
                .await
                .unwrap();
            ws.close(None).await.unwrap();
            while ws.next().await.is_some() {}
        };
        let client = async {
            let mut ws = WebSocketStream::from_raw_socket(client_end, Role::Client, None).await;
            ws.send(Message::Binary(
                b"\x04{\"Width\":90,\"Height\":20}".to_vec(),
            ))
            .await
            .unwrap();
            ws.send(Message::Binary(b"\x00hi\n".to_vec()))
                .await
                .unwrap();
            let mut got = Vec::new();
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Binary(data) = msg {
                    if data[0] == 1 {
                        ws.send(Message::Binary(vec![255, 0])).await.unwrap();
                    }
                    got.push(data);
                }
            }
            got
        };
        let (end, (), got) = tokio::join!(relay, server, client);
        assert_eq!(end, End::UpstreamClosed);
        assert_eq!(got[0], b"\x01hi\n");
        assert_eq!(got[1], b"\x03{\"status\":\"Success\"}");
        assert!(bytes_in.load(Ordering::Relaxed) >= 4 && bytes_out.load(Ordering::Relaxed) >= 4);
        let rec = recorder.close().await.unwrap().unwrap();
        let text = std::fs::read_to_string(dir.path().join(&rec.file)).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["width"], 90);
        let events: Vec<(&str, &str)> = lines[1..]
            .iter()
            .map(|e| (e[1].as_str().unwrap(), e[2].as_str().unwrap()))
            .collect();
        assert_eq!(
            events,
            [
                ("i", "hi\n"),
                ("o", "hi\n"),
                ("m", "{\"status\":\"Success\"}")
            ]
        );
    }
}
