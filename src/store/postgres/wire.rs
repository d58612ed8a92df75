//! The NOTIFY payload: one committed [`Change`] as JSON, tagged with the
//! replica that wrote it so a replica skips its own. PostgreSQL caps a
//! payload below 8000 bytes; a change too big for that (a session with a
//! long reason, a credential with many groups) is sent as its key only,
//! and the receiving replica reads the row. Fields added later are
//! optional, so replicas of the previous release and this one read each
//! other's payloads during a rolling upgrade.

use super::super::model::{Change, CredentialEntry, CredentialKey, Elevation, Session, TokenHash};
use super::super::requests::AccessRequest;
use super::super::revocation::RevokedBy;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The channel every replica LISTENs on.
pub const CHANNEL: &str = "kaccess_changes";

/// Payloads above this are sent as a key (PostgreSQL's limit is 8000).
const MAX_PAYLOAD: usize = 7000;

/// What a notification says.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Change(Box<Change>),
    /// Read the session from the database.
    Session(String),
    /// Read the credential from the database.
    Credential(CredentialKey),
    /// Read the access request from the database.
    Request(String),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The writing replica.
    r: String,
    #[serde(flatten)]
    body: Body,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "kebab-case")]
enum Body {
    Session {
        id: String,
        cluster: String,
        issuer: String,
        subject: String,
        username: String,
        email: Option<String>,
        reason: Option<String>,
        started_at: i64,
        expires_at: i64,
        revoked_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        elevation: Option<Elevation>,
        /// [`RevokedBy::stored`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revoked_by: Option<String>,
    },
    Request {
        request: Box<AccessRequest>,
    },
    RequestRef {
        id: String,
    },
    Credential {
        key: Key,
        session_id: String,
        username: String,
        uid: String,
        groups: Vec<String>,
        expires_at: i64,
    },
    Revoke {
        id: String,
        at: i64,
        /// [`RevokedBy::stored`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    SessionRef {
        id: String,
    },
    CredentialRef {
        key: Key,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Key {
    /// Hex of the SHA-256.
    Token(String),
    Certificate(String),
}

impl Key {
    fn of(key: &CredentialKey) -> Key {
        match key {
            CredentialKey::Token(h) => Key::Token(hex::encode(h.0)),
            CredentialKey::Certificate(s) => Key::Certificate(s.clone()),
        }
    }

    fn into_key(self) -> Option<CredentialKey> {
        match self {
            Key::Token(h) => {
                let bytes = hex::decode(h).ok()?;
                Some(CredentialKey::Token(TokenHash(bytes.try_into().ok()?)))
            }
            Key::Certificate(s) => Some(CredentialKey::Certificate(s)),
        }
    }
}

/// The payload announcing `change` from `replica`; `None` for changes the
/// other replicas need not hear (a prune: each prunes its own cache).
pub fn encode(replica: &str, change: &Change) -> Option<String> {
    let body = match change {
        Change::Session(s) => Body::Session {
            id: s.id.clone(),
            cluster: s.cluster.clone(),
            issuer: s.issuer.clone(),
            subject: s.subject.clone(),
            username: s.username.clone(),
            email: s.email.clone(),
            reason: s.reason.clone(),
            started_at: s.started_at.unix_timestamp(),
            expires_at: s.expires_at.unix_timestamp(),
            revoked_at: s.revoked_at.map(OffsetDateTime::unix_timestamp),
            elevation: s.elevation.clone(),
            revoked_by: s.revoked_by.as_ref().map(RevokedBy::stored),
        },
        Change::Request(r) => Body::Request {
            request: Box::new(r.clone()),
        },
        Change::Credential(key, e) => Body::Credential {
            key: Key::of(key),
            session_id: e.session_id.clone(),
            username: e.username.clone(),
            uid: e.uid.clone(),
            groups: e.groups.clone(),
            expires_at: e.expires_at.unix_timestamp(),
        },
        Change::Revoke { session_id, at, by } => Body::Revoke {
            id: session_id.clone(),
            at: at.unix_timestamp(),
            by: by.as_ref().map(RevokedBy::stored),
        },
        Change::Prune(_) => return None,
    };
    let full = to_json(replica, body);
    if full.len() <= MAX_PAYLOAD {
        return Some(full);
    }
    let reference = match change {
        Change::Session(s) => Body::SessionRef { id: s.id.clone() },
        Change::Credential(key, _) => Body::CredentialRef { key: Key::of(key) },
        Change::Request(r) => Body::RequestRef { id: r.id.clone() },
        // A revocation is small: never here.
        _ => return Some(full),
    };
    Some(to_json(replica, reference))
}

fn to_json(replica: &str, body: Body) -> String {
    serde_json::to_string(&Envelope {
        r: replica.to_string(),
        body,
    })
    .unwrap_or_default()
}

/// (writing replica, what it wrote); `None` for a payload this broker
/// cannot read (a newer broker's): the caller resynchronises.
pub fn decode(payload: &str) -> Option<(String, Notice)> {
    let env: Envelope = serde_json::from_str(payload).ok()?;
    let t = |s: i64| OffsetDateTime::from_unix_timestamp(s).ok();
    let notice = match env.body {
        Body::Session {
            id,
            cluster,
            issuer,
            subject,
            username,
            email,
            reason,
            started_at,
            expires_at,
            revoked_at,
            elevation,
            revoked_by,
        } => Notice::Change(Box::new(Change::Session(Session {
            id,
            cluster,
            issuer,
            subject,
            username,
            email,
            reason,
            started_at: t(started_at)?,
            expires_at: t(expires_at)?,
            revoked_at: match revoked_at {
                Some(at) => Some(t(at)?),
                None => None,
            },
            revoked_by: revoked_by.as_deref().and_then(RevokedBy::from_stored),
            elevation,
        }))),
        Body::Request { request } => Notice::Change(Box::new(Change::Request(*request))),
        Body::RequestRef { id } => Notice::Request(id),
        Body::Credential {
            key,
            session_id,
            username,
            uid,
            groups,
            expires_at,
        } => Notice::Change(Box::new(Change::Credential(
            key.into_key()?,
            CredentialEntry {
                session_id,
                username,
                uid,
                groups,
                expires_at: t(expires_at)?,
            },
        ))),
        Body::Revoke { id, at, by } => Notice::Change(Box::new(Change::Revoke {
            session_id: id,
            at: t(at)?,
            by: by.as_deref().and_then(RevokedBy::from_stored),
        })),
        Body::SessionRef { id } => Notice::Session(id),
        Body::CredentialRef { key } => Notice::Credential(key.into_key()?),
    };
    Some((env.r, notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(reason: &str) -> Session {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        Session {
            id: "s1".into(),
            cluster: "prod".into(),
            issuer: "https://idp".into(),
            subject: "alice".into(),
            username: "alice@example.com".into(),
            email: None,
            reason: Some(reason.into()),
            started_at: t,
            expires_at: t + time::Duration::hours(8),
            revoked_at: None,
            revoked_by: None,
            elevation: Some(Elevation {
                grant: "prod-admin".into(),
                request_id: Some("prod:0123456789abcdef".into()),
                break_glass: false,
            }),
        }
    }

    #[test]
    fn every_announced_change_round_trips_with_its_replica() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap();
        let changes = [
            Change::Session(session("INC-7")),
            Change::Credential(
                CredentialKey::Token(TokenHash([7; 32])),
                CredentialEntry {
                    session_id: "s1".into(),
                    username: "alice".into(),
                    uid: "alice".into(),
                    groups: vec!["kaccess:prod:sre".into()],
                    expires_at: t,
                },
            ),
            Change::Revoke {
                session_id: "s1".into(),
                at: t,
                by: Some(RevokedBy::Admin("bob@example.com".into())),
            },
            Change::Session(Session {
                revoked_at: Some(t),
                revoked_by: Some(RevokedBy::Logout),
                ..session("INC-8")
            }),
        ];
        for change in changes {
            let payload = encode("r1", &change).unwrap();
            assert_eq!(
                decode(&payload),
                Some(("r1".into(), Notice::Change(Box::new(change))))
            );
        }
        assert_eq!(encode("r1", &Change::Prune(t)), None);
    }

    #[test]
    fn a_revocation_from_a_replica_that_does_not_say_who_is_still_read() {
        let older = r#"{"r":"r0","k":"revoke","id":"s1","at":1800000100}"#;
        assert_eq!(
            decode(older),
            Some((
                "r0".into(),
                Notice::Change(Box::new(Change::Revoke {
                    session_id: "s1".into(),
                    at: OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap(),
                    by: None,
                }))
            ))
        );
    }

    #[test]
    fn a_change_too_big_for_notify_is_sent_as_its_key() {
        let big = session(&"x".repeat(9000));
        let payload = encode("r1", &Change::Session(big)).unwrap();
        assert!(payload.len() < 8000);
        assert_eq!(
            decode(&payload),
            Some(("r1".into(), Notice::Session("s1".into())))
        );
    }
}
