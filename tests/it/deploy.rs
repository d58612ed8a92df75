//! The deployment kit stays in step with the code: every manifest is valid
//! YAML, the broker config inside the ConfigMap is accepted by the broker's
//! own parser, and the broker runs hardened (non-root, read-only root fs,
//! readiness on /healthz, one replica while state is local). The systemd
//! unit passes `systemd-analyze verify`, and the logrotate config is run by
//! the real logrotate against a running broker.

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
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

#[test]
fn configmap_broker_config_is_accepted_by_the_broker_parser() {
    let docs = docs("base/broker.yaml");
    let text = kind(&docs, "ConfigMap")["data"]["broker.yaml"]
        .as_str()
        .unwrap();
    let cfg = kaccess::broker::config::BrokerConfig::parse(text, Path::new("/"))
        .unwrap_or_else(|e| panic!("deploy/base/broker.yaml ConfigMap: {e}"));
    assert!(cfg.clusters.contains_key("prod"));
}

#[test]
fn the_proxy_example_is_accepted_by_the_broker_parser() {
    let docs = docs("proxy.yaml");
    let text = kind(&docs, "ConfigMap")["data"]["broker.yaml"]
        .as_str()
        .unwrap();
    // The proxy's files must exist: lay them out under a temporary root.
    let root = tempfile::tempdir().unwrap();
    let sa = root.path().join("sa");
    std::fs::create_dir_all(&sa).unwrap();
    for f in ["ca.crt", "token"] {
        std::fs::write(sa.join(f), "x").unwrap();
    }
    let text = text.replace(
        "/var/run/secrets/kubernetes.io/serviceaccount",
        &sa.display().to_string(),
    );
    let cfg = kaccess::broker::config::BrokerConfig::parse(&text, Path::new("/"))
        .unwrap_or_else(|e| panic!("deploy/proxy.yaml ConfigMap: {e}"));
    let proxy = cfg.clusters["prod"].proxy.as_ref().expect("a proxy block");
    assert_eq!(proxy.listen.port(), 9443);
    assert!(docs.iter().any(|d| d["kind"] == "ServiceAccount"));
}

#[test]
fn broker_deployment_is_hardened_and_single_replica() {
    let docs = docs("base/broker.yaml");
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

/// `kubectl kustomize deploy/DIR`, parsed.
fn kustomize(dir: &str) -> Vec<serde_yaml::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(dir);
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .expect("run kubectl (the test suite needs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn kustomize_renders_the_base_as_one_replica_and_the_ha_overlay_as_three_on_postgres() {
    let base = kustomize("base");
    assert_eq!(kind(&base, "Deployment")["spec"]["replicas"], 1);
    kind(&base, "PersistentVolumeClaim");

    let ha = kustomize("overlays/ha");
    let dep = kind(&ha, "Deployment");
    assert_eq!(dep["spec"]["replicas"], 3);
    assert_eq!(dep["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &dep["spec"]["template"]["spec"];
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let c = &pod["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // No SQLite volume; the password and CA come from a Secret.
    assert!(ha.iter().all(|d| d["kind"] != "PersistentVolumeClaim"));
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(!mounts.contains(&"/var/lib/kaccess"), "{mounts:?}");
    assert!(mounts.contains(&"/etc/kaccess/database"), "{mounts:?}");
    let secret = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "database")
        .expect("the database volume");
    assert_eq!(secret["secret"]["secretName"], "kaccess-database");
    assert!(
        ha.iter()
            .any(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "kaccess-database")
    );
    assert_eq!(kind(&ha, "PodDisruptionBudget")["spec"]["minAvailable"], 2);
    // The overlay's broker.yaml is valid, on PostgreSQL, with no audit file.
    let text = kind(&ha, "ConfigMap")["data"]["broker.yaml"]
        .as_str()
        .unwrap();
    let cfg = kaccess::broker::config::BrokerConfig::parse(text, Path::new("/"))
        .unwrap_or_else(|e| panic!("deploy/overlays/ha ConfigMap: {e}"));
    let kaccess::broker::config::StateConfig::Postgres(pg) = cfg.state else {
        panic!("the ha overlay is not on PostgreSQL")
    };
    assert_eq!(
        pg.password_file.as_deref(),
        Some(Path::new("/etc/kaccess/database/password"))
    );
    assert_eq!(
        pg.url_file.as_deref(),
        Some(Path::new("/etc/kaccess/database/url"))
    );
    assert_eq!(cfg.audit.file, None);
}

#[test]
fn webhook_template_points_at_a_per_cluster_tokenreview_path() {
    let docs = docs("apiserver-webhook.yaml");
    let server = docs[0]["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap();
    assert!(server.ends_with("/v1/tokenreview/prod"), "{server}");
}

fn deploy_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_systemd_unit_is_valid_hardened_and_reloads_with_sighup() {
    let unit = deploy_file("systemd/kaccess-broker.service");
    for line in [
        "ExecStart=/usr/local/bin/kaccess serve --config /etc/kaccess/broker.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=kaccess",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(line), "the unit lacks `{line}`");
    }
    // systemd's own parser, with ExecStart pointing at a binary that exists.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kaccess-broker.service");
    let bin = crate::support::kaccess_bin();
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/kaccess", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        // The man page it names is installed by install.sh, not here.
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze (Debian package `systemd`; scripts/test-deps installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );
}

/// The shipped logrotate config, run by the real logrotate against a
/// running broker: the renamed file and the new one verify as one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_logrotate_config_rotates_a_running_brokers_audit_log() {
    use crate::support::broker::{Broker, BrokerOptions};
    // No IdP needed: refused token reviews are audited too.
    let broker = Broker::start(BrokerOptions::new("http://127.0.0.1:9"));
    let client = broker.client();
    let refuse_one = || async {
        let body = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"not-a-token"}}"#;
        let resp = client
            .post(broker.url("/v1/tokenreview/prod"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    };
    refuse_one().await;
    refuse_one().await;

    let audit = broker.audit_path().to_path_buf();
    let pid = broker.pid().unwrap();
    let conf = deploy_file("systemd/kaccess-broker.logrotate")
        .replace("/var/lib/kaccess/audit.jsonl", audit.to_str().unwrap())
        .replace(
            "systemctl reload kaccess-broker.service",
            &format!("kill -HUP {pid}"),
        );
    assert!(
        conf.contains(&format!("kill -HUP {pid}")),
        "postrotate must signal the broker"
    );
    let work = tempfile::tempdir().unwrap();
    let conf_path = work.path().join("kaccess-broker");
    std::fs::write(&conf_path, conf).unwrap();
    let out = std::process::Command::new("logrotate")
        .arg("--force")
        .arg("--state")
        .arg(work.path().join("state"))
        .arg(&conf_path)
        .output()
        .expect("logrotate (Debian package `logrotate`; scripts/test-deps installs it)");
    assert!(
        out.status.success(),
        "logrotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    broker.wait_for_log("started a new audit file", 1);
    refuse_one().await;

    let rotated: Vec<_> = std::fs::read_dir(audit.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.jsonl-")
        })
        .collect();
    assert_eq!(rotated.len(), 1, "one dated file: {rotated:?}");
    let verify = std::process::Command::new(crate::support::kaccess_bin())
        .args(["audit", "verify"])
        .arg(&rotated[0])
        .arg(&audit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{err}");
    // Two refusals, then rotation + config records and one more refusal.
    assert!(
        err.contains("2 files, 5 records: one intact chain"),
        "{err}"
    );
}
