//! Answering questions from the chain: `kaccess audit sessions`, `show`
//! and `report`. Records stream past once, oldest first; what is kept is
//! one summary per session (and for `show`, the requests still open), so
//! memory grows with the number of sessions, never with the records.
//!
//! - `view`: the fields a query reads from one record, parsed tolerantly
//! - `window`: `--since` / `--until`
//! - `sessions`: one summary per session (person, reason, end, counts)
//! - `timeline`: one session's requests and streams, for `show`
//! - `report`: the reviewer's sections, rendered by `markdown`, `csv`, `json`
//! - `spool`: rows kept out of memory until their section is printed

pub mod csv;
pub mod markdown;
pub mod render;
pub mod report;
pub mod sessions;
pub mod spool;
pub mod timeline;
pub mod view;
pub mod window;

#[cfg(test)]
mod fixture;

pub use view::View;

/// Subresources whose requests are upgraded into streams. Streams are
/// numbered 1.. per session in the order of their `started` records:
/// `kaccess audit show` and `kaccess audit play --stream N` count alike.
pub const STREAM_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward"];

/// A proxied request that opens a stream (exec, attach, port-forward).
pub fn is_stream(subresource: Option<&str>) -> bool {
    subresource.is_some_and(|s| STREAM_SUBRESOURCES.contains(&s))
}

/// Verbs that change the cluster. A stream's `create` (exec over SPDY) is
/// a stream, not a mutation: streams are listed as streams.
pub fn is_mutation(verb: &str, subresource: Option<&str>) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    ) && !is_stream(subresource)
}

/// The first 8 characters of a session id, as tables show it (`show`
/// takes it back).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A record time as an instant; `None` when it is missing or not RFC 3339.
pub fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// An instant as the chain writes it (RFC 3339, UTC).
pub fn format_time(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An instant for a table: UTC to the second, no `T`.
pub fn short_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_is_a_stream_not_a_mutation_and_delete_is_a_mutation() {
        assert!(is_stream(Some("exec")) && is_stream(Some("portforward")));
        assert!(!is_stream(Some("log")) && !is_stream(None));
        assert!(!is_mutation("create", Some("exec")));
        assert!(is_mutation("delete", None) && is_mutation("patch", Some("status")));
        assert!(!is_mutation("get", None) && !is_mutation("watch", None));
    }

    #[test]
    fn times_read_back_as_written_and_show_short() {
        let t = parse_time("2026-03-04T05:06:07.123456Z").unwrap();
        assert_eq!(short_time(t), "2026-03-04 05:06:07");
        assert_eq!(format_time(t), "2026-03-04T05:06:07.123456Z");
        assert_eq!(parse_time("yesterday"), None);
    }
}
