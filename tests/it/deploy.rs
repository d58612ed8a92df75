//! The deployment kit stays in step with the code: every manifest is valid
//! YAML, the broker config inside the ConfigMap is accepted by the broker's
//! own parser, and the broker runs hardened (non-root, read-only root fs,
//! readiness on /healthz, one replica while state is local).

use std::path::Path;

fn docs(file: &str) -> Vec<serde_yaml::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/broker.yaml"))
}

#[test]
fn configmap_broker_config_is_accepted_by_the_broker_parser() {
    let docs = docs("broker.yaml");
    let text = kind(&docs, "ConfigMap")["data"]["broker.yaml"]
        .as_str()
        .unwrap();
    let cfg = kaccess::broker::config::BrokerConfig::parse(text, Path::new("/"))
        .unwrap_or_else(|e| panic!("deploy/broker.yaml ConfigMap: {e}"));
    assert!(cfg.clusters.contains_key("prod"));
}

#[test]
fn broker_deployment_is_hardened_and_single_replica() {
    let docs = docs("broker.yaml");
    let dep = kind(&docs, "Deployment");
    assert_eq!(dep["spec"]["replicas"], 1, "state is local: one replica");
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    for k in [
        "Service",
        "PodDisruptionBudget",
        "Secret",
        "PersistentVolumeClaim",
    ] {
        kind(&docs, k);
    }
}

#[test]
fn webhook_template_points_at_a_per_cluster_tokenreview_path() {
    let docs = docs("apiserver-webhook.yaml");
    let server = docs[0]["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap();
    assert!(server.ends_with("/v1/tokenreview/prod"), "{server}");
}
