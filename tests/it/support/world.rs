//! A whole kaccess world on 127.0.0.1 for end-to-end tests: the real OIDC
//! provider, a real `kaccess serve` broker with a fresh cluster CA, the API
//! stand-in trusting that CA and the broker's TokenReview webhook, and a
//! private home with a client config pointing at all of them. Everything
//! stops when the `World` is dropped.

use super::apiserver::{ApiServer, ApiServerOptions, Webhook};
use super::broker::spawn_serve;
use super::idp::{Idp, IdpOptions};
use super::pki::TestCa;
use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// What a world should look like; `Default` is a typical cluster `demo`.
pub struct WorldOptions {
    pub idp: IdpOptions,
    pub credential: &'static str,
    pub credential_ttl: &'static str,
    pub max_session: &'static str,
    pub require_reason: bool,
    /// Extra keys under the client's `clusters.demo`.
    pub client_extra: String,
    /// The broker's `admin-groups`.
    pub admin_groups: Vec<&'static str>,
    /// More top-level keys of `broker.yaml` (`auditor-groups:`, `alerts:`).
    pub broker_top: String,
    /// More grants under the broker's `clusters.demo.grants` (indented six
    /// spaces).
    pub broker_grants: &'static str,
    /// The `kaccess` that serves and logs in (the demo passes the
    /// installed one).
    pub kaccess: PathBuf,
    /// Through the access proxy: the broker serves `demo`'s API, the
    /// stand-in trusts neither the kaccess CA nor the webhook, only the
    /// proxy's service-account token (which may impersonate), and the
    /// client's `server:` is the proxy.
    pub proxied: bool,
    /// Where the broker's audit log goes (default `audit.jsonl` in the
    /// world's directory).
    pub audit_file: Option<PathBuf>,
    /// The proxy's `record:` policy (proxied worlds; default: left out,
    /// which is `optional`).
    pub record: Option<&'static str>,
    /// The broker's `auditor-groups`.
    pub auditor_groups: Vec<&'static str>,
    /// YAML for the broker's `state:` and `audit:` instead of SQLite and
    /// `audit_file` (PostgreSQL: `support::postgres::Postgres::state_yaml`).
    pub state_yaml: Option<String>,
}

/// The access proxy's own identity at the stand-in.
pub const PROXY_TOKEN: &str = "proxy-service-account-token";
pub const PROXY_USER: &str = "system:serviceaccount:kaccess:proxy";

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            idp: IdpOptions {
                device_auto_approve_ms: Some(100),
                ..IdpOptions::default()
            },
            credential: "certificate",
            credential_ttl: "10m",
            max_session: "8h",
            require_reason: true,
            client_extra: String::new(),
            admin_groups: Vec::new(),
            broker_top: String::new(),
            broker_grants: "",
            kaccess: super::kaccess_bin(),
            proxied: false,
            audit_file: None,
            record: None,
            auditor_groups: Vec::new(),
            state_yaml: None,
        }
    }
}

pub struct Broker {
    child: Child,
    pub url: String,
    pub serving_ca_pem: String,
    pub config_path: PathBuf,
    pub audit_path: PathBuf,
    kaccess: PathBuf,
    /// Its stderr lines, kept across restarts.
    log: Arc<Mutex<Vec<String>>>,
}

impl Broker {
    /// Starts `kaccess serve --config CONFIG` and waits for its address.
    pub fn start(
        kaccess: &Path,
        config_path: &Path,
        audit_path: &Path,
        serving_ca_pem: &str,
    ) -> Broker {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, url) = spawn_serve(kaccess, config_path, "warn", &log);
        Broker {
            child,
            url,
            serving_ca_pem: serving_ca_pem.to_owned(),
            config_path: config_path.to_owned(),
            audit_path: audit_path.to_owned(),
            kaccess: kaccess.to_owned(),
            log,
        }
    }

    /// The `kaccess serve` process (the bench reads its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Audit records so far, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// Everything the broker printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends `signal` to the broker (SIGSTOP/SIGCONT to make it hang and
    /// wake up again).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Kills the broker with SIGKILL (a crash) and starts it again on the
    /// same port, state and audit log, so clients configured with its URL
    /// reach the new process.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.url.rsplit(':').next().expect("port in broker URL");
        let yaml = std::fs::read_to_string(&self.config_path).expect("broker config");
        // The broker's own `listen` is the first line; a proxy's comes later.
        let yaml = yaml.replacen(
            "listen: 127.0.0.1:0\n",
            &format!("listen: 127.0.0.1:{port}\n"),
            1,
        );
        std::fs::write(&self.config_path, yaml).expect("rewrite broker config");
        let mut next = Broker::start(
            &self.kaccess,
            &self.config_path,
            &self.audit_path,
            &self.serving_ca_pem,
        );
        std::mem::swap(self, &mut next);
        // `next` is now the dead process: its Drop reaps nothing new.
    }

    /// Stops the broker the way an operator would (SIGTERM).
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub idp: Idp,
    pub broker: Broker,
    pub api: ApiServer,
    pub config: PathBuf,
    pub runtime: PathBuf,
    pub cluster_ca_pem: String,
    pub kaccess_bin: PathBuf,
    /// `https://127.0.0.1:PORT` of the access proxy, in a proxied world.
    pub proxy_url: Option<String>,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl World {
    pub fn start(opts: WorldOptions) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let idp = Idp::start(opts.idp);

        // The broker: serving cert from one CA, cluster CA (cert + key) for issuing.
        let serving_ca = TestCa::new("kaccess test broker CA");
        let serving = serving_ca.issue_server();
        write(&root.join("broker.crt"), &serving.cert_pem);
        write(&root.join("broker.key"), &serving.key_pem);
        write(&root.join("broker-ca.crt"), &serving_ca.cert_pem());
        let cluster_key = rcgen::KeyPair::generate().expect("cluster CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kaccess demo cluster CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cluster_ca = params.self_signed(&cluster_key).expect("self-sign");
        write(&root.join("cluster-ca.crt"), &cluster_ca.pem());
        write(&root.join("cluster-ca.key"), &cluster_key.serialize_pem());
        let audit = opts
            .audit_file
            .clone()
            .unwrap_or_else(|| root.join("audit.jsonl"));
        // A proxied cluster's API server comes first: the broker's config
        // names it.
        let upstream = opts.proxied.then(|| {
            let api = ApiServer::start(ApiServerOptions {
                static_tokens: vec![(PROXY_TOKEN.into(), PROXY_USER.into())],
                impersonators: vec![PROXY_USER.into()],
                ..Default::default()
            });
            write(&root.join("apiserver-ca.crt"), &api.ca_pem());
            write(&root.join("proxy-token"), &format!("{PROXY_TOKEN}\n"));
            api
        });
        let proxy_block = upstream.as_ref().map_or(String::new(), |api| {
            format!(
                "    proxy:\n      listen: 127.0.0.1:0\n      upstream:\n        server: {}\n        certificate-authority: apiserver-ca.crt\n        token-file: proxy-token\n        identity: {{serviceaccount: kaccess/proxy}}\n{}",
                api.url(),
                opts.record.map_or(String::new(), |r| format!("      record: {r}\n"))
            )
        });
        let state = opts.state_yaml.clone().unwrap_or_else(|| {
            format!(
                "state: {{sqlite: state.db}}\naudit: {{file: {}}}",
                audit.display()
            )
        });
        let broker_yaml = format!(
            r#"listen: 127.0.0.1:0
tls: {{cert-file: broker.crt, key-file: broker.key}}
{state}
admin-groups: {admins}
auditor-groups: {auditors}
{top}issuers:
  - issuer: {issuer}
    audiences: [kaccess]
    username-claim: email
    groups-claim: groups
    mfa: {{amr-any: [otp, mfa, hwk]}}
    max-auth-age: 10m
clusters:
  demo:
    ca: {{cert-file: cluster-ca.crt, key-file: cluster-ca.key}}
    credential-ttl: {ttl}
    max-session: {max}
    require-reason: {reason}
    grants:
      - idp-groups: [sre]
        kube-groups: ["kaccess:demo:sre"]
        namespaces: [payments, billing]
        cluster-role: edit
{grants}{proxy_block}"#,
            grants = opts.broker_grants,
            top = opts.broker_top,
            issuer = idp.issuer(),
            ttl = opts.credential_ttl,
            max = opts.max_session,
            reason = opts.require_reason,
            admins = serde_json::to_string(&opts.admin_groups).expect("JSON list"),
            auditors = serde_json::to_string(&opts.auditor_groups).expect("JSON list"),
        );
        let broker_config = root.join("broker.yaml");
        write(&broker_config, &broker_yaml);
        let broker = Broker::start(
            &opts.kaccess,
            &broker_config,
            &audit,
            &serving_ca.cert_pem(),
        );

        let proxy_url = opts.proxied.then(|| {
            let log = broker.stderr();
            log.lines()
                .find_map(|l| l.strip_prefix("kaccess: proxy for cluster `demo` listening on "))
                .unwrap_or_else(|| panic!("the broker started no proxy:\n{log}"))
                .trim()
                .to_string()
        });
        let api = upstream.unwrap_or_else(|| {
            ApiServer::start(ApiServerOptions {
                client_ca_pem: Some(cluster_ca.pem()),
                token_webhook: Some(Webhook {
                    url: format!("{}/v1/tokenreview", broker.url),
                    ca_pem: serving_ca.cert_pem(),
                }),
                ..Default::default()
            })
        });
        // Through the proxy the client trusts the proxy's serving CA (the
        // broker's) and talks to it; otherwise the stand-in itself.
        let (server, server_ca) = match &proxy_url {
            Some(url) => (url.clone(), serving_ca.cert_pem()),
            None => (api.url(), api.ca_pem()),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(server_ca);
        let config = root.join("config.yaml");
        write(
            &config,
            &format!(
                r#"clusters:
  demo:
    server: {server}
    certificate-authority-data: {b64}
    namespace: payments
    oidc:
      issuer: {issuer}
      client-id: kaccess
      mfa: {{amr-any: [otp]}}
    broker: {{url: {broker}, ca-file: {broker_ca}}}
    credential: {credential}
{extra}"#,
                issuer = idp.issuer(),
                broker = broker.url,
                broker_ca = root.join("broker-ca.crt").display(),
                credential = opts.credential,
                extra = opts.client_extra,
            ),
        );
        World {
            runtime: root.join("run"),
            cluster_ca_pem: cluster_ca.pem(),
            kaccess_bin: opts.kaccess,
            proxy_url,
            dir,
            idp,
            broker,
            api,
            config,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `kaccess ARGS` in this world's private home, with no display, no
    /// terminal and no keyring unless the caller adds them.
    pub fn kaccess(&self, args: &[&str]) -> Command {
        let root = self.root();
        let mut cmd = Command::new(&self.kaccess_bin);
        cmd.args(args)
            .env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("xdg-config"))
            .env("XDG_CACHE_HOME", root.join("xdg-cache"))
            .env("XDG_DATA_HOME", root.join("xdg-data"))
            .env("KACCESS_CONFIG", &self.config)
            .env("KACCESS_RUNTIME_DIR", &self.runtime)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("BROWSER")
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_EXEC_INFO")
            .stdin(Stdio::null());
        cmd
    }

    /// `kubectl ARGS` with the session kubeconfig and a private cache dir.
    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.root().join("kube-cache"))
            .env("KUBECACHEDIR", self.root().join("kube-cache"))
            .env("HOME", self.root().join("home"))
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        cmd
    }

    /// Revokes `demo`'s session at the broker as its owner would (with the
    /// session's cached ID token), without touching local files.
    pub fn revoke_at_broker(&self) -> serde_json::Value {
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.runtime.join("sessions").join("demo.json")).unwrap(),
        )
        .unwrap();
        let id = rec["session_id"].as_str().unwrap();
        let id_token = rec["id_token"]["token"].as_str().unwrap();
        self.broker_post(
            &format!("/v1/sessions/{id}/revoke"),
            Some(id_token),
            serde_json::json!({}),
        )
    }

    /// Asks the broker's TokenReview webhook about `token`, as the API
    /// server would.
    pub fn review_token(&self, token: &str) -> serde_json::Value {
        self.broker_post(
            "/v1/tokenreview",
            None,
            serde_json::json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token}
            }),
        )
    }

    /// The broker's `/metrics` exposition (its own and the proxies').
    pub fn broker_metrics(&self) -> String {
        super::with_client(&self.broker.serving_ca_pem, None, |client| async move {
            let resp = client
                .get(format!("{}/metrics", self.broker.url))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        })
    }

    fn broker_post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: serde_json::Value,
    ) -> serde_json::Value {
        super::with_client(&self.broker.serving_ca_pem, None, |client| async move {
            let mut req = client
                .post(format!("{}{path}", self.broker.url))
                .json(&body);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            req.send().await.unwrap().json().await.unwrap()
        })
    }

    /// Logs in with the device flow (the IdP approves by itself) and
    /// returns the session kubeconfig path.
    pub fn login(&self, extra: &[&str]) -> PathBuf {
        let mut args = vec!["login", "demo", "--flow", "device", "--token-store", "file"];
        args.extend_from_slice(extra);
        if !extra.contains(&"--reason") {
            args.extend_from_slice(&["--reason", "INC-1"]);
        }
        let out = run(self.kaccess(&args));
        assert_eq!(
            out.status.code(),
            Some(0),
            "login failed:\n{}\nIdP:\n{}",
            text(&out.stderr),
            self.idp.stderr()
        );
        self.runtime.join("sessions").join("demo.kubeconfig")
    }
}

/// Runs `cmd` to completion with a generous deadline.
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("command did not finish in 120 s")
        .expect("wait");
    let _ = handle.join();
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The pids of the `kaccess __reap` processes whose runtime dir is `runtime`.
pub fn reaper_pids(runtime: &Path) -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = runtime.as_os_str().as_encoded_bytes().to_vec();
    procs
        .flatten()
        .filter_map(|p| {
            let pid = p.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (args.contains(&&b"__reap"[..]) && args.contains(&needle.as_slice())).then_some(pid)
        })
        .collect()
}

/// Stops every `kaccess __reap` whose runtime dir is `runtime`: reapers are
/// detached on purpose, so the test that made them must end them.
pub fn stop_reapers(runtime: &Path) {
    for pid in reaper_pids(runtime) {
        // SAFETY: kill(2) on a reaper this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        stop_reapers(&self.runtime);
    }
}
