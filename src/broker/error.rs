//! Refusals and failures as HTTP: every error answer is a
//! [`protocol::ErrorBody`] with a fitting status. Bad input says what was
//! wrong; internal failures say only that, and the detail goes to the log
//! and the audit record.

use crate::protocol::{ErrorBody, ErrorCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    /// Sent to the client.
    pub message: String,
    /// Recorded in the audit log and the broker log; may say more than
    /// `message` (internal errors).
    pub cause: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> AppError {
        let message = message.into();
        AppError {
            status,
            code,
            cause: message.clone(),
            message,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> AppError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> AppError {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// An internal failure: generic to the client, detailed in the log.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        let cause = cause.to_string();
        tracing::error!(%cause, "internal error");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            message: "internal error in the broker; its log has the details".into(),
            cause,
        }
    }

    /// The audit record could not be written: nothing is issued.
    pub fn audit_unavailable(cause: impl std::fmt::Display) -> AppError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::AuditUnavailable,
            format!("the broker cannot write its audit log, so it issues nothing: {cause}"),
        )
    }

    /// The state database could not confirm a change (PostgreSQL down or
    /// unreachable): nothing is issued.
    pub fn state_unavailable(cause: impl std::fmt::Display) -> AppError {
        let cause = format!("{cause:#}");
        tracing::error!(%cause, "state database unavailable");
        AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::StateUnavailable,
            message: "the broker cannot reach its state database, so it issues nothing; \
                      try again shortly (another replica may answer)"
                .into(),
            cause,
        }
    }

    /// `snake_case` code as on the wire, for audit records and metrics.
    pub fn code_str(&self) -> String {
        code_str(self.code)
    }
}

impl AppError {
    /// Marks `rec` as this refusal: outcome, status, code and cause.
    pub fn describe(&self, rec: &mut crate::audit::AuditRecord) {
        rec.outcome = "refused".into();
        rec.status = Some(self.status.as_u16());
        rec.error = Some(self.code_str());
        rec.cause = Some(self.cause.clone());
    }
}

/// Writes `rec`, then sends `answer`; a 503 instead when the record cannot
/// be written, so no answer leaves the broker unaudited.
pub async fn audited(
    audit: &crate::audit::AuditLog,
    rec: crate::audit::AuditRecord,
    answer: Response,
) -> Response {
    match audit.append(rec).await {
        Ok(()) => answer,
        Err(e) => AppError::audit_unavailable(e).into_response(),
    }
}

pub fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "internal".into())
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_detail_out_of_the_body() {
        let e = AppError::internal("sqlite: disk I/O error at /var/lib/kaccess/state.db");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("sqlite"));
        assert!(e.cause.contains("sqlite"));
        assert_eq!(e.code_str(), "internal");
    }
}
