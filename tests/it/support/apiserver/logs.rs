//! `pods/log` as kube-apiserver serves it: plain text, one line per log
//! line; with `follow=true` the answer stays open and a new line comes
//! every [`EVERY`] until the client goes away.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use super::resources::{PODS, status};

pub const EVERY: Duration = Duration::from_millis(200);

/// The container's `n`th log line.
pub fn line(pod: &str, n: u64) -> String {
    format!("{pod} log line {n}\n")
}

/// Lines already written when a log is asked for.
const WRITTEN: u64 = 3;

pub(super) async fn log(
    Path((_ns, pod)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if !PODS.iter().any(|p| p.0 == pod) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    }
    let follow = query.get("follow").is_some_and(|f| f == "true");
    let lines = futures_util::stream::unfold(0u64, move |n| {
        let pod = pod.clone();
        async move {
            if n >= WRITTEN {
                if !follow {
                    return None;
                }
                tokio::time::sleep(EVERY).await;
            }
            Some((Ok::<_, Infallible>(Bytes::from(line(&pod, n))), n + 1))
        }
    });
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
