//! `GET /v1/recordings/{session}/{stream}`: a session recording, for
//! members of `auditor-groups` only, with MFA as fresh as admin actions
//! need. `stream` is the session's stream number as `kaccess audit play`
//! counts it, found in the broker's current audit file; the file is
//! checked against its record's SHA-256 and size before it is sent.
//! Every answer, refusals included, is audited (`recording`).

use super::caller::verify_caller;
use super::error::{AppError, audited};
use super::request::{Caller, bearer, clip};
use super::server::{LiveConfig, Shared};
use super::tokens::looks_like_session_id;
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::ErrorCode;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

pub const PATH: &str = "/v1/recordings/{session}/{stream}";

/// A member of `auditor-groups`, with a fresh MFA login: the username.
fn require_auditor(
    live: &LiveConfig,
    issuer: usize,
    token: &VerifiedIdToken,
) -> Result<String, AppError> {
    let who = super::admin::identify(live, issuer, token);
    let keys = &live.issuers[issuer];
    let groups = token.groups(&keys.config.groups_claim);
    if !groups
        .iter()
        .any(|g| live.config.auditor_groups.contains(g))
    {
        return Err(AppError::forbidden(
            ErrorCode::Forbidden,
            "only members of the broker's `auditor-groups` may read session recordings",
        ));
    }
    let now = crate::store::now_secs();
    crate::oidc::mfa::check_mfa(token, &keys.mfa, now, true).map_err(|e| {
        AppError::forbidden(
            ErrorCode::MfaRequired,
            format!(
                "reading recordings needs a fresh MFA login: {e}; {}",
                e.idp_hint()
            ),
        )
    })?;
    Ok(who.username)
}

fn not_found(message: String) -> AppError {
    AppError::new(StatusCode::NOT_FOUND, ErrorCode::UnknownSession, message)
}

/// The recording of stream `n` of `session` in `audit_file`: its bytes
/// and file name, once they match the record.
fn find(audit_file: PathBuf, session: &str, n: usize) -> Result<(Vec<u8>, String), AppError> {
    let streams = crate::audit::streams::of_session(std::slice::from_ref(&audit_file), session)
        .map_err(AppError::internal)?;
    let stream = streams.iter().find(|s| s.number == n).ok_or_else(|| {
        not_found(format!(
            "session `{session}` has {} streams in the broker's current audit file, no stream {n}",
            streams.len()
        ))
    })?;
    let rec = stream.recording().ok_or_else(|| {
        not_found(format!(
            "stream {n} of session `{session}` has no recording: {}",
            stream.unrecorded()
        ))
    })?;
    crate::proxy::recording::check(&stream.dir, rec).map_err(|why| {
        AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::Internal,
            format!("the recording fails verification: {why}"),
        )
    })?;
    let data = std::fs::read(stream.dir.join(&rec.file)).map_err(AppError::internal)?;
    Ok((data, rec.file.clone()))
}

pub async fn serve(
    State(st): State<Shared>,
    Path((session, stream)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let caller = Caller::of(&parts);
    let mut rec = caller.record("recording");
    rec.session_id = Some(clip(&session, 64));
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        rec.actor = Some(super::admin::identify(&live, issuer, &token).username);
        require_auditor(&live, issuer, &token)?;
        let n: usize = stream.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            AppError::bad_request(format!(
                "`{}` is not a stream number (1, 2, ...)",
                clip(&stream, 16)
            ))
        })?;
        if !looks_like_session_id(&session) {
            return Err(not_found(format!(
                "the broker knows no session `{}`",
                clip(&session, 64)
            )));
        }
        let file = live.config.audit.file.clone().ok_or_else(|| {
            not_found(
                "this broker keeps its audit chain in the database and makes no recordings".into(),
            )
        })?;
        let session = session.clone();
        tokio::task::spawn_blocking(move || find(file, &session, n))
            .await
            .map_err(AppError::internal)?
    }
    .await;
    match result {
        Ok((data, file)) => {
            rec.outcome = "served".into();
            rec.status = Some(200);
            rec.cause = Some(format!("stream {stream}: {file}"));
            let mut resp = data.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-asciicast"),
            );
            audited(&st.audit, rec, resp).await
        }
        Err(err) => {
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}
