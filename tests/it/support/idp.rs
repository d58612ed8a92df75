//! The real OpenID provider for tests: `node tests/idp/server.mjs`
//! (oidc-provider v9) on 127.0.0.1, one process per test, stopped on drop.
//! Interactions approve themselves, so no browser is needed; test-only
//! endpoints under `/__test/` steer the provider (options, device approval,
//! token minting, key rotation). Also holds the tiny loopback HTTP/1.1
//! client those calls use, which tests may use for plain protocol checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// How the provider behaves; sent to `server.mjs` as JSON in `IDP_OPTIONS`.
#[derive(Clone, Debug, Serialize)]
pub struct IdpOptions {
    pub subject: String,
    pub email: String,
    pub groups: Vec<String>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    /// Added to "now" for `auth_time`; -3600 makes the login an hour old.
    pub auth_time_offset_secs: i64,
    /// Interactions end in `access_denied`.
    pub deny: bool,
    pub client_id: String,
    pub id_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub device_code_ttl_secs: u64,
    /// Put in the device authorization response (oidc-provider sends none).
    pub device_interval_secs: u64,
    /// Approve every device authorization by itself after this delay.
    pub device_auto_approve_ms: Option<u64>,
    /// Discovery claims this issuer instead of the real one.
    pub advertised_issuer: Option<String>,
}

impl Default for IdpOptions {
    fn default() -> Self {
        IdpOptions {
            subject: "alice".into(),
            email: "alice@example.com".into(),
            groups: vec!["sre".into()],
            amr: vec!["pwd".into(), "otp".into()],
            acr: Some("urn:example:mfa".into()),
            auth_time_offset_secs: 0,
            deny: false,
            client_id: "kaccess".into(),
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 86400,
            device_code_ttl_secs: 600,
            device_interval_secs: 1,
            device_auto_approve_ms: None,
            advertised_issuer: None,
        }
    }
}

/// How `mint_id_token` signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mint {
    /// With the provider's current (published) key.
    Rs256,
    /// Unsigned, `alg: none`.
    AlgNone,
    /// HMAC keyed with the provider's RSA public key in PEM (key confusion).
    Hs256WithPublicKey,
    /// RS256 with a fresh key whose `kid` the provider never published.
    UnknownKid,
}

impl Mint {
    fn wire(self) -> &'static str {
        match self {
            Mint::Rs256 => "rs256",
            Mint::AlgNone => "alg_none",
            Mint::Hs256WithPublicKey => "hs256_with_public_key",
            Mint::UnknownKid => "unknown_kid",
        }
    }
}

pub struct Idp {
    child: Child,
    // Held open: the server exits when this pipe closes, even if we die.
    _stdin: ChildStdin,
    issuer: String,
    log: Arc<Mutex<Vec<String>>>,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

impl Idp {
    pub fn start(opts: IdpOptions) -> Idp {
        super::failure_dump::install();
        let dir = idp_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test identity provider is not installed: run `npm ci --prefix tests/idp` first"
        );
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("IDP_OPTIONS", serde_json::to_string(&opts).unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node tests/idp/server.mjs`: {e}"));
        let stdin = child.stdin.take().unwrap();

        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });

        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining so the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let mut idp = Idp {
            child,
            _stdin: stdin,
            issuer: String::new(),
            log,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => panic!(
                "the test identity provider did not start ({other:?}); its stderr:\n{}",
                idp.stderr()
            ),
        };
        idp.issuer = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line from the provider: {line}"))
            .to_owned();
        idp
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`, the real issuer (whatever discovery says).
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// What the provider printed on stderr so far (shown when a test fails).
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Changes options at runtime: `json!({"amr": ["pwd"], "deny": true})`.
    pub fn set(&self, patch: Value) {
        self.test_call("/__test/set", &patch);
    }

    /// Parameters of the last `/auth` or `/device/auth` request, plus
    /// `endpoint` (`authorization` or `device_authorization`); null if none.
    pub fn last_authorization(&self) -> Value {
        let response = get(&self.url("/__test/last-authorization"));
        assert_eq!(
            response.status,
            200,
            "last-authorization: {}",
            response.text()
        );
        response.json()
    }

    /// Plays the user on the device pages: enters the code, confirms, logs in.
    pub fn approve_device(&self, user_code: &str) {
        self.test_call("/__test/approve-device", &json!({ "user_code": user_code }));
    }

    /// Plays the user entering the code and pressing "Abort".
    pub fn deny_device(&self, user_code: &str) {
        self.test_call("/__test/deny-device", &json!({ "user_code": user_code }));
    }

    /// An ID token over the defaults (iss, aud, sub, email, groups, amr, acr,
    /// auth_time, iat, exp) with `claims` merged on top; a null claim removes it.
    pub fn mint_id_token(&self, claims: Value, how: Mint) -> String {
        let body = json!({ "claims": claims, "how": how.wire() });
        let reply = self.test_call("/__test/mint", &body);
        reply["token"]
            .as_str()
            .expect("mint answers a token")
            .to_owned()
    }

    /// New signing key; the JWKS serves only the new one afterwards.
    pub fn rotate_keys(&self) {
        self.test_call("/__test/rotate-keys", &json!({}));
    }

    /// Whether the provider's introspection endpoint calls the token active.
    pub fn refresh_token_active(&self, token: &str) -> bool {
        let reply = self.test_call("/__test/introspect", &json!({ "token": token }));
        reply["active"]
            .as_bool()
            .expect("introspection answers `active`")
    }

    /// A "browser" for `$BROWSER`: `browser.mjs URL` follows the authorization
    /// URL through the interactions and delivers the loopback callback.
    pub fn browser_command() -> PathBuf {
        idp_dir().join("browser.mjs")
    }

    fn test_call(&self, path: &str, body: &Value) -> Value {
        let response = post_json(&self.url(path), body);
        assert_eq!(
            response.status,
            200,
            "{path} failed: {}\nprovider stderr:\n{}",
            response.text(),
            self.stderr()
        );
        response.json()
    }
}

impl Idp {
    /// Stops the provider now (an IdP outage); the port stays closed.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            super::failure_dump::print("test identity provider stderr", &self.stderr());
        }
    }
}

/// A response from the loopback HTTP client.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn get(url: &str) -> HttpResponse {
    http("GET", url, None, b"")
}

pub fn post_json(url: &str, body: &Value) -> HttpResponse {
    http(
        "POST",
        url,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

pub fn post_form(url: &str, form: &[(&str, &str)]) -> HttpResponse {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http(
        "POST",
        url,
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
    )
}

/// One HTTP/1.1 request over plain TCP, no redirects: enough for loopback
/// servers, and independent of kaccess's own HTTP stack.
pub fn http(method: &str, url: &str, content_type: Option<&str>, body: &[u8]) -> HttpResponse {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
    assert_eq!(
        url.scheme(),
        "http",
        "the loopback client speaks plain HTTP only"
    );
    let host = url.host_str().unwrap();
    let port = url.port_or_known_default().unwrap();
    let mut stream = TcpStream::connect((host, port))
        .unwrap_or_else(|e| panic!("cannot connect to {host}:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status: status.expect("HTTP status line"),
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}
