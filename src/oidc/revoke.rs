//! RFC 7009 token revocation at the IdP, for `kaccess logout`: a refresh
//! token left alive after logout is a login someone else could resume.
//! The request is a plain form POST; oauth2's own helper refuses `http`
//! endpoints outright, which would break loopback IdPs that the config
//! deliberately allows, so the same rule as for the issuer is applied here.

use super::discovery::Provider;
use super::login::http_for;
use crate::config::OidcConfig;
use crate::secret::Secret;
use anyhow::{Context, Result};

/// What happened to the refresh token at the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    Yes,
    /// The IdP advertises no `revocation_endpoint`.
    NotSupported,
}

/// Revokes `token` at `oidc`'s IdP.
pub async fn revoke_refresh_token(
    oidc: &OidcConfig,
    provider: &Provider,
    token: &Secret,
) -> Result<Revoked> {
    let Some(url) = provider
        .metadata
        .additional_metadata()
        .revocation_endpoint
        .clone()
    else {
        return Ok(Revoked::NotSupported);
    };
    crate::config::file::check_url(url.as_str()).map_err(|why| {
        anyhow::anyhow!("refusing the revocation endpoint `{}`: {why}", url.as_str())
    })?;
    let http = http_for(oidc)?;
    let resp = http
        .0
        .post(url.as_str())
        .form(&[
            ("token", token.expose()),
            ("token_type_hint", "refresh_token"),
            ("client_id", oidc.client_id.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach the revocation endpoint `{}`", url.as_str()))?;
    let status = resp.status();
    // RFC 7009 §2.2: 200 whether or not the token was still valid.
    anyhow::ensure!(
        status.is_success(),
        "the identity provider answered HTTP {status}: {}",
        resp.text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>()
    );
    Ok(Revoked::Yes)
}
