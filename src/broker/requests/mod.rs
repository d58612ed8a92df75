//! Access requests at the broker: `POST /v1/requests` files one for a
//! grant that needs approval; `GET /v1/requests` lists those the caller
//! may see (their own, those they may decide, or all for an admin);
//! `GET /v1/requests/{id}` shows one (what `kaccess request --wait` polls);
//! `approve`, `deny` and `cancel` decide it (`decide`). Pending requests
//! lapse after the grant's `request-ttl` (`lapse`). Every filing, decision,
//! refusal and lapse is one audit record, written before the answer, and
//! every event but a refusal is announced to the `notify` webhooks.

mod decide;
mod lapse;
mod view;

pub use decide::{approve, cancel, deny};
pub use lapse::sweep;
pub use view::{info, list, show};

use super::caller::verify_caller;
use super::config::{Approval, ClusterConfig, Grant};
use super::error::{AppError, audited};
use super::request::{Caller, bearer, clip, json_body, one_line_reason};
use super::server::{LiveConfig, Shared};
use crate::audit::AuditRecord;
use crate::protocol::{ErrorCode, NewAccessRequest};
use crate::store::{AccessRequest, RequestState};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use std::time::Duration;

/// `POST /v1/requests`.
pub async fn file(State(st): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut rec = Caller::of(&parts).record("request");
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let asked: NewAccessRequest = json_body(&parts.headers, body).await?;
        rec.cluster = Some(clip(&asked.cluster, 64));
        rec.grant = Some(clip(&asked.grant, 64));
        rec.reason = Some(clip(&asked.reason, 1024));
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let keys = &live.issuers[issuer];
        let requester = keys
            .username_of(&token)
            .unwrap_or_else(|| token.subject.clone());
        rec.username = Some(requester.clone());
        crate::oidc::mfa::check_mfa(&token, &keys.mfa, crate::store::now_secs(), false).map_err(
            |e| AppError::forbidden(ErrorCode::MfaRequired, format!("{e}; {}", e.idp_hint())),
        )?;
        let reason = one_line_reason(Some(&asked.reason))?.ok_or_else(|| {
            AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ReasonRequired,
                "an access request needs a `reason` (a ticket or incident)",
            )
        })?;
        let (cluster, grant, approval) = approval_grant(&live, &asked.cluster, &asked.grant)?;
        let groups = token.groups(&keys.config.groups_claim);
        super::policy::decide_named(&asked.cluster, cluster, &groups, &asked.grant)
            .map_err(|e| AppError::forbidden(ErrorCode::Forbidden, e.to_string()))?;
        let max = approval.max_duration;
        let duration = asked.duration_seconds.map_or(max, Duration::from_secs);
        if duration > max {
            return Err(AppError::bad_request(format!(
                "grant `{}` allows at most {}; ask for that or less with `--duration`",
                asked.grant,
                crate::units::format_duration(max)
            )));
        }
        if duration.as_secs() < crate::protocol::MIN_SESSION_SECONDS {
            return Err(AppError::bad_request(
                "an elevation shorter than 1m cannot be granted; ask for 1m or more",
            ));
        }
        let now = crate::store::now_secs();
        let request = AccessRequest {
            id: new_request_id(&asked.cluster),
            version: 1,
            cluster: asked.cluster.clone(),
            grant: asked.grant.clone(),
            requester: requester.clone(),
            issuer: token.issuer.clone(),
            subject: token.subject.clone(),
            reason: reason.clone(),
            duration_seconds: duration.as_secs(),
            state: RequestState::Pending,
            created_at: now,
            expires_at: now + approval.request_ttl,
            approvals: Vec::new(),
            denial: None,
            session_id: None,
        };
        rec.request_id = Some(request.id.clone());
        st.store
            .put_request(request.clone())
            .await
            .map_err(AppError::internal)?;
        let shown = info(&request, Some(grant));
        Ok::<_, AppError>((request, shown))
    }
    .await;
    match result {
        Ok((request, shown)) => {
            rec.outcome = "filed".into();
            rec.status = Some(201);
            let answer = (StatusCode::CREATED, Json(shown)).into_response();
            let answer = audited(&st.audit, rec, answer).await;
            if answer.status() == StatusCode::CREATED {
                announce(
                    &st,
                    "requested",
                    &request,
                    &request.requester,
                    &request.reason,
                );
            }
            answer
        }
        Err(err) => {
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

/// The cluster and grant named, if the grant needs approval.
fn approval_grant<'c>(
    live: &'c LiveConfig,
    cluster: &str,
    grant: &str,
) -> Result<(&'c ClusterConfig, &'c Grant, &'c Approval), AppError> {
    let c = live.config.clusters.get(cluster).ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownCluster,
            format!("the broker knows no cluster `{}`", clip(cluster, 64)),
        )
    })?;
    let g = c
        .grants
        .iter()
        .find(|g| g.name.as_deref() == Some(grant))
        .ok_or_else(|| {
            AppError::bad_request(format!(
                "cluster `{cluster}` has no grant named `{}`",
                clip(grant, 64)
            ))
        })?;
    let a = g.approval.as_ref().ok_or_else(|| {
        AppError::bad_request(format!(
            "grant `{grant}` of `{cluster}` needs no approval; log in with `kaccess login {cluster} --grant {grant}`{}",
            if g.break_glass.is_some() { " --break-glass" } else { "" }
        ))
    })?;
    Ok((c, g, a))
}

/// `CLUSTER:` and 64 random bits in hex.
fn new_request_id(cluster: &str) -> String {
    let mut raw = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{cluster}:{}", hex::encode(raw))
}

/// `CLUSTER:HEX` with a cluster name and 16 lower-case hex digits.
pub fn looks_like_request_id(id: &str) -> bool {
    id.rsplit_once(':').is_some_and(|(cluster, hex)| {
        super::config::valid_cluster_name(cluster)
            && hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Tells the webhooks about `event` on `request`.
pub fn announce(st: &Shared, event: &'static str, r: &AccessRequest, actor: &str, reason: &str) {
    let length = crate::units::format_duration(Duration::from_secs(r.duration_seconds));
    let text = match event {
        "requested" => format!(
            "kaccess: {} asks for `{}` on `{}` for {length}: {} — approve with `kaccess admin approve {} --reason ...`",
            r.requester, r.grant, r.cluster, r.reason, r.id
        ),
        "approved" => format!(
            "kaccess: {actor} approved {}'s request for `{}` on `{}` ({length}): {reason}",
            r.requester, r.grant, r.cluster
        ),
        "denied" => format!(
            "kaccess: {actor} denied {}'s request for `{}` on `{}`: {reason}",
            r.requester, r.grant, r.cluster
        ),
        "cancelled" => format!(
            "kaccess: {} withdrew the request for `{}` on `{}`",
            r.requester, r.grant, r.cluster
        ),
        _ => format!(
            "kaccess: {}'s request for `{}` on `{}` lapsed undecided",
            r.requester, r.grant, r.cluster
        ),
    };
    super::notify::send(
        st,
        super::notify::Event {
            event,
            cluster: r.cluster.clone(),
            request_id: Some(r.id.clone()),
            requester: r.requester.clone(),
            actor: actor.to_string(),
            grant: r.grant.clone(),
            reason: reason.to_string(),
            text,
        },
    );
}

/// The identity fields of `r` on an audit record.
fn describe(rec: &mut AuditRecord, r: &AccessRequest) {
    rec.cluster = Some(r.cluster.clone());
    rec.grant = Some(r.grant.clone());
    rec.request_id = Some(r.id.clone());
    rec.username = Some(r.requester.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_name_their_cluster_and_nothing_else_passes() {
        let id = new_request_id("prod-eu.1");
        assert!(
            id.starts_with("prod-eu.1:") && looks_like_request_id(&id),
            "{id}"
        );
        for bad in [
            "prod",
            "prod:",
            "../x:0123456789abcdef",
            "prod:0123456789ABCDEF",
            "prod:0123",
        ] {
            assert!(!looks_like_request_id(bad), "{bad}");
        }
    }
}
