//! One login, start to finish: discovery, the browser or device flow, ID
//! token verification and the MFA check, then refresh-token storage. Also
//! the silent path: a stored refresh token traded for a new, verified ID
//! token. Nothing leaves this module unverified: a token that fails a check
//! is never stored or returned.

pub use super::accept::accept_id_token;
use super::accept::verify_fetching_keys;
use super::discovery::{self, Provider};
use super::mfa::MfaProof;
use super::verify::{NonceCheck, VerifiedIdToken};
use super::{browser, device};
use crate::cli::Flow;
use crate::config::{ClusterConfig, OidcConfig};
use crate::error::Failure;
use crate::http::{AdapterError, OidcHttp};
use crate::secret::Secret;
use crate::tokenstore::{Stored, TokenKey, TokenStore};
use anyhow::Result;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, ClientId, EndpointNotSet, EndpointSet, ErrorResponse, ExtraTokenFields, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::Instrument;

/// The `id_token` next to the OAuth fields of a token response. Kept raw:
/// [`verify_id_token`] parses and checks it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

pub type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An OAuth client for one IdP with its token endpoint set; each flow adds
/// the endpoint it needs.
pub type BaseClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How `kaccess login` should sign in.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub flow: Flow,
    /// Never open a browser: `auto` picks device, `browser` prints the URL.
    pub no_browser: bool,
    /// Longest wait for the person to finish the login.
    pub timeout: Duration,
    /// False where nobody can answer (exec plugin without a terminal): the
    /// login fails with exit 3 instead of waiting for a person.
    pub interactive: bool,
    pub store: TokenStore,
}

/// The flow that actually ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowUsed {
    Browser,
    Device,
}

/// A verified, MFA-checked login.
#[derive(Debug, Clone)]
pub struct LoginResult {
    pub id_token: VerifiedIdToken,
    pub refresh_token: Option<Secret>,
    /// Where the refresh token was kept.
    pub stored: Stored,
    /// `None` for a refresh.
    pub flow: Option<FlowUsed>,
    /// Metadata and keys, for revocation (logout) and later verification.
    pub provider: Provider,
    /// What proved MFA, for the login summary.
    pub mfa: MfaProof,
}

impl LoginResult {
    /// The key the refresh token is stored under.
    pub fn token_key(&self, oidc: &OidcConfig) -> TokenKey {
        token_key(oidc, &self.id_token.subject)
    }
}

/// The keyring/file key of `subject`'s refresh token at `oidc`'s IdP.
pub fn token_key(oidc: &OidcConfig, subject: &str) -> TokenKey {
    TokenKey {
        issuer: oidc.issuer.clone(),
        client_id: oidc.client_id.clone(),
        subject: subject.to_owned(),
    }
}

/// Scopes and the MFA request parameters, identical on every flow.
#[derive(Debug, Clone)]
pub struct RequestParams {
    pub scopes: Vec<String>,
    pub acr_values: Vec<String>,
    pub max_age: Option<Duration>,
}

impl RequestParams {
    pub fn new(oidc: &OidcConfig) -> Self {
        RequestParams {
            scopes: oidc.scopes.clone(),
            acr_values: oidc.acr_values.clone(),
            max_age: oidc.max_auth_age,
        }
    }
    pub fn scopes(&self) -> Vec<Scope> {
        self.scopes.iter().cloned().map(Scope::new).collect()
    }
    /// `acr_values` (space-separated, OIDC Core §3.1.2.1) and `max_age`.
    pub fn extra_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.acr_values.is_empty() {
            out.push(("acr_values", self.acr_values.join(" ")));
        }
        if let Some(age) = self.max_age {
            out.push(("max_age", age.as_secs().to_string()));
        }
        out
    }
}

/// The HTTP client for `oidc`'s issuer (with its extra CA, if any).
pub fn http_for(oidc: &OidcConfig) -> Result<OidcHttp> {
    let roots = match &oidc.ca_file {
        Some(p) => crate::http::read_ca_file(p)?,
        None => Vec::new(),
    };
    Ok(OidcHttp(crate::http::client(roots)?))
}

/// Browser when one can be opened here (`$BROWSER`, a display, macOS) and
/// this is not an SSH session; the device flow otherwise.
pub fn choose_flow(flow: Flow, no_browser: bool) -> FlowUsed {
    match flow {
        Flow::Browser => FlowUsed::Browser,
        Flow::Device => FlowUsed::Device,
        Flow::Auto => {
            let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
            let ssh = set("SSH_CONNECTION") || set("SSH_TTY");
            let can_open = set("BROWSER")
                || cfg!(target_os = "macos")
                || set("DISPLAY")
                || set("WAYLAND_DISPLAY");
            if no_browser || ssh || !can_open {
                FlowUsed::Device
            } else {
                FlowUsed::Browser
            }
        }
    }
}

/// Logs in to `cluster`'s IdP: verified ID token with proven MFA, refresh
/// token stored as `opts.store` says.
pub async fn login(cluster: &ClusterConfig, opts: &LoginOptions) -> Result<LoginResult> {
    let name = &cluster.name;
    if !opts.interactive {
        return Err(Failure::login_required(format!(
            "a new login to `{name}` is needed, but nobody can answer a login prompt here"
        ))
        .help(format!("run `kaccess login {name}` in a terminal"))
        .into());
    }
    let oidc = &cluster.oidc;
    let http = http_for(oidc)?;
    let mut provider = discovery::discover(&http, &oidc.issuer).await?;
    let client = base_client(oidc, &provider);
    let params = RequestParams::new(oidc);
    let flow = choose_flow(opts.flow, opts.no_browser);
    let (response, nonce) = match flow {
        FlowUsed::Browser => {
            let auth_url =
                AuthUrl::from_url(provider.metadata.authorization_endpoint().url().clone());
            let open = !opts.no_browser;
            let t = browser::login(client, auth_url, &http, &params, open, opts.timeout).await?;
            (t.response, Some(t.nonce))
        }
        FlowUsed::Device => {
            let url = provider
                .metadata
                .additional_metadata()
                .device_authorization_endpoint
                .clone()
                .ok_or_else(|| {
                    Failure::error(format!(
                        "the identity provider `{}` does not offer the device flow (no `device_authorization_endpoint`)",
                        oidc.issuer
                    ))
                    .help(format!("use `kaccess login {name} --flow browser`"))
                })?;
            // The device flow has no nonce: the ID token comes straight
            // from the token endpoint in answer to our own device code.
            (
                device::login(client, url, &http, &params, opts.timeout).await?,
                None,
            )
        }
    };
    let nonce_check = match &nonce {
        Some(n) => NonceCheck::Expect(n),
        None => NonceCheck::Ignore,
    };
    // From here on the time is kaccess's own, not the user's or the IdP's
    // (issue 6 measures it with `KACCESS_TRACE_TIMINGS`).
    let (id_token, refresh_token, stored) = async {
        let raw = id_token_of(&response)?;
        let id_token =
            verify_fetching_keys(&http, &mut provider, oidc, &raw, nonce_check, true).await?;
        let refresh_token = response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()));
        let key = token_key(oidc, &id_token.subject);
        let stored = match &refresh_token {
            Some(rt) => opts.store.save(&key, rt)?,
            None => Stored::Nowhere,
        };
        anyhow::Ok((id_token, refresh_token, stored))
    }
    .instrument(tracing::info_span!("login.accept_token"))
    .await?;
    Ok(LoginResult {
        mfa: MfaProof::of(&id_token, &oidc.mfa_policy()),
        id_token,
        refresh_token,
        stored,
        flow: Some(flow),
        provider,
    })
}

/// The silent path: trades `subject`'s stored refresh token for a new
/// verified ID token (no nonce to check; MFA claims checked, their age not,
/// since no new authentication happened). A rotated refresh token replaces
/// the stored one. No stored token or one the IdP refuses: exit 3 with the
/// login command.
pub async fn refresh(
    cluster: &ClusterConfig,
    store: &TokenStore,
    subject: &str,
) -> Result<LoginResult> {
    let name = &cluster.name;
    let oidc = &cluster.oidc;
    let key = token_key(oidc, subject);
    let login_again = |why: String| -> anyhow::Error {
        Failure::login_required(why)
            .help(format!("run `kaccess login {name}`"))
            .into()
    };
    let Some(refresh_token) = store.load(&key)? else {
        return Err(login_again(format!(
            "no stored login for `{subject}` at `{}`",
            oidc.issuer
        )));
    };
    let http = http_for(oidc)?;
    let mut provider = discovery::discover(&http, &oidc.issuer).await?;
    let client = base_client(oidc, &provider);
    let response = match client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
        .request_async(&http)
        .await
    {
        Ok(r) => r,
        Err(RequestTokenError::ServerResponse(r))
            if error_code(&r).as_deref() == Some("invalid_grant") =>
        {
            store.delete(&key)?;
            return Err(login_again(format!(
                "the stored login for `{subject}` at `{}` has expired or was revoked",
                oidc.issuer
            )));
        }
        Err(e) => return Err(token_request_error(e, "refresh the login")),
    };
    let raw = id_token_of(&response)?;
    let id_token =
        verify_fetching_keys(&http, &mut provider, oidc, &raw, NonceCheck::Ignore, false).await?;
    if id_token.subject != subject {
        return Err(Failure::error(format!(
            "the refreshed ID token is for `{}`, not `{subject}`",
            id_token.subject
        ))
        .into());
    }
    let (refresh_token, stored) = match response.refresh_token() {
        Some(rotated) => {
            let rt = Secret::new(rotated.secret().clone());
            let stored = store.save(&key, &rt)?;
            (Some(rt), stored)
        }
        None => (Some(refresh_token), Stored::Nowhere),
    };
    Ok(LoginResult {
        mfa: MfaProof::of(&id_token, &oidc.mfa_policy()),
        id_token,
        refresh_token,
        stored,
        flow: None,
        provider,
    })
}

fn id_token_of(response: &TokenResponse) -> Result<String> {
    response.extra_fields().id_token.clone().ok_or_else(|| {
        Failure::error("the identity provider returned no ID token")
            .help("make sure `oidc.scopes` includes `openid` and the client may use it")
            .into()
    })
}

pub fn base_client(oidc: &OidcConfig, provider: &Provider) -> BaseClient {
    let token_url = provider
        .metadata
        .token_endpoint()
        .map(|t| t.url().clone())
        .unwrap_or_else(|| {
            // OIDC Discovery makes it required for the code flow; a document
            // without it fails at the first token request with a clear error.
            provider.metadata.authorization_endpoint().url().clone()
        });
    oauth2::Client::new(ClientId::new(oidc.client_id.clone()))
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_token_uri(TokenUrl::from_url(token_url))
}

/// The `error` code of an OAuth error response (`access_denied`, ...).
fn error_code<R: ErrorResponse>(r: &R) -> Option<String> {
    serde_json::to_value(r)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_owned)
}

/// Maps a failed token-endpoint exchange to the documented exit codes:
/// unreachable IdP 5, `access_denied` 4, everything else 1.
pub fn token_request_error<TE: ErrorResponse + 'static>(
    e: RequestTokenError<AdapterError, TE>,
    what: &str,
) -> anyhow::Error {
    match e {
        RequestTokenError::Request(inner) if crate::http::is_unreachable(&inner) => {
            anyhow::Error::new(inner).context(
                Failure::unreachable(format!("cannot reach the identity provider to {what}"))
                    .help("check the network, then try again"),
            )
        }
        RequestTokenError::Request(inner) => {
            anyhow::Error::new(inner).context(format!("the request to {what} failed"))
        }
        RequestTokenError::ServerResponse(r) => match error_code(&r).as_deref() {
            Some("access_denied") => {
                Failure::denied(format!("the identity provider denied the login: {r}"))
                    .help("check that your account may use the kaccess client at the IdP")
                    .into()
            }
            _ => Failure::error(format!("the identity provider refused to {what}: {r}")).into(),
        },
        RequestTokenError::Parse(e, body) => Failure::error(format!(
            "the identity provider's answer when trying to {what} is not valid: {e} (body: {})",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
        .into(),
        RequestTokenError::Other(msg) => Failure::error(format!("cannot {what}: {msg}")).into(),
    }
}
