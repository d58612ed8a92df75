//! The exec plugin's slow path: the cached credential is missing or about
//! to end. Under the cluster lock (so concurrent kubectl processes cause one
//! refresh), re-read the cache, get a valid ID token (the cached one, else a
//! refresh at the IdP), exchange it at the broker within the same session,
//! cache the result, print it. When only a new login helps: log in if a
//! person is there (kubectl said interactive and there is a terminal),
//! otherwise exit 3 without prompting, opening a browser, or touching the IdP.

use super::paths::Layout;
use super::record::{self, CachedCredential, CachedIdToken, RecordError, SessionRecord};
use crate::cli::CredentialArgs;
use crate::config::Config;
use crate::credential::{self, ExecInfo};
use crate::error::{Exit, Failure};
use crate::exchange::BrokerClient;
use crate::protocol::{CredentialKind, ExchangeRequest};
use crate::secret::Secret;
use anyhow::{Context, Result};
use time::OffsetDateTime;

/// `seen` is the fingerprint of the cached credential the caller found
/// unusable (expired, or rejected by the API server: see `handout`); it is
/// never handed out again just because it still looks fresh.
pub fn run(
    layout: &Layout,
    args: &CredentialArgs,
    info: &ExecInfo,
    seen: Option<String>,
) -> Result<Exit> {
    let cluster = &args.cluster;
    let timeout = crate::units::parse_duration(&args.lock_timeout)
        .map_err(|e| Failure::usage(format!("--lock-timeout: {e}")))?;
    let _lock = super::lock::acquire(&layout.lock(cluster), cluster, timeout)?;
    let now = OffsetDateTime::now_utc();
    // Somebody else may have refreshed while we waited for the lock: a
    // credential other than the one we found unusable is new, so hand it out.
    let rec = match record::read(layout, cluster) {
        Ok(rec)
            if credential::is_fresh(&rec, now)
                && seen.as_deref() != Some(&*super::handout::fingerprint(&rec)) =>
        {
            return print(info, &rec);
        }
        Ok(rec) if rec.session_expires_at <= now => {
            record::remove(layout, cluster);
            return login_needed(args, info, rec.reason.clone(), "expired");
        }
        Ok(rec) => rec,
        Err(RecordError::Missing(_)) => return login_needed(args, info, None, "does not exist"),
        Err(RecordError::Damaged { path, why }) => {
            record::remove(layout, cluster);
            return login_needed(
                args,
                info,
                None,
                &format!("was lost: its file `{path}` was damaged ({why}) and has been removed"),
            );
        }
        Err(e) => return Err(e.into()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let id_token = match rec.usable_id_token(now).cloned() {
        Some(t) => t,
        None => match rt.block_on(refresh_id_token(layout, args, &rec)) {
            Ok(t) => t,
            Err(e) if crate::error::exit_of(&e) == Exit::LoginRequired => {
                return login_needed(
                    args,
                    info,
                    rec.reason.clone(),
                    "needs a new login (the IdP login has ended)",
                );
            }
            Err(e) => return Err(e),
        },
    };
    let issued = rt.block_on(renew(&rec, &id_token.token));
    let rec = match issued {
        Ok(cred) => SessionRecord {
            credential: cred,
            id_token: Some(id_token),
            ..rec
        },
        Err(e) if e.session_over() => {
            record::remove(layout, cluster);
            // Its files are gone: the reaper would only sleep on until the
            // session's planned end.
            if let Some(pid) = rec.reaper_pid {
                super::reaper::stop(pid, cluster);
            }
            let why = format!("was ended by the broker ({})", e);
            return login_needed(args, info, rec.reason.clone(), &why);
        }
        Err(e) => return Err(e.into_failure(cluster)),
    };
    record::write(layout, &rec)?;
    print(info, &rec)
}

/// A fresh ID token from the refresh token kept at login. Exit 3 (login
/// required) when there is none or the IdP no longer honours it.
async fn refresh_id_token(
    layout: &Layout,
    args: &CredentialArgs,
    rec: &SessionRecord,
) -> Result<CachedIdToken> {
    let Some(store) = rec.token_store(&layout.root) else {
        return Err(
            Failure::login_required("no refresh token was kept for this session")
                .help(crate::config::login_help(
                    args.client.config.as_deref(),
                    &rec.cluster,
                ))
                .into(),
        );
    };
    let config = Config::load_from(args.client.config.as_deref())?;
    let cluster = config.cluster(&rec.cluster)?;
    let login = crate::oidc::login::refresh(cluster, &store, &rec.subject).await?;
    Ok(CachedIdToken {
        token: login.id_token.raw.clone(),
        expires_at: login.id_token.expires_at,
    })
}

/// One exchange within the session: a new key for certificates, so a key
/// never outlives its certificate.
async fn renew(
    rec: &SessionRecord,
    id_token: &Secret,
) -> Result<CachedCredential, crate::exchange::ExchangeError> {
    let broker =
        BrokerClient::new(&rec.broker_url, rec.broker_ca_file.as_deref()).map_err(|e| {
            crate::exchange::ExchangeError::BadResponse {
                url: rec.broker_url.clone(),
                why: format!("{e:#}"),
            }
        })?;
    let key = match rec.credential_kind {
        CredentialKind::Certificate => Some(super::keys::generate(&rec.username).map_err(|e| {
            crate::exchange::ExchangeError::BadResponse {
                url: rec.broker_url.clone(),
                why: format!("{e:#}"),
            }
        })?),
        CredentialKind::Token => None,
    };
    let resp = broker
        .exchange(
            id_token,
            &ExchangeRequest {
                cluster: rec.cluster.clone(),
                credential: rec.credential_kind,
                csr: key.as_ref().map(|k| k.csr_pem.clone()),
                reason: rec.reason.clone(),
                session_id: Some(rec.session_id.clone()),
                ttl_seconds: None,
                session_ttl_seconds: None,
                grant: None,
                break_glass: false,
            },
        )
        .await?;
    Ok(CachedCredential {
        expires_at: resp.expires_at,
        certificate_pem: resp.certificate,
        key_pem: key.map(|k| k.key_pem),
        token: resp.token.map(Secret::new),
    })
}

fn print(info: &ExecInfo, rec: &SessionRecord) -> Result<Exit> {
    credential::print(&credential::render(&info.api_version, rec)?)?;
    Ok(Exit::Ok)
}

/// Only a new login helps. With a person at the terminal (kubectl said
/// interactive and there is a TTY), run it, with every prompt on stderr,
/// and print the new credential. Otherwise exit 3, having prompted nobody
/// and opened nothing.
fn login_needed(
    args: &CredentialArgs,
    info: &ExecInfo,
    reason: Option<String>,
    why: &str,
) -> Result<Exit> {
    let cluster = &args.cluster;
    if credential::can_prompt(info) {
        eprintln!("kaccess: the session for `{cluster}` {why}; logging in again");
        let (_, rec) = super::start::login_and_start(&super::start::LoginRequest {
            // We hold the cluster lock already (taken at the top of `run`).
            holding_lock: true,
            ..super::start::LoginRequest::defaults(cluster, &args.client, reason)
        })?;
        return print(info, &rec);
    }
    Err(
        Failure::login_required(format!("the session for `{cluster}` {why}"))
            .help(crate::config::login_help(
                args.client.config.as_deref(),
                cluster,
            ))
            .into(),
    )
}
