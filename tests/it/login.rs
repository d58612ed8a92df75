//! `kaccess login` against the real oidc-provider: both flows, the MFA
//! check, denials, expiry, discovery mistakes, an unreachable IdP, ID-token
//! verification on the client's code path, and where the refresh token goes
//! (the real Secret Service keyring, or the 0600 file fallback).

use crate::support::idp::{Idp, IdpOptions, Mint};
use crate::support::world::{World, WorldOptions};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A private HOME, XDG dirs, runtime dir and config file for one test, so
/// tests run in parallel and never touch the real user's state.
pub struct Home {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: PathBuf,
    pub runtime: PathBuf,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for sub in ["home", "config", "cache", "data"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let runtime = root.join("run");
        Home {
            config: root.join("config/kaccess/config.yaml"),
            runtime,
            root,
            _dir: dir,
        }
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config.parent().unwrap()).unwrap();
        std::fs::write(&self.config, text).unwrap();
    }

    /// The real binary with this home; no session bus, browser or SSH
    /// variables unless a test adds them.
    pub fn kaccess(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaccess"));
        cmd.args(args)
            .env("HOME", self.root.join("home"))
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("KACCESS_CONFIG", &self.config)
            .env("KACCESS_RUNTIME_DIR", &self.runtime)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_TTY")
            .env_remove("KACCESS_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub fn tokens_dir(&self) -> PathBuf {
        self.runtime.join("tokens")
    }
}

/// Runs `cmd` to completion, failing the test if it takes over a minute.
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let child = cmd
        .borrow_mut()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on the pid of a child we spawned.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("kaccess did not finish within 90 s");
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One cluster `dev` at `issuer`; `oidc_extra` lines go under `oidc:`.
pub fn config_for(issuer: &str, oidc_extra: &str) -> String {
    format!(
        "clusters:
  dev:
    server: https://127.0.0.1:6443
    oidc:
      issuer: {issuer}
      client-id: kaccess
{oidc_extra}
    broker: {{url: https://127.0.0.1:8443}}
"
    )
}

fn setup(opts: IdpOptions, oidc_extra: &str) -> (Idp, Home) {
    let idp = Idp::start(opts);
    let home = Home::new();
    home.write_config(&config_for(&idp.issuer(), oidc_extra));
    (idp, home)
}

fn browser_login(home: &Home, extra: &[&str]) -> Output {
    let mut args = vec!["login", "dev", "--flow", "browser", "--timeout", "60s"];
    args.extend_from_slice(extra);
    run(home.kaccess(&args).env("BROWSER", Idp::browser_command()))
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn json_stdout(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out.stdout)))
}

/// A device login running in the background; its stderr is read line by
/// line so the test can act on the user code.
struct DeviceLogin {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl DeviceLogin {
    fn start(mut cmd: Command) -> DeviceLogin {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        DeviceLogin {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the "enter the code" line and returns the code.
    fn user_code(&mut self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("no user code on stderr; saw:\n{}", self.seen.join("\n"))
                });
            self.seen.push(line.clone());
            if let Some(code) = line.split("enter the code: ").nth(1) {
                return code.trim().to_owned();
            }
        }
    }

    /// Waits for exit; returns (exit code, all stderr, stdout).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let pid = self.child.id();
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
            let _ = tx.send((child.wait().unwrap(), out));
        });
        let (status, out) = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(r) => r,
            Err(_) => {
                // SAFETY: kill(2) on the pid of a child we spawned.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                panic!(
                    "device login did not finish; stderr so far:\n{}",
                    self.seen.join("\n")
                );
            }
        };
        self.seen.extend(self.lines.try_iter());
        // The reader thread may still hold the last lines for a moment.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        (status.code(), self.seen.join("\n"), out)
    }
}

fn device_cmd(home: &Home) -> Command {
    home.kaccess(&[
        "login",
        "dev",
        "--flow",
        "device",
        "--timeout",
        "60s",
        "-o",
        "json",
    ])
}

/// A world (IdP + broker + API stand-in) for logins that must succeed:
/// `kaccess login` ends at the broker, so success needs one.
fn world(idp: IdpOptions) -> World {
    World::start(WorldOptions {
        idp,
        ..WorldOptions::default()
    })
}

/// `kaccess login demo` in `w` with a reason and JSON output.
fn world_login(w: &World, extra: &[&str]) -> Command {
    let mut args = vec![
        "login",
        "demo",
        "--reason",
        "INC-1",
        "--timeout",
        "60s",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut cmd = w.kaccess(&args);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_TTY");
    cmd
}

fn manual_device() -> IdpOptions {
    IdpOptions {
        device_auto_approve_ms: None,
        ..IdpOptions::default()
    }
}

#[test]
fn browser_login_with_mfa_prints_who_logged_in_that_mfa_was_verified_and_json_on_stdout_only() {
    let w = world(manual_device());
    let out = run(
        world_login(&w, &["--flow", "browser", "--token-store", "none"])
            .env("BROWSER", Idp::browser_command()),
    );
    assert_exit(&out, 0);
    let j = json_stdout(&out);
    assert_eq!(j["subject"], "alice");
    assert_eq!(j["email"], "alice@example.com");
    assert_eq!(j["groups"], json!(["sre"]));
    assert_eq!(j["flow"], "browser");
    assert_eq!(j["refresh_token_store"], "none");
    assert!(j["amr"].as_array().unwrap().contains(&json!("otp")), "{j}");
    assert_eq!(j["issuer"], w.idp.issuer());
    let err = text(&out.stderr);
    assert!(
        err.contains("Logged in to `demo` as alice (alice@example.com)"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l == "MFA verified: amr [pwd, otp]"),
        "a plain line says what proved MFA: {err}"
    );
    assert_eq!(j["mfa_verified"], true, "{j}");
    assert!(
        err.contains("/auth?"),
        "the URL is printed on stderr too: {err}"
    );
    // PKCE S256, state, nonce and consent for the refresh token went to the provider.
    let auth = w.idp.last_authorization();
    assert_eq!(auth["code_challenge_method"], "S256", "{auth}");
    assert!(
        auth["nonce"].as_str().is_some_and(|n| n.len() >= 16),
        "{auth}"
    );
    assert!(
        auth["state"].as_str().is_some_and(|s| s.len() >= 16),
        "{auth}"
    );
    assert_eq!(auth["prompt"], "consent", "{auth}");
    let redirect = auth["redirect_uri"].as_str().unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "{auth}"
    );
    assert!(
        !w.runtime.join("tokens").exists(),
        "--token-store none stores nothing"
    );
}

#[test]
fn auto_flow_uses_the_browser_locally_and_the_device_flow_over_ssh() {
    let w = world(IdpOptions {
        device_auto_approve_ms: Some(300),
        ..IdpOptions::default()
    });
    let store = ["--token-store", "none"];
    let local = run(world_login(&w, &store).env("BROWSER", Idp::browser_command()));
    assert_exit(&local, 0);
    assert_eq!(json_stdout(&local)["flow"], "browser");
    let ssh = run(world_login(&w, &store)
        .env("BROWSER", Idp::browser_command())
        .env("SSH_CONNECTION", "10.0.0.1 50000 10.0.0.2 22"));
    assert_exit(&ssh, 0);
    assert_eq!(json_stdout(&ssh)["flow"], "device");
    let no_browser = run(world_login(&w, &[&store[..], &["--no-browser"]].concat())
        .env("BROWSER", Idp::browser_command()));
    assert_exit(&no_browser, 0);
    assert_eq!(json_stdout(&no_browser)["flow"], "device");
    let headless = run(world_login(&w, &store));
    assert_exit(&headless, 0);
    assert_eq!(
        json_stdout(&headless)["flow"],
        "device",
        "no browser, no display"
    );
}

#[test]
fn device_flow_shows_the_code_and_link_and_sends_acr_values_and_max_age() {
    let w = world(manual_device());
    let config = std::fs::read_to_string(&w.config).unwrap();
    let with_mfa_request = config.replace(
        "      mfa: {amr-any: [otp]}",
        "      mfa: {amr-any: [otp]}\n      acr-values: [urn:corp:mfa]\n      max-auth-age: 15m",
    );
    assert_ne!(config, with_mfa_request);
    std::fs::write(&w.config, with_mfa_request).unwrap();
    let mut login = DeviceLogin::start(world_login(&w, &["--flow", "device"]));
    let code = login.user_code();
    w.idp.approve_device(&code);
    let (status, err, out) = login.finish();
    assert_eq!(status, Some(0), "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["flow"], "device");
    assert_eq!(j["subject"], "alice");
    // No session bus in this test: the refresh token went to the file.
    assert_eq!(j["refresh_token_store"], "file", "{j}");
    assert!(err.contains(&format!("{}/device", w.idp.issuer())), "{err}");
    assert!(
        err.contains(&format!("Or open: {}/device?user_code=", w.idp.issuer())),
        "{err}"
    );
    assert!(
        !err.contains("QR code") && !err.contains('▀'),
        "no QR code off a terminal (see terminal.rs): {err}"
    );
    let auth = w.idp.last_authorization();
    assert_eq!(auth["endpoint"], "device_authorization", "{auth}");
    assert_eq!(auth["acr_values"], "urn:corp:mfa", "{auth}");
    assert_eq!(auth["max_age"], "900", "{auth}");
}

#[test]
fn login_without_mfa_is_refused_with_exit_4_naming_the_claim_and_nothing_is_stored() {
    let opts = IdpOptions {
        amr: vec!["pwd".into()],
        acr: None,
        ..IdpOptions::default()
    };
    let (_idp, home) = setup(opts, "");
    let out = browser_login(&home, &["--token-store", "file"]);
    assert_exit(&out, 4);
    let err = text(&out.stderr);
    assert!(
        err.contains("does not prove MFA") && err.contains("`amr` is [pwd]"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
    assert!(out.stdout.is_empty());
    let stored = std::fs::read_dir(home.tokens_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "a refused login must not store a refresh token");
}

#[test]
fn stale_login_is_refused_when_max_auth_age_is_set() {
    let opts = IdpOptions {
        auth_time_offset_secs: -3600,
        ..IdpOptions::default()
    };
    let (_idp, home) = setup(opts, "      max-auth-age: 15m");
    let out = browser_login(&home, &["--token-store", "none"]);
    assert_exit(&out, 4);
    assert!(text(&out.stderr).contains("old"), "{}", text(&out.stderr));
}

#[test]
fn denied_login_exits_4_on_both_flows() {
    let opts = IdpOptions {
        deny: true,
        ..IdpOptions::default()
    };
    let (idp, home) = setup(opts, "");
    let out = browser_login(&home, &["--token-store", "none"]);
    assert_exit(&out, 4);
    assert!(
        text(&out.stderr).contains("denied"),
        "{}",
        text(&out.stderr)
    );

    idp.set(json!({"deny": false}));
    let mut login = DeviceLogin::start(device_cmd(&home));
    let code = login.user_code();
    idp.deny_device(&code);
    let (status, err, out) = login.finish();
    assert_eq!(status, Some(4), "{err}");
    assert!(
        err.contains("the login was denied at the identity provider"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
}

#[test]
fn expired_device_code_is_reported_as_a_sentence() {
    let opts = IdpOptions {
        device_code_ttl_secs: 3,
        ..IdpOptions::default()
    };
    let (_idp, home) = setup(opts, "");
    let mut login = DeviceLogin::start(device_cmd(&home));
    let _ = login.user_code();
    let (status, err, _) = login.finish();
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains("the device code expired before the login was approved"),
        "{err}"
    );
}

#[test]
fn browser_that_never_calls_back_hits_the_deadline() {
    let (_idp, home) = setup(IdpOptions::default(), "");
    let started = std::time::Instant::now();
    let out = run(home
        .kaccess(&["login", "dev", "--flow", "browser", "--timeout", "2s"])
        .env("BROWSER", "true"));
    assert_exit(&out, 1);
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = text(&out.stderr);
    assert!(
        err.contains("no login arrived from the browser within 2s"),
        "{err}"
    );
    assert!(err.contains("--flow device"), "{err}");
}

#[test]
fn discovery_with_another_issuer_is_refused() {
    let opts = IdpOptions {
        advertised_issuer: Some("https://evil.example.com".into()),
        ..IdpOptions::default()
    };
    let (_idp, home) = setup(opts, "");
    let out = browser_login(&home, &["--token-store", "none"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains("oidc.issuer"), "{err}");
}

#[test]
fn unreachable_idp_exits_5() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let home = Home::new();
    home.write_config(&config_for(&format!("http://127.0.0.1:{port}"), ""));
    let out = run(home.kaccess(&["login", "dev", "--flow", "device", "--timeout", "10s"]));
    assert_exit(&out, 5);
    assert!(
        text(&out.stderr).contains("cannot reach the identity provider"),
        "{}",
        text(&out.stderr)
    );
}

/// The client's acceptance step on tokens from the real provider: what
/// `login` and `refresh` run after every token response.
#[test]
fn client_acceptance_refuses_tampered_foreign_and_unsigned_tokens() {
    use kaccess::error::{Exit, exit_of};
    use kaccess::oidc::login::accept_id_token;
    use kaccess::oidc::verify::NonceCheck;

    let (idp, home) = setup(IdpOptions::default(), "");
    let config = kaccess::config::Config::load(&home.config).unwrap();
    let cluster = config.cluster("dev").unwrap().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = kaccess::oidc::login::http_for(&cluster.oidc).unwrap();
    let provider = rt
        .block_on(kaccess::oidc::discovery::discover(
            &http,
            &cluster.oidc.issuer,
        ))
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let accept =
        |raw: &str| accept_id_token(&provider, &cluster.oidc, raw, NonceCheck::Ignore, true, now);

    let good = idp.mint_id_token(json!({}), Mint::Rs256);
    let t = accept(&good).expect("a token from the provider's key passes");
    assert_eq!(t.subject, "alice");

    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let sig = parts[2].clone().into_bytes();
    let flipped = if sig[10] == b'A' { b'B' } else { b'A' };
    let mut sig2 = sig.clone();
    sig2[10] = flipped;
    parts[2] = String::from_utf8(sig2).unwrap();
    let e = accept(&parts.join(".")).unwrap_err();
    assert!(format!("{e:#}").contains("signature"), "{e:#}");

    let mut payload_swap: Vec<&str> = good.split('.').collect();
    let other = idp.mint_id_token(json!({"sub": "mallory"}), Mint::Rs256);
    payload_swap[1] = other.split('.').nth(1).unwrap();
    assert!(
        accept(&payload_swap.join(".")).is_err(),
        "payload swapped under a valid signature"
    );

    let foreign = idp.mint_id_token(json!({"aud": "another-client", "azp": null}), Mint::Rs256);
    let e = accept(&foreign).unwrap_err();
    assert!(format!("{e:#}").contains("another audience"), "{e:#}");

    for how in [Mint::AlgNone, Mint::Hs256WithPublicKey, Mint::UnknownKid] {
        let raw = idp.mint_id_token(json!({}), how);
        assert!(accept(&raw).is_err(), "{how:?} token accepted");
    }

    let no_mfa = idp.mint_id_token(json!({"amr": ["pwd"], "acr": null}), Mint::Rs256);
    let e = accept(&no_mfa).unwrap_err();
    assert_eq!(exit_of(&e), Exit::Denied, "{e:#}");
    assert!(format!("{e:#}").contains("`amr` is [pwd]"), "{e:#}");

    // An `acr` listed in `mfa.acr-any` proves MFA without an MFA `amr`.
    let acr_only = idp.mint_id_token(
        json!({"amr": ["pwd"], "acr": "urn:example:mfa"}),
        Mint::Rs256,
    );
    assert!(accept(&acr_only).is_err(), "acr-any is empty by default");
    let mut with_acr = cluster.oidc.clone();
    with_acr.mfa.acr_any = vec!["urn:example:mfa".into()];
    accept_id_token(
        &provider,
        &with_acr,
        &acr_only,
        NonceCheck::Ignore,
        true,
        now,
    )
    .expect("acr in acr-any counts as MFA");
}

/// Only a missing session bus skips; with one, the keyring must work.
fn session_bus() -> Option<String> {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!(
                "SKIPPED: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset); run under `scripts/test` for the Secret Service keyring tests"
            );
            None
        }
    }
}

#[test]
fn refresh_token_goes_to_the_secret_service_keyring_and_refreshes() {
    let Some(bus) = session_bus() else { return };
    let w = World::start(WorldOptions::default());
    let out = run(world_login(&w, &["--flow", "device"]).env("DBUS_SESSION_BUS_ADDRESS", &bus));
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("refresh token: keyring"), "{err}");
    assert_eq!(json_stdout(&out)["refresh_token_store"], "keyring");
    assert!(
        !w.runtime.join("tokens").exists(),
        "no file when the keyring works"
    );

    let config = kaccess::config::Config::load(&w.config).unwrap();
    let cluster = config.cluster("demo").unwrap().clone();
    let store = kaccess::tokenstore::TokenStore::new(kaccess::cli::TokenStore::Keyring, &w.runtime);
    let key = kaccess::oidc::login::token_key(&cluster.oidc, "alice");
    let rt_token = store
        .load(&key)
        .unwrap()
        .expect("refresh token in the keyring");
    assert!(w.idp.refresh_token_active(rt_token.expose()));

    // The silent path: the stored token yields a new verified ID token and
    // the rotated refresh token replaces the used one in the keyring.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refreshed = rt
        .block_on(kaccess::oidc::login::refresh(&cluster, &store, "alice"))
        .unwrap();
    assert_eq!(refreshed.id_token.subject, "alice");
    assert!(refreshed.id_token.amr.contains(&"otp".to_string()));
    let rotated = store.load(&key).unwrap().unwrap();
    assert_ne!(rotated.expose(), rt_token.expose());
    assert!(w.idp.refresh_token_active(rotated.expose()));
    store.delete(&key).unwrap();
    assert!(store.load(&key).unwrap().is_none());
    // No stored token: the silent path asks for a login (exit 3).
    let e = rt
        .block_on(kaccess::oidc::login::refresh(&cluster, &store, "alice"))
        .unwrap_err();
    assert_eq!(
        kaccess::error::exit_of(&e),
        kaccess::error::Exit::LoginRequired,
        "{e:#}"
    );
}

#[test]
fn without_a_keyring_the_refresh_token_goes_to_a_0600_file_with_one_warning() {
    let w = World::start(WorldOptions::default());
    // `world_login` removes DBUS_SESSION_BUS_ADDRESS: no keyring reachable.
    let out = run(world_login(&w, &["--flow", "device"]));
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("no OS keyring available"), "{err}");
    let tokens = w.runtime.join("tokens");
    let files: Vec<PathBuf> = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        warnings[0].contains(&files[0].display().to_string()),
        "{err}"
    );
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&tokens), 0o700);
    let entry: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(entry["subject"], "alice");
    assert!(
        w.idp
            .refresh_token_active(entry["refresh_token"].as_str().unwrap())
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
