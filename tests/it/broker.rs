//! The broker (`kaccess serve`) against the real OIDC provider: every
//! refusal in issue 3's "bad input" list with its status and audit record,
//! issued certificates parsed, TokenReview in both versions, revocation,
//! the audit chain (and tampering), concurrency, restart.

use crate::support::broker::{Broker, BrokerOptions};
use crate::support::idp::{Idp, IdpOptions, Mint};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

struct Env {
    idp: Idp,
    broker: Broker,
    client: reqwest::Client,
}

const SHORT_CLUSTER: &str = r#"  short:
    ca: {cert-file: prod-ca.crt, key-file: prod-ca.key}
    credential-ttl: 1m
    max-session: 2s
    grants:
      - idp-groups: [sre]
        kube-groups: ["kaccess:short:sre"]
        namespaces: [default]
        cluster-role: view
"#;

fn env_with(tune: impl FnOnce(&mut BrokerOptions)) -> Env {
    let idp = Idp::start(IdpOptions::default());
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.extra_clusters = SHORT_CLUSTER.into();
    tune(&mut opts);
    let broker = Broker::start(opts);
    let client = broker.client();
    Env {
        idp,
        broker,
        client,
    }
}

fn env() -> Env {
    env_with(|_| {})
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn csr(alg: &'static rcgen::SignatureAlgorithm, cn: &str, o: &str) -> String {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, o);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// A P-256 CSR whose signed part was changed after signing.
fn tampered_csr() -> String {
    use base64::Engine as _;
    let pem = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "alice", "sre");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let at = der.windows(5).position(|w| w == b"alice").unwrap();
    der[at] = b'm';
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

impl Env {
    fn token(&self, claims: Value) -> String {
        self.idp.mint_id_token(claims, Mint::Rs256)
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.broker.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("broker answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    async fn exchange(&self, token: &str, body: Value) -> (u16, Value) {
        self.post("/v1/exchange", Some(token), body.to_string().into_bytes())
            .await
    }

    /// A new token session on `prod`; returns (session id, bearer token).
    async fn token_session(&self, id_token: &str) -> (String, String) {
        let (status, body) = self
            .exchange(
                id_token,
                json!({"cluster": "prod", "credential": "token", "reason": "INC-7"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["session_id"].as_str().unwrap().into(),
            body["token"].as_str().unwrap().into(),
        )
    }

    async fn review(&self, version: &str, token: &str) -> Value {
        let body = json!({
            "apiVersion": version, "kind": "TokenReview",
            "spec": {"token": token}
        });
        let (status, v) = self
            .post("/v1/tokenreview/prod", None, body.to_string().into_bytes())
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// `/metrics`, as text: always OpenMetrics, ending with `# EOF`.
    async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(self.broker.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let text = resp.text().await.unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        text
    }

    /// `kaccess_active_sessions` from `/metrics`.
    async fn active_sessions(&self) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix("kaccess_active_sessions "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no active sessions gauge in {text}"))
    }

    async fn revoke(&self, id: &str, token: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/sessions/{id}/revoke"),
            Some(token),
            Vec::new(),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_subject_and_groups_come_from_policy_not_the_csr() {
    let env = env();
    let id_token = env.token(json!({}));
    let (status, body) = env
        .exchange(
            &id_token,
            json!({
                "cluster": "prod", "credential": "certificate", "reason": "INC-1",
                "csr": csr(&rcgen::PKCS_ECDSA_P256_SHA256, "root", "system:masters"),
                "ttl_seconds": 999_999,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "alice@example.com");
    assert_eq!(body["groups"], json!(["kaccess:prod:sre"]));
    assert_eq!(body["namespaces"], json!(["payments", "billing"]));
    let pem = body["certificate"].as_str().unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let o: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cn, ["alice@example.com"]);
    assert_eq!(
        o,
        ["kaccess:prod:sre"],
        "the CSR's O=system:masters is ignored"
    );
    let (_, ca_pem) =
        x509_parser::pem::parse_x509_pem(env.broker.cluster_ca_pem().as_bytes()).unwrap();
    let ca = ca_pem.parse_x509().unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    // TTL above the cap is clamped to credential-ttl (10m), not refused.
    let validity = cert.validity();
    let life = validity.not_after.timestamp() - now();
    assert!((590..=600).contains(&life), "lifetime {life}s");
    assert!(validity.not_before.timestamp() <= now() - 59);
    let serial = hex::encode(cert.raw_serial());
    let lines = env.broker.audit_lines();
    assert_eq!(lines.len(), 1);
    let rec = &lines[0];
    assert_eq!(rec["event"], "exchange");
    assert_eq!(rec["outcome"], "issued");
    assert_eq!(rec["serial"], serial.as_str());
    assert_eq!(rec["subject"], "alice");
    assert_eq!(rec["email"], "alice@example.com");
    assert_eq!(rec["idp_groups"], json!(["sre"]));
    assert_eq!(rec["kube_groups"], json!(["kaccess:prod:sre"]));
    assert_eq!(rec["reason"], "INC-1");
    assert_eq!(rec["session_id"], body["session_id"]);
    assert_eq!(rec["credential"], "certificate");
    assert!(
        rec["client_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(rec["user_agent"].as_str().unwrap().starts_with("kaccess/"));
    assert!(rec["expires_at"].is_string());
}

struct Case {
    name: &'static str,
    bearer: Option<String>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// Part of the audit record's `cause`.
    cause: &'static str,
}

fn case(
    name: &'static str,
    bearer: Option<String>,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        bearer,
        body: body.to_string().into_bytes(),
        status,
        code,
        cause: cause_of(name),
    }
}

/// What the audit record must say for each case.
fn cause_of(name: &str) -> &'static str {
    match name {
        "no bearer" => "no ID token",
        "malformed body" => "not valid",
        "oversized body" => "larger than",
        "unknown field" => "unknown field `groups`",
        "unknown cluster" => "no cluster `staging`",
        "expired token" => "expired (",
        "not yet valid" => "not_yet_valid",
        "wrong issuer" => "wrong_issuer",
        "wrong audience" => "wrong_audience",
        "bad signature" => "bad_signature",
        "alg none" => "unsigned",
        "HS256 with the RSA public key" => "disallowed_alg",
        "unknown kid" => "unknown_key",
        "azp of another client" => "issued to `another-client`",
        "oversized bearer" => "larger than",
        "unverified email as username" => "not verified",
        "no MFA claim" => "does not prove MFA",
        "stale auth_time for a new session" => "MFA login is",
        "missing reason" => "requires a reason",
        "reason with a right-to-left override" => "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 6",
        "session shorter than the floor" => "a session of 20s is shorter than the shortest",
        "user in no grant" => "no grant",
        "certificate without CSR" => "needs a `csr`",
        "CSR with a bad signature" => "signature does not verify",
        "CSR with a weak key" => "EC curve",
        "session of another subject" => "another user",
        "unknown session" => "knows no session",
        "revoked session" => "revoked by you (",
        "expired session" => "has ended",
        other => panic!("no expected cause for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_is_refused_with_its_status_and_one_audit_line() {
    let env = env();
    let t = now();
    let good = env.token(json!({}));
    let tok = |body: Value| {
        json!({"cluster": "prod", "credential": "token", "reason": "INC-9"})
            .as_object()
            .cloned()
            .map(|mut m| {
                if let Value::Object(extra) = body {
                    m.extend(extra);
                }
                Value::Object(m)
            })
            .unwrap()
    };
    // Sessions the session cases need.
    let (alice_session, _) = env.token_session(&good).await;
    let (revoked_session, _) = env.token_session(&good).await;
    let (status, _) = env.revoke(&revoked_session, &good).await;
    assert_eq!(status, 200);
    let (status, short) = env
        .exchange(&good, json!({"cluster": "short", "credential": "token"}))
        .await;
    assert_eq!(status, 200, "{short}");
    let bad_sig = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let sig = &mut parts[2];
        let flipped = if sig.as_bytes()[10] == b'A' { "B" } else { "A" };
        sig.replace_range(10..11, flipped);
        parts.join(".")
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let cases = vec![
        case("no bearer", None, tok(json!({})), 401, "unauthenticated"),
        Case {
            name: "malformed body",
            bearer: Some(good.clone()),
            body: b"{\"cluster\": ".to_vec(),
            status: 400,
            code: "bad_request",
            cause: cause_of("malformed body"),
        },
        Case {
            name: "oversized body",
            bearer: Some(good.clone()),
            body: vec![b' '; kaccess::protocol::MAX_BODY_BYTES + 1],
            status: 413,
            code: "payload_too_large",
            cause: cause_of("oversized body"),
        },
        case(
            "unknown field",
            Some(good.clone()),
            tok(json!({"groups": ["system:masters"]})),
            400,
            "bad_request",
        ),
        case(
            "unknown cluster",
            Some(good.clone()),
            tok(json!({"cluster": "staging"})),
            404,
            "unknown_cluster",
        ),
        case(
            "expired token",
            Some(env.token(json!({"exp": t - 600, "iat": t - 1200, "auth_time": t - 1200}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "not yet valid",
            Some(env.token(json!({"nbf": t + 3600}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "wrong issuer",
            Some(env.token(json!({"iss": "https://evil.example"}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "wrong audience",
            Some(env.token(json!({"aud": "someone-else"}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "bad signature",
            Some(bad_sig),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "alg none",
            Some(env.idp.mint_id_token(json!({}), Mint::AlgNone)),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "HS256 with the RSA public key",
            Some(env.idp.mint_id_token(json!({}), Mint::Hs256WithPublicKey)),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "unknown kid",
            Some(env.idp.mint_id_token(json!({}), Mint::UnknownKid)),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "azp of another client",
            Some(env.token(json!({"azp": "another-client"}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "oversized bearer",
            Some("a".repeat(kaccess::protocol::MAX_BEARER_BYTES + 10)),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "unverified email as username",
            Some(env.token(json!({"email_verified": false}))),
            tok(json!({})),
            401,
            "unauthenticated",
        ),
        case(
            "no MFA claim",
            Some(env.token(json!({"amr": ["pwd"], "acr": null}))),
            tok(json!({})),
            403,
            "mfa_required",
        ),
        case(
            "stale auth_time for a new session",
            Some(env.token(json!({"auth_time": t - 3600}))),
            tok(json!({})),
            403,
            "mfa_required",
        ),
        case(
            "missing reason",
            Some(good.clone()),
            json!({"cluster": "prod", "credential": "token"}),
            400,
            "reason_required",
        ),
        case(
            "reason with a right-to-left override",
            Some(good.clone()),
            json!({"cluster": "prod", "credential": "token", "reason": "INC-1\u{202E}evil"}),
            400,
            "bad_request",
        ),
        case(
            "session shorter than the floor",
            Some(good.clone()),
            tok(json!({"session_ttl_seconds": 20})),
            400,
            "bad_request",
        ),
        case(
            "user in no grant",
            Some(env.token(json!({"groups": ["marketing"]}))),
            tok(json!({})),
            403,
            "forbidden",
        ),
        case(
            "certificate without CSR",
            Some(good.clone()),
            tok(json!({"credential": "certificate"})),
            400,
            "bad_csr",
        ),
        case(
            "CSR with a bad signature",
            Some(good.clone()),
            tok(json!({"credential": "certificate", "csr": tampered_csr()})),
            400,
            "bad_csr",
        ),
        case(
            "CSR with a weak key",
            Some(good.clone()),
            tok(
                json!({"credential": "certificate", "csr": csr(&rcgen::PKCS_ECDSA_P384_SHA384, "a", "b")}),
            ),
            400,
            "bad_csr",
        ),
        case(
            "session of another subject",
            Some(env.token(json!({"sub": "bob", "email": "bob@example.com"}))),
            tok(json!({"session_id": alice_session})),
            403,
            "session_not_yours",
        ),
        case(
            "unknown session",
            Some(good.clone()),
            tok(json!({"session_id": "0123456789abcdef0123456789abcdef"})),
            404,
            "unknown_session",
        ),
        case(
            "revoked session",
            Some(good.clone()),
            tok(json!({"session_id": revoked_session})),
            403,
            "session_revoked",
        ),
        case(
            "expired session",
            Some(good.clone()),
            json!({"cluster": "short", "credential": "token", "session_id": short["session_id"]}),
            403,
            "session_expired",
        ),
    ];
    for c in cases {
        let before = env.broker.audit_lines().len();
        let (status, body) = env.post("/v1/exchange", c.bearer.as_deref(), c.body).await;
        assert_eq!(status, c.status, "{}: {body}", c.name);
        assert_eq!(body["error"], c.code, "{}: {body}", c.name);
        assert!(!body["message"].as_str().unwrap().is_empty(), "{}", c.name);
        let lines = env.broker.audit_lines();
        assert_eq!(lines.len(), before + 1, "{}: one audit line", c.name);
        let rec = lines.last().unwrap();
        assert_eq!(rec["event"], "exchange", "{}", c.name);
        assert_eq!(rec["outcome"], "refused", "{}", c.name);
        assert_eq!(rec["error"], c.code, "{}", c.name);
        assert_eq!(rec["status"], c.status, "{}", c.name);
        assert!(
            rec["cause"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            c.name
        );
        let cause = rec["cause"].as_str().unwrap_or_default();
        assert!(cause.contains(c.cause), "{}: cause {cause}", c.name);
    }
    // No refusal left a session behind: only alice's first one is live.
    assert_eq!(env.active_sessions().await, 1);
    // A continued session needs MFA but not a fresh one.
    let old_login = env.token(json!({"auth_time": t - 3600}));
    let (status, body) = env
        .exchange(&old_login, tok(json!({"session_id": alice_session})))
        .await;
    assert_eq!(status, 200, "{body}");
    // The broker is still serving after all of that.
    let (status, _) = env.exchange(&good, tok(json!({}))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenreview_answers_v1_and_v1beta1_and_revocation_is_immediate() {
    let env = env();
    let id_token = env.token(json!({}));
    let (session, token) = env.token_session(&id_token).await;
    for version in ["authentication.k8s.io/v1", "authentication.k8s.io/v1beta1"] {
        let v = env.review(version, &token).await;
        assert_eq!(v["apiVersion"], version);
        assert_eq!(v["kind"], "TokenReview");
        let st = &v["status"];
        assert_eq!(st["authenticated"], true, "{v}");
        assert_eq!(st["user"]["username"], "alice@example.com");
        assert_eq!(st["user"]["uid"], "alice");
        assert_eq!(st["user"]["groups"], json!(["kaccess:prod:sre"]));
        assert_eq!(
            st["user"]["extra"]["kaccess.io/session-id"],
            json!([session])
        );
        assert_eq!(st["user"]["extra"]["kaccess.io/reason"], json!(["INC-7"]));
    }
    let (status, body) = env.revoke(&session, &id_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], true);
    let v = env.review("authentication.k8s.io/v1", &token).await;
    assert_eq!(v["status"]["authenticated"], false, "{v}");
    // A replayed revocation is harmless and recorded as such.
    let (status, body) = env.revoke(&session, &id_token).await;
    assert_eq!((status, &body["revoked"]), (200, &json!(false)));
    // Someone else cannot revoke alice's session.
    let (other, _) = env.token_session(&id_token).await;
    let bob = env.token(json!({"sub": "bob", "email": "bob@example.com"}));
    let (status, body) = env.revoke(&other, &bob).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("session_not_yours"))
    );
    let outcomes: Vec<(String, String)> = env
        .broker
        .audit_lines()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("exchange", "issued"),
        ("revoke", "revoked"),
        ("tokenreview", "refused"),
        ("revoke", "replay"),
        ("exchange", "issued"),
        ("revoke", "refused"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(outcomes, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_authenticates_only_at_its_own_cluster() {
    let env = env();
    let id_token = env.token(json!({}));
    let (status, short) = env
        .exchange(
            &id_token,
            json!({"cluster": "short", "credential": "token"}),
        )
        .await;
    assert_eq!(status, 200, "{short}");
    let token = short["token"].as_str().unwrap();
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}
    })
    .to_string();
    let at = |path: &'static str| env.post(path, None, body.clone().into_bytes());
    let (status, v) = at("/v1/tokenreview/short").await;
    assert_eq!(
        (status, &v["status"]["authenticated"]),
        (200, &json!(true)),
        "{v}"
    );
    let (status, v) = at("/v1/tokenreview/prod").await;
    assert_eq!(
        (status, &v["status"]["authenticated"]),
        (200, &json!(false)),
        "{v}"
    );
    assert!(
        v["status"]["error"]
            .as_str()
            .unwrap()
            .contains("for cluster `short`")
    );
    // Two clusters: the bare path cannot tell which one is asking.
    let (status, v) = at("/v1/tokenreview").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let (status, v) = at("/v1/tokenreview/nope").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (404, Some("unknown_cluster")),
        "{v}"
    );
    let refused: Vec<_> = env
        .broker
        .audit_lines()
        .into_iter()
        .filter(|r| r["event"] == "tokenreview")
        .collect();
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0]["cluster"], "prod");
}

fn kaccess(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kaccess"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_verifies_and_a_tampered_line_is_named() {
    let env = env();
    let id_token = env.token(json!({}));
    for _ in 0..3 {
        env.token_session(&id_token).await;
    }
    env.exchange(&id_token, json!({"cluster": "nope", "credential": "token"}))
        .await;
    let path = env.broker.audit_path().to_str().unwrap().to_string();
    let out = kaccess(&["audit", "verify", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 records, chain intact"));

    let text = std::fs::read_to_string(&path).unwrap();
    // The first line alone is a chain too, counted in the singular.
    let first = env.broker.dir().join("first.jsonl");
    std::fs::write(&first, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let out = kaccess(&["audit", "verify", first.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(": 1 record, chain intact"), "{err}");
    let tampered = text.replacen("\"reason\":\"INC-7\"", "\"reason\":\"INC-8\"", 2);
    let copy = env.broker.dir().join("tampered.jsonl");
    std::fs::write(&copy, tampered).unwrap();
    let out = kaccess(&["audit", "verify", copy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken at line 1"), "{stderr}");

    // Dropping a line breaks the next one.
    let dropped: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&copy, dropped.join("\n") + "\n").unwrap();
    let out = kaccess(&["audit", "verify", copy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("broken at line 2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_exchanges_are_each_audited_exactly_once() {
    let env = std::sync::Arc::new(env());
    let id_token = env.token(json!({}));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let env = env.clone();
        let id_token = id_token.clone();
        tasks.push(tokio::spawn(async move {
            let kind = if i % 2 == 0 { "token" } else { "certificate" };
            let (status, body) = env
                .exchange(
                    &id_token,
                    json!({
                        "cluster": "prod", "credential": kind, "reason": format!("LOAD-{i}"),
                        "csr": csr(&rcgen::PKCS_ECDSA_P256_SHA256, "x", "y"),
                    }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["session_id"].as_str().unwrap().to_string()
        }));
    }
    let mut sessions = Vec::new();
    for t in tasks {
        sessions.push(t.await.unwrap());
    }
    let lines = env.broker.audit_lines();
    assert_eq!(lines.len(), 50);
    for s in &sessions {
        let n = lines
            .iter()
            .filter(|r| r["session_id"] == s.as_str() && r["outcome"] == "issued")
            .count();
        assert_eq!(n, 1, "session {s}");
    }
    let path = env.broker.audit_path().to_str().unwrap().to_string();
    assert!(kaccess(&["audit", "verify", &path]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_sessions_revocations_and_the_audit_chain() {
    let mut env = env();
    let id_token = env.token(json!({}));
    let (kept, kept_token) = env.token_session(&id_token).await;
    let (gone, gone_token) = env.token_session(&id_token).await;
    assert_eq!(env.revoke(&gone, &id_token).await.0, 200);

    let status = env.broker.stop().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status}");
    env.broker.restart();
    env.client = env.broker.client();

    let v = env.review("authentication.k8s.io/v1", &kept_token).await;
    assert_eq!(v["status"]["authenticated"], true, "{v}");
    let v = env.review("authentication.k8s.io/v1", &gone_token).await;
    assert_eq!(v["status"]["authenticated"], false, "{v}");
    let body = json!({"cluster": "prod", "credential": "token", "session_id": kept});
    assert_eq!(env.exchange(&id_token, body).await.0, 200);
    let body = json!({"cluster": "prod", "credential": "token", "session_id": gone});
    let (status, body) = env.exchange(&id_token, body).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("session_revoked"))
    );
    let path = env.broker.audit_path().to_str().unwrap().to_string();
    let out = kaccess(&["audit", "verify", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify(files: &[&Path]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = kaccess(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_rotates_on_sighup_and_its_chain_runs_across_files() {
    let mut env = env();
    let id_token = env.token(json!({}));
    env.token_session(&id_token).await;
    let current = env.broker.audit_path().to_path_buf();
    let rotated = env.broker.dir().join("audit.jsonl.1");

    // logrotate renames first; until SIGHUP the broker writes on to the
    // renamed file, so nothing is lost in between.
    std::fs::rename(&current, &rotated).unwrap();
    env.token_session(&id_token).await;
    assert!(!current.exists());
    env.broker.signal(libc::SIGHUP);
    env.broker.wait_for_log("started a new audit file", 1);
    env.token_session(&id_token).await;

    let old = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(old.lines().count(), 2, "{old}");
    // The new file: the rotation record, the configuration in force (the
    // same SIGHUP re-reads it), then the exchange.
    let new = env.broker.audit_lines();
    assert_eq!(new.len(), 3, "{new:?}");
    assert_eq!(new[1]["event"], "config");
    assert_eq!(
        (new[0]["event"].as_str(), new[0]["outcome"].as_str()),
        (Some("audit"), Some("rotated"))
    );
    let old_head: Value = serde_json::from_str(old.lines().last().unwrap()).unwrap();
    assert_eq!(
        new[0]["prev"], old_head["hash"],
        "the new file continues the old chain"
    );
    let mode = std::fs::metadata(&current).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let (ok, err) = verify(&[&rotated, &current]);
    assert!(ok, "{err}");
    assert!(
        err.contains("2 files, 5 records: one intact chain"),
        "{err}"
    );
    let (ok, err) = verify(&[&current]);
    assert!(ok, "{err}");
    assert!(err.contains("continues an earlier file"), "{err}");
    let (ok, err) = verify(&[&current, &rotated]);
    assert!(!ok, "files in the wrong order must not verify: {err}");

    // A SIGHUP without a rename starts no new file (it only records the
    // configuration re-read).
    env.broker.signal(libc::SIGHUP);
    env.broker.wait_for_log("was not renamed", 1);
    env.broker.wait_for_log("reloaded the configuration", 2);
    let lines = env.broker.audit_lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[3]["event"], "config");

    // A restart continues the chain from the new file.
    env.broker.restart();
    env.client = env.broker.client();
    env.token_session(&id_token).await;
    let (ok, err) = verify(&[&rotated, &current]);
    assert!(ok, "{err}");
    assert!(err.contains("2 files, 7 records"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_serving_certificate_and_keeps_the_old_one_if_the_new_is_bad() {
    let mut env = env();
    let old_client = env.broker.client();
    let healthz = env.broker.url("/healthz");
    assert!(old_client.get(&healthz).send().await.is_ok());

    // A bad file: refused, logged, and the old certificate stays in use.
    let cert = env.broker.dir().join("broker.crt");
    let good = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, "not a certificate").unwrap();
    env.broker.signal(libc::SIGHUP);
    env.broker
        .wait_for_log("cannot reload the serving certificate", 1);
    assert!(env.broker.client().get(&healthz).send().await.is_ok());
    std::fs::write(&cert, good).unwrap();

    // A new certificate from another CA: new connections get it.
    let old_ca = env.broker.tls_ca_pem().to_string();
    env.broker.replace_serving_cert();
    env.broker.signal(libc::SIGHUP);
    env.broker
        .wait_for_log("reloaded the serving certificate", 1);
    let resp = env.broker.client().get(&healthz).send().await;
    assert!(resp.is_ok(), "a client trusting the new CA: {resp:?}");
    let old_ca = reqwest::Certificate::from_pem(old_ca.as_bytes()).unwrap();
    let trusts_old_only = kaccess::http::client(vec![old_ca]).unwrap();
    let resp = trusts_old_only.get(&healthz).send().await;
    assert!(
        resp.is_err(),
        "a new connection still got the old certificate: {resp:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_policy_and_a_bad_file_keeps_the_running_one() {
    let env = env();
    let id_token = env.token(json!({}));
    let (session, token) = env.token_session(&id_token).await;
    let config = env.broker.config_path().to_path_buf();
    let good = std::fs::read_to_string(&config).unwrap();

    // An invalid edit: refused, audited, and sre keeps its grant.
    std::fs::write(
        &config,
        good.replace("credential-ttl: 10m", "credential-ttl: 10 parsecs"),
    )
    .unwrap();
    env.broker.signal(libc::SIGHUP);
    env.broker
        .wait_for_log("cannot reload the configuration", 1);
    env.token_session(&id_token).await;

    // The grant for sre on prod is taken away.
    std::fs::write(
        &config,
        good.replace(
            "idp-groups: [sre]\n        kube-groups: [\"kaccess:prod:sre\"]",
            "idp-groups: [dba]\n        kube-groups: [\"kaccess:prod:dba\"]",
        ),
    )
    .unwrap();
    assert_ne!(
        std::fs::read_to_string(&config).unwrap(),
        good,
        "the edit must change the grant"
    );
    env.broker.signal(libc::SIGHUP);
    env.broker.wait_for_log("reloaded the configuration", 1);

    let body = json!({"cluster": "prod", "credential": "token", "reason": "INC-9"});
    let (status, v) = env.exchange(&id_token, body).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    // A running session gets nothing more under the new policy either...
    let body = json!({"cluster": "prod", "credential": "token", "session_id": session});
    let (status, v) = env.exchange(&id_token, body).await;
    assert_eq!(status, 403, "{v}");
    // ...while a token issued before keeps working until it expires.
    let v = env.review("authentication.k8s.io/v1", &token).await;
    assert_eq!(v["status"]["authenticated"], true, "{v}");

    let lines = env.broker.audit_lines();
    let reloads: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "config")
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(reloads, ["refused", "reloaded"]);
    let metrics = env.metrics().await;
    for line in [
        "kaccess_reloads_total{what=\"config\",outcome=\"refused\"} 1",
        "kaccess_reloads_total{what=\"config\",outcome=\"applied\"} 1",
        "kaccess_reloads_total{what=\"audit\",outcome=\"unchanged\"} 2",
    ] {
        assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
    }
    let (ok, err) = verify(&[env.broker.audit_path()]);
    assert!(ok, "{err}");
}

impl Env {
    async fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(self.broker.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("broker answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn revoke_with(&self, id: &str, token: &str, body: Value) -> (u16, Value) {
        self.post(
            &format!("/v1/sessions/{id}/revoke"),
            Some(token),
            body.to_string().into_bytes(),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_lists_everyones_sessions_and_revokes_one_with_a_reason() {
    let env = env_with(|o| o.admin_groups = vec!["secops".into()]);
    let alice = env.token(json!({}));
    let (alice_session, alice_token) = env.token_session(&alice).await;
    let bob = env.token(json!({"sub": "bob", "email": "bob@example.com"}));
    let (bob_session, _) = env.token_session(&bob).await;
    let admin =
        env.token(json!({"sub": "carol", "email": "carol@example.com", "groups": ["secops"]}));

    // Users see their own sessions only; the admin sees both.
    let (status, mine) = env.get("/v1/sessions", &bob).await;
    assert_eq!(status, 200, "{mine}");
    let ids: Vec<&str> = mine["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bob_session.as_str()]);
    let (status, all) = env
        .get("/v1/sessions?username=alice@example.com", &admin)
        .await;
    assert_eq!(status, 200, "{all}");
    let listed = all["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{all}");
    assert_eq!(listed[0]["session_id"], alice_session.as_str());
    assert_eq!(listed[0]["reason"], "INC-7");

    // Bob may not revoke Alice's session; the admin may, but only with a reason.
    let (status, v) = env
        .revoke_with(&alice_session, &bob, json!({"reason": "mine now"}))
        .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("session_not_yours")),
        "{v}"
    );
    let (status, v) = env.revoke_with(&alice_session, &admin, json!({})).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("reason_required")),
        "{v}"
    );
    let v = env.review("authentication.k8s.io/v1", &alice_token).await;
    assert_eq!(
        v["status"]["authenticated"], true,
        "refusals change nothing: {v}"
    );
    let (status, v) = env
        .revoke_with(
            &alice_session,
            &admin,
            json!({"reason": "SEC-42 laptop stolen"}),
        )
        .await;
    assert_eq!((status, v["revoked"].as_bool()), (200, Some(true)), "{v}");
    let v = env.review("authentication.k8s.io/v1", &alice_token).await;
    assert_eq!(v["status"]["authenticated"], false, "revoked at once: {v}");

    // An admin whose MFA login is older than max-auth-age gets nothing.
    let stale = env.token(json!({"sub": "carol", "email": "carol@example.com", "groups": ["secops"], "auth_time": now() - 3600}));
    let (status, v) = env
        .revoke_with(&bob_session, &stale, json!({"reason": "x"}))
        .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("mfa_required")),
        "{v}"
    );
    let (status, v) = env.get("/v1/sessions", &stale).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("mfa_required")),
        "{v}"
    );

    let lines = env.broker.audit_lines();
    let revoked: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "revoke" && l["outcome"] == "revoked")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"], "carol@example.com");
    assert_eq!(revoked[0]["username"], "alice@example.com");
    assert!(revoked[0]["cause"].as_str().unwrap().contains("SEC-42"));
    let listings = lines.iter().filter(|l| l["event"] == "sessions").count();
    assert_eq!(listings, 3, "every listing is audited, refused ones too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_groups_nobody_revokes_another_users_session() {
    let env = env();
    let alice = env.token(json!({}));
    let (alice_session, _) = env.token_session(&alice).await;
    let other =
        env.token(json!({"sub": "carol", "email": "carol@example.com", "groups": ["secops"]}));
    let (status, v) = env
        .revoke_with(&alice_session, &other, json!({"reason": "because"}))
        .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("session_not_yours")),
        "{v}"
    );
    let (status, v) = env.get("/v1/sessions", &other).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sessions"], json!([]), "only their own (none)");
}

#[test]
fn serve_check_loads_every_file_the_config_names_and_names_the_bad_one() {
    let mut broker = Broker::start(BrokerOptions::new("http://127.0.0.1:9"));
    let config = broker.config_path().to_str().unwrap().to_string();
    let check = || kaccess(&["serve", "--config", &config, "--check"]);
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is valid") && err.contains("clusters:     prod"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout");

    // A CA key that is not a key.
    let ca_key = broker.dir().join("prod-ca.key");
    let good_key = std::fs::read(&ca_key).unwrap();
    std::fs::write(&ca_key, "garbage").unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the CA of cluster `prod`"), "{err}");
    assert!(
        err.contains("--check"),
        "the help line names the command: {err}"
    );
    std::fs::write(&ca_key, good_key).unwrap();

    // A serving certificate whose key belongs to another certificate.
    let cert = broker.dir().join("broker.crt");
    let old_cert = std::fs::read(&cert).unwrap();
    broker.replace_serving_cert();
    std::fs::write(&cert, old_cert).unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("serving certificate and key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_idp_keys_are_fetched_and_the_old_key_is_refused() {
    let env = env();
    let before = env.token(json!({}));
    assert_eq!(env.token_session(&before).await.0.len(), 32);
    env.idp.rotate_keys();
    // Refetches are rate-limited; let the startup fetch age out.
    tokio::time::sleep(kaccess::broker::keys::MIN_REFETCH).await;
    let after = env.token(json!({}));
    env.token_session(&after).await;
    let (status, body) = env
        .exchange(
            &before,
            json!({"cluster": "prod", "credential": "token", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_log_fails_closed() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let env = env_with(|o| o.audit_file = Some("/dev/full".into()));
    let id_token = env.token(json!({}));
    let (status, body) = env
        .exchange(
            &id_token,
            json!({"cluster": "prod", "credential": "token", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "audit_unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("/dev/full"),
        "{body}"
    );
    assert!(body.get("token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_down_at_startup_does_not_stop_the_broker() {
    let broker = Broker::start(BrokerOptions::new("http://127.0.0.1:9"));
    let client = broker.client();
    let health = client.get(broker.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let resp = client
        .post(broker.url("/v1/exchange"))
        .bearer_auth("a.b.c")
        .json(&json!({"cluster": "prod", "credential": "token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "idp_unavailable");
    assert_eq!(broker.audit_lines().len(), 1);
}

#[test]
fn rbac_render_and_apiserver_config_come_from_the_broker_config() {
    let broker = Broker::start(BrokerOptions::new("http://127.0.0.1:9"));
    let config = broker.config_path().to_str().unwrap().to_string();
    let out = kaccess(&["rbac", "render", "--config", &config, "--cluster", "prod"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let namespaces: Vec<&str> = docs
        .iter()
        .map(|d| {
            assert_eq!(d["kind"], "RoleBinding");
            assert_eq!(d["roleRef"]["name"], "edit");
            assert_eq!(d["subjects"][0]["name"], "kaccess:prod:sre");
            d["metadata"]["namespace"].as_str().unwrap()
        })
        .collect();
    assert_eq!(namespaces, ["payments", "billing"]);

    let out = kaccess(&[
        "serve",
        "--config",
        &config,
        "--print-apiserver-config",
        "--cluster",
        "prod",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let ca = broker.dir().join("prod-ca.crt");
    assert!(
        text.contains(&format!("--client-ca-file={}", ca.display())),
        "{text}"
    );
    assert!(text.contains("--authentication-token-webhook-config-file="));
    assert!(text.contains("--authentication-token-webhook-version=v1"));
    assert!(text.contains("/v1/tokenreview/prod\n"), "{text}");

    let out = kaccess(&["rbac", "render", "--config", &config, "--cluster", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

/// curl (nghttp2) reports a stream reset as "Stream error in the HTTP/2
/// framing layer" and drops the answer; every client, whichever protocol it
/// speaks, must read the broker's 413 and its JSON.
#[test]
fn an_oversized_body_gets_a_readable_413_over_http2_and_http1() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, env.broker.tls_ca_pem()).unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, vec![b' '; 32 * kaccess::protocol::MAX_BODY_BYTES]).unwrap();
    for protocol in ["--http2", "--http1.1"] {
        let out = std::process::Command::new("curl")
            .args([protocol, "-sS", "--max-time", "20", "--cacert"])
            .arg(&ca)
            .args([
                "-H",
                "Authorization: Bearer x",
                "-H",
                "Content-Type: application/json",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .args(["-w", "\n%{http_code} %{http_version}"])
            .arg(env.broker.url("/v1/exchange"))
            .output()
            .expect("curl runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{protocol}: curl failed: {stderr}");
        let (json, status) = stdout.rsplit_once('\n').unwrap();
        let expected_version = if protocol == "--http2" { "2" } else { "1.1" };
        assert_eq!(
            status,
            format!("413 {expected_version}"),
            "{protocol}: {stdout}"
        );
        let answer: Value = serde_json::from_str(json).unwrap();
        assert_eq!(answer["error"], "payload_too_large", "{protocol}: {json}");
    }
}
