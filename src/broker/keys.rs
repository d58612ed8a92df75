//! Per-issuer signing keys. Discovered at start in the background; if the
//! IdP is down then, the broker serves anyway and tries again when a token
//! from that issuer arrives. A token whose `kid` is not in the cached JWKS
//! makes one refetch (the IdP may have rotated keys), at most once per
//! [`MIN_REFETCH`] so a stream of forged `kid`s cannot turn the broker
//! into a load generator against the IdP.

use super::config::IssuerConfig;
use crate::http::OidcHttp;
use crate::oidc::discovery::{discover, fetch_jwks};
use crate::oidc::mfa::MfaPolicy;
use crate::oidc::verify::{NonceCheck, TokenError, VerifiedIdToken, verify_id_token};
use base64::Engine as _;
use openidconnect::core::CoreJsonWebKeySet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Least time between two fetches of one issuer's keys.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("cannot get the signing keys of `{issuer}`: {cause}")]
    Unavailable { issuer: String, cause: String },
}

/// A JWKS and where it came from.
pub struct Keys {
    jwks_uri: String,
    jwks: Arc<CoreJsonWebKeySet>,
}

/// One configured issuer: its settings, MFA policy and key cache.
pub struct IssuerKeys {
    pub config: IssuerConfig,
    pub mfa: MfaPolicy,
    http: OidcHttp,
    keys: RwLock<Option<Arc<Keys>>>,
    /// Serialises fetches; holds when the last one started.
    fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    pub fn new(config: IssuerConfig, http: OidcHttp) -> IssuerKeys {
        let mfa = MfaPolicy {
            required: true,
            amr_any: config.mfa.amr_any.clone(),
            acr_any: config.mfa.acr_any.clone(),
            max_auth_age: config.max_auth_age,
        };
        IssuerKeys {
            config,
            mfa,
            http,
            keys: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Arc<Keys>> {
        self.keys.read().ok()?.clone()
    }

    /// The username this issuer's `username-claim` gives `token`, if any.
    pub fn username_of(&self, token: &VerifiedIdToken) -> Option<String> {
        token
            .claim_string(&self.config.username_claim)
            .filter(|u| !u.is_empty())
    }

    /// Whether keys were fetched yet (a reload prefetches the ones not).
    pub fn has_keys(&self) -> bool {
        self.cached().is_some()
    }

    /// Discovers (or refetches) the keys unless the last attempt was less
    /// than [`MIN_REFETCH`] ago; returns what is cached afterwards.
    pub async fn refresh(&self) -> Result<Arc<Keys>, KeyError> {
        let before = self.cached();
        let mut last = self.fetch.lock().await;
        let after = self.cached();
        // Another request refreshed while we waited for the lock.
        if let Some(now_cached) = &after
            && before.as_ref().is_none_or(|b| !Arc::ptr_eq(b, now_cached))
        {
            return Ok(now_cached.clone());
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return after.ok_or_else(|| self.unavailable("the last attempt failed moments ago"));
        }
        *last = Some(Instant::now());
        let fresh = match &after {
            Some(k) => fetch_jwks(&self.http, &k.jwks_uri).await.map(|jwks| Keys {
                jwks_uri: k.jwks_uri.clone(),
                jwks: Arc::new(jwks),
            }),
            None => discover(&self.http, &self.config.issuer)
                .await
                .map(|p| Keys {
                    jwks_uri: p.metadata.jwks_uri().to_string(),
                    jwks: Arc::new(p.jwks),
                }),
        };
        match fresh {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Some(keys.clone());
                }
                tracing::info!(issuer = %self.config.issuer, "fetched the issuer's signing keys");
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = format!("{e:#}"), "cannot fetch the issuer's signing keys");
                after.ok_or_else(|| self.unavailable(&format!("{e:#}")))
            }
        }
    }

    fn unavailable(&self, cause: &str) -> KeyError {
        KeyError::Unavailable {
            issuer: self.config.issuer.clone(),
            cause: cause.to_string(),
        }
    }

    /// Verifies an ID token for this issuer; an unknown `kid` refetches the
    /// keys once and tries again.
    pub async fn verify(
        &self,
        raw: &str,
        now: OffsetDateTime,
    ) -> Result<VerifiedIdToken, KeyError> {
        let keys = match self.cached() {
            Some(k) => k,
            None => self.refresh().await?,
        };
        let check = |jwks: &CoreJsonWebKeySet| {
            verify_id_token(
                raw,
                &self.config.issuer,
                &self.config.audiences,
                jwks,
                NonceCheck::Ignore,
                now,
            )
        };
        match check(&keys.jwks) {
            Err(e) if e.is_unknown_key() => {
                let newer = self.refresh().await?;
                if Arc::ptr_eq(&newer, &keys) {
                    return Err(e.into());
                }
                Ok(check(&newer.jwks)?)
            }
            other => Ok(other?),
        }
    }
}

/// The `iss` claim of a JWT, read without verifying anything: only to pick
/// which issuer's keys to verify it with.
pub fn peek_issuer(raw: &str) -> Option<String> {
    let payload = raw.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_the_issuer_without_trusting_it() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"iss":"https://idp"}"#)
        );
        assert_eq!(peek_issuer(&jwt).as_deref(), Some("https://idp"));
        assert_eq!(peek_issuer("garbage"), None);
        assert_eq!(peek_issuer("a.!!!.c"), None);
    }

    #[tokio::test]
    async fn an_unreachable_idp_is_unavailable_not_a_crash() {
        let cfg: IssuerConfig = serde_yaml::from_str(
            "{issuer: 'http://127.0.0.1:9', audiences: [kaccess], mfa: {amr-any: [otp]}}",
        )
        .unwrap();
        let http = OidcHttp(crate::http::client(Vec::new()).unwrap());
        let keys = IssuerKeys::new(cfg, http);
        let err = keys
            .verify("a.b.c", OffsetDateTime::now_utc())
            .await
            .unwrap_err();
        assert!(matches!(err, KeyError::Unavailable { .. }), "{err}");
        // The second attempt within MIN_REFETCH does not hit the network.
        let t = Instant::now();
        let err = keys
            .verify("a.b.c", OffsetDateTime::now_utc())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("moments ago"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
