//! The session kubeconfig: one cluster, one context `kaccess-CLUSTER`, one
//! user. Normally the user is an exec stanza that runs
//! `kaccess-credential credential CLUSTER` (the small hit-path binary beside
//! `kaccess`, else `kaccess credential CLUSTER`; no secret in the file); with `--embed` the
//! certificate and key (or token) are written inline for tools without exec
//! support, and the file then lives only as long as that credential.

use crate::secret::Secret;
use base64::Engine;
use serde::Serialize;
use std::path::Path;

/// How the kubeconfig's user authenticates.
pub enum UserAuth<'a> {
    /// `COMMAND credential CLUSTER` ([`plugin_command`]), with the env the plugin needs to find
    /// this session again (kubectl does not pass the caller's env through
    /// unchanged in every tool).
    Exec {
        command: &'a Path,
        env: Vec<(String, String)>,
    },
    EmbeddedCertificate {
        certificate_pem: &'a str,
        key_pem: &'a Secret,
    },
    EmbeddedToken {
        token: &'a Secret,
    },
}

pub struct KubeconfigSpec<'a> {
    pub cluster: &'a str,
    pub server: &'a str,
    /// PEM bundle of the API server's CA; `None` uses the system roots.
    pub ca_pem: Option<&'a [u8]>,
    pub namespace: Option<&'a str>,
    pub auth: UserAuth<'a>,
}

#[derive(Serialize)]
struct Kubeconfig<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: [Named<ClusterEntry<'a>>; 1],
    users: [NamedUser<'a>; 1],
    contexts: [Named<ContextEntry<'a>>; 1],
    #[serde(rename = "current-context")]
    current_context: String,
}

#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    inner: T,
}

#[derive(Serialize)]
struct ClusterEntry<'a> {
    cluster: ClusterBody<'a>,
}

#[derive(Serialize)]
struct ClusterBody<'a> {
    server: &'a str,
    #[serde(
        rename = "certificate-authority-data",
        skip_serializing_if = "Option::is_none"
    )]
    ca_data: Option<String>,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: String,
    user: UserBody<'a>,
}

#[derive(Serialize, Default)]
struct UserBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<ExecBody<'a>>,
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none"
    )]
    client_certificate_data: Option<String>,
    #[serde(rename = "client-key-data", skip_serializing_if = "Option::is_none")]
    client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

#[derive(Serialize)]
struct ExecBody<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    command: String,
    args: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    #[serde(rename = "interactiveMode")]
    interactive_mode: &'static str,
    #[serde(rename = "provideClusterInfo")]
    provide_cluster_info: bool,
    #[serde(rename = "installHint")]
    install_hint: &'static str,
}

#[derive(Serialize)]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct ContextEntry<'a> {
    context: ContextBody<'a>,
}

#[derive(Serialize)]
struct ContextBody<'a> {
    cluster: String,
    user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

pub const INSTALL_HINT: &str = "kaccess is required to use this session kubeconfig. \
Install it with ./install.sh from the kaccess repository, then run: kaccess login <cluster>";

/// The small exec-plugin binary installed beside `kaccess`
/// (`credential::hit`).
pub const PLUGIN_BIN: &str = "kaccess-credential";

/// What the exec stanza runs, given the running `kaccess`: the small
/// `kaccess-credential` beside it when it is there (the same arguments, a
/// cache hit without `kaccess`'s start-up), else `kaccess` itself.
pub fn plugin_command(kaccess: &Path) -> std::path::PathBuf {
    let small = kaccess.with_file_name(PLUGIN_BIN);
    if small.is_file() {
        small
    } else {
        kaccess.to_owned()
    }
}

pub fn context_name(cluster: &str) -> String {
    format!("kaccess-{cluster}")
}

/// Renders the kubeconfig YAML.
pub fn render(spec: &KubeconfigSpec) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let name = context_name(spec.cluster);
    let user = match &spec.auth {
        UserAuth::Exec { command, env } => UserBody {
            exec: Some(ExecBody {
                api_version: "client.authentication.k8s.io/v1",
                command: command.display().to_string(),
                args: vec!["credential", spec.cluster],
                env: env
                    .iter()
                    .map(|(n, v)| EnvVar {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                interactive_mode: "IfAvailable",
                provide_cluster_info: false,
                install_hint: INSTALL_HINT,
            }),
            ..Default::default()
        },
        UserAuth::EmbeddedCertificate {
            certificate_pem,
            key_pem,
        } => UserBody {
            client_certificate_data: Some(b64(certificate_pem.as_bytes())),
            client_key_data: Some(b64(key_pem.expose().as_bytes())),
            ..Default::default()
        },
        UserAuth::EmbeddedToken { token } => UserBody {
            token: Some(token.expose()),
            ..Default::default()
        },
    };
    let doc = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: [Named {
            name: name.clone(),
            inner: ClusterEntry {
                cluster: ClusterBody {
                    server: spec.server,
                    ca_data: spec.ca_pem.map(b64),
                },
            },
        }],
        users: [NamedUser {
            name: name.clone(),
            user,
        }],
        contexts: [Named {
            name: name.clone(),
            inner: ContextEntry {
                context: ContextBody {
                    cluster: name.clone(),
                    user: name.clone(),
                    namespace: spec.namespace,
                },
            },
        }],
        current_context: name,
    };
    serde_yaml::to_string(&doc).expect("kubeconfig structs always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_kubeconfig_has_no_secret_and_points_at_kaccess_credential() {
        let yaml = render(&KubeconfigSpec {
            cluster: "prod",
            server: "https://127.0.0.1:6443",
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----\n"),
            namespace: Some("payments"),
            auth: UserAuth::Exec {
                command: Path::new("/usr/local/bin/kaccess"),
                env: vec![("KACCESS_RUNTIME_DIR".into(), "/run/user/1/kaccess".into())],
            },
        });
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["current-context"], "kaccess-prod");
        let exec = &v["users"][0]["user"]["exec"];
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(exec["command"], "/usr/local/bin/kaccess");
        assert_eq!(exec["args"][0], "credential");
        assert_eq!(exec["args"][1], "prod");
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "payments");
        assert!(v["users"][0]["user"]["client-key-data"].is_null());
        assert!(!yaml.contains("token"));
    }

    #[test]
    fn exec_stanza_runs_kaccess_credential_beside_kaccess_else_kaccess_itself() {
        let d = tempfile::tempdir().unwrap();
        let kaccess = d.path().join("kaccess");
        std::fs::write(&kaccess, "").unwrap();
        assert_eq!(plugin_command(&kaccess), kaccess, "no small binary there");
        std::fs::write(d.path().join(PLUGIN_BIN), "").unwrap();
        assert_eq!(plugin_command(&kaccess), d.path().join(PLUGIN_BIN));
    }

    #[test]
    fn embedded_certificate_is_base64_inline() {
        let key = Secret::new("KEY");
        let yaml = render(&KubeconfigSpec {
            cluster: "prod",
            server: "https://x",
            ca_pem: None,
            namespace: None,
            auth: UserAuth::EmbeddedCertificate {
                certificate_pem: "CERT",
                key_pem: &key,
            },
        });
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["users"][0]["user"]["client-certificate-data"], "Q0VSVA==");
        assert_eq!(v["users"][0]["user"]["client-key-data"], "S0VZ");
        assert!(v["users"][0]["user"]["exec"].is_null());
    }
}
