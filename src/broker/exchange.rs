//! `POST /v1/exchange`: a verified, MFA-backed ID token in; a short-lived
//! certificate or token out, under the cluster's policy. Starting a session
//! needs a fresh MFA login and, where required, a reason; continuing one
//! needs the same subject and a live session. Every answer, issued or
//! refused, is one audit record written before the response leaves.

use super::ca::check_csr;
use super::caller::verify_caller;
use super::elevate::{choose_grant, consume, plan_new};
use super::error::AppError;
use super::request::{Caller, MAX_AUDIT_TEXT, bearer, clip, json_body, one_line_reason};
use super::server::Shared;
use super::tokens::{looks_like_session_id, new_session_id, new_token};
use crate::audit::AuditRecord;
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::{CredentialKind, ErrorCode, ExchangeRequest, ExchangeResponse};
use crate::store::{CredentialEntry, CredentialKey, Session};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Shortest credential the broker issues, whatever was asked.
const MIN_TTL: Duration = Duration::minutes(1);

pub async fn handle(State(st): State<Shared>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let caller = Caller::of(&parts);
    let mut rec = caller.record("exchange");
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let request: ExchangeRequest = json_body(&parts.headers, body).await?;
        exchange(&st, &raw, request, &mut rec).await
    }
    .await;
    let (response, outcome) = finish(&st, rec, result).await;
    st.metrics.exchange(&outcome, started.elapsed());
    response
}

/// Writes the audit record, then answers. If the record cannot be written
/// an issued token is forgotten and the answer is 503: nothing unaudited
/// leaves the broker.
async fn finish(
    st: &Shared,
    mut rec: AuditRecord,
    result: Result<Issued, AppError>,
) -> (Response, String) {
    match result {
        Ok(issued) => {
            rec.outcome = "issued".into();
            rec.status = Some(200);
            if let Err(e) = st.audit.append(rec).await {
                if let Some(key) = &issued.stored {
                    st.store.drop_credential(key);
                }
                let err = AppError::audit_unavailable(e);
                let code = err.code_str();
                return (err.into_response(), code);
            }
            if let Some(event) = issued.announce {
                super::notify::send(st, event);
            }
            tracing::info!(
                session = %issued.response.session_id,
                username = %issued.response.username,
                expires_at = %issued.response.expires_at,
                "credential issued"
            );
            (Json(issued.response).into_response(), "issued".into())
        }
        Err(err) => {
            err.describe(&mut rec);
            tracing::info!(code = %err.code_str(), cause = %err.cause, "exchange refused");
            if let Err(e) = st.audit.append(rec).await {
                let err = AppError::audit_unavailable(e);
                let code = err.code_str();
                return (err.into_response(), code);
            }
            let code = err.code_str();
            (err.into_response(), code)
        }
    }
}

struct Issued {
    response: ExchangeResponse,
    /// The credential as stored, forgotten again if the audit record
    /// cannot be written.
    stored: Option<CredentialKey>,
    /// Break glass is announced once its record is written.
    announce: Option<super::notify::Event>,
}

fn break_glass_event(
    s: &Session,
    grant: &super::config::Grant,
    username: &str,
) -> super::notify::Event {
    let name = grant.name.clone().unwrap_or_default();
    let reason = s.reason.clone().unwrap_or_default();
    super::notify::Event {
        event: "break-glass",
        cluster: s.cluster.clone(),
        request_id: None,
        requester: username.to_string(),
        actor: username.to_string(),
        text: format!(
            "kaccess: BREAK GLASS — {username} took `{name}` on `{}` until {}: {reason}",
            s.cluster,
            s.expires_at.format(&Rfc3339).unwrap_or_default()
        ),
        grant: name,
        reason,
    }
}

async fn exchange(
    st: &Shared,
    raw: &str,
    req: ExchangeRequest,
    rec: &mut AuditRecord,
) -> Result<Issued, AppError> {
    rec.cluster = Some(clip(&req.cluster, MAX_AUDIT_TEXT));
    rec.credential = Some(req.credential.as_str().into());
    rec.reason = req.reason.as_deref().map(|r| clip(r, MAX_AUDIT_TEXT * 4));
    rec.session_id = req.session_id.as_deref().map(|s| clip(s, 64));

    // What is stored (a new session, a token) is announced before the
    // checks, so the store's writer can sync it with the others on their
    // way instead of once each.
    let _commit = (req.session_id.is_none() || req.credential == CredentialKind::Token)
        .then(|| st.store.expect_commit())
        .flatten();
    // One snapshot of the configuration for the whole exchange.
    let live = st.live();
    let (issuer_index, token) = verify_caller(&live, raw, rec).await?;
    let issuer = &live.issuers[issuer_index];
    let now = crate::store::now_secs();
    let username = issuer.username_of(&token).ok_or_else(|| {
        AppError::unauthenticated(format!(
            "the ID token has no `{}` claim (the broker's `username-claim`)",
            issuer.config.username_claim
        ))
    })?;
    rec.username = Some(username.clone());
    // An address the IdP has not verified is anyone's to claim; Kubernetes'
    // own OIDC authenticator refuses it the same way.
    if issuer.config.username_claim == "email"
        && token.claims.get("email_verified") == Some(&serde_json::Value::Bool(false))
    {
        return Err(AppError::unauthenticated(format!(
            "the ID token's email `{username}` is not verified (`email_verified: false`)"
        )));
    }
    if super::config::is_reserved_group(&username) {
        return Err(AppError::forbidden(
            ErrorCode::Forbidden,
            format!("the username `{username}` is reserved by Kubernetes; refused"),
        ));
    }
    let idp_groups = token.groups(&issuer.config.groups_claim);

    let (cluster_name, cluster) = live
        .config
        .clusters
        .get_key_value(&req.cluster)
        .ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::UnknownCluster,
                format!("the broker knows no cluster `{}`", clip(&req.cluster, 64)),
            )
        })?;
    let ca = live
        .cas
        .get(cluster_name)
        .ok_or_else(|| AppError::internal(format!("no CA loaded for `{cluster_name}`")))?;

    let new_session = req.session_id.is_none();
    crate::oidc::mfa::check_mfa(&token, &issuer.mfa, now, new_session).map_err(|e| {
        AppError::forbidden(ErrorCode::MfaRequired, format!("{e}; {}", e.idp_hint()))
    })?;

    let continued = match &req.session_id {
        Some(id) => Some(continue_session(st, id, cluster_name, &token, now).await?),
        None => None,
    };
    let named = match &continued {
        Some(s) => s.elevation.as_ref().map(|e| e.grant.as_str()),
        None => req.grant.as_deref(),
    };
    rec.grant = named.map(|n| clip(n, 64));
    let grant = choose_grant(cluster_name, cluster, &idp_groups, named)?;
    rec.kube_groups = Some(grant.kube_groups.clone());

    // The CSR is checked before a session is made, so a refused request
    // leaves no session behind.
    let csr = match req.credential {
        CredentialKind::Certificate => {
            let pem = req.csr.as_deref().ok_or_else(|| {
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadCsr,
                    "a `certificate` needs a `csr`",
                )
            })?;
            Some(check_csr(pem).map_err(|e| {
                AppError::new(StatusCode::BAD_REQUEST, ErrorCode::BadCsr, e.to_string())
            })?)
        }
        CredentialKind::Token => None,
    };

    let (session, plan) = match continued {
        None => {
            let reason = one_line_reason(req.reason.as_deref())?;
            if reason.is_none() && cluster.require_reason {
                return Err(AppError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::ReasonRequired,
                    format!("cluster `{cluster_name}` requires a reason (a ticket or incident)"),
                ));
            }
            if let Some(asked) = req.session_ttl_seconds {
                crate::protocol::check_session_length(std::time::Duration::from_secs(asked))
                    .map_err(|e| AppError::bad_request(format!("`session_ttl_seconds`: {e}")))?;
            }
            let wanted = req
                .session_ttl_seconds
                .map(|s| Duration::seconds(s.min(i64::MAX as u64) as i64))
                .unwrap_or(Duration::MAX);
            let max = Duration::try_from(cluster.max_session).unwrap_or(Duration::MAX);
            let plan = plan_new(
                st,
                cluster_name,
                grant,
                &req,
                &token,
                reason.as_deref(),
                now,
            )?;
            let elevated_cap = plan.cap.map_or(Duration::MAX, |c| {
                Duration::try_from(c).unwrap_or(Duration::MAX)
            });
            // Shorter than asked where policy caps it; never longer.
            let length = wanted.min(max).min(elevated_cap);
            let s = Session {
                id: new_session_id(),
                cluster: cluster_name.clone(),
                issuer: issuer.config.issuer.clone(),
                subject: token.subject.clone(),
                username: username.clone(),
                email: token.email.clone(),
                reason,
                started_at: now,
                expires_at: now + length,
                revoked_at: None,
                revoked_by: None,
                elevation: plan.elevation.clone(),
            };
            (s, Some(plan))
        }
        Some(s) => (s, None),
    };
    let is_new = plan.is_some();
    rec.session_id = Some(session.id.clone());
    rec.reason = session.reason.clone();
    let elevation = session.elevation.clone();
    rec.request_id = elevation.as_ref().and_then(|e| e.request_id.clone());
    rec.break_glass = elevation
        .as_ref()
        .and_then(|e| e.break_glass.then_some(true));

    let cap = Duration::try_from(cluster.credential_ttl).unwrap_or(Duration::MAX);
    let wanted = req
        .ttl_seconds
        .map(|s| Duration::seconds(s.min(i64::MAX as u64) as i64))
        .unwrap_or(cap);
    let not_after = (now + wanted.max(MIN_TTL).min(cap)).min(session.expires_at);
    rec.expires_at = not_after.format(&Rfc3339).ok();
    rec.session_expires_at = session.expires_at.format(&Rfc3339).ok();

    let mut response = ExchangeResponse {
        session_id: session.id.clone(),
        username: username.clone(),
        groups: grant.kube_groups.clone(),
        certificate: None,
        token: None,
        expires_at: not_after,
        session_expires_at: session.expires_at,
        namespaces: grant.namespaces.clone(),
        request_id: rec.request_id.clone(),
    };
    let entry = CredentialEntry {
        session_id: session.id.clone(),
        username: username.clone(),
        uid: token.subject.clone(),
        groups: grant.kube_groups.clone(),
        expires_at: not_after,
    };
    let mut new_credential = None;
    match req.credential {
        CredentialKind::Certificate => {
            let csr = csr
                .as_ref()
                .ok_or_else(|| AppError::internal("CSR not checked"))?;
            let issued = ca
                .sign_for_request(
                    csr,
                    &username,
                    &grant.kube_groups,
                    now,
                    not_after,
                    rec.request_id.as_deref(),
                )
                .map_err(|e| AppError::internal(format!("{e:#}")))?;
            // Only the access proxy looks certificates up (the apiserver
            // trusts the CA alone), and it costs a commit per continued
            // exchange: stored for proxied clusters only.
            if cluster.proxy.is_some() {
                new_credential = Some((CredentialKey::Certificate(issued.serial.clone()), entry));
            }
            rec.serial = Some(issued.serial);
            response.certificate = Some(issued.pem);
        }
        CredentialKind::Token => {
            let (secret, hash) = new_token();
            new_credential = Some((CredentialKey::Token(hash), entry));
            rec.token_hash_prefix = Some(hash.prefix());
            response.token = Some(secret.into_inner());
        }
    }
    if let Some(plan) = &plan {
        consume(st, plan, &session.id).await?;
    }
    let announce = (is_new && rec.break_glass == Some(true))
        .then(|| break_glass_event(&session, grant, &username));
    let stored = new_credential.as_ref().map(|(k, _)| k.clone());
    // A new session and its credential land in one commit.
    st.store
        .add(is_new.then_some(session), new_credential)
        .await
        .map_err(AppError::state_unavailable)?;
    Ok(Issued {
        response,
        stored,
        announce,
    })
}

async fn continue_session(
    st: &Shared,
    id: &str,
    cluster_name: &str,
    token: &VerifiedIdToken,
    now: OffsetDateTime,
) -> Result<Session, AppError> {
    let unknown = || {
        AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownSession,
            format!("the broker knows no session `{}`", clip(id, 64)),
        )
    };
    if !looks_like_session_id(id) {
        return Err(unknown());
    }
    let s = st
        .store
        .session(id)
        .await
        .map_err(AppError::state_unavailable)?
        .ok_or_else(unknown)?;
    if s.subject != token.subject || s.issuer != token.issuer {
        return Err(AppError::forbidden(
            ErrorCode::SessionNotYours,
            format!("session `{id}` belongs to another user"),
        ));
    }
    if s.cluster != cluster_name {
        return Err(AppError::bad_request(format!(
            "session `{id}` is for cluster `{}`, not `{cluster_name}`",
            s.cluster
        )));
    }
    if let Some(revocation) = crate::store::Revocation::of(&s) {
        // The proxy's refusal says the same: who and when.
        return Err(AppError::forbidden(
            ErrorCode::SessionRevoked,
            format!(
                "{}; log in again for a new one",
                revocation.sentence(&format!("session `{id}`"), now)
            ),
        ));
    }
    if now >= s.expires_at {
        return Err(AppError::forbidden(
            ErrorCode::SessionExpired,
            format!("session `{id}` has ended; log in again for a new one"),
        ));
    }
    Ok(s)
}
