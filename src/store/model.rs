//! What the store holds: sessions, the credentials issued in them, and the
//! changes that move them. Backends persist exactly these values; the
//! broker and the proxy read them through [`super::Store`].

use super::revocation::{Revocation, RevokedBy};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// One session: a login at a cluster, up to `max-session` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub cluster: String,
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub email: Option<String>,
    pub reason: Option<String>,
    pub started_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// Who revoked it; `None` while live, and for revocations stored
    /// before brokers kept it.
    pub revoked_by: Option<RevokedBy>,
    /// Set when the session runs on a grant that needs approval or break
    /// glass: continuing it re-checks that grant, not the plain policy.
    pub elevation: Option<Elevation>,
}

/// How a session got a privileged grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Elevation {
    pub grant: String,
    /// The approved access request it used; `None` for break glass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default)]
    pub break_glass: bool,
}

impl Session {
    /// Neither revoked nor past its end at `now`.
    pub fn live_at(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// SHA-256 of a bearer token: the key under which it is stored, so a copy
/// of the state cannot be replayed against a cluster.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// First 12 hex digits: enough to find a token's audit records, useless
    /// to an attacker.
    pub fn prefix(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({}…)", self.prefix())
    }
}

/// How an issued credential is found again: a bearer token by its hash, a
/// client certificate by its serial (lower-case hex, as in the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialKey {
    Token(TokenHash),
    Certificate(String),
}

/// What an issued credential stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEntry {
    pub session_id: String,
    pub username: String,
    /// The IdP subject, as TokenReview's `uid`.
    pub uid: String,
    pub groups: Vec<String>,
    pub expires_at: OffsetDateTime,
}

/// One durable change. A backend commits a batch of them in one
/// transaction; on a shared backend every replica applies them to its
/// cache in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Session(Session),
    Credential(CredentialKey, CredentialEntry),
    Revoke {
        session_id: String,
        at: OffsetDateTime,
        /// `None` only from a replica too old to say.
        by: Option<RevokedBy>,
    },
    /// A new access request (`version` 1) or the next version of one.
    Request(super::requests::AccessRequest),
    /// Drops credentials past their end and sessions past
    /// [`SESSION_GRACE`].
    Prune(OffsetDateTime),
}

/// Everything live, to fill a cache: at start, and after a shared
/// backend's change feed was lost and came back.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sessions: Vec<Session>,
    pub credentials: Vec<(CredentialKey, CredentialEntry)>,
    /// Requests not yet final, and final ones until [`SESSION_GRACE`]
    /// after they expire.
    pub requests: Vec<super::requests::AccessRequest>,
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("unknown token")]
    Unknown,
    #[error("token expired")]
    Expired,
    /// Who and when, for the refusal's message; TokenReview's `error`
    /// stays the short text.
    #[error("session revoked")]
    Revoked(Box<Revocation>),
    #[error("session expired")]
    SessionExpired,
    /// The shared state could not be confirmed fresh enough to answer
    /// (database unreachable for longer than the allowed staleness).
    #[error("the broker's state is unavailable; refusing rather than answering from stale state")]
    Unavailable,
}

/// A credential that passed review.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub token: CredentialEntry,
    pub reason: Option<String>,
    /// The cluster the credential was issued for.
    pub cluster: String,
    pub elevation: Option<Elevation>,
}

/// Keep ended sessions this long so a late continue hears "expired", not
/// "unknown".
pub const SESSION_GRACE: time::Duration = time::Duration::days(1);

/// Now, in whole seconds: the precision the databases keep, so a session
/// reads the same before and after a restart.
pub fn now_secs() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}
