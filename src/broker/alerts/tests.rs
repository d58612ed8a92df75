use super::*;
use crate::audit::record::ProxiedRequest;

fn rules(yaml: &str) -> Vec<AlertRule> {
    serde_yaml::from_str(yaml).unwrap()
}

fn request(user: &str, verb: &str, status: u16, n: usize) -> AuditRecord {
    AuditRecord {
        outcome: "finished".into(),
        status: Some(status),
        cluster: Some("prod".into()),
        username: Some(user.into()),
        hash: format!("h{n}"),
        request: Some(ProxiedRequest {
            verb: verb.into(),
            resource: Some("pods".into()),
            namespace: Some("payments".into()),
            name: Some("web".into()),
            ..Default::default()
        }),
        ..AuditRecord::new("proxy")
    }
}

#[test]
fn a_plain_rule_fires_once_per_matching_record() {
    let rules = rules(
        "- name: deletes-in-prod\n  match: {cluster: prod, verb: [delete, deletecollection]}\n",
    );
    let mut w = Windows::default();
    let now = Instant::now();
    let fired = w.evaluate(&rules, &request("alice", "delete", 200, 1), now);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].rule.as_str(), fired[0].count),
        ("deletes-in-prod", 1)
    );
    assert_eq!(fired[0].records, ["h1"]);
    assert_eq!(
        w.evaluate(&rules, &request("alice", "delete", 200, 2), now)
            .len(),
        1
    );
    assert!(
        w.evaluate(&rules, &request("alice", "get", 200, 3), now)
            .is_empty()
    );
    assert_eq!(
        text(&fired[0]),
        "kaccess alert `deletes-in-prod`: alice delete pods payments/web on `prod` (finished 200)"
    );
}

#[test]
fn a_counting_rule_fires_once_per_window_per_user() {
    let rules = rules(
        "- name: repeated-denials\n  match: {outcome: denied}\n  at-least: 3\n  within: 1m\n",
    );
    let mut w = Windows::default();
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut fired = Vec::new();
    // Two denials: not yet. A third within the minute: one alert.
    for (n, s) in [(1, 0), (2, 10), (3, 20)] {
        fired.extend(w.evaluate(&rules, &request("alice", "get", 403, n), at(s)));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].records, ["h1", "h2", "h3"]);
    assert!(
        text(&fired[0]).contains("3 matching events within 1m"),
        "{}",
        text(&fired[0])
    );
    // Three more in the same window: quiet. Bob counts on his own.
    for (n, s) in [(4, 25), (5, 30), (6, 35)] {
        assert!(
            w.evaluate(&rules, &request("alice", "get", 403, n), at(s))
                .is_empty()
        );
    }
    assert!(
        w.evaluate(&rules, &request("bob", "get", 403, 7), at(36))
            .is_empty()
    );
    // Allowed requests never count.
    assert!(
        w.evaluate(&rules, &request("alice", "get", 200, 8), at(40))
            .is_empty()
    );
    // A window after the alert, three denials within a minute alert again.
    let mut again = Vec::new();
    for (n, s) in [(9, 81), (10, 82), (11, 83)] {
        again.extend(w.evaluate(&rules, &request("alice", "get", 401, n), at(s)));
    }
    assert_eq!(again.len(), 1, "{again:?}");
}

#[test]
fn matches_spread_wider_than_the_window_never_fire() {
    let rules = rules("- name: r\n  match: {outcome: denied}\n  at-least: 2\n  within: 10s\n");
    let mut w = Windows::default();
    let t0 = Instant::now();
    for n in 0..5 {
        let at = t0 + Duration::from_secs(11 * n as u64);
        assert!(
            w.evaluate(&rules, &request("alice", "get", 403, n), at)
                .is_empty()
        );
    }
}

#[test]
fn forgotten_windows_are_dropped_and_removed_rules_forgotten() {
    let counting = rules("- name: r\n  match: {outcome: denied}\n  at-least: 5\n  within: 10s\n");
    let mut w = Windows::default();
    let t0 = Instant::now();
    w.evaluate(&counting, &request("alice", "get", 403, 1), t0);
    assert_eq!(w.state.len(), 1);
    w.forget(&counting, t0 + Duration::from_secs(5));
    assert_eq!(w.state.len(), 1, "still counting");
    w.forget(&counting, t0 + Duration::from_secs(11));
    assert!(w.state.is_empty(), "nothing left in the window");
    w.evaluate(&counting, &request("alice", "get", 403, 2), t0);
    w.forget(&[], t0);
    assert!(w.state.is_empty(), "the rule is gone");
}
