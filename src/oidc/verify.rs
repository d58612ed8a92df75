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
pub(crate) mod tests;
