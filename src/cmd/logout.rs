//! `kaccess logout [CLUSTER | --all]`: end sessions everywhere they live.
//! Revoke the session at the broker (its tokens fail review at once),
//! revoke the refresh token at the IdP, delete the keyring entry, the cached
//! credential, the session kubeconfig, and stop the reaper. Each remote step
//! may fail (offline laptop); the local wipe always happens, and the output
//! says plainly what could not be revoked and what that leaves behind.

use crate::cli::LogoutArgs;
use crate::cmd::sessions::swept_layout;
use crate::config::{ClusterConfig, Config};
use crate::error::{Exit, Failure};
use crate::exchange::BrokerClient;
use crate::oidc::revoke::{Revoked, revoke_refresh_token};
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record::{self, SessionRecord};
use crate::tokenstore::{TokenKey, TokenStore};
use anyhow::Result;
use time::OffsetDateTime;

pub fn run(args: LogoutArgs) -> Result<Exit> {
    let layout = swept_layout()?;
    let clusters: Vec<String> = match (&args.cluster, args.all) {
        (Some(c), _) => {
            check_cluster_name(c)?;
            vec![c.clone()]
        }
        (None, _) => record::list(&layout).into_iter().map(|(c, _)| c).collect(),
    };
    if clusters.is_empty() {
        eprintln!("No sessions to log out of.");
        return Ok(Exit::Ok);
    }
    // A broken config must not stop the local wipe.
    let config = Config::load_from(args.client.config.as_deref());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for cluster in clusters {
        let cfg = config.as_ref().ok().and_then(|c| c.cluster(&cluster).ok());
        rt.block_on(logout_one(&layout, &cluster, cfg));
    }
    if let Err(e) = &config {
        eprintln!(
            "! The configuration could not be read, so nothing was revoked at the IdP: {e:#}"
        );
    }
    Ok(Exit::Ok)
}

async fn logout_one(layout: &Layout, cluster: &str, cfg: Option<&ClusterConfig>) {
    let rec = match record::read(layout, cluster) {
        Ok(r) => Some(r),
        Err(record::RecordError::Missing(_)) => None,
        Err(e) => {
            eprintln!("! The session file of `{cluster}` could not be read ({e}); removing it");
            None
        }
    };
    let Some(rec) = rec else {
        record::remove(layout, cluster);
        eprintln!("No session for `{cluster}`; nothing to revoke.");
        return;
    };
    let store = rec.token_store(&layout.root);
    let key = TokenKey {
        issuer: rec.issuer.clone(),
        client_id: rec.client_id.clone(),
        subject: rec.subject.clone(),
    };
    let refresh_token = store.as_ref().and_then(|s| s.load(&key).ok().flatten());

    match revoke_at_broker(&rec, cfg, store.as_ref()).await {
        Ok(true) => eprintln!(
            "✓ Revoked session {} of `{cluster}` at the broker",
            rec.session_id
        ),
        Ok(false) => eprintln!(
            "✓ Session {} of `{cluster}` was already revoked at the broker",
            rec.session_id
        ),
        Err(e) => eprintln!(
            "! Could not revoke session {} at the broker: {e:#}\n  Its credentials stay valid until {} (certificates) and the session ends at {}.",
            rec.session_id, rec.credential.expires_at, rec.session_expires_at
        ),
    }

    match (&refresh_token, cfg) {
        (None, _) => {}
        (Some(_), None) => eprintln!(
            "! `{cluster}` is not in the configuration, so the refresh token was not revoked at the IdP"
        ),
        (Some(rt), Some(cfg)) => {
            let http = crate::oidc::login::http_for(&cfg.oidc);
            let result = match http {
                Ok(http) => match crate::oidc::discovery::discover(&http, &cfg.oidc.issuer).await {
                    Ok(provider) => revoke_refresh_token(&cfg.oidc, &provider, rt).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(Revoked::Yes) => eprintln!("✓ Revoked the refresh token at {}", rec.issuer),
                Ok(Revoked::NotSupported) => eprintln!(
                    "! {} offers no token revocation; the refresh token was deleted here but stays valid there until it expires",
                    rec.issuer
                ),
                Err(e) => eprintln!(
                    "! Could not revoke the refresh token at {}: {e:#}",
                    rec.issuer
                ),
            }
        }
    }
    if let Some(store) = &store
        && let Err(e) = store.delete(&key)
    {
        eprintln!("! Could not delete the stored refresh token: {e:#}");
    }
    if let Some(pid) = rec.reaper_pid {
        crate::session::reaper::stop(pid, cluster);
    }
    let removed = record::remove(layout, cluster);
    eprintln!(
        "✓ Removed the local session of `{cluster}` ({})",
        crate::units::count(removed.len(), "file")
    );
}

/// Revokes the session at its broker; `Ok(false)` when it was revoked
/// already. Needs an ID token of the session's subject: the cached one, or
/// a fresh one from the refresh token.
async fn revoke_at_broker(
    rec: &SessionRecord,
    cfg: Option<&ClusterConfig>,
    store: Option<&TokenStore>,
) -> Result<bool> {
    let id_token = match rec.usable_id_token(OffsetDateTime::now_utc()) {
        Some(t) => t.token.clone(),
        None => {
            let (Some(cfg), Some(store)) = (cfg, store) else {
                return Err(Failure::login_required(
                    "the cached ID token has expired and there is no refresh token to get a new one",
                )
                .into());
            };
            crate::oidc::login::refresh(cfg, store, &rec.subject)
                .await?
                .id_token
                .raw
        }
    };
    let broker = BrokerClient::new(&rec.broker_url, rec.broker_ca_file.as_deref())?;
    let resp = broker
        .revoke(
            &id_token,
            &rec.session_id,
            Some(crate::protocol::LOGOUT_REASON),
        )
        .await
        .map_err(|e| e.into_failure(&rec.cluster))?;
    Ok(resp.revoked)
}
