//! Deciding a request: `approve` and `deny` by a member of the grant's
//! `approver-groups` (never the requester, always with a fresh MFA login
//! and a reason), `cancel` by the requester. Each distinct approver counts
//! once; the request is approved when the grant's `approvals` are reached.
//! An approved request must then be used within the grant's `request-ttl`.

use super::super::caller::verify_caller;
use super::super::error::{AppError, audited};
use super::super::request::{Caller, bearer, body_bytes, clip, one_line_reason, parse_json};
use super::super::server::Shared;
use super::view::{grant_of, info, lookup};
use super::{announce, describe};
use crate::protocol::{ErrorCode, RequestDecision};
use crate::store::{AccessRequest, Decision, RequestConflict, RequestState};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Approve,
    Deny,
    Cancel,
}

pub async fn approve(st: State<Shared>, id: Path<String>, req: Request) -> Response {
    decide(st, id, req, Action::Approve).await
}

pub async fn deny(st: State<Shared>, id: Path<String>, req: Request) -> Response {
    decide(st, id, req, Action::Deny).await
}

pub async fn cancel(st: State<Shared>, id: Path<String>, req: Request) -> Response {
    decide(st, id, req, Action::Cancel).await
}

async fn decide(
    State(st): State<Shared>,
    Path(id): Path<String>,
    req: Request,
    action: Action,
) -> Response {
    let (parts, body) = req.into_parts();
    let mut rec = Caller::of(&parts).record("request");
    rec.request_id = Some(clip(&id, 96));
    let result = async {
        let raw = bearer(&parts.headers)?.to_string();
        let bytes = body_bytes(&parts.headers, body).await?;
        let asked: RequestDecision = if bytes.iter().all(u8::is_ascii_whitespace) {
            RequestDecision::default()
        } else {
            parse_json(&bytes)?
        };
        let live = st.live();
        let (issuer, token) = verify_caller(&live, &raw, &mut rec).await?;
        let keys = &live.issuers[issuer];
        let actor = keys
            .username_of(&token)
            .unwrap_or_else(|| token.subject.clone());
        rec.actor = Some(actor.clone());
        let reason = one_line_reason(asked.reason.as_deref())?;
        rec.cause = reason.clone();
        let found = lookup(&st, &id).await?;
        describe(&mut rec, &found);
        rec.reason = Some(found.reason.clone());
        let now = crate::store::now_secs();
        let mine = found.issuer == token.issuer && found.subject == token.subject;
        if found.lapsed_at(now) {
            let at = found.expires_at.format(&Rfc3339).unwrap_or_default();
            return Err(closed(format!(
                "access request `{id}` lapsed at {at}; the requester can file a new one"
            )));
        }
        let next = match action {
            Action::Cancel => {
                if !mine {
                    return Err(AppError::forbidden(
                        ErrorCode::Forbidden,
                        format!(
                            "only its requester ({}) may cancel access request `{id}`; approvers deny it instead",
                            found.requester
                        ),
                    ));
                }
                if found.state.is_final() {
                    return Err(closed(format!(
                        "access request `{id}` is {} already",
                        found.state.as_str()
                    )));
                }
                found.next(|n| n.state = RequestState::Cancelled)
            }
            Action::Approve | Action::Deny => {
                let verb = if action == Action::Approve { "approve" } else { "deny" };
                let grant = grant_of(&live, &found);
                let approval = grant.and_then(|g| g.approval.as_ref()).ok_or_else(|| {
                    closed(format!(
                        "grant `{}` of `{}` no longer needs approval (the policy changed); \
                         access request `{id}` cannot be decided",
                        found.grant, found.cluster
                    ))
                })?;
                if mine || found.requester == actor {
                    return Err(AppError::forbidden(
                        ErrorCode::Forbidden,
                        format!("you filed access request `{id}`; another person must {verb} it"),
                    ));
                }
                let groups = token.groups(&keys.config.groups_claim);
                if !approval.approver_groups.iter().any(|g| groups.contains(g)) {
                    return Err(AppError::forbidden(
                        ErrorCode::Forbidden,
                        format!(
                            "only members of [{}] may {verb} requests for grant `{}`; your groups are [{}]",
                            approval.approver_groups.join(", "),
                            found.grant,
                            groups.join(", ")
                        ),
                    ));
                }
                crate::oidc::mfa::check_mfa(&token, &keys.mfa, now, true).map_err(|e| {
                    AppError::forbidden(
                        ErrorCode::MfaRequired,
                        format!("deciding a request needs a fresh MFA login: {e}; {}", e.idp_hint()),
                    )
                })?;
                let reason = reason.clone().ok_or_else(|| {
                    AppError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::ReasonRequired,
                        format!("to {verb} a request, say why with `--reason`"),
                    )
                })?;
                if found.state != RequestState::Pending {
                    return Err(closed(format!(
                        "access request `{id}` is {} already",
                        found.state.as_str()
                    )));
                }
                if found
                    .approvals
                    .iter()
                    .any(|d| d.issuer == token.issuer && d.subject == token.subject)
                {
                    return Err(AppError::forbidden(
                        ErrorCode::Forbidden,
                        format!(
                            "you approved access request `{id}` already; it needs {} distinct approvers",
                            approval.approvals
                        ),
                    ));
                }
                let decision = Decision {
                    by: actor.clone(),
                    issuer: token.issuer.clone(),
                    subject: token.subject.clone(),
                    reason,
                    at: now,
                };
                let (needed, ttl) = (approval.approvals as usize, approval.request_ttl);
                found.next(|n| match action {
                    Action::Approve => {
                        n.approvals.push(decision);
                        if n.approvals.len() >= needed {
                            n.state = RequestState::Approved;
                            // The requester has a whole `request-ttl` to use it.
                            n.expires_at = now + ttl;
                        }
                    }
                    _ => {
                        n.state = RequestState::Denied;
                        n.denial = Some(decision);
                    }
                })
            }
        };
        st.store.put_request(next.clone()).await.map_err(|e| {
            match e.downcast_ref::<RequestConflict>() {
                Some(c) => closed(format!("{c}: look again with `kaccess admin requests {}`", found.cluster)),
                None => AppError::internal(e),
            }
        })?;
        Ok::<_, AppError>((next, actor))
    }
    .await;
    match result {
        Ok((next, actor)) => {
            let (outcome, event) = outcome_of(action, &next);
            rec.outcome = outcome.into();
            rec.status = Some(200);
            let shown = info(&next, grant_of(&st.live(), &next));
            let answer = audited(&st.audit, rec, Json(shown).into_response()).await;
            if answer.status() == StatusCode::OK
                && let Some(event) = event
            {
                let why = match action {
                    Action::Cancel => next.reason.clone(),
                    _ => next
                        .approvals
                        .last()
                        .or(next.denial.as_ref())
                        .map(|d| d.reason.clone())
                        .unwrap_or_default(),
                };
                announce(&st, event, &next, &actor, &why);
            }
            answer
        }
        Err(err) => {
            err.describe(&mut rec);
            audited(&st.audit, rec, err.into_response()).await
        }
    }
}

/// The audit outcome, and the webhook event if any.
fn outcome_of(action: Action, next: &AccessRequest) -> (&'static str, Option<&'static str>) {
    match (action, next.state) {
        (Action::Approve, RequestState::Approved) => ("approved", Some("approved")),
        // One of several approvals: recorded, the request stays pending.
        (Action::Approve, _) => ("approval-recorded", None),
        (Action::Deny, _) => ("denied", Some("denied")),
        (Action::Cancel, _) => ("cancelled", Some("cancelled")),
    }
}

fn closed(message: String) -> AppError {
    AppError::new(StatusCode::CONFLICT, ErrorCode::RequestClosed, message)
}
