//! Criterion micro-benchmarks of the hot functions (issue 6): ID-token
//! verification, CSR check and signing, audit append, the exec plugin's
//! cache read and render, and the TokenReview lookup. `cargo bench`; the
//! end-to-end figures with their targets come from `scripts/bench`.

use criterion::{Criterion, criterion_group, criterion_main};
use kaccess::audit::{AuditLog, AuditRecord, canonical_json, record_hash};
use kaccess::broker::ca::{ClusterCa, check_csr};
use kaccess::store::{CredentialEntry, CredentialKey, Session, Store};
use kaccess::broker::tokens::{TokenHash, new_session_id, new_token};
use kaccess::oidc::verify::{NonceCheck, OtherClaims, verify_id_token};
use kaccess::protocol::CredentialKind;
use kaccess::secret::Secret;
use kaccess::session::paths::Layout;
use kaccess::session::record::{self, CachedCredential, RECORD_VERSION, SessionRecord};
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    Audience, AuthenticationMethodReference, EndUserEmail, IdToken, IdTokenClaims, IssuerUrl,
    JsonWebKeyId, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use std::future::Future;
use std::hint::black_box;
use std::time::Duration;
use time::OffsetDateTime;

const ISS: &str = "https://idp.example.com";

fn chrono(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), 0).expect("in range")
}

/// An Ed25519-signed ID token and the JWKS that verifies it.
fn signed_token() -> (String, CoreJsonWebKeySet) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
    let key = CoreEdDsaPrivateSigningKey::from_ed25519_pem(
        &pair.serialize_pem(),
        Some(JsonWebKeyId::new("k1".into())),
    )
    .expect("signing key");
    let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
    let now = OffsetDateTime::now_utc();
    let mut extra = serde_json::Map::new();
    extra.insert("groups".into(), serde_json::json!(["sre", "dba"]));
    let claims = IdTokenClaims::new(
        IssuerUrl::new(ISS.into()).expect("issuer"),
        vec![Audience::new("kaccess".into())],
        chrono(now + time::Duration::hours(1)),
        chrono(now),
        StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new("alice".into()))
            .set_email(Some(EndUserEmail::new("alice@example.com".into()))),
        OtherClaims { rest: extra },
    )
    .set_auth_method_refs(Some(vec![AuthenticationMethodReference::new("otp".into())]))
    .set_auth_time(Some(chrono(now)));
    let token = IdToken::<
        OtherClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(claims, &key, CoreJwsSigningAlgorithm::EdDsa, None, None)
    .expect("signed");
    (token.to_string(), jwks)
}

fn id_token(c: &mut Criterion) {
    let (raw, jwks) = signed_token();
    let aud = ["kaccess".to_string()];
    c.bench_function("verify_id_token (EdDSA)", |b| {
        b.iter(|| {
            let now = OffsetDateTime::now_utc();
            verify_id_token(black_box(&raw), ISS, &aud, &jwks, NonceCheck::Ignore, now)
                .expect("verifies")
        })
    });
}

fn test_ca() -> ClusterCa {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench CA");
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&key).expect("self-signed");
    ClusterCa::from_pem(&cert.pem(), &key.serialize_pem()).expect("CA")
}

fn csr(c: &mut Criterion) {
    let ca = test_ca();
    let pem = kaccess::session::keys::generate("alice")
        .expect("CSR")
        .csr_pem;
    let groups = ["kaccess:prod:sre".to_string()];
    c.bench_function("check_csr (P-256)", |b| {
        b.iter(|| check_csr(black_box(&pem)).expect("valid"))
    });
    let checked = check_csr(&pem).expect("valid");
    c.bench_function("ClusterCa::sign", |b| {
        b.iter(|| {
            let now = OffsetDateTime::now_utc();
            ca.sign(
                &checked,
                "alice@example.com",
                &groups,
                now,
                now + time::Duration::minutes(10),
            )
            .expect("signed")
        })
    });
}

fn audit_record(n: usize) -> AuditRecord {
    AuditRecord {
        outcome: "issued".into(),
        issuer: Some(ISS.into()),
        subject: Some("alice".into()),
        username: Some(format!("user{n}@example.com")),
        idp_groups: Some(vec!["sre".into()]),
        kube_groups: Some(vec!["kaccess:prod:sre".into()]),
        cluster: Some("prod".into()),
        session_id: Some(new_session_id()),
        credential: Some("certificate".into()),
        serial: Some("4f".repeat(16)),
        client_addr: Some("127.0.0.1:50000".into()),
        user_agent: Some("kaccess/0.1.0".into()),
        status: Some(200),
        ..AuditRecord::new("exchange")
    }
}

fn audit(c: &mut Criterion) {
    let v = serde_json::to_value(audit_record(1)).expect("JSON");
    c.bench_function("audit record_hash + canonical_json", |b| {
        b.iter(|| (record_hash(black_box(&v)), canonical_json(&v)))
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::open(&dir.path().join("audit.jsonl"), false).expect("audit log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // One append waits for its own fdatasync: the latency floor.
    c.bench_function("AuditLog::append, alone (fdatasync)", |b| {
        b.iter(|| rt.block_on(log.append(audit_record(1))).expect("appended"))
    });
    // 64 at once share syncs (group commit): the cost per record under load.
    c.bench_function("AuditLog::append, 64 concurrent (per batch)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for n in 0..64 {
                    let log = log.clone();
                    set.spawn(async move { log.append(audit_record(n)).await });
                }
                while let Some(r) = set.join_next().await {
                    r.expect("join").expect("appended");
                }
            })
        })
    });
    log.shutdown();
}

fn credential_cache(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = Layout::new(dir.path().join("rt"));
    let now = OffsetDateTime::now_utc();
    let rec = SessionRecord {
        version: RECORD_VERSION,
        cluster: "prod".into(),
        session_id: new_session_id(),
        broker_url: "https://127.0.0.1:8443".into(),
        broker_ca_file: None,
        issuer: ISS.into(),
        client_id: "kaccess".into(),
        subject: "alice".into(),
        username: "alice@example.com".into(),
        email: Some("alice@example.com".into()),
        groups: vec!["kaccess:prod:sre".into()],
        namespaces: vec!["payments".into(), "billing".into()],
        reason: Some("INC-1".into()),
        credential_kind: CredentialKind::Certificate,
        started_at: now,
        session_expires_at: now + time::Duration::hours(8),
        embedded: false,
        kubeconfig: layout.kubeconfig("prod"),
        token_store: "file".into(),
        reaper_pid: None,
        credential: CachedCredential {
            expires_at: now + time::Duration::minutes(10),
            certificate_pem: Some(format!(
                "-----BEGIN CERTIFICATE-----\n{}-----END CERTIFICATE-----\n",
                format!("{}\n", "A".repeat(64)).repeat(12)
            )),
            key_pem: Some(Secret::new(format!(
                "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----\n",
                format!("{}\n", "B".repeat(64)).repeat(3)
            ))),
            token: None,
        },
        id_token: None,
    };
    record::write(&layout, &rec).expect("record written");
    c.bench_function("session record read + ExecCredential render", |b| {
        b.iter(|| {
            let rec = record::read(&layout, black_box("prod")).expect("read");
            kaccess::credential::render(kaccess::credential::API_V1, &rec).expect("rendered")
        })
    });
}

fn token_review(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Store::open_sqlite(&dir.path().join("state.db")).expect("store");
    let now = OffsetDateTime::now_utc();
    let mut sample = None;
    rt.block_on(async {
        for _ in 0..1_000 {
            let s = Session {
                id: new_session_id(),
                cluster: "prod".into(),
                issuer: ISS.into(),
                subject: "alice".into(),
                username: "alice@example.com".into(),
                email: None,
                reason: Some("INC-1".into()),
                started_at: now,
                expires_at: now + time::Duration::hours(8),
                revoked_at: None,
                revoked_by: None,
                elevation: None,
            };
            let (token, hash) = new_token();
            let entry = CredentialEntry {
                session_id: s.id.clone(),
                username: s.username.clone(),
                uid: s.subject.clone(),
                groups: vec!["kaccess:prod:sre".into()],
                expires_at: now + time::Duration::minutes(30),
            };
            store
                .add(Some(s), Some((CredentialKey::Token(hash), entry)))
                .await
                .expect("stored");
            sample = Some(token);
        }
    });
    let token = sample.expect("a token");
    // A cache hit never waits, so one poll of the future is the whole
    // review: the measurement stays the lookup, not a runtime's overhead.
    c.bench_function("TokenReview lookup (hash + Store::review)", |b| {
        b.iter(|| {
            let hash = TokenHash::of(black_box(token.expose()));
            let review = std::pin::pin!(store.review(&hash, OffsetDateTime::now_utc()));
            let waker = std::task::Waker::noop();
            match review.poll(&mut std::task::Context::from_waker(waker)) {
                std::task::Poll::Ready(r) => r.expect("valid"),
                std::task::Poll::Pending => panic!("a cache hit waited"),
            }
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = hot;
    config = config();
    targets = id_token, csr, audit, credential_cache, token_review
}
criterion_main!(hot);
