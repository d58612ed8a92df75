//! Session recordings: every `exec` and `attach` through the proxy, under
//! the cluster's `record:` policy, is written as an asciicast v2 file
//! beside the audit log, `recordings/SESSION/REQUEST.cast` (dirs 0700,
//! files 0600). The stream's `finished` record names the file with its
//! final SHA-256 and size, so `kaccess audit verify` tells a changed one.
//!
//! The relay only stamps each message and hands it over a bounded queue;
//! a writer task formats, hashes and writes it through a buffer, so the
//! stream waits on the disk only when the writer falls a queue behind.
//!
//! - `channel`: the channel protocol, and what can be recorded
//! - `asciicast`: the file's lines
//! - `relay`: the WebSocket relay between client and apiserver

pub mod asciicast;
pub mod channel;
pub mod plan;
pub mod relay;

use crate::audit::record::Recording;
use asciicast::{Cast, Header};
use channel::Channel;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The directory under the audit log's that holds recordings.
pub const DIR: &str = "recordings";

/// Messages queued between the relay and the writer.
const QUEUE: usize = 1024;
/// The writer's buffer.
const BUFFER: usize = 64 * 1024;

enum Event {
    Data {
        at: f64,
        channel: Channel,
        data: bytes::Bytes,
    },
}

/// The file a stream is being recorded into.
pub struct Recorder {
    tx: mpsc::Sender<Event>,
    start: OnceLock<Instant>,
    /// When the writer ends: the file's reference, or why it failed.
    done: JoinHandle<Result<Recording, String>>,
    path: PathBuf,
}

/// `recordings/SESSION/REQUEST.cast`, when both ids are plain hex (they
/// are the broker's own; anything else must not become a path).
pub fn relative_path(session: &str, request: &str) -> Option<String> {
    let hex = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(session) && hex(request)).then(|| format!("{DIR}/{session}/{request}.cast"))
}

fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl Recorder {
    /// Creates the file under `audit_dir` (blocking: a few syscalls,
    /// before the request is forwarded) and starts its writer.
    pub fn create(
        audit_dir: &Path,
        session: &str,
        request: &str,
        header: Header,
    ) -> Result<Recorder, String> {
        let rel = relative_path(session, request)
            .ok_or_else(|| format!("session `{session}` or request `{request}` is not an id"))?;
        let path = audit_dir.join(&rel);
        let parent = path.parent().unwrap_or(audit_dir);
        private_dir(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let done = tokio::spawn(write(
            tokio::fs::File::from_std(file),
            rx,
            Cast::new(header),
            rel,
            path.clone(),
        ));
        Ok(Recorder {
            tx,
            start: OnceLock::new(),
            done,
            path,
        })
    }

    /// The stream began: event times count from now.
    pub fn begin(&self) {
        let _ = self.start.set(Instant::now());
    }

    /// Queues one message; false once the writer has failed.
    pub async fn record(&self, channel: Channel, data: &[u8]) -> bool {
        let at = self.start.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
        let event = Event::Data {
            at,
            channel,
            data: bytes::Bytes::copy_from_slice(data),
        };
        self.tx.send(event).await.is_ok()
    }

    /// Ends the recording; resolves once the file is complete on disk.
    pub fn close(self) -> JoinHandle<Result<Recording, String>> {
        drop(self.tx);
        self.done
    }

    /// The stream never began (no upgrade): the file goes.
    pub fn discard(self) {
        let path = self.path.clone();
        let done = self.close();
        tokio::spawn(async move {
            let _ = done.await;
            let _ = tokio::fs::remove_file(&path).await;
        });
    }
}

/// The writer: formats, hashes and writes each event; at the end, the
/// rest, then flush and fsync.
async fn write(
    file: tokio::fs::File,
    mut rx: mpsc::Receiver<Event>,
    mut cast: Cast,
    rel: String,
    path: PathBuf,
) -> Result<Recording, String> {
    let fail = |e: std::io::Error| format!("cannot write the recording `{}`: {e}", path.display());
    cast.set_timestamp(time::OffsetDateTime::now_utc().unix_timestamp());
    let mut out = tokio::io::BufWriter::with_capacity(BUFFER, file);
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut last = 0.0;
    while let Some(event) = rx.recv().await {
        let Event::Data { at, channel, data } = event;
        last = at;
        line.clear();
        cast.push(at, channel, &data, &mut line);
        hash.update(&line);
        size += line.len() as u64;
        out.write_all(&line).await.map_err(fail)?;
    }
    line.clear();
    cast.finish(last, &mut line);
    hash.update(&line);
    size += line.len() as u64;
    out.write_all(&line).await.map_err(fail)?;
    out.flush().await.map_err(fail)?;
    out.get_ref().sync_all().await.map_err(fail)?;
    Ok(Recording {
        file: rel,
        sha256: hex::encode(hash.finalize()),
        size,
    })
}

/// Checks a recording against its record: the file under `audit_dir`
/// must exist with exactly that size and SHA-256.
pub fn check(audit_dir: &Path, rec: &Recording) -> Result<(), String> {
    let rel = Path::new(&rec.file);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "the recording `{}` is not a plain path under the audit log's directory",
            rec.file
        ));
    }
    let path = audit_dir.join(rel);
    let data = std::fs::read(&path)
        .map_err(|e| format!("the recording `{}` cannot be read: {e}", path.display()))?;
    if data.len() as u64 != rec.size {
        return Err(format!(
            "the recording `{}` has {} bytes but its record says {} (the file was changed)",
            path.display(),
            data.len(),
            rec.size
        ));
    }
    let sha = hex::encode(Sha256::digest(&data));
    if sha != rec.sha256 {
        return Err(format!(
            "the recording `{}` hashes to {sha} but its record says {} (the file was changed)",
            path.display(),
            rec.sha256
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_recording_is_private_and_its_reference_holds_the_final_digest_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let session = "ab".repeat(16);
        let r = Recorder::create(dir.path(), &session, "0123abcd", Header::default()).unwrap();
        r.begin();
        assert!(r.record(Channel::Stdout, b"hello\n").await);
        assert!(r.record(Channel::Stdin, b"x").await);
        let rec = r.close().await.unwrap().unwrap();
        assert_eq!(rec.file, format!("recordings/{session}/0123abcd.cast"));
        let path = dir.path().join(&rec.file);
        let data = std::fs::read(&path).unwrap();
        assert_eq!(rec.size, data.len() as u64);
        assert_eq!(data.iter().filter(|b| **b == b'\n').count(), 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join(DIR)), 0o700);
        check(dir.path(), &rec).unwrap();

        let mut edited = data.clone();
        edited[data.len() - 3] = b'X';
        std::fs::write(&path, &edited).unwrap();
        let why = check(dir.path(), &rec).unwrap_err();
        assert!(
            why.contains("0123abcd.cast") && why.contains("changed"),
            "{why}"
        );
        let escape = Recording {
            file: "../x".into(),
            ..rec
        };
        assert!(
            check(dir.path(), &escape)
                .unwrap_err()
                .contains("plain path")
        );
    }

    #[test]
    fn ids_that_are_not_hex_make_no_path() {
        assert!(relative_path("../etc", "01").is_none());
        assert!(relative_path("ab", "").is_none());
        assert_eq!(relative_path("ab", "01").unwrap(), "recordings/ab/01.cast");
    }
}
