use super::*;
use crate::audit::verify::verify_file;
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

fn rec(event: &str, n: usize) -> AuditRecord {
    AuditRecord {
        outcome: "issued".into(),
        username: Some(format!("user{n}")),
        idp_groups: Some(vec!["sre".into()]),
        ..AuditRecord::new(event)
    }
}

#[test]
fn canonical_form_sorts_keys_at_every_level() {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#).unwrap();
    assert_eq!(
        canonical_json(&v),
        r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
    );
}

#[tokio::test]
async fn concurrent_appends_form_one_chain_that_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, false).unwrap();
    let mut tasks = Vec::new();
    for n in 0..100 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.append(rec("exchange", n)).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    log.shutdown();
    let log = AuditLog::open(&path, false).unwrap();
    log.append(rec("revoke", 999)).await.unwrap();
    log.shutdown();
    let report = verify_file(&path).unwrap();
    assert_eq!(report.lines, 101);
    assert_eq!(report.broken, None);
    let text = std::fs::read_to_string(&path).unwrap();
    for n in 0..100 {
        assert_eq!(text.matches(&format!("\"user{n}\"")).count(), 1);
    }
}

#[tokio::test]
async fn a_torn_last_line_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, false).unwrap();
    log.append(rec("exchange", 1)).await.unwrap();
    log.shutdown();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"event\":\"exch").unwrap();
    drop(f);
    let log = AuditLog::open(&path, false).unwrap();
    log.append(rec("exchange", 2)).await.unwrap();
    log.shutdown();
    let report = verify_file(&path).unwrap();
    assert_eq!((report.lines, report.broken), (2, None));
}

#[tokio::test]
async fn a_full_disk_refuses_the_record() {
    let path = Path::new("/dev/full");
    if !path.exists() {
        return;
    }
    let log = AuditLog::open(path, false).unwrap();
    let err = log.append(rec("exchange", 1)).await.unwrap_err();
    assert!(matches!(err, AuditError::Write { .. }), "{err}");
    assert!(err.to_string().contains("/dev/full"), "{err}");
    log.shutdown();
    assert!(matches!(
        log.append(rec("exchange", 2)).await.unwrap_err(),
        AuditError::Closed
    ));
}

#[tokio::test]
async fn reopen_after_a_rename_starts_a_chained_file_and_is_a_no_op_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let old = dir.path().join("audit.jsonl.1");
    let log = AuditLog::open(&path, false).unwrap();
    log.append(rec("exchange", 1)).await.unwrap();
    assert_eq!(log.reopen().await.unwrap(), Reopened::Unchanged);

    std::fs::rename(&path, &old).unwrap();
    log.append(rec("exchange", 2)).await.unwrap();
    assert_eq!(log.reopen().await.unwrap(), Reopened::Rotated);
    log.append(rec("exchange", 3)).await.unwrap();
    log.shutdown();

    let old_text = std::fs::read_to_string(&old).unwrap();
    let new_text = std::fs::read_to_string(&path).unwrap();
    assert!(
        old_text.contains("\"user2\""),
        "until reopen, the renamed file"
    );
    assert!(new_text.contains("\"user3\"") && !new_text.contains("\"user2\""));
    let reports = crate::audit::verify::verify_files(&[old, path]).unwrap();
    assert!(
        reports.iter().all(|(_, r)| r.broken.is_none()),
        "{reports:?}"
    );
    assert_eq!(reports[1].1.lines, 2, "rotation record, then user3");
}

#[tokio::test]
async fn reopen_refuses_a_foreign_file_at_the_path_and_keeps_writing_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let old = dir.path().join("audit.jsonl.1");
    let log = AuditLog::open(&path, false).unwrap();
    log.append(rec("exchange", 1)).await.unwrap();
    std::fs::rename(&path, &old).unwrap();
    std::fs::write(&path, "someone else's line\n").unwrap();

    let err = log.reopen().await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    log.append(rec("exchange", 2)).await.unwrap();
    log.shutdown();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "someone else's line\n"
    );
    let report = verify_file(&old).unwrap();
    assert_eq!((report.lines, report.broken), (2, None));
}

#[tokio::test]
async fn the_live_feed_carries_each_durable_record_in_chain_order_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, false).unwrap();
    let mut feed = log.subscribe();
    for n in 0..5 {
        log.append(rec("exchange", n)).await.unwrap();
    }
    log.shutdown();
    let file = std::fs::read_to_string(&path).unwrap();
    let mut prev = GENESIS.to_string();
    for (n, line) in file.lines().enumerate() {
        let got = feed.recv().await.unwrap();
        assert_eq!(got.line, line, "the feed holds the chain's own line");
        assert_eq!(got.record.username.as_deref(), Some(&*format!("user{n}")));
        assert_eq!(got.record.prev, prev);
        assert!(got.local);
        prev = got.record.hash.clone();
    }
}

#[tokio::test]
async fn a_record_that_could_not_be_written_never_reaches_the_feed() {
    let log = AuditLog::open(Path::new("/dev/full"), false).unwrap();
    let mut feed = log.subscribe();
    assert!(log.append(rec("exchange", 1)).await.is_err());
    log.shutdown();
    assert!(matches!(
        feed.try_recv(),
        Err(tokio::sync::broadcast::error::TryRecvError::Empty)
            | Err(tokio::sync::broadcast::error::TryRecvError::Closed)
    ));
}

fn log_with_soon(path: &Path, soon: std::time::Duration) -> std::sync::Arc<AuditLog> {
    let tap = Tap::new();
    let sink = file::FileSink::open_with(path, false, tap.clone(), soon).unwrap();
    AuditLog::new(std::sync::Arc::new(sink), tap)
}

/// Polls `f` until it holds; the writer thread works on its own time.
async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the condition did not hold within 5 s");
}

#[tokio::test]
async fn a_soon_record_is_written_at_once_and_acked_with_the_next_record_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // Far longer than the test: only another record's sync can ack them.
    let log = log_with_soon(&path, std::time::Duration::from_secs(3600));
    let mut feed = log.subscribe();
    let soon: Vec<_> = (0..3)
        .map(|n| {
            let log = log.clone();
            tokio::spawn(async move { log.append_soon(rec("proxy", n)).await })
        })
        .collect();
    until(|| std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 3)).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        soon.iter().all(|t| !t.is_finished()),
        "written, but not synced: not acked yet"
    );
    assert!(
        feed.try_recv().is_err(),
        "the feed carries only synced records"
    );
    log.append(rec("exchange", 9)).await.unwrap();
    for t in soon {
        t.await.unwrap().unwrap();
    }
    let names: Vec<_> = (0..4)
        .map(|_| feed.try_recv().unwrap().record.username.clone().unwrap())
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("user9"));
    log.shutdown();
    let report = verify_file(&path).unwrap();
    assert_eq!((report.lines, report.broken), (4, None));
}

#[tokio::test]
async fn a_soon_record_alone_is_synced_after_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = log_with_soon(&path, std::time::Duration::from_millis(20));
    let mut feed = log.subscribe();
    log.append_soon(rec("proxy", 1)).await.unwrap();
    assert_eq!(
        feed.try_recv().unwrap().record.username.as_deref(),
        Some("user1")
    );
    log.shutdown();
}

#[tokio::test]
async fn shutting_down_syncs_and_acks_the_soon_records_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = log_with_soon(&path, std::time::Duration::from_secs(3600));
    let soon = {
        let log = log.clone();
        tokio::spawn(async move { log.append_soon(rec("proxy", 1)).await })
    };
    until(|| std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 1)).await;
    let stopping = log.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown())
        .await
        .unwrap();
    soon.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_soon_record_that_cannot_be_written_is_refused() {
    let log = log_with_soon(Path::new("/dev/full"), std::time::Duration::from_secs(3600));
    assert!(log.append_soon(rec("proxy", 1)).await.is_err());
    assert!(log.append(rec("exchange", 2)).await.is_err());
    log.shutdown();
}
