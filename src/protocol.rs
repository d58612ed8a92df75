//! Wire types shared by the client (`exchange`) and the broker (`broker`),
//! plus kube-apiserver's TokenReview shapes. JSON, snake_case, `None` fields
//! left out. Every broker error body is [`ErrorBody`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub const EXCHANGE_PATH: &str = "/v1/exchange";
pub const TOKENREVIEW_PATH: &str = "/v1/tokenreview";
pub const HEALTHZ_PATH: &str = "/healthz";
pub const METRICS_PATH: &str = "/metrics";

/// `/v1/sessions/{id}/revoke`.
pub fn revoke_path(session_id: &str) -> String {
    format!("/v1/sessions/{session_id}/revoke")
}

/// Largest request body the broker reads; an ID token plus a CSR fit many
/// times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest `Authorization` bearer value the broker accepts.
pub const MAX_BEARER_BYTES: usize = 16 * 1024;

/// What the client asks the broker to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// X.509 client certificate for a key made on the user's machine.
    #[default]
    Certificate,
    /// Opaque bearer token checked through the TokenReview webhook.
    Token,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Certificate => "certificate",
            CredentialKind::Token => "token",
        }
    }
}

impl From<crate::cli::CredentialChoice> for CredentialKind {
    fn from(c: crate::cli::CredentialChoice) -> Self {
        match c {
            crate::cli::CredentialChoice::Certificate => CredentialKind::Certificate,
            crate::cli::CredentialChoice::Token => CredentialKind::Token,
        }
    }
}

/// `POST /v1/exchange` body. The ID token travels in `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    pub cluster: String,
    pub credential: CredentialKind,
    /// PEM CSR; required for `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// Why the user needs access (ticket, incident). Required where policy says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Continue this session instead of starting one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Wanted credential lifetime; clamped to the cluster's `credential-ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// Wanted session length for a new session; clamped to `max-session`.
    /// Below [`MIN_SESSION_SECONDS`] it is refused, never lengthened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl_seconds: Option<u64>,
    /// A new session on this named grant: one that needs approval (an
    /// approved request of the caller's is used) or break glass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// Take the named break-glass grant (needs a reason).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// The shortest session a broker grants. A shorter ask is refused (at the
/// client first) rather than silently lengthened: a session must never be
/// longer than its user asked.
pub const MIN_SESSION_SECONDS: u64 = 60;

/// Why a wanted session length cannot be granted as asked, for the client
/// and the broker to say alike.
pub fn check_session_length(wanted: std::time::Duration) -> Result<(), String> {
    if wanted.as_secs() < MIN_SESSION_SECONDS {
        Err(format!(
            "a session of {} is shorter than the shortest a broker grants (1m); ask for 1m or more",
            crate::units::format_duration(wanted)
        ))
    } else {
        Ok(())
    }
}

/// `POST /v1/exchange` success body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeResponse {
    pub session_id: String,
    pub username: String,
    pub groups: Vec<String>,
    /// PEM certificate (leaf only), for `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Bearer token, for `token`. Shown once; the broker keeps only its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub session_expires_at: OffsetDateTime,
    /// Namespaces the grant allows (`["*"]` for cluster-wide), for display.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// The approved access request this elevated session used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `POST /v1/sessions/{id}/revoke` success body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeResponse {
    pub session_id: String,
    /// False when the session was already revoked (a replay); still 200.
    pub revoked: bool,
}

/// The reason `kaccess logout` gives when it revokes its own session: the
/// broker then stores the revocation as a logout, and later refusals of the
/// session say "logged out". Any other owner's reason (or none) is a plain
/// revocation by the owner. Brokers that predate it just audit it.
pub const LOGOUT_REASON: &str = "logout";

/// `POST /v1/sessions/{id}/revoke` body. Optional for the session's owner;
/// an admin revoking someone else's session must say why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /v1/sessions`: live sessions. The caller's own, or for a broker
/// admin everyone's, narrowed by the `cluster` and `username` query
/// parameters.
pub const SESSIONS_PATH: &str = "/v1/sessions";

/// `GET /v1/audit/watch?cluster=&user=&verb=`: the live audit feed, as
/// newline-delimited JSON, one [`WatchFrame`] a line, until the client
/// goes away or the broker stops.
pub const AUDIT_WATCH_PATH: &str = "/v1/audit/watch";

/// The feed's filter; every given key must match (see
/// `audit::fields`: `user` is who acted, `verb` a proxied request's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
}

/// One line of the feed: `{"record": {...}}` (the chain's own line),
/// `{"missed": N}` (the watcher fell behind and N records passed unseen),
/// `{"ended": "why"}` (the broker is stopping), or `{}` (a keep-alive, at
/// least every [`WATCH_KEEPALIVE`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

/// Longest silence on the feed; a client that hears nothing for a few of
/// these counts the broker as gone.
pub const WATCH_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `POST` files an access request; `GET` lists them.
pub const REQUESTS_PATH: &str = "/v1/requests";

/// `GET` one request; `POST` with `/approve`, `/deny` or `/cancel`.
pub fn request_path(id: &str, action: Option<&str>) -> String {
    match action {
        Some(a) => format!("{REQUESTS_PATH}/{id}/{a}"),
        None => format!("{REQUESTS_PATH}/{id}"),
    }
}

/// Most requests one listing returns.
pub const MAX_LISTED_REQUESTS: usize = 500;

/// `POST /v1/requests` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    pub cluster: String,
    pub grant: String,
    pub reason: String,
    /// Default: the grant's `max-duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
}

/// Body of `approve`, `deny` and `cancel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDecision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One approver's decision, as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionInfo {
    pub by: String,
    pub reason: String,
    pub at: String,
}

/// An access request as the broker shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequestInfo {
    pub id: String,
    /// `pending`, `approved`, `denied`, `cancelled`, `lapsed` or `used`.
    pub state: String,
    pub cluster: String,
    pub grant: String,
    pub requester: String,
    pub reason: String,
    pub duration_seconds: u64,
    pub created_at: String,
    pub expires_at: String,
    pub approvals: Vec<DecisionInfo>,
    pub approvals_needed: u32,
    /// Who may decide: the grant's `approver-groups`.
    pub approver_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<DecisionInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequestList {
    pub requests: Vec<AccessRequestInfo>,
    /// More matched than `MAX_LISTED_REQUESTS`.
    #[serde(default)]
    pub truncated: bool,
}

/// Most sessions one listing returns.
pub const MAX_LISTED_SESSIONS: usize = 1000;

/// One live session as the broker lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub cluster: String,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339: no credential after this.
    pub expires_at: String,
}

/// `GET /v1/sessions` success body, newest session first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    /// More matched than [`MAX_LISTED_SESSIONS`]; narrow the query.
    pub truncated: bool,
}

/// Machine-readable error codes. The client maps them to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    PayloadTooLarge,
    /// No, malformed, or unverifiable ID token.
    Unauthenticated,
    /// Token verified but has no acceptable MFA claim, or auth_time too old.
    MfaRequired,
    ReasonRequired,
    /// Policy grants nothing to this user on this cluster.
    Forbidden,
    UnknownCluster,
    UnknownSession,
    SessionExpired,
    SessionRevoked,
    /// Session belongs to another subject.
    SessionNotYours,
    BadCsr,
    /// The audit log cannot be written: the broker fails closed.
    AuditUnavailable,
    /// The shared state database is unreachable: the broker fails closed.
    StateUnavailable,
    /// The broker cannot reach the IdP for its keys (discovery or JWKS).
    IdpUnavailable,
    /// The grant needs an approved access request, and the caller has none.
    ApprovalRequired,
    UnknownRequest,
    /// The request is no longer open to this decision (decided, lapsed,
    /// used, or changed meanwhile).
    RequestClosed,
    Internal,
}

/// Body of every broker error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

/// kube-apiserver's TokenReview (`authentication.k8s.io/v1` and `v1beta1`
/// share this shape). The broker answers in the `apiVersion` it was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenReview {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    pub spec: TokenReviewSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenReviewStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenReviewSpec {
    #[serde(default)]
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TokenReviewStatus {
    // kube-apiserver (Go, `omitempty`) sends `"status":{"user":{}}` in
    // every review request: both fields may be absent.
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// `user.extra` keys the broker sets on reviewed tokens.
pub const EXTRA_SESSION_ID: &str = "kaccess.io/session-id";
pub const EXTRA_REASON: &str = "kaccess.io/reason";
/// The approved access request an elevated session runs on.
pub const EXTRA_REQUEST_ID: &str = "kaccess.io/request-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_request_refuses_unknown_fields() {
        let err = serde_json::from_str::<ExchangeRequest>(
            r#"{"cluster":"prod","credential":"token","groups":["system:masters"]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `groups`"), "{err}");
    }

    #[test]
    fn token_review_reads_the_request_kube_apiserver_sends() {
        let review: TokenReview = serde_json::from_str(
            r#"{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"token":"t"},"status":{"user":{}}}"#,
        )
        .unwrap();
        assert_eq!(review.spec.token, "t");
    }

    #[test]
    fn error_codes_are_snake_case_on_the_wire() {
        let body = ErrorBody {
            error: ErrorCode::MfaRequired,
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":"mfa_required","message":"x"}"#
        );
    }
}
