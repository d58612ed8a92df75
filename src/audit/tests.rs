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
