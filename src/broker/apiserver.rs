//! `kaccess serve --print-apiserver-config`: what kube-apiserver needs to
//! trust this broker: its cluster CA for client certificates, and its
//! TokenReview webhook (flags plus the webhook kubeconfig). For a cluster
//! behind the access proxy it is the opposite: neither may be configured
//! (the proxy is the only way in), and an audit policy records the
//! impersonated person, session and reason.

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
    if let Some(proxy) = &cluster.proxy {
        return Ok(proxied(&name, proxy));
    }
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

/// Where the printed instructions put the audit policy.
pub const AUDIT_POLICY_PATH: &str = "/etc/kubernetes/kaccess-audit-policy.yaml";

/// The instructions for a cluster behind the access proxy.
fn proxied(name: &str, proxy: &crate::proxy::config::ProxyConfig) -> String {
    use crate::proxy::config::ProxyIdentity;
    let proxy_user = match &proxy.upstream.identity {
        Some(ProxyIdentity::Serviceaccount(sa)) => {
            let (ns, n) = sa.split_once('/').unwrap_or(("", sa));
            Some(format!("system:serviceaccount:{ns}:{n}"))
        }
        Some(ProxyIdentity::User(u)) => Some(u.clone()),
        None => None,
    };
    let users = proxy_user
        .map(|u| format!("    users: [{}]\n", serde_json::Value::String(u)))
        .unwrap_or_default();
    format!(
        "\
# Cluster `{name}` is served through the kaccess access proxy ({listen}).
# Do NOT configure the kaccess CA (--client-ca-file) or the kaccess token webhook
# (--authentication-token-webhook-config-file) at this kube-apiserver: the proxy
# must be the only way in for kaccess sessions, or a certificate could not be
# revoked and a stream could outlive its session. Trust only the proxy's own
# identity (`upstream.token-file` or `upstream.client-cert-file`), bound to the
# impersonation role that `kaccess rbac render --cluster {name}` prints.
# Record who the proxy impersonated (user, groups, session id and reason are in
# the audit event's `impersonatedUser`):
--audit-policy-file={AUDIT_POLICY_PATH}
--audit-log-path=/var/log/kubernetes/kaccess-audit.log
---
# {AUDIT_POLICY_PATH}
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # Every request made through the proxy, with the impersonated user and extra.
  - level: Metadata
{users}",
        listen = proxy.listen,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::tests::EXAMPLE;

    #[test]
    fn a_proxied_cluster_must_not_trust_the_kaccess_ca_and_gets_an_audit_policy() {
        let dir = tempfile::tempdir().unwrap();
        let text = crate::broker::config::tests::with_proxy(
            dir.path(),
            "        token-file: token\n        identity: {serviceaccount: kaccess/proxy}\n",
        );
        let cfg = BrokerConfig::parse(&text, dir.path()).unwrap();
        let out = render(&cfg, None).unwrap();
        assert!(out.contains("Do NOT configure the kaccess CA"), "{out}");
        assert!(!out.contains("\n--client-ca-file="), "{out}");
        let policy = out.split("\n---\n").nth(1).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(policy).unwrap();
        assert_eq!(v["kind"].as_str(), Some("Policy"));
        assert_eq!(v["rules"][0]["level"].as_str(), Some("Metadata"));
        assert_eq!(
            v["rules"][0]["users"][0].as_str(),
            Some("system:serviceaccount:kaccess:proxy")
        );
    }

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
