//! `alerts:` in `broker.yaml`: rules matched against every audit record
//! this broker writes; each match is posted to the `notify:` webhooks and
//! recorded in the chain (event `alert`). A rule with `at-least: N` and
//! `within: D` fires when one user has N matches within D, at most once
//! per window. What each `match` key reads is in `crate::audit::fields`.

use crate::audit::fields::{Filter, KEYS, Key};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertRule {
    /// Unique; shown in the webhook's text, the `alert` record and the
    /// metric's label.
    pub name: String,
    #[serde(rename = "match")]
    pub matches: AlertMatch,
    /// With `within`: matches by one user needed to fire.
    #[serde(default)]
    pub at_least: Option<u32>,
    #[serde(default, with = "crate::units::serde_opt_duration")]
    pub within: Option<Duration>,
}

/// Each key takes one value or a list (any of them matches); all keys
/// given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertMatch {
    #[serde(default, deserialize_with = "values")]
    pub cluster: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub namespace: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub verb: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub resource: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub subresource: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub user: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub group: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub outcome: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values")]
    pub event: Option<Vec<String>>,
}

/// `verb: delete` or `verb: [delete, deletecollection]`.
fn values<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::One(s)) => Ok(Some(vec![s])),
        Ok(OneOrMany::Many(v)) => Ok(Some(v)),
        Err(_) => Err(serde::de::Error::custom(
            "expected a value or a list of values, e.g. `verb: delete` or `verb: [delete, deletecollection]`",
        )),
    }
}

impl AlertMatch {
    fn terms(&self) -> [(Key, &Option<Vec<String>>); 9] {
        [
            (Key::Cluster, &self.cluster),
            (Key::Namespace, &self.namespace),
            (Key::Verb, &self.verb),
            (Key::Resource, &self.resource),
            (Key::Subresource, &self.subresource),
            (Key::User, &self.user),
            (Key::Group, &self.group),
            (Key::Outcome, &self.outcome),
            (Key::Event, &self.event),
        ]
    }

    pub fn filter(&self) -> Filter {
        self.terms()
            .into_iter()
            .fold(Filter::default(), |f, (k, v)| f.with(k, v.clone()))
    }
}

impl AlertRule {
    /// The window of a counting rule: (matches needed, within).
    pub fn window(&self) -> Option<(u32, Duration)> {
        self.at_least.zip(self.within)
    }
}

pub fn validate_alerts(rules: &[AlertRule]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("alerts[{i}]");
        if rule.name.is_empty() {
            return Err(format!(
                "`{at}.name`: must not be empty; a rule's name is what its alerts are called"
            ));
        }
        if !super::valid_cluster_name(&rule.name) {
            return Err(format!(
                "`{at}.name`: `{}`: alert names use only a-z, 0-9, `-`, `_`, `.` (at most 63)",
                rule.name
            ));
        }
        if !names.insert(rule.name.as_str()) {
            return Err(format!(
                "`{at}.name`: `{}` names another alert too; names are unique",
                rule.name
            ));
        }
        let given: Vec<_> = rule
            .matches
            .terms()
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        if given.is_empty() {
            return Err(format!(
                "`{at}.match`: name at least one of {}; an empty match would alert on every event",
                KEYS.join(", ")
            ));
        }
        for (key, values) in given {
            if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                return Err(format!(
                    "`{at}.match.{}`: an empty value matches nothing; give a value or a list of them",
                    key.name()
                ));
            }
        }
        match (rule.at_least, rule.within) {
            (Some(_), None) => {
                return Err(format!(
                    "`{at}.within`: missing; `at-least` counts one user's matches within a window, \
                     e.g. `at-least: 3` with `within: 1m`"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "`{at}.at-least`: missing; `within` is the window in which one user's matches \
                     are counted, e.g. `within: 1m` with `at-least: 3`"
                ));
            }
            (Some(0), _) => return Err(format!("`{at}.at-least`: must be 1 or more")),
            (_, Some(d)) if d.is_zero() => {
                return Err(format!("`{at}.within`: must be above zero"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::broker::config::BrokerConfig;
    use crate::broker::config::tests::EXAMPLE;
    use std::path::Path;
    use std::time::Duration;

    fn with(alerts: &str) -> Result<BrokerConfig, String> {
        let text = format!("{EXAMPLE}auditor-groups: [compliance]\nalerts:\n{alerts}");
        BrokerConfig::parse(&text, Path::new("/etc/kaccess"))
    }

    #[test]
    fn the_documented_rules_parse_with_single_values_and_lists() {
        let cfg = with(
            "  - name: exec-into-payments
    match: {cluster: prod, namespace: payments, subresource: exec}
  - name: deletes-in-prod
    match: {cluster: prod, verb: [delete, deletecollection]}
  - name: repeated-denials
    match: {outcome: denied}
    at-least: 3
    within: 1m
",
        )
        .unwrap();
        assert_eq!(cfg.auditor_groups, ["compliance"]);
        assert_eq!(cfg.alerts.len(), 3);
        assert_eq!(
            cfg.alerts[0].matches.subresource.as_deref(),
            Some(&["exec".to_string()][..])
        );
        assert_eq!(
            cfg.alerts[1].matches.verb.as_deref(),
            Some(&["delete".to_string(), "deletecollection".to_string()][..])
        );
        assert_eq!(cfg.alerts[1].window(), None);
        assert_eq!(cfg.alerts[2].window(), Some((3, Duration::from_secs(60))));
    }

    #[track_caller]
    fn refused(alerts: &str, path: &str, words: &str) {
        let e = with(alerts).unwrap_err();
        assert!(e.contains(&format!("`{path}`")), "{e}");
        assert!(e.contains(words), "{e}");
    }

    #[test]
    fn unknown_match_keys_and_rule_keys_are_refused_with_their_path() {
        refused(
            "  - name: a\n    match: {namespce: payments}\n",
            "alerts[0].match.namespce",
            "unknown field `namespce`",
        );
        refused(
            "  - name: a\n    match: {cluster: prod}\n    atleast: 3\n",
            "alerts[0].atleast",
            "unknown field `atleast`",
        );
        refused(
            "  - name: a\n    match: {verb: {delete: true}}\n",
            "alerts[0].match.verb",
            "a value or a list",
        );
    }

    #[test]
    fn names_must_be_given_and_unique() {
        refused(
            "  - name: ''\n    match: {cluster: prod}\n",
            "alerts[0].name",
            "empty",
        );
        refused(
            "  - name: a\n    match: {cluster: prod}\n  - name: a\n    match: {verb: get}\n",
            "alerts[1].name",
            "unique",
        );
        refused(
            "  - name: Big Alert\n    match: {cluster: prod}\n",
            "alerts[0].name",
            "a-z",
        );
    }

    #[test]
    fn a_window_needs_both_at_least_and_within() {
        refused(
            "  - name: a\n    match: {outcome: denied}\n    at-least: 3\n",
            "alerts[0].within",
            "missing",
        );
        refused(
            "  - name: a\n    match: {outcome: denied}\n    within: 1m\n",
            "alerts[0].at-least",
            "missing",
        );
        refused(
            "  - name: a\n    match: {outcome: denied}\n    at-least: 0\n    within: 1m\n",
            "alerts[0].at-least",
            "1 or more",
        );
    }

    #[test]
    fn an_empty_match_or_value_is_refused() {
        refused(
            "  - name: a\n    match: {}\n",
            "alerts[0].match",
            "every event",
        );
        refused(
            "  - name: a\n    match: {verb: []}\n",
            "alerts[0].match.verb",
            "matches nothing",
        );
    }
}
