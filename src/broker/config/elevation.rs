//! The parts of `broker.yaml` for privileged access on demand: a grant's
//! `approval` (another person must approve a request first) or
//! `break-glass` (its members take it at once, with a reason, loudly), and
//! the `notify` webhooks that hear of every request, decision and break
//! glass.

use super::Grant;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Approval {
    /// IdP groups whose members may approve or deny.
    pub approver_groups: Vec<String>,
    /// How many distinct approvers.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Longest elevation that can be granted.
    #[serde(with = "crate::units::serde_duration")]
    pub max_duration: Duration,
    /// A pending request lapses after this; an approved one must be used
    /// within it too.
    #[serde(with = "crate::units::serde_duration")]
    pub request_ttl: Duration,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BreakGlass {
    #[serde(with = "crate::units::serde_duration")]
    pub max_duration: Duration,
}

/// One webhook: a JSON POST per event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifyTarget {
    /// HTTPS; plain http only to a loopback host.
    pub url: String,
    /// An extra trust root for the receiver.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Sent as a bearer token; re-read for every delivery.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

impl Grant {
    /// Needs approval or break glass: never matched by a plain login.
    pub fn elevated(&self) -> bool {
        self.approval.is_some() || self.break_glass.is_some()
    }
}

/// Checks the elevation keys of one cluster's grants.
pub fn validate_grants(cluster: &str, grants: &[Grant]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for (i, g) in grants.iter().enumerate() {
        let at = format!("clusters.{cluster}.grants[{i}]");
        if let Some(name) = &g.name {
            if !super::valid_cluster_name(name) {
                return Err(format!(
                    "`{at}.name`: grant names use only a-z, 0-9, `-`, `_`, `.` (at most 63)"
                ));
            }
            if !names.insert(name.clone()) {
                return Err(format!(
                    "`{at}.name`: `{name}` names another grant of `{cluster}` too; names are unique per cluster"
                ));
            }
        } else if g.elevated() {
            return Err(format!(
                "`{at}.name`: a grant with `approval` or `break-glass` needs a `name` (users ask for it by name)"
            ));
        }
        if g.approval.is_some() && g.break_glass.is_some() {
            return Err(format!(
                "`{at}`: `approval` and `break-glass` exclude each other; make them two grants"
            ));
        }
        if let Some(a) = &g.approval {
            if a.approver_groups.is_empty() {
                return Err(format!(
                    "`{at}.approval.approver-groups`: at least one IdP group must be able to approve"
                ));
            }
            if a.approvals == 0 {
                return Err(format!("`{at}.approval.approvals`: must be 1 or more"));
            }
            if a.max_duration.is_zero() || a.request_ttl.is_zero() {
                return Err(format!(
                    "`{at}.approval`: `max-duration` and `request-ttl` must be above zero"
                ));
            }
        }
        if g.break_glass
            .as_ref()
            .is_some_and(|b| b.max_duration.is_zero())
        {
            return Err(format!(
                "`{at}.break-glass.max-duration`: must be above zero"
            ));
        }
    }
    Ok(())
}

pub fn validate_notify(targets: &[NotifyTarget]) -> Result<(), String> {
    for (i, t) in targets.iter().enumerate() {
        crate::config::file::check_url(&t.url).map_err(|m| format!("`notify[{i}].url`: {m}"))?;
    }
    Ok(())
}
