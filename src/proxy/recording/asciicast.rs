//! asciicast v2 lines (what asciinema and its web player read): a header
//! object, then one `[seconds, code, data]` array per event. Stdout and
//! stderr are `o` (what a terminal showed), stdin `i`, a resize `r`
//! (`"COLSxROWS"`), the exec's final status (channel 3) a marker `m`.
//!
//! Event data must be UTF-8 text: a character split across two messages
//! is held back until its end arrives; bytes that are not UTF-8 at all
//! are recorded as U+FFFD.

use super::channel::Channel;
use serde_json::json;

/// What the header says besides the terminal size.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// Unix seconds when the stream began.
    pub timestamp: i64,
    /// `exec ns/pod -- command`.
    pub title: String,
    pub command: Option<String>,
}

/// Turns channel messages into asciicast lines, each ending in `\n`.
pub struct Cast {
    header: Header,
    width: u32,
    height: u32,
    header_written: bool,
    /// Unfinished UTF-8 of stdin, stdout, stderr and status.
    carry: [Vec<u8>; 4],
}

/// Width and height when no resize came before the first output.
pub const DEFAULT_SIZE: (u32, u32) = (80, 24);

impl Cast {
    pub fn new(header: Header) -> Cast {
        Cast {
            header,
            width: DEFAULT_SIZE.0,
            height: DEFAULT_SIZE.1,
            header_written: false,
            carry: Default::default(),
        }
    }

    pub fn set_timestamp(&mut self, timestamp: i64) {
        self.header.timestamp = timestamp;
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        let mut h = json!({
            "version": 2,
            "width": self.width,
            "height": self.height,
            "timestamp": self.header.timestamp,
            "title": self.header.title,
        });
        if let Some(c) = &self.header.command {
            h["command"] = c.clone().into();
        }
        out.extend_from_slice(h.to_string().as_bytes());
        out.push(b'\n');
    }

    fn event(out: &mut Vec<u8>, at: f64, code: &str, data: &str) {
        let line = format!(
            "[{at:.6}, {}, {}]\n",
            serde_json::Value::from(code),
            serde_json::Value::from(data)
        );
        out.extend_from_slice(line.as_bytes());
    }

    /// Appends the lines for one message of `channel` at `at` seconds.
    pub fn push(&mut self, at: f64, channel: Channel, data: &[u8], out: &mut Vec<u8>) {
        let (slot, code) = match channel {
            Channel::Stdin => (0, "i"),
            Channel::Stdout => (1, "o"),
            Channel::Stderr => (2, "o"),
            Channel::Status => (3, "m"),
            Channel::Resize => {
                let Some((w, h)) = parse_resize(data) else {
                    return;
                };
                if !self.header_written {
                    (self.width, self.height) = (w, h);
                } else {
                    Self::event(out, at, "r", &format!("{w}x{h}"));
                }
                return;
            }
        };
        self.write_header(out);
        let text = take_utf8(&mut self.carry[slot], data);
        if !text.is_empty() {
            Self::event(out, at, code, &text);
        }
    }

    /// The header if nothing came, and any held-back bytes (as U+FFFD).
    pub fn finish(&mut self, at: f64, out: &mut Vec<u8>) {
        self.write_header(out);
        let codes = ["i", "o", "o", "m"];
        for (slot, code) in codes.iter().enumerate() {
            let rest = std::mem::take(&mut self.carry[slot]);
            if !rest.is_empty() {
                Self::event(out, at, code, &String::from_utf8_lossy(&rest));
            }
        }
    }
}

/// `{"Width":W,"Height":H}` as client-go's `TerminalSize` marshals it.
pub fn parse_resize(data: &[u8]) -> Option<(u32, u32)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u32,
        height: u32,
    }
    let s: Size = serde_json::from_slice(data).ok()?;
    Some((s.width, s.height))
}

/// `carry` + `data` as text; an unfinished character at the end stays in
/// `carry`.
fn take_utf8(carry: &mut Vec<u8>, data: &[u8]) -> String {
    carry.extend_from_slice(data);
    let mut text = String::new();
    let mut rest: &[u8] = carry;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                text.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        text.push('\u{FFFD}');
                        rest = &bad[n..];
                    }
                    // Incomplete at the end: wait for the next message.
                    None => {
                        rest = bad;
                        break;
                    }
                }
            }
        }
    }
    *carry = rest.to_vec();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(out: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn cast() -> Cast {
        Cast::new(Header {
            timestamp: 1_700_000_000,
            title: "exec default/web -- sh".into(),
            command: Some("sh".into()),
        })
    }

    #[test]
    fn the_header_comes_first_with_the_size_of_an_early_resize() {
        let mut c = cast();
        let mut out = Vec::new();
        c.push(
            0.0,
            Channel::Resize,
            br#"{"Width":132,"Height":40}"#,
            &mut out,
        );
        c.push(0.5, Channel::Stdout, b"$ ", &mut out);
        c.push(
            1.25,
            Channel::Resize,
            br#"{"Width":100,"Height":30}"#,
            &mut out,
        );
        c.push(2.0, Channel::Stdin, b"ls\r", &mut out);
        let l = lines(&out);
        assert_eq!(l[0]["version"], 2);
        assert_eq!(
            (l[0]["width"].as_u64(), l[0]["height"].as_u64()),
            (Some(132), Some(40))
        );
        assert_eq!(l[0]["timestamp"], 1_700_000_000);
        assert_eq!(l[0]["command"], "sh");
        assert_eq!(l[1], json!([0.5, "o", "$ "]));
        assert_eq!(l[2], json!([1.25, "r", "100x30"]));
        assert_eq!(l[3], json!([2.0, "i", "ls\r"]));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn stderr_is_output_and_the_status_a_marker() {
        let mut c = cast();
        let mut out = Vec::new();
        c.push(0.1, Channel::Stderr, b"oops\n", &mut out);
        c.push(0.2, Channel::Status, br#"{"status":"Success"}"#, &mut out);
        let l = lines(&out);
        assert_eq!(l[1], json!([0.1, "o", "oops\n"]));
        assert_eq!(l[2], json!([0.2, "m", r#"{"status":"Success"}"#]));
    }

    #[test]
    fn a_character_split_across_messages_is_recorded_whole_and_bad_bytes_as_replacement() {
        let mut c = cast();
        let mut out = Vec::new();
        let euro = "€".as_bytes();
        c.push(0.1, Channel::Stdout, &[b'a', euro[0]], &mut out);
        c.push(0.2, Channel::Stdout, &euro[1..], &mut out);
        c.push(0.3, Channel::Stdout, &[0xff, b'z'], &mut out);
        c.push(0.4, Channel::Stdout, &[0xe2], &mut out);
        c.finish(0.5, &mut out);
        let l = lines(&out);
        assert_eq!(l[1], json!([0.1, "o", "a"]));
        assert_eq!(l[2], json!([0.2, "o", "€"]));
        assert_eq!(l[3], json!([0.3, "o", "\u{FFFD}z"]));
        assert_eq!(l[4], json!([0.5, "o", "\u{FFFD}"]));
    }

    #[test]
    fn an_empty_stream_is_a_header_alone_and_bad_resizes_are_ignored() {
        let mut c = cast();
        let mut out = Vec::new();
        c.push(0.1, Channel::Resize, b"not json", &mut out);
        c.finish(0.2, &mut out);
        let l = lines(&out);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["width"], DEFAULT_SIZE.0);
    }
}
