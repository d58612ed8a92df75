//! The headers the proxy sends on: the person as kube-apiserver's
//! impersonation filter reads them (`Impersonate-User`, one
//! `Impersonate-Group` per group, `Impersonate-Extra-<key>` per extra
//! value), and the refusal of any `Impersonate-*` a client sends itself:
//! honouring or rewriting one would let a client choose who it is.

use crate::protocol::{EXTRA_REASON, EXTRA_REQUEST_ID, EXTRA_SESSION_ID};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub const USER: &str = "impersonate-user";
pub const GROUP: &str = "impersonate-group";
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

/// client-go's `headerKeyEscape`: `%XX` for every byte that is not an
/// RFC 7230 token character, and for `%` itself (the apiserver
/// path-unescapes the key). Non-ASCII bytes are always escaped.
const NOT_TOKEN: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'(')
    .add(b')')
    .add(b',')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'%');

/// `Impersonate-Extra-<key>` for `key` (lower-cased: the apiserver
/// lower-cases the header suffix before unescaping).
pub fn extra_header(key: &str) -> HeaderName {
    let escaped = utf8_percent_encode(&key.to_ascii_lowercase(), NOT_TOKEN).to_string();
    // Every byte left is a token byte, so this is a valid header name.
    HeaderName::from_bytes(format!("{EXTRA_PREFIX}{escaped}").as_bytes())
        .unwrap_or_else(|_| HeaderName::from_static("impersonate-extra-invalid"))
}

/// A header value for `text`: visible ASCII as is; other UTF-8 bytes are
/// allowed on the wire (obs-text) and read back verbatim by Go's net/http.
fn value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// The first `Impersonate-*` header a client sent, if any.
pub fn requested(headers: &HeaderMap) -> Option<&HeaderName> {
    headers
        .keys()
        .find(|name| name.as_str().starts_with("impersonate-"))
}

/// Who the forwarded request is made as.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub username: &'a str,
    pub groups: &'a [String],
    pub session_id: &'a str,
    pub reason: Option<&'a str>,
    /// The approved access request an elevated session runs on.
    pub request_id: Option<&'a str>,
}

/// Drops the client's credential and adds the impersonation headers.
/// `None` if a value cannot be a header (then nothing may be forwarded).
/// `X-Remote-*` (the apiserver's request-header authentication) goes too:
/// an apiserver that trusted the proxy's client certificate as a front
/// proxy would otherwise take a client's `X-Remote-User` as its identity.
pub fn apply(headers: &mut HeaderMap, who: &Person<'_>) -> Option<()> {
    headers.remove(header::AUTHORIZATION);
    let remote: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-remote-"))
        .cloned()
        .collect();
    for name in remote {
        headers.remove(name);
    }
    headers.insert(HeaderName::from_static(USER), value(who.username)?);
    for g in who.groups {
        headers.append(HeaderName::from_static(GROUP), value(g)?);
    }
    headers.insert(extra_header(EXTRA_SESSION_ID), value(who.session_id)?);
    if let Some(reason) = who.reason {
        headers.insert(extra_header(EXTRA_REASON), value(reason)?);
    }
    if let Some(id) = who.request_id {
        headers.insert(extra_header(EXTRA_REQUEST_ID), value(id)?);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_escaped_as_client_go_escapes_them() {
        assert_eq!(
            extra_header("kaccess.io/session-id").as_str(),
            "impersonate-extra-kaccess.io%2fsession-id".to_ascii_lowercase()
        );
        // HeaderName lower-cases, so compare the escape itself directly.
        let raw = utf8_percent_encode("acme.com/Project 100%", NOT_TOKEN).to_string();
        assert_eq!(raw, "acme.com%2FProject%20100%25");
        assert_eq!(
            utf8_percent_encode("a!#$&'*+-.^_`|~z", NOT_TOKEN).to_string(),
            "a!#$&'*+-.^_`|~z"
        );
    }

    #[test]
    fn the_clients_credential_goes_and_the_person_comes() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        h.insert("X-Remote-User", HeaderValue::from_static("admin"));
        h.insert("X-Remote-Group", HeaderValue::from_static("system:masters"));
        let groups = vec!["kaccess:prod:sre".to_string(), "oncall".to_string()];
        let who = Person {
            username: "alice@example.com",
            groups: &groups,
            session_id: "s-1",
            reason: Some("INC-1 disk full"),
            request_id: Some("prod:0123456789abcdef"),
        };
        apply(&mut h, &who).unwrap();
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert!(!h.contains_key("x-remote-user") && !h.contains_key("x-remote-group"));
        assert_eq!(h[USER], "alice@example.com");
        let got: Vec<_> = h.get_all(GROUP).iter().collect();
        assert_eq!(got, ["kaccess:prod:sre", "oncall"]);
        assert_eq!(h["impersonate-extra-kaccess.io%2fsession-id"], "s-1");
        assert_eq!(
            h["impersonate-extra-kaccess.io%2frequest-id"],
            "prod:0123456789abcdef"
        );
        assert_eq!(
            h["impersonate-extra-kaccess.io%2freason"],
            "INC-1 disk full"
        );
    }

    #[test]
    fn any_impersonate_header_from_a_client_is_found() {
        let mut h = HeaderMap::new();
        assert!(requested(&h).is_none());
        h.insert("Impersonate-Uid", HeaderValue::from_static("1"));
        assert_eq!(requested(&h).unwrap().as_str(), "impersonate-uid");
    }
}
