//! The demo's voice on stderr: `==>` steps, indented details, commands
//! and their output, and the audit log as one short line per record.

use serde_json::Value;
use std::cell::RefCell;
use std::time::Duration;
use time::OffsetDateTime;

/// `12:00:01` (UTC), as the audit lines show it.
pub fn clock(t: OffsetDateTime) -> String {
    let (h, m, s) = t.to_offset(time::UtcOffset::UTC).to_hms();
    format!("{h:02}:{m:02}:{s:02}Z")
}

/// `12:00:01  exchange  issued  alice@example.com  demo  reason "DEMO-1"  certificate`
pub fn audit_line(rec: &Value) -> String {
    let field = |k: &str| rec[k].as_str().unwrap_or("-").to_owned();
    let time = field("time");
    let clock = time.get(11..19).unwrap_or(&time);
    let mut line = format!(
        "{clock}  {:<11} {:<8} {}  cluster={}",
        field("event"),
        field("outcome"),
        field("username"),
        field("cluster")
    );
    if let Some(reason) = rec["reason"].as_str() {
        line.push_str(&format!("  reason={reason:?}"));
    }
    if let Some(cause) = rec["cause"].as_str() {
        line.push_str(&format!("  cause={cause:?}"));
    }
    if let Some(kind) = rec["credential"].as_str() {
        line.push_str(&format!("  credential={kind}"));
    }
    if let Some(hash) = rec["hash"].as_str() {
        line.push_str(&format!("  hash={}…", hash.get(..12).unwrap_or(hash)));
    }
    line
}

/// The demo's voice on stderr: `==>` steps, indented details and output.
/// Everything it says is kept, uncoloured, in `transcript` too: the test
/// checks the demo's output, not only its results.
pub struct Narrator {
    pub color: bool,
    transcript: RefCell<String>,
}

impl Narrator {
    pub fn new(color: bool) -> Narrator {
        Narrator {
            color,
            transcript: RefCell::new(String::new()),
        }
    }

    /// What the demo has printed so far (without colour).
    pub fn transcript(&self) -> String {
        self.transcript.borrow().clone()
    }

    fn say(&self, plain: &str, styled: Option<String>) {
        self.transcript.borrow_mut().push_str(&format!("{plain}\n"));
        match styled.filter(|_| self.color) {
            Some(s) => eprintln!("{s}"),
            None => eprintln!("{plain}"),
        }
    }

    pub fn step(&self, msg: &str) {
        self.say(
            &format!("==> {msg}"),
            Some(format!("\x1b[1;32m==>\x1b[0m \x1b[1m{msg}\x1b[0m")),
        );
    }

    pub fn detail(&self, msg: &str) {
        self.say(&format!("    {msg}"), None);
    }

    pub fn command(&self, line: &str) {
        self.say(
            &format!("    $ {line}"),
            Some(format!("    \x1b[36m$ {line}\x1b[0m")),
        );
    }

    pub fn output(&self, out: &str) {
        for line in out.lines() {
            self.say(&format!("      {line}"), None);
        }
    }

    pub fn pause(&self, d: Duration) {
        std::thread::sleep(d);
    }
}
