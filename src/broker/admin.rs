//! Broker admins: members of an IdP group listed in `admin-groups` may
//! list every live session (`GET /v1/sessions`) and revoke anyone's (with
//! a reason). The incident case: a laptop is lost, and security revokes
//! its owner's sessions now instead of waiting for `credential-ttl`.
//! Admin rights need the same MFA as a new session (`max-auth-age`
//! included), and every listing and revocation is audited with the admin
//! as `actor`. Everyone else lists only their own sessions.

use super::caller::verify_caller;
use super::error::{AppError, audited};
use super::request::{Caller, bearer, clip};
use super::server::{LiveConfig, Shared};
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::{ErrorCode, MAX_LISTED_SESSIONS, SessionInfo, SessionList};
use crate::store::Session;
use axum::Json;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who called, as the broker names them.
pub struct Identity {
    pub username: String,
    /// A member of `admin-groups` (MFA not yet checked).
    pub admin_group: bool,
    /// A member of `auditor-groups` (MFA not yet checked).
    pub auditor_group: bool,
}

/// The caller's username (the issuer's `username-claim`) and whether their
/// groups include an admin group.
pub fn identify(live: &LiveConfig, issuer: usize, token: &VerifiedIdToken) -> Identity {
    let keys = &live.issuers[issuer];
    let username = keys
        .username_of(token)
        .unwrap_or_else(|| token.subject.clone());
    let groups = token.groups(&keys.config.groups_claim);
    Identity {
        username,
        admin_group: groups.iter().any(|g| live.config.admin_groups.contains(g)),
        auditor_group: groups
            .iter()
            .any(|g| live.config.auditor_groups.contains(g)),
    }
}

/// Admin rights for this request: an admin group and MFA as fresh as a
/// new session needs.
pub fn require_admin(
    live: &LiveConfig,
    issuer: usize,
    token: &VerifiedIdToken,
    what: &str,
) -> Result<Identity, AppError> {
    let who = identify(live, issuer, token);
    if !who.admin_group {
        return Err(AppError::forbidden(
            ErrorCode::Forbidden,
            format!("only members of the broker's `admin-groups` may {what}"),
        ));
    }
    fresh_mfa(live, issuer, token)?;
    Ok(who)
}

/// Reading the audit trail through the broker (the live feed): a member
/// of `auditor-groups` or `admin-groups`, with MFA as fresh as for admin
/// actions.
pub fn require_auditor(
    live: &LiveConfig,
    issuer: usize,
    token: &VerifiedIdToken,
    what: &str,
) -> Result<Identity, AppError> {
    let who = identify(live, issuer, token);
    if !who.admin_group && !who.auditor_group {
        return Err(AppError::forbidden(
            ErrorCode::Forbidden,
            format!("only members of the broker's `auditor-groups` or `admin-groups` may {what}"),
        ));
    }
    fresh_mfa(live, issuer, token)?;
    Ok(who)
}

fn fresh_mfa(live: &LiveConfig, issuer: usize, token: &VerifiedIdToken) -> Result<(), AppError> {
    let now = crate::store::now_secs();
    crate::oidc::mfa::check_mfa(token, &live.issuers[issuer].mfa, now, true).map_err(|e| {
        AppError::forbidden(
            ErrorCode::MfaRequired,
            format!(
                "admin actions need a fresh MFA login: {e}; {}",
                e.idp_hint()
            ),
        )
    })
}

/// `GET /v1/sessions?cluster=&username=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub cluster: Option<String>,
    pub username: Option<String>,
}

pub async fn list(
    State(st): State<Shared>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let caller = Caller::of(&parts);
    let mut rec = caller.record("sessions");
    let result = async {
        let Query(q) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
        rec.cluster = q.cluster.as_deref().map(|c| clip(c, 64));
        rec.username = q.username.as_deref().map(|u| clip(u, 256));
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        // The caller's identity fields (subject, email, groups) and the
        // filter (`cluster`, `username`) go in the record; the caller's
        // name is `actor`.
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let who = identify(&live, issuer, &token);
        let everyone = who.admin_group;
        if everyone {
            require_admin(&live, issuer, &token, "list other users' sessions")?;
        }
        rec.actor = Some(who.username);
        let now = OffsetDateTime::now_utc();
        let keep = |s: &Session| {
            (everyone || (s.issuer == token.issuer && s.subject == token.subject))
                && q.cluster.as_ref().is_none_or(|c| &s.cluster == c)
                && q.username.as_ref().is_none_or(|u| &s.username == u)
        };
        let (found, truncated) = st.store.live_sessions(now, keep, MAX_LISTED_SESSIONS);
        Ok::<_, AppError>(SessionList {
            sessions: found.iter().map(info).collect(),
            truncated,
        })
    }
    .await;
    match result {
        Ok(list) => {
            rec.outcome = "listed".into();
            rec.status = Some(200);
            rec.cause = Some(format!(
                "{} live sessions{}",
                list.sessions.len(),
                if list.truncated { " (truncated)" } else { "" }
            ));
            audited(&st.audit, rec, Json(list).into_response()).await
        }
        Err(err) => {
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

fn info(s: &Session) -> SessionInfo {
    let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    SessionInfo {
        session_id: s.id.clone(),
        cluster: s.cluster.clone(),
        username: s.username.clone(),
        email: s.email.clone(),
        reason: s.reason.clone(),
        started_at: at(s.started_at),
        expires_at: at(s.expires_at),
    }
}
