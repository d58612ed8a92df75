//! What every handler needs from a request before it decides anything:
//! the client's address and user agent (for the audit record), the bearer
//! token (size-limited), and the body (size-limited, JSON-parsed into the
//! protocol type with the refusal in `ErrorBody` form).

use super::error::AppError;
use crate::audit::AuditRecord;
use crate::protocol::{ErrorCode, MAX_BEARER_BYTES, MAX_BODY_BYTES};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// Longest free text (reason, user agent, cluster name) copied into an
/// audit record; longer input is cut, not trusted to be small.
pub const MAX_AUDIT_TEXT: usize = 256;

/// Longest `reason` the broker accepts.
pub const MAX_REASON: usize = 1024;

pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A free-text reason, trimmed: `None` when empty; refused when longer
/// than `MAX_REASON` or more than one line.
pub fn one_line_reason(text: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(r) = text.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if r.len() > MAX_REASON {
        return Err(AppError::bad_request(format!(
            "`reason` must be one line of at most {MAX_REASON} bytes"
        )));
    }
    crate::text::check_free_text("`reason`", r).map_err(AppError::bad_request)?;
    Ok(Some(r.to_string()))
}

/// Who is asking, for the audit record.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

impl Caller {
    pub fn of(parts: &axum::http::request::Parts) -> Caller {
        Caller {
            addr: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.to_string()),
            user_agent: parts.headers.get(header::USER_AGENT).map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                clip(&crate::text::escape_deceptive(&text), MAX_AUDIT_TEXT)
            }),
        }
    }

    /// A fresh audit record for `event` from this caller.
    pub fn record(&self, event: &str) -> AuditRecord {
        AuditRecord {
            client_addr: self.addr.clone(),
            user_agent: self.user_agent.clone(),
            ..AuditRecord::new(event)
        }
    }
}

/// The `Authorization: Bearer` value.
pub fn bearer(headers: &HeaderMap) -> Result<&str, AppError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        AppError::unauthenticated("no ID token: send it as `Authorization: Bearer <ID token>`")
    })?;
    if value.len() > MAX_BEARER_BYTES + "Bearer ".len() {
        return Err(AppError::unauthenticated(format!(
            "the bearer token is larger than {MAX_BEARER_BYTES} bytes"
        )));
    }
    let text = value
        .to_str()
        .map_err(|_| AppError::unauthenticated("the `Authorization` header is not ASCII"))?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthenticated(
            "the `Authorization` header must be `Bearer <ID token>`",
        ));
    }
    Ok(token.trim())
}

/// Reads at most `MAX_BODY_BYTES` and parses it as `T`.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, AppError> {
    parse_json(&body_bytes(headers, body).await?)
}

/// Parses a request body as `T`; a 400 saying why otherwise.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::bad_request(format!("the request body is not valid: {e}")))
}

/// How much of an oversized body is read and thrown away before the 413
/// goes out, and for how long: a client that is still sending when the
/// answer comes sees a reset stream (HTTP/2) or a broken pipe (HTTP/1.1)
/// instead of the answer. Past these bounds the connection is cut.
const MAX_DRAIN_BYTES: u64 = 8 << 20;
const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The body, refused with 413 beyond `MAX_BODY_BYTES` (by its declared
/// length before keeping any of it, or while reading).
pub async fn body_bytes(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, AppError> {
    use http_body_util::BodyExt;
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        if declared.is_some_and(|n| n <= MAX_DRAIN_BYTES) {
            drain(body, 0).await;
        }
        return Err(too_large());
    }
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map(|f| f.into_data()) else {
            return Err(AppError::bad_request("the request body could not be read"));
        };
        let Ok(data) = data else { continue };
        if kept.len() + data.len() > MAX_BODY_BYTES {
            drain(body, (kept.len() + data.len()) as u64).await;
            return Err(too_large());
        }
        kept.extend_from_slice(&data);
    }
    Ok(kept.into())
}

/// Reads and discards the rest of `body`, within the drain bounds.
async fn drain(mut body: Body, mut read: u64) {
    use http_body_util::BodyExt;
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, async {
        while read <= MAX_DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => break,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("ééé", 3), "é…");
    }

    #[test]
    fn bearer_needs_the_scheme_and_a_bounded_value() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "abc");
        let big = format!("Bearer {}", "a".repeat(MAX_BEARER_BYTES + 1));
        h.insert(header::AUTHORIZATION, big.parse().unwrap());
        assert!(bearer(&h).unwrap_err().message.contains("larger"));
    }
}
