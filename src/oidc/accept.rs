//! Accepting an ID token: the signature and claim checks against the
//! issuer's current keys (refetched once on an unknown key id, after a
//! rotation), then kaccess's own MFA check. A failure becomes the exit code
//! and `help:` line the user sees: 4 for missing MFA, 1 for a bad token.

use super::discovery::{self, Provider};
use super::mfa::check_mfa;
use super::verify::{NonceCheck, TokenError, VerifiedIdToken, verify_id_token};
use crate::config::OidcConfig;
use crate::error::Failure;
use crate::http::OidcHttp;
use anyhow::Result;
use time::OffsetDateTime;

/// Verifies an ID token from `provider` for `oidc`'s client and checks MFA.
/// `check_age`: the login must be younger than `max-auth-age` (a fresh
/// login, not a refresh). Failures are exit 4 (MFA) or 1 (bad token).
pub fn accept_id_token(
    provider: &Provider,
    oidc: &OidcConfig,
    raw: &str,
    nonce: NonceCheck,
    check_age: bool,
    now: OffsetDateTime,
) -> Result<VerifiedIdToken> {
    let token = verify_for(provider, oidc, raw, nonce, now).map_err(|e| token_failure(e, oidc))?;
    require_mfa(token, oidc, check_age, now)
}

/// [`accept_id_token`], refetching the JWKS once when the key id is unknown
/// (the IdP rotated its keys since discovery).
pub(super) async fn verify_fetching_keys(
    http: &OidcHttp,
    provider: &mut Provider,
    oidc: &OidcConfig,
    raw: &str,
    nonce: NonceCheck<'_>,
    check_age: bool,
) -> Result<VerifiedIdToken> {
    let now = OffsetDateTime::now_utc();
    let verified = match verify_for(provider, oidc, raw, nonce, now) {
        Err(e) if e.is_unknown_key() => {
            provider.jwks =
                discovery::fetch_jwks(http, provider.metadata.jwks_uri().as_str()).await?;
            verify_for(provider, oidc, raw, nonce, now)
        }
        other => other,
    };
    let token = verified.map_err(|e| token_failure(e, oidc))?;
    require_mfa(token, oidc, check_age, now)
}

/// The signature and claim checks against `provider`'s current keys.
fn verify_for(
    provider: &Provider,
    oidc: &OidcConfig,
    raw: &str,
    nonce: NonceCheck,
    now: OffsetDateTime,
) -> Result<VerifiedIdToken, TokenError> {
    verify_id_token(
        raw,
        provider.issuer.as_str(),
        std::slice::from_ref(&oidc.client_id),
        &provider.jwks,
        nonce,
        now,
    )
}

/// kaccess's own MFA check on a verified token (exit 4 with the IdP hint).
fn require_mfa(
    token: VerifiedIdToken,
    oidc: &OidcConfig,
    check_age: bool,
    now: OffsetDateTime,
) -> Result<VerifiedIdToken> {
    check_mfa(&token, &oidc.mfa_policy(), now, check_age)
        .map_err(|e| anyhow::Error::new(Failure::denied(e.to_string()).help(e.idp_hint())))?;
    Ok(token)
}

fn token_failure(e: TokenError, oidc: &OidcConfig) -> anyhow::Error {
    let help = match &e {
        TokenError::WrongAudience(_) => format!(
            "the token was issued for another client; check `oidc.client-id` (`{}`)",
            oidc.client_id
        ),
        TokenError::WrongIssuer(_) => format!(
            "check `oidc.issuer` (`{}`): it must be the IdP's exact issuer",
            oidc.issuer
        ),
        TokenError::Expired(_) | TokenError::IssuedInFuture(_) | TokenError::NotYetValid(_) => {
            "check this machine's clock".into()
        }
        _ => {
            "nothing was stored; if this repeats, the IdP or the network path to it is misbehaving"
                .into()
        }
    };
    Failure::error(format!("the identity provider's ID token was refused: {e}"))
        .help(help)
        .into()
}
