//! A webhook receiver for `notify:` targets: every JSON body POSTed to
//! `/hook` on 127.0.0.1 is kept, in arrival order.

use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Webhook bodies as they arrive.
pub type Received = Arc<Mutex<Vec<Value>>>;

/// Starts the receiver (axum) on a free loopback port; it stops when the
/// test's runtime ends. Returns its URL and what it receives.
pub async fn receiver() -> (String, Received) {
    use axum::routing::post;
    let got: Received = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}
