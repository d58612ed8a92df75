//! `kaccess admin sessions|revoke CLUSTER`: list live sessions at a
//! cluster's broker, and revoke them (the incident case: a lost laptop).
//! Everyone may list their own; members of the broker's `admin-groups`
//! see and revoke anyone's, with a reason that lands in the audit log next
//! to their name.
//!
//! The broker wants an ID token. This machine's session for the cluster
//! supplies one (cached, or refreshed with the stored refresh token). An
//! admin often has no grant and so no session: then, with a person at the
//! terminal, a new login runs (browser or device code). Without one the
//! command exits 3 and never prompts. A broker that finds the MFA login too
//! old for admin rights gets one new login, once.

use crate::cli::{AdminCommand, AdminRevokeArgs, AdminSessionsArgs, Output, TokenStore as Choice};
use crate::cmd::sessions::swept_layout;
use crate::config::{ClusterConfig, Config};
use crate::error::{Exit, Failure};
use crate::exchange::{BrokerClient, ExchangeError};
use crate::oidc::login::{LoginOptions, login, refresh};
use crate::protocol::{ErrorCode, SessionInfo};
use crate::secret::Secret;
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record;
use crate::tokenstore::TokenStore;
use anyhow::Result;
use std::io::{IsTerminal, Write};
use time::OffsetDateTime;

pub fn run(cmd: AdminCommand) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        AdminCommand::Sessions(args) => rt.block_on(sessions(args)),
        AdminCommand::Revoke(args) => rt.block_on(revoke(args)),
    }
}

/// What every admin command needs: the cluster's config, a broker client,
/// and how to get an ID token.
struct Caller {
    cluster: ClusterConfig,
    layout: Layout,
    broker: BrokerClient,
    id_token: Option<Secret>,
    /// The token came from a new login (a retry would not help).
    fresh: bool,
}

impl Caller {
    fn new(name: &str, client: &crate::cli::ClientOpts) -> Result<Caller> {
        check_cluster_name(name)?;
        let config = Config::load_from(client.config.as_deref())?;
        let cluster = config.cluster(name)?;
        let broker = BrokerClient::new(&cluster.broker.url, cluster.broker.ca_file.as_deref())?;
        Ok(Caller {
            cluster: cluster.clone(),
            layout: swept_layout()?,
            broker,
            id_token: None,
            fresh: false,
        })
    }

    /// The session's ID token if this machine has one for the cluster,
    /// else a new login.
    async fn id_token(&mut self) -> Result<Secret> {
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
        eprintln!("Logging in to `{name}`'s identity provider for the broker's admin API");
        let opts = LoginOptions {
            flow: crate::cli::Flow::Auto,
            no_browser: false,
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
    async fn with_token<T, F, Fut>(&mut self, call: F) -> Result<T>
    where
        F: Fn(BrokerClient, Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, ExchangeError>>,
    {
        let token = self.id_token().await?;
        match call(self.broker.clone(), token).await {
            Err(e) if e.code() == Some(ErrorCode::MfaRequired) && !self.fresh => {
                eprintln!("The broker wants a fresher MFA login for admin rights.");
                let token = self.new_login().await?;
                self.id_token = Some(token.clone());
                call(self.broker.clone(), token)
                    .await
                    .map_err(|e| admin_failure(e, &self.cluster.name))
            }
            other => other.map_err(|e| admin_failure(e, &self.cluster.name)),
        }
    }
}

/// Broker refusals as admin-command failures: "not an admin" is not "no
/// grant on the cluster".
fn admin_failure(e: ExchangeError, cluster: &str) -> anyhow::Error {
    match e.code() {
        Some(ErrorCode::Forbidden) => anyhow::Error::new(e).context(
            Failure::denied(format!(
                "you are not an admin at the broker for `{cluster}`"
            ))
            .help("the broker's operators name admin IdP groups in `admin-groups` (broker.yaml)"),
        ),
        Some(ErrorCode::SessionNotYours) => anyhow::Error::new(e).context(
            Failure::denied(format!(
                "that session at `{cluster}` belongs to another user, and you are not an admin"
            ))
            .help("only members of the broker's `admin-groups` may revoke other users' sessions"),
        ),
        Some(ErrorCode::UnknownSession) => anyhow::Error::new(e).context(
            Failure::usage(format!("the broker for `{cluster}` knows no such session")).help(
                format!("list live sessions: kaccess admin sessions {cluster}"),
            ),
        ),
        _ => e.into_failure(cluster),
    }
}

async fn sessions(args: AdminSessionsArgs) -> Result<Exit> {
    let mut caller = Caller::new(&args.cluster, &args.client)?;
    let cluster = args.cluster.clone();
    let user = args.user.clone();
    let list = caller
        .with_token(|broker, token| {
            let (cluster, user) = (cluster.clone(), user.clone());
            async move { broker.sessions(&token, &cluster, user.as_deref()).await }
        })
        .await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        Output::Text => {
            if list.sessions.is_empty() {
                eprintln!("No live sessions at `{}`.", args.cluster);
            } else {
                write!(out, "{}", table(&list.sessions))?;
            }
        }
    }
    if list.truncated {
        eprintln!(
            "note: the broker listed only the newest {} sessions; narrow with `--user`",
            list.sessions.len()
        );
    }
    Ok(Exit::Ok)
}

fn table(sessions: &[SessionInfo]) -> String {
    let mut rows = vec![[
        "SESSION".to_string(),
        "USER".into(),
        "STARTED".into(),
        "ENDS".into(),
        "REASON".into(),
    ]];
    for s in sessions {
        rows.push([
            s.session_id.clone(),
            s.username.clone(),
            s.started_at.clone(),
            s.expires_at.clone(),
            s.reason.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 4 {
                    cell.clone()
                } else {
                    format!("{cell:w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

async fn revoke(args: AdminRevokeArgs) -> Result<Exit> {
    let reason = args.reason.trim().to_string();
    if reason.is_empty() {
        return Err(Failure::usage("`--reason` is empty")
            .help("say why, e.g. --reason \"SEC-42 laptop stolen\"")
            .into());
    }
    let mut caller = Caller::new(&args.cluster, &args.client)?;
    let ids: Vec<String> = match &args.user {
        None => args.session_ids.clone(),
        Some(user) => {
            let (cluster, user) = (args.cluster.clone(), user.clone());
            let list = caller
                .with_token(|broker, token| {
                    let (cluster, user) = (cluster.clone(), user.clone());
                    async move { broker.sessions(&token, &cluster, Some(&user)).await }
                })
                .await?;
            list.sessions.into_iter().map(|s| s.session_id).collect()
        }
    };
    if ids.is_empty() {
        eprintln!(
            "No live sessions of `{}` at `{}`; nothing to revoke.",
            args.user.as_deref().unwrap_or_default(),
            args.cluster
        );
    }
    let mut results = Vec::new();
    for id in &ids {
        let (id_owned, reason) = (id.clone(), reason.clone());
        let done = caller
            .with_token(|broker, token| {
                let (id, reason) = (id_owned.clone(), reason.clone());
                async move { broker.revoke(&token, &id, Some(&reason)).await }
            })
            .await?;
        if done.revoked {
            eprintln!("✓ Revoked session {id} at `{}`", args.cluster);
        } else {
            eprintln!("• Session {id} at `{}` was revoked already", args.cluster);
        }
        results.push(done);
    }
    if args.output == Output::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    }
    Ok(Exit::Ok)
}
