//! `oneshot` tests of the router: refusals that need no IdP, each with its
//! status, `ErrorBody`, and audit record. The IdP-backed paths are covered
//! by `tests/it/broker.rs` against the real provider.

use super::ca::tests::test_ca;
use super::config::BrokerConfig;
use super::server::{AppState, Shared, app};
use crate::audit::verify::verify_file;
use crate::protocol::{ErrorBody, ErrorCode, MAX_BODY_BYTES, TokenReview};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    state: Shared,
    audit: std::path::PathBuf,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ca, key) = test_ca();
    std::fs::write(dir.path().join("ca.crt"), ca).unwrap();
    std::fs::write(dir.path().join("ca.key"), key).unwrap();
    let yaml = r#"
listen: 127.0.0.1:0
insecure-http: true
state: {sqlite: state.db}
audit: {file: audit.jsonl}
issuers:
  - issuer: http://127.0.0.1:9
    audiences: [kaccess]
    mfa: {amr-any: [otp]}
clusters:
  prod:
    ca: {cert-file: ca.crt, key-file: ca.key}
    credential-ttl: 10m
    max-session: 1h
    grants:
      - {idp-groups: [sre], kube-groups: ["kaccess:sre"], namespaces: [default], cluster-role: edit}
"#;
    let cfg = BrokerConfig::parse(yaml, dir.path()).unwrap();
    let audit = cfg.audit.file.clone().unwrap();
    let path = dir.path().join("broker.yaml");
    std::fs::write(&path, yaml).unwrap();
    let state = Arc::new(AppState::open(cfg, Some(path)).await.unwrap());
    Fixture {
        _dir: dir,
        state,
        audit,
    }
}

async fn call(f: &Fixture, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let resp = app(f.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

fn post(path: &str, bearer: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(body.into()).unwrap()
}

fn audit_lines(f: &Fixture) -> Vec<Value> {
    std::fs::read_to_string(&f.audit)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn error_of(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn refusals_without_an_idp_have_status_body_and_audit_line() {
    let f = fixture().await;
    let cases: Vec<(Request<Body>, StatusCode, ErrorCode)> = vec![
        (
            post(
                "/v1/exchange",
                None,
                r#"{"cluster":"prod","credential":"token"}"#,
            ),
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
        ),
        (
            post("/v1/exchange", Some("x.y.z"), "{not json"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post(
                "/v1/exchange",
                Some("x.y.z"),
                r#"{"cluster":"prod","credential":"token","groups":["system:masters"]}"#,
            ),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post(
                "/v1/exchange",
                Some("x.y.z"),
                vec![b' '; MAX_BODY_BYTES + 1],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
        ),
        (
            post(
                "/v1/exchange",
                Some("x.y.z"),
                r#"{"cluster":"prod","credential":"token"}"#,
            ),
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::IdpUnavailable,
        ),
    ];
    let n = cases.len();
    for (req, status, code) in cases {
        let (got, body) = call(&f, req).await;
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
        assert_eq!(error_of(&body).error, code);
    }
    let lines = audit_lines(&f);
    assert_eq!(lines.len(), n);
    assert!(
        lines
            .iter()
            .all(|l| l["event"] == "exchange" && l["outcome"] == "refused")
    );
    assert_eq!(lines[3]["error"], "payload_too_large");
    assert_eq!(lines[4]["error"], "idp_unavailable");
    assert_eq!(lines[4]["cluster"], "prod");
    f.state.audit.shutdown();
    assert_eq!(verify_file(&f.audit).unwrap().broken, None);
}

#[tokio::test]
async fn tokenreview_answers_in_the_version_asked_and_audits_failures() {
    let f = fixture().await;
    for version in ["authentication.k8s.io/v1", "authentication.k8s.io/v1beta1"] {
        let body = json!({"apiVersion": version, "kind": "TokenReview", "spec": {"token": "kaccess_forged"}});
        let (status, bytes) = call(&f, post("/v1/tokenreview", None, body.to_string())).await;
        assert_eq!(status, StatusCode::OK);
        let review: TokenReview = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(review.api_version, version);
        assert!(!review.status.unwrap().authenticated);
        assert!(!String::from_utf8_lossy(&bytes).contains("kaccess_forged"));
    }
    let body = json!({"apiVersion": "v1", "kind": "Pod", "spec": {}});
    let (status, _) = call(&f, post("/v1/tokenreview", None, body.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let lines = audit_lines(&f);
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["event"] == "tokenreview"));
    assert_eq!(lines[0]["cause"], "unknown token");
    assert_eq!(lines[0]["token_hash_prefix"].as_str().unwrap().len(), 12);
}

#[tokio::test]
async fn revoke_of_a_malformed_id_needs_a_token_first() {
    let f = fixture().await;
    let (status, body) = call(&f, post("/v1/sessions/../../etc/revoke", None, "")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, body) = call(&f, post("/v1/sessions/abc/revoke", None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body).error, ErrorCode::Unauthenticated);
    assert_eq!(audit_lines(&f).last().unwrap()["event"], "revoke");
}

#[tokio::test]
async fn health_answers_ok_and_metrics_answer_openmetrics_text() {
    let f = fixture().await;
    let (status, body) = call(&f, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"ok\n".as_slice())
    );
    call(&f, post("/v1/exchange", None, "{}")).await;
    let resp = app(f.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("kaccess_exchanges_total{outcome=\"unauthenticated\"} 1"),
        "{text}"
    );
    assert!(text.contains("kaccess_active_sessions 0"));
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test]
async fn a_failing_audit_log_refuses_with_503() {
    let f = fixture().await;
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let mut state = AppState::open(f.state.live().config.clone(), None)
        .await
        .unwrap();
    state.audit = crate::audit::AuditLog::open(std::path::Path::new("/dev/full"), false).unwrap();
    let broken = Fixture {
        _dir: tempfile::tempdir().unwrap(),
        state: Arc::new(state),
        audit: "/dev/full".into(),
    };
    let (status, body) = call(&broken, post("/v1/exchange", None, "{}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let err = error_of(&body);
    assert_eq!(err.error, ErrorCode::AuditUnavailable);
    assert!(err.message.contains("/dev/full"), "{}", err.message);
}

fn review_body(token: &str) -> String {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        .to_string()
}

#[tokio::test]
async fn a_reload_puts_the_new_policy_in_force_and_audits_it() {
    let f = fixture().await;
    let staging = || post("/v1/tokenreview/staging", None, review_body("x"));
    assert_eq!(call(&f, staging()).await.0, StatusCode::NOT_FOUND);

    let path = f.state.config_path.clone().unwrap();
    let yaml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1")
        + "  staging:\n    ca: {cert-file: ca.crt, key-file: ca.key}\n    credential-ttl: 5m\n    max-session: 1h\n";
    std::fs::write(&path, &yaml).unwrap();
    super::reload::reload_config(&f.state).await;

    let (status, body) = call(&f, staging()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let live = f.state.live();
    assert!(live.config.clusters.contains_key("staging"));
    assert_eq!(
        live.config.listen.port(),
        1,
        "the file's value, even if unused until restart"
    );
    let lines = audit_lines(&f);
    let reloads: Vec<&Value> = lines.iter().filter(|l| l["event"] == "config").collect();
    assert_eq!(reloads.len(), 1, "{lines:?}");
    assert_eq!(reloads[0]["outcome"], "reloaded");
    let cause = reloads[0]["cause"].as_str().unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(yaml.as_bytes()));
    assert!(cause.contains(&sha), "{cause}");
    assert!(
        cause.contains("not applied until a restart: listen"),
        "{cause}"
    );
    assert_eq!(verify_file(&f.audit).unwrap().broken, None);
}

#[tokio::test]
async fn an_invalid_file_on_reload_leaves_the_running_policy_in_force() {
    let f = fixture().await;
    let path = f.state.config_path.clone().unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    for bad in [
        "listen: [".to_string(),
        good.replace("credential-ttl: 10m", "credential-ttl: soon"),
        good.replace("ca.crt", "missing.crt"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = super::reload::reload(&f.state).await.unwrap_err();
        assert!(err.to_string().contains("broker.yaml"), "{err}");
        super::reload::reload_config(&f.state).await;
        let lines = audit_lines(&f);
        let last = lines.last().unwrap();
        assert_eq!(last["outcome"], "refused", "{last}");
    }
    let live = f.state.live();
    assert_eq!(live.config.clusters["prod"].credential_ttl.as_secs(), 600);
    assert_eq!(
        call(&f, post("/v1/tokenreview/prod", None, review_body("x")))
            .await
            .0,
        StatusCode::OK
    );
}
