//! [`AuditLog`]: where the broker appends records, whatever holds them (a
//! file on one broker; the shared database behind many). Every sink keeps
//! the same promise: `append` returns only once the record is durable, and
//! an error means it is not, so the caller must not send the answer the
//! record describes.

use super::AuditRecord;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write the audit log `{path}`: {cause}")]
    Write { path: PathBuf, cause: String },
    #[error(
        "the audit log `{path}` is in an unknown state after a failed write ({cause}); \
         fix it, check it with `kaccess audit verify`, and restart the broker"
    )]
    Poisoned { path: PathBuf, cause: String },
    #[error("cannot write the audit chain to the database: {0}")]
    Database(String),
    #[error("the audit log is closed (the broker is shutting down)")]
    Closed,
}

/// What a reopen did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    /// Nothing to rotate (the path still names the open file, or the sink
    /// is not a file): the writer goes on as before.
    Unchanged,
    /// A new file was started, its first line chained to the old file.
    Rotated,
}

/// A durable, ordered home for the chain.
pub trait AuditSink: Send + Sync {
    /// Seals `record` into the chain and returns once it is durable.
    fn append(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), AuditError>>;
    /// Like `append`, for a record nothing is held back for (the end of
    /// a proxied request, written after its answer was sent): its sync
    /// may wait a little to ride another record's. Sinks that do not
    /// batch that way append it as any other.
    fn append_soon(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), AuditError>> {
        self.append(record)
    }
    /// After an operator renamed the file (SIGHUP). Sinks that are not
    /// files answer `Unchanged`.
    fn reopen(&self) -> BoxFuture<'_, Result<Reopened, AuditError>> {
        Box::pin(async { Ok(Reopened::Unchanged) })
    }
    /// Makes what is queued durable, then refuses further appends.
    /// Blocking.
    fn shutdown(&self);
    /// Where the records go, for logs (`/var/lib/kaccess/audit.jsonl`,
    /// `postgresql`).
    fn describe(&self) -> String;
}

/// The handle the broker's handlers share.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<dyn AuditSink>,
    /// Where the sink publishes what it made durable.
    tap: super::Tap,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("sink", &self.sink.describe())
            .finish()
    }
}

impl AuditLog {
    /// `tap` must be the one `sink` publishes on.
    pub fn new(sink: Arc<dyn AuditSink>, tap: super::Tap) -> Arc<AuditLog> {
        Arc::new(AuditLog { sink, tap })
    }

    /// The JSON-lines file at `path` (created 0600), its chain continued.
    pub fn open(path: &std::path::Path, also_stdout: bool) -> anyhow::Result<Arc<AuditLog>> {
        let tap = super::Tap::new();
        let sink = super::file::FileSink::open(path, also_stdout, tap.clone())?;
        Ok(AuditLog::new(Arc::new(sink), tap))
    }

    /// Every record made durable from now on, in chain order.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<super::Tapped>> {
        self.tap.subscribe()
    }

    /// The feed itself (for a replica's follower of the shared chain).
    pub fn tap(&self) -> &super::Tap {
        &self.tap
    }

    /// Appends `record` and returns once it is durable.
    pub async fn append(&self, record: AuditRecord) -> Result<(), AuditError> {
        self.sink.append(record).await
    }

    /// Appends `record`, whose sync may ride a later record's (at most
    /// [`super::file::SOON`] later); returns once it is durable.
    pub async fn append_soon(&self, record: AuditRecord) -> Result<(), AuditError> {
        self.sink.append_soon(record).await
    }

    pub async fn reopen(&self) -> Result<Reopened, AuditError> {
        self.sink.reopen().await
    }

    /// Makes what is queued durable, then stops. Later appends fail.
    /// Blocking.
    pub fn shutdown(&self) {
        self.sink.shutdown()
    }

    pub fn describe(&self) -> String {
        self.sink.describe()
    }
}
