//! The test identity provider itself, driven with plain HTTP (no kaccess
//! code): the other suites rely on each behaviour proven here.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::failure_log::FailureLog;
use crate::support::idp::{Idp, IdpOptions, Mint, get, post_form};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT part");
    serde_json::from_slice(&B64.decode(part).expect("base64url")).expect("JSON")
}

fn jwks_kids(idp: &Idp) -> Vec<String> {
    let jwks = get(&idp.url("/jwks")).json();
    let keys = jwks["keys"].as_array().expect("keys").iter();
    keys.map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs the authorization code flow with PKCE through the test browser and
/// returns the query the loopback callback received.
fn authorize(idp: &Idp, extra: &[(&str, &str)]) -> (HashMap<String, String>, String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    let verifier = B64.encode(rand::random::<[u8; 32]>());
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&idp.url("/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "kaccess")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "st4te")
        .append_pair("nonce", "n0nce")
        .extend_pairs(extra);

    // Its step-by-step log is for when this fails, not for every test run.
    let log = FailureLog::new("test browser");
    let mut browser = Command::new(Idp::browser_command())
        .arg(url.as_str())
        .stdout(log.stdio())
        .stderr(log.stdio())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = browser.try_wait().unwrap() {
                    panic!("the test browser exited with {status} before the callback");
                }
                assert!(Instant::now() < deadline, "no callback within 20 s");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut request = [0u8; 4096];
    let n = stream.read(&mut request).unwrap();
    let line = String::from_utf8_lossy(&request[..n])
        .lines()
        .next()
        .unwrap()
        .to_owned();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .unwrap();
    drop(stream);
    assert!(browser.wait().unwrap().success(), "the test browser failed");

    let target = line.split(' ').nth(1).unwrap();
    let callback = url::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
    assert_eq!(callback.path(), "/callback");
    let query = callback.query_pairs().into_owned().collect();
    (query, redirect_uri, verifier)
}

fn code_flow_tokens(idp: &Idp, extra: &[(&str, &str)]) -> Value {
    let (query, redirect_uri, verifier) = authorize(idp, extra);
    assert_eq!(query["state"], "st4te");
    let response = post_form(
        &idp.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("client_id", "kaccess"),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(response.status, 200, "token: {}", response.text());
    response.json()
}

fn device_authorization(idp: &Idp, form: &[(&str, &str)]) -> Value {
    let mut form = form.to_vec();
    form.push(("client_id", "kaccess"));
    let response = post_form(&idp.url("/device/auth"), &form);
    assert_eq!(response.status, 200, "device auth: {}", response.text());
    response.json()
}

fn device_token(idp: &Idp, device_code: &str) -> (u16, Value) {
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", "kaccess"),
    ];
    let response = post_form(&idp.url("/token"), &form);
    (response.status, response.json())
}

#[test]
fn discovery_names_the_issuer_and_the_device_and_revocation_endpoints() {
    let idp = Idp::start(IdpOptions::default());
    let doc = get(&idp.url("/.well-known/openid-configuration")).json();
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(
        doc["device_authorization_endpoint"],
        idp.url("/device/auth")
    );
    assert_eq!(doc["revocation_endpoint"], idp.url("/token/revocation"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
}

#[test]
fn discovery_advertises_another_issuer_when_asked() {
    let opts = IdpOptions {
        advertised_issuer: Some("http://evil.example".into()),
        ..Default::default()
    };
    let idp = Idp::start(opts);
    let doc = get(&idp.url("/.well-known/openid-configuration")).json();
    assert_eq!(doc["issuer"], "http://evil.example");
    assert_eq!(doc["token_endpoint"], idp.url("/token"));
}

#[test]
fn code_flow_id_token_carries_mfa_claims_groups_and_email() {
    let opts = IdpOptions {
        groups: vec!["sre".into(), "dba".into()],
        auth_time_offset_secs: -3600,
        ..Default::default()
    };
    let idp = Idp::start(opts);
    // max_age must not send the provider into a login loop over the stale auth_time.
    let tokens = code_flow_tokens(
        &idp,
        &[("scope", "openid email groups"), ("max_age", "300")],
    );
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], "kaccess");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["groups"], json!(["sre", "dba"]));
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["acr"], "urn:example:mfa");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(
        (auth_time - (now() - 3600)).abs() < 30,
        "auth_time {auth_time} is not an hour ago"
    );
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}

#[test]
fn runtime_options_change_the_next_login() {
    let idp = Idp::start(IdpOptions::default());
    idp.set(json!({ "amr": ["pwd"], "acr": null, "email": "bob@example.com" }));
    let tokens = code_flow_tokens(&idp, &[("scope", "openid email")]);
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims.get("acr").is_none(), "acr was unset: {claims}");
    assert_eq!(claims["email"], "bob@example.com");
}

#[test]
fn refresh_token_comes_with_offline_access_and_prompt_consent_and_rotates() {
    let idp = Idp::start(IdpOptions::default());
    let tokens = code_flow_tokens(
        &idp,
        &[("scope", "openid offline_access"), ("prompt", "consent")],
    );
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert!(idp.refresh_token_active(&refresh));

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", "kaccess"),
    ];
    let response = post_form(&idp.url("/token"), &form);
    assert_eq!(response.status, 200, "refresh: {}", response.text());
    let renewed = response.json();
    let claims = jwt_part(
        renewed["id_token"].as_str().expect("id_token on refresh"),
        1,
    );
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    let rotated = renewed["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    assert_ne!(rotated, refresh);
    assert!(
        !idp.refresh_token_active(&refresh),
        "the used refresh token stays active"
    );
    assert!(idp.refresh_token_active(rotated));

    let revoke = post_form(
        &idp.url("/token/revocation"),
        &[("token", rotated), ("client_id", "kaccess")],
    );
    assert_eq!(revoke.status, 200, "revocation: {}", revoke.text());
    assert!(
        !idp.refresh_token_active(rotated),
        "revoked refresh token stays active"
    );
}

#[test]
fn deny_ends_the_code_flow_with_access_denied() {
    let idp = Idp::start(IdpOptions {
        deny: true,
        ..Default::default()
    });
    let (query, _, _) = authorize(&idp, &[("scope", "openid")]);
    assert_eq!(query["error"], "access_denied");
    assert!(!query.contains_key("code"));
}

#[test]
fn device_flow_sends_interval_and_issues_tokens_once_approved() {
    let idp = Idp::start(IdpOptions {
        device_interval_secs: 3,
        ..Default::default()
    });
    let auth = device_authorization(
        &idp,
        &[
            ("scope", "openid email groups offline_access"),
            ("acr_values", "urn:example:mfa"),
        ],
    );
    assert_eq!(auth["interval"], 3);
    let last = idp.last_authorization();
    assert_eq!(last["endpoint"], "device_authorization");
    assert_eq!(last["acr_values"], "urn:example:mfa");

    let device_code = auth["device_code"].as_str().unwrap();
    let (status, pending) = device_token(&idp, device_code);
    assert_eq!(
        (status, pending["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    idp.approve_device(auth["user_code"].as_str().unwrap());
    let (status, tokens) = device_token(&idp, device_code);
    assert_eq!(status, 200, "device token: {tokens}");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["acr"], "urn:example:mfa");
    assert_eq!(claims["groups"], json!(["sre"]));
    assert!(claims["auth_time"].is_i64());
}

#[test]
fn device_flow_denied_by_the_user_answers_access_denied() {
    let idp = Idp::start(IdpOptions::default());
    let auth = device_authorization(&idp, &[("scope", "openid")]);
    idp.deny_device(auth["user_code"].as_str().unwrap());
    let (status, body) = device_token(&idp, auth["device_code"].as_str().unwrap());
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
}

#[test]
fn deny_ends_the_device_flow_with_access_denied() {
    let idp = Idp::start(IdpOptions::default());
    idp.set(json!({ "deny": true }));
    let auth = device_authorization(&idp, &[("scope", "openid")]);
    idp.approve_device(auth["user_code"].as_str().unwrap());
    let (status, body) = device_token(&idp, auth["device_code"].as_str().unwrap());
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
}

#[test]
fn device_flow_approves_itself_after_the_configured_delay() {
    let idp = Idp::start(IdpOptions {
        device_auto_approve_ms: Some(200),
        ..Default::default()
    });
    let auth = device_authorization(&idp, &[("scope", "openid")]);
    let device_code = auth["device_code"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = device_token(&idp, device_code);
        if status == 200 {
            assert!(body["id_token"].is_string());
            break;
        }
        assert_eq!(body["error"], "authorization_pending");
        assert!(Instant::now() < deadline, "never auto-approved");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn code_flow_records_the_authorization_parameters() {
    let idp = Idp::start(IdpOptions::default());
    assert!(idp.last_authorization().is_null());
    authorize(
        &idp,
        &[
            ("scope", "openid"),
            ("acr_values", "urn:example:mfa"),
            ("max_age", "300"),
        ],
    );
    let last = idp.last_authorization();
    assert_eq!(last["endpoint"], "authorization");
    assert_eq!(last["acr_values"], "urn:example:mfa");
    assert_eq!(last["max_age"], "300");
    assert_eq!(last["code_challenge_method"], "S256");
}

#[test]
fn minted_tokens_use_the_requested_algorithm_and_claims() {
    let idp = Idp::start(IdpOptions::default());
    let kids = jwks_kids(&idp);
    let cases = [
        (Mint::Rs256, "RS256"),
        (Mint::AlgNone, "none"),
        (Mint::Hs256WithPublicKey, "HS256"),
        (Mint::UnknownKid, "RS256"),
    ];
    for (how, alg) in cases {
        let token = idp.mint_id_token(json!({ "amr": ["pwd"], "acr": null }), how);
        let header = jwt_part(&token, 0);
        assert_eq!(header["alg"], alg, "{how:?}");
        let kid = header["kid"].as_str().map(str::to_owned);
        let published = kid.as_ref().is_some_and(|k| kids.contains(k));
        assert_eq!(
            published,
            how != Mint::AlgNone && how != Mint::UnknownKid,
            "{how:?} kid {kid:?}"
        );
        let claims = jwt_part(&token, 1);
        assert_eq!(claims["iss"], idp.issuer());
        assert_eq!(claims["aud"], "kaccess");
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert!(claims.get("acr").is_none());
        assert!(claims["exp"].as_i64().unwrap() > now());
    }
}

#[test]
fn rotating_keys_replaces_the_published_key() {
    let idp = Idp::start(IdpOptions::default());
    let before = jwks_kids(&idp);
    let tokens = code_flow_tokens(
        &idp,
        &[("scope", "openid offline_access"), ("prompt", "consent")],
    );
    idp.rotate_keys();
    let after = jwks_kids(&idp);
    assert_eq!(after.len(), 1);
    assert!(
        !before.contains(&after[0]),
        "kid unchanged: {before:?} -> {after:?}"
    );
    let minted = idp.mint_id_token(json!({}), Mint::Rs256);
    assert_eq!(jwt_part(&minted, 0)["kid"], after[0].as_str());
    // Grants survive the rotation; new ID tokens carry the new key.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "kaccess"),
    ];
    let renewed = post_form(&idp.url("/token"), &form).json();
    assert_eq!(
        jwt_part(renewed["id_token"].as_str().unwrap(), 0)["kid"],
        after[0].as_str()
    );
}
