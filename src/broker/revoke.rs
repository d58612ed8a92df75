//! `POST /v1/sessions/{id}/revoke`: the session's owner (same issuer and
//! subject, proven by a valid ID token) ends it. From that instant its
//! tokens fail review and no new credential is issued for it. Revoking an
//! already revoked session answers 200 with `revoked: false` (a replay)
//! and is audited as such.

use super::error::AppError;
use super::exchange::verify_caller;
use super::request::{Caller, bearer, clip};
use super::server::Shared;
use super::tokens::looks_like_session_id;
use crate::protocol::{ErrorCode, RevokeResponse};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

pub async fn handle(State(st): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let caller = Caller::of(&parts);
    let mut rec = caller.record("revoke");
    rec.session_id = Some(clip(&id, 64));
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let (_, token) = verify_caller(&st.live(), &raw, &mut rec).await?;
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
        let session = st.store.session(&id).ok_or_else(unknown)?;
        rec.cluster = Some(session.cluster.clone());
        rec.username = Some(session.username.clone());
        rec.reason = session.reason.clone();
        if session.subject != token.subject || session.issuer != token.issuer {
            return Err(AppError::forbidden(
                ErrorCode::SessionNotYours,
                format!("session `{id}` belongs to another user"),
            ));
        }
        st.store
            .revoke(&id, OffsetDateTime::now_utc())
            .await
            .map_err(AppError::internal)
    }
    .await;
    match result {
        Ok(fresh) => {
            rec.outcome = if fresh { "revoked" } else { "replay" }.into();
            rec.status = Some(200);
            st.metrics.revocation(&rec.outcome);
            if let Err(e) = st.audit.append(rec).await {
                // The revocation stands (it is the safe direction); only
                // the answer says the record is missing.
                return AppError::audit_unavailable(e).into_response();
            }
            Json(RevokeResponse {
                session_id: id,
                revoked: fresh,
            })
            .into_response()
        }
        Err(err) => {
            rec.outcome = "refused".into();
            rec.status = Some(err.status.as_u16());
            rec.error = Some(err.code_str());
            rec.cause = Some(err.cause.clone());
            st.metrics.revocation("refused");
            if let Err(e) = st.audit.append(rec).await {
                return AppError::audit_unavailable(e).into_response();
            }
            err.into_response()
        }
    }
}
