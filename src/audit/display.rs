//! One readable line per record, for `kaccess admin watch` and the text
//! of an alert: time, user, cluster, what was done (a proxied request's
//! verb, resource and namespace/name; else the broker's event), outcome.
//! Every field is free text kaccess did not choose, so control and format
//! characters are escaped (`\u{202E}`), never shown.

use super::AuditRecord;
use super::fields::user_of;
use crate::text::escape_deceptive;

/// `2026-03-01T10:00:00Z` from a record's RFC 3339 time (fractions cut).
pub fn short_time(time: &str) -> String {
    match time.find('.') {
        Some(dot) if time.ends_with('Z') => format!("{}Z", &time[..dot]),
        _ => time.to_string(),
    }
}

/// `delete pods payments/web-1` (namespace/name), `create pods/exec
/// payments/web-1`, `list pods in payments`, `get nodes node-1`, or the
/// broker's event (`exchange`, `revoke`, `watch`, …).
pub fn what(rec: &AuditRecord) -> String {
    let Some(r) = &rec.request else {
        return escape_deceptive(&rec.event);
    };
    let mut out = escape_deceptive(&r.verb);
    if let Some(res) = &r.resource {
        out.push(' ');
        out.push_str(&escape_deceptive(res));
        if let Some(sub) = &r.subresource {
            out.push('/');
            out.push_str(&escape_deceptive(sub));
        }
    } else {
        out.push(' ');
        out.push_str(&escape_deceptive(&r.path));
    }
    match (&r.namespace, &r.name) {
        (Some(ns), Some(name)) => out.push_str(&format!(
            " {}/{}",
            escape_deceptive(ns),
            escape_deceptive(name)
        )),
        (Some(ns), None) => out.push_str(&format!(" in {}", escape_deceptive(ns))),
        (None, Some(name)) => out.push_str(&format!(" {}", escape_deceptive(name))),
        (None, None) => {}
    }
    out
}

/// `finished 403`, `refused 401`, `issued`.
pub fn outcome(rec: &AuditRecord) -> String {
    let mut out = escape_deceptive(&rec.outcome);
    if let Some(s) = rec.status {
        out.push_str(&format!(" {s}"));
    }
    out
}

/// The whole line, fields separated by two spaces; `-` for a missing one.
pub fn line(rec: &AuditRecord) -> String {
    let dash = |v: Option<&str>| v.map_or_else(|| "-".to_string(), escape_deceptive);
    format!(
        "{}  {}  {}  {}  {}",
        escape_deceptive(&short_time(&rec.time)),
        dash(user_of(rec)),
        dash(rec.cluster.as_deref()),
        what(rec),
        outcome(rec)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::ProxiedRequest;

    #[test]
    fn a_proxied_request_reads_as_time_user_cluster_verb_resource_and_outcome() {
        let rec = AuditRecord {
            time: "2026-03-01T10:00:00.123456Z".into(),
            outcome: "finished".into(),
            status: Some(403),
            cluster: Some("prod".into()),
            username: Some("alice@example.com".into()),
            request: Some(ProxiedRequest {
                verb: "create".into(),
                resource: Some("pods".into()),
                subresource: Some("exec".into()),
                namespace: Some("payments".into()),
                name: Some("web-1".into()),
                ..Default::default()
            }),
            ..AuditRecord::new("proxy")
        };
        assert_eq!(
            line(&rec),
            "2026-03-01T10:00:00Z  alice@example.com  prod  create pods/exec payments/web-1  finished 403"
        );
    }

    #[test]
    fn broker_records_show_their_event_and_free_text_is_escaped() {
        let rec = AuditRecord {
            time: "2026-03-01T10:00:00Z".into(),
            outcome: "issued".into(),
            username: Some("mallory\u{202E}gro.elpmaxe".into()),
            ..AuditRecord::new("exchange")
        };
        assert_eq!(
            line(&rec),
            "2026-03-01T10:00:00Z  mallory\\u{202E}gro.elpmaxe  -  exchange  issued"
        );
    }
}
