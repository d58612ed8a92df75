//! The `POST /v1/exchange` body as the broker reads it: the size-limited
//! body reader, the strict `ExchangeRequest` schema, then the checks the
//! handler makes on the request's own fields (session id shape, CSR,
//! audit clipping) before any of it reaches policy or the store.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use kaccess::broker::request::{bearer, clip, json_body};
use kaccess::protocol::ExchangeRequest;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // The first line (if any) is the Authorization header, the rest the body.
    let (auth, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(header::AUTHORIZATION, v);
    }
    if let Ok(token) = bearer(&headers) {
        assert!(token.len() <= kaccess::protocol::MAX_BEARER_BYTES);
    }
    let parsed: Result<ExchangeRequest, _> =
        runtime().block_on(json_body(&headers, axum::body::Body::from(body.to_vec())));
    let Ok(req) = parsed else { return };
    let _ = clip(&req.cluster, 64);
    if let Some(r) = &req.reason {
        let _ = clip(r, 1024);
    }
    if let Some(id) = &req.session_id {
        let _ = clip(id, 64);
        let _ = kaccess::broker::tokens::looks_like_session_id(id);
    }
    if let Some(csr) = &req.csr {
        let _ = kaccess::broker::ca::check_csr(csr);
    }
    // What the client sends must read back the same.
    let again = serde_json::to_vec(&req).expect("serialize");
    let back: ExchangeRequest = serde_json::from_slice(&again).expect("round trip");
    assert_eq!(back, req);
});
