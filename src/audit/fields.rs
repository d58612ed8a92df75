//! What a filter (`kaccess admin watch --user --verb`) or an alert rule
//! (`alerts[].match` in `broker.yaml`) can match in a record, in one place
//! so both read a record the same way.
//!
//! - `user` is who acted: `actor` when set (an admin revoking or listing
//!   someone else's sessions), else `username`.
//! - `group` is any of the IdP groups or Kubernetes groups on the record.
//! - `outcome` matches the record's `outcome` as written, and the value
//!   `denied` also matches every refusal: a record with outcome `refused`
//!   (the broker or the proxy said no), and a proxied request the cluster
//!   answered 401 or 403 (a `finished` record with that status: the
//!   API server's RBAC said no).
//! - `namespace`, `verb`, `resource`, `subresource` are those of a proxied
//!   request; records of the broker's own decisions have none of them.

use super::AuditRecord;

/// The keys, as `broker.yaml` spells them.
pub const KEYS: [&str; 9] = [
    "cluster",
    "namespace",
    "verb",
    "resource",
    "subresource",
    "user",
    "group",
    "outcome",
    "event",
];

/// One matchable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Cluster,
    Namespace,
    Verb,
    Resource,
    Subresource,
    User,
    Group,
    Outcome,
    Event,
}

/// The `outcome` value that stands for every kind of refusal.
pub const DENIED: &str = "denied";

/// Who acted (see the module notes).
pub fn user_of(rec: &AuditRecord) -> Option<&str> {
    rec.actor.as_deref().or(rec.username.as_deref())
}

/// True for a refusal by the broker or the proxy, and for a proxied request
/// the cluster refused with 401 or 403.
pub fn is_denied(rec: &AuditRecord) -> bool {
    rec.outcome == "refused"
        || (rec.event == "proxy"
            && rec.outcome == "finished"
            && matches!(rec.status, Some(401 | 403)))
}

impl Key {
    pub fn name(self) -> &'static str {
        KEYS[self as usize]
    }

    /// True when the record's field is one of `wanted`.
    pub fn matches(self, rec: &AuditRecord, wanted: &[String]) -> bool {
        let req = rec.request.as_ref();
        let one = |v: Option<&str>| v.is_some_and(|v| wanted.iter().any(|w| w == v));
        match self {
            Key::Cluster => one(rec.cluster.as_deref()),
            Key::Namespace => one(req.and_then(|r| r.namespace.as_deref())),
            Key::Verb => one(req.map(|r| r.verb.as_str())),
            Key::Resource => one(req.and_then(|r| r.resource.as_deref())),
            Key::Subresource => one(req.and_then(|r| r.subresource.as_deref())),
            Key::User => one(user_of(rec)),
            Key::Group => rec
                .idp_groups
                .iter()
                .chain(rec.kube_groups.iter())
                .flatten()
                .any(|g| wanted.contains(g)),
            Key::Outcome => {
                one(Some(&rec.outcome)) || (wanted.iter().any(|w| w == DENIED) && is_denied(rec))
            }
            Key::Event => one(Some(&rec.event)),
        }
    }
}

/// A conjunction of keys, each with the values any of which it accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub terms: Vec<(Key, Vec<String>)>,
}

impl Filter {
    pub fn with(mut self, key: Key, values: Option<Vec<String>>) -> Filter {
        if let Some(v) = values {
            self.terms.push((key, v));
        }
        self
    }

    pub fn matches(&self, rec: &AuditRecord) -> bool {
        self.terms.iter().all(|(k, v)| k.matches(rec, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::ProxiedRequest;

    fn proxied(verb: &str, status: u16) -> AuditRecord {
        AuditRecord {
            outcome: "finished".into(),
            status: Some(status),
            cluster: Some("prod".into()),
            username: Some("alice".into()),
            kube_groups: Some(vec!["kaccess:prod:sre".into()]),
            request: Some(ProxiedRequest {
                verb: verb.into(),
                namespace: Some("payments".into()),
                resource: Some("pods".into()),
                subresource: Some("exec".into()),
                ..Default::default()
            }),
            ..AuditRecord::new("proxy")
        }
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_key_takes_any_of_its_values_and_all_keys_must_match() {
        let rec = proxied("create", 101);
        let f = Filter::default()
            .with(Key::Cluster, Some(v(&["prod"])))
            .with(Key::Namespace, Some(v(&["payments"])))
            .with(Key::Subresource, Some(v(&["exec"])))
            .with(Key::Verb, Some(v(&["delete", "create"])))
            .with(Key::Group, Some(v(&["kaccess:prod:sre"])));
        assert!(f.matches(&rec));
        let other = f.clone().with(Key::User, Some(v(&["bob"])));
        assert!(!other.matches(&rec));
        assert!(
            !Filter::default()
                .with(Key::Cluster, Some(v(&["dev"])))
                .matches(&rec)
        );
    }

    #[test]
    fn denied_matches_refusals_and_requests_the_cluster_refused() {
        let denied = Filter::default().with(Key::Outcome, Some(v(&[DENIED])));
        assert!(denied.matches(&proxied("get", 403)));
        assert!(denied.matches(&proxied("get", 401)));
        assert!(!denied.matches(&proxied("get", 200)));
        assert!(!denied.matches(&proxied("get", 404)));
        let broker = AuditRecord {
            outcome: "refused".into(),
            status: Some(403),
            ..AuditRecord::new("exchange")
        };
        assert!(denied.matches(&broker));
        let literal = Filter::default().with(Key::Outcome, Some(v(&["finished"])));
        assert!(literal.matches(&proxied("get", 403)));
        assert!(!literal.matches(&broker));
    }

    #[test]
    fn the_user_is_who_acted_and_broker_records_have_no_verb() {
        let rec = AuditRecord {
            outcome: "revoked".into(),
            username: Some("alice".into()),
            actor: Some("carol".into()),
            ..AuditRecord::new("revoke")
        };
        assert!(Key::User.matches(&rec, &v(&["carol"])));
        assert!(!Key::User.matches(&rec, &v(&["alice"])));
        assert!(!Key::Verb.matches(&rec, &v(&["revoke"])));
        assert!(Key::Event.matches(&rec, &v(&["revoke"])));
        assert_eq!(Key::Subresource.name(), "subresource");
    }
}
