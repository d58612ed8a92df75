//! Provider metadata from `<issuer>/.well-known/openid-configuration` and
//! the issuer's signing keys. The issuer in the document must equal the
//! configured one exactly (OIDC Discovery §4.3): a mismatch means the wrong
//! IdP or a mix-up attack, never something to paper over.

use crate::error::Failure;
use crate::http::{AdapterError, OidcHttp};
use anyhow::{Context, Result};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, DeviceAuthorizationUrl, DiscoveryError, IntrospectionUrl,
    IssuerUrl, JsonWebKeySetUrl, ProviderMetadata, RevocationUrl,
};
use serde::{Deserialize, Serialize};

/// Endpoints kaccess uses beyond OIDC Core's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExtraMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<RevocationUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<IntrospectionUrl>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type KaccessProviderMetadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A discovered provider: its metadata and the keys it signs with.
#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: IssuerUrl,
    pub metadata: KaccessProviderMetadata,
    pub jwks: CoreJsonWebKeySet,
}

/// Fetches metadata and JWKS for `issuer`. Unreachable IdPs carry a
/// [`Failure::unreachable`] (exit 5).
pub async fn discover(http: &OidcHttp, issuer: &str) -> Result<Provider> {
    let issuer_url = IssuerUrl::new(issuer.to_owned())
        .with_context(|| format!("issuer `{issuer}` is not a valid URL"))?;
    let metadata = KaccessProviderMetadata::discover_async(issuer_url.clone(), http)
        .await
        .map_err(|e| discovery_error(issuer, e))?;
    let jwks = fetch_jwks(http, metadata.jwks_uri().as_str()).await?;
    Ok(Provider {
        issuer: issuer_url,
        metadata,
        jwks,
    })
}

/// Fetches the JWKS at `jwks_uri` (again, after a key rotation).
pub async fn fetch_jwks(http: &OidcHttp, jwks_uri: &str) -> Result<CoreJsonWebKeySet> {
    let url = JsonWebKeySetUrl::new(jwks_uri.to_owned())
        .with_context(|| format!("`jwks_uri` `{jwks_uri}` is not a valid URL"))?;
    CoreJsonWebKeySet::fetch_async(&url, http)
        .await
        .map_err(|e| discovery_error(jwks_uri, e))
}

fn discovery_error(what: &str, e: DiscoveryError<AdapterError>) -> anyhow::Error {
    match e {
        DiscoveryError::Request(inner) if crate::http::is_unreachable(&inner) => {
            anyhow::Error::new(inner).context(
                Failure::unreachable(format!("cannot reach the identity provider at `{what}`"))
                    .help("check the network and the `oidc.issuer` setting, then try again"),
            )
        }
        DiscoveryError::Request(inner) => anyhow::Error::new(inner).context(format!(
            "request to the identity provider at `{what}` failed"
        )),
        DiscoveryError::Response(status, body, _) => Failure::unreachable(format!(
            "the identity provider at `{what}` answered HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
        .help("check `oidc.issuer`: it must be the exact issuer URL, without `/.well-known/...`")
        .into(),
        DiscoveryError::Validation(msg) => Failure::error(format!(
            "the identity provider's discovery document does not match `{what}`: {msg}"
        ))
        .help("set `oidc.issuer` to the exact `issuer` value the IdP publishes")
        .into(),
        DiscoveryError::Parse(e) => Failure::error(format!(
            "the identity provider's discovery document at `{what}` is not valid: {e}"
        ))
        .into(),
        other => Failure::error(format!("discovery at `{what}` failed: {other}")).into(),
    }
}
