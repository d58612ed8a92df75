//! Access requests: a user asks for a grant that needs another person's
//! approval; approvers approve or deny; an approved request is used once,
//! by one login, for a session no longer than was approved.
//!
//! A request changes by whole-record replacement with an optimistic
//! version: every update names the version it was read at, and a backend
//! refuses an update whose version is not the next one. Two approvers at
//! two replicas therefore cannot both count, and a request cannot be used
//! twice.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
    Cancelled,
    Lapsed,
    /// Approved, then taken by a login: its session carries the id.
    Used,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Lapsed => "lapsed",
            RequestState::Used => "used",
        }
    }

    /// No further decision can change it.
    pub fn is_final(self) -> bool {
        !matches!(self, RequestState::Pending | RequestState::Approved)
    }
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub by: String,
    /// `issuer` + `subject` of the approver: the identity that cannot be
    /// renamed by an email change.
    pub issuer: String,
    pub subject: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessRequest {
    /// `CLUSTER:HEX`: the cluster is part of the id so that a command
    /// given only the id knows which broker to ask.
    pub id: String,
    /// Starts at 1; each update adds one.
    pub version: u64,
    pub cluster: String,
    pub grant: String,
    pub requester: String,
    pub issuer: String,
    pub subject: String,
    pub reason: String,
    /// The elevation asked for, in seconds.
    pub duration_seconds: u64,
    pub state: RequestState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A pending request lapses then; an approved one can no longer be
    /// used then.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Decision>,
    /// The session a `used` request started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl AccessRequest {
    /// Past its `expires_at` while still open.
    pub fn lapsed_at(&self, now: OffsetDateTime) -> bool {
        !self.state.is_final() && now >= self.expires_at
    }

    /// The same request, one version on, changed by `edit`.
    pub fn next(&self, edit: impl FnOnce(&mut AccessRequest)) -> AccessRequest {
        let mut next = self.clone();
        next.version += 1;
        edit(&mut next);
        next
    }
}

/// Why a request update was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestConflict {
    #[error("access request `{0}` changed meanwhile; read it again and retry")]
    Stale(String),
    #[error("no access request `{0}`")]
    Unknown(String),
}
