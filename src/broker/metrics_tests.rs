use super::*;
use crate::proxy::cutoff::Cause;
use std::collections::BTreeMap;

/// Every family `/metrics` exposes: (name, type, label names of its
/// samples). Dashboards and alerts read these; a change here is a change
/// of contract.
const FAMILIES: [(&str, &str, &[&str]); 13] = [
    ("kaccess_exchanges", "counter", &["outcome"]),
    ("kaccess_exchange_duration_seconds", "histogram", &[]),
    ("kaccess_tokenreviews", "counter", &["result"]),
    ("kaccess_revocations", "counter", &["outcome"]),
    ("kaccess_reloads", "counter", &["what", "outcome"]),
    ("kaccess_notifications", "counter", &["outcome"]),
    ("kaccess_alerts", "counter", &["alert"]),
    ("kaccess_alerts_unevaluated", "counter", &[]),
    ("kaccess_active_sessions", "gauge", &[]),
    ("kaccess_proxy_requests", "counter", &["verb", "code"]),
    ("kaccess_proxy_open_streams", "gauge", &[]),
    ("kaccess_proxy_cutoffs", "counter", &["cause"]),
    ("kaccess_proxy_upstream_duration_seconds", "histogram", &[]),
];

/// Metrics with one event of every kind.
fn touched() -> Metrics {
    let m = Metrics::default();
    m.exchange("issued", Duration::from_millis(3));
    m.exchange("issued", Duration::from_millis(30));
    m.exchange("forbidden", Duration::from_millis(1));
    m.review(true);
    m.revocation("revoked");
    m.reload("config", "refused");
    m.notification(false);
    m.alert("deletes-in-prod");
    m.alert("deletes-in-prod");
    m.alerts_missed(4);
    m.proxy.request("get", 200);
    m.proxy.cut_off(Cause::SessionEnded);
    m.proxy.upstream_latency(Duration::from_millis(7));
    m
}

/// A sample line's metric name and label names.
fn sample(line: &str) -> (&str, Vec<&str>) {
    let name_end = line.find(['{', ' ']).unwrap();
    let name = &line[..name_end];
    let labels = match line[name_end..].strip_prefix('{') {
        Some(rest) => rest[..rest.find('}').unwrap()]
            .split(',')
            .map(|kv| kv.split('=').next().unwrap())
            .collect(),
        None => Vec::new(),
    };
    (name, labels)
}

#[test]
fn every_family_is_exposed_with_its_type_and_labels_and_the_text_ends_with_eof() {
    let text = touched().render(7);
    assert!(text.ends_with("# EOF\n"), "{text}");
    let types: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let expected: BTreeMap<&str, &str> = FAMILIES.iter().map(|(n, t, _)| (*n, *t)).collect();
    assert_eq!(types, expected, "{text}");

    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = sample(line);
        let (family, kind, want) = FAMILIES
            .iter()
            .find(|(f, kind, _)| {
                let suffixes: &[&str] = match *kind {
                    "counter" => &["_total"],
                    "gauge" => &[""],
                    _ => &["_bucket", "_sum", "_count"],
                };
                suffixes.iter().any(|s| name == format!("{f}{s}"))
            })
            .unwrap_or_else(|| panic!("`{line}` belongs to no family in\n{text}"));
        let want: Vec<&str> = if *kind == "histogram" && name.ends_with("_bucket") {
            vec!["le"]
        } else {
            want.to_vec()
        };
        assert_eq!(labels, want, "labels of `{family}` in `{line}`");
    }
}

#[test]
fn renders_counts_and_cumulative_buckets() {
    let text = touched().render(7);
    for line in [
        "kaccess_alerts_total{alert=\"deletes-in-prod\"} 2\n",
        "kaccess_exchanges_total{outcome=\"issued\"} 2\n",
        "kaccess_exchanges_total{outcome=\"forbidden\"} 1\n",
        "# UNIT kaccess_exchange_duration_seconds seconds\n",
        "kaccess_exchange_duration_seconds_bucket{le=\"0.001\"} 1\n",
        "kaccess_exchange_duration_seconds_bucket{le=\"0.005\"} 2\n",
        "kaccess_exchange_duration_seconds_bucket{le=\"0.05\"} 3\n",
        "kaccess_exchange_duration_seconds_bucket{le=\"+Inf\"} 3\n",
        "kaccess_exchange_duration_seconds_count 3\n",
        "kaccess_tokenreviews_total{result=\"authenticated\"} 1\n",
        "kaccess_revocations_total{outcome=\"revoked\"} 1\n",
        "kaccess_reloads_total{what=\"config\",outcome=\"refused\"} 1\n",
        "kaccess_notifications_total{outcome=\"failed\"} 1\n",
        "kaccess_alerts_unevaluated_total 4\n",
        "kaccess_active_sessions 7\n",
        "kaccess_proxy_requests_total{verb=\"get\",code=\"200\"} 1\n",
        "kaccess_proxy_cutoffs_total{cause=\"session_ended\"} 1\n",
        "kaccess_proxy_upstream_duration_seconds_count 1\n",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    let sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("kaccess_exchange_duration_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sum in\n{text}"));
    assert!((sum - 0.034).abs() < 1e-9, "{sum}");
}

#[test]
fn results_and_outcomes_of_a_fixed_set_show_zero_before_their_first_event() {
    let text = Metrics::default().render(0);
    for line in [
        "kaccess_tokenreviews_total{result=\"authenticated\"} 0\n",
        "kaccess_tokenreviews_total{result=\"refused\"} 0\n",
        "kaccess_notifications_total{outcome=\"delivered\"} 0\n",
        "kaccess_notifications_total{outcome=\"failed\"} 0\n",
        "kaccess_alerts_unevaluated_total 0\n",
        "kaccess_active_sessions 0\n",
        "kaccess_proxy_open_streams 0\n",
        "kaccess_proxy_cutoffs_total{cause=\"revoked\"} 0\n",
        "kaccess_proxy_upstream_duration_seconds_count 0\n",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
}

#[test]
fn the_active_sessions_gauge_follows_each_scrape() {
    let m = Metrics::default();
    assert!(m.render(3).contains("kaccess_active_sessions 3\n"));
    assert!(m.render(1).contains("kaccess_active_sessions 1\n"));
}
