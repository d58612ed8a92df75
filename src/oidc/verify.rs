//! ID-token validation, shared by the client (after a login or refresh) and
//! the broker (on every exchange). The `openidconnect` crate does the JWT
//! work: signature against the JWKS with an algorithm allow-list, `iss`,
//! `aud`, `azp`, `exp`, nonce. kaccess adds `iat`/`nbf` sanity and clock
//! skew, and flattens the claims into [`VerifiedIdToken`].

use crate::secret::Secret;
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IssuerUrl, Nonce,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::str::FromStr;
use time::OffsetDateTime;

/// Clock skew tolerated between this machine and the IdP, both ways.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// Asymmetric algorithms only: `none` and the HMAC family are refused, so a
/// token "signed" with the IdP's public key as an HMAC secret never passes.
pub const ALLOWED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Every claim not modelled by `openidconnect` (groups, nbf, custom ones).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct OtherClaims {
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}
impl AdditionalClaims for OtherClaims {}

type KaccessIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// A validated ID token, flattened for the checks and records that follow.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    pub raw: Secret,
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub email: Option<String>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<OffsetDateTime>,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Every claim of the token, for `groups-claim`/`username-claim` lookups.
    pub claims: Map<String, Value>,
}

impl VerifiedIdToken {
    /// The string values of `claim` (an array of strings, or one string).
    pub fn groups(&self, claim: &str) -> Vec<String> {
        match self.claims.get(claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// `claim` as a string (`sub`, `email`, `preferred_username`, ...).
    pub fn claim_string(&self, claim: &str) -> Option<String> {
        match self.claims.get(claim)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Whether the token must carry the nonce of the request that got it.
#[derive(Debug, Clone, Copy)]
pub enum NonceCheck<'a> {
    /// Login: the token must carry exactly this nonce.
    Expect(&'a str),
    /// Refresh responses and the broker: no nonce to compare.
    Ignore,
}

/// Why an ID token was refused. One variant per failure so the broker can
/// audit the cause and the client can say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the ID token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is unsigned (`alg: none`)")]
    Unsigned,
    #[error("the ID token uses a signing algorithm that is not allowed: {0}")]
    DisallowedAlg(String),
    #[error("no key in the issuer's JWKS matches the ID token's key id")]
    UnknownKey,
    #[error("the ID token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the ID token has expired: {0}")]
    Expired(String),
    #[error("the ID token is not valid yet (`nbf` is {0})")]
    NotYetValid(OffsetDateTime),
    #[error("the ID token was issued in the future (`iat` is {0}); check the clocks")]
    IssuedInFuture(String),
    #[error("the ID token is from another issuer: {0}")]
    WrongIssuer(String),
    #[error("the ID token is for another audience: {0}")]
    WrongAudience(String),
    #[error("the ID token's nonce does not match this login: {0}")]
    NonceMismatch(String),
    #[error("the ID token was refused: {0}")]
    Other(String),
}

impl TokenError {
    /// An unknown `kid` may mean the IdP rotated keys: refetch JWKS and retry.
    pub fn is_unknown_key(&self) -> bool {
        matches!(self, TokenError::UnknownKey)
    }

    /// Short stable name for audit records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::Unsigned => "unsigned",
            TokenError::DisallowedAlg(_) => "disallowed_alg",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature(_) => "bad_signature",
            TokenError::Expired(_) => "expired",
            TokenError::NotYetValid(_) => "not_yet_valid",
            TokenError::IssuedInFuture(_) => "issued_in_future",
            TokenError::WrongIssuer(_) => "wrong_issuer",
            TokenError::WrongAudience(_) => "wrong_audience",
            TokenError::NonceMismatch(_) => "nonce_mismatch",
            TokenError::Other(_) => "invalid",
        }
    }
}

/// Marks our `iat` check's message; openidconnect reports it as `Expired`.
const IAT_FUTURE: &str = "iat-in-future:";

fn from_claims_error(e: ClaimsVerificationError) -> TokenError {
    match e {
        ClaimsVerificationError::Expired(m) => match m.strip_prefix(IAT_FUTURE) {
            Some(iat) => TokenError::IssuedInFuture(iat.to_owned()),
            None => TokenError::Expired(m),
        },
        ClaimsVerificationError::InvalidAudience(m) => TokenError::WrongAudience(m),
        ClaimsVerificationError::InvalidIssuer(m) => TokenError::WrongIssuer(m),
        ClaimsVerificationError::InvalidNonce(m) => TokenError::NonceMismatch(m),
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::NoSignature => TokenError::Unsigned,
            SignatureVerificationError::NoMatchingKey => TokenError::UnknownKey,
            SignatureVerificationError::DisallowedAlg(a)
            | SignatureVerificationError::UnsupportedAlg(a) => TokenError::DisallowedAlg(a),
            other => TokenError::BadSignature(other.to_string()),
        },
        other => TokenError::Other(other.to_string()),
    }
}

fn to_time(t: chrono::DateTime<chrono::Utc>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_chrono(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

/// Validates `raw` as an ID token from `issuer` for one of `audiences`.
/// Pure: no I/O, `now` passed in (tests and the broker's skew handling).
pub fn verify_id_token(
    raw: &str,
    issuer: &str,
    audiences: &[String],
    jwks: &CoreJsonWebKeySet,
    nonce: NonceCheck,
    now: OffsetDateTime,
) -> Result<VerifiedIdToken, TokenError> {
    let token = KaccessIdToken::from_str(raw).map_err(|e| {
        let msg = e.to_string();
        // openidconnect refuses `alg: none` while parsing the header.
        if msg.contains("\"none\"") || msg.contains("unknown variant `none`") {
            TokenError::Unsigned
        } else {
            TokenError::Malformed(msg)
        }
    })?;
    let issuer_url = IssuerUrl::new(issuer.to_owned())
        .map_err(|e| TokenError::Other(format!("bad issuer URL `{issuer}`: {e}")))?;
    let mut last_err = TokenError::WrongAudience("no audience is configured".into());
    for audience in audiences {
        // Tolerate the IdP's clock running up to CLOCK_SKEW behind ours.
        let skewed_now = to_chrono(now - CLOCK_SKEW);
        let latest_iat = now + CLOCK_SKEW;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(audience.clone()),
            issuer_url.clone(),
            jwks.clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS.iter().cloned())
        .set_time_fn(move || skewed_now)
        .set_issue_time_verifier_fn(move |iat| {
            if to_time(iat) > latest_iat {
                Err(format!("{IAT_FUTURE}{}", to_time(iat)))
            } else {
                Ok(())
            }
        });
        let result = match nonce {
            NonceCheck::Expect(n) => token.claims(&verifier, &Nonce::new(n.to_owned())),
            NonceCheck::Ignore => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        };
        match result {
            // openidconnect leaves `azp` unchecked (its steps 4-5 are
            // commented out); a token whose authorized party is another
            // client was not issued to us, whatever its `aud` says. (A
            // second audience is refused by openidconnect already.)
            Ok(claims) => match claims.authorized_party() {
                Some(azp) if **azp != *audience => {
                    last_err = TokenError::WrongAudience(format!(
                        "the ID token was issued to `{}` (`azp`), not to `{audience}`",
                        **azp
                    ));
                }
                _ => return flatten(raw, claims, now),
            },
            Err(e) => {
                let e = from_claims_error(e);
                if !matches!(e, TokenError::WrongAudience(_)) {
                    return Err(e);
                }
                last_err = e;
            }
        }
    }
    Err(last_err)
}

fn flatten(
    raw: &str,
    claims: &openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>,
    now: OffsetDateTime,
) -> Result<VerifiedIdToken, TokenError> {
    let all = match serde_json::to_value(claims) {
        Ok(Value::Object(m)) => m,
        _ => return Err(TokenError::Malformed("claims are not a JSON object".into())),
    };
    if let Some(nbf) = all.get("nbf").and_then(Value::as_i64) {
        let nbf = OffsetDateTime::from_unix_timestamp(nbf)
            .map_err(|_| TokenError::Malformed("`nbf` is out of range".into()))?;
        if nbf > now + CLOCK_SKEW {
            return Err(TokenError::NotYetValid(nbf));
        }
    }
    let issued_at = to_time(claims.issue_time());
    if issued_at > now + CLOCK_SKEW {
        return Err(TokenError::IssuedInFuture(issued_at.to_string()));
    }
    Ok(VerifiedIdToken {
        raw: Secret::new(raw),
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        audiences: claims.audiences().iter().map(|a| a.to_string()).collect(),
        email: claims.email().map(|e| e.to_string()),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        acr: claims.auth_context_ref().map(|a| a.to_string()),
        auth_time: claims.auth_time().map(to_time),
        issued_at,
        expires_at: to_time(claims.expiration()),
        claims: all,
    })
}

#[cfg(test)]
pub(crate) mod tests {
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
        let t =
            verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Expect("n1"), now).unwrap();
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
        let err =
            verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
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
        let err =
            verify_id_token(&far, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
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
        let err =
            verify_id_token(&raw, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now).unwrap_err();
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
        let err = verify_id_token(&other_azp, ISS, &aud(), &iss.jwks, NonceCheck::Ignore, now)
            .unwrap_err();
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
}
