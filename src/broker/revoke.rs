//! `POST /v1/sessions/{id}/revoke`: the session's owner (same issuer and
//! subject, proven by a valid ID token) ends it, or a broker admin does,
//! with a reason (see `admin`). From that instant its tokens fail review
//! and no new credential is issued for it. Revoking an already revoked
//! session answers 200 with `revoked: false` (a replay) and is audited as
//! such. Who revoked (the admin, the owner, or the owner's logout, which
//! `kaccess logout` marks with [`LOGOUT_REASON`]) is stored with it, for
//! the refusals that follow to name.

use super::caller::verify_caller;
use super::error::{AppError, audited};
use super::request::{Caller, bearer, body_bytes, clip, one_line_reason, parse_json};
use super::server::Shared;
use super::tokens::looks_like_session_id;
use crate::protocol::{ErrorCode, LOGOUT_REASON, RevokeRequest, RevokeResponse};
use crate::store::RevokedBy;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

pub async fn handle(State(st): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let caller = Caller::of(&parts);
    let mut rec = caller.record("revoke");
    rec.session_id = Some(clip(&id, 64));
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let asked = revoke_request(&parts.headers, body).await?;
        let reason = one_line_reason(asked.reason.as_deref())?;
        let reason = reason.as_deref();
        let unknown = || {
            AppError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::UnknownSession,
                format!("the broker knows no session `{}`", clip(&id, 64)),
            )
        };
        if !looks_like_session_id(&id) {
            return Err(unknown());
        }
        let session = st
            .store
            .session(&id)
            .await
            .map_err(AppError::state_unavailable)?
            .ok_or_else(unknown)?;
        rec.cluster = Some(session.cluster.clone());
        rec.username = Some(session.username.clone());
        rec.reason = session.reason.clone();
        let by = if session.subject != token.subject || session.issuer != token.issuer {
            let who = super::admin::identify(&live, issuer, &token);
            if !who.admin_group {
                return Err(AppError::forbidden(
                    ErrorCode::SessionNotYours,
                    format!("session `{id}` belongs to another user"),
                ));
            }
            let admin =
                super::admin::require_admin(&live, issuer, &token, "revoke other users' sessions")?;
            let reason = reason.ok_or_else(|| {
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::ReasonRequired,
                    "revoking another user's session needs a `reason`",
                )
            })?;
            rec.actor = Some(admin.username.clone());
            rec.cause = Some(format!("revoked by an admin: {reason}"));
            RevokedBy::Admin(admin.username)
        } else {
            if let Some(reason) = reason {
                rec.cause = Some(format!("revoked by its owner: {reason}"));
            }
            match reason {
                Some(LOGOUT_REASON) => RevokedBy::Logout,
                _ => RevokedBy::Owner,
            }
        };
        st.store
            .revoke(&id, OffsetDateTime::now_utc(), by)
            .await
            .map_err(AppError::state_unavailable)
    }
    .await;
    match result {
        Ok(fresh) => {
            rec.outcome = if fresh { "revoked" } else { "replay" }.into();
            rec.status = Some(200);
            st.metrics.revocation(&rec.outcome);
            // Should the record fail, the revocation still stands (it is
            // the safe direction); only the answer says the record is
            // missing.
            let answer = Json(RevokeResponse {
                session_id: id,
                revoked: fresh,
            });
            audited(&st.audit, rec, answer.into_response()).await
        }
        Err(err) => {
            err.describe(&mut rec);
            st.metrics.revocation("refused");
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

/// The optional body: empty (older clients, the owner) or a
/// [`RevokeRequest`].
async fn revoke_request(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<RevokeRequest, AppError> {
    let bytes = body_bytes(headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(RevokeRequest::default());
    }
    parse_json(&bytes)
}
