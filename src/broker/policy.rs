//! Who gets what: the first grant of a cluster whose `idp-groups` meet the
//! user's IdP groups decides the Kubernetes groups and namespaces. No match
//! means no credential. Groups Kubernetes reserves (`system:`) are refused
//! here again even though config loading already refuses them, so a policy
//! change that slips past validation still cannot mint `system:masters`.
//!
//! Grants that need approval or break glass are never matched this way:
//! only [`decide_named`] reaches them, for a login that names the grant
//! (and then still needs an approved request, or `--break-glass`).

use super::config::{ClusterConfig, Grant, is_reserved_group};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("no grant on cluster `{cluster}` matches the groups {groups:?}")]
    NoGrant {
        cluster: String,
        groups: Vec<String>,
    },
    #[error("cluster `{cluster}` has no grant named `{grant}`")]
    UnknownGrant { cluster: String, grant: String },
    #[error(
        "grant `{grant}` of cluster `{cluster}` is for members of {wanted:?}; your groups are {groups:?}"
    )]
    NotMember {
        cluster: String,
        grant: String,
        wanted: Vec<String>,
        groups: Vec<String>,
    },
    #[error("grant {index} of cluster `{cluster}` lists the reserved group `{group}`; refused")]
    ReservedGroup {
        cluster: String,
        index: usize,
        group: String,
    },
}

/// The grant that applies to a user with `idp_groups`, first match wins.
pub fn decide<'c>(
    cluster_name: &str,
    cluster: &'c ClusterConfig,
    idp_groups: &[String],
) -> Result<&'c Grant, PolicyError> {
    let (index, grant) = cluster
        .grants
        .iter()
        .enumerate()
        .find(|(_, g)| !g.elevated() && member(g, idp_groups))
        .ok_or_else(|| PolicyError::NoGrant {
            cluster: cluster_name.to_string(),
            groups: idp_groups.to_vec(),
        })?;
    checked(cluster_name, index, grant)
}

/// The grant called `name`, if the user is one of its members. Whether it
/// also needs an approved request or `--break-glass` is the caller's
/// check.
pub fn decide_named<'c>(
    cluster_name: &str,
    cluster: &'c ClusterConfig,
    idp_groups: &[String],
    name: &str,
) -> Result<&'c Grant, PolicyError> {
    let (index, grant) = cluster
        .grants
        .iter()
        .enumerate()
        .find(|(_, g)| g.name.as_deref() == Some(name))
        .ok_or_else(|| PolicyError::UnknownGrant {
            cluster: cluster_name.to_string(),
            grant: name.to_string(),
        })?;
    if !member(grant, idp_groups) {
        return Err(PolicyError::NotMember {
            cluster: cluster_name.to_string(),
            grant: name.to_string(),
            wanted: grant.idp_groups.clone(),
            groups: idp_groups.to_vec(),
        });
    }
    checked(cluster_name, index, grant)
}

fn member(grant: &Grant, idp_groups: &[String]) -> bool {
    grant
        .idp_groups
        .iter()
        .any(|want| idp_groups.contains(want))
}

fn checked<'c>(
    cluster_name: &str,
    index: usize,
    grant: &'c Grant,
) -> Result<&'c Grant, PolicyError> {
    if let Some(bad) = grant.kube_groups.iter().find(|g| is_reserved_group(g)) {
        return Err(PolicyError::ReservedGroup {
            cluster: cluster_name.to_string(),
            index,
            group: bad.clone(),
        });
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::KeyPairFiles;
    use std::time::Duration;

    fn grant(idp: &[&str], kube: &[&str]) -> Grant {
        Grant {
            name: None,
            idp_groups: idp.iter().map(|s| s.to_string()).collect(),
            kube_groups: kube.iter().map(|s| s.to_string()).collect(),
            namespaces: vec!["payments".into()],
            cluster_role: "edit".into(),
            approval: None,
            break_glass: None,
        }
    }

    fn cluster(grants: Vec<Grant>) -> ClusterConfig {
        ClusterConfig {
            ca: KeyPairFiles {
                cert_file: "c".into(),
                key_file: "k".into(),
            },
            credential_ttl: Duration::from_secs(600),
            max_session: Duration::from_secs(3600),
            require_reason: false,
            grants,
            proxy: None,
        }
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_matching_grant_wins() {
        let c = cluster(vec![
            grant(&["dev"], &["kaccess:dev"]),
            grant(&["sre", "dev"], &["kaccess:sre"]),
        ]);
        assert_eq!(
            decide("prod", &c, &groups(&["sre", "dev"]))
                .unwrap()
                .kube_groups,
            ["kaccess:dev"]
        );
        assert_eq!(
            decide("prod", &c, &groups(&["sre"])).unwrap().kube_groups,
            ["kaccess:sre"]
        );
    }

    #[test]
    fn a_grant_that_needs_approval_is_reached_only_by_name_and_only_by_members() {
        let admin = Grant {
            name: Some("prod-admin".into()),
            approval: Some(crate::broker::config::Approval {
                approver_groups: vec!["leads".into()],
                approvals: 1,
                max_duration: Duration::from_secs(3600),
                request_ttl: Duration::from_secs(1800),
            }),
            ..grant(&["sre"], &["kaccess:prod:admin"])
        };
        let c = cluster(vec![admin, grant(&["sre"], &["kaccess:prod:sre"])]);
        let sre = groups(&["sre"]);
        assert_eq!(
            decide("prod", &c, &sre).unwrap().kube_groups,
            ["kaccess:prod:sre"],
            "a plain login never lands on the approval grant"
        );
        assert_eq!(
            decide_named("prod", &c, &sre, "prod-admin")
                .unwrap()
                .kube_groups,
            ["kaccess:prod:admin"]
        );
        assert!(matches!(
            decide_named("prod", &c, &groups(&["dev"]), "prod-admin"),
            Err(PolicyError::NotMember { .. })
        ));
        assert!(matches!(
            decide_named("prod", &c, &sre, "nope"),
            Err(PolicyError::UnknownGrant { .. })
        ));
    }

    #[test]
    fn no_matching_group_is_denied() {
        let c = cluster(vec![grant(&["sre"], &["kaccess:sre"])]);
        let err = decide("prod", &c, &groups(&["marketing"])).unwrap_err();
        assert!(matches!(err, PolicyError::NoGrant { .. }));
        assert!(decide("prod", &c, &[]).is_err());
    }

    #[test]
    fn reserved_groups_are_refused_even_when_listed() {
        let c = cluster(vec![grant(&["sre"], &["kaccess:sre", "system:masters"])]);
        let err = decide("prod", &c, &groups(&["sre"])).unwrap_err();
        assert_eq!(
            err,
            PolicyError::ReservedGroup {
                cluster: "prod".into(),
                index: 0,
                group: "system:masters".into()
            }
        );
    }
}
