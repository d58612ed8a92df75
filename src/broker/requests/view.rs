//! Showing requests: `GET /v1/requests` (filtered to what the caller may
//! see) and `GET /v1/requests/{id}`. A requester sees their own requests,
//! an approver those of the grants they may decide, an admin all. Listings
//! are audited like session listings.

use super::super::caller::verify_caller;
use super::super::config::Grant;
use super::super::error::{AppError, audited};
use super::super::request::{Caller, bearer, clip};
use super::super::server::{LiveConfig, Shared};
use super::looks_like_request_id;
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::{
    AccessRequestInfo, AccessRequestList, DecisionInfo, ErrorCode, MAX_LISTED_REQUESTS,
};
use crate::store::{AccessRequest, Decision, RequestState};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

/// How the broker shows `r`; `grant` (when still configured) adds who may
/// decide.
pub fn info(r: &AccessRequest, grant: Option<&Grant>) -> AccessRequestInfo {
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let decision = |d: &Decision| DecisionInfo {
        by: d.by.clone(),
        reason: d.reason.clone(),
        at: at(d.at),
    };
    let approval = grant.and_then(|g| g.approval.as_ref());
    AccessRequestInfo {
        id: r.id.clone(),
        state: r.state.as_str().into(),
        cluster: r.cluster.clone(),
        grant: r.grant.clone(),
        requester: r.requester.clone(),
        reason: r.reason.clone(),
        duration_seconds: r.duration_seconds,
        created_at: at(r.created_at),
        expires_at: at(r.expires_at),
        approvals: r.approvals.iter().map(decision).collect(),
        approvals_needed: approval.map_or(1, |a| a.approvals),
        approver_groups: approval
            .map(|a| a.approver_groups.clone())
            .unwrap_or_default(),
        denial: r.denial.as_ref().map(decision),
        session_id: r.session_id.clone(),
    }
}

/// The grant a request names, as configured now.
pub(super) fn grant_of<'c>(live: &'c LiveConfig, r: &AccessRequest) -> Option<&'c Grant> {
    live.config
        .clusters
        .get(&r.cluster)?
        .grants
        .iter()
        .find(|g| g.name.as_deref() == Some(r.grant.as_str()))
}

/// Whether the caller (with `groups`) may see `r`.
fn may_see(
    live: &LiveConfig,
    token: &VerifiedIdToken,
    groups: &[String],
    admin: bool,
    r: &AccessRequest,
) -> bool {
    admin
        || (r.issuer == token.issuer && r.subject == token.subject)
        || grant_of(live, r)
            .and_then(|g| g.approval.as_ref())
            .is_some_and(|a| a.approver_groups.iter().any(|g| groups.contains(g)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub cluster: Option<String>,
    #[serde(default)]
    pub pending: bool,
}

pub async fn list(
    State(st): State<Shared>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let mut rec = Caller::of(&parts).record("requests");
    let result = async {
        let Query(q) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
        rec.cluster = q.cluster.as_deref().map(|c| clip(c, 64));
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let who = super::super::admin::identify(&live, issuer, &token);
        let groups = token.groups(&live.issuers[issuer].config.groups_claim);
        rec.actor = Some(who.username);
        let now = time::OffsetDateTime::now_utc();
        let keep = |r: &AccessRequest| {
            q.cluster.as_ref().is_none_or(|c| &r.cluster == c)
                && (!q.pending || (r.state == RequestState::Pending && !r.lapsed_at(now)))
                && may_see(&live, &token, &groups, who.admin_group, r)
        };
        let (found, truncated) = st.store.requests(keep, MAX_LISTED_REQUESTS);
        Ok::<_, AppError>(AccessRequestList {
            requests: found.iter().map(|r| info(r, grant_of(&live, r))).collect(),
            truncated,
        })
    }
    .await;
    match result {
        Ok(list) => {
            rec.outcome = "listed".into();
            rec.status = Some(200);
            rec.cause = Some(format!("{} access requests", list.requests.len()));
            audited(&st.audit, rec, Json(list).into_response()).await
        }
        Err(err) => {
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

/// `GET /v1/requests/{id}`: not audited when answered (the requester polls
/// it while waiting); a refusal is.
pub async fn show(State(st): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let result = async {
        let mut scratch = Caller::of(&parts).record("requests");
        let raw = bearer(&parts.headers)?.to_string();
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut scratch).await?;
        let who = super::super::admin::identify(&live, issuer, &token);
        let groups = token.groups(&live.issuers[issuer].config.groups_claim);
        let found = lookup(&st, &id).await?;
        if !may_see(&live, &token, &groups, who.admin_group, &found) {
            return Err(unknown(&id));
        }
        Ok::<_, AppError>(info(&found, grant_of(&live, &found)))
    }
    .await;
    match result {
        Ok(shown) => Json(shown).into_response(),
        Err(err) => {
            let mut rec = Caller::of(&parts).record("requests");
            rec.request_id = Some(clip(&id, 96));
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

pub(super) fn unknown(id: &str) -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownRequest,
        format!("the broker knows no access request `{}`", clip(id, 96)),
    )
}

/// The request `id`, or 404.
pub(super) async fn lookup(st: &Shared, id: &str) -> Result<AccessRequest, AppError> {
    if !looks_like_request_id(id) {
        return Err(unknown(id));
    }
    st.store
        .request(id)
        .await
        .map_err(AppError::internal)?
        .ok_or_else(|| unknown(id))
}
