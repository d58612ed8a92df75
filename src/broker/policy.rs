//! Who gets what: the first grant of a cluster whose `idp-groups` meet the
//! user's IdP groups decides the Kubernetes groups and namespaces. No match
//! means no credential. Groups Kubernetes reserves (`system:`) are refused
//! here again even though config loading already refuses them, so a policy
//! change that slips past validation still cannot mint `system:masters`.

use super::config::{ClusterConfig, Grant, is_reserved_group};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("no grant on cluster `{cluster}` matches the groups {groups:?}")]
    NoGrant {
        cluster: String,
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
        .find(|(_, g)| g.idp_groups.iter().any(|want| idp_groups.contains(want)))
        .ok_or_else(|| PolicyError::NoGrant {
            cluster: cluster_name.to_string(),
            groups: idp_groups.to_vec(),
        })?;
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
            idp_groups: idp.iter().map(|s| s.to_string()).collect(),
            kube_groups: kube.iter().map(|s| s.to_string()).collect(),
            namespaces: vec!["payments".into()],
            cluster_role: "edit".into(),
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
