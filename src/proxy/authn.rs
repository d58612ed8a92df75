//! Who is asking: the session's client certificate (verified against the
//! cluster's kaccess CA in the handshake, then found by serial in the
//! store) or the session's bearer token (found by hash). Exactly one of
//! them: both together are refused rather than one chosen silently, and
//! anything else (no credential, another scheme) is refused too. Each
//! refusal says what to run.

use super::status::Refusal;
use crate::store::{ReviewError, Reviewed, Store, TokenHash};
use http::{HeaderMap, header};
use time::OffsetDateTime;

/// The credential a request came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// Serial of the verified client certificate (lower-case hex).
    Certificate(String),
    Token(TokenHash),
}

/// A request's authenticated person.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub reviewed: Reviewed,
    pub presented: Presented,
}

/// The serial of a verified peer certificate, as `ClusterCa::sign`
/// writes it.
pub fn serial_of(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    Some(hex::encode(cert.raw_serial()))
}

/// Which credential `headers` and the connection's `serial` present.
pub fn presented(
    serial: Option<&str>,
    headers: &HeaderMap,
    cluster: &str,
) -> Result<Presented, Refusal> {
    let login = format!("run `kaccess login {cluster}`");
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let text = v.to_str().unwrap_or_default().trim();
            let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
            let token = token.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
                return Err(Refusal::unauthorized(format!(
                    "kaccess proxy: only a kaccess session's certificate or bearer token is accepted here: {login}"
                )));
            }
            Some(token)
        }
    };
    match (serial, bearer) {
        (Some(_), Some(_)) => Err(Refusal::unauthorized(format!(
            "kaccess proxy: a client certificate and a bearer token together are refused; send one: {login}"
        ))),
        (Some(s), None) => Ok(Presented::Certificate(s.to_string())),
        (None, Some(t)) => Ok(Presented::Token(TokenHash::of(t))),
        (None, None) => Err(Refusal::unauthorized(format!(
            "kaccess proxy: no credential; {login}"
        ))),
    }
}

/// Looks the credential up: live session, live credential, this cluster.
pub async fn authenticate(
    store: &Store,
    presented: Presented,
    cluster: &str,
    now: OffsetDateTime,
) -> Result<Authenticated, Refusal> {
    let found = match &presented {
        Presented::Certificate(serial) => store.certificate(serial, now).await,
        Presented::Token(hash) => store.review(hash, now).await,
    };
    let login = format!("run `kaccess login {cluster}`");
    let reviewed = found.map_err(|e| match e {
        ReviewError::Revoked(revocation) => {
            Refusal::unauthorized(format!("{}: {login}", revocation.sentence("session", now)))
        }
        ReviewError::SessionExpired => Refusal::unauthorized(format!("session ended: {login}")),
        ReviewError::Expired => Refusal::unauthorized(format!(
            "kaccess credential expired: {login}, or let the exec plugin renew it"
        )),
        ReviewError::Unknown => Refusal::unauthorized(format!(
            "kaccess proxy: this credential belongs to no kaccess session: {login}"
        )),
        ReviewError::Unavailable => {
            Refusal::unavailable("kaccess proxy: the broker's state is unavailable; retry shortly")
        }
    })?;
    if reviewed.cluster != cluster {
        return Err(Refusal::unauthorized(format!(
            "kaccess proxy: this credential is for cluster `{}`, not `{cluster}`: {login}",
            reviewed.cluster
        )));
    }
    Ok(Authenticated {
        reviewed,
        presented,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CredentialEntry, CredentialKey, now_secs};
    use http::HeaderValue;

    /// A credential of `session` valid for ten more minutes.
    fn entry_of(
        session: &crate::store::Session,
        groups: Vec<String>,
        now: time::OffsetDateTime,
    ) -> CredentialEntry {
        CredentialEntry {
            session_id: session.id.clone(),
            username: session.username.clone(),
            uid: "alice".into(),
            groups,
            expires_at: now + time::Duration::minutes(10),
        }
    }

    #[tokio::test]
    async fn a_live_credential_of_this_cluster_passes_others_say_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("state.db")).unwrap();
        let now = now_secs();
        let session = crate::proxy::test_session();
        let entry = entry_of(&session, vec!["kaccess:prod:sre".into()], now);
        let key = CredentialKey::Certificate("4abc".into());
        store
            .add(Some(session.clone()), Some((key, entry)))
            .await
            .unwrap();
        let cert = || Presented::Certificate("4abc".into());

        let ok = authenticate(&store, cert(), "prod", now).await.unwrap();
        assert_eq!(ok.reviewed.token.username, "alice@example.com");
        let other = authenticate(&store, cert(), "dev", now).await.unwrap_err();
        assert!(
            other.message.contains("for cluster `prod`, not `dev`"),
            "{}",
            other.message
        );
        let unknown = authenticate(&store, Presented::Certificate("ff".into()), "prod", now)
            .await
            .unwrap_err();
        assert!(unknown.message.contains("belongs to no kaccess session"));
        let later = now + time::Duration::minutes(11);
        let expired = authenticate(&store, cert(), "prod", later)
            .await
            .unwrap_err();
        assert!(
            expired.message.contains("credential expired"),
            "{}",
            expired.message
        );
        let at = time::macros::datetime!(2026-05-01 12:03:30 UTC);
        let bob = crate::store::RevokedBy::Admin("bob".into());
        store.revoke(&session.id, at, bob).await.unwrap();
        let revoked = authenticate(&store, cert(), "prod", now).await.unwrap_err();
        assert_eq!(revoked.code, http::StatusCode::UNAUTHORIZED);
        let later_that_day = at + time::Duration::hours(2);
        let that_day = authenticate(&store, cert(), "prod", later_that_day)
            .await
            .unwrap_err();
        assert_eq!(
            that_day.message,
            "session revoked by bob at 12:03 UTC: run `kaccess login prod`"
        );
        let next_day = at + time::Duration::days(1);
        let next_day = authenticate(&store, cert(), "prod", next_day)
            .await
            .unwrap_err();
        assert_eq!(
            next_day.message,
            "session revoked by bob at 2026-05-01 12:03 UTC: run `kaccess login prod`"
        );
    }

    #[tokio::test]
    async fn a_logged_out_session_is_refused_saying_its_owner_logged_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("state.db")).unwrap();
        let now = now_secs();
        let session = crate::proxy::test_session();
        let entry = entry_of(&session, vec![], now);
        let token = Presented::Token(TokenHash::of("t"));
        let key = CredentialKey::Token(TokenHash::of("t"));
        store
            .add(Some(session.clone()), Some((key, entry)))
            .await
            .unwrap();
        let by = crate::store::RevokedBy::Logout;
        store.revoke(&session.id, now, by).await.unwrap();
        let refused = authenticate(&store, token, "prod", now).await.unwrap_err();
        assert_eq!(
            refused.message,
            format!(
                "session ended when you (alice@example.com) logged out at {}: run `kaccess login prod`",
                crate::store::revocation::short_time(now, now)
            )
        );
    }

    fn auth(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn exactly_one_kaccess_credential_is_accepted() {
        let none = HeaderMap::new();
        assert_eq!(
            presented(Some("ab"), &none, "prod"),
            Ok(Presented::Certificate("ab".into()))
        );
        assert_eq!(
            presented(None, &auth("Bearer t"), "prod"),
            Ok(Presented::Token(TokenHash::of("t")))
        );
        let both = presented(Some("ab"), &auth("Bearer t"), "prod").unwrap_err();
        assert!(
            both.message.contains("together are refused"),
            "{}",
            both.message
        );
        let neither = presented(None, &none, "prod").unwrap_err();
        assert!(
            neither.message.contains("kaccess login prod"),
            "{}",
            neither.message
        );
        for other in ["Basic YTpi", "Bearer", "Bearer a b"] {
            let e = presented(None, &auth(other), "prod").unwrap_err();
            assert_eq!(e.code, http::StatusCode::UNAUTHORIZED, "{other}");
        }
    }
}
