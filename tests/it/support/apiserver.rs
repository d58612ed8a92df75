//! A Kubernetes API stand-in that real `kubectl` talks to. It authenticates
//! the way kube-apiserver does with `--client-ca-file`,
//! `--authentication-token-webhook-config-file` (v1 TokenReview) and
//! `--anonymous-auth=false`, answers just enough of the API for
//! `kubectl auth whoami` and `kubectl get pods`, and records every
//! authenticated call so tests can assert who the cluster saw.
//!
//! Behaviour copied from kube-apiserver, because kaccess must work against it:
//! - TLS asks for a client certificate without requiring one and without
//!   judging its chain (Go's `RequestClientCert`); the x509 authenticator
//!   then verifies the chain to the client CA, validity and clientAuth
//!   (rustls' `WebPkiClientVerifier`). CN is the user, each O a group. A
//!   certificate from another CA is thus a 401, not a failed handshake.
//! - x509 comes before tokens: a verified client certificate wins and the
//!   `Authorization` header is then ignored; a refused certificate falls
//!   through to the token.
//! - Bearer tokens are sent to the webhook in the exact JSON kube-apiserver's
//!   Go types produce (`metadata.creationTimestamp: null`, `status.user: {}`),
//!   and the answer must be a 2xx `authentication.k8s.io/v1` TokenReview.
//!   Unlike kube-apiserver there is no result cache, so a revoked token is
//!   refused on the very next call.
//! - Every authenticated user also gets `system:authenticated`.
//! - No credentials or refused credentials: 401 with a `Status` body, which
//!   makes client-go drop the exec plugin's credential and run it again.
//! - Discovery is the legacy JSON form (`APIVersions`, `APIGroupList`,
//!   `APIResourceList`) sent as plain `application/json`: kubectl asks for
//!   aggregated discovery first and falls back when the content type says
//!   it did not get it.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use axum_server::tls::TlsInfo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::pki::TestCa;
use super::serve::{TlsServer, tls_config};

#[derive(Clone, Debug, Default)]
pub struct ApiServerOptions {
    /// PEM bundle client certificates must chain to (the broker's cluster
    /// CA). `None`: no client certificate is asked for.
    pub client_ca_pem: Option<String>,
    /// Where bearer tokens are reviewed. `None`: tokens are refused.
    pub token_webhook: Option<Webhook>,
}

/// The TokenReview webhook (the broker's `/v1/tokenreview`).
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    /// The only CA trusted for the webhook's serving certificate.
    pub ca_pem: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Cert,
    Token,
}

/// One authenticated request, as the audit log would show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    /// Path without the query.
    pub path: String,
    pub username: String,
    /// Includes `system:authenticated`, as kube-apiserver adds it.
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub via: Via,
}

/// Who made a request (kube's `user.Info`).
#[derive(Clone, Debug)]
struct User {
    username: String,
    uid: Option<String>,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
    via: Via,
}

#[derive(Default)]
struct Record {
    calls: Mutex<Vec<Call>>,
    refused: AtomicUsize,
    reviews: AtomicUsize,
}

#[derive(Clone)]
struct App {
    record: Arc<Record>,
    /// Verifies client certificate chains against the client CA.
    x509: Option<Arc<dyn ClientCertVerifier>>,
    webhook: Option<(String, reqwest::Client)>,
    server_address: String,
}

/// Stopped on drop.
pub struct ApiServer {
    ca_pem: String,
    record: Arc<Record>,
    server: TlsServer,
}

impl ApiServer {
    /// Starts on 127.0.0.1 (free port) on its own runtime thread; ready to
    /// accept connections when this returns.
    pub fn start(opts: ApiServerOptions) -> ApiServer {
        let ca = TestCa::new("kaccess test apiserver CA");
        let x509 = opts.client_ca_pem.as_deref().map(client_verifier);
        let config = tls_config(
            &ca.issue_server(),
            x509.clone()
                .map(|inner| Arc::new(RequestClientCert(inner)) as Arc<dyn ClientCertVerifier>),
        );
        kaccess::http::install_crypto_provider();
        let webhook = opts.token_webhook.map(|w| {
            let ca = reqwest::Certificate::from_pem(w.ca_pem.as_bytes()).expect("webhook CA PEM");
            let client = reqwest::Client::builder()
                .tls_certs_only([ca])
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .user_agent("kube-apiserver/v1.32.0 (kaccess test stand-in)")
                .build()
                .expect("webhook client");
            (w.url, client)
        });
        let record = Arc::new(Record::default());
        let app_record = record.clone();
        let server = TlsServer::start(config, move |addr| {
            router(App {
                record: app_record,
                x509,
                webhook,
                server_address: addr.to_string(),
            })
        });
        ApiServer {
            ca_pem: ca.cert_pem(),
            record,
            server,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The serving CA, for a kubeconfig's `certificate-authority-data`.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Every authenticated request so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.record.calls.lock().unwrap().clone()
    }

    /// Requests answered 401.
    pub fn refused(&self) -> usize {
        self.record.refused.load(Ordering::SeqCst)
    }

    /// TokenReviews sent to the webhook.
    pub fn token_reviews(&self) -> usize {
        self.record.reviews.load(Ordering::SeqCst)
    }
}

fn client_verifier(ca_pem: &str) -> Arc<dyn ClientCertVerifier> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("client CA PEM"))
            .expect("client CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .expect("client verifier")
}

/// kube-apiserver's TLS setting (`tls.RequestClientCert` with the client
/// CA as hints): take any client certificate whose key signs the
/// handshake, and judge its chain later, in the x509 authenticator, so a
/// certificate from another CA gets a 401 instead of a failed handshake.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(core_versions))
        .route("/apis", get(group_list))
        .route("/api/v1", get(core_resources))
        .route("/apis/authentication.k8s.io/v1", get(authn_resources))
        .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
        .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(self_subject_review),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .with_state(app)
}

async fn authenticate(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let tls = req.extensions().get::<Arc<TlsInfo>>().cloned();
    let Some(user) = identify(&app, tls.as_deref(), req.headers()).await else {
        app.record.refused.fetch_add(1, Ordering::SeqCst);
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };
    app.record.calls.lock().unwrap().push(Call {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        username: user.username.clone(),
        groups: user.groups.clone(),
        extra: user.extra.clone(),
        via: user.via,
    });
    req.extensions_mut().insert(user);
    next.run(req).await
}

/// kube's union authenticator: x509 first, then the token webhook; the
/// first that says yes wins, a failure in one does not stop the next.
async fn identify(app: &App, tls: Option<&TlsInfo>, headers: &HeaderMap) -> Option<User> {
    let from_cert = match (&app.x509, tls) {
        (Some(verifier), Some(tls)) => user_from_cert(verifier.as_ref(), &tls.peer_certificates),
        _ => None,
    };
    let mut user = match from_cert {
        Some(user) => user,
        None => {
            let token = bearer(headers)?;
            let (url, client) = app.webhook.as_ref()?;
            app.record.reviews.fetch_add(1, Ordering::SeqCst);
            review(client, url, &token).await?
        }
    };
    if !user.groups.iter().any(|g| g == "system:authenticated") {
        user.groups.push("system:authenticated".into());
    }
    Some(user)
}

/// The chain must lead to the client CA, be valid now and allow clientAuth.
fn user_from_cert(verifier: &dyn ClientCertVerifier, chain: &[Vec<u8>]) -> Option<User> {
    let (leaf, intermediates) = chain.split_first()?;
    let intermediates: Vec<_> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    verifier
        .verify_client_cert(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            UnixTime::now(),
        )
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let username = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    if username.is_empty() {
        return None;
    }
    let groups = cert
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(String::from))
        .collect();
    Some(User {
        username,
        uid: None,
        groups,
        extra: BTreeMap::new(),
        via: Via::Cert,
    })
}

/// kube's bearer parsing: scheme case-insensitive, empty token = none.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then(|| token.to_string())
}

async fn review(client: &reqwest::Client, url: &str, token: &str) -> Option<User> {
    let body = json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"token": token},
        "status": {"user": {}},
    });
    let resp = client
        .post(url)
        .header(header::ACCEPT, "application/json, */*")
        .json(&body)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let answer: Value = resp.json().await.ok()?;
    if answer["kind"] != "TokenReview" || answer["apiVersion"] != "authentication.k8s.io/v1" {
        return None;
    }
    let status = &answer["status"];
    if status["authenticated"] != true {
        return None;
    }
    let user = &status["user"];
    let username = user["username"].as_str().filter(|u| !u.is_empty())?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let extra = user["extra"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
        .unwrap_or_default();
    Some(User {
        username: username.to_string(),
        uid: user["uid"].as_str().map(String::from),
        groups: strings(&user["groups"]),
        extra,
        via: Via::Token,
    })
}

/// A `metav1.Status` failure, the body kube-apiserver sends with errors.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

async fn not_found(req: Request) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
    )
}

async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

async fn core_versions(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": app.server_address},
        ],
    }))
}

async fn group_list() -> Json<Value> {
    let v1 = json!({"groupVersion": "authentication.k8s.io/v1", "version": "v1"});
    Json(json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {"name": "authentication.k8s.io", "versions": [v1], "preferredVersion": v1},
        ],
    }))
}

async fn core_resources() -> Json<Value> {
    Json(json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"],
            },
            {
                "name": "namespaces", "singularName": "namespace", "namespaced": false,
                "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"],
            },
        ],
    }))
}

async fn authn_resources() -> Json<Value> {
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authentication.k8s.io/v1",
        "resources": [
            {
                "name": "selfsubjectreviews", "singularName": "selfsubjectreview",
                "namespaced": false, "kind": "SelfSubjectReview", "verbs": ["create"],
            },
            {
                "name": "tokenreviews", "singularName": "tokenreview",
                "namespaced": false, "kind": "TokenReview", "verbs": ["create"],
            },
        ],
    }))
}

async fn self_subject_review(Extension(user): Extension<User>) -> (StatusCode, Json<Value>) {
    let mut info = json!({"username": user.username, "groups": user.groups});
    if let Some(uid) = user.uid {
        info["uid"] = json!(uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    let body = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": now_rfc3339()},
        "status": {"userInfo": info},
    });
    (StatusCode::CREATED, Json(body))
}

/// The fake workload every namespace has: (name, ready, phase, restarts).
const PODS: [(&str, &str, &str, u32); 2] = [
    ("web-7d4b9c6f5-x2kqp", "1/1", "Running", 0),
    ("worker-5f6c8d7b9-m4ntz", "1/1", "Running", 2),
];

async fn list_pods(Path(ns): Path<String>, headers: HeaderMap) -> Json<Value> {
    let pods: Vec<_> = PODS.iter().map(|p| pod(&ns, p)).collect();
    if wants_table(&headers) {
        return Json(table(&pods));
    }
    Json(json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": pods,
    }))
}

async fn get_pod(Path((ns, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(found) = PODS.iter().find(|p| p.0 == name) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        );
    };
    let pod = pod(&ns, found);
    if wants_table(&headers) {
        return Json(table(&[pod])).into_response();
    }
    Json(pod).into_response()
}

fn pod(ns: &str, &(name, _, phase, restarts): &(&str, &str, &str, u32)) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("00000000-0000-4000-8000-{:012x}", name.len()),
            "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": restarts,
                "image": "registry.example/app:1", "imageID": "", "started": true,
                "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
            }],
        },
    })
}

/// A `meta.k8s.io/v1` Table of pods with kube-apiserver's default columns.
fn table(pods: &[Value]) -> Value {
    let column = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
    let rows: Vec<_> = pods
        .iter()
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            let (_, ready, phase, restarts) = PODS
                .iter()
                .find(|x| x.0 == name)
                .copied()
                .unwrap_or(("", "0/1", "Unknown", 0));
            json!({
                "cells": [name, ready, phase, restarts.to_string(), "90d"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": p["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [
            column("Name", "name"),
            column("Ready", ""),
            column("Status", ""),
            column("Restarts", ""),
            column("Age", ""),
        ],
        "rows": rows,
    })
}

/// Whether `Accept` offers `application/json;as=Table;v=v1;g=meta.k8s.io`
/// (kubectl lists it first, with v1beta1 and plain JSON as fallbacks).
fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let params: Vec<_> = media.split(';').map(str::trim).collect();
            params.contains(&"as=Table")
                && params.contains(&"v=v1")
                && params.contains(&"g=meta.k8s.io")
        })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
