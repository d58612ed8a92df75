//! Starting a session: a verified login becomes a local key and CSR, a
//! broker exchange that opens the session, the session record and
//! kubeconfig on disk (atomically, 0600), and a reaper that deletes them
//! when the session ends.

use super::kubeconfig::{self, KubeconfigSpec, UserAuth};
use super::paths::Layout;
use super::record::{self, CachedCredential, CachedIdToken, RECORD_VERSION, SessionRecord};
use crate::cli::{ClientOpts, Flow, TokenStore as TokenStoreChoice};
use crate::config::{ClusterConfig, Config};
use crate::exchange::BrokerClient;
use crate::oidc::login::LoginResult;
use crate::oidc::login::{LoginOptions, login};
use crate::protocol::{CredentialKind, ExchangeRequest};
use crate::secret::Secret;
use crate::tokenstore::TokenStore;
use anyhow::{Context, Result};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use tracing::Instrument;

/// What the user asked for beyond the cluster's configuration.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub reason: Option<String>,
    pub session_ttl: Option<Duration>,
    pub credential: CredentialKind,
    pub embed: bool,
    /// The client config file, so the exec plugin finds it again.
    pub config_path: PathBuf,
    /// The caller already holds the cluster lock (the exec plugin).
    pub holding_lock: bool,
    /// A named grant (`--grant`): approval or break glass.
    pub grant: Option<String>,
    pub break_glass: bool,
}

/// The API server's CA bundle from the cluster config, as PEM bytes.
pub fn cluster_ca_pem(cluster: &ClusterConfig) -> Result<Option<Vec<u8>>> {
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| {
                format!(
                    "`clusters.{}.certificate-authority-data` is not base64",
                    cluster.name
                )
            })?;
        return Ok(Some(pem));
    }
    if let Some(path) = &cluster.certificate_authority {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the cluster CA `{}`", path.display()))?;
        return Ok(Some(pem));
    }
    Ok(None)
}

/// Opens a session at the broker with `login`'s ID token and writes it to
/// disk. Returns the record as written.
pub async fn start_session(
    layout: &Layout,
    cluster: &ClusterConfig,
    login: &LoginResult,
    opts: &StartOptions,
) -> Result<SessionRecord> {
    let name = &cluster.name;
    let ca_pem = cluster_ca_pem(cluster)?;
    let broker = BrokerClient::new(&cluster.broker.url, cluster.broker.ca_file.as_deref())?;
    let id = &login.id_token;
    let key = match opts.credential {
        CredentialKind::Certificate => Some(
            tracing::info_span!("session.keygen")
                .in_scope(|| super::keys::generate(&id.subject))?,
        ),
        CredentialKind::Token => None,
    };
    let started = OffsetDateTime::now_utc();
    let resp = broker
        .exchange(
            &id.raw,
            &ExchangeRequest {
                cluster: name.clone(),
                credential: opts.credential,
                csr: key.as_ref().map(|k| k.csr_pem.clone()),
                reason: opts.reason.clone(),
                session_id: None,
                ttl_seconds: None,
                session_ttl_seconds: opts.session_ttl.map(|d| d.as_secs()),
                grant: opts.grant.clone(),
                break_glass: opts.break_glass,
            },
        )
        .instrument(tracing::info_span!("session.exchange"))
        .await
        .map_err(|e| e.into_failure(name))?;
    let credential = CachedCredential {
        expires_at: resp.expires_at,
        certificate_pem: resp.certificate.clone(),
        key_pem: key.map(|k| k.key_pem),
        token: resp.token.clone().map(Secret::new),
    };
    let kubeconfig_path = layout.kubeconfig(name);
    let mut rec = SessionRecord {
        version: RECORD_VERSION,
        cluster: name.clone(),
        session_id: resp.session_id.clone(),
        broker_url: cluster.broker.url.clone(),
        broker_ca_file: cluster.broker.ca_file.clone(),
        issuer: cluster.oidc.issuer.clone(),
        client_id: cluster.oidc.client_id.clone(),
        subject: id.subject.clone(),
        username: resp.username.clone(),
        email: id.email.clone(),
        groups: resp.groups.clone(),
        namespaces: resp.namespaces.clone(),
        reason: opts.reason.clone(),
        credential_kind: opts.credential,
        started_at: started,
        session_expires_at: resp.session_expires_at,
        embedded: opts.embed,
        kubeconfig: kubeconfig_path.clone(),
        token_store: login.stored.kind().to_owned(),
        reaper_pid: None,
        credential,
        id_token: Some(CachedIdToken {
            token: id.raw.clone(),
            expires_at: id.expires_at,
        }),
    };
    crate::fsutil::ensure_private_dir(&layout.sessions_dir())?;
    let exe = std::env::current_exe().context("cannot find the kaccess executable")?;
    let plugin = kubeconfig::plugin_command(&exe);
    let auth = user_auth(&rec, &plugin, layout, &opts.config_path);
    let yaml = kubeconfig::render(&KubeconfigSpec {
        cluster: name,
        server: &cluster.server,
        ca_pem: ca_pem.as_deref(),
        namespace: cluster.namespace.as_deref(),
        auth,
    });
    // The cluster lock keeps a concurrent exec-plugin refresh of the old
    // session from writing its record over this one.
    let _lock = match opts.holding_lock {
        true => None,
        false => Some(super::lock::acquire(
            &layout.lock(name),
            name,
            std::time::Duration::from_secs(30),
        )?),
    };
    let previous = record::read(layout, name).ok();
    // Kubeconfig first: if we die before the record is written, the
    // kubeconfig is an orphan that the next sweep removes.
    tracing::info_span!("session.write").in_scope(|| {
        crate::fsutil::write_atomic(&kubeconfig_path, yaml.as_bytes(), 0o600)?;
        record::write(layout, &rec)
    })?;
    tracing::info_span!("session.reaper").in_scope(|| {
        rec.reaper_pid = super::reaper::spawn(&layout.root, name, &rec.session_id).ok();
        record::write(layout, &rec)
    })?;
    if let Some(old) = previous {
        retire(&broker, &id.raw, &old, &rec).await;
    }
    Ok(rec)
}

/// A new login replaces the cluster's old session: revoke the old one at the
/// broker so at most one session per cluster stays usable. Best effort and
/// brief — the old session ends by itself at its `session_expires_at`.
async fn retire(
    broker: &BrokerClient,
    id_token: &Secret,
    old: &SessionRecord,
    new: &SessionRecord,
) {
    if old.session_id == new.session_id
        || old.subject != new.subject
        || old.broker_url != new.broker_url
        || old.session_expires_at <= OffsetDateTime::now_utc()
    {
        return;
    }
    let revoke = broker.revoke(id_token, &old.session_id, None);
    match tokio::time::timeout(std::time::Duration::from_secs(3), revoke).await {
        Ok(Ok(_)) => {}
        _ => eprintln!(
            "kaccess: warning: could not revoke the previous session {} of `{}`; it ends by itself at {}",
            old.session_id, old.cluster, old.session_expires_at
        ),
    }
}

fn user_auth<'a>(
    rec: &'a SessionRecord,
    exe: &'a Path,
    layout: &Layout,
    config_path: &Path,
) -> UserAuth<'a> {
    if rec.embedded {
        if let (Some(cert), Some(key)) = (&rec.credential.certificate_pem, &rec.credential.key_pem)
        {
            return UserAuth::EmbeddedCertificate {
                certificate_pem: cert,
                key_pem: key,
            };
        }
        if let Some(token) = &rec.credential.token {
            return UserAuth::EmbeddedToken { token };
        }
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    UserAuth::Exec {
        command: exe,
        env: vec![
            (
                "KACCESS_CONFIG".into(),
                abs(config_path).display().to_string(),
            ),
            (
                "KACCESS_RUNTIME_DIR".into(),
                abs(&layout.root).display().to_string(),
            ),
        ],
    }
}

/// Everything a new session needs from the command line.
pub struct LoginRequest<'a> {
    pub cluster: &'a str,
    pub client: &'a ClientOpts,
    pub flow: Flow,
    pub no_browser: bool,
    pub timeout: Duration,
    pub token_store: TokenStoreChoice,
    pub reason: Option<String>,
    pub session_ttl: Option<Duration>,
    pub credential: Option<CredentialKind>,
    pub embed: bool,
    /// The caller already holds the cluster lock (the exec plugin).
    pub holding_lock: bool,
    pub grant: Option<String>,
    pub break_glass: bool,
}

impl<'a> LoginRequest<'a> {
    /// A login with every setting at its default: automatic flow, keyring,
    /// the cluster's configured credential and session length. Used where
    /// kaccess logs in on the user's behalf (`exec`, the exec plugin).
    pub fn defaults(cluster: &'a str, client: &'a ClientOpts, reason: Option<String>) -> Self {
        LoginRequest {
            cluster,
            client,
            flow: Flow::Auto,
            no_browser: false,
            timeout: std::time::Duration::from_secs(300),
            token_store: TokenStoreChoice::Keyring,
            reason,
            session_ttl: None,
            credential: None,
            embed: false,
            holding_lock: false,
            grant: None,
            break_glass: false,
        }
    }
}

/// The interactive login and the broker session it opens; shared by
/// `login`, `exec` and the exec plugin when a person is at the terminal.
pub fn login_and_start(req: &LoginRequest) -> Result<(LoginResult, SessionRecord)> {
    let config = Config::load_from(req.client.config.as_deref())?;
    let cluster = config.cluster(req.cluster)?;
    let layout = {
        let layout = Layout::new(super::runtime::runtime_dir()?);
        record::sweep(&layout, OffsetDateTime::now_utc());
        layout
    };
    let opts = LoginOptions {
        flow: req.flow,
        no_browser: req.no_browser,
        timeout: req.timeout,
        // A person at the terminal (or the browser) answers.
        interactive: true,
        store: TokenStore::new(req.token_store, &layout.root),
    };
    let start = StartOptions {
        reason: req.reason.clone(),
        session_ttl: req.session_ttl.or(cluster.session_ttl),
        credential: req.credential.unwrap_or(cluster.credential),
        embed: req.embed,
        config_path: config.path.clone(),
        holding_lock: req.holding_lock,
        grant: req.grant.clone(),
        break_glass: req.break_glass,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let result = login(cluster, &opts).await?;
        let session = match start_session(&layout, cluster, &result, &start)
            .instrument(tracing::info_span!("session.start"))
            .await
        {
            Err(e) if needs_reason(&e) && can_ask() => {
                let reason = ask_reason(&cluster.name)?;
                let start = StartOptions {
                    reason: Some(reason),
                    ..start.clone()
                };
                start_session(&layout, cluster, &result, &start).await?
            }
            other => other?,
        };
        anyhow::Ok((result, session))
    })
}

/// The broker refused only because no reason was given.
fn needs_reason(e: &anyhow::Error) -> bool {
    e.downcast_ref::<crate::exchange::ExchangeError>()
        .and_then(|x| x.code())
        == Some(crate::protocol::ErrorCode::ReasonRequired)
}

/// A person can answer a question here.
fn can_ask() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks the person at the terminal why they need access (the broker
/// requires it and records it with every credential).
fn ask_reason(cluster: &str) -> Result<String> {
    use std::io::{BufRead, Write};
    for _ in 0..3 {
        eprint!("Reason for access to `{cluster}` (ticket, incident): ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            break;
        }
        let reason = line.trim();
        if let Err(why) = crate::text::check_free_text("the reason", reason) {
            eprintln!("kaccess: {why}");
            continue;
        }
        if !reason.is_empty() {
            return Ok(reason.to_owned());
        }
    }
    Err(
        crate::error::Failure::denied(format!("no reason given for access to `{cluster}`"))
            .help(format!("kaccess login {cluster} --reason \"TICKET-123\""))
            .into(),
    )
}
