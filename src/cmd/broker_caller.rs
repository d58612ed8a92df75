//! An ID token for the broker's own API (admin actions, access requests),
//! for people who may have no session on the cluster at all: an approver
//! needs no grant of their own. This machine's session for the cluster
//! supplies one (cached, or refreshed with the stored refresh token);
//! otherwise, with a person at the terminal, a new login runs (browser or
//! device code, as `--flow` says). Without one the command exits 3 and
//! never prompts. A broker that finds the MFA login too old gets one new
//! login, once.

use crate::cli::TokenStore as Choice;
use crate::cmd::sessions::swept_layout;
use crate::config::{ClusterConfig, Config};
use crate::error::Failure;
use crate::exchange::{BrokerClient, ExchangeError};
use crate::oidc::login::{LoginOptions, login, refresh};
use crate::protocol::ErrorCode;
use crate::secret::Secret;
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record;
use crate::tokenstore::TokenStore;
use anyhow::Result;
use std::io::IsTerminal;
use time::OffsetDateTime;

/// The cluster's config, a broker client, and how to get an ID token.
pub struct BrokerCaller {
    pub cluster: ClusterConfig,
    layout: Layout,
    pub broker: BrokerClient,
    id_token: Option<Secret>,
    /// The token came from a new login (a retry would not help).
    fresh: bool,
    flow: crate::cli::Flow,
    no_browser: bool,
}

impl BrokerCaller {
    /// `sign_in`: how to log in when a login is needed (default: auto).
    pub fn new(
        name: &str,
        client: &crate::cli::ClientOpts,
        sign_in: Option<&crate::cli::SignIn>,
    ) -> Result<BrokerCaller> {
        check_cluster_name(name)?;
        let config = Config::load_from(client.config.as_deref())?;
        let cluster = config.cluster(name)?;
        let broker = BrokerClient::new(&cluster.broker.url, cluster.broker.ca_file.as_deref())?;
        Ok(BrokerCaller {
            flow: sign_in.map_or(crate::cli::Flow::Auto, |s| s.flow),
            no_browser: sign_in.is_some_and(|s| s.no_browser),
            cluster: cluster.clone(),
            layout: swept_layout()?,
            broker,
            id_token: None,
            fresh: false,
        })
    }

    /// The session's ID token if this machine has one for the cluster,
    /// else a new login.
    pub async fn id_token(&mut self) -> Result<Secret> {
        if let Some(t) = &self.id_token {
            return Ok(t.clone());
        }
        let token = match self.session_token().await {
            Some(t) => t,
            None => self.new_login().await?,
        };
        self.id_token = Some(token.clone());
        Ok(token)
    }

    async fn session_token(&self) -> Option<Secret> {
        let rec = record::read(&self.layout, &self.cluster.name).ok()?;
        if let Some(t) = rec.usable_id_token(OffsetDateTime::now_utc()) {
            return Some(t.token.clone());
        }
        let store = rec.token_store(&self.layout.root)?;
        let refreshed = refresh(&self.cluster, &store, &rec.subject).await.ok()?;
        Some(refreshed.id_token.raw)
    }

    async fn new_login(&mut self) -> Result<Secret> {
        let name = &self.cluster.name;
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            return Err(Failure::login_required(format!(
                "the broker for `{name}` needs a login, but nobody can answer a login prompt here"
            ))
            .help(format!(
                "run `kaccess login {name}` first, or run this command in a terminal"
            ))
            .into());
        }
        eprintln!("Logging in to `{name}`'s identity provider for the broker");
        let opts = LoginOptions {
            flow: self.flow,
            no_browser: self.no_browser,
            timeout: std::time::Duration::from_secs(300),
            interactive: true,
            store: TokenStore::new(Choice::Keyring, &self.layout.root),
        };
        let result = login(&self.cluster, &opts).await?;
        self.fresh = true;
        Ok(result.id_token.raw)
    }

    /// Runs `call` with an ID token; on `mfa_required` with a token that
    /// was not new, logs in once more and retries.
    pub async fn call<T, F, Fut>(
        &mut self,
        call: F,
        failure: impl Fn(ExchangeError, &str) -> anyhow::Error,
    ) -> Result<T>
    where
        F: Fn(BrokerClient, Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, ExchangeError>>,
    {
        let token = self.id_token().await?;
        match call(self.broker.clone(), token).await {
            Err(e) if e.code() == Some(ErrorCode::MfaRequired) && !self.fresh => {
                eprintln!("The broker wants a fresher MFA login for this.");
                let token = self.new_login().await?;
                self.id_token = Some(token.clone());
                call(self.broker.clone(), token)
                    .await
                    .map_err(|e| failure(e, &self.cluster.name))
            }
            other => other.map_err(|e| failure(e, &self.cluster.name)),
        }
    }
}
