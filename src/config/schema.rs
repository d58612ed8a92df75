//! The effective configuration of one cluster, after `defaults` are merged
//! under it and every value has been checked. These types are what the rest
//! of kaccess (login, session, credential) reads; they serialize back to the
//! same spelling as the file so `kaccess config check` shows what is used.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Scopes asked for when `oidc.scopes` is not set.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "offline_access", "email", "groups"];

/// `amr` values that count as MFA when `oidc.mfa.amr-any` is not set
/// (RFC 8176 names for a second factor).
pub const DEFAULT_AMR_ANY: &[&str] = &["mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "pin"];

/// One cluster: where it is, who vouches for users, which broker issues
/// credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClusterConfig {
    /// The key under `clusters:`; also names the session (`kaccess-NAME`).
    pub name: String,
    /// Kubernetes API server URL.
    pub server: String,
    /// Base64 of the API server's CA bundle (PEM), as in a kubeconfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Path of the API server's CA bundle (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
    /// Namespace for the session context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub oidc: OidcConfig,
    pub broker: BrokerConfig,
    /// What the broker should issue.
    pub credential: CredentialKind,
    /// Wanted session length; the broker caps it. `None`: the broker decides.
    #[serde(
        default,
        with = "crate::units::serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_ttl: Option<Duration>,
}

/// The identity provider and what a login there must prove.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OidcConfig {
    /// Issuer URL, compared byte for byte with the discovery document and
    /// the `iss` claim, so it is kept exactly as written.
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Sent as `acr_values` on every flow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// Sent as `max_age` and checked against `auth_time`.
    #[serde(
        default,
        with = "crate::units::serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_auth_age: Option<Duration>,
    pub mfa: MfaConfig,
    /// Extra trust root for the issuer's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// What counts as MFA in an ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MfaConfig {
    pub required: bool,
    pub amr_any: Vec<String>,
    #[serde(default)]
    pub acr_any: Vec<String>,
}

/// The kaccess broker for this cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BrokerConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// What the broker issues; the same type the wire protocol uses.
pub use crate::protocol::CredentialKind;

impl OidcConfig {
    /// The MFA rule in the form the verifier takes.
    pub fn mfa_policy(&self) -> crate::oidc::mfa::MfaPolicy {
        crate::oidc::mfa::MfaPolicy {
            required: self.mfa.required,
            amr_any: self.mfa.amr_any.clone(),
            acr_any: self.mfa.acr_any.clone(),
            max_auth_age: self.max_auth_age,
        }
    }
}
