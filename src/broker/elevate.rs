//! Privileged grants at exchange time. A plain login gets the first plain
//! grant its groups match; `--grant NAME` asks for a named one. A named
//! grant with `approval` needs an approved access request of the caller's,
//! which the new session uses up; one with `break-glass` needs
//! `--break-glass` and a reason, and is announced at once. A continued
//! session keeps the grant it started on, re-checked on today's policy.

use super::config::{ClusterConfig, Grant};
use super::error::AppError;
use super::policy::{PolicyError, decide, decide_named};
use super::server::Shared;
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::{ErrorCode, ExchangeRequest};
use crate::store::{AccessRequest, Elevation, RequestConflict, RequestState};
use axum::http::StatusCode;
use std::time::Duration;
use time::OffsetDateTime;

/// The grant a credential is issued under: `named` when given (a
/// continued elevated session's, or `--grant`), else the first plain match.
pub fn choose_grant<'c>(
    cluster_name: &str,
    cluster: &'c ClusterConfig,
    idp_groups: &[String],
    named: Option<&str>,
) -> Result<&'c Grant, AppError> {
    let decided = match named {
        Some(name) => decide_named(cluster_name, cluster, idp_groups, name),
        None => decide(cluster_name, cluster, idp_groups),
    };
    decided.map_err(|e| match e {
        PolicyError::NoGrant { .. } => AppError::forbidden(
            ErrorCode::Forbidden,
            format!(
                "no grant on cluster `{cluster_name}` for your groups [{}]",
                idp_groups.join(", ")
            ),
        ),
        other => AppError::forbidden(ErrorCode::Forbidden, other.to_string()),
    })
}

/// What a new session on a named grant is, and what it uses.
#[derive(Debug, Default)]
pub struct Plan {
    pub elevation: Option<Elevation>,
    /// The session may not be longer than this.
    pub cap: Option<Duration>,
    /// The approved request the session uses up.
    pub request: Option<AccessRequest>,
}

/// Checks what a new session on `grant` needs.
pub fn plan_new(
    st: &Shared,
    cluster_name: &str,
    grant: &Grant,
    req: &ExchangeRequest,
    token: &VerifiedIdToken,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Plan, AppError> {
    let Some(name) = req.grant.as_deref() else {
        if req.break_glass {
            return Err(AppError::bad_request(
                "`break_glass` needs the break-glass grant's name: `kaccess login CLUSTER --grant NAME --break-glass`",
            ));
        }
        return Ok(Plan::default());
    };
    if let Some(bg) = &grant.break_glass {
        if !req.break_glass {
            return Err(AppError::forbidden(
                ErrorCode::Forbidden,
                format!(
                    "grant `{name}` is for emergencies: take it with `kaccess login {cluster_name} --grant {name} --break-glass --reason TEXT`"
                ),
            ));
        }
        if reason.is_none() {
            return Err(AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ReasonRequired,
                format!("break glass on `{name}` needs a reason (`--reason`)"),
            ));
        }
        return Ok(Plan {
            elevation: Some(Elevation {
                grant: name.to_string(),
                request_id: None,
                break_glass: true,
            }),
            cap: Some(bg.max_duration),
            request: None,
        });
    }
    if req.break_glass {
        return Err(AppError::bad_request(format!(
            "grant `{name}` is not a break-glass grant; leave out `--break-glass`"
        )));
    }
    let Some(approval) = &grant.approval else {
        return Ok(Plan {
            elevation: Some(Elevation {
                grant: name.to_string(),
                request_id: None,
                break_glass: false,
            }),
            ..Plan::default()
        });
    };
    let (approved, _) = st.store.requests(
        |r| {
            r.cluster == cluster_name
                && r.grant == name
                && r.issuer == token.issuer
                && r.subject == token.subject
                && r.state == RequestState::Approved
                && now < r.expires_at
        },
        1,
    );
    let request = approved.into_iter().next().ok_or_else(|| {
        AppError::forbidden(
            ErrorCode::ApprovalRequired,
            format!(
                "grant `{name}` needs an approved access request, and you have none; \
                 ask for one: `kaccess request {cluster_name} --grant {name} --reason TEXT`"
            ),
        )
    })?;
    let cap = Duration::from_secs(request.duration_seconds).min(approval.max_duration);
    Ok(Plan {
        elevation: Some(Elevation {
            grant: name.to_string(),
            request_id: Some(request.id.clone()),
            break_glass: false,
        }),
        cap: Some(cap),
        request: Some(request),
    })
}

/// Marks the plan's request used by `session_id`, once: a request another
/// login took meanwhile is refused.
pub async fn consume(st: &Shared, plan: &Plan, session_id: &str) -> Result<(), AppError> {
    let Some(request) = &plan.request else {
        return Ok(());
    };
    let used = request.next(|n| {
        n.state = RequestState::Used;
        n.session_id = Some(session_id.to_string());
    });
    st.store.put_request(used).await.map_err(|e| {
        if e.downcast_ref::<RequestConflict>().is_some() {
            AppError::new(
                StatusCode::CONFLICT,
                ErrorCode::RequestClosed,
                format!(
                    "access request `{}` was used or decided meanwhile; look with `kaccess admin requests {}`",
                    request.id, request.cluster
                ),
            )
        } else {
            AppError::internal(e)
        }
    })
}
