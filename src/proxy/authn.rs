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
        ReviewError::Revoked => Refusal::unauthorized(format!("session revoked: {login}")),
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
    use http::HeaderValue;

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
