//! Figure 6: the access proxy's session recording, as overhead on an exec
//! stream's throughput. A WebSocket `v5.channel.k8s.io` client sends
//! stdin to an echoing "apiserver" (the stand-in's `cat`) and reads it
//! back as stdout, through a proxy leg on 127.0.0.1 that is either the
//! unrecorded path (the byte splice, `tokio::io::copy_bidirectional`) or
//! the recorded one (`proxy::recording::relay` with a real `Recorder`
//! writing, hashing and fsyncing its asciicast file). TLS and the
//! audit records are the same for both, so they are left out: this is
//! the proxy's own share. The two alternate, three runs each; medians.

use crate::{Row, Settings};
use futures_util::{SinkExt, StreamExt};
use kaccess::proxy::recording::Recorder;
use kaccess::proxy::recording::asciicast::Header;
use kaccess::proxy::recording::relay::relay;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The recordings' session id (a hex id, as the broker's are).
const SESSION: &str = "be7c4";

/// Bytes of stdin per message: what kubectl sends for a fast pipe.
const CHUNK: usize = 32 * 1024;

async fn apiserver(listener: TcpListener) {
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Server, None).await;
            while let Some(Ok(Message::Binary(mut data))) = ws.next().await {
                if data.first() == Some(&0) {
                    data[0] = 1;
                    if ws.send(Message::Binary(data)).await.is_err() {
                        return;
                    }
                } else if data == [255, 0] {
                    break;
                }
            }
            let _ = ws
                .send(Message::Binary(b"\x03{\"status\":\"Success\"}".to_vec()))
                .await;
            let _ = ws.close(None).await;
            while ws.next().await.is_some() {}
        });
    }
}

/// One exec of `total` bytes through a proxy leg; its throughput in MB/s.
async fn one(recorded: bool, total: usize, dir: &std::path::Path, n: usize) -> f64 {
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let server = tokio::spawn(apiserver(api));
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let dir = dir.to_path_buf();
    let leg = tokio::spawn(async move {
        let (mut client, _) = proxy.accept().await.unwrap();
        let mut upstream = TcpStream::connect(api_addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        upstream.set_nodelay(true).unwrap();
        if recorded {
            let recorder =
                Recorder::create(&dir, SESSION, &format!("{n:04x}"), Header::default()).unwrap();
            let (a, b) = (Default::default(), Default::default());
            relay(client, upstream, &recorder, true, &a, &b).await;
            recorder.close().await.unwrap().unwrap();
        } else {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    let tcp = TcpStream::connect(proxy_addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
    let (mut tx, mut rx) = ws.split();
    // Terminal-like text: lines of printable ASCII.
    let line = b"drwxr-xr-x  2 root root 4096 Jan 31 08:00 some-directory-name\n";
    let mut chunk = vec![0u8];
    while chunk.len() < CHUNK + 1 {
        chunk.extend_from_slice(line);
    }
    chunk.truncate(CHUNK + 1);
    let start = Instant::now();
    let sender = async {
        let mut sent = 0;
        while sent < total {
            tx.send(Message::Binary(chunk.clone())).await.unwrap();
            sent += CHUNK;
        }
        sent
    };
    let receiver = async {
        let mut got = 0;
        while got < total {
            match rx.next().await {
                Some(Ok(Message::Binary(d))) if d.first() == Some(&1) => got += d.len() - 1,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        got
    };
    let (_, got) = tokio::join!(sender, receiver);
    let took = start.elapsed();
    let _ = tx.send(Message::Binary(vec![255, 0])).await;
    while rx.next().await.is_some() {}
    let _ = tokio::time::timeout(Duration::from_secs(10), leg).await;
    server.abort();
    assert!(got >= total, "the exec echoed {got} of {total} bytes");
    got as f64 / took.as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn overhead(s: &Settings) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let total = s.stream_mib << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut plain, mut recorded) = (Vec::new(), Vec::new());
    for i in 0..3 {
        plain.push(rt.block_on(one(false, total, dir.path(), i)));
        recorded.push(rt.block_on(one(true, total, dir.path(), i)));
    }
    let cast = std::fs::read_dir(dir.path().join("recordings").join(SESSION))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let (p, r) = (median(plain), median(recorded));
    let ratio = r / p;
    vec![Row {
        figure: format!(
            "8 exec stream through the proxy, recorded ({} MiB echoed)",
            s.stream_mib
        ),
        measured: format!("{r:.0} MB/s"),
        baseline: format!("unrecorded (byte splice) {p:.0} MB/s"),
        ratio,
        ratio_means: "× unrecorded",
        target: "≥ 0.5× unrecorded".into(),
        met: Some(ratio >= 0.5),
        detail: format!(
            "median of 3 each, alternating; one recording holds {:.1} MiB of asciicast (stdin and stdout)",
            cast as f64 / (1 << 20) as f64
        ),
    }]
}
