use super::*;
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreGenderClaim};
use openidconnect::{
    Audience, AuthenticationContextClass, AuthenticationMethodReference, EndUserEmail,
    IdTokenClaims, JsonWebKeyId, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};

const ISS: &str = "https://idp.example.com";

/// A verified-token value for tests of code that consumes one.
pub(crate) fn token_with(
    amr: &[&str],
    acr: Option<&str>,
    auth_time: Option<OffsetDateTime>,
) -> VerifiedIdToken {
    let now = OffsetDateTime::now_utc();
    VerifiedIdToken {
        raw: Secret::new("x.y.z"),
        issuer: ISS.into(),
        subject: "alice".into(),
        audiences: vec!["kaccess".into()],
        email: Some("alice@example.com".into()),
        amr: amr.iter().map(|s| s.to_string()).collect(),
        acr: acr.map(str::to_owned),
        auth_time,
        issued_at: now,
        expires_at: now + time::Duration::hours(1),
        claims: Map::new(),
    }
}

pub(crate) struct TestIssuer {
    key: CoreEdDsaPrivateSigningKey,
    pub jwks: CoreJsonWebKeySet,
}

impl TestIssuer {
    pub(crate) fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = CoreEdDsaPrivateSigningKey::from_ed25519_pem(
            &pair.serialize_pem(),
            Some(JsonWebKeyId::new(kid.into())),
        )
        .unwrap();
        let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
        TestIssuer { key, jwks }
    }

    pub(crate) fn sign(
        &self,
        aud: &[&str],
        iat: OffsetDateTime,
        exp: OffsetDateTime,
        nonce: Option<&str>,
        extra: Map<String, Value>,
    ) -> String {
        let claims = IdTokenClaims::new(
            IssuerUrl::new(ISS.into()).unwrap(),
            aud.iter().map(|a| Audience::new(a.to_string())).collect(),
            to_chrono(exp),
            to_chrono(iat),
            StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new("alice".into()))
                .set_email(Some(EndUserEmail::new("alice@example.com".into()))),
            OtherClaims { rest: extra },
        )
        .set_nonce(nonce.map(|n| Nonce::new(n.into())))
        .set_auth_method_refs(Some(vec![AuthenticationMethodReference::new("otp".into())]))
        .set_auth_context_ref(Some(AuthenticationContextClass::new(
            "urn:example:mfa".into(),
        )))
        .set_auth_time(Some(to_chrono(iat)));
        KaccessIdToken::new(
            claims,
            &self.key,
            CoreJwsSigningAlgorithm::EdDsa,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }
}

fn aud() -> Vec<String> {
    vec!["kaccess".into()]
}

fn groups() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("groups".into(), serde_json::json!(["sre", "dba"]));
    m
}

#[test]
fn valid_token_is_flattened_with_groups_amr_acr() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let raw = iss.sign(
        &["kaccess"],
        now,
        now + time::Duration::hours(1),
        Some("n1"),
        groups(),
    );
    let t = verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Expect("n1"), now).unwrap();
    assert_eq!(t.subject, "alice");
    assert_eq!(t.email.as_deref(), Some("alice@example.com"));
    assert_eq!(t.groups("groups"), ["sre", "dba"]);
    assert_eq!(t.amr, ["otp"]);
    assert_eq!(t.acr.as_deref(), Some("urn:example:mfa"));
    assert_eq!(t.claim_string("sub").as_deref(), Some("alice"));
    assert!(t.auth_time.is_some());
}

#[test]
fn tampered_payload_fails_the_signature() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let raw = iss.sign(
        &["kaccess"],
        now,
        now + time::Duration::hours(1),
        None,
        groups(),
    );
    let other = iss.sign(
        &["kaccess"],
        now,
        now + time::Duration::hours(2),
        None,
        Map::new(),
    );
    // Header and signature of one token, payload of another.
    let a: Vec<&str> = raw.split('.').collect();
    let b: Vec<&str> = other.split('.').collect();
    let forged = format!("{}.{}.{}", a[0], b[1], a[2]);
    let err =
        verify_id_token(&forged, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
    assert!(matches!(err, TokenError::BadSignature(_)), "{err:?}");
}

#[test]
fn key_from_another_issuer_is_an_unknown_key() {
    let iss = TestIssuer::new("k1");
    let stranger = TestIssuer::new("k2");
    let now = OffsetDateTime::now_utc();
    let raw = stranger.sign(
        &["kaccess"],
        now,
        now + time::Duration::hours(1),
        None,
        groups(),
    );
    let err = verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
    assert!(err.is_unknown_key(), "{err:?}");
}

#[test]
fn wrong_audience_issuer_nonce_and_expiry_are_refused() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let other_aud = iss.sign(&["someone-else"], now, now + hour, None, groups());
    assert!(matches!(
        verify_id_token(&other_aud, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now),
        Err(TokenError::WrongAudience(_))
    ));
    let good = iss.sign(&["kaccess"], now, now + hour, Some("n1"), groups());
    assert!(matches!(
        verify_id_token(
            &good,
            "https://evil.example.com",
            &aud(),
            &iss.jwks,
            NonceCheck::Ignore,
            now
        ),
        Err(TokenError::WrongIssuer(_))
    ));
    assert!(matches!(
        verify_id_token(&good, ISS, &aud(), &iss.jwks, NonceCheck::Expect("n2"), now),
        Err(TokenError::NonceMismatch(_))
    ));
    let expired = iss.sign(&["kaccess"], now - 2 * hour, now - hour, None, groups());
    assert!(matches!(
        verify_id_token(&expired, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now),
        Err(TokenError::Expired(_))
    ));
}

#[test]
fn clock_skew_within_five_minutes_is_tolerated_beyond_is_not() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let min = time::Duration::minutes(1);
    // IdP clock 4 minutes ahead: iat in our future, still accepted.
    let ahead = iss.sign(&["kaccess"], now + 4 * min, now + 60 * min, None, groups());
    assert!(verify_id_token(&ahead, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).is_ok());
    // Just expired by our clock, within skew: accepted.
    let just = iss.sign(&["kaccess"], now - 60 * min, now - 4 * min, None, groups());
    assert!(verify_id_token(&just, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).is_ok());
    let far = iss.sign(&["kaccess"], now + 30 * min, now + 90 * min, None, groups());
    let err = verify_id_token(&far, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
    assert!(matches!(err, TokenError::IssuedInFuture(_)), "{err:?}");
}

#[test]
fn future_nbf_is_refused() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let mut extra = groups();
    extra.insert(
        "nbf".into(),
        serde_json::json!((now + time::Duration::hours(1)).unix_timestamp()),
    );
    let raw = iss.sign(
        &["kaccess"],
        now,
        now + time::Duration::hours(2),
        None,
        extra,
    );
    let err = verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
    assert!(matches!(err, TokenError::NotYetValid(_)), "{err:?}");
}

#[test]
fn azp_of_another_client_or_missing_with_several_audiences_is_refused() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let mut azp = groups();
    azp.insert("azp".into(), serde_json::json!("other-client"));
    let other_azp = iss.sign(&["kaccess"], now, now + hour, None, azp.clone());
    let err =
        verify_id_token(&other_azp, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
    assert!(err.to_string().contains("other-client"), "{err}");
    // Issued to another client that also lists us: its azp says whose it is.
    let shared = iss.sign(&["kaccess", "other-client"], now, now + hour, None, azp);
    assert!(verify_id_token(&shared, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).is_err());
    let no_azp = iss.sign(
        &["kaccess", "other-client"],
        now,
        now + hour,
        None,
        groups(),
    );
    assert!(verify_id_token(&no_azp, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).is_err());
    let mut ours = groups();
    ours.insert("azp".into(), serde_json::json!("kaccess"));
    let ours = iss.sign(&["kaccess"], now, now + hour, None, ours);
    assert!(verify_id_token(&ours, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).is_ok());
}

#[test]
fn a_replayed_nonce_from_an_earlier_login_is_refused() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    // A token captured from login 1, replayed into login 2's callback.
    let earlier = iss.sign(&["kaccess"], now, now + hour, Some("login-1"), groups());
    let err = verify_id_token(
        &earlier,
        ISS,
        &aud(),
        &iss.jwks,
        NonceCheck::Expect("login-2"),
        now,
    )
    .unwrap_err();
    assert!(matches!(err, TokenError::NonceMismatch(_)), "{err:?}");
    let none = iss.sign(&["kaccess"], now, now + hour, None, groups());
    assert!(
        verify_id_token(
            &none,
            ISS,
            &aud(),
            &iss.jwks,
            NonceCheck::Expect("login-2"),
            now
        )
        .is_err(),
        "a login that sent a nonce needs it back"
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let iss = TestIssuer::new("k1");
    let now = OffsetDateTime::now_utc();
    for raw in ["", "a.b", "a.b.c", "....", "\u{0}.\u{0}.\u{0}"] {
        let err =
            verify_id_token(raw, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
        assert!(
            matches!(err, TokenError::Malformed(_) | TokenError::Unsigned),
            "{raw:?}: {err:?}"
        );
    }
}
