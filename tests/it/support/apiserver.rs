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
//! - Impersonation as kube-apiserver's filter does it (`impersonation`):
//!   only the `impersonators` may, each header value is its own check,
//!   groups or extra without a user are a 400; everything after (the
//!   recorded call, SelfSubjectReview) sees the impersonated user.
//! - `--token-auth-file`-style static tokens (`static_tokens`), as the
//!   access proxy's own service-account token is accepted.
//! - A watch on pods, `pods/exec` and `pods/attach` over WebSocket v5
//!   (`streams`) and SPDY/3.1 (`spdy_streams` on `spdy`), `pods/portforward`
//!   over SPDY/3.1 and WebSocket `SPDY/3.1+portforward.k8s.io`, and
//!   `pods/log`, followed or not (`logs`).
//! - For the bench only, a ConfigMaps watch that sends `?events=N` events
//!   as fast as they are read and then ends (`events`).
//! - Discovery is the legacy JSON form (`APIVersions`, `APIGroupList`,
//!   `APIResourceList`) sent as plain `application/json`: kubectl asks for
//!   aggregated discovery first and falls back when the content type says
//!   it did not get it.

mod authn;
pub mod events;
mod impersonation;
mod logs;
mod resources;
mod spdy;
mod spdy_streams;
mod streams;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum_server::tls::TlsInfo;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::pki::TestCa;
use super::serve::{TlsServer, tls_config};
use authn::Authenticator;
use resources::{
    authn_resources, core_resources, core_versions, get_pod, group_list, list_pods, not_found,
    self_subject_review, status, version,
};

#[derive(Clone, Debug, Default)]
pub struct ApiServerOptions {
    /// PEM bundle client certificates must chain to (the broker's cluster
    /// CA). `None`: no client certificate is asked for.
    pub client_ca_pem: Option<String>,
    /// Where bearer tokens are reviewed. `None`: only static tokens.
    pub token_webhook: Option<Webhook>,
    /// (token, username) pairs, as in kube-apiserver's `--token-auth-file`.
    pub static_tokens: Vec<(String, String)>,
    /// Users allowed to impersonate anyone (verb `impersonate` on users,
    /// groups, serviceaccounts, uids and userextras).
    pub impersonators: Vec<String>,
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
    /// Who authenticated, when the call was made impersonating.
    pub impersonator: Option<String>,
}

#[derive(Default)]
struct Record {
    calls: Mutex<Vec<Call>>,
    refused: AtomicUsize,
    /// Bytes `tar` execs read from stdin (`kubectl cp`).
    drained: Arc<AtomicU64>,
}

#[derive(Clone)]
struct App {
    record: Arc<Record>,
    authn: Arc<Authenticator>,
    server_address: String,
    impersonators: Arc<Vec<String>>,
}

/// Stopped on drop.
pub struct ApiServer {
    ca_pem: String,
    record: Arc<Record>,
    authn: Arc<Authenticator>,
    server: TlsServer,
}

impl ApiServer {
    /// Starts on 127.0.0.1 (free port) on its own runtime thread; ready to
    /// accept connections when this returns.
    pub fn start(opts: ApiServerOptions) -> ApiServer {
        let ca = TestCa::new("kaccess test apiserver CA");
        let (authn, client_verifier) = Authenticator::new(&opts);
        let authn = Arc::new(authn);
        let config = tls_config(&ca.issue_server(), client_verifier);
        let record = Arc::new(Record::default());
        let app = App {
            record: record.clone(),
            authn: authn.clone(),
            server_address: String::new(),
            impersonators: Arc::new(opts.impersonators.clone()),
        };
        let server = TlsServer::start(config, move |addr| {
            router(App {
                server_address: addr.to_string(),
                ..app
            })
        });
        ApiServer {
            ca_pem: ca.cert_pem(),
            record,
            authn,
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

    /// Bytes every `tar` exec read from its stdin so far.
    pub fn tar_bytes(&self) -> u64 {
        self.record.drained.load(Ordering::SeqCst)
    }

    /// TokenReviews sent to the webhook.
    pub fn token_reviews(&self) -> usize {
        self.authn.reviews.load(Ordering::SeqCst)
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
            "/api/v1/namespaces/{ns}/configmaps",
            get(events::watch_configmaps),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/exec",
            get(streams::exec).post(streams::exec),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            get(streams::exec).post(streams::exec),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            get(spdy_streams::portforward).post(spdy_streams::portforward),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(logs::log))
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
    let Some(user) = app.authn.identify(tls.as_deref(), req.headers()).await else {
        app.record.refused.fetch_add(1, Ordering::SeqCst);
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };
    let (user, impersonator) = match impersonation::apply(user, req.headers(), &app.impersonators) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    app.record.calls.lock().unwrap().push(Call {
        impersonator,
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
