//! Who is calling the broker's API: the bearer ID token verified against
//! the trusted issuer it names, its identity written into the request's
//! audit record. Every authenticated endpoint (exchange, revoke, access
//! requests, recordings) starts here.

use super::error::AppError;
use super::keys::{KeyError, peek_issuer};
use super::request::{MAX_AUDIT_TEXT, clip};
use super::server::LiveConfig;
use crate::audit::AuditRecord;
use crate::oidc::verify::VerifiedIdToken;
use crate::protocol::ErrorCode;
use axum::http::StatusCode;
use time::OffsetDateTime;

/// Verifies `raw` against the issuer it names; fills the identity fields
/// of `rec`.
pub async fn verify_caller(
    live: &LiveConfig,
    raw: &str,
    rec: &mut AuditRecord,
) -> Result<(usize, VerifiedIdToken), AppError> {
    let claimed = peek_issuer(raw);
    let index = claimed
        .as_deref()
        .and_then(|c| live.issuers.iter().position(|k| k.config.issuer == c))
        .or_else(|| (live.issuers.len() == 1).then_some(0))
        .ok_or_else(|| {
            AppError::unauthenticated(format!(
                "the ID token's issuer {} is not trusted by this broker",
                claimed.map_or("(none)".to_string(), |c| format!(
                    "`{}`",
                    clip(&c, MAX_AUDIT_TEXT)
                ))
            ))
        })?;
    let keys = &live.issuers[index];
    rec.issuer = Some(keys.config.issuer.clone());
    let token = keys
        .verify(raw, OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            KeyError::Token(t) => AppError {
                cause: format!("{} ({t})", t.code()),
                ..AppError::unauthenticated(t.to_string())
            },
            KeyError::Unavailable { .. } => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::IdpUnavailable,
                e.to_string(),
            ),
        })?;
    rec.subject = Some(token.subject.clone());
    rec.email = token.email.clone();
    rec.idp_groups = Some(token.groups(&keys.config.groups_claim));
    Ok((index, token))
}
