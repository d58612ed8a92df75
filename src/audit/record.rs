//! One audit record and its hash: `prev` is the previous record's `hash`;
//! `hash` is SHA-256 over the canonical record (keys sorted at every
//! level, `hash` left out).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the first record in a file.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit line. `None` fields are left out of the line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(default)]
    pub time: String,
    /// `exchange`, `revoke` or `tokenreview`.
    pub event: String,
    /// `issued`, `refused`, `revoked`, `replay`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Who acted, when not the session's owner (an admin revocation or
    /// listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_hash_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When the session itself ends (an issued exchange): its credentials
    /// never outlive it, so `kaccess audit sessions` can tell an expired
    /// session from one still open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// HTTP status of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Error code of a refusal (`protocol::ErrorCode` spelling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was refused, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The access request filed, decided or used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The named grant asked for or used (approval and break glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// Set on a break-glass session's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
    /// Access proxy: what was asked, as kube-apiserver names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ProxiedRequest>,
    /// Access proxy: how a proxied request ended (second record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ProxiedResult>,
    /// Event `alert`: the rule that fired and what matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertFired>,
    #[serde(default)]
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

/// What a proxied request asked for (kube-apiserver's RequestInfo, plus
/// the exec/attach/port-forward options).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxiedRequest {
    /// Per request, the same in its two records.
    pub id: String,
    pub method: String,
    pub path: String,
    pub verb: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
}

/// How a proxied request ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxiedResult {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: u64,
    /// Streams only: `client closed`, `upstream closed`, `session ended`,
    /// `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// `exec`/`attach` recorded: the asciicast file and its final digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Recording>,
    /// `exec`/`attach` not recorded under `record: optional`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecorded: Option<String>,
    /// `portforward` over SPDY (raw or tunneled in WebSocket): each port
    /// the client's streams named, in first-seen order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
}

/// A session recording as its stream's `finished` record names it, so
/// `kaccess audit verify` can tell a changed file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Relative to the audit log's directory
    /// (`recordings/SESSION/REQUEST.cast`).
    pub file: String,
    /// SHA-256 (hex) of the whole file.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// An alert rule that matched (`alerts:` in `broker.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFired {
    pub rule: String,
    /// Matches that raised it: 1, or the rule's `at-least`.
    pub count: u32,
    /// `hash` of each matching record, oldest first.
    pub records: Vec<String>,
}

impl AuditRecord {
    pub fn new(event: &str) -> Self {
        AuditRecord {
            event: event.into(),
            ..Default::default()
        }
    }
}

/// JSON with object keys sorted at every level, no whitespace. Done by hand
/// so it does not depend on serde_json's `preserve_order` feature being
/// off somewhere in the dependency tree.
pub fn canonical_json(v: &Value) -> String {
    if maps_are_sorted() {
        // Then serde_json's compact rendering is this very form, and it
        // runs at serde_json's optimisation level even in a debug build.
        return v.to_string();
    }
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

/// Whether `serde_json::Map` iterates in key order (a `BTreeMap`: the
/// `preserve_order` feature is off in this build), found out once.
fn maps_are_sorted() -> bool {
    static SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut m = serde_json::Map::new();
        for k in ["b", "a", "c"] {
            m.insert(k.into(), Value::Null);
        }
        m.keys().map(String::as_str).eq(["a", "b", "c"])
    })
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The `hash` a record must carry: SHA-256 (hex) over its canonical form
/// without `hash`.
pub fn record_hash(record: &Value) -> String {
    let mut v = record.clone();
    if let Value::Object(map) = &mut v {
        map.remove("hash");
    }
    hash_of_object(&v)
}

/// SHA-256 (hex) over the canonical form of a record that holds no `hash`
/// (saves the copy [`record_hash`] makes, for readers of whole chains).
pub fn hash_of_object(record: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(record).as_bytes()))
}

/// Links `rec` into the chain after `prev` at `time`: sets `time`, `prev`
/// and `hash`, and returns its line (canonical JSON, no newline). Every
/// writer seals records this one way, so a file and the database hold the
/// same lines and `kaccess audit verify` checks either.
pub fn seal(rec: &mut AuditRecord, prev: &str, time: &str) -> Result<String, serde_json::Error> {
    rec.time = time.to_owned();
    rec.prev = prev.to_owned();
    rec.hash = String::new();
    let mut v = serde_json::to_value(&*rec)?;
    let (hash, line) = seal_value(&mut v, prev, time);
    rec.hash = hash;
    Ok(line)
}

/// [`seal`] for a record already in JSON form (an object): sets `time`,
/// `prev` and `hash` in `v`, and returns the hash and the line. For
/// writers that keep records as JSON (test and bench chains, millions of
/// records).
pub fn seal_value(v: &mut Value, prev: &str, time: &str) -> (String, String) {
    if let Value::Object(map) = v {
        map.insert("time".into(), Value::String(time.to_owned()));
        map.insert("prev".into(), Value::String(prev.to_owned()));
        map.remove("hash");
    }
    if maps_are_sorted()
        && let Value::Object(map) = &*v
    {
        // One rendering: the hash is over it, and the line is it with
        // `hash` spliced in at its sorted place.
        let (body, at) = render_marking_hash(map);
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let field = format!("\"hash\":\"{hash}\"");
        let line = match (map.is_empty(), at) {
            (true, _) => format!("{{{field}}}"),
            (false, 1) => format!("{{{field},{}", &body[1..]),
            (false, at) => format!("{},{field}{}", &body[..at], &body[at..]),
        };
        if let Value::Object(map) = v {
            map.insert("hash".into(), Value::String(hash.clone()));
        }
        return (hash, line);
    }
    let hash = hash_of_object(v);
    if let Value::Object(map) = v {
        map.insert("hash".into(), Value::String(hash.clone()));
    }
    let line = canonical_json(v);
    (hash, line)
}

/// The canonical form of an object whose maps are sorted, and the byte
/// offset where a `hash` key would go: the comma before the first key
/// after it (1, just past the brace, when that key is the first), or
/// the closing brace.
fn render_marking_hash(map: &serde_json::Map<String, Value>) -> (String, usize) {
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    let mut at = None;
    for (i, (key, value)) in map.iter().enumerate() {
        if at.is_none() && key.as_str() > "hash" {
            at = Some(out.len());
        }
        if i > 0 {
            out.push(b',');
        }
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
    }
    let at = at.unwrap_or(out.len());
    out.push(b'}');
    let out = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (out, at)
}

/// The `time` of records sealed now (RFC 3339, UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_jsons_rendering_is_taken_only_when_it_is_the_canonical_form() {
        let v: Value = serde_json::from_str(
            r#"{"z":{"y":[1,{"b":"\"q\"","a":"\u0001 é \u202e"}],"x":null},"a":-1.5e3,"m":true}"#,
        )
        .unwrap();
        let mut by_hand = String::new();
        write_canonical(&v, &mut by_hand);
        assert!(
            maps_are_sorted(),
            "this build's serde_json keeps keys sorted"
        );
        assert_eq!(canonical_json(&v), by_hand);
        assert!(by_hand.starts_with(r#"{"a":-1500.0,"m":true,"z":{"x":null,"y":[1,{"a":"#));
    }

    #[test]
    fn a_record_sealed_as_json_is_sealed_as_the_record_is() {
        let mut rec = AuditRecord::new("proxy");
        rec.username = Some("alice".into());
        let mut v = serde_json::to_value(&rec).unwrap();
        let line = seal(&mut rec, GENESIS, "2026-01-01T00:00:00Z").unwrap();
        let (hash, same) = seal_value(&mut v, GENESIS, "2026-01-01T00:00:00Z");
        assert_eq!((hash, same), (rec.hash, line));
    }

    #[test]
    fn the_spliced_line_is_the_canonical_form_with_the_hash_wherever_it_sorts() {
        for keys in [
            &[][..],
            &["a"],
            &["z"],
            &["a", "b"],
            &["x", "z"],
            &["a", "hasg", "hasi", "z"],
            &["cluster", "event", "request", "time", "prev"],
        ] {
            let mut v = Value::Object(
                keys.iter()
                    .map(|k| {
                        (
                            k.to_string(),
                            serde_json::json!({"n": [1, "\u{1}é"], "k": k}),
                        )
                    })
                    .collect(),
            );
            let (hash, line) = seal_value(&mut v, GENESIS, "2026-01-01T00:00:00Z");
            assert_eq!(line, canonical_json(&v), "keys {keys:?}");
            assert_eq!(hash, record_hash(&v), "keys {keys:?}");
        }
    }
}
