use super::*;
use crate::audit::query::fixture::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-05-01 10:30 UTC);

fn run(filter: Filter, records: &[Value]) -> Vec<Summary> {
    let mut s = Sessions::new(filter);
    for v in records {
        s.add(&View::of(v));
    }
    s.finish(NOW)
}

use serde_json::Value;

fn day() -> Vec<Value> {
    let get = proxied("s1", "alice", "r1", "started", "get", None);
    let del = proxied("s1", "alice", "r2", "started", "delete", None);
    let exec = proxied("s1", "alice", "r3", "started", "create", Some("exec"));
    let forbidden = proxied("s1", "alice", "r4", "started", "patch", None);
    vec![
        value(issued("s1", "alice", 0, 20), 0),
        value(get.clone(), 1),
        value(finished(get, 200, None), 1),
        value(del.clone(), 2),
        value(finished(del, 200, None), 2),
        value(exec.clone(), 3),
        value(forbidden.clone(), 4),
        value(finished(forbidden, 403, None), 4),
        value(proxied("s1", "alice", "r5", "refused", "get", None), 5),
        value(finished(exec, 101, Some("client closed")), 6),
        // Renewed: a second credential, the same session.
        value(issued("s1", "alice", 7, 20), 7),
        value(issued("s2", "bob", 8, 50), 8),
        value(revoked("s2", "bob", Some("carol")), 9),
        value(issued("s3", "dave", 10, 50), 10),
        value(revoked("s3", "dave", None), 11),
        value(issued("s4", "erin", 12, 50), 12),
    ]
}

#[test]
fn a_session_counts_its_requests_mutations_denials_and_streams() {
    let got = run(Filter::default(), &day());
    let s1 = &got[0];
    assert_eq!((s1.session.as_str(), s1.person.as_str()), ("s1", "alice"));
    assert_eq!(
        s1.counts,
        Counts {
            requests: 5,
            mutations: 2,
            denials: 2,
            streams: 1
        }
    );
    assert_eq!(s1.credentials, 2);
    assert_eq!(s1.reason.as_deref(), Some("INC-7 payments down"));
    assert_eq!(s1.groups, ["kaccess:prod:view"]);
    assert_eq!(s1.start, "2026-05-01T10:00:00Z");
    assert!(s1.start_seen);
}

#[test]
fn each_way_a_session_ends_is_told_apart() {
    let got = run(Filter::default(), &day());
    let ended: Vec<(&str, &str)> = got
        .iter()
        .map(|s| (s.session.as_str(), s.ended.as_str()))
        .collect();
    assert_eq!(
        ended,
        [
            ("s1", "expired"),
            ("s2", "revoked by carol"),
            ("s3", "logged out"),
            ("s4", "still open")
        ]
    );
    assert_eq!(got[0].end.as_deref(), Some("2026-05-01T10:20:00Z"));
    assert_eq!(got[1].end.as_deref(), Some("2026-05-01T10:09:00Z"));
    assert_eq!(
        got[1].revoke_cause.as_deref(),
        Some("revoked by an admin: leaver")
    );
}

#[test]
fn filters_keep_one_user_one_cluster_and_the_sessions_open_in_the_window() {
    let only_bob = Filter {
        user: Some("bob".into()),
        ..Filter::default()
    };
    let got = run(only_bob, &day());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].person, "bob");

    let other_cluster = Filter {
        cluster: Some("staging".into()),
        ..Filter::default()
    };
    assert!(run(other_cluster, &day()).is_empty());

    // 10:10 onwards: s2 (revoked 10:09) is out, s1 (until 10:20) is in
    // with no requests inside the window.
    let late = Filter {
        window: Window {
            since: Some(datetime!(2026-05-01 10:10 UTC)),
            until: None,
        },
        ..Filter::default()
    };
    let got = run(late, &day());
    let ids: Vec<&str> = got.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(ids, ["s1", "s3", "s4"]);
    assert_eq!(got[0].counts, Counts::default());
}

#[test]
fn a_session_whose_start_was_not_read_starts_at_its_first_record() {
    let get = proxied("old", "alice", "r1", "started", "get", None);
    let got = run(Filter::default(), &[value(get, 3)]);
    assert_eq!(got.len(), 1);
    assert!(!got[0].start_seen);
    assert_eq!(got[0].start, "2026-05-01T10:03:00Z");
    assert_eq!(got[0].ended, "unknown");
}

#[test]
fn a_refusal_naming_an_unknown_session_makes_no_session() {
    let refused = proxied("forged", "mallory", "r1", "refused", "get", None);
    assert!(run(Filter::default(), &[value(refused, 1)]).is_empty());
}
