//! `kaccess rbac render`: the Kubernetes RBAC that makes the broker's
//! grants mean something. Each grant binds its kube-groups to its
//! cluster-role with one RoleBinding per namespace (least privilege); only
//! `namespaces: ["*"]` becomes a ClusterRoleBinding. A proxied cluster
//! also gets the access proxy's ClusterRole (`impersonate` on users,
//! groups and the two kaccess user extras, nothing else) and, when
//! `upstream.identity` names the proxy, its ClusterRoleBinding. Output is
//! YAML for `kubectl apply -f -`.

use super::config::{BrokerConfig, ClusterConfig, Grant, is_reserved_group};
use serde_json::{Value, json};

/// Kubernetes object names: lower-case alphanumerics and `-`.
fn dns_label(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

fn subjects(grant: &Grant) -> Value {
    Value::Array(
        grant
            .kube_groups
            .iter()
            .filter(|g| !is_reserved_group(g))
            .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
            .collect(),
    )
}

/// The binding objects of one cluster, in grant order.
pub fn bindings(cluster_name: &str, cluster: &ClusterConfig) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, g) in cluster.grants.iter().enumerate() {
        let name = format!(
            "kaccess-{}-{i}-{}",
            dns_label(cluster_name),
            dns_label(&g.cluster_role)
        );
        let labels = json!({"app.kubernetes.io/managed-by": "kaccess", "kaccess.io/cluster": dns_label(cluster_name)});
        let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": g.cluster_role});
        if g.cluster_wide() {
            out.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": labels},
                "roleRef": role_ref,
                "subjects": subjects(g),
            }));
        } else {
            for ns in &g.namespaces {
                out.push(json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "roleRef": role_ref,
                    "subjects": subjects(g),
                }));
            }
        }
    }
    out
}

/// The access proxy's role: it may impersonate users, the grants' kube
/// groups by name (so not even a compromised proxy can claim
/// `system:masters`), and the session-id and reason extras, and do
/// nothing as itself.
pub fn proxy_role(cluster_name: &str, cluster: &ClusterConfig) -> Vec<Value> {
    let Some(proxy) = &cluster.proxy else {
        return Vec::new();
    };
    let name = format!("kaccess-{}-proxy", dns_label(cluster_name));
    let labels = json!({"app.kubernetes.io/managed-by": "kaccess", "kaccess.io/cluster": dns_label(cluster_name)});
    let extras: Vec<String> = [
        crate::protocol::EXTRA_SESSION_ID,
        crate::protocol::EXTRA_REASON,
        crate::protocol::EXTRA_REQUEST_ID,
    ]
    .iter()
    .map(|k| format!("userextras/{k}"))
    .collect();
    let mut groups: Vec<&String> = cluster
        .grants
        .iter()
        .flat_map(|g| &g.kube_groups)
        .filter(|g| !is_reserved_group(g))
        .collect();
    groups.sort();
    groups.dedup();
    let mut rules =
        vec![json!({"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]})];
    // An empty resourceNames would mean every group: left out instead.
    if !groups.is_empty() {
        rules.push(json!({"apiGroups": [""], "resources": ["groups"], "resourceNames": groups, "verbs": ["impersonate"]}));
    }
    rules.push(json!({"apiGroups": ["authentication.k8s.io"], "resources": extras, "verbs": ["impersonate"]}));
    let mut out = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": rules,
    })];
    if let Some(identity) = &proxy.upstream.identity {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [identity.subject()],
        }));
    }
    out
}

/// YAML documents for `cluster`, or every cluster when `None`.
pub fn render(cfg: &BrokerConfig, cluster: Option<&str>) -> Result<String, String> {
    let selected: Vec<(&String, &ClusterConfig)> = match cluster {
        Some(name) => {
            let (k, v) = cfg.clusters.get_key_value(name).ok_or_else(|| {
                format!(
                    "the broker configuration has no cluster `{name}` (it has: {})",
                    cfg.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            vec![(k, v)]
        }
        None => cfg.clusters.iter().collect(),
    };
    let mut out = String::new();
    for (name, c) in selected {
        out.push_str(&format!(
            "# kaccess grants for cluster `{name}`: apply with `kubectl --context {name} apply -f -`\n"
        ));
        for doc in bindings(name, c).into_iter().chain(proxy_role(name, c)) {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&doc).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::tests::EXAMPLE;
    use std::path::Path;

    #[test]
    fn namespaced_grants_become_one_rolebinding_per_namespace() {
        let cfg = BrokerConfig::parse(EXAMPLE, Path::new("/")).unwrap();
        let docs = bindings("prod", &cfg.clusters["prod"]);
        assert_eq!(docs.len(), 2);
        for (doc, ns) in docs.iter().zip(["payments", "billing"]) {
            assert_eq!(doc["kind"], "RoleBinding");
            assert_eq!(doc["metadata"]["namespace"], ns);
            assert_eq!(doc["roleRef"]["kind"], "ClusterRole");
            assert_eq!(doc["roleRef"]["name"], "edit");
            assert_eq!(doc["subjects"][0]["name"], "kaccess:prod:sre");
            assert_eq!(doc["subjects"][0]["kind"], "Group");
        }
        let yaml = render(&cfg, Some("prod")).unwrap();
        let parsed: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn star_is_the_only_way_to_a_clusterrolebinding() {
        let text = EXAMPLE.replace("[payments, billing]", "[\"*\"]");
        let cfg = BrokerConfig::parse(&text, Path::new("/")).unwrap();
        let docs = bindings("prod", &cfg.clusters["prod"]);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["kind"], "ClusterRoleBinding");
        assert!(docs[0]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn a_proxied_cluster_gets_the_proxys_impersonation_role_and_binding() {
        let cfg = BrokerConfig::parse(EXAMPLE, Path::new("/")).unwrap();
        assert!(proxy_role("prod", &cfg.clusters["prod"]).is_empty());
        let dir = tempfile::tempdir().unwrap();
        let text = crate::broker::config::tests::with_proxy(
            dir.path(),
            "        token-file: token\n        identity: {serviceaccount: kaccess/proxy}\n",
        );
        let cfg = BrokerConfig::parse(&text, dir.path()).unwrap();
        let docs = proxy_role("prod", &cfg.clusters["prod"]);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "ClusterRole");
        let rules = docs[0]["rules"].as_array().unwrap();
        assert!(
            rules.iter().all(|r| r["verbs"] == json!(["impersonate"])),
            "{rules:?}"
        );
        assert_eq!(rules[0]["resources"], json!(["users"]));
        assert_eq!(rules[1]["resources"], json!(["groups"]));
        assert_eq!(rules[1]["resourceNames"], json!(["kaccess:prod:sre"]));
        assert_eq!(
            rules[2]["resources"],
            json!([
                "userextras/kaccess.io/session-id",
                "userextras/kaccess.io/reason",
                "userextras/kaccess.io/request-id"
            ])
        );
        assert_eq!(docs[1]["kind"], "ClusterRoleBinding");
        assert_eq!(
            docs[1]["subjects"][0],
            json!({"kind": "ServiceAccount", "namespace": "kaccess", "name": "proxy"})
        );
        let yaml = render(&cfg, Some("prod")).unwrap();
        assert!(yaml.contains("name: kaccess-prod-proxy"), "{yaml}");
    }

    #[test]
    fn unknown_cluster_names_the_known_ones() {
        let cfg = BrokerConfig::parse(EXAMPLE, Path::new("/")).unwrap();
        assert!(
            render(&cfg, Some("staging"))
                .unwrap_err()
                .contains("it has: prod")
        );
    }
}
