//! The in-memory index of live state: one hash-map probe per review or
//! session lookup, no scans on a hot path. Every change, local or from
//! another replica, goes through [`Cache::apply`], so both paths agree.

use super::model::TokenHash;
use super::model::{Change, CredentialEntry, CredentialKey, SESSION_GRACE, Session, Snapshot};
use super::requests::AccessRequest;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Cache {
    pub(super) sessions: HashMap<String, Session>,
    pub(super) tokens: HashMap<TokenHash, CredentialEntry>,
    pub(super) certificates: HashMap<String, CredentialEntry>,
    pub(super) requests: HashMap<String, AccessRequest>,
}

impl Cache {
    pub(super) fn from_snapshot(snapshot: Snapshot) -> Cache {
        let mut cache = Cache::default();
        for s in snapshot.sessions {
            cache.sessions.insert(s.id.clone(), s);
        }
        for (key, entry) in snapshot.credentials {
            cache.insert_credential(key, entry);
        }
        for r in snapshot.requests {
            cache.requests.insert(r.id.clone(), r);
        }
        cache
    }

    pub(super) fn insert_credential(&mut self, key: CredentialKey, entry: CredentialEntry) {
        match key {
            CredentialKey::Token(h) => {
                self.tokens.insert(h, entry);
            }
            CredentialKey::Certificate(serial) => {
                self.certificates.insert(serial, entry);
            }
        }
    }

    pub(super) fn credential(&self, key: &CredentialKey) -> Option<&CredentialEntry> {
        match key {
            CredentialKey::Token(h) => self.tokens.get(h),
            CredentialKey::Certificate(serial) => self.certificates.get(serial),
        }
    }

    pub(super) fn remove_credential(&mut self, key: &CredentialKey) {
        match key {
            CredentialKey::Token(h) => {
                self.tokens.remove(h);
            }
            CredentialKey::Certificate(serial) => {
                self.certificates.remove(serial);
            }
        }
    }

    /// Applies one change; returns the session id a revocation newly
    /// revoked (for the store's revocation broadcast).
    pub(super) fn apply(&mut self, change: &Change) -> Option<String> {
        match change {
            Change::Session(s) => {
                // A revocation may have arrived first (another replica's
                // feed): never un-revoke.
                let mut s = s.clone();
                if s.revoked_at.is_none()
                    && let Some(old) = self.sessions.get(&s.id)
                {
                    s.revoked_at = old.revoked_at;
                    s.revoked_by = old.revoked_by.clone();
                }
                self.sessions.insert(s.id.clone(), s);
                None
            }
            Change::Credential(key, entry) => {
                self.insert_credential(key.clone(), entry.clone());
                None
            }
            Change::Request(r) => {
                // Versions only move forward, whichever order the feed
                // delivers them in.
                if self
                    .requests
                    .get(&r.id)
                    .is_none_or(|old| old.version < r.version)
                {
                    self.requests.insert(r.id.clone(), r.clone());
                }
                None
            }
            Change::Revoke { session_id, at, by } => match self.sessions.get_mut(session_id) {
                Some(s) if s.revoked_at.is_none() => {
                    s.revoked_at = Some(*at);
                    s.revoked_by = by.clone();
                    Some(session_id.clone())
                }
                _ => None,
            },
            Change::Prune(now) => {
                self.tokens.retain(|_, t| t.expires_at > *now);
                self.certificates.retain(|_, t| t.expires_at > *now);
                self.sessions
                    .retain(|_, s| s.expires_at + SESSION_GRACE > *now);
                self.requests
                    .retain(|_, r| r.expires_at + SESSION_GRACE > *now);
                None
            }
        }
    }
}
