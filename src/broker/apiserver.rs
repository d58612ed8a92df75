//! `kaccess serve --print-apiserver-config`: what kube-apiserver needs to
//! trust this broker: its cluster CA for client certificates, and its
//! TokenReview webhook (flags plus the webhook kubeconfig).

use super::config::BrokerConfig;
use anyhow::{Context, Result};
use base64::Engine as _;

/// Where the printed instructions put the webhook kubeconfig.
pub const WEBHOOK_CONFIG_PATH: &str = "/etc/kubernetes/kaccess-webhook.yaml";

/// Suggested webhook cache: a revoked token keeps working at most this
/// long on an apiserver that cached the positive answer.
pub const CACHE_TTL: &str = "10s";

/// The flags and webhook kubeconfig for `cluster` (the only one if `None`).
pub fn render(cfg: &BrokerConfig, cluster: Option<&str>) -> Result<String> {
    let name = match cluster {
        Some(c) => c.to_string(),
        None if cfg.clusters.len() == 1 => cfg.clusters.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(crate::error::Failure::usage(format!(
                "the broker serves {} clusters; say which",
                cfg.clusters.len()
            ))
            .help("add `--cluster NAME`")
            .into());
        }
    };
    let cluster = cfg.clusters.get(&name).ok_or_else(|| {
        crate::error::Failure::usage(format!("the broker configuration has no cluster `{name}`"))
    })?;
    let scheme = if cfg.insecure_http { "http" } else { "https" };
    let host = if cfg.listen.ip().is_unspecified() {
        format!("BROKER-HOST:{}", cfg.listen.port())
    } else {
        cfg.listen.to_string()
    };
    // Per-cluster path: a token only authenticates at its own cluster.
    let server = format!(
        "{scheme}://{host}{}/{name}",
        crate::protocol::TOKENREVIEW_PATH
    );
    let ca_line = match &cfg.tls {
        Some(tls) if !cfg.insecure_http => {
            let pem = std::fs::read(&tls.cert_file).with_context(|| {
                format!(
                    "cannot read the broker certificate `{}`",
                    tls.cert_file.display()
                )
            })?;
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        }
        _ => String::new(),
    };
    Ok(format!(
        "\
# kube-apiserver flags for cluster `{name}`.
# --client-ca-file takes one file: if the cluster already trusts a client CA,
# concatenate both PEM files and point the flag at the bundle.
# The webhook cache TTL bounds how long a revoked token keeps working.
--client-ca-file={ca}
--authentication-token-webhook-config-file={WEBHOOK_CONFIG_PATH}
--authentication-token-webhook-version=v1
--authentication-token-webhook-cache-ttl={CACHE_TTL}
---
# {WEBHOOK_CONFIG_PATH}: how kube-apiserver reaches the broker's TokenReview webhook.
# certificate-authority-data is the broker's TLS certificate; if that is issued
# by a CA, put that CA here instead.
apiVersion: v1
kind: Config
clusters:
- name: kaccess-broker
  cluster:
    server: {server}
{ca_line}users:
- name: kube-apiserver
  user: {{}}
contexts:
- name: webhook
  context:
    cluster: kaccess-broker
    user: kube-apiserver
current-context: webhook
",
        ca = cluster.ca.cert_file.display(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::tests::EXAMPLE;

    #[test]
    fn prints_the_flags_and_a_webhook_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broker.crt"), "PEM").unwrap();
        let cfg = BrokerConfig::parse(EXAMPLE, dir.path()).unwrap();
        let text = render(&cfg, None).unwrap();
        let ca = dir.path().join("prod-ca.crt");
        assert!(
            text.contains(&format!("--client-ca-file={}\n", ca.display())),
            "{text}"
        );
        assert!(text.contains("--authentication-token-webhook-version=v1\n"));
        assert!(text.contains("--authentication-token-webhook-cache-ttl=10s\n"));
        let kubeconfig = text.split("\n---\n").nth(1).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"].as_str(),
            Some("https://127.0.0.1:8443/v1/tokenreview/prod")
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"].as_str(),
            Some("UEVN")
        );
    }
}
