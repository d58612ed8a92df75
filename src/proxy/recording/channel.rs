//! The Kubernetes channel protocol over WebSocket (`v5.channel.k8s.io`
//! down to `channel.k8s.io`): the first byte of every binary message is
//! its channel, both ways: 0 stdin, 1 stdout, 2 stderr, 3 error (the
//! exec's status), 4 resize, 255 close (v5). The `base64.` variants and
//! SPDY are not parsed, so such streams cannot be recorded.

use http::{HeaderMap, HeaderValue, header};

/// Subprotocols whose messages are `[channel] + payload`.
pub const RECORDABLE: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdin,
    Stdout,
    Stderr,
    Status,
    Resize,
}

/// The channel and payload of a binary message; `None` for a close
/// signal, an unknown channel or an empty message.
pub fn parse(data: &[u8]) -> Option<(Channel, &[u8])> {
    let (first, payload) = data.split_first()?;
    let ch = match first {
        0 => Channel::Stdin,
        1 => Channel::Stdout,
        2 => Channel::Stderr,
        3 => Channel::Status,
        4 => Channel::Resize,
        _ => return None,
    };
    Some((ch, payload))
}

pub fn is_recordable(protocol: &str) -> bool {
    RECORDABLE.contains(&protocol.trim())
}

fn offered(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Why an exec/attach request with these headers cannot be recorded;
/// `None` when it can.
pub fn unrecordable(headers: &HeaderMap, upgrade: bool) -> Option<String> {
    if !upgrade {
        return Some("it is not an upgraded (streaming) request".into());
    }
    let asked = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !asked.eq_ignore_ascii_case("websocket") {
        return Some(format!(
            "it asks for `{asked}`, and only WebSocket streams are parsed (SPDY is not)"
        ));
    }
    let protocols = offered(headers);
    if !protocols.iter().any(|p| is_recordable(p)) {
        return Some(format!(
            "it offers no channel protocol the proxy parses (offered: {}; parsed: {})",
            if protocols.is_empty() {
                "none".to_string()
            } else {
                protocols.join(", ")
            },
            RECORDABLE.join(", ")
        ));
    }
    None
}

/// Keeps only the offered subprotocols a recording can parse, so the
/// apiserver cannot pick another one (`record: required`).
pub fn offer_only_recordable(headers: &mut HeaderMap) {
    let keep: Vec<String> = offered(headers)
        .into_iter()
        .filter(|p| is_recordable(p))
        .collect();
    headers.remove(header::SEC_WEBSOCKET_PROTOCOL);
    if let Ok(v) = HeaderValue::from_str(&keep.join(", ")) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
}

/// The subprotocol the apiserver chose, when a recording can parse it.
pub fn negotiated(headers: &HeaderMap) -> Result<String, String> {
    let chosen = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    if is_recordable(chosen) {
        Ok(chosen.to_string())
    } else if chosen.is_empty() {
        Err("the API server chose no channel protocol".into())
    } else {
        Err(format!(
            "the API server chose `{chosen}`, which the proxy does not parse"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_first_byte_is_the_channel_and_close_signals_are_not_data() {
        assert_eq!(parse(b"\x00ls\n"), Some((Channel::Stdin, &b"ls\n"[..])));
        assert_eq!(parse(b"\x01out"), Some((Channel::Stdout, &b"out"[..])));
        assert_eq!(parse(b"\x02err"), Some((Channel::Stderr, &b"err"[..])));
        assert_eq!(parse(b"\x03{}"), Some((Channel::Status, &b"{}"[..])));
        assert_eq!(parse(b"\x04{}"), Some((Channel::Resize, &b"{}"[..])));
        assert_eq!(parse(b"\xff\x00"), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn websocket_with_a_channel_protocol_is_recordable_spdy_and_base64_are_not() {
        let ws = headers(&[
            ("upgrade", "websocket"),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io, v4.channel.k8s.io",
            ),
        ]);
        assert_eq!(unrecordable(&ws, true), None);
        let spdy = headers(&[("upgrade", "SPDY/3.1")]);
        assert!(unrecordable(&spdy, true).unwrap().contains("SPDY/3.1"));
        let b64 = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "base64.channel.k8s.io"),
        ]);
        assert!(
            unrecordable(&b64, true)
                .unwrap()
                .contains("base64.channel.k8s.io")
        );
        assert!(unrecordable(&ws, false).is_some());
    }

    #[test]
    fn only_recordable_protocols_are_offered_on_and_the_choice_is_checked() {
        let mut h = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "base64.channel.k8s.io"),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io,v4.channel.k8s.io",
            ),
        ]);
        offer_only_recordable(&mut h);
        assert_eq!(
            h.get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .collect::<Vec<_>>(),
            ["v5.channel.k8s.io, v4.channel.k8s.io"]
        );
        assert!(negotiated(&h).unwrap_err().contains("does not parse"));
        let chosen = headers(&[("sec-websocket-protocol", "v4.channel.k8s.io")]);
        assert_eq!(negotiated(&chosen).unwrap(), "v4.channel.k8s.io");
        assert!(negotiated(&HeaderMap::new()).is_err());
    }
}
