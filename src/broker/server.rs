//! The HTTP side: [`AppState`] built from the config, [`app`] the router,
//! and [`serve`]: HTTPS with rustls (plain HTTP only on loopback with
//! `insecure-http: true`), graceful shutdown on SIGTERM/SIGINT (in-flight
//! requests finish, then the audit log is synced and closed).

use super::ca::ClusterCa;
use super::config::BrokerConfig;
use super::error::AppError;
use super::keys::IssuerKeys;
use super::metrics::Metrics;
use super::{admin, exchange, requests, review, revoke, watch};
use crate::audit::AuditLog;
use crate::http::OidcHttp;
use crate::protocol::{
    AUDIT_WATCH_PATH, EXCHANGE_PATH, ErrorCode, HEALTHZ_PATH, METRICS_PATH, REQUESTS_PATH,
    SESSIONS_PATH, TOKENREVIEW_PATH,
};
use crate::store::Store;
use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// What `broker.yaml` says now; SIGHUP swaps it (`reload`).
    live: ArcSwap<LiveConfig>,
    /// Where the config came from; `None` when built in memory (tests).
    pub config_path: Option<PathBuf>,
    pub store: Arc<Store>,
    pub audit: Arc<AuditLog>,
    pub metrics: Metrics,
    http: OidcHttp,
    /// Set at shutdown: the live audit feeds end instead of holding the
    /// drain.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Bumped by every reload, for tasks that follow the configuration
    /// (the alert evaluator follows the audit feed only while rules exist).
    reloaded: tokio::sync::watch::Sender<u64>,
}

/// The configuration and what is built from it: one consistent snapshot
/// for the whole of a request, even when a reload lands meanwhile.
#[derive(Debug)]
pub struct LiveConfig {
    pub config: BrokerConfig,
    pub issuers: Vec<Arc<IssuerKeys>>,
    pub cas: HashMap<String, ClusterCa>,
}

pub type Shared = Arc<AppState>;

impl LiveConfig {
    /// Loads the CAs and sets up the issuers; an issuer whose settings are
    /// unchanged in `previous` keeps its key cache. Blocking (reads files).
    pub fn build(
        config: BrokerConfig,
        previous: Option<&LiveConfig>,
        http: &OidcHttp,
    ) -> Result<LiveConfig> {
        let cas = load_cas(&config)?;
        let issuers = config
            .issuers
            .iter()
            .map(|i| {
                previous
                    .and_then(|p| p.issuers.iter().find(|k| k.config == *i))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(IssuerKeys::new(i.clone(), http.clone())))
            })
            .collect();
        Ok(LiveConfig {
            config,
            issuers,
            cas,
        })
    }
}

/// Every cluster's CA, by cluster name. Blocking (reads files).
pub fn load_cas(config: &BrokerConfig) -> Result<HashMap<String, ClusterCa>> {
    config
        .clusters
        .iter()
        .map(|(name, c)| {
            let ca = ClusterCa::load(&c.ca.cert_file, &c.ca.key_file)
                .with_context(|| format!("cannot load the CA of cluster `{name}`"))?;
            Ok((name.clone(), ca))
        })
        .collect()
}

impl AppState {
    /// Loads CAs, opens the state database and the audit log (migrating a
    /// PostgreSQL schema first).
    pub async fn open(config: BrokerConfig, config_path: Option<PathBuf>) -> Result<AppState> {
        let (store, audit) = open_state(&config).await?;
        let http = OidcHttp(crate::http::client(Vec::new())?);
        let live = {
            let http = http.clone();
            tokio::task::spawn_blocking(move || LiveConfig::build(config, None, &http)).await??
        };
        Ok(AppState {
            live: ArcSwap::from_pointee(live),
            config_path,
            store,
            audit,
            metrics: Metrics::default(),
            http,
            stopping: tokio::sync::watch::channel(false).0,
            reloaded: tokio::sync::watch::channel(0).0,
        })
    }

    /// The configuration in force; hold it for the whole request.
    pub fn live(&self) -> Arc<LiveConfig> {
        self.live.load_full()
    }

    /// Puts `next` in force for requests that start from now on.
    pub fn replace_live(&self, next: LiveConfig) {
        self.live.store(Arc::new(next));
        self.reloaded.send_modify(|n| *n += 1);
    }

    /// Changes each time a reload puts a new configuration in force.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloaded.subscribe()
    }

    pub fn http(&self) -> &OidcHttp {
        &self.http
    }
}

/// The state store and the audit log the configuration names: a SQLite
/// file and an audit file, or one PostgreSQL database holding both.
async fn open_state(config: &BrokerConfig) -> Result<(Arc<Store>, Arc<AuditLog>)> {
    use super::config::StateConfig;
    let stdout = config.audit.stdout;
    match &config.state {
        StateConfig::Sqlite(path) => {
            let path = path.clone();
            let file = config
                .audit
                .file
                .clone()
                .context("`audit.file` is missing")?;
            tokio::task::spawn_blocking(move || {
                Ok((Store::open_sqlite(&path)?, AuditLog::open(&file, stdout)?))
            })
            .await?
        }
        StateConfig::Postgres(pg) => {
            let opened = crate::store::postgres::open(pg).await?;
            let tap = crate::audit::Tap::new();
            let sink = crate::store::postgres::audit::PgAuditSink::start(
                opened.pool,
                stdout,
                tap.clone(),
                opened.replica.clone(),
            );
            tokio::spawn(crate::store::postgres::audit_feed::run(
                opened.connector,
                opened.replica,
                tap.clone(),
            ));
            let store = Store::new(Arc::new(opened.backend), opened.snapshot, pg.max_staleness);
            Ok((store, AuditLog::new(Arc::new(sink), tap)))
        }
    }
}

/// The broker's routes.
pub fn app(state: Shared) -> Router {
    Router::new()
        .route(EXCHANGE_PATH, post(exchange::handle))
        .route("/v1/sessions/{id}/revoke", post(revoke::handle))
        .route(SESSIONS_PATH, get(admin::list))
        .route(AUDIT_WATCH_PATH, get(watch::handle))
        .route(REQUESTS_PATH, post(requests::file).get(requests::list))
        .route("/v1/requests/{id}", get(requests::show))
        .route("/v1/requests/{id}/approve", post(requests::approve))
        .route("/v1/requests/{id}/deny", post(requests::deny))
        .route("/v1/requests/{id}/cancel", post(requests::cancel))
        .route(TOKENREVIEW_PATH, post(review::handle))
        .route("/v1/tokenreview/{cluster}", post(review::handle_cluster))
        .route(super::recordings::PATH, get(super::recordings::serve))
        .route(HEALTHZ_PATH, get(healthz))
        .route(METRICS_PATH, get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// Ready only while this replica's state can be trusted: with a shared
/// database that is unreachable it answers 503, so Kubernetes stops
/// routing to it until the store recovers by itself.
async fn healthz(State(st): State<Shared>) -> (StatusCode, String) {
    match st.store.health() {
        crate::store::Health::Ready => (StatusCode::OK, "ok\n".into()),
        crate::store::Health::Degraded { since } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the state database has been unreachable for {}s\n",
                since.as_secs()
            ),
        ),
    }
}

async fn metrics(State(st): State<Shared>) -> impl IntoResponse {
    let active = st.store.active_sessions(OffsetDateTime::now_utc());
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        st.metrics.render(active),
    )
}

async fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::BadRequest,
        "no such endpoint",
    )
}

/// How often expired tokens and old sessions are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often pending requests past their `request-ttl` are marked lapsed.
const LAPSE_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for in-flight requests at shutdown.
const DRAIN: Duration = Duration::from_secs(20);

/// Runs the broker until SIGTERM/SIGINT. Prints
/// `kaccess: listening on URL` to stderr once it accepts connections.
/// `config_path` is where SIGHUP re-reads the configuration from.
pub async fn serve(config: BrokerConfig, config_path: Option<PathBuf>) -> Result<()> {
    crate::http::install_crypto_provider();
    let listen = config.listen;
    let tls = if config.insecure_http {
        None
    } else {
        let files = config.tls.clone().context("`tls` is missing")?;
        Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert_file, &files.key_file)
                .await
                .with_context(|| {
                    format!(
                        "cannot load the TLS certificate `{}` and key `{}`",
                        files.cert_file.display(),
                        files.key_file.display()
                    )
                })?,
        )
    };
    let tls_files = config.tls.clone();
    let state: Shared = Arc::new(AppState::open(config, config_path).await?);

    // Discover every issuer now, without waiting: an IdP that is down
    // must not keep the broker from starting.
    for issuer in state.live().issuers.clone() {
        tokio::spawn(async move {
            let _ = issuer.refresh().await;
        });
    }
    let pruner = {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = st.store.prune(OffsetDateTime::now_utc()).await {
                    tracing::warn!(error = format!("{e:#}"), "cannot prune expired state");
                }
            }
        })
    };

    // Lapses are announced within seconds, not at the next prune; the
    // sweep is a scan of the (small) request index, no I/O unless due.
    let lapser = {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LAPSE_EVERY);
            loop {
                tick.tick().await;
                requests::sweep(&st, OffsetDateTime::now_utc()).await;
            }
        })
    };

    let alerter = super::alerts::start(state.clone());
    let reloader = tokio::spawn(super::signals::reload_on_hangup(
        state.clone(),
        tls.clone().zip(tls_files),
    ));
    let proxies = {
        let live = state.live();
        crate::proxy::start_all(
            &live.config,
            &live.cas,
            state.store.clone(),
            state.audit.clone(),
            state.metrics.proxy.clone(),
        )
        .await?
    };

    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on `{listen}`"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        let st = state.clone();
        tokio::spawn(async move {
            super::signals::shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            st.stopping.send_replace(true);
            handle.graceful_shutdown(Some(DRAIN));
        });
    }
    let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("kaccess: listening on {scheme}://{bound}");
    tracing::info!(%bound, scheme, "broker listening");
    // Header limits big enough for the largest bearer the broker accepts,
    // so an oversized one is refused (and audited) by the broker, not by
    // hyper: HTTP/2's default header list limit is 16 KiB. Stalled clients
    // must not hold connections for ever.
    macro_rules! tuned {
        ($server:expr) => {{
            let mut server = $server;
            let b = server.http_builder();
            b.http2()
                .max_header_list_size((crate::protocol::MAX_BEARER_BYTES * 4) as u32);
            b.http1().header_read_timeout(Some(Duration::from_secs(30)));
            server
        }};
    }
    match tls {
        Some(tls) => {
            tuned!(axum_server::from_tcp_rustls(listener, tls)?.handle(handle))
                .serve(service)
                .await
        }
        None => {
            tuned!(axum_server::from_tcp(listener)?.handle(handle))
                .serve(service)
                .await
        }
    }
    .context("the server failed")?;
    pruner.abort();
    lapser.abort();
    reloader.abort();
    alerter.abort();
    for p in proxies {
        p.abort();
    }
    let audit = state.audit.clone();
    tokio::task::spawn_blocking(move || audit.shutdown()).await?;
    tracing::info!("broker stopped; audit log synced");
    Ok(())
}
