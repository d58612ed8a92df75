//! The live feed: every record, once sealed and durable, is published on
//! a bounded broadcast channel for `kaccess admin watch` and the alert
//! rules. Publishing never waits: a subscriber that falls more than
//! [`CAPACITY`] records behind loses the oldest and is told how many
//! (`broadcast::error::RecvError::Lagged`), and the writer goes on. A
//! record is published only after the sink made it durable, so nothing on
//! the feed can be missing from the chain.

use super::AuditRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::broadcast;

/// Records a subscriber may fall behind before it starts losing them.
pub const CAPACITY: usize = 4096;

/// One record as the chain holds it.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub record: AuditRecord,
    /// Its line in the chain (canonical JSON, no newline): what `-o json`
    /// prints, so a watcher can check its hash.
    pub line: String,
    /// Written by this broker (not by another replica on the same
    /// database): only these are evaluated for alerts, so a match alerts
    /// once however many replicas see it.
    pub local: bool,
}

/// The sending side, shared by the sink that writes and the handlers that
/// subscribe.
#[derive(Debug, Clone)]
pub struct Tap {
    tx: broadcast::Sender<Arc<Tapped>>,
    /// People following the feed (not the alert rules): only for them are
    /// other replicas' records fetched.
    watchers: Arc<AtomicUsize>,
}

/// Held while a person follows the feed.
#[derive(Debug)]
pub struct Watching(Arc<AtomicUsize>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Tap {
    fn default() -> Self {
        Tap::new()
    }
}

impl Tap {
    pub fn new() -> Tap {
        Tap {
            tx: broadcast::channel(CAPACITY).0,
            watchers: Arc::default(),
        }
    }

    /// Counts a person watching until the guard is dropped.
    pub fn watching(&self) -> Watching {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watching(self.watchers.clone())
    }

    /// True while someone watches (see [`Tap::watching`]).
    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// True when someone listens: the writer skips copying records
    /// otherwise.
    pub fn wanted(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes a durable record; never blocks.
    pub fn publish(&self, record: AuditRecord, line: String, local: bool) {
        if self.wanted() {
            let _ = self.tx.send(Arc::new(Tapped {
                record,
                line,
                local,
            }));
        }
    }

    /// Records published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Tapped>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    fn rec(n: usize) -> AuditRecord {
        AuditRecord {
            outcome: format!("n{n}"),
            ..AuditRecord::new("exchange")
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_lags_is_told_how_many_it_missed_and_the_writer_never_waits() {
        let tap = Tap::new();
        let mut slow = tap.subscribe();
        // Far more than the channel holds, published without anyone
        // reading: every publish returns at once.
        let extra = 10;
        for n in 0..CAPACITY + extra {
            tap.publish(rec(n), String::new(), true);
        }
        match slow.recv().await {
            Err(RecvError::Lagged(missed)) => assert_eq!(missed, extra as u64),
            other => panic!("expected a lag report, got {other:?}"),
        }
        let next = slow.recv().await.unwrap();
        assert_eq!(next.record.outcome, format!("n{extra}"));
    }

    #[tokio::test]
    async fn nothing_is_kept_for_a_feed_nobody_follows() {
        let tap = Tap::new();
        assert!(!tap.wanted());
        let person = tap.watching();
        assert!(tap.watched());
        drop(person);
        assert!(!tap.watched());
        tap.publish(rec(0), String::new(), true);
        let mut late = tap.subscribe();
        tap.publish(rec(1), "line".into(), true);
        let got = late.recv().await.unwrap();
        assert_eq!(
            (got.record.outcome.as_str(), got.line.as_str()),
            ("n1", "line")
        );
    }
}
