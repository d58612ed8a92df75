//! A real broker for tests: `kaccess serve` as a subprocess on 127.0.0.1,
//! with a generated cluster CA, a generated TLS CA and server certificate,
//! sqlite state and an audit log, all in a temp dir. Stopped (SIGTERM,
//! then SIGKILL) on drop; `restart` keeps the dir, so state survives.
//!
//! ```ignore
//! let idp = Idp::start(IdpOptions::default());
//! let broker = Broker::start(BrokerOptions::new(&idp.issuer()));
//! let client = broker.client();                 // trusts the broker's TLS CA
//! client.post(broker.url("/v1/exchange"))...;
//! broker.audit_lines();                          // parsed audit records
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How the test broker is configured. `new` gives the issue's example
/// policy: cluster `prod`, grant `sre` → `kaccess:prod:sre` in
/// `payments` and `billing`, username from `email`, reason required.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    pub issuer: String,
    pub audience: String,
    pub require_reason: bool,
    pub credential_ttl: String,
    pub max_session: String,
    pub max_auth_age: String,
    /// Extra YAML appended under `clusters:` (indented two spaces).
    pub extra_clusters: String,
    /// Audit file; default `audit.jsonl` in the temp dir.
    pub audit_file: Option<PathBuf>,
    /// `admin-groups`; none by default.
    pub admin_groups: Vec<String>,
    /// Extra YAML appended under `clusters.prod.grants` (indented six
    /// spaces).
    pub prod_grants: String,
    /// Extra top-level YAML (`notify:`).
    pub top_level: String,
    /// YAML for `state:` and `audit:` instead of SQLite and `audit_file`
    /// (PostgreSQL: `support::postgres::Postgres::state_yaml`).
    pub state_yaml: Option<String>,
}

impl BrokerOptions {
    pub fn new(issuer: &str) -> Self {
        BrokerOptions {
            issuer: issuer.to_string(),
            audience: "kaccess".into(),
            require_reason: true,
            credential_ttl: "10m".into(),
            max_session: "8h".into(),
            max_auth_age: "10m".into(),
            extra_clusters: String::new(),
            audit_file: None,
            admin_groups: Vec::new(),
            prod_grants: String::new(),
            top_level: String::new(),
            state_yaml: None,
        }
    }
}

pub struct Broker {
    child: Option<Child>,
    dir: tempfile::TempDir,
    config: PathBuf,
    base: String,
    tls_ca_pem: String,
    cluster_ca_pem: String,
    audit: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

fn ca(name: &str) -> (KeyPair, CertificateParams, String) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-signed CA");
    (key, params, cert.pem())
}

/// Starts `kaccess serve --config CONFIG` with `KACCESS_LOG=filter`,
/// collects its stderr lines into `log`, and waits (30 s at most) for the
/// URL it listens on. Panics with its stderr if it exits or stays silent.
pub fn spawn_serve(
    kaccess: &Path,
    config: &Path,
    filter: &str,
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let mut child = Command::new(kaccess)
        .args(["serve", "--config"])
        .arg(config)
        .env("KACCESS_LOG", filter)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `kaccess serve`");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("kaccess: listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
            return (child, url);
        }
        let log = || log.lock().unwrap().join("\n");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("`kaccess serve` exited with {status}:\n{}", log());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`kaccess serve` did not start in time:\n{}", log());
        }
    }
}

/// A new TLS CA and a serving certificate for 127.0.0.1 signed by it, as
/// `broker.crt`/`broker.key` in `dir`; returns the CA's PEM.
fn write_serving_cert(dir: &Path) -> String {
    let (tls_ca_key, tls_ca_params, tls_ca_pem) = ca("kaccess test TLS CA");
    let issuer = Issuer::new(tls_ca_params, tls_ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut sp = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    sp.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = sp.signed_by(&server_key, &issuer).unwrap();
    std::fs::write(dir.join("broker.crt"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("broker.key"), server_key.serialize_pem()).unwrap();
    tls_ca_pem
}

impl Broker {
    pub fn start(opts: BrokerOptions) -> Broker {
        super::failure_dump::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path();
        // Cluster CA: signs client certificates.
        let (cluster_key, _, cluster_ca_pem) = ca("kaccess test cluster CA");
        std::fs::write(p.join("prod-ca.crt"), &cluster_ca_pem).unwrap();
        std::fs::write(p.join("prod-ca.key"), cluster_key.serialize_pem()).unwrap();
        // TLS: a CA the test client trusts and a server cert for 127.0.0.1.
        let tls_ca_pem = write_serving_cert(p);
        let audit = opts
            .audit_file
            .clone()
            .unwrap_or_else(|| p.join("audit.jsonl"));
        let config = p.join("broker.yaml");
        let yaml = format!(
            r#"listen: 127.0.0.1:0
tls: {{cert-file: broker.crt, key-file: broker.key}}
{state}
admin-groups: {admins}
issuers:
  - issuer: {issuer}
    audiences: [{aud}]
    username-claim: email
    groups-claim: groups
    mfa: {{amr-any: [mfa, otp, hwk], acr-any: ["urn:example:mfa"]}}
    max-auth-age: {age}
clusters:
  prod:
    ca: {{cert-file: prod-ca.crt, key-file: prod-ca.key}}
    credential-ttl: {ttl}
    max-session: {session}
    require-reason: {reason}
    grants:
      - idp-groups: [sre]
        kube-groups: ["kaccess:prod:sre"]
        namespaces: [payments, billing]
        cluster-role: edit
{grants}{extra}{top}"#,
            grants = opts.prod_grants,
            top = opts.top_level,
            state = opts.state_yaml.clone().unwrap_or_else(|| format!(
                "state: {{sqlite: state.db}}\naudit: {{file: \"{}\", stdout: false}}",
                audit.display()
            )),
            issuer = opts.issuer,
            aud = opts.audience,
            age = opts.max_auth_age,
            ttl = opts.credential_ttl,
            session = opts.max_session,
            reason = opts.require_reason,
            extra = opts.extra_clusters,
            admins = serde_json::to_string(&opts.admin_groups).unwrap(),
        );
        std::fs::write(&config, yaml).unwrap();
        let mut broker = Broker {
            child: None,
            dir,
            config,
            base: String::new(),
            tls_ca_pem,
            cluster_ca_pem,
            audit,
            log: Arc::new(Mutex::new(Vec::new())),
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let (child, url) = spawn_serve(&super::kaccess_bin(), &self.config, "info", &self.log);
        self.child = Some(child);
        self.base = url;
    }

    /// SIGTERM, wait for a graceful exit (SIGKILL after 10 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Stop and start again on the same state, audit log and config.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Writes a serving certificate from a new TLS CA over the broker's
    /// files (as cert-manager would); returns the new CA's PEM. The broker
    /// loads it on SIGHUP.
    pub fn replace_serving_cert(&mut self) -> String {
        let pem = write_serving_cert(self.dir.path());
        self.tls_ca_pem = pem.clone();
        pem
    }

    /// Sends `signal` to the running broker.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.pid().expect("the broker is running") as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, signal) };
    }

    /// Waits (up to 10 s) until the broker's stderr holds `text` at least
    /// `times` times; panics with the log otherwise.
    pub fn wait_for_log(&self, text: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.stderr().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "the broker never logged `{text}` ({times}×):\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running broker's pid (for /proc samples).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn tls_ca_pem(&self) -> &str {
        &self.tls_ca_pem
    }

    pub fn cluster_ca_pem(&self) -> &str {
        &self.cluster_ca_pem
    }

    pub fn audit_path(&self) -> &Path {
        &self.audit
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The audit log, one parsed record per line.
    pub fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// An async client (kaccess's own setup) that trusts the broker's TLS CA.
    pub fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.tls_ca_pem.as_bytes()).unwrap();
        kaccess::http::client(vec![ca]).unwrap()
    }

    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            super::failure_dump::print("broker stderr", &self.stderr());
        }
    }
}
