//! The shared backend: many broker replicas on one PostgreSQL database.
//!
//! - `config`: `state: {postgres: ...}` and the URL's `sslmode`
//! - `tls`: verified TLS with the project's rustls and ring
//! - `migrate`: the versioned schema, migrated at start under a lock
//! - `rows`: the model's values as rows
//! - `commit`: group commit, with one NOTIFY per change
//! - `wire`: the NOTIFY payload
//! - `feed`: the LISTEN connection, loss and resynchronisation
//! - `audit`, `export`: the audit chain in the database; `audit_feed`:
//!   the other replicas' records on this replica's live feed
//! - `import`: `kaccess serve --migrate-state` (a snapshot into an empty database)
//!
//! Reviews never wait on the database: the store answers them from its
//! cache, which this backend's feed keeps current; only a credential this
//! replica has not heard of yet is looked up ([`Backend::fetch_credential`]).

pub mod audit;
pub mod audit_feed;
mod commit;
pub mod config;
pub mod export;
mod feed;
pub mod import;
pub mod migrate;
mod rows;
mod tls;
mod transient;
mod wire;

pub use config::PostgresConfig;

use super::backend::{Backend, BoxFuture, FeedEvent};
use super::model::{Change, CredentialEntry, CredentialKey, Session, Snapshot};
use anyhow::{Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How to reach the database: settings, TLS, a name for messages.
#[derive(Clone)]
pub struct Connector {
    pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    pub describe: String,
}

type RawConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

impl Connector {
    /// Reads the password and CA files. Blocking (small files).
    pub fn new(cfg: &PostgresConfig) -> Result<Connector> {
        let target = cfg.target()?;
        let tls = tls::connector(target.tls, cfg.ca_file.as_deref())?;
        Ok(Connector {
            pg: target.pg,
            tls,
            describe: target.describe,
        })
    }

    /// A connection whose driver the caller polls (the LISTEN one).
    async fn raw(&self) -> Result<(Client, RawConnection)> {
        self.pg.connect(self.tls.clone()).await.with_context(|| {
            format!(
                "cannot connect to the state database `{}` (check that it is up, the URL, \
                 `password-file` and `ca-file`)",
                self.describe
            )
        })
    }

    /// A connection of its own, driven on the runtime.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.raw().await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn pool(&self, size: usize) -> Result<Pool> {
        let manager = Manager::from_config(
            self.pg.clone(),
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .context("cannot set up the database connection pool")
    }
}

/// What the broker gets at start.
pub struct Opened {
    pub backend: PostgresBackend,
    pub snapshot: Snapshot,
    /// Shared with the audit sink.
    pub pool: Pool,
    /// This replica's name in NOTIFY payloads.
    pub replica: String,
    /// For the audit relay's own connection.
    pub connector: Connector,
}

pub struct PostgresBackend {
    pool: Pool,
    committer: commit::Committer,
    feed: Mutex<Option<mpsc::UnboundedReceiver<FeedEvent>>>,
    describe: String,
}

/// Migrates the schema (under the lock), starts LISTENing, reads what is
/// live, starts the writer. Needs a Tokio runtime.
pub async fn open(cfg: &PostgresConfig) -> Result<Opened> {
    let connector = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || Connector::new(&cfg)).await??
    };
    let mut client = connector.connect().await?;
    migrate::migrate(&mut client)
        .await
        .with_context(|| format!("cannot prepare the state database `{}`", connector.describe))?;
    drop(client);
    let pool = connector.pool(cfg.pool_size)?;
    let (listener, snapshot) = feed::Listener::start(&connector).await?;
    // Tells this replica's own notifications from the others'.
    let replica = hex::encode(rand::random::<[u8; 8]>());
    let (tx, rx) = mpsc::unbounded_channel();
    let describe = connector.describe.clone();
    tokio::spawn(feed::run(listener, connector.clone(), replica.clone(), tx));
    let backend = PostgresBackend {
        pool: pool.clone(),
        committer: commit::Committer::spawn(pool.clone(), replica.clone()),
        feed: Mutex::new(Some(rx)),
        describe,
    };
    Ok(Opened {
        backend,
        snapshot,
        pool,
        replica,
        connector,
    })
}

/// A review of a token this replica has not heard of waits at most this
/// long on the database, then is refused (the apiserver's webhook timeout
/// is longer).
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

async fn bounded<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| {
            anyhow::anyhow!("the state database did not answer within {FETCH_TIMEOUT:?}")
        })?
}

/// A connection without migrating, and the schema version found (a newer
/// schema than this broker's refused): for `kaccess serve --check` and the
/// audit commands. Returns the database's description too.
pub async fn connect_checked(cfg: &PostgresConfig) -> Result<(Client, String, i32)> {
    let connector = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || Connector::new(&cfg)).await??
    };
    let client = connector.connect().await?;
    let version = migrate::check_version(&client).await?;
    Ok((client, connector.describe, version))
}

impl Backend for PostgresBackend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn commit(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.committer.commit(changes))
    }

    fn shared(&self) -> bool {
        true
    }

    fn fetch_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Session>>> {
        Box::pin(bounded(async move {
            let client = self.pool.get().await?;
            rows::fetch_session(&**client, id).await
        }))
    }

    fn fetch_credential<'a>(
        &'a self,
        key: &'a CredentialKey,
    ) -> BoxFuture<'a, Result<Option<CredentialEntry>>> {
        Box::pin(bounded(async move {
            let client = self.pool.get().await?;
            rows::fetch_credential(&**client, key).await
        }))
    }

    fn fetch_request<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::requests::AccessRequest>>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            rows::fetch_request(&**client, id).await
        })
    }

    fn take_feed(&self) -> Option<mpsc::UnboundedReceiver<FeedEvent>> {
        self.feed.lock().ok()?.take()
    }
}
